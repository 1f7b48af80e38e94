/* SPDX-License-Identifier: AGPL-3.0-or-later */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/codec.h"
#include "base/rnd.h"

/* Strict standard base64, padding required (pad) or forbidden: the decoder
 * SASL and age use. */
static int b64_strict(const char *in, size_t n, struct buf *out, bool pad)
{
	return codec_b64_decode(in, n, CODEC_B64_STD,
	                        pad ? CODEC_PAD_REQUIRED : CODEC_PAD_FORBIDDEN, CODEC_STRICT, out);
}

/* Decode with base64 and compare: want NULL expects a failure with error
 * err at offset err_off. */
static void check_b64(const char *in, enum codec_b64_alphabet a, enum codec_pad pad,
                      enum codec_mode mode, const char *want, enum codec_err err, size_t err_off)
{
	struct codec_b64 d;
	struct buf b = BUF_INIT;
	struct codec_out o;
	codec_out_buf(&o, &b);
	codec_b64_init(&d, a, pad, mode);
	int r = codec_b64_feed(&d, in, strlen(in), &o) == 1 && codec_b64_finish(&d, &o) == 1;
	if (want != NULL) {
		if (r != 1)
			fail_msg("\"%s\": %s at %llu", in, codec_strerror(d.err),
			         (unsigned long long)d.err_off);
		assert_int_equal(b.len, strlen(want));
		assert_memory_equal(buf_cstr(&b), want, b.len);
	} else {
		if (r != 0)
			fail_msg("\"%s\" accepted", in);
		assert_int_equal(d.err, err);
		assert_int_equal(d.err_off, err_off);
	}
	buf_free(&b);
}

static void check_qp(const char *in, enum codec_qp_kind kind, enum codec_mode mode,
                     const char *want, enum codec_err err, size_t err_off)
{
	struct codec_qp d;
	struct buf b = BUF_INIT;
	struct codec_out o;
	codec_out_buf(&o, &b);
	codec_qp_init(&d, kind, mode);
	int r = codec_qp_feed(&d, in, strlen(in), &o) == 1 && codec_qp_finish(&d, &o) == 1;
	if (want != NULL) {
		if (r != 1)
			fail_msg("\"%s\": %s at %llu", in, codec_strerror(d.err),
			         (unsigned long long)d.err_off);
		if (b.len != strlen(want) || memcmp(buf_cstr(&b), want, b.len) != 0)
			fail_msg("\"%s\" gave \"%s\", want \"%s\"", in, buf_cstr(&b), want);
	} else {
		if (r != 0)
			fail_msg("\"%s\" accepted", in);
		assert_int_equal(d.err, err);
		assert_int_equal(d.err_off, err_off);
	}
	buf_free(&b);
}

struct b64_case {
	const char *in;
	enum codec_b64_alphabet a;
	enum codec_pad pad;
	enum codec_mode mode;
	const char *want; /* NULL: an error */
	enum codec_err err;
	size_t err_off;
};

static void check_b64_cases(const struct b64_case *c, size_t n)
{
	for (size_t i = 0; i < n; i++)
		check_b64(c[i].in, c[i].a, c[i].pad, c[i].mode, c[i].want, c[i].err, c[i].err_off);
}

struct qp_case {
	const char *in;
	enum codec_qp_kind kind;
	enum codec_mode mode;
	const char *want; /* NULL: an error */
	enum codec_err err;
	size_t err_off;
};

static void check_qp_cases(const struct qp_case *c, size_t n)
{
	for (size_t i = 0; i < n; i++)
		check_qp(c[i].in, c[i].kind, c[i].mode, c[i].want, c[i].err, c[i].err_off);
}

/* ---- base64 ---------------------------------------------------------------- */

/* RFC 4648 section 10 test vectors. */
static const char *const vec[][2] = {
    {"", ""},
    {"f", "Zg=="},
    {"fo", "Zm8="},
    {"foo", "Zm9v"},
    {"foob", "Zm9vYg=="},
    {"fooba", "Zm9vYmE="},
    {"foobar", "Zm9vYmFy"},
};

static void test_rfc4648_vectors(void **state)
{
	for (size_t i = 0; i < sizeof(vec) / sizeof(vec[0]); i++) {
		char out[32];
		size_t n = strlen(vec[i][0]);
		assert_true(codec_b64_encoded_size(n, true) <= sizeof(out));
		codec_b64_encode((const unsigned char *)vec[i][0], n, out, CODEC_B64_STD, true);
		assert_string_equal(out, vec[i][1]);
		struct buf b = BUF_INIT;
		assert_int_equal(b64_strict(vec[i][1], strlen(vec[i][1]), &b, true), 1);
		assert_int_equal(b.len, n);
		if (n)
			assert_memory_equal(b.data, vec[i][0], n);
		buf_free(&b);
		/* Every mode and alphabet reads the plain vectors alike. */
		for (int a = CODEC_B64_STD; a <= CODEC_B64_IMAP; a++) {
			check_b64(vec[i][1], a, CODEC_PAD_OPTIONAL, CODEC_STRICT, vec[i][0], 0, 0);
			check_b64(vec[i][1], a, CODEC_PAD_REQUIRED, CODEC_LOOSE_END, vec[i][0], 0,
			          0);
			check_b64(vec[i][1], a, CODEC_PAD_REQUIRED, CODEC_LENIENT, vec[i][0], 0, 0);
		}
	}
}

