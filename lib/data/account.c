/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* Trust: admin (sealctl) and post-login. See account.h. */
#define _XOPEN_SOURCE 700
#include "account.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <grp.h>
#include <pwd.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/fmt.h"
#include "crypto/age.h"
#include "crypto/kdf.h"
#include "sys/log.h"
#include "spool.h"

static char account_err[512];

/* Paths are never cut (a cut path names another file): each builder below
 * fails instead, and error texts are cut visibly (fmt_msg). */
int account_user_dir(const struct conf *c, const char *id, char *out, size_t outsz)
{
	return fmt_name(out, outsz, "%s/users/%s", c->state_dir, id);
}

int account_mailbox_path(const struct conf *c, const char *id, char *out, size_t outsz)
{
	return fmt_name(out, outsz, "%s/users/%s/mailbox.db", c->state_dir, id);
}

/* Set *error_r to "what: strerror(errno)". */
static void account_fail(const char *what, const char **error_r)
{
	fmt_msg(account_err, sizeof(account_err), "%s: %s", what, strerror(errno));
	*error_r = account_err;
}

void account_chown(const char *path, bool spool)
{
	if (geteuid() != 0)
		return;
	struct passwd *pw = getpwnam("sealmail");
	if (pw == NULL)
		return;
	gid_t gid = pw->pw_gid;
	struct group *gr = getgrnam("sealmail-mx");
	if (gr != NULL)
		gid = gr->gr_gid;
	/* The spool belongs to the group the MX runs in (DESIGN section 4);
	 * users/<id>/ too, so the MX can reach its spool/. */
	if (chown(path, pw->pw_uid, gid) < 0)
		log_event(LOG_WARNING, "chown-failed", "REASON", strerror(errno), NULL);
	(void)spool;
}

static int account_rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	return (flag == FTW_DP ? rmdir(path) : unlink(path)) < 0 && errno != ENOENT ? -1 : 0;
}

