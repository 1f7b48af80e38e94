/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* The stages a login handler's main() calls in order (imapd, pop3d: see
 * their main.c): open (TLS certificate, key file, state_dir) -> warm ->
 * sandbox and serve -> exit. Per connection the front loads the TLS key,
 * confines itself (no filesystem) and serves; the back is forked when the
 * front first needs it (by the accept loop), or before the front loads the
 * key and confines itself when serving one connection.
 * Trust: pre-auth. */
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "crypto/kdf_hugepages.h"
#include "sys/proclimit.h"
#include "sys/log.h"
#include "sys/server.h"
#include "sys/tls.h"
#include "svc/confine.h"
#include "login.h"

/* How long a front waits for the accept loop to fork its back. */
#define LOGIN_HELPER_TIMEOUT_MS 10000

/* Every back, forked by the front or by the accept loop: the TLS key file
 * is the front's to load, never the back's, which parses every command of
 * a logged-in user (DESIGN section 4). */
static int login_back_main(int fd, void *arg)
{
	struct login_run *run = arg;
	if (run->ctx.tls_keyfd >= 0)
		close(run->ctx.tls_keyfd);
	run->ctx.tls_keyfd = -1;
	return run->h->back(fd, &run->ctx);
}

/* Asked for by the front in an accept loop: runs in a child of the loop. */
static int login_helper(struct conn *c, int fd, void *arg)
{
	struct login_run *run = arg;
	run->ctx.conn = c;
	return login_back_main(fd, run);
}

static int login_conn(struct conn *c, void *arg)
{
	struct login_run *run = arg;
	struct login_ctx *ctx = &run->ctx;
	ctx->conn = c;
	ctx->backfd = -1;
	ctx->backpid = 0;
	/* Serving one connection, nothing outside the front's sandbox could
	 * fork the back later: fork it now. */
	if (c->ctl_fd < 0) {
		ctx->backfd = login_fork_back(login_back_main, run, &ctx->backpid);
		if (ctx->backfd < 0)
			log_fatal("cannot fork the back process");
	}
	/* Only now, with every back forked without it, the private key: the
	 * front alone holds it, for the handshake. Before the sandbox, which
	 * then has no file to read. */
	server_tls_key(ctx->tls, &ctx->tls_keyfd);
	/* The front parses everything the client sends before login: it gets
	 * no filesystem at all (DESIGN section 4). */
	proclimit_apply(PROCLIMIT_FRONT, ctx->conf); /* after the back's fork: the front's own */
	confine_enter(SANDBOX_PREAUTH_FRONT, ctx->conf, ctx->state_fd, NULL);
	int rc = run->h->front(ctx);
	if (ctx->backfd >= 0)
		close(ctx->backfd);
	int status;
	if (ctx->backpid > 0 && waitpid(ctx->backpid, &status, 0) == ctx->backpid &&
	    WIFSIGNALED(status)) {
		/* A crash or a sandbox kill (SIGSYS) of the back is a server
		 * fault worth a log line of its own. */
		char sig[16];
		(void)snprintf(sig, sizeof(sig), "%d", WTERMSIG(status)); /* fits: an int */
		log_event(LOG_ERR, "back-died", "SIGNAL", sig, NULL);
	}
	return rc;
}

int login_back(struct login_ctx *ctx)
{
	if (ctx->backfd < 0)
		ctx->backfd = conn_helper(ctx->conn, LOGIN_HELPER_TIMEOUT_MS);
	return ctx->backfd;
}

int login_attempt(struct login_ctx *ctx, const struct io *io, const char *user, size_t ulen,
                  const char *pw, size_t plen, const char *tag, int timeout_ms)
{
	/* A plaintext client is handed over after success, with the bytes it
	 * pipelined (already buffered: nothing is read until the answer). */
	ctx->handoff = !io_is_tls(io) && io_pending(io) <= LOGIN_HANDOFF_MAX;
	unsigned flags = (io_is_tls(io) ? LOGIN_F_TLS : 0) | (ctx->handoff ? LOGIN_F_HANDOFF : 0) |
	                 (ctx->conn->loopback ? LOGIN_F_LOOPBACK : 0);
	int fd = login_back(ctx);
	if (fd < 0)
		return LOGIN_TEMPFAIL;
	if (login_send(fd, user, ulen, pw, plen, tag, flags) < 0)
		return -1;
	return login_wait_answer(fd, timeout_ms);
}

static void login_before_loop(void *arg)
{
	struct login_run *run = arg;
	/* The loop never loads the key (each front does): whether it loads
	 * and matches is learnt here, at start-up, in a child that exits. */
	const char *err;
	if (run->ctx.tls_keyfd >= 0 && tls_key_check(run->ctx.tls, run->ctx.tls_keyfd, &err) < 0)
		log_fatal("TLS: %s", err);
	confine_enter(SANDBOX_ACCEPT, run->ctx.conf, run->ctx.state_fd, NULL);
}

void login_open(struct login_run *run)
{
	run->ctx.tls = server_tls_cert(run->ctx.conf, &run->ctx.tls_keyfd);
	run->ctx.state_fd = server_state_fd(run->ctx.conf);
}

void login_warm(struct login_run *run)
{
	server_warm();
	/* The back runs Argon2 under a sandbox that cannot read /sys. */
	kdf_hugepages_init();
}

int login_serve(struct login_run *run)
{
	struct conn_opts opts = {.tls_flag = run->args.tls,
	                         .max_children = (unsigned)run->ctx.conf->max_connections,
	                         .max_per_source =
	                             (unsigned)conf_max_per_source(run->ctx.conf, run->h->prog),
	                         .busy_reply = run->h->busy_reply,
	                         .before_loop = login_before_loop,
	                         .helper = login_helper};
	return conn_serve(&opts, login_conn, run);
}

void login_close(struct login_run *run)
{
	SSL_CTX_free(run->ctx.tls);
	run->ctx.tls = NULL;
	if (run->ctx.tls_keyfd >= 0)
		close(run->ctx.tls_keyfd);
	run->ctx.tls_keyfd = -1;
	close(run->ctx.state_fd);
	run->ctx.state_fd = -1;
	conf_free(&run->ctx.conf);
}
