/* SPDX-License-Identifier: AGPL-3.0-or-later */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "base/buf.h"
#include "proto/mutf7.h"

/* Decode in; on success compare with want. Returns the parser result. */
static int dec(const char *in, size_t n, const char *want)
{
	struct buf b = BUF_INIT;
	const char *err = NULL;
	int r = mutf7_to_utf8(in, n, &b, &err);
	if (r == 1 && want != NULL) {
		assert_int_equal(b.len, strlen(want));
		assert_memory_equal(buf_cstr(&b), want, b.len);
	}
	if (r != 1)
		assert_non_null(err);
	buf_free(&b);
	return r;
}

static int enc(const char *in, size_t n, const char *want)
{
	struct buf b = BUF_INIT;
	const char *err = NULL;
	int r = mutf7_from_utf8(in, n, &b, &err);
	if (r == 1 && want != NULL)
		assert_string_equal(buf_cstr(&b), want);
	if (r != 1)
		assert_non_null(err);
	buf_free(&b);
	return r;
}

#define DEC(s, w) dec((s), strlen(s), (w))
#define ENC(s, w) enc((s), strlen(s), (w))

/* RFC 3501 section 5.1.3 example. */
static const char rfc_mutf7[] = "~peter/mail/&U,BTFw-/&ZeVnLIqe-";
static const char rfc_utf8[] =
	"~peter/mail/\xe5\x8f\xb0\xe5\x8c\x97/\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e";

static void test_rfc_example_decode(void **state)
{
	assert_int_equal(DEC(rfc_mutf7, rfc_utf8), 1);
}

static void test_rfc_example_encode(void **state)
{
	assert_int_equal(ENC(rfc_utf8, rfc_mutf7), 1);
}

static void test_ampersand(void **state)
{
	assert_int_equal(DEC("Tom &- Jerry", "Tom & Jerry"), 1);
	assert_int_equal(ENC("Tom & Jerry", "Tom &- Jerry"), 1);
}

static void test_plain_ascii(void **state)
{
	assert_int_equal(DEC("INBOX/Sent Items", "INBOX/Sent Items"), 1);
	assert_int_equal(ENC("INBOX/Sent Items", "INBOX/Sent Items"), 1);
}

static void test_empty(void **state)
{
	assert_int_equal(DEC("", ""), 1);
	assert_int_equal(ENC("", ""), 1);
}

static void test_supplementary_plane(void **state)
{
	/* U+1F600 is the surrogate pair D83D DE00. */
	assert_int_equal(ENC("a\xf0\x9f\x98\x80" "b", "a&2D3eAA-b"), 1);
	assert_int_equal(DEC("a&2D3eAA-b", "a\xf0\x9f\x98\x80" "b"), 1);
}

static void test_shift_then_ampersand(void **state)
{
	/* A shift followed by "&-" is canonical: '&' is never base64-encoded. */
	assert_int_equal(ENC("\xc3\xa9&", "&AOk-&-"), 1);
	assert_int_equal(DEC("&AOk-&-", "\xc3\xa9&"), 1);
}

static void test_control_char_encoded(void **state)
{
	assert_int_equal(ENC("a\tb", "a&AAk-b"), 1);
	assert_int_equal(DEC("a&AAk-b", "a\tb"), 1);
}

static void test_reject_unterminated_shift(void **state)
{
	assert_int_equal(DEC("&U,BTFw", NULL), 0);
}

static void test_reject_lone_ampersand(void **state)
{
	assert_int_equal(DEC("a&", NULL), 0);
}

static void test_reject_encoded_printable(void **state)
{
	/* "&AGE-" is 'a' in base64: it must be written as itself. */
	assert_int_equal(DEC("&AGE-", NULL), 0);
}

static void test_reject_encoded_ampersand(void **state)
{
	assert_int_equal(DEC("&ACY-", NULL), 0);
}

static void test_reject_adjacent_shifts(void **state)
{
	assert_int_equal(DEC("&U,BTFw-&ZeVnLIqe-", NULL), 0);
}

static void test_reject_bad_base64(void **state)
{
	assert_int_equal(DEC("&U.BTFw-", NULL), 0);
	/* '/' belongs to RFC 2152 UTF-7, not to the modified form. */
	assert_int_equal(DEC("&U/BTFw-", NULL), 0);
}

static void test_reject_nonzero_padding(void **state)
{
	assert_int_equal(DEC("&U,BTFx-", NULL), 0);
}

static void test_reject_extra_base64_char(void **state)
{
	assert_int_equal(DEC("&U,BTFwA-", NULL), 0);
}

static void test_reject_empty_shift_bits(void **state)
{
	/* Two characters are 12 bits: no complete UTF-16 unit. */
	assert_int_equal(DEC("&AA-", NULL), 0);
}

static void test_reject_unpaired_high_surrogate(void **state)
{
	assert_int_equal(DEC("&2AA-", NULL), 0);
}

static void test_reject_unpaired_low_surrogate(void **state)
{
	assert_int_equal(DEC("&3AA-", NULL), 0);
}

static void test_reject_reversed_surrogates(void **state)
{
	/* DE00 D83D: low before high. */
	assert_int_equal(DEC("&3gDYPQ-", NULL), 0);
}

static void test_reject_8bit_in_mutf7(void **state)
{
	assert_int_equal(DEC("caf\xc3\xa9", NULL), 0);
}

