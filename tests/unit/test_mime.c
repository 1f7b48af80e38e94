/* SPDX-License-Identifier: AGPL-3.0-or-later */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/fmt.h"
#include "base/buf.h"
#include "proto/mime.h"
#include "proto/rfc2047.h"
#include "proto/rfc2231.h"

#include "mime_corpus.h"

/* The cache form is a canonical dump of a tree: equal encodings, equal trees. */
static void tree_bytes(const struct mime_part *root, struct buf *out)
{
	buf_reset(out);
	mime_cache_encode(root, out);
}

/* "2.msg" = the message inside part 2; "msg" = the root's */
static struct mime_part *find_named(struct mime_part *root, const char *name)
{
	struct mime_part *p = NULL;
	if (strcmp(name, "root") == 0)
		return root;
	if (strcmp(name, "msg") == 0)
		return root->children;
	char sec[64];
	assert_int_equal(fmt_name(sec, sizeof(sec), "%s", name), 0);
	char *m = strstr(sec, ".msg");
	if (m != NULL)
		*m = '\0';
	if (mime_part_find(root, sec, &p) < 0)
		return NULL;
	if (m != NULL)
		p = (p->flags & MIME_PART_MESSAGE) != 0 ? p->children : NULL;
	return p;
}

static void fields_equal(const struct mime_msg_fields *got, const struct mime_msg_fields *want,
                         const char *name)
{
	for (int i = 0; i < MIME_MSG_FIELD_COUNT; i++) {
		if ((got->val[i] == NULL) != (want->val[i] == NULL))
			print_error("%s: message field %d present in one only\n", name, i);
		assert_int_equal(got->val[i] == NULL, want->val[i] == NULL);
		if (got->val[i] != NULL)
			assert_bytes_equal("message field", name, got->val[i], got->len[i],
			                   want->val[i], want->len[i]);
	}
}

/* Message fields sit on the root and on the message of every
 * message/rfc822 part, nowhere else, and equal those of the header bytes. */
