/* SPDX-License-Identifier: AGPL-3.0-or-later */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "crypto/age.h"
#include "base/buf.h"
#include "base/rnd.h"
#include "data/spool.h"
#include "data/store.h"

#define STORE_FIXTURE_NAME "test_store"
#include "store_fixture.h"

static int64_t folder_id(struct store *st, const char *name)
{
	struct store_folder fo;
	assert_int_equal(store_folder_get(st, name, &fo), 1);
	int64_t id = fo.id;
	store_folder_clear(&fo);
	return id;
}

static bool file_exists(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0;
}

static void read_file(const char *path, struct buf *out)
{
	buf_reset(out);
	FILE *fp = fopen(path, "rb");
	if (fp == NULL)
		return;
	char tmp[65536];
	size_t n;
	while ((n = fread(tmp, 1, sizeof(tmp), fp)) > 0)
		buf_append(out, tmp, n);
	fclose(fp);
}

static void make_msg(struct buf *m, size_t size, unsigned seed)
{
	buf_reset(m);
	buf_printf(m, "Return-Path: <a@example.test>\r\nFrom: a@example.test\r\n"
		      "Subject: message %u\r\n\r\n", seed);
	while (m->len < size)
		buf_printf(m, "body line %u of message %u\r\n", (unsigned)m->len, seed);
}

/* ---- open, create, keys ---- */

