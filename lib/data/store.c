/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* Encrypted per-user mailbox (SQLCipher) and spool import. See store.h for
 * the API and docs/STORE.md for the schema and the crash analysis.
 * Trust: post-auth (the caller holds MK). */
#include "store.h"

#include <dirent.h>
#include <errno.h>
#include <malloc.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "crypto/age.h"
#include "base/codec.h"
#include "sys/log.h"
#include "base/mem.h"
#include "proto/msgtext.h"
#include "base/rnd.h"
#include "spool.h"

/* Statements prepared once per connection (hot paths of append, import and
 * flag changes). */
enum store_stmt {
	S_FOLDER_COUNTERS,
	S_FOLDER_SET_COUNTERS,
	S_FOLDER_BY_NAME,
	S_MODSEQ_BUMP,
	S_BODY_INSERT,
	S_MSG_INSERT,
	S_MSG_GET,
	S_MSG_SET_FLAGS,
	S_MSG_DELETE,
	S_EXPUNGED_ADD,
	S_IMPORTED_HAS,
	S_IMPORTED_ADD,
	S_TEXT_HDR_INSERT,
	S_TEXT_BODY_INSERT,
	S_COUNT
};

static const char *const store_stmt_sql[S_COUNT] = {
    [S_FOLDER_COUNTERS] = "SELECT uidnext, highestmodseq FROM folders WHERE id = ?1",
    [S_FOLDER_SET_COUNTERS] = "UPDATE folders SET uidnext = ?2, highestmodseq = ?3 "
                              "WHERE id = ?1",
    [S_FOLDER_BY_NAME] = "SELECT id, name, uidvalidity, uidnext, highestmodseq, special_use, "
                         "subscribed FROM folders WHERE name = ?1",
    [S_MODSEQ_BUMP] = "UPDATE folders SET highestmodseq = highestmodseq + 1 WHERE id = ?1",
    [S_BODY_INSERT] = "INSERT INTO bodies(size, raw) VALUES (?1, ?2)",
    [S_MSG_INSERT] = "INSERT INTO messages(folder_id, uid, modseq, flags, keywords, "
                     "internaldate, size, body_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    [S_MSG_GET] = "SELECT uid, modseq, flags, keywords, internaldate, size FROM messages "
                  "WHERE folder_id = ?1 AND uid = ?2",
    [S_MSG_SET_FLAGS] = "UPDATE messages SET flags = ?3, keywords = ?4, modseq = ?5 "
                        "WHERE folder_id = ?1 AND uid = ?2",
    [S_MSG_DELETE] = "DELETE FROM messages WHERE folder_id = ?1 AND uid = ?2",
    [S_EXPUNGED_ADD] = "INSERT OR REPLACE INTO expunged(folder_id, uid, modseq) "
                       "VALUES (?1, ?2, ?3)",
    [S_IMPORTED_HAS] = "SELECT 1 FROM spool_imported WHERE name = ?1",
    [S_IMPORTED_ADD] = "INSERT INTO spool_imported(name, imported_at) VALUES (?1, ?2)",
    [S_TEXT_HDR_INSERT] = "INSERT INTO body_hdr(id, hdr) VALUES (?1, ?2)",
    [S_TEXT_BODY_INSERT] = "INSERT INTO body_text(id, body) VALUES (?1, ?2)",
};

struct store {
	sqlite3 *db;
	char *path;
	int depth;          /* open transaction levels (store_begin and internal) */
	bool rekey_pending; /* store_rekey_prepare done, commit or abort due */
	sqlite3_stmt *stmt[S_COUNT];
	char err[256];
};

/* Ordered migrations: entry i brings user_version i to i + 1. Never edit a
 * released entry; append a new one and bump STORE_SCHEMA_VERSION. */
static const char *const store_migrations[STORE_SCHEMA_VERSION] = {
    /* 0 -> 1 */
    "CREATE TABLE meta ("
    "  key TEXT PRIMARY KEY NOT NULL,"
    "  value BLOB NOT NULL"
    ") WITHOUT ROWID;"
    "CREATE TABLE folders ("
    "  id INTEGER PRIMARY KEY,"
    "  name TEXT NOT NULL UNIQUE,"
    "  uidvalidity INTEGER NOT NULL CHECK (uidvalidity BETWEEN 1 AND 4294967295),"
    "  uidnext INTEGER NOT NULL DEFAULT 1 CHECK (uidnext BETWEEN 1 AND 4294967295),"
    "  highestmodseq INTEGER NOT NULL DEFAULT 1 CHECK (highestmodseq >= 1),"
    "  special_use TEXT,"
    "  subscribed INTEGER NOT NULL DEFAULT 0"
    ");"
    /* Raw messages live apart from the per-message metadata so that
     * scanning flags or mod-sequences never decrypts message pages; COPY may
     * share one body between messages (garbage-collected by trigger). */
    "CREATE TABLE bodies ("
    "  id INTEGER PRIMARY KEY,"
    "  size INTEGER NOT NULL,"
    "  header_cache BLOB,"
    "  raw BLOB NOT NULL"
    ");"
    "CREATE TABLE messages ("
    "  folder_id INTEGER NOT NULL REFERENCES folders(id) ON DELETE CASCADE,"
    "  uid INTEGER NOT NULL CHECK (uid BETWEEN 1 AND 4294967295),"
    "  modseq INTEGER NOT NULL CHECK (modseq >= 1),"
    "  flags INTEGER NOT NULL DEFAULT 0,"
    "  keywords TEXT NOT NULL DEFAULT '',"
    "  internaldate INTEGER NOT NULL,"
    "  size INTEGER NOT NULL,"
    "  body_id INTEGER NOT NULL REFERENCES bodies(id),"
    "  envelope TEXT,"
    "  bodystructure TEXT,"
    "  PRIMARY KEY (folder_id, uid)"
    ") WITHOUT ROWID;"
    "CREATE INDEX messages_by_modseq ON messages(folder_id, modseq);"
    "CREATE INDEX messages_by_body ON messages(body_id);"
    "CREATE TRIGGER bodies_gc AFTER DELETE ON messages"
    "  WHEN NOT EXISTS (SELECT 1 FROM messages WHERE body_id = OLD.body_id)"
    "  BEGIN DELETE FROM bodies WHERE id = OLD.body_id; END;"
    /* RFC 7162 section 3.2.10 (QRESYNC VANISHED): UIDs expunged and when. */
    "CREATE TABLE expunged ("
    "  folder_id INTEGER NOT NULL REFERENCES folders(id) ON DELETE CASCADE,"
    "  uid INTEGER NOT NULL,"
    "  modseq INTEGER NOT NULL,"
    "  PRIMARY KEY (folder_id, uid)"
    ") WITHOUT ROWID;"
    "CREATE INDEX expunged_by_modseq ON expunged(folder_id, modseq);"
    /* Spool files imported but maybe not yet unlinked (DESIGN section 3). */
    "CREATE TABLE spool_imported ("
    "  name TEXT PRIMARY KEY NOT NULL,"
    "  imported_at INTEGER NOT NULL"
    ") WITHOUT ROWID;",
    /* 1 -> 2: the searchable text of SEARCH and its full-text index
     * (store.h, "Full-text index"). The folded text lives in two plain
     * tables keyed by bodies.id, header apart from body so that header
     * searches read only headers; each has an external-content FTS4 index
     * (unicode61 tokenizer; SQLite 3.15 has no FTS5) kept in step by
     * triggers, the pattern the FTS4 documentation gives for external content: the
     * index entry goes before its row, since FTS4 reads the row to know
     * which terms to remove. Existing bodies are queued in body_text_todo
     * rather than indexed here, so that opening a big old mailbox stays
     * quick; the queue is filled from messages(body_id), an index scan:
     * every body belongs to a message, and scanning bodies would decrypt
     * all the mail. */
    "CREATE TABLE body_hdr ("
    "  id INTEGER PRIMARY KEY,"
    "  hdr TEXT NOT NULL"
    ");"
    "CREATE TABLE body_text ("
    "  id INTEGER PRIMARY KEY,"
    "  body TEXT NOT NULL"
    ");"
    "CREATE VIRTUAL TABLE hdr_fts USING fts4(content=\"body_hdr\", hdr, tokenize=unicode61);"
    "CREATE VIRTUAL TABLE text_fts USING fts4(content=\"body_text\", body, tokenize=unicode61);"
    "CREATE TRIGGER body_hdr_ai AFTER INSERT ON body_hdr BEGIN"
    "  INSERT INTO hdr_fts(docid, hdr) VALUES (NEW.id, NEW.hdr);"
    "END;"
    "CREATE TRIGGER body_hdr_bd BEFORE DELETE ON body_hdr BEGIN"
    "  DELETE FROM hdr_fts WHERE docid = OLD.id;"
    "END;"
    "CREATE TRIGGER body_text_ai AFTER INSERT ON body_text BEGIN"
    "  INSERT INTO text_fts(docid, body) VALUES (NEW.id, NEW.body);"
    "END;"
    "CREATE TRIGGER body_text_bd BEFORE DELETE ON body_text BEGIN"
    "  DELETE FROM text_fts WHERE docid = OLD.id;"
    "END;"
    "CREATE TABLE body_text_todo ("
    "  body_id INTEGER PRIMARY KEY"
    ");"
    "INSERT INTO body_text_todo(body_id) SELECT DISTINCT body_id FROM messages;"
    "CREATE TRIGGER bodies_text_gc AFTER DELETE ON bodies BEGIN"
    "  DELETE FROM body_hdr WHERE id = OLD.id;"
    "  DELETE FROM body_text WHERE id = OLD.id;"
    "  DELETE FROM body_text_todo WHERE body_id = OLD.id;"
    "END;",
};

/* Folders of a new mailbox, with their RFC 6154 special-use attributes. */
static const struct {
	const char *name, *special_use;
} store_std_folders[] = {
    {"INBOX", NULL},    {"Drafts", "\\Drafts"}, {"Sent", "\\Sent"},
    {"Junk", "\\Junk"}, {"Trash", "\\Trash"},   {"Archive", "\\Archive"},
};

static const char *const store_meta_seal = "seal_sk";
static const char *const store_meta_seal_old = "seal_sk_old";

static const char store_err_wrong_key[] = "wrong key or not a mailbox";

static int store_rekey_recover(const char *path, const unsigned char mk[STORE_KEY_LEN]);

/* ---- errors and statements ---- */

static int store_fail(struct store *st, const char *what)
{
	const char *msg = st->db != NULL ? sqlite3_errmsg(st->db) : "no database";
	snprintf(st->err, sizeof(st->err), "%s: %s", what, msg);
	log_event(LOG_ERR, "store-error", "REASON", st->err, NULL);
	return -1;
}

