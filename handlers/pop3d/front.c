/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* The pre-auth front of pop3d (RFC 1939 AUTHORIZATION state): USER/PASS,
 * AUTH PLAIN (RFC 5034), STLS (RFC 2595), CAPA (RFC 2449), UTF8 (RFC 6856),
 * QUIT. Credentials go to the back; after login this process only relays.
 * Trust: pre-auth; this file parses everything an unauthenticated client
 * sends (through lib/proto/pop3parse.c). */
#include <sodium.h>
#include <string.h>
#include <unistd.h>

#include "sys/io.h"
#include "sys/log.h"
#include "sys/server.h"
#include "sys/title.h"
#include "login/login.h"
#include "login/loginback.h"
#include "pop3d.h"

#define FRONT_MAX_FAILURES    3
#define FRONT_AUTH_TIMEOUT_MS 120000
#define FRONT_ERRORS_MAX      10

/* The front's own states: it parses in AUTHORIZATION, then (TLS) relays
 * the session between the client and the back. */
enum front_state { FRONT_PREAUTH, FRONT_RELAY };

struct front {
	struct login_ctx *ctx;
	struct io io;
	struct pop3parse_limits lim;
	enum front_state state;
	char user[LOGIN_USER_MAX + 1];
	bool have_user;
	unsigned failures, errors;
};

/* Every state change of the front goes through here: the process title
 * ("pop3d: 203.0.113.5 pre-auth") and a debug event name it. */
static void front_state(struct front *f, enum front_state s)
{
	static const char *const names[] = {[FRONT_PREAUTH] = "pre-auth", [FRONT_RELAY] = "relay"};
	f->state = s;
	title_set("%s %s", f->ctx->conn->remote, names[s]);
	log_event(LOG_DEBUG, "state", "STATE", names[s], NULL);
}

static bool front_plaintext_ok(const struct front *f)
{
	return login_plaintext_ok(f->ctx, &f->io);
}

/* 1 logged in, 0 go on, -1 end. */
static int front_login(struct front *f, const char *user, size_t ulen, const char *pw, size_t plen)
{
	if (ulen == 0 || ulen > LOGIN_USER_MAX || plen > LOGIN_SECRET_MAX ||
	    memchr(user, '\0', ulen) != NULL || memchr(pw, '\0', plen) != NULL) {
		io_puts(&f->io, "-ERR [AUTH] Authentication failed.\r\n");
		return 0;
	}
	if (io_flush(&f->io) < 0)
		return -1;
	int a = login_attempt(f->ctx, &f->io, user, ulen, pw, plen, "", FRONT_AUTH_TIMEOUT_MS);
	if (a == LOGIN_OK)
		return 1;
	if (a == LOGIN_TEMPFAIL) {
		io_puts(&f->io, "-ERR [SYS/TEMP] Temporary server failure, try again later.\r\n");
		return 0;
	}
	if (a == LOGIN_INUSE) {
		/* RFC 2449 section 8.1.2 */
		io_puts(&f->io, "-ERR [IN-USE] Mailbox is locked by another POP3 session.\r\n");
		return 0;
	}
	if (a != LOGIN_FAIL)
		return -1;
	if (f->ctx->conf->auth_fail_delay_ms > 0)
		usleep((useconds_t)f->ctx->conf->auth_fail_delay_ms * 1000);
	io_puts(&f->io, "-ERR [AUTH] Authentication failed.\r\n");
	if (++f->failures >= FRONT_MAX_FAILURES) {
		io_puts(&f->io, "-ERR Too many invalid authentication attempts.\r\n");
		io_flush(&f->io);
		return -1;
	}
	return 0;
}

static int front_sasl_plain(struct front *f, const char *b64, size_t len)
{
	struct buf raw = BUF_INIT;
	const char *user = NULL, *pw = NULL;
	size_t ulen = 0, plen = 0;
	int rc = 0;
	switch (login_sasl_plain(b64, len, &raw, &user, &ulen, &pw, &plen)) {
	case LOGIN_PLAIN_OK:
		rc = front_login(f, user, ulen, pw, plen);
		break;
	case LOGIN_PLAIN_CANCEL:
		io_puts(&f->io, "-ERR AUTH cancelled.\r\n");
		break;
	case LOGIN_PLAIN_BAD_B64:
		io_puts(&f->io, "-ERR Invalid base64 data.\r\n");
		break;
	case LOGIN_PLAIN_MALFORMED:
		io_puts(&f->io, "-ERR Malformed PLAIN response.\r\n");
		break;
	case LOGIN_PLAIN_AUTHZID:
		io_puts(&f->io, "-ERR [AUTH] Authorization identity refused.\r\n");
		break;
	}
	buf_wipe(&raw);
	return rc;
}

