/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* The seccomp allow-lists, one syscall per line. Every profile is a list of
 * groups; a later stage stacks its filter on the earlier one, so a profile that
 * enters another (AUTH → POSTAUTH, ACCEPT → any) must contain it (checked by
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

/* Allowed unconditionally. */
#define ALLOW(n)                                                                                   \
	{                                                                                          \
		.nr = SCMP_SYS(n), .name = #n                                                      \
	}
/* Allowed when 32-bit argument i equals v. */
#define ALLOW_EQ(n, i, v)                                                                          \
	{                                                                                          \
		.nr = SCMP_SYS(n), .name = #n, .nargs = 1,                                         \
		.arg = { {.idx = (i), .mask = M32, .datum = (uint64_t)(v)} }                       \
	}
/* Allowed when argument i has none of the bits in m. */
#define ALLOW_NONE_OF(n, i, m)                                                                     \
	{                                                                                          \
		.nr = SCMP_SYS(n), .name = #n, .nargs = 1,                                         \
		.arg = { {.idx = (i), .mask = (uint64_t)(m), .datum = 0} }                         \
	}
/* Allowed when argument i has every bit in m. */
#define ALLOW_ALL_OF(n, i, m)                                                                      \
	{                                                                                          \
		.nr = SCMP_SYS(n), .name = #n, .nargs = 1,                                         \
		.arg = { {.idx = (i), .mask = (uint64_t)(m), .datum = (uint64_t)(m)} }             \
	}
/* Allowed when (argument i & m) == d. */
#define ALLOW_MASKED(n, i, m, d)                                                                   \
	{                                                                                          \
		.nr = SCMP_SYS(n), .name = #n, .nargs = 1,                                         \
		.arg = { {.idx = (i), .mask = (uint64_t)(m), .datum = (uint64_t)(d)} }             \
	}
/* Allowed when argument i is this process's pid (taken at load time). */
#define ALLOW_SELF(n, i)                                                                           \
	{                                                                                          \
		.nr = SCMP_SYS(n), .name = #n, .nargs = 1,                                         \
		.arg = { {.idx = (i), .self_pid = true, .mask = M32} }                             \
	}
/* Not run; fails with errno e (when argument i equals v, if given). */
#define FAIL(n, e)                                                                                 \
	{                                                                                          \
		.nr = SCMP_SYS(n), .name = #n, .errno_ret = (e)                                    \
	}
#define FAIL_EQ(n, e, i, v)                                                                        \
	{                                                                                          \
		.nr = SCMP_SYS(n), .name = #n, .errno_ret = (e), .nargs = 1,                       \
		.arg = { {.idx = (i), .mask = M32, .datum = (uint64_t)(v)} }                       \
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
    ALLOW_SELF(tgkill, 0),
    /* reap children forked before the sandbox: the login front is the back
     * process's parent and waits for it when the session ends */
    ALLOW(wait4),
    ALLOW(waitid),
    /* memory: glibc malloc (brk, mmap, mremap, madvise for trimming), OpenSSL,
     * SQLite's page cache; never executable memory (W^X) */
    ALLOW(brk),
    ALLOW_NONE_OF(mmap, 2, PROT_EXEC),
    ALLOW_NONE_OF(mprotect, 2, PROT_EXEC),
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
    ALLOW_EQ(prlimit64, 2, 0), /* new limit NULL: getrlimit only */
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
    ALLOW_EQ(fcntl, 1, F_GETFD),
    ALLOW_EQ(fcntl, 1, F_SETFD),
    ALLOW_EQ(fcntl, 1, F_GETFL),
    ALLOW_EQ(fcntl, 1, F_SETFL), /* O_NONBLOCK (io_init) */
    /* fstat(3) is newfstatat(fd, "", AT_EMPTY_PATH) since glibc 2.33; stdio
     * uses it to size buffers */
    ALLOW(fstat),
    ALLOW_ALL_OF(newfstatat, 3, AT_EMPTY_PATH),
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
    ALLOW_EQ(prctl, 0, PR_GET_NAME), /* the memfd is named after the process */
    ALLOW(memfd_create),
    ALLOW_EQ(fcntl, 1, F_ADD_SEALS),
    ALLOW_EQ(fcntl, 1, F_GET_SEALS),
    /* stdio asks whether a stream is a terminal; answer "no" without
     * running any ioctl */
    FAIL_EQ(ioctl, ENOTTY, 1, TCGETS),
};

/* Files, for every profile but the front. Which paths is Landlock's job. */
static const struct sandbox_sc sc_files[] = {
    /* glibc opens with openat; open for older callers */
    ALLOW(open),
    ALLOW(openat),
    /* metadata and path lookups: Landlock does not restrict these; they show
     * no file content */
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

/* Client sockets: Redis (unix or TCP), milters, journald reconnects. Landlock
 * (ABI >= 4) limits TCP connects to the configured ports. */
static const struct sandbox_sc sc_net[] = {
    ALLOW_EQ(socket, 0, AF_UNIX),
    ALLOW_EQ(socket, 0, AF_INET),
    ALLOW_EQ(socket, 0, AF_INET6),
    ALLOW(connect),
    ALLOW(setsockopt), /* TCP_NODELAY, SO_KEEPALIVE (hiredis) */
};

/* IDLE without Redis: watch the user directory (DESIGN section 3). */
static const struct sandbox_sc sc_inotify[] = {
    ALLOW(inotify_init1),
    ALLOW(inotify_add_watch),
    ALLOW(inotify_rm_watch),
};

/* Entering a later, narrower stage: what sandbox_enter() itself does. */
static const struct sandbox_sc sc_stage[] = {
    ALLOW_EQ(prctl, 0, PR_SET_NO_NEW_PRIVS),
    ALLOW_EQ(prctl, 0, PR_GET_NO_NEW_PRIVS),
    ALLOW_EQ(prctl, 0, PR_SET_DUMPABLE),
    ALLOW_EQ(prctl, 0, PR_GET_DUMPABLE),
    ALLOW_EQ(prctl, 0, PR_GET_SECCOMP),
    ALLOW(seccomp),
    ALLOW(landlock_create_ruleset),
    ALLOW(landlock_add_rule),
    ALLOW(landlock_restrict_self),
    ALLOW_EQ(prlimit64, 0, 0), /* own limits: RLIMIT_CORE, RLIMIT_NPROC */
};

/* The Accept=no parent and the per-connection child before it splits into
 * front and back. */
static const struct sandbox_sc sc_proc[] = {
    ALLOW(accept),
    ALLOW(accept4),
    ALLOW_NONE_OF(clone, 0, CLONE_NS_FLAGS), /* fork(); no new namespaces */
    FAIL(clone3, ENOSYS),                    /* flags are in memory: glibc falls back to clone */
    ALLOW(kill), /* children; Landlock ABI >= 6 scopes signals to them */
    ALLOW(tgkill),
    ALLOW_EQ(socketpair, 0, AF_UNIX), /* front ↔ back */
    ALLOW(pipe2),
    ALLOW(set_robust_list), /* glibc in a new child */
    ALLOW(rseq),
    ALLOW(getppid),
    ALLOW(close_range),
    ALLOW_EQ(prctl, 0, PR_SET_PDEATHSIG),
    ALLOW_EQ(prctl, 0, PR_SET_NAME),
};

#ifdef SEALMAIL_SAN
/* ASan/UBSan builds only (make SAN=1, tests): LeakSanitizer's exit check stops
 * the world with a ptrace'ing clone and reads /proc/self/{maps,task}. Never in
 * a production build. */
static const struct sandbox_sc sc_san[] = {
    ALLOW(sigaltstack),
    /* the tracer shares our memory; fork() (no CLONE_VM) stays forbidden */
    ALLOW_MASKED(clone, 0, CLONE_VM | CLONE_UNTRACED | CLONE_NS_FLAGS, CLONE_VM | CLONE_UNTRACED),
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
GROUP(g_net, sc_net);
GROUP(g_inotify, sc_inotify);
GROUP(g_stage, sc_stage);
GROUP(g_proc, sc_proc);
#ifdef SEALMAIL_SAN
GROUP(g_san, sc_san);
#endif

static const struct sandbox_sc_group *const p_front[] = {&g_base, SAN_GROUP NULL};
static const struct sandbox_sc_group *const p_mx[] = {&g_base, &g_files, &g_net, SAN_GROUP NULL};
static const struct sandbox_sc_group *const p_postauth[] = {&g_base, &g_files, &g_net, &g_inotify,
                                                            SAN_GROUP NULL};
static const struct sandbox_sc_group *const p_auth[] = {&g_base,    &g_files, &g_net,
                                                        &g_inotify, &g_stage, SAN_GROUP NULL};
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
