/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* conn: how a handler tells that systemd passed it listening sockets
 * (LISTEN_PID and LISTEN_FDS, sd_listen_fds(3)). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/fmt.h"
#include "sys/conn.h"

static char mypid[32];

/* A listening loopback socket on fd 3, where systemd puts the first one. */
static int setup(void **state)
{
	(void)state;
	int l = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	if (l < 0 || bind(l, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(l, 1) < 0)
		return -1;
	if (l != 3 && (dup2(l, 3) < 0 || close(l) < 0))
		return -1;
	/* A pid has at most 10 digits: it fits. */
	assert_int_equal(fmt_name(mypid, sizeof(mypid), "%ld", (long)getpid()), 0);
	return 0;
}

static bool passed(const char *pid, const char *fds)
{
	setenv("LISTEN_PID", pid, 1);
	setenv("LISTEN_FDS", fds, 1);
	return conn_listeners_passed();
}

static void test_listeners_passed(void **state)
{
	(void)state;
	assert_true(passed(mypid, "1"));
	assert_true(passed(mypid, "2"));
}

static void test_listeners_not_passed(void **state)
{
	(void)state;
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	assert_false(conn_listeners_passed());
	assert_false(passed("1", "1")); /* another process's sockets */
	assert_false(passed(mypid, "0"));
	assert_false(passed(mypid, ""));
	assert_false(passed(mypid, "-1"));
	assert_false(passed(mypid, "1x"));
	assert_false(passed(mypid, "x1"));
	assert_false(passed(mypid, "99999999999999999999"));
	assert_false(passed(mypid, "2147483647")); /* fds would pass INT_MAX */
	assert_false(passed("", "1"));
	assert_false(passed("0", "1"));
	assert_false(passed("-1", "1"));
	assert_false(passed("99999999999999999999", "1"));
	char pidx[40];
	assert_int_equal(fmt_name(pidx, sizeof(pidx), "%sx", mypid), 0); /* fits: see setup */
	assert_false(passed(pidx, "1"));
}

/* A pid and count that parse but an fd 3 that is no listening socket. */
static void test_fd3_not_listening(void **state)
{
	(void)state;
	int saved = dup(3);
	assert_true(saved >= 0);
	int s = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(s >= 0);
	assert_int_equal(dup2(s, 3), 3);
	close(s);
	assert_false(passed(mypid, "1"));
	assert_int_equal(dup2(saved, 3), 3);
	close(saved);
	assert_true(passed(mypid, "1"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_listeners_passed),
	    cmocka_unit_test(test_listeners_not_passed),
	    cmocka_unit_test(test_fd3_not_listening),
	};
	return cmocka_run_group_tests(tests, setup, NULL);
}
