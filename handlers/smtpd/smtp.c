/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* Trust: pre-auth; everything read here comes from the network. */
#include "smtp.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "base/buf.h"
#include "sys/io.h"
#include "sys/log.h"
#include "base/mem.h"
#include "svc/milter.h"
#include "base/rnd.h"
#include "sys/server.h"
#include "svc/confine.h"
#include "proto/smtpparse.h"
#include "base/timeutil.h"

/* Session states (OpenSMTPD style: changed in one place, named for logs). */
enum smtp_state {
	SMTP_ST_INIT,  /* greeted, waiting for EHLO/HELO/LHLO */
	SMTP_ST_READY, /* after EHLO: MAIL may start a transaction */
	SMTP_ST_MAIL,  /* MAIL accepted */
	SMTP_ST_RCPT,  /* at least one RCPT accepted */
	SMTP_ST_BDAT,  /* inside a BDAT sequence */
	SMTP_ST_QUIT,
};

static const char *const smtp_state_names[] = {"init", "ready", "mail", "rcpt", "bdat", "quit"};

struct smtp_rcpt {
	char addr[SMTP_PATH_MAX + 1];
	bool milter_deleted; /* removed by a milter (SMFIR_DELRCPT) */
};

struct smtp_sess {
	const struct smtp_server *srv;
	struct conn *conn;
	struct io io;
	enum smtp_state st;
	bool esmtp;
	char helo[SMTP_DOMAIN_MAX + 1];
	unsigned errors;
	char queue_id[17];
	/* transaction */
	struct smtp_path from;
	struct smtp_mail_params mp;
	struct smtp_rcpt *rcpts;
	size_t nrcpts;
	struct deliver_target *targets;
	size_t ntargets;
	struct buf msg;
	bool bdat_failed; /* a chunk was refused: the rest of the sequence is too */
	uint64_t bdat_total;
	unsigned messages; /* delivered in this session */
	/* Milters (milter.h) of this connection, connected in this process. */
	struct milters *milters;
	bool milter_close; /* a milter ended the connection (421 sent) */
};

static void smtp_set_state(struct smtp_sess *s, enum smtp_state st)
{
	if (s->st != st)
		log_event(LOG_DEBUG, "state", "FROM", smtp_state_names[s->st], "TO",
		          smtp_state_names[st], NULL);
	s->st = st;
}

/* Every reply goes through here. Replies are queued and flushed before the
 * next blocking read (RFC 2920 section 3.1). */
static void smtp_reply(struct smtp_sess *s, const char *line)
{
	io_puts(&s->io, line);
	io_puts(&s->io, "\r\n");
}