static void test_unpadded(void **state)
{
	char out[32];
	codec_b64_encode((const unsigned char *)"fo", 2, out, CODEC_B64_STD, false);
	assert_string_equal(out, "Zm8");
	struct buf b = BUF_INIT;
	assert_int_equal(b64_strict("Zm8", 3, &b, false), 1);
	assert_memory_equal(b.data, "fo", 2);
	buf_free(&b);
	assert_int_equal(b64_strict("Zm8=", 4, &b, false), 0);
	buf_free(&b);
}

static void test_rejects(void **state)
{
	static const char *bad[] = {"Zm9", "Zm9v!", "Zg=", "Z===", "Zh==", "Zm9=Zm9v", "=Zm9"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct buf b = BUF_INIT;
		assert_int_equal(b64_strict(bad[i], strlen(bad[i]), &b, true), 0);
		buf_free(&b);
	}
}

static void test_random_round_trip(void **state)
{
	for (size_t n = 0; n < 200; n++) {
		unsigned char in[200];
		char enc[300];
		rnd_bytes(in, n);
		codec_b64_encode(in, n, enc, CODEC_B64_STD, n % 2 == 0);
		struct buf b = BUF_INIT;
		assert_int_equal(b64_strict(enc, strlen(enc), &b, n % 2 == 0), 1);
		assert_int_equal(b.len, n);
		if (n)
			assert_memory_equal(b.data, in, n);
		buf_free(&b);
	}
}

/* Every alphabet, padding and mode encodes and decodes random bytes back. */
static void test_round_trip_every_alphabet(void **state)
{
	for (size_t n = 0; n < 100; n++) {
		unsigned char in[100];
		rnd_bytes(in, n);
		for (int a = CODEC_B64_STD; a <= CODEC_B64_IMAP; a++) {
			for (int pad = 0; pad < 2; pad++) {
				struct buf e = BUF_INIT;
				codec_b64_encode_buf(in, n, a, pad, &e);
				assert_int_equal(e.len + 1, codec_b64_encoded_size(n, pad));
				for (int mode = CODEC_STRICT; mode <= CODEC_LENIENT; mode++) {
					struct buf b = BUF_INIT;
					enum codec_pad p =
					    pad ? CODEC_PAD_REQUIRED : CODEC_PAD_FORBIDDEN;
					assert_int_equal(
					    codec_b64_decode(e.data, e.len, a, p, mode, &b), 1);
					assert_int_equal(b.len, n);
					if (n)
						assert_memory_equal(b.data, in, n);
					buf_free(&b);
				}
				buf_free(&e);
			}
		}
	}
}

static void test_alphabets(void **state)
{
	static const unsigned char hi[2] = {0xfb, 0xff};
	char out[8];
	codec_b64_encode(hi, 2, out, CODEC_B64_STD, true);
	assert_string_equal(out, "+/8=");
	codec_b64_encode(hi, 2, out, CODEC_B64_URL, true);
	assert_string_equal(out, "-_8=");
	codec_b64_encode(hi, 2, out, CODEC_B64_IMAP, false);
	assert_string_equal(out, "+,8");

	check_b64("+/8=", CODEC_B64_STD, CODEC_PAD_REQUIRED, CODEC_STRICT, "\xfb\xff", 0, 0);
	check_b64("-_8=", CODEC_B64_URL, CODEC_PAD_REQUIRED, CODEC_STRICT, "\xfb\xff", 0, 0);
	check_b64("+,8", CODEC_B64_IMAP, CODEC_PAD_FORBIDDEN, CODEC_STRICT, "\xfb\xff", 0, 0);
	/* Each alphabet refuses the others' last two characters. */
	check_b64("-_8=", CODEC_B64_STD, CODEC_PAD_REQUIRED, CODEC_STRICT, NULL, CODEC_ERR_CHAR, 0);
	check_b64("+/8=", CODEC_B64_URL, CODEC_PAD_REQUIRED, CODEC_STRICT, NULL, CODEC_ERR_CHAR, 0);
	check_b64("+/8", CODEC_B64_IMAP, CODEC_PAD_FORBIDDEN, CODEC_STRICT, NULL, CODEC_ERR_CHAR,
	          1);
	check_b64("+,8=", CODEC_B64_STD, CODEC_PAD_REQUIRED, CODEC_STRICT, NULL, CODEC_ERR_CHAR, 1);
	/* Lenient mode skips them instead. */
	check_b64("Zm-9v", CODEC_B64_STD, CODEC_PAD_REQUIRED, CODEC_LENIENT, "foo", 0, 0);
	check_b64("Zm/9v", CODEC_B64_URL, CODEC_PAD_REQUIRED, CODEC_LENIENT, "foo", 0, 0);
}