static void test_create_and_open(void **state)
{
	struct fixture *f = *state;
	struct store *st = create(f);
	struct store_folder *list = NULL;
	size_t n = 0;
	assert_int_equal(store_folder_list(st, &list, &n), 0);
	assert_int_equal(n, 6);
	static const char *const want[][2] = {
		{"Archive", "\\Archive"}, {"Drafts", "\\Drafts"}, {"INBOX", NULL},
		{"Junk", "\\Junk"},       {"Sent", "\\Sent"},     {"Trash", "\\Trash"},
	};
	for (size_t i = 0; i < n; i++) {
		assert_string_equal(list[i].name, want[i][0]);
		if (want[i][1] == NULL)
			assert_null(list[i].special_use);
		else
			assert_string_equal(list[i].special_use, want[i][1]);
		assert_true(list[i].subscribed);
		assert_int_not_equal(list[i].uidvalidity, 0);
		assert_int_equal(list[i].uidnext, 1);
		assert_true(list[i].highestmodseq >= 1);
	}
	store_folder_list_free(&list, n);
	assert_null(list);
	store_close(&st);
	assert_null(st);

	struct stat sb;
	assert_int_equal(stat(f->db, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0600);
	/* A clean close checkpoints everything into the database file: the
	 * WAL stays (SQLITE_FCNTL_PERSIST_WAL) but is empty. */
	char p[160];
	snprintf(p, sizeof(p), "%s-wal", f->db);
	assert_int_equal(stat(p, &sb), 0);
	assert_int_equal(sb.st_size, 0);

	const char *err = NULL;
	st = store_open(f->db, f->mk, &err);
	assert_non_null(st);
	unsigned char sk[STORE_SEAL_KEY_LEN];
	assert_int_equal(store_get_seal_secret(st, sk), 0);
	assert_memory_equal(sk, f->sk, sizeof(sk));
	/* INBOX is case-insensitive (RFC 3501 section 5.1), other names not. */
	assert_int_equal(folder_id(st, "inbox"), folder_id(st, "INBOX"));
	struct store_folder fo;
	assert_int_equal(store_folder_get(st, "junk", &fo), 0);
	store_close(&st);
}

static void test_create_refuses_existing(void **state)
{
	struct fixture *f = *state;
	struct store *st = create(f);
	store_close(&st);
	struct buf before = BUF_INIT, after = BUF_INIT;
	read_file(f->db, &before);
	const char *err = NULL;
	assert_null(store_create(f->db, f->mk, f->sk, &err));
	assert_string_equal(err, "mailbox exists");
	read_file(f->db, &after);
	assert_int_equal(before.len, after.len);
	assert_memory_equal(before.data, after.data, before.len);
	buf_free(&before);
	buf_free(&after);
}

static void test_wrong_key_changes_nothing(void **state)
{
	struct fixture *f = *state;
	struct store *st = create(f);
	assert_int_equal(store_append(st, folder_id(st, "INBOX"), "Subject: a\r\n\r\nb\r\n", 17,
				      1700000000, 0, NULL, NULL, NULL),
			 0);
	store_close(&st);
	struct buf before = BUF_INIT, after = BUF_INIT;
	read_file(f->db, &before);
	assert_true(before.len > 0);
	/* The companions a clean session leaves, to compare afterwards. */
	char p[160];
	static const char *const sfx[] = {"-wal", "-shm", "-journal"};
	struct buf comp_before[3], comp_after = BUF_INIT;
	bool existed[3];
	for (size_t i = 0; i < 3; i++) {
		snprintf(p, sizeof(p), "%s%s", f->db, sfx[i]);
		comp_before[i] = (struct buf)BUF_INIT;
		existed[i] = file_exists(p);
		if (existed[i])
			read_file(p, &comp_before[i]);
	}
	assert_false(existed[2]);
	unsigned char wrong[STORE_KEY_LEN];
	memcpy(wrong, f->mk, sizeof(wrong));
	wrong[31] ^= 1;
	const char *err = NULL;
	assert_null(store_open(f->db, wrong, &err));
	assert_string_equal(err, "wrong key or not a mailbox");
	read_file(f->db, &after);
	assert_int_equal(before.len, after.len);
	assert_memory_equal(before.data, after.data, before.len);
	for (size_t i = 0; i < 3; i++) {
		snprintf(p, sizeof(p), "%s%s", f->db, sfx[i]);
		assert_int_equal(file_exists(p), existed[i]);
		if (!existed[i])
			continue;
		read_file(p, &comp_after);
		assert_int_equal(comp_after.len, comp_before[i].len);
		if (comp_after.len > 0)
			assert_memory_equal(comp_after.data, comp_before[i].data, comp_after.len);
		buf_free(&comp_before[i]);
	}
	buf_free(&comp_after);
	/* The right key still works afterwards. */
	st = store_open(f->db, f->mk, &err);
	assert_non_null(st);
	uint64_t count = 0;
	assert_int_equal(store_message_count(st, folder_id(st, "INBOX"), &count, NULL), 0);
	assert_int_equal(count, 1);
	store_close(&st);
	buf_free(&before);
	buf_free(&after);
}

static void test_open_missing_creates_nothing(void **state)
{
	struct fixture *f = *state;
	const char *err = NULL;
	assert_null(store_open(f->db, f->mk, &err));
	assert_string_equal(err, "no such mailbox");
	char p[160];
	static const char *const sfx[] = {"", "-wal", "-shm", "-journal"};
	for (size_t i = 0; i < 4; i++) {
		snprintf(p, sizeof(p), "%s%s", f->db, sfx[i]);
		assert_false(file_exists(p));
	}
}

/* Not a byte of a message's plaintext may reach the disk: neither the
 * database nor its WAL (SQLCipher encrypts WAL frames too). */
static void test_no_plaintext_on_disk(void **state)
{
	struct fixture *f = *state;
	struct store *st = create(f);
	const char *marker = "Subject: PLAINTEXT-CANARY-7f3a";
	struct buf msg = BUF_INIT, disk = BUF_INIT;
	buf_printf(&msg, "%s\r\n\r\n", marker);
	for (int i = 0; i < 300; i++)
		buf_printf(&msg, "CANARY-BODY-LINE %d\r\n", i);
	assert_int_equal(store_append(st, folder_id(st, "INBOX"), msg.data, msg.len, 1700000000,
				      0, "CanaryKeyword", NULL, NULL),
			 0);
	char p[160];
	static const char *const sfx[] = {"", "-wal"};
	static const char *const needles[] = {"CANARY", "Subject:", "CanaryKeyword", "INBOX",
					      "SQLite format 3"};
	/* While open (the message is in the WAL) and after close
	 * (checkpointed into the database). */
	for (int round = 0; round < 2; round++) {
		for (size_t i = 0; i < 2; i++) {
			snprintf(p, sizeof(p), "%s%s", f->db, sfx[i]);
			read_file(p, &disk);
			if (round == 0 && i == 1)
				assert_true(disk.len > 0);
			for (size_t k = 0; k < sizeof(needles) / sizeof(needles[0]); k++)
				assert_null(memmem(disk.data ? disk.data : (unsigned char *)"",
						   disk.len, needles[k], strlen(needles[k])));
		}
		store_close(&st);
	}
	buf_free(&msg);
	buf_free(&disk);
}

/* ---- messages ---- */

static void test_append_fetch(void **state)
{
	struct fixture *f = *state;
	struct store *st = create(f);
	int64_t inbox = folder_id(st, "INBOX");
	struct store_folder fo;
	assert_int_equal(store_folder_get(st, "INBOX", &fo), 1);
	uint64_t ms0 = fo.highestmodseq;
	uint32_t uidv = fo.uidvalidity;
	store_folder_clear(&fo);

	unsigned char bin[3000];
	for (size_t i = 0; i < sizeof(bin); i++)
		bin[i] = (unsigned char)(i * 7); /* NULs and 8-bit bytes */
	uint32_t uid = 0;
	uint64_t modseq = 0;
	assert_int_equal(store_append(st, inbox, bin, sizeof(bin), 1700000001,
				      STORE_FLAG_SEEN | STORE_FLAG_FLAGGED, "$Label1 $label1 Work",
				      &uid, &modseq),
			 0);
	assert_int_equal(uid, 1);
	assert_true(modseq > ms0);
	uint32_t uid2 = 0;
	assert_int_equal(store_append(st, inbox, "", 0, 1700000002, 0, NULL, &uid2, NULL), 0);
	assert_int_equal(uid2, 2);

	struct buf out = BUF_INIT;
	assert_int_equal(store_fetch_raw(st, inbox, 1, &out), 1);
	assert_int_equal(out.len, sizeof(bin));
	assert_memory_equal(out.data, bin, sizeof(bin));
	buf_reset(&out);
	assert_int_equal(store_fetch_raw(st, inbox, 2, &out), 1);
	assert_int_equal(out.len, 0);
	assert_int_equal(store_fetch_raw(st, inbox, 3, &out), 0);
	buf_free(&out);

	struct store_msg m;
	assert_int_equal(store_message_get(st, inbox, 1, &m), 1);
	assert_int_equal(m.flags, STORE_FLAG_SEEN | STORE_FLAG_FLAGGED);
	assert_string_equal(m.keywords, "$Label1 Work");
	assert_int_equal(m.internaldate, 1700000001);
	assert_int_equal(m.size, sizeof(bin));
	assert_int_equal(m.modseq, modseq);
	store_msg_clear(&m);
	assert_int_equal(store_message_get(st, inbox, 99, &m), 0);

	uint64_t count = 0, unseen = 0;
	assert_int_equal(store_message_count(st, inbox, &count, &unseen), 0);
	assert_int_equal(count, 2);
	assert_int_equal(unseen, 1);
	uint32_t *uids = NULL;
	size_t n = 0;
	assert_int_equal(store_uids(st, inbox, &uids, &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(uids[0], 1);
	assert_int_equal(uids[1], 2);
	free(uids);

	assert_int_equal(store_folder_get(st, "INBOX", &fo), 1);
	assert_int_equal(fo.uidnext, 3);
	assert_int_equal(fo.uidvalidity, uidv);
	store_folder_clear(&fo);

	/* Invalid keyword and unknown folder fail without side effects. */
	assert_int_equal(store_append(st, inbox, "x", 1, 0, 0, "bad(kw", NULL, NULL), -1);
	assert_int_equal(store_append(st, inbox, "x", 1, 0, 0, "\\Seen", NULL, NULL), -1);
	assert_int_equal(store_append(st, 9999, "x", 1, 0, 0, NULL, NULL, NULL), -1);
	assert_int_equal(store_message_count(st, inbox, &count, NULL), 0);
	assert_int_equal(count, 2);
	store_close(&st);
}

/* store_trim gives back cached statements and cache pages; the store goes
 * on as before, also when trimmed inside a transaction. */
static void test_trim_then_go_on(void **state)
{
	struct fixture *f = *state;
	struct store *st = create(f);
	int64_t inbox = folder_id(st, "INBOX");
	uint32_t uid = 0;
	assert_int_equal(store_append(st, inbox, "one", 3, 1700000001, 0, NULL, &uid, NULL), 0);
	store_trim(st);
	assert_int_equal(store_append(st, inbox, "two", 3, 1700000002, 0, NULL, &uid, NULL), 0);
	assert_int_equal(uid, 2);
	assert_int_equal(store_begin(st), 0);
	assert_int_equal(store_append(st, inbox, "three", 5, 1700000003, 0, NULL, &uid, NULL), 0);
	store_trim(st);
	assert_int_equal(store_append(st, inbox, "four", 4, 1700000004, 0, NULL, &uid, NULL), 0);
	assert_int_equal(store_commit(st), 0);
	store_trim(st);
	struct buf out = BUF_INIT;
	assert_int_equal(store_fetch_raw(st, inbox, 4, &out), 1);
	assert_int_equal(out.len, 4);
	assert_memory_equal(out.data, "four", 4);
	buf_free(&out);
	uint64_t count = 0;
	assert_int_equal(store_message_count(st, inbox, &count, NULL), 0);
	assert_int_equal(count, 4);
	store_close(&st);
}

static void test_flags_and_modseq(void **state)
{
	struct fixture *f = *state;
	struct store *st = create(f);
	int64_t inbox = folder_id(st, "INBOX");
	uint64_t m0 = 0, m1 = 0, m2 = 0, m3 = 0;
	assert_int_equal(store_append(st, inbox, "a", 1, 0, 0, NULL, NULL, &m0), 0);
	assert_int_equal(store_append(st, inbox, "b", 1, 0, 0, NULL, NULL, NULL), 0);

	assert_int_equal(store_set_flags(st, inbox, 1, STORE_FLAGS_ADD, STORE_FLAG_SEEN, "$Work",
					 0, &m1),
			 1);
	assert_true(m1 > m0);
	struct store_folder fo;
	assert_int_equal(store_folder_get(st, "INBOX", &fo), 1);
	assert_int_equal(fo.highestmodseq, m1);
	store_folder_clear(&fo);

	/* No change, no new mod-sequence. */
	assert_int_equal(store_set_flags(st, inbox, 1, STORE_FLAGS_ADD, STORE_FLAG_SEEN, "$WORK",
					 0, &m2),
			 1);
	assert_int_equal(m2, m1);

	/* UNCHANGEDSINCE lower than the message's mod-sequence refuses. */
	assert_int_equal(store_set_flags(st, inbox, 1, STORE_FLAGS_ADD, STORE_FLAG_FLAGGED, NULL,
					 m1 - 1, &m2),
			 0);
	assert_int_equal(store_set_flags(st, inbox, 1, STORE_FLAGS_ADD, STORE_FLAG_FLAGGED, NULL,
					 m1, &m2),
			 1);
	assert_true(m2 > m1);

	assert_int_equal(store_set_flags(st, inbox, 1, STORE_FLAGS_REMOVE, STORE_FLAG_SEEN,
					 "$work", 0, &m3),
			 1);
	assert_true(m3 > m2);
	struct store_msg m;
	assert_int_equal(store_message_get(st, inbox, 1, &m), 1);
	assert_int_equal(m.flags, STORE_FLAG_FLAGGED);
	assert_string_equal(m.keywords, "");
	assert_int_equal(m.modseq, m3);
	store_msg_clear(&m);

	assert_int_equal(store_set_flags(st, inbox, 1, STORE_FLAGS_REPLACE,
					 STORE_FLAG_ANSWERED | STORE_FLAG_DRAFT, "b a", 0, NULL),
			 1);
	assert_int_equal(store_message_get(st, inbox, 1, &m), 1);
	assert_int_equal(m.flags, STORE_FLAG_ANSWERED | STORE_FLAG_DRAFT);
	assert_string_equal(m.keywords, "a b");
	store_msg_clear(&m);

	/* The other message was untouched. */
	assert_int_equal(store_message_get(st, inbox, 2, &m), 1);
	assert_int_equal(m.flags, 0);
	assert_true(m.modseq < m1);
	store_msg_clear(&m);
	assert_int_equal(store_set_flags(st, inbox, 42, STORE_FLAGS_ADD, STORE_FLAG_SEEN, NULL, 0,
					 NULL),
			 0);
	store_close(&st);
}

static void test_expunge_records(void **state)
{
	struct fixture *f = *state;
	struct store *st = create(f);
	int64_t inbox = folder_id(st, "INBOX");
	for (int i = 0; i < 4; i++)
		assert_int_equal(store_append(st, inbox, "m", 1, 0, 0, NULL, NULL, NULL), 0);
	assert_int_equal(store_set_flags(st, inbox, 2, STORE_FLAGS_ADD, STORE_FLAG_DELETED, NULL, 0,
					 NULL),
			 1);
	assert_int_equal(store_set_flags(st, inbox, 4, STORE_FLAGS_ADD, STORE_FLAG_DELETED, NULL, 0,
					 NULL),
			 1);
	uint32_t *uids = NULL;
	size_t n = 0;
	uint64_t ms = 0;
	assert_int_equal(store_expunge_deleted(st, inbox, &uids, &n, &ms), 0);
	assert_int_equal(n, 2);
	assert_int_equal(uids[0], 2);
	assert_int_equal(uids[1], 4);
	free(uids);
	assert_true(ms > 0);
	struct store_folder fo;
	assert_int_equal(store_folder_get(st, "INBOX", &fo), 1);
	assert_int_equal(fo.highestmodseq, ms);
	assert_int_equal(fo.uidnext, 5); /* UIDs are never reused */
	store_folder_clear(&fo);
	assert_int_equal(count_rows(st, "SELECT count(*) FROM expunged WHERE uid IN (2, 4)"), 2);
	char sql[128];
	snprintf(sql, sizeof(sql), "SELECT count(*) FROM expunged WHERE modseq = %llu",
		 (unsigned long long)ms);
	assert_int_equal(count_rows(st, sql), 2);
	/* Bodies of expunged messages are gone too. */
	assert_int_equal(count_rows(st, "SELECT count(*) FROM bodies"), 2);

	/* Explicit UIDs, missing ones skipped. */
	uint32_t list[] = {1, 77};
	size_t removed = 0;
	assert_int_equal(store_expunge(st, inbox, list, 2, &removed, &ms), 0);
	assert_int_equal(removed, 1);
	uint64_t count = 0;
	assert_int_equal(store_message_count(st, inbox, &count, NULL), 0);
	assert_int_equal(count, 1);
	/* Nothing to remove: no mod-sequence used. */
	assert_int_equal(store_expunge(st, inbox, list, 2, &removed, &ms), 0);
	assert_int_equal(removed, 0);
	assert_int_equal(ms, 0);
	store_close(&st);
}

static void test_folders_and_transactions(void **state)
{
	struct fixture *f = *state;
	struct store *st = create(f);
	int64_t id = 0;
	assert_int_equal(store_folder_create(st, "Projects/Ünïcode", NULL, &id), 1);
	assert_true(id > 0);
	assert_int_equal(store_folder_create(st, "Projects/Ünïcode", NULL, NULL), 0);
	assert_int_equal(store_folder_create(st, "inbox", NULL, NULL), 0);
	static const char *const bad[] = {"", "/a", "a/", "a//b", "a\tb", "\xc3\x28", "\xc0\xaf"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(store_folder_create(st, bad[i], NULL, NULL), -1);
	struct store_folder fo;
	assert_int_equal(store_folder_get(st, "Projects/Ünïcode", &fo), 1);
	assert_false(fo.subscribed);
	store_folder_clear(&fo);

	/* An outer transaction groups calls; a rollback undoes them all. */
	int64_t inbox = folder_id(st, "INBOX");
	assert_int_equal(store_begin(st), 0);
	assert_int_equal(store_append(st, inbox, "x", 1, 0, 0, NULL, NULL, NULL), 0);
	assert_int_equal(store_append(st, id, "y", 1, 0, 0, NULL, NULL, NULL), 0);
	assert_int_equal(store_rollback(st), 0);
	uint64_t count = 9;
	assert_int_equal(store_message_count(st, inbox, &count, NULL), 0);
	assert_int_equal(count, 0);
	assert_int_equal(store_begin(st), 0);
	assert_int_equal(store_append(st, inbox, "x", 1, 0, 0, NULL, NULL, NULL), 0);
	/* A failing inner call (unknown folder) rolls back only itself. */
	assert_int_equal(store_append(st, 9999, "x", 1, 0, 0, NULL, NULL, NULL), -1);
	assert_int_equal(store_commit(st), 0);
	assert_int_equal(store_message_count(st, inbox, &count, NULL), 0);
	assert_int_equal(count, 1);
	store_close(&st);
}

/* A keyword list of n distinct keywords "k0 k1 ...". */
static void keyword_list(struct buf *b, unsigned first, unsigned n)
{
	buf_reset(b);
	buf_append_str(b, "");
	for (unsigned i = 0; i < n; i++)
		buf_printf(b, "%sk%u", i ? " " : "", first + i);
}

/* More keywords than a message may carry is a limit the request ran into
 * (the IMAP server answers NO [LIMIT], RFC 5530), never a database fault;
 * nothing changes. An invalid keyword or a missing folder is no limit. */
static void test_keyword_limit_is_a_limit(void **state)
{
	struct fixture *f = *state;
	struct store *st = create(f);
	int64_t inbox = folder_id(st, "INBOX");
	uint64_t m0 = 0, m1 = 0;
	struct buf kw = BUF_INIT;
	struct store_msg m;
	assert_int_equal(store_append(st, inbox, "a", 1, 0, 0, NULL, NULL, &m0), 0);
	static const enum store_flag_op ops[] = {STORE_FLAGS_ADD, STORE_FLAGS_REPLACE,
	                                         STORE_FLAGS_REMOVE};
	static const unsigned counts[] = {STORE_KEYWORDS_MAX + 1, 5000};
	for (size_t c = 0; c < 2; c++) {
		keyword_list(&kw, 0, counts[c]);
		for (size_t o = 0; o < 3; o++) {
			assert_int_equal(store_set_flags(st, inbox, 1, ops[o], STORE_FLAG_SEEN,
			                                 buf_cstr(&kw), 0, NULL),
			                 -1);
			assert_true(store_error_is_limit(st));
		}
		assert_int_equal(store_append(st, inbox, "b", 1, 0, 0, buf_cstr(&kw), NULL, NULL),
		                 -1);
		assert_true(store_error_is_limit(st));
	}
	assert_int_equal(store_message_get(st, inbox, 1, &m), 1);
	assert_int_equal(m.flags, 0);
	assert_string_equal(m.keywords, "");
	assert_int_equal(m.modseq, m0);
	store_msg_clear(&m);

	/* Exactly the maximum fits; one more on the message is the limit. */
	keyword_list(&kw, 0, STORE_KEYWORDS_MAX);
	assert_int_equal(store_set_flags(st, inbox, 1, STORE_FLAGS_ADD, 0, buf_cstr(&kw), 0, &m1),
	                 1);
	assert_int_equal(store_set_flags(st, inbox, 1, STORE_FLAGS_ADD, 0, "extra", 0, NULL), -1);
	assert_true(store_error_is_limit(st));
	assert_int_equal(store_message_get(st, inbox, 1, &m), 1);
	assert_int_equal(m.modseq, m1);
	assert_null(strstr(m.keywords, "extra"));
	store_msg_clear(&m);

	/* Not limits: an invalid keyword, an unknown folder. */
	assert_int_equal(store_set_flags(st, inbox, 1, STORE_FLAGS_ADD, 0, "a(b", 0, NULL), -1);
	assert_false(store_error_is_limit(st));
	assert_int_equal(store_set_flags(st, inbox, 1, STORE_FLAGS_ADD, 0, "extra", 0, NULL), -1);
	assert_true(store_error_is_limit(st));
	assert_int_equal(store_append(st, 9999, "x", 1, 0, 0, NULL, NULL, NULL), -1);
	assert_false(store_error_is_limit(st));
	buf_free(&kw);
	store_close(&st);
}

/* No new folder takes a name with the LIST wildcards (they could not be
 * listed on their own), neither by CREATE nor as a RENAME target; a folder
 * that already has such a name still loads, takes mail and can be renamed
 * away. */
static void test_folder_wildcards_refused_existing_kept(void **state)
{
	struct fixture *f = *state;
	struct store *st = create(f);
	static const char *const bad[] = {"%", "*", "a%b", "x/*", "Lists/%/y"};
	const char *why = NULL;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(store_folder_create(st, bad[i], NULL, NULL), -1);
		assert_false(store_error_is_limit(st));
		why = NULL;
		assert_false(store_folder_name_valid(bad[i], &why));
		assert_non_null(strstr(why, "wildcard"));
	}
	assert_true(store_folder_name_valid("100 percent & more", NULL));
	assert_int_equal(store_folder_create(st, "Work", NULL, NULL), 1);
	assert_int_equal(store_folder_rename(st, "Work", "W*"), -1);
	assert_int_equal(folder_id(st, "Work") > 0, 1);

	/* An existing name with a wildcard, as an older version made it. */
	assert_int_equal(sqlite3_exec(store_db(st),
	                              "INSERT INTO folders(name, uidvalidity, subscribed) "
	                              "VALUES ('Old%', 7, 1)",
	                              NULL, NULL, NULL),
	                 SQLITE_OK);
	struct store_folder *list = NULL;
	size_t n = 0;
	bool listed = false;
	assert_int_equal(store_folder_list(st, &list, &n), 0);
	for (size_t i = 0; i < n; i++)
		listed |= strcmp(list[i].name, "Old%") == 0;
	store_folder_list_free(&list, n);
	assert_true(listed);
	int64_t old = folder_id(st, "Old%");
	assert_int_equal(store_append(st, old, "m", 1, 0, 0, NULL, NULL, NULL), 0);
	assert_int_equal(store_folder_rename(st, "Old%", "Old"), 0);
	uint64_t count = 0;
	assert_int_equal(store_message_count(st, folder_id(st, "Old"), &count, NULL), 0);
	assert_int_equal(count, 1);
	store_close(&st);
}

/* ---- rekey ---- */

static void test_rekey(void **state)
{
	struct fixture *f = *state;
	struct store *st = create(f);
	int64_t inbox = folder_id(st, "INBOX");
	struct buf msg = BUF_INIT, out = BUF_INIT;
	for (unsigned i = 0; i < 20; i++) {
		make_msg(&msg, 5000 + i * 100, i);
		assert_int_equal(store_append(st, inbox, msg.data, msg.len, 1700000000 + i, 0, NULL,
					      NULL, NULL),
				 0);
	}
	assert_int_equal(store_set_flags(st, inbox, 3, STORE_FLAGS_ADD, STORE_FLAG_SEEN, "$k", 0,
					 NULL),
			 1);
	struct store_folder before;
	assert_int_equal(store_folder_get(st, "INBOX", &before), 1);

	/* Refused while another connection has the mailbox open. */
	const char *err = NULL;
	struct store *other = store_open(f->db, f->mk, &err);
	assert_non_null(other);
	unsigned char mk2[STORE_KEY_LEN];
	rnd_bytes(mk2, sizeof(mk2));
	assert_int_equal(store_rekey(st, mk2, &err), -1);
	assert_string_equal(err, "mailbox in use");
	assert_int_equal(store_append(st, inbox, "after", 5, 0, 0, NULL, NULL, NULL), 0);
	store_close(&other);

	assert_int_equal(store_rekey(st, mk2, &err), 0);
	/* The same handle goes on working, on the new file. */
	struct store_folder after;
	assert_int_equal(store_folder_get(st, "INBOX", &after), 1);
	assert_int_equal(after.uidvalidity, before.uidvalidity);
	assert_int_equal(after.uidnext, 22);
	store_folder_clear(&before);
	store_folder_clear(&after);
	assert_int_equal(store_append(st, inbox, "post", 4, 0, 0, NULL, NULL, NULL), 0);
	store_close(&st);

	char p[160];
	snprintf(p, sizeof(p), "%s.rekey", f->db);
	assert_false(file_exists(p));
	assert_null(store_open(f->db, f->mk, &err));
	assert_string_equal(err, "wrong key or not a mailbox");
	st = store_open(f->db, mk2, &err);
	assert_non_null(st);
	uint64_t count = 0;
	assert_int_equal(store_message_count(st, inbox, &count, NULL), 0);
	assert_int_equal(count, 22);
	for (unsigned i = 0; i < 20; i++) {
		make_msg(&msg, 5000 + i * 100, i);
		buf_reset(&out);
		assert_int_equal(store_fetch_raw(st, inbox, i + 1, &out), 1);
		assert_int_equal(out.len, msg.len);
		assert_memory_equal(out.data, msg.data, msg.len);
	}
	struct store_msg m;
	assert_int_equal(store_message_get(st, inbox, 3, &m), 1);
	assert_int_equal(m.flags, STORE_FLAG_SEEN);
	assert_string_equal(m.keywords, "$k");
	store_msg_clear(&m);
	unsigned char sk[STORE_SEAL_KEY_LEN];
	assert_int_equal(store_get_seal_secret(st, sk), 0);
	assert_memory_equal(sk, f->sk, sizeof(sk));
	/* Schema objects survived the export (the body GC trigger). */
	uint32_t one = 1;
	assert_int_equal(store_expunge(st, inbox, &one, 1, NULL, NULL), 0);
	assert_int_equal(count_rows(st, "SELECT count(*) FROM bodies"), 21);
	assert_int_equal(count_rows(st, "PRAGMA user_version"), STORE_SCHEMA_VERSION);
	store_close(&st);
	buf_free(&msg);
	buf_free(&out);
}

/* A rekey that fails before its commit point leaves the mailbox as it was,
 * under the old key, usable by this and by other connections. */
static void test_rekey_failure_restores(void **state)
{
	struct fixture *f = *state;
	struct store *st = create(f);
	int64_t inbox = folder_id(st, "INBOX");
	assert_int_equal(store_append(st, inbox, "one", 3, 0, 0, NULL, NULL, NULL), 0);
	/* Block the export file with a directory of that name. */
	char p[160];
	snprintf(p, sizeof(p), "%s.rekey", f->db);
	assert_int_equal(mkdir(p, 0700), 0);
	unsigned char mk2[STORE_KEY_LEN];
	rnd_bytes(mk2, sizeof(mk2));
	const char *err = NULL;
	assert_int_equal(store_rekey(st, mk2, &err), -1);
	assert_int_equal(rmdir(p), 0);
	assert_int_equal(store_append(st, inbox, "two", 3, 0, 0, NULL, NULL, NULL), 0);
	char mode[16] = "";
	sqlite3_stmt *s = NULL;
	assert_int_equal(sqlite3_prepare_v2(store_db(st), "PRAGMA journal_mode", -1, &s, NULL),
			 SQLITE_OK);
	assert_int_equal(sqlite3_step(s), SQLITE_ROW);
	snprintf(mode, sizeof(mode), "%s", (const char *)sqlite3_column_text(s, 0));
	sqlite3_finalize(s);
	assert_string_equal(mode, "wal");
	/* Not locked: another session opens and writes. */
	struct store *other = store_open(f->db, f->mk, &err);
	assert_non_null(other);
	assert_int_equal(store_append(other, inbox, "three", 5, 0, 0, NULL, NULL, NULL), 0);
	store_close(&other);
	uint64_t count = 0;
	assert_int_equal(store_message_count(st, inbox, &count, NULL), 0);
	assert_int_equal(count, 3);
	store_close(&st);
	assert_null(store_open(f->db, mk2, &err));
}

static void test_rekey_two_phase_abort(void **state)
{
	struct fixture *f = *state;
	struct store *st = create(f);
	int64_t inbox = folder_id(st, "INBOX");
	assert_int_equal(store_append(st, inbox, "one", 3, 0, 0, NULL, NULL, NULL), 0);
	unsigned char mk2[STORE_KEY_LEN];
	rnd_bytes(mk2, sizeof(mk2));
	const char *err = NULL;
	assert_int_equal(store_rekey_prepare(st, mk2, &err), 0);
	char p[160];
	snprintf(p, sizeof(p), "%s.rekey", f->db);
	assert_true(file_exists(p));
	/* Reads go on, writes would be lost: refused. */
	uint64_t count = 0;
	assert_int_equal(store_message_count(st, inbox, &count, NULL), 0);
	assert_int_equal(count, 1);
	assert_int_equal(store_append(st, inbox, "two", 3, 0, 0, NULL, NULL, NULL), -1);
	assert_int_equal(store_rekey_prepare(st, mk2, &err), -1);
	store_rekey_abort(st);
	assert_false(file_exists(p));
	assert_int_equal(store_append(st, inbox, "two", 3, 0, 0, NULL, NULL, NULL), 0);
	store_close(&st);
	st = store_open(f->db, f->mk, &err);
	assert_non_null(st);
	store_close(&st);
	assert_null(store_open(f->db, mk2, &err));
}

/* The process dies after the new key was recorded, before the rename:
 * opening with the new key finishes the rekey; the old key still opened
 * the old file until then. */
static void test_rekey_crash_recovered_by_open(void **state)
{
	struct fixture *f = *state;
	struct store *st = create(f);
	int64_t inbox = folder_id(st, "INBOX");
	for (int i = 0; i < 5; i++)
		assert_int_equal(store_append(st, inbox, "m", 1, 0, 0, NULL, NULL, NULL), 0);
	store_close(&st);
	unsigned char mk2[STORE_KEY_LEN];
	rnd_bytes(mk2, sizeof(mk2));
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct store *s2 = store_open(f->db, f->mk, NULL);
		if (s2 == NULL || store_rekey_prepare(s2, mk2, NULL) < 0)
			_exit(1);
		_exit(0); /* crash: no commit, no close */
	}
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_int_equal(WEXITSTATUS(status), 0);
	const char *err = NULL;
	st = store_open(f->db, f->mk, &err);
	assert_non_null(st);
	store_close(&st);
	st = store_open(f->db, mk2, &err);
	assert_non_null(st);
	uint64_t count = 0;
	assert_int_equal(store_message_count(st, inbox, &count, NULL), 0);
	assert_int_equal(count, 5);
	assert_int_equal(store_append(st, inbox, "n", 1, 0, 0, NULL, NULL, NULL), 0);
	store_close(&st);
	char p[160];
	snprintf(p, sizeof(p), "%s.rekey", f->db);
	assert_false(file_exists(p));
	assert_null(store_open(f->db, f->mk, &err));

	/* store_close of a prepared rekey keeps the export for the same
	 * reason. */
	unsigned char mk3[STORE_KEY_LEN];
	rnd_bytes(mk3, sizeof(mk3));
	st = store_open(f->db, mk2, &err);
	assert_int_equal(store_rekey_prepare(st, mk3, &err), 0);
	store_close(&st);
	assert_true(file_exists(p));
	st = store_open(f->db, mk3, &err);
	assert_non_null(st);
	assert_int_equal(store_message_count(st, inbox, &count, NULL), 0);
	assert_int_equal(count, 6);
	store_close(&st);
}

/* An export that never committed (user_version 0) is not taken for a
 * finished one. */
static void test_rekey_incomplete_export_ignored(void **state)
{
	struct fixture *f = *state;
	struct store *st = create(f);
	store_close(&st);
	char p[160], k[80];
	snprintf(p, sizeof(p), "%s.rekey", f->db);
	unsigned char mk2[STORE_KEY_LEN];
	rnd_bytes(mk2, sizeof(mk2));
	sqlite3 *db = NULL;
	assert_int_equal(sqlite3_open(p, &db), SQLITE_OK);
	k[0] = 'x';
	k[1] = '\'';
	for (int i = 0; i < STORE_KEY_LEN; i++)
		snprintf(k + 2 + 2 * i, 3, "%02x", mk2[i]);
	k[66] = '\'';
	k[67] = '\0';
	assert_int_equal(sqlite3_key_v2(db, "main", k, 67), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "PRAGMA cipher_page_size = 4096; CREATE TABLE t(x)",
				      NULL, NULL, NULL),
			 SQLITE_OK);
	sqlite3_close(db);
	const char *err = NULL;
	assert_null(store_open(f->db, mk2, &err));
	assert_string_equal(err, "wrong key or not a mailbox");
	assert_true(file_exists(p));
	st = store_open(f->db, f->mk, &err);
	assert_non_null(st);
	store_close(&st);
}

/* ---- spool import ---- */

static void test_import_roundtrip(void **state)
{
	struct fixture *f = *state;
	struct store *st = create(f);
	struct buf msg[3] = {BUF_INIT, BUF_INIT, BUF_INIT}, out = BUF_INIT;
	char names[3][SPOOL_NAME_MAX];
	for (unsigned i = 0; i < 3; i++) {
		make_msg(&msg[i], 1000 + 40000 * i, i);
		deliver(f, f->pk, NULL, msg[i].data, msg[i].len, names[i]);
	}
	/* Each spool file decrypts on its own with the identity. */
	for (unsigned i = 0; i < 3; i++) {
		char path[128];
		snprintf(path, sizeof(path), "new/%s", names[i]);
		int fd = openat(f->spoolfd, path, O_RDONLY);
		assert_true(fd >= 0);
		const char *err = NULL;
		buf_reset(&out);
		assert_int_equal(age_open_fd(f->sk, fd, &out, 1 << 20, &err), 0);
		close(fd);
		assert_int_equal(out.len, msg[i].len);
		assert_memory_equal(out.data, msg[i].data, msg[i].len);
	}
	struct store_import_stats stats;
	const char *err = NULL;
	assert_int_equal(store_import_spool(st, f->spoolfd, 1 << 20, &stats, &err), 0);
	assert_int_equal(stats.imported, 3);
	assert_int_equal(stats.leftovers, 0);
	assert_int_equal(stats.bad, 0);
	assert_int_equal(count_dir(f, "new"), 0);
	int64_t inbox = folder_id(st, "INBOX");
	for (unsigned i = 0; i < 3; i++) {
		buf_reset(&out);
		assert_int_equal(store_fetch_raw(st, inbox, i + 1, &out), 1);
		assert_int_equal(out.len, msg[i].len);
		assert_memory_equal(out.data, msg[i].data, msg[i].len);
		struct store_msg m;
		int64_t us = 0;
		assert_int_equal(spool_name_parse(names[i], &us), 1);
		assert_int_equal(store_message_get(st, inbox, i + 1, &m), 1);
		assert_int_equal(m.internaldate, us / 1000000);
		assert_int_equal(m.flags, 0);
		store_msg_clear(&m);
	}
	/* Nothing new: a no-op. */
	assert_int_equal(store_import_spool(st, f->spoolfd, 1 << 20, &stats, &err), 0);
	assert_int_equal(stats.imported, 0);
	uint64_t count = 0;
	assert_int_equal(store_message_count(st, inbox, &count, NULL), 0);
	assert_int_equal(count, 3);
	for (unsigned i = 0; i < 3; i++)
		buf_free(&msg[i]);
	buf_free(&out);
	store_close(&st);
}

/* A delivery that crashed before its rename was never acknowledged: the
 * importer does not see it. */
static void test_import_ignores_tmp(void **state)
{
	struct fixture *f = *state;
	struct store *st = create(f);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct spool_delivery *d = spool_deliver_begin(f->spoolfd, f->pk, NULL);
		if (d == NULL || spool_write(d, "Subject: t\r\n\r\n", 14) != SPOOL_OK ||
		    spool_prepare(d) != SPOOL_OK)
			_exit(1);
		_exit(0);
	}
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_int_equal(WEXITSTATUS(status), 0);
	struct store_import_stats stats;
	assert_int_equal(store_import_spool(st, f->spoolfd, 1 << 20, &stats, NULL), 0);
	assert_int_equal(stats.imported, 0);
	assert_int_equal(count_dir(f, "tmp"), 1);
	uint64_t count = 1;
	assert_int_equal(store_message_count(st, folder_id(st, "INBOX"), &count, NULL), 0);
	assert_int_equal(count, 0);
	store_close(&st);
}