static void smtp_replyf(struct smtp_sess *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void smtp_replyf(struct smtp_sess *s, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	buf_vprintf(&s->io.out, fmt, ap);
	va_end(ap);
	io_puts(&s->io, "\r\n");
}

static void smtp_reject(struct smtp_sess *s, const char *reply, const char *what)
{
	char code[4] = {0};
	memcpy(code, reply, 3);
	smtp_reply(s, reply);
	log_event(LOG_NOTICE, "reject", "STAGE", what, "REASON", reply + 4, "CODE", code, NULL);
}

static void smtp_error(struct smtp_sess *s, const char *reply, const char *what)
{
	s->errors++;
	smtp_reject(s, reply, what);
}

static void smtp_txn_reset(struct smtp_sess *s)
{
	milters_abort(s->milters); /* no-op unless a milter saw part of it */
	memset(&s->from, 0, sizeof(s->from));
	memset(&s->mp, 0, sizeof(s->mp));
	free(s->rcpts);
	s->rcpts = NULL;
	s->nrcpts = 0;
	free(s->targets);
	s->targets = NULL;
	s->ntargets = 0;
	buf_free(&s->msg);
	s->bdat_failed = false;
	s->bdat_total = 0;
	if (s->st > SMTP_ST_READY)
		smtp_set_state(s, SMTP_ST_READY);
}

static bool smtp_lmtp(const struct smtp_sess *s)
{
	return s->srv->mode == SMTP_MODE_LMTP;
}

/* ---- milters (milter.h) ------------------------------------------------ */

static const char *smtp_milter_list(const struct smtp_server *srv)
{
	if (strcmp(srv->proto_name, "submitd") == 0)
		return srv->conf->submitd_milters;
	return srv->mode == SMTP_MODE_LMTP ? srv->conf->lmtpd_milters : srv->conf->smtpd_milters;
}

/* A milter verdict on a command: true if the command goes on (a discard goes
 * on too: the message is dropped at its end); otherwise the reply is sent,
 * and after a 421 the session ends. */
static bool smtp_milter_ok(struct smtp_sess *s, enum milter_verdict v,
                           const struct milter_answer *a, const char *stage)
{
	if (v == MILTER_CONTINUE || v == MILTER_DISCARD)
		return true;
	smtp_reject(s, a->reply, stage);
	if (v == MILTER_SHUTDOWN)
		s->milter_close = true;
	return false;
}

static void smtp_milter_connect(struct smtp_sess *s)
{
	const char *err;
	struct milter_answer a;
	s->milters = milters_new(smtp_milter_list(s->srv), s->srv->conf, &err);
	if (s->milters == NULL) {
		if (err != NULL) { /* checked at start-up; never accept unfiltered */
			log_event(LOG_ERR, "milter-config", "REASON", err, NULL);
			smtp_reply(s, "421 4.3.5 Error: server configuration");
			s->milter_close = true;
		}
		return;
	}
	struct milter_client cl = {
	    .daemon_name = s->srv->proto_name,
	    .hostname = s->srv->conf->hostname,
	    .daemon_addr = s->conn->is_unix ? NULL : s->conn->local,
	    .client_addr = s->conn->is_unix ? NULL : s->conn->remote,
	    .client_port = s->conn->remote_port,
	};
	if (milters_connect(s->milters, &cl, &a) == MILTER_SHUTDOWN) {
		smtp_reject(s, a.reply, "connect");
		s->milter_close = true;
	}
}

static bool smtp_milter_helo(struct smtp_sess *s, const char *helo)
{
	char tls[128], *cipher = NULL;
	struct milter_answer a;
	/* EHLO resets the transaction whatever the milters say (RFC 5321
	 * section 4.1.4): they get SMFIC_ABORT before the new HELO. */
	smtp_txn_reset(s);
	if (io_tls_desc(&s->io, tls, sizeof(tls))[0] != '\0' && (cipher = strchr(tls, ' ')) != NULL)
		*cipher++ = '\0'; /* "TLSv1.3 TLS_AES_256_GCM_SHA384" */
	enum milter_verdict v = milters_helo(s->milters, helo, cipher ? tls : NULL, cipher, &a);
	return smtp_milter_ok(s, v, &a, "helo");
}

/* The ESMTP parameters of MAIL/RCPT as the client wrote them. */
static const char *smtp_milter_params(const char *arg, bool allow_null)
{
	struct smtp_path p;
	const char *end = NULL, *reply, *colon = strchr(arg, ':');
	if (colon == NULL)
		return "";
	colon++;
	while (*colon == ' ')
		colon++;
	if (smtpparse_path(colon, allow_null, &p, &end, &reply) < 0 || end == NULL)
		return "";
	return end;
}

static bool smtp_milter_data(struct smtp_sess *s)
{
	struct milter_answer a;
	if (smtp_milter_ok(s, milters_data(s->milters, &a), &a, "data"))
		return true;
	smtp_txn_reset(s);
	return false;
}

/* Remove the targets of one RCPT (group). */
static void smtp_drop_group(struct smtp_sess *s, size_t g)
{
	size_t k = 0;
	for (size_t t = 0; t < s->ntargets; t++)
		if (s->targets[t].group != g)
			s->targets[k++] = s->targets[t];
	s->ntargets = k;
}

/* Recipient edits in the order the milters made them: an added recipient is
 * resolved like a RCPT (unknown ones are logged and skipped: there is no
 * bounce), a deleted one loses its targets. */
static void smtp_milter_rcpts(struct smtp_sess *s, const struct milter_result *mr)
{
	char(*added)[MILTER_ADDR_MAX + 1] = NULL;
	size_t nadded = 0;
	for (size_t i = 0; i < mr->nrcpt; i++) {
		const char *addr = mr->rcpt[i].addr, *reply;
		if (mr->rcpt[i].add) {
			if (deliver_resolve(s->srv->deliver, addr, s->nrcpts + nadded, &s->targets,
			                    &s->ntargets, &reply) <= 0)
				log_event(LOG_WARNING, "milter-addrcpt-fail", "RCPT", addr,
				          "REASON", reply + 4, NULL);
			added = mem_realloc(added, nadded + 1, sizeof(*added));
			snprintf(added[nadded++], sizeof(*added), "%s", addr);
			continue;
		}
		for (size_t g = 0; g < s->nrcpts; g++)
			if (strcasecmp(s->rcpts[g].addr, addr) == 0) {
				s->rcpts[g].milter_deleted = true;
				smtp_drop_group(s, g);
			}
		for (size_t k = 0; k < nadded; k++)
			if (strcasecmp(added[k], addr) == 0)
				smtp_drop_group(s, s->nrcpts + k);
	}
	free(added);
}

/* The received message through the milters. True: deliver s->msg (edited)
 * with *quarantine_r set for a quarantine; false: the reply was sent (refused,
 * discarded, or no recipient left) and the transaction is over. */
static bool smtp_milter_message(struct smtp_sess *s, bool *quarantine_r)
{
	struct milter_result mr;
	const char *what = NULL;
	enum milter_verdict v = milters_message(s->milters, s->msg.data, s->msg.len, &mr);
	*quarantine_r = false;
	if (v == MILTER_CONTINUE) {
		if (mr.changed) {
			buf_free(&s->msg);
			s->msg = mr.msg;
			mr.msg = (struct buf)BUF_INIT;
		}
		if (mr.from_changed) {
			memset(&s->from, 0, sizeof(s->from));
			s->from.null = mr.from[0] == '\0';
			snprintf(s->from.addr, sizeof(s->from.addr), "%s", mr.from);
		}
		smtp_milter_rcpts(s, &mr);
		*quarantine_r = mr.quarantine;
		if (mr.quarantine)
			log_event(LOG_NOTICE, "quarantine", "QUEUEID", s->queue_id, "REASON",
			          mr.quarantine_reason, NULL);
		if (s->ntargets > 0) {
			milter_result_clear(&mr);
			return true;
		}
		what = "no recipient left after milter edits";
	} else if (v == MILTER_DISCARD) {
		what = "discarded by milter";
	}
	/* One reply for SMTP; one per accepted RCPT for LMTP (RFC 2033 4.2). */
	for (size_t g = 0; g < (smtp_lmtp(s) ? s->nrcpts : 1); g++) {
		if (what == NULL)
			smtp_reject(s, mr.answer.reply, "data");
		else if (smtp_lmtp(s))
			smtp_replyf(s, "250 2.0.0 <%s> %s Ok", s->rcpts[g].addr, s->queue_id);
		else
			smtp_replyf(s, "250 2.0.0 Ok: queued as %s", s->queue_id);
	}
	if (what != NULL)
		log_event(LOG_NOTICE, "discard", "QUEUEID", s->queue_id, "REASON", what, NULL);
	if (v == MILTER_SHUTDOWN)
		s->milter_close = true;
	milter_result_clear(&mr);
	smtp_txn_reset(s);
	return false;
}

/* ---- HELO / EHLO / LHLO ------------------------------------------------ */

static void smtp_cmd_helo(struct smtp_sess *s, enum smtp_cmd cmd, const char *arg)
{
	if (smtp_lmtp(s) != (cmd == SMTP_CMD_LHLO)) {
		/* RFC 2033 section 4.1: LMTP has LHLO only, and SMTP has no LHLO. */
		smtp_error(
		    s, smtp_lmtp(s) ? "500 5.5.1 Use LHLO in LMTP" : "500 5.5.1 Unknown command",
		    "helo");
		return;
	}
	if (!smtpparse_helo_ok(arg)) {
		smtp_error(s, "501 5.5.4 Syntax: EHLO domain or address literal", "helo");
		return;
	}
	if (s->milters != NULL && !smtp_milter_helo(s, arg))
		return;
	snprintf(s->helo, sizeof(s->helo), "%s", arg);
	smtp_txn_reset(s); /* RFC 5321 section 4.1.4: EHLO also resets */
	s->esmtp = cmd != SMTP_CMD_HELO;
	smtp_set_state(s, SMTP_ST_READY);
	if (!s->esmtp) {
		smtp_replyf(s, "250 %s", s->srv->conf->hostname);
		return;
	}
	smtp_replyf(s, "250-%s", s->srv->conf->hostname);
	smtp_reply(s, "250-PIPELINING");
	smtp_replyf(s, "250-SIZE %" PRIu64, s->srv->conf->max_message_size);
	if (s->srv->tls != NULL && !io_is_tls(&s->io))
		smtp_reply(s, "250-STARTTLS");
	smtp_reply(s, "250-ENHANCEDSTATUSCODES");
	smtp_reply(s, "250-8BITMIME");
	smtp_reply(s, "250-DSN");
	smtp_reply(s, "250-CHUNKING");
	smtp_reply(s, "250 SMTPUTF8");
}

/* ---- MAIL / RCPT ------------------------------------------------------- */

static void smtp_cmd_mail(struct smtp_sess *s, const char *arg)
{
	const char *reply;
	if (s->st == SMTP_ST_INIT) {
		smtp_error(s, "503 5.5.1 Error: send HELO/EHLO first", "mail");
		return;
	}
	if (s->st != SMTP_ST_READY) {
		smtp_error(s, "503 5.5.1 Error: nested MAIL command", "mail");
		return;
	}
	struct smtp_path from;
	struct smtp_mail_params mp;
	if (smtpparse_mail(arg, &from, &mp, &reply) < 0) {
		smtp_error(s, reply, "mail");
		return;
	}
	if (!s->esmtp && (mp.size_set || mp.body || mp.smtputf8 || mp.ret || mp.envid[0])) {
		smtp_error(s, "555 5.5.4 MAIL parameters need EHLO", "mail");
		return;
	}
	if (mp.size_set && mp.size > s->srv->conf->max_message_size) {
		smtp_reject(s, "552 5.3.4 Message size exceeds fixed limit", "mail");
		return;
	}
	s->from = from;
	s->mp = mp;
	rnd_hex(s->queue_id, 8);
	if (s->milters != NULL) {
		struct milter_answer a;
		enum milter_verdict v =
		    milters_mail(s->milters, from.null ? "" : from.addr,
		                 smtp_milter_params(arg, true), s->queue_id, NULL, &a);
		if (!smtp_milter_ok(s, v, &a, "mail")) {
			memset(&s->from, 0, sizeof(s->from));
			memset(&s->mp, 0, sizeof(s->mp));
			return;
		}
	}
	smtp_set_state(s, SMTP_ST_MAIL);
	smtp_reply(s, "250 2.1.0 Ok");
}

static void smtp_cmd_rcpt(struct smtp_sess *s, const char *arg)
{
	const char *reply;
	if (s->st != SMTP_ST_MAIL && s->st != SMTP_ST_RCPT) {
		smtp_error(s, "503 5.5.1 Error: need MAIL command", "rcpt");
		return;
	}
	struct smtp_path to;
	struct smtp_rcpt_params rp;
	if (smtpparse_rcpt(arg, &to, &rp, &reply) < 0) {
		smtp_error(s, reply, "rcpt");
		return;
	}
	if (to.utf8 && !s->mp.smtputf8) {
		smtp_error(s, "553 5.6.7 Non-ASCII address requires SMTPUTF8 (RFC 6531)", "rcpt");
		return;
	}
	/* RFC 5321 section 4.5.3.1.8 requires at least 100; 452 4.5.3 tells
	 * the client to send the rest in another transaction. */
	if (s->nrcpts >= s->srv->conf->smtpd_max_recipients) {
		smtp_reject(s, "452 4.5.3 Error: too many recipients", "rcpt");
		return;
	}
	size_t ntargets0 = s->ntargets;
	int r =
	    deliver_resolve(s->srv->deliver, to.addr, s->nrcpts, &s->targets, &s->ntargets, &reply);
	if (r <= 0) {
		log_event(LOG_NOTICE, "reject", "STAGE", "rcpt", "RCPT", to.addr, "REASON",
		          reply + 4, NULL);
		smtp_reply(s, reply);
		return;
	}
	if (s->milters != NULL) {
		/* After our own checks, as Postfix: a refusal is this RCPT's reply. */
		struct milter_answer a;
		enum milter_verdict v =
		    milters_rcpt(s->milters, to.addr, smtp_milter_params(arg, false), &a);
		if (!smtp_milter_ok(s, v, &a, "rcpt")) {
			s->ntargets = ntargets0;
			return;
		}
	}
	s->rcpts = mem_realloc(s->rcpts, s->nrcpts + 1, sizeof(*s->rcpts));
	snprintf(s->rcpts[s->nrcpts].addr, sizeof(s->rcpts[s->nrcpts].addr), "%s", to.addr);
	s->rcpts[s->nrcpts].milter_deleted = false;
	s->nrcpts++;
	smtp_set_state(s, SMTP_ST_RCPT);
	smtp_reply(s, "250 2.1.5 Ok");
}

/* ---- delivery ---------------------------------------------------------- */

/* "with" keyword per RFC 3848 and RFC 6531 section 3.7.3. */
static const char *smtp_with(const struct smtp_sess *s)
{
	bool tls = io_is_tls(&s->io);
	if (smtp_lmtp(s))
		return tls ? "LMTPS" : "LMTP";
	if (s->mp.smtputf8)
		return tls ? "UTF8SMTPS" : "UTF8SMTP";
	if (!s->esmtp)
		return "SMTP";
	return tls ? "ESMTPS" : "ESMTP";
}

static void smtp_build_prefix(struct smtp_sess *s, struct buf *p)
{
	char date[TIMEUTIL_DATE_MAX], tls[128];
	timeutil_rfc5322(time(NULL), date);
	buf_printf(p, "Return-Path: <%s>\r\n", s->from.null ? "" : s->from.addr);
	buf_printf(p, "Received: from %s (%s [%s])\r\n\tby %s (sealmail) with %s id %s", s->helo,
	           s->conn->is_unix ? "localhost" : s->conn->remote,
	           s->conn->is_unix ? "127.0.0.1" : s->conn->remote, s->srv->conf->hostname,
	           smtp_with(s), s->queue_id);
	if (io_is_tls(&s->io))
		buf_printf(p, "\r\n\t(%s)", io_tls_desc(&s->io, tls, sizeof(tls)));
	if (s->nrcpts == 1)
		buf_printf(p, "\r\n\tfor <%s>", s->rcpts[0].addr);
	buf_printf(p, ";\r\n\t%s\r\n", date);
}

/* Find the Message-ID of the message for logs (header part only). */
static void smtp_msgid(const unsigned char *m, size_t len, char *out, size_t outsz)
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
			snprintf(out, outsz, "%.*s", (int)(b - a), (const char *)m + a);
			return;
		}
		i += ll + 1;
	}
}

