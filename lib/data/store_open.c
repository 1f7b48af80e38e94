/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* Mailbox store: opening mailbox.db with MK (the SQLCipher order of key,
 * cipher settings and first read), the connection's pragmas, store_open
 * with its recovery paths, and store_create. docs/STORE.md, "Opening".
 * Trust: post-auth (the caller holds MK). */
#include "store.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/codec.h"
#include "store_int.h"

static const char store_err_wrong_key[] = "wrong key or not a mailbox";

/* Folders of a new mailbox, with their RFC 6154 special-use attributes. */
static const struct {
	const char *name, *special_use;
} store_std_folders[] = {
    {"INBOX", NULL},    {"Drafts", "\\Drafts"}, {"Sent", "\\Sent"},
    {"Junk", "\\Junk"}, {"Trash", "\\Trash"},   {"Archive", "\\Archive"},
};

/* ---- the connection ---- */

/* SQLCipher's raw-key form of mk: x'<64 hex>', NUL-terminated. */
void store_key_text(const unsigned char mk[STORE_KEY_LEN], char k[STORE_KEY_TEXT_LEN + 1])
{
	k[0] = 'x';
	k[1] = '\'';
	codec_hex_encode(mk, STORE_KEY_LEN, k + 2);
	k[2 + 2 * STORE_KEY_LEN] = '\'';
	k[STORE_KEY_TEXT_LEN] = '\0';
}

/* Give SQLCipher the raw key in its x'<64 hex>' form through sqlite3_key_v2
 * (the C form of PRAGMA key): the hex never goes through the SQL parser, so no
 * copy of it stays in freed statement memory. A raw key skips SQLCipher's
 * PBKDF2 (32 ms per open, DESIGN section 2). */
static int store_apply_key(sqlite3 *db, const char *schema, const unsigned char mk[STORE_KEY_LEN])
{
	char k[STORE_KEY_TEXT_LEN + 1];
	store_key_text(mk, k);
	int rc = sqlite3_key_v2(db, schema, k, STORE_KEY_TEXT_LEN);
	sodium_memzero(k, sizeof(k));
	return rc;
}

int store_pragma_text(sqlite3 *db, const char *sql, char *out, size_t outsz)
{
	sqlite3_stmt *s = NULL;
	int rc = sqlite3_prepare_v2(db, sql, -1, &s, NULL);
	if (rc == SQLITE_OK) {
		rc = sqlite3_step(s);
		if (rc == SQLITE_ROW) {
			const unsigned char *t = sqlite3_column_text(s, 0);
			int n = snprintf(out, outsz, "%s", t != NULL ? (const char *)t : "");
			/* A cut value would be a wrong answer (a journal mode, a
			 * schema version): report it instead. */
			rc = n >= 0 && (size_t)n < outsz ? SQLITE_OK : SQLITE_TOOBIG;
		} else if (rc == SQLITE_DONE) {
			out[0] = '\0';
			rc = SQLITE_OK;
		}
	}
	sqlite3_finalize(s);
	return rc;
}

/* Open path (which must exist) with mk, verify the key and configure the
 * connection. Returns the handle or NULL with *error_r; on a wrong key
 * nothing has been written. */