static int store_fail_msg(struct store *st, const char *msg)
{
	snprintf(st->err, sizeof(st->err), "%s", msg);
	log_event(LOG_ERR, "store-error", "REASON", st->err, NULL);
	return -1;
}

const char *store_error(const struct store *st)
{
	return st->err;
}

static void store_finalize_all(struct store *st);

void store_trim(struct store *st)
{
	/* Cached statements are prepared again at their next use. */
	if (st->depth == 0)
		store_finalize_all(st);
	sqlite3_db_release_memory(st->db);
	malloc_trim(0);
}

sqlite3 *store_db(struct store *st)
{
	return st->db;
}

/* Return the cached statement, reset and with bindings cleared; NULL on
 * error (logged). */
static sqlite3_stmt *store_stmt(struct store *st, enum store_stmt which)
{
	if (st->db == NULL) {
		store_fail_msg(st, "store unusable");
		return NULL;
	}
	sqlite3_stmt *s = st->stmt[which];
	if (s == NULL) {
		if (sqlite3_prepare_v2(st->db, store_stmt_sql[which], -1, &s, NULL) != SQLITE_OK) {
			store_fail(st, "prepare");
			return NULL;
		}
		st->stmt[which] = s;
	}
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
	return s;
}

static void store_finalize_all(struct store *st)
{
	for (size_t i = 0; i < S_COUNT; i++) {
		sqlite3_finalize(st->stmt[i]);
		st->stmt[i] = NULL;
	}
}

/* Prepare an ad-hoc statement. */
static sqlite3_stmt *store_prepare(struct store *st, const char *sql)
{
	sqlite3_stmt *s = NULL;
	if (st->db == NULL) {
		store_fail_msg(st, "store unusable");
		return NULL;
	}
	if (sqlite3_prepare_v2(st->db, sql, -1, &s, NULL) != SQLITE_OK) {
		store_fail(st, "prepare");
		sqlite3_finalize(s);
		return NULL;
	}
	return s;
}

static int store_exec(struct store *st, const char *sql)
{
	if (st->db == NULL)
		return store_fail_msg(st, "store unusable");
	if (sqlite3_exec(st->db, sql, NULL, NULL, NULL) != SQLITE_OK)
		return store_fail(st, sql);
	return 0;
}

/* Run a statement that returns no rows (or whose rows are ignored). */
static int store_step_done(struct store *st, sqlite3_stmt *s, const char *what)
{
	int rc;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW)
		;
	if (rc != SQLITE_DONE) {
		store_fail(st, what);
		sqlite3_reset(s);
		return -1;
	}
	sqlite3_reset(s);
	return 0;
}

/* ---- transactions ---- */

int store_begin(struct store *st)
{
	/* Writes after the export would be lost with the old file. */
	if (st->rekey_pending)
		return store_fail_msg(st, "rekey in progress");
	/* BEGIN IMMEDIATE takes the write lock now: a deferred transaction
	 * that later upgrades can fail with SQLITE_BUSY without waiting, when
	 * another session wrote meanwhile (WAL snapshot conflict). */
	if (store_exec(st, st->depth == 0 ? "BEGIN IMMEDIATE" : "SAVEPOINT nest") < 0)
		return -1;
	st->depth++;
	return 0;
}

int store_commit(struct store *st)
{
	if (st->depth <= 0)
		return store_fail_msg(st, "commit without transaction");
	if (st->depth > 1) {
		st->depth--;
		return store_exec(st, "RELEASE nest");
	}
	st->depth = 0;
	if (store_exec(st, "COMMIT") < 0) {
		/* An I/O error may leave the transaction open: end it. */
		if (st->db != NULL && !sqlite3_get_autocommit(st->db))
			sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
		return -1;
	}
	return 0;
}

int store_rollback(struct store *st)
{
	if (st->depth <= 0)
		return store_fail_msg(st, "rollback without transaction");
	if (st->depth > 1) {
		st->depth--;
		int rc = store_exec(st, "ROLLBACK TO nest");
		if (store_exec(st, "RELEASE nest") < 0)
			rc = -1;
		return rc;
	}
	st->depth = 0;
	if (st->db != NULL && sqlite3_get_autocommit(st->db))
		return 0; /* SQLite already rolled back (e.g. after SQLITE_FULL) */
	return store_exec(st, "ROLLBACK");
}

/* ---- opening ---- */

/* Give SQLCipher the raw key in its x'<64 hex>' form through sqlite3_key_v2
 * (the C form of PRAGMA key): the hex never goes through the SQL parser, so no
 * copy of it stays in freed statement memory. A raw key skips SQLCipher's
 * PBKDF2 (32 ms per open, DESIGN section 2). */
static int store_apply_key(sqlite3 *db, const char *schema, const unsigned char mk[STORE_KEY_LEN])
{
	char k[2 * STORE_KEY_LEN + 4];
	k[0] = 'x';
	k[1] = '\'';
	codec_hex_encode(mk, STORE_KEY_LEN, k + 2);
	k[2 + 2 * STORE_KEY_LEN] = '\'';
	k[3 + 2 * STORE_KEY_LEN] = '\0';
	int rc = sqlite3_key_v2(db, schema, k, 3 + 2 * STORE_KEY_LEN);
	sodium_memzero(k, sizeof(k));
	return rc;
}

