/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* Fuzz target: the spool import of a login (lib/data/store_import.c with
 * lib/data/spool.c and the age decryption of lib/crypto/age.c) into a real
 * mailbox (SQLCipher) in a temporary directory, made once per process.
 *
 * Input: one control byte, then the payload. Bit 0 of the control byte
 * seals the payload to the mailbox's sealing key first (age, a fixed test
 * key), so that mutations reach the plaintext: the X-Sealmail-Flags field,
 * its flags, keywords and folder= routing, and the message stored; without
 * it the payload is the spool file itself. Bit 1 splits the payload in two
 * spool files at a point given by the next byte.
 *
 * Checks: the import succeeds; spool/new is empty afterwards; every file is
 * either imported or set aside in spool/bad; a sealed file within the size
 * limit is imported; no stored message keeps an X-Sealmail-Flags field in
 * its header. The imported messages are then expunged and spool/bad is
 * emptied, so every input starts from the same mailbox. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crypto/age.h"
#include "data/spool.h"
#include "data/store.h"
#include "proto/mime.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Small, so that the limit is reached now and then. */
#define FZ_MAX_PLAIN 3000

static struct store *fz_st;
static char fz_dir[256];
static int fz_userfd = -1, fz_spoolfd = -1;
static unsigned char fz_pk[AGE_KEY_LEN];
static uint64_t fz_serial;

static void fz_rm_entries(int dirfd, const char *sub)
{
	int fd = openat(dirfd, sub, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return;
	DIR *d = fdopendir(fd);
	struct dirent *e;
	while (d != NULL && (e = readdir(d)) != NULL)
		if (e->d_name[0] != '.' && unlinkat(fd, e->d_name, 0) < 0)
			unlinkat(fd, e->d_name, AT_REMOVEDIR);
	if (d != NULL)
		closedir(d);
	else
		close(fd);
}

static void fz_cleanup(void)
{
	static const char *const files[] = {"mailbox.db", "mailbox.db-wal", "mailbox.db-shm"};
	store_close(&fz_st);
	fz_rm_entries(fz_spoolfd, "new");
	fz_rm_entries(fz_spoolfd, "bad");
	fz_rm_entries(fz_spoolfd, "tmp");
	fz_rm_entries(fz_userfd, "spool");
	unlinkat(fz_userfd, "spool", AT_REMOVEDIR);
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++)
		unlinkat(fz_userfd, files[i], 0);
	rmdir(fz_dir);
}

static void fz_init(void)
{
	/* A file system in memory when there is one: every input commits
	 * (fsync) and the disk would set the pace. */
	const char *tmp = getenv("TMPDIR");
	if (tmp == NULL && access("/dev/shm", W_OK) == 0)
		tmp = "/dev/shm";
	const char *err = NULL;
	unsigned char mk[STORE_KEY_LEN], sk[AGE_KEY_LEN];
	char db[300];
	int n = snprintf(fz_dir, sizeof(fz_dir), "%s/fuzz_spoolimport.XXXXXX",
	                 tmp != NULL ? tmp : "/tmp");
	if (n < 0 || (size_t)n >= sizeof(fz_dir) || mkdtemp(fz_dir) == NULL)
		abort();
	n = snprintf(db, sizeof(db), "%s/mailbox.db", fz_dir);
	if (n < 0 || (size_t)n >= sizeof(db))
		abort();
	fz_userfd = open(fz_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fz_userfd < 0 || spool_create_dirs(fz_userfd) < 0)
		abort();
	fz_spoolfd = openat(fz_userfd, "spool", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fz_spoolfd < 0)
		abort();
	memset(mk, 0x33, sizeof(mk));
	for (size_t i = 0; i < sizeof(sk); i++)
		sk[i] = (unsigned char)(0x40 + i);
	age_public_from_secret(sk, fz_pk);
	fz_st = store_create(db, mk, sk, &err);
	if (fz_st == NULL)
		abort();
	atexit(fz_cleanup);
}