/* Crash after COMMIT, before the unlinks: the files are back in new/ with
 * their names recorded. Simulated by hard-linking the files aside before
 * the import and back afterwards (the database is in exactly the state of
 * that crash). */
static void test_import_crash_after_commit(void **state)
{
	struct fixture *f = *state;
	struct store *st = create(f);
	char names[2][SPOOL_NAME_MAX];
	deliver(f, f->pk, NULL, "Subject: 1\r\n\r\none\r\n", 19, names[0]);
	deliver(f, f->pk, NULL, "Subject: 2\r\n\r\ntwo\r\n", 19, names[1]);
	assert_int_equal(mkdirat(f->spoolfd, "aside", 0700), 0);
	char a[128], b[128];
	for (int i = 0; i < 2; i++) {
		snprintf(a, sizeof(a), "new/%s", names[i]);
		snprintf(b, sizeof(b), "aside/%s", names[i]);
		assert_int_equal(linkat(f->spoolfd, a, f->spoolfd, b, 0), 0);
	}
	struct store_import_stats stats;
	assert_int_equal(store_import_spool(st, f->spoolfd, 1 << 20, &stats, NULL), 0);
	assert_int_equal(stats.imported, 2);
	for (int i = 0; i < 2; i++) {
		snprintf(a, sizeof(a), "new/%s", names[i]);
		snprintf(b, sizeof(b), "aside/%s", names[i]);
		assert_int_equal(renameat(f->spoolfd, b, f->spoolfd, a), 0);
	}
	/* A third message arrives meanwhile. */
	deliver(f, f->pk, NULL, "Subject: 3\r\n\r\nthree\r\n", 21, NULL);
	assert_int_equal(count_dir(f, "new"), 3);

	/* Re-import: the two are only unlinked, the new one imported. */
	assert_int_equal(store_import_spool(st, f->spoolfd, 1 << 20, &stats, NULL), 0);
	assert_int_equal(stats.imported, 1);
	assert_int_equal(stats.leftovers, 2);
	assert_int_equal(count_dir(f, "new"), 0);
	int64_t inbox = folder_id(st, "INBOX");
	uint64_t count = 0;
	assert_int_equal(store_message_count(st, inbox, &count, NULL), 0);
	assert_int_equal(count, 3);

	/* The names are pruned once their files are gone. */
	assert_int_equal(count_rows(st, "SELECT count(*) FROM spool_imported"), 3);
	assert_int_equal(store_import_spool(st, f->spoolfd, 1 << 20, &stats, NULL), 0);
	assert_int_equal(stats.pruned, 3);
	assert_int_equal(count_rows(st, "SELECT count(*) FROM spool_imported"), 0);
	store_close(&st);
}

