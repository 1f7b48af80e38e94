/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* Internals shared by the parts of the directory (directory.h): the handle,
 * its cached statements, errors, transactions and the lookups more than one
 * part uses. Private to lib/data/directory*.c.
 *
 *   directory.c          open, migrate, close; errors, statements and
 *                        transactions; snapshots for forked processes
 *   directory_domain.c   hosted domains
 *   directory_user.c     users
 *   directory_alias.c    aliases
 *   directory_resolve.c  recipient resolution (the MX's hot path)
 *
 * Trust: as directory.h (admin writes, pre-auth reads with client
 * addresses, always through bound parameters). */
#ifndef SEALMAIL_DIRECTORY_INT_H
#define SEALMAIL_DIRECTORY_INT_H

#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "directory.h"
#include "dirindex.h"

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

/* ---- errors (directory.c) ---- */

/* Set the handle's status and message; returns -1. A message longer than
 * the handle's buffer is cut: it is text for a log or an admin. */
__attribute__((format(printf, 3, 4))) int
dir_fail(struct directory *d, enum directory_status status, const char *fmt, ...);
/* A failed SQLite call: constraint violations get a meaningful status.
 * Returns -1. */
int dir_sqlfail(struct directory *d, const char *what);

/* ---- statements (directory.c) ---- */

/* A cached statement, reset and unbound; NULL on failure (status set). */
sqlite3_stmt *dir_stmt(struct directory *d, enum dir_stmt which);
/* A one-shot statement (finalize it, or dir_done); NULL on failure. */
sqlite3_stmt *dir_prepare(struct directory *d, const char *sql);
/* Finish a one-shot statement; cached ones are only reset. */
void dir_done(struct directory *d, sqlite3_stmt *st);
int dir_exec(struct directory *d, const char *sql);
/* Step a statement expected to produce no row (or to be finished after its
 * first row is ignored). 0 or -1. */
int dir_step_done(struct directory *d, sqlite3_stmt *st, const char *what);
/* SELECT count(*) ... with one bound text: 0 with *n, or -1. */
int dir_count(struct directory *d, const char *sql, const char *key, int64_t *n);

static inline void dir_bind_text(sqlite3_stmt *st, int i, const char *s)
{
	sqlite3_bind_text(st, i, s, -1, SQLITE_TRANSIENT);
}

/* ---- transactions (directory.c) ---- */

/* Begin a change: BEGIN IMMEDIATE, or a savepoint inside a transaction.
 * 0, or -1 (INVALID on a read-only handle, TEMP). */
int dir_write_begin(struct directory *d);
/* End a change begun by dir_write_begin: commit when ok, else roll back
 * keeping the status and message of the failure. Returns 0 or -1. */
int dir_write_end(struct directory *d, bool ok);

/* ---- names (directory.c) ---- */

/* Normalise an address (UTF-8 allowed, no literal) or fail INVALID. */
int dir_norm_address(struct directory *d, const char *in, char out[ADDR_SIZE]);
int dir_norm_domain(struct directory *d, const char *in, char out[ADDR_DOMAIN_MAX + 1]);

/* Domain part of a normalised address (after the last '@': quoted local
 * parts may contain '@', domains never do). */
static inline const char *dir_domain_of(const char *address)
{
	return strrchr(address, '@') + 1;
}

/* ---- lookups shared with the resolver ---- */

/* directory_domain.c: 1 hosted, 0 not, -1 error. */
int dir_hosted(struct directory *d, const char *domain);

/* directory_user.c: fill u from a row of DIR_USER_COLUMNS. 0, or -1 when a
 * text column does not fit u (only a directory written by other tools can
 * hold one; it is refused rather than cut). */
int dir_user_row(sqlite3_stmt *st, struct directory_user *u);
/* directory_user.c: fill u from a snapshot's index entry (no wrapped keys
 * there): 1, 0 when x is NULL, -1 when a value does not fit u. */
int dir_user_indexed(const struct dirindex_user *x, struct directory_user *u);
/* directory_user.c: run a user query (ST_USER_BY_ADDRESS, ST_USER_BY_ID or
 * ST_FIRST_USER) with one bound text; 1 found (*u filled), 0 not, -1 error. */
int dir_user_query(struct directory *d, enum dir_stmt which, const char *key,
                   struct directory_user *u);

/* directory_alias.c: the stored name of a target kind, and back. */
const char *dir_kind_name(enum directory_target_kind k);
enum directory_target_kind dir_kind_parse(const unsigned char *s);
/* directory_alias.c: 1 when an alias with this source exists, 0 not, -1. */
int dir_alias_exists(struct directory *d, const char *source);

#endif
