/* SPDX-License-Identifier: AGPL-3.0-or-later */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sys/conf.h"
#include "sys/proclimit.h"

static void test_back_limit_follows_max_message_size(void **state)
{
	(void)state;
	struct conf *c = conf_new();
	uint64_t small, big;
	c->max_message_size = 10u << 20;
	small = proclimit_as_bytes(PROCLIMIT_BACK, c);
	c->max_message_size = 50u << 20;
	big = proclimit_as_bytes(PROCLIMIT_BACK, c);
	assert_true(big > small);
	/* The back holds at least the message and its sealed copy. */
	assert_true(big - small >= 2 * (40u << 20));
	assert_true(big > 2 * c->max_message_size);
	assert_true(proclimit_as_bytes(PROCLIMIT_FRONT, c) < big);
	conf_free(&c);
}

#if !defined(SEALMAIL_SAN) && !defined(__SANITIZE_ADDRESS__)
/* In a child: apply, then report the limit (1 as asked, 2 other). */
static int child_limit(rlim_t before, rlim_t want_max)
{
	pid_t pid = fork();
	if (pid == 0) {
		struct conf *c = conf_new();
		struct rlimit rl = {before, before};
		if (before != RLIM_INFINITY && setrlimit(RLIMIT_AS, &rl) < 0)
			_exit(3);
		if (proclimit_apply(PROCLIMIT_FRONT, c) < 0 || getrlimit(RLIMIT_AS, &rl) < 0)
			_exit(4);
		_exit(rl.rlim_max == want_max && rl.rlim_cur == want_max ? 1 : 2);
	}
	int st;
	if (pid < 0 || waitpid(pid, &st, 0) != pid || !WIFEXITED(st))
		return -1;
	return WEXITSTATUS(st);
}
#endif

static void test_apply_lowers_and_never_raises(void **state)
{
	(void)state;
#if defined(SEALMAIL_SAN) || defined(__SANITIZE_ADDRESS__)
	skip();
#else
	struct conf *c = conf_new();
	rlim_t front = (rlim_t)proclimit_as_bytes(PROCLIMIT_FRONT, c);
	conf_free(&c);
	struct rlimit rl;
	assert_int_equal(getrlimit(RLIMIT_AS, &rl), 0);
	if (rl.rlim_max != RLIM_INFINITY)
		skip();
	assert_int_equal(child_limit(RLIM_INFINITY, front), 1);
	/* A lower limit set before (LimitAS=) stays. */
	assert_int_equal(child_limit(front / 2, front / 2), 1);
#endif
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_back_limit_follows_max_message_size),
	    cmocka_unit_test(test_apply_lowers_and_never_raises),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
