/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* Private to the SMTP engine's files (smtp.h lists them): the session, its
 * states, the reply catalogue and the functions the files share. Trust:
 * pre-auth; a session holds what the network sent. */
#ifndef SEALMAIL_SMTP_INT_H
#define SEALMAIL_SMTP_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "smtp.h"
#include "base/buf.h"
#include "proto/smtpparse.h"
#include "sys/io.h"

/* Session states, changed only by smtp_session_state(), which also logs the
 * change and shows it in the process title (OpenSMTPD style). */
enum smtp_state {
	SMTP_ST_INIT,  /* greeted, waiting for EHLO/HELO/LHLO */
	SMTP_ST_READY, /* after EHLO: MAIL may start a transaction */
	SMTP_ST_MAIL,  /* MAIL accepted */
	SMTP_ST_RCPT,  /* at least one RCPT accepted */
	SMTP_ST_DATA,  /* 354 sent: reading the message */
	SMTP_ST_BDAT,  /* inside a BDAT sequence */
	SMTP_ST_QUIT,
	SMTP_ST_COUNT,
};

/* A set of states, for the command table. */
#define SMTP_ST_BIT(st) (1u << (st))
#define SMTP_ST_ANY     ((1u << SMTP_ST_COUNT) - 1u)

struct smtp_rcpt {
	char addr[SMTP_PATH_MAX + 1];
	bool milter_deleted; /* removed by a milter (SMFIR_DELRCPT) */
	bool remote;         /* submission: to be queued, not delivered here */
	unsigned notify;     /* RFC 3461 NOTIFY (SMTP_NOTIFY_*), kept for the queue */
	char orcpt[SMTP_ORCPT_MAX + 1];
};

struct milters;

struct smtp_sess {
	const struct smtp_server *srv;
	struct conn *conn;
	struct io io;
	enum smtp_state st;
	bool esmtp;
	char helo[SMTP_DOMAIN_MAX + 1];
	unsigned errors;
	unsigned junk;          /* junk commands since the last accepted message */
	unsigned junk_messages; /* messages when junk was last reset */
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
	bool cut;          /* a time limit ended the session (421 sent, logged) */
};

/* ---- smtp_reply.c: every reply text of the engine ----------------------
 * Fixed replies by name; replies with variable parts have a function each.
 * (Replies that come from elsewhere: the parser's syntax errors, delivery's
 * recipient verdicts and the milters' own replies, are passed as lines.) */
enum smtp_reply_id {
	SMTP_R_NONE,
	SMTP_R_OK,
	SMTP_R_MAIL_OK,
	SMTP_R_RCPT_OK,
	SMTP_R_DATA_GO,
	SMTP_R_TLS_GO,
	SMTP_R_VRFY,
	SMTP_R_HELP,
	SMTP_R_HTTP_BYE,
	SMTP_R_BDAT_UNREADABLE,
	SMTP_R_CLOSING,
	SMTP_R_TOO_MANY_ERRORS,
	SMTP_R_CONFIG,
	SMTP_R_TOO_MANY_RCPTS,
	SMTP_R_DELIVERY_FAILED,
	SMTP_R_LINE_TOO_LONG,
	SMTP_R_BARE_CRLF_CMD,
	SMTP_R_NUL_IN_CMD,
	SMTP_R_UNKNOWN_CMD,
	SMTP_R_LHLO_ONLY,
	SMTP_R_NO_LHLO,
	SMTP_R_HELO_SYNTAX,
	SMTP_R_DATA_SYNTAX,
	SMTP_R_STARTTLS_SYNTAX,
	SMTP_R_EXPN,
	SMTP_R_NO_STARTTLS,
	SMTP_R_HELO_FIRST,
	SMTP_R_EHLO_FIRST,
	SMTP_R_NESTED_MAIL,
	SMTP_R_NEED_MAIL,
	SMTP_R_NEED_RCPT,
	SMTP_R_BDAT_SEQUENCE,
	SMTP_R_TLS_ACTIVE,
	SMTP_R_NO_AUTH,
	SMTP_R_AUTH_AGAIN,
	SMTP_R_SIZE_LIMIT,
	SMTP_R_CHUNK_LIMIT,
	SMTP_R_UTF8_ADDR,
	SMTP_R_NO_VALID_RCPT,
	SMTP_R_MAIL_PARAMS,
	SMTP_R_BARE_CRLF_MSG,
	SMTP_R_NUL_IN_MSG,
	SMTP_R_COUNT,
};

/* The text of a fixed reply ("250 2.0.0 Ok"). */
const char *smtp_reply_text(enum smtp_reply_id id);
/* Queue a reply; replies are flushed before the next blocking read (RFC
 * 2920 section 3.1). */
void smtp_reply(struct smtp_sess *s, enum smtp_reply_id id);
void smtp_reply_line(struct smtp_sess *s, const char *line);
/* A refusal: the reply, and a "reject" log event naming the stage. */
void smtp_reply_reject(struct smtp_sess *s, enum smtp_reply_id id, const char *stage);
void smtp_reply_reject_line(struct smtp_sess *s, const char *line, const char *stage);
/* The refusal of a whole received message (after DATA's final "." or BDAT
 * LAST): one reply, or in LMTP one per accepted recipient (RFC 2033 section
 * 4.2), each naming it; one "reject" log event either way. */
