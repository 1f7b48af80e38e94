/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* Sandbox: policy tables, Landlock bit mapping, and real confinement in forked
 * children (the parent only waits and checks how each child ended). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <netinet/in.h>
#include <seccomp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/fmt.h"
#include "sandbox.h"
#include "sandbox_int.h"

#define SIGNALLED(s) (1000 + (s))

static char tmpdir[64];
static int state_fd = -1;

/* Run fn in a child; returns its exit status, or SIGNALLED(sig). With
 * err_out, the child's stderr is captured there (NUL-terminated). */
static int in_child(int (*fn)(void *), void *arg, char *err_out, size_t err_sz)
{
	int pfd[2] = {-1, -1};
	if (err_out != NULL && pipe(pfd) < 0)
		return -1;
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		if (err_out != NULL) {
			dup2(pfd[1], 2);
			close(pfd[0]);
			close(pfd[1]);
		}
		_exit(fn(arg));
	}
	if (err_out != NULL) {
		close(pfd[1]);
		size_t got = 0;
		ssize_t r;
		while (got + 1 < err_sz && (r = read(pfd[0], err_out + got, err_sz - 1 - got)) > 0)
			got += (size_t)r;
		err_out[got] = '\0';
		close(pfd[0]);
	}
	int st;
	if (waitpid(pid, &st, 0) != pid)
		return -1;
	if (WIFSIGNALED(st))
		return SIGNALLED(WTERMSIG(st));
	return WEXITSTATUS(st);
}

static int enter(enum sandbox_profile p, const char *user)
{
	const char *err = NULL;
	struct sandbox_layout l = {.state_fd = state_fd, .user_id = user};
	if (sandbox_enter_layout(p, &l, &err) < 0) {
		fprintf(stderr, "sandbox: %s\n", err);
		return -1;
	}
	return 0;
}

static int open_errno(const char *rel, int flags)
{
	char path[256];
	assert_int_equal(fmt_name(path, sizeof(path), "%s/%s", tmpdir, rel), 0);
	int fd = open(path, flags | O_CLOEXEC, 0600);
	if (fd < 0)
		return errno;
	close(fd);
	return 0;
}

static int setup(void **state)
{
	(void)state;
	assert_int_equal(fmt_name(tmpdir, sizeof(tmpdir), "/tmp/sealmail-sandbox-XXXXXX"), 0);
	if (mkdtemp(tmpdir) == NULL)
		return -1;
	char p[256];
	static const char *dirs[] = {
	    "users",  "users/A", "users/A/spool", "users/A/spool/tmp", "users/A/spool/new",
	    "users/B"};
	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		assert_int_equal(fmt_name(p, sizeof(p), "%s/%s", tmpdir, dirs[i]), 0);
		if (mkdir(p, 0700) < 0)
			return -1;
	}
	static const char *files[] = {"directory.db", "users/B/mailbox.db", "users/A/old"};
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		assert_int_equal(fmt_name(p, sizeof(p), "%s/%s", tmpdir, files[i]), 0);
		int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		if (fd < 0 || write(fd, "data", 4) != 4)
			return -1;
		close(fd);
	}
	state_fd = open(tmpdir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	return state_fd < 0 ? -1 : 0;
}

static int teardown(void **state)
{
	(void)state;
	char cmd[128];
	assert_int_equal(fmt_name(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir), 0);
	return system(cmd) == 0 ? 0 : -1;
}

/* ---- tables ---- */

static void test_profile_names(void **state)
{
	(void)state;
	for (int i = 0; i < SANDBOX_PROFILE_COUNT; i++) {
		enum sandbox_profile p;
		assert_int_equal(
		    sandbox_profile_parse(sandbox_profile_name((enum sandbox_profile)i), &p), 1);
		assert_int_equal(p, i);
	}
	enum sandbox_profile p;
	assert_int_equal(sandbox_profile_parse("root", &p), 0);
	assert_string_equal(sandbox_profile_name(SANDBOX_PROFILE_COUNT), "?");
}

static bool entry_equal(const struct sandbox_sc *a, const struct sandbox_sc *b)
{
	if (a->nr != b->nr || a->errno_ret != b->errno_ret || a->nargs != b->nargs)
		return false;
	for (unsigned i = 0; i < a->nargs; i++)
		if (a->arg[i].idx != b->arg[i].idx || a->arg[i].width != b->arg[i].width ||
		    a->arg[i].mask != b->arg[i].mask ||
		    a->arg[i].datum != b->arg[i].datum || a->arg[i].self_pid != b->arg[i].self_pid)
			return false;
	return true;
}

/* Does profile outer allow (at least) what entry e allows? */
static bool covers(enum sandbox_profile outer, const struct sandbox_sc *e)
{
	const struct sandbox_sc_group *const *g = sandbox_policy(outer);
	for (size_t i = 0; g[i] != NULL; i++)
		for (size_t k = 0; k < g[i]->n; k++) {
			const struct sandbox_sc *f = &g[i]->sc[k];
			if (f->nr != e->nr)
				continue;
			/* An unconditional allow covers whatever the inner
			 * stage does with the call: allow it, or fail it
			 * with an errno (the stricter action wins). */
			if (f->errno_ret == 0 && f->nargs == 0)
				return true;
			if (entry_equal(e, f))
				return true;
		}
	return false;
}

static bool allows(enum sandbox_profile p, int nr)
{
	const struct sandbox_sc_group *const *g = sandbox_policy(p);
	for (size_t i = 0; g[i] != NULL; i++)
		for (size_t k = 0; k < g[i]->n; k++)
			if (g[i]->sc[k].nr == nr && g[i]->sc[k].errno_ret == 0)
				return true;
	return false;
}

/* Filters stack: a stage entered on top of another must be a subset. */
static void test_policy_stacking(void **state)
{
	(void)state;
	static const struct {
		enum sandbox_profile outer, inner;
	} pairs[] = {
	    {SANDBOX_ACCEPT, SANDBOX_PREAUTH_FRONT}, {SANDBOX_ACCEPT, SANDBOX_AUTH},
	    {SANDBOX_ACCEPT, SANDBOX_POSTAUTH},      {SANDBOX_ACCEPT, SANDBOX_MX},
	    {SANDBOX_ACCEPT, SANDBOX_SUBMIT},
	};
	for (size_t i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++) {
		const struct sandbox_sc_group *const *g = sandbox_policy(pairs[i].inner);
		for (size_t j = 0; g[j] != NULL; j++)
			for (size_t k = 0; k < g[j]->n; k++) {
				if (!covers(pairs[i].outer, &g[j]->sc[k]))
					fail_msg("%s lacks %s of %s",
					         sandbox_profile_name(pairs[i].outer),
					         g[j]->sc[k].name,
					         sandbox_profile_name(pairs[i].inner));
			}
	}
}

