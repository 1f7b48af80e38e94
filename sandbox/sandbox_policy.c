/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* The seccomp allow-lists, one syscall per line. Every profile is a list of
 * groups; a later stage stacks its filter on the earlier one, so a profile that
 * enters another (ACCEPT → any) must contain it (checked by
 * tests/unit/test_sandbox.c). Anything not listed kills the process.
 *
 * What was needed, and why, was found with SEALMAIL_SECCOMP_DEBUG=1 and strace
 * on: glibc 2.36 malloc and stdio, OpenSSL 3.0 TLS I/O after init, SQLCipher
 * 3.4.1 (SQLite 3.15.2) with WAL, hiredis 0.14 on unix and TCP sockets,
 * libsystemd 252 sd_journal_send, libsodium. See docs/SANDBOX.md.
 * Trust: any. */
#include "sandbox_int.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <seccomp.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/ioctl.h>

#define M32 0xffffffffULL
#define M64 0xffffffffffffffffULL

/* Allowed unconditionally. */
#define ALLOW(n)                                                                                   \
	{                                                                                          \
		.nr = SCMP_SYS(n), .name = #n                                                      \
	}
/* Allowed when every condition holds (one or two ARG_* below). */
#define ALLOW_IF(n, ...)                                                                           \
	{                                                                                          \
		.nr = SCMP_SYS(n), .name = #n, .nargs = SC_NARGS(__VA_ARGS__),                     \
		.arg = {__VA_ARGS__}                                                               \
	}
/* Not run; fails with errno e (when every condition holds, with FAIL_IF). */
#define FAIL(n, e)                                                                                 \
	{                                                                                          \
		.nr = SCMP_SYS(n), .name = #n, .errno_ret = (e)                                    \
	}
#define FAIL_IF(n, e, ...)                                                                         \
	{                                                                                          \
		.nr = SCMP_SYS(n), .name = #n, .errno_ret = (e), .nargs = SC_NARGS(__VA_ARGS__),   \
		.arg = {__VA_ARGS__}                                                               \
	}
/* how many conditions: the length of the array they initialise */
#define SC_NARGS(...)                                                                              \
	(sizeof((struct sandbox_sc_arg[]){__VA_ARGS__}) / sizeof(struct sandbox_sc_arg))

/* Conditions on argument i. The suffix is the argument's width as the kernel
 * declares it (its SYSCALL_DEFINE; the table in tests/unit/test_sandbox.c
 * holds the prototype of every argument a rule looks at), and there is no
 * condition without one:
 *  - 64: pointers, size_t, long, unsigned long. The kernel uses every bit, so
 *    all 64 are compared: compared on the low half only, a pointer at
 *    0x100000000 would pass as NULL.
 *  - 32: int, unsigned int, pid_t. The kernel truncates the register to the
 *    declared type, so comparing the low half is exact. Comparing all 64 would
 *    be wrong: an int passed through glibc's variadic syscall() may arrive with
 *    garbage in the upper half (a negative one, AT_FDCWD, arrives as
 *    0x00000000ffffff9c), and the legitimate caller would be killed. Values are
 *    taken as the kernel sees them, their low 32 bits; a 32-bit mask with a
 *    higher bit is refused when the filter is built (sandbox_sc_check). */
#define ARG_EQ32(i, v)                                                                             \
	{                                                                                          \
		.idx = (i), .width = SANDBOX_ARG32, .mask = M32, .datum = (uint32_t)(v)            \
	}
#define ARG_EQ64(i, v)                                                                             \
	{                                                                                          \
		.idx = (i), .width = SANDBOX_ARG64, .mask = M64, .datum = (uint64_t)(v)            \
	}
/* none of the bits in m */
#define ARG_NONE_OF32(i, m)                                                                        \
	{                                                                                          \
		.idx = (i), .width = SANDBOX_ARG32, .mask = (uint64_t)(m), .datum = 0              \
	}
#define ARG_NONE_OF64(i, m)                                                                        \
	{                                                                                          \
		.idx = (i), .width = SANDBOX_ARG64, .mask = (uint64_t)(m), .datum = 0              \
	}
