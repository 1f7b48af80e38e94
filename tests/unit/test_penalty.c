/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* The login penalty: source keys (IPv6 /64 grouping), the back-off steps,
 * the host table (turns, window expiry, eviction), the table shared
 * through its file between processes, and the Redis store against a real
 * redis-server (turns, refusal, keyed names, falling back to the table
 * when it goes away). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/fmt.h"
#include "svc/penalty.h"
#include "sys/conf.h"

static const struct penalty_policy pol = {
    .base_ms = 2000, .max_ms = 15000, .account_max_ms = 5000, .window_ms = 900000};

/* A table with a fixed key, so that every run probes the same slots. */
static struct penalty_table *table_new(void)
{
	struct penalty_table *t = calloc(1, PENALTY_TABLE_SIZE);
	assert_non_null(t);
	t->magic = PENALTY_TABLE_MAGIC;
	t->nslots = PENALTY_TABLE_SLOTS;
	memset(t->key, 0x5a, sizeof(t->key));
	return t;
}

static void src(const char *remote, char *out)
{
	assert_int_equal(penalty_source_key(remote, out, PENALTY_SOURCE_MAX), 0);
}

static void test_source_v4_exact(void **state)
{
	(void)state;
	char a[PENALTY_SOURCE_MAX], b[PENALTY_SOURCE_MAX];
	src("192.0.2.1", a);
	src("192.0.2.2", b);
	assert_string_equal(a, "4:192.0.2.1");
	assert_string_not_equal(a, b);
	/* IPv4-mapped IPv6 is the IPv4 address (a dual-stack listener). */
	src("::ffff:192.0.2.1", b);
	assert_string_equal(a, b);
}

static void test_source_v6_slash64(void **state)
{
	(void)state;
	char a[PENALTY_SOURCE_MAX], b[PENALTY_SOURCE_MAX], c[PENALTY_SOURCE_MAX];
	src("2001:db8:1:2::1", a);
	src("2001:db8:1:2:ffff:eeee:dddd:5", b);
	src("2001:db8:1:3::1", c);
	assert_string_equal(a, "6:20010db800010002/64");
	assert_string_equal(a, b);
	assert_string_not_equal(a, c);
}

static void test_source_other(void **state)
{
	(void)state;
	char a[PENALTY_SOURCE_MAX];
	src("unix", a);
	assert_string_equal(a, "x:unix");
	char tiny[4];
	assert_int_equal(penalty_source_key("192.0.2.1", tiny, sizeof(tiny)), -1);
}

static void test_step(void **state)
{
	(void)state;
	assert_int_equal(penalty_step(&pol, 0, 15000), 0);
	assert_int_equal(penalty_step(&pol, 1, 15000), 2000);
	assert_int_equal(penalty_step(&pol, 2, 15000), 4000);
	assert_int_equal(penalty_step(&pol, 3, 15000), 8000);
	assert_int_equal(penalty_step(&pol, 4, 15000), 15000);
	assert_int_equal(penalty_step(&pol, UINT32_MAX, 15000), 15000);
	assert_int_equal(penalty_step(&pol, 3, 5000), 5000);
	struct penalty_policy off = pol;
	off.base_ms = 0;
	assert_int_equal(penalty_step(&off, 5, 15000), 0);
}

/* After a failure the next attempt waits one step; attempts at the same
 * moment (parallel connections) get turns one step apart. */
static void test_table_turns(void **state)
{
	(void)state;
	struct penalty_table *t = table_new();
	unsigned f;
	bool beyond;
	int64_t now = 1000000;
	assert_int_equal(penalty_table_begin(t, &pol, 's', "4:192.0.2.1", 15000, now, &f, &beyond),
	                 0);
	assert_int_equal(f, 0);
	penalty_table_fail(t, &pol, 's', "4:192.0.2.1", 15000, now);
	assert_int_equal(penalty_table_begin(t, &pol, 's', "4:192.0.2.1", 15000, now, &f, &beyond),
	                 2000);
	assert_int_equal(f, 1);
	assert_false(beyond);
	assert_int_equal(penalty_table_begin(t, &pol, 's', "4:192.0.2.1", 15000, now, &f, &beyond),
	                 4000);
	assert_int_equal(penalty_table_begin(t, &pol, 's', "4:192.0.2.1", 15000, now, &f, &beyond),
	                 6000);
	/* ... until the turn is further off than the cap. */
	uint64_t w = 0;
	for (int i = 0; i < 10 && !beyond; i++)
		w = penalty_table_begin(t, &pol, 's', "4:192.0.2.1", 15000, now, &f, &beyond);
	assert_true(beyond);
	assert_int_equal(w, 15000);
	/* Another source is not slowed. */
	assert_int_equal(penalty_table_begin(t, &pol, 's', "4:192.0.2.2", 15000, now, &f, &beyond),
	                 0);
	free(t);
}