/* AUTH gets what authentication uses and nothing it inherited from the
 * post-auth list: no writes, no sockets, no inotify, no later stage (the
 * login back enters POSTAUTH in a process that never was in AUTH). The
 * accept loop, which forks fronts, backs and their authentication, keeps
 * what forking and reaping need. */
static void test_policy_auth_is_narrow(void **state)
{
	(void)state;
	static const int never_auth[] = {
	    SCMP_SYS(truncate),
	    SCMP_SYS(ftruncate),
	    SCMP_SYS(fallocate),
	    SCMP_SYS(pwrite64),
	    SCMP_SYS(pwritev),
	    SCMP_SYS(fsync),
	    SCMP_SYS(fdatasync),
	    SCMP_SYS(unlink),
	    SCMP_SYS(unlinkat),
	    SCMP_SYS(rename),
	    SCMP_SYS(renameat),
	    SCMP_SYS(renameat2),
	    SCMP_SYS(mkdir),
	    SCMP_SYS(mkdirat),
	    SCMP_SYS(rmdir),
	    SCMP_SYS(fchmod),
	    SCMP_SYS(getdents64),
	    SCMP_SYS(socket),
	    SCMP_SYS(connect),
	    SCMP_SYS(setsockopt),
	    SCMP_SYS(inotify_init1),
	    SCMP_SYS(inotify_add_watch),
	    SCMP_SYS(seccomp),
	    SCMP_SYS(landlock_create_ruleset),
	    SCMP_SYS(landlock_restrict_self),
	    SCMP_SYS(clone),
	    SCMP_SYS(pipe2),
	};
	for (size_t i = 0; i < sizeof(never_auth) / sizeof(never_auth[0]); i++) {
#ifdef SEALMAIL_SAN
		/* LeakSanitizer's exit check. */
		if (never_auth[i] == SCMP_SYS(getdents64) || never_auth[i] == SCMP_SYS(clone) ||
		    never_auth[i] == SCMP_SYS(pipe2))
			continue;
#endif
		if (allows(SANDBOX_AUTH, never_auth[i]))
			fail_msg("auth allows syscall %d", never_auth[i]);
	}
	static const int accept_needs[] = {SCMP_SYS(clone), SCMP_SYS(pipe2), SCMP_SYS(wait4),
	                                   SCMP_SYS(socketpair), SCMP_SYS(accept4)};
	for (size_t i = 0; i < sizeof(accept_needs) / sizeof(accept_needs[0]); i++)
		assert_true(allows(SANDBOX_ACCEPT, accept_needs[i]));
}

static void test_policy_front_is_tight(void **state)
{
	(void)state;
	static const int never_front[] = {
	    SCMP_SYS(open),    SCMP_SYS(openat),   SCMP_SYS(socket), SCMP_SYS(connect),
	    SCMP_SYS(execve),  SCMP_SYS(execveat), SCMP_SYS(ptrace), SCMP_SYS(clone),
	    SCMP_SYS(fork),    SCMP_SYS(vfork),    SCMP_SYS(bind),   SCMP_SYS(listen),
	    SCMP_SYS(accept4), SCMP_SYS(unlink),   SCMP_SYS(rename), SCMP_SYS(getdents64),
	    SCMP_SYS(stat),    SCMP_SYS(lstat),    SCMP_SYS(fstat),  SCMP_SYS(newfstatat),
	    SCMP_SYS(statx),
	};
	for (size_t i = 0; i < sizeof(never_front) / sizeof(never_front[0]); i++) {
#ifdef SEALMAIL_SAN
		/* LeakSanitizer's exit check opens /proc and ptraces. */
		if (never_front[i] == SCMP_SYS(open) || never_front[i] == SCMP_SYS(openat) ||
		    never_front[i] == SCMP_SYS(ptrace) || never_front[i] == SCMP_SYS(clone) ||
		    never_front[i] == SCMP_SYS(getdents64) || never_front[i] == SCMP_SYS(newfstatat))
			continue;
#endif
		assert_false(allows(SANDBOX_PREAUTH_FRONT, never_front[i]));
	}
	static const int never[] = {
	    SCMP_SYS(execve),
	    SCMP_SYS(execveat),
	    SCMP_SYS(mount),
	    SCMP_SYS(umount2),
	    SCMP_SYS(bpf),
	    SCMP_SYS(perf_event_open),
	    SCMP_SYS(init_module),
	    SCMP_SYS(finit_module),
	    SCMP_SYS(kexec_load),
	    SCMP_SYS(unshare),
	    SCMP_SYS(setns),
	    SCMP_SYS(keyctl),
	    SCMP_SYS(add_key),
	    SCMP_SYS(userfaultfd),
	    SCMP_SYS(io_uring_setup),
	    SCMP_SYS(process_vm_readv),
	    SCMP_SYS(process_vm_writev),
	    SCMP_SYS(bind),
	    SCMP_SYS(listen),
	    SCMP_SYS(chroot),
	    SCMP_SYS(pivot_root),
	    SCMP_SYS(setuid),
	    SCMP_SYS(personality),
	    SCMP_SYS(iopl),
	    SCMP_SYS(ioperm),
	    SCMP_SYS(swapon),
	    SCMP_SYS(reboot),
	    SCMP_SYS(open_by_handle_at),
	    SCMP_SYS(name_to_handle_at),
	    SCMP_SYS(chmod),
	    SCMP_SYS(fchmodat),
	    SCMP_SYS(chown),
	    SCMP_SYS(fchownat),
	    SCMP_SYS(link),
	    SCMP_SYS(symlink),
	    SCMP_SYS(mknod),
	};
	for (int p = 0; p < SANDBOX_PROFILE_COUNT; p++)
		for (size_t i = 0; i < sizeof(never) / sizeof(never[0]); i++)
			if (allows((enum sandbox_profile)p, never[i]))
				fail_msg("%s allows syscall %d", sandbox_profile_name(p), never[i]);
#ifndef SEALMAIL_SAN
	for (int p = 0; p < SANDBOX_PROFILE_COUNT; p++)
		assert_false(allows((enum sandbox_profile)p, SCMP_SYS(ptrace)));
#endif
	/* Only the accept parent forks. */
	assert_true(sandbox_policy_forks(SANDBOX_ACCEPT));
	assert_false(sandbox_policy_forks(SANDBOX_POSTAUTH));
	assert_false(sandbox_policy_forks(SANDBOX_PREAUTH_FRONT));
}

/* ---- argument widths ---- */

/* How the kernel declares (SYSCALL_DEFINE, x86_64) every syscall argument a
 * rule looks at. int, unsigned int and pid_t are 32 bits wide (the kernel
 * truncates the register to them); pointers, size_t, long and unsigned long
 * are 64. A new rule on another argument must add it here. */
