/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* The outbound queue (DESIGN section 8, docs/SENDING.md):
 *     queue/queue.pub                 the queue's age recipient ("age1…"), 0644
 *     queue/queue.key                 its identity (age-keygen format), 0600, read
 *                                     only by queued (production: a credential)
 *     queue/tmp/<id>.message, .envelope   being written
 *     queue/active/<id>.message       the message, sealed (age v1) to queue.pub
 *     queue/active/<id>.envelope      its envelope, sealed the same way; a
 *                                     message exists exactly when this does
 *     queue/active/<id>.state         per-recipient delivery state, sealed;
 *                                     absent until queued first writes it
 * <id> is "<unix-microseconds>.<16 lowercase hex random>", like spool names:
 * time-ordered and unguessable. Both files are written and fsync'd in tmp/,
 * then the message is renamed into active/, then the envelope, then active/
 * is fsync'd: the envelope's rename is the one commit point, so a crash
 * leaves either a complete message or nothing that queued would see (an
 * orphan message file, which queue_clean removes). Removal unlinks the
 * envelope first. The enqueuing handlers hold only the public key, so they
 * cannot read any queued message, their own included.
 *
 * Everything is relative to a descriptor of queue/ (the sandbox hands out
 * dirfds). Trust: the writer runs post-auth (submitd) or post-DATA (smtpd);
 * the envelope parser reads files that only the queue's writers can create,
 * but is strict and bounded anyway (a writer is a network-facing process). */
#ifndef SEALMAIL_QUEUE_H
#define SEALMAIL_QUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "crypto/age.h"
#include "proto/smtpparse.h"

enum queue_result {
	QUEUE_OK = 0,
	QUEUE_ERROR = -1,
	QUEUE_NOSPACE = -2, /* ENOSPC/EDQUOT: answer 452 4.3.1 (RFC 3463), not 451 */
};

#define QUEUE_ID_MAX 40        /* as SPOOL_NAME_MAX, with the NUL */
#define QUEUE_DIR_MODE 02770   /* shared by the writers' and queued's group */
#define QUEUE_FILE_MODE 0640
#define QUEUE_PUB_FILE "queue.pub"
#define QUEUE_KEY_FILE "queue.key"
/* Envelope limits. The parser refuses anything larger. */
#define QUEUE_RCPT_MAX 10000      /* recipients of one queued message */
#define QUEUE_ENV_MAX (8u << 20)  /* plaintext bytes of an envelope */
#define QUEUE_STATE_MAX (8u << 20)
#define QUEUE_LINE_MAX 2048       /* one envelope or state line, LF excluded */
#define QUEUE_HANDLER_MAX 32
#define QUEUE_ERROR_MAX 512       /* last error kept per recipient */
/* Sealed envelope or state as read from disk: plaintext bound plus the age
 * header and the per-chunk tags. */
#define QUEUE_SEALED_META_MAX (QUEUE_ENV_MAX + QUEUE_ENV_MAX / 4096 + 65536)

/* One recipient as given to RCPT TO (RFC 5321, RFC 3461 section 4). orcpt is
 * the decoded ORCPT value ("rfc822;user@host"), "" when absent. */
struct queue_rcpt {
	char addr[SMTP_PATH_MAX + 1];
	unsigned notify; /* SMTP_NOTIFY_* bits; 0 = not given */
	char orcpt[SMTP_ORCPT_MAX + 1];
};

/* The envelope: everything queued must know besides the message. id and
 * arrival are set by the queue when the message is prepared. */
struct queue_env {
	char id[QUEUE_ID_MAX];
	int64_t arrival;                     /* unix seconds */
	char handler[QUEUE_HANDLER_MAX + 1]; /* "submitd", "smtpd" (forwarding), … */
	char user[SMTP_PATH_MAX + 1];        /* authenticated user, "" if none */
	char from[SMTP_PATH_MAX + 1];        /* MAIL FROM; "" is the null sender */
	char envid[SMTP_ENVID_MAX + 1];      /* RFC 3461 ENVID (decoded), "" if absent */
	enum smtp_ret ret;
	enum smtp_body body;
	bool smtputf8;   /* RFC 6531 */
	bool requiretls; /* RFC 8689 */
	size_t nrcpt;
	struct queue_rcpt *rcpt; /* owned; queue_env_clear frees it */
};

/* Add a recipient (copied; 0 ok, -1 when a value is too long or nrcpt is at
 * QUEUE_RCPT_MAX). Release everything with queue_env_clear. */
int queue_env_add_rcpt(struct queue_env *e, const char *addr, unsigned notify, const char *orcpt);
void queue_env_clear(struct queue_env *e);

/* Text form of an envelope (docs/SENDING.md "Envelope"). format appends to
 * out: 0, or -1 when a field holds what the format cannot carry (a control
 * character in an address, an unknown handler name, no recipient…). parse is
 * strict (fixed order, no duplicates, every length bounded, nothing after
 * "end"): 1 ok (e filled, caller clears it), 0 malformed (e left empty). Pure. */
int queue_env_format(const struct queue_env *e, struct buf *out);
int queue_env_parse(const unsigned char *p, size_t len, struct queue_env *e);

