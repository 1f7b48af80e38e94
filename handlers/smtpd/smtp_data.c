/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* The message: DATA (RFC 5321 section 4.1.1.4, dot-stuffing decoded by
 * smtpparse), BDAT (CHUNKING, RFC 3030) and the delivery of what was
 * received, with its Return-Path and Received fields and its replies (one
 * per recipient for LMTP, RFC 2033 section 4.2). Trust: pre-auth; the
 * message comes from the network and is never interpreted here beyond
 * finding its Message-ID for logs. */
#include "smtp_int.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "base/timeutil.h"
#include "sys/log.h"

/* ---- delivery ---------------------------------------------------------- */

/* "with" keyword per RFC 3848 and RFC 6531 section 3.7.3. */
static const char *smtp_data_with(const struct smtp_sess *s)
{
	bool tls = io_is_tls(&s->io);
	if (smtp_session_lmtp(s))
		return tls ? "LMTPS" : "LMTP";
	if (s->mp.smtputf8)
		return tls ? "UTF8SMTPS" : "UTF8SMTP";
	if (!s->esmtp)
		return "SMTP";
	return tls ? "ESMTPS" : "ESMTP";
}

/* Return-Path (RFC 5321 section 4.4) and Received (section 4.4, RFC 5322
 * section 3.6.7), written before each copy. */
static void smtp_data_prefix(struct smtp_sess *s, struct buf *p)
{
	char date[TIMEUTIL_DATE_MAX], tls[128];
	timeutil_rfc5322(time(NULL), date);
	buf_printf(p, "Return-Path: <%s>\r\n", s->from.null ? "" : s->from.addr);
	buf_printf(p, "Received: from %s (%s [%s])\r\n\tby %s (sealmail) with %s id %s", s->helo,
	           s->conn->is_unix ? "localhost" : s->conn->remote,
	           s->conn->is_unix ? "127.0.0.1" : s->conn->remote, s->srv->conf->hostname,
	           smtp_data_with(s), s->queue_id);
	if (io_is_tls(&s->io))
		buf_printf(p, "\r\n\t(%s)", io_tls_desc(&s->io, tls, sizeof(tls)));
	if (s->nrcpts == 1)
		buf_printf(p, "\r\n\tfor <%s>", s->rcpts[0].addr);
	buf_printf(p, ";\r\n\t%s\r\n", date);
}

/* Find the Message-ID of the message for logs (header part only). */
static void smtp_data_msgid(const unsigned char *m, size_t len, char *out, size_t outsz)
{
	out[0] = '\0';
	size_t i = 0;
	while (i < len) {
		const unsigned char *nl = memchr(m + i, '\n', len - i);
		size_t ll = nl ? (size_t)(nl - (m + i)) : len - i;
		if (ll <= 1)
			return; /* end of header */
		if (ll > 11 && strncasecmp((const char *)m + i, "Message-ID:", 11) == 0) {
			size_t a = i + 11, b = i + ll;
			while (a < b && (m[a] == ' ' || m[a] == '\t'))
				a++;
			while (b > a && (m[b - 1] == '\r' || m[b - 1] == ' '))
				b--;
			/* For logs only: an absurdly long id may be cut. */
			snprintf(out, outsz, "%.*s", (int)(b - a), (const char *)m + a);
			return;
		}
		i += ll + 1;
	}
}

/* LMTP (RFC 2033 section 4.2): one reply per accepted RCPT, in order. */
static void smtp_data_lmtp_replies(struct smtp_sess *s, const char *msgid, const char *size,
                                   const char *tls)
{
	for (size_t g = 0; g < s->nrcpts; g++) {
		const char *reply = NULL;
		for (size_t t = 0; t < s->ntargets; t++)
			if (s->targets[t].group == g && s->targets[t].result != 0)
				reply = s->targets[t].reply;
		if (s->rcpts[g].milter_deleted)
			smtp_reply_lmtp_ok(s, s->rcpts[g].addr, false);
		else if (reply == NULL)
			smtp_reply_lmtp_ok(s, s->rcpts[g].addr, true);
		else
			smtp_reply_lmtp_fail(s, s->rcpts[g].addr, reply);
		log_event(reply ? LOG_WARNING : LOG_INFO, reply ? "deliver-fail" : "deliver",
		          "QUEUEID", s->queue_id, "MSGID", msgid, "SIZE", size, "RCPT",
		          s->rcpts[g].addr, "TLS", tls[0] ? tls : "no", "REASON", reply, NULL);
	}
}

