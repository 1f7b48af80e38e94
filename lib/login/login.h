/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* Privilege separation of the login handlers (DESIGN section 4), as
 * Dovecot's login/post-login and OpenSSH's privsep do it:
 *  - the front process owns the client connection and TLS, parses all
 *    pre-auth input under the tightest sandbox, and hands (user, password)
 *    to the back process in a fixed, length-prefixed message;
 *  - the back process is forked from a process outside the front's
 *    sandbox: from the accept loop when the front first needs it (a
 *    session that never logs in is one process), or, serving one
 *    connection (inetd), before the front confines itself. It never parses
 *    client input before authentication, and after success narrows itself
 *    to users/<id>/ and serves the session over the socketpair;
 *  - from then on the front only relays bytes between TLS and the back.
 * Trust: the front is pre-auth; the back trusts the front's framing only. */
#ifndef SEALMAIL_LOGIN_H
#define SEALMAIL_LOGIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "sys/conf.h"
#include "sys/conn.h"
#include "base/buf.h"
#include "sys/io.h"
#include "sys/server.h"

#define LOGIN_USER_MAX   320
#define LOGIN_SECRET_MAX 1024
#define LOGIN_TAG_MAX    256
#define LOGIN_MSG_MAX    (16 + LOGIN_USER_MAX + LOGIN_SECRET_MAX + LOGIN_TAG_MAX)
#define LOGIN_VERSION    1

/* Flags describing the client connection, passed to the back. */
#define LOGIN_F_TLS      0x01u
#define LOGIN_F_LOOPBACK 0x02u
/* After LOGIN_OK the front hands the client socket to the back (a plaintext
 * connection: nothing for the front to decrypt) and leaves. */
#define LOGIN_F_HANDOFF 0x04u
/* The most pipelined bytes a hand-over carries. */
#define LOGIN_HANDOFF_MAX 65536

/* Back's answer: one byte. */
#define LOGIN_OK       '+'
#define LOGIN_FAIL     '-'
#define LOGIN_TEMPFAIL '!'

struct login_creds {
	char user[LOGIN_USER_MAX + 1];
	char secret[LOGIN_SECRET_MAX + 1];
	char tag[LOGIN_TAG_MAX + 1];
	unsigned flags;
};

/* Fork the back process: fn(fd, arg) runs in the child with its end of a
 * socketpair and its result is the child's exit status. Returns the front's
 * end, or -1. *pid_r gets the child's pid. */
int login_fork_back(int (*fn)(int fd, void *arg), void *arg, pid_t *pid_r);

/* Front: send credentials (wiped from the message buffer afterwards). 0/-1. */
int login_send(int fd, const char *user, size_t ulen, const char *secret, size_t slen,
               const char *tag, unsigned flags);
/* Front: wait for the back's one-byte answer (timeout_ms): the byte, or -1. */
int login_wait_answer(int fd, int timeout_ms);

/* Back: receive one credentials message within timeout_ms. 1 ok, 0 the front
 * closed, -1 malformed or timed out (the back exits). */
int login_recv(int fd, int timeout_ms, struct login_creds *c);
/* Back: send the one-byte answer. */
int login_answer(int fd, char answer);
/* Pure: decode a credentials message; 1 ok, 0 malformed. */
int login_decode(const unsigned char *msg, size_t len, struct login_creds *c);

/* What a login handler's front and back share (lib/login/loginmain.c). */
struct login_ctx {
	struct conf *conf;
	SSL_CTX *tls;      /* NULL: no TLS configured; the key only in a front */
	int tls_keyfd;     /* the key file until a front loads it; -1 after */
	struct conn *conn; /* the connection being served */
	int state_fd;      /* state_dir, for the sandbox rules */
	int backfd;        /* the front's end to the back; -1 until login_back */
	pid_t backpid;     /* the back, when it is the front's child; else 0 */
	bool handoff;      /* the last login_attempt announced a hand-over */
};

struct login_handler {
	const char *prog;                    /* "imapd", "pop3d" */
	int (*front)(struct login_ctx *ctx); /* pre-auth, then relay */
	int (*back)(int fd, void *ctx);      /* ctx is the login_ctx */
	const char *busy_reply;              /* over the per-source limit (conn.h) */
};