static int account_rmtree(const char *path)
{
	struct stat st;
	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 : -1;
	return nftw(path, account_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void account_chown_tree(const char *udir)
{
	char p[PATH_MAX];
	static const char *const sub[] = {"", "/mailbox.db", "/mailbox.db-wal", "/mailbox.db-shm",
					  "/spool", "/spool/tmp", "/spool/new"};
	for (size_t i = 0; i < sizeof(sub) / sizeof(sub[0]); i++) {
		/* A path too long to build names no file we could have made. */
		if (fmt_name(p, sizeof(p), "%s%s", udir, sub[i]) == 0 && access(p, F_OK) == 0)
			account_chown(p, i >= 4);
	}
}

/* users/<id>/ with a fresh mailbox.db and spool; removed again on failure. */
static int account_make_files(const struct conf *c, const char *id,
			      const unsigned char mk[KEYWRAP_MK_LEN],
			      const unsigned char sk[AGE_KEY_LEN], const char **error_r)
{
	char udir[PATH_MAX], mbox[PATH_MAX];
	if (account_user_dir(c, id, udir, sizeof(udir)) < 0 ||
	    account_mailbox_path(c, id, mbox, sizeof(mbox)) < 0) {
		account_fail(c->state_dir, error_r);
		return -1;
	}
	/* 0750 whatever the umask: the MX (group sealmail-mx) must reach
	 * spool/, never mailbox.db (0600). */
	if (mkdir(udir, 0750) < 0 || chmod(udir, 0750) < 0) {
		account_fail(udir, error_r);
		return -1;
	}
	struct store *st = store_create(mbox, mk, sk, error_r);
	if (st == NULL) {
		account_rmtree(udir);
		return -1;
	}
	store_close(&st);
	int fd = open(udir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || spool_create_dirs(fd) < 0) {
		fmt_msg(account_err, sizeof(account_err), "%s/spool: %s", udir, strerror(errno));
		*error_r = account_err;
		if (fd >= 0)
			close(fd);
		account_rmtree(udir);
		return -1;
	}
	close(fd);
	account_chown_tree(udir);
	return 0;
}

int account_create(struct directory *dir, const struct conf *c, const char *address,
		   const char *password, size_t pwlen, char *recovery_out, size_t recovery_sz,
		   enum directory_status *status_r, const char **error_r)
{
	struct directory_user u;
	unsigned char mk[KEYWRAP_MK_LEN], sk[AGE_KEY_LEN];
	struct kdf_params kp;
	int rc = -1;
	memset(&u, 0, sizeof(u));
	*status_r = DIRECTORY_ERR_TEMP;
	int exists = directory_user_get(dir, address, &u);
	directory_user_clear(&u);
	if (exists != 0) {
		*status_r = exists > 0 ? DIRECTORY_ERR_EXISTS : directory_status(dir);
		*error_r = exists > 0 ? "user exists" : directory_error(dir);
		return -1;
	}
	memset(&u, 0, sizeof(u));
	directory_new_id(u.id);
	/* A cut address would create another user than the one named. */
	if (fmt_name(u.address, sizeof(u.address), "%s", address) < 0) {
		*status_r = DIRECTORY_ERR_INVALID;
		*error_r = "address too long";
		return -1;
	}
	keywrap_mk_new(mk);
	age_keypair(u.seal_pk, sk);
	kdf_params_from_conf(c, &kp);
	if (keywrap_wrap(u.id, KEYWRAP_PASSWORD, &kp, password, pwlen, mk, &u.pw_blob, error_r) < 0)
		goto out;
	if (recovery_out != NULL) {
		if (keywrap_recovery_new(recovery_out, recovery_sz) < 0 ||
		    keywrap_wrap(u.id, KEYWRAP_RECOVERY, &kp, recovery_out, strlen(recovery_out), mk,
				 &u.recovery_blob, error_r) < 0)
			goto out;
	}
	if (account_make_files(c, u.id, mk, sk, error_r) < 0)
		goto out;
	/* The directory entry comes last: the MX must never find a user whose
	 * spool does not exist yet. */
	if (directory_user_add(dir, &u) < 0) {
		char udir[PATH_MAX];
		*status_r = directory_status(dir);
		*error_r = directory_error(dir);
		if (account_user_dir(c, u.id, udir, sizeof(udir)) == 0) /* it fitted just now */
			account_rmtree(udir);
		goto out;
	}
	*status_r = DIRECTORY_OK;
	rc = 0;
out:
	sodium_memzero(mk, sizeof(mk));
	sodium_memzero(sk, sizeof(sk));
	directory_user_clear(&u);
	return rc;
}

int account_unlock(struct directory *dir, const struct conf *c, struct kdf_slots *slots,
		   const char *address, enum keywrap_kind kind, const char *secret,
		   size_t secretlen, struct directory_user *u, unsigned char mk[KEYWRAP_MK_LEN],
		   const char **error_r)
{
	memset(u, 0, sizeof(*u));
	int g = directory_user_get(dir, address, u);
	if (g < 0) {
		*error_r = directory_error(dir);
		return -1;
	}
	const struct buf *blob = kind == KEYWRAP_RECOVERY ? &u->recovery_blob : &u->pw_blob;
	if (slots != NULL && kdf_slot_acquire(slots) < 0) {
		directory_user_clear(u);
		*error_r = "cannot take a KDF slot";
		return -1;
	}
	int rc;
	if (g == 0 || blob->len == 0) {
		/* Unknown user (or no recovery code): spend the same KDF so the
		 * answer's timing does not tell which users exist. */
		struct kdf_params kp;
		kdf_params_from_conf(c, &kp);
		kdf_dummy(&kp, secret, secretlen);
		*error_r = "authentication failed";
		rc = 0;
	} else {
		rc = keywrap_unwrap(u->id, kind, blob->data, blob->len, secret, secretlen, mk,
				    error_r) == 0
			     ? 1
			     : 0;
	}
	if (slots != NULL)
		kdf_slot_release(slots);
	if (rc != 1)
		directory_user_clear(u);
	return rc;
}

int account_set_password(struct directory *dir, const struct conf *c, struct directory_user *u,
			 const unsigned char mk[KEYWRAP_MK_LEN], const char *password, size_t pwlen,
			 const char **error_r)
{
	struct kdf_params kp;
	kdf_params_from_conf(c, &kp);
	if (keywrap_wrap(u->id, KEYWRAP_PASSWORD, &kp, password, pwlen, mk, &u->pw_blob, error_r) < 0)
		return -1;
	if (directory_user_update(dir, u, DIRECTORY_SET_PW_BLOB) < 0) {
		*error_r = directory_error(dir);
		return -1;
	}
	return 0;
}

struct store *account_open_mailbox(const struct conf *c, const char *id,
				   const unsigned char mk[KEYWRAP_MK_LEN],
				   struct store_import_stats *stats, const char **error_r)
{
	char mbox[PATH_MAX], spool[PATH_MAX];
	if (account_mailbox_path(c, id, mbox, sizeof(mbox)) < 0 ||
	    fmt_name(spool, sizeof(spool), "%s/users/%s/spool", c->state_dir, id) < 0) {
		account_fail(c->state_dir, error_r);
		return NULL;
	}
	struct store *st = store_open(mbox, mk, error_r);
	if (st == NULL)
		return NULL;
	int fd = open(spool, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	struct store_import_stats dummy;
	if (fd < 0 || store_import_spool(st, fd, (size_t)c->max_message_size + (1 << 20),
					 stats ? stats : &dummy, error_r) < 0) {
		if (fd < 0)
			account_fail(spool, error_r);
		if (fd >= 0)
			close(fd);
		store_close(&st);
		return NULL;
	}
	/* A delivery that died before its rename (an MX child killed mid-DATA)
	 * leaves a partial file in spool/tmp that was never acknowledged. The
	 * login removes those older than SPOOL_TMP_MAX_AGE_S, as a Maildir
	 * reader cleans tmp/ (qmail's maildir(5) says 36 hours); a younger
	 * file may be a delivery in progress. A failure only delays this. */
	if (spool_clean_tmp(fd, SPOOL_TMP_MAX_AGE_S, NULL) < 0)
		log_event(LOG_WARNING, "spool-tmp-clean-failed", "REASON", strerror(errno), NULL);
	close(fd);
	return st;
}

int account_rekey(struct directory *dir, const struct conf *c, struct directory_user *u,
		  const unsigned char old_mk[KEYWRAP_MK_LEN], const char *password, size_t pwlen,
		  char *recovery_out, size_t recovery_sz, bool *new_recovery_r, const char **error_r)
{
	unsigned char mk[KEYWRAP_MK_LEN], sk[AGE_KEY_LEN];
	struct kdf_params kp;
	int rc = -1;
	*new_recovery_r = false;
	/* Import what is spooled under the old sealing key first. */
	struct store *st = account_open_mailbox(c, u->id, old_mk, NULL, error_r);
	if (st == NULL)
		return -1;
	keywrap_mk_new(mk);
	age_keypair(u->seal_pk, sk);
	kdf_params_from_conf(c, &kp);
	if (keywrap_wrap(u->id, KEYWRAP_PASSWORD, &kp, password, pwlen, mk, &u->pw_blob, error_r) < 0)
		goto out;
	unsigned fields = DIRECTORY_SET_PW_BLOB | DIRECTORY_SET_SEAL_PK;
	if (u->recovery_blob.len > 0) {
		if (keywrap_recovery_new(recovery_out, recovery_sz) < 0 ||
		    keywrap_wrap(u->id, KEYWRAP_RECOVERY, &kp, recovery_out, strlen(recovery_out), mk,
				 &u->recovery_blob, error_r) < 0)
			goto out;
		fields |= DIRECTORY_SET_RECOVERY_BLOB;
		*new_recovery_r = true;
	}
	if (store_begin(st) < 0 || store_set_seal_secret(st, sk) < 0 || store_commit(st) < 0) {
		*error_r = store_error(st);
		goto out;
	}
	/* Export under the new key, record the new key in the directory, then
	 * rename the export into place: a crash before the directory update
	 * leaves the old mailbox and keys; after it, store_open with the new
	 * key finishes the rename (lib/data/store.h). */
	if (store_rekey_prepare(st, mk, error_r) < 0)
		goto out;
	if (directory_user_update(dir, u, fields) < 0) {
		*error_r = directory_error(dir);
		store_rekey_abort(st);
		goto out;
	}
	if (store_rekey_commit(st, mk, error_r) < 0)
		goto out;
	rc = 0;
out:
	store_close(&st);
	sodium_memzero(mk, sizeof(mk));
	sodium_memzero(sk, sizeof(sk));
	return rc;
}

int account_reset(struct directory *dir, const struct conf *c, const char *address,
		  const char *password, size_t pwlen, const char **error_r)
{
	struct directory_user u;
	unsigned char mk[KEYWRAP_MK_LEN], sk[AGE_KEY_LEN];
	struct kdf_params kp;
	char udir[PATH_MAX], mbox[PATH_MAX], tmp[PATH_MAX], wal[PATH_MAX], shm[PATH_MAX],
	    spool_new[PATH_MAX];
	int rc = -1;
	memset(&u, 0, sizeof(u));
	int g = directory_user_get(dir, address, &u);
	if (g <= 0) {
		*error_r = g == 0 ? "no such user" : directory_error(dir);
		return -1;
	}
	keywrap_mk_new(mk);
	age_keypair(u.seal_pk, sk);
	kdf_params_from_conf(c, &kp);
	if (keywrap_wrap(u.id, KEYWRAP_PASSWORD, &kp, password, pwlen, mk, &u.pw_blob, error_r) < 0)
		goto out;
	buf_free(&u.recovery_blob);
	/* Every path first: a reset that cannot name all its files starts none. */
	if (account_user_dir(c, u.id, udir, sizeof(udir)) < 0 ||
	    account_mailbox_path(c, u.id, mbox, sizeof(mbox)) < 0 ||
	    fmt_name(tmp, sizeof(tmp), "%s.reset", mbox) < 0 ||
	    fmt_name(wal, sizeof(wal), "%s-wal", mbox) < 0 ||
	    fmt_name(shm, sizeof(shm), "%s-shm", mbox) < 0 ||
	    fmt_name(spool_new, sizeof(spool_new), "%s/spool/new", udir) < 0) {
		account_fail(c->state_dir, error_r);
		goto out;
	}
	/* New mailbox beside the old one, then swap: a crash leaves one of them. */
	unlink(tmp);
	struct store *st = store_create(tmp, mk, sk, error_r);
	if (st == NULL)
		goto out;
	store_close(&st);
	/* The old WAL must go before the new file takes the name: SQLite would
	 * otherwise replay the old mailbox's frames into it. */
	unlink(wal);
	unlink(shm);
	if (rename(tmp, mbox) < 0) {
		account_fail(mbox, error_r);
		goto out;
	}
	/* Spooled mail was sealed to the old key: unreadable now. */
	account_rmtree(spool_new);
	int fd = open(udir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		spool_create_dirs(fd);
		close(fd);
	}
	account_chown_tree(udir);
	if (directory_user_update(dir, &u,
				  DIRECTORY_SET_PW_BLOB | DIRECTORY_SET_RECOVERY_BLOB |
					  DIRECTORY_SET_SEAL_PK) < 0) {
		*error_r = directory_error(dir);
		goto out;
	}
	rc = 0;
out:
	sodium_memzero(mk, sizeof(mk));
	sodium_memzero(sk, sizeof(sk));
	directory_user_clear(&u);
	return rc;
}

int account_delete(struct directory *dir, const struct conf *c, const char *address,
		   enum directory_status *status_r, const char **error_r)
{
	char id[DIRECTORY_ID_LEN + 1], udir[PATH_MAX];
	if (directory_user_del(dir, address, id) < 0) {
		*status_r = directory_status(dir);
		*error_r = directory_error(dir);
		return -1;
	}
	if (account_user_dir(c, id, udir, sizeof(udir)) < 0 || account_rmtree(udir) < 0) {
		account_fail(udir[0] != '\0' ? udir : c->state_dir, error_r);
		*status_r = DIRECTORY_ERR_TEMP;
		return -1;
	}
	*status_r = DIRECTORY_OK;
	return 0;
}
