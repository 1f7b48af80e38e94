/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* The IMAP forms of a MIME tree: BODY, BODYSTRUCTURE and ENVELOPE against
 * the expected strings of the corpus (tests/data/mime/ *.expected), from a
 * parsed tree and from its cache form, and the IMAP string writer. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/fmt.h"
#include "base/buf.h"
#include "proto/imapbody.h"
#include "proto/imapenv.h"
#include "proto/mime.h"

#include "mime_corpus.h"

/* The BODY, BODYSTRUCTURE and ENVELOPE lines of a corpus message (the
 * other lines check the tree: test_mime.c). */
static void check_message(const char *name)
{
	char path[512];
	size_t len, elen;
	assert_int_equal(fmt_name(path, sizeof(path), "%s/%s.eml", data_dir(), name), 0);
	unsigned char *msg = read_file(path, &len);
	assert_int_equal(fmt_name(path, sizeof(path), "%s/%s.expected", data_dir(), name), 0);
	unsigned char *exp = read_file(path, &elen);
	assert_non_null(msg);
	assert_non_null(exp);

	struct mime_part *root = NULL, *r2 = NULL;
	assert_int_equal(mime_parse(msg, len, NULL, &root), 0);
	struct buf out = BUF_INIT, want = BUF_INIT, c = BUF_INIT;
	mime_cache_encode(root, &c);
	assert_int_equal(mime_cache_decode(c.data, c.len, &r2), 0);
	unsigned checks = 0;

	char *line = (char *)exp, *end = (char *)exp + elen;
	while (line < end) {
		char *nl = memchr(line, '\n', (size_t)(end - line));
		if (nl == NULL)
			nl = end;
		char *sp = memchr(line, ' ', (size_t)(nl - line));
		size_t kl = sp != NULL ? (size_t)(sp - line) : 0;
		bool body = kl == 4 && memcmp(line, "BODY", 4) == 0;
		bool bs = kl == 13 && memcmp(line, "BODYSTRUCTURE", 13) == 0;
		bool env = kl == 8 && memcmp(line, "ENVELOPE", 8) == 0;
		if (line[0] == '#' || sp == NULL || !(body || bs || env)) {
			line = nl + 1;
			continue;
		}
		buf_reset(&want);
		unescape(sp + 1, (size_t)(nl - sp - 1), &want);
		/* the parsed tree and its cache form give the same string */
		for (int from_cache = 0; from_cache < 2; from_cache++) {
			const struct mime_part *t = from_cache ? r2 : root;
			buf_reset(&out);
			if (env)
				imapenv_envelope(t->msg_fields, &out);
			else
				imapbody_bodystructure(t, bs, &out);
			assert_bytes_equal(from_cache ? "cached" : "parsed", name, out.data,
			                   out.len, want.data, want.len);
		}
		if (env) {
			/* and the header bytes alone */
			buf_reset(&out);
			imapenv_envelope_header(msg, root->hdr_size, &out);
			assert_bytes_equal("ENVELOPE", name, out.data, out.len, want.data,
			                   want.len);
		}
		checks++;
		line = nl + 1;
	}
	assert_int_equal(checks, 3);
	mime_free(&r2);
	mime_free(&root);
	buf_free(&out);
	buf_free(&want);
	buf_free(&c);
	free(msg);
	free(exp);
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void test_corpus(void **state)
{
	DIR *d = opendir(data_dir());
	assert_non_null(d);
	char *names[256];
	size_t n = 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL && n < 256) {
		size_t l = strlen(e->d_name);
		if (l > 4 && strcmp(e->d_name + l - 4, ".eml") == 0)
			names[n++] = strndup(e->d_name, l - 4);
	}
	closedir(d);
	qsort(names, n, sizeof(names[0]), name_cmp);
	assert_true(n >= 18);
	for (size_t i = 0; i < n; i++) {
		check_message(names[i]);
		free(names[i]);
	}
}

