/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* Sandbox entry: limits, Landlock, seccomp in the right order, the standard
 * rules per profile, library warm-up, and the test hook. Trust: any. */
#include "sandbox_int.h"

#include <bsd/stdlib.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sodium.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "base/fmt.h"
#include "sys/log.h"
#include "sys/tls.h"

#define SB_LAYOUT_RULES_MAX 16

static char sb_error[320];
static bool sb_quiet;

void sandbox_log_quiet(void)
{
	sb_quiet = true;
}

const char *sandbox_errorf(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fmt_vmsg(sb_error, sizeof(sb_error), fmt, ap); /* a long one is cut, with "..." */
	va_end(ap);
	return sb_error;
}

static const char *const sb_profile_names[SANDBOX_PROFILE_COUNT] = {
    [SANDBOX_PREAUTH_FRONT] = "preauth-front",
    [SANDBOX_AUTH] = "auth",
    [SANDBOX_POSTAUTH] = "postauth",
    [SANDBOX_MX] = "mx",
    [SANDBOX_SUBMIT] = "submit",
    [SANDBOX_ACCEPT] = "accept",
};

const char *sandbox_profile_name(enum sandbox_profile p)
{
	if ((unsigned)p >= SANDBOX_PROFILE_COUNT)
		return "?";
	return sb_profile_names[p];
}

int sandbox_profile_parse(const char *name, enum sandbox_profile *p_r)
{
	for (int i = 0; i < SANDBOX_PROFILE_COUNT; i++)
		if (strcmp(name, sb_profile_names[i]) == 0) {
			*p_r = (enum sandbox_profile)i;
			return 1;
		}
	return 0;
}

/* Core files would hold keys and mail: never write one, and refuse ptrace
 * attach and /proc/<pid>/mem to the same uid. A process that never forks
 * gets RLIMIT_NPROC 0 (ignored for root; seccomp forbids clone anyway).
 * RLIMIT_FSIZE stays: SQLite and the spool write files of any size. */
static int sb_limits(enum sandbox_profile p, const char **error_r)
{
	struct rlimit zero = {0, 0};
	if (setrlimit(RLIMIT_CORE, &zero) < 0) {
		*error_r = sandbox_errorf("setrlimit(RLIMIT_CORE): %s", strerror(errno));
		return -1;
	}
#ifndef SEALMAIL_SAN
	/* LeakSanitizer's exit check needs a thread; SAN builds keep NPROC. */
	if (!sandbox_policy_forks(p) && setrlimit(RLIMIT_NPROC, &zero) < 0) {
		*error_r = sandbox_errorf("setrlimit(RLIMIT_NPROC): %s", strerror(errno));
		return -1;
	}
#endif
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0) {
		*error_r = sandbox_errorf("PR_SET_DUMPABLE: %s", strerror(errno));
		return -1;
	}
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
		*error_r = sandbox_errorf("PR_SET_NO_NEW_PRIVS: %s", strerror(errno));
		return -1;
	}
	return 0;
}

static unsigned sb_scope(enum sandbox_profile p)
{
	/* Abstract unix sockets are never ours; the accept parent keeps them
	 * in case the service manager's notify socket is one. Signals may go
	 * only to processes inside the sandbox (the parent's children are). */
	unsigned scope = SANDBOX_SCOPE_SIGNAL;
	if (p != SANDBOX_ACCEPT)
		scope |= SANDBOX_SCOPE_ABSTRACT_UNIX;
	return scope;
}

/* The rules as given, plus what a sanitizer build needs; all has room for
 * SB_LAYOUT_RULES_MAX + 1. */
static int sb_rules(const struct sandbox_fs_rule *rules, size_t n, struct sandbox_fs_rule *all,
                    const struct sandbox_fs_rule **rules_r, size_t *n_r, const char **error_r)
{
	*rules_r = rules;
	*n_r = n;
#ifdef SEALMAIL_SAN
	/* LeakSanitizer reads /proc/self/maps and /proc/self/task at exit. */
	if (n > SB_LAYOUT_RULES_MAX) {
		*error_r = sandbox_errorf("too many sandbox rules");
		return -1;
	}
	if (n > 0)
		memcpy(all, rules, n * sizeof(*rules));
	all[n].dirfd = -1;
	all[n].path = "/proc";
	all[n].access = SANDBOX_FS_RO;
	*rules_r = all;
	*n_r = n + 1;
#else
	(void)all;
	(void)error_r;
#endif
	return 0;
}

