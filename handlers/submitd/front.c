/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* The pre-login front of submitd: greeting, EHLO/HELO, STARTTLS (RFC 3207),
 * AUTH PLAIN (RFC 4616) and LOGIN with an initial response (RFC 4954),
 * NOOP, RSET, QUIT. Everything else is refused until login (530 5.7.0, RFC
 * 4954 section 6). Credentials go to the back with the EHLO name as the
 * login tag; after 235 this process only relays (TLS) or leaves (plaintext
 * hand-over). Trust: pre-auth; this file parses everything an
 * unauthenticated client sends (commands through lib/proto/smtpparse.c). */
#include <inttypes.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "base/codec.h"
#include "proto/smtpparse.h"
#include "sys/io.h"
#include "sys/log.h"
#include "sys/server.h"
#include "sys/title.h"
#include "submitd.h"

#define FRONT_MAX_FAILURES    3
#define FRONT_AUTH_TIMEOUT_MS 120000
#define FRONT_ERRORS_MAX      10
/* A SASL response line: PLAIN's user and secret in base64, and slack. */
#define FRONT_SASL_LINE_MAX (((LOGIN_USER_MAX * 2 + LOGIN_SECRET_MAX + 2) / 3 + 1) * 4 + 16)

struct front {
	struct login_ctx *ctx;
	struct io io;
	char helo[SMTP_DOMAIN_MAX + 1]; /* "" until EHLO/HELO */
	bool esmtp;
	unsigned failures, errors;
};

static void front_title(struct front *f, const char *state)
{
	title_set("%s %s", f->ctx->conn->remote, state);
	log_event(LOG_DEBUG, "state", "STATE", state, NULL);
}

static bool front_plaintext_ok(const struct front *f)
{
	return login_plaintext_ok(f->ctx, &f->io);
}

static void front_ehlo_reply(struct front *f)
{
	const struct conf *c = f->ctx->conf;
	if (!f->esmtp) {
		io_printf(&f->io, "250 %s\r\n", c->hostname);
		return;
	}
	/* The extensions of the transaction (the back's engine) and, before
	 * login, STARTTLS and AUTH; AUTH only where a password may travel
	 * (RFC 4954 section 4, as Postfix's smtpd_tls_auth_only). */
	io_printf(&f->io, "250-%s\r\n250-PIPELINING\r\n250-SIZE %" PRIu64 "\r\n", c->hostname,
	          c->max_message_size);
	if (f->ctx->tls != NULL && !io_is_tls(&f->io))
		io_puts(&f->io, "250-STARTTLS\r\n");
	if (front_plaintext_ok(f))
		io_puts(&f->io, "250-AUTH PLAIN LOGIN\r\n");
	io_puts(&f->io, "250-ENHANCEDSTATUSCODES\r\n250-8BITMIME\r\n250-DSN\r\n250-CHUNKING\r\n"
	                "250 SMTPUTF8\r\n");
}

/* 1 logged in, 0 go on, -1 end. */
static int front_login(struct front *f, const char *user, size_t ulen, const char *pw, size_t plen)
{
	if (ulen == 0 || ulen > LOGIN_USER_MAX || plen > LOGIN_SECRET_MAX ||
	    memchr(user, '\0', ulen) != NULL || memchr(pw, '\0', plen) != NULL) {
		io_puts(&f->io, "535 5.7.8 Error: authentication credentials invalid\r\n");
		return 0;
	}
	if (io_flush(&f->io) < 0)
		return -1;
	int a = login_attempt(f->ctx, &f->io, user, ulen, pw, plen, f->helo, FRONT_AUTH_TIMEOUT_MS);
	if (a == LOGIN_OK) {
		io_puts(&f->io, "235 2.7.0 Authentication successful\r\n");
		return io_flush(&f->io) < 0 ? -1 : 1;
	}
	if (a == LOGIN_TEMPFAIL) {
		io_puts(&f->io, "454 4.7.0 Error: temporary authentication failure\r\n");
		return 0;
	}
	if (a != LOGIN_FAIL)
		return -1;
	if (f->ctx->conf->auth_fail_delay_ms > 0)
		usleep((useconds_t)f->ctx->conf->auth_fail_delay_ms * 1000);
	io_puts(&f->io, "535 5.7.8 Error: authentication credentials invalid\r\n");
	if (++f->failures >= FRONT_MAX_FAILURES) {
		io_puts(&f->io, "421 4.7.0 Error: too many failed authentications\r\n");
		io_flush(&f->io);
		return -1;
	}
	return 0;
}

/* Read one SASL response line after a 334 challenge into raw (base64
 * decoded, wiped by the caller). 1 read, 0 cancelled or bad (reply sent),
 * -1 end. */