/* ---- check steps: syntax and policy beyond the grammar; 0 go on, -1 the
 * reply is written and the command ends there. ---- */

static int front_check_plaintext(struct front *f, const struct pop3_command *c)
{
	if (front_plaintext_ok(f))
		return 0;
	io_puts(&f->io, "-ERR [AUTH] Plaintext authentication disallowed without TLS.\r\n");
	return -1;
}

static int front_check_pass(struct front *f, const struct pop3_command *c)
{
	if (f->have_user)
		return 0;
	io_puts(&f->io, "-ERR Send USER first.\r\n");
	return -1;
}

static int front_check_auth(struct front *f, const struct pop3_command *c)
{
	if (c->argc == 0)
		return 0; /* the mechanism list */
	if (c->argv[0].len != 5 || strncasecmp(c->argv[0].p, "PLAIN", 5) != 0) {
		io_puts(&f->io, "-ERR Unsupported authentication mechanism.\r\n");
		return -1;
	}
	return front_check_plaintext(f, c);
}

static int front_check_stls(struct front *f, const struct pop3_command *c)
{
	if (f->ctx->tls != NULL && !io_is_tls(&f->io))
		return 0;
	io_puts(&f->io, io_is_tls(&f->io) ? "-ERR TLS already active.\r\n"
	                                  : "-ERR STLS not available.\r\n");
	return -1;
}

/* ---- proceed steps: the effect; 1 logged in, 0 go on, -1 end. ---- */

static int front_capa(struct front *f, struct pop3_command *c)
{
	io_puts(&f->io, "+OK Capability list follows\r\n" POP3_CAPA_COMMON);
	if (front_plaintext_ok(f))
		io_puts(&f->io, "USER\r\nSASL PLAIN\r\n");
	if (f->ctx->tls != NULL && !io_is_tls(&f->io))
		io_puts(&f->io, "STLS\r\n");
	io_puts(&f->io, ".\r\n");
	return 0;
}

static int front_quit(struct front *f, struct pop3_command *c)
{
	io_puts(&f->io, "+OK Logging out.\r\n");
	io_flush(&f->io);
	return -1;
}

static int front_noop(struct front *f, struct pop3_command *c)
{
	io_puts(&f->io, "-ERR Not logged in.\r\n");
	return 0;
}

static int front_utf8(struct front *f, struct pop3_command *c)
{
	/* RFC 6856 section 2: we are UTF-8 clean either way. */
	io_puts(&f->io, "+OK UTF8 enabled.\r\n");
	return 0;
}

static int front_stls(struct front *f, struct pop3_command *c)
{
	io_puts(&f->io, "+OK Begin TLS negotiation.\r\n");
	if (server_starttls(&f->io, f->ctx->tls) < 0)
		return -1;
	f->have_user = false; /* RFC 2595 section 4: forget what came before */
	return 0;
}

static int front_user(struct front *f, struct pop3_command *c)
{
	/* The grammar bounded the name by lim.user_max = LOGIN_USER_MAX. */
	memcpy(f->user, c->argv[0].p, c->argv[0].len);
	f->user[c->argv[0].len] = '\0';
	f->have_user = true;
	io_puts(&f->io, "+OK\r\n");
	return 0;
}

static int front_pass(struct front *f, struct pop3_command *c)
{
	/* RFC 1939 section 7: the password is the rest of the line, spaces
	 * included; "PASS" alone is an empty one. front_command wipes it. */
	f->have_user = false;
	return front_login(f, f->user, strlen(f->user), c->argc ? c->argv[0].p : "",
	                   c->argc ? c->argv[0].len : 0);
}