static void smtp_deliver(struct smtp_sess *s)
{
	char sizebuf[24], nbuf[16], msgid[256];
	struct buf prefix = BUF_INIT;
	bool quarantine = false;
	if (s->milters != NULL && !smtp_milter_message(s, &quarantine))
		return;
	smtp_build_prefix(s, &prefix);
	smtp_msgid(s->msg.data ? s->msg.data : (const unsigned char *)"", s->msg.len, msgid,
	           sizeof(msgid));
	/* A quarantine goes to Junk with $Quarantined: there is no hold queue. */
	size_t ok = deliver_run_flags(s->srv->deliver, &prefix, s->msg.data, s->msg.len, s->targets,
	                              s->ntargets, !smtp_lmtp(s), s->queue_id,
	                              quarantine ? "$Quarantined folder=Junk" : NULL);
	buf_free(&prefix);
	snprintf(sizebuf, sizeof(sizebuf), "%zu", s->msg.len);
	snprintf(nbuf, sizeof(nbuf), "%zu", s->nrcpts);
	char tls[128];
	io_tls_desc(&s->io, tls, sizeof(tls));
	if (smtp_lmtp(s)) {
		/* RFC 2033 section 4.2: one reply per accepted RCPT, in order. */
		for (size_t g = 0; g < s->nrcpts; g++) {
			const char *reply = NULL;
			for (size_t t = 0; t < s->ntargets; t++)
				if (s->targets[t].group == g && s->targets[t].result != 0)
					reply = s->targets[t].reply;
			if (s->rcpts[g].milter_deleted)
				smtp_replyf(s, "250 2.0.0 <%s> %s Ok", s->rcpts[g].addr,
				            s->queue_id);
			else if (reply == NULL)
				smtp_replyf(s, "250 2.0.0 <%s> %s Saved", s->rcpts[g].addr,
				            s->queue_id);
			else
				smtp_replyf(s, "%.4s<%s> %s", reply, s->rcpts[g].addr, reply + 4);
			log_event(reply ? LOG_WARNING : LOG_INFO,
			          reply ? "deliver-fail" : "deliver", "QUEUEID", s->queue_id,
			          "MSGID", msgid, "SIZE", sizebuf, "RCPT", s->rcpts[g].addr, "TLS",
			          tls[0] ? tls : "no", "REASON", reply, NULL);
		}
	} else if (ok == s->ntargets) {
		smtp_replyf(s, "250 2.0.0 Ok: queued as %s", s->queue_id);
		log_event(LOG_INFO, "deliver", "QUEUEID", s->queue_id, "MSGID", msgid, "SIZE",
		          sizebuf, "RECIPIENTS", nbuf, "TLS", tls[0] ? tls : "no", NULL);
	} else {
		const char *reply = "451 4.3.0 Error: local delivery failed, try again later";
		for (size_t t = 0; t < s->ntargets; t++)
			if (s->targets[t].result != 0 && s->targets[t].reply != NULL)
				reply = s->targets[t].reply;
		smtp_reply(s, reply);
		log_event(LOG_WARNING, "deliver-fail", "QUEUEID", s->queue_id, "MSGID", msgid,
		          "SIZE", sizebuf, "RECIPIENTS", nbuf, "REASON", reply + 4, NULL);
	}
	s->messages++;
	smtp_txn_reset(s);
}

