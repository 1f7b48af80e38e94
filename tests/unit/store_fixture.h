/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* What the store's unit tests share: a user directory with its spool and a
 * fresh mailbox key and sealing key pair in a temporary directory, and the
 * helpers that look at it. Included by one test program each (static
 * functions); before it, that program includes cmocka and sets
 * STORE_FIXTURE_NAME to name its temporary directories. */
#ifndef SEALMAIL_TEST_STORE_FIXTURE_H
#define SEALMAIL_TEST_STORE_FIXTURE_H

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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
	FMT(f->dir, "/tmp/%s.XXXXXX", STORE_FIXTURE_NAME);
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

/* Entries of spool/<sub> (new, bad, tmp), dot files aside. */
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

/* The one number a "SELECT count(*) …" gives. */
static size_t count_rows(struct store *st, const char *sql)
{
	sqlite3_stmt *s = NULL;
	assert_int_equal(sqlite3_prepare_v2(store_db(st), sql, -1, &s, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(s), SQLITE_ROW);
	size_t n = (size_t)sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	return n;
}

/* Deliver one message through the spool writer, sealed to pk, with flags
 * (X-Sealmail-Flags) when not NULL; its name goes to name_out
 * (SPOOL_NAME_MAX bytes) when not NULL. */
static void deliver(struct fixture *f, const unsigned char *pk, const char *flags,
                    const void *msg, size_t len, char *name_out)
{
	struct spool_delivery *d = spool_deliver_begin(f->spoolfd, pk, NULL);
	assert_non_null(d);
	if (flags != NULL)
		assert_int_equal(spool_write_flags(d, flags), SPOOL_OK);
	assert_int_equal(spool_write(d, msg, len), SPOOL_OK);
	assert_int_equal(spool_prepare(d), SPOOL_OK);
	assert_int_equal(spool_commit(d), SPOOL_OK);
	if (name_out != NULL) {
		assert_true(strlen(spool_name(d)) < SPOOL_NAME_MAX);
		memcpy(name_out, spool_name(d), strlen(spool_name(d)) + 1);
	}
	spool_free(&d);
}

#endif
