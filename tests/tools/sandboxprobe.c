/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* sandboxprobe: enter a sandbox profile, then try actions and report each
 * outcome on stdout, for tests/integration/test_sandbox.py:
 *
 *   sandboxprobe [OPTIONS] ACTION [ARG...] [-- ACTION [ARG...]]...
 *     -p PROFILE   preauth-front | auth | postauth | mx | accept | none
 *     -s DIR       state directory (standard rules of the profile)
 *     -u ID        user id (postauth: users/ID/)
 *     -P PORT      TCP port Landlock lets us connect to (repeatable)
 *     -L           Landlock layer only (no seccomp), to see Landlock's errno
 *     -t           print the time sandbox_enter took ("enter-us: N")
 *
 * Each action prints "NAME: ok [detail]" or "NAME: ERRNO-NAME detail"; a
 * forbidden syscall kills the process with SIGSYS instead. Setup that must
 * happen before the sandbox (TLS keys, a client process) is done for every
 * action first. Exit status: 0 all ok, 1 some action failed, 2 usage, 3 setup.
 * Trust: test tool. */
#include <bsd/stdlib.h>
#include <limits.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <malloc.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <systemd/sd-journal.h>
#include <time.h>
#include <unistd.h>

#include "base/fmt.h"
#include "sys/log.h"
#include "sandbox.h"
#include "sys/tls.h"

#define MAX_ACTIONS 16
#define MAX_ARGS    4
#define MAX_PORTS   8

struct action {
	const char *name;
	const char *arg[MAX_ARGS];
	int nargs;
	/* prepared before the sandbox */
	SSL_CTX *ctx;
	int fd;
};

static int failures;

static void out(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void out(const char *fmt, ...)
{
	char line[512];
	va_list ap;
	va_start(ap, fmt);
	/* A line too long is cut and ends in "...": the test reading it then
	 * fails to match it rather than read a silently shortened result. */
	fmt_vmsg(line, sizeof(line), fmt, ap);
	va_end(ap);
	size_t len = strlen(line);
	if (len > 0 && line[len - 1] != '\n' && len == sizeof(line) - 1)
		line[len - 1] = '\n';
	ssize_t w = write(1, line, len);
	(void)w;
}

static void report(const struct action *a, int rc, int err, const char *detail)
{
	if (rc == 0) {
		out("%s: ok%s%s\n", a->name, detail ? " " : "", detail ? detail : "");
		return;
	}
	failures++;
	const char *en = err ? strerrorname_np(err) : NULL;
	out("%s: %s %s\n", a->name, en ? en : "FAIL", detail ? detail : (err ? strerror(err) : ""));
}

static void act_open(struct action *a, int flags)
{
	int fd = open(a->arg[0], flags | O_CLOEXEC, 0600);
	int e = errno;
	if (fd >= 0 && (flags & O_ACCMODE) != O_RDONLY && write(fd, "x", 1) != 1) {
		e = errno;
		close(fd);
		fd = -1;
	}
	if (fd >= 0)
		close(fd);
	report(a, fd >= 0 ? 0 : -1, e, NULL);
}

static void act_listdir(struct action *a)
{
	DIR *d = opendir(a->arg[0]);
	if (d == NULL) {
		report(a, -1, errno, NULL);
		return;
	}
	int n = 0;
	while (readdir(d) != NULL)
		n++;
	closedir(d);
	char detail[32];
	snprintf(detail, sizeof(detail), "%d", n); /* any int fits */
	report(a, 0, 0, detail);
}

/* SQLCipher with a raw key in WAL mode: create, write, checkpoint, close
 * (which removes -wal and -shm), reopen and count. */
static int sqlite_step(sqlite3 *db, const char *sql, char *detail, size_t dsz)
{
	char *err = NULL;
	if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK) {
		fmt_msg(detail, dsz, "\"%s\": %s", sql, err ? err : "?");
		sqlite3_free(err);
		return -1;
	}
	return 0;
}

static int count_cb(void *arg, int n, char **v, char **names)
{
	(void)names;
	/* count(*) of a test table: a small non-negative number; -1 otherwise. */
	if (n > 0 && v[0] != NULL) {
		const char *errstr;
		long long c = strtonum(v[0], 0, INT_MAX, &errstr);
		*(int *)arg = errstr == NULL ? (int)c : -1;
	}
	return 0;
}

