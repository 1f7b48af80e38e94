/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* In-process sandbox (DESIGN section 4), in the manner of OpenSSH: one
 * interface, a seccomp backend (libseccomp allow-lists, sandbox_policy.c) and a
 * null backend for kernels without seccomp, plus a Landlock layer for the
 * filesystem and TCP connects, NO_NEW_PRIVS, non-dumpable, zeroed rlimits.
 *
 * A handler calls sandbox_enter() (or sandbox_enter_layout()) in main() after it
 * opened what needs privilege and warmed the libraries that open files lazily
 * (sandbox_warm()), and before it reads anything from the client:
 *
 *     log_init → config → open (TLS key, directory.db, state dir fd, Redis)
 *       → sandbox_warm() → sandbox_enter(profile, …) → protocol
 *
 * Profiles are stages of a process's life; a later stage may be entered on top
 * of an earlier one only when the earlier profile allows it (ACCEPT → any;
 * the login back runs its AUTH stage in a child instead). Filters stack: what
 * a later stage may do is the intersection.
 *
 * Environment (read by sandbox_enter):
 *   SEALMAIL_SECCOMP_DEBUG=1   a forbidden syscall raises SIGSYS through a
 *                              handler that prints "sandbox: forbidden syscall
 *                              NAME (NR) in PROFILE" on stderr, then dies of
 *                              SIGSYS, instead of a silent kill;
 *   SEALMAIL_LANDLOCK_ABI=N    use at most Landlock ABI N (tests: 2 is Debian 12's
 *                              stock kernel; 0 turns Landlock off).
 * Trust: any; the process calling it is about to handle untrusted input. */
#ifndef SEALMAIL_SANDBOX_H
#define SEALMAIL_SANDBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum sandbox_profile {
	/* Login front process (imapd/pop3d/submitd before login): owns the client
	 * socket and TLS session. No filesystem at all (opening any file is
	 * fatal: SIGSYS), no new sockets, no TCP connects; reads and writes the
	 * descriptors it has, passes bytes/fds to the back over its socketpair,
	 * reaps the back when the session ends, logs to journald over the
	 * already-open journal socket. */
	SANDBOX_PREAUTH_FRONT,
	/* Authentication (a child of the login back): reads directory.db and
	 * nothing else, no TCP connects; runs the KDF and unwraps MK for the
	 * back, which enters SANDBOX_POSTAUTH itself (lib/login/loginback.c). */
	SANDBOX_AUTH,
	/* After login: files only under users/<id>/ (SQLCipher mailbox with WAL,
	 * spool import: read, write, create, remove, rename, truncate), Redis over
	 * a unix socket or TCP; no new inotify watch (IDLE's are set before,
	 * lib/svc/confine.c: Landlock does not govern them). */
	SANDBOX_POSTAUTH,
	/* smtpd/lmtpd: directory.db read-only, create/write/rename only under
	 * users/ (Unix permissions narrow that to users/<id>/spool/), Redis and
	 * milters. */
	SANDBOX_MX,
	/* submitd's back after login: directory.db read-only and the layout's
	 * extra rules (the outbound queue, lib/svc/confine.c); nothing under
	 * users/ (local copies go through lmtpd's socket), Redis and milters.
	 * The seccomp filter is MX's. */
	SANDBOX_SUBMIT,
	/* Accept=no parent (accept + fork, no exec): the union of what its
	 * children need (they enter their own profile after fork), plus accept4,
	 * fork, wait4, socketpair and the syscalls that enter a sandbox. */
	SANDBOX_ACCEPT,
	SANDBOX_PROFILE_COUNT
};

/* Filesystem rights of a rule, mapped to Landlock access bits per ABI
 * (sandbox_landlock.c). Execute, device, socket, fifo and symlink creation and
 * device ioctls are never granted. */
