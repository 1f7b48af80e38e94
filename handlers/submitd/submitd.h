/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* submitd: message submission (RFC 6409) on ports 587 (STARTTLS, RFC
 * 3207) and 465 (implicit TLS, RFC 8314). Two processes per connection as
 * imapd: front.c is the pre-login front (EHLO, STARTTLS, AUTH PLAIN and
 * LOGIN with SASL-IR, RFC 4954); back.c authenticates through lib/login and
 * then runs the SMTP engine of handlers/smtpd/ in submission mode with the
 * policy and routing of submit.c. Trust: the front is pre-auth; the back
 * serves an authenticated user. */
#ifndef SEALMAIL_SUBMITD_H
#define SEALMAIL_SUBMITD_H

#include <stdbool.h>

#include "../smtpd/smtp.h"
#include "data/directory.h"
#include "login/login.h"

/* front.c */
int submitd_front(struct login_ctx *ctx);
/* back.c */
int submitd_back(int fd, void *arg);

/* submit.c: the back's per-session state for the engine's hooks. */
struct submitd {
	const struct conf *conf;
	struct deliver *deliver;
	struct directory *dir; /* read-only: sender ownership, local domains */
	int queue_fd;          /* state_dir/queue, or -1 */
	bool queue_ok;         /* queue_pk loaded */
	unsigned char queue_pk[AGE_KEY_LEN];
	char user[LOGIN_USER_MAX + 1];
	char user_id[33];
	bool tls; /* the client's connection is TLS (for Received) */
};

extern const struct smtp_submit_hooks submitd_hooks_template;

/* lmtp.c: one message for local recipients, through lmtpd. */
struct submitd_lmtp {
	const char *hostname; /* for LHLO */
	const char *from;
	enum smtp_body body;
	bool smtputf8;
	const char *const *rcpts; /* the RCPT addresses, as the client gave them */
	size_t nrcpts;
	const struct buf *prefix; /* Received and the added fields */
	const struct buf *msg;
};
/* NULL when lmtpd accepted it for every recipient (each copy sealed and
 * fsync'd); else the reply for the client (lmtpd's own refusal, in text[n],
 * or a static 451). */
const char *submitd_lmtp(const struct conf *c, const struct submitd_lmtp *m, char *text,
                         size_t n);

#endif