/* Everything after the Landlock ruleset is built (or prepared): apply it,
 * log, compile the children's filters (ACCEPT), load the seccomp filter. */
static int sb_finish(enum sandbox_profile p, int ll_fd, int abi, const char **error_r)
{
	if (ll_fd >= 0 && sandbox_ll_apply(ll_fd, error_r) < 0)
		return -1;
	if (ll_fd < 0)
		abi = 0;
	/* Logged before seccomp: with journald as the target this also opens
	 * the journal socket, which the front could not do afterwards. */
	char abistr[8];
	snprintf(abistr, sizeof(abistr), "%d", abi); /* 0..1000 (the cap's bound): fits */
	const char *dbg = getenv("SEALMAIL_SECCOMP_DEBUG");
	log_event(sb_quiet ? LOG_DEBUG : LOG_INFO, "sandbox", "PROFILE", sandbox_profile_name(p),
	          "LANDLOCK_ABI", abistr, "SECCOMP",
	          dbg != NULL && strcmp(dbg, "1") == 0 ? "trap" : "kill", NULL);
	/* The accept parent's children enter the other profiles right after
	 * fork: compile those filters once here instead of in every child. */
	for (int i = 0; p == SANDBOX_ACCEPT && i < SANDBOX_PROFILE_COUNT; i++)
		if (i != SANDBOX_ACCEPT &&
		    sandbox_seccomp_precompile((enum sandbox_profile)i, error_r) < 0)
			return -1;
	return sandbox_seccomp(p, error_r);
}

static int sb_check(enum sandbox_profile p, size_t n, size_t np, const char **error_r)
{
	if ((unsigned)p >= SANDBOX_PROFILE_COUNT) {
		*error_r = sandbox_errorf("unknown sandbox profile %d", (int)p);
		return -1;
	}
	if (p == SANDBOX_PREAUTH_FRONT && (n > 0 || np > 0)) {
		*error_r = sandbox_errorf("the pre-auth front gets no files and no TCP ports");
		return -1;
	}
	return 0;
}

int sandbox_enter(enum sandbox_profile p, const struct sandbox_fs_rule *rules, size_t n,
                  const uint16_t *tcp_ports, size_t np, const char **error_r)
{
	struct sandbox_fs_rule all[SB_LAYOUT_RULES_MAX + 1];
	int fd, abi;
	if (sb_check(p, n, np, error_r) < 0 || sb_limits(p, error_r) < 0 ||
	    sb_rules(rules, n, all, &rules, &n, error_r) < 0 ||
	    sandbox_ll_build(rules, n, tcp_ports, np, sb_scope(p), &fd, &abi, error_r) < 0)
		return -1;
	int rc = sb_finish(p, fd, abi, error_r);
	if (fd >= 0)
		close(fd);
	return rc;
}

static bool sb_one_component(const char *s)
{
	return s != NULL && *s != '\0' && strchr(s, '/') == NULL && strcmp(s, ".") != 0 &&
	       strcmp(s, "..") != 0;
}

/* A user's directory after login (SANDBOX_FS_USERDIR without RMDIR): the
 * mailbox with its WAL, the spool import (which moves bad files into
 * spool/bad/, made on demand) and a rekey's rename into place. Directories
 * are removed only by sealctl. */
#define SB_FS_POSTAUTH (SANDBOX_FS_USERDIR & ~SANDBOX_FS_RMDIR)

/* directory.db and its WAL and WAL index, read-only, into r (at most 3
 * rules); returns how many. A read-only SQLite connection also reads -wal
 * and -shm; they persist (sealctl keeps them) and without write access to
 * -shm SQLite maps it read-only. Rules need existing files: with required
 * false a missing directory.db gets no rule, and the open then fails with
 * its own message ("run sealctl init"). */
static size_t sb_directory_rules(int state_fd, bool required, struct sandbox_fs_rule *r)
{
	static const char *const files[] = {"directory.db", "directory.db-wal", "directory.db-shm"};
	size_t n = 0;
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++)
		if ((i == 0 && required) || faccessat(state_fd, files[i], F_OK, AT_EACCESS) == 0)
			r[n++] = (struct sandbox_fs_rule){state_fd, files[i], SANDBOX_FS_READ};
	return n;
}

