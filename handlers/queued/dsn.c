/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* Delivery status notifications (RFC 3464): a multipart/report to the
 * envelope sender, enqueued from the null sender like any other message, so
 * it goes out through the same MX path (a local sender's domain is ours,
 * its MX our smtpd). */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/fmt.h"
#include "base/rnd.h"
#include "queued.h"
#include "sys/log.h"

static void rfc5322_date(int64_t t, char *out, size_t outsz)
{
	time_t tt = (time_t)t;
	struct tm tm;
	gmtime_r(&tt, &tm);
	if (strftime(out, outsz, "%a, %d %b %Y %H:%M:%S +0000", &tm) == 0)
		out[0] = '\0';
}

/* "550 5.1.1 text" -> status "5.1.1"; without one, the class's x.0.0. */
static void status_of(const char *err, char *out, size_t outsz)
{
	const char *sp = strchr(err, ' ');
	if (sp != NULL && (sp[1] == '4' || sp[1] == '5') && sp[2] == '.') {
		size_t n = strcspn(sp + 1, " ");
		if (n < outsz) {
			memcpy(out, sp + 1, n);
			out[n] = '\0';
			return;
		}
	}
	fmt_msg(out, outsz, "%c.0.0", err[0] == '4' ? '4' : '5');
}

static bool ascii(const unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] >= 0x80)
			return false;
	return true;
}

/* The original's header (or all of it with RET=FULL) from the memfd. */
static void original(int msgfd, bool full, struct buf *out)
{
	struct stat sb;
	if (fstat(msgfd, &sb) < 0)
		return;
	size_t len = (size_t)sb.st_size, max = full ? len : 65536;
	struct buf in = BUF_INIT;
	buf_reserve(&in, len < max ? len : max);
	ssize_t r = pread(msgfd, in.data, len < max ? len : max, 0);
	if (r > 0)
		in.len = (size_t)r;
	size_t n = in.len;
	if (!full) {
		for (size_t i = 0; i + 1 < in.len; i++) {
			if (in.data[i] == '\n' &&
			    (in.data[i + 1] == '\n' || in.data[i + 1] == '\r')) {
				n = i + 1;
				break;
			}
		}
	}
	buf_append(out, in.data, n);
	buf_free(&in);
}

static void report(const struct qd *q, const struct queue_env *env, const struct queue_state *st,
                   const size_t *b, size_t n, const char *boundary, struct buf *m)
{
	char date[64], arr[64];
	rfc5322_date((int64_t)time(NULL), date, sizeof(date));
	rfc5322_date(env->arrival, arr, sizeof(arr));
	const char *h = q->conf->hostname;
	buf_printf(m, "From: Mail Delivery System <MAILER-DAEMON@%s>\r\nTo: <%s>\r\n", h,
	           env->from);
	buf_printf(m, "Subject: Undelivered Mail Returned to Sender\r\nDate: %s\r\n", date);
	buf_printf(m, "Message-ID: <%s.dsn@%s>\r\nAuto-Submitted: auto-replied\r\n", env->id, h);
	buf_printf(m,
	           "MIME-Version: 1.0\r\nContent-Type: multipart/report; "
	           "report-type=delivery-status;\r\n\tboundary=\"%s\"\r\n\r\n",
	           boundary);
	buf_printf(m, "--%s\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n", boundary);
	buf_printf(m,
	           "This is the mail system at %s.\r\n\r\nYour message could not be delivered "
	           "to the following recipients:\r\n\r\n",
	           h);
	for (size_t i = 0; i < n; i++)
		buf_printf(m, "<%s>: %s\r\n", env->rcpt[b[i]].addr, st->rcpt[b[i]].error);
	/* RFC 3464 section 2.2: per-message fields, then one block per recipient. */
	buf_printf(m, "\r\n--%s\r\nContent-Type: message/delivery-status\r\n\r\n", boundary);
	buf_printf(m, "Reporting-MTA: dns; %s\r\n", h);
	if (env->envid[0] != '\0')
		buf_printf(m, "Original-Envelope-Id: %s\r\n", env->envid);
	buf_printf(m, "Arrival-Date: %s\r\n", arr);
	for (size_t i = 0; i < n; i++) {
		const struct queue_rcpt_state *r = &st->rcpt[b[i]];
		char status[16];
		status_of(r->error, status, sizeof(status));
		buf_printf(m, "\r\nFinal-Recipient: rfc822; %s\r\n", env->rcpt[b[i]].addr);
		if (env->rcpt[b[i]].orcpt[0] != '\0')
			buf_printf(m, "Original-Recipient: %s\r\n", env->rcpt[b[i]].orcpt);
		buf_printf(m, "Action: failed\r\nStatus: %s\r\n", status);
		if (r->error[0] >= '4' && r->error[0] <= '5')
			buf_printf(m, "Diagnostic-Code: smtp; %s\r\n", r->error);
		if (r->last_try > 0) {
			rfc5322_date(r->last_try, date, sizeof(date));
			buf_printf(m, "Last-Attempt-Date: %s\r\n", date);
		}
	}
}

