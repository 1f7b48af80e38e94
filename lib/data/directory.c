/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* The directory database (DESIGN section 2). Trust: written by sealctl
 * (admin); read by the MX and login handlers with addresses that come from
 * clients, always through bound parameters. */
#include "directory.h"

#include <errno.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>

#include "dirindex.h"
#include "base/mem.h"
#include "base/rnd.h"
#include "base/timeutil.h"

/* Cached statements used on the delivery path. */
enum dir_stmt {
	ST_DOMAIN_EXISTS,
	ST_USER_BY_ADDRESS,
	ST_USER_BY_ID,
	ST_ALIAS_TARGETS,
	ST_FIRST_USER,
	ST_FIRST_DOMAIN,
	ST_DATA_VERSION,
	ST_COUNT
};

#define DIR_USER_COLUMNS                                                                           \
	"id, address, domain, pw_blob, recovery_blob, seal_pk, quota_bytes, created"

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

struct directory {
	sqlite3 *db;
	bool readonly;
	int txn_level; /* 0: none; 1: outermost; more: savepoints */
	bool explicit_txn;
	enum directory_status status;
	char error[512];
	sqlite3_stmt *st[ST_COUNT];
	int64_t data_version; /* directory_changed: the last value seen; -1 none */
	char *path[2];        /* the file's name and its WAL's; NULL for a snapshot */
	struct dir_stamp {
		/* [0] the database, [1] its WAL; all zero when absent */
		dev_t dev[2];
		ino_t ino[2];
		off_t size[2];
		struct timespec mtim[2], ctim[2];
	} stamp;                /* the files when data_version was last read */
	int64_t stamp_ms;       /* and when (CLOCK_MONOTONIC) */
	struct dirindex *index; /* a snapshot's lookups (see dirindex.h); NULL for the file */
};

_Static_assert(DIRINDEX_PK_LEN == DIRECTORY_SEAL_PK_LEN, "one key length");

static char dir_open_error[1024];

/* ---- errors ---- */

__attribute__((format(printf, 3, 4))) static int
dir_fail(struct directory *d, enum directory_status status, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(d->error, sizeof(d->error), fmt, ap);
	va_end(ap);
	d->status = status;
	return -1;
}

/* A failed SQLite call: constraint violations get a meaningful status. */
static int dir_sqlfail(struct directory *d, const char *what)
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

static sqlite3_stmt *dir_stmt(struct directory *d, enum dir_stmt which)
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

static sqlite3_stmt *dir_prepare(struct directory *d, const char *sql)
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
static void dir_done(struct directory *d, sqlite3_stmt *st)
{
	for (int i = 0; i < ST_COUNT; i++) {
		if (d->st[i] == st) {
			sqlite3_reset(st);
			return;
		}
	}
	sqlite3_finalize(st);
}

static int dir_exec(struct directory *d, const char *sql)
{
	char *msg = NULL;
	if (sqlite3_exec(d->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		int r = dir_fail(d, DIRECTORY_ERR_TEMP, "%s: %s", sql, msg ? msg : "failed");
		sqlite3_free(msg);
		return r;
	}
	return 0;
}

static void dir_bind_text(sqlite3_stmt *st, int i, const char *s)
{
	sqlite3_bind_text(st, i, s, -1, SQLITE_TRANSIENT);
}

/* Step a statement expected to produce no row (or to be finished after its
 * first row is ignored). 0 or -1. */
static int dir_step_done(struct directory *d, sqlite3_stmt *st, const char *what)
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

static int dir_write_begin(struct directory *d)
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
static int dir_write_end(struct directory *d, bool ok)
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
		snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", v + 1);
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
	vsnprintf(dir_open_error, sizeof(dir_open_error), fmt, ap);
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
	d->path[1] = mem_alloc(mem_add(strlen(path), sizeof("-wal")));
	snprintf(d->path[1], strlen(path) + sizeof("-wal"), "%s-wal", path);
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
		    a->ctim[i].tv_sec != b->ctim[i].tv_sec || a->ctim[i].tv_nsec != b->ctim[i].tv_nsec)
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

/* ---- helpers ---- */

/* Normalise an address (UTF-8 allowed, no literal) or fail INVALID. */
static int dir_norm_address(struct directory *d, const char *in, char out[ADDR_SIZE])
{
	if (addr_normalise(in, strlen(in), ADDR_UTF8, out, ADDR_SIZE) != 1)
		return dir_fail(d, DIRECTORY_ERR_INVALID, "invalid address: %.300s", in);
	return 0;
}

static int dir_norm_domain(struct directory *d, const char *in, char out[ADDR_DOMAIN_MAX + 1])
{
	if (addr_domain_normalise(in, strlen(in), ADDR_UTF8, out, ADDR_DOMAIN_MAX + 1) != 1)
		return dir_fail(d, DIRECTORY_ERR_INVALID, "invalid domain: %.300s", in);
	return 0;
}

/* Domain part of a normalised address (after the last '@': quoted local
 * parts may contain '@', domains never do). */
static const char *dir_domain_of(const char *address)
{
	return strrchr(address, '@') + 1;
}

