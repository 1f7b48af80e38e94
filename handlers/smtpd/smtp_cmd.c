/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* The command table and the commands other than DATA and BDAT
 * (smtp_data.c). Each command has, as in OpenSMTPD:
 *  - states: the session states in which it may run at all; outside them
 *    the dispatcher refuses it with the entry's reply for that state (or,
 *    inside a BDAT sequence, 503 5.5.1: RFC 3030 section 2 allows only BDAT,
 *    RSET, NOOP and QUIT there);
 *  - check: syntax, then what depends on the session (its replies when
 *    refused); a check may also refuse on state where the reply order of
 *    the command puts the syntax first (DATA, STARTTLS);
 *  - proceed: the effect, and the success reply.
 * Trust: pre-auth; the arguments come from the network. */
#include "smtp_int.h"

#include <stdio.h>
#include <string.h>

#include "base/mem.h"
#include "base/rnd.h"
#include "sys/log.h"
#include "sys/server.h"

struct smtp_cmd_entry {
	enum smtp_cmd cmd;
	unsigned states;                                              /* SMTP_ST_BIT set */
	enum smtp_reply_id refuse[SMTP_ST_COUNT];                     /* outside states */
	const char *stage;                                            /* for reject logs */
	int (*check)(struct smtp_sess *s, struct smtp_cmd_args *a);   /* 1, 0, -1 */
	int (*proceed)(struct smtp_sess *s, struct smtp_cmd_args *a); /* 0, -1 */
	bool junk; /* moves no transaction forward: counts toward the junk limit */
};

/* ---- HELO / EHLO / LHLO ------------------------------------------------ */

static int smtp_cmd_helo_check(struct smtp_sess *s, struct smtp_cmd_args *a)
{
	if (smtp_session_lmtp(s) != (a->cmd == SMTP_CMD_LHLO)) {
		/* RFC 2033 section 4.1: LMTP has LHLO only, and SMTP has no LHLO. */
		smtp_reply_error(s, smtp_session_lmtp(s) ? SMTP_R_LHLO_ONLY : SMTP_R_NO_LHLO,
		                 "helo");
		return 0;
	}
	if (!smtpparse_helo_ok(a->arg)) {
		smtp_reply_error(s, SMTP_R_HELO_SYNTAX, "helo");
		return 0;
	}
	return 1;
}

static int smtp_cmd_helo_proceed(struct smtp_sess *s, struct smtp_cmd_args *a)
{
	if (!smtp_policy_helo(s, a->arg))
		return 0;
	/* The check bounded the argument to a domain (SMTP_DOMAIN_MAX): this
	 * copy is never cut. */
	snprintf(s->helo, sizeof(s->helo), "%s", a->arg);
	smtp_session_reset(s); /* RFC 5321 section 4.1.4: EHLO also resets */
	s->esmtp = a->cmd != SMTP_CMD_HELO;
	smtp_session_state(s, SMTP_ST_READY);
	smtp_reply_helo(s);
	return 0;
}

/* ---- MAIL / RCPT ------------------------------------------------------- */

static int smtp_cmd_mail_check(struct smtp_sess *s, struct smtp_cmd_args *a)
{
	const char *reply;
	if (smtpparse_mail(a->arg, &a->path, &a->mp, &reply) < 0) {
		smtp_reply_error_line(s, reply, "mail");
		return 0;
	}
	return smtp_policy_mail_limits(s, &a->mp) ? 1 : 0;
}

static int smtp_cmd_mail_proceed(struct smtp_sess *s, struct smtp_cmd_args *a)
{
	s->from = a->path;
	s->mp = a->mp;
	rnd_hex(s->queue_id, 8);
	if ((smtp_session_submit(s) && !s->srv->submit->mail(s, s->srv->submit->arg)) ||
	    !smtp_policy_mail(s, a->arg)) {
		memset(&s->from, 0, sizeof(s->from));
		memset(&s->mp, 0, sizeof(s->mp));
		return 0;
	}
	smtp_session_state(s, SMTP_ST_MAIL);
	smtp_reply(s, SMTP_R_MAIL_OK);
	return 0;
}