static void act_sqlite(struct action *a)
{
	static const char key[] =
	    "PRAGMA key = \"x'00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff'\";"
	    "PRAGMA cipher_page_size = 4096;";
	char detail[400] = "";
	sqlite3 *db = NULL;
	int rc = -1, count = -1;
	char wal[4096];
	if (fmt_name(wal, sizeof(wal), "%s-wal", a->arg[0]) < 0) {
		fmt_msg(detail, sizeof(detail), "path too long");
		goto out;
	}
	if (sqlite3_open_v2(a->arg[0], &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) !=
	    SQLITE_OK) {
		fmt_msg(detail, sizeof(detail), "open: %s", sqlite3_errmsg(db));
		goto out;
	}
	if (sqlite_step(db, key, detail, sizeof(detail)) < 0 ||
	    sqlite_step(db, "PRAGMA journal_mode = WAL;", detail, sizeof(detail)) < 0 ||
	    sqlite_step(db, "CREATE TABLE IF NOT EXISTS t(x BLOB);", detail, sizeof(detail)) < 0 ||
	    sqlite_step(db, "BEGIN; INSERT INTO t VALUES(randomblob(5000)); COMMIT;", detail,
	                sizeof(detail)) < 0)
		goto out;
	if (access(wal, F_OK) != 0) {
		fmt_msg(detail, sizeof(detail), "no -wal file after a write");
		goto out;
	}
	if (sqlite_step(db, "PRAGMA wal_checkpoint(TRUNCATE);", detail, sizeof(detail)) < 0)
		goto out;
	sqlite3_close(db);
	db = NULL;
	if (sqlite3_open_v2(a->arg[0], &db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK ||
	    sqlite_step(db, key, detail, sizeof(detail)) < 0)
		goto out;
	char *err = NULL;
	if (sqlite3_exec(db, "SELECT count(*) FROM t;", count_cb, &count, &err) != SQLITE_OK) {
		fmt_msg(detail, sizeof(detail), "count: %s", err ? err : "?");
		sqlite3_free(err);
		goto out;
	}
	snprintf(detail, sizeof(detail), "rows=%d", count); /* any int fits */
	rc = 0;
out:
	if (db != NULL)
		sqlite3_close(db);
	report(a, rc, rc < 0 ? EIO : 0, detail);
}

static void act_tls_ctx(struct action *a)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	SSL *ssl = ctx ? SSL_new(ctx) : NULL;
	unsigned char r[32];
	int ok = ssl != NULL && RAND_bytes(r, sizeof(r)) == 1;
	SSL_free(ssl);
	SSL_CTX_free(ctx);
	report(a, ok ? 0 : -1, ok ? 0 : EIO, ok ? NULL : "SSL_CTX_new/RAND_bytes failed");
}

/* Before the sandbox: a server context from CERT/KEY and a client process on
 * the other end of a socketpair, which says "ping" and expects "pong". */
static int prep_tls_handshake(struct action *a)
{
	const char *err = NULL;
	a->ctx = tls_server_ctx(a->arg[0], a->arg[1], &err);
	if (a->ctx == NULL) {
		fprintf(stderr, "tls_server_ctx: %s\n", err);
		return -1;
	}
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return -1;
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		close(sv[0]);
		SSL_CTX *c = tls_client_ctx(0, &err);
		SSL *s = c ? SSL_new(c) : NULL;
		char buf[8] = "";
		if (s == NULL || SSL_set_fd(s, sv[1]) != 1 || SSL_connect(s) != 1 ||
		    SSL_write(s, "ping", 4) != 4 || SSL_read(s, buf, 4) != 4 ||
		    memcmp(buf, "pong", 4) != 0)
			_exit(1);
		SSL_shutdown(s);
		_exit(0);
	}
	close(sv[1]);
	a->fd = sv[0];
	return 0;
}