/* Checks common to the end of DATA and of BDAT LAST. */
static bool smtp_message_ok(struct smtp_sess *s, uint64_t total, bool bare)
{
	if (total > s->srv->conf->max_message_size) {
		smtp_reject(s, "552 5.3.4 Message size exceeds fixed limit", "data");
		return false;
	}
	if (bare) {
		/* Never normalised: a bare CR or LF is how SMTP smuggling hides a
		 * second message (RFC 5321 section 2.3.8). */
		smtp_reject(s, "554 5.6.0 Message contains bare CR or LF (RFC 5321 section 2.3.8)",
		            "data");
		return false;
	}
	return true;
}

static int smtp_cmd_data(struct smtp_sess *s, const char *arg)
{
	if (arg[0] != '\0') {
		smtp_error(s, "501 5.5.4 Syntax: DATA takes no argument", "data");
		return 0;
	}
	if (s->st == SMTP_ST_BDAT) {
		smtp_error(s, "503 5.5.1 Error: DATA inside a BDAT sequence", "data");
		return 0;
	}
	if (s->st != SMTP_ST_RCPT) {
		smtp_error(s,
		           s->st == SMTP_ST_MAIL ? "554 5.5.1 Error: no valid recipients"
		                                 : "503 5.5.1 Error: need RCPT command",
		           "data");
		return 0;
	}
	if (s->milters != NULL && !smtp_milter_data(s))
		return s->milter_close ? -1 : 0;
	smtp_reply(s, "354 End data with <CR><LF>.<CR><LF>");
	if (io_flush(&s->io) < 0)
		return -1;
	struct smtp_data d;
	smtp_data_init(&d, s->srv->conf->max_message_size);
	io_set_idle(&s->io, (int)s->srv->conf->smtpd_data_timeout_ms);
	while (!d.done) {
		unsigned char *p;
		ssize_t n = io_peek(&s->io, &p);
		if (n <= 0)
			return -1; /* EOF or timeout inside DATA: nothing acknowledged */
		io_consume(&s->io, smtp_data_feed(&d, p, (size_t)n, &s->msg));
	}
	io_set_idle(&s->io, (int)s->srv->conf->smtpd_timeout_ms);
	if (!smtp_message_ok(s, d.total, d.bare_lf || d.bare_cr)) {
		smtp_txn_reset(s);
		return 0;
	}
	smtp_deliver(s);
	return 0;
}