static void test_table_doubling(void **state)
{
	(void)state;
	struct penalty_table *t = table_new();
	unsigned f;
	bool beyond;
	int64_t now = 5000;
	static const uint64_t want[] = {2000, 4000, 8000, 15000, 15000};
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		penalty_table_fail(t, &pol, 's', "4:198.51.100.7", 15000, now);
		uint64_t w =
		    penalty_table_begin(t, &pol, 's', "4:198.51.100.7", 15000, now, &f, &beyond);
		assert_int_equal(w, want[i]);
		now += (int64_t)w; /* the attempt runs at its turn, and fails */
	}
	free(t);
}

static void test_table_account_case(void **state)
{
	(void)state;
	struct penalty_table *t = table_new();
	penalty_table_fail(t, &pol, 'a', "Bob@Example.TEST", 5000, 100);
	assert_int_equal(penalty_table_failures(t, &pol, 'a', "bob@example.test", 100), 1);
	/* A source and an account with the same text are different entries. */
	assert_int_equal(penalty_table_failures(t, &pol, 's', "bob@example.test", 100), 0);
	free(t);
}

static void test_table_window(void **state)
{
	(void)state;
	struct penalty_table *t = table_new();
	unsigned f;
	bool beyond;
	penalty_table_fail(t, &pol, 's', "4:192.0.2.9", 15000, 1000);
	penalty_table_fail(t, &pol, 's', "4:192.0.2.9", 15000, 2000);
	assert_int_equal(penalty_table_failures(t, &pol, 's', "4:192.0.2.9", 2000 + 900000), 2);
	/* A window after the last failure, all is forgotten. */
	assert_int_equal(penalty_table_failures(t, &pol, 's', "4:192.0.2.9", 2001 + 900000), 0);
	assert_int_equal(
	    penalty_table_begin(t, &pol, 's', "4:192.0.2.9", 15000, 2001 + 900000, &f, &beyond), 0);
	/* and a new failure starts again at one. */
	penalty_table_fail(t, &pol, 's', "4:192.0.2.9", 15000, 3000 + 900000);
	assert_int_equal(penalty_table_failures(t, &pol, 's', "4:192.0.2.9", 3000 + 900000), 1);
	free(t);
}

static void test_table_clear(void **state)
{
	(void)state;
	struct penalty_table *t = table_new();
	penalty_table_fail(t, &pol, 's', "4:192.0.2.3", 15000, 50);
	penalty_table_fail(t, &pol, 'a', "carol@example.test", 5000, 50);
	penalty_table_clear(t, 's', "4:192.0.2.3");
	assert_int_equal(penalty_table_failures(t, &pol, 's', "4:192.0.2.3", 60), 0);
	assert_int_equal(penalty_table_failures(t, &pol, 'a', "carol@example.test", 60), 1);
	free(t);
}

/* More sources than slots: the table stays bounded, recent entries stay,
 * the oldest go. */
static void test_table_eviction(void **state)
{
	(void)state;
	struct penalty_table *t = table_new();
	char key[PENALTY_SOURCE_MAX];
	const unsigned n = 2 * PENALTY_TABLE_SLOTS;
	for (unsigned i = 0; i < n; i++) {
		assert_int_equal(
		    fmt_name(key, sizeof(key), "4:10.%u.%u.%u", i >> 16, (i >> 8) & 255, i & 255),
		    0);
		penalty_table_fail(t, &pol, 's', key, 15000, 1000 + i);
	}
	unsigned old = 0, recent = 0;
	for (unsigned i = 0; i < 256; i++) {
		assert_int_equal(
		    fmt_name(key, sizeof(key), "4:10.%u.%u.%u", i >> 16, (i >> 8) & 255, i & 255),
		    0);
		old += penalty_table_failures(t, &pol, 's', key, 1000 + n);
		unsigned j = n - 1 - i;
		assert_int_equal(
		    fmt_name(key, sizeof(key), "4:10.%u.%u.%u", j >> 16, (j >> 8) & 255, j & 255),
		    0);
		recent += penalty_table_failures(t, &pol, 's', key, 1000 + n);
	}
	assert_int_equal(old, 0);
	assert_int_equal(recent, 256);
	free(t);
}

/* Through the file in run_dir: a failure recorded by one process slows
 * the next attempt in another, for the same source. */