/* The standard rules of profile p for layout l, into r (SB_LAYOUT_RULES_MAX;
 * userdir holds a path some of them point to). */
static int sb_layout_rules(enum sandbox_profile p, const struct sandbox_layout *l,
                           struct sandbox_fs_rule *r, size_t *n_r, char userdir[300],
                           const char **error_r)
{
	size_t n = 0;
	if (p != SANDBOX_PREAUTH_FRONT && l->state_fd < 0) {
		*error_r = sandbox_errorf("sandbox layout without a state directory");
		return -1;
	}
	switch (p) {
	case SANDBOX_PREAUTH_FRONT:
		break;
	case SANDBOX_AUTH:
		/* The directory, read-only, and nothing else: no users/ at all.
		 * The process that authenticated never enters POSTAUTH (a
		 * layer can only narrow the one below it, so it could not
		 * reach users/<id>/ afterwards); the back forks it for the
		 * credentials (lib/login/loginback.c). */
		n = sb_directory_rules(l->state_fd, false, r);
		break;
	case SANDBOX_POSTAUTH:
		if (!sb_one_component(l->user_id) || strlen(l->user_id) > 200) {
			*error_r = sandbox_errorf("bad user id for the sandbox");
			return -1;
		}
		snprintf(userdir, 300, "users/%s", l->user_id); /* <= 206 bytes: fits */
		r[n++] = (struct sandbox_fs_rule){l->state_fd, userdir, SB_FS_POSTAUTH};
		break;
	case SANDBOX_MX:
		/* directory.db is opened read-only after this, at the first
		 * recipient. users/ as a whole: recipients are added while an
		 * accept loop runs, and rules bind to the directories that
		 * exist when they are built; Unix permissions narrow it to the
		 * spools (docs/SECURITY.md). */
		n = sb_directory_rules(l->state_fd, true, r);
		r[n++] = (struct sandbox_fs_rule){l->state_fd, "users", SANDBOX_FS_SPOOL};
		break;
	case SANDBOX_SUBMIT:
		/* Submission after login: the directory read-only (senders,
		 * local domains, recipients), and the queue from the layout.
		 * No users/: the back runs as the user that owns every
		 * mailbox, so a users/ rule would let it unlink any of them. */
		n = sb_directory_rules(l->state_fd, true, r);
		break;
	case SANDBOX_ACCEPT:
		/* The union of its children: the directory read-only (AUTH,
		 * MX, and the MX loop's own snapshot of it), users/ for POSTAUTH
		 * (one user's directory, which includes the spool MX writes).
		 * Nothing else in state_dir: no file there is created, replaced
		 * or written by a handler. */
		n = sb_directory_rules(l->state_fd, false, r);
		r[n++] = (struct sandbox_fs_rule){l->state_fd, "users", SB_FS_POSTAUTH};
		break;
	case SANDBOX_PROFILE_COUNT:
	default:
		*error_r = sandbox_errorf("unknown sandbox profile %d", (int)p);
		return -1;
	}
	if (l->nextra > SB_LAYOUT_RULES_MAX - n) {
		*error_r = sandbox_errorf("too many sandbox rules");
		return -1;
	}
	for (size_t i = 0; i < l->nextra; i++)
		r[n++] = l->extra[i];
	*n_r = n;
	return 0;
}

/* Landlock rulesets built ahead by an accept loop (sandbox_prepare_layout)
 * for the profiles its children enter, with the layout each was built for
 * (user_id and extra rules are not kept: such layouts are not prepared). */
static struct sb_prepared {
	bool ready;
	int fd; /* -1: Landlock skipped (logged when prepared) */
	int abi;
	int state_fd;
	uint16_t ports[32];
	size_t nports;
} sb_prep[SANDBOX_PROFILE_COUNT];

static bool sb_prepared_for(enum sandbox_profile p, const struct sandbox_layout *l)
{
	const struct sb_prepared *s = &sb_prep[p];
	return s->ready && l->user_id == NULL && l->nextra == 0 && l->state_fd == s->state_fd &&
	       l->ntcp_ports == s->nports &&
	       (s->nports == 0 || memcmp(l->tcp_ports, s->ports, s->nports * sizeof(*s->ports)) == 0);
}