static void test_padding_policies(void **state)
{
	static const struct b64_case cases[] = {
	    {"Zm8", CODEC_B64_STD, CODEC_PAD_OPTIONAL, CODEC_STRICT, "fo", 0, 0},
	    {"Zm8=", CODEC_B64_STD, CODEC_PAD_OPTIONAL, CODEC_STRICT, "fo", 0, 0},
	    {"Zg", CODEC_B64_STD, CODEC_PAD_OPTIONAL, CODEC_STRICT, "f", 0, 0},
	    {"Zg==", CODEC_B64_STD, CODEC_PAD_OPTIONAL, CODEC_STRICT, "f", 0, 0},
	    {"Zg=", CODEC_B64_STD, CODEC_PAD_OPTIONAL, CODEC_STRICT, NULL, CODEC_ERR_PAD, 3},
	    {"Zm8==", CODEC_B64_STD, CODEC_PAD_OPTIONAL, CODEC_STRICT, NULL, CODEC_ERR_PAD, 4},
	    {"Zm8", CODEC_B64_STD, CODEC_PAD_REQUIRED, CODEC_STRICT, NULL, CODEC_ERR_PAD, 3},
	    {"Zm8=", CODEC_B64_STD, CODEC_PAD_FORBIDDEN, CODEC_STRICT, NULL, CODEC_ERR_CHAR, 3},
	    {"Zm9v=", CODEC_B64_STD, CODEC_PAD_OPTIONAL, CODEC_STRICT, NULL, CODEC_ERR_PAD, 4},
	    {"=", CODEC_B64_STD, CODEC_PAD_OPTIONAL, CODEC_STRICT, NULL, CODEC_ERR_PAD, 0},
	    {"Z", CODEC_B64_STD, CODEC_PAD_FORBIDDEN, CODEC_STRICT, NULL, CODEC_ERR_PAD, 1},
	    {"Zm9vY", CODEC_B64_STD, CODEC_PAD_OPTIONAL, CODEC_STRICT, NULL, CODEC_ERR_PAD, 5},
	    /* RFC 4648 section 3.5: non-zero bits discarded by padding. */
	    {"Zh==", CODEC_B64_STD, CODEC_PAD_REQUIRED, CODEC_STRICT, NULL, CODEC_ERR_PAD, 2},
	    {"Zh", CODEC_B64_STD, CODEC_PAD_FORBIDDEN, CODEC_STRICT, NULL, CODEC_ERR_PAD, 2},
	    {"Zm9=Zm9v", CODEC_B64_STD, CODEC_PAD_REQUIRED, CODEC_STRICT, NULL, CODEC_ERR_PAD, 3},
	    {"Zm8=Zm9v", CODEC_B64_STD, CODEC_PAD_REQUIRED, CODEC_STRICT, NULL, CODEC_ERR_PAD, 4},
	    {"Zm9v\r\n", CODEC_B64_STD, CODEC_PAD_REQUIRED, CODEC_STRICT, NULL, CODEC_ERR_CHAR, 4},
	};
	check_b64_cases(cases, sizeof(cases) / sizeof(cases[0]));
}

/* RFC 2045 section 6.8 for bodies: never an error. */
static void test_lenient(void **state)
{
	static const struct b64_case cases[] = {
	    {"Zm9v\r\nYmFy\r\n", CODEC_B64_STD, CODEC_PAD_REQUIRED, CODEC_LENIENT, "foobar", 0, 0},
	    {"Zm9v!!*YmE=garbage", CODEC_B64_STD, CODEC_PAD_REQUIRED, CODEC_LENIENT, "fooba", 0, 0},
	    {"Zg", CODEC_B64_STD, CODEC_PAD_REQUIRED, CODEC_LENIENT, "f", 0, 0},
	    {"Zh", CODEC_B64_STD, CODEC_PAD_REQUIRED, CODEC_LENIENT, "f", 0, 0},
	    {"Z", CODEC_B64_STD, CODEC_PAD_REQUIRED, CODEC_LENIENT, "", 0, 0},
	    {"=Zm9v", CODEC_B64_STD, CODEC_PAD_REQUIRED, CODEC_LENIENT, "", 0, 0},
	    {"Zm9vY", CODEC_B64_STD, CODEC_PAD_REQUIRED, CODEC_LENIENT, "foo", 0, 0},
	    {" \t\r\n", CODEC_B64_STD, CODEC_PAD_REQUIRED, CODEC_LENIENT, "", 0, 0},
	};
	check_b64_cases(cases, sizeof(cases) / sizeof(cases[0]));
}

/* RFC 2047 B words: alphabet strict, end loose. */
static void test_loose_end(void **state)
{
	static const struct b64_case cases[] = {
	    {"QUJD", CODEC_B64_STD, CODEC_PAD_OPTIONAL, CODEC_LOOSE_END, "ABC", 0, 0},
	    {"QQ", CODEC_B64_STD, CODEC_PAD_OPTIONAL, CODEC_LOOSE_END, "A", 0, 0},
	    {"QQ=", CODEC_B64_STD, CODEC_PAD_OPTIONAL, CODEC_LOOSE_END, "A", 0, 0},
	    {"QQ=====", CODEC_B64_STD, CODEC_PAD_OPTIONAL, CODEC_LOOSE_END, "A", 0, 0},
	    {"QR", CODEC_B64_STD, CODEC_PAD_OPTIONAL, CODEC_LOOSE_END, "A", 0, 0},
	    {"QUJDR", CODEC_B64_STD, CODEC_PAD_OPTIONAL, CODEC_LOOSE_END, "ABC", 0, 0},
	    {"QQ==QQ", CODEC_B64_STD, CODEC_PAD_OPTIONAL, CODEC_LOOSE_END, NULL, CODEC_ERR_PAD, 4},
	    {"QQ=!", CODEC_B64_STD, CODEC_PAD_OPTIONAL, CODEC_LOOSE_END, NULL, CODEC_ERR_CHAR, 3},
	    {"Q!Q", CODEC_B64_STD, CODEC_PAD_OPTIONAL, CODEC_LOOSE_END, NULL, CODEC_ERR_CHAR, 1},
	};
	check_b64_cases(cases, sizeof(cases) / sizeof(cases[0]));
}