#define SANDBOX_FS_READ     (1u << 0) /* read regular files */
#define SANDBOX_FS_LIST     (1u << 1) /* list and open directories (fsync of a directory) */
#define SANDBOX_FS_WRITE    (1u << 2) /* open regular files for writing */
#define SANDBOX_FS_TRUNCATE (1u << 3) /* truncate(2), O_TRUNC; Landlock ABI >= 3 */
#define SANDBOX_FS_CREATE   (1u << 4) /* create regular files */
#define SANDBOX_FS_REMOVE   (1u << 5) /* unlink regular files */
#define SANDBOX_FS_RENAME                                                                          \
	(1u << 6)                     /* rename/link across directories (REFER, ABI >= 2);         \
	                               * a rename also needs CREATE at the target and              \
	                               * REMOVE at the source */
#define SANDBOX_FS_MKDIR    (1u << 7) /* create directories */
#define SANDBOX_FS_RMDIR    (1u << 8) /* remove directories */
#define SANDBOX_FS_ALL_BITS ((1u << 9) - 1)

/* Read-only tree. */
#define SANDBOX_FS_RO (SANDBOX_FS_READ | SANDBOX_FS_LIST)
/* A directory holding SQLite databases in WAL mode: -wal and -shm are created
 * and removed lazily next to the database, -shm and the WAL are truncated. */
#define SANDBOX_FS_SQLITE                                                                          \
	(SANDBOX_FS_RO | SANDBOX_FS_WRITE | SANDBOX_FS_TRUNCATE | SANDBOX_FS_CREATE |              \
	 SANDBOX_FS_REMOVE)
/* A user's directory after login: the mailbox plus spool import and backups. */
#define SANDBOX_FS_USERDIR                                                                         \
	(SANDBOX_FS_SQLITE | SANDBOX_FS_RENAME | SANDBOX_FS_MKDIR | SANDBOX_FS_RMDIR)
/* Spool delivery: write tmp/X, fsync, rename to new/X, fsync the directory. */
#define SANDBOX_FS_SPOOL                                                                           \
	(SANDBOX_FS_LIST | SANDBOX_FS_WRITE | SANDBOX_FS_CREATE | SANDBOX_FS_REMOVE |              \
	 SANDBOX_FS_RENAME)

/* One Landlock rule: the hierarchy at path (relative to dirfd when dirfd >= 0;
 * path NULL or "" means dirfd itself) gets access. Rules on a regular file keep
 * only READ, WRITE and TRUNCATE. The path must exist when the rule is added:
 * rules bind to inodes, which is why files SQLite creates lazily need a rule on
 * their directory. */
struct sandbox_fs_rule {
	int dirfd;        /* directory fd (O_PATH is fine) or -1 */
	const char *path; /* absolute, relative to dirfd, or NULL */
	unsigned access;  /* SANDBOX_FS_* */
};

/* Landlock alone: deny every filesystem right this kernel knows except the
 * rules; with ABI >= 4 also deny TCP bind, and TCP connect except to
 * tcp_ports (Redis, milters). Degrades by ABI: without Landlock, or with ABI 1
 * when a rule asks for SANDBOX_FS_RENAME (ABI 1 makes every cross-directory
 * rename fail), nothing is applied and a warning is logged. Sets
 * NO_NEW_PRIVS. Returns 0 applied or skipped (sandbox_landlock_abi() tells
 * which), -1 with *error_r (static string) on failure. */
int sandbox_landlock(const struct sandbox_fs_rule *rules, size_t n, const uint16_t *tcp_ports,
                     size_t np, const char **error_r);

/* seccomp alone: load the allow-list of profile p (default action
 * KILL_PROCESS, or TRAP with SEALMAIL_SECCOMP_DEBUG=1; foreign architectures
 * and x32 are killed). Sets NO_NEW_PRIVS. Returns 0 loaded (or the null
 * backend on a kernel without seccomp, with a warning), -1 with *error_r. */
int sandbox_seccomp(enum sandbox_profile p, const char **error_r);

/* Everything, in order: RLIMIT_CORE=0 and non-dumpable (secrets never reach a
 * core file), RLIMIT_NPROC=0 for profiles that never fork, NO_NEW_PRIVS,
 * Landlock (rules plus TCP ports; with ABI >= 6 also no signals to processes
 * outside the sandbox and, except for ACCEPT, no abstract unix sockets), one
 * "sandbox" log event (which also opens the journal socket while that is
 * still possible), then seccomp. SANDBOX_ACCEPT also compiles the other
 * profiles' filters, so that its children only load them after fork.
 * SANDBOX_PREAUTH_FRONT takes no rules and no ports. Returns 0 or -1 with
 * *error_r (static string); on -1 the caller must not serve the client. */
