/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* Mailbox store: the schema as an ordered list of migrations, and the code
 * that brings a mailbox up to date (docs/STORE.md, "Schema" and "Full-text
 * index"). Changing an existing entry changes every mailbox on disk: never do
 * that; append a migration instead.
 * Trust: post-auth (the caller holds MK). */
#include <stdio.h>
#include <stdlib.h>

#include "store_int.h"

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

int store_user_version(sqlite3 *db, int *v)
{
	char t[32];
	if (store_pragma_text(db, "PRAGMA user_version", t, sizeof(t)) != SQLITE_OK)
		return -1;
	*v = atoi(t);
	return 0;
}

/* Bring the schema to STORE_SCHEMA_VERSION; the caller holds a write
 * transaction. */
int store_migrate_locked(struct store *st, const char **error_r)
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
	int n = snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", STORE_SCHEMA_VERSION);
	if (n < 0 || (size_t)n >= sizeof(sql) || store_exec(st, sql) < 0) {
		*error_r = "cannot write schema version";
		return -1;
	}
	return 0;
}

int store_migrate(struct store *st, const char **error_r)
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
