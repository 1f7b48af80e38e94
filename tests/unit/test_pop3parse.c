/* SPDX-License-Identifier: AGPL-3.0-or-later */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "proto/pop3parse.h"

static const struct pop3parse_limits LIM = POP3PARSE_LIMITS_INIT(320);

/* Parse a copy of s in a buffer of exactly its length (no NUL after it),
 * so that a read past len shows under the sanitizers. */
static int parse(const char *s, size_t len, struct pop3_command *c)
{
	char *copy = malloc(len ? len : 1);
	assert_non_null(copy);
	memcpy(copy, s, len);
	int r = pop3parse_command(copy, len, &LIM, c);
	/* Every argument lies inside the line. */
	assert_true(c->argc <= POP3_ARGS_MAX);
	for (unsigned i = 0; i < c->argc; i++) {
		assert_true(c->argv[i].p >= copy);
		assert_true(c->argv[i].p + c->argv[i].len <= copy + len);
		/* Repoint into s so that callers may look after free. */
		c->argv[i].p = s + (c->argv[i].p - copy);
	}
	free(copy);
	return r;
}

static int parse_s(const char *s, struct pop3_command *c)
{
	return parse(s, strlen(s), c);
}

static void assert_arg(const struct pop3_command *c, unsigned i, const char *want)
{
	assert_true(i < c->argc);
	assert_int_equal(c->argv[i].len, strlen(want));
	assert_memory_equal(c->argv[i].p, want, strlen(want));
}

static void test_every_keyword(void **state)
{
	static const struct {
		const char *line;
		enum pop3_cmd cmd;
	} ok[] = {
	    {"USER a", POP3_CMD_USER}, {"PASS", POP3_CMD_PASS}, {"APOP a b", POP3_CMD_APOP},
	    {"AUTH", POP3_CMD_AUTH},   {"STLS", POP3_CMD_STLS}, {"UTF8", POP3_CMD_UTF8},
	    {"CAPA", POP3_CMD_CAPA},   {"QUIT", POP3_CMD_QUIT}, {"NOOP", POP3_CMD_NOOP},
	    {"STAT", POP3_CMD_STAT},   {"LIST", POP3_CMD_LIST}, {"RETR 1", POP3_CMD_RETR},
	    {"DELE 1", POP3_CMD_DELE}, {"RSET", POP3_CMD_RSET}, {"TOP 1 0", POP3_CMD_TOP},
	    {"UIDL", POP3_CMD_UIDL},
	};
	struct pop3_command c;
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		assert_int_equal(parse_s(ok[i].line, &c), 1);
		assert_int_equal(c.cmd, ok[i].cmd);
		assert_int_equal(c.error, POP3PARSE_OK);
		assert_string_equal(pop3parse_name(c.cmd), c.name);
	}
	assert_int_equal((int)(sizeof(ok) / sizeof(ok[0])), POP3_CMD_COUNT - 1);
}

/* RFC 1939 section 3: keywords are case-insensitive. */
static void test_keyword_case(void **state)
{
	struct pop3_command c;
	assert_int_equal(parse_s("stat", &c), 1);
	assert_int_equal(c.cmd, POP3_CMD_STAT);
	assert_string_equal(c.name, "STAT");
	assert_int_equal(parse_s("rEtR 3", &c), 1);
	assert_int_equal(c.cmd, POP3_CMD_RETR);
	assert_int_equal(c.num[0], 3);
}

static void test_unknown(void **state)
{
	struct pop3_command c;
	const char *unknown[] = {"",      "X",         "TO",    "TOPS 1 2",  "STATS",
	                         "BOGUS", "XTND XMIT", " STAT", "RETRIEVE 1"};
	for (size_t i = 0; i < sizeof(unknown) / sizeof(unknown[0]); i++) {
		assert_int_equal(parse_s(unknown[i], &c), 0);
		assert_int_equal(c.cmd, POP3_CMD_UNKNOWN);
		assert_string_equal(c.name, "");
	}
	assert_string_equal(pop3parse_name(POP3_CMD_UNKNOWN), "");
}