static void test_reject_raw_control(void **state)
{
	assert_int_equal(DEC("a\tb", NULL), 0);
	assert_int_equal(dec("a\0b", 3, NULL), 0);
}

static void test_reject_encoded_nul(void **state)
{
	assert_int_equal(DEC("&AAA-", NULL), 0);
	assert_int_equal(enc("a\0b", 3, NULL), 0);
}

static void test_encode_rejects_bad_utf8(void **state)
{
	assert_int_equal(ENC("\xc0\xaf", NULL), 0);         /* overlong '/' */
	assert_int_equal(ENC("\xe0\x80\xaf", NULL), 0);     /* overlong, 3 bytes */
	assert_int_equal(ENC("\xed\xa0\x80", NULL), 0);     /* surrogate D800 */
	assert_int_equal(ENC("\xf4\x90\x80\x80", NULL), 0); /* above U+10FFFF */
	assert_int_equal(ENC("\xe6\x97", NULL), 0);         /* truncated */
	assert_int_equal(ENC("\x80", NULL), 0);             /* lone continuation */
	assert_int_equal(ENC("\xff", NULL), 0);
}

static void test_utf8_valid(void **state)
{
	assert_true(mutf7_utf8_valid((const unsigned char *)rfc_utf8, strlen(rfc_utf8)));
	assert_true(mutf7_utf8_valid((const unsigned char *)"\xf4\x8f\xbf\xbf", 4));
	assert_false(mutf7_utf8_valid((const unsigned char *)"\xf4\x90\x80\x80", 4));
	assert_false(mutf7_utf8_valid((const unsigned char *)"\xc1\xbf", 2));
	assert_true(mutf7_utf8_valid((const unsigned char *)"", 0));
}

static void test_valid_predicate(void **state)
{
	assert_true(mutf7_valid(rfc_mutf7, strlen(rfc_mutf7)));
	assert_false(mutf7_valid("&", 1));
}

static void test_round_trip_many_code_points(void **state)
{
	/* Every length of run mod 3 (base64 groups) across the BMP and beyond. */
	static const uint32_t cps[] = {0x01, 0x7f, 0x80, 0xe9, 0x7ff, 0x800, 0x4e2d, 0xd7ff,
				       0xe000, 0xfffd, 0xffff, 0x10000, 0x1f600, 0x10ffff};
	for (size_t len = 1; len <= 5; len++) {
		for (size_t s = 0; s < sizeof(cps) / sizeof(cps[0]); s++) {
			struct buf u = BUF_INIT, m = BUF_INIT, back = BUF_INIT;
			buf_append_str(&u, "x");
			for (size_t k = 0; k < len; k++) {
				uint32_t cp = cps[(s + k) % (sizeof(cps) / sizeof(cps[0]))];
				unsigned char b[4];
				size_t n;
				if (cp < 0x80) {
					b[0] = (unsigned char)cp;
					n = 1;
				} else if (cp < 0x800) {
					b[0] = (unsigned char)(0xc0 | (cp >> 6));
					b[1] = (unsigned char)(0x80 | (cp & 0x3f));
					n = 2;
				} else if (cp < 0x10000) {
					b[0] = (unsigned char)(0xe0 | (cp >> 12));
					b[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
					b[2] = (unsigned char)(0x80 | (cp & 0x3f));
					n = 3;
				} else {
					b[0] = (unsigned char)(0xf0 | (cp >> 18));
					b[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3f));
					b[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
					b[3] = (unsigned char)(0x80 | (cp & 0x3f));
					n = 4;
				}
				buf_append(&u, b, n);
			}
			buf_append_str(&u, "y");
			assert_int_equal(mutf7_from_utf8((const char *)u.data, u.len, &m, NULL), 1);
			assert_int_equal(
				mutf7_to_utf8((const char *)m.data, m.len, &back, NULL), 1);
			assert_int_equal(back.len, u.len);
			assert_memory_equal(back.data, u.data, u.len);
			buf_free(&u);
			buf_free(&m);
			buf_free(&back);
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rfc_example_decode),
		cmocka_unit_test(test_rfc_example_encode),
		cmocka_unit_test(test_ampersand),
		cmocka_unit_test(test_plain_ascii),
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_supplementary_plane),
		cmocka_unit_test(test_shift_then_ampersand),
		cmocka_unit_test(test_control_char_encoded),
		cmocka_unit_test(test_reject_unterminated_shift),
		cmocka_unit_test(test_reject_lone_ampersand),
		cmocka_unit_test(test_reject_encoded_printable),
		cmocka_unit_test(test_reject_encoded_ampersand),
		cmocka_unit_test(test_reject_adjacent_shifts),
		cmocka_unit_test(test_reject_bad_base64),
		cmocka_unit_test(test_reject_nonzero_padding),
		cmocka_unit_test(test_reject_extra_base64_char),
		cmocka_unit_test(test_reject_empty_shift_bits),
		cmocka_unit_test(test_reject_unpaired_high_surrogate),
		cmocka_unit_test(test_reject_unpaired_low_surrogate),
		cmocka_unit_test(test_reject_reversed_surrogates),
		cmocka_unit_test(test_reject_8bit_in_mutf7),
		cmocka_unit_test(test_reject_raw_control),
		cmocka_unit_test(test_reject_encoded_nul),
		cmocka_unit_test(test_encode_rejects_bad_utf8),
		cmocka_unit_test(test_utf8_valid),
		cmocka_unit_test(test_valid_predicate),
		cmocka_unit_test(test_round_trip_many_code_points),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
