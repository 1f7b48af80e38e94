/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* seccomp backend (libseccomp) and the null backend. The filter:
 *  - checks the architecture first: only the native ABI's syscalls pass;
 *    i386 (int 0x80) and x32 numbers on x86_64 hit the bad-arch action,
 *    which is KILL_PROCESS (libseccomp adds the x32 check itself when x32
 *    is not among the filter's architectures);
 *  - allows the profile's table (sandbox_policy.c), with argument checks,
 *    each on its argument's declared width (a malformed one is refused,
 *    sandbox_sc_check);
 *  - kills the whole process on anything else (SECCOMP_RET_KILL_PROCESS, so
 *    no thread survives a violation), or traps into a handler that names the
 *    syscall when SEALMAIL_SECCOMP_DEBUG=1.
 * The null backend is used only when the kernel has no seccomp at all; it
 * logs a warning, as OpenSSH does when it falls back to rlimits.
 * Trust: any. */
#include "sandbox_int.h"

#include <errno.h>
#include <seccomp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "base/fmt.h"
#include "sys/log.h"
#include "base/mem.h"

/* Debug mode: syscall names resolved before the filter is loaded, so the
 * SIGSYS handler only reads memory and calls write(2). */
#define SB_NAMES_MAX 1024
#define SB_NAME_LEN  28
static char (*sb_names)[SB_NAME_LEN];
static char sb_debug_profile[24];
static uint32_t sb_native_arch;

struct sb_backend {
	const char *name;
	int (*load)(enum sandbox_profile p, bool debug, const char **error_r);
};

static bool sb_debug_enabled(void)
{
	const char *d = getenv("SEALMAIL_SECCOMP_DEBUG");
	return d != NULL && strcmp(d, "1") == 0;
}

/* async-signal-safe text output */
static size_t sb_put(char *out, size_t pos, size_t cap, const char *s)
{
	while (*s != '\0' && pos + 1 < cap)
		out[pos++] = *s++;
	return pos;
}

static size_t sb_put_num(char *out, size_t pos, size_t cap, unsigned long v, unsigned base)
{
	char tmp[24];
	size_t n = 0;
	do {
		tmp[n++] = "0123456789abcdef"[v % base];
		v /= base;
	} while (v != 0 && n < sizeof(tmp));
	while (n > 0 && pos + 1 < cap)
		out[pos++] = tmp[--n];
	return pos;
}

static void sb_on_sigsys(int sig, siginfo_t *si, void *uc)
{
	(void)sig;
	(void)uc;
	int saved = errno;
	char msg[160];
	size_t p = sb_put(msg, 0, sizeof(msg), "sandbox: forbidden syscall ");
	int nr = si->si_syscall;
	if (si->si_arch != sb_native_arch) {
		p = sb_put(msg, p, sizeof(msg), "of foreign architecture 0x");
		p = sb_put_num(msg, p, sizeof(msg), si->si_arch, 16);
		p = sb_put(msg, p, sizeof(msg), " nr ");
	} else if (nr & 0x40000000) {
		/* __X32_SYSCALL_BIT: the x32 ABI on an x86_64 kernel */
		p = sb_put(msg, p, sizeof(msg), "of the x32 ABI nr (");
		nr &= ~0x40000000;
	} else if (nr >= 0 && nr < SB_NAMES_MAX && sb_names != NULL && sb_names[nr][0] != '\0') {
		p = sb_put(msg, p, sizeof(msg), sb_names[nr]);
		p = sb_put(msg, p, sizeof(msg), " (");
	} else {
		p = sb_put(msg, p, sizeof(msg), "nr (");
	}
	p = sb_put_num(msg, p, sizeof(msg), (unsigned long)(unsigned)nr, 10);
	if (si->si_arch == sb_native_arch)
		p = sb_put(msg, p, sizeof(msg), ")");
	p = sb_put(msg, p, sizeof(msg), " in profile ");
	p = sb_put(msg, p, sizeof(msg), sb_debug_profile);
	p = sb_put(msg, p, sizeof(msg), "\n");
	ssize_t w = write(2, msg, p);
	(void)w;
	/* Die of SIGSYS as the non-debug filter would: the handler was installed
	 * with SA_RESETHAND, so the signal raised here (pending until the handler
	 * returns) takes the default action. */
	raise(SIGSYS);
	errno = saved;
}