sqlite3 *store_open_db(const char *path, const unsigned char mk[STORE_KEY_LEN],
                       const char **error_r)
{
	sqlite3 *db = NULL;
	struct stat sb;
	/* Without SQLITE_OPEN_CREATE SQLite creates nothing, but check first to
	 * report the common case clearly. */
	if (stat(path, &sb) < 0) {
		*error_r = errno == ENOENT ? "no such mailbox" : "cannot access mailbox";
		return NULL;
	}
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) {
		*error_r = "cannot open mailbox";
		goto fail;
	}
	/* Order matters (SQLCipher): key first, then the cipher settings, then
	 * the first read, which checks the key. */
	if (store_apply_key(db, "main", mk) != SQLITE_OK) {
		*error_r = "cannot set key";
		goto fail;
	}
	if (sqlite3_exec(db, "PRAGMA cipher_page_size = 4096", NULL, NULL, NULL) != SQLITE_OK) {
		*error_r = "cannot set cipher page size";
		goto fail;
	}
	sqlite3_busy_timeout(db, STORE_BUSY_TIMEOUT_MS);
	int rc = sqlite3_exec(db, "SELECT count(*) FROM sqlite_master", NULL, NULL, NULL);
	if (rc != SQLITE_OK) {
		/* SQLCipher reports a failed page-1 HMAC as SQLITE_NOTADB. */
		if (rc == SQLITE_NOTADB)
			*error_r = store_err_wrong_key;
		else if (rc == SQLITE_BUSY)
			*error_r = "mailbox locked";
		else
			*error_r = "cannot read mailbox";
		goto fail;
	}
	char mode[16];
	if (store_pragma_text(db, "PRAGMA journal_mode = WAL", mode, sizeof(mode)) != SQLITE_OK ||
	    strcmp(mode, "wal") != 0) {
		*error_r = "cannot enable WAL";
		goto fail;
	}
	/* synchronous=FULL: a COMMIT is on disk when it returns, which the
	 * spool import relies on before unlinking (DESIGN section 3).
	 * temp_store=MEMORY: temporary files (sorts, statement journals) are
	 * not the encrypted database; keep them off the disk so no plaintext
	 * can spill there.
	 * journal_size_limit: a large import grows the WAL; truncate it back
	 * after checkpoints instead of keeping it at its peak size. */
	/* Keep -wal and -shm when the last connection closes, as directory.db
	 * does: every session would otherwise delete both at logout and create
	 * them again at the next login (the WAL holds only encrypted pages, the
	 * index only page numbers). */
	int persist = 1;
	sqlite3_file_control(db, "main", SQLITE_FCNTL_PERSIST_WAL, &persist);
	if (sqlite3_exec(db,
	                 "PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;"
	                 "PRAGMA temp_store = MEMORY; PRAGMA journal_size_limit = 67108864;",
	                 NULL, NULL, NULL) != SQLITE_OK) {
		*error_r = "cannot configure mailbox";
		goto fail;
	}
	return db;
fail:
	sqlite3_close(db);
	return NULL;
}

/* ---- companion files and the directory ---- */

/* Unlink path + each suffix; ENOENT is fine. -1 when a name does not fit
 * (nothing is unlinked under a cut name). */
static int store_unlink_suffixes(const char *path, const char *const *sfx, size_t n)
{
	char p[STORE_PATH_MAX];
	int rc = 0;
	for (size_t i = 0; i < n; i++) {
		int len = snprintf(p, sizeof(p), "%s%s", path, sfx[i]);
		if (len < 0 || (size_t)len >= sizeof(p)) {
			rc = -1;
			continue;
		}
		unlink(p);
	}
	return rc;
}

void store_unlink_all(const char *path)
{
	static const char *const sfx[] = {"", "-wal", "-shm", "-journal"};
	/* A name too long to build was never created by SQLite either (its
	 * path limit is far lower). */
	(void)store_unlink_suffixes(path, sfx, sizeof(sfx) / sizeof(sfx[0]));
}

/* fsync the directory holding path, so that a create or rename in it is
 * durable. */
