/* SPDX-License-Identifier: AGPL-3.0-or-later */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/fmt.h"
#include "crypto/age.h"
#include "base/buf.h"
#include "data/spool.h"
#include "base/timeutil.h"

struct fixture {
	char dir[64];
	int userfd, spoolfd;
	unsigned char pk[AGE_KEY_LEN], sk[AGE_KEY_LEN];
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	assert_int_equal(fmt_name(f->dir, sizeof(f->dir), "/tmp/test_spool.XXXXXX"), 0);
	if (mkdtemp(f->dir) == NULL)
		return -1;
	f->userfd = open(f->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (f->userfd < 0 || spool_create_dirs(f->userfd) < 0)
		return -1;
	f->spoolfd = openat(f->userfd, "spool", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
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
	assert_int_equal(fmt_name(cmd, sizeof(cmd), "rm -rf '%s'", f->dir), 0);
	if (system(cmd) != 0)
		return -1;
	free(f);
	return 0;
}

/* Names of the spool files in spool/<sub>, up to max. */
static size_t list_dir(struct fixture *f, const char *sub, char names[][SPOOL_NAME_MAX], size_t max)
{
	int fd = openat(f->spoolfd, sub, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(fd >= 0);
	DIR *d = fdopendir(fd);
	assert_non_null(d);
	size_t n = 0;
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		if (n < max)
			assert_int_equal(fmt_name(names[n], SPOOL_NAME_MAX, "%s", de->d_name), 0);
		n++;
	}
	closedir(d);
	return n;
}

static size_t count_dir(struct fixture *f, const char *sub)
{
	char names[1][SPOOL_NAME_MAX];
	return list_dir(f, sub, names, 0);
}

static void make_msg(struct buf *m, size_t size, unsigned seed)
{
	buf_reset(m);
	buf_printf(m, "From: a@example.test\r\nSubject: test %u\r\n\r\n", seed);
	while (m->len < size)
		buf_printf(m, "line %u of message %u, some body text.\r\n", (unsigned)m->len, seed);
}

/* Deliver msg in pieces of step bytes; returns the name. */
static void deliver(struct fixture *f, const struct buf *msg, size_t step, char *name_out)
{
	enum spool_result r = SPOOL_ERROR;
	struct spool_delivery *d = spool_deliver_begin(f->spoolfd, f->pk, &r);
	assert_non_null(d);
	assert_int_equal(r, SPOOL_OK);
	for (size_t off = 0; off < msg->len; off += step) {
		size_t n = msg->len - off < step ? msg->len - off : step;
		assert_int_equal(spool_write(d, msg->data + off, n), SPOOL_OK);
	}
	assert_int_equal(spool_plain_bytes(d), msg->len);
	assert_int_equal(spool_prepare(d), SPOOL_OK);
	assert_int_equal(spool_commit(d), SPOOL_OK);
	assert_int_equal(fmt_name(name_out, SPOOL_NAME_MAX, "%s", spool_name(d)), 0);
	spool_free(&d);
	assert_null(d);
}

static void open_sealed(struct fixture *f, const char *sub, const char *name, struct buf *out)
{
	char path[128];
	assert_int_equal(fmt_name(path, sizeof(path), "%s/%s", sub, name), 0);
	int fd = openat(f->spoolfd, path, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	const char *err = NULL;
	assert_int_equal(age_open_fd(f->sk, fd, out, 1 << 26, &err), 0);
	close(fd);
}

static void test_create_dirs_modes(void **state)
{
	struct fixture *f = *state;
	static const char *const dirs[] = {"spool", "spool/tmp", "spool/new"};
	for (size_t i = 0; i < 3; i++) {
		struct stat st;
		assert_int_equal(fstatat(f->userfd, dirs[i], &st, 0), 0);
		assert_true(S_ISDIR(st.st_mode));
		assert_int_equal(st.st_mode & 07777, SPOOL_DIR_MODE);
	}
	/* Idempotent. */
	assert_int_equal(spool_create_dirs(f->userfd), 0);
}

static void test_name_parse(void **state)
{
	int64_t us = 0;
	assert_int_equal(spool_name_parse("1700000000123456.0123456789abcdef", &us), 1);
	assert_int_equal(us, 1700000000123456LL);
	static const char *const bad[] = {
	    "",
	    ".0123456789abcdef",
	    "1700000000123456.0123456789abcde",
	    "1700000000123456.0123456789abcdef0",
	    "1700000000123456.0123456789ABCDEF",
	    "1700000000123456_0123456789abcdef",
	    "17000000001234x6.0123456789abcdef",
	    "99999999999999999999.0123456789abcdef",
	    "1700000000123456.0123456789abcdef.tmp",
	    "../1.0123456789abcdef",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(spool_name_parse(bad[i], NULL), 0);
}

static void test_deliver_roundtrip(void **state)
{
	struct fixture *f = *state;
	struct buf msg = BUF_INIT, out = BUF_INIT;
	char name[SPOOL_NAME_MAX], names[2][SPOOL_NAME_MAX];
	make_msg(&msg, 200000, 1); /* several age chunks */
	int64_t before = timeutil_now_us();
	deliver(f, &msg, 7777, name);
	int64_t after = timeutil_now_us(), us = 0;
	assert_int_equal(spool_name_parse(name, &us), 1);
	assert_true(us >= before && us <= after);
	assert_int_equal(count_dir(f, "tmp"), 0);
	assert_int_equal(list_dir(f, "new", names, 2), 1);
	assert_string_equal(names[0], name);
	struct stat st;
	char path[128];
	assert_int_equal(fmt_name(path, sizeof(path), "new/%s", name), 0);
	assert_int_equal(fstatat(f->spoolfd, path, &st, 0), 0);
	assert_int_equal(st.st_mode & 0777, SPOOL_FILE_MODE);
	/* The sealed file is not the plaintext. */
	assert_true((size_t)st.st_size > msg.len);
	open_sealed(f, "new", name, &out);
	assert_int_equal(out.len, msg.len);
	assert_memory_equal(out.data, msg.data, msg.len);
	buf_free(&msg);
	buf_free(&out);
}

static void test_flags_field(void **state)
{
	struct fixture *f = *state;
	struct spool_delivery *d = spool_deliver_begin(f->spoolfd, f->pk, NULL);
	assert_non_null(d);
	assert_int_equal(spool_write_flags(d, ""), SPOOL_ERROR);
	assert_int_equal(spool_write_flags(d, "\\Seen\r\nX-Evil: 1"), SPOOL_ERROR);
	assert_int_equal(spool_write_flags(d, "\\Seen $Quarantined folder=Junk"), SPOOL_OK);
	assert_int_equal(spool_write(d, "Subject: x\r\n\r\nbody\r\n", 20), SPOOL_OK);
	/* Only as the first line. */
	assert_int_equal(spool_write_flags(d, "\\Flagged"), SPOOL_ERROR);
	assert_int_equal(spool_prepare(d), SPOOL_OK);
	assert_int_equal(spool_commit(d), SPOOL_OK);
	char name[SPOOL_NAME_MAX];
	assert_int_equal(fmt_name(name, sizeof(name), "%s", spool_name(d)), 0);
	spool_free(&d);
	struct buf out = BUF_INIT;
	open_sealed(f, "new", name, &out);
	const char *want = "X-Sealmail-Flags: \\Seen $Quarantined folder=Junk\r\n"
	                   "Subject: x\r\n\r\nbody\r\n";
	assert_int_equal(out.len, strlen(want));
	assert_memory_equal(out.data, want, out.len);
	buf_free(&out);
}

static void test_abort_unlinks(void **state)
{
	struct fixture *f = *state;
	struct spool_delivery *d = spool_deliver_begin(f->spoolfd, f->pk, NULL);
	assert_non_null(d);
	assert_int_equal(spool_write(d, "x", 1), SPOOL_OK);
	assert_int_equal(count_dir(f, "tmp"), 1);
	spool_abort(&d);
	assert_null(d);
	assert_int_equal(count_dir(f, "tmp"), 0);
	/* Prepared but never committed: freeing aborts too. */
	d = spool_deliver_begin(f->spoolfd, f->pk, NULL);
	assert_int_equal(spool_write(d, "y", 1), SPOOL_OK);
	assert_int_equal(spool_prepare(d), SPOOL_OK);
	spool_free(&d);
	assert_int_equal(count_dir(f, "tmp"), 0);
	assert_int_equal(count_dir(f, "new"), 0);
}

static void test_order_enforced(void **state)
{
	struct fixture *f = *state;
	struct spool_delivery *d = spool_deliver_begin(f->spoolfd, f->pk, NULL);
	assert_int_equal(spool_commit(d), SPOOL_ERROR); /* not prepared */
	assert_int_equal(spool_prepare(d), SPOOL_OK);
	assert_int_equal(spool_write(d, "late", 4), SPOOL_ERROR);
	assert_int_equal(spool_prepare(d), SPOOL_ERROR);
	assert_int_equal(spool_commit(d), SPOOL_OK);
	assert_int_equal(spool_commit(d), SPOOL_ERROR);
	spool_free(&d);
	/* An empty message is still a valid age file. */
	assert_int_equal(count_dir(f, "new"), 1);
}

/* Two deliveries prepared (fsync'd) before either is renamed, as a
 * multi-recipient transaction does (DESIGN section 3). */
static void test_prepare_all_then_commit(void **state)
{
	struct fixture *f = *state;
	struct spool_delivery *d[3];
	for (int i = 0; i < 3; i++) {
		d[i] = spool_deliver_begin(f->spoolfd, f->pk, NULL);
		assert_non_null(d[i]);
		assert_int_equal(spool_write(d[i], "Subject: m\r\n\r\nx\r\n", 17), SPOOL_OK);
	}
	for (int i = 0; i < 3; i++)
		assert_int_equal(spool_prepare(d[i]), SPOOL_OK);
	assert_int_equal(count_dir(f, "tmp"), 3);
	assert_int_equal(count_dir(f, "new"), 0);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(spool_commit(d[i]), SPOOL_OK);
		spool_free(&d[i]);
	}
	assert_int_equal(count_dir(f, "tmp"), 0);
	assert_int_equal(count_dir(f, "new"), 3);
	assert_int_equal(spool_errno(d[0] = spool_deliver_begin(f->spoolfd, f->pk, NULL)), 0);
	spool_free(&d[0]);
}

/* A crash after writing but before the commit leaves a file in tmp/ that
 * was never acknowledged; the cleaner removes it once it is old. */
static void test_crash_before_commit_cleaned(void **state)
{
	struct fixture *f = *state;
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct spool_delivery *d = spool_deliver_begin(f->spoolfd, f->pk, NULL);
		if (d == NULL || spool_write(d, "Subject: lost\r\n\r\n", 17) != SPOOL_OK ||
		    spool_prepare(d) != SPOOL_OK)
			_exit(1);
		_exit(0); /* the "crash": no commit, no cleanup */
	}
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	char names[1][SPOOL_NAME_MAX];
	assert_int_equal(list_dir(f, "tmp", names, 1), 1);
	assert_int_equal(count_dir(f, "new"), 0);
	size_t removed = 99;
	assert_int_equal(spool_clean_tmp(f->spoolfd, SPOOL_TMP_MAX_AGE_S, &removed), 0);
	assert_int_equal(removed, 0); /* may still be in progress */
	struct timespec ts[2];
	ts[0].tv_sec = ts[1].tv_sec = time(NULL) - 2 * 24 * 3600;
	ts[0].tv_nsec = ts[1].tv_nsec = 0;
	char path[128];
	assert_int_equal(fmt_name(path, sizeof(path), "tmp/%s", names[0]), 0);
	assert_int_equal(utimensat(f->spoolfd, path, ts, 0), 0);
	assert_int_equal(spool_clean_tmp(f->spoolfd, SPOOL_TMP_MAX_AGE_S, &removed), 0);
	assert_int_equal(removed, 1);
	assert_int_equal(count_dir(f, "tmp"), 0);
}

static void test_usage(void **state)
{
	struct fixture *f = *state;
	struct buf msg = BUF_INIT;
	char name[SPOOL_NAME_MAX];
	uint64_t bytes = 1;
	size_t files = 1, expect = 0;
	assert_int_equal(spool_usage(f->spoolfd, &bytes, &files), 0);
	assert_int_equal(bytes, 0);
	assert_int_equal(files, 0);
	for (unsigned i = 0; i < 3; i++) {
		make_msg(&msg, 1000 * (i + 1), i);
		deliver(f, &msg, msg.len, name);
		char path[128];
		struct stat st;
		assert_int_equal(fmt_name(path, sizeof(path), "new/%s", name), 0);
		assert_int_equal(fstatat(f->spoolfd, path, &st, 0), 0);
		expect += (size_t)st.st_size;
	}
	/* A file in tmp/ does not count. */
	struct spool_delivery *d = spool_deliver_begin(f->spoolfd, f->pk, NULL);
	assert_int_equal(spool_write(d, msg.data, msg.len), SPOOL_OK);
	assert_int_equal(spool_usage(f->spoolfd, &bytes, &files), 0);
	assert_int_equal(bytes, expect);
	assert_int_equal(files, 3);
	spool_abort(&d);
	buf_free(&msg);
}

/* The independent check of DESIGN section 2: Debian's age tool decrypts a
 * spool file given the identity. */
static void test_age_tool_decrypts(void **state)
{
	struct fixture *f = *state;
	if (access("/usr/bin/age", X_OK) != 0)
		skip();
	struct buf msg = BUF_INIT;
	char name[SPOOL_NAME_MAX], ident[AGE_IDENTITY_MAX], cmd[512], path[128];
	make_msg(&msg, 70000, 9);
	deliver(f, &msg, 1000, name);
	assert_int_equal(age_identity_encode(f->sk, ident, sizeof(ident)), 0);
	assert_int_equal(fmt_name(path, sizeof(path), "%s/identity", f->dir), 0);
	FILE *fp = fopen(path, "w");
	assert_non_null(fp);
	fprintf(fp, "%s\n", ident);
	fclose(fp);
	assert_int_equal(
	    fmt_name(cmd, sizeof(cmd),
	             "/usr/bin/age -d -i '%s/identity' -o '%s/plain' '%s/spool/new/%s'", f->dir,
	             f->dir, f->dir, name),
	    0);
	assert_int_equal(system(cmd), 0);
	assert_int_equal(fmt_name(path, sizeof(path), "%s/plain", f->dir), 0);
	fp = fopen(path, "rb");
	assert_non_null(fp);
	struct buf out = BUF_INIT;
	char tmp[4096];
	size_t n;
	while ((n = fread(tmp, 1, sizeof(tmp), fp)) > 0)
		buf_append(&out, tmp, n);
	fclose(fp);
	assert_int_equal(out.len, msg.len);
	assert_memory_equal(out.data, msg.data, msg.len);
	buf_free(&out);
	buf_free(&msg);
}

/* ENOSPC is reported as SPOOL_NOSPACE (a 452, not a 451). Needs a small
 * tmpfs, so root in a private mount namespace; skipped otherwise. */
static void test_nospace(void **state)
{
	struct fixture *f = *state;
	if (geteuid() != 0)
		skip();
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		char mnt[128];
		if (unshare(CLONE_NEWNS) < 0 ||
		    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
			_exit(77);
		if (fmt_name(mnt, sizeof(mnt), "%s/small", f->dir) < 0) /* no cmocka in a child */
			_exit(2);
		if (mkdir(mnt, 0700) < 0 || mount("tmpfs", mnt, "tmpfs", 0, "size=64k") < 0)
			_exit(77);
		int ufd = open(mnt, O_RDONLY | O_DIRECTORY);
		if (ufd < 0 || spool_create_dirs(ufd) < 0)
			_exit(2);
		int sfd = openat(ufd, "spool", O_RDONLY | O_DIRECTORY);
		enum spool_result r = SPOOL_ERROR;
		struct spool_delivery *d = spool_deliver_begin(sfd, f->pk, &r);
		if (d == NULL)
			_exit(3);
		static char block[65536];
		memset(block, 'a', sizeof(block));
		for (int i = 0; i < 8 && r == SPOOL_OK; i++)
			r = spool_write(d, block, sizeof(block));
		if (r == SPOOL_OK)
			r = spool_prepare(d);
		if (r != SPOOL_NOSPACE || spool_errno(d) != ENOSPC)
			_exit(4);
		spool_abort(&d);
		/* The partial file is gone. */
		DIR *dir = fdopendir(openat(sfd, "tmp", O_RDONLY | O_DIRECTORY));
		struct dirent *de;
		while (dir != NULL && (de = readdir(dir)) != NULL)
			if (de->d_name[0] != '.')
				_exit(5);
		_exit(dir != NULL ? 0 : 6);
	}
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	if (WEXITSTATUS(status) == 77)
		skip();
	assert_int_equal(WEXITSTATUS(status), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_create_dirs_modes, setup, teardown),
	    cmocka_unit_test(test_name_parse),
	    cmocka_unit_test_setup_teardown(test_deliver_roundtrip, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_flags_field, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_abort_unlinks, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_order_enforced, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_prepare_all_then_commit, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_crash_before_commit_cleaned, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_usage, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_age_tool_decrypts, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_nospace, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
