/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* The SMTP client's reply parser and EHLO keywords (lib/svc/smtpclient.c):
 * multi-line replies (RFC 5321 section 4.2.1), enhanced codes (RFC 2034
 * section 4), and what is refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "svc/smtpclient.h"

static int feed(struct smtpc_reply *r, const char *line)
{
	return smtpc_reply_feed(r, line, strlen(line));
}

static void test_single_and_multi_line(void **state)
{
	struct smtpc_reply r = {0};
	assert_int_equal(feed(&r, "250 2.1.5 Ok"), 1);
	assert_int_equal(r.code, 250);
	assert_string_equal(r.enh, "2.1.5");
	assert_string_equal(r.text, "Ok");
	memset(&r, 0, sizeof(r));
	assert_int_equal(feed(&r, "250-mx.example.net"), 0);
	assert_int_equal(feed(&r, "250-PIPELINING"), 0);
	assert_int_equal(feed(&r, "250 DSN"), 1);
	assert_int_equal(r.lines, 3);
	assert_string_equal(r.text, "mx.example.net"); /* the first line's text */
	assert_string_equal(r.enh, "");
	memset(&r, 0, sizeof(r));
	assert_int_equal(feed(&r, "354"), 1); /* no text at all */
	assert_int_equal(r.code, 354);
}

static void test_enhanced_code_only_when_class_matches(void **state)
{
	struct smtpc_reply r = {0};
	assert_int_equal(feed(&r, "550 4.1.1 mismatch"), 1);
	assert_string_equal(r.enh, ""); /* class 4 in a 5yz reply: text */
	assert_string_equal(r.text, "4.1.1 mismatch");
	memset(&r, 0, sizeof(r));
	assert_int_equal(feed(&r, "550 5.1.10 null MX"), 1);
	assert_string_equal(r.enh, "5.1.10");
	memset(&r, 0, sizeof(r));
	assert_int_equal(feed(&r, "451 4.7.1234 too long"), 1);
	assert_string_equal(r.enh, "");
}

static void test_refused(void **state)
{
	struct smtpc_reply r = {0};
	assert_int_equal(feed(&r, "25"), -1);
	memset(&r, 0, sizeof(r));
	assert_int_equal(feed(&r, "199 low"), -1);
	memset(&r, 0, sizeof(r));
	assert_int_equal(feed(&r, "600 high"), -1);
	memset(&r, 0, sizeof(r));
	assert_int_equal(feed(&r, "250_bad separator"), -1);
	memset(&r, 0, sizeof(r));
	assert_int_equal(feed(&r, "250-first"), 0);
	assert_int_equal(feed(&r, "251 another code"), -1);
	memset(&r, 0, sizeof(r));
	assert_int_equal(smtpc_reply_feed(&r, "250 a\0b", 7), -1);
	/* A reply that never ends is cut at SMTPC_REPLY_LINES_MAX lines. */
	memset(&r, 0, sizeof(r));
	int rc = 0;
	for (int i = 0; i < SMTPC_REPLY_LINES_MAX + 5 && rc == 0; i++)
		rc = feed(&r, "250-more");
	assert_int_equal(rc, -1);
	assert_int_equal(r.lines, SMTPC_REPLY_LINES_MAX);
}

static void test_text_printable_and_bounded(void **state)
{
	char line[3000];
	memset(line, 'x', sizeof(line));
	memcpy(line, "554 5.0.0 ", 10);
	line[20] = '\x1b';
	struct smtpc_reply r = {0};
	assert_int_equal(smtpc_reply_feed(&r, line, sizeof(line)), 1);
	assert_int_equal(strlen(r.text), SMTPC_TEXT_MAX);
	assert_int_equal(r.text[10], ' ');
}

static void test_ehlo_keywords(void **state)
{
	uint64_t size = 7;
	assert_int_equal(smtpc_ehlo_keyword("PIPELINING", &size), SMTPC_EXT_PIPELINING);
	assert_int_equal(smtpc_ehlo_keyword("starttls", &size), SMTPC_EXT_STARTTLS);
	assert_int_equal(smtpc_ehlo_keyword("CHUNKING", &size), SMTPC_EXT_CHUNKING);
	assert_int_equal(smtpc_ehlo_keyword("SMTPUTF8", &size), SMTPC_EXT_SMTPUTF8);
	assert_int_equal(smtpc_ehlo_keyword("DSN", &size), SMTPC_EXT_DSN);
	assert_int_equal(smtpc_ehlo_keyword("DSNX", &size), 0);
	assert_int_equal(smtpc_ehlo_keyword("8BITMIMEX", &size), 0);
	assert_int_equal(smtpc_ehlo_keyword("SIZE 10240000", &size), SMTPC_EXT_SIZE);
	assert_int_equal(size, 10240000);
	assert_int_equal(smtpc_ehlo_keyword("SIZE", &size), SMTPC_EXT_SIZE);
	assert_int_equal(size, 0);
	assert_int_equal(smtpc_ehlo_keyword("SIZE 12x", &size), SMTPC_EXT_SIZE);
	assert_int_equal(size, 0); /* a bad number is no limit */
	assert_int_equal(smtpc_ehlo_keyword("SIZE 99999999999999999999999", &size), SMTPC_EXT_SIZE);
	assert_int_equal(size, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_single_and_multi_line),
	    cmocka_unit_test(test_enhanced_code_only_when_class_matches),
	    cmocka_unit_test(test_refused),
	    cmocka_unit_test(test_text_printable_and_bounded),
	    cmocka_unit_test(test_ehlo_keywords),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