static void smtp_data_deliver(struct smtp_sess *s)
{
	/* Decimal size_t: at most 20 digits, so neither number is ever cut. */
	char sizebuf[24], nbuf[24], msgid[256], tls[128];
	struct buf prefix = BUF_INIT;
	bool quarantine = false;
	if (!smtp_policy_message(s, &quarantine))
		return;
	if (smtp_session_submit(s)) {
		/* Submission completes, delivers, enqueues and answers itself. */
		s->srv->submit->message(s, s->srv->submit->arg);
		s->messages++;
		smtp_session_reset(s);
		return;
	}
	smtp_data_prefix(s, &prefix);
	smtp_data_msgid(s->msg.data ? s->msg.data : (const unsigned char *)"", s->msg.len, msgid,
	                sizeof(msgid));
	/* A quarantine goes to Junk with $Quarantined: there is no hold queue. */
	size_t ok = deliver_run_flags(s->srv->deliver, &prefix, s->msg.data, s->msg.len, s->targets,
	                              s->ntargets, !smtp_session_lmtp(s), s->queue_id,
	                              quarantine ? "$Quarantined folder=Junk" : NULL);
	buf_free(&prefix);
	/* Counts of at most 20 digits: both buffers hold any size_t. */
	snprintf(sizebuf, sizeof(sizebuf), "%zu", s->msg.len);
	snprintf(nbuf, sizeof(nbuf), "%zu", s->nrcpts);
	io_tls_desc(&s->io, tls, sizeof(tls));
	if (smtp_session_lmtp(s)) {
		smtp_data_lmtp_replies(s, msgid, sizebuf, tls);
	} else if (ok == s->ntargets) {
		smtp_reply_queued(s);
		log_event(LOG_INFO, "deliver", "QUEUEID", s->queue_id, "MSGID", msgid, "SIZE",
		          sizebuf, "RECIPIENTS", nbuf, "TLS", tls[0] ? tls : "no", NULL);
	} else {
		const char *reply = smtp_reply_text(SMTP_R_DELIVERY_FAILED);
		for (size_t t = 0; t < s->ntargets; t++)
			if (s->targets[t].result != 0 && s->targets[t].reply != NULL)
				reply = s->targets[t].reply;
		smtp_reply_line(s, reply);
		log_event(LOG_WARNING, "deliver-fail", "QUEUEID", s->queue_id, "MSGID", msgid,
		          "SIZE", sizebuf, "RECIPIENTS", nbuf, "REASON", reply + 4, NULL);
	}
	s->messages++;
	smtp_session_reset(s);
}

/* ---- the received message ---------------------------------------------- */

/* Whether the message holds a NUL byte. NUL is content only of BODY=
 * BINARYMIME (RFC 3030 section 3), which is not offered (MAIL refuses the
 * parameter): 7bit and 8bit data exclude it (RFC 2045 sections 2.7 and 2.8,
 * RFC 6152) and RFC 5322 keeps it only as obsolete syntax (section 4.1).
 * Such a message is refused, 554 5.6.0 as for a bare CR or LF, rather than
 * stored or stripped:
 *  - stored, it could not be served as received: IMAP literals cannot carry
 *    NUL (RFC 3501 section 4.3), so FETCH would have to rewrite it (Dovecot
 *    sends 0x80) and the client would see another message than the one
 *    stored, signed and counted in RFC822.SIZE;
 *  - stripped (Postfix's message_strip_characters = \0), it is changed
 *    without anybody being told, and a DKIM signature over it fails later;
 *  - refused, the sender gets a bounce and knows. Postfix passes NUL by
 *    default and offers message_reject_characters = \0 for this choice.
 * BDAT carries the same content types as DATA here, so the rule is the
 * same for both. */
static bool smtp_data_has_nul(const struct buf *msg)
{
	return msg->len > 0 && memchr(msg->data, '\0', msg->len) != NULL;
}

/* The checks at the end of a message (DATA's "." or BDAT LAST): true to
 * deliver; otherwise the refusal was sent and the transaction is over. */
static bool smtp_data_message_ok(struct smtp_sess *s, uint64_t total, bool bare)
{
	if (!smtp_policy_message_ok(s, total, bare))
		return false;
	if (smtp_data_has_nul(&s->msg)) {
		smtp_reply_refuse_message(s, SMTP_R_NUL_IN_MSG, "data");
		return false;
	}
	return true;
}

/* ---- DATA -------------------------------------------------------------- */

int smtp_data_check(struct smtp_sess *s, struct smtp_cmd_args *a)
{
	if (a->arg[0] != '\0') {
		smtp_reply_error(s, SMTP_R_DATA_SYNTAX, "data");
		return 0;
	}
	if (s->st != SMTP_ST_RCPT) {
		/* RFC 5321 section 3.3: 554 when no recipient was accepted. */
		smtp_reply_error(s, s->st == SMTP_ST_MAIL ? SMTP_R_NO_VALID_RCPT : SMTP_R_NEED_RCPT,
		                 "data");
		return 0;
	}
	return 1;
}