static int smtp_cmd_rcpt_check(struct smtp_sess *s, struct smtp_cmd_args *a)
{
	const char *reply;
	if (smtpparse_rcpt(a->arg, &a->path, &a->rp, &reply) < 0) {
		smtp_reply_error_line(s, reply, "rcpt");
		return 0;
	}
	return smtp_policy_rcpt_limits(s, &a->path) ? 1 : 0;
}

static int smtp_cmd_rcpt_proceed(struct smtp_sess *s, struct smtp_cmd_args *a)
{
	bool remote = false;
	if (!smtp_policy_rcpt(s, &a->path, a->arg, &remote))
		return 0;
	s->rcpts = mem_realloc(s->rcpts, s->nrcpts + 1, sizeof(*s->rcpts));
	struct smtp_rcpt *r = &s->rcpts[s->nrcpts++];
	/* Both hold a path (SMTP_PATH_MAX): never cut. */
	snprintf(r->addr, sizeof(r->addr), "%s", a->path.addr);
	r->milter_deleted = false;
	r->remote = remote;
	r->notify = a->rp.notify;
	snprintf(r->orcpt, sizeof(r->orcpt), "%s", a->rp.orcpt); /* same bound: never cut */
	smtp_session_state(s, SMTP_ST_RCPT);
	smtp_reply(s, SMTP_R_RCPT_OK);
	return 0;
}

/* ---- RSET, NOOP, QUIT, VRFY, EXPN, HELP, AUTH, HTTP -------------------- */

static int smtp_cmd_rset_proceed(struct smtp_sess *s, struct smtp_cmd_args *a)
{
	smtp_session_reset(s);
	smtp_reply(s, SMTP_R_OK);
	return 0;
}

static int smtp_cmd_noop_proceed(struct smtp_sess *s, struct smtp_cmd_args *a)
{
	smtp_reply(s, SMTP_R_OK);
	return 0;
}

static int smtp_cmd_quit_proceed(struct smtp_sess *s, struct smtp_cmd_args *a)
{
	smtp_reply_quit(s);
	smtp_session_state(s, SMTP_ST_QUIT);
	return -1;
}

static int smtp_cmd_vrfy_proceed(struct smtp_sess *s, struct smtp_cmd_args *a)
{
	smtp_reply(s, SMTP_R_VRFY);
	return 0;
}

static int smtp_cmd_expn_proceed(struct smtp_sess *s, struct smtp_cmd_args *a)
{
	smtp_reply(s, SMTP_R_EXPN);
	return 0;
}

static int smtp_cmd_help_proceed(struct smtp_sess *s, struct smtp_cmd_args *a)
{
	smtp_reply(s, SMTP_R_HELP);
	return 0;
}

static int smtp_cmd_auth_check(struct smtp_sess *s, struct smtp_cmd_args *a)
{
	smtp_reply_error(s, smtp_session_submit(s) ? SMTP_R_AUTH_AGAIN : SMTP_R_NO_AUTH, "auth");
	return 0;
}

static int smtp_cmd_http_proceed(struct smtp_sess *s, struct smtp_cmd_args *a)
{
	log_event(LOG_NOTICE, "reject", "STAGE", "command", "REASON", "HTTP command on SMTP port",
	          NULL);
	smtp_reply(s, SMTP_R_HTTP_BYE);
	return -1;
}

/* ---- STARTTLS (RFC 3207) ----------------------------------------------- */