static void act_tls_handshake(struct action *a)
{
	SSL *s = SSL_new(a->ctx);
	char buf[8] = "";
	int ok = s != NULL && SSL_set_fd(s, a->fd) == 1 && SSL_accept(s) == 1 &&
	         SSL_read(s, buf, 4) == 4 && memcmp(buf, "ping", 4) == 0 &&
	         SSL_write(s, "pong", 4) == 4;
	char detail[64] = "";
	if (ok)
		fmt_msg(detail, sizeof(detail), "%s", SSL_get_version(s));
	SSL_free(s);
	SSL_CTX_free(a->ctx);
	a->ctx = NULL;
	close(a->fd);
	report(a, ok ? 0 : -1, ok ? 0 : EPROTO, detail);
}

static void act_unix(struct action *a)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	if (fmt_name(sa.sun_path, sizeof(sa.sun_path), "%s", a->arg[0]) < 0) {
		report(a, -1, ENAMETOOLONG, "socket path too long");
		return;
	}
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int rc = fd < 0 ? -1 : connect(fd, (struct sockaddr *)&sa, sizeof(sa));
	int e = errno;
	if (fd >= 0)
		close(fd);
	report(a, rc, e, NULL);
}

static void act_tcp(struct action *a)
{
	const char *errstr;
	long long port = strtonum(a->arg[0], 1, 65535, &errstr);
	if (errstr != NULL) {
		report(a, -1, EINVAL, "bad port");
		return;
	}
	struct sockaddr_in sa = {.sin_family = AF_INET,
	                         .sin_port = htons((uint16_t)port),
	                         .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int rc = fd < 0 ? -1 : connect(fd, (struct sockaddr *)&sa, sizeof(sa));
	int e = errno;
	if (fd >= 0)
		close(fd);
	report(a, rc, e, NULL);
}

/* hiredis, as lib/svc/notify.c uses it: "unix:/path" or "host:port". */
static void act_redis(struct action *a)
{
	struct timeval tv = {2, 0};
	redisContext *rc;
	const char *spec = a->arg[0];
	if (strncmp(spec, "unix:", 5) == 0) {
		rc = redisConnectUnixWithTimeout(spec + 5, tv);
	} else {
		char host[64];
		const char *colon = strrchr(spec, ':');
		size_t hl = colon ? (size_t)(colon - spec) : 0;
		const char *errstr = "missing";
		long long port = hl == 0 ? 0 : strtonum(colon + 1, 1, 65535, &errstr);
		if (hl == 0 || hl >= sizeof(host) || errstr != NULL) {
			report(a, -1, EINVAL, "bad spec");
			return;
		}
		memcpy(host, spec, hl);
		host[hl] = '\0';
		rc = redisConnectWithTimeout(host, (int)port, tv);
	}
	if (rc == NULL || rc->err) {
		report(a, -1, rc ? rc->err == REDIS_ERR_IO ? errno : EIO : ENOMEM,
		       rc ? rc->errstr : "no context");
		if (rc)
			redisFree(rc);
		return;
	}
	/* A server with ACLs (tests/integration/harness.py): "user password". */
	const char *auth = getenv("SEALMAIL_PROBE_REDIS_AUTH");
	const char *sp = auth != NULL ? strchr(auth, ' ') : NULL;
	if (sp != NULL) {
		redisReply *ar =
		    redisCommand(rc, "AUTH %b %s", auth, (size_t)(sp - auth), sp + 1);
		if (ar != NULL)
			freeReplyObject(ar);
	}
	redisReply *r = redisCommand(rc, "PING");
	int ok = r != NULL && r->type == REDIS_REPLY_STATUS && strcmp(r->str, "PONG") == 0;
	if (r)
		freeReplyObject(r);
	redisReply *p = redisCommand(rc, "PUBLISH sealmail:probe new");
	ok = ok && p != NULL && p->type == REDIS_REPLY_INTEGER;
	if (p)
		freeReplyObject(p);
	redisFree(rc);
	report(a, ok ? 0 : -1, ok ? 0 : EIO, NULL);
}

/* A journal entry too large for one datagram: libsystemd passes it in a
 * sealed memfd. */
static void act_journal_big(struct action *a)
{
	size_t n = 10u << 20; /* above the 8 MiB SO_SNDBUF libsystemd asks for */
	char *m = malloc(n + 1);
	if (m == NULL) {
		report(a, -1, ENOMEM, NULL);
		return;
	}
	memset(m, 'j', n);
	m[n] = '\0';
	int r = sd_journal_send("MESSAGE=%s", m, "SEALMAIL_EVENT=probe-big", "SYSLOG_IDENTIFIER=%s",
	                        "sealmail-sandboxprobe", NULL);
	free(m);
	report(a, r < 0 ? -1 : 0, -r, NULL);
}

static void act_malloc(struct action *a)
{
	/* big (mmap), medium (brk), realloc growth (mremap), trim (madvise) */
	char *big = malloc(64u << 20);
	if (big == NULL) {
		report(a, -1, ENOMEM, NULL);
		return;
	}
	memset(big, 1, 64u << 20);
	big = realloc(big, 128u << 20);
	free(big);
	void *p[1000];
	for (int i = 0; i < 1000; i++)
		p[i] = malloc((size_t)(i * 37 % 4000) + 1);
	for (int i = 0; i < 1000; i++)
		free(p[i]);
	malloc_trim(0);
	unsigned char r[64];
	ssize_t g = getrandom(r, sizeof(r), 0);
	report(a, g == (ssize_t)sizeof(r) ? 0 : -1, errno, NULL);
}

static void act_mmap_exec(struct action *a)
{
	void *p = mmap(NULL, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	report(a, p == MAP_FAILED ? -1 : 0, errno, NULL);
}

static void act_x32(struct action *a)
{
	/* getpid with the x32 bit: the filter kills before the kernel would say
	 * ENOSYS (x32 is off in most kernels) */
	long r = syscall(0x40000000L | SYS_getpid);
	report(a, r < 0 ? -1 : 0, errno, NULL);
}

static void act_i386(struct action *a)
{
#if defined(__x86_64__)
	long r;
	/* getpid is 20 in the i386 table; int 0x80 enters the compat ABI */
	__asm__ volatile("int $0x80" : "=a"(r) : "a"(20L) : "memory", "r8", "r9", "r10", "r11");
	report(a, r < 0 ? -1 : 0, r < 0 ? (int)-r : 0, NULL);
#else
	report(a, -1, ENOSYS, "not x86_64");
#endif
}

static void act_fork(struct action *a)
{
	pid_t pid = fork();
	if (pid == 0)
		_exit(0);
	int e = errno;
	if (pid > 0)
		waitpid(pid, NULL, 0);
	report(a, pid < 0 ? -1 : 0, e, NULL);
}

static void act_kill_parent(struct action *a)
{
	int r = kill(getppid(), 0);
	report(a, r, errno, NULL);
}

/* Under LeakSanitizer the exit check must still work inside the sandbox. */
static void act_leak(struct action *a)
{
	static void *volatile sink;
	sink = malloc(4242);
	memset(sink, 1, 4242);
	sink = NULL;
	report(a, 0, 0, NULL);
}

/* Accept mode: a forked child enters PROFILE (with the filter its parent
 * compiled ahead) and reports how long that took. */
static const char *g_state;
static const char *g_user;
static int g_state_fd = -1;

static void act_fork_enter(struct action *a)
{
	enum sandbox_profile p;
	if (!sandbox_profile_parse(a->arg[0], &p)) {
		report(a, -1, EINVAL, "unknown profile");
		return;
	}
	int pfd[2];
	if (pipe(pfd) < 0) {
		report(a, -1, errno, NULL);
		return;
	}
	pid_t pid = fork();
	if (pid == 0) {
		struct sandbox_layout l = {.state_fd = g_state_fd, .user_id = g_user};
		const char *err = NULL;
		struct timespec t0, t1;
		clock_gettime(CLOCK_MONOTONIC, &t0);
		int rc = sandbox_enter_layout(p, &l, &err);
		clock_gettime(CLOCK_MONOTONIC, &t1);
		long us = (t1.tv_sec - t0.tv_sec) * 1000000L + (t1.tv_nsec - t0.tv_nsec) / 1000;
		ssize_t w = write(pfd[1], &us, sizeof(us));
		(void)w;
		_exit(rc < 0 ? 1 : 0);
	}
	close(pfd[1]);
	long us = -1;
	ssize_t r = pid > 0 ? read(pfd[0], &us, sizeof(us)) : -1;
	close(pfd[0]);
	int st = 0;
	if (pid > 0)
		waitpid(pid, &st, 0);
	char detail[48];
	snprintf(detail, sizeof(detail), "enter-us=%ld", us); /* any long fits */
	report(a, pid > 0 && r == sizeof(us) && WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1, EIO,
	       detail);
}

/* Accept mode: a forked child enters PROFILE (with the Landlock ruleset its
 * parent prepared, given -R) and must be able to create WRITE and unable to
 * read READ. */
static uint16_t *g_ports;
static size_t g_nports;

static void act_fork_files(struct action *a)
{
	enum sandbox_profile p;
	if (!sandbox_profile_parse(a->arg[0], &p)) {
		report(a, -1, EINVAL, "unknown profile");
		return;
	}
	pid_t pid = fork();
	if (pid == 0) {
		struct sandbox_layout l = {.state_fd = g_state_fd,
		                           .user_id = g_user,
		                           .tcp_ports = g_ports,
		                           .ntcp_ports = g_nports};
		const char *err = NULL;
		if (sandbox_enter_layout(p, &l, &err) < 0)
			_exit(1);
		int fd = open(a->arg[1], O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
		if (fd < 0)
			_exit(2);
		close(fd);
		fd = open(a->arg[2], O_RDONLY | O_CLOEXEC);
		_exit(fd < 0 && errno == EACCES ? 0 : 3);
	}
	int st = 0;
	if (pid > 0)
		waitpid(pid, &st, 0);
	static const char *const why[] = {"", "sandbox failed", "write refused", "read allowed"};
	int code = WIFEXITED(st) ? WEXITSTATUS(st) : 4;
	report(a, pid > 0 && code == 0 ? 0 : -1, EIO,
	       code > 0 && code < 4 ? why[code] : (code == 4 ? "killed" : NULL));
}

static void act_hook(struct action *a)
{
	sandbox_test_hook(a->arg[0]);
	out("%s: inactive\n", a->name);
}

struct action_def {
	const char *name;
	int nargs;
	int (*prep)(struct action *a);
	void (*run)(struct action *a);
};

static void run_read(struct action *a)
{
	act_open(a, O_RDONLY);
}
static void run_write(struct action *a)
{
	act_open(a, O_WRONLY | O_CREAT | O_TRUNC);
}
static void run_append(struct action *a)
{
	act_open(a, O_WRONLY | O_APPEND);
}
static void run_rename(struct action *a)
{
	int r = rename(a->arg[0], a->arg[1]);
	report(a, r, errno, NULL);
}
static void run_unlink(struct action *a)
{
	int r = unlink(a->arg[0]);
	report(a, r, errno, NULL);
}
static void run_mkdir(struct action *a)
{
	int r = mkdir(a->arg[0], 0700);
	report(a, r, errno, NULL);
}
static void run_rmdir(struct action *a)
{
	int r = rmdir(a->arg[0]);
	report(a, r, errno, NULL);
}
static void run_truncate(struct action *a)
{
	int r = truncate(a->arg[0], 0);
	report(a, r, errno, NULL);
}
/* Whether a file's metadata (existence, size, owner, times) can be learnt
 * with the call of glibc's fstat(3), newfstatat with AT_EMPTY_PATH, which
 * given a non-empty path stats that path. */
static void run_stat(struct action *a)
{
	struct stat st;
	if (fstatat(AT_FDCWD, a->arg[0], &st, AT_EMPTY_PATH) < 0) {
		report(a, -1, errno, NULL);
		return;
	}
	char size[32];
	(void)snprintf(size, sizeof(size), "size=%lld", (long long)st.st_size); /* fits */
	report(a, 0, 0, size);
}
static void run_ptrace(struct action *a)
{
	long r = ptrace(PTRACE_PEEKDATA, 1, NULL, NULL);
	report(a, r < 0 ? -1 : 0, errno, NULL);
}
static void run_packet(struct action *a)
{
	int fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
	int e = errno;
	if (fd >= 0)
		close(fd);
	report(a, fd < 0 ? -1 : 0, e, NULL);
}
static void run_execve(struct action *a)
{
	char *const argv[] = {(char *)"/bin/true", NULL};
	execve("/bin/true", argv, NULL);
	report(a, -1, errno, NULL);
}
static void run_log(struct action *a)
{
	log_event(LOG_INFO, "probe", "REASON", "logged inside the sandbox", NULL);
	report(a, 0, 0, NULL);
}

/* inotify-watch PATH: an inotify instance made before the sandbox, a watch
 * on PATH added inside it (Landlock does not govern inotify_add_watch: only
 * seccomp can refuse it). */
static int prep_inotify(struct action *a)
{
	a->fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	return a->fd < 0 ? -1 : 0;
}
static void act_inotify_watch(struct action *a)
{
	int wd = inotify_add_watch(a->fd, a->arg[0], IN_CREATE | IN_MOVED_TO);
	report(a, wd < 0 ? -1 : 0, errno, NULL);
}
static const struct action_def defs[] = {
    {"read", 1, NULL, run_read},
    {"write", 1, NULL, run_write},
    {"append", 1, NULL, run_append},
    {"rename", 2, NULL, run_rename},
    {"unlink", 1, NULL, run_unlink},
    {"mkdir", 1, NULL, run_mkdir},
    {"rmdir", 1, NULL, run_rmdir},
    {"truncate", 1, NULL, run_truncate},
    {"stat", 1, NULL, run_stat},
    {"listdir", 1, NULL, act_listdir},
    {"sqlite", 1, NULL, act_sqlite},
    {"tls-ctx", 0, NULL, act_tls_ctx},
    {"tls-handshake", 2, prep_tls_handshake, act_tls_handshake},
    {"unix", 1, NULL, act_unix},
    {"tcp", 1, NULL, act_tcp},
    {"redis", 1, NULL, act_redis},
    {"journal-big", 0, NULL, act_journal_big},
    {"log", 0, NULL, run_log},
    {"malloc", 0, NULL, act_malloc},
    {"mmap-exec", 0, NULL, act_mmap_exec},
    {"ptrace", 0, NULL, run_ptrace},
    {"packet-socket", 0, NULL, run_packet},
    {"execve", 0, NULL, run_execve},
    {"fork", 0, NULL, act_fork},
    {"x32", 0, NULL, act_x32},
    {"i386", 0, NULL, act_i386},
    {"kill-parent", 0, NULL, act_kill_parent},
    {"leak", 0, NULL, act_leak},
    {"fork-enter", 1, NULL, act_fork_enter},
    {"fork-files", 3, NULL, act_fork_files},
    {"hook", 1, NULL, act_hook},
    {"inotify-watch", 1, prep_inotify, act_inotify_watch},
};

static const struct action_def *find_def(const char *name)
{
	for (size_t i = 0; i < sizeof(defs) / sizeof(defs[0]); i++)
		if (strcmp(defs[i].name, name) == 0)
			return &defs[i];
	return NULL;
}

static int usage(void)
{
	fprintf(stderr,
	        "usage: sandboxprobe [-p PROFILE] [-s DIR] [-u ID] [-P PORT]... [-R PROFILE] "
	        "[-L] [-t] "
	        "ACTION [ARG...] [-- ACTION [ARG...]]...\n"
	        "       sandboxprobe features\n");
	return 2;
}

static void features(void)
{
#ifdef SEALMAIL_SAN
	int san = 1;
#else
	int san = 0;
#endif
#ifdef SEALMAIL_TEST_HOOKS
	int hooks = 1;
#else
	int hooks = 0;
#endif
	out("san=%d hooks=%d landlock_abi=%d\n", san, hooks, sandbox_landlock_abi());
}

int main(int argc, char **argv)
{
	const char *profile = "none", *state = NULL, *user = NULL, *prepare = NULL;
	uint16_t ports[MAX_PORTS];
	size_t nports = 0;
	bool landlock_only = false, timing = false;
	int opt;
	while ((opt = getopt(argc, argv, "+p:s:u:P:R:Lt")) != -1) {
		switch (opt) {
		case 'p':
			profile = optarg;
			break;
		case 's':
			state = optarg;
			break;
		case 'u':
			user = optarg;
			break;
		case 'P': {
			const char *errstr;
			long long port = strtonum(optarg, 1, 65535, &errstr);
			if (nports == MAX_PORTS || errstr != NULL)
				return usage();
			ports[nports++] = (uint16_t)port;
			break;
		}
		case 'R':
			prepare = optarg;
			break;
		case 'L':
			landlock_only = true;
			break;
		case 't':
			timing = true;
			break;
		default:
			return usage();
		}
	}
	if (optind < argc && strcmp(argv[optind], "features") == 0) {
		features();
		return 0;
	}
	struct action acts[MAX_ACTIONS];
	int nacts = 0;
	for (int i = optind; i < argc;) {
		if (strcmp(argv[i], "--") == 0) {
			i++;
			continue;
		}
		const struct action_def *d = find_def(argv[i]);
		if (d == NULL) {
			fprintf(stderr, "unknown action %s\n", argv[i]);
			return usage();
		}
		if (nacts == MAX_ACTIONS || i + d->nargs >= argc)
			return usage();
		struct action *a = &acts[nacts++];
		memset(a, 0, sizeof(*a));
		a->name = d->name;
		a->fd = -1;
		a->nargs = d->nargs;
		for (int k = 0; k < d->nargs; k++)
			a->arg[k] = argv[i + 1 + k];
		i += 1 + d->nargs;
	}
	if (nacts == 0)
		return usage();

	log_init("sealmail-sandboxprobe");
	sandbox_warm();
	for (int i = 0; i < nacts; i++) {
		const struct action_def *d = find_def(acts[i].name);
		if (d->prep != NULL && d->prep(&acts[i]) < 0) {
			fprintf(stderr, "setup of %s failed\n", acts[i].name);
			return 3;
		}
	}

	int state_fd = -1;
	if (state != NULL) {
		state_fd = open(state, O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (state_fd < 0) {
			fprintf(stderr, "%s: %s\n", state, strerror(errno));
			return 3;
		}
	}
	g_state = state;
	g_user = user;
	g_state_fd = state_fd;
	g_ports = ports;
	g_nports = nports;
	if (prepare != NULL) {
		/* The Landlock ruleset of a child's profile, built ahead. */
		enum sandbox_profile rp;
		const char *err = NULL;
		struct sandbox_layout l = {
		    .state_fd = state_fd, .tcp_ports = ports, .ntcp_ports = nports};
		if (!sandbox_profile_parse(prepare, &rp))
			return usage();
		if (sandbox_prepare_layout(rp, &l, &err) < 0) {
			fprintf(stderr, "prepare: %s\n", err);
			return 3;
		}
	}
	if (strcmp(profile, "none") != 0) {
		enum sandbox_profile p;
		const char *err = NULL;
		if (!sandbox_profile_parse(profile, &p))
			return usage();
		struct sandbox_layout l = {.state_fd = state_fd,
		                           .user_id = user,
		                           .tcp_ports = ports,
		                           .ntcp_ports = nports};
		struct timespec t0, t1;
		clock_gettime(CLOCK_MONOTONIC, &t0);
		int rc;
		if (landlock_only) {
			/* Only the Landlock layer: what Landlock alone refuses shows
			 * as an errno instead of SIGSYS. */
			struct sandbox_fs_rule r[1];
			size_t n = 0;
			char userdir[300];
			if (p == SANDBOX_POSTAUTH && user != NULL) {
				if (fmt_name(userdir, sizeof(userdir), "users/%s", user) < 0)
					return usage();
				r[n++] =
				    (struct sandbox_fs_rule){state_fd, userdir, SANDBOX_FS_USERDIR};
			} else if (p == SANDBOX_AUTH && state_fd >= 0) {
				/* AUTH's standard rule (its -wal and -shm aside) */
				r[n++] = (struct sandbox_fs_rule){state_fd, "directory.db",
				                                  SANDBOX_FS_RO};
			}
			rc = sandbox_landlock(r, n, ports, nports, &err);
		} else {
			rc = sandbox_enter_layout(p, &l, &err);
		}
		clock_gettime(CLOCK_MONOTONIC, &t1);
		if (rc < 0) {
			fprintf(stderr, "sandbox: %s\n", err);
			return 3;
		}
		if (timing)
			out("enter-us: %ld\n", (long)((t1.tv_sec - t0.tv_sec) * 1000000L +
			                              (t1.tv_nsec - t0.tv_nsec) / 1000));
	}
	for (int i = 0; i < nacts; i++)
		find_def(acts[i].name)->run(&acts[i]);
	return failures ? 1 : 0;
}