static void test_shared_file(void **state)
{
	(void)state;
	char dir[] = "/tmp/penalty-test-XXXXXX";
	assert_non_null(mkdtemp(dir));
	struct conf *c = conf_new();
	const char *err;
	assert_int_equal(conf_set(c, "run_dir", dir, &err), 0);
	assert_int_equal(conf_set(c, "auth_penalty_base", "300ms", &err), 0);
	struct penalty *p = penalty_open(c, -1);
	assert_non_null(p);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct penalty *q = penalty_open(c, -1);
		penalty_fail(q, "2001:db8::1", "dave@example.test");
		penalty_close(&q);
		_exit(0);
	}
	int st;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	struct penalty_verdict v;
	penalty_begin(p, "2001:db8::99", "someone@example.test", &v); /* same /64 */
	assert_string_equal(v.store, "local");
	assert_int_equal(v.source_failures, 1);
	assert_true(v.wait_ms > 0 && v.wait_ms <= 300);
	assert_false(v.refuse);
	penalty_begin(p, "2001:db8:0:1::1", "dave@example.test", &v); /* another /64 */
	assert_int_equal(v.source_failures, 0);
	assert_int_equal(v.account_failures, 1);
	assert_true(v.wait_ms > 0 && v.wait_ms <= 300);
	penalty_success(p, "2001:db8::5");
	penalty_begin(p, "2001:db8::1", "eve@example.test", &v);
	assert_int_equal(v.source_failures, 0);
	assert_int_equal(v.wait_ms, 0);
	penalty_close(&p);
	assert_null(p);
	/* Off: no handle at all. */
	assert_int_equal(conf_set(c, "auth_penalty_base", "0", &err), 0);
	assert_null(penalty_open(c, -1));
	char path[256];
	assert_int_equal(fmt_name(path, sizeof(path), "%s/%s", dir, PENALTY_TABLE_FILE), 0);
	unlink(path);
	rmdir(dir);
	conf_free(&c);
}

/* ---- Redis: a private redis-server on a unix socket ---- */

static char rdir[64], rsock[128];
static pid_t redis_pid = -1;