static int smtp_cmd_starttls_check(struct smtp_sess *s, struct smtp_cmd_args *a)
{
	enum smtp_reply_id r = SMTP_R_NONE;
	if (s->srv->tls == NULL)
		r = SMTP_R_NO_STARTTLS;
	else if (io_is_tls(&s->io))
		r = SMTP_R_TLS_ACTIVE;
	else if (a->arg[0] != '\0')
		r = SMTP_R_STARTTLS_SYNTAX;
	else if (s->st == SMTP_ST_INIT)
		r = SMTP_R_EHLO_FIRST;
	if (r == SMTP_R_NONE)
		return 1;
	smtp_reply_error(s, r, "starttls");
	return 0;
}

static int smtp_cmd_starttls_proceed(struct smtp_sess *s, struct smtp_cmd_args *a)
{
	smtp_reply(s, SMTP_R_TLS_GO);
	if (server_starttls(&s->io, s->srv->tls) < 0)
		return -1;
	/* RFC 3207 section 4.2: forget everything learnt before TLS. */
	smtp_session_reset(s);
	s->helo[0] = '\0';
	s->esmtp = false;
	smtp_session_state(s, SMTP_ST_INIT);
	return 0;
}

/* ---- the table --------------------------------------------------------- */

#define ST(x) SMTP_ST_BIT(SMTP_ST_##x)
/* Where a command may run when it is not part of a BDAT sequence. */
#define SMTP_ST_OUTSIDE_BDAT (SMTP_ST_ANY & ~ST(BDAT))

static const struct smtp_cmd_entry smtp_cmd_table[] = {
    /* Junk: the commands a client may repeat without ever sending mail
     * (Postfix counts NOOP, VRFY, ETRN and RSET; a greeting repeated is no
     * better). */
    {SMTP_CMD_HELO,
     SMTP_ST_OUTSIDE_BDAT,
     {0},
     "helo",
     smtp_cmd_helo_check,
     smtp_cmd_helo_proceed,
     true},
    {SMTP_CMD_EHLO,
     SMTP_ST_OUTSIDE_BDAT,
     {0},
     "helo",
     smtp_cmd_helo_check,
     smtp_cmd_helo_proceed,
     true},
    {SMTP_CMD_LHLO,
     SMTP_ST_OUTSIDE_BDAT,
     {0},
     "helo",
     smtp_cmd_helo_check,
     smtp_cmd_helo_proceed,
     true},
    /* RFC 5321 section 4.1.4: MAIL after EHLO, one transaction at a time. */
    {SMTP_CMD_MAIL,
     ST(READY),
     {[SMTP_ST_INIT] = SMTP_R_HELO_FIRST,
      [SMTP_ST_MAIL] = SMTP_R_NESTED_MAIL,
      [SMTP_ST_RCPT] = SMTP_R_NESTED_MAIL},
     "mail",
     smtp_cmd_mail_check,
     smtp_cmd_mail_proceed,
     false},
    {SMTP_CMD_RCPT,
     ST(MAIL) | ST(RCPT),
     {[SMTP_ST_INIT] = SMTP_R_NEED_MAIL, [SMTP_ST_READY] = SMTP_R_NEED_MAIL},
     "rcpt",
     smtp_cmd_rcpt_check,
     smtp_cmd_rcpt_proceed,
     false},
    /* Its syntax is answered first: its state is checked in its check. */
    {SMTP_CMD_DATA, SMTP_ST_OUTSIDE_BDAT, {0}, "data", smtp_data_check, smtp_data_proceed, false},
    /* RFC 3030 section 3: the chunk is read in any state, then refused. */
    {SMTP_CMD_BDAT, SMTP_ST_ANY, {0}, "bdat", smtp_data_bdat_check, smtp_data_bdat_proceed, false},
    {SMTP_CMD_RSET, SMTP_ST_ANY, {0}, "rset", NULL, smtp_cmd_rset_proceed, true},
    {SMTP_CMD_NOOP, SMTP_ST_ANY, {0}, "noop", NULL, smtp_cmd_noop_proceed, true},
    {SMTP_CMD_QUIT, SMTP_ST_ANY, {0}, "quit", NULL, smtp_cmd_quit_proceed, false},
    /* RFC 5321 section 3.5.3: 252 when we do not verify. */
    {SMTP_CMD_VRFY, SMTP_ST_OUTSIDE_BDAT, {0}, "vrfy", NULL, smtp_cmd_vrfy_proceed, true},
    {SMTP_CMD_EXPN, SMTP_ST_OUTSIDE_BDAT, {0}, "expn", NULL, smtp_cmd_expn_proceed, true},
    {SMTP_CMD_HELP, SMTP_ST_OUTSIDE_BDAT, {0}, "help", NULL, smtp_cmd_help_proceed, true},
    {SMTP_CMD_STARTTLS,
     SMTP_ST_OUTSIDE_BDAT,
     {0},
     "starttls",
     smtp_cmd_starttls_check,
     smtp_cmd_starttls_proceed,
     false},
    /* The MX offers no AUTH; submitd's front does it before this engine
     * runs, so here AUTH is refused in every mode. */
    {SMTP_CMD_AUTH, SMTP_ST_OUTSIDE_BDAT, {0}, "auth", smtp_cmd_auth_check, NULL, false},
    {SMTP_CMD_HTTP, SMTP_ST_OUTSIDE_BDAT, {0}, "command", NULL, smtp_cmd_http_proceed, false},
};

