/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* The pre-auth front of imapd (RFC 3501 section 6.1 and 6.2): greeting,
 * CAPABILITY, NOOP, LOGOUT, ID, STARTTLS, LOGIN, AUTHENTICATE PLAIN (RFC
 * 4616) with SASL-IR (RFC 4959). Credentials go to the back process; after
 * a successful login this process only relays bytes. Trust: pre-auth; this
 * file parses everything an unauthenticated client sends. */
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "sys/conn.h"
#include "imapd.h"
#include "proto/imapparse.h"
#include "sys/io.h"
#include "sys/log.h"
#include "sys/server.h"
#include "login/login.h"

/* Pre-auth limits: nothing a client needs before login is large. */
#define FRONT_MAX_LINE        8192
#define FRONT_MAX_LITERAL     LOGIN_SECRET_MAX
#define FRONT_MAX_FAILURES    3
#define FRONT_AUTH_TIMEOUT_MS 120000

struct front {
	struct login_ctx *ctx;
	struct io io;
	struct imapparse *parser;
	unsigned failures;
};

static bool front_plaintext_ok(const struct front *f)
{
	return login_plaintext_ok(f->ctx, &f->io);
}

static void front_caps(struct front *f, struct buf *out)
{
	buf_append_str(out, "IMAP4rev1 SASL-IR LITERAL+ ID ENABLE IDLE");
	if (f->ctx->tls != NULL && !io_is_tls(&f->io))
		buf_append_str(out, " STARTTLS");
	if (front_plaintext_ok(f))
		buf_append_str(out, " AUTH=PLAIN");
	else
		buf_append_str(out, " LOGINDISABLED");
}

static void front_reply(struct front *f, const char *tag, const char *text)
{
	io_printf(&f->io, "%s %s\r\n", tag, text);
}

/* Hand the credentials to the back and act on its answer. Returns 1 when
 * logged in (relay now), 0 to go on pre-auth, -1 to end. */
static int front_login(struct front *f, const char *tag, const char *user, size_t ulen,
                       const char *pw, size_t plen)
{
	if (ulen == 0 || ulen > LOGIN_USER_MAX || plen > LOGIN_SECRET_MAX ||
	    memchr(user, '\0', ulen) != NULL || memchr(pw, '\0', plen) != NULL) {
		front_reply(f, tag, "NO [AUTHENTICATIONFAILED] Authentication failed.");
		return 0;
	}
	if (io_flush(&f->io) < 0)
		return -1;
	int a = login_attempt(f->ctx, &f->io, user, ulen, pw, plen, tag, FRONT_AUTH_TIMEOUT_MS);
	if (a == LOGIN_OK)
		return 1;
	if (a == LOGIN_TEMPFAIL) {
		front_reply(f, tag, "NO [UNAVAILABLE] Temporary server failure, try again later.");
		return 0;
	}
	if (a != LOGIN_FAIL)
		return -1;
	/* RFC 3501 section 7.1: we wait before answering a failed login to slow
	 * down guessing (the back's KDF already costs tens of ms). */
	if (f->ctx->conf->auth_fail_delay_ms > 0)
		usleep((useconds_t)f->ctx->conf->auth_fail_delay_ms * 1000);
	front_reply(f, tag, "NO [AUTHENTICATIONFAILED] Authentication failed.");
	if (++f->failures >= FRONT_MAX_FAILURES) {
		io_puts(&f->io, "* BYE Too many invalid authentication attempts.\r\n");
		io_flush(&f->io);
		log_event(LOG_NOTICE, "disconnect", "REASON", "too many failed logins", NULL);
		return -1;
	}
	return 0;
}

static int front_cmd_login(struct front *f, const struct imapparse_cmd *c)
{
	if (!front_plaintext_ok(f)) {
		front_reply(
		    f, c->tag,
		    "NO [PRIVACYREQUIRED] Plaintext authentication disallowed without TLS.");
		return 0;
	}
	const char *user = c->count == 2 ? imapparse_arg_astring(&c->args[0]) : NULL;
	const char *pw = c->count == 2 ? imapparse_arg_astring(&c->args[1]) : NULL;
	if (user == NULL || pw == NULL) {
		front_reply(f, c->tag, "BAD Syntax: LOGIN userid password");
		return 0;
	}
	return front_login(f, c->tag, user, c->args[0].len, pw, c->args[1].len);
}

static int front_sasl_plain(struct front *f, const char *tag, const char *b64, size_t len)
{
	struct buf raw = BUF_INIT;
	const char *user = NULL, *pw = NULL;
	size_t ulen = 0, plen = 0;
	int rc = 0;
	switch (login_sasl_plain(b64, len, &raw, &user, &ulen, &pw, &plen)) {
	case LOGIN_PLAIN_OK:
		rc = front_login(f, tag, user, ulen, pw, plen);
		break;
	case LOGIN_PLAIN_CANCEL:
		front_reply(f, tag, "BAD AUTHENTICATE cancelled.");
		break;
	case LOGIN_PLAIN_BAD_B64:
		front_reply(f, tag, "BAD Invalid base64 data.");
		break;
	case LOGIN_PLAIN_MALFORMED:
		front_reply(f, tag, "BAD Malformed PLAIN response.");
		break;
	case LOGIN_PLAIN_AUTHZID:
		front_reply(f, tag, "NO [AUTHORIZATIONFAILED] Authorization identity refused.");
		break;
	}
	buf_wipe(&raw);
	return rc;
}