/* 1 hosted, 0 not, -1 error. */
static int dir_hosted(struct directory *d, const char *domain)
{
	if (d->index != NULL)
		return dirindex_has_domain(d->index, domain) ? 1 : 0;
	sqlite3_stmt *st = dir_stmt(d, ST_DOMAIN_EXISTS);
	if (st == NULL)
		return -1;
	dir_bind_text(st, 1, domain);
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc == SQLITE_ROW)
		return 1;
	if (rc == SQLITE_DONE)
		return 0;
	return dir_sqlfail(d, "domain lookup");
}

static void dir_copy_text(char *out, size_t outsz, sqlite3_stmt *st, int col)
{
	const unsigned char *t = sqlite3_column_text(st, col);
	snprintf(out, outsz, "%s", t ? (const char *)t : "");
}

static void dir_copy_blob(struct buf *b, sqlite3_stmt *st, int col)
{
	const void *p = sqlite3_column_blob(st, col);
	int n = sqlite3_column_bytes(st, col);
	buf_reset(b);
	if (p != NULL && n > 0)
		buf_append(b, p, (size_t)n);
}

/* Fill u from a row of DIR_USER_COLUMNS. */
static void dir_user_row(sqlite3_stmt *st, struct directory_user *u)
{
	dir_copy_text(u->id, sizeof(u->id), st, 0);
	dir_copy_text(u->address, sizeof(u->address), st, 1);
	dir_copy_text(u->domain, sizeof(u->domain), st, 2);
	dir_copy_blob(&u->pw_blob, st, 3);
	dir_copy_blob(&u->recovery_blob, st, 4);
	memset(u->seal_pk, 0, sizeof(u->seal_pk));
	if (sqlite3_column_bytes(st, 5) == DIRECTORY_SEAL_PK_LEN)
		memcpy(u->seal_pk, sqlite3_column_blob(st, 5), DIRECTORY_SEAL_PK_LEN);
	sqlite3_int64 q = sqlite3_column_int64(st, 6);
	u->quota_bytes = q > 0 ? (uint64_t)q : 0;
	u->created = sqlite3_column_int64(st, 7);
}

/* Fill u from a snapshot's index entry (no wrapped keys there): 1, or 0
 * when there is none. */
static int dir_user_indexed(const struct dirindex_user *x, struct directory_user *u)
{
	if (x == NULL)
		return 0;
	snprintf(u->id, sizeof(u->id), "%s", x->id);
	snprintf(u->address, sizeof(u->address), "%s", x->address);
	snprintf(u->domain, sizeof(u->domain), "%s", x->domain);
	buf_reset(&u->pw_blob);
	buf_reset(&u->recovery_blob);
	memcpy(u->seal_pk, x->seal_pk, sizeof(u->seal_pk));
	u->quota_bytes = x->quota_bytes;
	u->created = x->created;
	return 1;
}

/* Run a user query with one bound text; 1 found, 0 not, -1 error. */
static int dir_user_query(struct directory *d, enum dir_stmt which, const char *key,
                          struct directory_user *u)
{
	if (d->index != NULL && (which == ST_USER_BY_ADDRESS || which == ST_USER_BY_ID))
		return dir_user_indexed(which == ST_USER_BY_ADDRESS
		                            ? dirindex_user_by_address(d->index, key)
		                            : dirindex_user_by_id(d->index, key),
		                        u);
	sqlite3_stmt *st = dir_stmt(d, which);
	if (st == NULL)
		return -1;
	dir_bind_text(st, 1, key);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		dir_user_row(st, u);
		sqlite3_reset(st);
		return 1;
	}
	sqlite3_reset(st);
	if (rc == SQLITE_DONE)
		return 0;
	return dir_sqlfail(d, "user lookup");
}

static int dir_count(struct directory *d, const char *sql, const char *key, int64_t *n)
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

static const char *dir_kind_name(enum directory_target_kind k)
{
	switch (k) {
	case DIRECTORY_TARGET_LOCAL:
		return "local";
	case DIRECTORY_TARGET_EXTERNAL:
		return "external";
	case DIRECTORY_TARGET_URL:
		return "url";
	}
	return "external";
}

static enum directory_target_kind dir_kind_parse(const unsigned char *s)
{
	if (s != NULL && strcmp((const char *)s, "local") == 0)
		return DIRECTORY_TARGET_LOCAL;
	if (s != NULL && strcmp((const char *)s, "url") == 0)
		return DIRECTORY_TARGET_URL;
	return DIRECTORY_TARGET_EXTERNAL;
}

/* ---- domains ---- */

int directory_domain_add(struct directory *d, const char *domain)
{
	char name[ADDR_DOMAIN_MAX + 1];
	if (dir_norm_domain(d, domain, name) < 0)
		return -1;
	if (dir_write_begin(d) < 0)
		return -1;
	sqlite3_stmt *st = dir_prepare(d, "INSERT INTO domains (name, created) VALUES (?1, ?2)");
	bool ok = false;
	if (st != NULL) {
		dir_bind_text(st, 1, name);
		sqlite3_bind_int64(st, 2, (sqlite3_int64)time(NULL));
		if (sqlite3_step(st) == SQLITE_DONE)
			ok = true;
		else if (dir_sqlfail(d, "add domain") < 0 && d->status == DIRECTORY_ERR_EXISTS)
			dir_fail(d, DIRECTORY_ERR_EXISTS, "domain %s exists", name);
		sqlite3_finalize(st);
	}
	return dir_write_end(d, ok);
}