static int redis_setup(void **state)
{
	(void)state;
	assert_int_equal(fmt_name(rdir, sizeof(rdir), "/tmp/test_penalty.XXXXXX"), 0);
	if (mkdtemp(rdir) == NULL)
		return -1;
	assert_int_equal(fmt_name(rsock, sizeof(rsock), "%s/redis.sock", rdir), 0);
	redis_pid = fork();
	if (redis_pid == 0) {
		int null = open("/dev/null", O_WRONLY);
		dup2(null, 1);
		execlp("redis-server", "redis-server", "--port", "0", "--unixsocket", rsock,
		       "--save", "", "--appendonly", "no", "--dir", rdir, (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 500; i++) {
		struct stat st;
		if (stat(rsock, &st) == 0 && S_ISSOCK(st.st_mode))
			return 0;
		struct timespec ts = {0, 10 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
	return -1;
}

static void redis_stop(void)
{
	if (redis_pid > 0) {
		kill(redis_pid, SIGTERM);
		waitpid(redis_pid, NULL, 0);
		redis_pid = -1;
	}
}

static int redis_teardown(void **state)
{
	(void)state;
	redis_stop();
	char cmd[128];
	assert_int_equal(fmt_name(cmd, sizeof(cmd), "rm -rf %s", rdir), 0);
	return system(cmd) == 0 ? 0 : -1;
}

/* A configuration on the private Redis, run_dir and state_dir in rdir. */
static struct conf *redis_conf(void)
{
	struct conf *c = conf_new();
	char spec[160];
	const char *err;
	assert_int_equal(fmt_name(spec, sizeof(spec), "unix:%s", rsock), 0);
	assert_int_equal(conf_set(c, "redis", spec, &err), 0);
	assert_int_equal(conf_set(c, "run_dir", rdir, &err), 0);
	assert_int_equal(conf_set(c, "auth_penalty_base", "10s", &err), 0);
	assert_int_equal(conf_set(c, "auth_penalty_max", "30s", &err), 0);
	assert_int_equal(conf_set(c, "auth_penalty_account_max", "5s", &err), 0);
	return c;
}

/* The whole output of a redis-cli command on the private server. */
static void redis_cli(const char *args, char *out, size_t outsz)
{
	char cmd[512];
	assert_int_equal(fmt_name(cmd, sizeof(cmd), "redis-cli -s %s %s", rsock, args), 0);
	FILE *f = popen(cmd, "r");
	assert_non_null(f);
	size_t n = fread(out, 1, outsz - 1, f);
	out[n] = '\0';
	pclose(f);
}

/* Turns in Redis: parallel attempts one step apart, then refused; the
 * account only waits; the keys are HMACs; a success clears the source. */
static void test_redis_turns(void **state)
{
	(void)state;
	struct conf *c = redis_conf();
	int sfd = open(rdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	struct penalty *p = penalty_open(c, sfd);
	struct penalty_verdict v;
	penalty_fail(p, "192.0.2.50", "Frank@Example.TEST");
	penalty_begin(p, "192.0.2.50", "other@example.test", &v);
	assert_string_equal(v.store, "redis");
	assert_int_equal(v.source_failures, 1);
	assert_true(v.wait_ms > 9000 && v.wait_ms <= 10000);
	penalty_begin(p, "192.0.2.50", "other@example.test", &v);
	assert_true(v.wait_ms > 19000 && v.wait_ms <= 20000);
	assert_false(v.refuse);
	penalty_begin(p, "192.0.2.50", "other@example.test", &v);
	assert_true(v.wait_ms > 29000 && v.wait_ms <= 30000);
	penalty_begin(p, "192.0.2.50", "other@example.test", &v);
	assert_true(v.refuse);
	assert_int_equal(v.wait_ms, 30000);
	/* The account, from elsewhere and in another case: capped, never
	 * refused. */
	for (int i = 0; i < 4; i++) {
		penalty_begin(p, "198.51.100.1", "frank@example.test", &v);
		assert_int_equal(v.account_failures, 1);
		assert_true(v.wait_ms > 0 && v.wait_ms <= 5000);
		assert_false(v.refuse);
	}
	char out[4096];
	redis_cli("--scan --pattern 'sealmail:pen:*'", out, sizeof(out));
	assert_null(strstr(out, "192.0.2"));
	assert_null(strstr(out, "rank"));
	assert_int_equal(strlen(out), 2 * (strlen("sealmail:pen:") + 64 + 1));
	penalty_success(p, "192.0.2.50");
	penalty_begin(p, "192.0.2.50", "other@example.test", &v);
	assert_int_equal(v.source_failures, 0);
	assert_int_equal(v.wait_ms, 0);
	/* The key was made on first use, for the service user only. */
	struct stat st;
	assert_int_equal(fstatat(sfd, PENALTY_KEY_FILE, &st, 0), 0);
	assert_int_equal(st.st_size, PENALTY_KEY_LEN);
	assert_int_equal(st.st_mode & 0777, 0600);
	penalty_close(&p);
	close(sfd);
	conf_free(&c);
}

/* Redis going away in the middle: the table takes over at once. */
static void test_redis_gone(void **state)
{
	(void)state;
	struct conf *c = redis_conf();
	int sfd = open(rdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	struct penalty *p = penalty_open(c, sfd);
	struct penalty_verdict v;
	penalty_begin(p, "192.0.2.60", "gina@example.test", &v);
	assert_string_equal(v.store, "redis");
	redis_stop();
	penalty_fail(p, "192.0.2.60", "gina@example.test");
	penalty_begin(p, "192.0.2.60", "gina@example.test", &v);
	assert_string_equal(v.store, "local");
	assert_int_equal(v.source_failures, 1);
	assert_true(v.wait_ms > 0);
	penalty_close(&p);
	/* A new process with Redis down: the table, no error. */
	p = penalty_open(c, sfd);
	penalty_begin(p, "192.0.2.60", "gina@example.test", &v);
	assert_string_equal(v.store, "local");
	assert_int_equal(v.source_failures, 1);
	penalty_close(&p);
	close(sfd);
	conf_free(&c);
}

int main(void)
{
	if (sodium_init() < 0)
		return 1;
	/* As in every handler (conn_serve): a write to a Redis that went away
	 * is an error, not a signal. */
	signal(SIGPIPE, SIG_IGN);
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_source_v4_exact),    cmocka_unit_test(test_source_v6_slash64),
	    cmocka_unit_test(test_source_other),       cmocka_unit_test(test_step),
	    cmocka_unit_test(test_table_turns),        cmocka_unit_test(test_table_doubling),
	    cmocka_unit_test(test_table_account_case), cmocka_unit_test(test_table_window),
	    cmocka_unit_test(test_table_clear),        cmocka_unit_test(test_table_eviction),
	    cmocka_unit_test(test_shared_file),
	};
	const struct CMUnitTest redis_tests[] = {
	    cmocka_unit_test(test_redis_turns),
	    cmocka_unit_test(test_redis_gone),
	};
	int r = cmocka_run_group_tests(tests, NULL, NULL);
	return r + cmocka_run_group_tests(redis_tests, redis_setup, redis_teardown);
}
