/* SPDX-License-Identifier: AGPL-3.0-or-later */
#include "loginback.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "data/account.h"
#include "crypto/kdf.h"
#include "sys/proclimit.h"
#include "sys/log.h"
#include "sys/server.h"
#include "base/timeutil.h"
#include "svc/confine.h"
#include "svc/penalty.h"

static void loginback_detach(const struct conn *conn)
{
	if (conn->rfd > 2)
		close(conn->rfd);
	if (conn->wfd > 2 && conn->wfd != conn->rfd)
		close(conn->wfd);
	int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (devnull >= 0) {
		dup2(devnull, 0);
		dup2(devnull, 1);
		close(devnull);
	}
}

/* Copy a NUL-terminated string into dst: false if it does not fit. */
static bool loginback_copy(char *dst, size_t size, const char *src)
{
	size_t n = strlen(src);
	if (n >= size)
		return false;
	memcpy(dst, src, n + 1);
	return true;
}

/* What the stages of one back share. */
struct loginback {
	const struct conf *c;
	const struct login_back_ops *ops;
	int fd;       /* the socketpair to the front */
	int state_fd; /* state_dir, O_PATH */
	int timeout;  /* for credentials and a hand-over, ms */
	struct kdf_slots *slots; /* in the authenticating child */
	struct directory *dir;   /* in the authenticating child */
	struct penalty *pen;     /* in the authenticating child; NULL: off */
	const char *remote;      /* the client's address (conn.remote) */
};

/* Wait until the front leaves or ms have passed: the attempt's turn under
 * the shared penalty. Served here, before the KDF and its host-wide slot,
 * so that it holds the attacker's own connection and nothing shared. false
 * when the front left (the session is over). */
static bool loginback_wait(int fd, uint64_t ms)
{
	int64_t end = timeutil_mono_ms() + (int64_t)ms;
	for (;;) {
		int64_t left = end - timeutil_mono_ms();
		if (left <= 0)
			return true;
		struct pollfd pf = {.fd = fd, .events = POLLIN};
		int r = poll(&pf, 1, (int)left);
		if (r < 0 && errno != EINTR)
			return false;
		/* The front sends nothing while it waits for an answer: input
		 * here is its end of file. */
		if (r > 0)
			return false;
	}
}

/* The shared penalty before a password check (lib/svc/penalty.h): 1 check
 * the password, 0 answer a failure without checking it (the source is over
 * its penalty), -1 the front left while waiting. */
static int loginback_penalty(struct loginback *b, const char *user)
{
	struct penalty_verdict v;
	penalty_begin(b->pen, b->remote, user, &v);
	if (v.wait_ms == 0 && !v.refuse)
		return 1;
	char delay[24], sf[16], af[16];
	/* fit: a uint64_t and two unsigned ints in decimal */
	(void)snprintf(delay, sizeof(delay), "%llu", (unsigned long long)v.wait_ms);
	(void)snprintf(sf, sizeof(sf), "%u", v.source_failures);
	(void)snprintf(af, sizeof(af), "%u", v.account_failures);
	log_event(LOG_NOTICE, "auth-penalty", "USER", user, "DELAY_MS", delay, "SOURCE_FAILURES",
	          sf, "ACCOUNT_FAILURES", af, "ACTION", v.refuse ? "refuse" : "delay", "STORE",
	          v.store, NULL);
	if (!loginback_wait(b->fd, v.wait_ms))
		return -1;
	return v.refuse ? 0 : 1;
}

/* Authenticate: credentials from the front, the KDF and the unwrap of MK,
 * up to LOGINBACK_ATTEMPTS_MAX times. 1 with ls (user, id, tag, flags) and
 * mk set; 0 when the front gave up or left; -1 on a server fault (answered
 * LOGIN_TEMPFAIL). Runs in the AUTH sandbox: directory.db read-only. */