int directory_domain_del(struct directory *d, const char *domain)
{
	char name[ADDR_DOMAIN_MAX + 1];
	int64_t users = 0, aliases = 0;
	if (dir_norm_domain(d, domain, name) < 0)
		return -1;
	if (dir_write_begin(d) < 0)
		return -1;
	bool ok = false;
	int h = dir_hosted(d, name);
	if (h == 0)
		dir_fail(d, DIRECTORY_ERR_NOT_FOUND, "no domain %s", name);
	if (h != 1)
		return dir_write_end(d, false);
	if (dir_count(d, "SELECT count(*) FROM users WHERE domain = ?1", name, &users) < 0 ||
	    dir_count(d, "SELECT count(*) FROM aliases WHERE domain = ?1", name, &aliases) < 0)
		return dir_write_end(d, false);
	if (users > 0 || aliases > 0) {
		dir_fail(d, DIRECTORY_ERR_IN_USE, "domain %s still has %lld users and %lld aliases",
		         name, (long long)users, (long long)aliases);
		return dir_write_end(d, false);
	}
	sqlite3_stmt *st = dir_prepare(d, "DELETE FROM domains WHERE name = ?1");
	if (st != NULL) {
		dir_bind_text(st, 1, name);
		ok = dir_step_done(d, st, "delete domain") == 0;
	}
	return dir_write_end(d, ok);
}

int directory_domain_exists(struct directory *d, const char *domain)
{
	char name[ADDR_DOMAIN_MAX + 1];
	if (addr_domain_normalise(domain, strlen(domain), ADDR_UTF8, name, sizeof(name)) != 1)
		return 0;
	return dir_hosted(d, name);
}

void directory_strv_free(char ***vp, size_t n)
{
	char **v = *vp;
	if (v == NULL)
		return;
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
	*vp = NULL;
}

int directory_domain_list(struct directory *d, char ***names_r, size_t *n_r)
{
	*names_r = NULL;
	*n_r = 0;
	sqlite3_stmt *st = dir_prepare(d, "SELECT name FROM domains ORDER BY name");
	if (st == NULL)
		return -1;
	char **v = NULL;
	size_t n = 0;
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		v = mem_realloc(v, n + 1, sizeof(*v));
		v[n++] = mem_strdup((const char *)sqlite3_column_text(st, 0));
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		directory_strv_free(&v, n);
		return dir_sqlfail(d, "list domains");
	}
	*names_r = v;
	*n_r = n;
	return 0;
}

/* ---- users ---- */

void directory_new_id(char id[DIRECTORY_ID_LEN + 1])
{
	rnd_hex(id, DIRECTORY_ID_BYTES);
}

bool directory_id_valid(const char *id)
{
	size_t i;
	for (i = 0; i < DIRECTORY_ID_LEN; i++) {
		char c = id[i];
		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
			return false;
	}
	return id[i] == '\0';
}

void directory_user_clear(struct directory_user *u)
{
	buf_free(&u->pw_blob);
	buf_free(&u->recovery_blob);
	memset(u, 0, sizeof(*u));
}

static int dir_alias_exists(struct directory *d, const char *source)
{
	int64_t n = 0;
	if (dir_count(d, "SELECT count(*) FROM aliases WHERE source = ?1", source, &n) < 0)
		return -1;
	return n > 0;
}

int directory_user_add(struct directory *d, struct directory_user *u)
{
	char address[ADDR_SIZE];
	if (!directory_id_valid(u->id))
		return dir_fail(d, DIRECTORY_ERR_INVALID, "invalid user id");
	if (u->pw_blob.len == 0)
		return dir_fail(d, DIRECTORY_ERR_INVALID, "no wrapped key");
	if (u->quota_bytes > INT64_MAX)
		return dir_fail(d, DIRECTORY_ERR_INVALID, "quota too large");
	if (dir_norm_address(d, u->address, address) < 0)
		return -1;
	const char *domain = dir_domain_of(address);
	if (strncmp(address, "*@", 2) == 0)
		return dir_fail(d, DIRECTORY_ERR_INVALID, "\"*\" is the catch-all, not a user");
	if (dir_write_begin(d) < 0)
		return -1;
	bool ok = false;
	int h = dir_hosted(d, domain);
	if (h == 0)
		dir_fail(d, DIRECTORY_ERR_NOT_FOUND, "domain %s is not hosted here", domain);
	if (h != 1)
		return dir_write_end(d, false);
	/* An alias of the same address would never be used again (a user
	 * wins): refuse rather than hide it. */
	int a = dir_alias_exists(d, address);
	if (a == 1)
		dir_fail(d, DIRECTORY_ERR_EXISTS, "an alias %s exists", address);
	if (a != 0)
		return dir_write_end(d, false);

	sqlite3_stmt *st = dir_prepare(
	    d, "INSERT INTO users (id, address, domain, pw_blob, recovery_blob, seal_pk, "
	       "quota_bytes, created) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)");
	if (st != NULL) {
		int64_t now = (int64_t)time(NULL);
		dir_bind_text(st, 1, u->id);
		dir_bind_text(st, 2, address);
		dir_bind_text(st, 3, domain);
		sqlite3_bind_blob(st, 4, u->pw_blob.data, (int)u->pw_blob.len, SQLITE_TRANSIENT);
		if (u->recovery_blob.len > 0)
			sqlite3_bind_blob(st, 5, u->recovery_blob.data, (int)u->recovery_blob.len,
			                  SQLITE_TRANSIENT);
		sqlite3_bind_blob(st, 6, u->seal_pk, DIRECTORY_SEAL_PK_LEN, SQLITE_TRANSIENT);
		sqlite3_bind_int64(st, 7, (sqlite3_int64)u->quota_bytes);
		sqlite3_bind_int64(st, 8, now);
		if (sqlite3_step(st) == SQLITE_DONE) {
			ok = true;
			u->created = now;
			snprintf(u->address, sizeof(u->address), "%s", address);
			snprintf(u->domain, sizeof(u->domain), "%s", domain);
		} else if (dir_sqlfail(d, "add user") < 0 && d->status == DIRECTORY_ERR_EXISTS) {
			dir_fail(d, DIRECTORY_ERR_EXISTS, "user %s (or its id) exists", address);
		}
		sqlite3_finalize(st);
	}
	return dir_write_end(d, ok);
}