static int smtp_cmd_bdat(struct smtp_sess *s, const char *arg)
{
	uint64_t size;
	bool last;
	const char *reply;
	if (smtpparse_bdat(arg, &size, &last, &reply) < 0) {
		/* The chunk size is unknown: the byte stream cannot be followed. */
		smtp_reject(s, reply, "bdat");
		smtp_reply(s, "421 4.5.0 Closing connection: unreadable BDAT");
		return -1;
	}
	/* A chunk far beyond any acceptable message would only be read to be
	 * thrown away: end the session instead (the client keeps the mail). */
	if (size > s->srv->conf->max_message_size + (1u << 20)) {
		smtp_reject(s, "552 5.3.4 Chunk exceeds the message size limit", "bdat");
		smtp_reply(s, "421 4.5.0 Closing connection");
		return -1;
	}
	/* RFC 3030 section 3: the chunk is always read, even when refused. */
	bool keep = (s->st == SMTP_ST_RCPT || s->st == SMTP_ST_BDAT) && !s->bdat_failed &&
	            s->bdat_total + size <= s->srv->conf->max_message_size;
	io_set_idle(&s->io, (int)s->srv->conf->smtpd_data_timeout_ms);
	uint64_t left = size;
	while (left > 0) {
		unsigned char *p;
		ssize_t n = io_peek(&s->io, &p);
		if (n <= 0)
			return -1;
		size_t k = (uint64_t)n < left ? (size_t)n : (size_t)left;
		if (keep)
			buf_append(&s->msg, p, k);
		io_consume(&s->io, k);
		left -= k;
	}
	io_set_idle(&s->io, (int)s->srv->conf->smtpd_timeout_ms);
	if (s->st != SMTP_ST_RCPT && s->st != SMTP_ST_BDAT) {
		smtp_error(s,
		           s->st == SMTP_ST_MAIL ? "554 5.5.1 Error: no valid recipients"
		                                 : "503 5.5.1 Error: need RCPT command",
		           "bdat");
		return 0;
	}
	/* The first chunk is where DATA would be: the milters' DATA event. */
	if (s->st == SMTP_ST_RCPT && s->milters != NULL && !s->bdat_failed && !smtp_milter_data(s))
		return s->milter_close ? -1 : 0;
	s->bdat_total += size;
	if (s->bdat_total > s->srv->conf->max_message_size)
		s->bdat_failed = true;
	if (s->bdat_failed) {
		smtp_reject(s, "552 5.3.4 Message size exceeds fixed limit", "bdat");
		if (last)
			smtp_txn_reset(s);
		else
			smtp_set_state(s, SMTP_ST_BDAT);
		return 0;
	}
	if (!last) {
		smtp_set_state(s, SMTP_ST_BDAT);
		smtp_replyf(s, "250 2.0.0 %" PRIu64 " octets received", size);
		return 0;
	}
	if (!smtp_message_ok(s, s->msg.len, !smtp_data_clean(s->msg.data, s->msg.len))) {
		smtp_txn_reset(s);
		return 0;
	}
	smtp_deliver(s);
	return 0;
}