static int loginback_authenticate(struct loginback *b, struct login_session *ls,
                                  unsigned char mk[KEYWRAP_MK_LEN])
{
	const char *err;
	for (int attempt = 0; attempt < LOGINBACK_ATTEMPTS_MAX; attempt++) {
		struct login_creds cr;
		int r = login_recv(b->fd, b->timeout, &cr);
		if (r <= 0)
			return 0;
		/* Opened at the first attempt: a session that never logs in
		 * costs no SQLite open. */
		if (b->dir == NULL &&
		    directory_open(b->c->state_dir, DIRECTORY_READ, &b->dir, &err) < 0) {
			log_event(LOG_ERR, "directory-error", "REASON", err, NULL);
			sodium_memzero(&cr, sizeof(cr));
			login_answer(b->fd, LOGIN_TEMPFAIL);
			return -1;
		}
		int pen = loginback_penalty(b, cr.user);
		if (pen <= 0) {
			if (pen == 0)
				log_event(LOG_NOTICE, "auth-fail", "USER", cr.user, "REASON",
				          "source over its penalty, password not checked", NULL);
			sodium_memzero(&cr, sizeof(cr));
			if (pen < 0 || login_answer(b->fd, LOGIN_FAIL) < 0)
				return 0;
			continue;
		}
		struct directory_user u;
		r = account_unlock(b->dir, b->c, b->slots, cr.user, KEYWRAP_PASSWORD, cr.secret,
		                   strlen(cr.secret), &u, mk, &err);
		sodium_memzero(cr.secret, sizeof(cr.secret));
		if (r == 0)
			penalty_fail(b->pen, b->remote, cr.user);
		else if (r == 1)
			penalty_success(b->pen, b->remote);
		if (r != 1) {
			log_event(LOG_NOTICE, "auth-fail", "USER", cr.user, "REASON",
			          r == 0 ? "wrong password or unknown user" : err, NULL);
			login_answer(b->fd, r == 0 ? LOGIN_FAIL : LOGIN_TEMPFAIL);
			continue;
		}
		memset(ls, 0, sizeof(*ls));
		ls->fd = b->fd;
		ls->spool_fd = -1;
		ls->flags = cr.flags;
		/* The directory bounds addresses by LOGIN_USER_MAX and ids by
		 * 32 hex digits, and cr.tag has ls->tag's size: a cut here would
		 * be a corrupt directory, refused like any other failure. */
		bool fits = loginback_copy(ls->user, sizeof(ls->user), u.address) &&
		            loginback_copy(ls->user_id, sizeof(ls->user_id), u.id) &&
		            loginback_copy(ls->tag, sizeof(ls->tag), cr.tag);
		directory_user_clear(&u);
		if (fits)
			return 1;
		log_event(LOG_ERR, "directory-error", "USER", cr.user, "REASON",
		          "address or id too long", NULL);
		sodium_memzero(mk, KEYWRAP_MK_LEN);
		login_answer(b->fd, LOGIN_TEMPFAIL);
	}
	return 0;
}

/* What the authenticating child reports to the back: one fixed record on a
 * pipe, smaller than PIPE_BUF, so written and read whole. */
struct loginback_result {
	int r; /* loginback_authenticate's result */
	unsigned flags;
	char user[LOGIN_USER_MAX + 1];
	char user_id[33];
	char tag[LOGIN_TAG_MAX + 1];
	unsigned char mk[KEYWRAP_MK_LEN];
};

/* The child: open the KDF slots (lock files in run_dir) while it still may,
 * confine itself to SANDBOX_AUTH (directory.db read-only, nothing under
 * users/, no TCP) and authenticate; the result goes to out. Its exit
 * status: 0, or 1 when the record could not be written. */