int directory_user_get(struct directory *d, const char *address, struct directory_user *u)
{
	char key[ADDR_SIZE];
	memset(u, 0, sizeof(*u));
	if (addr_normalise(address, strlen(address), ADDR_UTF8, key, sizeof(key)) != 1)
		return 0;
	return dir_user_query(d, ST_USER_BY_ADDRESS, key, u);
}

int directory_user_get_by_id(struct directory *d, const char *id, struct directory_user *u)
{
	memset(u, 0, sizeof(*u));
	if (!directory_id_valid(id))
		return 0;
	return dir_user_query(d, ST_USER_BY_ID, id, u);
}

int directory_user_del(struct directory *d, const char *address, char id_out[DIRECTORY_ID_LEN + 1])
{
	char key[ADDR_SIZE];
	struct directory_user u;
	memset(&u, 0, sizeof(u));
	if (dir_norm_address(d, address, key) < 0)
		return -1;
	if (dir_write_begin(d) < 0)
		return -1;
	bool ok = false;
	int r = dir_user_query(d, ST_USER_BY_ADDRESS, key, &u);
	if (r == 0)
		dir_fail(d, DIRECTORY_ERR_NOT_FOUND, "no user %s", key);
	if (r == 1) {
		sqlite3_stmt *st = dir_prepare(d, "DELETE FROM users WHERE id = ?1");
		if (st != NULL) {
			dir_bind_text(st, 1, u.id);
			ok = dir_step_done(d, st, "delete user") == 0;
		}
	}
	if (ok && id_out != NULL)
		snprintf(id_out, DIRECTORY_ID_LEN + 1, "%s", u.id);
	directory_user_clear(&u);
	return dir_write_end(d, ok);
}

void directory_user_list_free(struct directory_user **users, size_t n)
{
	if (*users == NULL)
		return;
	for (size_t i = 0; i < n; i++)
		directory_user_clear(&(*users)[i]);
	free(*users);
	*users = NULL;
}

int directory_user_list(struct directory *d, const char *domain, struct directory_user **users_r,
                        size_t *n_r)
{
	char name[ADDR_DOMAIN_MAX + 1];
	*users_r = NULL;
	*n_r = 0;
	if (domain != NULL && dir_norm_domain(d, domain, name) < 0)
		return -1;
	sqlite3_stmt *st = dir_prepare(
	    d, domain != NULL ? "SELECT " DIR_USER_COLUMNS
	                        " FROM users WHERE domain = ?1 ORDER BY address"
	                      : "SELECT " DIR_USER_COLUMNS " FROM users ORDER BY address");
	if (st == NULL)
		return -1;
	if (domain != NULL)
		dir_bind_text(st, 1, name);
	struct directory_user *v = NULL;
	size_t n = 0;
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		v = mem_realloc(v, n + 1, sizeof(*v));
		memset(&v[n], 0, sizeof(v[n]));
		dir_user_row(st, &v[n++]);
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		directory_user_list_free(&v, n);
		return dir_sqlfail(d, "list users");
	}
	*users_r = v;
	*n_r = n;
	return 0;
}

