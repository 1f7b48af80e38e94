/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* Landlock layer (Documentation/userspace-api/landlock.rst). Debian 12's
 * headers (Linux 6.1) stop at ABI 2 and glibc 2.36 has no wrappers, so the
 * later bits and structures are spelled out here. Rights by ABI:
 *   1 (5.13)  filesystem: execute, read/write files, read dirs, make/remove
 *   2 (5.19)  REFER: rename/link across directories (ABI 1 always denies it)
 *   3 (6.2)   TRUNCATE: truncate(2), O_TRUNC, ftruncate on files opened after
 *   4 (6.7)   TCP bind and connect by port
 *   5 (6.10)  IOCTL_DEV: ioctl on device files
 *   6 (6.12)  scopes: abstract unix sockets and signals outside the domain
 *   7 (6.15)  audit logging flags (nothing to restrict)
 * Only rights the kernel knows are handled; the rest stays allowed, which is
 * why every deny-by-default here is "deny what this ABI can deny".
 * Trust: any. */
#include "sandbox_int.h"

#include <bsd/stdlib.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/landlock.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "sys/log.h"

/* ABI 1 rights are bits 0..12. */
#define LL_FS_EXECUTE     (1ULL << 0)
#define LL_FS_WRITE_FILE  (1ULL << 1)
#define LL_FS_READ_FILE   (1ULL << 2)
#define LL_FS_READ_DIR    (1ULL << 3)
#define LL_FS_REMOVE_DIR  (1ULL << 4)
#define LL_FS_REMOVE_FILE (1ULL << 5)
#define LL_FS_MAKE_DIR    (1ULL << 7)
#define LL_FS_MAKE_REG    (1ULL << 8)
#define LL_FS_ABI1        ((1ULL << 13) - 1)
#define LL_FS_REFER       (1ULL << 13) /* ABI 2 */
#define LL_FS_TRUNCATE    (1ULL << 14) /* ABI 3 */
#define LL_FS_IOCTL_DEV   (1ULL << 15) /* ABI 5 */
/* Rights that make sense on a regular file (others are EINVAL there). */
#define LL_FS_FILE_RIGHTS                                                                          \
	(LL_FS_EXECUTE | LL_FS_WRITE_FILE | LL_FS_READ_FILE | LL_FS_TRUNCATE | LL_FS_IOCTL_DEV)

#define LL_NET_BIND_TCP               (1ULL << 0) /* ABI 4 */
#define LL_NET_CONNECT_TCP            (1ULL << 1)
#define LL_RULE_NET_PORT              2
#define LL_SCOPE_ABSTRACT_UNIX_SOCKET (1ULL << 0) /* ABI 6 */
#define LL_SCOPE_SIGNAL               (1ULL << 1)

/* struct landlock_ruleset_attr as of ABI 6; the size passed tells the kernel
 * which fields exist. */
struct sb_ll_ruleset_attr {
	uint64_t handled_access_fs;
	uint64_t handled_access_net;
	uint64_t scoped;
};

struct sb_ll_net_port_attr {
	uint64_t allowed_access;
	uint64_t port;
};

int sandbox_ll_kernel_abi(void)
{
	long r = syscall(SYS_landlock_create_ruleset, NULL, 0, LANDLOCK_CREATE_RULESET_VERSION);
	return r < 0 ? 0 : (int)r;
}

int sandbox_ll_effective_abi(const char *cap, int kernel_abi)
{
	if (cap == NULL || *cap == '\0')
		return kernel_abi;
	/* No Landlock ABI will come near 1000; anything above is a typo. */
	const char *errstr;
	long long v = strtonum(cap, 0, 1000, &errstr);
	if (errstr != NULL)
		return -1;
	return v < kernel_abi ? (int)v : kernel_abi;
}

int sandbox_landlock_abi(void)
{
	int abi =
	    sandbox_ll_effective_abi(getenv("SEALMAIL_LANDLOCK_ABI"), sandbox_ll_kernel_abi());
	return abi < 0 ? 0 : abi;
}