/* Per-recipient delivery state, written only by queued. */
enum queue_rcpt_status {
	QUEUE_RCPT_PENDING = 0, /* to be tried at next_try */
	QUEUE_RCPT_SENT,        /* accepted by the next hop (done) */
	QUEUE_RCPT_BOUNCED,     /* failed permanently or expired; DSN handled (done) */
};
struct queue_rcpt_state {
	enum queue_rcpt_status status;
	uint32_t attempts;
	int64_t next_try; /* unix seconds */
	int64_t last_try; /* unix seconds, 0 = never */
	bool warned;      /* delay DSN sent (RFC 3464 action=delayed) */
	char error[QUEUE_ERROR_MAX + 1]; /* last error, printable ASCII, "" if none */
};
struct queue_state {
	bool held; /* sealctl queue hold */
	size_t n;  /* equals the envelope's nrcpt */
	struct queue_rcpt_state *rcpt;
};
/* The state of a message never tried: every recipient pending, next_try =
 * arrival. Release with queue_state_clear. */
void queue_state_init(struct queue_state *s, const struct queue_env *e);
void queue_state_clear(struct queue_state *s);
/* Set a recipient's error from text that came from the network: control
 * characters become spaces and it is cut at QUEUE_ERROR_MAX. */
void queue_state_set_error(struct queue_rcpt_state *r, const char *text, size_t len);
/* Text form as for the envelope; parse needs the recipient count. Pure. */
int queue_state_format(const struct queue_state *s, struct buf *out);
int queue_state_parse(const unsigned char *p, size_t len, size_t nrcpt, struct queue_state *s);

/* Create queue/, queue/tmp and queue/active below state_dirfd (mode
 * QUEUE_DIR_MODE; existing ones kept). 0, or -1 with errno. */
int queue_create_dirs(int state_dirfd);
/* Create the queue's key pair in queue/ unless queue.key exists: 1 created,
 * 0 already there, -1 with errno. queue.key is written 0600 in age-keygen's
 * format, so `age -d -i queue.key` opens any queue file. */
int queue_keys_create(int queue_dirfd);
/* Read queue.pub (an age recipient line): 0, or -1 (errno EINVAL: not one). */
int queue_pubkey_load(int queue_dirfd, unsigned char pk[AGE_KEY_LEN]);
/* Read an identity file (age-keygen format: '#' comments and one
 * AGE-SECRET-KEY-1 line): 0, or -1 (errno EINVAL: none or several). The
 * caller wipes sk. dirfd may be AT_FDCWD with an absolute path. */
int queue_seckey_load(int dirfd, const char *path, unsigned char sk[AGE_KEY_LEN]);

/* Queue ids: 1 valid, 0 not. Pure. */
int queue_id_parse(const char *id, int64_t *us_r);

/* Enqueue one message (streaming: messages may be max_message_size). */
struct queue_enqueue;
/* Create tmp/<fresh id>/ and start sealing its message to pk. NULL with
 * *result_r (may be NULL) on failure. */
struct queue_enqueue *queue_enqueue_begin(int queue_dirfd, const unsigned char pk[AGE_KEY_LEN],
					  enum queue_result *result_r);
enum queue_result queue_enqueue_write(struct queue_enqueue *q, const void *data, size_t len);
/* Copy everything readable from fd (until EOF) into the message. */
enum queue_result queue_enqueue_from_fd(struct queue_enqueue *q, int fd);
/* Finish the message, write the envelope (env->id and env->arrival are set
 * here), fsync both files. Still invisible to queued. */
enum queue_result queue_enqueue_prepare(struct queue_enqueue *q, struct queue_env *env);
/* Rename the message, then the envelope, into active/ and fsync active/.
 * After QUEUE_OK the caller may answer 250: the message survives a crash. */
enum queue_result queue_enqueue_commit(struct queue_enqueue *q);
/* Free; an uncommitted message is removed. Sets *q to NULL. */
void queue_enqueue_free(struct queue_enqueue **q);
const char *queue_enqueue_id(const struct queue_enqueue *q);
uint64_t queue_enqueue_bytes(const struct queue_enqueue *q); /* plaintext so far */

/* The messages in active/, oldest first. */
struct queue_entry {
	char id[QUEUE_ID_MAX];
	uint64_t sealed_size; /* bytes of the sealed message file */
};
/* 0 with a malloc'd array (caller frees), or -1 with errno. */
int queue_list(int queue_dirfd, struct queue_entry **entries_r, size_t *n_r);

/* Open a queued message with the queue's secret key: the envelope and the
 * state (initial state when no state file exists yet). 0 ok; -1 with
 * *error_r (static) when a file is missing, does not decrypt or does not
 * parse. The caller clears env and st. */
int queue_read_meta(int queue_dirfd, const char *id, const unsigned char sk[AGE_KEY_LEN],
		    struct queue_env *env, struct queue_state *st, const char **error_r);
/* Decrypt the message, streaming the plaintext to out (only authenticated
 * chunks reach it; treat it as incomplete unless 0 is returned). 0 ok, -1
 * with *error_r. */
int queue_read_message(int queue_dirfd, const char *id, const unsigned char sk[AGE_KEY_LEN],
		       age_write_fn out, void *ctx, const char **error_r);
/* Seal and write the state (<id>.state.tmp, fsync, rename over <id>.state,
 * fsync active/). 0, or -1 with errno (ENOENT: no such message). */
int queue_state_save(int queue_dirfd, const char *id, const unsigned char pk[AGE_KEY_LEN],
		     const struct queue_state *st);
/* Remove a message: its envelope first (unlink, fsync active/: from then on
 * queued never sees it), then its other files. 0, or -1 with errno
 * (ENOENT: no such message). */
int queue_remove(int queue_dirfd, const char *id);
/* Remove what crashes left: files in tmp/, and files in active/ whose
 * envelope is gone, last modified more than max_age_s ago (younger ones may
 * belong to a writer at work). *removed_r (may be NULL) gets the count. 0,
 * or -1 with errno. */
int queue_clean(int queue_dirfd, int64_t max_age_s, size_t *removed_r);

#endif