static int store_pragma_text(sqlite3 *db, const char *sql, char *out, size_t outsz)
{
	sqlite3_stmt *s = NULL;
	int rc = sqlite3_prepare_v2(db, sql, -1, &s, NULL);
	if (rc == SQLITE_OK) {
		rc = sqlite3_step(s);
		if (rc == SQLITE_ROW) {
			const unsigned char *t = sqlite3_column_text(s, 0);
			snprintf(out, outsz, "%s", t != NULL ? (const char *)t : "");
			rc = SQLITE_OK;
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
static sqlite3 *store_open_db(const char *path, const unsigned char mk[STORE_KEY_LEN],
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

static int store_user_version(sqlite3 *db, int *v)
{
	char t[32];
	if (store_pragma_text(db, "PRAGMA user_version", t, sizeof(t)) != SQLITE_OK)
		return -1;
	*v = atoi(t);
	return 0;
}

/* Bring the schema to STORE_SCHEMA_VERSION; the caller holds a write
 * transaction. */
static int store_migrate_locked(struct store *st, const char **error_r)
{
	int v;
	if (store_user_version(st->db, &v) < 0) {
		*error_r = "cannot read schema version";
		return store_fail(st, "user_version");
	}
	if (v > STORE_SCHEMA_VERSION || v < 0) {
		*error_r = "mailbox schema is newer than this program";
		return store_fail_msg(st, *error_r);
	}
	for (; v < STORE_SCHEMA_VERSION; v++) {
		if (store_exec(st, store_migrations[v]) < 0) {
			*error_r = "schema migration failed";
			return -1;
		}
	}
	char sql[64];
	snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", STORE_SCHEMA_VERSION);
	if (store_exec(st, sql) < 0) {
		*error_r = "cannot write schema version";
		return -1;
	}
	return 0;
}

static int store_migrate(struct store *st, const char **error_r)
{
	int v;
	if (store_user_version(st->db, &v) < 0) {
		*error_r = "cannot read schema version";
		return store_fail(st, "user_version");
	}
	if (v == STORE_SCHEMA_VERSION)
		return 0;
	if (v > STORE_SCHEMA_VERSION || v < 0) {
		*error_r = "mailbox schema is newer than this program";
		return store_fail_msg(st, *error_r);
	}
	if (store_begin(st) < 0) {
		*error_r = "cannot lock mailbox";
		return -1;
	}
	/* Another session may have migrated while we waited for the lock:
	 * store_migrate_locked re-reads the version. */
	if (store_migrate_locked(st, error_r) < 0) {
		store_rollback(st);
		return -1;
	}
	if (store_commit(st) < 0) {
		*error_r = "cannot commit migration";
		return -1;
	}
	return 0;
}

static struct store *store_new(sqlite3 *db, const char *path)
{
	struct store *st = mem_zalloc(sizeof(*st));
	st->db = db;
	st->path = mem_strdup(path);
	return st;
}

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

void store_close(struct store **stp)
{
	struct store *st = *stp;
	if (st == NULL)
		return;
	store_finalize_all(st);
	if (st->rekey_pending) {
		/* Keep <path>.rekey: the caller may already have recorded the new
		 * key, and store_open with it finishes the rename. */
		log_event(LOG_WARNING, "store-rekey-unfinished", NULL);
	}
	if (st->db != NULL) {
		if (st->depth > 0 && !sqlite3_get_autocommit(st->db))
			sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
		if (sqlite3_close(st->db) != SQLITE_OK)
			log_event(LOG_ERR, "store-error", "REASON", sqlite3_errmsg(st->db), NULL);
	}
	free(st->path);
	mem_wipe_free(st, sizeof(*st));
	*stp = NULL;
}

/* Remove path and SQLite's companion files; ENOENT is fine. */
static void store_unlink_all(const char *path)
{
	static const char *const sfx[] = {"", "-wal", "-shm", "-journal"};
	char p[4096];
	for (size_t i = 0; i < sizeof(sfx) / sizeof(sfx[0]); i++) {
		if ((size_t)snprintf(p, sizeof(p), "%s%s", path, sfx[i]) >= sizeof(p))
			continue;
		unlink(p);
	}
}

/* fsync the directory holding path, so that a create or rename in it is
 * durable. */
static int store_fsync_parent(const char *path)
{
	char dir[4096];
	if (strlen(path) >= sizeof(dir)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	snprintf(dir, sizeof(dir), "%s", path);
	char *slash = strrchr(dir, '/');
	if (slash == NULL)
		snprintf(dir, sizeof(dir), ".");
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

static int store_meta_put(struct store *st, const char *key, const void *val, size_t len)
{
	sqlite3_stmt *s =
	    store_prepare(st, "INSERT OR REPLACE INTO meta(key, value) VALUES (?1, ?2)");
	if (s == NULL)
		return -1;
	sqlite3_bind_text(s, 1, key, -1, SQLITE_STATIC);
	sqlite3_bind_blob(s, 2, val, (int)len, SQLITE_STATIC);
	int rc = store_step_done(st, s, "meta put");
	sqlite3_finalize(s);
	return rc;
}

/* 1 found (exactly len bytes copied), 0 absent, -1 error. */
static int store_meta_get(struct store *st, const char *key, void *out, size_t len)
{
	sqlite3_stmt *s = store_prepare(st, "SELECT value FROM meta WHERE key = ?1");
	if (s == NULL)
		return -1;
	sqlite3_bind_text(s, 1, key, -1, SQLITE_STATIC);
	int rc = sqlite3_step(s), ret;
	if (rc == SQLITE_ROW) {
		if ((size_t)sqlite3_column_bytes(s, 0) != len) {
			ret = store_fail_msg(st, "meta value has the wrong size");
		} else {
			memcpy(out, sqlite3_column_blob(s, 0), len);
			ret = 1;
		}
	} else if (rc == SQLITE_DONE) {
		ret = 0;
	} else {
		ret = store_fail(st, "meta get");
	}
	sqlite3_finalize(s);
	return ret;
}

/* Non-zero random UIDVALIDITY (RFC 3501 section 2.3.1.1): never reused for a
 * recreated folder with overwhelming probability. */
static uint32_t store_new_uidvalidity(void)
{
	return rnd_uniform(UINT32_MAX) + 1;
}

static int store_insert_folder(struct store *st, const char *name, const char *special_use,
                               bool subscribed, int64_t *id_r)
{
	sqlite3_stmt *s = store_prepare(st, "INSERT OR IGNORE INTO folders(name, uidvalidity, "
	                                    "special_use, subscribed) VALUES (?1, ?2, ?3, ?4)");
	if (s == NULL)
		return -1;
	sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, store_new_uidvalidity());
	if (special_use != NULL)
		sqlite3_bind_text(s, 3, special_use, -1, SQLITE_STATIC);
	sqlite3_bind_int(s, 4, subscribed ? 1 : 0);
	int rc = store_step_done(st, s, "insert folder");
	sqlite3_finalize(s);
	if (rc < 0)
		return -1;
	if (sqlite3_changes(st->db) == 0)
		return 0;
	if (id_r != NULL)
		*id_r = sqlite3_last_insert_rowid(st->db);
	return 1;
}

struct store *store_create(const char *path, const unsigned char mk[STORE_KEY_LEN],
                           const unsigned char seal_sk[STORE_SEAL_KEY_LEN], const char **error_r)
{
	const char *dummy;
	if (error_r == NULL)
		error_r = &dummy;
	/* O_EXCL decides atomically that the mailbox is new, and fixes the
	 * mode: mailbox.db is owned by the service user, 0600 (DESIGN 4). */
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) {
		*error_r = errno == EEXIST ? "mailbox exists" : "cannot create mailbox";
		return NULL;
	}
	close(fd);
	/* A -wal left by a deleted mailbox of the same name would be replayed
	 * into the new one: the path did not exist, so these are orphans. */
	{
		char p[4096];
		snprintf(p, sizeof(p), "%s-wal", path);
		unlink(p);
		snprintf(p, sizeof(p), "%s-shm", path);
		unlink(p);
		snprintf(p, sizeof(p), "%s-journal", path);
		unlink(p);
	}
	struct store *st = NULL;
	sqlite3 *db = store_open_db(path, mk, error_r);
	if (db == NULL)
		goto fail;
	st = store_new(db, path);
	if (store_begin(st) < 0) {
		*error_r = "cannot lock new mailbox";
		goto fail;
	}
	if (store_migrate_locked(st, error_r) < 0)
		goto fail_tx;
	if (store_meta_put(st, store_meta_seal, seal_sk, STORE_SEAL_KEY_LEN) < 0)
		goto fail_meta;
	int64_t now = (int64_t)time(NULL);
	char created[32];
	snprintf(created, sizeof(created), "%" PRId64, now);
	if (store_meta_put(st, "created", created, strlen(created)) < 0)
		goto fail_meta;
	for (size_t i = 0; i < sizeof(store_std_folders) / sizeof(store_std_folders[0]); i++) {
		if (store_insert_folder(st, store_std_folders[i].name,
		                        store_std_folders[i].special_use, true, NULL) != 1) {
			*error_r = "cannot create folders";
			goto fail_tx;
		}
	}
	if (store_commit(st) < 0) {
		*error_r = "cannot commit new mailbox";
		goto fail;
	}
	if (store_fsync_parent(path) < 0) {
		*error_r = "cannot sync mailbox directory";
		goto fail;
	}
	return st;
fail_meta:
	*error_r = "cannot write metadata";
fail_tx:
	store_rollback(st);
fail:
	if (st != NULL)
		store_close(&st);
	else if (db != NULL)
		sqlite3_close(db);
	store_unlink_all(path);
	return NULL;
}

/* ---- sealing key ---- */

int store_get_seal_secret(struct store *st, unsigned char sk[STORE_SEAL_KEY_LEN])
{
	int rc = store_meta_get(st, store_meta_seal, sk, STORE_SEAL_KEY_LEN);
	if (rc == 0)
		return store_fail_msg(st, "no sealing key");
	return rc == 1 ? 0 : -1;
}

int store_set_seal_secret(struct store *st, const unsigned char sk[STORE_SEAL_KEY_LEN])
{
	unsigned char old[STORE_SEAL_KEY_LEN];
	if (store_begin(st) < 0)
		return -1;
	int rc = store_meta_get(st, store_meta_seal, old, sizeof(old));
	if (rc < 0)
		goto fail;
	if (rc == 1 && store_meta_put(st, store_meta_seal_old, old, sizeof(old)) < 0)
		goto fail;
	if (store_meta_put(st, store_meta_seal, sk, STORE_SEAL_KEY_LEN) < 0)
		goto fail;
	sodium_memzero(old, sizeof(old));
	return store_commit(st);
fail:
	sodium_memzero(old, sizeof(old));
	store_rollback(st);
	return -1;
}

/* ---- keywords ---- */

/* RFC 3501 section 9: flag-keyword = atom; atom-char is any CHAR except
 * atom-specials: "(" ")" "{" SP CTL "%" "*" DQUOTE "\" "]". */
static bool store_atom_char(unsigned char c)
{
	if (c <= 0x20 || c >= 0x7f)
		return false;
	return strchr("(){%*\"\\]", c) == NULL;
}

static bool store_keyword_valid(const char *k, size_t n)
{
	if (n == 0 || n > STORE_KEYWORD_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!store_atom_char((unsigned char)k[i]))
			return false;
	return true;
}

struct store_kwset {
	size_t n;
	char *kw[STORE_KEYWORDS_MAX];
};

static void store_kwset_free(struct store_kwset *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->kw[i]);
	s->n = 0;
}

static ssize_t store_kwset_find(const struct store_kwset *s, const char *k, size_t n)
{
	for (size_t i = 0; i < s->n; i++)
		if (strlen(s->kw[i]) == n && strncasecmp(s->kw[i], k, n) == 0)
			return (ssize_t)i;
	return -1;
}

/* Add one keyword: 0 ok (or already present), -1 invalid or too many. */
static int store_kwset_add(struct store_kwset *s, const char *k, size_t n)
{
	if (!store_keyword_valid(k, n))
		return -1;
	if (store_kwset_find(s, k, n) >= 0)
		return 0;
	if (s->n == STORE_KEYWORDS_MAX)
		return -1;
	s->kw[s->n++] = mem_strndup(k, n);
	return 0;
}

static void store_kwset_remove(struct store_kwset *s, const char *k, size_t n)
{
	ssize_t i = store_kwset_find(s, k, n);
	if (i < 0)
		return;
	free(s->kw[i]);
	s->kw[i] = s->kw[s->n - 1];
	s->n--;
}

/* Parse a space-separated list; NULL is empty. 0 ok, -1 invalid keyword. */
static int store_kwset_parse(struct store_kwset *s, const char *list, bool remove)
{
	const char *p = list;
	if (p == NULL)
		return 0;
	while (*p != '\0') {
		while (*p == ' ')
			p++;
		const char *start = p;
		while (*p != '\0' && *p != ' ')
			p++;
		if (p == start)
			continue;
		if (remove)
			store_kwset_remove(s, start, (size_t)(p - start));
		else if (store_kwset_add(s, start, (size_t)(p - start)) < 0)
			return -1;
	}
	return 0;
}

static int store_kw_cmp(const void *a, const void *b)
{
	return strcasecmp(*(char *const *)a, *(char *const *)b);
}

/* Canonical form: sorted case-insensitively, single spaces. */
static void store_kwset_format(struct store_kwset *s, struct buf *out)
{
	qsort(s->kw, s->n, sizeof(s->kw[0]), store_kw_cmp);
	buf_reset(out);
	buf_append_str(out, "");
	for (size_t i = 0; i < s->n; i++) {
		if (i > 0)
			buf_append_byte(out, ' ');
		buf_append_str(out, s->kw[i]);
	}
}

/* ---- folders ---- */

static char *store_col_strdup(sqlite3_stmt *s, int col)
{
	const unsigned char *t = sqlite3_column_text(s, col);
	return t != NULL ? mem_strdup((const char *)t) : NULL;
}

static void store_folder_from_row(sqlite3_stmt *s, struct store_folder *f)
{
	f->id = sqlite3_column_int64(s, 0);
	f->name = store_col_strdup(s, 1);
	if (f->name == NULL)
		f->name = mem_strdup("");
	f->uidvalidity = (uint32_t)sqlite3_column_int64(s, 2);
	f->uidnext = (uint32_t)sqlite3_column_int64(s, 3);
	f->highestmodseq = (uint64_t)sqlite3_column_int64(s, 4);
	f->special_use = store_col_strdup(s, 5);
	f->subscribed = sqlite3_column_int(s, 6) != 0;
}

static const char *store_canonical_name(const char *name)
{
	/* RFC 3501 section 5.1: INBOX is case-insensitive. */
	return strcasecmp(name, "INBOX") == 0 ? "INBOX" : name;
}

int store_folder_get(struct store *st, const char *name, struct store_folder *f)
{
	memset(f, 0, sizeof(*f));
	sqlite3_stmt *s = store_stmt(st, S_FOLDER_BY_NAME);
	if (s == NULL)
		return -1;
	sqlite3_bind_text(s, 1, store_canonical_name(name), -1, SQLITE_STATIC);
	int rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		store_folder_from_row(s, f);
		sqlite3_reset(s);
		return 1;
	}
	sqlite3_reset(s);
	if (rc == SQLITE_DONE)
		return 0;
	return store_fail(st, "folder get");
}

int store_folder_list(struct store *st, struct store_folder **list_r, size_t *n_r)
{
	*list_r = NULL;
	*n_r = 0;
	sqlite3_stmt *s = store_prepare(st, "SELECT id, name, uidvalidity, uidnext, highestmodseq, "
	                                    "special_use, subscribed FROM folders ORDER BY name");
	if (s == NULL)
		return -1;
	struct store_folder *v = NULL;
	size_t n = 0, cap = 0;
	int rc;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		if (n == cap) {
			cap = cap ? cap * 2 : 8;
			v = mem_realloc(v, cap, sizeof(*v));
		}
		memset(&v[n], 0, sizeof(v[n]));
		store_folder_from_row(s, &v[n]);
		n++;
	}
	sqlite3_finalize(s);
	if (rc != SQLITE_DONE) {
		store_folder_list_free(&v, n);
		return store_fail(st, "folder list");
	}
	*list_r = v;
	*n_r = n;
	return 0;
}

void store_folder_clear(struct store_folder *f)
{
	free(f->name);
	free(f->special_use);
	memset(f, 0, sizeof(*f));
}

void store_folder_list_free(struct store_folder **list, size_t n)
{
	if (*list == NULL)
		return;
	for (size_t i = 0; i < n; i++)
		store_folder_clear(&(*list)[i]);
	free(*list);
	*list = NULL;
}

/* Folder names: valid UTF-8 without controls, no empty level (no leading,
 * trailing or doubled '/'), bounded. */
static bool store_folder_name_valid(const char *name)
{
	size_t n = strlen(name);
	if (n == 0 || n > STORE_FOLDER_NAME_MAX || name[0] == '/' || name[n - 1] == '/' ||
	    strstr(name, "//") != NULL)
		return false;
	const unsigned char *p = (const unsigned char *)name;
	while (*p != '\0') {
		unsigned char c = *p;
		size_t more;
		uint32_t cp;
		if (c < 0x80) {
			if (c < 0x20 || c == 0x7f)
				return false;
			p++;
			continue;
		} else if ((c & 0xe0) == 0xc0) {
			more = 1;
			cp = c & 0x1f;
		} else if ((c & 0xf0) == 0xe0) {
			more = 2;
			cp = c & 0x0f;
		} else if ((c & 0xf8) == 0xf0) {
			more = 3;
			cp = c & 0x07;
		} else {
			return false;
		}
		p++;
		for (size_t i = 0; i < more; i++, p++) {
			if ((*p & 0xc0) != 0x80)
				return false;
			cp = (cp << 6) | (*p & 0x3f);
		}
		/* Overlong forms, surrogates, beyond U+10FFFF, C1 controls. */
		if ((more == 1 && cp < 0x80) || (more == 2 && cp < 0x800) ||
		    (more == 3 && cp < 0x10000) || (cp >= 0xd800 && cp <= 0xdfff) ||
		    cp > 0x10ffff || (cp >= 0x80 && cp < 0xa0))
			return false;
	}
	return true;
}

int store_folder_create(struct store *st, const char *name, const char *special_use, int64_t *id_r)
{
	name = store_canonical_name(name);
	if (!store_folder_name_valid(name))
		return store_fail_msg(st, "invalid folder name");
	if (store_begin(st) < 0)
		return -1;
	int rc = store_insert_folder(st, name, special_use, false, id_r);
	if (rc < 0) {
		store_rollback(st);
		return -1;
	}
	if (store_commit(st) < 0)
		return -1;
	return rc;
}

static int store_bump_modseq(struct store *st, int64_t folder_id, uint64_t *modseq_r);

int store_folder_delete(struct store *st, int64_t folder_id)
{
	char key[64];
	snprintf(key, sizeof(key), "imap.recent.%lld", (long long)folder_id);
	if (store_begin(st) < 0)
		return -1;
	sqlite3_stmt *s =
	    store_prepare(st, "DELETE FROM folders WHERE id = ?1 AND name != 'INBOX'");
	if (s == NULL)
		goto fail;
	sqlite3_bind_int64(s, 1, folder_id);
	int rc = sqlite3_step(s);
	int changed = sqlite3_changes(st->db);
	sqlite3_finalize(s);
	if (rc != SQLITE_DONE) {
		store_fail(st, "delete folder");
		goto fail;
	}
	if (changed == 0) {
		store_fail_msg(st, "no such folder (or INBOX)");
		goto fail;
	}
	s = store_prepare(st, "DELETE FROM meta WHERE key = ?1");
	if (s == NULL)
		goto fail;
	sqlite3_bind_text(s, 1, key, -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	sqlite3_finalize(s);
	if (rc != SQLITE_DONE) {
		store_fail(st, "delete folder meta");
		goto fail;
	}
	return store_commit(st);
fail:
	store_rollback(st);
	return -1;
}

/* Move every message of INBOX into the fresh folder to_id under the same
 * UIDs, recording them as expunged from INBOX. */
static int store_move_inbox(struct store *st, int64_t inbox_id, int64_t to_id)
{
	uint64_t modseq;
	if (store_bump_modseq(st, inbox_id, &modseq) < 0)
		return -1;
	static const char *const sql[] = {
	    "INSERT OR REPLACE INTO expunged(folder_id, uid, modseq) SELECT ?1, uid, ?3 "
	    "FROM messages WHERE folder_id = ?1",
	    "UPDATE messages SET folder_id = ?2 WHERE folder_id = ?1",
	    "UPDATE folders SET uidnext = (SELECT uidnext FROM folders WHERE id = ?1), "
	    "highestmodseq = ?3 WHERE id = ?2",
	};
	for (size_t i = 0; i < sizeof(sql) / sizeof(sql[0]); i++) {
		sqlite3_stmt *s = store_prepare(st, sql[i]);
		if (s == NULL)
			return -1;
		sqlite3_bind_int64(s, 1, inbox_id);
		sqlite3_bind_int64(s, 2, to_id);
		sqlite3_bind_int64(s, 3, (int64_t)modseq);
		int rc = sqlite3_step(s);
		sqlite3_finalize(s);
		if (rc != SQLITE_DONE)
			return store_fail(st, "move INBOX");
	}
	return 0;
}

int store_folder_rename(struct store *st, const char *from, const char *to)
{
	struct store_folder f, t;
	from = store_canonical_name(from);
	to = store_canonical_name(to);
	if (!store_folder_name_valid(to) || strcmp(to, "INBOX") == 0)
		return store_fail_msg(st, "invalid folder name");
	if (store_begin(st) < 0)
		return -1;
	int r = store_folder_get(st, to, &t);
	if (r != 0) {
		if (r == 1)
			store_folder_clear(&t);
		store_rollback(st);
		return r < 0 ? -1 : store_fail_msg(st, "target folder exists");
	}
	r = store_folder_get(st, from, &f);
	if (r != 1) {
		store_rollback(st);
		return r < 0 ? -1 : store_fail_msg(st, "no such folder");
	}
	if (strcmp(from, "INBOX") == 0) {
		int64_t to_id;
		if (store_insert_folder(st, to, NULL, false, &to_id) < 0 ||
		    store_move_inbox(st, f.id, to_id) < 0)
			goto fail;
	} else {
		/* The folder itself and its descendants ("from/..."). */
		sqlite3_stmt *s = store_prepare(
		    st, "UPDATE folders SET name = ?2 || substr(name, length(?1) + 1) "
		        "WHERE name = ?1 OR substr(name, 1, length(?1) + 1) = ?1 || '/'");
		if (s == NULL)
			goto fail;
		sqlite3_bind_text(s, 1, from, -1, SQLITE_STATIC);
		sqlite3_bind_text(s, 2, to, -1, SQLITE_STATIC);
		int rc = sqlite3_step(s);
		sqlite3_finalize(s);
		if (rc != SQLITE_DONE) {
			store_fail(st, "rename folder");
			goto fail;
		}
	}
	store_folder_clear(&f);
	return store_commit(st);
fail:
	store_folder_clear(&f);
	store_rollback(st);
	return -1;
}

int store_folder_subscribe(struct store *st, const char *name, bool on)
{
	sqlite3_stmt *s = store_prepare(st, "UPDATE folders SET subscribed = ?2 WHERE name = ?1");
	if (s == NULL)
		return -1;
	sqlite3_bind_text(s, 1, store_canonical_name(name), -1, SQLITE_STATIC);
	sqlite3_bind_int(s, 2, on ? 1 : 0);
	int rc = sqlite3_step(s);
	int changed = sqlite3_changes(st->db);
	sqlite3_finalize(s);
	if (rc != SQLITE_DONE)
		return store_fail(st, "subscribe");
	return changed > 0 ? 1 : 0;
}

int store_copy(struct store *st, int64_t from_folder, const uint32_t *uids, size_t n,
               int64_t to_folder, bool move, uint32_t **src_uids_r, uint32_t **dst_uids_r,
               size_t *n_r, uint64_t *src_modseq_r)
{
	uint32_t *src = mem_array(n ? n : 1, sizeof(*src));
	uint32_t *dst = mem_array(n ? n : 1, sizeof(*dst));
	size_t k = 0;
	uint64_t modseq = 0;
	*src_uids_r = *dst_uids_r = NULL;
	*n_r = 0;
	if (src_modseq_r != NULL)
		*src_modseq_r = 0;
	if (store_begin(st) < 0)
		goto fail_nt;
	sqlite3_stmt *sel =
	    store_prepare(st, "SELECT flags, keywords, internaldate, size, body_id, "
	                      "envelope, bodystructure FROM messages "
	                      "WHERE folder_id = ?1 AND uid = ?2");
	sqlite3_stmt *ins = store_prepare(
	    st, "INSERT INTO messages(folder_id, uid, modseq, flags, keywords, internaldate, "
	        "size, body_id, envelope, bodystructure) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, "
	        "?9, ?10)");
	sqlite3_stmt *cnt = store_stmt(st, S_FOLDER_COUNTERS);
	if (sel == NULL || ins == NULL || cnt == NULL)
		goto fail;
	sqlite3_bind_int64(cnt, 1, to_folder);
	if (sqlite3_step(cnt) != SQLITE_ROW) {
		sqlite3_reset(cnt);
		store_fail_msg(st, "no such folder");
		goto fail;
	}
	int64_t uidnext = sqlite3_column_int64(cnt, 0);
	modseq = (uint64_t)sqlite3_column_int64(cnt, 1) + 1;
	sqlite3_reset(cnt);
	for (size_t i = 0; i < n; i++) {
		sqlite3_reset(sel);
		sqlite3_bind_int64(sel, 1, from_folder);
		sqlite3_bind_int64(sel, 2, uids[i]);
		int rc = sqlite3_step(sel);
		if (rc == SQLITE_DONE)
			continue;
		if (rc != SQLITE_ROW) {
			store_fail(st, "copy read");
			goto fail;
		}
		if (uidnext >= (int64_t)UINT32_MAX) {
			store_fail_msg(st, "folder has run out of UIDs");
			goto fail;
		}
		sqlite3_reset(ins);
		sqlite3_bind_int64(ins, 1, to_folder);
		sqlite3_bind_int64(ins, 2, uidnext);
		sqlite3_bind_int64(ins, 3, (int64_t)modseq);
		for (int c = 0; c < 7; c++)
			sqlite3_bind_value(ins, 4 + c, sqlite3_column_value(sel, c));
		if (sqlite3_step(ins) != SQLITE_DONE) {
			store_fail(st, "copy insert");
			goto fail;
		}
		src[k] = uids[i];
		dst[k] = (uint32_t)uidnext++;
		k++;
	}
	if (k > 0) {
		sqlite3_stmt *u = store_stmt(st, S_FOLDER_SET_COUNTERS);
		if (u == NULL)
			goto fail;
		sqlite3_bind_int64(u, 1, to_folder);
		sqlite3_bind_int64(u, 2, uidnext);
		sqlite3_bind_int64(u, 3, (int64_t)modseq);
		if (store_step_done(st, u, "copy counters") < 0)
			goto fail;
	}
	sqlite3_finalize(sel);
	sqlite3_finalize(ins);
	sel = ins = NULL;
	if (move && k > 0 && store_expunge(st, from_folder, src, k, NULL, src_modseq_r) < 0)
		goto fail;
	if (store_commit(st) < 0)
		goto fail_nt;
	*src_uids_r = src;
	*dst_uids_r = dst;
	*n_r = k;
	return 0;
fail:
	if (sel != NULL)
		sqlite3_finalize(sel);
	if (ins != NULL)
		sqlite3_finalize(ins);
	store_rollback(st);
fail_nt:
	free(src);
	free(dst);
	return -1;
}

/* ---- messages ---- */

/* Next mod-sequence of a folder (inside a transaction). */
static int store_bump_modseq(struct store *st, int64_t folder_id, uint64_t *modseq_r)
{
	sqlite3_stmt *s = store_stmt(st, S_MODSEQ_BUMP);
	if (s == NULL)
		return -1;
	sqlite3_bind_int64(s, 1, folder_id);
	if (store_step_done(st, s, "bump modseq") < 0)
		return -1;
	if (sqlite3_changes(st->db) != 1)
		return store_fail_msg(st, "no such folder");
	s = store_stmt(st, S_FOLDER_COUNTERS);
	if (s == NULL)
		return -1;
	sqlite3_bind_int64(s, 1, folder_id);
	if (sqlite3_step(s) != SQLITE_ROW) {
		sqlite3_reset(s);
		return store_fail(st, "read modseq");
	}
	*modseq_r = (uint64_t)sqlite3_column_int64(s, 1);
	sqlite3_reset(s);
	return 0;
}

/* Store a body's searchable text, which the triggers add to the full-text
 * indexes (inside the caller's transaction). */
static int store_text_index_body(struct store *st, int64_t body_id, const void *data, size_t len)
{
	struct buf hdr = BUF_INIT, body = BUF_INIT;
	int rc = 0;
	msgtext_extract(data, len, &hdr, &body);
	/* msgtext bounds both texts far below INT_MAX. */
	const struct {
		enum store_stmt stmt;
		const struct buf *text;
	} rows[] = {{S_TEXT_HDR_INSERT, &hdr}, {S_TEXT_BODY_INSERT, &body}};
	for (size_t i = 0; i < 2 && rc == 0; i++) {
		sqlite3_stmt *s = store_stmt(st, rows[i].stmt);
		if (s == NULL) {
			rc = -1;
			break;
		}
		sqlite3_bind_int64(s, 1, body_id);
		sqlite3_bind_text(s, 2, rows[i].text->len ? (const char *)rows[i].text->data : "",
		                  (int)rows[i].text->len, SQLITE_STATIC);
		rc = store_step_done(st, s, "index text");
		sqlite3_clear_bindings(s);
	}

	buf_free(&hdr);
	buf_free(&body);
	return rc;
}

/* Insert one message; the caller holds a transaction. keywords is already
 * in canonical form. */
static int store_append_locked(struct store *st, int64_t folder_id, const void *data, size_t len,
                               int64_t internaldate, unsigned flags, const char *keywords,
                               uint32_t *uid_r, uint64_t *modseq_r)
{
	if (len > INT32_MAX)
		return store_fail_msg(st, "message too large for the store");
	sqlite3_stmt *s = store_stmt(st, S_FOLDER_COUNTERS);
	if (s == NULL)
		return -1;
	sqlite3_bind_int64(s, 1, folder_id);
	int rc = sqlite3_step(s);
	if (rc != SQLITE_ROW) {
		sqlite3_reset(s);
		return rc == SQLITE_DONE ? store_fail_msg(st, "no such folder")
		                         : store_fail(st, "folder counters");
	}
	int64_t uid = sqlite3_column_int64(s, 0);
	int64_t modseq = sqlite3_column_int64(s, 1) + 1;
	sqlite3_reset(s);
	/* UIDs are 32-bit (RFC 3501 section 2.3.1.1) and UIDNEXT must stay
	 * representable; a full folder needs a new UIDVALIDITY. */
	if (uid < 1 || uid >= (int64_t)UINT32_MAX)
		return store_fail_msg(st, "folder has run out of UIDs");

	s = store_stmt(st, S_BODY_INSERT);
	if (s == NULL)
		return -1;
	sqlite3_bind_int64(s, 1, (int64_t)len);
	sqlite3_bind_blob(s, 2, len ? data : "", (int)len, SQLITE_STATIC);
	if (store_step_done(st, s, "insert body") < 0)
		return -1;
	int64_t body_id = sqlite3_last_insert_rowid(st->db);
	if (store_text_index_body(st, body_id, data, len) < 0)
		return -1;

	s = store_stmt(st, S_MSG_INSERT);
	if (s == NULL)
		return -1;
	sqlite3_bind_int64(s, 1, folder_id);
	sqlite3_bind_int64(s, 2, uid);
	sqlite3_bind_int64(s, 3, modseq);
	sqlite3_bind_int(s, 4, (int)(flags & STORE_FLAGS_ALL));
	sqlite3_bind_text(s, 5, keywords != NULL ? keywords : "", -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 6, internaldate);
	sqlite3_bind_int64(s, 7, (int64_t)len);
	sqlite3_bind_int64(s, 8, body_id);
	if (store_step_done(st, s, "insert message") < 0)
		return -1;

	s = store_stmt(st, S_FOLDER_SET_COUNTERS);
	if (s == NULL)
		return -1;
	sqlite3_bind_int64(s, 1, folder_id);
	sqlite3_bind_int64(s, 2, uid + 1);
	sqlite3_bind_int64(s, 3, modseq);
	if (store_step_done(st, s, "update folder counters") < 0)
		return -1;
	if (uid_r != NULL)
		*uid_r = (uint32_t)uid;
	if (modseq_r != NULL)
		*modseq_r = (uint64_t)modseq;
	return 0;
}

int store_append(struct store *st, int64_t folder_id, const void *data, size_t len,
                 int64_t internaldate, unsigned flags, const char *keywords, uint32_t *uid_r,
                 uint64_t *modseq_r)
{
	struct store_kwset kw = {0};
	struct buf kwtext = BUF_INIT;
	int rc = -1;
	if (store_kwset_parse(&kw, keywords, false) < 0) {
		store_fail_msg(st, "invalid keyword");
		goto out;
	}
	store_kwset_format(&kw, &kwtext);
	if (store_begin(st) < 0)
		goto out;
	if (store_append_locked(st, folder_id, data, len, internaldate, flags, buf_cstr(&kwtext),
	                        uid_r, modseq_r) < 0) {
		store_rollback(st);
		goto out;
	}
	rc = store_commit(st);
out:
	store_kwset_free(&kw);
	buf_free(&kwtext);
	return rc;
}

int store_message_count(struct store *st, int64_t folder_id, uint64_t *count_r, uint64_t *unseen_r)
{
	sqlite3_stmt *s = store_prepare(st, "SELECT count(*), "
	                                    "coalesce(sum((flags & 1) = 0), 0) FROM messages "
	                                    "WHERE folder_id = ?1");
	if (s == NULL)
		return -1;
	sqlite3_bind_int64(s, 1, folder_id);
	int rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		if (count_r != NULL)
			*count_r = (uint64_t)sqlite3_column_int64(s, 0);
		if (unseen_r != NULL)
			*unseen_r = (uint64_t)sqlite3_column_int64(s, 1);
	}
	sqlite3_finalize(s);
	return rc == SQLITE_ROW ? 0 : store_fail(st, "message count");
}

int store_uids(struct store *st, int64_t folder_id, uint32_t **uids_r, size_t *n_r)
{
	*uids_r = NULL;
	*n_r = 0;
	sqlite3_stmt *s =
	    store_prepare(st, "SELECT uid FROM messages WHERE folder_id = ?1 ORDER BY uid");
	if (s == NULL)
		return -1;
	sqlite3_bind_int64(s, 1, folder_id);
	uint32_t *v = NULL;
	size_t n = 0, cap = 0;
	int rc;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			v = mem_realloc(v, cap, sizeof(*v));
		}
		v[n++] = (uint32_t)sqlite3_column_int64(s, 0);
	}
	sqlite3_finalize(s);
	if (rc != SQLITE_DONE) {
		free(v);
		return store_fail(st, "uids");
	}
	*uids_r = v;
	*n_r = n;
	return 0;
}