static void test_b64_fixed_array(void **state)
{
	unsigned char arr[6];
	size_t len = 99;
	assert_int_equal(codec_b64_decode_arr("Zm9vYmFy", 8, CODEC_B64_STD, CODEC_PAD_REQUIRED,
	                                      CODEC_STRICT, arr, sizeof(arr), &len),
	                 1);
	assert_int_equal(len, 6);
	assert_memory_equal(arr, "foobar", 6);
	/* One byte too many: an error, the array filled as far as it goes. */
	struct codec_b64 d;
	struct codec_out o;
	codec_out_arr(&o, arr, 5);
	codec_b64_init(&d, CODEC_B64_STD, CODEC_PAD_REQUIRED, CODEC_STRICT);
	assert_int_equal(codec_b64_feed(&d, "Zm9vYmFy", 8, &o), 0);
	assert_int_equal(d.err, CODEC_ERR_SPACE);
	assert_int_equal(d.err_off, 7);
	assert_int_equal(o.len, 5);
	assert_memory_equal(arr, "fooba", 5);
	/* After an error nothing more is taken. */
	assert_int_equal(codec_b64_feed(&d, "", 0, &o), 0);
	assert_int_equal(codec_b64_finish(&d, &o), 0);
	assert_int_equal(codec_b64_decode_arr("Zm9vYmFy", 8, CODEC_B64_STD, CODEC_PAD_REQUIRED,
	                                      CODEC_STRICT, arr, 0, &len),
	                 0);
	assert_int_equal(len, 0);
	assert_true(codec_b64_decoded_max(8) >= 6);
	assert_true(codec_b64_decoded_max(7) >= 5);
	assert_int_equal(codec_b64_decoded_max(0), 0);
	assert_true(codec_b64_decoded_max(SIZE_MAX) <= SIZE_MAX);
}

/* ---- quoted-printable -------------------------------------------------------- */

static void test_qp_body_vectors(void **state)
{
	static const struct qp_case cases[] = {
	    /* RFC 2045 section 6.7 rule (5) example. */
	    {"Now's the time =\r\nfor all folk to come=\r\n to the aid of their country.",
	     CODEC_QP_BODY, CODEC_LENIENT,
	     "Now's the time for all folk to come to the aid of their country.", 0, 0},
	    {"=3D=3d=41=4a=4A", CODEC_QP_BODY, CODEC_LENIENT, "==AJJ", 0, 0},
	    {"Sch=F6ne Gr=FC=DFe, soft=\r\nbreak =3D ok =zz\r\n", CODEC_QP_BODY, CODEC_LENIENT,
	     "Sch\xf6ne Gr\xfc\xdf"
	     "e, softbreak = ok =zz\r\n",
	     0, 0},
	    {"caf=C3=A9 au lait   \r\nsoft=\r\nbreak =3D done=\r\n", CODEC_QP_BODY, CODEC_LENIENT,
	     "caf\xc3\xa9 au lait\r\nsoftbreak = done", 0, 0},
	    /* Rule (3): literal white space at a line end goes, encoded stays. */
	    {"a \t \r\nb\t\nc", CODEC_QP_BODY, CODEC_LENIENT, "a\r\nb\nc", 0, 0},
	    {"a=20\r\nb =09\n", CODEC_QP_BODY, CODEC_LENIENT, "a \r\nb \t\n", 0, 0},
	    /* No line end: white space is data; so is a lone CR. */
	    {"a  ", CODEC_QP_BODY, CODEC_LENIENT, "a  ", 0, 0},
	    {"a \rb", CODEC_QP_BODY, CODEC_LENIENT, "a \rb", 0, 0},
	    {"a \r", CODEC_QP_BODY, CODEC_LENIENT, "a \r", 0, 0},
	    {"a \r\r\n", CODEC_QP_BODY, CODEC_LENIENT, "a \r\r\n", 0, 0},
	    /* Soft line breaks, with white space after '=' and at the end. */
	    {"a= \t\r\nb=\nc= \nd", CODEC_QP_BODY, CODEC_LENIENT, "abcd", 0, 0},
	    {"done=", CODEC_QP_BODY, CODEC_LENIENT, "done", 0, 0},
	    {"done= \t", CODEC_QP_BODY, CODEC_LENIENT, "done", 0, 0},
	    {"x  =\r\ny", CODEC_QP_BODY, CODEC_LENIENT, "x  y", 0, 0},
	    /* Malformed escapes stay as written. */
	    {"=zz", CODEC_QP_BODY, CODEC_LENIENT, "=zz", 0, 0},
	    {"=4", CODEC_QP_BODY, CODEC_LENIENT, "=4", 0, 0},
	    {"=4x", CODEC_QP_BODY, CODEC_LENIENT, "=4x", 0, 0},
	    {"=4=41", CODEC_QP_BODY, CODEC_LENIENT, "=4A", 0, 0},
	    {"==41", CODEC_QP_BODY, CODEC_LENIENT, "=A", 0, 0},
	    {"= x", CODEC_QP_BODY, CODEC_LENIENT, "= x", 0, 0},
	    {"= \r\n", CODEC_QP_BODY, CODEC_LENIENT, "", 0, 0},
	    {"= x \r\n", CODEC_QP_BODY, CODEC_LENIENT, "= x\r\n", 0, 0},
	    {"=\r", CODEC_QP_BODY, CODEC_LENIENT, "=\r", 0, 0},
	    {"= \rX", CODEC_QP_BODY, CODEC_LENIENT, "= \rX", 0, 0},
	    {"= \r\r\n", CODEC_QP_BODY, CODEC_LENIENT, "= \r\r\n", 0, 0},
	    {"=4\r\n", CODEC_QP_BODY, CODEC_LENIENT, "=4\r\n", 0, 0},
	    {"_", CODEC_QP_BODY, CODEC_LENIENT, "_", 0, 0},
	    {"", CODEC_QP_BODY, CODEC_LENIENT, "", 0, 0},
	};
	check_qp_cases(cases, sizeof(cases) / sizeof(cases[0]));
}