int qd_dsn_enqueue(struct qd *q, const struct queue_env *env, const struct queue_state *st,
                   int msgfd, const size_t *bounced, size_t n)
{
	char boundary[40];
	rnd_hex(boundary, 12);
	struct buf m = BUF_INIT;
	report(q, env, st, bounced, n, boundary, &m);
	bool full = env->ret == SMTP_RET_FULL;
	/* RFC 3462 section 2: the third part is the returned message or its
	 * header (RET=HDRS, and by default: RFC 3461 section 4.3 leaves it to
	 * the MTA, and the header is enough to recognise the message). */
	struct buf orig = BUF_INIT;
	original(msgfd, full, &orig);
	/* RFC 6533 section 3: internationalised headers go back as
	 * message/global(-headers), and such a report needs SMTPUTF8 itself. */
	bool utf8 = !ascii(orig.data, orig.len) ||
	            !ascii((const unsigned char *)env->from, strlen(env->from));
	buf_printf(&m, "\r\n--%s\r\nContent-Type: %s\r\n\r\n", boundary,
	           full ? (utf8 ? "message/global" : "message/rfc822")
	                : (utf8 ? "message/global-headers" : "text/rfc822-headers"));
	buf_append(&m, orig.data, orig.len);
	buf_free(&orig);
	buf_printf(&m, "\r\n--%s--\r\n", boundary);
	struct queue_env d = {.body = SMTP_BODY_UNSET};
	fmt_msg(d.handler, sizeof(d.handler), "queued");
	int rc = -1;
	enum queue_result qr;
	struct queue_enqueue *e = NULL;
	if (queue_env_add_rcpt(&d, env->from, SMTP_NOTIFY_NEVER, "") < 0)
		goto out;
	/* Only what the report carries decides (an ASCII report of an SMTPUTF8
	 * message reaches a server without SMTPUTF8). */
	d.smtputf8 = utf8;
	if (full && env->body != SMTP_BODY_7BIT)
		d.body = env->body;
	e = queue_enqueue_begin(q->qfd, q->pk, &qr);
	if (e == NULL || queue_enqueue_write(e, m.data, m.len) != QUEUE_OK ||
	    queue_enqueue_prepare(e, &d) != QUEUE_OK || queue_enqueue_commit(e) != QUEUE_OK)
		goto out;
	log_event(LOG_INFO, "dsn", "ID", env->id, "DSN_ID", d.id, "TO", env->from, NULL);
	rc = 0;
out:
	if (rc < 0)
		log_event(LOG_ERR, "dsn_failed", "ID", env->id, "ERROR", strerror(errno), NULL);
	queue_enqueue_free(&e);
	queue_env_clear(&d);
	buf_free(&m);
	return rc;
}
