/* SPDX-License-Identifier: AGPL-3.0-or-later */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "proto/msgtext.h"

static char *fold(const char *s, bool header)
{
	struct buf b = BUF_INIT;
	msgtext_fold((const unsigned char *)s, strlen(s), header, &b);
	return (char *)buf_steal(&b, NULL);
}

static void check_fold(const char *in, bool header, const char *want)
{
	char *got = fold(in, header);
	assert_string_equal(got, want);
	free(got);
}

static void extract(const char *msg, struct buf *hdr, struct buf *body)
{
	buf_reset(hdr);
	buf_reset(body);
	msgtext_extract((const unsigned char *)msg, strlen(msg), hdr, body);
}

static bool has(const struct buf *b, const char *s)
{
	return b->len >= strlen(s) && memmem(b->data, b->len, s, strlen(s)) != NULL;
}

static void test_fold_ascii_and_scripts(void **state)
{
	check_fold("Hello WORLD 123", false, "hello world 123");
	/* Latin-1, Latin Extended-A, Greek (final sigma), Cyrillic, fullwidth */
	check_fold("ÀÉÎÕÜ Þ ×", false, "àéîõü þ ×");
	check_fold("ŁÓDŹ ŒUVRE Ÿ İ", false, "łódź œuvre ÿ i");
	check_fold("ΣΟΦΟΣ ΆΈ", false, "σοφοσ άέ");
	check_fold("МОСКВА ЁЖ Ђ", false, "москва ёж ђ");
	check_fold("ＡＢＣ", false, "ａｂｃ");
	/* no length-changing mappings */
	check_fold("STRASSE Straße ẞ", false, "strasse straße ß");
}

static void test_fold_invalid_utf8_is_cp1252(void **state)
{
	/* 0xE9 alone is not UTF-8: windows-1252 'é'; 0x80 is the euro sign;
	 * an overlong form and a surrogate are read byte by byte too. */
	check_fold("caf\xe9 \x80 5", false, "café € 5");
	check_fold("\xc0\xaf", false, "\xc3\xa0\xc2\xaf");
	check_fold("\xed\xa0\x80", false, "\xc3\xad\xc2\xa0\xe2\x82\xac");
}

static void test_fold_line_ends_and_controls(void **state)
{
	check_fold("a\r\nb\rc\nd\te\x01"
	           "f\x7f"
	           "g",
	           false, "a\nb\nc\nd\te f g");
	check_fold("a\r\nb\tc", true, "a b c");
	/* NUL never reaches the output; a BOM disappears */
	struct buf b = BUF_INIT;
	msgtext_fold((const unsigned char *)"x\0y\xef\xbb\xbfz", 7, false, &b);
	assert_int_equal(b.len, 4);
	assert_memory_equal(b.data, "x yz", 4);
	buf_free(&b);
}

static void test_header_lines(void **state)
{
	const char *h = "From: =?UTF-8?Q?J=C3=B6rg?= <JOERG@Example.DE>\r\n"
	                "Subject: =?ISO-8859-1?Q?Gr=FC=DFe?=\r\n =?ISO-8859-1?B?YXVz?= K\xf6ln\r\n"
	                "X-Empty:\r\n"
	                "not a field\r\n"
	                "To:\tbob@example.net ,\r\n\tcarol@example.com\r\n"
	                "\r\n"
	                "Body: not a header\r\n";
	struct buf out = BUF_INIT;
	msgtext_header((const unsigned char *)h, strlen(h), &out);
	assert_string_equal(buf_cstr(&out), "from: jörg <joerg@example.de>\n"
	                                    "subject: grüßeaus köln\n"
	                                    "x-empty: \n"
	                                    "to: bob@example.net , carol@example.com\n");
	const unsigned char *t = out.data;
	assert_true(msgtext_header_match(t, out.len, "from", (const unsigned char *)"jörg", 5));
	assert_true(msgtext_header_match(t, out.len, "to", (const unsigned char *)"carol@", 6));
	assert_false(msgtext_header_match(t, out.len, "to", (const unsigned char *)"jörg", 5));
	assert_true(msgtext_header_match(t, out.len, "x-empty", (const unsigned char *)"", 0));
	assert_false(msgtext_header_match(t, out.len, "cc", (const unsigned char *)"", 0));
	/* a field name is matched whole: "to" is not "x-to" nor "tox" */
	assert_false(msgtext_header_match(t, out.len, "o", (const unsigned char *)"", 0));
	size_t vl;
	const unsigned char *v = msgtext_header_value(t, out.len, "subject", &vl);
	assert_non_null(v);
	assert_int_equal(vl, strlen("grüßeaus köln"));
	assert_null(msgtext_header_value(t, out.len, "date", &vl));
	buf_free(&out);
}

static void test_extract_plain_qp_base64(void **state)
{
	struct buf h = BUF_INIT, b = BUF_INIT;
	extract("Subject: Plain\r\n\r\nHello World,\r\nsecond LINE\r\n", &h, &b);
	assert_string_equal(buf_cstr(&h), "subject: plain\n");
	assert_string_equal(buf_cstr(&b), "hello world,\nsecond line\n");

	extract("Content-Type: text/plain; charset=iso-8859-1\r\n"
	        "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
	        "Sch=F6ne Gr=FC=DFe, soft=\r\nbreak =3D ok =zz\r\n",
	        &h, &b);
	assert_string_equal(buf_cstr(&b), "schöne grüße, softbreak = ok =zz\n");

	extract("Content-Type: text/plain; charset=utf-8\r\n"
	        "Content-Transfer-Encoding: BASE64\r\n\r\n"
	        "w5xiZXIgZGVu\r\nIEJlcmc=\r\n",
	        &h, &b);
	assert_string_equal(buf_cstr(&b), "über den berg");
	buf_free(&h);
	buf_free(&b);
}

