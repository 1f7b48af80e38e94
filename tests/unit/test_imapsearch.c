/* SPDX-License-Identifier: AGPL-3.0-or-later */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "base/fmt.h"
#include "base/buf.h"
#include "proto/imapparse.h"
#include "proto/imapsearch.h"

/* Parse "t SEARCH <criteria>" with the command parser, then the criteria.
 * Returns imapsearch_parse's result; on 1 *tree_r holds the formatted tree
 * (static buffer) and *s_r the search (caller frees) if s_r is not NULL. */
static int search_lim(const char *criteria, const struct imapsearch_limits *lim,
                      const char **tree_r, struct imapsearch **s_r)
{
	static char tree[4096];
	struct imapparse_limits plim;
	imapparse_limits_default(&plim);
	plim.max_depth = 64;
	struct imapparse *p = imapparse_new(&plim, IMAPPARSE_F_UTF8);
	char line[4096];
	assert_int_equal(fmt_name(line, sizeof(line), "t SEARCH %s", criteria), 0);
	assert_int_equal(imapparse_feed_line(p, line, strlen(line)), 1);
	const struct imapparse_cmd *c = imapparse_command(p);
	struct imapsearch *s = NULL;
	const char *err = NULL;
	int r = imapsearch_parse(c->args, c->count, lim, &s, &err);
	if (r == 1) {
		struct buf b = BUF_INIT;
		assert_non_null(s);
		imapsearch_format(&s->root, &b);
		assert_int_equal(fmt_name(tree, sizeof(tree), "%s", buf_cstr(&b)), 0);
		buf_free(&b);
		if (tree_r != NULL)
			*tree_r = tree;
		if (s_r != NULL)
			*s_r = s;
		else
			imapsearch_free(&s);
	} else {
		assert_null(s);
		assert_non_null(err);
	}
	imapparse_free(&p);
	return r;
}

static int search(const char *criteria, const char **tree_r)
{
	struct imapsearch_limits lim;
	imapsearch_limits_default(&lim);
	return search_lim(criteria, &lim, tree_r, NULL);
}

static void expect(const char *criteria, const char *want)
{
	const char *tree = NULL;
	int r = search(criteria, &tree);
	if (r != 1)
		fail_msg("refused: %s", criteria);
	assert_string_equal(tree, want);
}

static void expect_bad(const char *criteria)
{
	if (search(criteria, NULL) != -1)
		fail_msg("accepted: %s", criteria);
}

static void test_all(void **state)
{
	expect("ALL", "AND(ALL)");
}

static void test_flag_keys(void **state)
{
	static const char *keys[] = {"ANSWERED", "DELETED",   "DRAFT", "FLAGGED",    "NEW",
	                             "OLD",      "RECENT",    "SEEN",  "UNANSWERED", "UNDELETED",
	                             "UNDRAFT",  "UNFLAGGED", "UNSEEN"};
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		char want[64];
		assert_int_equal(fmt_name(want, sizeof(want), "AND(%s)", keys[i]), 0);
		expect(keys[i], want);
	}
}

static void test_keys_case_insensitive(void **state)
{
	expect("unseen from Joe", "AND(UNSEEN,FROM \"Joe\")");
}

static void test_string_keys(void **state)
{
	expect("BCC a CC b FROM c SUBJECT \"d e\" TEXT f TO g BODY h",
	       "AND(BCC \"a\",CC \"b\",FROM \"c\",SUBJECT \"d e\",TEXT \"f\",TO \"g\",BODY \"h\")");
}

static void test_string_nil_is_astring(void **state)
{
	/* astring: the atom NIL is the three-letter string. */
	expect("SUBJECT NIL", "AND(SUBJECT \"NIL\")");
}

static void test_empty_string(void **state)
{
	expect("SUBJECT \"\"", "AND(SUBJECT \"\")");
}

static void test_header(void **state)
{
	expect("HEADER Message-ID \"<x@y>\"", "AND(HEADER Message-ID \"<x@y>\")");
}

static void test_header_empty_value(void **state)
{
	expect("HEADER X-Spam \"\"", "AND(HEADER X-Spam \"\")");
}