static int front_cmd_authenticate(struct front *f, const struct imapparse_cmd *c)
{
	if (c->count < 1 || c->count > 2 || c->args[0].type != IMAPPARSE_ATOM) {
		front_reply(f, c->tag, "BAD Syntax: AUTHENTICATE mechanism [initial-response]");
		return 0;
	}
	if (!imapparse_arg_is_atom(&c->args[0], "PLAIN")) {
		front_reply(f, c->tag, "NO [CANNOT] Unsupported authentication mechanism.");
		return 0;
	}
	if (!front_plaintext_ok(f)) {
		front_reply(
		    f, c->tag,
		    "NO [PRIVACYREQUIRED] Plaintext authentication disallowed without TLS.");
		return 0;
	}
	char tag[LOGIN_TAG_MAX + 1];
	snprintf(tag, sizeof(tag), "%s", c->tag);
	if (c->count == 2) {
		/* RFC 4959: SASL-IR; "=" is an empty initial response. */
		const struct imapparse_arg *ir = &c->args[1];
		if (ir->type != IMAPPARSE_ATOM) {
			front_reply(f, tag, "BAD Invalid initial response.");
			return 0;
		}
		if (ir->len == 1 && ir->str[0] == '=')
			return front_sasl_plain(f, tag, "", 0);
		return front_sasl_plain(f, tag, ir->str, ir->len);
	}
	io_puts(&f->io, "+ \r\n");
	if (io_flush(&f->io) < 0)
		return -1;
	char *line;
	size_t len;
	int r = io_read_line(&f->io, &line, &len, FRONT_MAX_LINE);
	if (r <= 0) {
		if (r < 0 && f->io.err == IO_TOOLONG) {
			front_reply(f, tag, "BAD Response too long.");
			return 0;
		}
		return -1;
	}
	int rc = front_sasl_plain(f, tag, line, len);
	sodium_memzero(line, len);
	return rc;
}

static int front_cmd_starttls(struct front *f, const struct imapparse_cmd *c)
{
	if (f->ctx->tls == NULL || io_is_tls(&f->io)) {
		front_reply(f, c->tag,
		            io_is_tls(&f->io) ? "BAD TLS is already active."
		                              : "BAD STARTTLS not available.");
		return 0;
	}
	if (c->count != 0) {
		front_reply(f, c->tag, "BAD Syntax: STARTTLS");
		return 0;
	}
	front_reply(f, c->tag, "OK Begin TLS negotiation now.");
	/* RFC 3501 section 6.2.1: the client must not pipeline after STARTTLS;
	 * whatever it did is discarded, never executed inside TLS. */
	if (server_starttls(&f->io, f->ctx->tls) < 0)
		return -1;
	return 0;
}

static void front_id(struct front *f, const struct imapparse_cmd *c)
{
	/* RFC 2971: the client's ID is logged (escaped), ours is sent. */
	if (c->count != 1 ||
	    (c->args[0].type != IMAPPARSE_LIST && c->args[0].type != IMAPPARSE_NIL)) {
		front_reply(f, c->tag, "BAD Syntax: ID ( field value ... ) or ID NIL");
		return;
	}
	io_puts(&f->io, "* ID (\"name\" \"sealmail\" \"version\" \"" SEALMAIL_VERSION "\")\r\n");
	front_reply(f, c->tag, "OK ID completed.");
}

/* One command: 1 logged in, 0 go on, -1 end. */
static int front_command(struct front *f, const struct imapparse_cmd *c)
{
	const char *n = c->name;
	if (c->uid) {
		front_reply(f, c->tag, "BAD Log in first.");
		return 0;
	}
	if (strcmp(n, "CAPABILITY") == 0) {
		struct buf caps = BUF_INIT;
		front_caps(f, &caps);
		io_printf(&f->io, "* CAPABILITY %s\r\n", buf_cstr(&caps));
		buf_free(&caps);
		front_reply(f, c->tag, "OK Capability completed.");
		return 0;
	}
	if (strcmp(n, "NOOP") == 0) {
		front_reply(f, c->tag, "OK NOOP completed.");
		return 0;
	}
	if (strcmp(n, "LOGOUT") == 0) {
		io_puts(&f->io, "* BYE Logging out\r\n");
		front_reply(f, c->tag, "OK Logout completed.");
		io_flush(&f->io);
		return -1;
	}
	if (strcmp(n, "ID") == 0) {
		front_id(f, c);
		return 0;
	}
	if (strcmp(n, "STARTTLS") == 0)
		return front_cmd_starttls(f, c);
	if (strcmp(n, "LOGIN") == 0)
		return front_cmd_login(f, c);
	if (strcmp(n, "AUTHENTICATE") == 0)
		return front_cmd_authenticate(f, c);
	front_reply(f, c->tag, "BAD Command unknown or not allowed before login.");
	return 0;
}