/* every bit in m */
#define ARG_ALL_OF32(i, m)                                                                         \
	{                                                                                          \
		.idx = (i), .width = SANDBOX_ARG32, .mask = (uint64_t)(m), .datum = (uint64_t)(m)  \
	}
/* (argument & m) == d */
#define ARG_MASKED64(i, m, d)                                                                      \
	{                                                                                          \
		.idx = (i), .width = SANDBOX_ARG64, .mask = (uint64_t)(m), .datum = (uint64_t)(d)  \
	}
/* this process's pid (a pid_t), bound when the filter is loaded */
#define ARG_SELF(i)                                                                                \
	{                                                                                          \
		.idx = (i), .width = SANDBOX_ARG32, .self_pid = true, .mask = M32                  \
	}

#define CLONE_NS_FLAGS                                                                             \
	(CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER |             \
	 CLONE_NEWPID | CLONE_NEWNET)

/* Every profile, including the pre-auth front. */
static const struct sandbox_sc sc_base[] = {
    /* leaving */
    ALLOW(exit),
    ALLOW(exit_group),
    /* signals: handlers and masks (SIGPIPE ignored, SIGTERM, SIGSYS debug);
     * abort() and raise() may signal this process only */
    ALLOW(rt_sigreturn),
    ALLOW(rt_sigaction),
    ALLOW(rt_sigprocmask),
    ALLOW(restart_syscall),
    ALLOW_IF(tgkill, ARG_SELF(0)), /* tgkill(pid_t tgid, ...) */
    /* reap children forked before the sandbox: the login front is the back
     * process's parent and waits for it when the session ends */
    ALLOW(wait4),
    ALLOW(waitid),
    /* memory: glibc malloc (brk, mmap, mremap, madvise for trimming), OpenSSL,
     * SQLite's page cache; never executable memory (W^X). prot is an
     * unsigned long in the kernel's mmap and mprotect (int only in libc) */
    ALLOW(brk),
    ALLOW_IF(mmap, ARG_NONE_OF64(2, PROT_EXEC)),
    ALLOW_IF(mprotect, ARG_NONE_OF64(2, PROT_EXEC)),
    ALLOW(munmap),
    ALLOW(mremap),
    ALLOW(madvise),
    /* locks and wake-ups inside glibc and OpenSSL */
    ALLOW(futex),
    ALLOW(sched_yield),
    /* read-only facts: getpid for OpenSSL's and SQLite's fork checks, uname
     * and sysinfo (glibc qsort sizes its buffer by physical memory),
     * sched_getaffinity (number of CPUs), getrlimit */
    ALLOW(getpid),
    ALLOW(gettid),
    ALLOW(getuid),
    ALLOW(geteuid),
    ALLOW(getgid),
    ALLOW(getegid),
    ALLOW(uname),
    ALLOW(sysinfo),
    ALLOW(sched_getaffinity),
    /* getrlimit of this process only: prlimit64(pid_t pid, unsigned int
     * resource, const struct rlimit64 *new_rlim, ...) with new_rlim NULL on
     * all 64 bits, and pid 0 (glibc) or our own; other processes' limits are
     * none of our business */
    ALLOW_IF(prlimit64, ARG_EQ32(0, 0), ARG_EQ64(2, 0)),
    ALLOW_IF(prlimit64, ARG_SELF(0), ARG_EQ64(2, 0)),
    /* OpenSSL's DRBG, libsodium and rnd_bytes() read the kernel CSPRNG */
    ALLOW(getrandom),
    /* time: normally the vDSO; these are its fallbacks, plus sleeps */
    ALLOW(clock_gettime),
    ALLOW(clock_getres),
    ALLOW(gettimeofday),
    ALLOW(time),
    ALLOW(nanosleep),
    ALLOW(clock_nanosleep),
    /* I/O on descriptors already open (client socket, socketpair, pipes) */
    ALLOW(read),
    ALLOW(write),
    ALLOW(readv),
    ALLOW(writev),
    ALLOW(lseek),
    ALLOW(close),
    ALLOW(dup),
    ALLOW(dup2),
    ALLOW(dup3),
    ALLOW(poll),
    ALLOW(ppoll),
    /* fcntl(unsigned int fd, unsigned int cmd, unsigned long arg) */
    ALLOW_IF(fcntl, ARG_EQ32(1, F_GETFD)),
    ALLOW_IF(fcntl, ARG_EQ32(1, F_SETFD)),
    ALLOW_IF(fcntl, ARG_EQ32(1, F_GETFL)),
    ALLOW_IF(fcntl, ARG_EQ32(1, F_SETFL)), /* O_NONBLOCK (io_init) */
    /* sockets already open: the client, the socketpair to the back process
     * (sendmsg may pass descriptors), the journal socket */
    ALLOW(recvfrom),
    ALLOW(sendto),
    ALLOW(recvmsg),
    ALLOW(sendmsg),
    ALLOW(shutdown),
    ALLOW(getpeername),
    ALLOW(getsockname),
    ALLOW(getsockopt),
    /* sd_journal_send: an entry too big for one datagram goes into a sealed
     * memfd whose descriptor is sent to journald */
    ALLOW_IF(prctl, ARG_EQ32(0, PR_GET_NAME)), /* the memfd is named after the process */
    ALLOW(memfd_create),
    ALLOW_IF(fcntl, ARG_EQ32(1, F_ADD_SEALS)),
    ALLOW_IF(fcntl, ARG_EQ32(1, F_GET_SEALS)),
    /* stdio asks whether a stream is a terminal; answer "no" without
     * running any ioctl */
    FAIL_IF(ioctl, ENOTTY, ARG_EQ32(1, TCGETS)), /* unsigned int cmd */
};