static const struct {
	int nr;
	unsigned idx;
	unsigned width;
	const char *proto;
} arg_types[] = {
    {SCMP_SYS(tgkill), 0, SANDBOX_ARG32, "tgkill(pid_t tgid, pid_t pid, int sig)"},
    {SCMP_SYS(prlimit64), 0, SANDBOX_ARG32,
     "prlimit64(pid_t pid, unsigned int resource, const struct rlimit64 *new_rlim, "
     "struct rlimit64 *old_rlim)"},
    {SCMP_SYS(prlimit64), 2, SANDBOX_ARG64, "prlimit64: new_rlim, a pointer"},
    {SCMP_SYS(mmap), 2, SANDBOX_ARG64,
     "mmap(unsigned long addr, unsigned long len, unsigned long prot, unsigned long flags, "
     "unsigned long fd, unsigned long off)"},
    {SCMP_SYS(mprotect), 2, SANDBOX_ARG64,
     "mprotect(unsigned long start, size_t len, unsigned long prot)"},
    {SCMP_SYS(fcntl), 1, SANDBOX_ARG32,
     "fcntl(unsigned int fd, unsigned int cmd, unsigned long arg)"},
    {SCMP_SYS(prctl), 0, SANDBOX_ARG32, "prctl(int option, unsigned long arg2, ...)"},
    {SCMP_SYS(ioctl), 1, SANDBOX_ARG32,
     "ioctl(unsigned int fd, unsigned int cmd, unsigned long arg)"},
    {SCMP_SYS(socket), 0, SANDBOX_ARG32, "socket(int family, int type, int protocol)"},
    {SCMP_SYS(socketpair), 0, SANDBOX_ARG32,
     "socketpair(int family, int type, int protocol, int *usockvec)"},
    {SCMP_SYS(clone), 0, SANDBOX_ARG64,
     "clone(unsigned long clone_flags, unsigned long newsp, int *parent_tidptr, "
     "int *child_tidptr, unsigned long tls)"},
};

static unsigned kernel_arg_width(int nr, unsigned idx)
{
	for (size_t i = 0; i < sizeof(arg_types) / sizeof(arg_types[0]); i++)
		if (arg_types[i].nr == nr && arg_types[i].idx == idx)
			return arg_types[i].width;
	return 0;
}

/* Every condition of every profile is well formed and compares its argument
 * at the kernel's width: no 32-bit mask on a pointer or a size. */
static void test_arg_widths(void **state)
{
	(void)state;
	for (int p = 0; p < SANDBOX_PROFILE_COUNT; p++) {
		const struct sandbox_sc_group *const *g = sandbox_policy((enum sandbox_profile)p);
		for (size_t i = 0; g[i] != NULL; i++)
			for (size_t k = 0; k < g[i]->n; k++) {
				const struct sandbox_sc *e = &g[i]->sc[k];
				const char *err = NULL;
				if (sandbox_sc_check(e, &err) < 0)
					fail_msg("%s: %s", g[i]->name, err);
				for (unsigned a = 0; a < e->nargs; a++) {
					unsigned idx = e->arg[a].idx;
					unsigned w = kernel_arg_width(e->nr, idx);
					if (w == 0)
						fail_msg("%s argument %u: add its kernel type to "
						         "arg_types",
						         e->name, idx);
					if (w != e->arg[a].width)
						fail_msg("%s argument %u is %u bits wide in the "
						         "kernel; the rule compares %u",
						         e->name, idx, w, e->arg[a].width);
				}
			}
	}
	/* and lists no argument that no rule looks at */
	for (size_t i = 0; i < sizeof(arg_types) / sizeof(arg_types[0]); i++) {
		bool used = false;
		const struct sandbox_sc_group *const *g = sandbox_policy(SANDBOX_ACCEPT);
		for (size_t j = 0; g[j] != NULL && !used; j++)
			for (size_t k = 0; k < g[j]->n; k++)
				for (unsigned a = 0; a < g[j]->sc[k].nargs; a++)
					if (g[j]->sc[k].nr == arg_types[i].nr &&
					    g[j]->sc[k].arg[a].idx == arg_types[i].idx)
						used = true;
		if (!used)
			fail_msg("arg_types lists an argument no rule uses: %s",
			         arg_types[i].proto);
	}
}

static int sc_check1(unsigned idx, unsigned width, bool self, uint64_t mask, uint64_t datum)
{
	struct sandbox_sc e = {.nr = SCMP_SYS(prlimit64), .name = "prlimit64", .nargs = 1};
	e.arg[0] = (struct sandbox_sc_arg){.idx = (unsigned char)idx,
	                                   .width = (unsigned char)width,
	                                   .self_pid = self,
	                                   .mask = mask,
	                                   .datum = datum};
	const char *err = NULL;
	int rc = sandbox_sc_check(&e, &err);
	if (rc < 0)
		assert_non_null(strstr(err, "prlimit64, argument"));
	return rc;
}

/* Malformed conditions are refused before any filter is built. */
static void test_sc_check(void **state)
{
	(void)state;
	const uint64_t m32 = 0xffffffffULL, m64 = ~0ULL;
	assert_int_equal(sc_check1(2, SANDBOX_ARG64, false, m64, 0), 0);
	assert_int_equal(sc_check1(0, SANDBOX_ARG32, false, m32, 0), 0);
	assert_int_equal(sc_check1(0, SANDBOX_ARG32, true, m32, 0), 0);
	assert_int_equal(sc_check1(2, SANDBOX_ARG64, false, PROT_EXEC, 0), 0);
	/* the bypass: a pointer compared on its low half */
	assert_int_equal(sc_check1(2, SANDBOX_ARG64, false, m32, 0), -1);
	/* no width */
	assert_int_equal(sc_check1(2, 0, false, m64, 0), -1);
	assert_int_equal(sc_check1(2, 48, false, m64, 0), -1);
	/* a 32-bit argument has no bit 32 */
	assert_int_equal(sc_check1(0, SANDBOX_ARG32, false, m64, 0), -1);
	assert_int_equal(sc_check1(0, SANDBOX_ARG32, false, (1ULL << 32) | 1, 0), -1);
	/* a datum outside the mask never matches */
	assert_int_equal(sc_check1(0, SANDBOX_ARG32, false, m32, 1ULL << 32), -1);
	assert_int_equal(sc_check1(2, SANDBOX_ARG64, false, PROT_EXEC, PROT_READ), -1);
	/* a condition on nothing, on no argument, a pid on 64 bits */
	assert_int_equal(sc_check1(2, SANDBOX_ARG64, false, 0, 0), -1);
	assert_int_equal(sc_check1(6, SANDBOX_ARG64, false, m64, 0), -1);
	assert_int_equal(sc_check1(0, SANDBOX_ARG64, true, m64, 0), -1);
	struct sandbox_sc many = {.nr = SCMP_SYS(prlimit64), .name = "prlimit64", .nargs = 3};
	const char *err = NULL;
	assert_int_equal(sandbox_sc_check(&many, &err), -1);
}