int sandbox_prepare_layout(enum sandbox_profile p, const struct sandbox_layout *l,
                           const char **error_r)
{
	struct sandbox_fs_rule r[SB_LAYOUT_RULES_MAX], all[SB_LAYOUT_RULES_MAX + 1];
	const struct sandbox_fs_rule *rules;
	char userdir[300];
	size_t n;
	if (sb_check(p, l->nextra, l->ntcp_ports, error_r) < 0)
		return -1;
	if (l->user_id != NULL || l->nextra > 0 ||
	    l->ntcp_ports > sizeof(sb_prep[p].ports) / sizeof(sb_prep[p].ports[0])) {
		*error_r = sandbox_errorf("only layouts without a user or extra rules are prepared");
		return -1;
	}
	int fd, abi;
	if (sb_layout_rules(p, l, r, &n, userdir, error_r) < 0 ||
	    sb_rules(r, n, all, &rules, &n, error_r) < 0 ||
	    sandbox_ll_build(rules, n, l->tcp_ports, l->ntcp_ports, sb_scope(p), &fd, &abi,
	                     error_r) < 0)
		return -1;
	struct sb_prepared *s = &sb_prep[p];
	if (s->ready && s->fd >= 0)
		close(s->fd);
	*s = (struct sb_prepared){.ready = true, .fd = fd, .abi = abi, .state_fd = l->state_fd,
	                          .nports = l->ntcp_ports};
	if (l->ntcp_ports > 0)
		memcpy(s->ports, l->tcp_ports, l->ntcp_ports * sizeof(*s->ports));
	return 0;
}

int sandbox_enter_layout(enum sandbox_profile p, const struct sandbox_layout *l,
                         const char **error_r)
{
	struct sandbox_fs_rule r[SB_LAYOUT_RULES_MAX];
	char userdir[300];
	size_t n;
	if ((unsigned)p < SANDBOX_PROFILE_COUNT && sb_prepared_for(p, l)) {
		struct sb_prepared *s = &sb_prep[p];
		if (sb_limits(p, error_r) < 0)
			return -1;
		int rc = sb_finish(p, s->fd, s->abi, error_r);
		if (s->fd >= 0)
			close(s->fd);
		s->ready = false;
		return rc;
	}
	if (sb_layout_rules(p, l, r, &n, userdir, error_r) < 0)
		return -1;
	return sandbox_enter(p, r, n, l->tcp_ports, l->ntcp_ports, error_r);
}

void sandbox_warm(void)
{
	/* OpenSSL reads openssl.cnf and loads providers on first use. */
	tls_warm();
	/* libsodium picks its CPU features and randomness source. */
	if (sodium_init() < 0)
		log_fatal("sodium_init failed");
	/* SQLite seeds its PRNG (temp names, randomblob) from /dev/urandom the
	 * first time it needs randomness. */
	unsigned char b[8];
	sqlite3_initialize();
	sqlite3_randomness(sizeof(b), b);
	sodium_memzero(b, sizeof(b));
	/* glibc reads /etc/localtime on the first localtime(). */
	tzset();
	time_t now = time(NULL);
	struct tm tm;
	localtime_r(&now, &tm);
}

#ifdef SEALMAIL_TEST_HOOKS
/* One outcome of a hook's attempt on stderr: "sandbox test hook: WHAT
 * OBJECT: ok" or the errno's name. */
static void sb_hook_say(const char *what, const char *object, int rc, int err)
{
	char line[700];
	const char *en = rc == 0 ? "ok" : strerrorname_np(err);
	int n = snprintf(line, sizeof(line), "sandbox test hook: %s %s: %s\n", what, object,
	                 en != NULL ? en : "?");
	if (n > 0 && (size_t)n < sizeof(line)) {
		ssize_t w = write(2, line, (size_t)n);
		(void)w;
	}
}

/* "files:<stage>:<dir>": what a compromised stage could do to another
 * user's directory: open dir/mailbox.db for writing, create dir/planted,
 * unlink dir/mailbox.db. */
static void sb_hook_files(const char *dir)
{
	static const char *const what[] = {"open-rw", "create", "unlink"};
	for (int i = 0; i < 3; i++) {
		char path[512];
		if (fmt_name(path, sizeof(path), "%s/%s", dir, i == 1 ? "planted" : "mailbox.db") <
		    0)
			return;
		int rc;
		if (i == 2) {
			rc = unlink(path);
		} else {
			int flags = i == 0 ? O_RDWR : O_WRONLY | O_CREAT | O_EXCL;
			int fd = open(path, flags | O_CLOEXEC, 0600);
			rc = fd < 0 ? -1 : 0;
			if (fd >= 0)
				close(fd);
		}
		sb_hook_say(what[i], path, rc, errno);
	}
}

