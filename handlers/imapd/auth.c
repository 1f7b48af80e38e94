/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* The back process before login: receives credentials from the front in
 * the fixed framing of lib/login.c (never client bytes), runs the KDF under
 * the host-wide slot limit, unwraps MK, opens and imports the mailbox, and
 * only then serves the session. Trust: the back; it holds the directory. */
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "account.h"
#include "conn.h"
#include "imapd.h"
#include "kdf.h"
#include "log.h"
#include "login.h"

#define AUTH_ATTEMPTS_MAX 3

int imapd_back(int fd, void *arg)
{
	struct imapd_ctx *ctx = arg;
	const struct conf *c = ctx->conf;
	const char *err;
	/* The back never touches the client connection. */
	if (ctx->conn->rfd > 2)
		close(ctx->conn->rfd);
	if (ctx->conn->wfd > 2 && ctx->conn->wfd != ctx->conn->rfd)
		close(ctx->conn->wfd);
	int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (devnull >= 0) {
		dup2(devnull, 0);
		dup2(devnull, 1);
		close(devnull);
	}
	struct directory *dir;
	if (directory_open(c->state_dir, DIRECTORY_READ, &dir, &err) < 0) {
		log_event(LOG_ERR, "directory-error", "REASON", err, NULL);
		struct login_creds cr;
		if (login_recv(fd, (int)c->imapd_login_timeout_ms * 3, &cr) == 1)
			login_answer(fd, LOGIN_TEMPFAIL);
		sodium_memzero(&cr, sizeof(cr));
		return 1;
	}
	struct kdf_slots *slots = kdf_slots_open(c->run_dir, c->kdf_concurrency);
	for (int attempt = 0; attempt < AUTH_ATTEMPTS_MAX; attempt++) {
		struct login_creds cr;
		int r = login_recv(fd, (int)c->imapd_login_timeout_ms * 3, &cr);
		if (r <= 0)
			break;
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
		struct store_import_stats stats;
		struct store *st = account_open_mailbox(c, u.id, mk, &stats, &err);
		sodium_memzero(mk, sizeof(mk));
		if (st == NULL) {
			log_event(LOG_ERR, "mailbox-error", "USER", u.address, "REASON", err, NULL);
			login_answer(fd, LOGIN_TEMPFAIL);
			directory_user_clear(&u);
			continue;
		}
		log_set("USER", u.address);
		log_event(LOG_INFO, "auth-ok", "TLS", (cr.flags & LOGIN_F_TLS) ? "yes" : "no", NULL);
		directory_close(&dir);
		kdf_slots_free(&slots);
		login_answer(fd, LOGIN_OK);
		char user[sizeof(u.address)], id[sizeof(u.id)];
		snprintf(user, sizeof(user), "%s", u.address);
		snprintf(id, sizeof(id), "%s", u.id);
		directory_user_clear(&u);
		char spool[4200];
		snprintf(spool, sizeof(spool), "%s/users/%s/spool", c->state_dir, id);
		int spool_fd = open(spool, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		return imap_session(c, fd, st, spool_fd, user, id, cr.tag);
	}
	directory_close(&dir);
	kdf_slots_free(&slots);
	return 0;
}