int directory_user_update(struct directory *d, const struct directory_user *u, unsigned fields)
{
	struct buf sql = BUF_INIT;
	if (!directory_id_valid(u->id))
		return dir_fail(d, DIRECTORY_ERR_INVALID, "invalid user id");
	if (fields == 0 ||
	    (fields & ~(unsigned)(DIRECTORY_SET_PW_BLOB | DIRECTORY_SET_RECOVERY_BLOB |
	                          DIRECTORY_SET_SEAL_PK | DIRECTORY_SET_QUOTA)))
		return dir_fail(d, DIRECTORY_ERR_INVALID, "invalid update fields");
	if ((fields & DIRECTORY_SET_PW_BLOB) && u->pw_blob.len == 0)
		return dir_fail(d, DIRECTORY_ERR_INVALID, "no wrapped key");
	if ((fields & DIRECTORY_SET_QUOTA) && u->quota_bytes > INT64_MAX)
		return dir_fail(d, DIRECTORY_ERR_INVALID, "quota too large");

	/* Fixed parameter numbers, so the statement text only selects columns. */
	buf_append_str(&sql, "UPDATE users SET id = id");
	if (fields & DIRECTORY_SET_PW_BLOB)
		buf_append_str(&sql, ", pw_blob = ?2");
	if (fields & DIRECTORY_SET_RECOVERY_BLOB)
		buf_append_str(&sql, ", recovery_blob = ?3");
	if (fields & DIRECTORY_SET_SEAL_PK)
		buf_append_str(&sql, ", seal_pk = ?4");
	if (fields & DIRECTORY_SET_QUOTA)
		buf_append_str(&sql, ", quota_bytes = ?5");
	buf_append_str(&sql, " WHERE id = ?1");

	if (dir_write_begin(d) < 0) {
		buf_free(&sql);
		return -1;
	}
	bool ok = false;
	sqlite3_stmt *st = dir_prepare(d, buf_cstr(&sql));
	buf_free(&sql);
	if (st != NULL) {
		dir_bind_text(st, 1, u->id);
		if (fields & DIRECTORY_SET_PW_BLOB)
			sqlite3_bind_blob(st, 2, u->pw_blob.data, (int)u->pw_blob.len,
			                  SQLITE_TRANSIENT);
		if ((fields & DIRECTORY_SET_RECOVERY_BLOB) && u->recovery_blob.len > 0)
			sqlite3_bind_blob(st, 3, u->recovery_blob.data, (int)u->recovery_blob.len,
			                  SQLITE_TRANSIENT);
		if (fields & DIRECTORY_SET_SEAL_PK)
			sqlite3_bind_blob(st, 4, u->seal_pk, DIRECTORY_SEAL_PK_LEN,
			                  SQLITE_TRANSIENT);
		if (fields & DIRECTORY_SET_QUOTA)
			sqlite3_bind_int64(st, 5, (sqlite3_int64)u->quota_bytes);
		if (sqlite3_step(st) != SQLITE_DONE)
			dir_sqlfail(d, "update user");
		else if (sqlite3_changes(d->db) == 0)
			dir_fail(d, DIRECTORY_ERR_NOT_FOUND, "no user with id %s", u->id);
		else
			ok = true;
		sqlite3_finalize(st);
	}
	return dir_write_end(d, ok);
}

/* ---- aliases ---- */

/* true for an https URL we are willing to store: printable ASCII without
 * spaces, a non-empty host. */
static bool dir_url_valid(const char *s)
{
	size_t n = strlen(s);
	if (n <= 8 || n > DIRECTORY_URL_MAX || strncasecmp(s, "https://", 8) != 0)
		return false;
	if (s[8] == '/' || s[8] == '?' || s[8] == '#')
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f)
			return false;
	return true;
}

static bool dir_is_url(const char *s)
{
	return strncasecmp(s, "https://", 8) == 0 || strncasecmp(s, "http://", 7) == 0;
}

/* Normalise an alias target; URL scheme lower-cased. */
static int dir_norm_target(struct directory *d, const char *target, struct buf *out)
{
	buf_reset(out);
	if (dir_is_url(target)) {
		if (!dir_url_valid(target))
			return dir_fail(d, DIRECTORY_ERR_INVALID,
			                "invalid URL target (https only): %.300s", target);
		buf_append_str(out, "https://");
		buf_append_str(out, target + 8);
		return 0;
	}
	char addr[ADDR_SIZE];
	if (dir_norm_address(d, target, addr) < 0)
		return -1;
	buf_append_str(out, addr);
	return 0;
}

int directory_alias_add(struct directory *d, const char *source, const char *target,
                        enum directory_target_kind *kind_r)
{
	char src[ADDR_SIZE];
	struct buf tgt = BUF_INIT;
	struct directory_result res;
	enum directory_target_kind kind = DIRECTORY_TARGET_EXTERNAL;
	bool ok = false;

	memset(&res, 0, sizeof(res));
	if (dir_norm_address(d, source, src) < 0 || dir_norm_target(d, target, &tgt) < 0) {
		buf_free(&tgt);
		return -1;
	}
	if (strcmp(src, buf_cstr(&tgt)) == 0) {
		buf_free(&tgt);
		return dir_fail(d, DIRECTORY_ERR_INVALID, "alias %s points to itself", src);
	}
	if (dir_write_begin(d) < 0) {
		buf_free(&tgt);
		return -1;
	}
	const char *domain = dir_domain_of(src);
	int h = dir_hosted(d, domain);
	if (h == 0)
		dir_fail(d, DIRECTORY_ERR_NOT_FOUND, "domain %s is not hosted here", domain);
	if (h != 1)
		goto out;
	struct directory_user u;
	memset(&u, 0, sizeof(u));
	int r = dir_user_query(d, ST_USER_BY_ADDRESS, src, &u);
	if (r == 1) {
		directory_user_clear(&u);
		dir_fail(d, DIRECTORY_ERR_EXISTS, "a user %s exists (it would win over the alias)",
		         src);
	}
	if (r != 0)
		goto out;

	if (dir_is_url(buf_cstr(&tgt))) {
		kind = DIRECTORY_TARGET_URL;
	} else {
		h = dir_hosted(d, dir_domain_of(buf_cstr(&tgt)));
		if (h < 0)
			goto out;
		if (h == 1) {
			/* A local target must lead somewhere now: catches typos. */
			kind = DIRECTORY_TARGET_LOCAL;
			r = directory_resolve(d, buf_cstr(&tgt), NULL, &res);
			if (r == 0)
				dir_fail(d, DIRECTORY_ERR_NOT_FOUND,
				         "target %s is no user, alias or catch-all here",
				         buf_cstr(&tgt));
			if (r != 1)
				goto out;
		}
	}

