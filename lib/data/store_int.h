/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* Private to lib/data/store*.c: what the files of the mailbox store share.
 * Callers include store.h only.
 *
 * The store is split by concern:
 *   store.c          the handle: errors, transactions, close, meta rows and
 *                    the sealing key
 *   store_stmt.c     statement cache and small SQL helpers
 *   store_open.c     opening with the key, pragmas, store_open, store_create
 *   store_schema.c   the ordered migrations and their runner
 *   store_keyword.c  keyword sets (RFC 3501 flag-keyword)
 *   store_folder.c   folders: get, list, create, delete, rename, subscribe
 *   store_msg.c      messages: append, read, flags, expunge, copy/move
 *   store_fts.c      the searchable text of bodies (full-text index)
 *   store_rekey.c    re-encryption under a new MK
 *   store_import.c   import of the sealed spool
 *
 * Trust: post-auth (the caller holds MK). The conventions of store.h apply:
 * 0/-1 returns, -1 after a database failure has logged it through
 * store_fail. */
#ifndef SEALMAIL_STORE_INT_H
#define SEALMAIL_STORE_INT_H

#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "base/buf.h"
#include "store.h"

/* Statements prepared once per connection (hot paths of append, import and
 * flag changes); their SQL is in store_stmt.c. */
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

struct store {
	sqlite3 *db;
	char *path;
	int depth;          /* open transaction levels (store_begin and internal) */
	bool rekey_pending; /* store_rekey_prepare done, commit or abort due */
	sqlite3_stmt *stmt[S_COUNT];
	char err[256];
	bool err_limit; /* err is a limit of the store (store_fail_limit) */
};

/* Keys of the meta table (docs/STORE.md, "Schema"). */
#define STORE_META_SEAL     "seal_sk"
#define STORE_META_SEAL_OLD "seal_sk_old"
#define STORE_META_CREATED  "created"

/* Longest path the store builds from a mailbox path (companion files,
 * "<path>.rekey", the parent directory). */
#define STORE_PATH_MAX 4096

/* ---- store.c: the handle ---- */

/* A new handle owning db; path is copied. */
struct store *store_new(sqlite3 *db, const char *path);
/* Record "what: <SQLite message>" as st's error and log it. Returns -1. */
int store_fail(struct store *st, const char *what);
/* Record msg as st's error and log it. Returns -1. */
int store_fail_msg(struct store *st, const char *msg);
/* Record msg as st's error and mark it as a limit of the store that the
 * request ran into (store_error_is_limit): the caller's input, not a fault,
 * so it is logged at notice level. Returns -1. */
int store_fail_limit(struct store *st, const char *msg);
/* Write a meta row (inside the caller's transaction or autocommit). 0 / -1. */
int store_meta_put(struct store *st, const char *key, const void *val, size_t len);
/* Read a meta row of exactly len bytes. 1 found (copied to out), 0 absent,
 * -1 error (also when the stored value has another size). */
int store_meta_get(struct store *st, const char *key, void *out, size_t len);

/* ---- store_stmt.c: statements ---- */

/* The cached statement, reset and with bindings cleared; owned by st. NULL
 * on error (logged). */
sqlite3_stmt *store_stmt(struct store *st, enum store_stmt which);
/* Finalize every cached statement (they are prepared again on next use). */
void store_finalize_all(struct store *st);
/* Prepare an ad-hoc statement (caller finalizes). NULL on error (logged). */
sqlite3_stmt *store_prepare(struct store *st, const char *sql);
/* Run SQL without results. 0 / -1 (logged). */
int store_exec(struct store *st, const char *sql);
/* Step s until done (rows are ignored), then reset it. 0 / -1 (logged as
 * "what: ..."). */
int store_step_done(struct store *st, sqlite3_stmt *s, const char *what);
/* A copy of a text column (caller frees), NULL when the column is NULL. */
char *store_col_strdup(sqlite3_stmt *s, int col);

/* ---- store_open.c: files and connections ---- */

/* Length of SQLCipher's raw-key text x'<64 hex>' (without the NUL). */
#define STORE_KEY_TEXT_LEN (3 + 2 * STORE_KEY_LEN)
/* Write that text for mk into k (NUL-terminated). A secret: the caller wipes
 * k right after use. */
