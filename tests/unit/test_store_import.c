/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* The steps of store_import_spool (lib/data/store_import.c) that
 * tests/unit/test_store.c does not reach: the lock-free path of an empty
 * spool, a re-import after a crash between COMMIT and the unlinks that
 * changes nothing, a recorded name that comes back, a spool name that is not
 * a regular file, an import that cannot take the lock, routing to a
 * folder name beyond the limit, and empty messages (found by
 * tests/fuzz/fuzz_spoolimport.c: an empty plaintext reached the text
 * extraction as a NULL pointer, NULL + 0 being undefined behaviour that
 * clang's UBSan reports and gcc's does not; the seed
 * tests/fuzz/corpus/fuzz_spoolimport/regression-empty-plaintext fails the
 * libFuzzer build without the fix). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/rnd.h"
#include "crypto/age.h"
#include "data/spool.h"
#include "data/store.h"

#define STORE_FIXTURE_NAME "test_store_import"
#include "store_fixture.h"

static struct store_folder folder(struct store *st, const char *name)
{
	struct store_folder fo;
	assert_int_equal(store_folder_get(st, name, &fo), 1);
	return fo;
}

static uint64_t inbox_count(struct store *st)
{
	struct store_folder fo = folder(st, "INBOX");
	uint64_t count = 0;
	assert_int_equal(store_message_count(st, fo.id, &count, NULL), 0);
	store_folder_clear(&fo);
	return count;
}

