/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* The SMTP engine shared by smtpd (MX, RFC 5321), lmtpd (RFC 2033) and
 * submitd: the process stages main() runs, and one session on one
 * connection. Extensions: PIPELINING (RFC 2920), SIZE (RFC 1870), 8BITMIME
 * (RFC 6152), SMTPUTF8 (RFC 6531), ENHANCEDSTATUSCODES (RFC 2034, RFC 3463),
 * CHUNKING (RFC 3030), DSN parameters (RFC 3461), STARTTLS (RFC 3207).
 *
 * The engine's files, by concern: smtp.c (these process stages),
 * smtp_session.c (one connection: state, read loop), smtp_cmd.c (the
 * command table and the commands), smtp_data.c (DATA, BDAT, delivery),
 * smtp_policy.c (limits, recipient checks, milters), smtp_reply.c (every
 * reply text); smtp_int.h is their private header. Command lines are parsed
 * by lib/proto/smtpparse.c. Trust: pre-auth. */
#ifndef SEALMAIL_SMTP_H
#define SEALMAIL_SMTP_H

#include <openssl/ssl.h>
#include <stdbool.h>

#include "sys/conf.h"
#include "sys/server.h"
#include "sys/conn.h"
#include "svc/deliver.h"
#include "base/buf.h"
#include "proto/smtpparse.h"

enum smtp_mode { SMTP_MODE_MX, SMTP_MODE_LMTP, SMTP_MODE_SUBMIT };

struct smtp_sess;
struct smtp_path;

/* Submission (RFC 6409, handlers/submitd/): the authenticated back runs the
 * engine's transaction with these hooks in place of the MX's recipient
 * resolution and delivery. */
struct smtp_submit_hooks {
	/* After MAIL's syntax and limits (s->from, s->mp set): true to go on;
	 * false: the refusal was sent. */
	bool (*mail)(struct smtp_sess *s, void *arg);
	/* A recipient: 1 a local one (its targets appended to s->targets with
	 * group = s->nrcpts), 2 a remote one (queued), 0 refused (reply sent). */
	int (*rcpt)(struct smtp_sess *s, const struct smtp_path *to, void *arg);
	/* The received message after the milters: check it, complete it,
	 * deliver and enqueue it, and send the one reply. */
	void (*message)(struct smtp_sess *s, void *arg);
	void *arg;
};

/* Errors (bad commands) after which the session is closed, as Postfix's
 * smtpd_hard_error_limit. */
#define SMTP_ERROR_LIMIT 20

struct smtp_server {
	enum smtp_mode mode;
	struct conf *conf;
	SSL_CTX *tls; /* NULL: no STARTTLS offered */
	struct deliver *deliver;
	const char *proto_name; /* for logs and titles: "smtpd", "lmtpd" */
	int state_fd;           /* state_dir, for the sandbox rules */
	bool tls_flag;          /* --tls: implicit TLS on fd 0/1 */
	bool accept_loop;       /* given listening sockets (Accept=no) */
	const struct smtp_submit_hooks *submit; /* SMTP_MODE_SUBMIT only */
};

/* The stages of main(), to be called in this order (DESIGN section 4,
 * CONVENTIONS 5). Each one is fatal on failure: the process exits 1 with the
 * reason logged, before it has served anyone. */

/* log -> config: start logging as "sealmail-<prog>" and load the
 * configuration the flags name into *srv (everything else zero or -1). */
void smtp_config(struct smtp_server *srv, const struct server_args *a, const char *prog,
                 enum smtp_mode mode);
/* open: the TLS key, the milter list (syntax only; milters are connected per
 * session), the users directory and state_dir as descriptors. directory.db
 * and Redis are not opened here: see smtp.c. */
void smtp_open(struct smtp_server *srv);
/* sandbox: for one connection (fd 0/1, or fd 3 of Accept=yes), the MX profile
 * now. For an accept loop, the children's MX rules are built now; the loop
 * enters the ACCEPT profile itself before its first accept, and each child
 * the MX profile right after its fork. */
void smtp_sandbox(struct smtp_server *srv);
/* serve: the connection, or the accept loop until SIGTERM. Returns the exit
 * status for main() (0 for a session that ended, client errors included). */
int smtp_serve(struct smtp_server *srv);
/* exit: release what smtp_config and smtp_open took. */
void smtp_close(struct smtp_server *srv);

/* The accept loop's reply to a connection over the per-source limit (RFC
 * 5321 section 3.8: 421, then close; 4.7.0 as Postfix's
 * smtpd_client_connection_count_limit), CRLF included, into buf. */
const char *smtp_reply_busy(const struct conf *c, char *buf, size_t n);

/* What submission's hooks see of the session's transaction
 * (smtp_session.c). */
const struct smtp_path *smtp_txn_from(const struct smtp_sess *s);
const struct smtp_mail_params *smtp_txn_params(const struct smtp_sess *s);
const char *smtp_txn_helo(const struct smtp_sess *s);
const char *smtp_txn_id(const struct smtp_sess *s); /* the session's queue id */
size_t smtp_txn_nrcpts(const struct smtp_sess *s);
/* Recipient i: false when a milter removed it. */
bool smtp_txn_rcpt(const struct smtp_sess *s, size_t i, const char **addr_r, unsigned *notify_r,
                   const char **orcpt_r, bool *remote_r);
/* The received message. */
const struct buf *smtp_txn_message(const struct smtp_sess *s);
/* The local delivery targets (grown by deliver_resolve). */
struct deliver_target **smtp_txn_targets(struct smtp_sess *s, size_t **n_r);
/* A refusal line (and its "reject" event naming stage), or any reply. */
void smtp_txn_refuse(struct smtp_sess *s, const char *line, const char *stage);
void smtp_txn_reply(struct smtp_sess *s, const char *line);
/* "250 2.0.0 Ok: queued as <id>". */
void smtp_txn_reply_queued(struct smtp_sess *s);
/* The engine's reply when local delivery failed without a reason. */
const char *smtp_txn_delivery_failed(void);

/* Serve one connection in a confined process; returns the exit status (0
 * for a session that ended, client errors included). */
int smtp_session(const struct smtp_server *srv, struct conn *c);
/* Submission after login: the session goes on from where the login front
 * left it (EHLO done with helo, AUTH accepted): no greeting, the READY
 * state, the client's pipelined bytes first. Returns as smtp_session. */
int smtp_session_resume(const struct smtp_server *srv, struct conn *c, const char *helo,
                        const void *pending, size_t npending);

#endif