static const struct smtp_cmd_entry *smtp_cmd_lookup(enum smtp_cmd cmd)
{
	for (size_t i = 0; i < sizeof(smtp_cmd_table) / sizeof(smtp_cmd_table[0]); i++)
		if (smtp_cmd_table[i].cmd == cmd)
			return &smtp_cmd_table[i];
	return NULL;
}

/* One more junk command: false (421 sent, logged) past
 * smtpd.junk_command_limit. The count starts again after each accepted
 * message, so a long session that delivers is never cut by it. */
static bool smtp_cmd_junk_ok(struct smtp_sess *s)
{
	uint64_t limit = s->srv->conf->smtpd_junk_command_limit;
	if (s->junk_messages != s->messages) {
		s->junk_messages = s->messages;
		s->junk = 0;
	}
	if (limit == 0 || ++s->junk <= limit)
		return true;
	smtp_reply_junk(s);
	log_event(LOG_NOTICE, "disconnect", "REASON", "too many junk commands", NULL);
	s->cut = true;
	return false;
}

int smtp_cmd_dispatch(struct smtp_sess *s, char *line, size_t len)
{
	struct smtp_command c;
	if (strlen(line) != len) {
		smtp_reply_error(s, SMTP_R_NUL_IN_CMD, "command");
		return 0;
	}
	const struct smtp_cmd_entry *e =
	    smtpparse_command(line, len, &c) == 1 ? smtp_cmd_lookup(c.cmd) : NULL;
	if (e == NULL) {
		smtp_reply_error(s, SMTP_R_UNKNOWN_CMD, "command");
		return 0;
	}
	if (!(e->states & SMTP_ST_BIT(s->st))) {
		/* Commands are read in no other state than INIT, READY, MAIL,
		 * RCPT and BDAT; a state without its own reply is the BDAT one. */
		if (e->refuse[s->st] == SMTP_R_NONE)
			smtp_reply_error(s, SMTP_R_BDAT_SEQUENCE, "command");
		else
			smtp_reply_error(s, e->refuse[s->st], e->stage);
		return 0;
	}
	if (e->junk && !smtp_cmd_junk_ok(s))
		return -1;
	/* The arguments' storage (paths) stays on this frame: the session
	 * keeps what it needs. */
	struct smtp_cmd_args a;
	a.cmd = c.cmd;
	a.arg = c.arg;
	if (e->check != NULL) {
		int r = e->check(s, &a);
		if (r <= 0)
			return r;
	}
	return e->proceed != NULL ? e->proceed(s, &a) : 0;
}