int store_message_get(struct store *st, int64_t folder_id, uint32_t uid, struct store_msg *m)
{
	memset(m, 0, sizeof(*m));
	sqlite3_stmt *s = store_stmt(st, S_MSG_GET);
	if (s == NULL)
		return -1;
	sqlite3_bind_int64(s, 1, folder_id);
	sqlite3_bind_int64(s, 2, uid);
	int rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		m->uid = (uint32_t)sqlite3_column_int64(s, 0);
		m->modseq = (uint64_t)sqlite3_column_int64(s, 1);
		m->flags = (unsigned)sqlite3_column_int(s, 2);
		m->keywords = store_col_strdup(s, 3);
		if (m->keywords == NULL)
			m->keywords = mem_strdup("");
		m->internaldate = sqlite3_column_int64(s, 4);
		m->size = (uint64_t)sqlite3_column_int64(s, 5);
		sqlite3_reset(s);
		return 1;
	}
	sqlite3_reset(s);
	return rc == SQLITE_DONE ? 0 : store_fail(st, "message get");
}

void store_msg_clear(struct store_msg *m)
{
	free(m->keywords);
	memset(m, 0, sizeof(*m));
}

int store_fetch_raw(struct store *st, int64_t folder_id, uint32_t uid, struct buf *out)
{
	sqlite3_stmt *s = store_prepare(st, "SELECT b.raw FROM messages m JOIN bodies b "
	                                    "ON b.id = m.body_id WHERE m.folder_id = ?1 "
	                                    "AND m.uid = ?2");
	if (s == NULL)
		return -1;
	sqlite3_bind_int64(s, 1, folder_id);
	sqlite3_bind_int64(s, 2, uid);
	int rc = sqlite3_step(s), ret;
	if (rc == SQLITE_ROW) {
		const void *p = sqlite3_column_blob(s, 0);
		int n = sqlite3_column_bytes(s, 0);
		if (n > 0)
			buf_append(out, p, (size_t)n);
		ret = 1;
	} else {
		ret = rc == SQLITE_DONE ? 0 : store_fail(st, "fetch");
	}
	sqlite3_finalize(s);
	return ret;
}