/* Read one command with its literals: 1 command, 0 error replied, -1 end. */
static int front_read_command(struct front *f, const struct imapparse_cmd **c_r)
{
	char *line;
	size_t len;
	for (;;) {
		if (io_pending(&f->io) == 0 && io_flush(&f->io) < 0)
			return -1;
		int r = io_read_line(&f->io, &line, &len, FRONT_MAX_LINE);
		if (r == 0)
			return -1;
		if (r < 0) {
			if (f->io.err == IO_TOOLONG) {
				io_puts(&f->io, "* BAD [TOOBIG] Line too long.\r\n");
				imapparse_reset(f->parser);
				return 0;
			}
			if (f->io.err == IO_BARELF || f->io.err == IO_BARECR) {
				/* Lenient on line ends before login is pointless:
				 * clients send CRLF (RFC 3501 section 2.2). */
				io_puts(&f->io, "* BAD Lines must end with CRLF.\r\n");
				imapparse_reset(f->parser);
				return 0;
			}
			if (f->io.err == IO_TIMEOUT) {
				io_puts(&f->io, "* BYE Disconnected for inactivity.\r\n");
				io_flush(&f->io);
			}
			return -1;
		}
		r = imapparse_feed_line(f->parser, line, len);
		while (r == 0) {
			struct imapparse_literal lit;
			if (!imapparse_literal(f->parser, &lit))
				return -1;
			if (lit.sync) {
				io_puts(&f->io, "+ Ready for literal data\r\n");
				if (io_flush(&f->io) < 0)
					return -1;
			}
			while (lit.remaining > 0) {
				unsigned char *p;
				ssize_t k = io_peek(&f->io, &p);
				if (k <= 0)
					return -1;
				size_t used;
				int lr = imapparse_feed_literal(f->parser, p, (size_t)k, &used);
				io_consume(&f->io, used);
				lit.remaining -= used;
				if (lr < 0)
					return -1;
			}
			r = io_read_line(&f->io, &line, &len, FRONT_MAX_LINE);
			if (r <= 0)
				return -1;
			r = imapparse_feed_line(f->parser, line, len);
		}
		if (r == 1) {
			*c_r = imapparse_command(f->parser);
			return 1;
		}
		bool fatal = false;
		const char *why = imapparse_error(f->parser, NULL, &fatal);
		const char *tag = imapparse_tag(f->parser);
		io_printf(&f->io, "%s BAD %s\r\n", tag ? tag : "*", why ? why : "Syntax error");
		if (fatal) {
			io_flush(&f->io);
			return -1;
		}
		return 0;
	}
}

int imapd_front(struct login_ctx *ctx)
{
	struct front f;
	memset(&f, 0, sizeof(f));
	f.ctx = ctx;
	io_init(&f.io, ctx->conn->rfd, ctx->conn->wfd, (int)ctx->conf->imapd_login_timeout_ms);
	io_set_deadline(&f.io, (int64_t)ctx->conf->imapd_login_timeout_ms * 3);
	struct imapparse_limits lim;
	imapparse_limits_default(&lim);
	lim.max_line = FRONT_MAX_LINE;
	lim.max_literal = FRONT_MAX_LITERAL;
	lim.max_nonsync_literal = FRONT_MAX_LITERAL;
	lim.max_command = 4 * FRONT_MAX_LINE;
	lim.max_depth = 4;
	lim.max_args = 64;
	f.parser = imapparse_new(&lim, 0);
	log_event(LOG_INFO, "connect", "PROTO", "imap", NULL);
	if (ctx->conn->implicit_tls) {
		if (ctx->tls == NULL || io_starttls(&f.io, ctx->tls, NULL) < 0) {
			log_event(LOG_NOTICE, "tls-fail", "REASON",
			          ctx->tls ? io_strerror(f.io.err) : "no certificate configured",
			          NULL);
			goto out;
		}
	}
	{
		struct buf caps = BUF_INIT;
		front_caps(&f, &caps);
		io_printf(&f.io, "* OK [CAPABILITY %s] sealmail ready.\r\n", buf_cstr(&caps));
		buf_free(&caps);
	}
	for (;;) {
		const struct imapparse_cmd *c;
		int r = front_read_command(&f, &c);
		if (r < 0)
			break;
		if (r == 0)
			continue;
		r = front_command(&f, c);
		if (r < 0)
			break;
		if (r == 1) {
			imapparse_free(&f.parser);
			io_set_deadline(&f.io, 0);
			login_continue(ctx, &f.io);
			break;
		}
	}
	io_flush(&f.io);
out:
	imapparse_free(&f.parser);
	io_cleanup(&f.io);
	return 0;
}
