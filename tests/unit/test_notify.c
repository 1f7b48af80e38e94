/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* notify against a real redis-server on a private unix socket, and against
 * a fake server for the replies a real one gives only when misconfigured. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/fmt.h"
#include "svc/notify.h"

static char dir[64];
static char sock[128];
static pid_t redis_pid = -1;

static void wait_for_socket(const char *path)
{
	for (int i = 0; i < 500; i++) {
		struct stat st;
		if (stat(path, &st) == 0 && S_ISSOCK(st.st_mode))
			return;
		struct timespec ts = {0, 10 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
}

static int setup(void **state)
{
	(void)state;
	assert_int_equal(fmt_name(dir, sizeof(dir), "/tmp/test_notify.XXXXXX"), 0);
	if (mkdtemp(dir) == NULL)
		return -1;
	assert_int_equal(fmt_name(sock, sizeof(sock), "%s/redis.sock", dir), 0);
	redis_pid = fork();
	if (redis_pid == 0) {
		int null = open("/dev/null", O_WRONLY);
		dup2(null, 1);
		execlp("redis-server", "redis-server", "--port", "0", "--unixsocket", sock,
		       "--save", "", "--appendonly", "no", "--dir", dir, (char *)NULL);
		_exit(127);
	}
	wait_for_socket(sock);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	if (redis_pid > 0) {
		kill(redis_pid, SIGTERM);
		waitpid(redis_pid, NULL, 0);
	}
	char cmd[128];
	assert_int_equal(fmt_name(cmd, sizeof(cmd), "rm -rf %s", dir), 0);
	return system(cmd) == 0 ? 0 : -1;
}

static struct notify *connect_to(const char *path)
{
	char spec[160];
	assert_int_equal(fmt_name(spec, sizeof(spec), "unix:%s", path), 0);
	return notify_new(spec);
}

/* One message from a subscriber, waiting up to 2 s; 1 or 0. */
static int next_message(struct notify *sub, char *msg, size_t msgsz)
{
	for (int i = 0; i < 20; i++) {
		int r = notify_read(sub, msg, msgsz);
		if (r != 0)
			return r;
		struct pollfd p = {notify_fd(sub), POLLIN, 0};
		poll(&p, 1, 100);
	}
	return 0;
}

static void test_publish_reaches_subscribers(void **state)
{
	(void)state;
	struct notify *a = connect_to(sock), *b = connect_to(sock), *pub = connect_to(sock);
	assert_int_equal(notify_subscribe(a, "aaaa"), 0);
	assert_int_equal(notify_subscribe(b, "bbbb"), 0);
	char msg[NOTIFY_MSG_MAX];
	assert_int_equal(notify_publish(pub, "aaaa", "new"), 0);
	assert_int_equal(next_message(a, msg, sizeof(msg)), 1);
	assert_string_equal(msg, "new");
	/* Several at once, in one round trip; a message with a space. */
	const char *ids[] = {"bbbb", "aaaa", "cccc"};
	assert_int_equal(notify_publish_many(pub, ids, 3, "changed 42"), 0);
	assert_int_equal(next_message(b, msg, sizeof(msg)), 1);
	assert_string_equal(msg, "changed 42");
	assert_int_equal(next_message(a, msg, sizeof(msg)), 1);
	assert_string_equal(msg, "changed 42");
	/* The connection stays usable. */
	for (int i = 0; i < 100; i++)
		assert_int_equal(notify_publish(pub, "aaaa", "new"), 0);
	for (int i = 0; i < 100; i++)
		assert_int_equal(next_message(a, msg, sizeof(msg)), 1);
	notify_free(&a);
	notify_free(&b);
	notify_free(&pub);
}

/* A message longer than the reader's buffer is skipped whole, never cut
 * (a cut "changed <modseq>" would name another modseq). */
static void test_overlong_message_skipped(void **state)
{
	(void)state;
	struct notify *a = connect_to(sock), *pub = connect_to(sock);
	assert_int_equal(notify_subscribe(a, "aaaa"), 0);
	char lng[NOTIFY_MSG_MAX + 16], msg[NOTIFY_MSG_MAX];
	memset(lng, '7', sizeof(lng) - 1);
	memcpy(lng, "changed ", 8);
	lng[sizeof(lng) - 1] = '\0';
	assert_int_equal(notify_publish(pub, "aaaa", lng), 0);
	assert_int_equal(notify_publish(pub, "aaaa", "changed 5"), 0);
	assert_int_equal(next_message(a, msg, sizeof(msg)), 1);
	assert_string_equal(msg, "changed 5");
	notify_free(&a);
	notify_free(&pub);
}

/* A server that reads one command and answers with reply. */
static pid_t fake_server(const char *path, const char *reply)
{
	int l = socket(AF_UNIX, SOCK_STREAM, 0);
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	assert_int_equal(fmt_name(sa.sun_path, sizeof(sa.sun_path), "%s", path), 0);
	unlink(path);
	assert_int_equal(bind(l, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(l, 1), 0);
	pid_t pid = fork();
	if (pid == 0) {
		int c = accept(l, NULL, NULL);
		char buf[512];
		ssize_t k = read(c, buf, sizeof(buf));
		if (reply != NULL && strcmp(reply, "hang") == 0)
			pause();
		if (k > 0 && reply != NULL && write(c, reply, strlen(reply)) < 0)
			_exit(1);
		_exit(0);
	}
	close(l);
	return pid;
}

static void expect_failure(const char *reply)
{
	char path[160];
	assert_int_equal(fmt_name(path, sizeof(path), "%s/fake.sock", dir), 0);
	pid_t pid = fake_server(path, reply);
	struct notify *pub = connect_to(path);
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(notify_publish(pub, "aaaa", "new"), -1);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	/* Bounded by the timeout, and the connection is given up. */
	assert_true(t1.tv_sec - t0.tv_sec < 3);
	assert_int_equal(notify_fd(pub), -1);
	assert_int_equal(notify_publish(pub, "aaaa", "new"), -1);
	notify_free(&pub);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

static void test_error_reply_drops_the_connection(void **state)
{
	(void)state;
	expect_failure("-NOAUTH Authentication required.\r\n");
}

static void test_odd_reply_drops_the_connection(void **state)
{
	(void)state;
	expect_failure("+OK\r\n");
	expect_failure(":1\r\n:2\r\n");
	expect_failure(":1"); /* then closed */
	expect_failure(NULL); /* closed without a reply */
}

static void test_silent_server_times_out(void **state)
{
	(void)state;
	expect_failure("hang");
}

/* "host:port": the port is a decimal number from 1 to 65535, the host is
 * neither empty nor cut; anything else is refused before connecting. */
static void test_tcp_spec(void **state)
{
	(void)state;
	int l = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t sl = sizeof(sa);
	assert_int_equal(bind(l, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(l, 8), 0);
	assert_int_equal(getsockname(l, (struct sockaddr *)&sa, &sl), 0);
	unsigned port = ntohs(sa.sin_port);
	char spec[400], longhost[300];
	memset(longhost, 'h', sizeof(longhost) - 1);
	longhost[sizeof(longhost) - 1] = '\0';
	/* Every spec below fits in spec[] (at most 300 + 7 bytes). */
	assert_int_equal(fmt_name(spec, sizeof(spec), "127.0.0.1:%u", port), 0);
	struct notify *n = notify_new(spec);
	assert_int_equal(notify_connect(n), 0);
	notify_free(&n);
	/* The listener's port with something before and after it. */
	static const char *const around[][2] = {{"127.0.0.1:", "0000000000000000000"},
	                                        {"127.0.0.1:-", ""},
	                                        {"127.0.0.1:", " "},
	                                        {"127.0.0.1:+", "x"},
	                                        {":", ""}};
	for (size_t i = 0; i < sizeof(around) / sizeof(around[0]); i++) {
		assert_int_equal(
		    fmt_name(spec, sizeof(spec), "%s%u%s", around[i][0], port, around[i][1]), 0);
		n = notify_new(spec);
		assert_int_equal(notify_connect(n), -1);
		notify_free(&n);
	}
	/* A port above 65535 would wrap onto the listener's. */
	assert_int_equal(fmt_name(spec, sizeof(spec), "127.0.0.1:%u", port + 65536), 0);
	const char *more[] = {spec, "127.0.0.1:", "127.0.0.1:0", "127.0.0.1:65536", longhost};
	for (size_t i = 0; i < sizeof(more) / sizeof(more[0]); i++) {
		n = notify_new(more[i]);
		assert_int_equal(notify_connect(n), -1);
		notify_free(&n);
	}
	close(l);
}

static void test_parse_integer(void **state)
{
	(void)state;
	static const struct {
		const char *in;
		int r;
		size_t used;
	} cases[] = {
	    {"", 0, 0},
	    {":", 0, 0},
	    {":1", 0, 0},
	    {":1\r", 0, 0},
	    {":1\r\n", 1, 4},
	    {":-5\r\n", 1, 5},
	    {":1\r\n:2\r\n", 1, 4},
	    {":12345678901234567890\r\n", 1, 23},
	    {":123456789012345678901\r\n", -1, 0},
	    {":\r\n", -1, 0},
	    {":-\r\n", -1, 0},
	    {":1\n", -1, 0},
	    {":1\rx", -1, 0},
	    {":1x", -1, 0},
	    {"+OK\r\n", -1, 0},
	    {"-ERR no\r\n", -1, 0},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t used = 99;
		int r = notify_parse_integer(cases[i].in, strlen(cases[i].in), &used);
		if (r != cases[i].r || used != cases[i].used)
			fprintf(stderr, "case %zu: %d/%zu\n", i, r, used);
		assert_int_equal(r, cases[i].r);
		assert_int_equal(used, cases[i].used);
	}
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse_integer),
	    cmocka_unit_test(test_tcp_spec),
	    cmocka_unit_test(test_publish_reaches_subscribers),
	    cmocka_unit_test(test_overlong_message_skipped),
	    cmocka_unit_test(test_error_reply_drops_the_connection),
	    cmocka_unit_test(test_odd_reply_drops_the_connection),
	    cmocka_unit_test(test_silent_server_times_out),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
