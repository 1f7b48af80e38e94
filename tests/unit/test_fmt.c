/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* fmt: a name that does not fit is an error, a message that does not fit
 * shows its cut. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "base/fmt.h"

static void test_name_fits(void **state)
{
	(void)state;
	char out[8];
	assert_int_equal(fmt_name(out, sizeof(out), "%s/%d", "ab", 1234), 0);
	assert_string_equal(out, "ab/1234"); /* exactly 7 bytes and the NUL */
	assert_int_equal(fmt_name(out, sizeof(out), "%s", ""), 0);
	assert_string_equal(out, "");
}

static void test_name_cut_is_error(void **state)
{
	(void)state;
	char out[8];
	errno = 0;
	assert_int_equal(fmt_name(out, sizeof(out), "%s/%d", "ab", 12345), -1);
	assert_int_equal(errno, ENAMETOOLONG);
	assert_string_equal(out, ""); /* no prefix to use by mistake */
	errno = 0;
	assert_int_equal(fmt_name(out, 0, "x"), -1);
	assert_int_equal(errno, EINVAL);
	char one[1];
	assert_int_equal(fmt_name(one, sizeof(one), "x"), -1);
	assert_int_equal(one[0], '\0');
}

static void test_msg(void **state)
{
	(void)state;
	char out[8];
	fmt_msg(out, sizeof(out), "%s", "short");
	assert_string_equal(out, "short");
	fmt_msg(out, sizeof(out), "%s", "1234567");
	assert_string_equal(out, "1234567");
	fmt_msg(out, sizeof(out), "%s", "12345678");
	assert_string_equal(out, "1234...");
	fmt_msg(out, sizeof(out), "error %d: %s", 42, "something long");
	assert_string_equal(out, "erro...");
	char tiny[3];
	fmt_msg(tiny, sizeof(tiny), "%s", "abcdef");
	assert_string_equal(tiny, "ab");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_name_fits),
	    cmocka_unit_test(test_name_cut_is_error),
	    cmocka_unit_test(test_msg),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
