/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* The back process of imapd: lib/login/loginback.c authenticates, then the IMAP
 * session runs. Trust: the back. */
#include "imapd.h"
#include "login/login.h"
#include "login/loginback.h"
#include "svc/confine.h"

static int imapd_session(const struct conf *c, struct login_session *ls, void *arg)
{
	const struct conn *conn = arg;
	struct store *st = ls->st;
	int spool_fd = ls->spool_fd;
	/* The session owns them from here. */
	ls->st = NULL;
	ls->spool_fd = -1;
	return imap_session(c, ls->fd, &ls->pending, st, spool_fd, ls->user, ls->user_id, ls->tag,
	                    conn->remote);
}

int imapd_back(int fd, void *arg)
{
	struct login_ctx *ctx = arg;
	struct login_back_ops ops = {.session = imapd_session, .arg = ctx->conn};
	confine_want_user_watch(); /* IDLE's inotify, set before POSTAUTH forbids it */
	return login_back_run(ctx->conf, ctx->conn, fd, ctx->state_fd, &ops);
}
