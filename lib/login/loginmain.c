/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* main() of the login handlers (imapd, pop3d): log -> config -> open (TLS
 * key, state_dir) -> warm -> per connection: confine the front (no
 * filesystem) and serve; the back is forked when the front first needs it
 * (by the accept loop), or before the front's sandbox when serving one
 * connection. Trust: pre-auth. */
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sys/log.h"
#include "login.h"
#include "sys/server.h"
#include "svc/confine.h"

/* How long a front waits for the accept loop to fork its back. */
#define LOGIN_HELPER_TIMEOUT_MS 10000

struct login_run {
	struct login_ctx ctx;
	const struct login_handler *h;
};

/* Asked for by the front in an accept loop: runs in a child of the loop. */
static int login_helper(struct conn *c, int fd, void *arg)
{
	struct login_run *run = arg;
	run->ctx.conn = c;
	return run->h->back(fd, &run->ctx);
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
		ctx->backfd = login_fork_back(run->h->back, ctx, &ctx->backpid);
		if (ctx->backfd < 0)
			log_fatal("cannot fork the back process");
	}
	/* The front parses everything the client sends before login: it gets
	 * no filesystem at all (DESIGN section 4). */
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
		snprintf(sig, sizeof(sig), "%d", WTERMSIG(status));
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
	confine_enter(SANDBOX_ACCEPT, run->ctx.conf, run->ctx.state_fd, NULL);
}

int login_main(int argc, char **argv, const struct login_handler *h)
{
	struct server_args a;
	struct login_run run = {.h = h};
	server_args(argc, argv, h->prog, &a);
	run.ctx.conf = server_config(h->prog, &a);
	run.ctx.tls = server_tls(run.ctx.conf);
	run.ctx.state_fd = server_state_fd(run.ctx.conf);
	server_warm();
	struct conn_opts opts = {.tls_flag = a.tls,
	                         .max_children = (unsigned)run.ctx.conf->max_connections,
	                         .before_loop = login_before_loop,
	                         .helper = login_helper};
	int rc = conn_serve(&opts, login_conn, &run);
	SSL_CTX_free(run.ctx.tls);
	close(run.ctx.state_fd);
	conf_free(&run.ctx.conf);
	return rc;
}