static void test_qp_strict(void **state)
{
	static const struct qp_case cases[] = {
	    {"a=3Db=\r\nc=3d", CODEC_QP_BODY, CODEC_STRICT, "a=bc=", 0, 0},
	    {"end=", CODEC_QP_BODY, CODEC_STRICT, "end", 0, 0},
	    {"a=zz", CODEC_QP_BODY, CODEC_STRICT, NULL, CODEC_ERR_ESCAPE, 2},
	    {"a=4", CODEC_QP_BODY, CODEC_STRICT, NULL, CODEC_ERR_ESCAPE, 3},
	    {"a=4z", CODEC_QP_BODY, CODEC_STRICT, NULL, CODEC_ERR_ESCAPE, 3},
	    {"= x", CODEC_QP_BODY, CODEC_STRICT, NULL, CODEC_ERR_ESCAPE, 2},
	    {"=\rx", CODEC_QP_BODY, CODEC_STRICT, NULL, CODEC_ERR_ESCAPE, 2},
	    {"=\r", CODEC_QP_BODY, CODEC_STRICT, NULL, CODEC_ERR_ESCAPE, 2},
	    {"Gr=FC=DFe_x", CODEC_QP_WORD, CODEC_STRICT,
	     "Gr\xfc\xdf"
	     "e x",
	     0, 0},
	    {"a=", CODEC_QP_WORD, CODEC_STRICT, NULL, CODEC_ERR_ESCAPE, 2},
	    {"a=_", CODEC_QP_WORD, CODEC_STRICT, NULL, CODEC_ERR_ESCAPE, 2},
	    {"%4", CODEC_QP_PERCENT, CODEC_STRICT, NULL, CODEC_ERR_ESCAPE, 2},
	    {"%41%", CODEC_QP_PERCENT, CODEC_STRICT, NULL, CODEC_ERR_ESCAPE, 4},
	};
	check_qp_cases(cases, sizeof(cases) / sizeof(cases[0]));
}

/* RFC 2047 section 4.2 "Q" and RFC 2231 section 4 percent-encoding. */
static void test_qp_word_and_percent(void **state)
{
	static const struct qp_case cases[] = {
	    {"Gr=FC=DFe_aus_K=F6ln", CODEC_QP_WORD, CODEC_LENIENT,
	     "Gr\xfc\xdf"
	     "e aus K\xf6ln",
	     0, 0},
	    {"a=4_", CODEC_QP_WORD, CODEC_LENIENT, "a=4 ", 0, 0},
	    {"=_41", CODEC_QP_WORD, CODEC_LENIENT, "= 41", 0, 0},
	    {"=", CODEC_QP_WORD, CODEC_LENIENT, "=", 0, 0},
	    {"a \r\n", CODEC_QP_WORD, CODEC_LENIENT, "a \r\n", 0, 0},
	    {"a%20b%zz%4", CODEC_QP_PERCENT, CODEC_LENIENT, "a b%zz%4", 0, 0},
	    {"_=41%e2%82%AC", CODEC_QP_PERCENT, CODEC_LENIENT, "_=41\xe2\x82\xac", 0, 0},
	};
	check_qp_cases(cases, sizeof(cases) / sizeof(cases[0]));
}

