/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* The back process of a login handler before authentication (DESIGN
 * section 4): receive credentials from the front (lib/login/login.h framing, never
 * client bytes), run the KDF under the host-wide slot limit, unwrap MK, open
 * and import the mailbox, and hand the session to the protocol. Shared by
 * imapd, pop3d and submitd. Trust: the back; it holds the directory. */
#ifndef SEALMAIL_LOGINBACK_H
#define SEALMAIL_LOGINBACK_H

#include <stddef.h>
#include <stdint.h>

#include "sys/conf.h"
#include "sys/conn.h"
#include "base/buf.h"
#include "login.h"
#include "data/store.h"

#define LOGINBACK_ATTEMPTS_MAX 3
/* Extra answer byte: the user is logged in and the protocol refuses a
 * second session (POP3 [IN-USE], RFC 2449 section 8.1.2). */
#define LOGIN_INUSE 'U'

struct login_session {
	int fd;             /* the client socket (handed over), or the
	                     * socketpair to the front (which relays TLS) */
	struct buf pending; /* pipelined client bytes to read before fd */
	struct store *st;   /* the user's open mailbox (spool imported) */
	int spool_fd;       /* users/<id>/spool, or -1 */
	char user[LOGIN_USER_MAX + 1];
	char user_id[33];
	char tag[LOGIN_TAG_MAX + 1];
	unsigned flags; /* LOGIN_F_* of the connection */
};

struct login_back_ops {
	/* After a successful unlock, before answering: 0 admit, or an answer
	 * byte to refuse (the mailbox is closed again). May be NULL. */
	int (*admit)(const struct conf *c, struct login_session *ls, void *arg);
	/* Serve the session; its result is the process exit status. */
	int (*session)(const struct conf *c, struct login_session *ls, void *arg);
	void *arg;
	/* NULL: after a successful unlock the back enters SANDBOX_POSTAUTH and
	 * opens the user's mailbox (imapd, pop3d). Otherwise the handler needs
	 * the login only (submitd): MK is wiped unused, the mailbox is not
	 * opened, and this confines the back for the session instead (0, or -1
	 * to answer a temporary failure). ls->st stays NULL. */
	int (*postauth)(const struct conf *c, struct login_session *ls, int state_fd, void *arg);
	/* The handler's login timeout (pop3d.login_timeout for pop3d): the
	 * back waits three times this for credentials and a hand-over. 0:
	 * imapd.login_timeout, the key of the first login handler. */
	uint64_t login_timeout_ms;
};

/* The back's whole life: returns the exit status. conn's descriptors are
 * closed first (the back never talks to the client). After a successful
 * unlock the back enters the POSTAUTH sandbox (users/<id>/ only) before it
 * opens the mailbox; state_fd is state_dir for those rules. */
int login_back_run(const struct conf *c, const struct conn *conn, int fd, int state_fd,
                   const struct login_back_ops *ops);

#endif