static void check_msg_fields(const struct mime_part *p, const unsigned char *msg, const char *name)
{
	bool is_msg = p->parent == NULL || (p->parent->flags & MIME_PART_MESSAGE) != 0;
	assert_int_equal(p->msg_fields != NULL, is_msg);
	if (is_msg) {
		struct mime_msg_fields f;
		mime_header_msg_fields(msg + p->hdr_off, p->hdr_size, &f);
		fields_equal(p->msg_fields, &f, name);
	}
	for (const struct mime_part *c = p->children; c != NULL; c = c->next)
		check_msg_fields(c, msg, name);
}

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

	struct mime_part *root = NULL;
	assert_int_equal(mime_parse(msg, len, NULL, &root), 0);
	assert_int_equal(mime_message_size(root), len);
	struct buf out = BUF_INIT, want = BUF_INIT;
	unsigned checks = 0;

	char *line = (char *)exp, *end = (char *)exp + elen;
	while (line < end) {
		char *nl = memchr(line, '\n', (size_t)(end - line));
		if (nl == NULL)
			nl = end;
		char *sp = memchr(line, ' ', (size_t)(nl - line));
		if (line[0] == '#' || sp == NULL) {
			line = nl + 1;
			continue;
		}
		size_t kl = (size_t)(sp - line);
		char *val = sp + 1;
		size_t vl = (size_t)(nl - val);
		buf_reset(&out);
		buf_reset(&want);
		if ((kl == 4 && memcmp(line, "BODY", 4) == 0) ||
		    (kl == 13 && memcmp(line, "BODYSTRUCTURE", 13) == 0) ||
		    (kl == 8 && memcmp(line, "ENVELOPE", 8) == 0)) {
			/* the IMAP forms of the tree: test_imapbody.c */
			line = nl + 1;
			continue;
		} else if (kl == 4 && memcmp(line, "PART", 4) == 0) {
			char sec[64];
			size_t ho, hs, bo, bs, bl;
			assert_int_equal(
			    sscanf(val, "%63s %zu %zu %zu %zu %zu", sec, &ho, &hs, &bo, &bs, &bl),
			    6);
			struct mime_part *p = find_named(root, sec);
			if (p == NULL)
				print_error("%s: no part %s\n", name, sec);
			assert_non_null(p);
			if (p->hdr_off != ho || p->hdr_size != hs || p->body_off != bo ||
			    p->body_size != bs || p->body_lines != bl)
				print_error("%s part %s: got %zu %zu %zu %zu %zu\n", name, sec,
				            p->hdr_off, p->hdr_size, p->body_off, p->body_size,
				            p->body_lines);
			assert_int_equal(p->hdr_off, ho);
			assert_int_equal(p->hdr_size, hs);
			assert_int_equal(p->body_off, bo);
			assert_int_equal(p->body_size, bs);
			assert_int_equal(p->body_lines, bl);
		} else if (kl == 7 && memcmp(line, "SECTION", 7) == 0) {
			/* BODY[section] is the body of the part found */
			char *sp2 = memchr(val, ' ', vl);
			assert_non_null(sp2);
			char sec[64];
			assert_int_equal(fmt_name(sec, sizeof(sec), "%.*s", (int)(sp2 - val), val),
			                 0);
			struct mime_part *p = NULL;
			assert_int_equal(mime_part_find(root, sec, &p), 0);
			unescape(sp2 + 1, (size_t)(nl - sp2 - 1), &want);
			assert_bytes_equal(sec, name, msg + p->body_off, p->body_size, want.data,
			                   want.len);
		} else if (kl == 9 && memcmp(line, "NOSECTION", 9) == 0) {
			char sec[64];
			struct mime_part *p = NULL;
			assert_int_equal(fmt_name(sec, sizeof(sec), "%.*s", (int)vl, val), 0);
			assert_int_equal(mime_part_find(root, sec, &p), -1);
		} else if (kl == 9 && memcmp(line, "MSGHEADER", 9) == 0) {
			/* n.HEADER: header of the message inside part n */
			char *sp2 = memchr(val, ' ', vl);
			char sec[64];
			assert_int_equal(fmt_name(sec, sizeof(sec), "%.*s", (int)(sp2 - val), val),
			                 0);
			struct mime_part *p = NULL;
			assert_int_equal(mime_part_find(root, sec, &p), 0);
			assert_true((p->flags & MIME_PART_MESSAGE) != 0);
			unescape(sp2 + 1, (size_t)(nl - sp2 - 1), &want);
			assert_bytes_equal("HEADER", name, msg + p->children->hdr_off,
			                   p->children->hdr_size, want.data, want.len);
		} else {
			print_error("%s: unknown line %.*s\n", name, (int)kl, line);
			fail();
		}
		checks++;
		line = nl + 1;
	}
	/* with the BODY, BODYSTRUCTURE and ENVELOPE lines of test_imapbody.c,
	 * at least four checks per message */
	assert_true(checks >= 1);
	check_msg_fields(root, msg, name);

	/* the same tree when fed one byte at a time, and in odd chunks */
	struct buf a = BUF_INIT, b = BUF_INIT;
	tree_bytes(root, &a);
	struct mime_parser *ps = mime_parser_init(NULL);
	for (size_t i = 0; i < len; i++)
		mime_parser_feed(ps, msg + i, 1);
	struct mime_part *r2 = mime_parser_finish(&ps);
	assert_null(ps);
	tree_bytes(r2, &b);
	assert_bytes_equal("tree (1-byte feed)", name, b.data, b.len, a.data, a.len);
	mime_free(&r2);
	ps = mime_parser_init(NULL);
	for (size_t i = 0; i < len; i += 7)
		mime_parser_feed(ps, msg + i, len - i < 7 ? len - i : 7);
	r2 = mime_parser_finish(&ps);
	tree_bytes(r2, &b);
	assert_bytes_equal("tree (7-byte feed)", name, b.data, b.len, a.data, a.len);
	mime_free(&r2);

	/* cache round trip gives the same tree (BODYSTRUCTURE of both:
	 * test_imapbody.c) */
	assert_int_equal(mime_cache_decode(a.data, a.len, &r2), 0);
	tree_bytes(r2, &b);
	assert_bytes_equal("cache", name, b.data, b.len, a.data, a.len);
	check_msg_fields(r2, msg, name);
	mime_free(&r2);

	buf_free(&a);
	buf_free(&b);
	buf_free(&out);
	buf_free(&want);
	mime_free(&root);
	assert_null(root);
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

static const char *decode(const char *s, struct buf *out)
{
	buf_reset(out);
	rfc2047_decode(s, strlen(s), out);
	return buf_cstr(out);
}