/* The white space the body decoder holds back is bounded. */
static void test_qp_long_white_space(void **state)
{
	char in[700], want[700];
	memset(in, ' ', 300);
	memcpy(in + 300, "\r\nx", 4);
	memset(want, ' ', 300 - CODEC_QP_WSP_MAX);
	memcpy(want + 300 - CODEC_QP_WSP_MAX, "\r\nx", 4);
	check_qp(in, CODEC_QP_BODY, CODEC_LENIENT, want, 0, 0);

	/* "=" and CODEC_QP_WSP_MAX spaces still make a soft line break. */
	in[0] = '=';
	memset(in + 1, ' ', CODEC_QP_WSP_MAX);
	memcpy(in + 1 + CODEC_QP_WSP_MAX, "\nx", 3);
	check_qp(in, CODEC_QP_BODY, CODEC_LENIENT, "x", 0, 0);
	/* One more and '=' is text; the trailing spaces go at the line end. */
	memset(in + 1, ' ', CODEC_QP_WSP_MAX + 1);
	memcpy(in + 2 + CODEC_QP_WSP_MAX, "\nx", 3);
	check_qp(in, CODEC_QP_BODY, CODEC_LENIENT, "= \nx", 0, 0);
	check_qp(in, CODEC_QP_BODY, CODEC_STRICT, NULL, CODEC_ERR_ESCAPE, CODEC_QP_WSP_MAX + 1);
	/* Not followed by a line break, every space is kept. */
	memset(in + 1, ' ', 400);
	memcpy(in + 401, "x", 2);
	memcpy(want, in, 403);
	check_qp(in, CODEC_QP_BODY, CODEC_LENIENT, want, 0, 0);
}

/* ---- hex --------------------------------------------------------------------- */

static void test_hex(void **state)
{
	unsigned char in[3] = {0x00, 0xab, 0xff}, out[3];
	char h[7];
	codec_hex_encode(in, 3, h);
	assert_string_equal(h, "00abff");
	assert_int_equal(codec_hex_decode("00ABff", 6, out, 3), 1);
	assert_memory_equal(in, out, 3);
	assert_int_equal(codec_hex_decode("00abf", 5, out, 3), 0);
	assert_int_equal(codec_hex_decode("00abfg", 6, out, 3), 0);
	char r[33];
	rnd_hex(r, 16);
	assert_int_equal(strlen(r), 32);
}

static void test_hex_more(void **state)
{
	unsigned char out[4];
	assert_int_equal(codec_hex_decode("", 0, out, 0), 1);
	assert_int_equal(codec_hex_decode("0a0b0c", 6, out, 2), 0); /* too long */
	assert_int_equal(codec_hex_decode("0a0", 3, out, 1), 0);    /* odd */
	assert_int_equal(codec_hex_decode(" 0a", 2, out, 1), 0);
	assert_int_equal(codec_hex_decode("DeadBEEF", 8, out, 4), 1);
	assert_memory_equal(out, "\xde\xad\xbe\xef", 4);
	for (int c = 0; c < 256; c++) {
		int want = -1;
		if (c >= '0' && c <= '9')
			want = c - '0';
		else if (c >= 'a' && c <= 'f')
			want = c - 'a' + 10;
		else if (c >= 'A' && c <= 'F')
			want = c - 'A' + 10;
		assert_int_equal(codec_hex_digit((unsigned char)c), want);
	}
	for (size_t n = 0; n < 64; n++) {
		unsigned char b[64], back[64];
		char e[129];
		rnd_bytes(b, n);
		codec_hex_encode(b, n, e);
		assert_int_equal(strlen(e), 2 * n);
		assert_int_equal(codec_hex_decode(e, 2 * n, back, n), 1);
		if (n)
			assert_memory_equal(b, back, n);
	}
}

/* ---- bodies ------------------------------------------------------------------ */

static void test_body(void **state)
{
	assert_int_equal(codec_cte_lookup(NULL), CODEC_CTE_IDENTITY);
	assert_int_equal(codec_cte_lookup("7BIT"), CODEC_CTE_IDENTITY);
	assert_int_equal(codec_cte_lookup("8bit"), CODEC_CTE_IDENTITY);
	assert_int_equal(codec_cte_lookup("Binary"), CODEC_CTE_IDENTITY);
	assert_int_equal(codec_cte_lookup("BASE64"), CODEC_CTE_BASE64);
	assert_int_equal(codec_cte_lookup("Quoted-Printable"), CODEC_CTE_QP);
	assert_int_equal(codec_cte_lookup("x-uuencode"), CODEC_CTE_UNKNOWN);

	struct buf b = BUF_INIT;
	assert_int_equal(codec_body_decode(CODEC_CTE_BASE64, "w5xi\r\nZXI=\r\n", 12, &b), 1);
	assert_string_equal(buf_cstr(&b), "\xc3\x9c"
	                                  "ber");
	buf_reset(&b);
	assert_int_equal(codec_body_decode(CODEC_CTE_QP, "a=3D \r\n", 7, &b), 1);
	assert_string_equal(buf_cstr(&b), "a=\r\n");
	buf_reset(&b);
	assert_int_equal(codec_body_decode(CODEC_CTE_IDENTITY, "a=3D \r\n", 7, &b), 1);
	assert_string_equal(buf_cstr(&b), "a=3D \r\n");
	buf_reset(&b);
	assert_int_equal(codec_body_decode(CODEC_CTE_UNKNOWN, "abc", 3, &b), 0);
	assert_int_equal(b.len, 0);
	buf_free(&b);

	unsigned char arr[4];
	struct codec_body d;
	struct codec_out o;
	codec_out_arr(&o, arr, sizeof(arr));
	assert_int_equal(codec_body_init(&d, CODEC_CTE_IDENTITY), 1);
	assert_int_equal(codec_body_feed(&d, "abc", 3, &o), 1);
	assert_int_equal(codec_body_feed(&d, "de", 2, &o), 0);
	assert_int_equal(o.len, 4);
	assert_memory_equal(arr, "abcd", 4);
	assert_int_equal(codec_body_init(&d, CODEC_CTE_UNKNOWN), 0);
	assert_int_equal(codec_body_feed(&d, "x", 1, &o), 0);
	assert_int_equal(codec_body_finish(&d, &o), 0);
	assert_string_equal(codec_strerror(CODEC_OK), "");
	assert_true(strlen(codec_strerror(CODEC_ERR_SPACE)) > 0);
}

