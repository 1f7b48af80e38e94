/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* The pre-auth front of imapd (RFC 3501 sections 6.1 and 6.2): the
 * greeting, the command loop in the not-authenticated state (cmd.c's table
 * says what is allowed; CAPABILITY, NOOP, LOGOUT and ID are back.c's, shared
 * with the back), and STARTTLS, LOGIN, AUTHENTICATE PLAIN (RFC 4616) with
 * SASL-IR (RFC 4959). Credentials go to the back process and every copy of
 * a password here is wiped; after a successful login this process only
 * relays bytes. Trust: pre-auth; this file reads everything an
 * unauthenticated client sends. */
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
/* Room reserved for the client's input up front, so that the buffer a
 * password arrives in is never moved (a move by realloc would leave a copy
 * behind that nobody wipes): lib/sys/io.c reads IO_READ_CHUNK bytes at a
 * time behind at most 64 KiB of consumed input and a partial line. */
#define FRONT_IN_RESERVE (64 * 1024 + FRONT_MAX_LINE + 2 + IO_READ_CHUNK + 1)

static bool front_plaintext_ok(const struct imap_sess *s)
{
	return login_plaintext_ok(s->login, &s->io);
}

void imap_front_caps(struct imap_sess *s, struct buf *out)
{
	buf_append_str(out, "IMAP4rev1 SASL-IR LITERAL+ ID ENABLE IDLE");
	if (s->login->tls != NULL && !io_is_tls(&s->io))
		buf_append_str(out, " STARTTLS");
	if (front_plaintext_ok(s))
		buf_append_str(out, " AUTH=PLAIN");
	else
		buf_append_str(out, " LOGINDISABLED");
}

/* Zero what the client sent that is no longer needed: the consumed input
 * (a LOGIN line or an AUTHENTICATE response with its password) and the
 * unused rest of the buffer (older bytes moved there by compaction). The
 * bytes not yet consumed (pipelined after the command) stay. */
static void front_wipe_input(struct imap_sess *s)
{
	struct buf *in = &s->io.in;
	if (in->data == NULL)
		return;
	sodium_memzero(in->data, s->io.in_pos);
	/* Only what reads ever filled: the untouched rest of the reserve
	 * holds nothing, and zeroing it would make every page of it resident
	 * for the whole session. */
	size_t end = s->io.in_peak < in->cap ? s->io.in_peak : in->cap;
	if (end > in->len + 1)
		sodium_memzero(in->data + in->len + 1, end - in->len - 1);
}

/* Hand the credentials to the back and act on its answer: 0 go on (the
 * state is AUTH after a successful login: relay now), -1 end. */
static int front_login(struct imap_sess *s, const char *user, size_t ulen, const char *pw,
                       size_t plen)
{
	if (ulen == 0 || ulen > LOGIN_USER_MAX || plen > LOGIN_SECRET_MAX ||
	    memchr(user, '\0', ulen) != NULL || memchr(pw, '\0', plen) != NULL) {
		imap_no(s, "[AUTHENTICATIONFAILED] Authentication failed.");
		return 0;
	}
	if (io_flush(&s->io) < 0)
		return -1;
	int a = login_attempt(s->login, &s->io, user, ulen, pw, plen, s->cmd->tag,
	                      FRONT_AUTH_TIMEOUT_MS);
	if (a == LOGIN_OK) {
		/* The back has sent the tagged OK; from now on we relay. */
		imap_set_state(s, IMAP_ST_AUTH);
		return 0;
	}
	if (a == LOGIN_TEMPFAIL) {
		imap_no(s, "[UNAVAILABLE] Temporary server failure, try again later.");
		return 0;
	}
	if (a != LOGIN_FAIL)
		return -1;
	/* RFC 3501 section 7.1: we wait before answering a failed login to slow
	 * down guessing (the back's KDF already costs tens of ms). */
	if (s->conf->auth_fail_delay_ms > 0)
		usleep((useconds_t)s->conf->auth_fail_delay_ms * 1000);
	imap_no(s, "[AUTHENTICATIONFAILED] Authentication failed.");
	if (++s->failures >= FRONT_MAX_FAILURES) {
		imap_untagged(s, "BYE Too many invalid authentication attempts.");
		io_flush(&s->io);
		log_event(LOG_NOTICE, "disconnect", "REASON", "too many failed logins", NULL);
		return -1;
	}
	return 0;
}