/* RFC 2047 section 8 examples. */
static void test_rfc2047_vectors(void **state)
{
	struct buf b = BUF_INIT;
	assert_string_equal(decode("(=?ISO-8859-1?Q?a?=)", &b), "(a)");
	assert_string_equal(decode("(=?ISO-8859-1?Q?a?= b)", &b), "(a b)");
	assert_string_equal(decode("(=?ISO-8859-1?Q?a?= =?ISO-8859-1?Q?b?=)", &b), "(ab)");
	assert_string_equal(decode("(=?ISO-8859-1?Q?a?=  =?ISO-8859-1?Q?b?=)", &b), "(ab)");
	assert_string_equal(decode("(=?ISO-8859-1?Q?a?=\r\n    =?ISO-8859-1?Q?b?=)", &b), "(ab)");
	assert_string_equal(decode("(=?ISO-8859-1?Q?a_b?=)", &b), "(a b)");
	assert_string_equal(decode("(=?ISO-8859-1?Q?a?= =?ISO-8859-2?Q?_b?=)", &b), "(a b)");
	assert_string_equal(decode("=?US-ASCII?Q?Keith_Moore?= <moore@cs.utk.edu>", &b),
	                    "Keith Moore <moore@cs.utk.edu>");
	assert_string_equal(decode("=?ISO-8859-1?Q?Keld_J=F8rn_Simonsen?= <keld@dkuug.dk>", &b),
	                    "Keld J\xc3\xb8rn Simonsen <keld@dkuug.dk>");
	assert_string_equal(decode("=?ISO-8859-1?Q?Andr=E9?= Pirard <PIRARD@vm1.ulg.ac.be>", &b),
	                    "Andr\xc3\xa9 Pirard <PIRARD@vm1.ulg.ac.be>");
	assert_string_equal(decode("=?ISO-8859-1?B?SWYgeW91IGNhbiByZWFkIHRoaXMgeW8=?=\r\n    "
	                           "=?ISO-8859-2?B?dSB1bmRlcnN0YW5kIHRoZSBleGFtcGxlLg==?=",
	                           &b),
	                    "If you can read this you understand the example.");
	assert_string_equal(decode("=?ISO-8859-1?Q?Olle_J=E4rnefors?= <ojarnef@admin.kth.se>", &b),
	                    "Olle J\xc3\xa4rnefors <ojarnef@admin.kth.se>");
	assert_string_equal(decode("=?ISO-8859-1?Q?Patrik_F=E4ltstr=F6m?= <paf@nada.kth.se>", &b),
	                    "Patrik F\xc3\xa4ltstr\xc3\xb6m <paf@nada.kth.se>");
	/* a charset this module lacks (Hebrew) stays encoded (section 6.2) */
	assert_string_equal(decode("(=?iso-8859-8?b?7eXs+SDv4SDp7Oj08A==?=)", &b),
	                    "(=?iso-8859-8?b?7eXs+SDv4SDp7Oj08A==?=)");
	/* UTF-8 in B and Q, lower-case hex, RFC 2231 language suffix */
	assert_string_equal(decode("=?UTF-8?B?SsO8cmdlbiBNw7xsbGVy?=", &b),
	                    "J\xc3\xbcrgen M\xc3\xbcller");
	assert_string_equal(decode("=?utf-8?q?caf=c3=a9?=", &b), "caf\xc3\xa9");
	assert_string_equal(decode("=?US-ASCII*EN?Q?Keith_Moore?=", &b), "Keith Moore");
	/* a character split over two words of the same charset */
	assert_string_equal(decode("=?UTF-8?Q?a=C3?= =?UTF-8?Q?=A9b?=", &b), "a\xc3\xa9"
	                                                                     "b");
	/* ISO-8859-15 and windows-1252 euro signs, latin-1 labelled cp1252 */
	assert_string_equal(decode("=?ISO-8859-15?Q?=A4?=", &b), "\xe2\x82\xac");
	assert_string_equal(decode("=?windows-1252?Q?=80?=", &b), "\xe2\x82\xac");
	assert_string_equal(decode("=?iso-8859-1?Q?=93x=94?=", &b), "\xe2\x80\x9cx\xe2\x80\x9d");
	/* not encoded words: kept */
	assert_string_equal(decode("=?bad", &b), "=?bad");
	assert_string_equal(decode("a =?UTF-8?X?abc?= b", &b), "a =?UTF-8?X?abc?= b");
	assert_string_equal(decode("=?UTF-8?B?!!!?=", &b), "=?UTF-8?B?!!!?=");
	/* raw 8-bit: UTF-8 kept, anything else read as windows-1252 */
	assert_string_equal(decode("Gr\xc3\xbc\xc3\x9f"
	                           "e",
	                           &b),
	                    "Gr\xc3\xbc\xc3\x9f"
	                    "e");
	assert_string_equal(decode("Ren\xe9", &b), "Ren\xc3\xa9");
	/* unfolding */
	assert_string_equal(decode("a\r\n b", &b), "a b");
	buf_free(&b);
}

