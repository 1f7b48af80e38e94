/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* The store's full-text index (schema 2): text stored with each new body,
 * removed with it, shared by copies, queued and indexed after a migration
 * from schema 1, and carried over by a rekey. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/rnd.h"
#include "data/store.h"

struct fixture {
	char dir[64];
	char db[128];
	unsigned char mk[STORE_KEY_LEN];
	unsigned char sk[STORE_SEAL_KEY_LEN];
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	snprintf(f->dir, sizeof(f->dir), "/tmp/test_store_fts.XXXXXX");
	if (mkdtemp(f->dir) == NULL)
		return -1;
	snprintf(f->db, sizeof(f->db), "%s/mailbox.db", f->dir);
	rnd_bytes(f->mk, sizeof(f->mk));
	rnd_bytes(f->sk, sizeof(f->sk));
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	if (system(cmd) != 0)
		return -1;
	free(f);
	return 0;
}

static struct store *create(struct fixture *f)
{
	const char *err = NULL;
	struct store *st = store_create(f->db, f->mk, f->sk, &err);
	if (st == NULL)
		fail_msg("store_create: %s", err);
	return st;
}

static struct store *reopen(struct fixture *f)
{
	const char *err = NULL;
	struct store *st = store_open(f->db, f->mk, &err);
	if (st == NULL)
		fail_msg("store_open: %s", err);
	return st;
}

static int64_t folder(struct store *st, const char *name)
{
	struct store_folder fo;
	assert_int_equal(store_folder_get(st, name, &fo), 1);
	int64_t id = fo.id;
	store_folder_clear(&fo);
	return id;
}

static uint32_t append(struct store *st, int64_t fid, const char *msg)
{
	uint32_t uid;
	assert_int_equal(store_append(st, fid, msg, strlen(msg), 1700000000, 0, NULL, &uid, NULL),
	                 0);
	return uid;
}

/* Number of rows of an FTS query (or any one-column query) with one text
 * parameter. */
static int count(struct store *st, const char *sql, const char *arg)
{
	sqlite3_stmt *q;
	int n = 0;
	assert_int_equal(sqlite3_prepare_v2(store_db(st), sql, -1, &q, NULL), SQLITE_OK);
	if (arg != NULL)
		sqlite3_bind_text(q, 1, arg, -1, SQLITE_STATIC);
	int rc;
	while ((rc = sqlite3_step(q)) == SQLITE_ROW)
		n++;
	assert_int_equal(rc, SQLITE_DONE);
	sqlite3_finalize(q);
	return n;
}

#define BODY_MATCH "SELECT docid FROM text_fts WHERE text_fts MATCH ?"
#define HDR_MATCH  "SELECT docid FROM hdr_fts WHERE hdr_fts MATCH ?"

static const char msg1[] =
    "From: Alice <alice@example.org>\r\nSubject: =?utf-8?q?Caf=C3=A9?=\r\n\r\n"
    "The quick brown fox jumps.\r\n";
static const char msg2[] = "From: bob@example.net\r\nSubject: other\r\n\r\nNothing to see.\r\n";

static void test_append_stores_and_indexes_text(void **state)
{
	struct fixture *f = *state;
	struct store *st = create(f);
	int64_t inbox = folder(st, "INBOX");
	append(st, inbox, msg1);
	append(st, inbox, msg2);
	assert_int_equal(count(st, BODY_MATCH, "\"quick brown*\""), 1);
	assert_int_equal(count(st, BODY_MATCH, "fox"), 1);
	assert_int_equal(count(st, BODY_MATCH, "alice"), 0); /* header is apart */
	assert_int_equal(count(st, HDR_MATCH, "alice"), 1);
	assert_int_equal(count(st, HDR_MATCH, "cafe"), 1); /* decoded, diacritics folded */
	assert_int_equal(
	    count(st, "SELECT id FROM body_hdr WHERE hdr LIKE '%subject: café%'", NULL), 1);
	assert_int_equal(count(st, "SELECT body_id FROM body_text_todo", NULL), 0);
	size_t done = 99;
	assert_int_equal(store_text_index_pending(st, 0, &done), 0);
	assert_int_equal(done, 0);
	store_close(&st);
}

static void test_expunge_removes_text(void **state)
{
	struct fixture *f = *state;
	struct store *st = create(f);
	int64_t inbox = folder(st, "INBOX");
	uint32_t uid = append(st, inbox, msg1);
	assert_int_equal(store_expunge(st, inbox, &uid, 1, NULL, NULL), 0);
	assert_int_equal(count(st, BODY_MATCH, "fox"), 0);
	assert_int_equal(count(st, HDR_MATCH, "alice"), 0);
	assert_int_equal(count(st, "SELECT id FROM body_text", NULL), 0);
	assert_int_equal(count(st, "SELECT id FROM body_hdr", NULL), 0);
	store_close(&st);
}