/* The back answers with the tag (lib/login/login.h frames it). */
static bool front_tag_ok(struct imap_sess *s, const struct imapparse_cmd *c)
{
	if (strlen(c->tag) <= LOGIN_TAG_MAX)
		return true;
	imap_bad(s, "Tag too long.");
	return false;
}

/* LOGIN (RFC 3501 section 6.2.3). */
int imap_check_login(struct imap_sess *s, const struct imapparse_cmd *c)
{
	if (!front_plaintext_ok(s)) {
		imap_no(s, "[PRIVACYREQUIRED] Plaintext authentication disallowed without TLS.");
		return -1;
	}
	if (c->count != 2 || imapparse_arg_astring(&c->args[0]) == NULL ||
	    imapparse_arg_astring(&c->args[1]) == NULL) {
		imap_bad(s, "Syntax: LOGIN userid password");
		return -1;
	}
	return front_tag_ok(s, c) ? 0 : -1;
}

int imap_cmd_login(struct imap_sess *s, const struct imapparse_arg *args, size_t n)
{
	/* The parser wipes both arguments when it lets go of this command. */
	return front_login(s, imapparse_arg_astring(&args[0]), args[0].len,
	                   imapparse_arg_astring(&args[1]), args[1].len);
}

static int front_sasl_plain(struct imap_sess *s, const char *b64, size_t len)
{
	struct buf raw = BUF_INIT;
	const char *user = NULL, *pw = NULL;
	size_t ulen = 0, plen = 0;
	int rc = 0;
	switch (login_sasl_plain(b64, len, &raw, &user, &ulen, &pw, &plen)) {
	case LOGIN_PLAIN_OK:
		rc = front_login(s, user, ulen, pw, plen);
		break;
	case LOGIN_PLAIN_CANCEL:
		imap_bad(s, "AUTHENTICATE cancelled.");
		break;
	case LOGIN_PLAIN_BAD_B64:
		imap_bad(s, "Invalid base64 data.");
		break;
	case LOGIN_PLAIN_MALFORMED:
		imap_bad(s, "Malformed PLAIN response.");
		break;
	case LOGIN_PLAIN_AUTHZID:
		imap_no(s, "[AUTHORIZATIONFAILED] Authorization identity refused.");
		break;
	}
	buf_wipe(&raw);
	return rc;
}

/* AUTHENTICATE PLAIN (RFC 3501 section 6.2.2, RFC 4616), with SASL-IR
 * (RFC 4959). */
int imap_check_authenticate(struct imap_sess *s, const struct imapparse_cmd *c)
{
	if (c->count < 1 || c->count > 2 || c->args[0].type != IMAPPARSE_ATOM) {
		imap_bad(s, "Syntax: AUTHENTICATE mechanism [initial-response]");
		return -1;
	}
	if (!imapparse_arg_is_atom(&c->args[0], "PLAIN")) {
		imap_no(s, "[CANNOT] Unsupported authentication mechanism.");
		return -1;
	}
	if (!front_plaintext_ok(s)) {
		imap_no(s, "[PRIVACYREQUIRED] Plaintext authentication disallowed without TLS.");
		return -1;
	}
	return front_tag_ok(s, c) ? 0 : -1;
}

int imap_cmd_authenticate(struct imap_sess *s, const struct imapparse_arg *args, size_t n)
{
	if (n == 2) {
		/* RFC 4959: SASL-IR; "=" is an empty initial response. */
		const struct imapparse_arg *ir = &args[1];
		if (ir->type != IMAPPARSE_ATOM) {
			imap_bad(s, "Invalid initial response.");
			return 0;
		}
		if (ir->len == 1 && ir->str[0] == '=')
			return front_sasl_plain(s, "", 0);
		return front_sasl_plain(s, ir->str, ir->len);
	}
	io_puts(&s->io, "+ \r\n");
	if (io_flush(&s->io) < 0)
		return -1;
	char *line;
	size_t len;
	int r = io_read_line(&s->io, &line, &len, FRONT_MAX_LINE);
	if (r <= 0) {
		if (r < 0 && s->io.err == IO_TOOLONG) {
			imap_bad(s, "Response too long.");
			return 0;
		}
		if (r < 0 && s->io.err == IO_TIMEOUT)
			imap_timeout_bye(s);
		return -1;
	}
	int rc = front_sasl_plain(s, line, len);
	sodium_memzero(line, len);
	return rc;
}