static void test_charsets(void **state)
{
	struct buf b = BUF_INIT;
	const unsigned char l2[] = {0xa1, 0xb1, 0xe6};
	assert_int_equal(rfc2047_charset_to_utf8("ISO-8859-2", 10, l2, 3, &b), 0);
	assert_string_equal(buf_cstr(&b), "\xc4\x84\xc4\x85\xc4\x87");
	buf_reset(&b);
	assert_int_equal(rfc2047_charset_to_utf8("koi8-r", 6, l2, 3, &b), -1);
	assert_int_equal(b.len, 0);
	const unsigned char bad[] = {'a', 0xc3, 'b', 0xed, 0xa0, 0x80};
	assert_int_equal(rfc2047_charset_to_utf8("utf-8", 5, bad, sizeof(bad), &b), 0);
	assert_true(rfc2047_utf8_valid(b.data, b.len));
	assert_false(rfc2047_utf8_valid(bad, sizeof(bad)));
	buf_free(&b);
}

/* RFC 2231 sections 3, 4 and 4.1 examples, decoded into the tree. */
static void test_rfc2231(void **state)
{
	struct buf b = BUF_INIT;
	const char *ex = "us-ascii'en-us'This%20is%20%2A%2A%2Afun%2A%2A%2A";
	assert_int_equal(rfc2231_decode(ex, strlen(ex), &b), 0);
	assert_string_equal(buf_cstr(&b), "This is ***fun***");
	buf_reset(&b);
	assert_int_equal(rfc2231_decode("no quotes", 9, &b), -1);
	assert_int_equal(rfc2231_decode("x-unknown''%FF", 14, &b), -1);
	assert_int_equal(rfc2231_decode("x-unknown''ok%41", 16, &b), 0);
	assert_string_equal(buf_cstr(&b), "okA");
	buf_free(&b);

	size_t len;
	char path[512];
	assert_int_equal(fmt_name(path, sizeof(path), "%s/04-rfc2231.eml", data_dir()), 0);
	unsigned char *msg = read_file(path, &len);
	assert_non_null(msg);
	struct mime_part *root = NULL, *p = NULL;
	mime_parse(msg, len, NULL, &root);
	assert_int_equal(mime_part_find(root, "2", &p), 0);
	assert_string_equal(p->params[0].name, "name");
	assert_string_equal(p->params[0].value, "\xe2\x82\xac rates.pdf");
	assert_string_equal(p->disp_params[0].value, "\xe2\x82\xac rates.pdf");
	assert_int_equal(mime_part_find(root, "3", &p), 0);
	assert_string_equal(p->disp_params[0].name, "filename");
	assert_string_equal(p->disp_params[0].value, "Gr\xc3\xbc\xc3\x9f"
	                                             "e und more.txt");
	assert_int_equal(mime_part_find(root, "4", &p), 0);
	assert_string_equal(p->params[0].value, "This is even more ***fun*** isn't it!");
	assert_int_equal(mime_part_find(root, "5", &p), 0);
	assert_string_equal(p->params[1].name, "URL");
	assert_string_equal(p->params[1].value,
	                    "ftp://cs.utk.edu/pub/moore/bulk-mailer/bulk-mailer.tar");
	assert_null(p->params[1].ext_value);
	mime_free(&root);
	free(msg);
}

/* Message fields: the first of each, raw (folded, comments and encoded
 * words kept), "present but empty" apart from "absent", Content-* and
 * unknown fields ignored, nothing after the empty line. */
