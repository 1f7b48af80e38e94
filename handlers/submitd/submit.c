/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* Submission policy and routing (RFC 6409), as the SMTP engine's hooks in
 * the authenticated back:
 *  - MAIL FROM must be an address of the user: their own, or one the
 *    directory delivers to them (an alias or catch-all whose targets
 *    include the user); the null sender is refused (a user sends no DSN);
 *  - RCPT: a recipient in a hosted domain is resolved as the MX does it and
 *    delivered to the sealed spool; any other is queued;
 *  - at the end of data: the header From: must hold addresses the user
 *    owns (as MAIL FROM); Message-ID and Date are added when missing (RFC
 *    6409 section 8); a Received field is prepended without the client's
 *    address (privacy: the submitting user's IP is not sent on);
 *  - local copies are handed to lmtpd (lmtp.c), which seals, fsyncs and
 *    renames each into the recipient's spool before it answers, and all
 *    remote recipients are enqueued in one envelope; 250 only when both
 *    are on disk.
 * Trust: post-auth; addresses and message come from an authenticated
 * client, which may still lie about who it is. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "base/mem.h"
#include "base/rnd.h"
#include "base/timeutil.h"
#include "data/queue.h"
#include "sys/log.h"
#include "svc/deliver.h"
#include "submitd.h"

/* Whether the user owns addr: 1 yes, 0 no, -1 directory failure. */
static int submit_owns(struct submitd *sub, const char *addr)
{
	if (strcasecmp(addr, sub->user) == 0)
		return 1;
	struct directory_result res;
	memset(&res, 0, sizeof(res));
	int r = directory_resolve(sub->dir, addr, NULL, &res);
	int owned = r < 0 ? -1 : 0;
	for (size_t i = 0; r == 1 && i < res.n; i++)
		if (res.targets[i].kind == DIRECTORY_TARGET_LOCAL &&
		    strcmp(res.targets[i].id, sub->user_id) == 0)
			owned = 1;
	directory_result_clear(&res);
	return owned;
}

static bool submit_mail(struct smtp_sess *s, void *arg)
{
	struct submitd *sub = arg;
	char line[SMTP_PATH_MAX + LOGIN_USER_MAX + 128];
	const struct smtp_path *from = smtp_txn_from(s);
	if (from->null || from->domainless) {
		smtp_txn_refuse(s, "550 5.7.1 Error: the null sender is not allowed for "
		                          "submission", "mail");
		return false;
	}
	int r = submit_owns(sub, from->addr);
	if (r < 0) {
		smtp_txn_refuse(s, "451 4.3.0 Error: temporary directory failure", "mail");
		return false;
	}
	if (r == 0) {
		/* fits or is cut at the address's end: only the text shortens */
		(void)snprintf(line, sizeof(line),
		               "550 5.7.1 Error: sender address <%s> not owned by user %s",
		               from->addr, sub->user);
		smtp_txn_refuse(s, line, "mail");
		return false;
	}
	return true;
}

static int submit_rcpt(struct smtp_sess *s, const struct smtp_path *to, void *arg)
{
	struct submitd *sub = arg;
	const char *reply;
	int local = to->domainless ? 1 : directory_domain_exists(sub->dir, to->domain);
	if (local < 0) {
		smtp_txn_refuse(s, "451 4.3.0 Error: temporary directory failure", "rcpt");
		return 0;
	}
	if (local == 1) {
		size_t *nt;
		struct deliver_target **t = smtp_txn_targets(s, &nt);
		if (deliver_resolve(sub->deliver, to->addr, smtp_txn_nrcpts(s), t, nt, &reply) <= 0) {
			smtp_txn_refuse(s, reply, "rcpt");
			return 0;
		}
		return 1;
	}
	if (!sub->queue_ok) {
		smtp_txn_refuse(s, "451 4.3.0 Error: outbound queue unavailable", "rcpt");
		return 0;
	}
	return 2;
}

/* ---- the message's header ---------------------------------------------- */

struct submit_header {
	bool has_msgid, has_date;
	unsigned nfrom;
	const unsigned char *from; /* the first From: field's value (folded) */
	size_t from_len;
	size_t end; /* bytes of the header section */
};

static void submit_header_scan(const unsigned char *m, size_t len, struct submit_header *h)
{
	memset(h, 0, sizeof(*h));
	size_t i = 0;
	while (i < len) {
		const unsigned char *nl = memchr(m + i, '\n', len - i);
		size_t ll = nl ? (size_t)(nl - (m + i)) + 1 : len - i;
		if (ll <= 2 && (m[i] == '\r' || m[i] == '\n'))
			break; /* the empty line */
		const char *f = (const char *)m + i;
		if (ll > 11 && strncasecmp(f, "Message-ID:", 11) == 0)
			h->has_msgid = true;
		else if (ll > 5 && strncasecmp(f, "Date:", 5) == 0)
			h->has_date = true;
		else if (ll > 5 && strncasecmp(f, "From:", 5) == 0 && h->nfrom++ == 0) {
			size_t e = i + ll;
			/* the value runs on over continuation lines */
			while (e < len && (m[e] == ' ' || m[e] == '\t')) {
				const unsigned char *n2 = memchr(m + e, '\n', len - e);
				e = n2 ? (size_t)(n2 - m) + 1 : len;
			}
			h->from = m + i + 5;
			h->from_len = e - (i + 5);
		}
		i += ll;
	}
	h->end = i;
}

/* The next address of a From: value (RFC 5322 section 3.4, mailbox-list):
 * angle-addr when there is one, else the addr-spec; display names, quoted
 * strings and comments skipped. 1 found (into out), 0 none left, -1
 * malformed. */
static int submit_from_next(const unsigned char *v, size_t len, size_t *pos, char *out,
                            size_t outsz)
{
	size_t i = *pos, start = SIZE_MAX, stop = 0;
	bool quoted = false, angle = false;
	int depth = 0;
	for (; i < len; i++) {
		unsigned char ch = v[i];
		if (quoted) {
			if (ch == '\\')
				i++;
			else if (ch == '"')
				quoted = false;
		} else if (depth > 0) {
			depth += ch == '(' ? 1 : ch == ')' ? -1 : 0;
		} else if (ch == '"' && !angle) {
			quoted = true;
			if (start == SIZE_MAX)
				start = i;
		} else if (ch == '(') {
			depth = 1;
		} else if (ch == '<') {
			angle = true;
			start = i + 1;
		} else if (ch == '>' && angle) {
			stop = i;
			angle = false;
		} else if (ch == ',' && !angle) {
			break;
		} else if (ch != ' ' && ch != '\t' && ch != '\r' && ch != '\n' && start == SIZE_MAX) {
			start = i;
		}
		if (start != SIZE_MAX && stop == 0 && !angle && !quoted && depth == 0 &&
		    (ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n') && start < i)
			stop = stop ? stop : i;
	}
	*pos = i < len ? i + 1 : len;
	if (start == SIZE_MAX)
		return i < len ? -1 : 0;
	if (stop == 0 || stop < start)
		stop = i;
	while (stop > start && (v[stop - 1] == ' ' || v[stop - 1] == '\t' || v[stop - 1] == '\r' ||
	                        v[stop - 1] == '\n'))
		stop--;
	if (stop == start || stop - start >= outsz)
		return -1;
	memcpy(out, v + start, stop - start);
	out[stop - start] = '\0';
	return 1;
}

/* The header From: check: NULL when every address is the user's, else the
 * refusal line (into line). */
static const char *submit_from_check(struct submitd *sub, const struct submit_header *h,
                                     char *line, size_t n)
{
	if (h->nfrom != 1)
		return h->nfrom == 0 ? "550 5.7.1 Error: the message has no From: field"
		                     : "550 5.7.1 Error: the message has several From: fields";
	size_t pos = 0;
	char addr[SMTP_PATH_MAX + 1];
	unsigned found = 0;
	for (;;) {
		int r = submit_from_next(h->from, h->from_len, &pos, addr, sizeof(addr));
		if (r == 0)
			break;
		if (r < 0)
			return "550 5.7.1 Error: unreadable From: field";
		found++;
		int o = submit_owns(sub, addr);
		if (o < 0)
			return "451 4.3.0 Error: temporary directory failure";
		if (o == 0) {
			/* may be cut at the address's end: only the text shortens */
			(void)snprintf(line, n, "550 5.7.1 Error: From: address <%s> not owned by user %s",
			               addr, sub->user);
			return line;
		}
	}
	return found > 0 ? NULL : "550 5.7.1 Error: the message has no From: address";
}

/* Received (RFC 5321 section 4.4, "with ESMTPSA" RFC 3848) and the fields
 * RFC 6409 section 8 lets a submission server add. */
static void submit_prefix(struct smtp_sess *s, struct submitd *sub, const struct submit_header *h,
                          struct buf *p)
{
	char date[TIMEUTIL_DATE_MAX];
	timeutil_rfc5322(time(NULL), date);
	bool utf8 = smtp_txn_params(s)->smtputf8;
	buf_printf(p, "Received: from %s\r\n\tby %s (sealmail) with %s id %s", smtp_txn_helo(s),
	           sub->conf->hostname,
	           utf8 ? (sub->tls ? "UTF8SMTPSA" : "UTF8SMTPA") : (sub->tls ? "ESMTPSA" : "ESMTPA"),
	           smtp_txn_id(s));
	const char *addr, *orcpt;
	unsigned notify;
	bool remote;
	if (smtp_txn_nrcpts(s) == 1 && smtp_txn_rcpt(s, 0, &addr, &notify, &orcpt, &remote))
		buf_printf(p, "\r\n\tfor <%s>", addr);
	buf_printf(p, ";\r\n\t%s\r\n", date);
	if (!h->has_date)
		buf_printf(p, "Date: %s\r\n", date);
	if (!h->has_msgid) {
		char rnd[17];
		rnd_hex(rnd, 8);
		buf_printf(p, "Message-ID: <%s.%s@%s>\r\n", smtp_txn_id(s), rnd, sub->conf->hostname);
	}
}

/* ---- routing ----------------------------------------------------------- */

/* The remote recipients into env: their count, or -1 when one does not fit
 * an envelope. */
static ssize_t submit_remote(struct smtp_sess *s, struct queue_env *env)
{
	for (size_t g = 0; g < smtp_txn_nrcpts(s); g++) {
		const char *addr, *orcpt;
		unsigned notify;
		bool remote;
		if (smtp_txn_rcpt(s, g, &addr, &notify, &orcpt, &remote) && remote &&
		    queue_env_add_rcpt(env, addr, notify, orcpt) < 0)
			return -1;
	}
	return (ssize_t)env->nrcpt;
}

/* Enqueue the message for env's recipients (prepared, not committed):
 * NULL with *r set on failure. */
static struct queue_enqueue *submit_enqueue(struct smtp_sess *s, struct submitd *sub,
                                            struct queue_env *env, const struct buf *prefix,
                                            enum queue_result *r)
{
	const struct smtp_mail_params *mp = smtp_txn_params(s);
	const struct buf *msg = smtp_txn_message(s);
	/* Same bounds as the session's fields (paths, ENVID): never cut; the
	 * user's address is bounded by the directory, checked anyway. */
	snprintf(env->handler, sizeof(env->handler), "submitd");
	snprintf(env->from, sizeof(env->from), "%s", smtp_txn_from(s)->addr);
	snprintf(env->envid, sizeof(env->envid), "%s", mp->envid);
	int k = snprintf(env->user, sizeof(env->user), "%s", sub->user);
	env->ret = mp->ret;
	env->body = mp->body;
	env->smtputf8 = mp->smtputf8;
	*r = QUEUE_ERROR;
	if (k < 0 || (size_t)k >= sizeof(env->user))
		return NULL;
	struct queue_enqueue *q = queue_enqueue_begin(sub->queue_fd, sub->queue_pk, r);
	if (q == NULL)
		return NULL;
	if ((*r = queue_enqueue_write(q, prefix->data, prefix->len)) == QUEUE_OK &&
	    (*r = queue_enqueue_write(q, msg->len ? msg->data : (const unsigned char *)"",
	                              msg->len)) == QUEUE_OK)
		*r = queue_enqueue_prepare(q, env);
	if (*r != QUEUE_OK)
		queue_enqueue_free(&q);
	return q;
}

static void submit_log(struct smtp_sess *s, const char *event, const char *qid, size_t n)
{
	char size[24], count[24]; /* decimal size_t: at most 20 digits */
	snprintf(size, sizeof(size), "%zu", smtp_txn_message(s)->len);
	snprintf(count, sizeof(count), "%zu", n);
	/* QUEUEID: the queue's file id for "queue" (sealctl queue names it);
	 * SMTPID: the id of the 250 reply, which the client sees. */
	log_event(LOG_INFO, event, "QUEUEID", qid, "SMTPID", smtp_txn_id(s), "SIZE", size,
	          "RECIPIENTS", count, NULL);
}

static const char *submit_queue_reply(enum queue_result r)
{
	/* RFC 3463: 4.3.1 is a full disk; anything else a local error. */
	return r == QUEUE_NOSPACE ? "452 4.3.1 Error: insufficient system storage"
	                          : "451 4.3.0 Error: could not queue the message";
}

/* The local copies, through lmtpd: NULL, or the failure reply (its text
 * in text[n] when lmtpd gave one). */
static const char *submit_local(struct smtp_sess *s, struct submitd *sub, const struct buf *prefix,
                                char *text, size_t n)
{
	size_t *nt;
	(void)smtp_txn_targets(s, &nt);
	if (*nt == 0)
		return NULL;
	const char **rcpts = mem_array(smtp_txn_nrcpts(s), sizeof(*rcpts));
	size_t nlocal = 0;
	for (size_t g = 0; g < smtp_txn_nrcpts(s); g++) {
		const char *addr, *orcpt;
		unsigned notify;
		bool remote;
		if (smtp_txn_rcpt(s, g, &addr, &notify, &orcpt, &remote) && !remote)
			rcpts[nlocal++] = addr;
	}
	const struct smtp_mail_params *mp = smtp_txn_params(s);
	struct submitd_lmtp m = {.hostname = sub->conf->hostname,
	                         .from = smtp_txn_from(s)->addr,
	                         .body = mp->body,
	                         .smtputf8 = mp->smtputf8,
	                         .rcpts = rcpts,
	                         .nrcpts = nlocal,
	                         .prefix = prefix,
	                         .msg = smtp_txn_message(s)};
	const char *reply = nlocal ? submitd_lmtp(sub->conf, &m, text, n) : NULL;
	free(rcpts);
	if (reply == NULL && nlocal > 0)
		submit_log(s, "deliver", smtp_txn_id(s), nlocal);
	return reply;
}

/* Prepare the queued copy (sealed, fsync'd in tmp/), deliver the local
 * copies, then commit the queued one: NULL when all are on disk, else the
 * failure reply. A queue commit failing after local delivery leaves those
 * copies delivered: the client retries and a local user may get the
 * message twice, never none. */
static const char *submit_route(struct smtp_sess *s, struct submitd *sub, const struct buf *prefix,
                                char *text, size_t n)
{
	struct queue_env env;
	memset(&env, 0, sizeof(env));
	enum queue_result qr = QUEUE_OK;
	struct queue_enqueue *q = NULL;
	const char *reply = NULL;
	ssize_t nremote = submit_remote(s, &env);
	if (nremote != 0) {
		q = nremote > 0 ? submit_enqueue(s, sub, &env, prefix, &qr) : NULL;
		if (q == NULL) {
			log_event(LOG_ERR, "queue-fail", "QUEUEID", smtp_txn_id(s), NULL);
			reply = submit_queue_reply(nremote > 0 ? qr : QUEUE_ERROR);
		}
	}
	if (reply == NULL)
		reply = submit_local(s, sub, prefix, text, n);
	if (reply == NULL && q != NULL) {
		qr = queue_enqueue_commit(q);
		if (qr == QUEUE_OK)
			submit_log(s, "queue", queue_enqueue_id(q), (size_t)nremote);
		else
			reply = submit_queue_reply(qr);
	}
	queue_enqueue_free(&q);
	queue_env_clear(&env);
	return reply;
}

static void submit_message(struct smtp_sess *s, void *arg)
{
	struct submitd *sub = arg;
	struct submit_header h;
	char line[SMTP_PATH_MAX + LOGIN_USER_MAX + 128];
	const struct buf *msg = smtp_txn_message(s);
	const unsigned char *m = msg->data ? msg->data : (const unsigned char *)"";
	submit_header_scan(m, msg->len, &h);
	const char *refuse = submit_from_check(sub, &h, line, sizeof(line));
	if (refuse != NULL) {
		smtp_txn_refuse(s, refuse, "data");
		return;
	}
	struct buf prefix = BUF_INIT;
	submit_prefix(s, sub, &h, &prefix);
	char text[1100]; /* a reply of lmtpd's */
	const char *reply = submit_route(s, sub, &prefix, text, sizeof(text));
	if (reply == NULL) {
		smtp_txn_reply_queued(s);
	} else {
		smtp_txn_reply(s, reply);
		log_event(LOG_WARNING, "deliver-fail", "QUEUEID", smtp_txn_id(s), "REASON",
		          reply + 4, NULL);
	}
	buf_free(&prefix);
}

const struct smtp_submit_hooks submitd_hooks_template = {
    .mail = submit_mail, .rcpt = submit_rcpt, .message = submit_message, .arg = NULL};