/* ---- chunking: any split gives the same output and the same error ------------- */

enum dec_kind { DEC_B64, DEC_QP };

struct dec_cfg {
	enum dec_kind kind;
	int a; /* alphabet or QP kind */
	enum codec_pad pad;
	enum codec_mode mode;
};

struct dec_res {
	int r;
	enum codec_err err;
	uint64_t err_off;
	size_t len;
	unsigned char out[1024];
};

/* Decode in, cut at the ncuts offsets (ascending), into a buffer or, with
 * cap < sizeof(res->out), an array of cap bytes. */
static void dec_run(const struct dec_cfg *c, const unsigned char *in, size_t n, const size_t *cuts,
                    size_t ncuts, size_t cap, struct dec_res *res)
{
	struct codec_b64 b;
	struct codec_qp q;
	struct buf bb = BUF_INIT;
	struct codec_out o;
	bool use_buf = cap >= sizeof(res->out);
	if (use_buf)
		codec_out_buf(&o, &bb);
	else
		codec_out_arr(&o, res->out, cap);
	if (c->kind == DEC_B64)
		codec_b64_init(&b, c->a, c->pad, c->mode);
	else
		codec_qp_init(&q, c->a, c->mode);
	size_t at = 0;
	int r = 1;
	for (size_t k = 0; k <= ncuts && r == 1; k++) {
		size_t end = k < ncuts ? cuts[k] : n;
		r = c->kind == DEC_B64 ? codec_b64_feed(&b, in + at, end - at, &o)
		                       : codec_qp_feed(&q, in + at, end - at, &o);
		at = end;
	}
	if (r == 1)
		r = c->kind == DEC_B64 ? codec_b64_finish(&b, &o) : codec_qp_finish(&q, &o);
	res->r = r;
	res->err = c->kind == DEC_B64 ? b.err : q.err;
	res->err_off = c->kind == DEC_B64 ? b.err_off : q.err_off;
	res->len = o.len;
	if (use_buf) {
		assert_true(bb.len <= sizeof(res->out));
		if (bb.len)
			memcpy(res->out, bb.data, bb.len);
		assert_int_equal(o.len, bb.len);
	}
	buf_free(&bb);
}

static void dec_same(const struct dec_res *x, const struct dec_res *y)
{
	assert_int_equal(x->r, y->r);
	assert_int_equal(x->err, y->err);
	assert_int_equal(x->err_off, y->err_off);
	assert_int_equal(x->len, y->len);
	if (x->len)
		assert_memory_equal(x->out, y->out, x->len);
}

/* All the decoder configurations. */
static size_t dec_configs(struct dec_cfg *cfg)
{
	size_t n = 0;
	for (int a = CODEC_B64_STD; a <= CODEC_B64_IMAP; a++)
		for (int p = CODEC_PAD_REQUIRED; p <= CODEC_PAD_FORBIDDEN; p++)
			for (int m = CODEC_STRICT; m <= CODEC_LENIENT; m++)
				cfg[n++] = (struct dec_cfg){DEC_B64, a, p, m};
	for (int k = CODEC_QP_BODY; k <= CODEC_QP_PERCENT; k++)
		for (int m = CODEC_STRICT; m <= CODEC_LENIENT; m++)
			cfg[n++] = (struct dec_cfg){DEC_QP, k, 0, m};
	return n;
}

static const char *const chunk_inputs[] = {
    "",
    "Zm9vYmFy",
    "Zm9vYg==",
    "Zm9vYmE=",
    "Zm9=Zm9v",
    "Zh==",
    "Zm9v\r\nYmFy\r\n",
    "QQ==QQ",
    "+/8=-_8=+,8",
    "Z!m9v",
    "=Zm9v",
    "Zm9vY",
    "Now's the time =\r\nfor all folk to come=\r\n to the aid of their country.",
    "caf=C3=A9 au lait   \r\nsoft=\r\nbreak =3D done=\r\n",
    "a \t \r\nb\t\nc  ",
    "=4=41==41= x = \r\n=\r= \rX= \r\r\n=4\r\n",
    "a \rb \r",
    "Gr=FC=DFe_aus_K=F6ln%20%zz%4",
    "done= \t",
    "=",
    "%",
    "= ",
};