static void test_msg_fields(void **state)
{
	const char *h = "Received: x\r\nsubject: =?UTF-8?Q?a?=\r\n  b \r\nFrom: A <a@b> (c)\r\n"
	                "From: second@x\r\nTo:\r\nContent-Type: text/plain\r\nNoColon\r\n"
	                "\r\nDate: body\r\n";
	struct mime_msg_fields f;
	mime_header_msg_fields((const unsigned char *)h, strlen(h), &f);
	assert_memory_equal(f.val[MIME_MSG_SUBJECT], " =?UTF-8?Q?a?=\r\n  b ",
	                    f.len[MIME_MSG_SUBJECT]);
	assert_int_equal(f.len[MIME_MSG_SUBJECT], strlen(" =?UTF-8?Q?a?=\r\n  b "));
	assert_int_equal(f.len[MIME_MSG_FROM], strlen(" A <a@b> (c)"));
	assert_memory_equal(f.val[MIME_MSG_FROM], " A <a@b> (c)", f.len[MIME_MSG_FROM]);
	assert_non_null(f.val[MIME_MSG_TO]);
	assert_int_equal(f.len[MIME_MSG_TO], 0);
	assert_null(f.val[MIME_MSG_DATE]);
	assert_null(f.val[MIME_MSG_CC]);
	assert_null(f.val[MIME_MSG_MESSAGE_ID]);

	/* the tree holds the same for the root, a copy of its own */
	struct mime_part *root = parse_str(h, NULL);
	assert_non_null(root->msg_fields);
	for (int i = 0; i < MIME_MSG_FIELD_COUNT; i++) {
		assert_int_equal(root->msg_fields->val[i] == NULL, f.val[i] == NULL);
		if (f.val[i] != NULL) {
			assert_int_equal(root->msg_fields->len[i], f.len[i]);
			assert_memory_equal(root->msg_fields->val[i], f.val[i], f.len[i]);
			assert_ptr_not_equal(root->msg_fields->val[i], f.val[i]);
		}
	}
	mime_free(&root);

	/* a field past max_header_fields is not interpreted in the tree */
	struct mime_limits lim = MIME_LIMITS_DEFAULT;
	lim.max_header_fields = 2;
	root = parse_str(h, &lim);
	assert_non_null(root->msg_fields->val[MIME_MSG_SUBJECT]);
	assert_null(root->msg_fields->val[MIME_MSG_FROM]);
	mime_free(&root);

	/* a NUL byte stays in the raw value (the tree's C strings replace it) */
	static const unsigned char nul[] = "Subject: a\0b\r\n\r\n";
	assert_int_equal(mime_parse(nul, sizeof(nul) - 1, NULL, &root), 0);
	assert_int_equal(root->msg_fields->len[MIME_MSG_SUBJECT], 4);
	assert_memory_equal(root->msg_fields->val[MIME_MSG_SUBJECT], " a\0b", 4);
	mime_free(&root);

	/* parts of a multipart have none; the message of a message/rfc822 has */
	root = parse_str("Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n"
	                 "Content-Type: message/rfc822\r\n\r\nMessage-ID: <m@x>\r\n\r\nbody\r\n"
	                 "--b--\r\n",
	                 NULL);
	struct mime_part *p;
	assert_int_equal(mime_part_find(root, "1", &p), 0);
	assert_null(p->msg_fields);
	assert_non_null(p->children->msg_fields);
	assert_int_equal(p->children->msg_fields->len[MIME_MSG_MESSAGE_ID], 6);
	assert_memory_equal(p->children->msg_fields->val[MIME_MSG_MESSAGE_ID], " <m@x>", 6);
	mime_free(&root);
}

static void test_header_iter(void **state)
{
	const char *h =
	    "Subject: a\r\n b\r\nNoColonLine\r\nX-Y : v\r\n\tw\r\nTo:x\n\r\nBody: no\r\n";
	struct mime_header_iter it;
	struct mime_header_field f;
	struct buf u = BUF_INIT;
	mime_header_iter_init(&it, (const unsigned char *)h, strlen(h));
	assert_int_equal(mime_header_next(&it, &f), 1);
	assert_true(mime_header_name_is(&f, "subject"));
	assert_int_equal(f.raw_len, 16);
	mime_header_unfold(f.value, f.value_len, &u);
	assert_string_equal(buf_cstr(&u), "a b");
	assert_int_equal(mime_header_next(&it, &f), 1);
	assert_false(f.has_colon);
	assert_true(mime_header_name_is(&f, "NoColonLine"));
	assert_int_equal(mime_header_next(&it, &f), 1);
	assert_true(mime_header_name_is(&f, "x-y"));
	assert_memory_equal(f.raw, "X-Y : v\r\n\tw\r\n", f.raw_len);
	assert_int_equal(mime_header_next(&it, &f), 1);
	assert_true(mime_header_name_is(&f, "TO"));
	assert_int_equal(f.raw_len, 5);
	assert_int_equal(f.value_len, 1);
	assert_int_equal(mime_header_next(&it, &f), 0);
	assert_int_equal(mime_header_next(&it, &f), 0);
	/* no empty line, last field without line end */
	mime_header_iter_init(&it, (const unsigned char *)"A: 1\r\nB: 2", 10);
	assert_int_equal(mime_header_next(&it, &f), 1);
	assert_int_equal(mime_header_next(&it, &f), 1);
	assert_int_equal(f.raw_len, 4);
	assert_int_equal(f.value_len, 2);
	assert_int_equal(mime_header_next(&it, &f), 0);
	buf_free(&u);
}