/* Front: the socket to the back process, asking the accept loop to fork
 * it on first use. -1 when there is none (the front answers with a
 * temporary failure). */
int login_back(struct login_ctx *ctx);
/* Front: one login attempt with the credentials of the client on io: the
 * back's answer (LOGIN_OK, LOGIN_FAIL, LOGIN_TEMPFAIL, a handler's own), or
 * -1 when the back is gone (end the session). No back: LOGIN_TEMPFAIL. */
int login_attempt(struct login_ctx *ctx, const struct io *io, const char *user, size_t ulen,
                  const char *pw, size_t plen, const char *tag, int timeout_ms);
/* The plaintext_auth policy (INTERFACES): may a password travel on this
 * connection now? Always over TLS; otherwise per configuration. */
bool login_plaintext_ok(const struct login_ctx *ctx, const struct io *io);

/* SASL PLAIN (RFC 4616: authzid NUL authcid NUL passwd) from its base64
 * form. LOGIN_PLAIN_OK sets *user, *ulen, *pw and *plen, pointing into raw
 * (the caller wipes raw with buf_wipe in every case). No proxy users: a
 * non-empty authzid must equal the authcid. */
enum login_plain {
	LOGIN_PLAIN_OK,
	LOGIN_PLAIN_CANCEL, /* the client sent "*" */
	LOGIN_PLAIN_BAD_B64,
	LOGIN_PLAIN_MALFORMED, /* fewer than two NULs */
	LOGIN_PLAIN_AUTHZID,   /* authzid names another user */
};
enum login_plain login_sasl_plain(const char *b64, size_t len, struct buf *raw, const char **user,
                                  size_t *ulen, const char **pw, size_t *plen);

/* A login handler's process from main() to exit (DESIGN section 4): what
 * its stages open, and what every connection's front and back share. */
struct login_run {
	const struct login_handler *h;
	struct server_args args; /* server_flags */
	struct login_ctx ctx;    /* ctx.conf: server_conf_load */
};

/* The stages of a login handler's main() after log and config, in this
 * order (handlers/imapd/main.c, handlers/pop3d/main.c). A failure in any is
 * fatal (logged, exit 1). */
/* Open what needs privilege or a path: the TLS context without its key
 * (ctx.tls) and the key file (ctx.tls_keyfd), state_dir (ctx.state_fd).
 * Only a front loads the key, after its back was forked; every back closes
 * the file first; an accept loop checks it in a child at start-up. */
void login_open(struct login_run *run);
/* Load what libraries would open lazily inside a sandbox: OpenSSL's
 * configuration, the time zone, SQLite, libsodium (server_warm), and the
 * kernel's huge page mode for Argon2 (kdf_hugepages_init). */
void login_warm(struct login_run *run);
/* Sandbox and serve: find the connection(s) (fd 0/1, or an accept loop on
 * systemd's sockets) and serve each. The accept loop enters SANDBOX_ACCEPT
 * before its first accept; each front enters SANDBOX_PREAUTH_FRONT and
 * each back SANDBOX_AUTH, then SANDBOX_POSTAUTH, before it reads a byte.
 * Returns the exit status (conn_serve). */
int login_serve(struct login_run *run);
/* Exit: free what login_open and the configuration hold. */
void login_close(struct login_run *run);

/* Front after success: pass bytes both ways until either side closes. The
 * bytes the client pipelined after the login command and still buffered in
 * client go first. Returns 0. */
int login_relay(struct io *client, int backfd);
/* Front after success: hand a plaintext client over to the back (the
 * socket and the pipelined bytes; the front then only waits or exits), or
 * relay a TLS one. Returns 0. */
int login_continue(struct login_ctx *ctx, struct io *client);
/* Back after LOGIN_OK with LOGIN_F_HANDOFF: the client socket, with the
 * pipelined bytes appended to pending; -1 if the front failed to send them
 * within timeout_ms. */
int login_handoff_recv(int fd, int timeout_ms, struct buf *pending);

#endif