/* ---- Landlock bit mapping and ABI cap ---- */

#define LL_READ_FILE  (1ULL << 2)
#define LL_READ_DIR   (1ULL << 3)
#define LL_WRITE_FILE (1ULL << 1)
#define LL_MAKE_REG   (1ULL << 8)
#define LL_REFER      (1ULL << 13)
#define LL_TRUNCATE   (1ULL << 14)
#define LL_IOCTL_DEV  (1ULL << 15)

static void test_landlock_bits(void **state)
{
	(void)state;
	assert_int_equal(sandbox_ll_handled_fs(0), 0);
	assert_int_equal(sandbox_ll_handled_fs(1), (1ULL << 13) - 1);
	assert_int_equal(sandbox_ll_handled_fs(2), ((1ULL << 13) - 1) | LL_REFER);
	assert_int_equal(sandbox_ll_handled_fs(3), ((1ULL << 15) - 1));
	assert_int_equal(sandbox_ll_handled_fs(5), ((1ULL << 16) - 1));
	assert_int_equal(sandbox_ll_handled_fs(7), ((1ULL << 16) - 1));
	/* RENAME needs ABI 2, TRUNCATE ABI 3 */
	assert_int_equal(sandbox_ll_access(SANDBOX_FS_RENAME, 1, true), 0);
	assert_int_equal(sandbox_ll_access(SANDBOX_FS_RENAME, 2, true), LL_REFER);
	assert_int_equal(sandbox_ll_access(SANDBOX_FS_TRUNCATE, 2, true), 0);
	assert_int_equal(sandbox_ll_access(SANDBOX_FS_TRUNCATE, 3, true), LL_TRUNCATE);
	/* a rule on a file keeps only file rights */
	assert_int_equal(sandbox_ll_access(SANDBOX_FS_USERDIR, 7, false),
	                 LL_READ_FILE | LL_WRITE_FILE | LL_TRUNCATE);
	assert_int_equal(sandbox_ll_access(SANDBOX_FS_RO, 7, true), LL_READ_FILE | LL_READ_DIR);
	assert_int_equal(sandbox_ll_access(SANDBOX_FS_CREATE, 7, true), LL_MAKE_REG);
	/* never execute, never device ioctls, never symlinks/sockets/fifos/devices */
	uint64_t all = sandbox_ll_access(SANDBOX_FS_ALL_BITS, 7, true);
	assert_int_equal(all & (1ULL << 0), 0);
	assert_int_equal(all & LL_IOCTL_DEV, 0);
	assert_int_equal(
	    all & ((1ULL << 6) | (1ULL << 9) | (1ULL << 10) | (1ULL << 11) | (1ULL << 12)), 0);
}

static void test_landlock_abi_cap(void **state)
{
	(void)state;
	assert_int_equal(sandbox_ll_effective_abi(NULL, 7), 7);
	assert_int_equal(sandbox_ll_effective_abi("", 7), 7);
	assert_int_equal(sandbox_ll_effective_abi("2", 7), 2);
	assert_int_equal(sandbox_ll_effective_abi("9", 7), 7);
	assert_int_equal(sandbox_ll_effective_abi("0", 7), 0);
	assert_int_equal(sandbox_ll_effective_abi("2", 0), 0);
	assert_int_equal(sandbox_ll_effective_abi("two", 7), -1);
	assert_int_equal(sandbox_ll_effective_abi("-1", 7), -1);
	assert_int_equal(sandbox_ll_effective_abi("2x", 7), -1);
	assert_int_equal(sandbox_ll_effective_abi("1000", 7), 7);
	assert_int_equal(sandbox_ll_effective_abi("1001", 7), -1);
	assert_int_equal(sandbox_ll_effective_abi("99999999999999999999", 7), -1);
	assert_int_equal(sandbox_ll_effective_abi("2 ", 7), -1);
}

/* ---- confinement, in children ---- */

static int c_front_open(void *arg)
{
	(void)arg;
	if (enter(SANDBOX_PREAUTH_FRONT, NULL) < 0)
		return 90;
	open_errno("directory.db", O_RDONLY);
	return 0; /* alive: the filter let open through (SAN builds: Landlock said no) */
}

static void test_front_open_killed(void **state)
{
	(void)state;
	int r = in_child(c_front_open, NULL, NULL, 0);
#ifdef SEALMAIL_SAN
	assert_true(r == SIGNALLED(SIGSYS) || r == 0);
#else
	assert_int_equal(r, SIGNALLED(SIGSYS));
#endif
}

/* What the front needs keeps working: pipe I/O, malloc of every size,
 * getrandom, time; fstat, even of its own descriptors, fails with EACCES
 * (the call that does it would stat any path). */
static int c_front_works(void *arg)
{
	(void)arg;
	int p[2];
	if (pipe(p) < 0 || enter(SANDBOX_PREAUTH_FRONT, NULL) < 0)
		return 90;
	char *big = malloc(32u << 20);
	if (big == NULL)
		return 91;
	memset(big, 7, 32u << 20);
	big = realloc(big, 64u << 20);
	free(big);
	unsigned char r[32];
	if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r))
		return 92;
	if (write(p[1], "abc", 3) != 3)
		return 93;
	char b[4];
	if (read(p[0], b, 3) != 3 || memcmp(b, "abc", 3) != 0)
		return 94;
	struct stat st;
#ifndef SEALMAIL_SAN
	if (fstat(p[0], &st) != -1 || errno != EACCES)
		return 95;
#else
	(void)st; /* LeakSanitizer needs stat: allowed in sanitizer builds */
#endif
	struct timespec ts;
	if (clock_gettime(CLOCK_REALTIME, &ts) < 0)
		return 96;
	struct rlimit rl;
	if (getrlimit(RLIMIT_CORE, &rl) < 0 || rl.rlim_cur != 0 || rl.rlim_max != 0)
		return 97;
	return 0;
}

static void test_front_works(void **state)
{
	(void)state;
	assert_int_equal(in_child(c_front_works, NULL, NULL, 0), 0);
}

