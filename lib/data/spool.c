/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* Sealed inbound spool, writer side and housekeeping. See spool.h and
 * docs/STORE.md for the durability argument. Trust: runs in the MX (no user
 * secret) and in post-auth sessions (housekeeping). */
#include "spool.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sys/log.h"
#include "base/mem.h"
#include "base/rnd.h"
#include "base/timeutil.h"

enum spool_state {
	SPOOL_WRITING,   /* tmp file open, sealer running */
	SPOOL_PREPARED,  /* sealed, fsync'd, closed; still in tmp/ */
	SPOOL_COMMITTED, /* renamed into new/, new/ fsync'd */
	SPOOL_FAILED,    /* an error happened; only spool_free is useful */
};

struct spool_delivery {
	enum spool_state state;
	int tmpfd;  /* spool/tmp */
	int newfd;  /* spool/new */
	int fd;     /* the tmp file while writing */
	struct age_seal *seal;
	bool in_tmp; /* a file named name exists in tmp/ and is ours */
	bool any_written;
	int err;    /* errno of the first failure */
	uint64_t plain_bytes;
	char name[SPOOL_NAME_MAX];
};

static const char *const spool_subdirs[] = {"tmp", "new"};

static bool spool_nospace(int e)
{
	return e == ENOSPC || e == EDQUOT;
}

static enum spool_result spool_fail(struct spool_delivery *d, int e)
{
	if (d->err == 0)
		d->err = e ? e : EIO;
	d->state = SPOOL_FAILED;
	return spool_nospace(d->err) ? SPOOL_NOSPACE : SPOOL_ERROR;
}

static int spool_mkdir(int dirfd, const char *name)
{
	if (mkdirat(dirfd, name, 0770) < 0 && errno != EEXIST)
		return -1;
	/* mkdir(2) ignores S_ISGID in its mode argument on Linux; set it
	 * explicitly so files created by the MX get the spool's group. */
	if (fchmodat(dirfd, name, SPOOL_DIR_MODE, AT_SYMLINK_NOFOLLOW) < 0) {
		/* AT_SYMLINK_NOFOLLOW is not supported by fchmodat on older
		 * kernels; the path is a directory we just created or found. */
		if (errno != ENOTSUP && errno != EOPNOTSUPP)
			return -1;
		if (fchmodat(dirfd, name, SPOOL_DIR_MODE, 0) < 0)
			return -1;
	}
	return 0;
}