	sqlite3_stmt *st = dir_prepare(d, "INSERT INTO aliases (source, domain, target, kind, "
	                                  "created) VALUES (?1, ?2, ?3, ?4, ?5)");
	if (st != NULL) {
		dir_bind_text(st, 1, src);
		dir_bind_text(st, 2, domain);
		dir_bind_text(st, 3, buf_cstr(&tgt));
		dir_bind_text(st, 4, dir_kind_name(kind));
		sqlite3_bind_int64(st, 5, (sqlite3_int64)time(NULL));
		if (sqlite3_step(st) == SQLITE_DONE)
			ok = true;
		else if (dir_sqlfail(d, "add alias") < 0 && d->status == DIRECTORY_ERR_EXISTS)
			dir_fail(d, DIRECTORY_ERR_EXISTS, "alias %s -> %s exists", src,
			         buf_cstr(&tgt));
		sqlite3_finalize(st);
	}
out:
	directory_result_clear(&res);
	buf_free(&tgt);
	if (ok && kind_r != NULL)
		*kind_r = kind;
	return dir_write_end(d, ok);
}

int directory_alias_del(struct directory *d, const char *source, const char *target)
{
	char src[ADDR_SIZE];
	struct buf tgt = BUF_INIT;
	if (dir_norm_address(d, source, src) < 0)
		return -1;
	if (target != NULL && dir_norm_target(d, target, &tgt) < 0) {
		buf_free(&tgt);
		return -1;
	}
	if (dir_write_begin(d) < 0) {
		buf_free(&tgt);
		return -1;
	}
	bool ok = false;
	sqlite3_stmt *st = dir_prepare(d, target != NULL ? "DELETE FROM aliases WHERE source = ?1 "
	                                                   "AND target = ?2"
	                                                 : "DELETE FROM aliases WHERE source = ?1");
	if (st != NULL) {
		dir_bind_text(st, 1, src);
		if (target != NULL)
			dir_bind_text(st, 2, buf_cstr(&tgt));
		if (sqlite3_step(st) != SQLITE_DONE)
			dir_sqlfail(d, "delete alias");
		else if (sqlite3_changes(d->db) == 0)
			dir_fail(d, DIRECTORY_ERR_NOT_FOUND, "no alias %s%s%s", src,
			         target != NULL ? " -> " : "",
			         target != NULL ? buf_cstr(&tgt) : "");
		else
			ok = true;
		sqlite3_finalize(st);
	}
	buf_free(&tgt);
	return dir_write_end(d, ok);
}

void directory_alias_list_free(struct directory_alias **aliases, size_t n)
{
	if (*aliases == NULL)
		return;
	for (size_t i = 0; i < n; i++) {
		free((*aliases)[i].source);
		free((*aliases)[i].target);
	}
	free(*aliases);
	*aliases = NULL;
}

int directory_alias_list(struct directory *d, const char *filter,
                         struct directory_alias **aliases_r, size_t *n_r)
{
	char key[ADDR_DOMAIN_MAX + 1]; /* an address (ADDR_SIZE) or a domain */
	const char *sql = "SELECT source, target, kind FROM aliases ORDER BY source, rowid";
	*aliases_r = NULL;
	*n_r = 0;
	if (filter != NULL && strchr(filter, '@') != NULL) {
		if (dir_norm_address(d, filter, key) < 0)
			return -1;
		sql = "SELECT source, target, kind FROM aliases WHERE source = ?1 ORDER BY rowid";
	} else if (filter != NULL) {
		if (dir_norm_domain(d, filter, key) < 0)
			return -1;
		sql = "SELECT source, target, kind FROM aliases WHERE domain = ?1 "
		      "ORDER BY source, rowid";
	}
	sqlite3_stmt *st = dir_prepare(d, sql);
	if (st == NULL)
		return -1;
	if (filter != NULL)
		dir_bind_text(st, 1, key);
	struct directory_alias *v = NULL;
	size_t n = 0;
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		v = mem_realloc(v, n + 1, sizeof(*v));
		v[n].source = mem_strdup((const char *)sqlite3_column_text(st, 0));
		v[n].target = mem_strdup((const char *)sqlite3_column_text(st, 1));
		v[n].kind = dir_kind_parse(sqlite3_column_text(st, 2));
		n++;
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		directory_alias_list_free(&v, n);
		return dir_sqlfail(d, "list aliases");
	}
	*aliases_r = v;
	*n_r = n;
	return 0;
}

/* ---- resolver ---- */

struct dir_visit {
	char *address;
	bool active; /* being expanded: meeting it again is a loop */
	int found;   /* result once done */
};

struct dir_resolver {
	struct directory *d;
	struct directory_result *res;
	const char *postmaster;
	struct dir_visit *visits;
	size_t nvisits;
	bool loop;
};

void directory_result_clear(struct directory_result *res)
{
	for (size_t i = 0; i < res->n; i++)
		free(res->targets[i].value);
	free(res->targets);
	memset(res, 0, sizeof(*res));
}

