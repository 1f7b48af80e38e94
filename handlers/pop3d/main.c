/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* pop3d: POP3 on the encrypted store. Trust: pre-auth (the front); the
 * back authenticates (see pop3d.h). */
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "log.h"
#include "login.h"
#include "pop3d.h"
#include "server.h"

static int pop3d_conn(struct conn *c, void *arg)
{
	struct pop3d_ctx *ctx = arg;
	pid_t back;
	ctx->conn = c;
	int fd = login_fork_back(pop3d_back, ctx, &back);
	if (fd < 0)
		log_fatal("cannot fork the back process");
	/* The front parses everything the client sends before login: it gets
	 * no filesystem at all (DESIGN section 4). */
	server_sandbox(SANDBOX_PREAUTH_FRONT, ctx->conf, ctx->state_fd, NULL);
	int rc = pop3d_front(ctx, fd);
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

static void pop3d_before_loop(void *arg)
{
	struct pop3d_ctx *ctx = arg;
	server_sandbox(SANDBOX_ACCEPT, ctx->conf, ctx->state_fd, NULL);
}

int main(int argc, char **argv)
{
	struct server_args a;
	server_args(argc, argv, "pop3d", &a);
	struct pop3d_ctx ctx = {.conf = server_config("pop3d", &a)};
	ctx.tls = server_tls(ctx.conf);
	ctx.state_fd = server_state_fd(ctx.conf);
	server_warm();
	struct conn_opts opts = {.tls_flag = a.tls,
				 .max_children = (unsigned)ctx.conf->max_connections,
				 .before_loop = pop3d_before_loop};
	int rc = conn_serve(&opts, pop3d_conn, &ctx);
	SSL_CTX_free(ctx.tls);
	conf_free(&ctx.conf);
	return rc;
}
