/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* The directory database (DESIGN section 2): opening, the schema and its
 * migrations, errors, statements and transactions shared by every part,
 * and snapshots for processes that fork per connection. Domains, users,
 * aliases and the resolver are in directory_*.c (see directory_int.h).
 * Trust: written by sealctl (admin); read by the MX and login handlers with
 * addresses that come from clients, always through bound parameters. */
#include "directory_int.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"
#include "base/timeutil.h"

static const char *const dir_stmt_sql[ST_COUNT] = {
    [ST_DOMAIN_EXISTS] = "SELECT 1 FROM domains WHERE name = ?1",
    [ST_USER_BY_ADDRESS] = "SELECT " DIR_USER_COLUMNS " FROM users WHERE address = ?1",
    [ST_USER_BY_ID] = "SELECT " DIR_USER_COLUMNS " FROM users WHERE id = ?1",
    [ST_ALIAS_TARGETS] = "SELECT target, kind FROM aliases WHERE source = ?1 ORDER BY rowid",
    [ST_FIRST_USER] =
        "SELECT " DIR_USER_COLUMNS " FROM users WHERE domain = ?1 ORDER BY created, rowid LIMIT 1",
    [ST_FIRST_DOMAIN] = "SELECT name FROM domains ORDER BY rowid LIMIT 1",
    [ST_DATA_VERSION] = "PRAGMA data_version",
};

/* Ordered migrations: entry i takes user_version i to i + 1. Never edit a
 * released entry; append a new one and raise DIRECTORY_SCHEMA_VERSION. */
static const char *const dir_migrations[] = {
    /* 1: initial schema. users.domain duplicates the address's domain for
     * the foreign key (a domain with users cannot be deleted) and for
     * per-domain listing. */
    "CREATE TABLE domains ("
    "  name TEXT PRIMARY KEY NOT NULL,"
    "  created INTEGER NOT NULL);"
    "CREATE TABLE users ("
    "  id TEXT PRIMARY KEY NOT NULL CHECK (length(id) = 32),"
    "  address TEXT NOT NULL UNIQUE,"
    "  domain TEXT NOT NULL REFERENCES domains(name),"
    "  pw_blob BLOB NOT NULL,"
    "  recovery_blob BLOB,"
    "  seal_pk BLOB NOT NULL CHECK (length(seal_pk) = 32),"
    "  quota_bytes INTEGER NOT NULL DEFAULT 0 CHECK (quota_bytes >= 0),"
    "  created INTEGER NOT NULL);"
    "CREATE INDEX users_domain ON users(domain);"
    "CREATE TABLE aliases ("
    "  source TEXT NOT NULL,"
    "  domain TEXT NOT NULL REFERENCES domains(name),"
    "  target TEXT NOT NULL,"
    "  kind TEXT NOT NULL CHECK (kind IN ('local', 'external', 'url')),"
    "  created INTEGER NOT NULL,"
    "  PRIMARY KEY (source, target));"
    "CREATE INDEX aliases_domain ON aliases(domain);",
};

_Static_assert(sizeof(dir_migrations) / sizeof(dir_migrations[0]) == DIRECTORY_SCHEMA_VERSION,
               "one migration per schema version");

_Static_assert(DIRINDEX_PK_LEN == DIRECTORY_SEAL_PK_LEN, "one key length");

static char dir_open_error[1024];

/* ---- errors ---- */

int dir_fail(struct directory *d, enum directory_status status, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	/* A cut message is harmless: it is text for a log or an admin, and
	 * the arguments that may be long are bounded with %.Ns. */
	(void)vsnprintf(d->error, sizeof(d->error), fmt, ap);
	va_end(ap);
	d->status = status;
	return -1;
}

/* A failed SQLite call: constraint violations get a meaningful status. */
int dir_sqlfail(struct directory *d, const char *what)
{
	int ext = sqlite3_extended_errcode(d->db);
	enum directory_status st = DIRECTORY_ERR_TEMP;
	switch (ext) {
	case SQLITE_CONSTRAINT_UNIQUE:
	case SQLITE_CONSTRAINT_PRIMARYKEY:
		st = DIRECTORY_ERR_EXISTS;
		break;
	case SQLITE_CONSTRAINT_FOREIGNKEY:
		st = DIRECTORY_ERR_IN_USE;
		break;
	case SQLITE_CONSTRAINT_CHECK:
	case SQLITE_CONSTRAINT_NOTNULL:
		st = DIRECTORY_ERR_INVALID;
		break;
	default:
		break;
	}
	return dir_fail(d, st, "%s: %s", what, sqlite3_errmsg(d->db));
}

