/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* main() of the login handlers (imapd, pop3d): log -> config -> open (TLS
 * key, state_dir) -> warm -> per connection: fork the back, confine the
 * front (no filesystem), serve. Trust: pre-auth. */
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "log.h"
#include "login.h"
#include "server.h"

struct login_run {
	struct login_ctx ctx;
	const struct login_handler *h;
};

static int login_conn(struct conn *c, void *arg)
{
	struct login_run *run = arg;
	struct login_ctx *ctx = &run->ctx;
	pid_t back;
	ctx->conn = c;
	int fd = login_fork_back(run->h->back, ctx, &back);
	if (fd < 0)
		log_fatal("cannot fork the back process");
	/* The front parses everything the client sends before login: it gets
	 * no filesystem at all (DESIGN section 4). */
	server_sandbox(SANDBOX_PREAUTH_FRONT, ctx->conf, ctx->state_fd, NULL);
	int rc = run->h->front(ctx, fd);
	close(fd);
	int status;
	if (waitpid(back, &status, 0) == back && WIFSIGNALED(status)) {
		/* A crash or a sandbox kill (SIGSYS) of the back is a server
		 * fault worth a log line of its own. */
		char sig[16];
		snprintf(sig, sizeof(sig), "%d", WTERMSIG(status));
		log_event(LOG_ERR, "back-died", "SIGNAL", sig, NULL);
	}
	return rc;
}

static void login_before_loop(void *arg)
{
	struct login_run *run = arg;
	server_sandbox(SANDBOX_ACCEPT, run->ctx.conf, run->ctx.state_fd, NULL);
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
	                         .before_loop = login_before_loop};
	int rc = conn_serve(&opts, login_conn, &run);
	SSL_CTX_free(run.ctx.tls);
	close(run.ctx.state_fd);
	conf_free(&run.ctx.conf);
	return rc;
}