/* Write one spool file into spool/new, sealed or as it is. */
static void fz_spool_file(const uint8_t *p, size_t n, bool sealed)
{
	char name[SPOOL_NAME_MAX];
	/* "<unix-microseconds>.<16 hex>", unique within the process. */
	int k = snprintf(name, sizeof(name), "%llu.%016llx",
	                 (unsigned long long)(1700000000000000ull + fz_serial),
	                 (unsigned long long)fz_serial);
	fz_serial++;
	if (k < 0 || (size_t)k >= sizeof(name))
		abort();
	int dfd = openat(fz_spoolfd, "new", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int fd = dfd < 0 ? -1 : openat(dfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
	if (fd < 0)
		abort();
	if (sealed) {
		if (age_seal_to_fd(fz_pk, p, n, fd) < 0)
			abort();
	} else if (n > 0 && write(fd, p, n) != (ssize_t)n) {
		abort();
	}
	close(fd);
	close(dfd);
}

static size_t fz_count(const char *sub)
{
	int fd = openat(fz_spoolfd, sub, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = fd < 0 ? NULL : fdopendir(fd);
	struct dirent *e;
	size_t n = 0;
	if (fd < 0 && errno == ENOENT)
		return 0; /* spool/bad is made when first needed */
	if (d == NULL)
		abort();
	while ((e = readdir(d)) != NULL)
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

/* No X-Sealmail-Flags field may be left in a stored message's header. */
static void fz_check_message(const struct buf *raw)
{
	struct mime_header_iter it;
	struct mime_header_field f;
	mime_header_iter_init(&it, raw->data != NULL ? raw->data : (const unsigned char *)"",
	                      raw->len);
	while (mime_header_next(&it, &f) == 1)
		if (f.has_colon && mime_header_name_is(&f, SPOOL_FLAGS_FIELD))
			abort();
}

/* Check and expunge every message; returns how many there were. */
static size_t fz_drain(void)
{
	struct store_folder *fl = NULL;
	size_t nf = 0, total = 0;
	if (store_folder_list(fz_st, &fl, &nf) < 0)
		abort();
	for (size_t i = 0; i < nf; i++) {
		uint32_t *uids = NULL;
		size_t n = 0;
		if (store_uids(fz_st, fl[i].id, &uids, &n) < 0)
			abort();
		for (size_t j = 0; j < n; j++) {
			struct buf raw = BUF_INIT;
			if (store_fetch_raw(fz_st, fl[i].id, uids[j], &raw) != 1)
				abort();
			fz_check_message(&raw);
			buf_free(&raw);
		}
		if (n > 0 && store_expunge(fz_st, fl[i].id, uids, n, NULL, NULL) < 0)
			abort();
		total += n;
		free(uids);
	}
	store_folder_list_free(&fl, nf);
	return total;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (fz_st == NULL)
		fz_init();
	if (size < 2)
		return 0;
	bool sealed = (data[0] & 1) != 0, two = (data[0] & 2) != 0;
	const uint8_t *p = data + 2;
	size_t n = size - 2, cut = two ? (n * data[1]) / 256 : n;
	fz_spool_file(p, cut, sealed);
	if (two)
		fz_spool_file(p + cut, n - cut, sealed);
	size_t files = two ? 2 : 1;

	struct store_import_stats stats;
	const char *err = NULL;
	if (store_import_spool(fz_st, fz_spoolfd, FZ_MAX_PLAIN, &stats, &err) < 0)
		abort();
	size_t bad = fz_count("bad");
	if (fz_count("new") != 0 || stats.imported + bad != files || stats.bad != bad ||
	    stats.leftovers != 0 || stats.removed != 0)
		abort();
	/* A sealed file decrypts; only the size limit can set it aside. */
	if (sealed && cut <= FZ_MAX_PLAIN && n - cut <= FZ_MAX_PLAIN && bad != 0)
		abort();
	if (fz_drain() != stats.imported)
		abort();
	fz_rm_entries(fz_spoolfd, "bad");
	return 0;
}
