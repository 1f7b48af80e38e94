/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* Policy of the SMTP engine: size and recipient limits, recipient checks
 * (through delivery's resolver) and the milters (milter.h) at each stage.
 * The commands (smtp_cmd.c, smtp_data.c) ask here whether to go on. Trust:
 * pre-auth; addresses and parameters come from the network (parsed). */
#include "smtp_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/mem.h"
#include "svc/milter.h"
#include "sys/log.h"

const char *smtp_policy_milter_list(const struct smtp_server *srv)
{
	if (strcmp(srv->proto_name, "submitd") == 0)
		return srv->conf->submitd_milters;
	return srv->mode == SMTP_MODE_LMTP ? srv->conf->lmtpd_milters : srv->conf->smtpd_milters;
}

/* ---- limits ------------------------------------------------------------ */

bool smtp_policy_mail_limits(struct smtp_sess *s, const struct smtp_mail_params *mp)
{
	if (!s->esmtp && (mp->size_set || mp->body || mp->smtputf8 || mp->ret || mp->envid[0])) {
		smtp_reply_error(s, SMTP_R_MAIL_PARAMS, "mail");
		return false;
	}
	/* RFC 1870 section 6.2: refuse a declared size over the limit now. */
	if (mp->size_set && mp->size > s->srv->conf->max_message_size) {
		smtp_reply_reject(s, SMTP_R_SIZE_LIMIT, "mail");
		return false;
	}
	return true;
}

bool smtp_policy_rcpt_limits(struct smtp_sess *s, const struct smtp_path *to)
{
	if (to->utf8 && !s->mp.smtputf8) {
		smtp_reply_error(s, SMTP_R_UTF8_ADDR, "rcpt");
		return false;
	}
	/* RFC 5321 section 4.5.3.1.8 requires at least 100; 452 4.5.3 tells
	 * the client to send the rest in another transaction. */
	if (s->nrcpts >= s->srv->conf->smtpd_max_recipients) {
		smtp_reply_reject(s, SMTP_R_TOO_MANY_RCPTS, "rcpt");
		return false;
	}
	return true;
}

/* Checks common to the end of DATA and of BDAT LAST. */
bool smtp_policy_message_ok(struct smtp_sess *s, uint64_t total, bool bare)
{
	if (total > s->srv->conf->max_message_size) {
		smtp_reply_refuse_message(s, SMTP_R_SIZE_LIMIT, "data");
		return false;
	}
	if (bare) {
		/* Never normalised: a bare CR or LF is how SMTP smuggling hides a
		 * second message (RFC 5321 section 2.3.8). */
		smtp_reply_refuse_message(s, SMTP_R_BARE_CRLF_MSG, "data");
		return false;
	}
	return true;
}

/* ---- milters ----------------------------------------------------------- */

/* A milter verdict on a command: true if the command goes on (a discard goes
 * on too: the message is dropped at its end); otherwise the reply is sent,
 * and after a 421 the session ends. */
static bool smtp_policy_verdict(struct smtp_sess *s, enum milter_verdict v,
                                const struct milter_answer *a, const char *stage)
{
	if (v == MILTER_CONTINUE || v == MILTER_DISCARD)
		return true;
	smtp_reply_reject_line(s, a->reply, stage);
	if (v == MILTER_SHUTDOWN)
		s->milter_close = true;
	return false;
}

void smtp_policy_connect(struct smtp_sess *s)
{
	const char *err;
	struct milter_answer a;
	s->milters = milters_new(smtp_policy_milter_list(s->srv), s->srv->conf, &err);
	if (s->milters == NULL) {
		if (err != NULL) { /* checked at start-up; never accept unfiltered */
			log_event(LOG_ERR, "milter-config", "REASON", err, NULL);
			smtp_reply(s, SMTP_R_CONFIG);
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
		smtp_reply_reject_line(s, a.reply, "connect");
		s->milter_close = true;
	}
}

bool smtp_policy_helo(struct smtp_sess *s, const char *helo)
{
	char tls[128], *cipher = NULL;
	struct milter_answer a;
	if (s->milters == NULL)
		return true;
	/* EHLO resets the transaction whatever the milters say (RFC 5321
	 * section 4.1.4): they get SMFIC_ABORT before the new HELO. */
	smtp_session_reset(s);
	if (io_tls_desc(&s->io, tls, sizeof(tls))[0] != '\0' && (cipher = strchr(tls, ' ')) != NULL)
		*cipher++ = '\0'; /* "TLSv1.3 TLS_AES_256_GCM_SHA384" */
	enum milter_verdict v = milters_helo(s->milters, helo, cipher ? tls : NULL, cipher, &a);
	return smtp_policy_verdict(s, v, &a, "helo");
}

/* The ESMTP parameters of MAIL/RCPT as the client wrote them. */
static const char *smtp_policy_params(const char *arg, bool allow_null)
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

bool smtp_policy_mail(struct smtp_sess *s, const char *arg)
{
	struct milter_answer a;
	if (s->milters == NULL)
		return true;
	enum milter_verdict v = milters_mail(s->milters, s->from.null ? "" : s->from.addr,
	                                     smtp_policy_params(arg, true), s->queue_id, NULL, &a);
	return smtp_policy_verdict(s, v, &a, "mail");
}

bool smtp_policy_rcpt(struct smtp_sess *s, const struct smtp_path *to, const char *arg,
                      bool *remote_r)
{
	const char *reply, *addr = to->addr;
	size_t ntargets0 = s->ntargets;
	*remote_r = false;
	if (smtp_session_submit(s)) {
		int k = s->srv->submit->rcpt(s, to, s->srv->submit->arg);
		if (k == 0)
			return false;
		*remote_r = k == 2;
	} else {
		int r = deliver_resolve(s->srv->deliver, addr, s->nrcpts, &s->targets, &s->ntargets,
		                        &reply);
		if (r <= 0) {
			log_event(LOG_NOTICE, "reject", "STAGE", "rcpt", "RCPT", addr, "REASON",
			          reply + 4, NULL);
			smtp_reply_line(s, reply);
			return false;
		}
	}
	if (s->milters != NULL) {
		/* After our own checks, as Postfix: a refusal is this RCPT's reply. */
		struct milter_answer a;
		enum milter_verdict v =
		    milters_rcpt(s->milters, addr, smtp_policy_params(arg, false), &a);
		if (!smtp_policy_verdict(s, v, &a, "rcpt")) {
			s->ntargets = ntargets0;
			return false;
		}
	}
	return true;
}

bool smtp_policy_data(struct smtp_sess *s)
{
	struct milter_answer a;
	if (s->milters == NULL)
		return true;
	if (smtp_policy_verdict(s, milters_data(s->milters, &a), &a, "data"))
		return true;
	smtp_session_reset(s);
	return false;
}

/* Remove the targets of one RCPT (group). */
static void smtp_policy_drop_group(struct smtp_sess *s, size_t g)
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
static void smtp_policy_milter_rcpts(struct smtp_sess *s, const struct milter_result *mr)
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
			/* Same bound as the milter's address: never cut. */
			size_t alen = strnlen(addr, MILTER_ADDR_MAX);
			memcpy(added[nadded], addr, alen);
			added[nadded++][alen] = '\0';
			continue;
		}
		for (size_t g = 0; g < s->nrcpts; g++)
			if (strcasecmp(s->rcpts[g].addr, addr) == 0) {
				s->rcpts[g].milter_deleted = true;
				smtp_policy_drop_group(s, g);
			}
		for (size_t k = 0; k < nadded; k++)
			if (strcasecmp(added[k], addr) == 0)
				smtp_policy_drop_group(s, s->nrcpts + k);
	}
	free(added);
}

