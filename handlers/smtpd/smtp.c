/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* The process stages of smtpd and lmtpd (smtp.h), which their main()s call
 * in order: log -> config -> open -> warm -> sandbox -> serve -> exit, and
 * the accept loop's hooks (Accept=no: one child per connection). Trust:
 * admin (flags, configuration) until serve; then pre-auth. */
#include "smtp_int.h"

#include <string.h>
#include <unistd.h>

#include "svc/confine.h"
#include "svc/milter.h"
#include "sys/log.h"
#include "sys/server.h"
#include "sys/title.h"

void smtp_config(struct smtp_server *srv, const struct server_args *a, const char *prog,
                 enum smtp_mode mode)
{
	memset(srv, 0, sizeof(*srv));
	srv->mode = mode;
	srv->proto_name = prog;
	srv->tls_flag = a->tls;
	srv->state_fd = -1;
	server_log(prog);
	srv->conf = server_conf_load(a);
}

void smtp_open(struct smtp_server *srv)
{
	const char *err;
	struct milter_spec specs[MILTER_LIST_MAX];
	size_t n;
	/* A bad milter list is a configuration fault: refuse to start rather
	 * than accept mail unfiltered. */
	if (milter_spec_parse(smtp_policy_milter_list(srv), srv->conf, specs, MILTER_LIST_MAX, &n,
	                      &err) < 0)
		log_fatal("%s", err);
	srv->tls = server_tls(srv->conf);
	srv->deliver = deliver_new(srv->conf, &err);
	if (srv->deliver == NULL)
		log_fatal("%s", err);
	srv->state_fd = server_state_fd(srv->conf);
	/* directory.db and Redis are opened on first use, inside the sandbox
	 * (the MX profile allows directory.db read-only and the Redis socket):
	 * a session that ends before its first RCPT (scanners, EHLO+QUIT) then
	 * costs no SQLite open and no Redis connection, which were most of the
	 * page faults of such a session; an accept loop keeps a snapshot of the
	 * directory for its children instead (docs/SANDBOX.md). */
}

void smtp_sandbox(struct smtp_server *srv)
{
	srv->accept_loop = conn_listeners_passed();
	if (!srv->accept_loop) {
		/* One connection: confined before a byte is read from it. */
		confine_enter(SANDBOX_MX, srv->conf, srv->state_fd, NULL);
		return;
	}
	/* An accept loop: the children's ruleset is built once, here; each
	 * child only applies it after its fork (smtp_serve_conn). The loop
	 * enters its own profile in smtp_serve_before_loop, once it holds
	 * its signal descriptor (signalfd is not in the ACCEPT allow-list),
	 * before its first accept. */
	confine_prepare(SANDBOX_MX, srv->conf, srv->state_fd);
}

/* One connection, in this process (fd 0/1) or in a child of the loop. */
static int smtp_serve_conn(struct conn *c, void *arg)
{
	const struct smtp_server *srv = arg;
	/* In a child of the loop: not the loop's Redis connection nor its end
	 * of the relay. */
	deliver_session_begin(srv->deliver);
	if (srv->accept_loop) /* confined before a byte is read (DESIGN section 4) */
		confine_enter(SANDBOX_MX, srv->conf, srv->state_fd, NULL);
	return smtp_session(srv, c);
}

static void smtp_serve_before_loop(void *arg)
{
	const struct smtp_server *srv = arg;
	confine_enter(SANDBOX_ACCEPT, srv->conf, srv->state_fd, NULL);
	title_set("accepting");
}

static void smtp_serve_before_fork(void *arg)
{
	const struct smtp_server *srv = arg;
	deliver_loop_refresh(srv->deliver);
}

static int smtp_serve_loop_fd(void *arg)
{
	const struct smtp_server *srv = arg;
	return deliver_loop_relay(srv->deliver);
}

static void smtp_serve_loop_fd_ready(void *arg)
{
	const struct smtp_server *srv = arg;
	deliver_loop_publish(srv->deliver);
}

int smtp_serve(struct smtp_server *srv)
{
	char busy[320]; /* a host name of up to 255 bytes and the text */
	struct conn_opts opts = {.tls_flag = srv->tls_flag,
	                         .max_children = (unsigned)srv->conf->max_connections,
	                         .max_per_source =
	                             (unsigned)conf_max_per_source(srv->conf, srv->proto_name),
	                         .busy_reply = smtp_reply_busy(srv->conf, busy, sizeof(busy)),
	                         .before_loop = smtp_serve_before_loop,
	                         .before_fork = smtp_serve_before_fork,
	                         .loop_fd = smtp_serve_loop_fd,
	                         .loop_fd_ready = smtp_serve_loop_fd_ready};
	return conn_serve(&opts, smtp_serve_conn, srv);
}

void smtp_close(struct smtp_server *srv)
{
	if (srv->state_fd >= 0)
		close(srv->state_fd);
	srv->state_fd = -1;
	deliver_free(&srv->deliver);
	SSL_CTX_free(srv->tls);
	srv->tls = NULL;
	conf_free(&srv->conf);
}