static int c_front_forbidden(void *arg)
{
	int what = *(int *)arg;
	if (enter(SANDBOX_PREAUTH_FRONT, NULL) < 0)
		return 90;
	switch (what) {
	case 0:
		syscall(SYS_socket, AF_UNIX, SOCK_STREAM, 0);
		break;
	case 1: /* executable memory */
		mmap(NULL, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		break;
	case 2: /* getpid through the x32 ABI */
		syscall(0x40000000L | SYS_getpid);
		break;
	case 3:
		syscall(SYS_execve, "/bin/true", NULL, NULL);
		break;
	case 4: /* signals only to itself */
		kill(1, 0);
		break;
	}
	return 0;
}

static void test_front_forbidden(void **state)
{
	(void)state;
	for (int what = 0; what <= 4; what++)
		assert_int_equal(in_child(c_front_forbidden, &what, NULL, 0), SIGNALLED(SIGSYS));
}

/* ---- argument rules against high bits, in children ---- */

/* Garbage in the upper half of a syscall argument register. */
#define HIGH (1UL << 32)

static pid_t arg_parent;    /* a process of the same uid: the test runner */
static struct rlimit arg_nofile; /* RLIMIT_NOFILE before the sandbox */
static void *arg_high_page; /* mapped, holding arg_nofile, low 32 bits zero */
static int arg_pipe[2];

static long raw_prlimit(unsigned long pid, const void *new_rlim, struct rlimit *old_rlim)
{
	return syscall(SYS_prlimit64, pid, (unsigned long)RLIMIT_NOFILE, new_rlim, old_rlim);
}

static bool is_nofile(const struct rlimit *r)
{
	return r->rlim_cur == arg_nofile.rlim_cur && r->rlim_max == arg_nofile.rlim_max;
}

/* Each k_* makes one call in the sandbox and returns 0 when it behaved as
 * wanted (a call meant to be killed never returns). */

/* getrlimit, as glibc does it: pid 0, new limit NULL */
static int k_getrlimit(void)
{
	struct rlimit o;
	return getrlimit(RLIMIT_NOFILE, &o) == 0 && is_nofile(&o) ? 0 : 1;
}

/* prlimit(getpid(), ...) asks about itself too */
static int k_prlimit_self(void)
{
	struct rlimit o;
	return raw_prlimit((unsigned long)getpid(), NULL, &o) == 0 && is_nofile(&o) ? 0 : 1;
}

/* pid_t is 32 bits: high garbage on pid 0 passes the filter and the kernel
 * reads pid 0, this process */
static int k_prlimit_pid_high_zero(void)
{
	struct rlimit o;
	return raw_prlimit(HIGH, NULL, &o) == 0 && is_nofile(&o) ? 0 : 1;
}

/* a new limit at 0x100000000 (or another address with a zero low half) is
 * not NULL */
static int k_prlimit_new_high(void)
{
	return raw_prlimit(0, arg_high_page, NULL) == 0 ? 0 : 1;
}

static int k_prlimit_new_bit63(void)
{
	raw_prlimit(0, (const void *)(1UL << 63), NULL);
	return 1;
}

/* another process's limits: not even readable */
static int k_prlimit_parent_read(void)
{
	struct rlimit o;
	raw_prlimit((unsigned long)arg_parent, NULL, &o);
	return 1;
}

static int k_prlimit_parent_high(void)
{
	struct rlimit o;
	raw_prlimit(HIGH | (unsigned long)arg_parent, NULL, &o);
	return 1;
}

/* the attack: set another process's limits through a pointer above 4 GiB
 * (the limits written are its current ones, so a bypass changes nothing) */
static int k_prlimit_parent_new_high(void)
{
	raw_prlimit((unsigned long)arg_parent, arg_high_page, NULL);
	return 1;
}

/* AUTH sets no limit of its own: sandbox_enter set them before its filter */
static int k_setrlimit_own(void)
{
	return raw_prlimit(0, &arg_nofile, NULL) == 0 ? 0 : 1;
}

static int k_mmap_rw(void)
{
	void *m = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED || mprotect(m, 4096, PROT_READ) != 0)
		return 1;
	return munmap(m, 4096) == 0 ? 0 : 2;
}

static int k_mmap_exec_high(void)
{
	syscall(SYS_mmap, 0UL, 4096UL, HIGH | PROT_READ | PROT_EXEC,
	        (unsigned long)(MAP_PRIVATE | MAP_ANONYMOUS), -1L, 0UL);
	return 1;
}

static int k_mprotect_exec_high(void)
{
	void *m = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED)
		return 2;
	syscall(SYS_mprotect, m, 4096UL, HIGH | PROT_READ | PROT_EXEC);
	return 1;
}

static int k_fork(void)
{
	pid_t pid = fork();
	if (pid == 0)
		_exit(0);
	int st;
	return pid > 0 && waitpid(pid, &st, 0) == pid && WIFEXITED(st) ? 0 : 1;
}

static int k_clone_ns_high(void)
{
	long r = syscall(SYS_clone, HIGH | CLONE_NEWUSER | SIGCHLD, 0UL, NULL, NULL, 0UL);
	if (r == 0)
		_exit(0);
	return 1;
}

/* int arguments: the kernel reads the low half, as the filter does, so high
 * garbage neither kills a legitimate call nor lets another one through */
static int k_fcntl_getfl_high(void)
{
	long f = syscall(SYS_fcntl, (unsigned long)arg_pipe[0], HIGH | F_GETFL);
	return f >= 0 && f == fcntl(arg_pipe[0], F_GETFL) ? 0 : 1;
}

static int k_fcntl_dupfd_high(void)
{
	syscall(SYS_fcntl, (unsigned long)arg_pipe[0], HIGH | F_DUPFD, 10UL);
	return 1;
}

/* The front stats nothing, whatever the flags' upper half holds: every
 * newfstatat fails with EACCES (a path would name any file). */
static int k_fstatat_empty_high(void)
{
	struct stat a;
	long r = syscall(SYS_newfstatat, (unsigned long)arg_pipe[0], "", &a, HIGH | AT_EMPTY_PATH);
	return r == -1 && errno == EACCES ? 0 : 1;
}

static int k_fstatat_path_high(void)
{
	struct stat st;
	long r = syscall(SYS_newfstatat, (unsigned long)(unsigned)AT_FDCWD, "/", &st, HIGH);
	return r == -1 && errno == EACCES ? 0 : 1;
}

static int k_prctl_getname_high(void)
{
	char a[17] = "", b[17] = "";
	if (syscall(SYS_prctl, HIGH | PR_GET_NAME, a, 0UL, 0UL, 0UL) != 0)
		return 1;
	return prctl(PR_GET_NAME, b, 0, 0, 0) == 0 && strcmp(a, b) == 0 ? 0 : 2;
}

static int k_prctl_setname_high(void)
{
	syscall(SYS_prctl, HIGH | PR_SET_NAME, "renamed", 0UL, 0UL, 0UL);
	return 1;
}

static int k_tgkill_self_high(void)
{
	long r = syscall(SYS_tgkill, HIGH | (unsigned long)getpid(), (unsigned long)gettid(), 0UL);
	return r == 0 ? 0 : 1;
}

static int k_tgkill_parent_high(void)
{
	syscall(SYS_tgkill, HIGH | (unsigned long)arg_parent, (unsigned long)arg_parent, 0UL);
	return 1;
}

static int k_ioctl_tcgets_high(void)
{
	char tio[128];
	long r = syscall(SYS_ioctl, (unsigned long)arg_pipe[0], HIGH | TCGETS, tio);
	return r == -1 && errno == ENOTTY ? 0 : 1;
}