static void test_header_bad_field(void **state)
{
	expect_bad("HEADER \"A B\" x");
	expect_bad("HEADER \"\" x");
	expect_bad("HEADER Subject:");
}

static void test_keyword(void **state)
{
	expect("KEYWORD $Forwarded UNKEYWORD $Junk", "AND(KEYWORD $Forwarded,UNKEYWORD $Junk)");
}

static void test_keyword_system_flag_refused(void **state)
{
	/* flag-keyword = atom: no backslash. */
	expect_bad("KEYWORD \\Seen");
	expect_bad("KEYWORD \"x\"");
	expect_bad("KEYWORD a*");
}

static void test_dates(void **state)
{
	expect("BEFORE 1-Feb-2024 ON 15-mar-2023 SINCE \"31-Dec-1999\"",
	       "AND(BEFORE 2024-02-01,ON 2023-03-15,SINCE 1999-12-31)");
}

static void test_sent_dates(void **state)
{
	expect("SENTBEFORE 01-Jan-2020 SENTON 2-Jan-2020 SENTSINCE 3-Jan-2020",
	       "AND(SENTBEFORE 2020-01-01,SENTON 2020-01-02,SENTSINCE 2020-01-03)");
}

static void test_leap_day(void **state)
{
	expect("ON 29-Feb-2024", "AND(ON 2024-02-29)");
	expect("ON 29-Feb-2000", "AND(ON 2000-02-29)");
	expect_bad("ON 29-Feb-2023");
	expect_bad("ON 29-Feb-1900");
}