/* "peek:<stage>:<dir>": what a compromised stage could learn of another
 * user (dir is users/<other id>): list users/, list dir/spool/new, open
 * dir/mailbox.db read-only, and last watch dir/spool/new with inotify
 * (forbidden after login: that kills the process). */
static void sb_hook_peek(const char *dir)
{
	char path[512];
	const char *slash = strrchr(dir, '/');
	for (int i = 0; i < 3; i++) {
		int rc = -1;
		if (i == 0 && slash != NULL)
			rc = fmt_name(path, sizeof(path), "%.*s", (int)(slash - dir), dir);
		else if (i > 0)
			rc = fmt_name(path, sizeof(path), "%s/%s", dir,
			              i == 1 ? "spool/new" : "mailbox.db");
		if (rc < 0)
			return;
		int fd = open(path, (i < 2 ? O_DIRECTORY : 0) | O_RDONLY | O_CLOEXEC);
		int e = errno;
		rc = fd;
		if (fd >= 0 && i < 2) {
			char buf[256]; /* a listing: getdents64 */
			rc = (int)syscall(SYS_getdents64, fd, buf, sizeof(buf));
			e = errno;
		}
		if (fd >= 0)
			close(fd);
		sb_hook_say(i < 2 ? "listdir" : "open-ro", path, rc < 0 ? -1 : 0, e);
	}
	if (fmt_name(path, sizeof(path), "%s/spool/new", dir) < 0)
		return;
	int in = inotify_init1(IN_CLOEXEC);
	int rc = in < 0 ? -1 : inotify_add_watch(in, path, IN_CREATE | IN_MOVED_TO);
	sb_hook_say("inotify", path, rc < 0 ? -1 : 0, errno);
	if (in >= 0)
		close(in);
}

/* "tcp:<stage>:<port>": a TCP connect to 127.0.0.1:port. */
static void sb_hook_tcp(const char *port)
{
	const char *errstr;
	long long v = strtonum(port, 1, 65535, &errstr);
	if (errstr != NULL) {
		sb_hook_say("tcp", port, -1, EINVAL);
		return;
	}
	struct sockaddr_in sa = {.sin_family = AF_INET,
	                         .sin_port = htons((uint16_t)v),
	                         .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int rc = fd < 0 ? -1 : connect(fd, (const struct sockaddr *)&sa, sizeof(sa));
	int e = errno;
	if (fd >= 0)
		close(fd);
	sb_hook_say("tcp", port, rc, e);
}

/* The argument of hook h when it is "<kind>:<stage>:<arg>", else NULL. */
static const char *sb_hook_arg(const char *h, const char *kind, const char *stage)
{
	size_t kl = strlen(kind), sl = strlen(stage);
	if (strncmp(h, kind, kl) != 0 || h[kl] != ':' || strncmp(h + kl + 1, stage, sl) != 0 ||
	    h[kl + 1 + sl] != ':')
		return NULL;
	return h + kl + sl + 2;
}

void sandbox_test_hook(const char *stage)
{
	static const char prefix[] = "forbidden-syscall:";
	const char *h = getenv("SEALMAIL_TEST_HOOK"), *arg;
	if (h == NULL)
		return;
	/* These report what the stage may do and let it go on. */
	if ((arg = sb_hook_arg(h, "files", stage)) != NULL) {
		sb_hook_files(arg);
		return;
	}
	if ((arg = sb_hook_arg(h, "peek", stage)) != NULL) {
		sb_hook_peek(arg);
		return;
	}
	if ((arg = sb_hook_arg(h, "tcp", stage)) != NULL) {
		sb_hook_tcp(arg);
		return;
	}
	if (strncmp(h, prefix, sizeof(prefix) - 1) != 0 ||
	    strcmp(h + sizeof(prefix) - 1, stage) != 0)
		return;
	/* No profile allows packet sockets; harmless if it ever ran. */
	long fd = syscall(SYS_socket, AF_PACKET, SOCK_RAW, 0);
	if (fd >= 0)
		close((int)fd);
	static const char msg[] = "sandbox test hook: forbidden syscall was allowed\n";
	ssize_t w = write(2, msg, sizeof(msg) - 1);
	(void)w;
	_exit(125);
}
#endif
