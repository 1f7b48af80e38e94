/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* Mailbox store: re-encryption of a whole mailbox under a new MK (sealctl
 * user rekey), in the steps store.h describes; crash analysis in
 * docs/STORE.md, "Rekey".
 * Trust: admin (sealctl holds both keys). */
#include "store.h"

#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store_int.h"
#include "sys/log.h"

/* Re-encryption by export rather than PRAGMA rekey: SQLCipher 3.4.1 rekeys
 * in place, page by page, which is not supported in WAL mode, and a crash in
 * the middle leaves a file in two keys whose recovery depends on a rollback
 * journal written under the new key. Exporting into a fresh file and renaming
 * it over the old one has a single commit point (the rename). */

/* "<path>.rekey" into tmp, with room left for SQLite's companion suffixes
 * ("-journal"). 0 / -1 when it does not fit. */
static int store_rekey_path(const char *path, char *tmp, size_t tmpsz)
{
	int n = snprintf(tmp, tmpsz, "%s.rekey", path);
	return n < 0 || (size_t)n + 16 >= tmpsz ? -1 : 0;
}

/* Undo the exclusive locking and DELETE journal mode of a prepared or
 * failed rekey; the old file is untouched. */
static void store_rekey_restore(struct store *st)
{
	/* The lock drops at the end of the next read in NORMAL mode; then WAL
	 * can be re-enabled. */
	sqlite3_exec(st->db, "PRAGMA main.locking_mode = NORMAL", NULL, NULL, NULL);
	sqlite3_exec(st->db, "SELECT count(*) FROM sqlite_master", NULL, NULL, NULL);
	sqlite3_busy_timeout(st->db, STORE_BUSY_TIMEOUT_MS);
	sqlite3_exec(st->db, "PRAGMA journal_mode = WAL", NULL, NULL, NULL);
}

/* Prepare, step 1: take the old file for ourselves. Leaving WAL mode needs
 * every other connection closed (each holds a shared lock on the file while
 * it is open); no waiting: a busy mailbox is reported, not queued for. Then
 * keep an exclusive lock on the old file until it has been replaced (or the
 * rekey abandoned), so that no session that opens it meanwhile writes mail
 * that the export would miss. 0 ok; -1 "mailbox in use" with nothing
 * changed (locked_r false), or -1 with the lock to undo (locked_r true). */
static int store_rekey_lock_old(struct store *st, bool *locked_r, const char **error_r)
{
	*locked_r = false;
	sqlite3_busy_timeout(st->db, 0);
	char mode[16];
	if (store_pragma_text(st->db, "PRAGMA journal_mode = DELETE", mode, sizeof(mode)) !=
	        SQLITE_OK ||
	    strcmp(mode, "delete") != 0) {
		*error_r = "mailbox in use";
		store_fail_msg(st, *error_r);
		sqlite3_busy_timeout(st->db, STORE_BUSY_TIMEOUT_MS);
		return -1;
	}
	*locked_r = true;
	if (store_exec(st, "PRAGMA main.locking_mode = EXCLUSIVE") < 0) {
		*error_r = "cannot lock mailbox";
		return -1;
	}
	return 0;
}

/* Prepare, step 2: create tmp (mode 0600) and attach it as "rekey" under
 * new_mk. 0 attached, -1 with *error_r (not attached). */
static int store_rekey_attach(struct store *st, const char *tmp,
                              const unsigned char new_mk[STORE_KEY_LEN], const char **error_r)
{
	/* ATTACH inherits the connection's open flags, which lack
	 * SQLITE_OPEN_CREATE: create the (empty) file here, mode 0600. */
	int cfd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (cfd < 0) {
		*error_r = "cannot create the re-encrypted file";
		return -1;
	}
	close(cfd);
	char k[STORE_KEY_TEXT_LEN + 1];
	bool attached = false;
	store_key_text(new_mk, k);
	/* The key is bound, not spliced into the SQL text: SQLITE_STATIC means
	 * SQLite reads our buffer, which is wiped right after. */
	sqlite3_stmt *s = store_prepare(st, "ATTACH DATABASE ?1 AS rekey KEY ?2");
	if (s != NULL) {
		sqlite3_bind_text(s, 1, tmp, -1, SQLITE_STATIC);
		sqlite3_bind_text(s, 2, k, STORE_KEY_TEXT_LEN, SQLITE_STATIC);
		if (store_step_done(st, s, "attach") == 0)
			attached = true;
		sqlite3_finalize(s);
	}
	sodium_memzero(k, sizeof(k));
	if (!attached) {
		*error_r = "cannot create the re-encrypted file";
		return -1;
	}
	return 0;
}