static int loginback_auth_child(struct loginback *b, int out)
{
	struct loginback_result res;
	struct login_session ls = {.fd = -1, .spool_fd = -1};
	memset(&res, 0, sizeof(res));
	b->slots = kdf_slots_open(b->c->run_dir, b->c->kdf_concurrency); /* open: KDF slots */
	b->pen = penalty_open(b->c, b->state_fd);                        /* open: penalties */
	confine_enter(SANDBOX_AUTH, b->c, b->state_fd, NULL);           /* sandbox */
	res.r = loginback_authenticate(b, &ls, res.mk);                  /* password -> MK */
	directory_close(&b->dir);
	kdf_slots_free(&b->slots);
	penalty_close(&b->pen);
	if (res.r == 1) {
		/* Same sizes as ls's fields: these copies always fit. */
		res.flags = ls.flags;
		(void)loginback_copy(res.user, sizeof(res.user), ls.user);
		(void)loginback_copy(res.user_id, sizeof(res.user_id), ls.user_id);
		(void)loginback_copy(res.tag, sizeof(res.tag), ls.tag);
	}
	ssize_t w;
	do
		w = write(out, &res, sizeof(res));
	while (w < 0 && errno == EINTR);
	sodium_memzero(&res, sizeof(res));
	close(out);
	return w == (ssize_t)sizeof(res) ? 0 : 1;
}

/* Whether the record of the child at in was read whole and is well-formed
 * (strings terminated, r one of -1, 0, 1); false when the child died or
 * lied. */
static bool loginback_read_result(int in, struct loginback_result *res)
{
	ssize_t n;
	do
		n = read(in, res, sizeof(*res));
	while (n < 0 && errno == EINTR);
	return n == (ssize_t)sizeof(*res) && res->r >= -1 && res->r <= 1 &&
	       memchr(res->user, '\0', sizeof(res->user)) != NULL &&
	       memchr(res->user_id, '\0', sizeof(res->user_id)) != NULL &&
	       memchr(res->tag, '\0', sizeof(res->tag)) != NULL;
}

/* Authenticate in a child process, as loginback_authenticate (same
 * results). The user names and passwords are handled in a process whose
 * Landlock layer has nothing of users/; this one, which never sees them,
 * then enters POSTAUTH for the user the child names. One process could not
 * do both: a Landlock layer only narrows the layers below it, so a process
 * that is to write users/<id>/ after login must have been able to write
 * every users/<id>/ before it (docs/SANDBOX.md). A compromised child can
 * name another user, but not unwrap that user's MK: the mailbox then does
 * not open. */
static int loginback_auth_fork(struct loginback *b, struct login_session *ls,
                               unsigned char mk[KEYWRAP_MK_LEN])
{
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0) {
		log_event(LOG_ERR, "auth-fork-failed", "REASON", strerror(errno), NULL);
		return -1;
	}
	pid_t pid = fork();
	if (pid < 0) {
		log_event(LOG_ERR, "auth-fork-failed", "REASON", strerror(errno), NULL);
		close(p[0]);
		close(p[1]);
		return -1;
	}
	if (pid == 0) {
		close(p[0]);
		_exit(loginback_auth_child(b, p[1]));
	}
	close(p[1]);
	struct loginback_result res;
	bool got = loginback_read_result(p[0], &res);
	close(p[0]);
	int status = 0;
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (WIFSIGNALED(status)) {
		/* A sandbox kill (SIGSYS) of the authenticating stage is a
		 * server fault of the back, logged as the front logs its death. */
		char sig[16];
		(void)snprintf(sig, sizeof(sig), "%d", WTERMSIG(status)); /* fits: an int */
		log_event(LOG_ERR, "back-died", "STAGE", "auth", "SIGNAL", sig, NULL);
	}
	int r = got ? res.r : -1;
	if (r == 1) {
		memset(ls, 0, sizeof(*ls));
		ls->fd = b->fd;
		ls->spool_fd = -1;
		ls->flags = res.flags;
		memcpy(ls->user, res.user, sizeof(ls->user));
		memcpy(ls->user_id, res.user_id, sizeof(ls->user_id));
		memcpy(ls->tag, res.tag, sizeof(ls->tag));
		memcpy(mk, res.mk, KEYWRAP_MK_LEN);
	}
	sodium_memzero(&res, sizeof(res));
	return r;
}