/* ---- STARTTLS ---------------------------------------------------------- */

static int smtp_cmd_starttls(struct smtp_sess *s, const char *arg)
{
	if (s->srv->tls == NULL) {
		smtp_error(s, "502 5.5.1 Error: STARTTLS unavailable (no certificate configured)",
		           "starttls");
		return 0;
	}
	if (io_is_tls(&s->io)) {
		smtp_error(s, "503 5.5.1 Error: TLS already active", "starttls");
		return 0;
	}
	if (arg[0] != '\0') {
		smtp_error(s, "501 5.5.4 Syntax: STARTTLS", "starttls");
		return 0;
	}
	if (s->st == SMTP_ST_INIT) {
		smtp_error(s, "503 5.5.1 Error: send EHLO first", "starttls");
		return 0;
	}
	smtp_reply(s, "220 2.0.0 Ready to start TLS");
	if (server_starttls(&s->io, s->srv->tls) < 0)
		return -1;
	/* RFC 3207 section 4.2: forget everything learnt before TLS. */
	smtp_txn_reset(s);
	s->helo[0] = '\0';
	s->esmtp = false;
	smtp_set_state(s, SMTP_ST_INIT);
	return 0;
}

/* ---- dispatch ---------------------------------------------------------- */

/* Returns -1 to end the session. */
static int smtp_command(struct smtp_sess *s, char *line, size_t len)
{
	struct smtp_command c;
	if (strlen(line) != len) {
		smtp_error(s, "500 5.5.2 Error: NUL byte in command", "command");
		return 0;
	}
	if (smtpparse_command(line, len, &c) == 0) {
		smtp_error(s, "500 5.5.2 Error: command not recognized", "command");
		return 0;
	}
	/* Inside a BDAT sequence only BDAT, RSET, NOOP and QUIT make sense
	 * (RFC 3030 section 2). */
	if (s->st == SMTP_ST_BDAT && c.cmd != SMTP_CMD_BDAT && c.cmd != SMTP_CMD_RSET &&
	    c.cmd != SMTP_CMD_NOOP && c.cmd != SMTP_CMD_QUIT) {
		smtp_error(s, "503 5.5.1 Error: BDAT sequence in progress", "command");
		return 0;
	}
	switch (c.cmd) {
	case SMTP_CMD_HELO:
	case SMTP_CMD_EHLO:
	case SMTP_CMD_LHLO:
		smtp_cmd_helo(s, c.cmd, c.arg);
		return 0;
	case SMTP_CMD_MAIL:
		smtp_cmd_mail(s, c.arg);
		return 0;
	case SMTP_CMD_RCPT:
		smtp_cmd_rcpt(s, c.arg);
		return 0;
	case SMTP_CMD_DATA:
		return smtp_cmd_data(s, c.arg);
	case SMTP_CMD_BDAT:
		return smtp_cmd_bdat(s, c.arg);
	case SMTP_CMD_RSET:
		smtp_txn_reset(s);
		smtp_reply(s, "250 2.0.0 Ok");
		return 0;
	case SMTP_CMD_NOOP:
		smtp_reply(s, "250 2.0.0 Ok");
		return 0;
	case SMTP_CMD_QUIT:
		smtp_replyf(s, "221 2.0.0 %s closing connection", s->srv->conf->hostname);
		smtp_set_state(s, SMTP_ST_QUIT);
		return -1;
	case SMTP_CMD_VRFY:
		/* RFC 5321 section 3.5.3: 252 when we do not verify. */
		smtp_reply(
		    s, "252 2.5.0 Cannot VRFY user, but will accept message and attempt delivery");
		return 0;
	case SMTP_CMD_EXPN:
		smtp_reply(s, "502 5.5.1 Error: EXPN disabled");
		return 0;
	case SMTP_CMD_HELP:
		smtp_reply(s, "214 2.0.0 See https://www.rfc-editor.org/rfc/rfc5321");
		return 0;
	case SMTP_CMD_STARTTLS:
		return smtp_cmd_starttls(s, c.arg);
	case SMTP_CMD_AUTH:
		smtp_error(s, "503 5.5.1 Error: authentication not enabled", "auth");
		return 0;
	case SMTP_CMD_HTTP:
		log_event(LOG_NOTICE, "reject", "STAGE", "command", "REASON",
		          "HTTP command on SMTP port", NULL);
		smtp_reply(s, "221 2.7.0 Error: I can break rules, too. Goodbye.");
		return -1;
	case SMTP_CMD_UNKNOWN:
		break;
	}
	smtp_error(s, "500 5.5.2 Error: command not recognized", "command");
	return 0;
}