static void test_part_find_errors(void **state)
{
	struct mime_part *root =
	    parse_str("Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n"
	              "\r\none\r\n--b\r\n\r\ntwo\r\n--b--\r\n",
	              NULL);
	struct mime_part *p;
	static const char *bad[] = {
	    "",   "0", "01", "1.", ".1", "3", "1.1", "1..2", "a", "1a", "99999999999999999999",
	    "2.0"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(mime_part_find(root, bad[i], &p), -1);
	assert_int_equal(mime_part_find(root, "2", &p), 0);
	assert_int_equal(p->body_size, 3);
	mime_free(&root);
}

static unsigned count_parts(const struct mime_part *p, unsigned depth, unsigned *maxdepth)
{
	unsigned n = 1;
	if (depth > *maxdepth)
		*maxdepth = depth;
	for (const struct mime_part *c = p->children; c != NULL; c = c->next)
		n += count_parts(c, depth + 1, maxdepth);
	return n;
}

/* Offsets nest: every child lies in its parent's body, in order. */
static void check_offsets(const struct mime_part *p, size_t lo, size_t hi)
{
	assert_true(p->hdr_off >= lo);
	assert_int_equal(p->body_off, p->hdr_off + p->hdr_size);
	assert_true(p->body_off + p->body_size <= hi);
	size_t next = p->body_off;
	for (const struct mime_part *c = p->children; c != NULL; c = c->next) {
		check_offsets(c, next, p->body_off + p->body_size);
		next = c->body_off + c->body_size;
	}
}

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
	unsigned md = 0, n = count_parts(root, 0, &md);
	assert_true(md <= MIME_DEFAULT_MAX_DEPTH);
	assert_true(n <= MIME_DEFAULT_MAX_DEPTH + 1);
	check_offsets(root, 0, m.len);
	mime_free(&root);

	/* small limit: the multipart at the limit is a leaf, marked */
	struct mime_limits lim = MIME_LIMITS_DEFAULT;
	lim.max_depth = 2;
	mime_parse(m.data, m.len, &lim, &root);
	md = 0;
	count_parts(root, 0, &md);
	assert_int_equal(md, 2);
	struct mime_part *p;
	assert_int_equal(mime_part_find(root, "1.1", &p), 0);
	assert_true((p->flags & MIME_PART_OVERFLOW) != 0);
	assert_true((p->flags & MIME_PART_MULTIPART) == 0);
	assert_string_equal(p->type, "multipart");
	assert_string_equal(p->params[0].value, "=_2_=");
	check_offsets(root, 0, m.len);
	mime_free(&root);

	/* deep message/rfc822 nesting */
	buf_reset(&m);
	for (int i = 0; i < 3000; i++)
		buf_append_str(&m, "Content-Type: message/rfc822\r\n\r\n");
	buf_append_str(&m, "Subject: deep\r\n\r\nx\r\n");
	mime_parse(m.data, m.len, NULL, &root);
	md = 0;
	n = count_parts(root, 0, &md);
	assert_true(md <= MIME_DEFAULT_MAX_DEPTH);
	struct buf c = BUF_INIT;
	mime_cache_encode(root, &c);
	struct mime_part *r2;
	assert_int_equal(mime_cache_decode(c.data, c.len, &r2), 0);
	mime_free(&r2);
	mime_free(&root);
	buf_free(&c);
	buf_free(&m);
}

static void test_limits_parts(void **state)
{
	struct buf m = BUF_INIT;
	buf_append_str(&m, "Content-Type: multipart/mixed; boundary=x\r\n\r\n");
	for (int i = 0; i < 30000; i++)
		buf_append_str(&m, "--x\r\n\r\np\r\n");
	buf_append_str(&m, "--x--\r\n");
	struct mime_part *root;
	mime_parse(m.data, m.len, NULL, &root);
	unsigned md = 0, n = count_parts(root, 0, &md);
	assert_int_equal(n, MIME_DEFAULT_MAX_PARTS);
	check_offsets(root, 0, m.len);
	/* the last part took the rest of the message (Dovecot's behaviour) */
	struct mime_part *last = root->children;
	while (last->next != NULL)
		last = last->next;
	assert_true((last->flags & MIME_PART_OVERFLOW) != 0);
	assert_int_equal(last->body_off + last->body_size, m.len);
	mime_free(&root);

	struct mime_limits lim = MIME_LIMITS_DEFAULT;
	lim.max_parts = 4;
	const char *s = "Content-Type: multipart/mixed; boundary=\"1\"\n\n--1\n"
	                "Content-Type: multipart/mixed; boundary=\"2\"\n\n--2\n"
	                "Content-Type: text/plain\n\n1\n--2\nContent-Type: text/plain\n\n22\n--1\n"
	                "Content-Type: text/plain\n\n333\n";
	root = parse_str(s, &lim);
	md = 0;
	assert_int_equal(count_parts(root, 0, &md), 4);
	struct mime_part *p;
	assert_int_equal(mime_part_find(root, "1.2", &p), 0);
	/* as in Dovecot's test-message-parser "mime part limit": 37 bytes, 5 lines */
	assert_int_equal(p->body_size, 37);
	assert_int_equal(p->body_lines, 5);
	assert_true((p->flags & MIME_PART_OVERFLOW) != 0);
	mime_free(&root);
	buf_free(&m);
}