/* Open: the user's mailbox under MK (which is wiped here), the handler's
 * admission check, the spool directory for IDLE; then the answer to the
 * front and, for a plaintext client, the socket itself. 1 to serve, 0 when
 * the session ends here. Runs in the POSTAUTH sandbox (users/<id>/ only). */
static int loginback_open(struct loginback *b, struct login_session *ls,
                          unsigned char mk[KEYWRAP_MK_LEN])
{
	const char *err;
	if (b->ops->postauth != NULL) {
		/* The login alone: MK proved the password and is not needed. */
		sodium_memzero(mk, KEYWRAP_MK_LEN);
		if (b->ops->postauth(b->c, ls, b->state_fd, b->ops->arg) < 0) {
			login_answer(b->fd, LOGIN_TEMPFAIL);
			return 0;
		}
	} else {
		ls->st = account_open_mailbox(b->c, ls->user_id, mk, NULL, &err);
		sodium_memzero(mk, KEYWRAP_MK_LEN);
		if (ls->st == NULL) {
			log_event(LOG_ERR, "mailbox-error", "USER", ls->user, "REASON", err, NULL);
			login_answer(b->fd, LOGIN_TEMPFAIL);
			return 0; /* confined to this user: no second attempt here */
		}
	}
	int refuse = b->ops->admit ? b->ops->admit(b->c, ls, b->ops->arg) : 0;
	if (refuse != 0) {
		log_event(LOG_NOTICE, "auth-refused", "USER", ls->user, NULL);
		login_answer(b->fd, (char)refuse);
		return 0;
	}
	char spool[4200];
	int n = snprintf(spool, sizeof(spool), "%s/users/%s/spool", b->c->state_dir, ls->user_id);
	/* A cut path would name another directory: no spool then. */
	ls->spool_fd = n > 0 && (size_t)n < sizeof(spool)
	                   ? open(spool, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
	                   : -1;
	log_set("USER", ls->user);
	log_event(LOG_INFO, "auth-ok", "TLS", (ls->flags & LOGIN_F_TLS) ? "yes" : "no", NULL);
	if (login_answer(b->fd, LOGIN_OK) < 0)
		return 0;
	if (ls->flags & LOGIN_F_HANDOFF) {
		/* A plaintext client: serve its socket directly, so that the
		 * front can leave. */
		int cfd = login_handoff_recv(b->fd, b->timeout, &ls->pending);
		if (cfd < 0) {
			log_event(LOG_WARNING, "handoff-fail", NULL);
			return 0;
		}
		close(b->fd);
		ls->fd = cfd;
	}
	return 1;
}

int login_back_run(const struct conf *c, const struct conn *conn, int fd, int state_fd,
                   const struct login_back_ops *ops)
{
	uint64_t login_timeout =
	    ops->login_timeout_ms ? ops->login_timeout_ms : c->imapd_login_timeout_ms;
	struct loginback b = {.c = c,
	                      .ops = ops,
	                      .fd = fd,
	                      .state_fd = state_fd,
	                      .remote = conn->remote,
	                      .timeout = (int)login_timeout * 3}; /* <= 3 * 3600000: fits */
	struct login_session ls = {.fd = -1, .spool_fd = -1};
	unsigned char mk[KEYWRAP_MK_LEN];
	int rc = 0;

	loginback_detach(conn);                     /* the client is the front's */
	int r = loginback_auth_fork(&b, &ls, mk);   /* a child in AUTH: password -> MK */
	if (r <= 0)
		return r < 0 ? 1 : 0;
	proclimit_apply(PROCLIMIT_BACK, c); /* Argon2's memory is gone */
	if (ops->postauth == NULL)
		confine_enter(SANDBOX_POSTAUTH, c, state_fd, ls.user_id); /* users/<id>/ only */
	if (loginback_open(&b, &ls, mk) == 1)                     /* mailbox, answer */
		rc = ops->session(c, &ls, ops->arg);              /* serve */
	buf_free(&ls.pending);
	if (ls.spool_fd >= 0)
		close(ls.spool_fd);
	store_close(&ls.st);
	return rc;
}