static void dir_add_target(struct dir_resolver *r, enum directory_target_kind kind,
                           const char *value, const struct directory_user *u)
{
	struct directory_result *res = r->res;
	for (size_t i = 0; i < res->n; i++) {
		struct directory_target *t = &res->targets[i];
		if (t->kind != kind)
			continue;
		if (kind == DIRECTORY_TARGET_LOCAL ? strcmp(t->id, u->id) == 0
		                                   : strcmp(t->value, value) == 0)
			return;
	}
	res->targets = mem_realloc(res->targets, res->n + 1, sizeof(*res->targets));
	struct directory_target *t = &res->targets[res->n++];
	memset(t, 0, sizeof(*t));
	t->kind = kind;
	t->value = mem_strdup(value);
	if (u != NULL) {
		memcpy(t->id, u->id, sizeof(t->id));
		memcpy(t->seal_pk, u->seal_pk, sizeof(t->seal_pk));
	}
}

/* A user with address key: 1 added, 0 none, -1 error. */
static int dir_resolve_user(struct dir_resolver *r, enum dir_stmt which, const char *key)
{
	struct directory_user u;
	memset(&u, 0, sizeof(u));
	int rc = dir_user_query(r->d, which, key, &u);
	if (rc == 1)
		dir_add_target(r, DIRECTORY_TARGET_LOCAL, u.address, &u);
	directory_user_clear(&u);
	return rc;
}

static int dir_resolve_addr(struct dir_resolver *r, const char *address, int depth);

/* Expand the alias with this source. *matched: it has targets. Returns 1
 * when a target led somewhere, 0 when not, -1 on error. */
static int dir_resolve_alias(struct dir_resolver *r, const char *source, int depth, bool *matched)
{
	*matched = false;
	/* Copy the targets out first: resolving them reuses the statement. */
	char **targets = NULL;
	enum directory_target_kind *kinds = NULL;
	size_t n = 0;
	int rc = SQLITE_DONE;
	if (r->d->index != NULL) {
		const struct dirindex_alias *a;
		size_t na = dirindex_aliases(r->d->index, source, &a);
		targets = mem_array(na + 1, sizeof(*targets));
		kinds = mem_array(na + 1, sizeof(*kinds));
		for (; n < na; n++) {
			targets[n] = mem_strdup(a[n].target);
			kinds[n] = dir_kind_parse((const unsigned char *)a[n].kind);
		}
	} else {
		sqlite3_stmt *st = dir_stmt(r->d, ST_ALIAS_TARGETS);
		if (st == NULL)
			return -1;
		dir_bind_text(st, 1, source);
		while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
			targets = mem_realloc(targets, n + 1, sizeof(*targets));
			kinds = mem_realloc(kinds, n + 1, sizeof(*kinds));
			targets[n] = mem_strdup((const char *)sqlite3_column_text(st, 0));
			kinds[n] = dir_kind_parse(sqlite3_column_text(st, 1));
			n++;
		}
		sqlite3_reset(st);
	}
	int found = 0;
	if (rc != SQLITE_DONE) {
		found = dir_sqlfail(r->d, "alias lookup");
	} else {
		*matched = n > 0;
		for (size_t i = 0; i < n && found >= 0; i++) {
			if (kinds[i] == DIRECTORY_TARGET_URL) {
				dir_add_target(r, DIRECTORY_TARGET_URL, targets[i], NULL);
				found = 1;
				continue;
			}
			int f = dir_resolve_addr(r, targets[i], depth + 1);
			if (f < 0)
				found = -1;
			else if (f > 0)
				found = 1;
		}
	}
	for (size_t i = 0; i < n; i++)
		free(targets[i]);
	free(targets);
	free(kinds);
	return found;
}

/* The resolution order of directory_resolve for one normalised address a
 * in a hosted domain. 1 found, 0 not, -1 error. */
static int dir_resolve_steps(struct dir_resolver *r, const struct addr *a, const char *key,
                             int depth)
{
	bool matched;
	int rc;

	if ((rc = dir_resolve_user(r, ST_USER_BY_ADDRESS, key)) != 0)
		return rc;
	rc = dir_resolve_alias(r, key, depth, &matched);
	if (rc != 0 || matched)
		return rc;

	struct addr base = *a;
	if (addr_strip_tag(&base)) {
		char bkey[ADDR_SIZE];
		if (addr_format(&base, bkey, sizeof(bkey)) < 0)
			return 0;
		if ((rc = dir_resolve_user(r, ST_USER_BY_ADDRESS, bkey)) != 0)
			return rc;
		rc = dir_resolve_alias(r, bkey, depth, &matched);
		if (rc != 0 || matched)
			return rc;
	}

	bool postmaster = addr_is_postmaster(a);
	if (postmaster && r->postmaster != NULL && r->postmaster[0] != '\0') {
		if ((rc = dir_resolve_addr(r, r->postmaster, depth + 1)) != 0)
			return rc;
	}

	/* The catch-all, resolved as the address "*@domain" so that a
	 * catch-all whose target falls back to the catch-all is a loop. */
	if (!(a->local_len == 1 && a->local[0] == '*')) {
		char ca[ADDR_SIZE];
		snprintf(ca, sizeof(ca), "*@%s", a->domain);
		if ((rc = dir_resolve_addr(r, ca, depth + 1)) != 0)
			return rc;
	}

	if (postmaster && r->d->index != NULL) {
		struct directory_user u;
		memset(&u, 0, sizeof(u));
		if (dir_user_indexed(dirindex_first_user(r->d->index, a->domain), &u) == 0)
			return 0;
		dir_add_target(r, DIRECTORY_TARGET_LOCAL, u.address, &u);
		directory_user_clear(&u);
		return 1;
	}
	if (postmaster) {
		sqlite3_stmt *st = dir_stmt(r->d, ST_FIRST_USER);
		if (st == NULL)
			return -1;
		struct directory_user u;
		memset(&u, 0, sizeof(u));
		dir_bind_text(st, 1, a->domain);
		rc = sqlite3_step(st);
		if (rc == SQLITE_ROW) {
			dir_user_row(st, &u);
			dir_add_target(r, DIRECTORY_TARGET_LOCAL, u.address, &u);
			directory_user_clear(&u);
		}
		sqlite3_reset(st);
		if (rc == SQLITE_ROW)
			return 1;
		if (rc != SQLITE_DONE)
			return dir_sqlfail(r->d, "first user lookup");
	}
	return 0;
}