int smtp_session(const struct smtp_server *srv, struct conn *c)
{
	struct smtp_sess s;
	memset(&s, 0, sizeof(s));
	s.srv = srv;
	s.conn = c;
	io_init(&s.io, c->rfd, c->wfd, (int)srv->conf->smtpd_timeout_ms);
	log_event(LOG_INFO, "connect", "PROTO", srv->proto_name, NULL);
	int rc = 0;
	if (c->implicit_tls && srv->tls != NULL) {
		if (io_starttls(&s.io, srv->tls, NULL) < 0) {
			log_event(LOG_NOTICE, "tls-fail", "REASON", io_strerror(s.io.err), NULL);
			goto out;
		}
	}
	smtp_milter_connect(&s);
	if (s.milter_close) {
		io_flush(&s.io);
		goto out;
	}
	smtp_replyf(&s, "220 %s %s sealmail", srv->conf->hostname,
	            smtp_lmtp(&s) ? "LMTP" : "ESMTP");
	for (;;) {
		if (io_pending(&s.io) == 0 && io_flush(&s.io) < 0)
			break;
		char *line;
		size_t len;
		int r = io_read_line(&s.io, &line, &len, SMTP_CMD_LINE_MAX);
		if (r == 0)
			break;
		if (r < 0) {
			if (s.io.err == IO_TOOLONG) {
				smtp_error(&s, "500 5.5.2 Error: line too long", "command");
			} else if (s.io.err == IO_BARELF || s.io.err == IO_BARECR) {
				smtp_error(&s, "500 5.5.2 Error: bare CR or LF in command",
				           "command");
			} else {
				if (s.io.err == IO_TIMEOUT) {
					smtp_replyf(&s, "421 4.4.2 %s Error: timeout exceeded",
					            srv->conf->hostname);
					io_flush(&s.io);
				}
				log_event(LOG_INFO, "disconnect", "REASON", io_strerror(s.io.err),
				          NULL);
				goto out;
			}
		} else if (s.errors >= SMTP_ERROR_LIMIT) {
			/* Like Postfix's hard error limit: the next command after too
			 * many errors ends the session. */
			smtp_reply(&s, "421 4.7.0 Error: too many errors");
			io_flush(&s.io);
			log_event(LOG_NOTICE, "disconnect", "REASON", "too many errors", NULL);
			goto out;
		} else if (smtp_command(&s, line, len) < 0 || s.milter_close) {
			io_flush(&s.io);
			break;
		}
	}
	{
		char n[16];
		snprintf(n, sizeof(n), "%u", s.messages);
		log_event(LOG_INFO, "disconnect", "MESSAGES", n, NULL);
	}
out:
	smtp_txn_reset(&s);
	milters_free(&s.milters);
	io_cleanup(&s.io);
	return rc;
}

