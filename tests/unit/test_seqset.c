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
#include "proto/seqset.h"

static int parse(struct seqset *s, const char *text, size_t max_ranges)
{
	const char *err = NULL;
	int r = seqset_parse(s, text, strlen(text), max_ranges, &err);
	if (r != 1)
		assert_non_null(err);
	return r;
}

/* Parse, resolve and format; returns the formatted set (static buffer). */
static const char *resolved(const char *text, uint32_t max, bool uid)
{
	static char out[256];
	struct seqset s = SEQSET_INIT;
	struct buf b = BUF_INIT;
	assert_int_equal(parse(&s, text, 0), 1);
	assert_int_equal(seqset_resolve(&s, max, uid), 1);
	seqset_format(&s, &b);
	assert_int_equal(fmt_name(out, sizeof(out), "%s", buf_cstr(&b)), 0);
	buf_free(&b);
	seqset_free(&s);
	return out;
}

static void test_single_number(void **state)
{
	struct seqset s = SEQSET_INIT;
	assert_int_equal(parse(&s, "7", 0), 1);
	assert_int_equal(s.count, 1);
	assert_int_equal(s.ranges[0].lo, 7);
	assert_int_equal(s.ranges[0].hi, 7);
	seqset_free(&s);
}

static void test_range_and_list(void **state)
{
	struct seqset s = SEQSET_INIT;
	assert_int_equal(parse(&s, "1,3:5,7:*", 0), 1);
	assert_int_equal(s.count, 3);
	assert_int_equal(s.ranges[1].lo, 3);
	assert_int_equal(s.ranges[1].hi, 5);
	assert_int_equal(s.ranges[2].hi, SEQSET_STAR);
	assert_true(seqset_has_star(&s));
	seqset_free(&s);
}

static void test_star_alone(void **state)
{
	assert_string_equal(resolved("*", 42, false), "42");
}

static void test_reversed_star_range(void **state)
{
	/* "*:1" is the same set as "1:*" (RFC 3501 section 9, seq-range). */
	assert_string_equal(resolved("*:1", 5, false), "1:5");
}

static void test_reversed_range(void **state)
{
	assert_string_equal(resolved("9:3", 10, false), "3:9");
}

static void test_max_number(void **state)
{
	struct seqset s = SEQSET_INIT;
	assert_int_equal(parse(&s, "4294967295", 0), 1);
	assert_int_equal(s.ranges[0].lo, UINT32_MAX);
	seqset_free(&s);
}

static void test_number_too_large(void **state)
{
	struct seqset s = SEQSET_INIT;
	assert_int_equal(parse(&s, "4294967296", 0), 0);
	assert_int_equal(parse(&s, "99999999999999999999999", 0), 0);
	seqset_free(&s);
}

static void test_zero(void **state)
{
	struct seqset s = SEQSET_INIT;
	assert_int_equal(parse(&s, "0", 0), 0);
	seqset_free(&s);
}

static void test_range_to_zero(void **state)
{
	struct seqset s = SEQSET_INIT;
	assert_int_equal(parse(&s, "1:0", 0), 0);
	seqset_free(&s);
}

static void test_leading_zero(void **state)
{
	struct seqset s = SEQSET_INIT;
	assert_int_equal(parse(&s, "01", 0), 0);
	seqset_free(&s);
}

static void test_syntax_errors(void **state)
{
	static const char *bad[] = {"",   ",", "1,",  ",1", "1::2", "1:2:3", "1 ,2", " 1", "1:",
	                            ":1", "a", "1-3", "**", "*1",   "1*",    "+1",   "-1", "1,,2"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct seqset s = SEQSET_INIT;
		assert_int_equal(parse(&s, bad[i], 0), 0);
		seqset_free(&s);
	}
}