static void test_copy_shares_text_until_last_copy_goes(void **state)
{
	struct fixture *f = *state;
	struct store *st = create(f);
	int64_t inbox = folder(st, "INBOX"), trash = folder(st, "Trash");
	uint32_t uid = append(st, inbox, msg1);
	uint32_t *src, *dst;
	size_t n;
	assert_int_equal(store_copy(st, inbox, &uid, 1, trash, true, &src, &dst, &n, NULL), 0);
	assert_int_equal(n, 1);
	/* the source went (MOVE), the copy keeps the body and its text */
	assert_int_equal(count(st, BODY_MATCH, "fox"), 1);
	assert_int_equal(count(st, "SELECT id FROM body_text", NULL), 1);
	assert_int_equal(store_folder_delete(st, trash), 0);
	assert_int_equal(count(st, BODY_MATCH, "fox"), 0);
	assert_int_equal(count(st, "SELECT id FROM body_text", NULL), 0);
	free(src);
	free(dst);
	store_close(&st);
}

/* Turn a fresh mailbox back into schema 1, as an older program made it. */
static void downgrade_to_schema_1(struct store *st)
{
	assert_int_equal(
	    sqlite3_exec(store_db(st),
	                 "DROP TRIGGER bodies_text_gc; DROP TRIGGER body_hdr_ai;"
	                 "DROP TRIGGER body_hdr_bd; DROP TRIGGER body_text_ai;"
	                 "DROP TRIGGER body_text_bd; DROP TABLE hdr_fts;"
	                 "DROP TABLE text_fts; DROP TABLE body_hdr; DROP TABLE body_text;"
	                 "DROP TABLE body_text_todo; PRAGMA user_version = 1;",
	                 NULL, NULL, NULL),
	    SQLITE_OK);
}

static void test_migration_queues_and_indexes_old_bodies(void **state)
{
	struct fixture *f = *state;
	struct store *st = create(f);
	int64_t inbox = folder(st, "INBOX");
	append(st, inbox, msg1);
	append(st, inbox, msg2);
	downgrade_to_schema_1(st);
	store_close(&st);

	st = reopen(f);
	assert_int_equal(count(st, "SELECT body_id FROM body_text_todo", NULL), 2);
	assert_int_equal(count(st, BODY_MATCH, "fox"), 0);
	/* a new body is indexed at once, the old ones wait */
	append(st, inbox, "Subject: new\r\n\r\nfresh text\r\n");
	assert_int_equal(count(st, BODY_MATCH, "fresh"), 1);
	size_t done = 0;
	assert_int_equal(store_text_index_pending(st, 1, &done), 0);
	assert_int_equal(done, 1);
	assert_int_equal(count(st, "SELECT body_id FROM body_text_todo", NULL), 1);
	assert_int_equal(store_text_index_pending(st, 0, &done), 0);
	assert_int_equal(done, 1);
	assert_int_equal(count(st, "SELECT body_id FROM body_text_todo", NULL), 0);
	assert_int_equal(count(st, BODY_MATCH, "fox"), 1);
	assert_int_equal(count(st, HDR_MATCH, "bob"), 1);
	/* an expunge after the migration cleans up like any other */
	uint32_t uid = 1;
	assert_int_equal(store_expunge(st, inbox, &uid, 1, NULL, NULL), 0);
	assert_int_equal(count(st, BODY_MATCH, "fox"), 0);
	store_close(&st);
}

static void test_migration_drops_queued_body_when_expunged(void **state)
{
	struct fixture *f = *state;
	struct store *st = create(f);
	int64_t inbox = folder(st, "INBOX");
	uint32_t uid = append(st, inbox, msg1);
	downgrade_to_schema_1(st);
	store_close(&st);
	st = reopen(f);
	assert_int_equal(count(st, "SELECT body_id FROM body_text_todo", NULL), 1);
	assert_int_equal(store_expunge(st, inbox, &uid, 1, NULL, NULL), 0);
	assert_int_equal(count(st, "SELECT body_id FROM body_text_todo", NULL), 0);
	assert_int_equal(store_text_index_pending(st, 0, NULL), 0);
	store_close(&st);
}

static void test_rekey_keeps_index_and_triggers(void **state)
{
	struct fixture *f = *state;
	struct store *st = create(f);
	int64_t inbox = folder(st, "INBOX");
	uint32_t uid = append(st, inbox, msg1);
	unsigned char mk2[STORE_KEY_LEN];
	rnd_bytes(mk2, sizeof(mk2));
	const char *err = NULL;
	if (store_rekey(st, mk2, &err) < 0)
		fail_msg("rekey: %s", err);
	store_close(&st);
	memcpy(f->mk, mk2, sizeof(mk2));
	st = reopen(f);
	assert_int_equal(count(st, BODY_MATCH, "fox"), 1);
	assert_int_equal(count(st, HDR_MATCH, "alice"), 1);
	append(st, inbox, msg2);
	assert_int_equal(count(st, BODY_MATCH, "nothing"), 1);
	assert_int_equal(store_expunge(st, inbox, &uid, 1, NULL, NULL), 0);
	assert_int_equal(count(st, BODY_MATCH, "fox"), 0);
	store_close(&st);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
	    T(test_append_stores_and_indexes_text),
	    T(test_expunge_removes_text),
	    T(test_copy_shares_text_until_last_copy_goes),
	    T(test_migration_queues_and_indexes_old_bodies),
	    T(test_migration_drops_queued_body_when_expunged),
	    T(test_rekey_keeps_index_and_triggers),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