void smtp_reply_refuse_message(struct smtp_sess *s, enum smtp_reply_id id, const char *stage);
/* A client error: a refusal that counts toward SMTP_ERROR_LIMIT. */
void smtp_reply_error(struct smtp_sess *s, enum smtp_reply_id id, const char *stage);
void smtp_reply_error_line(struct smtp_sess *s, const char *line, const char *stage);
/* The replies with variable parts. */
void smtp_reply_greeting(struct smtp_sess *s);
void smtp_reply_helo(struct smtp_sess *s); /* HELO, or the EHLO/LHLO keyword list */
void smtp_reply_quit(struct smtp_sess *s);
void smtp_reply_timeout(struct smtp_sess *s);
/* The 421 for a read that ended with IO_TIMEOUT: which limit passed. */
void smtp_reply_limit(struct smtp_sess *s, enum io_limit which);
/* 421 4.7.0 after smtpd.junk_command_limit junk commands. */
void smtp_reply_junk(struct smtp_sess *s);
void smtp_reply_queued(struct smtp_sess *s);
void smtp_reply_chunk(struct smtp_sess *s, uint64_t size);
/* LMTP (RFC 2033 section 4.2): one reply per accepted recipient. saved:
 * "Saved" (delivered) or "Ok" (dropped by a milter). */
void smtp_reply_lmtp_ok(struct smtp_sess *s, const char *rcpt, bool saved);
/* A failure line from delivery, addressed to rcpt. */
void smtp_reply_lmtp_fail(struct smtp_sess *s, const char *rcpt, const char *line);

/* ---- smtp_session.c ---------------------------------------------------- */
/* The one place the state changes. */
void smtp_session_state(struct smtp_sess *s, enum smtp_state st);
/* End the transaction (RFC 5321 section 4.1.1.5): back to READY. */
void smtp_session_reset(struct smtp_sess *s);
bool smtp_session_lmtp(const struct smtp_sess *s);
bool smtp_session_submit(const struct smtp_sess *s);
/* After a read that failed with IO_TIMEOUT: the 421 naming the limit, the
 * "disconnect" event with it, and s->cut. */
void smtp_session_timed_out(struct smtp_sess *s);
/* DATA or BDAT content begins or ends: its transfer deadline
 * (smtpd.command_timeout, then smtpd.min_data_rate) and idle timeout
 * (smtpd.data_timeout). */
void smtp_session_transfer(struct smtp_sess *s, bool begin);

/* ---- smtp_cmd.c -------------------------------------------------------- */
/* One command line (without CRLF); -1 ends the session. */
int smtp_cmd_dispatch(struct smtp_sess *s, char *line, size_t len);

/* What a command's check step learnt, for its proceed step. */
struct smtp_cmd_args {
	enum smtp_cmd cmd;
	const char *arg;
	struct smtp_path path;
	struct smtp_mail_params mp;
	struct smtp_rcpt_params rp;
	uint64_t size; /* BDAT */
	bool last;     /* BDAT LAST */
};

/* ---- smtp_data.c ------------------------------------------------------- */
/* Check steps: 1 go on, 0 refused (reply sent), -1 end the session. Proceed
 * steps: 0, or -1 to end the session. */
int smtp_data_check(struct smtp_sess *s, struct smtp_cmd_args *a);
int smtp_data_proceed(struct smtp_sess *s, struct smtp_cmd_args *a);
int smtp_data_bdat_check(struct smtp_sess *s, struct smtp_cmd_args *a);
int smtp_data_bdat_proceed(struct smtp_sess *s, struct smtp_cmd_args *a);

/* ---- smtp_policy.c ----------------------------------------------------- */
/* The milter list of this handler (configuration). */
const char *smtp_policy_milter_list(const struct smtp_server *srv);
/* Connect the milters; on a refusal the reply is sent and s->milter_close
 * set. */
void smtp_policy_connect(struct smtp_sess *s);
/* Each returns true if the command goes on; otherwise the reply was sent
 * (and s->milter_close is set after a 421). */
bool smtp_policy_helo(struct smtp_sess *s, const char *helo);
bool smtp_policy_mail_limits(struct smtp_sess *s, const struct smtp_mail_params *mp);
bool smtp_policy_mail(struct smtp_sess *s, const char *arg);
bool smtp_policy_rcpt_limits(struct smtp_sess *s, const struct smtp_path *to);
/* *remote_r: submission only, the recipient is to be queued. */
bool smtp_policy_rcpt(struct smtp_sess *s, const struct smtp_path *to, const char *arg,
                      bool *remote_r);
bool smtp_policy_data(struct smtp_sess *s);
bool smtp_policy_message_ok(struct smtp_sess *s, uint64_t total, bool bare);
/* The received message through the milters. True: deliver s->msg (edited)
 * with *quarantine_r set for a quarantine; false: the reply was sent and
 * the transaction is over. */
bool smtp_policy_message(struct smtp_sess *s, bool *quarantine_r);

#endif
