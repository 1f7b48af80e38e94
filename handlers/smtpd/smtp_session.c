/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* One SMTP/LMTP session on one connection: its state, and the loop that
 * reads command lines and hands them to the dispatcher (smtp_cmd.c). Runs in
 * the process that serves the connection, already confined (smtp.c). Trust:
 * pre-auth; everything read here comes from the network. */
#include "smtp_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "svc/milter.h"
#include "sys/log.h"
#include "sys/title.h"

/* Names for logs ("state" events) and for the process title. */
static const struct {
	const char *log;
	const char *title;
} smtp_session_states[SMTP_ST_COUNT] = {
    [SMTP_ST_INIT] = {"init", "INIT"}, [SMTP_ST_READY] = {"ready", "READY"},
    [SMTP_ST_MAIL] = {"mail", "MAIL"}, [SMTP_ST_RCPT] = {"rcpt", "RCPT"},
    [SMTP_ST_DATA] = {"data", "DATA"}, [SMTP_ST_BDAT] = {"bdat", "BDAT"},
    [SMTP_ST_QUIT] = {"quit", "QUIT"},
};

/* The process title: "smtpd: 198.51.100.7 DATA" (the peer's address, never
 * anything the client chose). Memory writes only: no system call. */
static void smtp_session_title(const struct smtp_sess *s)
{
	title_set("%s %s", s->conn->remote, smtp_session_states[s->st].title);
}

void smtp_session_state(struct smtp_sess *s, enum smtp_state st)
{
	if (s->st == st)
		return;
	log_event(LOG_DEBUG, "state", "FROM", smtp_session_states[s->st].log, "TO",
	          smtp_session_states[st].log, NULL);
	s->st = st;
	smtp_session_title(s);
}

bool smtp_session_lmtp(const struct smtp_sess *s)
{
	return s->srv->mode == SMTP_MODE_LMTP;
}

bool smtp_session_submit(const struct smtp_sess *s)
{
	return s->srv->mode == SMTP_MODE_SUBMIT && s->srv->submit != NULL;
}

void smtp_session_reset(struct smtp_sess *s)
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
		smtp_session_state(s, SMTP_ST_READY);
}

void smtp_session_timed_out(struct smtp_sess *s)
{
	/* RFC 5321 section 3.8: a timeout may end the session, with a 421
	 * saying so; the log names the limit that passed. */
	smtp_reply_limit(s, s->io.expired);
	io_flush(&s->io);
	log_event(LOG_NOTICE, "disconnect", "REASON", io_limit_name(s->io.expired), NULL);
	s->cut = true;
}

void smtp_session_transfer(struct smtp_sess *s, bool begin)
{
	const struct conf *c = s->srv->conf;
	if (!begin) {
		io_transfer_end(&s->io);
		io_set_idle(&s->io, (int)c->smtpd_timeout_ms);
		return;
	}
	/* RFC 5321 section 4.5.3.2 times the client per data block, not per
	 * message: a limit on message content must grow with its size. As
	 * Postfix (smtpd_min_data_rate with smtpd_per_request_deadline): the
	 * command deadline as a grace, then each byte buys 1/rate s more. A
	 * client at 1 byte/s is cut after the grace; a slow but honest one
	 * never, up to smtpd.session_timeout. */
	io_set_idle(&s->io, (int)c->smtpd_data_timeout_ms);
	if (c->smtpd_min_data_rate > 0)
		io_transfer_begin(&s->io, (int64_t)c->smtpd_command_timeout_ms,
		                  c->smtpd_min_data_rate);
}

/* A failed read: the reply it owes, if any. 0: go on reading; -1: the
 * session is over. */
static int smtp_session_read_error(struct smtp_sess *s)
{
	if (s->io.err == IO_TOOLONG) {
		smtp_reply_error(s, SMTP_R_LINE_TOO_LONG, "command");
		return 0;
	}
	if (s->io.err == IO_BARELF || s->io.err == IO_BARECR) {
		smtp_reply_error(s, SMTP_R_BARE_CRLF_CMD, "command");
		return 0;
	}
	if (s->io.err == IO_TIMEOUT) {
		smtp_session_timed_out(s);
		return -1;
	}
	log_event(LOG_INFO, "disconnect", "REASON", io_strerror(s->io.err), NULL);
	return -1;
}

/* Read and dispatch commands until the session ends. true: it ended with
 * QUIT, EOF or a closing reply (log the message count); false: it was cut
 * (timeout, I/O error, too many errors), already logged. */
static bool smtp_session_loop(struct smtp_sess *s)
{
	for (;;) {
		/* Flush only when the client sent nothing more (RFC 2920
		 * section 3.1): pipelined replies leave in one write. */
		if (io_pending(&s->io) == 0 && io_flush(&s->io) < 0)
			return true;
		char *line;
		size_t len;
		int r = io_read_line(&s->io, &line, &len, SMTP_CMD_LINE_MAX);
		if (r == 0)
			return true;
		if (r < 0) {
			if (smtp_session_read_error(s) < 0)
				return false;
		} else if (s->errors >= SMTP_ERROR_LIMIT) {
			/* Like Postfix's hard error limit: the next command after too
			 * many errors ends the session. */
			smtp_reply(s, SMTP_R_TOO_MANY_ERRORS);
			io_flush(&s->io);
			log_event(LOG_NOTICE, "disconnect", "REASON", "too many errors", NULL);
			return false;
		} else if (smtp_cmd_dispatch(s, line, len) < 0 || s->milter_close) {
			io_flush(&s->io);
			return !s->cut;
		}
	}
}