/* A new envelope sender from a milter (SMFIR_CHGFROM). */
static void smtp_policy_milter_from(struct smtp_sess *s, const char *from)
{
	memset(&s->from, 0, sizeof(s->from));
	s->from.null = from[0] == '\0';
	int n = snprintf(s->from.addr, sizeof(s->from.addr), "%s", from);
	if (n < 0 || (size_t)n >= sizeof(s->from.addr)) {
		/* Longer than any path (RFC 5321 section 4.5.3.1.3): a cut
		 * Return-Path would name someone else; keep the client's. */
		log_event(LOG_WARNING, "milter-chgfrom-fail", "REASON", "address too long", NULL);
		s->from.addr[0] = '\0';
		s->from.null = true;
	}
}

/* Each milter outcome and the replies it owes (one per recipient for LMTP). */
bool smtp_policy_message(struct smtp_sess *s, bool *quarantine_r)
{
	struct milter_result mr;
	const char *what = NULL;
	*quarantine_r = false;
	if (s->milters == NULL)
		return true;
	enum milter_verdict v = milters_message(s->milters, s->msg.data, s->msg.len, &mr);
	if (v == MILTER_CONTINUE) {
		if (mr.changed) {
			buf_free(&s->msg);
			s->msg = mr.msg;
			mr.msg = (struct buf)BUF_INIT;
		}
		if (mr.from_changed)
			smtp_policy_milter_from(s, mr.from);
		smtp_policy_milter_rcpts(s, &mr);
		*quarantine_r = mr.quarantine;
		if (mr.quarantine)
			log_event(LOG_NOTICE, "quarantine", "QUEUEID", s->queue_id, "REASON",
			          mr.quarantine_reason, NULL);
		bool queued = false; /* submission: remote recipients left */
		for (size_t g = 0; smtp_session_submit(s) && g < s->nrcpts; g++)
			queued = queued || (s->rcpts[g].remote && !s->rcpts[g].milter_deleted);
		if (s->ntargets > 0 || queued) {
			milter_result_clear(&mr);
			return true;
		}
		what = "no recipient left after milter edits";
	} else if (v == MILTER_DISCARD) {
		what = "discarded by milter";
	}
	/* One reply for SMTP; one per accepted RCPT for LMTP (RFC 2033 4.2). */
	for (size_t g = 0; g < (smtp_session_lmtp(s) ? s->nrcpts : 1); g++) {
		if (what == NULL)
			smtp_reply_reject_line(s, mr.answer.reply, "data");
		else if (smtp_session_lmtp(s))
			smtp_reply_lmtp_ok(s, s->rcpts[g].addr, false);
		else
			smtp_reply_queued(s);
	}
	if (what != NULL)
		log_event(LOG_NOTICE, "discard", "QUEUEID", s->queue_id, "REASON", what, NULL);
	if (v == MILTER_SHUTDOWN)
		s->milter_close = true;
	milter_result_clear(&mr);
	smtp_session_reset(s);
	return false;
}