static void test_import_flags_field(void **state)
{
	struct fixture *f = *state;
	struct store *st = create(f);
	const char *body = "Return-Path: <s@example.test>\r\nSubject: q\r\n\r\nhello\r\n";
	/* 1: flags, a keyword, routed to Junk. */
	deliver(f, f->pk, "\\Seen $Quarantined folder=Junk \\Recent", body, strlen(body), NULL);
	/* 2: a sender-supplied field further down: stripped, no effect. */
	const char *forged = "Return-Path: <s@example.test>\r\nX-Sealmail-Flags: \\Deleted "
			     "folder=Trash\r\n\tcontinued\r\nSubject: f\r\n\r\n"
			     "X-Sealmail-Flags: in the body stays\r\n";
	deliver(f, f->pk, NULL, forged, strlen(forged), NULL);
	/* 3: routing to a folder that does not exist falls back to INBOX. */
	deliver(f, f->pk, "folder=Nowhere \\flagged", body, strlen(body), NULL);
	struct store_import_stats stats;
	assert_int_equal(store_import_spool(st, f->spoolfd, 1 << 20, &stats, NULL), 0);
	assert_int_equal(stats.imported, 3);

	int64_t junk = folder_id(st, "Junk"), inbox = folder_id(st, "INBOX");
	struct buf out = BUF_INIT;
	struct store_msg m;
	assert_int_equal(store_fetch_raw(st, junk, 1, &out), 1);
	assert_int_equal(out.len, strlen(body));
	assert_memory_equal(out.data, body, out.len);
	assert_int_equal(store_message_get(st, junk, 1, &m), 1);
	assert_int_equal(m.flags, STORE_FLAG_SEEN);
	assert_string_equal(m.keywords, "$Quarantined");
	store_msg_clear(&m);

	buf_reset(&out);
	assert_int_equal(store_fetch_raw(st, inbox, 1, &out), 1);
	const char *want = "Return-Path: <s@example.test>\r\nSubject: f\r\n\r\n"
			   "X-Sealmail-Flags: in the body stays\r\n";
	assert_int_equal(out.len, strlen(want));
	assert_memory_equal(out.data, want, out.len);
	assert_int_equal(store_message_get(st, inbox, 1, &m), 1);
	assert_int_equal(m.flags, 0);
	assert_string_equal(m.keywords, "");
	store_msg_clear(&m);

	assert_int_equal(store_message_get(st, inbox, 2, &m), 1);
	assert_int_equal(m.flags, STORE_FLAG_FLAGGED);
	store_msg_clear(&m);
	buf_free(&out);
	store_close(&st);
}

