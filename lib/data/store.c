/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* Encrypted per-user mailbox (SQLCipher): the handle. Errors, transactions,
 * closing, the meta rows and the sealing key. See store.h for the API,
 * store_int.h for how the other store_*.c files divide the rest, and
 * docs/STORE.md for the schema and the crash analysis.
 * Trust: post-auth (the caller holds MK). */
#include "store.h"

#include <malloc.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"
#include "store_int.h"
#include "sys/log.h"

/* ---- errors ---- */

/* st->err is a bounded message for logs and store_error(); a cut at its end
 * loses only the tail of an SQLite message, so truncation is accepted (the
 * result of snprintf is not needed). */
int store_fail(struct store *st, const char *what)
{
	const char *msg = st->db != NULL ? sqlite3_errmsg(st->db) : "no database";
	(void)snprintf(st->err, sizeof(st->err), "%s: %s", what, msg);
	st->err_limit = false;
	log_event(LOG_ERR, "store-error", "REASON", st->err, NULL);
	return -1;
}

int store_fail_msg(struct store *st, const char *msg)
{
	/* Cut harmlessly as in store_fail; our messages are far shorter. */
	(void)snprintf(st->err, sizeof(st->err), "%s", msg);
	st->err_limit = false;
	log_event(LOG_ERR, "store-error", "REASON", st->err, NULL);
	return -1;
}

int store_fail_limit(struct store *st, const char *msg)
{
	(void)snprintf(st->err, sizeof(st->err), "%s", msg);
	st->err_limit = true;
	log_event(LOG_NOTICE, "store-limit", "REASON", st->err, NULL);
	return -1;
}

bool store_error_is_limit(const struct store *st)
{
	return st->err_limit;
}

const char *store_error(const struct store *st)
{
	return st->err;
}

/* ---- the handle ---- */

struct store *store_new(sqlite3 *db, const char *path)
{
	struct store *st = mem_zalloc(sizeof(*st));
	st->db = db;
	st->path = mem_strdup(path);
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

/* ---- meta rows and the sealing key ---- */

int store_meta_put(struct store *st, const char *key, const void *val, size_t len)
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

/* 1 found (exactly len bytes copied), 0 absent, -1 error (store_int.h). */
int store_meta_get(struct store *st, const char *key, void *out, size_t len)
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

int store_get_seal_secret(struct store *st, unsigned char sk[STORE_SEAL_KEY_LEN])
{
	int rc = store_meta_get(st, STORE_META_SEAL, sk, STORE_SEAL_KEY_LEN);
	if (rc == 0)
		return store_fail_msg(st, "no sealing key");
	return rc == 1 ? 0 : -1;
}

int store_set_seal_secret(struct store *st, const unsigned char sk[STORE_SEAL_KEY_LEN])
{
	unsigned char old[STORE_SEAL_KEY_LEN];
	if (store_begin(st) < 0)
		return -1;
	int rc = store_meta_get(st, STORE_META_SEAL, old, sizeof(old));
	if (rc < 0)
		goto fail;
	if (rc == 1 && store_meta_put(st, STORE_META_SEAL_OLD, old, sizeof(old)) < 0)
		goto fail;
	if (store_meta_put(st, STORE_META_SEAL, sk, STORE_SEAL_KEY_LEN) < 0)
		goto fail;
	sodium_memzero(old, sizeof(old));
	return store_commit(st);
fail:
	sodium_memzero(old, sizeof(old));
	store_rollback(st);
	return -1;
}