static int k_ioctl_fionread_high(void)
{
	int n;
	syscall(SYS_ioctl, (unsigned long)arg_pipe[0], HIGH | FIONREAD, &n);
	return 1;
}

static int k_socket_unix_high(void)
{
	long fd = syscall(SYS_socket, HIGH | AF_UNIX, (unsigned long)SOCK_STREAM, 0UL);
	if (fd < 0)
		return 1;
	int dom = -1;
	socklen_t sl = sizeof(dom);
	if (getsockopt((int)fd, SOL_SOCKET, SO_DOMAIN, &dom, &sl) != 0 || dom != AF_UNIX)
		return 2;
	return close((int)fd) == 0 ? 0 : 3;
}

static int k_socket_packet_high(void)
{
	syscall(SYS_socket, HIGH | AF_PACKET, (unsigned long)SOCK_RAW, 0UL);
	return 1;
}

static int k_socketpair_unix_high(void)
{
	int sv[2];
	long r = syscall(SYS_socketpair, HIGH | AF_UNIX, (unsigned long)SOCK_STREAM, 0UL, sv);
	return r == 0 ? 0 : 1;
}

static int k_socketpair_inet_high(void)
{
	int sv[2];
	syscall(SYS_socketpair, HIGH | AF_INET, (unsigned long)SOCK_STREAM, 0UL, sv);
	return 1;
}

struct arg_case {
	const char *name;
	enum sandbox_profile p;
	int (*call)(void);
	int want;       /* 0: the call behaved; SIGNALLED(SIGSYS): killed */
	bool san_allows; /* the sanitizer group allows the syscall outright */
};

#define KILLED SIGNALLED(SIGSYS)

/* Rules on 64-bit arguments: every bit counts. */
static const struct arg_case arg64_cases[] = {
    {"getrlimit", SANDBOX_PREAUTH_FRONT, k_getrlimit, 0, false},
    {"prlimit(self, NULL)", SANDBOX_PREAUTH_FRONT, k_prlimit_self, 0, false},
    {"prlimit(0, new above 4 GiB)", SANDBOX_PREAUTH_FRONT, k_prlimit_new_high, KILLED, false},
    {"prlimit(0, new with bit 63)", SANDBOX_PREAUTH_FRONT, k_prlimit_new_bit63, KILLED, false},
    {"prlimit(0, new above 4 GiB)", SANDBOX_POSTAUTH, k_prlimit_new_high, KILLED, false},
    {"prlimit(parent, new above 4 GiB)", SANDBOX_PREAUTH_FRONT, k_prlimit_parent_new_high,
     KILLED, false},
    {"prlimit(parent, new above 4 GiB)", SANDBOX_AUTH, k_prlimit_parent_new_high, KILLED,
     false},
    {"prlimit(parent, new above 4 GiB)", SANDBOX_ACCEPT, k_prlimit_parent_new_high, KILLED,
     false},
    {"prlimit(parent, NULL)", SANDBOX_PREAUTH_FRONT, k_prlimit_parent_read, KILLED, false},
    {"setrlimit", SANDBOX_AUTH, k_setrlimit_own, KILLED, false}, /* set before it */
    {"mmap and mprotect RW", SANDBOX_PREAUTH_FRONT, k_mmap_rw, 0, false},
    {"mmap(EXEC | high bit)", SANDBOX_PREAUTH_FRONT, k_mmap_exec_high, KILLED, false},
    {"mprotect(EXEC | high bit)", SANDBOX_PREAUTH_FRONT, k_mprotect_exec_high, KILLED, false},
    {"fork", SANDBOX_ACCEPT, k_fork, 0, false},
    {"clone(NEWUSER | high bit)", SANDBOX_ACCEPT, k_clone_ns_high, KILLED, false},
};

/* Rules on int arguments compare the low half, which is all the kernel
 * reads: high garbage does not change what is allowed. */
static const struct arg_case arg32_cases[] = {
    {"prlimit(high | 0, NULL)", SANDBOX_PREAUTH_FRONT, k_prlimit_pid_high_zero, 0, false},
    {"prlimit(high | parent, NULL)", SANDBOX_PREAUTH_FRONT, k_prlimit_parent_high, KILLED,
     false},
    {"fcntl(high | F_GETFL)", SANDBOX_PREAUTH_FRONT, k_fcntl_getfl_high, 0, false},
    {"fcntl(high | F_DUPFD)", SANDBOX_PREAUTH_FRONT, k_fcntl_dupfd_high, KILLED, false},
    {"newfstatat(fd, \"\", high | AT_EMPTY_PATH)", SANDBOX_PREAUTH_FRONT, k_fstatat_empty_high,
     0, true},
    {"newfstatat(\"/\", high)", SANDBOX_PREAUTH_FRONT, k_fstatat_path_high, 0, true},
    {"prctl(high | PR_GET_NAME)", SANDBOX_PREAUTH_FRONT, k_prctl_getname_high, 0, false},
    {"prctl(high | PR_SET_NAME)", SANDBOX_PREAUTH_FRONT, k_prctl_setname_high, KILLED, true},
    {"tgkill(high | self)", SANDBOX_PREAUTH_FRONT, k_tgkill_self_high, 0, false},
    {"tgkill(high | parent)", SANDBOX_PREAUTH_FRONT, k_tgkill_parent_high, KILLED, true},
    {"ioctl(high | TCGETS)", SANDBOX_PREAUTH_FRONT, k_ioctl_tcgets_high, 0, false},
    {"ioctl(high | FIONREAD)", SANDBOX_PREAUTH_FRONT, k_ioctl_fionread_high, KILLED, false},
    {"socket(high | AF_UNIX)", SANDBOX_POSTAUTH, k_socket_unix_high, 0, false},
    {"socket(high | AF_PACKET)", SANDBOX_POSTAUTH, k_socket_packet_high, KILLED, false},
    {"socketpair(high | AF_UNIX)", SANDBOX_ACCEPT, k_socketpair_unix_high, 0, false},
    {"socketpair(high | AF_INET)", SANDBOX_ACCEPT, k_socketpair_inet_high, KILLED, false},
};

/* Map a page whose address has a zero low half: 0x100000000 where it is free
 * (sanitizer builds keep their shadow there), else higher up. */
