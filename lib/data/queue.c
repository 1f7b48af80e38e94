/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* The outbound queue's files: keys, enqueueing, listing, reading, state,
 * removal, cleaning. See queue.h for the layout and docs/SENDING.md for why
 * the envelope is the one commit point. Trust: the writer side runs in
 * network-facing handlers holding only the public key; the reader side in
 * queued, which holds the secret key. */
#include "queue.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/fmt.h"
#include "base/mem.h"
#include "base/rnd.h"
#include "base/timeutil.h"
#include "sys/log.h"
#include "spool.h"

#define QUEUE_MSG_SUFFIX ".message"
#define QUEUE_ENV_SUFFIX ".envelope"
#define QUEUE_STATE_SUFFIX ".state"
#define QUEUE_KEYFILE_MAX 4096

static bool queue_nospace(int e)
{
	return e == ENOSPC || e == EDQUOT;
}

static int queue_open_dir(int parent, const char *name)
{
	return openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
}

int queue_id_parse(const char *id, int64_t *us_r)
{
	/* The same shape as spool names (DESIGN section 2). */
	return spool_name_parse(id, us_r);
}

/* mkdir that keeps an existing directory and sets the mode either way:
 * mkdir(2) drops S_ISGID from its mode argument. */
static int queue_mkdir(int dirfd, const char *name)
{
	if (mkdirat(dirfd, name, 0770) < 0 && errno != EEXIST)
		return -1;
	return fchmodat(dirfd, name, QUEUE_DIR_MODE, 0);
}

int queue_create_dirs(int state_dirfd)
{
	if (queue_mkdir(state_dirfd, "queue") < 0)
		return -1;
	int qfd = queue_open_dir(state_dirfd, "queue");
	if (qfd < 0)
		return -1;
	int rc = 0;
	if (queue_mkdir(qfd, "tmp") < 0 || queue_mkdir(qfd, "active") < 0 || fsync(qfd) < 0)
		rc = -1;
	int e = errno;
	close(qfd);
	if (rc == 0 && fsync(state_dirfd) < 0)
		return -1;
	errno = e;
	return rc;
}

