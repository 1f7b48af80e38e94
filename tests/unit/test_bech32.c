/* SPDX-License-Identifier: AGPL-3.0-or-later */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "base/bech32.h"
#include "base/rnd.h"

/* BIP 173 "Test vectors": strings with a valid Bech32 checksum. */
static const char *const valid[] = {
	"A12UEL5L",
	"a12uel5l",
	"an83characterlonghumanreadablepartthatcontainsthenumber1andtheexcludedcharacters"
	"bio1tt5tgs",
	"abcdef1qpzry9x8gf2tvdw0s3jn54khce6mua7lmqqqxw",
	"11qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq"
	"c8247j",
	"split1checkupstagehandshakeupstreamerranterredcaperred2y9e3w",
	"?1ezyfcl",
};

/* BIP 173 invalid strings, with the reason the BIP gives. */
static const char *const invalid[] = {
	"\x20"
	"1nwldj5",	/* HRP character out of range */
	"\x7f"
	"1axkwrx",	/* HRP character out of range */
	"\x80"
	"1eym55h",	/* HRP character out of range */
	"pzry9x0s0muk", /* no separator character */
	"1pzry9x0s0muk", /* empty HRP */
	"x1b4n0q5v",	 /* invalid data character */
	"li1dgmt3",	 /* too short checksum */
	"de1lg7wt\xff",	 /* invalid character in checksum */
	"A1G7SGD8",	 /* checksum calculated with uppercase form of HRP */
	"10a06t8",	 /* empty HRP */
	"1qzzfhee",	 /* empty HRP */
};

static const char an84[] = "an84characterslonghumanreadablepartthatcontainsthenumber1andtheexcl"
			   "udedcharactersbio1569pvx";

static void lower_copy(const char *s, char *out)
{
	size_t i = 0;
	for (; s[i]; i++)
		out[i] = (char)(s[i] >= 'A' && s[i] <= 'Z' ? s[i] - 'A' + 'a' : s[i]);
	out[i] = '\0';
}

static void test_bip173_valid(void **state)
{
	for (size_t i = 0; i < sizeof(valid) / sizeof(valid[0]); i++) {
		const char *s = valid[i];
		char hrp[100], enc[100], lower[100];
		unsigned char d5[100];
		size_t n = 0;
		assert_int_equal(bech32_decode5(s, BECH32_BIP173_MAX, hrp, sizeof(hrp), d5,
						sizeof(d5), &n),
				 1);
		/* Re-encoding gives the same string, in the same case. */
		bool upper = s[0] >= 'A' && s[0] <= 'Z';
		lower_copy(hrp, lower);
		assert_int_equal(bech32_encode5(lower, d5, n, upper, enc, sizeof(enc)), 0);
		assert_string_equal(enc, s);
	}
}

static void test_bip173_invalid(void **state)
{
	for (size_t i = 0; i < sizeof(invalid) / sizeof(invalid[0]); i++) {
		char hrp[100];
		unsigned char d5[100];
		size_t n = 0;
		assert_int_equal(bech32_decode5(invalid[i], 1000, hrp, sizeof(hrp), d5, sizeof(d5),
						&n),
				 0);
	}
}

static void test_length_limit_is_a_parameter(void **state)
{
	char hrp[100];
	unsigned char d5[100];
	size_t n = 0;
	/* BIP 173: "overall max length exceeded"; its checksum is fine, so
	 * with age's lifted limit it decodes. */
	assert_int_equal(strlen(an84), 91);
	assert_int_equal(
		bech32_decode5(an84, BECH32_BIP173_MAX, hrp, sizeof(hrp), d5, sizeof(d5), &n), 0);
	assert_int_equal(bech32_decode5(an84, 200, hrp, sizeof(hrp), d5, sizeof(d5), &n), 1);
	/* Output buffers that are too small fail instead of truncating. */
	assert_int_equal(bech32_decode5(valid[3], 90, hrp, 6, d5, sizeof(d5), &n), 0);
	assert_int_equal(bech32_decode5(valid[3], 90, hrp, 7, d5, sizeof(d5), &n), 1);
	assert_int_equal(bech32_decode5(valid[3], 90, hrp, 7, d5, n - 1, &n), 0);
}

static void test_mixed_case_rejected(void **state)
{
	char hrp[100];
	unsigned char d5[100];
	size_t n = 0;
	assert_int_equal(bech32_decode5("A12uel5l", 90, hrp, sizeof(hrp), d5, sizeof(d5), &n), 0);
	assert_int_equal(bech32_decode5("a12UEL5L", 90, hrp, sizeof(hrp), d5, sizeof(d5), &n), 0);
	/* The hrp comes back as written. */
	assert_int_equal(bech32_decode5("A12UEL5L", 90, hrp, sizeof(hrp), d5, sizeof(d5), &n), 1);
	assert_string_equal(hrp, "A");
}