static void check_chunking(const struct dec_cfg *c, const unsigned char *in, size_t n)
{
	struct dec_res one, other;
	size_t cuts[1024];
	dec_run(c, in, n, NULL, 0, SIZE_MAX, &one);
	/* One byte at a time. */
	for (size_t i = 0; i < n && i < 1024; i++)
		cuts[i] = i + 1;
	if (n <= 1024) {
		dec_run(c, in, n, cuts, n, SIZE_MAX, &other);
		dec_same(&one, &other);
	}
	/* Every split point, and every pair of split points for short inputs. */
	for (size_t i = 0; i <= n; i++) {
		cuts[0] = i;
		dec_run(c, in, n, cuts, 1, SIZE_MAX, &other);
		dec_same(&one, &other);
		for (size_t j = i; n <= 24 && j <= n; j++) {
			cuts[1] = j;
			dec_run(c, in, n, cuts, 2, SIZE_MAX, &other);
			dec_same(&one, &other);
		}
	}
	/* Into arrays of every size up to the output: the same bytes and the
	 * same error whether fed at once or byte by byte. */
	for (size_t cap = 0; cap <= one.len + 1 && cap < sizeof(one.out); cap++) {
		struct dec_res arr_one;
		dec_run(c, in, n, NULL, 0, cap, &arr_one);
		if (cap >= one.len) {
			dec_same(&one, &arr_one);
		} else {
			assert_int_equal(arr_one.r, 0);
			assert_int_equal(arr_one.len, cap);
			assert_memory_equal(arr_one.out, one.out, cap);
		}
		if (n <= 1024) {
			for (size_t i = 0; i < n; i++)
				cuts[i] = i + 1;
			dec_run(c, in, n, cuts, n, cap, &other);
			dec_same(&arr_one, &other);
		}
	}
}

static void test_chunking_vectors(void **state)
{
	struct dec_cfg cfg[64];
	size_t ncfg = dec_configs(cfg);
	for (size_t k = 0; k < ncfg; k++)
		for (size_t i = 0; i < sizeof(chunk_inputs) / sizeof(chunk_inputs[0]); i++)
			check_chunking(&cfg[k], (const unsigned char *)chunk_inputs[i],
			               strlen(chunk_inputs[i]));
}

/* Random inputs over an alphabet rich in the bytes the decoders look at. */
static void test_chunking_random(void **state)
{
	static const char pool[] = "AZaz09+/,-_=%\r\n \t!4fF";
	struct dec_cfg cfg[64];
	size_t ncfg = dec_configs(cfg);
	uint32_t seed = 12345;
	for (int round = 0; round < 100; round++) {
		unsigned char in[64];
		seed = seed * 1103515245u + 12345u;
		size_t n = (seed >> 16) % sizeof(in);
		for (size_t i = 0; i < n; i++) {
			seed = seed * 1103515245u + 12345u;
			in[i] = (unsigned char)pool[(seed >> 16) % (sizeof(pool) - 1)];
		}
		for (size_t k = 0; k < ncfg; k++)
			check_chunking(&cfg[k], in, n);
	}
}

/* A long body, byte at a time and in odd chunks, against one call. */
static void test_chunking_long(void **state)
{
	struct buf raw = BUF_INIT, enc = BUF_INIT;
	for (int i = 0; i < 3000; i++)
		buf_append_byte(&raw, (unsigned char)(i * 7 + i / 13));
	codec_b64_encode_buf(raw.data, raw.len, CODEC_B64_STD, true, &enc);
	struct codec_b64 d;
	struct buf out = BUF_INIT;
	struct codec_out o;
	codec_out_buf(&o, &out);
	codec_b64_init(&d, CODEC_B64_STD, CODEC_PAD_REQUIRED, CODEC_LENIENT);
	for (size_t i = 0; i < enc.len; i += 1 + i % 7) {
		size_t k = 1 + i % 7;
		if (k > enc.len - i)
			k = enc.len - i;
		/* A line break every so often, as mail has. */
		assert_int_equal(codec_b64_feed(&d, enc.data + i, k, &o), 1);
		assert_int_equal(codec_b64_feed(&d, "\r\n", i % 3 == 0 ? 2 : 0, &o), 1);
	}
	assert_int_equal(codec_b64_finish(&d, &o), 1);
	assert_int_equal(out.len, raw.len);
	assert_memory_equal(out.data, raw.data, raw.len);
	buf_free(&raw);
	buf_free(&enc);
	buf_free(&out);
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
	    cmocka_unit_test(test_rfc4648_vectors),
	    cmocka_unit_test(test_unpadded),
	    cmocka_unit_test(test_rejects),
	    cmocka_unit_test(test_random_round_trip),
	    cmocka_unit_test(test_round_trip_every_alphabet),
	    cmocka_unit_test(test_alphabets),
	    cmocka_unit_test(test_padding_policies),
	    cmocka_unit_test(test_lenient),
	    cmocka_unit_test(test_loose_end),
	    cmocka_unit_test(test_b64_fixed_array),
	    cmocka_unit_test(test_qp_body_vectors),
	    cmocka_unit_test(test_qp_strict),
	    cmocka_unit_test(test_qp_word_and_percent),
	    cmocka_unit_test(test_qp_long_white_space),
	    cmocka_unit_test(test_hex),
	    cmocka_unit_test(test_hex_more),
	    cmocka_unit_test(test_body),
	    cmocka_unit_test(test_chunking_vectors),
	    cmocka_unit_test(test_chunking_random),
	    cmocka_unit_test(test_chunking_long),
	    cmocka_unit_test(test_buf),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
