/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* DNS record data and names (lib/proto/dnswire): what a hostile answer can
 * hold is refused, what a real one holds comes out exactly. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>
#include <sys/socket.h>

#include "proto/dnswire.h"

#define RD(s) (const unsigned char *)(s), sizeof(s) - 1

static void test_name_ok(void **state)
{
	static const char *const good[] = {"example.test", "example.test.", "_25._tcp.mx.example.test",
					   "a", "xn--bcher-kva.example", "1.2.3.4.in-addr.arpa"};
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		assert_true(dnswire_name_ok(good[i]));
	char label64[80], long254[300];
	memset(label64, 'a', 64);
	memcpy(label64 + 64, ".test", 6);
	for (size_t i = 0; i < 254; i++)
		long254[i] = i % 2 ? '.' : 'a';
	long254[253] = '\0'; /* 253 characters: a.a.…a */
	assert_true(dnswire_name_ok(long254));
	long254[253] = 'b';
	long254[254] = '\0';
	assert_false(dnswire_name_ok(long254));
	static const char *const bad[] = {"", ".", "..", "a..b", ".a", "a b", "a\\.b", "a/b",
					  "\xc3\xa9.test", "a.test..", "a\n"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_false(dnswire_name_ok(bad[i]));
	assert_false(dnswire_name_ok(label64));
}

static void test_mx(void **state)
{
	char host[DNSWIRE_NAME_MAX + 1];
	uint16_t pref = 0;
	assert_int_equal(dnswire_mx(RD("\x00\x0a\x02MX\x07" "Example\x04test\x00"), &pref, host,
				    sizeof(host)),
			 1);
	assert_int_equal(pref, 10);
	assert_string_equal(host, "mx.example.test");
	/* RFC 7505 null MX: the root. */
	assert_int_equal(dnswire_mx(RD("\x00\x00\x00"), &pref, host, sizeof(host)), 1);
	assert_string_equal(host, "");
	static const struct {
		const char *rd;
		size_t len;
	} bad[] = {
	    {"\x00\x0a", 2},                           /* no name */
	    {"\x00\x0a\x02mx", 5},                     /* name runs off the end */
	    {"\x00\x0a\x02mx\x00\x00", 7},             /* trailing byte */
	    {"\x00\x0a\xc0\x0c", 4},                   /* compression pointer */
	    {"\x00\x0a\x41" "a", 4},                   /* extended label type */
	    {"\x00\x0a\x03" "a b\x00", 7},             /* space */
	    {"\x00\x0a\x03" "a.b\x00", 7},             /* a dot inside a label */
	    {"\x00\x0a\x01\x00\x00", 5},               /* NUL inside a label */
	    {"\x00\x0a\x02\xc3\xa9\x00", 6},           /* not a host-name character */
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(dnswire_mx((const unsigned char *)bad[i].rd, bad[i].len, &pref, host,
					    sizeof(host)),
				 0);
}

static void test_name_bounds(void **state)
{
	/* 4 labels of 63: 4 * 64 + 1 = 257 wire octets, over 255. */
	unsigned char wire[300];
	size_t o = 0;
	for (int l = 0; l < 4; l++) {
		wire[o++] = 63;
		memset(wire + o, 'a', 63);
		o += 63;
	}
	wire[o++] = 0;
	char out[DNSWIRE_NAME_MAX + 1];
	size_t used;
	assert_int_equal(dnswire_name(wire, o, out, sizeof(out), &used), 0);
	/* 3 labels of 63 and one of 61: 255 octets, 253 characters: the most. */
	wire[3 * 64] = 61;
	memset(wire + 3 * 64 + 1, 'b', 61);
	wire[3 * 64 + 62] = 0;
	assert_int_equal(dnswire_name(wire, 3 * 64 + 63, out, sizeof(out), &used), 1);
	assert_int_equal(used, 255);
	assert_int_equal(strlen(out), 253);
	assert_true(dnswire_name_ok(out));
	/* An output buffer too small for the longest name is refused. */
	assert_int_equal(dnswire_name(wire, 3 * 64 + 63, out, 200, &used), 0);
}

static void test_txt(void **state)
{
	unsigned char out[64];
	size_t n;
	assert_int_equal(dnswire_txt(RD("\x07v=spf1 \x04-all"), out, &n), 1);
	assert_int_equal(n, 11);
	assert_memory_equal(out, "v=spf1 -all", 12);
	assert_int_equal(dnswire_txt(RD("\x00"), out, &n), 1); /* one empty string */
	assert_int_equal(n, 0);
	assert_int_equal(dnswire_txt(RD("\x03" "a\0b"), out, &n), 1);
	assert_int_equal(n, 3);
	assert_int_equal(dnswire_txt((const unsigned char *)"", 0, out, &n), 0);
	assert_int_equal(dnswire_txt(RD("\x05" "abc"), out, &n), 0);
	assert_int_equal(dnswire_txt(RD("\x01" "a\x02" "b"), out, &n), 0);
}

static void test_tlsa_ptr_reverse(void **state)
{
	uint8_t u, s, m;
	const unsigned char *d;
	size_t dl;
	assert_int_equal(dnswire_tlsa(RD("\x03\x01\x01\xab\xcd"), &u, &s, &m, &d, &dl), 1);
	assert_int_equal(u, 3);
	assert_int_equal(s, 1);
	assert_int_equal(m, 1);
	assert_int_equal(dl, 2);
	assert_int_equal(d[0], 0xab);
	assert_int_equal(dnswire_tlsa(RD("\x03\x01\x01"), &u, &s, &m, &d, &dl), 0);
	char host[DNSWIRE_NAME_MAX + 1];
	assert_int_equal(dnswire_ptr(RD("\x02mx\x04test\x00"), host, sizeof(host)), 1);
	assert_string_equal(host, "mx.test");
	assert_int_equal(dnswire_ptr(RD("\x00"), host, sizeof(host)), 0);
	char rev[80];
	static const unsigned char v4[4] = {5, 6, 7, 8};
	assert_int_equal(dnswire_reverse_name(AF_INET, v4, rev, sizeof(rev)), 0);
	assert_string_equal(rev, "8.7.6.5.in-addr.arpa");
	static const unsigned char v6[16] = {0x20, 0x01, 0x0d, 0xb8, [15] = 0x09};
	assert_int_equal(dnswire_reverse_name(AF_INET6, v6, rev, sizeof(rev)), 0);
	assert_string_equal(rev, "9.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa");
	assert_int_equal(dnswire_reverse_name(AF_INET6, v6, rev, 60), -1);
	assert_int_equal(dnswire_reverse_name(AF_INET, v4, rev, 10), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_name_ok),
	    cmocka_unit_test(test_mx),
	    cmocka_unit_test(test_name_bounds),
	    cmocka_unit_test(test_txt),
	    cmocka_unit_test(test_tlsa_ptr_reverse),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