static void test_import_bad_file_set_aside(void **state)
{
	struct fixture *f = *state;
	struct store *st = create(f);
	deliver(f, f->pk, NULL, "Subject: ok1\r\n\r\n", 16, NULL);
	/* Garbage with a valid name. */
	char garbage[SPOOL_NAME_MAX + 8];
	snprintf(garbage, sizeof(garbage), "new/%lld.00112233445566ff", 1000000LL);
	int fd = openat(f->spoolfd, garbage, O_WRONLY | O_CREAT | O_EXCL, 0640);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "not an age file\n", 16), 16);
	close(fd);
	/* Sealed to somebody else. */
	unsigned char opk[AGE_KEY_LEN], osk[AGE_KEY_LEN];
	age_keypair(opk, osk);
	deliver(f, opk, NULL, "Subject: other\r\n\r\n", 18, NULL);
	/* Too large for max_size. */
	struct buf big = BUF_INIT;
	make_msg(&big, 5000, 1);
	deliver(f, f->pk, NULL, big.data, big.len, NULL);
	deliver(f, f->pk, NULL, "Subject: ok2\r\n\r\n", 16, NULL);
	/* A stray file with another name pattern is left alone. */
	fd = openat(f->spoolfd, "new/README", O_WRONLY | O_CREAT, 0640);
	close(fd);

	struct store_import_stats stats;
	assert_int_equal(store_import_spool(st, f->spoolfd, 4096, &stats, NULL), 0);
	assert_int_equal(stats.imported, 2);
	assert_int_equal(stats.bad, 3);
	assert_int_equal(count_dir(f, "bad"), 3);
	assert_int_equal(count_dir(f, "new"), 1); /* README */
	uint64_t count = 0;
	assert_int_equal(store_message_count(st, folder_id(st, "INBOX"), &count, NULL), 0);
	assert_int_equal(count, 2);
	buf_free(&big);
	store_close(&st);
}