/* One transaction of store_text_index_pending: index up to max queued
 * bodies (and at most STORE_TEXT_BATCH_BYTES of raw text). 1 some were
 * indexed (*n_r), 0 the queue is empty, -1 error (rolled back). */
static int store_text_index_batch(struct store *st, size_t max, size_t *n_r)
{
	sqlite3_stmt *q = NULL, *raw = NULL, *del = NULL;
	size_t n = 0;
	uint64_t bytes = 0;
	*n_r = 0;
	if (store_begin(st) < 0)
		return -1;
	q = store_prepare(st, "SELECT body_id FROM body_text_todo ORDER BY body_id LIMIT ?1");
	/* A body already indexed (it cannot happen through this module, but a
	 * second row would fail the whole batch) is only dequeued. */
	raw = store_prepare(st, "SELECT raw FROM bodies WHERE id = ?1 AND NOT EXISTS "
	                        "(SELECT 1 FROM body_hdr WHERE id = ?1)");
	del = store_prepare(st, "DELETE FROM body_text_todo WHERE body_id = ?1");
	if (q == NULL || raw == NULL || del == NULL)
		goto fail;
	sqlite3_bind_int64(q, 1, (int64_t)max);
	int rc;
	while ((rc = sqlite3_step(q)) == SQLITE_ROW && bytes < STORE_TEXT_BATCH_BYTES) {
		int64_t id = sqlite3_column_int64(q, 0);
		sqlite3_reset(raw);
		sqlite3_bind_int64(raw, 1, id);
		int r = sqlite3_step(raw);
		if (r == SQLITE_ROW) {
			const void *p = sqlite3_column_blob(raw, 0);
			int len = sqlite3_column_bytes(raw, 0);
			bytes += (uint64_t)len;
			if (store_text_index_body(st, id, p != NULL ? p : "", (size_t)len) < 0)
				goto fail;
		} else if (r != SQLITE_DONE) {
			store_fail(st, "read body to index");
			goto fail;
		}
		sqlite3_reset(raw);
		sqlite3_reset(del);
		sqlite3_bind_int64(del, 1, id);
		if (store_step_done(st, del, "dequeue body") < 0)
			goto fail;
		n++;
	}
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		store_fail(st, "text queue");
		goto fail;
	}
	sqlite3_finalize(q);
	sqlite3_finalize(raw);
	sqlite3_finalize(del);
	if (store_commit(st) < 0)
		return -1;
	*n_r = n;
	return n > 0 ? 1 : 0;
