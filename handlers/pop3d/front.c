/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* The pre-auth front of pop3d (RFC 1939 AUTHORIZATION state): USER/PASS,
 * AUTH PLAIN (RFC 5034), STLS (RFC 2595), CAPA (RFC 2449), UTF8 (RFC 6856),
 * QUIT. Credentials go to the back; after login this process only relays.
 * Trust: pre-auth; this file parses everything an unauthenticated client
 * sends. */
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "sys/io.h"
#include "sys/log.h"
#include "sys/server.h"
#include "login/login.h"
#include "login/loginback.h"
#include "pop3d.h"

#define FRONT_MAX_FAILURES    3
#define FRONT_AUTH_TIMEOUT_MS 120000
#define FRONT_ERRORS_MAX      10

struct front {
	struct login_ctx *ctx;
	struct io io;
	char user[LOGIN_USER_MAX + 1];
	bool have_user;
	unsigned failures, errors;
};

static bool front_plaintext_ok(const struct front *f)
{
	return login_plaintext_ok(f->ctx, &f->io);
}

static void front_capa(struct front *f)
{
	io_puts(&f->io, "+OK Capability list follows\r\nTOP\r\nUIDL\r\nRESP-CODES\r\n"
	                "AUTH-RESP-CODE\r\nPIPELINING\r\nUTF8\r\nIMPLEMENTATION sealmail\r\n");
	if (front_plaintext_ok(f))
		io_puts(&f->io, "USER\r\nSASL PLAIN\r\n");
	if (f->ctx->tls != NULL && !io_is_tls(&f->io))
		io_puts(&f->io, "STLS\r\n");
	io_puts(&f->io, ".\r\n");
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

static int front_auth(struct front *f, const char *arg)
{
	if (arg[0] == '\0') {
		/* RFC 5034 section 4: AUTH alone lists the mechanisms. */
		io_puts(&f->io, front_plaintext_ok(f) ? "+OK\r\nPLAIN\r\n.\r\n" : "+OK\r\n.\r\n");
		return 0;
	}
	const char *sp = strchr(arg, ' ');
	size_t ml = sp ? (size_t)(sp - arg) : strlen(arg);
	if (ml != 5 || strncasecmp(arg, "PLAIN", 5) != 0) {
		io_puts(&f->io, "-ERR Unsupported authentication mechanism.\r\n");
		return 0;
	}
	if (!front_plaintext_ok(f)) {
		io_puts(&f->io, "-ERR [AUTH] Plaintext authentication disallowed without TLS.\r\n");
		return 0;
	}
	if (sp != NULL) {
		const char *ir = sp + 1;
		if (strcmp(ir, "=") == 0)
			return front_sasl_plain(f, "", 0);
		return front_sasl_plain(f, ir, strlen(ir));
	}
	io_puts(&f->io, "+ \r\n");
	if (io_flush(&f->io) < 0)
		return -1;
	char *line;
	size_t len;
	int r = io_read_line(&f->io, &line, &len, POP3_LINE_MAX);
	if (r <= 0) {
		if (r < 0 && f->io.err == IO_TOOLONG) {
			io_puts(&f->io, "-ERR Response too long.\r\n");
			return 0;
		}
		return -1;
	}
	int rc = front_sasl_plain(f, line, len);
	sodium_memzero(line, len);
	return rc;
}

static int front_stls(struct front *f, const char *arg)
{
	if (f->ctx->tls == NULL || io_is_tls(&f->io) || arg[0] != '\0') {
		io_puts(&f->io, io_is_tls(&f->io) ? "-ERR TLS already active.\r\n"
		                                  : "-ERR STLS not available.\r\n");
		return 0;
	}
	io_puts(&f->io, "+OK Begin TLS negotiation.\r\n");
	if (server_starttls(&f->io, f->ctx->tls) < 0)
		return -1;
	f->have_user = false;
	return 0;
}

/* 1 logged in, 0 go on, -1 end. */
static int front_command(struct front *f, char *line, size_t len)
{
	if (strlen(line) != len) {
		io_puts(&f->io, "-ERR NUL byte in command.\r\n");
		return 0;
	}
	char *arg = strchr(line, ' ');
	if (arg != NULL)
		*arg++ = '\0';
	else
		arg = line + len;
	if (strcasecmp(line, "CAPA") == 0) {
		front_capa(f);
	} else if (strcasecmp(line, "QUIT") == 0) {
		io_puts(&f->io, "+OK Logging out.\r\n");
		io_flush(&f->io);
		return -1;
	} else if (strcasecmp(line, "NOOP") == 0) {
		io_puts(&f->io, "-ERR Not logged in.\r\n");
	} else if (strcasecmp(line, "UTF8") == 0) {
		/* RFC 6856 section 2: we are UTF-8 clean either way. */
		io_puts(&f->io, "+OK UTF8 enabled.\r\n");
	} else if (strcasecmp(line, "STLS") == 0) {
		return front_stls(f, arg);
	} else if (strcasecmp(line, "USER") == 0) {
		if (!front_plaintext_ok(f)) {
			io_puts(&f->io,
			        "-ERR [AUTH] Plaintext authentication disallowed without TLS.\r\n");
		} else if (arg[0] == '\0' || strlen(arg) > LOGIN_USER_MAX) {
			io_puts(&f->io, "-ERR Syntax: USER name\r\n");
		} else {
			snprintf(f->user, sizeof(f->user), "%s", arg);
			f->have_user = true;
			io_puts(&f->io, "+OK\r\n");
		}
	} else if (strcasecmp(line, "PASS") == 0) {
		if (!f->have_user) {
			io_puts(&f->io, "-ERR Send USER first.\r\n");
			return 0;
		}
		f->have_user = false;
		/* RFC 1939: the password is the rest of the line, spaces included. */
		int r = front_login(f, f->user, strlen(f->user), arg, strlen(arg));
		sodium_memzero(arg, strlen(arg));
		return r;
	} else if (strcasecmp(line, "AUTH") == 0) {
		return front_auth(f, arg);
	} else if (strcasecmp(line, "APOP") == 0) {
		io_puts(&f->io, "-ERR APOP not supported.\r\n");
	} else {
		f->errors++;
		io_puts(&f->io, "-ERR Unknown command or not allowed before login.\r\n");
	}
	return 0;
}

int pop3d_front(struct login_ctx *ctx)
{
	struct front f;
	memset(&f, 0, sizeof(f));
	f.ctx = ctx;
	io_init(&f.io, ctx->conn->rfd, ctx->conn->wfd, (int)ctx->conf->imapd_login_timeout_ms);
	io_set_deadline(&f.io, (int64_t)ctx->conf->imapd_login_timeout_ms * 3);
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
			if (f.io.err == IO_TIMEOUT) {
				io_puts(&f.io, "-ERR Disconnected for inactivity.\r\n");
				io_flush(&f.io);
			}
			break;
		}
		r = front_command(&f, line, len);
		if (r < 0)
			break;
		if (r == 1) {
			io_set_deadline(&f.io, 0);
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