int store_fsync_parent(const char *path)
{
	char dir[STORE_PATH_MAX];
	size_t n = strlen(path);
	if (n >= sizeof(dir)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(dir, path, n + 1);
	char *slash = strrchr(dir, '/');
	if (slash == NULL)
		memcpy(dir, ".", 2);
	else if (slash == dir)
		dir[1] = '\0';
	else
		*slash = '\0';
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	int rc = fsync(fd);
	int e = errno;
	close(fd);
	errno = e;
	return rc;
}

/* ---- open and create ---- */

struct store *store_open(const char *path, const unsigned char mk[STORE_KEY_LEN],
                         const char **error_r)
{
	const char *dummy;
	if (error_r == NULL)
		error_r = &dummy;
	struct stat before, after;
	bool had = stat(path, &before) == 0;
	sqlite3 *db = store_open_db(path, mk, error_r);
	if (db == NULL && *error_r == store_err_wrong_key) {
		/* A rekey may have replaced the file while we waited for its
		 * lock: then try the new file once. Else a rekey may have died
		 * after the new key was recorded but before its rename. */
		if (had && stat(path, &after) == 0 && after.st_ino != before.st_ino)
			db = store_open_db(path, mk, error_r);
		else if (store_rekey_recover(path, mk) == 0)
			db = store_open_db(path, mk, error_r);
	}
	if (db == NULL)
		return NULL;
	struct store *st = store_new(db, path);
	if (store_migrate(st, error_r) < 0) {
		store_close(&st);
		return NULL;
	}
	return st;
}

/* Create the empty file at path (mode 0600) and remove orphan companion
 * files. 0 / -1 with *error_r; nothing is left behind on failure. */
static int store_create_file(const char *path, const char **error_r)
{
	/* O_EXCL decides atomically that the mailbox is new, and fixes the
	 * mode: mailbox.db is owned by the service user, 0600 (DESIGN 4). */
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) {
		*error_r = errno == EEXIST ? "mailbox exists" : "cannot create mailbox";
		return -1;
	}
	close(fd);
	/* A -wal left by a deleted mailbox of the same name would be replayed
	 * into the new one: the path did not exist, so these are orphans. */
	static const char *const sfx[] = {"-wal", "-shm", "-journal"};
	if (store_unlink_suffixes(path, sfx, sizeof(sfx) / sizeof(sfx[0])) < 0) {
		*error_r = "path too long";
		store_unlink_all(path);
		return -1;
	}
	return 0;
}

/* The contents of a new mailbox, in one transaction: schema, sealing key,
 * creation time, standard folders. 0 / -1 with *error_r (rolled back). */
static int store_create_contents(struct store *st, const unsigned char seal_sk[STORE_SEAL_KEY_LEN],
                                 const char **error_r)
{
	if (store_begin(st) < 0) {
		*error_r = "cannot lock new mailbox";
		return -1;
	}
	if (store_migrate_locked(st, error_r) < 0)
		goto fail;
	char created[32];
	int n = snprintf(created, sizeof(created), "%" PRId64, (int64_t)time(NULL));
	if (n < 0 || (size_t)n >= sizeof(created) ||
	    store_meta_put(st, STORE_META_SEAL, seal_sk, STORE_SEAL_KEY_LEN) < 0 ||
	    store_meta_put(st, STORE_META_CREATED, created, (size_t)n) < 0) {
		*error_r = "cannot write metadata";
		goto fail;
	}
	for (size_t i = 0; i < sizeof(store_std_folders) / sizeof(store_std_folders[0]); i++) {
		if (store_insert_folder(st, store_std_folders[i].name,
		                        store_std_folders[i].special_use, true, NULL) != 1) {
			*error_r = "cannot create folders";
			goto fail;
		}
	}
	if (store_commit(st) < 0) {
		*error_r = "cannot commit new mailbox";
		return -1;
	}
	return 0;
fail:
	store_rollback(st);
	return -1;
}

struct store *store_create(const char *path, const unsigned char mk[STORE_KEY_LEN],
                           const unsigned char seal_sk[STORE_SEAL_KEY_LEN], const char **error_r)
{
	const char *dummy;
	if (error_r == NULL)
		error_r = &dummy;
	if (store_create_file(path, error_r) < 0)
		return NULL;
	sqlite3 *db = store_open_db(path, mk, error_r);
	if (db == NULL)
		goto fail;
	struct store *st = store_new(db, path);
	if (store_create_contents(st, seal_sk, error_r) < 0) {
		store_close(&st);
		goto fail;
	}
	if (store_fsync_parent(path) < 0) {
		*error_r = "cannot sync mailbox directory";
		store_close(&st);
		goto fail;
	}
	return st;
fail:
	store_unlink_all(path);
	return NULL;
}