static int front_auth(struct front *f, struct pop3_command *c)
{
	if (c->argc == 0) {
		/* RFC 5034 section 4: AUTH alone lists the mechanisms. */
		io_puts(&f->io, front_plaintext_ok(f) ? "+OK\r\nPLAIN\r\n.\r\n" : "+OK\r\n.\r\n");
		return 0;
	}
	if (c->argc == 2) {
		/* RFC 5034 section 4: "=" is an empty initial response. */
		const struct pop3_arg *ir = &c->argv[1];
		if (ir->len == 1 && ir->p[0] == '=')
			return front_sasl_plain(f, "", 0);
		return front_sasl_plain(f, ir->p, ir->len);
	}
	io_puts(&f->io, "+ \r\n");
	if (io_flush(&f->io) < 0)
		return -1;
	char *line;
	size_t len;
	enum pop3parse_error e;
	int r = io_read_line(&f->io, &line, &len, POP3_LINE_MAX);
	if (r <= 0) {
		if (r < 0 && f->io.err == IO_TOOLONG) {
			io_puts(&f->io, "-ERR Response too long.\r\n");
			return 0;
		}
		if (r < 0 && f->io.err == IO_TIMEOUT)
			pop3d_timeout_err(&f->io);
		return -1;
	}
	switch (pop3parse_sasl_response(line, len, &f->lim, &e)) {
	case 0:
		r = front_sasl_plain(f, "*", 1);
		break;
	case 1:
		r = front_sasl_plain(f, line, len);
		break;
	default:
		/* A NUL is no base64 either. */
		io_puts(&f->io, e == POP3PARSE_E_TOOLONG ? "-ERR Response too long.\r\n"
		                                         : "-ERR Invalid base64 data.\r\n");
		r = 0;
		break;
	}
	sodium_memzero(line, len);
	return r;
}

static int front_apop(struct front *f, struct pop3_command *c)
{
	io_puts(&f->io, "-ERR APOP not supported.\r\n");
	return 0;
}

/* The commands of the AUTHORIZATION state (RFC 1939 section 4, with RFC
 * 2449, 2595, 5034 and 6856). A command not here, or not allowed in the
 * front's state, is answered as unknown: the TRANSACTION commands need a
 * login first. */
static const struct front_cmd {
	enum pop3_cmd cmd;
	unsigned states;
	const char *usage; /* "-ERR Syntax: <usage>" when the grammar fails */
	int (*check)(struct front *f, const struct pop3_command *c);
	int (*proceed)(struct front *f, struct pop3_command *c);
} front_cmds[] = {
    {POP3_CMD_CAPA, POP3_IN(POP3_AUTHORIZATION), "CAPA", NULL, front_capa},
    {POP3_CMD_QUIT, POP3_IN(POP3_AUTHORIZATION), "QUIT", NULL, front_quit},
    {POP3_CMD_NOOP, POP3_IN(POP3_AUTHORIZATION), "NOOP", NULL, front_noop},
    {POP3_CMD_UTF8, POP3_IN(POP3_AUTHORIZATION), "UTF8", NULL, front_utf8},
    {POP3_CMD_STLS, POP3_IN(POP3_AUTHORIZATION), "STLS", front_check_stls, front_stls},
    {POP3_CMD_USER, POP3_IN(POP3_AUTHORIZATION), "USER name", front_check_plaintext, front_user},
    {POP3_CMD_PASS, POP3_IN(POP3_AUTHORIZATION), "PASS string", front_check_pass, front_pass},
    {POP3_CMD_AUTH, POP3_IN(POP3_AUTHORIZATION), "AUTH mechanism [initial-response]",
     front_check_auth, front_auth},
    {POP3_CMD_APOP, POP3_IN(POP3_AUTHORIZATION), "APOP name digest", NULL, front_apop},
};

/* The command table's dispatcher: state, grammar, check, proceed. 1
 * logged in, 0 go on, -1 end. */