static void test_extract_html(void **state)
{
	struct buf h = BUF_INIT, b = BUF_INIT;
	extract("Content-Type: text/html\r\n\r\n"
	        "<html><head><title>T</title><style>p { color: red }</style>"
	        "<script>var secretscript = 1;</script></head>\r\n"
	        "<body><p>Big <b>S</b>ALE&nbsp;today &amp; tomorrow</p><!-- hidden comment -->"
	        "<div>caf&eacute; &#233; &#x263A; &bogus; a < b</div><br>end</body></html>\r\n",
	        &h, &b);
	assert_true(has(&b, "big sale today & tomorrow"));
	assert_true(has(&b, "café é ☺ &bogus; a < b"));
	assert_true(has(&b, "\nend"));
	assert_false(has(&b, "secretscript"));
	assert_false(has(&b, "color"));
	assert_false(has(&b, "hidden comment"));
	assert_false(has(&b, "<p>"));
	buf_free(&h);
	buf_free(&b);
}

static void test_extract_multipart_and_attached_message(void **state)
{
	struct buf h = BUF_INIT, b = BUF_INIT;
	extract("From: outer@example.org\r\n"
	        "Subject: Fwd: inner\r\n"
	        "Content-Type: multipart/mixed; boundary=\"xx\"\r\n\r\n"
	        "preamble is not text\r\n"
	        "--xx\r\n"
	        "Content-Type: text/plain\r\n\r\n"
	        "See below.\r\n"
	        "--xx\r\n"
	        "Content-Type: message/rfc822\r\n\r\n"
	        "From: inner@example.org\r\n"
	        "Subject: =?utf-8?B?SW5uZXIgc3ViamVjdA==?=\r\n\r\n"
	        "nested body text\r\n"
	        "--xx\r\n"
	        "Content-Type: application/pdf\r\n"
	        "Content-Transfer-Encoding: base64\r\n\r\n"
	        "cGRmc2VjcmV0\r\n"
	        "--xx--\r\n"
	        "epilogue\r\n",
	        &h, &b);
	assert_string_equal(buf_cstr(&h), "from: outer@example.org\nsubject: fwd: inner\n"
	                                  "content-type: multipart/mixed; boundary=\"xx\"\n");
	assert_true(has(&b, "see below."));
	assert_true(has(&b, "subject: inner subject\n"));
	assert_true(has(&b, "from: inner@example.org"));
	assert_true(has(&b, "nested body text"));
	assert_false(has(&b, "pdfsecret"));
	assert_false(has(&b, "preamble"));
	assert_false(has(&b, "epilogue"));
	buf_free(&h);
	buf_free(&b);
}

static void test_extract_unknown_charset_keeps_bytes(void **state)
{
	struct buf h = BUF_INIT, b = BUF_INIT;
	extract("Content-Type: text/plain; charset=x-made-up\r\n\r\nASCII survives \xe9\r\n", &h,
	        &b);
	assert_string_equal(buf_cstr(&b), "ascii survives é\n");
	buf_free(&h);
	buf_free(&b);
}

static void test_extract_body_capped(void **state)
{
	struct buf msg = BUF_INIT, h = BUF_INIT, b = BUF_INIT;
	buf_append_str(&msg, "Subject: big\r\n\r\n");
	while (msg.len < MSGTEXT_BODY_MAX + MSGTEXT_BODY_MAX / 8)
		buf_append_str(&msg, "\xc3\xa9\xc3\xa9\xc3\xa9 abcdefgh\r\n");
	msgtext_extract(msg.data, msg.len, &h, &b);
	assert_true(b.len <= MSGTEXT_BODY_MAX);
	assert_true(b.len > MSGTEXT_BODY_MAX - 16);
	/* cut at a character boundary */
	assert_true((b.data[b.len - 1] & 0xC0) != 0xC0);
	buf_free(&msg);
	buf_free(&h);
	buf_free(&b);
}

static void test_extract_garbage_never_fails(void **state)
{
	/* headers only, no body; truncated multipart; binary junk */
	struct buf h = BUF_INIT, b = BUF_INIT;
	extract("Subject: x", &h, &b);
	assert_string_equal(buf_cstr(&h), "subject: x\n");
	extract(
	    "Content-Type: multipart/mixed; boundary=q\r\n\r\n--q\r\nContent-Type: text/plain\r\n",
	    &h, &b);
	unsigned char junk[512];
	for (size_t i = 0; i < sizeof(junk); i++)
		junk[i] = (unsigned char)(i * 37 + 11);
	buf_reset(&h);
	buf_reset(&b);
	msgtext_extract(junk, sizeof(junk), &h, &b);
	msgtext_extract(junk, 0, &h, &b);
	buf_free(&h);
	buf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_fold_ascii_and_scripts),
	    cmocka_unit_test(test_fold_invalid_utf8_is_cp1252),
	    cmocka_unit_test(test_fold_line_ends_and_controls),
	    cmocka_unit_test(test_header_lines),
	    cmocka_unit_test(test_extract_plain_qp_base64),
	    cmocka_unit_test(test_extract_html),
	    cmocka_unit_test(test_extract_multipart_and_attached_message),
	    cmocka_unit_test(test_extract_unknown_charset_keeps_bytes),
	    cmocka_unit_test(test_extract_body_capped),
	    cmocka_unit_test(test_extract_garbage_never_fails),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