static struct mime_part *parse_str(const char *s, const struct mime_limits *lim)
{
	struct mime_part *root = NULL;
	assert_int_equal(mime_parse((const unsigned char *)s, strlen(s), lim, &root), 0);
	return root;
}

static void bodystructure_of(const char *msg, const struct mime_limits *lim, struct buf *out)
{
	struct mime_part *root = parse_str(msg, lim);
	buf_reset(out);
	imapbody_bodystructure(root, false, out);
	mime_free(&root);
}

static void test_params_lenient(void **state)
{
	struct buf out = BUF_INIT;
	bodystructure_of("Content-Type: application/octet-stream; name=my file.pdf;"
	                 " x=\"q\\\"uote\" (comment); charset = x (c)\r\n\r\nbody",
	                 NULL, &out);
	assert_string_equal(buf_cstr(&out), "(\"application\" \"octet-stream\" (\"name\" \"my "
	                                    "file.pdf\" \"x\" {6}\r\nq\"uote \"charset\" \"x\") "
	                                    "NIL NIL \"7bit\" 4)");
	/* invalid Content-Type: RFC 2045 section 5.2 default */
	bodystructure_of("Content-Type: text\r\n\r\nbody", NULL, &out);
	assert_string_equal(buf_cstr(&out),
	                    "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 4 0)");
	bodystructure_of("Content-Type: te xt/plain\r\n\r\nbody", NULL, &out);
	assert_string_equal(buf_cstr(&out),
	                    "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 4 0)");
	/* the first Content-Type wins; case is kept */
	bodystructure_of("Content-Type: TEXT/HTML\r\nContent-Type: image/gif\r\n"
	                 "Content-Transfer-Encoding: BASE64 junk\r\n\r\nx",
	                 NULL, &out);
	assert_string_equal(buf_cstr(&out),
	                    "(\"TEXT\" \"HTML\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 1 0)");
	buf_free(&out);
}

static void test_envelope_edge(void **state)
{
	struct buf out = BUF_INIT;
	const char *h = "Subject:\r\nDate: \r\nFrom:\r\nTo: (only a comment)\r\n"
	                "Cc: a@b (Name One), c@d (Name Two)\r\n\r\nFrom: body@x\r\n";
	imapenv_envelope_header((const unsigned char *)h, strlen(h), &out);
	/* present but empty: "" for strings, NIL for addresses (RFC 3501 7.4.2) */
	assert_string_equal(
	    buf_cstr(&out),
	    "(\"\" \"\" NIL NIL NIL NIL ((\"Name One\" NIL \"a\" \"b\")(\"Name Two\" "
	    "NIL \"c\" \"d\")) NIL NIL NIL)");
	buf_reset(&out);
	imapenv_envelope_header((const unsigned char *)"", 0, &out);
	assert_string_equal(buf_cstr(&out), "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)");
	buf_reset(&out);
	h = "From: Broken <user@host\r\nTo: \"unterminated\r\nCc: <@route without colon>\r\n";
	imapenv_envelope_header((const unsigned char *)h, strlen(h), &out);
	assert_string_equal(
	    buf_cstr(&out),
	    "(NIL NIL ((\"Broken\" NIL \"user\" \"SYNTAX_ERROR\")) ((\"Broken\" NIL "
	    "\"user\" \"SYNTAX_ERROR\")) ((\"Broken\" NIL \"user\" \"SYNTAX_ERROR\")) "
	    "((\"unterminated\" NIL \"MISSING_MAILBOX\" \"MISSING_DOMAIN\")) ((NIL "
	    "\"INVALID_ROUTE\" \"without\" \"SYNTAX_ERROR\")) NIL NIL NIL)");
	buf_free(&out);
}