static void test_limits_header(void **state)
{
	struct mime_limits lim = MIME_LIMITS_DEFAULT;
	lim.max_header_size = 64;
	struct buf m = BUF_INIT;
	buf_append_str(&m, "X-Filler: ");
	for (int i = 0; i < 100; i++)
		buf_append_byte(&m, 'f');
	buf_append_str(&m, "\r\nContent-Type: text/html\r\n\r\nbody");
	struct mime_part *root;
	mime_parse(m.data, m.len, &lim, &root);
	/* the Content-Type lies past max_header_size: not interpreted, but the
	 * offsets still cover the whole header */
	assert_string_equal(root->subtype, "plain");
	assert_int_equal(root->body_size, 4);
	mime_free(&root);
	lim.max_header_size = MIME_DEFAULT_MAX_HEADER_SIZE;
	lim.max_header_fields = 1;
	mime_parse(m.data, m.len, &lim, &root);
	assert_string_equal(root->subtype, "plain");
	mime_free(&root);
	mime_parse(m.data, m.len, NULL, &root);
	assert_string_equal(root->subtype, "html");
	mime_free(&root);
	buf_free(&m);
}

static void test_boundary_matching(void **state)
{
	/* prefix and longest match, garbage after the boundary, nested
	 * multipart ended by the outer boundary, LWSP padding: the expected
	 * BODY is in test_imapbody.c; here the tree */
	struct mime_part *root = parse_str(
	    "Content-Type: multipart/mixed; boundary=ab\r\n\r\n"
	    "--ab\r\nContent-Type: multipart/mixed; boundary=abc\r\n\r\n"
	    "--abc\r\n\r\ninner\r\n--ab  \r\n\r\nsecond\r\n--abjunk\r\n\r\nthird\r\n--ab--",
	    NULL);
	assert_int_equal(root->nchildren, 3);
	assert_int_equal(root->children->nchildren, 1);
	assert_int_equal(root->children->children->body_size, 5);
	assert_int_equal(root->children->next->body_size, 6);
	assert_int_equal(root->children->next->next->body_size, 5);
	mime_free(&root);
	/* boundary line inside a part's header ends that header */
	root = parse_str("Content-Type: multipart/mixed; boundary=q\r\n\r\n--q\r\n"
	                 "Content-Type: message/rfc822\r\n--q--\r\n",
	                 NULL);
	struct mime_part *p;
	assert_int_equal(mime_part_find(root, "1", &p), 0);
	assert_int_equal(p->hdr_size, strlen("Content-Type: message/rfc822"));
	assert_int_equal(p->body_size, 0);
	assert_true((p->flags & MIME_PART_MESSAGE) == 0);
	mime_free(&root);
	/* a message/rfc822 whose message ends right at the boundary */
	root = parse_str("Content-Type: multipart/mixed; boundary=q\r\n\r\n--q\r\n"
	                 "Content-Type: message/rfc822\r\n\r\nSubject: x\r\n\r\n--q--\r\n",
	                 NULL);
	check_offsets(root, 0, SIZE_MAX);
	assert_int_equal(mime_part_find(root, "1", &p), 0);
	assert_int_equal(p->children->body_size, 0);
	assert_int_equal(p->body_size, p->children->hdr_size);
	mime_free(&root);
}