#ifndef SEALMAIL_SAN
/* The front stats nothing. glibc's fstat(3) is newfstatat(fd, "", buf,
 * AT_EMPTY_PATH), but the same call with a path stats any file, which
 * Landlock does not govern: existence, size, owner and times of anything
 * on the host. No filter can read the path, so the whole call fails, as
 * do its relatives; the front needs none after its sandbox (stdio, which
 * sizes a buffer by it, falls back to BUFSIZ). An error, not a kill: a
 * library that asks should get an answer it handles. */
static const struct sandbox_sc sc_nostat[] = {
    FAIL(newfstatat, EACCES),
    FAIL(fstat, EACCES),
    FAIL(statx, EACCES),
};
#endif

/* Files, for every profile but the front. Which paths is Landlock's job. */
static const struct sandbox_sc sc_files[] = {
    /* glibc opens with openat; open for older callers */
    ALLOW(open),
    ALLOW(openat),
    /* metadata and path lookups: Landlock does not restrict these; they show
     * no file content */
    ALLOW(fstat),
    ALLOW(stat),
    ALLOW(lstat),
    ALLOW(newfstatat),
    ALLOW(statx),
    ALLOW(fstatfs),
    ALLOW(access),
    ALLOW(faccessat),
    ALLOW(faccessat2),
    ALLOW(readlink),
    ALLOW(readlinkat),
    ALLOW(getcwd),
    /* SQLite and SQLCipher: page I/O, WAL, durability, -shm mapping */
    ALLOW(pread64),
    ALLOW(pwrite64),
    ALLOW(preadv),
    ALLOW(pwritev),
    ALLOW(fsync),
    ALLOW(fdatasync),
    ALLOW(ftruncate),
    ALLOW(truncate),
    ALLOW(fallocate),
    ALLOW(msync),
    /* SQLite's POSIX advisory locks (F_SETLK, F_GETLK) and the rest of fcntl;
     * flock for lock files */
    ALLOW(fcntl),
    ALLOW(flock),
    /* directory entries; Landlock's CREATE, REMOVE, RENAME, MKDIR decide */
    ALLOW(getdents64),
    ALLOW(unlink),
    ALLOW(unlinkat),
    ALLOW(rename),
    ALLOW(renameat),
    ALLOW(renameat2),
    ALLOW(mkdir),
    ALLOW(mkdirat),
    ALLOW(rmdir),
    /* run as root, SQLite gives -wal/-shm the database's owner and mode;
     * fd-based only (Landlock does not govern chmod and chown) */
    ALLOW(fchmod),
    ALLOW(fchown),
    /* SQLCipher 3.4.1 and libsodium lock key material in memory */
    ALLOW(mlock),
    ALLOW(munlock),
};