static void test_imap_string(void **state)
{
	struct buf out = BUF_INIT;
	imapbody_string("abc", 3, &out);
	imapbody_string("", 0, &out);
	imapbody_string("a\"b", 3, &out);
	imapbody_string("a\\b", 3, &out);
	imapbody_string("a\r\nb", 4, &out);
	imapbody_string("\xc3\xa9", 2, &out);
	imapbody_string("a\0b", 3, &out);
	assert_int_equal(out.len, 5 + 2 + 8 + 8 + 9 + 7 + 8);
	assert_memory_equal(
	    out.data,
	    "\"abc\"\"\"{3}\r\na\"b{3}\r\na\\b{4}\r\na\r\nb{2}\r\n\xc3\xa9{3}\r\na\x80"
	    "b",
	    out.len);
	buf_reset(&out);
	char big[IMAPBODY_QUOTED_MAX + 1];
	memset(big, 'x', sizeof(big));
	imapbody_string(big, sizeof(big), &out);
	assert_memory_equal(out.data, "{1025}\r\nx", 9);
	buf_reset(&out);
	imapbody_string(big, IMAPBODY_QUOTED_MAX, &out);
	assert_int_equal(out.data[0], '"');
	buf_free(&out);
}

static void test_boundary_matching(void **state)
{
	struct buf out = BUF_INIT;
	/* prefix and longest match, garbage after the boundary, nested
	 * multipart ended by the outer boundary, LWSP padding */
	bodystructure_of(
	    "Content-Type: multipart/mixed; boundary=ab\r\n\r\n"
	    "--ab\r\nContent-Type: multipart/mixed; boundary=abc\r\n\r\n"
	    "--abc\r\n\r\ninner\r\n--ab  \r\n\r\nsecond\r\n--abjunk\r\n\r\nthird\r\n--ab--",
	    NULL, &out);
	assert_string_equal(
	    buf_cstr(&out),
	    "(((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 5 0) "
	    "\"mixed\")(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL "
	    "\"7bit\" 6 0)(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL "
	    "\"7bit\" 5 0) \"mixed\")");
	buf_free(&out);
}

/* Deep trees: the writers recurse once per level, bounded by max_depth. */
static void test_limits_depth(void **state)
{
	/* 5000 nested multiparts, each opened and never closed */
	struct buf m = BUF_INIT;
	for (int i = 0; i < 5000; i++)
		/* "=_N_=": no boundary is a prefix of another */
		buf_printf(&m,
		           "Content-Type: multipart/mixed; boundary=\"=_%d_=\"\r\n\r\n--=_%d_=\r\n",
		           i, i);
	buf_append_str(&m, "Content-Type: text/plain\r\n\r\nleaf\r\n");
	for (int i = 4999; i >= 0; i--)
		buf_printf(&m, "--=_%d_=--\r\n", i);
	struct mime_part *root;
	mime_parse(m.data, m.len, NULL, &root);
	struct buf bs = BUF_INIT;
	imapbody_bodystructure(root, true, &bs);
	assert_true(bs.len > 0);
	mime_free(&root);

	/* small limit: the multipart at the limit is a leaf, sent as
	 * application/octet-stream (a "multipart" without parts would break
	 * clients' parsers) */
	struct mime_limits lim = MIME_LIMITS_DEFAULT;
	lim.max_depth = 2;
	mime_parse(m.data, m.len, &lim, &root);
	struct mime_part *p;
	assert_int_equal(mime_part_find(root, "1.1", &p), 0);
	buf_reset(&bs);
	imapbody_bodystructure(p, false, &bs);
	assert_memory_equal(bs.data, "(\"application\" \"octet-stream\" (\"boundary\" \"=_2_=\")",
	                    50);
	mime_free(&root);

	/* deep message/rfc822 nesting: an ENVELOPE at every level */
	buf_reset(&m);
	for (int i = 0; i < 3000; i++)
		buf_append_str(&m, "Content-Type: message/rfc822\r\n\r\n");
	buf_append_str(&m, "Subject: deep\r\n\r\nx\r\n");
	mime_parse(m.data, m.len, NULL, &root);
	buf_reset(&bs);
	imapbody_bodystructure(root, true, &bs);
	assert_non_null(strstr((const char *)buf_cstr(&bs),
	                       "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL) (\"message\""));
	mime_free(&root);
	buf_free(&bs);
	buf_free(&m);
}