static void test_argument_counts(void **state)
{
	struct pop3_command c;
	const char *bad[] = {"STAT x",   "RETR",   "DELE",   "TOP 1",     "TOP 1 2 3", "LIST 1 2",
	                     "UIDL 1 2", "NOOP x", "RSET x", "QUIT x",    "CAPA x",    "STLS x",
	                     "UTF8 x",   "USER",   "USER ",  "AUTH A B C"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(parse_s(bad[i], &c), -1);
		assert_int_equal(c.error, POP3PARSE_E_ARGS);
		assert_int_not_equal(c.cmd, POP3_CMD_UNKNOWN);
	}
	assert_int_equal(parse_s("LIST", &c), 1);
	assert_int_equal(c.argc, 0);
	assert_int_equal(parse_s("LIST 7", &c), 1);
	assert_int_equal(c.argc, 1);
	assert_int_equal(c.num[0], 7);
	assert_int_equal(parse_s("TOP 2 10", &c), 1);
	assert_int_equal(c.argc, 2);
	assert_int_equal(c.num[0], 2);
	assert_int_equal(c.num[1], 10);
}

/* RFC 2449 section 4: one space between arguments; a trailing space after
 * a fixed-grammar command is forgiven, two spaces inside are not. */
static void test_spaces(void **state)
{
	struct pop3_command c;
	assert_int_equal(parse_s("LIST ", &c), 1);
	assert_int_equal(c.argc, 0);
	assert_int_equal(parse_s("QUIT  ", &c), 1);
	assert_int_equal(parse_s("RETR 1 ", &c), 1);
	assert_int_equal(c.num[0], 1);
	assert_int_equal(parse_s("TOP 1  2", &c), -1);
	assert_int_equal(c.error, POP3PARSE_E_ARGS);
	assert_int_equal(parse_s("RETR  1", &c), -1);
	assert_int_equal(c.error, POP3PARSE_E_ARGS);
}

static void test_numbers(void **state)
{
	struct pop3_command c;
	uint64_t v;
	const char *bad[] = {"RETR x",
	                     "RETR -1",
	                     "RETR +1",
	                     "RETR 1x",
	                     "RETR 01",
	                     "RETR 00",
	                     "RETR 0x10",
	                     "RETR 18446744073709551616",
	                     "RETR 99999999999999999999999",
	                     "TOP 1 -1",
	                     "TOP 1 1.5"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(parse_s(bad[i], &c), -1);
		assert_int_equal(c.error, POP3PARSE_E_NUMBER);
	}
	assert_int_equal(parse_s("TOP x 1", &c), -1);
	assert_int_equal(c.bad_arg, 0);
	assert_int_equal(parse_s("TOP 1 x", &c), -1);
	assert_int_equal(c.bad_arg, 1);
	assert_int_equal(parse_s("RETR 0", &c), 1);
	assert_int_equal(c.num[0], 0);
	assert_int_equal(parse_s("DELE 18446744073709551615", &c), 1);
	assert_true(c.num[0] == UINT64_MAX);
	assert_int_equal(pop3parse_number("42", 2, 42, &v), 1);
	assert_int_equal(v, 42);
	assert_int_equal(pop3parse_number("43", 2, 42, &v), -1);
	assert_int_equal(pop3parse_number("", 0, 42, &v), -1);
	assert_int_equal(pop3parse_number("4 ", 2, 42, &v), -1);
}

/* RFC 1939 section 7: the password is the rest of the line, spaces and
 * all; USER's name too. */
static void test_user_pass_rest_of_line(void **state)
{
	struct pop3_command c;
	assert_int_equal(parse_s("USER alice@example.org", &c), 1);
	assert_arg(&c, 0, "alice@example.org");
	assert_int_equal(parse_s("PASS  two  spaces ", &c), 1);
	assert_arg(&c, 0, " two  spaces ");
	assert_int_equal(parse_s("PASS", &c), 1);
	assert_int_equal(c.argc, 0);
	assert_int_equal(parse_s("PASS ", &c), 1);
	assert_arg(&c, 0, "");
	/* RFC 6856: UTF-8 in names and passwords. */
	assert_int_equal(parse_s("PASS p\xc3\xa4ss", &c), 1);
	assert_arg(&c, 0, "p\xc3\xa4ss");
	char user[400];
	memcpy(user, "USER ", 5);
	memset(user + 5, 'u', 321);
	assert_int_equal(parse(user, 5 + 321, &c), -1);
	assert_int_equal(c.error, POP3PARSE_E_ARGLONG);
	assert_int_equal(parse(user, 5 + 320, &c), 1);
	assert_int_equal(c.argv[0].len, 320);
}