/* Prepare, step 3: copy everything into the attached "rekey" database and
 * detach it. 0 / -1 with *error_r (detached either way). */
static int store_rekey_export(struct store *st, const char **error_r)
{
	char sql[96];
	int n = snprintf(sql, sizeof(sql), "PRAGMA rekey.user_version = %d", STORE_SCHEMA_VERSION);
	if (n < 0 || (size_t)n >= sizeof(sql) ||
	    store_exec(st, "PRAGMA rekey.cipher_page_size = 4096") < 0 ||
	    store_exec(st, "BEGIN EXCLUSIVE") < 0) {
		*error_r = "cannot prepare the export";
		goto fail;
	}
	/* sqlcipher_export copies schema and rows but not user_version. Setting
	 * it in the same transaction makes a non-zero user_version the mark of
	 * a complete export (store_open's recovery relies on it). */
	if (store_exec(st, "SELECT sqlcipher_export('rekey')") < 0 || store_exec(st, sql) < 0 ||
	    store_exec(st, "COMMIT") < 0) {
		*error_r = "export failed";
		if (!sqlite3_get_autocommit(st->db))
			sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
		goto fail;
	}
	if (store_exec(st, "DETACH DATABASE rekey") < 0) {
		*error_r = "cannot detach";
		goto fail;
	}
	return 0;
fail:
	sqlite3_exec(st->db, "DETACH DATABASE rekey", NULL, NULL, NULL);
	return -1;
}

/* Prepare, step 4: reopen the export with the new key (this proves the key
 * and switches it to WAL), compare the message count with the old file's,
 * and make the export durable. 0 / -1 with *error_r. */
static int store_rekey_verify(struct store *st, const char *tmp,
                              const unsigned char new_mk[STORE_KEY_LEN], const char **error_r)
{
	const char *e2 = NULL;
	sqlite3 *ndb = store_open_db(tmp, new_mk, &e2);
	if (ndb == NULL) {
		*error_r = "re-encrypted file does not open";
		return -1;
	}
	sqlite3_stmt *c = NULL;
	int64_t nnew = -1, nold = -2;
	if (sqlite3_prepare_v2(ndb, "SELECT count(*) FROM messages", -1, &c, NULL) == SQLITE_OK &&
	    sqlite3_step(c) == SQLITE_ROW)
		nnew = sqlite3_column_int64(c, 0);
	sqlite3_finalize(c);
	sqlite3_close(ndb);
	c = store_prepare(st, "SELECT count(*) FROM messages");
	if (c != NULL && sqlite3_step(c) == SQLITE_ROW)
		nold = sqlite3_column_int64(c, 0);
	sqlite3_finalize(c);
	if (nnew != nold) {
		*error_r = "re-encrypted file differs";
		return -1;
	}
	int fd = open(tmp, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fsync(fd) < 0) {
		if (fd >= 0)
			close(fd);
		*error_r = "cannot sync the re-encrypted file";
		return -1;
	}
	close(fd);
	if (store_fsync_parent(tmp) < 0) {
		*error_r = "cannot sync the mailbox directory";
		return -1;
	}
	return 0;
}

int store_rekey_prepare(struct store *st, const unsigned char new_mk[STORE_KEY_LEN],
                        const char **error_r)
{
	const char *dummy;
	if (error_r == NULL)
		error_r = &dummy;
	char tmp[STORE_PATH_MAX];
	bool locked = false;
	if (st->db == NULL || st->rekey_pending) {
		*error_r = st->db == NULL ? "store unusable" : "rekey already prepared";
		return store_fail_msg(st, *error_r);
	}
	if (st->depth > 0) {
		*error_r = "rekey inside a transaction";
		return store_fail_msg(st, *error_r);
	}
	if (store_rekey_path(st->path, tmp, sizeof(tmp)) < 0) {
		*error_r = "path too long";
		return store_fail_msg(st, *error_r);
	}
	store_finalize_all(st);
	store_unlink_all(tmp); /* leftovers of a rekey that crashed or was abandoned */
	if (store_rekey_lock_old(st, &locked, error_r) < 0) {
		if (!locked)
			return -1; /* busy: nothing was changed */
		goto fail;
	}
	if (store_rekey_attach(st, tmp, new_mk, error_r) < 0 ||
	    store_rekey_export(st, error_r) < 0 || store_rekey_verify(st, tmp, new_mk, error_r) < 0)
		goto fail;
	st->rekey_pending = true;
	return 0;
fail:
	store_fail_msg(st, *error_r);
	store_rekey_restore(st);
	store_unlink_all(tmp);
	return -1;
}