fail:
	sqlite3_finalize(q);
	sqlite3_finalize(raw);
	sqlite3_finalize(del);
	store_rollback(st);
	return -1;
}

int store_text_index_pending(struct store *st, size_t max, size_t *done_r)
{
	size_t done = 0;
	if (done_r != NULL)
		*done_r = 0;
	/* Cheap when the queue is empty, which is the usual case: one read of
	 * an empty table, no write lock. */
	sqlite3_stmt *s = store_prepare(st, "SELECT 1 FROM body_text_todo LIMIT 1");
	if (s == NULL)
		return -1;
	int rc = sqlite3_step(s);
	sqlite3_finalize(s);
	if (rc == SQLITE_DONE)
		return 0;
	if (rc != SQLITE_ROW)
		return store_fail(st, "text queue");
	for (;;) {
		size_t want = STORE_TEXT_BATCH, n;
		if (max != 0 && max - done < want)
			want = max - done;
		if (want == 0)
			break;
		int r = store_text_index_batch(st, want, &n);
		if (r < 0)
			return -1;
		done += n;
		if (done_r != NULL)
			*done_r = done;
		if (r == 0)
			break;
	}
	return 0;
}

int store_set_flags(struct store *st, int64_t folder_id, uint32_t uid, enum store_flag_op op,
                    unsigned flags, const char *keywords, uint64_t unchangedsince,
                    uint64_t *modseq_r)
{
	struct store_kwset cur = {0}, arg = {0};
	struct buf before = BUF_INIT, after = BUF_INIT;
	int ret = -1;
	flags &= STORE_FLAGS_ALL;
	/* Validate the argument before taking the lock. */
	if (store_kwset_parse(&arg, keywords, false) < 0) {
		store_fail_msg(st, "invalid keyword");
		goto out;
	}
	if (store_begin(st) < 0)
		goto out;
	sqlite3_stmt *s = store_stmt(st, S_MSG_GET);
	if (s == NULL)
		goto rollback;
	sqlite3_bind_int64(s, 1, folder_id);
	sqlite3_bind_int64(s, 2, uid);
	int rc = sqlite3_step(s);
	if (rc != SQLITE_ROW) {
		sqlite3_reset(s);
		if (rc != SQLITE_DONE) {
			store_fail(st, "flags get");
			goto rollback;
		}
		ret = 0;
		goto rollback;
	}
	uint64_t modseq = (uint64_t)sqlite3_column_int64(s, 1);
	unsigned oldflags = (unsigned)sqlite3_column_int(s, 2) & STORE_FLAGS_ALL;
	const unsigned char *kwt = sqlite3_column_text(s, 3);
	int prc = store_kwset_parse(&cur, kwt != NULL ? (const char *)kwt : "", false);
	sqlite3_reset(s);
	if (prc < 0) {
		store_fail_msg(st, "stored keywords are invalid");
		goto rollback;
	}
	if (unchangedsince != 0 && modseq > unchangedsince) {
		ret = 0; /* RFC 7162 section 3.2: reported as MODIFIED by the caller */
		goto rollback;
	}
	store_kwset_format(&cur, &before);
	unsigned newflags = oldflags;
	switch (op) {
	case STORE_FLAGS_REPLACE:
		newflags = flags;
		store_kwset_free(&cur);
		for (size_t i = 0; i < arg.n; i++)
			store_kwset_add(&cur, arg.kw[i], strlen(arg.kw[i]));
		break;
	case STORE_FLAGS_ADD:
		newflags |= flags;
		for (size_t i = 0; i < arg.n; i++) {
			if (store_kwset_add(&cur, arg.kw[i], strlen(arg.kw[i])) < 0) {
				store_fail_msg(st, "too many keywords");
				goto rollback;
			}
		}
		break;
	case STORE_FLAGS_REMOVE:
		newflags &= ~flags;
		for (size_t i = 0; i < arg.n; i++)
			store_kwset_remove(&cur, arg.kw[i], strlen(arg.kw[i]));
		break;
	}
	store_kwset_format(&cur, &after);
	if (newflags == oldflags && strcmp(buf_cstr(&before), buf_cstr(&after)) == 0) {
		if (store_commit(st) < 0)
			goto out;
		if (modseq_r != NULL)
			*modseq_r = modseq;
		ret = 1;
		goto out;
	}
	if (store_bump_modseq(st, folder_id, &modseq) < 0)
		goto rollback;
	s = store_stmt(st, S_MSG_SET_FLAGS);
	if (s == NULL)
		goto rollback;
	sqlite3_bind_int64(s, 1, folder_id);
	sqlite3_bind_int64(s, 2, uid);
	sqlite3_bind_int(s, 3, (int)newflags);
	sqlite3_bind_text(s, 4, buf_cstr(&after), -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 5, (int64_t)modseq);
	if (store_step_done(st, s, "set flags") < 0)
		goto rollback;
	if (store_commit(st) < 0)
		goto out;
	if (modseq_r != NULL)
		*modseq_r = modseq;
	ret = 1;
	goto out;
rollback:
	store_rollback(st);
out:
	store_kwset_free(&cur);
	store_kwset_free(&arg);
	buf_free(&before);
	buf_free(&after);
	return ret;
}

int store_expunge(struct store *st, int64_t folder_id, const uint32_t *uids, size_t n,
                  size_t *removed_r, uint64_t *modseq_r)
{
	size_t removed = 0;
	uint64_t modseq = 0;
	if (store_begin(st) < 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		sqlite3_stmt *s = store_stmt(st, S_MSG_DELETE);
		if (s == NULL)
			goto fail;
		sqlite3_bind_int64(s, 1, folder_id);
		sqlite3_bind_int64(s, 2, uids[i]);
		if (store_step_done(st, s, "expunge") < 0)
			goto fail;
		if (sqlite3_changes(st->db) == 0)
			continue;
		/* One mod-sequence for the whole command (RFC 7162 section 3.2.10
		 * only needs VANISHED (EARLIER) to find UIDs expunged after a
		 * client's last known value). */
		if (modseq == 0 && store_bump_modseq(st, folder_id, &modseq) < 0)
			goto fail;
		s = store_stmt(st, S_EXPUNGED_ADD);
		if (s == NULL)
			goto fail;
		sqlite3_bind_int64(s, 1, folder_id);
		sqlite3_bind_int64(s, 2, uids[i]);
		sqlite3_bind_int64(s, 3, (int64_t)modseq);
		if (store_step_done(st, s, "record expunge") < 0)
			goto fail;
		removed++;
	}
	if (store_commit(st) < 0)
		return -1;
	if (removed_r != NULL)
		*removed_r = removed;
	if (modseq_r != NULL)
		*modseq_r = modseq;
	return 0;
fail:
	store_rollback(st);
	return -1;
}

int store_expunge_deleted(struct store *st, int64_t folder_id, uint32_t **uids_r, size_t *n_r,
                          uint64_t *modseq_r)
{
	*uids_r = NULL;
	*n_r = 0;
	if (store_begin(st) < 0)
		return -1;
	sqlite3_stmt *s = store_prepare(st, "SELECT uid FROM messages WHERE folder_id = ?1 "
	                                    "AND (flags & 8) != 0 ORDER BY uid");
	if (s == NULL) {
		store_rollback(st);
		return -1;
	}
	sqlite3_bind_int64(s, 1, folder_id);
	uint32_t *v = NULL;
	size_t n = 0, cap = 0;
	int rc;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			v = mem_realloc(v, cap, sizeof(*v));
		}
		v[n++] = (uint32_t)sqlite3_column_int64(s, 0);
	}
	sqlite3_finalize(s);
	if (rc != SQLITE_DONE) {
		store_fail(st, "select deleted");
		goto fail;
	}
	if (store_expunge(st, folder_id, v, n, NULL, modseq_r) < 0)
		goto fail;
	if (store_commit(st) < 0) {
		free(v);
		return -1;
	}
	*uids_r = v;
	*n_r = n;
	return 0;
fail:
	free(v);
	store_rollback(st);
	return -1;
}

/* ---- rekey ---- */

/* Re-encryption by export rather than PRAGMA rekey: SQLCipher 3.4.1 rekeys
 * in place, page by page, which is not supported in WAL mode, and a crash in
 * the middle leaves a file in two keys whose recovery depends on a rollback
 * journal written under the new key. Exporting into a fresh file and renaming
 * it over the old one has a single commit point (the rename). */