uint64_t sandbox_ll_handled_fs(int abi)
{
	if (abi < 1)
		return 0;
	uint64_t fs = LL_FS_ABI1;
	if (abi >= 2)
		fs |= LL_FS_REFER;
	if (abi >= 3)
		fs |= LL_FS_TRUNCATE;
	if (abi >= 5)
		fs |= LL_FS_IOCTL_DEV;
	return fs;
}

uint64_t sandbox_ll_access(unsigned fs_bits, int abi, bool is_dir)
{
	uint64_t a = 0;
	if (fs_bits & SANDBOX_FS_READ)
		a |= LL_FS_READ_FILE;
	if (fs_bits & SANDBOX_FS_LIST)
		a |= LL_FS_READ_DIR;
	if (fs_bits & SANDBOX_FS_WRITE)
		a |= LL_FS_WRITE_FILE;
	if (fs_bits & SANDBOX_FS_TRUNCATE)
		a |= LL_FS_TRUNCATE;
	if (fs_bits & SANDBOX_FS_CREATE)
		a |= LL_FS_MAKE_REG;
	if (fs_bits & SANDBOX_FS_REMOVE)
		a |= LL_FS_REMOVE_FILE;
	if (fs_bits & SANDBOX_FS_RENAME)
		a |= LL_FS_REFER;
	if (fs_bits & SANDBOX_FS_MKDIR)
		a |= LL_FS_MAKE_DIR;
	if (fs_bits & SANDBOX_FS_RMDIR)
		a |= LL_FS_REMOVE_DIR;
	a &= sandbox_ll_handled_fs(abi);
	if (!is_dir)
		a &= LL_FS_FILE_RIGHTS;
	return a;
}

static int sb_ll_add_path(int ruleset, const struct sandbox_fs_rule *r, int abi,
                          const char **error_r)
{
	int fd;
	bool own = false;
	const char *shown = r->path != NULL && *r->path != '\0' ? r->path : "(dirfd)";
	if (r->access & ~SANDBOX_FS_ALL_BITS) {
		*error_r = sandbox_errorf("landlock rule %s: unknown access bits", shown);
		return -1;
	}
	if (r->path == NULL || *r->path == '\0') {
		if (r->dirfd < 0) {
			*error_r = sandbox_errorf("landlock rule without path or dirfd");
			return -1;
		}
		fd = r->dirfd;
	} else {
		fd = openat(r->dirfd >= 0 ? r->dirfd : AT_FDCWD, r->path, O_PATH | O_CLOEXEC);
		if (fd < 0) {
			*error_r = sandbox_errorf("landlock rule %s: %s", shown, strerror(errno));
			return -1;
		}
		own = true;
	}
	struct stat st;
	int rc = 0;
	if (fstat(fd, &st) < 0) {
		*error_r = sandbox_errorf("landlock rule %s: %s", shown, strerror(errno));
		rc = -1;
		goto out;
	}
	struct landlock_path_beneath_attr pb;
	memset(&pb, 0, sizeof(pb));
	pb.allowed_access = sandbox_ll_access(r->access, abi, S_ISDIR(st.st_mode));
	pb.parent_fd = fd;
	/* A rule granting nothing at this ABI is the same as no rule (and the
	 * kernel rejects an empty one). */
	if (pb.allowed_access != 0 &&
	    syscall(SYS_landlock_add_rule, ruleset, LANDLOCK_RULE_PATH_BENEATH, &pb, 0) < 0) {
		*error_r = sandbox_errorf("landlock_add_rule %s: %s", shown, strerror(errno));
		rc = -1;
	}
out:
	if (own)
		close(fd);
	return rc;
}

static bool sb_ll_wants_rename(const struct sandbox_fs_rule *rules, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (rules[i].access & SANDBOX_FS_RENAME)
			return true;
	return false;
}