/* Replace the file at path by its complete export at <path>.rekey: the
 * commit point of a rekey. */
static int store_rekey_replace(const char *path, const char *tmp)
{
	/* The old file left WAL mode before the export, so no -wal/-shm should
	 * exist; a stray -wal would be replayed into the new file. */
	char p[STORE_PATH_MAX];
	static const char *const sfx[] = {"-wal", "-shm"};
	for (size_t i = 0; i < sizeof(sfx) / sizeof(sfx[0]); i++) {
		int n = snprintf(p, sizeof(p), "%s%s", path, sfx[i]);
		if (n < 0 || (size_t)n >= sizeof(p))
			return -1; /* not renamed: a cut name would leave the stray file */
		unlink(p);
	}
	if (rename(tmp, path) < 0)
		return -1;
	if (store_fsync_parent(path) < 0)
		log_event(LOG_ERR, "store-error", "REASON", "directory fsync after rekey failed",
		          NULL);
	return 0;
}

int store_rekey_commit(struct store *st, const unsigned char new_mk[STORE_KEY_LEN],
                       const char **error_r)
{
	const char *dummy;
	if (error_r == NULL)
		error_r = &dummy;
	char tmp[STORE_PATH_MAX];
	if (!st->rekey_pending || store_rekey_path(st->path, tmp, sizeof(tmp)) < 0) {
		*error_r = "no rekey prepared";
		return store_fail_msg(st, *error_r);
	}
	if (store_rekey_replace(st->path, tmp) < 0) {
		*error_r = "cannot replace the mailbox";
		return store_fail_msg(st, *error_r);
	}
	st->rekey_pending = false;
	store_finalize_all(st);
	sqlite3_close(st->db); /* releases the lock on the old, now unlinked file */
	st->db = store_open_db(st->path, new_mk, error_r);
	if (st->db == NULL) {
		*error_r = "rekeyed, reopen failed";
		return store_fail_msg(st, *error_r);
	}
	return 0;
}

void store_rekey_abort(struct store *st)
{
	char tmp[STORE_PATH_MAX];
	if (!st->rekey_pending)
		return;
	st->rekey_pending = false;
	if (store_rekey_path(st->path, tmp, sizeof(tmp)) == 0)
		store_unlink_all(tmp);
	store_rekey_restore(st);
}

int store_rekey(struct store *st, const unsigned char new_mk[STORE_KEY_LEN], const char **error_r)
{
	if (store_rekey_prepare(st, new_mk, error_r) < 0)
		return -1;
	if (store_rekey_commit(st, new_mk, error_r) < 0) {
		store_rekey_abort(st); /* no-op once the rename happened */
		return -1;
	}
	return 0;
}

/* store_open found that mk does not open path: if a complete export under
 * mk waits at <path>.rekey, a rekey crashed (or its caller stopped) between
 * recording the new key and the rename. Finish it. 0 done, -1 nothing to do. */
int store_rekey_recover(const char *path, const unsigned char mk[STORE_KEY_LEN])
{
	char tmp[STORE_PATH_MAX];
	const char *err = NULL;
	struct stat sb;
	if (store_rekey_path(path, tmp, sizeof(tmp)) < 0 || stat(tmp, &sb) < 0)
		return -1;
	sqlite3 *db = store_open_db(tmp, mk, &err);
	if (db == NULL)
		return -1;
	int v = 0;
	int rc = store_user_version(db, &v);
	sqlite3_close(db);
	if (rc < 0 || v < 1)
		return -1; /* an export that never committed */
	if (store_rekey_replace(path, tmp) < 0)
		return -1;
	log_event(LOG_NOTICE, "store-rekey-recovered", NULL);
	return 0;
}