static int store_rekey_path(const char *path, char *tmp, size_t tmpsz)
{
	return (size_t)snprintf(tmp, tmpsz, "%s.rekey", path) >= tmpsz - 16 ? -1 : 0;
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

int store_rekey_prepare(struct store *st, const unsigned char new_mk[STORE_KEY_LEN],
                        const char **error_r)
{
	const char *dummy;
	if (error_r == NULL)
		error_r = &dummy;
	char tmp[4096];
	char k[2 * STORE_KEY_LEN + 4];
	bool attached = false, locked = false;
	sqlite3_stmt *s = NULL;
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

	/* Exclusive use: leaving WAL mode needs every other connection closed
	 * (each holds a shared lock on the file while it is open). No waiting:
	 * a busy mailbox is reported, not queued for. */
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
	/* Keep an exclusive lock on the old file until it has been replaced
	 * (or the rekey abandoned), so that no session that opens it meanwhile
	 * writes mail that the export would miss. */
	locked = true;
	if (store_exec(st, "PRAGMA main.locking_mode = EXCLUSIVE") < 0) {
		*error_r = "cannot lock mailbox";
		goto fail;
	}
	/* ATTACH inherits the connection's open flags, which lack
	 * SQLITE_OPEN_CREATE: create the (empty) file here, mode 0600. */
	int cfd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (cfd < 0) {
		*error_r = "cannot create the re-encrypted file";
		goto fail;
	}
	close(cfd);

	k[0] = 'x';
	k[1] = '\'';
	codec_hex_encode(new_mk, STORE_KEY_LEN, k + 2);
	k[2 + 2 * STORE_KEY_LEN] = '\'';
	k[3 + 2 * STORE_KEY_LEN] = '\0';
	/* The key is bound, not spliced into the SQL text: SQLITE_STATIC means
	 * SQLite reads our buffer, which is wiped right after. */
	s = store_prepare(st, "ATTACH DATABASE ?1 AS rekey KEY ?2");
	if (s != NULL) {
		sqlite3_bind_text(s, 1, tmp, -1, SQLITE_STATIC);
		sqlite3_bind_text(s, 2, k, 3 + 2 * STORE_KEY_LEN, SQLITE_STATIC);
		if (store_step_done(st, s, "attach") == 0)
			attached = true;
		sqlite3_finalize(s);
	}
	sodium_memzero(k, sizeof(k));
	if (!attached) {
		*error_r = "cannot create the re-encrypted file";
		goto fail;
	}
	char sql[96];
	snprintf(sql, sizeof(sql), "PRAGMA rekey.user_version = %d", STORE_SCHEMA_VERSION);
	if (store_exec(st, "PRAGMA rekey.cipher_page_size = 4096") < 0 ||
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
	attached = false;

	/* Reopen the export with the new key: proves the key, switches it to
	 * WAL, and compares the message count before anything is replaced. */
	const char *e2 = NULL;
	sqlite3 *ndb = store_open_db(tmp, new_mk, &e2);
	if (ndb == NULL) {
		*error_r = "re-encrypted file does not open";
		goto fail;
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
		goto fail;
	}
	int fd = open(tmp, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fsync(fd) < 0) {
		if (fd >= 0)
			close(fd);
		*error_r = "cannot sync the re-encrypted file";
		goto fail;
	}
	close(fd);
	if (store_fsync_parent(tmp) < 0) {
		*error_r = "cannot sync the mailbox directory";
		goto fail;
	}
	st->rekey_pending = true;
	return 0;
fail:
	store_fail_msg(st, *error_r);
	if (attached)
		sqlite3_exec(st->db, "DETACH DATABASE rekey", NULL, NULL, NULL);
	if (locked)
		store_rekey_restore(st);
	else
		sqlite3_busy_timeout(st->db, STORE_BUSY_TIMEOUT_MS);
	store_unlink_all(tmp);
	return -1;
}

/* Replace the file at path by its complete export at <path>.rekey: the
 * commit point of a rekey. */
static int store_rekey_replace(const char *path, const char *tmp)
{
	char p[4200];
	/* The old file left WAL mode before the export, so no -wal/-shm should
	 * exist; a stray -wal would be replayed into the new file. */
	snprintf(p, sizeof(p), "%s-wal", path);
	unlink(p);
	snprintf(p, sizeof(p), "%s-shm", path);
	unlink(p);
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
	char tmp[4096];
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
	char tmp[4096];
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
static int store_rekey_recover(const char *path, const unsigned char mk[STORE_KEY_LEN])
{
	char tmp[4096];
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

/* ---- spool import ---- */

struct import_name {
	int64_t us;
	char name[SPOOL_NAME_MAX];
};

struct import_list {
	struct import_name *v;
	size_t n, cap;
};

static int import_name_cmp(const void *a, const void *b)
{
	const struct import_name *x = a, *y = b;
	if (x->us != y->us)
		return x->us < y->us ? -1 : 1;
	return strcmp(x->name, y->name);
}

static void import_list_add(struct import_list *l, const char *name, int64_t us)
{
	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 32;
		l->v = mem_realloc(l->v, l->cap, sizeof(*l->v));
	}
	l->v[l->n].us = us;
	snprintf(l->v[l->n].name, sizeof(l->v[l->n].name), "%s", name);
	l->n++;
}

/* List the spool names in newfd, sorted by arrival (timestamp, name). */
static int import_list_dir(int newfd, struct import_list *l)
{
	l->n = 0;
	/* A fresh descriptor: readdir through a dup would share (and move) the
	 * directory offset of newfd. */
	int fd = openat(newfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	DIR *d = fdopendir(fd);
	if (d == NULL) {
		close(fd);
		return -1;
	}
	struct dirent *de;
	errno = 0;
	while ((de = readdir(d)) != NULL) {
		int64_t us;
		if (spool_name_parse(de->d_name, &us))
			import_list_add(l, de->d_name, us);
		errno = 0;
	}
	int rc = errno != 0 ? -1 : 0;
	closedir(d);
	if (l->n > 1)
		qsort(l->v, l->n, sizeof(l->v[0]), import_name_cmp);
	return rc;
}

static bool import_list_has(const struct import_list *l, const char *name)
{
	struct import_name key;
	if (l->n == 0 || !spool_name_parse(name, &key.us))
		return false;
	snprintf(key.name, sizeof(key.name), "%s", name);
	return bsearch(&key, l->v, l->n, sizeof(l->v[0]), import_name_cmp) != NULL;
}

/* The flags carried by a leading X-Sealmail-Flags field. */
struct import_flags {
	unsigned flags;
	struct store_kwset kw;
	char folder[STORE_FOLDER_NAME_MAX + 1];
};

static bool import_is_flags_field(const unsigned char *p, size_t n)
{
	size_t fl = sizeof(SPOOL_FLAGS_FIELD) - 1;
	if (n < fl + 1 || strncasecmp((const char *)p, SPOOL_FLAGS_FIELD, fl) != 0)
		return false;
	size_t i = fl;
	while (i < n && (p[i] == ' ' || p[i] == '\t')) /* RFC 5322 4.5.2 obs-optional */
		i++;
	return i < n && p[i] == ':';
}

static void import_apply_token(struct import_flags *f, const char *t, size_t n)
{
	static const struct {
		const char *name;
		unsigned bit;
	} sys[] = {
	    {"\\Seen", STORE_FLAG_SEEN},       {"\\Answered", STORE_FLAG_ANSWERED},
	    {"\\Flagged", STORE_FLAG_FLAGGED}, {"\\Deleted", STORE_FLAG_DELETED},
	    {"\\Draft", STORE_FLAG_DRAFT},
	};
	if (n > 7 && strncasecmp(t, "folder=", 7) == 0) {
		if (n - 7 <= STORE_FOLDER_NAME_MAX)
			snprintf(f->folder, sizeof(f->folder), "%.*s", (int)(n - 7), t + 7);
		return;
	}
	if (t[0] == '\\') {
		for (size_t i = 0; i < sizeof(sys) / sizeof(sys[0]); i++)
			if (strlen(sys[i].name) == n && strncasecmp(sys[i].name, t, n) == 0)
				f->flags |= sys[i].bit;
		return; /* \Recent and unknown system flags: ignored */
	}
	if (store_kwset_add(&f->kw, t, n) < 0)
		log_event(LOG_WARNING, "spool-flag-ignored", "REASON", "invalid keyword", NULL);
}

static void import_parse_value(struct import_flags *f, const unsigned char *v, size_t n)
{
	size_t i = 0;
	while (i < n) {
		while (i < n && (v[i] == ' ' || v[i] == '\t' || v[i] == '\r' || v[i] == '\n'))
			i++;
		size_t start = i;
		while (i < n && !(v[i] == ' ' || v[i] == '\t' || v[i] == '\r' || v[i] == '\n'))
			i++;
		if (i > start)
			import_apply_token(f, (const char *)v + start, i - start);
	}
}

/* Walk the top-level header (up to the first empty line): a leading
 * X-Sealmail-Flags field is parsed and removed; later ones came from the
 * sender and are removed without effect. Returns true when something was
 * removed: *out then holds the rewritten message; else the input is used as
 * it is. */
static bool import_strip_flags(const unsigned char *p, size_t len, struct import_flags *f,
                               struct buf *out)
{
	size_t pos = 0, kept = 0; /* p[kept..pos) not yet copied */
	bool first = true, changed = false;
	buf_reset(out);
	while (pos < len) {
		/* An empty line ends the header (RFC 5322 section 2.1). */
		if (p[pos] == '\n' || (p[pos] == '\r' && pos + 1 < len && p[pos + 1] == '\n'))
			break;
		/* One field: its first line and continuation lines (SP/HTAB). */
		size_t end = pos;
		for (;;) {
			const unsigned char *nl = memchr(p + end, '\n', len - end);
			end = nl == NULL ? len : (size_t)(nl - p) + 1;
			if (end >= len || (p[end] != ' ' && p[end] != '\t'))
				break;
		}
		if (import_is_flags_field(p + pos, end - pos)) {
			if (first) {
				const unsigned char *colon = memchr(p + pos, ':', end - pos);
				import_parse_value(f, colon + 1, (size_t)(p + end - colon - 1));
			} else {
				log_event(LOG_NOTICE, "spool-flags-stripped", "REASON",
				          "X-Sealmail-Flags field not in first position", NULL);
			}
			buf_append(out, p + kept, pos - kept);
			kept = end;
			changed = true;
		}
		first = false;
		pos = end;
	}
	if (changed)
		buf_append(out, p + kept, len - kept);
	return changed;
}

/* Move a bad spool file aside to spool/bad. */
static void import_set_aside(int spool_dirfd, int newfd, int *badfd, const char *name,
                             const char *reason)
{
	log_event(LOG_ERR, "spool-bad", "FILE", name, "REASON", reason, NULL);
	if (*badfd < 0) {
		if (mkdirat(spool_dirfd, "bad", 0700) < 0 && errno != EEXIST)
			goto fail;
		*badfd =
		    openat(spool_dirfd, "bad", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (*badfd < 0)
			goto fail;
	}
	if (renameat(newfd, name, *badfd, name) < 0 && errno != ENOENT)
		goto fail;
	return;
fail:
	log_event(LOG_ERR, "spool-set-aside-failed", "FILE", name, "REASON", strerror(errno), NULL);
}

static int import_folder_id(struct store *st, const char *name, int64_t *id_r)
{
	struct store_folder f;
	int rc = store_folder_get(st, name, &f);
	if (rc == 1)
		*id_r = f.id;
	store_folder_clear(&f);
	return rc;
}

/* Decrypt one spool file into plain: 0 ok, -1 with *reason (static). Tries
 * the current sealing key, then the previous one. */
static int import_decrypt(int fd, const unsigned char *sk, const unsigned char *sk_old,
                          size_t max_size, struct buf *plain, const char **reason)
{
	*reason = "decryption failed";
	if (age_open_fd(sk, fd, plain, max_size, reason) == 0)
		return 0;
	if (sk_old == NULL)
		return -1;
	const char *reason2 = NULL;
	buf_reset(plain);
	if (lseek(fd, 0, SEEK_SET) != 0)
		return -1;
	if (age_open_fd(sk_old, fd, plain, max_size, &reason2) == 0)
		return 0;
	return -1;
}

int store_import_spool(struct store *st, int spool_dirfd, size_t max_size,
                       struct store_import_stats *stats, const char **error_r)
{
	const char *dummy;
	struct store_import_stats local;
	if (error_r == NULL)
		error_r = &dummy;
	if (stats == NULL)
		stats = &local;
	memset(stats, 0, sizeof(*stats));
	struct import_list names = {0}, done = {0}, bad = {0};
	const char **bad_reason = NULL;
	struct buf plain = BUF_INIT, stripped = BUF_INIT, kwtext = BUF_INIT;
	unsigned char sk[STORE_SEAL_KEY_LEN], sk_old[STORE_SEAL_KEY_LEN];
	bool have_old = false, in_tx = false;
	int newfd = -1, badfd = -1, ret = -1;
	int64_t inbox_id;

	if (st->depth > 0) {
		/* The COMMIT must be durable before any unlink. */
		*error_r = "import inside a transaction";
		store_fail_msg(st, *error_r);
		return -1;
	}
	newfd = openat(spool_dirfd, "new", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (newfd < 0) {
		*error_r = "cannot open spool/new";
		goto out;
	}
	/* Cheap path for the common login without new mail: no write lock. */
	if (import_list_dir(newfd, &names) < 0) {
		*error_r = "cannot list spool/new";
		goto out;
	}
	if (names.n == 0) {
		sqlite3_stmt *s = store_prepare(st, "SELECT EXISTS (SELECT 1 FROM spool_imported)");
		int any = -1;
		if (s != NULL && sqlite3_step(s) == SQLITE_ROW)
			any = sqlite3_column_int(s, 0);
		sqlite3_finalize(s);
		if (any < 0) {
			*error_r = "cannot read imported names";
			goto out;
		}
		if (any == 0) {
			ret = 0;
			goto out;
		}
	}
	if (store_get_seal_secret(st, sk) < 0) {
		*error_r = "no sealing key";
		goto out;
	}
	int orc = store_meta_get(st, store_meta_seal_old, sk_old, sizeof(sk_old));
	if (orc < 0) {
		*error_r = "cannot read sealing key";
		goto out;
	}
	have_old = orc == 1;
	if (import_folder_id(st, "INBOX", &inbox_id) != 1) {
		*error_r = "no INBOX";
		goto out;
	}

	if (store_begin(st) < 0) {
		*error_r = "cannot lock mailbox";
		goto out;
	}
	in_tx = true;
	/* List again under the write lock: every name in spool_imported was
	 * committed before this listing, so a recorded name that is not listed
	 * now is gone for good and can be pruned (see docs/STORE.md). */
	if (import_list_dir(newfd, &names) < 0) {
		*error_r = "cannot list spool/new";
		goto out;
	}
	int64_t now = (int64_t)time(NULL);
	for (size_t i = 0; i < names.n; i++) {
		const char *name = names.v[i].name;
		sqlite3_stmt *s = store_stmt(st, S_IMPORTED_HAS);
		if (s == NULL) {
			*error_r = "cannot query imported names";
			goto out;
		}
		sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
		int rc = sqlite3_step(s);
		sqlite3_reset(s);
		if (rc == SQLITE_ROW) {
			/* Committed by an earlier run that did not unlink. */
			import_list_add(&done, name, names.v[i].us);
			stats->leftovers++;
			continue;
		}
		if (rc != SQLITE_DONE) {
			store_fail(st, "imported lookup");
			*error_r = "cannot query imported names";
			goto out;
		}
		int fd = openat(newfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
		if (fd < 0) {
			if (errno == ENOENT)
				continue; /* another session imported it meanwhile */
			bad_reason = mem_realloc(bad_reason, bad.n + 1, sizeof(*bad_reason));
			bad_reason[bad.n] = "cannot open";
			import_list_add(&bad, name, names.v[i].us);
			continue;
		}
		const char *reason = NULL;
		struct stat sb;
		buf_reset(&plain);
		int drc = -1;
		if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode))
			reason = "not a regular file";
		else
			drc = import_decrypt(fd, sk, have_old ? sk_old : NULL, max_size, &plain,
			                     &reason);
		close(fd);
		if (drc < 0) {
			bad_reason = mem_realloc(bad_reason, bad.n + 1, sizeof(*bad_reason));
			bad_reason[bad.n] = reason != NULL ? reason : "decryption failed";
			import_list_add(&bad, name, names.v[i].us);
			continue;
		}
		struct import_flags fl;
		memset(&fl, 0, sizeof(fl));
		bool changed =
		    import_strip_flags(plain.data != NULL ? plain.data : (const unsigned char *)"",
		                       plain.len, &fl, &stripped);
		const struct buf *msg = changed ? &stripped : &plain;
		int64_t folder_id = inbox_id;
		if (fl.folder[0] != '\0') {
			int frc = import_folder_id(st, fl.folder, &folder_id);
			if (frc < 0) {
				store_kwset_free(&fl.kw);
				*error_r = "cannot look up folder";
				goto out;
			}
			if (frc == 0) {
				log_event(LOG_WARNING, "spool-route-unknown", "FILE", name, NULL);
				folder_id = inbox_id;
			}
		}
		store_kwset_format(&fl.kw, &kwtext);
		store_kwset_free(&fl.kw);
		/* INTERNALDATE: the spool name's delivery time (DESIGN 2). */
		int64_t date = names.v[i].us / 1000000;
		if (store_append_locked(st, folder_id, msg->data, msg->len, date, fl.flags,
		                        buf_cstr(&kwtext), NULL, NULL) < 0) {
			*error_r = "cannot insert message";
			goto out;
		}
		s = store_stmt(st, S_IMPORTED_ADD);
		if (s == NULL) {
			*error_r = "cannot record imported name";
			goto out;
		}
		sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
		sqlite3_bind_int64(s, 2, now);
		if (store_step_done(st, s, "record imported") < 0) {
			*error_r = "cannot record imported name";
			goto out;
		}
		import_list_add(&done, name, names.v[i].us);
		stats->imported++;
	}
	/* Prune recorded names whose files are gone, keeping the table at the
	 * size of one batch. */
	{
		sqlite3_stmt *s = store_prepare(st, "SELECT name FROM spool_imported");
		struct import_list gone = {0};
		int rc;
		if (s == NULL) {
			*error_r = "cannot list imported names";
			goto out;
		}
		while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
			const char *n = (const char *)sqlite3_column_text(s, 0);
			if (n != NULL && !import_list_has(&names, n) && strlen(n) < SPOOL_NAME_MAX)
				import_list_add(&gone, n, 0);
		}
		sqlite3_finalize(s);
		if (rc != SQLITE_DONE) {
			free(gone.v);
			store_fail(st, "list imported");
			*error_r = "cannot list imported names";
			goto out;
		}
		/* Another session may have unlinked these files without having
		 * flushed spool/new yet: flush it before forgetting the names, or
		 * a crash could bring back files whose names we no longer know. */
		if (gone.n > 0 && fsync(newfd) < 0) {
			free(gone.v);
			*error_r = "cannot sync spool/new";
			goto out;
		}
		s = gone.n > 0 ? store_prepare(st, "DELETE FROM spool_imported WHERE name = ?1")
		               : NULL;
		for (size_t i = 0; i < gone.n && s != NULL; i++) {
			sqlite3_reset(s);
			sqlite3_bind_text(s, 1, gone.v[i].name, -1, SQLITE_STATIC);
			if (store_step_done(st, s, "prune imported") < 0)
				break;
			stats->pruned++;
		}
		sqlite3_finalize(s);
		bool pruned_all = stats->pruned == gone.n;
		free(gone.v);
		if (!pruned_all) {
			*error_r = "cannot prune imported names";
			goto out;
		}
	}
	in_tx = false;
	/* synchronous=FULL: when COMMIT returns, messages and names are on
	 * disk; only now may the spool files go. */
	if (store_commit(st) < 0) {
		*error_r = "cannot commit import";
		goto out;
	}
	for (size_t i = 0; i < done.n; i++) {
		if (unlinkat(newfd, done.v[i].name, 0) < 0 && errno != ENOENT)
			log_event(LOG_ERR, "spool-unlink-failed", "FILE", done.v[i].name, "REASON",
			          strerror(errno), NULL);
	}
	ret = 0;
	if (stats->imported > 0) {
		char cnt[32];
		snprintf(cnt, sizeof(cnt), "%zu", stats->imported);
		log_event(LOG_INFO, "import", "COUNT", cnt, NULL);
	}
out:
	if (in_tx)
		store_rollback(st);
	/* Undecryptable files never block the others: set aside whether or not
	 * the transaction committed. */
	for (size_t i = 0; i < bad.n; i++)
		import_set_aside(spool_dirfd, newfd, &badfd, bad.v[i].name, bad_reason[i]);
	stats->bad = bad.n;
	if (badfd >= 0) {
		fsync(badfd);
		close(badfd);
	}
	/* Make the unlinks and moves durable. Not needed for correctness
	 * (a resurrected file is a recorded leftover), but keeps the spool from
	 * re-growing after a crash. */
	if (newfd >= 0) {
		if ((done.n > 0 || bad.n > 0) && fsync(newfd) < 0)
			log_event(LOG_WARNING, "spool-fsync-failed", "REASON", strerror(errno),
			          NULL);
		close(newfd);
	}
	sodium_memzero(sk, sizeof(sk));
	sodium_memzero(sk_old, sizeof(sk_old));
	buf_wipe(&plain);
	buf_wipe(&stripped);
	buf_free(&kwtext);
	free(names.v);
	free(done.v);
	free(bad.v);
	free(bad_reason);
	return ret;
}