static void test_every_substitution_detected(void **state)
{
	static const char alphabet[] = "qpzry9x8gf2tvdw0s3jn54khce6mua7l";
	const char *s = valid[3];
	char t[100], hrp[100];
	unsigned char d5[100];
	size_t n = 0, len = strlen(s);
	/* BCH code: any single-character error is detected. */
	for (size_t i = 0; i < len; i++) {
		for (size_t a = 0; a < 32; a++) {
			memcpy(t, s, len + 1);
			if (t[i] == alphabet[a] || t[i] == '1')
				continue;
			t[i] = alphabet[a];
			assert_int_equal(
				bech32_decode5(t, 90, hrp, sizeof(hrp), d5, sizeof(d5), &n), 0);
		}
	}
}

static void test_byte_round_trips(void **state)
{
	for (size_t len = 0; len <= 64; len++) {
		unsigned char data[64], back[64];
		char enc[200], hrp[32];
		size_t n = 0;
		rnd_bytes(data, len);
		assert_int_equal(bech32_encode("age", data, len, false, enc, sizeof(enc)), 0);
		assert_int_equal(bech32_decode(enc, 200, hrp, sizeof(hrp), back, sizeof(back), &n),
				 1);
		assert_string_equal(hrp, "age");
		assert_int_equal(n, len);
		assert_memory_equal(back, data, len);

		assert_int_equal(
			bech32_encode("age-secret-key-", data, len, true, enc, sizeof(enc)), 0);
		assert_int_equal(bech32_decode(enc, 200, hrp, sizeof(hrp), back, sizeof(back), &n),
				 1);
		assert_string_equal(hrp, "AGE-SECRET-KEY-");
		assert_int_equal(n, len);
		assert_memory_equal(back, data, len);
		for (size_t i = 0; enc[i]; i++)
			assert_false(enc[i] >= 'a' && enc[i] <= 'z');
	}
}

static void test_encode_bounds(void **state)
{
	unsigned char data[32] = {0};
	char out[100];
	/* "age" + '1' + 52 + 6 = 62 characters, plus the NUL. */
	assert_int_equal(bech32_encode("age", data, 32, false, out, 63), 0);
	assert_int_equal(strlen(out), 62);
	assert_int_equal(bech32_encode("age", data, 32, false, out, 62), -1);
	assert_int_equal(bech32_encode("", data, 32, false, out, sizeof(out)), -1);
	assert_int_equal(bech32_encode("a b", data, 32, false, out, sizeof(out)), -1);
	unsigned char bad5[1] = {32};
	assert_int_equal(bech32_encode5("a", bad5, 1, false, out, sizeof(out)), -1);
}

static void test_padding_must_be_zero(void **state)
{
	char enc[100], hrp[16];
	unsigned char out[16];
	size_t n = 0;
	/* One 5-bit group holds no whole byte: more than 4 padding bits. */
	unsigned char one[1] = {0};
	assert_int_equal(bech32_encode5("a", one, 1, false, enc, sizeof(enc)), 0);
	assert_int_equal(bech32_decode(enc, 90, hrp, sizeof(hrp), out, sizeof(out), &n), 0);
	/* Two groups: one byte plus 2 padding bits, which must be zero. */
	unsigned char two_bad[2] = {0, 1}, two_ok[2] = {3, 4};
	assert_int_equal(bech32_encode5("a", two_bad, 2, false, enc, sizeof(enc)), 0);
	assert_int_equal(bech32_decode(enc, 90, hrp, sizeof(hrp), out, sizeof(out), &n), 0);
	assert_int_equal(bech32_encode5("a", two_ok, 2, false, enc, sizeof(enc)), 0);
	assert_int_equal(bech32_decode(enc, 90, hrp, sizeof(hrp), out, sizeof(out), &n), 1);
	assert_int_equal(n, 1);
	assert_int_equal(out[0], 3 << 3 | 4 >> 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bip173_valid),
		cmocka_unit_test(test_bip173_invalid),
		cmocka_unit_test(test_length_limit_is_a_parameter),
		cmocka_unit_test(test_mixed_case_rejected),
		cmocka_unit_test(test_every_substitution_detected),
		cmocka_unit_test(test_byte_round_trips),
		cmocka_unit_test(test_encode_bounds),
		cmocka_unit_test(test_padding_must_be_zero),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