/* STARTTLS (RFC 3501 section 6.2.1). */
int imap_check_starttls(struct imap_sess *s, const struct imapparse_cmd *c)
{
	if (s->login->tls == NULL || io_is_tls(&s->io)) {
		imap_bad(s, "%s",
		         io_is_tls(&s->io) ? "TLS is already active." : "STARTTLS not available.");
		return -1;
	}
	return imap_check_noargs(s, c);
}

int imap_cmd_starttls(struct imap_sess *s, const struct imapparse_arg *args, size_t n)
{
	imap_ok(s, "Begin TLS negotiation now.");
	/* RFC 3501 section 6.2.1: the client must not pipeline after STARTTLS;
	 * whatever it did is discarded, never executed inside TLS. */
	if (server_starttls(&s->io, s->login->tls) < 0)
		return -1;
	imap_title(s);
	return 0;
}

static int front_read_command_in(struct imap_sess *f, const struct imapparse_cmd **c_r)
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
			return -1; /* a timeout: front_read says which */
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
			imap_literal_deadline(f);
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

/* Read one command with its literals: 1 command, 0 error replied, -1 end
 * (with "* BYE" naming the limit if one passed). */
static int front_read_command(struct imap_sess *f, const struct imapparse_cmd **c_r)
{
	int r = front_read_command_in(f, c_r);
	io_transfer_end(&f->io);
	if (r < 0 && f->io.err == IO_TIMEOUT)
		imap_timeout_bye(f);
	return r;
}

int imapd_front(struct login_ctx *ctx)
{
	struct imap_sess f;
	memset(&f, 0, sizeof(f));
	f.front = true;
	f.login = ctx;
	f.conf = ctx->conf;
	f.state = IMAP_ST_NOT_AUTH;
	/* Both are CONN_ADDR_MAX bytes. */
	(void)imap_strcpy(f.remote, sizeof(f.remote), ctx->conn->remote);
	/* imapd.login_timeout is the whole time from connect to a successful
	 * login (the TLS handshake, every command, failed attempts): a client
	 * sending a byte now and then cannot stay unauthenticated for longer.
	 * Each line also has imapd.command_timeout. */
	io_init(&f.io, ctx->conn->rfd, ctx->conn->wfd, (int)ctx->conf->imapd_login_timeout_ms);
	io_set_deadline(&f.io, (int64_t)ctx->conf->imapd_login_timeout_ms);
	io_set_line_deadline(&f.io, (int)ctx->conf->imapd_command_timeout_ms);
	buf_reserve(&f.io.in, FRONT_IN_RESERVE);
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
	imap_title(&f);
	{
		struct buf caps = BUF_INIT;
		imap_front_caps(&f, &caps);
		io_printf(&f.io, "* OK [CAPABILITY %s] sealmail ready.\r\n", buf_cstr(&caps));
		buf_free(&caps);
	}
	while (f.state == IMAP_ST_NOT_AUTH) {
		const struct imapparse_cmd *c;
		int r = front_read_command(&f, &c);
		if (r < 0)
			break;
		if (r == 0)
			continue;
		bool secret = strcmp(c->name, "LOGIN") == 0 || strcmp(c->name, "AUTHENTICATE") == 0;
		r = imap_dispatch(&f, c);
		f.cmd = NULL;
		if (secret) {
			/* The password is in the parser's arguments and in the
			 * input buffer: both are wiped now, not when reused. */
			imapparse_reset(f.parser);
			front_wipe_input(&f);
		}
		if (r < 0)
			break;
	}
	if (f.state == IMAP_ST_AUTH) {
		imapparse_free(&f.parser);
		io_set_deadline(&f.io, 0);
		io_set_line_deadline(&f.io, 0);
		login_continue(ctx, &f.io);
	}
	io_flush(&f.io);
out:
	imapparse_free(&f.parser);
	front_wipe_input(&f);
	io_cleanup(&f.io);
	return 0;
}