static void sb_debug_prepare(enum sandbox_profile p)
{
	sb_native_arch = seccomp_arch_native();
	/* Debug names only (the message naming a missing syscall): profile and
	 * syscall names are shorter than their buffers today, and a longer one
	 * would only be shown cut, with "...". */
	fmt_msg(sb_debug_profile, sizeof(sb_debug_profile), "%s", sandbox_profile_name(p));
	if (sb_names == NULL) {
		sb_names = mem_array(SB_NAMES_MAX, sizeof(*sb_names));
		for (int i = 0; i < SB_NAMES_MAX; i++) {
			char *n = seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE, i);
			if (n != NULL) {
				fmt_msg(sb_names[i], SB_NAME_LEN, "%s", n);
				free(n);
			}
		}
	}
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = sb_on_sigsys;
	sa.sa_flags = SA_SIGINFO | SA_RESETHAND;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGSYS, &sa, NULL);
	/* SIGSYS must not be blocked, or the kernel kills us without the name. */
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGSYS);
	sigprocmask(SIG_UNBLOCK, &set, NULL);
}

int sandbox_sc_check(const struct sandbox_sc *e, const char **error_r)
{
	const uint64_t low = 0xffffffffULL;
	if (e->nargs > sizeof(e->arg) / sizeof(e->arg[0])) {
		*error_r = sandbox_errorf("seccomp rule %s: too many conditions", e->name);
		return -1;
	}
	for (unsigned a = 0; a < e->nargs; a++) {
		const struct sandbox_sc_arg *c = &e->arg[a];
		const char *why = NULL;
		if (c->idx > 5)
			why = "no such argument";
		else if (c->width != SANDBOX_ARG32 && c->width != SANDBOX_ARG64)
			why = "argument width not declared";
		else if (c->mask == 0)
			why = "condition tests no bit";
		else if (c->width == SANDBOX_ARG32 && (c->mask & ~low) != 0)
			why = "mask beyond a 32-bit argument";
		else if (c->self_pid && (c->width != SANDBOX_ARG32 || c->mask != low))
			why = "a pid is a whole 32-bit argument";
		else if (!c->self_pid && (c->datum & ~c->mask) != 0)
			why = "datum outside the mask: never matches";
		else if (c->width == SANDBOX_ARG64 && c->mask == low)
			/* equality on the low half of a pointer or size: a value
			 * with any high bit set would pass */
			why = "64-bit argument compared on its low half only";
		if (why != NULL) {
			*error_r = sandbox_errorf("seccomp rule %s, argument %u: %s", e->name,
			                          (unsigned)c->idx, why);
			return -1;
		}
	}
	return 0;
}

/* Conditional entries are dropped when the same profile allows the syscall
 * unconditionally (libseccomp would merge them anyway; this keeps the filter
 * small and avoids mixing actions). */
static bool sb_unconditional(const struct sandbox_sc_group *const *groups, int nr)
{
	for (size_t g = 0; groups[g] != NULL; g++)
		for (size_t i = 0; i < groups[g]->n; i++) {
			const struct sandbox_sc *e = &groups[g]->sc[i];
			if (e->nr == nr && e->nargs == 0 && e->errno_ret == 0)
				return true;
		}
	return false;
}

/* Build the filter of profile p; pid is the datum of "this process" rules.
 * Returns the context (caller releases) or NULL with *error_r. */
