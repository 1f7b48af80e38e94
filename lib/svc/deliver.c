/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* Trust: post-DATA (see deliver.h). */
#include "deliver.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/fmt.h"
#include "sys/conn.h"
#include "data/directory.h"
#include "sys/log.h"
#include "base/mem.h"
#include "notify.h"
#include "data/spool.h"
#include "base/timeutil.h"

/* How long the accept loop leaves Redis alone after a failure. */
#define DELIVER_REDIS_RETRY_MS 5000

struct deliver {
	const struct conf *conf;
	struct directory *dir; /* the session's, or the loop's snapshot it inherited */
	struct directory *src; /* accept loop: the file the snapshots are taken from */
	bool src_failed;       /* accept loop: the last refresh failed (logged once) */
	/* Accept loop: children send the ids of users to notify as datagrams,
	 * and the loop publishes them on its one Redis connection. */
	int relay_rd, relay_wr;
	struct notify *loop_notify;
	int64_t loop_retry_ms; /* after a Redis failure: not before this */
	int users_fd;
	struct notify *notify;
};

struct deliver *deliver_new(const struct conf *c, const char **error_r)
{
	static char err[512];
	struct deliver *d = mem_zalloc(sizeof(*d));
	d->conf = c;
	d->relay_rd = d->relay_wr = -1;
	char path[PATH_MAX];
	d->users_fd = fmt_name(path, sizeof(path), "%s/users", c->state_dir) == 0
	                  ? open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
	                  : -1;
	if (d->users_fd < 0) {
		fmt_msg(err, sizeof(err), "%s/users: %s", c->state_dir, strerror(errno));
		*error_r = err;
		free(d);
		return NULL;
	}
	return d;
}

void deliver_session_begin(struct deliver *d)
{
	/* A child of the accept loop: not the loop's end of the relay, nor
	 * its Redis connection. */
	if (d->relay_rd >= 0) {
		close(d->relay_rd);
		d->relay_rd = -1;
	}
	notify_forsake(&d->loop_notify);
}

int deliver_loop_relay(struct deliver *d)
{
	int sv[2];
	if (d->conf->redis[0] == '\0' ||
	    socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv) < 0)
		return -1;
	d->relay_rd = sv[0];
	d->relay_wr = sv[1];
	return d->relay_rd;
}

/* Distinct users published at once (one Redis round trip). */
#define DELIVER_PUBLISH_BATCH 16

static void deliver_loop_publish_ids(struct deliver *d, const char *const *ids, size_t n)
{
	if (d->loop_notify == NULL) {
		if (timeutil_mono_ms() < d->loop_retry_ms)
			return; /* Redis was down: sessions poll meanwhile */
		d->loop_notify = notify_new(d->conf->redis);
	}
	if (notify_publish_many(d->loop_notify, ids, n, "new") < 0) {
		notify_free(&d->loop_notify);
		d->loop_retry_ms = timeutil_mono_ms() + DELIVER_REDIS_RETRY_MS;
	}
}

void deliver_loop_publish(struct deliver *d)
{
	/* Deliveries to one user that arrived since the last call need one
	 * notice: it goes out after all of them were committed, and a session
	 * looks at the whole spool when told. */
	char ids[DELIVER_PUBLISH_BATCH][DIRECTORY_ID_LEN + 1];
	const char *idp[DELIVER_PUBLISH_BATCH];
	size_t n = 0;
	/* Bounded, so that the loop gets back to accepting. */
	for (int i = 0; i < 256; i++) {
		char id[DIRECTORY_ID_LEN + 2];
		ssize_t k = recv(d->relay_rd, id, sizeof(id) - 1, MSG_DONTWAIT);
		if (k < 0)
			break;
		id[k] = '\0';
		if (k != DIRECTORY_ID_LEN || !directory_id_valid(id))
			continue; /* not from our code: ignore */
		bool seen = false;
		for (size_t j = 0; j < n && !seen; j++)
			seen = strcmp(ids[j], id) == 0;
		if (seen)
			continue;
		memcpy(ids[n], id, DIRECTORY_ID_LEN + 1);
		idp[n] = ids[n];
		if (++n == DELIVER_PUBLISH_BATCH) {
			deliver_loop_publish_ids(d, idp, n);
			n = 0;
		}
	}
	if (n > 0)
		deliver_loop_publish_ids(d, idp, n);
}