static void *map_high_page(void)
{
	static const unsigned long at[] = {0x100000000UL, 0x200000000000UL, 0x300000000000UL};
	for (size_t i = 0; i < sizeof(at) / sizeof(at[0]); i++) {
		void *m = mmap((void *)at[i], 4096, PROT_READ | PROT_WRITE,
		               MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
		if (m == (void *)at[i])
			return m;
		if (m != MAP_FAILED)
			munmap(m, 4096);
	}
	return NULL;
}

static int c_arg_case(void *arg)
{
	const struct arg_case *c = arg;
	arg_parent = getppid();
	if (getrlimit(RLIMIT_NOFILE, &arg_nofile) < 0 || pipe(arg_pipe) < 0)
		return 80;
	arg_high_page = map_high_page();
	if (arg_high_page == NULL)
		return 81;
	memcpy(arg_high_page, &arg_nofile, sizeof(arg_nofile));
	if (enter(c->p, c->p == SANDBOX_POSTAUTH ? "A" : NULL) < 0)
		return 90;
	int r = c->call();
	return r == 0 ? 0 : 100 + r;
}

/* Every case runs, and each one that misbehaves is named. */
static void run_arg_cases(const struct arg_case *cases, size_t n)
{
	unsigned bad = 0;
	for (size_t i = 0; i < n; i++) {
		struct arg_case c = cases[i];
#ifdef SEALMAIL_SAN
		if (c.san_allows)
			continue;
#endif
		int r = in_child(c_arg_case, &c, NULL, 0);
		if (r != c.want) {
			print_error("%s in %s: child ended with %d, want %d\n", c.name,
			            sandbox_profile_name(c.p), r, c.want);
			bad++;
		}
	}
	assert_int_equal(bad, 0);
}

static void test_arg64_rules(void **state)
{
	(void)state;
	run_arg_cases(arg64_cases, sizeof(arg64_cases) / sizeof(arg64_cases[0]));
}

static void test_arg32_rules(void **state)
{
	(void)state;
	run_arg_cases(arg32_cases, sizeof(arg32_cases) / sizeof(arg32_cases[0]));
}

struct ll_case {
	const char *abi; /* SEALMAIL_LANDLOCK_ABI, or NULL to inherit it */
};

/* POSTAUTH on users/A: A works, B and the directory are out of reach. */
static int c_postauth(void *arg)
{
	const struct ll_case *c = arg;
	if (c->abi != NULL)
		setenv("SEALMAIL_LANDLOCK_ABI", c->abi, 1);
	if (enter(SANDBOX_POSTAUTH, "A") < 0)
		return 90;
	if (open_errno("users/B/mailbox.db", O_RDONLY) != EACCES)
		return 91;
	if (open_errno("users/B/new", O_WRONLY | O_CREAT) != EACCES)
		return 92;
	if (open_errno("directory.db", O_RDONLY) != EACCES)
		return 93;
	if (open_errno("users/A/new", O_RDWR | O_CREAT | O_TRUNC) != 0)
		return 94;
	if (open_errno("users/A/old", O_RDONLY) != 0)
		return 95;
	char a[256], b[256];
	assert_int_equal(fmt_name(a, sizeof(a), "%s/users/A/new", tmpdir), 0);
	assert_int_equal(fmt_name(b, sizeof(b), "%s/users/A/spool/new/moved", tmpdir), 0);
	if (rename(a, b) != 0)
		return 96;
	assert_int_equal(fmt_name(a, sizeof(a), "%s/users/B/stolen", tmpdir), 0);
	if (rename(b, a) == 0 || (errno != EACCES && errno != EXDEV))
		return 97;
	if (unlink(b) != 0)
		return 98;
	return 0;
}

static void test_postauth_landlock(void **state)
{
	(void)state;
	if (sandbox_landlock_abi() < 2)
		skip();
	struct ll_case k = {NULL}, two = {"2"};
	assert_int_equal(in_child(c_postauth, &k, NULL, 0), 0);
	assert_int_equal(in_child(c_postauth, &two, NULL, 0), 0);
}

/* AUTH sets the limits, leaves users/ out of reach, and can enter no
 * later stage: the login back enters POSTAUTH in a process that never was
 * in AUTH, so AUTH has none of the calls that enter one (the first kills). */
static int c_auth_then_postauth(void *arg)
{
	(void)arg;
	if (enter(SANDBOX_AUTH, NULL) < 0)
		return 90;
	struct rlimit rl;
	if (getrlimit(RLIMIT_CORE, &rl) < 0 || rl.rlim_max != 0)
		return 91;
#ifndef SEALMAIL_SAN
	if (getrlimit(RLIMIT_NPROC, &rl) < 0 || rl.rlim_max != 0)
		return 92;
#endif
	/* AUTH reads directory.db and nothing else: no users/ at all */
	if (sandbox_landlock_abi() >= 1) {
		if (open_errno("directory.db", O_RDONLY) != 0)
			return 96;
		if (open_errno("directory.db", O_WRONLY) != EACCES ||
		    open_errno("planted", O_WRONLY | O_CREAT) != EACCES ||
		    open_errno("users/A/old", O_RDONLY) != EACCES ||
		    open_errno("users/B/mailbox.db", O_RDWR) != EACCES)
			return 97;
	}
	enter(SANDBOX_POSTAUTH, "A");
	return 98;
}

static void test_auth_then_postauth(void **state)
{
	(void)state;
	assert_int_equal(in_child(c_auth_then_postauth, NULL, NULL, 0), SIGNALLED(SIGSYS));
}

/* ACCEPT forks; a child enters the front on top and dies on open. */
static int c_accept(void *arg)
{
	(void)arg;
	if (enter(SANDBOX_ACCEPT, NULL) < 0)
		return 90;
	pid_t pid = fork();
	if (pid < 0)
		return 91;
	if (pid == 0) {
		/* the child loads the filter its parent compiled, with its own pid
		 * patched into the "signal only yourself" rule */
		if (enter(SANDBOX_PREAUTH_FRONT, NULL) < 0)
			_exit(92);
		if (syscall(SYS_tgkill, getpid(), gettid(), 0) != 0)
			_exit(96);
		open_errno("directory.db", O_RDONLY);
		_exit(0);
	}
	int st;
	if (waitpid(pid, &st, 0) != pid)
		return 93;
#ifdef SEALMAIL_SAN
	if (!(WIFSIGNALED(st) && WTERMSIG(st) == SIGSYS) &&
	    !(WIFEXITED(st) && WEXITSTATUS(st) == 0))
		return 94;
#else
	if (!WIFSIGNALED(st) || WTERMSIG(st) != SIGSYS)
		return 94;
#endif
	/* no new namespaces */
	syscall(SYS_clone, (unsigned long)(CLONE_NEWUSER | SIGCHLD), NULL, NULL, NULL, 0);
	return 95;
}

static void test_accept_forks_children_narrow(void **state)
{
	(void)state;
	assert_int_equal(in_child(c_accept, NULL, NULL, 0), SIGNALLED(SIGSYS));
}

/* Landlock ABI >= 6: signals stay inside the sandbox's domain. */
static int c_signal_scope(void *arg)
{
	(void)arg;
	if (enter(SANDBOX_ACCEPT, NULL) < 0)
		return 90;
	if (kill(getppid(), 0) == 0 || errno != EPERM)
		return 91;
	return kill(getpid(), 0) == 0 ? 0 : 92;
}

static void test_signal_scope(void **state)
{
	(void)state;
	if (sandbox_landlock_abi() < 6)
		skip();
	assert_int_equal(in_child(c_signal_scope, NULL, NULL, 0), 0);
}

/* ABI 1 cannot allow cross-directory renames: rules that need them are not
 * applied at all; rules that do not are. */
static int c_abi1(void *arg)
{
	unsigned access = *(unsigned *)arg;
	setenv("SEALMAIL_LANDLOCK_ABI", "1", 1);
	struct sandbox_fs_rule r = {state_fd, "users/A", access};
	const char *err = NULL;
	int abi = -1;
	if (sandbox_landlock_scoped(&r, 1, NULL, 0, 0, &abi, &err) < 0)
		return 90;
	int e = open_errno("directory.db", O_RDONLY);
	if (abi == 0)
		return e == 0 ? 10 : 91;
	if (abi == 1)
		return e == EACCES ? 11 : 92;
	return 93;
}

static void test_landlock_abi1(void **state)
{
	(void)state;
	if (sandbox_ll_kernel_abi() < 1)
		skip();
	unsigned with = SANDBOX_FS_USERDIR, without = SANDBOX_FS_SQLITE;
	assert_int_equal(in_child(c_abi1, &with, NULL, 0), 10);
	assert_int_equal(in_child(c_abi1, &without, NULL, 0), 11);
}

/* TCP connects (ABI >= 4) only to the listed ports. */
static int c_tcp(void *arg)
{
	const uint16_t *ports = arg; /* [0] allowed, [1] not */
	struct sandbox_layout l = {
	    .state_fd = state_fd, .user_id = "A", .tcp_ports = ports, .ntcp_ports = 1};
	const char *err = NULL;
	if (sandbox_enter_layout(SANDBOX_POSTAUTH, &l, &err) < 0)
		return 90;
	for (int i = 0; i < 2; i++) {
		struct sockaddr_in sa = {.sin_family = AF_INET,
		                         .sin_port = htons(ports[i]),
		                         .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
		int fd = socket(AF_INET, SOCK_STREAM, 0);
		if (fd < 0)
			return 91;
		int r = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
		int e = errno;
		close(fd);
		if (i == 0 && r != 0)
			return 92;
		if (i == 1 && (r == 0 || e != EACCES))
			return 93;
	}
	return 0;
}

static int listen_any(uint16_t *port_r)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t sl = sizeof(sa);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 8) < 0 ||
	    getsockname(fd, (struct sockaddr *)&sa, &sl) < 0)
		return -1;
	*port_r = ntohs(sa.sin_port);
	return fd;
}