/* A cache that decodes is a tree the writers accept, whatever its bytes
 * (checked under ASan), and its message fields are quoted anew. */
static void test_cache_mutations(void **state)
{
	size_t len;
	char path[512];
	assert_int_equal(fmt_name(path, sizeof(path), "%s/06-rfc822-attachment.eml", data_dir()),
	                 0);
	unsigned char *msg = read_file(path, &len);
	assert_non_null(msg);
	struct mime_part *root, *r2;
	mime_parse(msg, len, NULL, &root);
	struct buf c = BUF_INIT, bs = BUF_INIT, e1 = BUF_INIT, e2 = BUF_INIT;
	mime_cache_encode(root, &c);
	unsigned ok = 0;
	for (size_t i = 0; i < c.len; i++) {
		for (int bit = 0; bit < 8; bit++) {
			c.data[i] ^= (unsigned char)(1 << bit);
			if (mime_cache_decode(c.data, c.len, &r2) == 0) {
				buf_reset(&bs);
				imapbody_bodystructure(r2, true, &bs);
				imapbody_bodystructure(r2, false, &bs);
				imapenv_envelope(r2->msg_fields, &bs);
				mime_free(&r2);
				ok++;
			}
			c.data[i] ^= (unsigned char)(1 << bit);
		}
	}
	assert_true(ok < c.len * 8);
	/* an envelope field cannot smuggle protocol text: it is re-quoted */
	assert_int_equal(mime_cache_decode(c.data, c.len, &r2), 0);
	imapenv_envelope(r2->msg_fields, &e2);
	imapenv_envelope(root->msg_fields, &e1);
	assert_string_equal(buf_cstr(&e2), buf_cstr(&e1));
	mime_free(&r2);
	mime_free(&root);
	buf_free(&c);
	buf_free(&bs);
	buf_free(&e1);
	buf_free(&e2);
	free(msg);
}

/* The ENVELOPE of a message/rfc822 part is its message's own: built from
 * the fields of the inner header, not the outer one. */
static void test_rfc822_envelope(void **state)
{
	struct mime_part *root = parse_str("Subject: outer\r\nContent-Type: message/rfc822\r\n\r\n"
	                                   "Subject: inner\r\nFrom: x@y\r\n\r\nbody\r\n",
	                                   NULL);
	struct buf out = BUF_INIT;
	imapbody_bodystructure(root, false, &out);
	assert_string_equal(buf_cstr(&out),
	                    "(\"message\" \"rfc822\" NIL NIL NIL \"7bit\" 35 (NIL \"inner\" "
	                    "((NIL NIL \"x\" \"y\")) ((NIL NIL \"x\" \"y\")) ((NIL NIL \"x\" "
	                    "\"y\")) NIL NIL NIL NIL NIL) (\"text\" \"plain\" (\"charset\" "
	                    "\"us-ascii\") NIL NIL \"7bit\" 6 1) 4)");
	buf_reset(&out);
	imapenv_envelope(root->msg_fields, &out);
	assert_string_equal(buf_cstr(&out), "(NIL \"outer\" NIL NIL NIL NIL NIL NIL NIL NIL)");
	mime_free(&root);
	buf_free(&out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_corpus),
	    cmocka_unit_test(test_params_lenient),
	    cmocka_unit_test(test_envelope_edge),
	    cmocka_unit_test(test_imap_string),
	    cmocka_unit_test(test_boundary_matching),
	    cmocka_unit_test(test_limits_depth),
	    cmocka_unit_test(test_cache_mutations),
	    cmocka_unit_test(test_rfc822_envelope),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
