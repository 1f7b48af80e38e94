/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* The SMTP engine shared by smtpd (MX, RFC 5321), lmtpd (RFC 2033) and
 * submitd: one session on one connection. Extensions: PIPELINING (RFC 2920),
 * SIZE (RFC 1870), 8BITMIME (RFC 6152), SMTPUTF8 (RFC 6531),
 * ENHANCEDSTATUSCODES (RFC 2034, RFC 3463), CHUNKING (RFC 3030), DSN
 * parameters (RFC 3461), STARTTLS (RFC 3207). Trust: pre-auth. */
#ifndef SEALMAIL_SMTP_H
#define SEALMAIL_SMTP_H

#include <openssl/ssl.h>

#include "sys/conf.h"
#include "sys/conn.h"
#include "svc/deliver.h"

enum smtp_mode { SMTP_MODE_MX, SMTP_MODE_LMTP };

/* Errors (bad commands) after which the session is closed, as Postfix's
 * smtpd_hard_error_limit. */
#define SMTP_ERROR_LIMIT 20

struct smtp_server {
	enum smtp_mode mode;
	const struct conf *conf;
	SSL_CTX *tls;          /* NULL: no STARTTLS offered */
	struct deliver *deliver;
	const char *proto_name; /* for logs: "smtpd", "lmtpd" */
	int state_fd;           /* state_dir, for the sandbox rules */
};

/* Serve one connection; returns the exit status (0 for a session that ended,
 * client errors included). */
int smtp_session(const struct smtp_server *srv, struct conn *c);

/* main() of smtpd and lmtpd: log -> config -> open (TLS key, directory,
 * users dir) -> warm -> sandbox -> serve. */
int smtp_main(int argc, char **argv, const char *prog, enum smtp_mode mode);

#endif
