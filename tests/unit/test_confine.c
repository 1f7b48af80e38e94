/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* confine: the TCP port a Redis spec opens in the Landlock network rules. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "svc/confine.h"

static void test_port_of(void **state)
{
	(void)state;
	assert_int_equal(confine_port_of("127.0.0.1:6379"), 6379);
	assert_int_equal(confine_port_of("redis.example:1"), 1);
	assert_int_equal(confine_port_of("redis.example:65535"), 65535);
	assert_int_equal(confine_port_of("::1:6380"), 6380);
}

static void test_no_port(void **state)
{
	(void)state;
	assert_int_equal(confine_port_of("unix:/run/redis.sock"), 0);
	assert_int_equal(confine_port_of("unix:/run/a:1"), 0);
	assert_int_equal(confine_port_of("localhost"), 0);
	assert_int_equal(confine_port_of("localhost:"), 0);
	assert_int_equal(confine_port_of("localhost:0"), 0);
	assert_int_equal(confine_port_of("localhost:65536"), 0);
	assert_int_equal(confine_port_of("localhost:71915"), 0); /* not 6379 wrapped */
	assert_int_equal(confine_port_of("localhost:-6379"), 0);
	assert_int_equal(confine_port_of("localhost:6379x"), 0);
	assert_int_equal(confine_port_of("localhost:6379 "), 0);
	assert_int_equal(confine_port_of("localhost:99999999999999999999"), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_port_of),
	    cmocka_unit_test(test_no_port),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
