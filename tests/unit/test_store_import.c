/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* The steps of store_import_spool (lib/data/store_import.c) that
 * tests/unit/test_store.c does not reach: the lock-free path of an empty
 * spool, a re-import after a crash between COMMIT and the unlinks that
 * changes nothing, a recorded name that comes back, a spool name that is not
 * a regular file, an import that cannot take the lock, and routing to a
 * folder name beyond the limit. */
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

struct fixture {
	char dir[64];
	char db[128];
	int userfd, spoolfd;
	unsigned char mk[STORE_KEY_LEN];
	unsigned char pk[AGE_KEY_LEN], sk[AGE_KEY_LEN];
};

/* snprintf into a fixed buffer; a cut path would test the wrong file. */
#define FMT(buf, ...)                                                                              \
	do {                                                                                       \
		int fmt_n_ = snprintf((buf), sizeof(buf), __VA_ARGS__);                            \
		if (fmt_n_ < 0 || (size_t)fmt_n_ >= sizeof(buf))                                   \
			fail_msg("path too long");                                                 \
	} while (0)

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	FMT(f->dir, "/tmp/test_store_import.XXXXXX");
	if (mkdtemp(f->dir) == NULL)
		return -1;
	FMT(f->db, "%s/mailbox.db", f->dir);
	f->userfd = open(f->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (f->userfd < 0 || spool_create_dirs(f->userfd) < 0)
		return -1;
	f->spoolfd = openat(f->userfd, "spool", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	rnd_bytes(f->mk, sizeof(f->mk));
	age_keypair(f->pk, f->sk);
	*state = f;
	return f->spoolfd < 0 ? -1 : 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[128];
	close(f->spoolfd);
	close(f->userfd);
	FMT(cmd, "rm -rf '%s'", f->dir);
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

static size_t count_dir(struct fixture *f, const char *sub)
{
	int fd = openat(f->spoolfd, sub, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	DIR *d = fdopendir(fd);
	size_t n = 0;
	struct dirent *de;
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

static size_t count_rows(struct store *st, const char *sql)
{
	sqlite3_stmt *s = NULL;
	assert_int_equal(sqlite3_prepare_v2(store_db(st), sql, -1, &s, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(s), SQLITE_ROW);
	size_t n = (size_t)sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	return n;
}

/* Deliver one message through the spool writer; its name goes to name_out
 * (SPOOL_NAME_MAX bytes) when not NULL. */
static void deliver(struct fixture *f, const unsigned char *pk, const char *flags, const char *msg,
                    char *name_out)
{
	struct spool_delivery *d = spool_deliver_begin(f->spoolfd, pk, NULL);
	assert_non_null(d);
	if (flags != NULL)
		assert_int_equal(spool_write_flags(d, flags), SPOOL_OK);
	assert_int_equal(spool_write(d, msg, strlen(msg)), SPOOL_OK);
	assert_int_equal(spool_prepare(d), SPOOL_OK);
	assert_int_equal(spool_commit(d), SPOOL_OK);
	if (name_out != NULL) {
		assert_true(strlen(spool_name(d)) < SPOOL_NAME_MAX);
		memcpy(name_out, spool_name(d), strlen(spool_name(d)) + 1);
	}
	spool_free(&d);
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
		deliver(f, f->pk, i == 1 ? "\\Seen" : NULL, "Subject: n\r\n\r\nbody\r\n", names[i]);
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
	deliver(f, f->pk, NULL, "Subject: first\r\n\r\n", name);
	assert_int_equal(store_import_spool(st, f->spoolfd, 1 << 20, NULL, NULL), 0);
	assert_int_equal(inbox_count(st), 1);
	/* Another message appears under the recorded name. */
	deliver(f, f->pk, NULL, "Subject: second\r\n\r\n", other);
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
	deliver(f, f->pk, NULL, "Subject: a\r\n\r\n", NULL);
	char dir[SPOOL_NAME_MAX + 8];
	FMT(dir, "new/%lld.0123456789abcdef", 2000000LL);
	assert_int_equal(mkdirat(f->spoolfd, dir, 0700), 0);
	deliver(f, f->pk, NULL, "Subject: b\r\n\r\n", NULL);
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
	deliver(f, f->pk, NULL, "Subject: a\r\n\r\n", NULL);
	/* The link points at a valid sealed message: following it would
	 * import that message (and unlink only the link). */
	char sealed[SPOOL_NAME_MAX];
	deliver(f, f->pk, NULL, "Subject: elsewhere\r\n\r\n", sealed);
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
	deliver(f, f->pk, NULL, "Subject: b\r\n\r\n", NULL);

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
	deliver(f, f->pk, NULL, "Subject: t\r\n\r\n", NULL);
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
		deliver(f, f->pk, NULL, "Subject: k\r\n\r\n", NULL);
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
	deliver(f, f->pk, flags, "Subject: r\r\n\r\n", NULL);
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

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
	    T(test_empty_spool_takes_no_lock),        T(test_reimport_after_commit_is_noop),
	    T(test_recorded_name_not_imported_again), T(test_not_regular_file_set_aside),
	    T(test_links_and_fifos_removed),          T(test_inside_transaction_refused),
	    T(test_failed_import_keeps_spool),        T(test_route_name_too_long),
	};
#undef T
	return cmocka_run_group_tests(tests, NULL, NULL);
}
