/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* Mailbox store: the per-connection statement cache and the small helpers
 * every store_*.c file runs its SQL through.
 * Trust: post-auth (the caller holds MK). */
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"
#include "store_int.h"

/* SQL of the cached statements (enum store_stmt in store_int.h). */
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

/* Return the cached statement, reset and with bindings cleared; NULL on
 * error (logged). */
sqlite3_stmt *store_stmt(struct store *st, enum store_stmt which)
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

void store_finalize_all(struct store *st)
{
	for (size_t i = 0; i < S_COUNT; i++) {
		sqlite3_finalize(st->stmt[i]);
		st->stmt[i] = NULL;
	}
}

/* Prepare an ad-hoc statement. */
sqlite3_stmt *store_prepare(struct store *st, const char *sql)
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

int store_exec(struct store *st, const char *sql)
{
	if (st->db == NULL)
		return store_fail_msg(st, "store unusable");
	if (sqlite3_exec(st->db, sql, NULL, NULL, NULL) != SQLITE_OK)
		return store_fail(st, sql);
	return 0;
}

/* Run a statement that returns no rows (or whose rows are ignored). */
int store_step_done(struct store *st, sqlite3_stmt *s, const char *what)
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

char *store_col_strdup(sqlite3_stmt *s, int col)
{
	const unsigned char *t = sqlite3_column_text(s, col);
	return t != NULL ? mem_strdup((const char *)t) : NULL;
}