enum directory_status directory_status(const struct directory *d)
{
	return d->status;
}

const char *directory_error(const struct directory *d)
{
	return d->error;
}

/* ---- statements ---- */

sqlite3_stmt *dir_stmt(struct directory *d, enum dir_stmt which)
{
	if (d->st[which] == NULL &&
	    sqlite3_prepare_v2(d->db, dir_stmt_sql[which], -1, &d->st[which], NULL) != SQLITE_OK) {
		dir_sqlfail(d, "prepare");
		return NULL;
	}
	sqlite3_reset(d->st[which]);
	sqlite3_clear_bindings(d->st[which]);
	return d->st[which];
}

sqlite3_stmt *dir_prepare(struct directory *d, const char *sql)
{
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(d->db, sql, -1, &st, NULL) != SQLITE_OK) {
		dir_sqlfail(d, "prepare");
		sqlite3_finalize(st);
		return NULL;
	}
	return st;
}

/* Finish a one-shot statement; cached ones are only reset. */
void dir_done(struct directory *d, sqlite3_stmt *st)
{
	for (int i = 0; i < ST_COUNT; i++) {
		if (d->st[i] == st) {
			sqlite3_reset(st);
			return;
		}
	}
	sqlite3_finalize(st);
}

int dir_exec(struct directory *d, const char *sql)
{
	char *msg = NULL;
	if (sqlite3_exec(d->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		int r = dir_fail(d, DIRECTORY_ERR_TEMP, "%s: %s", sql, msg ? msg : "failed");
		sqlite3_free(msg);
		return r;
	}
	return 0;
}

/* Step a statement expected to produce no row (or to be finished after its
 * first row is ignored). 0 or -1. */
int dir_step_done(struct directory *d, sqlite3_stmt *st, const char *what)
{
	int rc = sqlite3_step(st);
	if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
		dir_sqlfail(d, what);
		dir_done(d, st);
		return -1;
	}
	dir_done(d, st);
	return 0;
}

/* ---- transactions ---- */

int dir_write_begin(struct directory *d)
{
	if (d->readonly)
		return dir_fail(d, DIRECTORY_ERR_INVALID, "directory opened read-only");
	/* IMMEDIATE takes the write lock at once, so a busy writer is waited
	 * for (busy_timeout) instead of failing at the first write. */
	if (dir_exec(d, d->txn_level == 0 ? "BEGIN IMMEDIATE" : "SAVEPOINT dirop") < 0)
		return -1;
	d->txn_level++;
	return 0;
}

/* End a change begun by dir_write_begin: commit when ok, else roll back
 * keeping the status and message of the failure. Returns 0 or -1. */
int dir_write_end(struct directory *d, bool ok)
{
	d->txn_level--;
	if (ok) {
		if (dir_exec(d, d->txn_level == 0 ? "COMMIT" : "RELEASE dirop") == 0)
			return 0;
	}
	enum directory_status st = d->status;
	char err[sizeof(d->error)];
	memcpy(err, d->error, sizeof(err));
	if (d->txn_level == 0)
		(void)sqlite3_exec(d->db, "ROLLBACK", NULL, NULL, NULL);
	else
		(void)sqlite3_exec(d->db, "ROLLBACK TO dirop; RELEASE dirop", NULL, NULL, NULL);
	d->status = st;
	memcpy(d->error, err, sizeof(err));
	return -1;
}

int directory_begin(struct directory *d)
{
	if (d->txn_level != 0)
		return dir_fail(d, DIRECTORY_ERR_INVALID, "a transaction is already open");
	if (dir_write_begin(d) < 0)
		return -1;
	d->explicit_txn = true;
	return 0;
}

int directory_commit(struct directory *d)
{
	if (!d->explicit_txn)
		return dir_fail(d, DIRECTORY_ERR_INVALID, "no transaction is open");
	d->explicit_txn = false;
	return dir_write_end(d, true);
}