int sandbox_enter(enum sandbox_profile p, const struct sandbox_fs_rule *rules, size_t n,
                  const uint16_t *tcp_ports, size_t np, const char **error_r);

/* Where the standard rules of each profile point (DESIGN section 2). */
struct sandbox_layout {
	int state_fd;              /* fd of state_dir (O_PATH|O_DIRECTORY), opened before */
	const char *user_id;       /* SANDBOX_POSTAUTH: users/<user_id>/; one path component */
	const uint16_t *tcp_ports; /* Redis and milter ports (Landlock ABI >= 4) */
	size_t ntcp_ports;
	const struct sandbox_fs_rule *extra; /* appended, e.g. queue/ for submitd */
	size_t nextra;
};

/* sandbox_enter() with the standard rules of the profile:
 *   PREAUTH_FRONT  none (extra and ports must be empty)
 *   AUTH           directory.db (and its -wal, -shm) read-only; nothing under users/
 *   POSTAUTH       users/<user_id>/ SANDBOX_FS_USERDIR except RMDIR
 *   MX             directory.db (and its -wal, -shm) read-only, users/ SANDBOX_FS_SPOOL
 *   SUBMIT         directory.db (and its -wal, -shm) read-only; the extra rules
 *   ACCEPT         directory.db (and its -wal, -shm) read-only, users/ as POSTAUTH
 *                  (the union of its children's rules, which narrow it)
 * Returns 0 or -1 with *error_r. */
int sandbox_enter_layout(enum sandbox_profile p, const struct sandbox_layout *l,
                         const char **error_r);

/* For an accept loop: build the Landlock ruleset of profile p for layout l
 * now (a layout without user_id or extra rules), so that a forked child's
 * sandbox_enter_layout(p, l) with the same layout only applies it instead of
 * opening every path and building the ruleset again. Rules bind to the
 * files as they are now. 0 or -1 with *error_r. */
int sandbox_prepare_layout(enum sandbox_profile p, const struct sandbox_layout *l,
                           const char **error_r);

/* Open and load what libraries would otherwise open lazily after the
 * sandbox hides it: OpenSSL configuration and providers (tls_warm), SQLite's
 * randomness source and SQLCipher's crypto provider, the time zone. */
void sandbox_warm(void);
/* Log the "sandbox" event at debug priority from now on: for the children of
 * an accept loop, which would repeat it for every connection (the loop logs
 * its own, which also opened the journal socket they inherit). */
void sandbox_log_quiet(void);

/* The Landlock ABI the sandbox uses: the kernel's, capped by
 * SEALMAIL_LANDLOCK_ABI; 0 when Landlock is unavailable. */
int sandbox_landlock_abi(void);
/* "preauth-front", "auth", "postauth", "mx", "submit", "accept"; "?" if out of range. */
const char *sandbox_profile_name(enum sandbox_profile p);
/* Parse a profile name as above: 1 found, 0 unknown. */
int sandbox_profile_parse(const char *name, enum sandbox_profile *p_r);

/* Test trigger (built with -DSEALMAIL_TEST_HOOKS, `make TESTHOOKS=1`): when
 * $SEALMAIL_TEST_HOOK is "forbidden-syscall:<stage>", make a syscall that no
 * profile allows (socket(AF_PACKET)), so tests can see the process die of
 * SIGSYS. Handlers call it right after entering a sandbox. If the syscall
 * returns, the hook says so on stderr and exits 125. With
 * "files:<stage>:<dir>" it tries to open dir/mailbox.db for writing, create
 * dir/planted and unlink dir/mailbox.db, with "tcp:<stage>:<port>" to
 * connect to 127.0.0.1:port, says how each went on stderr, and returns.
 * Otherwise a no-op. */
#ifdef SEALMAIL_TEST_HOOKS
void sandbox_test_hook(const char *stage);
#else
static inline void sandbox_test_hook(const char *stage)
{
	(void)stage;
}
#endif

#endif