/* deliver() of a text message. */
static void deliver_text(struct fixture *f, const unsigned char *pk, const char *flags,
                         const char *msg, char *name_out)
{
	deliver(f, pk, flags, msg, strlen(msg), name_out);
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The usual login finds no mail and takes no write lock: it returns at once
 * while another session holds the lock (were it to wait, it would take the
 * 10 s busy timeout). */
static void test_empty_spool_takes_no_lock(void **state)
{
	struct fixture *f = *state;
	struct store *st = create(f);
	const char *err = NULL;
	struct store *other = store_open(f->db, f->mk, &err);
	assert_non_null(other);
	assert_int_equal(store_begin(other), 0);
	struct store_import_stats stats;
	double t0 = now_s();
	assert_int_equal(store_import_spool(st, f->spoolfd, 1 << 20, &stats, &err), 0);
	assert_true(now_s() - t0 < 2.0);
	assert_int_equal(stats.imported + stats.leftovers + stats.bad + stats.pruned, 0);
	assert_int_equal(store_rollback(other), 0);
	store_close(&other);
	store_close(&st);
}

/* A crash after COMMIT, before the unlinks, with nothing else arriving: the
 * next import only unlinks. It adds no message and leaves UIDNEXT and
 * HIGHESTMODSEQ as they were. The crash state is made by linking the files
 * back after an import, as in test_store.c. */
static void test_reimport_after_commit_is_noop(void **state)
{
	struct fixture *f = *state;
	struct store *st = create(f);
	char names[3][SPOOL_NAME_MAX], a[128], b[128];
	assert_int_equal(mkdirat(f->spoolfd, "aside", 0700), 0);
	for (int i = 0; i < 3; i++) {
		deliver_text(f, f->pk, i == 1 ? "\\Seen" : NULL, "Subject: n\r\n\r\nbody\r\n",
		             names[i]);
		FMT(a, "new/%s", names[i]);
		FMT(b, "aside/%s", names[i]);
		assert_int_equal(linkat(f->spoolfd, a, f->spoolfd, b, 0), 0);
	}
	struct store_import_stats stats;
	assert_int_equal(store_import_spool(st, f->spoolfd, 1 << 20, &stats, NULL), 0);
	assert_int_equal(stats.imported, 3);
	struct store_folder before = folder(st, "INBOX");
	for (int i = 0; i < 3; i++) {
		FMT(a, "new/%s", names[i]);
		FMT(b, "aside/%s", names[i]);
		assert_int_equal(renameat(f->spoolfd, b, f->spoolfd, a), 0);
	}

	assert_int_equal(store_import_spool(st, f->spoolfd, 1 << 20, &stats, NULL), 0);
	assert_int_equal(stats.imported, 0);
	assert_int_equal(stats.leftovers, 3);
	assert_int_equal(stats.bad, 0);
	assert_int_equal(stats.pruned, 0);
	assert_int_equal(count_dir(f, "new"), 0);
	assert_int_equal(inbox_count(st), 3);
	struct store_folder after = folder(st, "INBOX");
	assert_int_equal(after.uidnext, before.uidnext);
	assert_int_equal(after.highestmodseq, before.highestmodseq);
	assert_int_equal(after.uidvalidity, before.uidvalidity);
	store_folder_clear(&before);
	store_folder_clear(&after);
	store_close(&st);
}

/* A name already recorded as imported is never imported again, whatever its
 * file now holds: it is unlinked as a leftover. (The MX never reuses a name:
 * 64 random bits and RENAME_NOREPLACE; this is what makes a re-import after
 * a crash safe.) */
static void test_recorded_name_not_imported_again(void **state)
{
	struct fixture *f = *state;
	struct store *st = create(f);
	char name[SPOOL_NAME_MAX], other[SPOOL_NAME_MAX], a[128], b[128];
	deliver_text(f, f->pk, NULL, "Subject: first\r\n\r\n", name);
	assert_int_equal(store_import_spool(st, f->spoolfd, 1 << 20, NULL, NULL), 0);
	assert_int_equal(inbox_count(st), 1);
	/* Another message appears under the recorded name. */
	deliver_text(f, f->pk, NULL, "Subject: second\r\n\r\n", other);
	FMT(a, "new/%s", other);
	FMT(b, "new/%s", name);
	assert_int_equal(renameat(f->spoolfd, a, f->spoolfd, b), 0);
	struct store_import_stats stats;
	assert_int_equal(store_import_spool(st, f->spoolfd, 1 << 20, &stats, NULL), 0);
	assert_int_equal(stats.imported, 0);
	assert_int_equal(stats.leftovers, 1);
	assert_int_equal(count_dir(f, "new"), 0);
	assert_int_equal(inbox_count(st), 1);
	assert_int_equal(count_rows(st, "SELECT count(*) FROM spool_imported"), 1);
	store_close(&st);
}

/* Something that is not a regular file under a spool name (here a
 * directory) is set aside; the mail around it imports. */
static void test_not_regular_file_set_aside(void **state)
{
	struct fixture *f = *state;
	struct store *st = create(f);
	deliver_text(f, f->pk, NULL, "Subject: a\r\n\r\n", NULL);
	char dir[SPOOL_NAME_MAX + 8];
	FMT(dir, "new/%lld.0123456789abcdef", 2000000LL);
	assert_int_equal(mkdirat(f->spoolfd, dir, 0700), 0);
	deliver_text(f, f->pk, NULL, "Subject: b\r\n\r\n", NULL);
	struct store_import_stats stats;
	assert_int_equal(store_import_spool(st, f->spoolfd, 1 << 20, &stats, NULL), 0);
	assert_int_equal(stats.imported, 2);
	assert_int_equal(stats.bad, 1);
	assert_int_equal(count_dir(f, "new"), 0);
	assert_int_equal(count_dir(f, "bad"), 1);
	assert_int_equal(inbox_count(st), 2);
	store_close(&st);
}

/* A symbolic link, a FIFO and a socket under spool names hold no message
 * (the MX writes regular files only): they are removed, never opened (a FIFO
 * would block a reader) nor followed, and not moved to spool/bad (which the
 * sandbox forbids for them); the link's target is untouched, the mail around
 * them imports, and the next import finds nothing left to log. */
static void test_links_and_fifos_removed(void **state)
{
	struct fixture *f = *state;
	struct store *st = create(f);
	char target[128], name[SPOOL_NAME_MAX + 8];
	deliver_text(f, f->pk, NULL, "Subject: a\r\n\r\n", NULL);
	/* The link points at a valid sealed message: following it would
	 * import that message (and unlink only the link). */
	char sealed[SPOOL_NAME_MAX];
	deliver_text(f, f->pk, NULL, "Subject: elsewhere\r\n\r\n", sealed);
	FMT(name, "new/%s", sealed);
	FMT(target, "%s/elsewhere", f->dir);
	char from[256];
	FMT(from, "%s/spool/%s", f->dir, name);
	assert_int_equal(rename(from, target), 0);
	FMT(name, "new/%lld.00000000000000a1", 3000000LL);
	assert_int_equal(symlinkat(target, f->spoolfd, name), 0);
	FMT(name, "new/%lld.00000000000000a2", 3000001LL);
	assert_int_equal(symlinkat("/nonexistent", f->spoolfd, name), 0);
	FMT(name, "new/%lld.00000000000000b1", 3000002LL);
	assert_int_equal(mkfifoat(f->spoolfd, name, 0600), 0);
	FMT(name, "new/%lld.00000000000000c1", 3000003LL);
	assert_int_equal(mknodat(f->spoolfd, name, S_IFSOCK | 0600, 0), 0);
	deliver_text(f, f->pk, NULL, "Subject: b\r\n\r\n", NULL);

	struct store_import_stats stats;
	assert_int_equal(store_import_spool(st, f->spoolfd, 1 << 20, &stats, NULL), 0);
	assert_int_equal(stats.imported, 2);
	assert_int_equal(stats.removed, 4);
	assert_int_equal(stats.bad, 0);
	assert_int_equal(count_dir(f, "new"), 0);
	assert_int_equal(count_dir(f, "bad"), 0);
	assert_int_equal(inbox_count(st), 2);
	struct stat sb;
	assert_int_equal(stat(target, &sb), 0);
	assert_true(S_ISREG(sb.st_mode));
	assert_int_equal(count_rows(st, "SELECT count(*) FROM spool_imported "
	                                "WHERE name LIKE '300000%'"),
	                 0);
	assert_int_equal(store_import_spool(st, f->spoolfd, 1 << 20, &stats, NULL), 0);
	assert_int_equal(stats.removed + stats.bad + stats.imported, 0);
	store_close(&st);
}

/* Inside the caller's transaction the import refuses: its COMMIT must be
 * durable before any unlink. Nothing is imported or removed. */
static void test_inside_transaction_refused(void **state)
{
	struct fixture *f = *state;
	struct store *st = create(f);
	deliver_text(f, f->pk, NULL, "Subject: t\r\n\r\n", NULL);
	assert_int_equal(store_begin(st), 0);
	const char *err = NULL;
	assert_int_equal(store_import_spool(st, f->spoolfd, 1 << 20, NULL, &err), -1);
	assert_non_null(err);
	assert_int_equal(store_rollback(st), 0);
	assert_int_equal(count_dir(f, "new"), 1);
	assert_int_equal(inbox_count(st), 0);
	struct store_import_stats stats;
	assert_int_equal(store_import_spool(st, f->spoolfd, 1 << 20, &stats, NULL), 0);
	assert_int_equal(stats.imported, 1);
	assert_int_equal(count_dir(f, "new"), 0);
	store_close(&st);
}

/* An import that cannot take the write lock (here: a rekey is prepared,
 * which refuses writes) fails with nothing committed and every file still
 * in spool/new; the next import takes them all, once. */
static void test_failed_import_keeps_spool(void **state)
{
	struct fixture *f = *state;
	struct store *st = create(f);
	for (int i = 0; i < 3; i++)
		deliver_text(f, f->pk, NULL, "Subject: k\r\n\r\n", NULL);
	unsigned char mk2[STORE_KEY_LEN];
	rnd_bytes(mk2, sizeof(mk2));
	const char *err = NULL;
	assert_int_equal(store_rekey_prepare(st, mk2, &err), 0);
	struct store_import_stats stats;
	err = NULL;
	assert_int_equal(store_import_spool(st, f->spoolfd, 1 << 20, &stats, &err), -1);
	assert_non_null(err);
	assert_int_equal(stats.imported, 0);
	assert_int_equal(count_dir(f, "new"), 3);
	assert_int_equal(count_dir(f, "bad"), 0);
	store_rekey_abort(st);
	assert_int_equal(inbox_count(st), 0);
	assert_int_equal(count_rows(st, "SELECT count(*) FROM spool_imported"), 0);
	assert_int_equal(store_import_spool(st, f->spoolfd, 1 << 20, &stats, NULL), 0);
	assert_int_equal(stats.imported, 3);
	assert_int_equal(count_dir(f, "new"), 0);
	assert_int_equal(inbox_count(st), 3);
	store_close(&st);
}

/* folder= with a name longer than any folder can have is ignored: the
 * message goes to INBOX with its other flags. */
static void test_route_name_too_long(void **state)
{
	struct fixture *f = *state;
	struct store *st = create(f);
	char flags[STORE_FOLDER_NAME_MAX + 64];
	memcpy(flags, "\\Flagged folder=", 16);
	memset(flags + 16, 'a', STORE_FOLDER_NAME_MAX + 1);
	flags[16 + STORE_FOLDER_NAME_MAX + 1] = '\0';
	assert_true(strlen(flags) <= SPOOL_FLAGS_MAX);
	deliver_text(f, f->pk, flags, "Subject: r\r\n\r\n", NULL);
	struct store_import_stats stats;
	assert_int_equal(store_import_spool(st, f->spoolfd, 1 << 20, &stats, NULL), 0);
	assert_int_equal(stats.imported, 1);
	struct store_folder inbox = folder(st, "INBOX");
	struct store_msg m;
	assert_int_equal(store_message_get(st, inbox.id, 1, &m), 1);
	assert_int_equal(m.flags, STORE_FLAG_FLAGGED);
	struct buf raw = BUF_INIT;
	assert_int_equal(store_fetch_raw(st, inbox.id, 1, &raw), 1);
	assert_int_equal(raw.len, strlen("Subject: r\r\n\r\n"));
	store_msg_clear(&m);
	store_folder_clear(&inbox);
	buf_free(&raw);
	store_close(&st);
}

/* Import one spool file of flags and msg: it lands in INBOX, empty. */
static void import_empty(struct fixture *f, const char *flags, const char *msg)
{
	struct store *st = create(f);
	deliver_text(f, f->pk, flags, msg, NULL);
	struct store_import_stats stats;
	assert_int_equal(store_import_spool(st, f->spoolfd, 1 << 20, &stats, NULL), 0);
	assert_int_equal(stats.imported, 1);
	assert_int_equal(stats.bad, 0);
	struct store_folder inbox = folder(st, "INBOX");
	struct buf raw = BUF_INIT;
	assert_int_equal(store_fetch_raw(st, inbox.id, 1, &raw), 1);
	assert_int_equal(raw.len, 0);
	store_folder_clear(&inbox);
	buf_free(&raw);
	store_close(&st);
}

/* A sealed message of zero bytes is a message (an empty one). */
static void test_empty_message_imported(void **state)
{
	import_empty(*state, NULL, "");
}

/* Nothing but the flags field: once it is stripped, the message is empty. */
static void test_flags_only_message_imported(void **state)
{
	import_empty(*state, "\\Seen", "");
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
	    T(test_empty_spool_takes_no_lock),        T(test_reimport_after_commit_is_noop),
	    T(test_recorded_name_not_imported_again), T(test_not_regular_file_set_aside),
	    T(test_links_and_fifos_removed),          T(test_inside_transaction_refused),
	    T(test_failed_import_keeps_spool),        T(test_route_name_too_long),
	    T(test_empty_message_imported),           T(test_flags_only_message_imported),
	};
#undef T
	return cmocka_run_group_tests(tests, NULL, NULL);
}
