/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* Internals shared by the sandbox backends and their unit test; handlers use
 * sandbox.h only. Trust: any. */
#ifndef SEALMAIL_SANDBOX_INT_H
#define SEALMAIL_SANDBOX_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sandbox.h"

/* Width of a syscall argument as the kernel declares it (SYSCALL_DEFINE):
 * 64 for pointers, size_t, long and unsigned long, whose every bit the kernel
 * uses; 32 for int, unsigned int and pid_t, which the kernel truncates from
 * the register to the declared type. A condition without a width is refused
 * (sandbox_sc_check). */
#define SANDBOX_ARG32 32
#define SANDBOX_ARG64 64

/* One argument condition: (arg[idx] & mask) == datum, on the width's bits
 * only (a 32-bit condition has mask and datum within the low half). self_pid:
 * datum is getpid() when the filter is loaded (a pid_t: width 32). */
struct sandbox_sc_arg {
	unsigned char idx;
	unsigned char width;
	bool self_pid;
	uint64_t mask;
	uint64_t datum;
};

/* One allow-list entry: syscall nr (SCMP_SYS) is allowed when every condition
 * holds (nargs 0: always); with errno_ret != 0 it is not run and fails with
 * that errno instead (clone3 → ENOSYS makes glibc fall back to clone). */
struct sandbox_sc {
	int nr;
	const char *name;
	int errno_ret;
	unsigned char nargs;
	struct sandbox_sc_arg arg[2];
};

/* Whether e is well formed: at most two conditions on arguments 0-5, each
 * with a declared width whose bits hold its mask and datum, a datum inside
 * its mask, a self_pid only on a 32-bit argument, and no 64-bit condition
 * that tests the whole low half but not the high half (the comparison that
 * lets a pointer at 0x100000000 pass as NULL). 0, or -1 with *error_r. */
int sandbox_sc_check(const struct sandbox_sc *e, const char **error_r);

struct sandbox_sc_group {
	const char *name;
	const struct sandbox_sc *sc;
	size_t n;
};

/* Groups making up the allow-list of p, NULL-terminated; static. */
const struct sandbox_sc_group *const *sandbox_policy(enum sandbox_profile p);
/* Whether processes in profile p may fork (RLIMIT_NPROC is left alone). */
bool sandbox_policy_forks(enum sandbox_profile p);

/* Landlock access bits for SANDBOX_FS_* bits at ABI abi; on a non-directory
 * only the rights that apply to files. */
uint64_t sandbox_ll_access(unsigned fs_bits, int abi, bool is_dir);
/* Every filesystem right Landlock ABI abi can restrict. */
uint64_t sandbox_ll_handled_fs(int abi);
/* Kernel's Landlock ABI (0 if none) and the cap from SEALMAIL_LANDLOCK_ABI:
 * returns the effective ABI, or -1 when the variable is malformed. */
int sandbox_ll_effective_abi(const char *cap, int kernel_abi);
int sandbox_ll_kernel_abi(void);

/* Landlock scopes (ABI >= 6). */
#define SANDBOX_SCOPE_ABSTRACT_UNIX (1u << 0)
#define SANDBOX_SCOPE_SIGNAL        (1u << 1)

/* The two halves of sandbox_landlock_scoped(). build: the ruleset as a
 * descriptor (*fd_r; -1 when Landlock is skipped, which is logged) and the
 * ABI it was made for; 0 or -1 with *error_r. apply: NO_NEW_PRIVS and
 * landlock_restrict_self(fd), which may be called in a forked child of the
 * process that built it; fd stays open; 0 or -1. */
int sandbox_ll_build(const struct sandbox_fs_rule *rules, size_t n, const uint16_t *tcp_ports,
                     size_t np, unsigned scope, int *fd_r, int *abi_r, const char **error_r);
int sandbox_ll_apply(int fd, const char **error_r);

/* sandbox_landlock() with scopes; *abi_r is the ABI applied, 0 if skipped. */
int sandbox_landlock_scoped(const struct sandbox_fs_rule *rules, size_t n,
                            const uint16_t *tcp_ports, size_t np, unsigned scope, int *abi_r,
                            const char **error_r);

/* Compile profile p's filter now and keep it, so that a later
 * sandbox_seccomp(p) in this process or a forked child only loads it.
 * sandbox_enter(SANDBOX_ACCEPT) does this for every other profile. 0 or -1. */
int sandbox_seccomp_precompile(enum sandbox_profile p, const char **error_r);

/* Set the module's error text (printf format) and return it. */
const char *sandbox_errorf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
