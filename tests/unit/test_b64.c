/* SPDX-License-Identifier: AGPL-3.0-or-later */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "base/b64.h"
#include "base/buf.h"
#include "base/hex.h"
#include "base/rnd.h"

/* RFC 4648 section 10 test vectors. */
static const char *const vec[][2] = {
	{"", ""},	  {"f", "Zg=="},	 {"fo", "Zm8="},	 {"foo", "Zm9v"},
	{"foob", "Zm9vYg=="}, {"fooba", "Zm9vYmE="}, {"foobar", "Zm9vYmFy"},
};

static void test_rfc4648_vectors(void **state)
{
	for (size_t i = 0; i < sizeof(vec) / sizeof(vec[0]); i++) {
		char out[32];
		size_t n = strlen(vec[i][0]);
		assert_true(b64_encoded_size(n, true) <= sizeof(out));
		b64_encode((const unsigned char *)vec[i][0], n, out, true);
		assert_string_equal(out, vec[i][1]);
		struct buf b = BUF_INIT;
		assert_int_equal(b64_decode(vec[i][1], strlen(vec[i][1]), &b, true), 1);
		assert_int_equal(b.len, n);
		if (n)
			assert_memory_equal(b.data, vec[i][0], n);
		buf_free(&b);
	}
}

static void test_unpadded(void **state)
{
	char out[32];
	b64_encode((const unsigned char *)"fo", 2, out, false);
	assert_string_equal(out, "Zm8");
	struct buf b = BUF_INIT;
	assert_int_equal(b64_decode("Zm8", 3, &b, false), 1);
	assert_memory_equal(b.data, "fo", 2);
	buf_free(&b);
	assert_int_equal(b64_decode("Zm8=", 4, &b, false), 0);
	buf_free(&b);
}

static void test_rejects(void **state)
{
	static const char *bad[] = {"Zm9", "Zm9v!", "Zg=", "Z===", "Zh==", "Zm9=Zm9v", "=Zm9"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct buf b = BUF_INIT;
		assert_int_equal(b64_decode(bad[i], strlen(bad[i]), &b, true), 0);
		buf_free(&b);
	}
}

static void test_random_round_trip(void **state)
{
	for (size_t n = 0; n < 200; n++) {
		unsigned char in[200];
		char enc[300];
		rnd_bytes(in, n);
		b64_encode(in, n, enc, n % 2 == 0);
		struct buf b = BUF_INIT;
		assert_int_equal(b64_decode(enc, strlen(enc), &b, n % 2 == 0), 1);
		assert_int_equal(b.len, n);
		if (n)
			assert_memory_equal(b.data, in, n);
		buf_free(&b);
	}
}

static void test_hex(void **state)
{
	unsigned char in[3] = {0x00, 0xab, 0xff}, out[3];
	char h[7];
	hex_encode(in, 3, h);
	assert_string_equal(h, "00abff");
	assert_int_equal(hex_decode("00ABff", 6, out, 3), 1);
	assert_memory_equal(in, out, 3);
	assert_int_equal(hex_decode("00abf", 5, out, 3), 0);
	assert_int_equal(hex_decode("00abfg", 6, out, 3), 0);
	char r[33];
	rnd_hex(r, 16);
	assert_int_equal(strlen(r), 32);
}

static void test_buf(void **state)
{
	struct buf b = BUF_INIT;
	assert_string_equal(buf_cstr(&b), "");
	buf_printf(&b, "%s-%d", "x", 42);
	buf_append_str(&b, "!");
	assert_string_equal(buf_cstr(&b), "x-42!");
	buf_consume(&b, 2);
	assert_string_equal(buf_cstr(&b), "42!");
	size_t len;
	unsigned char *p = buf_steal(&b, &len);
	assert_int_equal(len, 3);
	assert_null(b.data);
	free(p);
	for (int i = 0; i < 10000; i++)
		buf_append_byte(&b, 'z');
	assert_int_equal(b.len, 10000);
	buf_wipe(&b);
	assert_null(b.data);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rfc4648_vectors), cmocka_unit_test(test_unpadded),
		cmocka_unit_test(test_rejects),		cmocka_unit_test(test_random_round_trip),
		cmocka_unit_test(test_hex),		cmocka_unit_test(test_buf),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