static int front_dispatch(struct front *f, int r, struct pop3_command *c)
{
	if (r < 0 && c->error == POP3PARSE_E_NUL) {
		io_puts(&f->io, "-ERR NUL byte in command.\r\n");
		return 0;
	}
	if (r < 0 && c->error == POP3PARSE_E_TOOLONG) {
		f->errors++;
		io_puts(&f->io, "-ERR Line too long.\r\n");
		return 0;
	}
	const struct front_cmd *fc = NULL;
	for (size_t i = 0; i < sizeof(front_cmds) / sizeof(front_cmds[0]); i++)
		if (front_cmds[i].cmd == c->cmd)
			fc = &front_cmds[i];
	if (fc == NULL || !(fc->states & POP3_IN(POP3_AUTHORIZATION))) {
		f->errors++;
		io_puts(&f->io, "-ERR Unknown command or not allowed before login.\r\n");
		return 0;
	}
	if (r < 0) {
		f->errors++;
		io_printf(&f->io, "-ERR Syntax: %s\r\n", fc->usage);
		return 0;
	}
	if (fc->check != NULL && fc->check(f, c) < 0)
		return 0;
	return fc->proceed(f, c);
}

/* 1 logged in, 0 go on, -1 end. */
static int front_command(struct front *f, char *line, size_t len)
{
	struct pop3_command c;
	int r = front_dispatch(f, pop3parse_command(line, len, &f->lim, &c), &c);
	/* A password (PASS, AUTH's initial response) leaves the read buffer
	 * as soon as it was used, whatever became of the command. */
	if (c.cmd == POP3_CMD_PASS || c.cmd == POP3_CMD_AUTH)
		sodium_memzero(line, len);
	return r;
}

int pop3d_front(struct login_ctx *ctx)
{
	struct front f;
	memset(&f, 0, sizeof(f));
	f.ctx = ctx;
	f.lim = (struct pop3parse_limits)POP3PARSE_LIMITS_INIT(LOGIN_USER_MAX);
	/* pop3d.login_timeout is the whole time from connect to a successful
	 * login; each line also has pop3d.command_timeout. */
	uint64_t timeout = ctx->conf->pop3d_login_timeout_ms;
	io_init(&f.io, ctx->conn->rfd, ctx->conn->wfd, (int)timeout);
	io_set_deadline(&f.io, (int64_t)timeout);
	io_set_line_deadline(&f.io, (int)ctx->conf->pop3d_command_timeout_ms);
	front_state(&f, FRONT_PREAUTH);
	log_event(LOG_INFO, "connect", "PROTO", "pop3", NULL);
	if (ctx->conn->implicit_tls) {
		if (ctx->tls == NULL || io_starttls(&f.io, ctx->tls, NULL) < 0) {
			log_event(LOG_NOTICE, "tls-fail", "REASON",
			          ctx->tls ? io_strerror(f.io.err) : "no certificate configured",
			          NULL);
			goto out;
		}
	}
	io_puts(&f.io, "+OK sealmail POP3 ready.\r\n");
	for (;;) {
		if (io_pending(&f.io) == 0 && io_flush(&f.io) < 0)
			break;
		char *line;
		size_t len;
		int r = io_read_line(&f.io, &line, &len, POP3_LINE_MAX);
		if (r == 0)
			break;
		if (r < 0) {
			if (f.io.err == IO_TOOLONG || f.io.err == IO_BARELF ||
			    f.io.err == IO_BARECR) {
				io_puts(&f.io, f.io.err == IO_TOOLONG
				                   ? "-ERR Line too long.\r\n"
				                   : "-ERR Lines must end with CRLF.\r\n");
				if (++f.errors >= FRONT_ERRORS_MAX)
					break;
				continue;
			}
			if (f.io.err == IO_TIMEOUT)
				pop3d_timeout_err(&f.io);
			break;
		}
		r = front_command(&f, line, len);
		if (r < 0)
			break;
		if (r == 1) {
			io_set_deadline(&f.io, 0);
			io_set_line_deadline(&f.io, 0);
			if (!ctx->handoff)
				front_state(&f, FRONT_RELAY);
			login_continue(ctx, &f.io);
			break;
		}
		if (f.errors >= FRONT_ERRORS_MAX) {
			io_puts(&f.io, "-ERR Too many errors.\r\n");
			break;
		}
	}
	io_flush(&f.io);
out:
	sodium_memzero(f.user, sizeof(f.user));
	io_cleanup(&f.io);
	return 0;
}