static int front_sasl_read(struct front *f, const char *challenge, const char *ir,
                           struct buf *raw)
{
	char *line = NULL;
	size_t len = 0;
	if (ir == NULL) {
		io_printf(&f->io, "334 %s\r\n", challenge);
		if (io_flush(&f->io) < 0)
			return -1;
		int r = io_read_line(&f->io, &line, &len, FRONT_SASL_LINE_MAX);
		if (r <= 0) {
			if (r < 0 && f->io.err == IO_TOOLONG) {
				io_puts(&f->io, "500 5.5.6 Error: authentication exchange line too long\r\n");
				return 0;
			}
			return -1;
		}
		ir = line;
	} else {
		len = strlen(ir);
	}
	int rc = 1;
	if (len == 1 && ir[0] == '*') {
		io_puts(&f->io, "501 5.7.0 Error: authentication cancelled\r\n");
		rc = 0;
	} else if (!(len == 1 && ir[0] == '=') &&
	           codec_b64_decode(ir, len, CODEC_B64_STD, CODEC_PAD_REQUIRED, CODEC_STRICT, raw) <
	               0) {
		io_puts(&f->io, "501 5.5.2 Error: invalid base64 data\r\n");
		rc = 0;
	}
	if (line != NULL)
		sodium_memzero(line, len);
	return rc;
}

static int front_auth_plain(struct front *f, const char *ir)
{
	char *line = NULL;
	size_t len = 0;
	if (ir == NULL) {
		io_puts(&f->io, "334 \r\n");
		if (io_flush(&f->io) < 0)
			return -1;
		int r = io_read_line(&f->io, &line, &len, FRONT_SASL_LINE_MAX);
		if (r <= 0) {
			if (r < 0 && f->io.err == IO_TOOLONG) {
				io_puts(&f->io, "500 5.5.6 Error: authentication exchange line too long\r\n");
				return 0;
			}
			return -1;
		}
		ir = line;
	} else {
		len = strlen(ir);
	}
	struct buf raw = BUF_INIT;
	const char *user = NULL, *pw = NULL;
	size_t ulen = 0, plen = 0;
	int rc = 0;
	switch (login_sasl_plain(ir, len, &raw, &user, &ulen, &pw, &plen)) {
	case LOGIN_PLAIN_OK:
		rc = front_login(f, user, ulen, pw, plen);
		break;
	case LOGIN_PLAIN_CANCEL:
		io_puts(&f->io, "501 5.7.0 Error: authentication cancelled\r\n");
		break;
	case LOGIN_PLAIN_BAD_B64:
		io_puts(&f->io, "501 5.5.2 Error: invalid base64 data\r\n");
		break;
	case LOGIN_PLAIN_MALFORMED:
	case LOGIN_PLAIN_AUTHZID:
		io_puts(&f->io, "535 5.7.8 Error: authentication credentials invalid\r\n");
		break;
	}
	buf_wipe(&raw);
	if (line != NULL)
		sodium_memzero(line, len);
	return rc;
}

/* AUTH LOGIN (draft-murchison-sasl-login): user, then password, each
 * base64 after its own 334; an initial response is the user. */
static int front_auth_login(struct front *f, const char *ir)
{
	struct buf user = BUF_INIT, pw = BUF_INIT;
	int r = front_sasl_read(f, "VXNlcm5hbWU6", ir, &user); /* "Username:" */
	if (r > 0)
		r = front_sasl_read(f, "UGFzc3dvcmQ6", NULL, &pw); /* "Password:" */
	if (r > 0)
		r = front_login(f, user.len ? (const char *)user.data : "", user.len,
		                pw.len ? (const char *)pw.data : "", pw.len);
	buf_wipe(&user);
	buf_wipe(&pw);
	return r;
}

static int front_auth(struct front *f, char *arg)
{
	if (f->helo[0] == '\0') {
		io_puts(&f->io, "503 5.5.1 Error: send EHLO first\r\n");
		return 0;
	}
	if (!front_plaintext_ok(f)) {
		/* RFC 4954 section 6: 538 5.7.11, encryption required. */
		io_puts(&f->io, "538 5.7.11 Error: encryption required for requested authentication "
		                "mechanism\r\n");
		return 0;
	}
	char *mech = arg, *ir = strchr(arg, ' ');
	if (ir != NULL) {
		*ir++ = '\0';
		while (*ir == ' ')
			ir++;
	}
	if (strcasecmp(mech, "PLAIN") == 0)
		return front_auth_plain(f, ir);
	if (strcasecmp(mech, "LOGIN") == 0)
		return front_auth_login(f, ir);
	io_puts(&f->io, "504 5.5.4 Error: unsupported authentication mechanism\r\n");
	return 0;
}

static int front_starttls(struct front *f, const char *arg)
{
	if (f->ctx->tls == NULL || io_is_tls(&f->io)) {
		io_puts(&f->io, io_is_tls(&f->io) ? "503 5.5.1 Error: TLS already active\r\n"
		                                  : "502 5.5.1 Error: STARTTLS not available\r\n");
		return 0;
	}
	if (arg[0] != '\0') {
		io_puts(&f->io, "501 5.5.4 Error: syntax: STARTTLS\r\n");
		return 0;
	}
	io_puts(&f->io, "220 2.0.0 Ready to start TLS\r\n");
	if (server_starttls(&f->io, f->ctx->tls) < 0)
		return -1;
	/* RFC 3207 section 4.2: forget everything learnt before TLS. */
	f->helo[0] = '\0';
	f->esmtp = false;
	return 0;
}