static int smtp_conn(struct conn *c, void *arg)
{
	const struct smtp_server *srv = arg;
	/* Confine the connection: directory.db read-only, users/ spool only
	 * (DESIGN section 4); the directory and Redis are opened on first use. */
	deliver_session_begin(srv->deliver);
	confine_enter(SANDBOX_MX, srv->conf, srv->state_fd, NULL);
	return smtp_session(srv, c);
}

static void smtp_before_fork(void *arg)
{
	const struct smtp_server *srv = arg;
	deliver_loop_refresh(srv->deliver);
}

static int smtp_loop_fd(void *arg)
{
	const struct smtp_server *srv = arg;
	return deliver_loop_relay(srv->deliver);
}

static void smtp_loop_fd_ready(void *arg)
{
	const struct smtp_server *srv = arg;
	deliver_loop_publish(srv->deliver);
}

static void smtp_before_loop(void *arg)
{
	const struct smtp_server *srv = arg;
	confine_prepare(SANDBOX_MX, srv->conf, srv->state_fd);
	confine_enter(SANDBOX_ACCEPT, srv->conf, srv->state_fd, NULL);
}

int smtp_main(int argc, char **argv, const char *prog, enum smtp_mode mode)
{
	struct server_args a;
	server_args(argc, argv, prog, &a);
	struct conf *c = server_config(prog, &a);
	const char *err;
	struct smtp_server srv = {.mode = mode, .conf = c, .proto_name = prog};
	struct milter_spec milter_specs[MILTER_LIST_MAX];
	size_t nmilters;
	if (milter_spec_parse(smtp_milter_list(&srv), c, milter_specs, MILTER_LIST_MAX, &nmilters,
	                      &err) < 0)
		log_fatal("%s", err);
	srv.tls = server_tls(c);
	srv.deliver = deliver_new(c, &err);
	if (srv.deliver == NULL)
		log_fatal("%s", err);
	srv.state_fd = server_state_fd(c);
	server_warm();
	struct conn_opts opts = {.tls_flag = a.tls,
	                         .max_children = (unsigned)c->max_connections,
	                         .before_loop = smtp_before_loop,
	                         .before_fork = smtp_before_fork,
	                         .loop_fd = smtp_loop_fd,
	                         .loop_fd_ready = smtp_loop_fd_ready};
	int rc = conn_serve(&opts, smtp_conn, &srv);
	close(srv.state_fd);
	deliver_free(&srv.deliver);
	SSL_CTX_free(srv.tls);
	conf_free(&c);
	return rc;
}
