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
#include <string.h>
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

static bool key_of(const char *text, unsigned char key[16])
{
	struct sockaddr_storage ss;
	memset(&ss, 0, sizeof(ss));
	if (strchr(text, ':') == NULL) {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
		s4->sin_family = AF_INET;
		assert_int_equal(inet_pton(AF_INET, text, &s4->sin_addr), 1);
		return conn_source_key(&ss, sizeof(*s4), key);
	}
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
	s6->sin6_family = AF_INET6;
	assert_int_equal(inet_pton(AF_INET6, text, &s6->sin6_addr), 1);
	return conn_source_key(&ss, sizeof(*s6), key);
}

static bool same_source(const char *a, const char *b)
{
	unsigned char ka[16], kb[16];
	assert_true(key_of(a, ka));
	assert_true(key_of(b, kb));
	return memcmp(ka, kb, 16) == 0;
}

/* IPv4 addresses count exactly, IPv6 ones by /64; an IPv4-mapped address
 * (a dual-stack socket) is the IPv4 address. */
static void test_source_keys(void **state)
{
	(void)state;
	assert_true(same_source("192.0.2.7", "192.0.2.7"));
	assert_false(same_source("192.0.2.7", "192.0.2.8"));
	assert_true(same_source("192.0.2.7", "::ffff:192.0.2.7"));
	assert_true(same_source("2001:db8:1:2::1", "2001:db8:1:2:ffff:ffff:ffff:ffff"));
	assert_false(same_source("2001:db8:1:2::1", "2001:db8:1:3::1"));
	assert_false(same_source("::ffff:192.0.2.7", "::ffff:192.0.2.8"));
	struct sockaddr_storage ss;
	unsigned char k[16];
	memset(&ss, 0, sizeof(ss));
	ss.ss_family = AF_UNIX;
	assert_false(conn_source_key(&ss, sizeof(ss), k));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_listeners_passed),
	    cmocka_unit_test(test_listeners_not_passed),
	    cmocka_unit_test(test_fd3_not_listening),
	    cmocka_unit_test(test_source_keys),
	};
	return cmocka_run_group_tests(tests, setup, NULL);
}