/* RFC 5034 section 4: AUTH [mechanism [initial-response]], "=" for an
 * empty initial response. */
static void test_auth(void **state)
{
	struct pop3_command c;
	assert_int_equal(parse_s("AUTH", &c), 1);
	assert_int_equal(c.argc, 0);
	assert_int_equal(parse_s("AUTH PLAIN", &c), 1);
	assert_arg(&c, 0, "PLAIN");
	assert_int_equal(parse_s("AUTH PLAIN =", &c), 1);
	assert_arg(&c, 1, "=");
	assert_int_equal(parse_s("AUTH PLAIN AGFsaWNlAHB3", &c), 1);
	assert_arg(&c, 1, "AGFsaWNlAHB3");
	assert_int_equal(parse_s("AUTH ABCDEFGHIJKLMNOPQRSTU", &c), -1);
	assert_int_equal(c.error, POP3PARSE_E_ARGLONG);
	assert_int_equal(parse_s("AUTH PLAIN a\tb", &c), -1);
	assert_int_equal(c.error, POP3PARSE_E_CHAR);
}

/* RFC 2449 section 4: 255 octets with CRLF for commands; the lines that
 * carry credentials get POP3_SECRET_LINE_MAX. */
static void test_line_limits(void **state)
{
	struct pop3_command c;
	char line[POP3_SECRET_LINE_MAX + 8];
	memset(line, ' ', sizeof(line));
	memcpy(line, "NOOP", 4);
	assert_int_equal(parse(line, POP3_CMD_LINE_MAX - 2, &c), 1);
	assert_int_equal(parse(line, POP3_CMD_LINE_MAX - 1, &c), -1);
	assert_int_equal(c.error, POP3PARSE_E_TOOLONG);
	memset(line, 'x', sizeof(line));
	assert_int_equal(parse(line, POP3_CMD_LINE_MAX - 1, &c), -1);
	assert_int_equal(c.error, POP3PARSE_E_TOOLONG); /* unknown and too long */
	memcpy(line, "PASS ", 5);
	assert_int_equal(parse(line, POP3_SECRET_LINE_MAX - 2, &c), 1);
	assert_int_equal(c.argv[0].len, POP3_SECRET_LINE_MAX - 7);
	assert_int_equal(parse(line, POP3_SECRET_LINE_MAX - 1, &c), -1);
	assert_int_equal(c.error, POP3PARSE_E_TOOLONG);
	memcpy(line, "AUTH PLAIN ", 11);
	assert_int_equal(parse(line, POP3_SECRET_LINE_MAX - 2, &c), 1);
	assert_int_equal(c.argc, 2);
}

static void test_nul_and_controls(void **state)
{
	struct pop3_command c;
	assert_int_equal(parse("STAT\0", 5, &c), -1);
	assert_int_equal(c.error, POP3PARSE_E_NUL);
	assert_int_equal(parse("PASS a\0b", 8, &c), -1);
	assert_int_equal(c.error, POP3PARSE_E_NUL);
	assert_int_equal(c.cmd, POP3_CMD_PASS); /* known: the caller wipes the line */
	assert_int_equal(parse("\0", 1, &c), -1);
	assert_int_equal(parse_s("RETR \x01", &c), -1);
	assert_int_equal(c.error, POP3PARSE_E_CHAR);
	assert_int_equal(parse_s("LIST 1\x7f", &c), -1);
	assert_int_equal(c.error, POP3PARSE_E_CHAR);
}