static void test_cache_rejects(void **state)
{
	size_t len;
	char path[512];
	assert_int_equal(fmt_name(path, sizeof(path), "%s/06-rfc822-attachment.eml", data_dir()),
	                 0);
	unsigned char *msg = read_file(path, &len);
	struct mime_part *root, *r2;
	mime_parse(msg, len, NULL, &root);
	struct buf c = BUF_INIT;
	mime_cache_encode(root, &c);
	/* every truncation fails, and trailing bytes too */
	for (size_t i = 0; i < c.len; i++)
		assert_int_equal(mime_cache_decode(c.data, i, &r2), -1);
	buf_append_byte(&c, 0);
	assert_int_equal(mime_cache_decode(c.data, c.len, &r2), -1);
	buf_truncate(&c, c.len - 1);
	/* every single-byte change either fails or yields a consistent tree
	 * (that its IMAP forms can be written from: test_imapbody.c) */
	unsigned ok = 0;
	for (size_t i = 0; i < c.len; i++) {
		for (int bit = 0; bit < 8; bit++) {
			c.data[i] ^= (unsigned char)(1 << bit);
			if (mime_cache_decode(c.data, c.len, &r2) == 0) {
				check_offsets(r2, 0, mime_message_size(r2));
				mime_free(&r2);
				ok++;
			}
			c.data[i] ^= (unsigned char)(1 << bit);
		}
	}
	assert_true(ok < c.len * 8);
	/* the message fields come back raw, as parsed */
	assert_int_equal(mime_cache_decode(c.data, c.len, &r2), 0);
	check_msg_fields(r2, msg, "06-rfc822-attachment");
	mime_free(&r2);
	mime_free(&root);
	buf_free(&c);
	free(msg);
}

/* 1 MB multipart message: a text part, an HTML part and base64 attachments. */
static void test_speed(void **state)
{
	struct buf m = BUF_INIT;
	buf_append_str(
	    &m, "From: a@example.com\r\nTo: b@example.com\r\nSubject: big\r\n"
	        "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"=_big\"\r\n\r\n"
	        "--=_big\r\nContent-Type: multipart/alternative; boundary=\"=_alt\"\r\n\r\n"
	        "--=_alt\r\nContent-Type: text/plain\r\n\r\n");
	for (int i = 0; i < 2000; i++)
		buf_append_str(&m, "Some ordinary text of a mail message, line after line.\r\n");
	buf_append_str(&m, "--=_alt\r\nContent-Type: text/html\r\n\r\n");
	for (int i = 0; i < 2000; i++)
		buf_append_str(&m, "<p>Some ordinary text of a mail message, in HTML.</p>\r\n");
	buf_append_str(&m, "--=_alt--\r\n");
	int att = 0;
	while (m.len < 1000000) {
		buf_printf(&m,
		           "--=_big\r\nContent-Type: application/octet-stream; name=\"f%d.bin\"\r\n"
		           "Content-Transfer-Encoding: base64\r\n\r\n",
		           att++);
		for (int i = 0; i < 1000 && m.len < 1000000; i++)
			buf_append_str(
			    &m,
			    "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWZnaGlqa2xtbm9wcXJzdHV2d3h5"
			    "ejAx\r\n");
	}
	buf_append_str(&m, "--=_big--\r\n");
	struct timespec t0, t1;
	const int rounds = 20;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int r = 0; r < rounds; r++) {
		struct mime_part *root;
		mime_parse(m.data, m.len, NULL, &root);
		assert_int_equal(root->nchildren, (unsigned)att + 1);
		mime_free(&root);
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	double mbs = (double)m.len * rounds / s / 1e6;
	printf("mime_parse: %zu-byte multipart message, %d parts: %.0f MB/s\n", m.len, att + 4,
	       mbs);
	/* one byte at a time stays linear */
	clock_gettime(CLOCK_MONOTONIC, &t0);
	struct mime_parser *ps = mime_parser_init(NULL);
	for (size_t i = 0; i < m.len; i++)
		mime_parser_feed(ps, m.data + i, 1);
	struct mime_part *root = mime_parser_finish(&ps);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	printf("mime_parser_feed one byte at a time: %.1f MB/s\n", (double)m.len / s / 1e6);
	mime_free(&root);
	assert_true(mbs > 20);
	buf_free(&m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_corpus),
	    cmocka_unit_test(test_rfc2047_vectors),
	    cmocka_unit_test(test_charsets),
	    cmocka_unit_test(test_rfc2231),
	    cmocka_unit_test(test_header_iter),
	    cmocka_unit_test(test_msg_fields),
	    cmocka_unit_test(test_part_find_errors),
	    cmocka_unit_test(test_limits_depth),
	    cmocka_unit_test(test_limits_parts),
	    cmocka_unit_test(test_limits_header),
	    cmocka_unit_test(test_boundary_matching),
	    cmocka_unit_test(test_cache_rejects),
	    cmocka_unit_test(test_speed),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