/* After the sealing key changed, files sealed to the old public key (in
 * flight while the directory changed) still import. */
static void test_import_previous_seal_key(void **state)
{
	struct fixture *f = *state;
	struct store *st = create(f);
	deliver(f, f->pk, NULL, "Subject: old\r\n\r\n", 16, NULL);
	unsigned char pk2[AGE_KEY_LEN], sk2[AGE_KEY_LEN], got[STORE_SEAL_KEY_LEN];
	age_keypair(pk2, sk2);
	assert_int_equal(store_set_seal_secret(st, sk2), 0);
	assert_int_equal(store_get_seal_secret(st, got), 0);
	assert_memory_equal(got, sk2, sizeof(got));
	deliver(f, pk2, NULL, "Subject: new\r\n\r\n", 16, NULL);
	struct store_import_stats stats;
	assert_int_equal(store_import_spool(st, f->spoolfd, 1 << 20, &stats, NULL), 0);
	assert_int_equal(stats.imported, 2);
	assert_int_equal(stats.bad, 0);
	store_close(&st);
}

/* Two sessions importing the same spool never duplicate a message. */
static void test_import_concurrent_sessions(void **state)
{
	struct fixture *f = *state;
	struct store *st = create(f);
	store_close(&st);
	for (int i = 0; i < 40; i++)
		deliver(f, f->pk, NULL, "Subject: c\r\n\r\nx\r\n", 17, NULL);
	pid_t pid[2];
	for (int k = 0; k < 2; k++) {
		pid[k] = fork();
		assert_true(pid[k] >= 0);
		if (pid[k] == 0) {
			struct store *s2 = store_open(f->db, f->mk, NULL);
			if (s2 == NULL ||
			    store_import_spool(s2, f->spoolfd, 1 << 20, NULL, NULL) < 0)
				_exit(1);
			store_close(&s2);
			_exit(0);
		}
	}
	for (int k = 0; k < 2; k++) {
		int status;
		assert_int_equal(waitpid(pid[k], &status, 0), pid[k]);
		assert_int_equal(WEXITSTATUS(status), 0);
	}
	const char *err = NULL;
	st = store_open(f->db, f->mk, &err);
	assert_non_null(st);
	uint64_t count = 0;
	assert_int_equal(store_message_count(st, folder_id(st, "INBOX"), &count, NULL), 0);
	assert_int_equal(count, 40);
	assert_int_equal(count_dir(f, "new"), 0);
	store_close(&st);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_create_and_open),
		T(test_create_refuses_existing),
		T(test_wrong_key_changes_nothing),
		T(test_open_missing_creates_nothing),
		T(test_no_plaintext_on_disk),
		T(test_append_fetch),
		T(test_trim_then_go_on),
		T(test_flags_and_modseq),
		T(test_expunge_records),
		T(test_folders_and_transactions),
		T(test_keyword_limit_is_a_limit),
		T(test_folder_wildcards_refused_existing_kept),
		T(test_rekey),
		T(test_rekey_failure_restores),
		T(test_rekey_two_phase_abort),
		T(test_rekey_crash_recovered_by_open),
		T(test_rekey_incomplete_export_ignored),
		T(test_import_roundtrip),
		T(test_import_ignores_tmp),
		T(test_import_crash_after_commit),
		T(test_import_flags_field),
		T(test_import_bad_file_set_aside),
		T(test_import_previous_seal_key),
		T(test_import_concurrent_sessions),
	};
#undef T
	return cmocka_run_group_tests(tests, NULL, NULL);
}