int spool_create_dirs(int user_dirfd)
{
	if (spool_mkdir(user_dirfd, "spool") < 0)
		return -1;
	int sfd = openat(user_dirfd, "spool", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (sfd < 0)
		return -1;
	for (size_t i = 0; i < sizeof(spool_subdirs) / sizeof(spool_subdirs[0]); i++) {
		if (spool_mkdir(sfd, spool_subdirs[i]) < 0) {
			int e = errno;
			close(sfd);
			errno = e;
			return -1;
		}
	}
	/* Make the new entries durable before anyone relies on them. */
	int rc = fsync(sfd);
	int e = errno;
	close(sfd);
	if (rc < 0) {
		errno = e;
		return -1;
	}
	return fsync(user_dirfd) < 0 ? -1 : 0;
}

int spool_name_parse(const char *name, int64_t *us_r)
{
	const char *p = name;
	int64_t us = 0;
	size_t digits = 0;
	while (*p >= '0' && *p <= '9') {
		if (digits == 19 || us > (INT64_MAX - (*p - '0')) / 10)
			return 0;
		us = us * 10 + (*p - '0');
		digits++;
		p++;
	}
	if (digits == 0 || *p != '.')
		return 0;
	p++;
	for (size_t i = 0; i < 16; i++, p++) {
		if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
			return 0;
	}
	if (*p != '\0')
		return 0;
	if (us_r != NULL)
		*us_r = us;
	return 1;
}

/* Sink for the sealer: write everything, retrying short writes. */
static int spool_sink(void *ctx, const unsigned char *p, size_t n)
{
	struct spool_delivery *d = ctx;
	while (n > 0) {
		ssize_t w = write(d->fd, p, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (d->err == 0)
				d->err = errno;
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static int spool_open_dir(int parent, const char *name)
{
	return openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
}

struct spool_delivery *spool_deliver_begin(int spool_dirfd,
					   const unsigned char recipient_pk[AGE_KEY_LEN],
					   enum spool_result *result_r)
{
	struct spool_delivery *d = mem_zalloc(sizeof(*d));
	enum spool_result res = SPOOL_ERROR;
	d->tmpfd = d->newfd = d->fd = -1;
	d->state = SPOOL_WRITING;
	d->tmpfd = spool_open_dir(spool_dirfd, "tmp");
	if (d->tmpfd < 0)
		goto fail;
	d->newfd = spool_open_dir(spool_dirfd, "new");
	if (d->newfd < 0)
		goto fail;
	for (int attempt = 0; attempt < 5 && d->fd < 0; attempt++) {
		char rnd[17];
		rnd_hex(rnd, 8);
		/* At most 20 digits, '.', 16 hex digits: SPOOL_NAME_MAX (40) holds it. */
		snprintf(d->name, sizeof(d->name), "%" PRId64 ".%s", timeutil_now_us(), rnd);
		int flags = O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC;
		d->fd = openat(d->tmpfd, d->name, flags, SPOOL_FILE_MODE);
		if (d->fd < 0 && errno != EEXIST)
			goto fail;
	}
	if (d->fd < 0)
		goto fail;
	d->in_tmp = true;
	/* The umask of the MX must not take the group's read bit away. */
	if (fchmod(d->fd, SPOOL_FILE_MODE) < 0)
		goto fail;
	errno = 0;
	d->seal = age_seal_begin(recipient_pk, spool_sink, d);
	if (d->seal == NULL) {
		if (d->err == 0) /* not the sink: an unusable public key */
			errno = EINVAL;
		goto fail;
	}
	if (result_r != NULL)
		*result_r = SPOOL_OK;
	return d;
fail:
	res = spool_fail(d, errno);
	{
		int e = d->err;
		spool_free(&d);
		errno = e;
	}
	if (result_r != NULL)
		*result_r = res;
	return NULL;
}

enum spool_result spool_write_flags(struct spool_delivery *d, const char *flags)
{
	if (d->state != SPOOL_WRITING || d->any_written)
		return SPOOL_ERROR;
	size_t n = strlen(flags);
	if (n == 0 || n > SPOOL_FLAGS_MAX)
		return SPOOL_ERROR;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)flags[i];
		if (c < 0x20 || c == 0x7f)
			return SPOOL_ERROR;
	}
	enum spool_result r = spool_write(d, SPOOL_FLAGS_FIELD ": ", sizeof(SPOOL_FLAGS_FIELD) + 1);
	if (r == SPOOL_OK)
		r = spool_write(d, flags, n);
	if (r == SPOOL_OK)
		r = spool_write(d, "\r\n", 2);
	return r;
}

enum spool_result spool_write(struct spool_delivery *d, const void *data, size_t len)
{
	if (d->state != SPOOL_WRITING)
		return SPOOL_ERROR;
	d->any_written = true;
	if (len == 0)
		return SPOOL_OK;
	if (age_seal_update(d->seal, data, len) < 0)
		return spool_fail(d, d->err);
	d->plain_bytes += len;
	return SPOOL_OK;
}

enum spool_result spool_prepare(struct spool_delivery *d)
{
	if (d->state != SPOOL_WRITING)
		return SPOOL_ERROR;
	if (age_seal_final(d->seal) < 0)
		return spool_fail(d, d->err);
	age_seal_free(&d->seal);
	/* fsync may report ENOSPC/EDQUOT late (delayed allocation). */
	if (fsync(d->fd) < 0)
		return spool_fail(d, errno);
	int rc = close(d->fd);
	d->fd = -1;
	if (rc < 0 && errno != EINTR)
		return spool_fail(d, errno);
	d->state = SPOOL_PREPARED;
	return SPOOL_OK;
}

enum spool_result spool_commit(struct spool_delivery *d)
{
	if (d->state != SPOOL_PREPARED)
		return SPOOL_ERROR;
	/* RENAME_NOREPLACE: a name collision (64 random bits) must fail rather
	 * than silently replace a message that was already acknowledged. */
	if (renameat2(d->tmpfd, d->name, d->newfd, d->name, RENAME_NOREPLACE) < 0) {
		if (errno != EINVAL && errno != ENOSYS)
			return spool_fail(d, errno);
		/* File system without RENAME_NOREPLACE: check, then rename. */
		struct stat st;
		if (fstatat(d->newfd, d->name, &st, AT_SYMLINK_NOFOLLOW) == 0)
			return spool_fail(d, EEXIST);
		if (renameat(d->tmpfd, d->name, d->newfd, d->name) < 0)
			return spool_fail(d, errno);
	}
	d->in_tmp = false;
	/* The rename is durable only once the directory is flushed; only then
	 * may the MX answer 250 (DESIGN section 3). If this fsync fails the
	 * file may or may not survive a crash: report failure so the sender
	 * retries; a duplicate is the lesser evil (RFC 1047). */
	if (fsync(d->newfd) < 0)
		return spool_fail(d, errno);
	d->state = SPOOL_COMMITTED;
	return SPOOL_OK;
}

void spool_free(struct spool_delivery **dp)
{
	struct spool_delivery *d = *dp;
	if (d == NULL)
		return;
	age_seal_free(&d->seal);
	if (d->fd >= 0)
		close(d->fd);
	if (d->in_tmp && d->tmpfd >= 0 && unlinkat(d->tmpfd, d->name, 0) < 0 && errno != ENOENT)
		log_event(LOG_WARNING, "spool-unlink-failed", "FILE", d->name, "REASON",
			  strerror(errno), NULL);
	if (d->tmpfd >= 0)
		close(d->tmpfd);
	if (d->newfd >= 0)
		close(d->newfd);
	mem_wipe_free(d, sizeof(*d));
	*dp = NULL;
}

void spool_abort(struct spool_delivery **d)
{
	spool_free(d);
}

const char *spool_name(const struct spool_delivery *d)
{
	return d->name;
}

uint64_t spool_plain_bytes(const struct spool_delivery *d)
{
	return d->plain_bytes;
}

int spool_errno(const struct spool_delivery *d)
{
	return d->err;
}

/* Call fn for every entry of dirfd/sub whose name is a spool name. */
static int spool_scan(int spool_dirfd, const char *sub,
		      int (*fn)(int dfd, const char *name, const struct stat *st, void *ctx),
		      void *ctx)
{
	int dfd = spool_open_dir(spool_dirfd, sub);
	if (dfd < 0)
		return -1;
	int lfd = dup(dfd);
	DIR *dir = lfd < 0 ? NULL : fdopendir(lfd);
	if (dir == NULL) {
		int e = errno;
		if (lfd >= 0)
			close(lfd);
		close(dfd);
		errno = e;
		return -1;
	}
	int rc = 0;
	struct dirent *de;
	errno = 0;
	while ((de = readdir(dir)) != NULL) {
		if (!spool_name_parse(de->d_name, NULL))
			continue;
		struct stat st;
		if (fstatat(dfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			if (errno == ENOENT) { /* imported or removed meanwhile */
				errno = 0;
				continue;
			}
			rc = -1;
			break;
		}
		if (!S_ISREG(st.st_mode))
			continue;
		if (fn(dfd, de->d_name, &st, ctx) < 0) {
			rc = -1;
			break;
		}
		errno = 0;
	}
	if (rc == 0 && errno != 0)
		rc = -1;
	int e = errno;
	closedir(dir);
	close(dfd);
	errno = e;
	return rc;
}

struct spool_usage_ctx {
	uint64_t bytes;
	size_t files;
};

static int spool_usage_fn(int dfd, const char *name, const struct stat *st, void *ctx)
{
	struct spool_usage_ctx *u = ctx;
	u->bytes += (uint64_t)st->st_size;
	u->files++;
	return 0;
}

int spool_usage(int spool_dirfd, uint64_t *bytes_r, size_t *files_r)
{
	struct spool_usage_ctx u = {0, 0};
	if (spool_scan(spool_dirfd, "new", spool_usage_fn, &u) < 0)
		return -1;
	if (bytes_r != NULL)
		*bytes_r = u.bytes;
	if (files_r != NULL)
		*files_r = u.files;
	return 0;
}

struct spool_clean_ctx {
	time_t cutoff;
	size_t removed;
};

static int spool_clean_fn(int dfd, const char *name, const struct stat *st, void *ctx)
{
	struct spool_clean_ctx *c = ctx;
	if (st->st_mtime >= c->cutoff)
		return 0;
	if (unlinkat(dfd, name, 0) < 0) {
		if (errno == ENOENT)
			return 0;
		return -1;
	}
	log_event(LOG_NOTICE, "spool-tmp-removed", "FILE", name, NULL);
	c->removed++;
	return 0;
}

int spool_clean_tmp(int spool_dirfd, int64_t max_age_s, size_t *removed_r)
{
	struct spool_clean_ctx c = {time(NULL) - (time_t)max_age_s, 0};
	int rc = spool_scan(spool_dirfd, "tmp", spool_clean_fn, &c);
	if (removed_r != NULL)
		*removed_r = c.removed;
	return rc;
}