int directory_rollback(struct directory *d)
{
	if (!d->explicit_txn)
		return dir_fail(d, DIRECTORY_ERR_INVALID, "no transaction is open");
	d->explicit_txn = false;
	d->txn_level = 0;
	if (dir_exec(d, "ROLLBACK") < 0)
		return -1;
	return 0;
}

/* ---- open, migrate, close ---- */

static int dir_user_version(sqlite3 *db, int *v)
{
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL);
	if (rc == SQLITE_OK) {
		rc = sqlite3_step(st);
		if (rc == SQLITE_ROW) {
			*v = sqlite3_column_int(st, 0);
			rc = SQLITE_OK;
		}
	}
	sqlite3_finalize(st);
	return rc;
}

int directory_schema_version(struct directory *d)
{
	int v;
	return dir_user_version(d->db, &v) == SQLITE_OK ? v : -1;
}

static int dir_migrate(struct directory *d)
{
	int v;
	if (dir_write_begin(d) < 0)
		return -1;
	/* Read the version under the write lock: two concurrent inits must not
	 * both run a migration. */
	if (dir_user_version(d->db, &v) != SQLITE_OK) {
		dir_sqlfail(d, "read schema version");
		return dir_write_end(d, false);
	}
	if (v > DIRECTORY_SCHEMA_VERSION) {
		dir_fail(d, DIRECTORY_ERR_INVALID,
		         "schema version %d is newer than this program's %d", v,
		         DIRECTORY_SCHEMA_VERSION);
		return dir_write_end(d, false);
	}
	for (; v < DIRECTORY_SCHEMA_VERSION; v++) {
		char sql[64];
		if (dir_exec(d, dir_migrations[v]) < 0)
			return dir_write_end(d, false);
		/* An int always fits; checked all the same. */
		if ((size_t)snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", v + 1) >=
		    sizeof(sql)) {
			dir_fail(d, DIRECTORY_ERR_INVALID, "schema version %d", v + 1);
			return dir_write_end(d, false);
		}
		if (dir_exec(d, sql) < 0)
			return dir_write_end(d, false);
	}
	return dir_write_end(d, true);
}

/* "file:" URI for path with every octet outside the unreserved set and
 * '/' percent-encoded (SQLite URI filenames, RFC 3986 section 2.1). */
static void dir_uri(const char *path, const char *query, struct buf *out)
{
	static const char hexd[] = "0123456789ABCDEF";
	buf_append_str(out, "file:");
	for (const unsigned char *p = (const unsigned char *)path; *p; p++) {
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9') || strchr("/-._~", *p) != NULL) {
			buf_append_byte(out, *p);
		} else {
			buf_append_byte(out, '%');
			buf_append_byte(out, (unsigned char)hexd[*p >> 4]);
			buf_append_byte(out, (unsigned char)hexd[*p & 15]);
		}
	}
	buf_append_str(out, query);
}

/* Open read-only and read the schema version (which opens -wal and -shm).
 * Returns the SQLite result code; *db_r is set (maybe to a failed handle). */
static int dir_open_ro(const char *path, bool readonly_shm, sqlite3 **db_r, int *version)
{
	struct buf uri = BUF_INIT;
	/* readonly_shm (SQLite 3.15): map -shm read-only. Reading is correct
	 * as long as the WAL index in it is valid, which read-write opens
	 * keep; rebuilding it after a writer crash needs write access. */
	dir_uri(path, readonly_shm ? "?readonly_shm=1" : "", &uri);
	int rc =
	    sqlite3_open_v2(buf_cstr(&uri), db_r, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI, NULL);
	buf_free(&uri);
	if (rc != SQLITE_OK)
		return rc;
	sqlite3_busy_timeout(*db_r, DIRECTORY_BUSY_TIMEOUT_MS);
	return dir_user_version(*db_r, version);
}

__attribute__((format(printf, 2, 3))) static int dir_open_fail(const char **error_r,
                                                               const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	/* A cut message is harmless: it is only shown to the admin (a path
	 * near PATH_MAX may not fit whole). */
	(void)vsnprintf(dir_open_error, sizeof(dir_open_error), fmt, ap);
	va_end(ap);
	*error_r = dir_open_error;
	return -1;
}

