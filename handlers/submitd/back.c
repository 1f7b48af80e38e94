/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* The back of submitd: authentication through lib/login (the password
 * unwraps MK in a sandboxed child, with the shared login penalty; MK is
 * then wiped: submission needs no mailbox), then the session's own stage
 * (the MX profile plus the queue: directory.db read-only, users/ spool
 * writes, queue/tmp and queue/active, queue.pub) and the SMTP engine's
 * transaction with submit.c's hooks. Trust: the back; client bytes are read
 * only after login. */
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "data/queue.h"
#include "login/loginback.h"
#include "svc/confine.h"
#include "svc/deliver.h"
#include "sys/log.h"
#include "submitd.h"

struct submitd_back {
	struct login_ctx *ctx;
	struct submitd sub;
};

/* Open what the session needs, then confine it. 0, or -1 (logged). */
static int submitd_postauth(const struct conf *c, struct login_session *ls, int state_fd,
                            void *arg)
{
	struct submitd_back *b = arg;
	struct submitd *sub = &b->sub;
	const char *err;
	sub->conf = c;
	sub->queue_fd = -1;
	memcpy(sub->user, ls->user, sizeof(sub->user));
	memcpy(sub->user_id, ls->user_id, sizeof(sub->user_id));
	sub->tls = (ls->flags & LOGIN_F_TLS) != 0;
	sub->deliver = deliver_new(c, &err);
	if (sub->deliver == NULL) {
		log_event(LOG_ERR, "deliver-error", "REASON", err, NULL);
		return -1;
	}
	deliver_session_begin(sub->deliver);
	if (directory_open(c->state_dir, DIRECTORY_READ, &sub->dir, &err) < 0) {
		log_event(LOG_ERR, "directory-error", "REASON", err, NULL);
		return -1;
	}
	/* O_PATH: the sandbox gives no right on queue/ itself, only on what is
	 * below it. Without a queue (sealctl init makes it) local mail still goes;
	 * remote recipients are refused with a temporary error. */
	sub->queue_fd = openat(state_fd, "queue", O_PATH | O_DIRECTORY | O_CLOEXEC);
	sub->queue_ok = sub->queue_fd >= 0 && queue_pubkey_load(sub->queue_fd, sub->queue_pk) == 0;
	if (!sub->queue_ok)
		log_event(LOG_WARNING, "queue-unavailable", "REASON",
		          "no queue/queue.pub under state_dir (sealctl init)", NULL);
	confine_enter(SANDBOX_SUBMIT, c, state_fd, NULL); /* directory.db, the queue */
	return 0;
}

static int submitd_session(const struct conf *c, struct login_session *ls, void *arg)
{
	struct submitd_back *b = arg;
	struct smtp_submit_hooks hooks = submitd_hooks_template;
	hooks.arg = &b->sub;
	struct smtp_server srv = {.mode = SMTP_MODE_SUBMIT,
	                          .conf = (struct conf *)c,
	                          .deliver = b->sub.deliver,
	                          .proto_name = "submitd",
	                          .state_fd = -1,
	                          .submit = &hooks};
	/* The connection as the engine sees it: the client's address, and
	 * the descriptor of this session (the client's socket after a
	 * hand-over, or the front's relay of a TLS one). */
	struct conn cn = *b->ctx->conn;
	cn.rfd = cn.wfd = ls->fd;
	cn.implicit_tls = false;
	cn.ctl_fd = -1;
	int rc = smtp_session_resume(&srv, &cn, ls->tag, ls->pending.data, ls->pending.len);
	directory_close(&b->sub.dir);
	deliver_free(&b->sub.deliver);
	if (b->sub.queue_fd >= 0)
		close(b->sub.queue_fd);
	return rc;
}

int submitd_back(int fd, void *arg)
{
	struct submitd_back b;
	memset(&b, 0, sizeof(b));
	b.ctx = arg;
	b.sub.queue_fd = -1;
	struct login_back_ops ops = {.session = submitd_session,
	                             .postauth = submitd_postauth,
	                             .arg = &b,
	                             .login_timeout_ms = b.ctx->conf->imapd_login_timeout_ms};
	return login_back_run(b.ctx->conf, b.ctx->conn, fd, b.ctx->state_fd, &ops);
}