/* Authentication (SANDBOX_AUTH), for all of its life after its sandbox:
 * directory.db read-only through SQLite (open, stat, page reads, POSIX
 * locks, the -shm mapped read-only), the KDF slot lock files opened before
 * (flock), libsodium's and SQLCipher's mlock. It writes no file, makes no
 * socket (the journal socket is open already), watches nothing and enters
 * no later stage (the back enters POSTAUTH in a process that never was in
 * AUTH), so none of those syscalls are here. Landlock's layer, which also
 * refuses writes, stays the second line. */
static const struct sandbox_sc sc_auth_files[] = {
    ALLOW(open),
    ALLOW(openat),
    ALLOW(fstat),
    ALLOW(stat),
    ALLOW(lstat),
    ALLOW(newfstatat),
    ALLOW(statx),
    ALLOW(fstatfs),
    ALLOW(access),
    ALLOW(faccessat),
    ALLOW(faccessat2),
    ALLOW(readlink),
    ALLOW(readlinkat),
    ALLOW(getcwd),
    ALLOW(pread64),
    ALLOW(preadv),
    ALLOW(fcntl),
    ALLOW(flock),
    ALLOW(mlock),
    ALLOW(munlock),
    /* run as root, SQLite gives the -shm it opens the database's owner
     * (fchown to the owner it has: a no-op) */
    ALLOW(fchown),
};

/* Client sockets: Redis (unix or TCP), milters, journald reconnects. Landlock
 * (ABI >= 4) limits TCP connects to the configured ports. */
static const struct sandbox_sc sc_net[] = {
    /* socket(int family, int type, int protocol) */
    ALLOW_IF(socket, ARG_EQ32(0, AF_UNIX)),
    ALLOW_IF(socket, ARG_EQ32(0, AF_INET)),
    ALLOW_IF(socket, ARG_EQ32(0, AF_INET6)),
    ALLOW(connect),
    ALLOW(setsockopt), /* TCP_NODELAY, SO_KEEPALIVE (hiredis) */
};

/* IDLE without Redis watches the user directory (DESIGN section 3): an
 * accept loop's back sets those watches under ACCEPT, before POSTAUTH. */
static const struct sandbox_sc sc_inotify[] = {
    ALLOW(inotify_init1),
    ALLOW(inotify_add_watch),
    ALLOW(inotify_rm_watch),
};

/* Entering a later, narrower stage: what sandbox_enter() itself does. */
static const struct sandbox_sc sc_stage[] = {
    /* prctl(int option, unsigned long arg2, ...) */
    ALLOW_IF(prctl, ARG_EQ32(0, PR_SET_NO_NEW_PRIVS)),
    ALLOW_IF(prctl, ARG_EQ32(0, PR_GET_NO_NEW_PRIVS)),
    ALLOW_IF(prctl, ARG_EQ32(0, PR_SET_DUMPABLE)),
    ALLOW_IF(prctl, ARG_EQ32(0, PR_GET_DUMPABLE)),
    ALLOW_IF(prctl, ARG_EQ32(0, PR_GET_SECCOMP)),
    ALLOW(seccomp),
    ALLOW(landlock_create_ruleset),
    ALLOW(landlock_add_rule),
    ALLOW(landlock_restrict_self),
    ALLOW_IF(prlimit64, ARG_EQ32(0, 0)), /* own limits (pid 0): RLIMIT_CORE, RLIMIT_NPROC */
};

/* The Accept=no parent and the per-connection child before it splits into
 * front and back. */
static const struct sandbox_sc sc_proc[] = {
    ALLOW(accept),
    ALLOW(accept4),
    /* fork(); no new namespaces. clone(unsigned long clone_flags, ...): the
     * flags are tested on all 64 bits (the kernel keeps only the low 32, where
     * every namespace flag is) */
    ALLOW_IF(clone, ARG_NONE_OF64(0, CLONE_NS_FLAGS)),
    FAIL(clone3, ENOSYS), /* flags are in memory: glibc falls back to clone */
    ALLOW(kill), /* children; Landlock ABI >= 6 scopes signals to them */
    ALLOW(tgkill),
    ALLOW_IF(socketpair, ARG_EQ32(0, AF_UNIX)), /* front ↔ back; int family */
    ALLOW(pipe2),
    ALLOW(set_robust_list), /* glibc in a new child */
    ALLOW(rseq),
    ALLOW(getppid),
    ALLOW(close_range),
    ALLOW_IF(prctl, ARG_EQ32(0, PR_SET_PDEATHSIG)),
    ALLOW_IF(prctl, ARG_EQ32(0, PR_SET_NAME)),
};