/* Resolve one address (depth 0: the one asked for). 1 found, 0 not, -1. */
static int dir_resolve_addr(struct dir_resolver *r, const char *address, int depth)
{
	struct addr a;
	char key[ADDR_SIZE];
	bool top = depth == 0;

	if (addr_parse(address, strlen(address), ADDR_UTF8 | ADDR_LITERAL, &a) != 1) {
		if (top)
			r->res->miss = DIRECTORY_MISS_SYNTAX;
		return 0;
	}
	addr_lower_local(&a);
	if (addr_format(&a, key, sizeof(key)) < 0)
		return 0;
	if (top)
		snprintf(r->res->address, sizeof(r->res->address), "%s", key);

	int h = a.literal ? 0 : dir_hosted(r->d, a.domain);
	if (h < 0)
		return -1;
	if (h == 0) {
		if (top) {
			r->res->miss = DIRECTORY_MISS_DOMAIN;
			return 0;
		}
		dir_add_target(r, DIRECTORY_TARGET_EXTERNAL, key, NULL);
		return 1;
	}
	if (depth > DIRECTORY_ALIAS_DEPTH_MAX) {
		r->loop = true;
		return 0;
	}

	for (size_t i = 0; i < r->nvisits; i++) {
		if (strcmp(r->visits[i].address, key) == 0) {
			if (r->visits[i].active)
				r->loop = true;
			/* Done before: its targets are in the result already. */
			return r->visits[i].active ? 0 : r->visits[i].found;
		}
	}
	if (r->nvisits >= DIRECTORY_VISIT_MAX) {
		r->loop = true;
		return 0;
	}
	size_t v = r->nvisits++;
	r->visits = mem_realloc(r->visits, r->nvisits, sizeof(*r->visits));
	r->visits[v].address = mem_strdup(key);
	r->visits[v].active = true;
	r->visits[v].found = 0;

	int rc = dir_resolve_steps(r, &a, key, depth);

	r->visits[v].active = false;
	r->visits[v].found = rc;
	return rc;
}

int directory_resolve(struct directory *d, const char *address, const char *postmaster,
                      struct directory_result *res)
{
	struct dir_resolver r = {.d = d, .res = res, .postmaster = postmaster};
	char pm[ADDR_SIZE];
	int rc;

	memset(res, 0, sizeof(*res));
	/* One snapshot for all lookups. Inside a write transaction (alias
	 * add) that transaction is the snapshot; a private in-memory copy,
	 * read through its index, changes under nobody's hands and needs
	 * none. */
	bool own_txn = d->txn_level == 0 && d->index == NULL;
	if (own_txn && dir_exec(d, "BEGIN") < 0)
		return -1;

	if (strchr(address, '@') == NULL && strcasecmp(address, "postmaster") == 0 &&
	    d->index != NULL) {
		/* As below, from a snapshot's index. */
		const char *first = dirindex_first_domain(d->index);
		if (first == NULL) {
			res->miss = DIRECTORY_MISS_DOMAIN;
			rc = 0;
			goto out;
		}
		snprintf(pm, sizeof(pm), "postmaster@%s", first);
		address = pm;
	} else if (strchr(address, '@') == NULL && strcasecmp(address, "postmaster") == 0) {
		/* RFC 5321 section 4.1.1.3: "RCPT TO:<Postmaster>" without a
		 * domain must be accepted: the first hosted domain's. */
		sqlite3_stmt *st = dir_stmt(d, ST_FIRST_DOMAIN);
		if (st == NULL) {
			rc = -1;
			goto out;
		}
		int s = sqlite3_step(st);
		if (s == SQLITE_ROW) {
			snprintf(pm, sizeof(pm), "postmaster@%s",
			         (const char *)sqlite3_column_text(st, 0));
			address = pm;
		} else if (s == SQLITE_DONE) {
			res->miss = DIRECTORY_MISS_DOMAIN;
			rc = 0;
		} else {
			rc = dir_sqlfail(d, "domain lookup");
		}
		sqlite3_reset(st);
		if (s != SQLITE_ROW)
			goto out;
	}

	rc = dir_resolve_addr(&r, address, 0);
	if (rc >= 0) {
		rc = res->n > 0 ? 1 : 0;
		if (rc == 0 && res->miss == DIRECTORY_MISS_NONE)
			res->miss = r.loop ? DIRECTORY_MISS_LOOP : DIRECTORY_MISS_USER;
	}
out:
	for (size_t i = 0; i < r.nvisits; i++)
		free(r.visits[i].address);
	free(r.visits);
	if (own_txn)
		(void)sqlite3_exec(d->db, "COMMIT", NULL, NULL, NULL);
	if (rc < 0)
		directory_result_clear(res);
	return rc;
}
