/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* The outbound SMTP client (RFC 5321) of queued's delivery children: one
 * connection to one address, EHLO (HELO when EHLO is refused), opportunistic
 * STARTTLS (RFC 3207; no certificate check: RFC 7435 opportunistic security,
 * what was negotiated is recorded), MAIL FROM with SIZE/BODY/SMTPUTF8, one
 * RCPT per recipient with its own result, DATA with dot-stuffing or BDAT
 * when CHUNKING is offered (RFC 3030), PIPELINING when offered (RFC 2920),
 * QUIT. Every read is bounded: reply lines at SMTPC_LINE_MAX, replies at
 * SMTPC_REPLY_LINES_MAX lines, each wait by RFC 5321 section 4.5.3.2.
 * Trust: everything read comes from the network (a remote MX). */
#ifndef SEALMAIL_SMTPCLIENT_H
#define SEALMAIL_SMTPCLIENT_H

#include <netinet/in.h>
#include <openssl/ssl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "proto/smtpparse.h"

/* RFC 5321 section 4.5.3.1.5 makes 512 octets the least a reply line may
 * be; real servers send longer ones, so more is read but no more is kept. */
#define SMTPC_LINE_MAX        2048
#define SMTPC_REPLY_LINES_MAX 100 /* an EHLO reply lists a few dozen at most */
#define SMTPC_TEXT_MAX        400 /* reply text kept (the first line) */

struct smtpc_reply {
	int code;                      /* 200..599; 0 while incomplete */
	char enh[16];                  /* RFC 3463 enhanced code ("5.1.1"), "" if none */
	char text[SMTPC_TEXT_MAX + 1]; /* first line's text after the code (and enh) */
	size_t lines;
};

/* Feed one reply line (without CRLF) into r (zeroed before its first line):
 * 1 the reply is complete, 0 more lines follow, -1 malformed (no 3-digit
 * code in 200..599, another code than the first line's, a separator other
 * than ' ' or '-', a NUL, or more than SMTPC_REPLY_LINES_MAX lines). Pure. */
int smtpc_reply_feed(struct smtpc_reply *r, const char *line, size_t len);

/* EHLO keywords the client uses (RFC 5321 section 4.1.1.1). */
#define SMTPC_EXT_PIPELINING (1u << 0)
#define SMTPC_EXT_STARTTLS   (1u << 1)
#define SMTPC_EXT_SIZE       (1u << 2)
#define SMTPC_EXT_8BITMIME   (1u << 3)
#define SMTPC_EXT_SMTPUTF8   (1u << 4)
#define SMTPC_EXT_CHUNKING   (1u << 5)
#define SMTPC_EXT_BINARYMIME (1u << 6)
#define SMTPC_EXT_DSN        (1u << 7)
/* One EHLO reply line's text (after "250-"/"250 "): the bit it names, and
 * the SIZE limit into *size_r (0 = no limit given). Pure. */
unsigned smtpc_ehlo_keyword(const char *text, uint64_t *size_r);

struct smtpc_opts {
	const char *helo; /* our host name */
	SSL_CTX *tls;     /* NULL: never STARTTLS */
	const char *sni;  /* server name for SNI, or NULL */
	int connect_timeout_ms;
	/* 0: RFC 5321 section 4.5.3.2's values (5 min for the greeting, MAIL,
	 * RCPT; 2 min DATA; 3 min per data block; 10 min after the final dot).
	 * Tests set a smaller one that caps every wait. */
	int timeout_cap_ms;
};

struct smtpc_msg {
	const unsigned char *data; /* the message, LF or CRLF line ends */
	size_t len;
	const char *from; /* "" is the null sender */
	enum smtp_body body;
	bool smtputf8;
	const char *envid; /* RFC 3461, passed on when the server has DSN */
	enum smtp_ret ret;
	size_t nrcpt;
	const char *const *rcpt;
	const unsigned *notify;   /* per recipient, SMTP_NOTIFY_* (0: none) */
	const char *const *orcpt; /* per recipient, "" none */
};

/* What one connection did. rcpt[i] is each recipient's outcome: a reply
 * code 2xx (accepted after the end of data), 4xx or 5xx with its text, or
 * 0 when no outcome was reached (the connection failed before RCPT: the
 * caller tries the next address). */
struct smtpc_result {
	bool connected;
	bool tls;                        /* STARTTLS succeeded */
	bool tls_failed;                 /* STARTTLS offered but the handshake failed */
	char tls_desc[96];               /* "TLSv1.3 TLS_AES_256_GCM_SHA384" */
	char error[SMTPC_TEXT_MAX + 64]; /* connection-level error, "" if none */
	struct smtpc_reply *rcpt;        /* nrcpt entries, zeroed by the caller */
};

/* Deliver msg over one connection to addr (port in it). 0 when the session
 * reached RCPT (every rcpt[] entry then has a code), -1 when it did not
 * (res->error says why; no recipient has an outcome). With opts->tls set
 * and STARTTLS offered, a failed handshake returns -1 with tls_failed: the
 * caller may try once more in plaintext (RFC 7435 section 3). */
int smtpc_deliver(const struct sockaddr *addr, socklen_t addrlen, const struct smtpc_opts *opts,
                  const struct smtpc_msg *msg, struct smtpc_result *res);

#endif