int smtp_data_proceed(struct smtp_sess *s, struct smtp_cmd_args *a)
{
	if (!smtp_policy_data(s))
		return s->milter_close ? -1 : 0;
	smtp_reply(s, SMTP_R_DATA_GO);
	if (io_flush(&s->io) < 0)
		return -1;
	smtp_session_state(s, SMTP_ST_DATA);
	struct smtp_data d;
	smtp_data_init(&d, s->srv->conf->max_message_size);
	smtp_session_transfer(s, true);
	while (!d.done) {
		unsigned char *p;
		ssize_t n = io_peek(&s->io, &p);
		if (n <= 0) {
			/* EOF or timeout inside DATA: nothing acknowledged. */
			if (n < 0 && s->io.err == IO_TIMEOUT)
				smtp_session_timed_out(s);
			return -1;
		}
		io_consume(&s->io, smtp_data_feed(&d, p, (size_t)n, &s->msg));
	}
	smtp_session_transfer(s, false);
	if (!smtp_data_message_ok(s, d.total, d.bare_lf || d.bare_cr)) {
		smtp_session_reset(s);
		return 0;
	}
	smtp_data_deliver(s);
	return 0;
}

/* ---- BDAT (RFC 3030) --------------------------------------------------- */

int smtp_data_bdat_check(struct smtp_sess *s, struct smtp_cmd_args *a)
{
	const char *reply;
	if (smtpparse_bdat(a->arg, &a->size, &a->last, &reply) < 0) {
		/* The chunk size is unknown: the byte stream cannot be followed. */
		smtp_reply_reject_line(s, reply, "bdat");
		smtp_reply(s, SMTP_R_BDAT_UNREADABLE);
		return -1;
	}
	/* A chunk far beyond any acceptable message would only be read to be
	 * thrown away: end the session instead (the client keeps the mail). */
	if (a->size > s->srv->conf->max_message_size + (1u << 20)) {
		smtp_reply_reject(s, SMTP_R_CHUNK_LIMIT, "bdat");
		smtp_reply(s, SMTP_R_CLOSING);
		return -1;
	}
	return 1;
}

/* Read the chunk; keep it if the transaction may still take it. 0, or -1
 * on EOF or timeout. */
static int smtp_data_chunk(struct smtp_sess *s, uint64_t size)
{
	bool keep = (s->st == SMTP_ST_RCPT || s->st == SMTP_ST_BDAT) && !s->bdat_failed &&
	            s->bdat_total + size <= s->srv->conf->max_message_size;
	smtp_session_transfer(s, true);
	uint64_t left = size;
	while (left > 0) {
		unsigned char *p;
		ssize_t n = io_peek(&s->io, &p);
		if (n <= 0) {
			if (n < 0 && s->io.err == IO_TIMEOUT)
				smtp_session_timed_out(s);
			return -1;
		}
		size_t k = (uint64_t)n < left ? (size_t)n : (size_t)left;
		if (keep)
			buf_append(&s->msg, p, k);
		io_consume(&s->io, k);
		left -= k;
	}
	smtp_session_transfer(s, false);
	return 0;
}

int smtp_data_bdat_proceed(struct smtp_sess *s, struct smtp_cmd_args *a)
{
	/* RFC 3030 section 3: the chunk is always read, even when refused. */
	if (smtp_data_chunk(s, a->size) < 0)
		return -1;
	if (s->st != SMTP_ST_RCPT && s->st != SMTP_ST_BDAT) {
		smtp_reply_error(s, s->st == SMTP_ST_MAIL ? SMTP_R_NO_VALID_RCPT : SMTP_R_NEED_RCPT,
		                 "bdat");
		return 0;
	}
	/* The first chunk is where DATA would be: the milters' DATA event. */
	if (s->st == SMTP_ST_RCPT && !s->bdat_failed && !smtp_policy_data(s))
		return s->milter_close ? -1 : 0;
	s->bdat_total += a->size;
	if (s->bdat_total > s->srv->conf->max_message_size)
		s->bdat_failed = true;
	if (s->bdat_failed) {
		if (a->last) {
			smtp_reply_refuse_message(s, SMTP_R_SIZE_LIMIT, "bdat");
			smtp_session_reset(s);
		} else {
			smtp_reply_reject(s, SMTP_R_SIZE_LIMIT, "bdat");
			smtp_session_state(s, SMTP_ST_BDAT);
		}
		return 0;
	}
	if (!a->last) {
		smtp_session_state(s, SMTP_ST_BDAT);
		smtp_reply_chunk(s, a->size);
		return 0;
	}
	if (!smtp_data_message_ok(s, s->msg.len, !smtp_data_clean(s->msg.data, s->msg.len))) {
		smtp_session_reset(s);
		return 0;
	}
	smtp_data_deliver(s);
	return 0;
}