static void test_huge_list_within_limit(void **state)
{
	struct buf b = BUF_INIT;
	struct seqset s = SEQSET_INIT;
	for (unsigned i = 1; i <= 10000; i++)
		buf_printf(&b, "%s%u", i > 1 ? "," : "", i * 2);
	assert_int_equal(seqset_parse(&s, buf_cstr(&b), b.len, 10000, NULL), 1);
	assert_int_equal(s.count, 10000);
	assert_int_equal(seqset_resolve(&s, 20000, false), 1);
	assert_int_equal(seqset_count(&s), 10000);
	assert_true(seqset_contains(&s, 9998));
	assert_false(seqset_contains(&s, 9999));
	buf_free(&b);
	seqset_free(&s);
}

static void test_range_limit(void **state)
{
	struct seqset s = SEQSET_INIT;
	assert_int_equal(parse(&s, "1,2,3,4", 3), -1);
	seqset_free(&s);
}

static void test_normalise_merges(void **state)
{
	assert_string_equal(resolved("7,1:3,2:5,6,10:12,9", 100, false), "1:7,9:12");
}

static void test_normalise_at_max_number(void **state)
{
	/* hi + 1 must not wrap around at 4294967295. */
	assert_string_equal(resolved("4294967295,1,4294967294", 0, true),
	                    "1,4294967294:4294967295");
}

static void test_uid_star_above_max(void **state)
{
	/* RFC 3501 section 6.4.8: 559:* includes the last UID even when
	 * 559 is larger. */
	assert_string_equal(resolved("559:*", 100, true), "100:559");
}

static void test_uid_numbers_beyond_max_kept(void **state)
{
	assert_string_equal(resolved("1:4294967295", 10, true), "1:4294967295");
}

static void test_uid_star_empty_mailbox(void **state)
{
	assert_string_equal(resolved("*", 0, true), "");
	assert_string_equal(resolved("5:*", 0, true), "1:5");
}

static void test_seq_out_of_range(void **state)
{
	struct seqset s = SEQSET_INIT;
	assert_int_equal(parse(&s, "1:11", 0), 1);
	assert_int_equal(seqset_resolve(&s, 10, false), 0);
	seqset_free(&s);
}

static void test_seq_star_empty_mailbox(void **state)
{
	struct seqset s = SEQSET_INIT;
	assert_int_equal(parse(&s, "1:*", 0), 1);
	assert_int_equal(seqset_resolve(&s, 0, false), 0);
	seqset_free(&s);
}

static void test_contains(void **state)
{
	struct seqset s = SEQSET_INIT;
	assert_int_equal(parse(&s, "2,4:6,100", 0), 1);
	assert_int_equal(seqset_resolve(&s, 1000, false), 1);
	assert_false(seqset_contains(&s, 1));
	assert_true(seqset_contains(&s, 2));
	assert_false(seqset_contains(&s, 3));
	assert_true(seqset_contains(&s, 5));
	assert_true(seqset_contains(&s, 100));
	assert_false(seqset_contains(&s, 101));
	assert_false(seqset_contains(&s, UINT32_MAX));
	seqset_free(&s);
}

static void test_count_full_range(void **state)
{
	struct seqset s = SEQSET_INIT;
	assert_int_equal(parse(&s, "1:4294967295", 0), 1);
	assert_int_equal(seqset_resolve(&s, 3, true), 1);
	assert_int_equal(seqset_count(&s), 4294967295ull);
	seqset_free(&s);
}

static void test_iterate(void **state)
{
	struct seqset s = SEQSET_INIT;
	struct seqset_iter it = SEQSET_ITER_INIT;
	uint32_t n, got[8], k = 0;
	assert_int_equal(parse(&s, "5,1:2,9", 0), 1);
	assert_int_equal(seqset_resolve(&s, 9, false), 1);
	while (seqset_next(&s, &it, &n) && k < 8)
		got[k++] = n;
	assert_int_equal(k, 4);
	assert_int_equal(got[0], 1);
	assert_int_equal(got[1], 2);
	assert_int_equal(got[2], 5);
	assert_int_equal(got[3], 9);
	seqset_free(&s);
}