int directory_open(const char *state_dir, enum directory_mode mode, struct directory **d_r,
                   const char **error_r)
{
	char path[4096];
	struct stat sb;
	sqlite3 *db = NULL;
	int version = 0, rc;

	*d_r = NULL;
	if ((size_t)snprintf(path, sizeof(path), "%s/%s", state_dir, DIRECTORY_FILE) >=
	    sizeof(path))
		return dir_open_fail(error_r, "%s: path too long", state_dir);
	if (mode != DIRECTORY_INIT && stat(path, &sb) < 0)
		return dir_open_fail(error_r, "%s: %s%s", path, strerror(errno),
		                     errno == ENOENT ? " (run sealctl init)" : "");

	if (mode == DIRECTORY_READ) {
		rc = dir_open_ro(path, false, &db, &version);
		if (rc == SQLITE_CANTOPEN) {
			/* No write access to -shm (SQLite 3.15 needs it unless
			 * told otherwise): read it read-only. */
			sqlite3_close(db);
			db = NULL;
			rc = dir_open_ro(path, true, &db, &version);
		}
		if (rc != SQLITE_OK) {
			dir_open_fail(
			    error_r,
			    "%s: %s (read-only opens need %s-wal and -shm to exist and be "
			    "readable: run sealctl init)",
			    path, db ? sqlite3_errmsg(db) : sqlite3_errstr(rc), path);
			sqlite3_close(db);
			return -1;
		}
	} else {
		int flags =
		    SQLITE_OPEN_READWRITE | (mode == DIRECTORY_INIT ? SQLITE_OPEN_CREATE : 0);
		rc = sqlite3_open_v2(path, &db, flags, NULL);
		if (rc != SQLITE_OK) {
			dir_open_fail(error_r, "%s: %s", path,
			              db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
			sqlite3_close(db);
			return -1;
		}
		sqlite3_busy_timeout(db, DIRECTORY_BUSY_TIMEOUT_MS);
		/* Keep -wal and -shm when the last connection closes: read-only
		 * openers cannot create them (see directory.h). */
		int one = 1;
		sqlite3_file_control(db, "main", SQLITE_FCNTL_PERSIST_WAL, &one);
		char *msg = NULL;
		/* secure_delete and a zero WAL size limit: old wrapped-key blobs
		 * (replaced after a password change) should not linger in free
		 * pages or old WAL frames, where an old password could open them. */
		if (sqlite3_exec(db,
		                 "PRAGMA journal_mode = WAL; PRAGMA secure_delete = ON;"
		                 "PRAGMA journal_size_limit = 0",
		                 NULL, NULL, &msg) != SQLITE_OK) {
			dir_open_fail(error_r, "%s: %s", path, msg ? msg : sqlite3_errmsg(db));
			sqlite3_free(msg);
			sqlite3_close(db);
			return -1;
		}
	}

	struct directory *d = mem_zalloc(sizeof(*d));
	d->db = db;
	d->readonly = mode == DIRECTORY_READ;
	d->data_version = -1;
	d->path[0] = mem_strdup(path);
	size_t plen = strlen(path);
	d->path[1] = mem_alloc(mem_add(plen, sizeof("-wal")));
	memcpy(d->path[1], path, plen);
	memcpy(d->path[1] + plen, "-wal", sizeof("-wal")); /* sized for it: nothing to cut */
	if (dir_exec(d, "PRAGMA foreign_keys = ON") < 0) {
		dir_open_fail(error_r, "%s: %s", path, d->error);
		directory_close(&d);
		return -1;
	}
	if (mode == DIRECTORY_INIT) {
		if (dir_migrate(d) < 0) {
			dir_open_fail(error_r, "%s: %s", path, d->error);
			directory_close(&d);
			return -1;
		}
	} else {
		if (mode == DIRECTORY_WRITE && dir_user_version(db, &version) != SQLITE_OK) {
			dir_open_fail(error_r, "%s: %s", path, sqlite3_errmsg(db));
			directory_close(&d);
			return -1;
		}
		if (version != DIRECTORY_SCHEMA_VERSION) {
			dir_open_fail(error_r, "%s: schema version %d, expected %d%s", path,
			              version, DIRECTORY_SCHEMA_VERSION,
			              version < DIRECTORY_SCHEMA_VERSION
			                  ? " (run sealctl init)"
			                  : " (newer program needed)");
			directory_close(&d);
			return -1;
		}
	}
	*d_r = d;
	return 0;
}

void directory_close(struct directory **dp)
{
	struct directory *d = *dp;
	if (d == NULL)
		return;
	for (int i = 0; i < ST_COUNT; i++)
		sqlite3_finalize(d->st[i]);
	if (d->txn_level > 0)
		(void)sqlite3_exec(d->db, "ROLLBACK", NULL, NULL, NULL);
	sqlite3_close(d->db);
	dirindex_free(&d->index);
	free(d->path[0]);
	free(d->path[1]);
	free(d);
	*dp = NULL;
}

/* ---- snapshots for forked processes ---- */

/* How long directory_changed() may trust an unchanged stamp alone. */
#define DIR_STAMP_TRUST_MS 1000

/* Only the stack and *s are written: see directory_changed(). */
static void dir_stamp_read(const struct directory *d, struct dir_stamp *s)
{
	memset(s, 0, sizeof(*s));
	for (int i = 0; i < 2; i++) {
		struct stat st;
		if (stat(d->path[i], &st) < 0)
			continue;
		s->dev[i] = st.st_dev;
		s->ino[i] = st.st_ino;
		s->size[i] = st.st_size;
		s->mtim[i] = st.st_mtim;
		s->ctim[i] = st.st_ctim;
	}
}

static bool dir_stamp_equal(const struct dir_stamp *a, const struct dir_stamp *b)
{
	for (int i = 0; i < 2; i++)
		if (a->dev[i] != b->dev[i] || a->ino[i] != b->ino[i] || a->size[i] != b->size[i] ||
		    a->mtim[i].tv_sec != b->mtim[i].tv_sec ||
		    a->mtim[i].tv_nsec != b->mtim[i].tv_nsec ||
		    a->ctim[i].tv_sec != b->ctim[i].tv_sec ||
		    a->ctim[i].tv_nsec != b->ctim[i].tv_nsec)
			return false;
	return true;
}

int directory_changed(struct directory *d)
{
	/* The MX accept loop asks before every fork. A commit by another
	 * process writes the WAL (the database itself at a checkpoint, or
	 * without WAL), which changes its size or times; as long as neither
	 * file changed, the answer stands without running a statement, whose
	 * writes to SQLite's memory the loop would otherwise pay for in
	 * copied pages at every fork. Timestamps may be as coarse as a clock
	 * tick, so the statement still runs at least every
	 * DIR_STAMP_TRUST_MS. */
	struct dir_stamp now;
	int64_t t = timeutil_mono_ms();
	if (d->path[0] != NULL) {
		dir_stamp_read(d, &now);
		if (d->data_version >= 0 && t - d->stamp_ms < DIR_STAMP_TRUST_MS &&
		    dir_stamp_equal(&now, &d->stamp))
			return 0;
	}
	sqlite3_stmt *st = dir_stmt(d, ST_DATA_VERSION);
	if (st == NULL)
		return -1;
	int rc = sqlite3_step(st);
	int64_t v = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -1;
	sqlite3_reset(st);
	if (rc != SQLITE_ROW)
		return dir_sqlfail(d, "data_version");
	bool changed = v != d->data_version;
	d->data_version = v;
	/* Read before the statement: a commit in between makes the next
	 * call look again. */
	if (d->path[0] != NULL) {
		d->stamp = now;
		d->stamp_ms = t;
	}
	return changed ? 1 : 0;
}

/* The snapshot's lookups as a dirindex, read from its copy in the orders
 * the statements use: domains by rowid (the first is the default postmaster
 * domain), users by (created, rowid) (a domain's first user), aliases by
 * rowid (the order targets are tried in). */
static int dir_index_build(struct directory *s)
{
	static const char *const sql[3] = {
	    "SELECT name FROM domains ORDER BY rowid",
	    "SELECT id, address, domain, seal_pk, quota_bytes, created FROM users "
	    "ORDER BY created, rowid",
	    "SELECT source, target, kind FROM aliases ORDER BY rowid",
	};
	struct dirindex *x = dirindex_new();
	for (int q = 0; q < 3; q++) {
		sqlite3_stmt *st = dir_prepare(s, sql[q]);
		if (st == NULL) {
			dirindex_free(&x);
			return -1;
		}
		int rc;
		while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
			const char *t0 = (const char *)sqlite3_column_text(st, 0);
			if (q == 0) {
				dirindex_add_domain(x, t0);
			} else if (q == 1) {
				struct dirindex_user u = {
				    .id = t0,
				    .address = (const char *)sqlite3_column_text(st, 1),
				    .domain = (const char *)sqlite3_column_text(st, 2),
				    .created = sqlite3_column_int64(st, 5)};
				if (sqlite3_column_bytes(st, 3) == DIRECTORY_SEAL_PK_LEN)
					memcpy(u.seal_pk, sqlite3_column_blob(st, 3),
					       DIRECTORY_SEAL_PK_LEN);
				sqlite3_int64 quota = sqlite3_column_int64(st, 4);
				u.quota_bytes = quota > 0 ? (uint64_t)quota : 0;
				dirindex_add_user(x, &u);
			} else {
				dirindex_add_alias(x, t0, (const char *)sqlite3_column_text(st, 1),
				                   (const char *)sqlite3_column_text(st, 2));
			}
		}
		sqlite3_finalize(st);
		if (rc != SQLITE_DONE) {
			dirindex_free(&x);
			return dir_sqlfail(s, "index");
		}
	}
	dirindex_seal(x);
	s->index = x;
	return 0;
}