static scmp_filter_ctx sb_build(enum sandbox_profile p, bool debug, uint32_t pid,
                                unsigned *selfpid_rules_r, const char **error_r)
{
	const struct sandbox_sc_group *const *groups = sandbox_policy(p);
	*selfpid_rules_r = 0;
	scmp_filter_ctx ctx = seccomp_init(debug ? SCMP_ACT_TRAP : SCMP_ACT_KILL_PROCESS);
	if (ctx == NULL) {
		*error_r = sandbox_errorf("seccomp_init failed");
		return NULL;
	}
	/* In debug mode a foreign-architecture call traps too, so it is named. */
	int rc = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH,
	                          debug ? SCMP_ACT_TRAP : SCMP_ACT_KILL_PROCESS);
	if (rc == 0)
		rc = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 1);
	if (rc == 0)
		/* binary tree of syscall numbers instead of a linear scan */
		rc = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2);
	if (rc < 0) {
		*error_r = sandbox_errorf("seccomp_attr_set: %s", strerror(-rc));
		goto fail;
	}
	for (size_t g = 0; groups[g] != NULL; g++) {
		for (size_t i = 0; i < groups[g]->n; i++) {
			const struct sandbox_sc *e = &groups[g]->sc[i];
			if (sandbox_sc_check(e, error_r) < 0)
				goto fail;
			if (e->nargs > 0 && e->errno_ret == 0 && sb_unconditional(groups, e->nr))
				continue;
			struct scmp_arg_cmp cmp[2];
			for (unsigned a = 0; a < e->nargs; a++) {
				cmp[a].arg = e->arg[a].idx;
				cmp[a].op = SCMP_CMP_MASKED_EQ;
				cmp[a].datum_a = e->arg[a].mask;
				cmp[a].datum_b = e->arg[a].self_pid ? pid : e->arg[a].datum;
				if (e->arg[a].self_pid)
					(*selfpid_rules_r)++;
			}
			uint32_t act =
			    e->errno_ret ? SCMP_ACT_ERRNO((uint32_t)e->errno_ret) : SCMP_ACT_ALLOW;
			rc = seccomp_rule_add_array(ctx, act, e->nr, e->nargs, cmp);
			if (rc < 0) {
				*error_r = sandbox_errorf("seccomp rule %s (%s): %s", e->name,
				                          groups[g]->name, strerror(-rc));
				goto fail;
			}
		}
	}
	return ctx;
fail:
	seccomp_release(ctx);
	return NULL;
}

/* Filters compiled ahead by the accept parent (sandbox_seccomp_precompile),
 * so that a child entering its profile after fork only hands the kernel a
 * finished program. "This process" comparisons are compiled against a value
 * no pid can take and patched with the child's pid before loading. */
#define SB_PID_SENTINEL 0x7ffe5eedU /* above PID_MAX_LIMIT (2^22) */
static struct {
	struct sock_filter *insn;
	unsigned short len;
	bool debug;
	unsigned selfpid_rules;
} sb_cache[SANDBOX_PROFILE_COUNT];

int sandbox_seccomp_precompile(enum sandbox_profile p, const char **error_r)
{
	bool debug = sb_debug_enabled();
	unsigned selfpid;
	if (sandbox_policy(p) == NULL) {
		*error_r = sandbox_errorf("unknown sandbox profile %d", (int)p);
		return -1;
	}
	scmp_filter_ctx ctx = sb_build(p, debug, SB_PID_SENTINEL, &selfpid, error_r);
	if (ctx == NULL)
		return -1;
	/* libseccomp 2.5 exports to a descriptor only */
	int fd = memfd_create("sealmail-bpf", MFD_CLOEXEC);
	int rc = fd < 0 ? -errno : seccomp_export_bpf(ctx, fd);
	seccomp_release(ctx);
	off_t size = rc == 0 ? lseek(fd, 0, SEEK_END) : -1;
	if (size <= 0 || size % (off_t)sizeof(struct sock_filter) != 0 ||
	    size / (off_t)sizeof(struct sock_filter) > BPF_MAXINSNS) {
		if (fd >= 0)
			close(fd);
		*error_r =
		    sandbox_errorf("seccomp_export_bpf: %s", rc < 0 ? strerror(-rc) : "size");
		return -1;
	}
	struct sock_filter *insn = mem_alloc((size_t)size);
	ssize_t got = pread(fd, insn, (size_t)size, 0);
	close(fd);
	if (got != size) {
		free(insn);
		*error_r = sandbox_errorf("reading the compiled filter failed");
		return -1;
	}
	free(sb_cache[p].insn);
	sb_cache[p].insn = insn;
	sb_cache[p].len = (unsigned short)(size / (off_t)sizeof(struct sock_filter));
	sb_cache[p].debug = debug;
	sb_cache[p].selfpid_rules = selfpid;
	return 0;
}