static void test_iterate_at_max_number(void **state)
{
	struct seqset s = SEQSET_INIT;
	struct seqset_iter it = SEQSET_ITER_INIT;
	uint32_t n;
	unsigned k = 0;
	assert_int_equal(parse(&s, "4294967294:4294967295", 0), 1);
	assert_int_equal(seqset_resolve(&s, 1, true), 1);
	while (seqset_next(&s, &it, &n))
		k++;
	assert_int_equal(k, 2);
	seqset_free(&s);
}

static void test_format_unresolved(void **state)
{
	struct seqset s = SEQSET_INIT;
	struct buf b = BUF_INIT;
	assert_int_equal(parse(&s, "3,1:*,*:2", 0), 1);
	seqset_format(&s, &b);
	assert_string_equal(buf_cstr(&b), "3,1:*,*:2");
	buf_free(&b);
	seqset_free(&s);
}

static void test_add_keeps_order_and_compacts(void **state)
{
	/* Building COPYUID sets: source order kept, ascending runs merged. */
	struct seqset s = SEQSET_INIT;
	struct buf b = BUF_INIT;
	seqset_add(&s, 10, 10);
	seqset_add(&s, 11, 11);
	seqset_add(&s, 12, 14);
	seqset_add(&s, 3, 3);
	seqset_add(&s, 4, 4);
	seqset_add(&s, 4, 4); /* a repeat is kept: positions must pair up */
	seqset_format(&s, &b);
	assert_string_equal(buf_cstr(&b), "10:14,3:4,4");
	buf_free(&b);
	seqset_free(&s);
}

static void test_add_at_max_number(void **state)
{
	struct seqset s = SEQSET_INIT;
	struct buf b = BUF_INIT;
	seqset_add(&s, UINT32_MAX, UINT32_MAX);
	seqset_add(&s, 1, 1); /* UINT32_MAX + 1 must not wrap to 0 and merge */
	seqset_format(&s, &b);
	assert_string_equal(buf_cstr(&b), "4294967295,1");
	buf_free(&b);
	seqset_free(&s);
}

static void test_clear_and_reuse(void **state)
{
	struct seqset s = SEQSET_INIT;
	assert_int_equal(parse(&s, "1:3", 0), 1);
	seqset_clear(&s);
	assert_int_equal(s.count, 0);
	assert_int_equal(parse(&s, "8", 0), 1);
	assert_int_equal(s.count, 1);
	seqset_free(&s);
	assert_null(s.ranges);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_single_number),
	    cmocka_unit_test(test_range_and_list),
	    cmocka_unit_test(test_star_alone),
	    cmocka_unit_test(test_reversed_star_range),
	    cmocka_unit_test(test_reversed_range),
	    cmocka_unit_test(test_max_number),
	    cmocka_unit_test(test_number_too_large),
	    cmocka_unit_test(test_zero),
	    cmocka_unit_test(test_range_to_zero),
	    cmocka_unit_test(test_leading_zero),
	    cmocka_unit_test(test_syntax_errors),
	    cmocka_unit_test(test_huge_list_within_limit),
	    cmocka_unit_test(test_range_limit),
	    cmocka_unit_test(test_normalise_merges),
	    cmocka_unit_test(test_normalise_at_max_number),
	    cmocka_unit_test(test_uid_star_above_max),
	    cmocka_unit_test(test_uid_numbers_beyond_max_kept),
	    cmocka_unit_test(test_uid_star_empty_mailbox),
	    cmocka_unit_test(test_seq_out_of_range),
	    cmocka_unit_test(test_seq_star_empty_mailbox),
	    cmocka_unit_test(test_contains),
	    cmocka_unit_test(test_count_full_range),
	    cmocka_unit_test(test_iterate),
	    cmocka_unit_test(test_iterate_at_max_number),
	    cmocka_unit_test(test_format_unresolved),
	    cmocka_unit_test(test_add_keeps_order_and_compacts),
	    cmocka_unit_test(test_add_at_max_number),
	    cmocka_unit_test(test_clear_and_reuse),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