int directory_snapshot(struct directory *d, struct directory **snap_r)
{
	sqlite3 *mem = NULL;
	*snap_r = NULL;
	if (sqlite3_open_v2(":memory:", &mem, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) !=
	    SQLITE_OK) {
		sqlite3_close(mem);
		return dir_fail(d, DIRECTORY_ERR_TEMP, "in-memory database: out of memory");
	}
	sqlite3_backup *b = sqlite3_backup_init(mem, "main", d->db, "main");
	int rc = b != NULL ? sqlite3_backup_step(b, -1) : sqlite3_errcode(mem);
	if (b != NULL)
		sqlite3_backup_finish(b);
	struct directory *s = mem_zalloc(sizeof(*s));
	s->db = mem;
	s->readonly = true;
	s->data_version = -1;
	if (rc != SQLITE_DONE) {
		dir_fail(d, DIRECTORY_ERR_TEMP, "snapshot: %s", sqlite3_errstr(rc));
		goto fail;
	}
	/* Delivery needs public data only: drop the wrapped keys, and let
	 * nothing of them linger in free pages. Then prepare every statement
	 * here, once, rather than in each process that inherits the copy. */
	if (dir_exec(s, "PRAGMA secure_delete = ON") < 0 ||
	    dir_exec(s, "UPDATE users SET pw_blob = X'', recovery_blob = NULL") < 0)
		goto fail_s;
	for (int i = 0; i < ST_COUNT; i++)
		if (dir_stmt(s, (enum dir_stmt)i) == NULL)
			goto fail_s;
	if (dir_index_build(s) < 0)
		goto fail_s;
	*snap_r = s;
	return 0;
fail_s:
	dir_fail(d, DIRECTORY_ERR_TEMP, "snapshot: %s", s->error);
fail:
	directory_close(&s);
	return -1;
}

/* ---- names and counts ---- */

/* Normalise an address (UTF-8 allowed, no literal) or fail INVALID. */
int dir_norm_address(struct directory *d, const char *in, char out[ADDR_SIZE])
{
	if (addr_normalise(in, strlen(in), ADDR_UTF8, out, ADDR_SIZE) != 1)
		return dir_fail(d, DIRECTORY_ERR_INVALID, "invalid address: %.300s", in);
	return 0;
}

int dir_norm_domain(struct directory *d, const char *in, char out[ADDR_DOMAIN_MAX + 1])
{
	if (addr_domain_normalise(in, strlen(in), ADDR_UTF8, out, ADDR_DOMAIN_MAX + 1) != 1)
		return dir_fail(d, DIRECTORY_ERR_INVALID, "invalid domain: %.300s", in);
	return 0;
}

int dir_count(struct directory *d, const char *sql, const char *key, int64_t *n)
{
	sqlite3_stmt *st = dir_prepare(d, sql);
	if (st == NULL)
		return -1;
	dir_bind_text(st, 1, key);
	int rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		dir_sqlfail(d, "count");
		sqlite3_finalize(st);
		return -1;
	}
	*n = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return 0;
}