/* After commit: tell the user's sessions. Through the accept loop when
 * there is one (no Redis connection per child), else directly. */
static void deliver_notify(struct deliver *d, const char *user_id)
{
	if (d->relay_wr >= 0 &&
	    send(d->relay_wr, user_id, strlen(user_id), MSG_DONTWAIT | MSG_NOSIGNAL) >= 0)
		return;
	if (d->notify == NULL)
		d->notify = notify_new(d->conf->redis);
	notify_publish(d->notify, user_id, "new");
}

/* The directory, opened at the first recipient: a session that never gets
 * that far (a client that only says EHLO and QUIT, a scanner) costs no
 * SQLite open. NULL after logging the failure. */
static struct directory *deliver_dir(struct deliver *d)
{
	const char *err;
	if (d->dir == NULL &&
	    directory_open(d->conf->state_dir, DIRECTORY_READ, &d->dir, &err) < 0) {
		log_event(LOG_ERR, "directory-error", "REASON", err, NULL);
		return NULL;
	}
	return d->dir;
}

void deliver_loop_refresh(struct deliver *d)
{
	const char *err = NULL;
	int changed = -1;
	if (d->src != NULL ||
	    directory_open(d->conf->state_dir, DIRECTORY_READ, &d->src, &err) == 0) {
		changed = directory_changed(d->src);
		if (changed < 0)
			err = directory_error(d->src);
	}
	if (changed == 0 && d->dir != NULL)
		return;
	struct directory *snap = NULL;
	if (changed == 1 && directory_snapshot(d->src, &snap) < 0)
		err = directory_error(d->src);
	if (snap == NULL) {
		/* The children open the file themselves meanwhile. */
		if (!d->src_failed)
			log_event(LOG_ERR, "directory-error", "REASON",
			          err ? err : "snapshot failed", NULL);
		d->src_failed = true;
		directory_close(&d->dir);
		directory_close(&d->src);
		return;
	}
	d->src_failed = false;
	directory_close(&d->dir);
	d->dir = snap;
	conn_loop_settle();
}

void deliver_free(struct deliver **dp)
{
	struct deliver *d = *dp;
	if (d == NULL)
		return;
	directory_close(&d->dir);
	directory_close(&d->src);
	notify_free(&d->loop_notify);
	if (d->relay_rd >= 0)
		close(d->relay_rd);
	if (d->relay_wr >= 0)
		close(d->relay_wr);
	if (d->users_fd >= 0)
		close(d->users_fd);
	notify_free(&d->notify);
	free(d);
	*dp = NULL;
}

/* Bytes the user occupies: the mailbox files plus what waits in the spool.
 * The MX cannot read the mailbox, but it can stat it. */