static void test_tcp_ports(void **state)
{
	(void)state;
	if (sandbox_landlock_abi() < 4)
		skip();
	uint16_t ports[2];
	int a = listen_any(&ports[0]), b = listen_any(&ports[1]);
	assert_true(a >= 0 && b >= 0);
	assert_int_equal(in_child(c_tcp, ports, NULL, 0), 0);
	close(a);
	close(b);
}

static int c_debug(void *arg)
{
	(void)arg;
	setenv("SEALMAIL_SECCOMP_DEBUG", "1", 1);
	if (enter(SANDBOX_PREAUTH_FRONT, NULL) < 0)
		return 90;
	syscall(SYS_getpgid, 0); /* harmless, and in no allow-list */
	return 0;
}

static void test_debug_names_syscall(void **state)
{
	(void)state;
	char err[1024];
	int r = in_child(c_debug, NULL, err, sizeof(err));
	assert_int_equal(r, SIGNALLED(SIGSYS));
	assert_non_null(strstr(err, "forbidden syscall getpgid (121)"));
	assert_non_null(strstr(err, "in profile preauth-front"));
}

static int c_errors(void *arg)
{
	(void)arg;
	const char *err = NULL;
	struct sandbox_fs_rule r = {state_fd, "users/A", SANDBOX_FS_RO};
	if (sandbox_enter(SANDBOX_PREAUTH_FRONT, &r, 1, NULL, 0, &err) != -1 ||
	    strstr(err, "front") == NULL)
		return 90;
	struct sandbox_layout l = {.state_fd = state_fd, .user_id = "../B"};
	if (sandbox_enter_layout(SANDBOX_POSTAUTH, &l, &err) != -1)
		return 91;
	l.user_id = "";
	if (sandbox_enter_layout(SANDBOX_POSTAUTH, &l, &err) != -1)
		return 92;
	l.state_fd = -1;
	if (sandbox_enter_layout(SANDBOX_AUTH, &l, &err) != -1)
		return 93;
	if (sandbox_enter(SANDBOX_PROFILE_COUNT, NULL, 0, NULL, 0, &err) != -1)
		return 94;
	if (sandbox_landlock_abi() >= 1) {
		struct sandbox_fs_rule missing = {state_fd, "no/such/dir", SANDBOX_FS_RO};
		if (sandbox_landlock(&missing, 1, NULL, 0, &err) != -1 ||
		    strstr(err, "no/such/dir") == NULL)
			return 95;
		struct sandbox_fs_rule bad = {state_fd, "users", 1u << 20};
		if (sandbox_landlock(&bad, 1, NULL, 0, &err) != -1)
			return 96;
	}
	setenv("SEALMAIL_LANDLOCK_ABI", "seven", 1);
	if (sandbox_enter(SANDBOX_AUTH, NULL, 0, NULL, 0, &err) != -1 ||
	    strstr(err, "SEALMAIL_LANDLOCK_ABI") == NULL)
		return 97;
	return 0;
}

static void test_errors(void **state)
{
	(void)state;
	assert_int_equal(in_child(c_errors, NULL, NULL, 0), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_profile_names),
	    cmocka_unit_test(test_policy_stacking),
	    cmocka_unit_test(test_policy_auth_is_narrow),
	    cmocka_unit_test(test_policy_front_is_tight),
	    cmocka_unit_test(test_arg_widths),
	    cmocka_unit_test(test_sc_check),
	    cmocka_unit_test(test_landlock_bits),
	    cmocka_unit_test(test_landlock_abi_cap),
	    cmocka_unit_test(test_front_open_killed),
	    cmocka_unit_test(test_front_works),
	    cmocka_unit_test(test_front_forbidden),
	    cmocka_unit_test(test_arg64_rules),
	    cmocka_unit_test(test_arg32_rules),
	    cmocka_unit_test(test_postauth_landlock),
	    cmocka_unit_test(test_auth_then_postauth),
	    cmocka_unit_test(test_accept_forks_children_narrow),
	    cmocka_unit_test(test_signal_scope),
	    cmocka_unit_test(test_landlock_abi1),
	    cmocka_unit_test(test_tcp_ports),
	    cmocka_unit_test(test_debug_names_syscall),
	    cmocka_unit_test(test_errors),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