/* Load a precompiled filter; 1 loaded, 0 not usable (compile afresh), -1. */
static int sb_load_cached(enum sandbox_profile p, bool debug, const char **error_r)
{
	if (sb_cache[p].insn == NULL || sb_cache[p].debug != debug)
		return 0;
	struct sock_filter *insn = mem_dup(sb_cache[p].insn, sb_cache[p].len * sizeof(*insn));
	unsigned patched = 0;
	uint32_t self = (uint32_t)getpid();
	for (unsigned i = 0; i < sb_cache[p].len; i++)
		if (insn[i].code == (BPF_JMP | BPF_JEQ | BPF_K) && insn[i].k == SB_PID_SENTINEL) {
			insn[i].k = self;
			patched++;
		}
	int rc = 0;
	if ((patched == 0) != (sb_cache[p].selfpid_rules == 0))
		goto out; /* not the code we expected: compile afresh */
	if (debug)
		sb_debug_prepare(p);
	struct sock_fprog prog = {.len = sb_cache[p].len, .filter = insn};
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
	    syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) < 0) {
		*error_r = sandbox_errorf("seccomp(SET_MODE_FILTER): %s", strerror(errno));
		rc = -1;
	} else {
		rc = 1;
	}
out:
	free(insn);
	return rc;
}

static int sb_seccomp_load(enum sandbox_profile p, bool debug, const char **error_r)
{
	int rc = sb_load_cached(p, debug, error_r);
	if (rc != 0)
		return rc < 0 ? -1 : 0;
	unsigned selfpid;
	scmp_filter_ctx ctx = sb_build(p, debug, (uint32_t)getpid(), &selfpid, error_r);
	if (ctx == NULL)
		return -1;
	if (debug)
		sb_debug_prepare(p);
	rc = seccomp_load(ctx);
	if (rc < 0)
		*error_r = sandbox_errorf("seccomp_load: %s", strerror(-rc));
	seccomp_release(ctx);
	return rc < 0 ? -1 : 0;
}

static int sb_null_load(enum sandbox_profile p, bool debug, const char **error_r)
{
	(void)debug;
	(void)error_r;
	log_event(LOG_WARNING, "sandbox-degraded", "PROFILE", sandbox_profile_name(p), "REASON",
	          "kernel without seccomp: no syscall filter", NULL);
	return 0;
}

static const struct sb_backend sb_seccomp_backend = {"seccomp", sb_seccomp_load};
static const struct sb_backend sb_null_backend = {"null", sb_null_load};

static const struct sb_backend *sb_backend_pick(void)
{
	/* PR_GET_SECCOMP fails with EINVAL only without CONFIG_SECCOMP. */
	if (prctl(PR_GET_SECCOMP, 0, 0, 0, 0) < 0 && errno == EINVAL)
		return &sb_null_backend;
	return &sb_seccomp_backend;
}

int sandbox_seccomp(enum sandbox_profile p, const char **error_r)
{
	if (sandbox_policy(p) == NULL) {
		*error_r = sandbox_errorf("unknown sandbox profile %d", (int)p);
		return -1;
	}
	return sb_backend_pick()->load(p, sb_debug_enabled(), error_r);
}