/* The session's I/O with its three limits on every read (lib/sys/io.h):
 * smtpd.timeout without a byte (RFC 5321 section 4.5.3.2.7: at least 5
 * minutes), a command line complete within smtpd.command_timeout of its
 * first byte, and the whole session within smtpd.session_timeout: nobody
 * holds a slot by trickling bytes. All three are at most 24 h: they fit an
 * int. */
static void smtp_session_init(struct smtp_sess *s, const struct smtp_server *srv, struct conn *c)
{
	memset(s, 0, sizeof(*s));
	s->srv = srv;
	s->conn = c;
	s->st = SMTP_ST_INIT;
	smtp_session_title(s);
	io_init(&s->io, c->rfd, c->wfd, (int)srv->conf->smtpd_timeout_ms);
	io_set_line_deadline(&s->io, (int)srv->conf->smtpd_command_timeout_ms);
	io_set_deadline(&s->io, (int64_t)srv->conf->smtpd_session_timeout_ms);
}

/* The command loop to the end, its log, and the release of the session. */
static int smtp_session_run(struct smtp_sess *s)
{
	if (smtp_session_loop(s)) {
		/* A count always fits: 10 digits in 16 bytes. */
		char n[16];
		snprintf(n, sizeof(n), "%u", s->messages);
		log_event(LOG_INFO, "disconnect", "MESSAGES", n, NULL);
	}
	smtp_session_reset(s);
	milters_free(&s->milters);
	io_cleanup(&s->io);
	return 0;
}

int smtp_session(const struct smtp_server *srv, struct conn *c)
{
	struct smtp_sess s;
	smtp_session_init(&s, srv, c);
	log_event(LOG_INFO, "connect", "PROTO", srv->proto_name, NULL);
	if (c->implicit_tls && srv->tls != NULL && io_starttls(&s.io, srv->tls, NULL) < 0) {
		log_event(LOG_NOTICE, "tls-fail", "REASON", io_strerror(s.io.err), NULL);
		goto out;
	}
	smtp_policy_connect(&s);
	if (s.milter_close) {
		io_flush(&s.io);
		goto out;
	}
	smtp_reply_greeting(&s);
	return smtp_session_run(&s);
out:
	smtp_session_reset(&s);
	milters_free(&s.milters);
	io_cleanup(&s.io);
	return 0;
}

int smtp_session_resume(const struct smtp_server *srv, struct conn *c, const char *helo,
                        const void *pending, size_t npending)
{
	struct smtp_sess s;
	smtp_session_init(&s, srv, c);
	io_prefill(&s.io, pending, npending);
	smtp_policy_connect(&s);
	/* The front checked the name (smtpparse_helo_ok, SMTP_DOMAIN_MAX). */
	snprintf(s.helo, sizeof(s.helo), "%s", helo);
	s.esmtp = true;
	if (!s.milter_close && smtp_policy_helo(&s, s.helo))
		smtp_session_state(&s, SMTP_ST_READY);
	if (s.milter_close) {
		io_flush(&s.io);
		smtp_session_reset(&s);
		milters_free(&s.milters);
		io_cleanup(&s.io);
		return 0;
	}
	return smtp_session_run(&s);
}

/* ---- what submission's hooks see (smtp.h) ------------------------------ */

const struct smtp_path *smtp_txn_from(const struct smtp_sess *s)
{
	return &s->from;
}

const struct smtp_mail_params *smtp_txn_params(const struct smtp_sess *s)
{
	return &s->mp;
}

const char *smtp_txn_helo(const struct smtp_sess *s)
{
	return s->helo;
}

const char *smtp_txn_id(const struct smtp_sess *s)
{
	return s->queue_id;
}

size_t smtp_txn_nrcpts(const struct smtp_sess *s)
{
	return s->nrcpts;
}

bool smtp_txn_rcpt(const struct smtp_sess *s, size_t i, const char **addr_r, unsigned *notify_r,
                   const char **orcpt_r, bool *remote_r)
{
	const struct smtp_rcpt *r = &s->rcpts[i];
	*addr_r = r->addr;
	*notify_r = r->notify;
	*orcpt_r = r->orcpt;
	*remote_r = r->remote;
	return !r->milter_deleted;
}

const struct buf *smtp_txn_message(const struct smtp_sess *s)
{
	return &s->msg;
}

struct deliver_target **smtp_txn_targets(struct smtp_sess *s, size_t **n_r)
{
	*n_r = &s->ntargets;
	return &s->targets;
}

void smtp_txn_refuse(struct smtp_sess *s, const char *line, const char *stage)
{
	smtp_reply_reject_line(s, line, stage);
}

void smtp_txn_reply(struct smtp_sess *s, const char *line)
{
	smtp_reply_line(s, line);
}

void smtp_txn_reply_queued(struct smtp_sess *s)
{
	smtp_reply_queued(s);
}

const char *smtp_txn_delivery_failed(void)
{
	return smtp_reply_text(SMTP_R_DELIVERY_FAILED);
}
