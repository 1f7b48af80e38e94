/* SPDX-License-Identifier: AGPL-3.0-or-later */
#include "loginback.h"

#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "data/account.h"
#include "crypto/kdf.h"
#include "sys/log.h"
#include "sys/server.h"
#include "svc/confine.h"

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

int login_back_run(const struct conf *c, const struct conn *conn, int fd, int state_fd,
                   const struct login_back_ops *ops)
{
	const char *err;
	uint64_t login_timeout =
	    ops->login_timeout_ms ? ops->login_timeout_ms : c->imapd_login_timeout_ms;
	int timeout = (int)login_timeout * 3; /* at most 3 * 3600000: fits */
	loginback_detach(conn);
	/* The KDF slots are lock files in run_dir, opened before the sandbox;
	 * the directory is opened read-only inside it, at the first attempt
	 * (a session that never logs in costs no SQLite open). */
	struct kdf_slots *slots = kdf_slots_open(c->run_dir, c->kdf_concurrency);
	confine_enter(SANDBOX_AUTH, c, state_fd, NULL);
	struct directory *dir = NULL;
	for (int attempt = 0; attempt < LOGINBACK_ATTEMPTS_MAX; attempt++) {
		struct login_creds cr;
		int r = login_recv(fd, timeout, &cr);
		if (r <= 0)
			break;
		if (dir == NULL && directory_open(c->state_dir, DIRECTORY_READ, &dir, &err) < 0) {
			log_event(LOG_ERR, "directory-error", "REASON", err, NULL);
			sodium_memzero(&cr, sizeof(cr));
			login_answer(fd, LOGIN_TEMPFAIL);
			kdf_slots_free(&slots);
			return 1;
		}
		struct directory_user u;
		unsigned char mk[KEYWRAP_MK_LEN];
		r = account_unlock(dir, c, slots, cr.user, KEYWRAP_PASSWORD, cr.secret,
		                   strlen(cr.secret), &u, mk, &err);
		sodium_memzero(cr.secret, sizeof(cr.secret));
		if (r != 1) {
			log_event(LOG_NOTICE, "auth-fail", "USER", cr.user, "REASON",
			          r == 0 ? "wrong password or unknown user" : err, NULL);
			login_answer(fd, r == 0 ? LOGIN_FAIL : LOGIN_TEMPFAIL);
			continue;
		}
		struct login_session ls;
		memset(&ls, 0, sizeof(ls));
		ls.fd = fd;
		ls.flags = cr.flags;
		/* The directory bounds addresses by LOGIN_USER_MAX and ids by
		 * 32 hex digits, and cr.tag has ls.tag's size: a cut here would
		 * be a corrupt directory, refused like any other failure. */
		if (!loginback_copy(ls.user, sizeof(ls.user), u.address) ||
		    !loginback_copy(ls.user_id, sizeof(ls.user_id), u.id) ||
		    !loginback_copy(ls.tag, sizeof(ls.tag), cr.tag)) {
			log_event(LOG_ERR, "directory-error", "USER", cr.user, "REASON",
			          "address or id too long", NULL);
			directory_user_clear(&u);
			sodium_memzero(mk, sizeof(mk));
			login_answer(fd, LOGIN_TEMPFAIL);
			continue;
		}
		directory_user_clear(&u);
		/* From here on only this user's directory is reachable: the
		 * directory database and the KDF slots are closed first. */
		directory_close(&dir);
		kdf_slots_free(&slots);
		confine_enter(SANDBOX_POSTAUTH, c, state_fd, ls.user_id);
		ls.st = account_open_mailbox(c, ls.user_id, mk, NULL, &err);
		sodium_memzero(mk, sizeof(mk));
		if (ls.st == NULL) {
			log_event(LOG_ERR, "mailbox-error", "USER", ls.user, "REASON", err, NULL);
			login_answer(fd, LOGIN_TEMPFAIL);
			return 0; /* confined to this user: no second attempt here */
		}
		int refuse = ops->admit ? ops->admit(c, &ls, ops->arg) : 0;
		if (refuse != 0) {
			log_event(LOG_NOTICE, "auth-refused", "USER", ls.user, NULL);
			store_close(&ls.st);
			login_answer(fd, (char)refuse);
			return 0;
		}
		char spool[4200];
		int n =
		    snprintf(spool, sizeof(spool), "%s/users/%s/spool", c->state_dir, ls.user_id);
		/* A cut path would name another directory: no spool then. */
		ls.spool_fd = n > 0 && (size_t)n < sizeof(spool)
		                  ? open(spool, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
		                  : -1;
		log_set("USER", ls.user);
		log_event(LOG_INFO, "auth-ok", "TLS", (cr.flags & LOGIN_F_TLS) ? "yes" : "no",
		          NULL);
		if (login_answer(fd, LOGIN_OK) < 0) {
			store_close(&ls.st);
			return 0;
		}
		if (cr.flags & LOGIN_F_HANDOFF) {
			/* A plaintext client: serve its socket directly, so
			 * that the front can leave. */
			int cfd = login_handoff_recv(fd, timeout, &ls.pending);
			if (cfd < 0) {
				log_event(LOG_WARNING, "handoff-fail", NULL);
				buf_free(&ls.pending);
				store_close(&ls.st);
				return 0;
			}
			close(fd);
			ls.fd = cfd;
		}
		int rc = ops->session(c, &ls, ops->arg);
		buf_free(&ls.pending);
		if (ls.spool_fd >= 0)
			close(ls.spool_fd);
		store_close(&ls.st);
		return rc;
	}
	directory_close(&dir);
	kdf_slots_free(&slots);
	return 0;
}
