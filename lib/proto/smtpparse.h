/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* SMTP/LMTP command-line parsing (RFC 5321 section 4.1, RFC 2033, RFC 1870,
 * RFC 6152, RFC 6531, RFC 3461, RFC 3030). Pure: no I/O, no globals, no
 * logging. Errors come back as complete reply lines ("501 5.5.4 ...") so that
 * every reply text lives here (syntax) or in the engine's smtp_reply.c
 * (handlers/smtpd). Trust: pre-auth input. */
#ifndef SEALMAIL_SMTPPARSE_H
#define SEALMAIL_SMTPPARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* RFC 5321 section 4.5.3.1.4 gives 512 octets for a command line; SMTP
 * extensions may raise it (RFC 1870 section 4, RFC 3461 section 4), and
 * Postfix accepts 2048. */
#define SMTP_CMD_LINE_MAX 2048
/* RFC 5321 section 4.5.3.1.3: a path is at most 256 octets including the
 * angle brackets; 4.5.3.1.1 local part 64; 4.5.3.1.2 domain 255. */
#define SMTP_PATH_MAX 256
#define SMTP_LOCAL_MAX 64
#define SMTP_DOMAIN_MAX 255
/* RFC 3461 section 4.4: ENVID at most 100 characters; ORCPT 500. */
#define SMTP_ENVID_MAX 100
#define SMTP_ORCPT_MAX 500

enum smtp_cmd {
	SMTP_CMD_UNKNOWN,
	SMTP_CMD_HELO,
	SMTP_CMD_EHLO,
	SMTP_CMD_LHLO,
	SMTP_CMD_MAIL,
	SMTP_CMD_RCPT,
	SMTP_CMD_DATA,
	SMTP_CMD_BDAT,
	SMTP_CMD_RSET,
	SMTP_CMD_NOOP,
	SMTP_CMD_QUIT,
	SMTP_CMD_VRFY,
	SMTP_CMD_EXPN,
	SMTP_CMD_HELP,
	SMTP_CMD_STARTTLS,
	SMTP_CMD_AUTH,
	SMTP_CMD_HTTP, /* GET/POST/CONNECT...: a web client or a cross-protocol attack */
};

struct smtp_command {
	enum smtp_cmd cmd;
	const char *name; /* upper-case name, static */
	const char *arg;  /* rest of the line after the verb and separating space; "" if none */
};

/* Split a command line (without CRLF). 1 known verb, 0 unknown verb. */
int smtpparse_command(const char *line, size_t len, struct smtp_command *out);

struct smtp_path {
	bool null;                     /* <> */
	bool utf8;                     /* contains non-ASCII (needs SMTPUTF8) */
	bool domainless;               /* <Postmaster> without a domain (RFC 5321 4.5.1) */
	char addr[SMTP_PATH_MAX + 1];  /* local@domain, source route removed, quotes kept */
	char local[SMTP_LOCAL_MAX * 2 + 3];
	char domain[SMTP_DOMAIN_MAX + 1];
};

enum smtp_body { SMTP_BODY_UNSET, SMTP_BODY_7BIT, SMTP_BODY_8BITMIME, SMTP_BODY_BINARYMIME };
enum smtp_ret { SMTP_RET_UNSET, SMTP_RET_FULL, SMTP_RET_HDRS };
#define SMTP_NOTIFY_NEVER 1u
#define SMTP_NOTIFY_SUCCESS 2u
#define SMTP_NOTIFY_FAILURE 4u
#define SMTP_NOTIFY_DELAY 8u

struct smtp_mail_params {
	bool size_set;
	uint64_t size;
	enum smtp_body body;
	bool smtputf8;
	enum smtp_ret ret;
	char envid[SMTP_ENVID_MAX + 1];
	char auth[SMTP_PATH_MAX + 3]; /* AUTH= (RFC 4954 section 5), xtext-decoded */
};

struct smtp_rcpt_params {
	unsigned notify;
	char orcpt[SMTP_ORCPT_MAX + 1];
};

/* Parse the argument of MAIL ("FROM:<path> params") / RCPT ("TO:<path>
 * params"). 1 ok; -1 with *reply_r a complete static reply line. A space
 * after the colon is tolerated, as Postfix and most servers do. */
int smtpparse_mail(const char *arg, struct smtp_path *path, struct smtp_mail_params *p,
		   const char **reply_r);
int smtpparse_rcpt(const char *arg, struct smtp_path *path, struct smtp_rcpt_params *p,
		   const char **reply_r);
/* Parse a path "<...>" (with optional source route) from s; on success
 * *end_r points after '>'. 1 ok, -1 with *reply_r. allow_null: "<>" ok. */
int smtpparse_path(const char *s, bool allow_null, struct smtp_path *path, const char **end_r,
		   const char **reply_r);
/* BDAT argument: "SIZE [LAST]". 1 ok, -1 with *reply_r. */
int smtpparse_bdat(const char *arg, uint64_t *size_r, bool *last_r, const char **reply_r);
/* EHLO/HELO/LHLO argument: a domain or an address literal. */
bool smtpparse_helo_ok(const char *arg);
/* xtext (RFC 3461 section 4): 1 ok, 0 bad; out is NUL-terminated. */
int smtpparse_xtext_decode(const char *in, size_t len, char *out, size_t outsz);

/* DATA decoding (RFC 5321 section 4.5.2 dot-stuffing, 4.1.1.4 end of data).
 * Only CRLF "." CRLF ends the data: a bare LF or CR anywhere makes the
 * message invalid (SMTP smuggling defence) but does not end it. */
enum smtp_data_state { SMTP_DATA_LINESTART, SMTP_DATA_DOT, SMTP_DATA_DOTCR, SMTP_DATA_TEXT,
		       SMTP_DATA_CR };
struct smtp_data {
	enum smtp_data_state st;
	uint64_t max;      /* bytes of message kept at most */
	uint64_t total;    /* decoded bytes seen (also past max) */
	bool bare_lf, bare_cr;
	bool done;
};
struct buf;
void smtp_data_init(struct smtp_data *d, uint64_t max);
/* Feed received bytes; decoded bytes are appended to out while total <= max.
 * Returns the number of input bytes used; when the terminator was seen,
 * d->done is set and the bytes after it are left unused. */
size_t smtp_data_feed(struct smtp_data *d, const unsigned char *in, size_t len, struct buf *out);
/* Check a complete message (BDAT) for bare CR or LF: true if clean. */
bool smtp_data_clean(const unsigned char *msg, size_t len);

#endif