static void test_bad_dates(void **state)
{
	static const char *bad[] = {
	    "ON 32-Jan-2024",
	    "ON 0-Jan-2024",
	    "ON 31-Apr-2024",
	    "ON 1-Foo-2024",
	    "ON 1-Jan-24",
	    "ON 1-Jan-20245",
	    "ON 001-Jan-2024",
	    "ON -Jan-2024",
	    "ON 1 Jan 2024",
	    "ON 1/1/2024",
	    "ON 2024-01-01",
	    "ON 1-January-2024",
	    "ON",
	    "ON (1-Jan-2024)",
	    "ON NIL",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		expect_bad(bad[i]);
}

static void test_date_parser_direct(void **state)
{
	struct imapsearch_date d;
	assert_int_equal(imapsearch_parse_date("7-Jul-1970", 10, &d), 1);
	assert_int_equal(d.year, 1970);
	assert_int_equal(d.month, 7);
	assert_int_equal(d.day, 7);
	assert_int_equal(imapsearch_parse_date("7-Jul-1970x", 11, &d), 0);
	assert_int_equal(imapsearch_parse_date("7-Jul-197", 9, &d), 0);
	assert_int_equal(imapsearch_parse_date("", 0, &d), 0);
}

static void test_sizes(void **state)
{
	expect("LARGER 1000 SMALLER 4294967296", "AND(LARGER 1000,SMALLER 4294967296)");
	expect_bad("LARGER -1");
	expect_bad("LARGER 1k");
	expect_bad("SMALLER");
}

static void test_uid_set(void **state)
{
	expect("UID 1:5,7,9:*", "AND(UID 1:5,7,9:*)");
	expect_bad("UID 0");
	expect_bad("UID x");
}

static void test_sequence_set_key(void **state)
{
	expect("1:3,* SEEN", "AND(SEQSET 1:3,*,SEEN)");
	expect("*:4", "AND(SEQSET *:4)");
	expect_bad("1:0");
	expect_bad("4294967296");
}

static void test_sequence_set_in_tree(void **state)
{
	struct imapsearch_limits lim;
	struct imapsearch *s = NULL;
	imapsearch_limits_default(&lim);
	assert_int_equal(search_lim("2:4", &lim, NULL, &s), 1);
	assert_int_equal(s->root.nsub, 1);
	assert_int_equal(s->root.sub[0].kind, IMAPSEARCH_SEQSET);
	assert_int_equal(s->root.sub[0].set.count, 1);
	assert_int_equal(s->root.sub[0].set.ranges[0].lo, 2);
	assert_int_equal(s->root.sub[0].set.ranges[0].hi, 4);
	imapsearch_free(&s);
	assert_null(s);
}

static void test_not(void **state)
{
	expect("NOT SEEN", "AND(NOT(SEEN))");
	expect("NOT NOT FROM x", "AND(NOT(NOT(FROM \"x\")))");
}

static void test_or(void **state)
{
	expect("OR SEEN FLAGGED", "AND(OR(SEEN,FLAGGED))");
}

static void test_or_nested(void **state)
{
	expect("OR OR SEEN DRAFT NOT DELETED", "AND(OR(OR(SEEN,DRAFT),NOT(DELETED)))");
}

static void test_or_missing_operand(void **state)
{
	expect_bad("OR SEEN");
	expect_bad("NOT");
}

static void test_group(void **state)
{
	expect("(SEEN FROM a) (OR TO b CC c)",
	       "AND(AND(SEEN,FROM \"a\"),AND(OR(TO \"b\",CC \"c\")))");
}

static void test_group_in_or(void **state)
{
	expect("OR (SEEN UNDELETED) (NOT SEEN)", "AND(OR(AND(SEEN,UNDELETED),AND(NOT(SEEN))))");
}

static void test_empty_group(void **state)
{
	expect_bad("()");
	expect_bad("SEEN ()");
}

static void test_no_criteria(void **state)
{
	expect_bad("CHARSET UTF-8");
}

static void test_unknown_key(void **state)
{
	expect_bad("XYZZY");
	expect_bad("SEEN \"SEEN\"");
}

static void test_missing_argument(void **state)
{
	expect_bad("FROM");
	expect_bad("HEADER Subject");
	expect_bad("UID");
	expect_bad("KEYWORD");
}

static void test_list_as_string_refused(void **state)
{
	expect_bad("FROM (a)");
}

static void test_charset_utf8(void **state)
{
	struct imapsearch_limits lim;
	struct imapsearch *s = NULL;
	imapsearch_limits_default(&lim);
	assert_int_equal(search_lim("CHARSET utf-8 SUBJECT \"caf\xc3\xa9\"", &lim, NULL, &s), 1);
	assert_string_equal(s->charset, "UTF-8");
	assert_string_equal(s->root.sub[0].str, "caf\xc3\xa9");
	imapsearch_free(&s);
}

static void test_charset_us_ascii(void **state)
{
	struct imapsearch_limits lim;
	struct imapsearch *s = NULL;
	imapsearch_limits_default(&lim);
	assert_int_equal(search_lim("CHARSET \"US-ASCII\" TEXT x", &lim, NULL, &s), 1);
	assert_string_equal(s->charset, "US-ASCII");
	imapsearch_free(&s);
}

static void test_charset_absent(void **state)
{
	struct imapsearch_limits lim;
	struct imapsearch *s = NULL;
	imapsearch_limits_default(&lim);
	assert_int_equal(search_lim("TEXT x", &lim, NULL, &s), 1);
	assert_null(s->charset);
	imapsearch_free(&s);
}

static void test_charset_unsupported(void **state)
{
	/* NO [BADCHARSET (UTF-8 US-ASCII)] (RFC 3501 section 6.4.4). */
	assert_int_equal(search("CHARSET ISO-8859-1 TEXT x", NULL), 0);
	assert_int_equal(search("CHARSET UTF8 TEXT x", NULL), 0);
}

static void test_charset_missing_name(void **state)
{
	assert_int_equal(search("CHARSET", NULL), -1);
	assert_int_equal(search("CHARSET (UTF-8) TEXT x", NULL), -1);
}

static void test_charset_only_first(void **state)
{
	expect_bad("SEEN CHARSET UTF-8");
}

static void test_us_ascii_refuses_8bit(void **state)
{
	expect_bad("CHARSET US-ASCII TEXT \"caf\xc3\xa9\"");
}

static void test_utf8_string(void **state)
{
	expect("SUBJECT \"\xe6\x97\xa5\"", "AND(SUBJECT \"\xe6\x97\xa5\")");
}

static void test_literal_string(void **state)
{
	struct imapparse_limits plim;
	struct imapsearch_limits lim;
	struct imapsearch *s = NULL;
	const char *err = NULL;
	imapparse_limits_default(&plim);
	imapsearch_limits_default(&lim);
	struct imapparse *p = imapparse_new(&plim, 0);
	const char *l1 = "t SEARCH CHARSET UTF-8 TEXT {4}";
	assert_int_equal(imapparse_feed_line(p, l1, strlen(l1)), 0);
	assert_int_equal(imapparse_feed_literal(p, (const unsigned char *)"\xe6\x97\xa5!", 4, NULL),
	                 1);
	assert_int_equal(imapparse_feed_line(p, " SEEN", 5), 1);
	const struct imapparse_cmd *c = imapparse_command(p);
	assert_int_equal(imapsearch_parse(c->args, c->count, &lim, &s, &err), 1);
	assert_int_equal(s->root.sub[0].kind, IMAPSEARCH_TEXT);
	assert_int_equal(s->root.sub[0].len, 4);
	assert_int_equal(s->root.sub[1].kind, IMAPSEARCH_SEEN);
	imapsearch_free(&s);
	imapparse_free(&p);
}

static void test_literal_bad_utf8(void **state)
{
	struct imapparse_limits plim;
	struct imapsearch_limits lim;
	struct imapsearch *s = NULL;
	const char *err = NULL;
	imapparse_limits_default(&plim);
	imapsearch_limits_default(&lim);
	struct imapparse *p = imapparse_new(&plim, 0);
	const char *l1 = "t SEARCH TEXT {2}";
	assert_int_equal(imapparse_feed_line(p, l1, strlen(l1)), 0);
	assert_int_equal(imapparse_feed_literal(p, (const unsigned char *)"\xc3(", 2, NULL), 1);
	assert_int_equal(imapparse_feed_line(p, "", 0), 1);
	const struct imapparse_cmd *c = imapparse_command(p);
	assert_int_equal(imapsearch_parse(c->args, c->count, &lim, &s, &err), -1);
	assert_null(s);
	imapparse_free(&p);
}

static void test_modseq(void **state)
{
	expect("MODSEQ 0", "AND(MODSEQ 0)");
	expect("MODSEQ 620162338", "AND(MODSEQ 620162338)");
}

static void test_modseq_entry(void **state)
{
	expect("MODSEQ \"/flags/\\\\draft\" all 620162338",
	       "AND(MODSEQ \"\\\\draft\" all 620162338)");
	expect("MODSEQ \"/FLAGS/$Junk\" priv 5 SEEN", "AND(MODSEQ \"$Junk\" priv 5,SEEN)");
	expect("MODSEQ \"/flags/x\" shared 5", "AND(MODSEQ \"x\" shared 5)");
}

static void test_modseq_bad(void **state)
{
	expect_bad("MODSEQ");
	expect_bad("MODSEQ -1");
	expect_bad("MODSEQ 9223372036854775808");
	expect_bad("MODSEQ \"/flags/\\\\Seen\" 5");
	expect_bad("MODSEQ \"/flags/\\\\Seen\" none 5");
	expect_bad("MODSEQ \"/other/x\" all 5");
	expect_bad("MODSEQ \"/flags/\" all 5");
	expect_bad("MODSEQ \"/flags/a b\" all 5");
}

static void test_depth_limit(void **state)
{
	struct imapsearch_limits lim;
	imapsearch_limits_default(&lim);
	lim.max_depth = 3;
	assert_int_equal(search_lim("NOT NOT NOT SEEN", &lim, NULL, NULL), 1);
	assert_int_equal(search_lim("NOT NOT NOT NOT SEEN", &lim, NULL, NULL), -1);
	assert_int_equal(search_lim("((NOT SEEN))", &lim, NULL, NULL), 1);
	assert_int_equal(search_lim("(((NOT SEEN)))", &lim, NULL, NULL), -1);
}

static void test_deep_not_chain_default_limit(void **state)
{
	/* A flat line of NOTs must not recurse without bound. */
	struct buf b = BUF_INIT;
	for (int i = 0; i < 500; i++)
		buf_append_str(&b, "NOT ");
	buf_append_str(&b, "SEEN");
	assert_int_equal(search(buf_cstr(&b), NULL), -1);
	buf_free(&b);
}

static void test_key_limit(void **state)
{
	struct imapsearch_limits lim;
	imapsearch_limits_default(&lim);
	lim.max_keys = 3;
	assert_int_equal(search_lim("SEEN OR DRAFT DELETED", &lim, NULL, NULL), -1);
	assert_int_equal(search_lim("SEEN OR DRAFT", &lim, NULL, NULL), -1);
	assert_int_equal(search_lim("SEEN DRAFT DELETED", &lim, NULL, NULL), 1);
}

static void test_range_limit(void **state)
{
	struct imapsearch_limits lim;
	imapsearch_limits_default(&lim);
	lim.max_ranges = 2;
	assert_int_equal(search_lim("UID 1,2", &lim, NULL, NULL), 1);
	assert_int_equal(search_lim("UID 1,2,3", &lim, NULL, NULL), -1);
	assert_int_equal(search_lim("1,2,3", &lim, NULL, NULL), -1);
}

static void test_kind_names(void **state)
{
	assert_string_equal(imapsearch_kind_name(IMAPSEARCH_SENTBEFORE), "SENTBEFORE");
	assert_string_equal(imapsearch_kind_name(IMAPSEARCH_MODSEQ), "MODSEQ");
	assert_string_equal(imapsearch_kind_name((enum imapsearch_kind)999), "?");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_all),
	    cmocka_unit_test(test_flag_keys),
	    cmocka_unit_test(test_keys_case_insensitive),
	    cmocka_unit_test(test_string_keys),
	    cmocka_unit_test(test_string_nil_is_astring),
	    cmocka_unit_test(test_empty_string),
	    cmocka_unit_test(test_header),
	    cmocka_unit_test(test_header_empty_value),
	    cmocka_unit_test(test_header_bad_field),
	    cmocka_unit_test(test_keyword),
	    cmocka_unit_test(test_keyword_system_flag_refused),
	    cmocka_unit_test(test_dates),
	    cmocka_unit_test(test_sent_dates),
	    cmocka_unit_test(test_leap_day),
	    cmocka_unit_test(test_bad_dates),
	    cmocka_unit_test(test_date_parser_direct),
	    cmocka_unit_test(test_sizes),
	    cmocka_unit_test(test_uid_set),
	    cmocka_unit_test(test_sequence_set_key),
	    cmocka_unit_test(test_sequence_set_in_tree),
	    cmocka_unit_test(test_not),
	    cmocka_unit_test(test_or),
	    cmocka_unit_test(test_or_nested),
	    cmocka_unit_test(test_or_missing_operand),
	    cmocka_unit_test(test_group),
	    cmocka_unit_test(test_group_in_or),
	    cmocka_unit_test(test_empty_group),
	    cmocka_unit_test(test_no_criteria),
	    cmocka_unit_test(test_unknown_key),
	    cmocka_unit_test(test_missing_argument),
	    cmocka_unit_test(test_list_as_string_refused),
	    cmocka_unit_test(test_charset_utf8),
	    cmocka_unit_test(test_charset_us_ascii),
	    cmocka_unit_test(test_charset_absent),
	    cmocka_unit_test(test_charset_unsupported),
	    cmocka_unit_test(test_charset_missing_name),
	    cmocka_unit_test(test_charset_only_first),
	    cmocka_unit_test(test_us_ascii_refuses_8bit),
	    cmocka_unit_test(test_utf8_string),
	    cmocka_unit_test(test_literal_string),
	    cmocka_unit_test(test_literal_bad_utf8),
	    cmocka_unit_test(test_modseq),
	    cmocka_unit_test(test_modseq_entry),
	    cmocka_unit_test(test_modseq_bad),
	    cmocka_unit_test(test_depth_limit),
	    cmocka_unit_test(test_deep_not_chain_default_limit),
	    cmocka_unit_test(test_key_limit),
	    cmocka_unit_test(test_range_limit),
	    cmocka_unit_test(test_kind_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