static void test_sasl_response(void **state)
{
	enum pop3parse_error e;
	assert_int_equal(pop3parse_sasl_response("*", 1, &LIM, &e), 0);
	assert_int_equal(pop3parse_sasl_response("AGEAYg==", 8, &LIM, &e), 1);
	assert_int_equal(e, POP3PARSE_OK);
	assert_int_equal(pop3parse_sasl_response("", 0, &LIM, &e), 1);
	assert_int_equal(pop3parse_sasl_response("**", 2, &LIM, &e), 1);
	assert_int_equal(pop3parse_sasl_response("a\0", 2, &LIM, &e), -1);
	assert_int_equal(e, POP3PARSE_E_NUL);
	char big[POP3_SECRET_LINE_MAX];
	memset(big, 'A', sizeof(big));
	assert_int_equal(pop3parse_sasl_response(big, POP3_SECRET_LINE_MAX - 2, &LIM, &e), 1);
	assert_int_equal(pop3parse_sasl_response(big, POP3_SECRET_LINE_MAX - 1, &LIM, &e), -1);
	assert_int_equal(e, POP3PARSE_E_TOOLONG);
}

/* The parser is line-based: every prefix of a line is itself a line, and
 * must parse to what its text says, never reading past its length. */
static void test_every_prefix(void **state)
{
	static const struct {
		const char *line;
		const char *expect; /* per prefix length: '0', '1' or '-' (-1) */
	} cases[] = {
	    /*                    T O P _ 1 2 _ 3 4 */
	    {"TOP 12 34", "000-----11"},
	    /*                    R E T R _ 7 */
	    {"RETR 7", "0000--1"},
	    /*                    L I S T _ 9 */
	    {"LIST 9", "0000111"},
	    /*                    P A S S _ a _ b */
	    {"PASS a b", "000011111"},
	    /*                    U S E R _ u */
	    {"USER u", "0000--1"},
	    /*                    A U T H _ P L A I N _ = */
	    {"AUTH PLAIN =", "0000111111111"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t n = strlen(cases[i].line);
		assert_int_equal(strlen(cases[i].expect), n + 1);
		for (size_t k = 0; k <= n; k++) {
			struct pop3_command c;
			int r = parse(cases[i].line, k, &c);
			char got = r == 1 ? '1' : r == 0 ? '0' : '-';
			if (got != cases[i].expect[k])
				fail_msg("\"%.*s\": got %c, want %c", (int)k, cases[i].line, got,
				         cases[i].expect[k]);
		}
	}
	/* The whole lines' results. */
	struct pop3_command c;
	assert_int_equal(parse_s("TOP 12 34", &c), 1);
	assert_int_equal(c.num[0], 12);
	assert_int_equal(c.num[1], 34);
}

/* Every prefix of a pipelined burst, split at every point: no prefix makes
 * the parser read outside its line or report arguments outside it. */
static void test_every_prefix_of_a_session(void **state)
{
	const char *script = "CAPA\r\nUSER alice@example.org\r\nPASS s3cret pw\r\nSTAT\r\n"
	                     "LIST\r\nUIDL 1\r\nTOP 1 10\r\nRETR 1\r\nDELE 1\r\nRSET\r\n"
	                     "AUTH PLAIN AGFsaWNlAHB3\r\nNOOP\r\nQUIT\r\n";
	size_t n = strlen(script);
	unsigned ok = 0;
	for (size_t start = 0; start < n;) {
		const char *eol = strstr(script + start, "\r\n");
		size_t len = (size_t)(eol - (script + start));
		for (size_t k = 0; k <= len; k++) {
			struct pop3_command c;
			int r = parse(script + start, k, &c);
			assert_true(r >= -1 && r <= 1);
			if (k == len && r == 1)
				ok++;
		}
		start += len + 2;
	}
	assert_int_equal(ok, 13);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_every_keyword),
	    cmocka_unit_test(test_keyword_case),
	    cmocka_unit_test(test_unknown),
	    cmocka_unit_test(test_argument_counts),
	    cmocka_unit_test(test_spaces),
	    cmocka_unit_test(test_numbers),
	    cmocka_unit_test(test_user_pass_rest_of_line),
	    cmocka_unit_test(test_auth),
	    cmocka_unit_test(test_line_limits),
	    cmocka_unit_test(test_nul_and_controls),
	    cmocka_unit_test(test_sasl_response),
	    cmocka_unit_test(test_every_prefix),
	    cmocka_unit_test(test_every_prefix_of_a_session),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