void store_key_text(const unsigned char mk[STORE_KEY_LEN], char k[STORE_KEY_TEXT_LEN + 1]);

/* Open path (which must exist) with mk, verify the key and configure the
 * connection. The handle, or NULL with *error_r; on a wrong key nothing has
 * been written and *error_r is "wrong key or not a mailbox". */
sqlite3 *store_open_db(const char *path, const unsigned char mk[STORE_KEY_LEN],
                       const char **error_r);
/* First column of the first row of sql as text into out (NUL-terminated,
 * "" when there is no row). An SQLite result code; SQLITE_TOOBIG when the
 * text does not fit out. */
int store_pragma_text(sqlite3 *db, const char *sql, char *out, size_t outsz);
/* Remove path and SQLite's companion files; ENOENT is fine. */
void store_unlink_all(const char *path);
/* fsync the directory holding path. 0 / -1 with errno. */
int store_fsync_parent(const char *path);

/* ---- store_schema.c: migrations ---- */

/* PRAGMA user_version of db. 0 / -1. */
int store_user_version(sqlite3 *db, int *v);
/* Bring the schema to STORE_SCHEMA_VERSION; the caller holds a write
 * transaction. 0 / -1 with *error_r. */
int store_migrate_locked(struct store *st, const char **error_r);
/* The same in its own transaction, taken only when a migration is due.
 * 0 / -1 with *error_r. */
int store_migrate(struct store *st, const char **error_r);

/* ---- store_keyword.c: keyword sets ---- */

struct store_kwset {
	size_t n;
	char *kw[STORE_KEYWORDS_MAX]; /* owned */
};

void store_kwset_free(struct store_kwset *s);
/* Result of store_kwset_add and store_kwset_parse when the set would
 * exceed STORE_KEYWORDS_MAX (a limit, unlike -1, an invalid keyword). */
#define STORE_KWSET_FULL (-2)
/* Add one keyword of n bytes: 0 ok (or already present, compared
 * case-insensitively), -1 invalid, STORE_KWSET_FULL too many. */
int store_kwset_add(struct store_kwset *s, const char *k, size_t n);
void store_kwset_remove(struct store_kwset *s, const char *k, size_t n);
/* Add (or with remove set, remove) each keyword of a space-separated list;
 * NULL is empty. 0 ok, -1 invalid keyword, STORE_KWSET_FULL too many. */
int store_kwset_parse(struct store_kwset *s, const char *list, bool remove);
/* Canonical form into out: sorted case-insensitively, single spaces ("" for
 * none). Sorts s. */
void store_kwset_format(struct store_kwset *s, struct buf *out);

/* ---- store_folder.c: folders ---- */

/* "INBOX" for any case of it (RFC 3501 section 5.1), else name. */
const char *store_canonical_name(const char *name);
/* Insert a folder with a fresh UIDVALIDITY (inside the caller's
 * transaction). 1 created (*id_r set when not NULL), 0 exists, -1 error. */
int store_insert_folder(struct store *st, const char *name, const char *special_use,
                        bool subscribed, int64_t *id_r);

/* ---- store_msg.c: messages ---- */

/* Raise a folder's HIGHESTMODSEQ by one and return it (inside a
 * transaction). 0 / -1. */
int store_bump_modseq(struct store *st, int64_t folder_id, uint64_t *modseq_r);
/* Insert one message with its searchable text; the caller holds a
 * transaction. keywords is already in canonical form. 0 / -1. */
int store_append_locked(struct store *st, int64_t folder_id, const void *data, size_t len,
                        int64_t internaldate, unsigned flags, const char *keywords, uint32_t *uid_r,
                        uint64_t *modseq_r);

/* ---- store_fts.c: full-text index ---- */

/* Store a body's searchable text, which triggers add to the full-text
 * indexes (inside the caller's transaction). 0 / -1. */
int store_text_index_body(struct store *st, int64_t body_id, const void *data, size_t len);

/* ---- store_rekey.c ---- */

/* store_open found that mk does not open path: finish a rekey that stopped
 * between recording the new key and its rename. 0 done, -1 nothing to do. */
int store_rekey_recover(const char *path, const unsigned char mk[STORE_KEY_LEN]);

#endif