static uint64_t deliver_usage(struct deliver *d, const char *id)
{
	char path[128];
	struct stat st;
	uint64_t total = 0, spool_bytes = 0;
	size_t files;
	/* The mailbox with its WAL and WAL index, which persist between
	 * sessions. */
	static const char *const mailbox[] = {"mailbox.db", "mailbox.db-wal", "mailbox.db-shm"};
	/* ids are DELIVER_ID_MAX - 1 hex digits, so the paths fit; one that did
	 * not would name no file of ours, and counts nothing. */
	for (size_t i = 0; i < sizeof(mailbox) / sizeof(mailbox[0]); i++) {
		if (fmt_name(path, sizeof(path), "%s/%s", id, mailbox[i]) == 0 &&
		    fstatat(d->users_fd, path, &st, 0) == 0)
			total += (uint64_t)st.st_size;
	}
	int fd = fmt_name(path, sizeof(path), "%s/spool", id) == 0
	             ? openat(d->users_fd, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
	             : -1;
	if (fd >= 0) {
		if (spool_usage(fd, &spool_bytes, &files) == 0)
			total += spool_bytes;
		close(fd);
	}
	return total;
}

int deliver_resolve(struct deliver *d, const char *addr, size_t group,
                    struct deliver_target **targets, size_t *ntargets, const char **reply_r)
{
	struct directory_result res;
	memset(&res, 0, sizeof(res));
	if (deliver_dir(d) == NULL) {
		*reply_r = "451 4.3.0 Error: temporary directory failure";
		return -1;
	}
	int r = directory_resolve(d->dir, addr, d->conf->postmaster, &res);
	if (r < 0) {
		log_event(LOG_ERR, "directory-error", "REASON", directory_error(d->dir), NULL);
		*reply_r = "451 4.3.0 Error: temporary directory failure";
		directory_result_clear(&res);
		return -1;
	}
	if (r == 0) {
		switch (res.miss) {
		case DIRECTORY_MISS_DOMAIN:
			*reply_r = "550 5.7.1 Error: relay access denied";
			break;
		case DIRECTORY_MISS_SYNTAX:
			*reply_r = "501 5.1.3 Error: bad recipient address syntax";
			break;
		case DIRECTORY_MISS_LOOP:
			*reply_r = "550 5.4.6 Error: alias loop";
			break;
		default:
			*reply_r = "550 5.1.1 Error: no such user here";
			break;
		}
		directory_result_clear(&res);
		return 0;
	}
	size_t added = 0;
	for (size_t i = 0; i < res.n; i++) {
		struct directory_target *t = &res.targets[i];
		if (t->kind != DIRECTORY_TARGET_LOCAL) {
			/* Forwarding needs the outbound queue; until then such
			 * targets are not delivered (sealctl refuses to add them). */
			log_event(LOG_WARNING, "skip-target", "RCPT", addr, "REASON",
			          "external or URL alias target not deliverable yet", NULL);
			continue;
		}
		struct directory_user u;
		memset(&u, 0, sizeof(u));
		int g = directory_user_get_by_id(d->dir, t->id, &u);
		uint64_t quota = g == 1 ? u.quota_bytes : 0;
		directory_user_clear(&u);
		if (g < 0) {
			*reply_r = "451 4.3.0 Error: temporary directory failure";
			directory_result_clear(&res);
			return -1;
		}
		if (quota > 0 && deliver_usage(d, t->id) >= quota) {
			*reply_r = "452 4.2.2 Error: mailbox full";
			directory_result_clear(&res);
			return 0;
		}
		*targets = mem_realloc(*targets, *ntargets + 1, sizeof(**targets));
		struct deliver_target *dt = &(*targets)[*ntargets];
		memset(dt, 0, sizeof(*dt));
		/* A cut id or address would deliver to, or name, someone else. */
		if (fmt_name(dt->user_id, sizeof(dt->user_id), "%s", t->id) < 0 ||
		    fmt_name(dt->address, sizeof(dt->address), "%s", t->value) < 0) {
			log_event(LOG_ERR, "bad-target", "RCPT", addr, "REASON",
			          "user id or address too long", NULL);
			*reply_r = "451 4.3.0 Error: temporary directory failure";
			directory_result_clear(&res);
			return -1;
		}
		memcpy(dt->pk, t->seal_pk, sizeof(dt->pk));
		dt->group = group;
		(*ntargets)++;
		added++;
	}
	directory_result_clear(&res);
	if (added == 0) {
		*reply_r = "550 5.7.1 Error: forwarding to external targets is not available";
		return 0;
	}
	return 1;
}

static const char *deliver_fail_reply(enum spool_result r, int err)
{
	if (r == SPOOL_NOSPACE)
		return err == EDQUOT ? "452 4.2.2 Error: mailbox full"
		                     : "452 4.3.1 Error: insufficient system storage";
	return "451 4.3.0 Error: local delivery failed, try again later";
}

/* Seal and fsync one copy (not yet visible): the delivery object or NULL. */
static struct spool_delivery *deliver_prepare(struct deliver *d, struct deliver_target *t,
                                              const struct buf *prefix, const unsigned char *msg,
                                              size_t len, const char *flags)
{
	char path[64];
	enum spool_result r = SPOOL_ERROR;
	/* user_id holds at most DELIVER_ID_MAX - 1 bytes: the path fits (were
	 * it cut, fmt_name fails with ENAMETOOLONG and the copy fails). */
	int fd = fmt_name(path, sizeof(path), "%s/spool", t->user_id) == 0
	             ? openat(d->users_fd, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
	             : -1;
	struct spool_delivery *sd = NULL;
	if (fd >= 0)
		sd = spool_deliver_begin(fd, t->pk, &r);
	int err = errno;
	if (fd >= 0)
		close(fd);
	if (sd != NULL) {
		struct buf dto = BUF_INIT;
		buf_printf(&dto, "Delivered-To: %s\r\n", t->address);
		/* Flags (a milter's quarantine) must be the very first line. */
		r = flags != NULL ? spool_write_flags(sd, flags) : SPOOL_OK;
		if (r == SPOOL_OK)
			r = spool_write(sd, prefix->data, prefix->len);
		if (r == SPOOL_OK)
			r = spool_write(sd, dto.data, dto.len);
		if (r == SPOOL_OK)
			r = spool_write(sd, msg, len);
		if (r == SPOOL_OK)
			r = spool_prepare(sd);
		buf_free(&dto);
		err = spool_errno(sd);
		if (r == SPOOL_OK)
			return sd;
		spool_abort(&sd);
	}
	t->result = -1;
	t->reply = deliver_fail_reply(r, err);
	log_event(LOG_ERR, "spool-error", "USER", t->user_id, "REASON", strerror(err), NULL);
	return NULL;
}

size_t deliver_run(struct deliver *d, const struct buf *prefix, const unsigned char *msg,
                   size_t len, struct deliver_target *targets, size_t ntargets, bool all_or_nothing,
                   const char *queue_id)
{
	return deliver_run_flags(d, prefix, msg, len, targets, ntargets, all_or_nothing, queue_id,
	                         NULL);
}

size_t deliver_run_flags(struct deliver *d, const struct buf *prefix, const unsigned char *msg,
                         size_t len, struct deliver_target *targets, size_t ntargets,
                         bool all_or_nothing, const char *queue_id, const char *flags)
{
	struct spool_delivery **sd = mem_array(ntargets ? ntargets : 1, sizeof(*sd));
	size_t *primary = mem_array(ntargets ? ntargets : 1, sizeof(*primary));
	bool failed = false;
	if (msg == NULL)
		msg = (const unsigned char *)"";
	/* 1. One sealed, fsync'd copy per distinct user. */
	for (size_t i = 0; i < ntargets; i++) {
		targets[i].result = 0;
		targets[i].reply = NULL;
		primary[i] = i;
		for (size_t j = 0; j < i; j++)
			if (strcmp(targets[j].user_id, targets[i].user_id) == 0) {
				primary[i] = j;
				break;
			}
		if (primary[i] != i)
			continue;
		sd[i] = deliver_prepare(d, &targets[i], prefix, msg, len, flags);
		if (sd[i] == NULL)
			failed = true;
	}
	/* 2. SMTP has one reply for all: any failure aborts every copy. */
	if (failed && all_or_nothing) {
		for (size_t i = 0; i < ntargets; i++) {
			spool_abort(&sd[i]);
			if (targets[i].result == 0) {
				targets[i].result = -1;
				targets[i].reply =
				    "451 4.3.0 Error: local delivery failed, try again later";
			}
		}
	}
	/* 3. Commit: rename into new/ and fsync the directory; only now may the
	 * caller acknowledge. */
	for (size_t i = 0; i < ntargets; i++) {
		if (sd[i] == NULL)
			continue;
		enum spool_result r = spool_commit(sd[i]);
		if (r != SPOOL_OK) {
			targets[i].result = -1;
			targets[i].reply = deliver_fail_reply(r, spool_errno(sd[i]));
			log_event(LOG_ERR, "spool-error", "USER", targets[i].user_id, "REASON",
			          strerror(spool_errno(sd[i])), NULL);
		} else {
			log_event(LOG_DEBUG, "spooled", "USER", targets[i].user_id, "QUEUEID",
			          queue_id, "FILE", spool_name(sd[i]), NULL);
		}
		spool_free(&sd[i]);
	}
	/* 4. Duplicates share their primary's outcome; notify after commit. */
	size_t ok = 0;
	for (size_t i = 0; i < ntargets; i++) {
		if (primary[i] != i) {
			targets[i].result = targets[primary[i]].result;
			targets[i].reply = targets[primary[i]].reply;
		} else if (targets[i].result == 0) {
			deliver_notify(d, targets[i].user_id);
		}
		if (targets[i].result == 0)
			ok++;
	}
	free(sd);
	free(primary);
	return ok;
}