#ifdef SEALMAIL_SAN
/* ASan/UBSan builds only (make SAN=1, tests): LeakSanitizer's exit check stops
 * the world with a ptrace'ing clone and reads /proc/self/{maps,task}. Never in
 * a production build. */
static const struct sandbox_sc sc_san[] = {
    ALLOW(sigaltstack),
    /* the tracer shares our memory; fork() (no CLONE_VM) stays forbidden */
    ALLOW_IF(clone, ARG_MASKED64(0, CLONE_VM | CLONE_UNTRACED | CLONE_NS_FLAGS,
                                 CLONE_VM | CLONE_UNTRACED)),
    ALLOW(ptrace),
    ALLOW(open),
    ALLOW(openat),
    ALLOW(getdents), /* the sanitizer runtime's own syscall wrappers use the old ones */
    ALLOW(getdents64),
    ALLOW(readlink),
    ALLOW(newfstatat),
    ALLOW(getppid),
    ALLOW(prctl),
    ALLOW(set_robust_list),
    ALLOW(rseq),
    ALLOW(tgkill),
    ALLOW(pipe2),
};
#define SAN_GROUP &g_san,
#else
#define SAN_GROUP
#endif

#define GROUP(v, tbl)                                                                              \
	static const struct sandbox_sc_group v = {#tbl, tbl, sizeof(tbl) / sizeof(tbl[0])}
GROUP(g_base, sc_base);
GROUP(g_files, sc_files);
GROUP(g_auth_files, sc_auth_files);
GROUP(g_net, sc_net);
GROUP(g_inotify, sc_inotify);
GROUP(g_stage, sc_stage);
GROUP(g_proc, sc_proc);
#ifdef SEALMAIL_SAN
GROUP(g_san, sc_san);
/* LeakSanitizer stats files (sc_san allows newfstatat outright). */
#define NOSTAT_GROUP
#else
GROUP(g_nostat, sc_nostat);
#define NOSTAT_GROUP &g_nostat,
#endif

static const struct sandbox_sc_group *const p_front[] = {&g_base, NOSTAT_GROUP SAN_GROUP NULL};
static const struct sandbox_sc_group *const p_mx[] = {&g_base, &g_files, &g_net, SAN_GROUP NULL};
/* No inotify after login: Landlock does not govern inotify_add_watch, and a
 * watch on another user's spool/new would tell when and how much mail that
 * user gets. The session's own watches are set before this stage
 * (confine_want_user_watch, lib/svc/confine.c). */
static const struct sandbox_sc_group *const p_postauth[] = {&g_base, &g_files, &g_net,
                                                            SAN_GROUP NULL};
/* No inotify either: authentication reads directory.db, where every user's
 * id is, and Landlock would not stop a watch on any user's spool. */
static const struct sandbox_sc_group *const p_auth[] = {&g_base, &g_auth_files, SAN_GROUP NULL};
static const struct sandbox_sc_group *const p_accept[] = {
    &g_base, &g_files, &g_net, &g_inotify, &g_stage, &g_proc, SAN_GROUP NULL};

const struct sandbox_sc_group *const *sandbox_policy(enum sandbox_profile p)
{
	switch (p) {
	case SANDBOX_PREAUTH_FRONT:
		return p_front;
	case SANDBOX_AUTH:
		return p_auth;
	case SANDBOX_POSTAUTH:
		return p_postauth;
	case SANDBOX_MX:
	case SANDBOX_SUBMIT: /* the MX's work (directory, Redis, milters, files) */
		return p_mx;
	case SANDBOX_ACCEPT:
		return p_accept;
	case SANDBOX_PROFILE_COUNT:
		break;
	}
	return NULL;
}

bool sandbox_policy_forks(enum sandbox_profile p)
{
	return p == SANDBOX_ACCEPT;
}