/* Write all of p to fd, retrying short writes: 0, or -1 with errno. */
static int queue_write_all(int fd, const void *p, size_t n)
{
	const unsigned char *s = p;
	while (n > 0) {
		ssize_t w = write(fd, s, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -1;
		s += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Create dirfd/tmpname with mode, write text, fsync, rename to name: the
 * file appears complete or not at all. 0, or -1 with errno. */
static int queue_write_file(int dirfd, const char *tmpname, const char *name, mode_t mode,
			    const char *text, size_t len)
{
	int fd = openat(dirfd, tmpname, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, mode);
	if (fd < 0)
		return -1;
	int rc = (fchmod(fd, mode) < 0 || queue_write_all(fd, text, len) < 0 || fsync(fd) < 0) ? -1 : 0;
	int e = errno;
	close(fd);
	if (rc == 0 && renameat(dirfd, tmpname, dirfd, name) < 0) {
		e = errno;
		rc = -1;
	}
	if (rc < 0) {
		unlinkat(dirfd, tmpname, 0);
		errno = e;
		return -1;
	}
	return fsync(dirfd);
}

static int queue_write_pub(int qfd, const unsigned char pk[AGE_KEY_LEN])
{
	char rec[AGE_RECIPIENT_MAX + 1];
	if (age_recipient_encode(pk, rec, sizeof(rec) - 1) < 0) {
		errno = EINVAL;
		return -1;
	}
	size_t n = strlen(rec);
	rec[n++] = '\n';
	return queue_write_file(qfd, QUEUE_PUB_FILE ".tmp", QUEUE_PUB_FILE, 0644, rec, n);
}

int queue_keys_create(int qfd)
{
	bool have_key = faccessat(qfd, QUEUE_KEY_FILE, F_OK, AT_SYMLINK_NOFOLLOW) == 0;
	bool have_pub = faccessat(qfd, QUEUE_PUB_FILE, F_OK, AT_SYMLINK_NOFOLLOW) == 0;
	unsigned char pk[AGE_KEY_LEN], sk[AGE_KEY_LEN];
	/* queue.pub without queue.key: the key was moved into a credential (the
	 * production setup); never make a new pair behind queued's back. */
	if (have_pub)
		return 0;
	if (have_key) { /* a crash between the two renames below */
		if (queue_seckey_load(qfd, QUEUE_KEY_FILE, sk) < 0)
			return -1;
		age_public_from_secret(sk, pk);
		sodium_memzero(sk, sizeof(sk));
		return queue_write_pub(qfd, pk) < 0 ? -1 : 1;
	}
	age_keypair(pk, sk);
	char rec[AGE_RECIPIENT_MAX], ident[AGE_IDENTITY_MAX], text[512], date[32];
	time_t now = time(NULL);
	struct tm tm;
	gmtime_r(&now, &tm);
	strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%SZ", &tm);
	int rc = -1;
	if (age_recipient_encode(pk, rec, sizeof(rec)) == 0 &&
	    age_identity_encode(sk, ident, sizeof(ident)) == 0 &&
	    fmt_name(text, sizeof(text), "# sealmail outbound queue key\n# created: %s\n"
		     "# public key: %s\n%s\n", date, rec, ident) == 0)
		rc = queue_write_file(qfd, QUEUE_KEY_FILE ".tmp", QUEUE_KEY_FILE, 0600, text,
				      strlen(text));
	else
		errno = EINVAL;
	sodium_memzero(sk, sizeof(sk));
	sodium_memzero(ident, sizeof(ident));
	sodium_memzero(text, sizeof(text));
	if (rc < 0)
		return -1;
	return queue_write_pub(qfd, pk) < 0 ? -1 : 1;
}

/* Read a small file (at most QUEUE_KEYFILE_MAX - 1 bytes) NUL-terminated
 * into out: its length, or -1 with errno (EFBIG when larger). */
static ssize_t queue_read_small(int dirfd, const char *path, char *out, size_t outsz)
{
	int fd = openat(dirfd, path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -1;
	size_t n = 0;
	for (;;) {
		ssize_t r = read(fd, out + n, outsz - 1 - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			int e = errno;
			close(fd);
			errno = e;
			return -1;
		}
		if (r == 0)
			break;
		n += (size_t)r;
		if (n == outsz - 1) {
			close(fd);
			errno = EFBIG;
			return -1;
		}
	}
	close(fd);
	out[n] = '\0';
	return (ssize_t)n;
}

int queue_pubkey_load(int qfd, unsigned char pk[AGE_KEY_LEN])
{
	char text[AGE_RECIPIENT_MAX + 2];
	ssize_t n = queue_read_small(qfd, QUEUE_PUB_FILE, text, sizeof(text));
	if (n < 0)
		return -1;
	if (n > 0 && text[n - 1] == '\n')
		text[--n] = '\0';
	if (age_recipient_decode(text, pk) != 1) {
		errno = EINVAL;
		return -1;
	}
	return 0;
}

int queue_seckey_load(int dirfd, const char *path, unsigned char sk[AGE_KEY_LEN])
{
	char text[QUEUE_KEYFILE_MAX];
	ssize_t n = queue_read_small(dirfd, path, text, sizeof(text));
	if (n < 0) {
		sodium_memzero(text, sizeof(text));
		return -1;
	}
	int found = 0;
	char *save = NULL;
	for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		size_t ll = strlen(line);
		if (ll > 0 && line[ll - 1] == '\r')
			line[--ll] = '\0';
		if (ll == 0 || line[0] == '#')
			continue;
		if (found++ || age_identity_decode(line, sk) != 1) {
			found = 2;
			break;
		}
	}
	sodium_memzero(text, sizeof(text));
	if (found != 1) {
		sodium_memzero(sk, AGE_KEY_LEN);
		errno = EINVAL;
		return -1;
	}
	return 0;
}

/* "<id><suffix>" into out: 0, or -1 (EINVAL) when id is not a queue id. */
static int queue_file_name(char *out, size_t outsz, const char *id, const char *suffix)
{
	if (queue_id_parse(id, NULL) != 1 || fmt_name(out, outsz, "%s%s", id, suffix) < 0) {
		errno = EINVAL;
		return -1;
	}
	return 0;
}

/* The id of a name "<id><suffix>": 1 with id_out filled, 0 otherwise. */
static int queue_name_id(const char *name, const char *suffix, char id_out[QUEUE_ID_MAX])
{
	size_t n = strlen(name), sl = strlen(suffix);
	if (n <= sl || n - sl >= QUEUE_ID_MAX || strcmp(name + n - sl, suffix) != 0)
		return 0;
	memcpy(id_out, name, n - sl);
	id_out[n - sl] = '\0';
	return queue_id_parse(id_out, NULL);
}

/* --- Enqueue --------------------------------------------------------------- */

enum queue_enq_state { QUEUE_WRITING, QUEUE_PREPARED, QUEUE_COMMITTED, QUEUE_FAILED };

struct queue_enqueue {
	enum queue_enq_state state;
	int tmpfd, activefd; /* queue/tmp, queue/active */
	int fd;              /* tmp/<id>.message while writing */
	struct age_seal *seal;
	unsigned char pk[AGE_KEY_LEN];
	bool msg_in_tmp, env_in_tmp; /* our files in tmp/ */
	int err;
	uint64_t plain;
	char id[QUEUE_ID_MAX];
	char msg_name[QUEUE_ID_MAX + sizeof(QUEUE_MSG_SUFFIX)];
	char env_name[QUEUE_ID_MAX + sizeof(QUEUE_ENV_SUFFIX)];
};

static enum queue_result queue_fail(struct queue_enqueue *q, int e)
{
	if (q->err == 0)
		q->err = e ? e : EIO;
	q->state = QUEUE_FAILED;
	return queue_nospace(q->err) ? QUEUE_NOSPACE : QUEUE_ERROR;
}

static int queue_sink(void *ctx, const unsigned char *p, size_t n)
{
	struct queue_enqueue *q = ctx;
	if (queue_write_all(q->fd, p, n) < 0) {
		if (q->err == 0)
			q->err = errno;
		return -1;
	}
	return 0;
}

/* Create tmp/<fresh id>.message: 0, or -1 with errno. */
static int queue_make_id(struct queue_enqueue *q)
{
	for (int attempt = 0; attempt < 5; attempt++) {
		char rnd[17];
		rnd_hex(rnd, 8);
		if (fmt_name(q->id, sizeof(q->id), "%" PRId64 ".%s", timeutil_now_us(), rnd) < 0 ||
		    queue_file_name(q->msg_name, sizeof(q->msg_name), q->id, QUEUE_MSG_SUFFIX) < 0 ||
		    queue_file_name(q->env_name, sizeof(q->env_name), q->id, QUEUE_ENV_SUFFIX) < 0)
			return -1;
		q->fd = openat(q->tmpfd, q->msg_name,
			       O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, QUEUE_FILE_MODE);
		if (q->fd >= 0) {
			q->msg_in_tmp = true;
			return 0;
		}
		if (errno != EEXIST)
			return -1;
	}
	errno = EEXIST;
	return -1;
}

struct queue_enqueue *queue_enqueue_begin(int qfd, const unsigned char pk[AGE_KEY_LEN],
					  enum queue_result *result_r)
{
	struct queue_enqueue *q = mem_zalloc(sizeof(*q));
	q->tmpfd = q->activefd = q->fd = -1;
	q->state = QUEUE_WRITING;
	memcpy(q->pk, pk, AGE_KEY_LEN);
	enum queue_result res;
	if ((q->tmpfd = queue_open_dir(qfd, "tmp")) < 0 ||
	    (q->activefd = queue_open_dir(qfd, "active")) < 0 || queue_make_id(q) < 0 ||
	    fchmod(q->fd, QUEUE_FILE_MODE) < 0)
		goto fail;
	errno = 0;
	q->seal = age_seal_begin(pk, queue_sink, q);
	if (q->seal == NULL) {
		if (q->err == 0)
			errno = EINVAL; /* not the sink: an unusable public key */
		goto fail;
	}
	if (result_r != NULL)
		*result_r = QUEUE_OK;
	return q;
fail:
	res = queue_fail(q, errno);
	int e = q->err;
	queue_enqueue_free(&q);
	errno = e;
	if (result_r != NULL)
		*result_r = res;
	return NULL;
}

enum queue_result queue_enqueue_write(struct queue_enqueue *q, const void *data, size_t len)
{
	if (q->state != QUEUE_WRITING)
		return QUEUE_ERROR;
	if (len == 0)
		return QUEUE_OK;
	if (age_seal_update(q->seal, data, len) < 0)
		return queue_fail(q, q->err);
	q->plain += len;
	return QUEUE_OK;
}

enum queue_result queue_enqueue_from_fd(struct queue_enqueue *q, int fd)
{
	unsigned char *chunk = mem_alloc(AGE_CHUNK_SIZE);
	enum queue_result r = QUEUE_OK;
	for (;;) {
		ssize_t n = read(fd, chunk, AGE_CHUNK_SIZE);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = queue_fail(q, errno);
			break;
		}
		if (n == 0 || (r = queue_enqueue_write(q, chunk, (size_t)n)) != QUEUE_OK)
			break;
	}
	sodium_memzero(chunk, AGE_CHUNK_SIZE); /* message plaintext */
	free(chunk);
	return r;
}

/* Create dirfd/name and seal text into it: the open descriptor, not yet
 * fsync'd (see queue_enqueue_prepare), or -1 with errno. */
static int queue_seal_file(int dirfd, const char *name, int flags,
			   const unsigned char pk[AGE_KEY_LEN], const struct buf *text)
{
	int fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC | flags,
			QUEUE_FILE_MODE);
	if (fd < 0)
		return -1;
	errno = 0;
	if (fchmod(fd, QUEUE_FILE_MODE) < 0 || age_seal_to_fd(pk, text->data, text->len, fd) < 0) {
		int e = errno ? errno : EIO;
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

/* fsync and close fd: 0, or -1 with the errno of the failure. */
static int queue_sync_close(int fd)
{
	int rc = fsync(fd);
	int e = errno;
	if (close(fd) < 0 && rc == 0 && errno != EINTR) {
		rc = -1;
		e = errno;
	}
	errno = e;
	return rc;
}

enum queue_result queue_enqueue_prepare(struct queue_enqueue *q, struct queue_env *env)
{
	if (q->state != QUEUE_WRITING)
		return QUEUE_ERROR;
	if (age_seal_final(q->seal) < 0)
		return queue_fail(q, q->err);
	age_seal_free(&q->seal);
	memcpy(env->id, q->id, sizeof(env->id));
	env->arrival = timeutil_now_us() / 1000000;
	struct buf text = BUF_INIT;
	if (queue_env_format(env, &text) < 0) {
		buf_free(&text);
		return queue_fail(q, EINVAL);
	}
	int efd = queue_seal_file(q->tmpfd, q->env_name, O_EXCL, q->pk, &text);
	int e = errno;
	buf_wipe(&text);
	if (efd < 0)
		return queue_fail(q, e);
	q->env_in_tmp = true;
	/* Both files are written before the first fsync: on a journaling file
	 * system that first flush carries both, and the second finds little
	 * left to do. fsync may report ENOSPC/EDQUOT late (delayed allocation).
	 * Their names in tmp/ need no fsync: commit renames them. */
	int rc = queue_sync_close(q->fd);
	q->fd = -1;
	e = errno;
	if (queue_sync_close(efd) < 0 && rc == 0) {
		rc = -1;
		e = errno;
	}
	if (rc < 0)
		return queue_fail(q, e);
	q->state = QUEUE_PREPARED;
	return QUEUE_OK;
}

/* renameat2 with RENAME_NOREPLACE (an id collision must fail rather than
 * replace a queued file), or check-then-rename where the file system lacks it. */
static int queue_rename_noreplace(int from, const char *name, int to)
{
	if (renameat2(from, name, to, name, RENAME_NOREPLACE) == 0)
		return 0;
	if (errno != EINVAL && errno != ENOSYS)
		return -1;
	struct stat st;
	if (fstatat(to, name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
		errno = EEXIST;
		return -1;
	}
	return renameat(from, name, to, name);
}

enum queue_result queue_enqueue_commit(struct queue_enqueue *q)
{
	if (q->state != QUEUE_PREPARED)
		return QUEUE_ERROR;
	/* The message first, the envelope last: queued sees a message only
	 * through its envelope, so the envelope's rename is the one commit
	 * point, and a crash between the two leaves an orphan message that
	 * queue_clean removes. */
	if (queue_rename_noreplace(q->tmpfd, q->msg_name, q->activefd) < 0)
		return queue_fail(q, errno);
	q->msg_in_tmp = false;
	if (queue_rename_noreplace(q->tmpfd, q->env_name, q->activefd) < 0)
		return queue_fail(q, errno); /* the orphan message is left to queue_clean */
	q->env_in_tmp = false;
	/* As for the spool: if this fsync fails the message may or may not
	 * survive a crash; report failure so the client retries (RFC 1047). */
	if (fsync(q->activefd) < 0)
		return queue_fail(q, errno);
	q->state = QUEUE_COMMITTED;
	return QUEUE_OK;
}

void queue_enqueue_free(struct queue_enqueue **qp)
{
	struct queue_enqueue *q = *qp;
	if (q == NULL)
		return;
	age_seal_free(&q->seal);
	if (q->fd >= 0)
		close(q->fd);
	if (q->msg_in_tmp && unlinkat(q->tmpfd, q->msg_name, 0) < 0 && errno != ENOENT)
		log_event(LOG_WARNING, "queue-unlink-failed", "QUEUEID", q->id, "REASON",
			  strerror(errno), NULL);
	if (q->env_in_tmp)
		unlinkat(q->tmpfd, q->env_name, 0);
	if (q->tmpfd >= 0)
		close(q->tmpfd);
	if (q->activefd >= 0)
		close(q->activefd);
	mem_wipe_free(q, sizeof(*q));
	*qp = NULL;
}

const char *queue_enqueue_id(const struct queue_enqueue *q)
{
	return q->id;
}

uint64_t queue_enqueue_bytes(const struct queue_enqueue *q)
{
	return q->plain;
}

/* --- Reading ------------------------------------------------------------- */

static int queue_entry_cmp(const void *a, const void *b)
{
	const struct queue_entry *x = a, *y = b;
	int64_t ux = 0, uy = 0;
	queue_id_parse(x->id, &ux);
	queue_id_parse(y->id, &uy);
	if (ux != uy)
		return ux < uy ? -1 : 1;
	return strcmp(x->id, y->id);
}

/* Call fn for every regular file in dir parent/sub; fn returns 0 to go on. */
static int queue_scan(int parent, const char *sub,
		      int (*fn)(int dfd, const char *name, const struct stat *st, void *ctx),
		      void *ctx)
{
	int dfd = queue_open_dir(parent, sub);
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
	while (rc == 0 && (de = readdir(dir)) != NULL) {
		struct stat st;
		if (de->d_name[0] == '.' ||
		    fstatat(dfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode))
			continue;
		rc = fn(dfd, de->d_name, &st, ctx);
	}
	closedir(dir);
	close(dfd);
	return rc;
}

struct queue_list_ctx {
	struct queue_entry *v;
	size_t n, cap;
};

static int queue_list_fn(int dfd, const char *name, const struct stat *st, void *ctx)
{
	struct queue_list_ctx *l = ctx;
	char id[QUEUE_ID_MAX], msg[QUEUE_ID_MAX + sizeof(QUEUE_MSG_SUFFIX)];
	struct stat ms;
	(void)st;
	/* A message is its envelope; one whose message file is missing was
	 * not made by this module. */
	if (queue_name_id(name, QUEUE_ENV_SUFFIX, id) != 1 ||
	    queue_file_name(msg, sizeof(msg), id, QUEUE_MSG_SUFFIX) < 0 ||
	    fstatat(dfd, msg, &ms, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(ms.st_mode))
		return 0;
	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 16;
		l->v = mem_realloc(l->v, l->cap, sizeof(*l->v));
	}
	memcpy(l->v[l->n].id, id, sizeof(id));
	l->v[l->n].sealed_size = (uint64_t)ms.st_size;
	l->n++;
	return 0;
}

int queue_list(int qfd, struct queue_entry **entries_r, size_t *n_r)
{
	struct queue_list_ctx l = {NULL, 0, 0};
	if (queue_scan(qfd, "active", queue_list_fn, &l) < 0) {
		free(l.v);
		return -1;
	}
	if (l.n > 1)
		qsort(l.v, l.n, sizeof(*l.v), queue_entry_cmp);
	*entries_r = l.v;
	*n_r = l.n;
	return 0;
}

/* Open active/<id><suffix> for reading; -1 with errno (EINVAL: bad id). */
static int queue_open_file(int qfd, const char *id, const char *suffix)
{
	char path[QUEUE_ID_MAX + 32], name[QUEUE_ID_MAX + 16];
	if (queue_file_name(name, sizeof(name), id, suffix) < 0 ||
	    fmt_name(path, sizeof(path), "active/%s", name) < 0) {
		errno = EINVAL;
		return -1;
	}
	return openat(qfd, path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
}

/* Decrypt a small sealed file into out. 0; 1 when it does not exist; -1
 * with *error_r. */
static int queue_open_meta(int qfd, const char *id, const char *suffix,
			   const unsigned char sk[AGE_KEY_LEN], struct buf *out, const char **error_r)
{
	int fd = queue_open_file(qfd, id, suffix);
	if (fd < 0) {
		if (errno == ENOENT)
			return 1;
		*error_r = errno == EINVAL ? "bad queue id" : "cannot open";
		return -1;
	}
	struct stat st;
	int rc;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > QUEUE_SEALED_META_MAX) {
		*error_r = "not a queue file or too large";
		rc = -1;
	} else {
		rc = age_open_fd(sk, fd, out, QUEUE_ENV_MAX, error_r);
	}
	close(fd);
	return rc;
}

int queue_read_meta(int qfd, const char *id, const unsigned char sk[AGE_KEY_LEN],
		    struct queue_env *env, struct queue_state *st, const char **error_r)
{
	struct buf b = BUF_INIT;
	memset(env, 0, sizeof(*env));
	memset(st, 0, sizeof(*st));
	int rc = queue_open_meta(qfd, id, QUEUE_ENV_SUFFIX, sk, &b, error_r);
	if (rc == 1) {
		*error_r = "no envelope";
		rc = -1;
	}
	if (rc != 0)
		goto out;
	rc = -1;
	if (queue_env_parse(b.data, b.len, env) != 1) {
		*error_r = "malformed envelope";
		goto out;
	}
	/* The envelope names its message: one renamed to another id is
	 * refused. */
	if (strcmp(env->id, id) != 0) {
		*error_r = "envelope of another message";
		goto out;
	}
	buf_wipe(&b);
	rc = queue_open_meta(qfd, id, QUEUE_STATE_SUFFIX, sk, &b, error_r);
	if (rc == 1) {
		queue_state_init(st, env);
		rc = 0;
	} else if (rc == 0 && queue_state_parse(b.data, b.len, env->nrcpt, st) != 1) {
		*error_r = "malformed state";
		rc = -1;
	}
out:
	buf_wipe(&b);
	if (rc != 0)
		queue_env_clear(env);
	return rc;
}

int queue_read_message(int qfd, const char *id, const unsigned char sk[AGE_KEY_LEN],
		       age_write_fn out, void *ctx, const char **error_r)
{
	int fd = queue_open_file(qfd, id, QUEUE_MSG_SUFFIX);
	if (fd < 0) {
		*error_r = errno == EINVAL ? "bad queue id" : "cannot open message";
		return -1;
	}
	struct age_open *o = age_open_new(sk, out, ctx);
	unsigned char *rbuf = mem_alloc(AGE_CHUNK_SIZE);
	const char *err = NULL;
	for (;;) {
		ssize_t r = read(fd, rbuf, AGE_CHUNK_SIZE);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			err = "read error";
			break;
		}
		if (r == 0) {
			if (age_open_final(o) < 0)
				err = age_open_error(o);
			break;
		}
		if (age_open_update(o, rbuf, (size_t)r) < 0) {
			err = age_open_error(o);
			break;
		}
	}
	age_open_free(&o);
	free(rbuf);
	close(fd);
	if (err != NULL) {
		*error_r = err;
		return -1;
	}
	return 0;
}

int queue_state_save(int qfd, const char *id, const unsigned char pk[AGE_KEY_LEN],
		     const struct queue_state *st)
{
	char env[QUEUE_ID_MAX + 16], tmp[QUEUE_ID_MAX + 16], name[QUEUE_ID_MAX + 16];
	if (queue_file_name(env, sizeof(env), id, QUEUE_ENV_SUFFIX) < 0 ||
	    queue_file_name(tmp, sizeof(tmp), id, QUEUE_STATE_SUFFIX ".tmp") < 0 ||
	    queue_file_name(name, sizeof(name), id, QUEUE_STATE_SUFFIX) < 0)
		return -1;
	struct buf text = BUF_INIT;
	if (queue_state_format(st, &text) < 0) {
		errno = EINVAL;
		return -1;
	}
	int afd = queue_open_dir(qfd, "active");
	int rc = -1;
	/* Never a state for a message that is gone (it would be an orphan). */
	if (afd >= 0 && faccessat(afd, env, F_OK, AT_SYMLINK_NOFOLLOW) == 0) {
		/* O_TRUNC, not O_EXCL: a .tmp left by a crash is ours to reuse. */
		int fd = queue_seal_file(afd, tmp, O_TRUNC, pk, &text);
		if (fd >= 0 && queue_sync_close(fd) == 0 && renameat(afd, tmp, afd, name) == 0 &&
		    fsync(afd) == 0)
			rc = 0;
	}
	int e = errno;
	buf_wipe(&text);
	if (afd >= 0)
		close(afd);
	errno = e;
	return rc;
}

int queue_remove(int qfd, const char *id)
{
	static const char *const rest[] = {QUEUE_MSG_SUFFIX, QUEUE_STATE_SUFFIX,
					   QUEUE_STATE_SUFFIX ".tmp"};
	char name[QUEUE_ID_MAX + 16];
	if (queue_file_name(name, sizeof(name), id, QUEUE_ENV_SUFFIX) < 0)
		return -1;
	int afd = queue_open_dir(qfd, "active");
	if (afd < 0)
		return -1;
	/* The envelope first, made durable: from then on the message is gone
	 * for queued, whatever a crash leaves of the other files. */
	if (unlinkat(afd, name, 0) < 0 || fsync(afd) < 0) {
		int e = errno;
		close(afd);
		errno = e;
		return -1;
	}
	for (size_t i = 0; i < sizeof(rest) / sizeof(rest[0]); i++)
		if (queue_file_name(name, sizeof(name), id, rest[i]) == 0)
			unlinkat(afd, name, 0);
	close(afd);
	return 0;
}

struct queue_clean_ctx {
	time_t cutoff;
	bool active; /* scanning active/: only files without an envelope */
	size_t removed;
};

static int queue_clean_fn(int dfd, const char *name, const struct stat *st, void *ctx)
{
	struct queue_clean_ctx *c = ctx;
	static const char *const suffixes[] = {QUEUE_MSG_SUFFIX, QUEUE_ENV_SUFFIX,
					       QUEUE_STATE_SUFFIX, QUEUE_STATE_SUFFIX ".tmp"};
	char id[QUEUE_ID_MAX], env[QUEUE_ID_MAX + 16];
	size_t i;
	for (i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++)
		if (queue_name_id(name, suffixes[i], id) == 1)
			break;
	if (i == sizeof(suffixes) / sizeof(suffixes[0]) || st->st_mtime >= c->cutoff)
		return 0;
	if (c->active) {
		if (i == 1 || queue_file_name(env, sizeof(env), id, QUEUE_ENV_SUFFIX) < 0 ||
		    faccessat(dfd, env, F_OK, AT_SYMLINK_NOFOLLOW) == 0)
			return 0; /* an envelope, or a file of a queued message */
	}
	if (unlinkat(dfd, name, 0) < 0)
		return 0;
	log_event(LOG_NOTICE, "queue-file-removed", "QUEUEID", id, "FILE", name, NULL);
	c->removed++;
	return 0;
}

int queue_clean(int qfd, int64_t max_age_s, size_t *removed_r)
{
	struct queue_clean_ctx c = {time(NULL) - (time_t)max_age_s, false, 0};
	int rc = queue_scan(qfd, "tmp", queue_clean_fn, &c);
	c.active = true;
	if (queue_scan(qfd, "active", queue_clean_fn, &c) < 0)
		rc = -1;
	if (removed_r != NULL)
		*removed_r = c.removed;
	return rc;
}