/* One command: 1 logged in, 0 go on, -1 end. AUTH lines are wiped. */
static int front_command(struct front *f, char *line, size_t len)
{
	struct smtp_command c;
	if (strlen(line) != len || smtpparse_command(line, len, &c) != 1) {
		f->errors++;
		io_puts(&f->io, "500 5.5.2 Error: command not recognized\r\n");
		return 0;
	}
	switch (c.cmd) {
	case SMTP_CMD_EHLO:
	case SMTP_CMD_HELO:
		if (!smtpparse_helo_ok(c.arg)) {
			f->errors++;
			io_puts(&f->io, "501 5.5.4 Error: syntax: EHLO hostname\r\n");
			return 0;
		}
		/* Bounded by the check to SMTP_DOMAIN_MAX: never cut. */
		snprintf(f->helo, sizeof(f->helo), "%s", c.arg);
		f->esmtp = c.cmd == SMTP_CMD_EHLO;
		front_ehlo_reply(f);
		return 0;
	case SMTP_CMD_STARTTLS:
		return front_starttls(f, c.arg);
	case SMTP_CMD_AUTH: {
		int r = front_auth(f, (char *)c.arg);
		sodium_memzero(line, len);
		return r;
	}
	case SMTP_CMD_NOOP:
	case SMTP_CMD_RSET:
		io_puts(&f->io, "250 2.0.0 Ok\r\n");
		return 0;
	case SMTP_CMD_QUIT:
		io_printf(&f->io, "221 2.0.0 %s closing connection\r\n", f->ctx->conf->hostname);
		io_flush(&f->io);
		return -1;
	case SMTP_CMD_HTTP:
		log_event(LOG_NOTICE, "reject", "STAGE", "command", "REASON",
		          "HTTP command on SMTP port", NULL);
		return -1;
	case SMTP_CMD_BDAT:
		/* Its chunk would follow and be read as commands: end here. */
		io_puts(&f->io, "530 5.7.0 Error: authentication required\r\n");
		io_flush(&f->io);
		return -1;
	default:
		f->errors++;
		log_event(LOG_NOTICE, "reject", "STAGE", "auth", "REASON", "command before login",
		          NULL);
		io_puts(&f->io, "530 5.7.0 Error: authentication required\r\n");
		return 0;
	}
}

/* Read and answer commands until login (1) or the end (0). */
static int front_loop(struct front *f)
{
	for (;;) {
		if (io_pending(&f->io) == 0 && io_flush(&f->io) < 0)
			return 0;
		char *line;
		size_t len;
		int r = io_read_line(&f->io, &line, &len, SMTP_CMD_LINE_MAX);
		if (r == 0)
			return 0;
		if (r < 0) {
			if (f->io.err == IO_TIMEOUT) {
				io_puts(&f->io, "421 4.4.2 Error: timeout exceeded\r\n");
				io_flush(&f->io);
				log_event(LOG_NOTICE, "disconnect", "REASON",
				          io_limit_name(f->io.expired), NULL);
				return 0;
			}
			if (f->io.err != IO_TOOLONG && f->io.err != IO_BARELF &&
			    f->io.err != IO_BARECR)
				return 0;
			io_puts(&f->io, "500 5.5.2 Error: bad command line\r\n");
			f->errors++;
		} else {
			r = front_command(f, line, len);
			if (r != 0)
				return r > 0 ? 1 : 0;
		}
		if (f->errors >= FRONT_ERRORS_MAX) {
			io_puts(&f->io, "421 4.7.0 Error: too many errors\r\n");
			io_flush(&f->io);
			return 0;
		}
	}
}

int submitd_front(struct login_ctx *ctx)
{
	struct front f;
	memset(&f, 0, sizeof(f));
	f.ctx = ctx;
	/* The login timeout bounds the time from connect to login; each line
	 * also has smtpd.command_timeout. */
	uint64_t timeout = ctx->conf->imapd_login_timeout_ms;
	io_init(&f.io, ctx->conn->rfd, ctx->conn->wfd, (int)timeout);
	io_set_deadline(&f.io, (int64_t)timeout);
	io_set_line_deadline(&f.io, (int)ctx->conf->smtpd_command_timeout_ms);
	front_title(&f, "pre-auth");
	log_event(LOG_INFO, "connect", "PROTO", "submission", NULL);
	if (ctx->conn->implicit_tls &&
	    (ctx->tls == NULL || io_starttls(&f.io, ctx->tls, NULL) < 0)) {
		log_event(LOG_NOTICE, "tls-fail", "REASON",
		          ctx->tls ? io_strerror(f.io.err) : "no certificate configured", NULL);
		goto out;
	}
	io_printf(&f.io, "220 %s ESMTP sealmail\r\n", ctx->conf->hostname);
	if (front_loop(&f) == 1) {
		io_set_deadline(&f.io, 0);
		io_set_line_deadline(&f.io, 0);
		if (!ctx->handoff)
			front_title(&f, "relay");
		login_continue(ctx, &f.io);
	}
	io_flush(&f.io);
out:
	io_cleanup(&f.io);
	return 0;
}