int sandbox_ll_build(const struct sandbox_fs_rule *rules, size_t n, const uint16_t *tcp_ports,
                     size_t np, unsigned scope, int *fd_r, int *abi_r, const char **error_r)
{
	*fd_r = -1;
	*abi_r = 0;
	int kabi = sandbox_ll_kernel_abi();
	int abi = sandbox_ll_effective_abi(getenv("SEALMAIL_LANDLOCK_ABI"), kabi);
	if (abi < 0) {
		*error_r = sandbox_errorf("SEALMAIL_LANDLOCK_ABI is not a number");
		return -1;
	}
	if (abi < 1) {
		log_event(LOG_WARNING, "sandbox-degraded", "REASON",
		          kabi < 1 ? "Landlock unavailable in this kernel"
		                   : "Landlock turned off by SEALMAIL_LANDLOCK_ABI",
		          NULL);
		return 0;
	}
	if (abi < 2 && sb_ll_wants_rename(rules, n)) {
		/* ABI 1 refuses every rename or link across directories, which the
		 * spool (tmp/ → new/) needs; no Landlock is better than a broken
		 * delivery path here. */
		log_event(LOG_WARNING, "sandbox-degraded", "REASON",
		          "Landlock ABI 1 cannot allow renames across directories; not applied",
		          NULL);
		return 0;
	}
	struct sb_ll_ruleset_attr ra;
	memset(&ra, 0, sizeof(ra));
	size_t rasize = sizeof(ra.handled_access_fs);
	ra.handled_access_fs = sandbox_ll_handled_fs(abi);
	if (abi >= 4) {
		ra.handled_access_net = LL_NET_BIND_TCP | LL_NET_CONNECT_TCP;
		rasize = 2 * sizeof(uint64_t);
	}
	if (abi >= 6) {
		if (scope & SANDBOX_SCOPE_ABSTRACT_UNIX)
			ra.scoped |= LL_SCOPE_ABSTRACT_UNIX_SOCKET;
		if (scope & SANDBOX_SCOPE_SIGNAL)
			ra.scoped |= LL_SCOPE_SIGNAL;
		rasize = sizeof(ra);
	}
	int rs = (int)syscall(SYS_landlock_create_ruleset, &ra, rasize, 0);
	if (rs < 0) {
		*error_r = sandbox_errorf("landlock_create_ruleset: %s", strerror(errno));
		return -1;
	}
	for (size_t i = 0; i < n; i++)
		if (sb_ll_add_path(rs, &rules[i], abi, error_r) < 0)
			goto fail;
	for (size_t i = 0; abi >= 4 && i < np; i++) {
		struct sb_ll_net_port_attr na = {.allowed_access = LL_NET_CONNECT_TCP,
		                                 .port = tcp_ports[i]};
		if (tcp_ports[i] == 0) {
			*error_r = sandbox_errorf("landlock: TCP port 0 in the connect list");
			goto fail;
		}
		if (syscall(SYS_landlock_add_rule, rs, LL_RULE_NET_PORT, &na, 0) < 0) {
			*error_r = sandbox_errorf("landlock_add_rule port %u: %s",
			                          (unsigned)tcp_ports[i], strerror(errno));
			goto fail;
		}
	}
	*fd_r = rs;
	*abi_r = abi;
	return 0;
fail:
	close(rs);
	return -1;
}

int sandbox_ll_apply(int fd, const char **error_r)
{
	/* landlock_restrict_self needs NO_NEW_PRIVS without CAP_SYS_ADMIN; set it
	 * regardless, so the result does not depend on who runs us. */
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
		*error_r = sandbox_errorf("PR_SET_NO_NEW_PRIVS: %s", strerror(errno));
		return -1;
	}
	if (syscall(SYS_landlock_restrict_self, fd, 0) < 0) {
		*error_r = sandbox_errorf("landlock_restrict_self: %s", strerror(errno));
		return -1;
	}
	return 0;
}

int sandbox_landlock_scoped(const struct sandbox_fs_rule *rules, size_t n,
                            const uint16_t *tcp_ports, size_t np, unsigned scope, int *abi_r,
                            const char **error_r)
{
	int fd, abi;
	*abi_r = 0;
	if (sandbox_ll_build(rules, n, tcp_ports, np, scope, &fd, &abi, error_r) < 0)
		return -1;
	if (fd < 0)
		return 0; /* skipped, with a warning */
	int rc = sandbox_ll_apply(fd, error_r);
	close(fd);
	if (rc == 0)
		*abi_r = abi;
	return rc;
}

int sandbox_landlock(const struct sandbox_fs_rule *rules, size_t n, const uint16_t *tcp_ports,
                     size_t np, const char **error_r)
{
	int abi;
	return sandbox_landlock_scoped(rules, n, tcp_ports, np, 0, &abi, error_r);
}
