/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* storebench DIR [N [SIZE [OPENS]]]: measures the mailbox store and the spool
 * on the disk holding DIR (a scratch directory that must not exist yet):
 *   open       store_open + store_close with the right key, ms per open
 *   deliver    spool_deliver_begin..commit (fsync file, rename, fsync dir)
 *   import     N spool files of SIZE bytes imported in one transaction
 *   append     N appends of SIZE bytes, one transaction (COMMIT + fsync) each
 * Prints one "name value unit" line per figure. Trust: test tool. */
#include <bsd/stdlib.h>
#include <limits.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/fmt.h"
#include "crypto/age.h"
#include "base/buf.h"
#include "base/rnd.h"
#include "data/spool.h"
#include "data/store.h"
#include "base/timeutil.h"

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void die(const char *what, const char *why)
{
	fprintf(stderr, "storebench: %s: %s\n", what, why != NULL ? why : "failed");
	exit(1);
}

static void make_msg(struct buf *m, size_t size, unsigned seed)
{
	buf_reset(m);
	buf_printf(m, "From: bench@example.test\r\nSubject: bench %u\r\n\r\n", seed);
	while (m->len < size)
		buf_printf(m, "line %u of message %u with some text to fill it up\r\n",
		           (unsigned)m->len, seed);
	buf_truncate(m, size);
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: storebench DIR [N [SIZE [OPENS]]]\n");
		return 2;
	}
	const char *dir = argv[1];
	const char *e1 = NULL, *e2 = NULL, *e3 = NULL;
	size_t n = argc > 2 ? (size_t)strtonum(argv[2], 1, INT_MAX, &e1) : 1000;
	size_t size = argc > 3 ? (size_t)strtonum(argv[3], 64, INT_MAX, &e2) : 10240;
	int opens = argc > 4 ? (int)strtonum(argv[4], 1, INT_MAX, &e3) : 200;
	if (e1 != NULL || e2 != NULL || e3 != NULL)
		die("arguments", "N >= 1, SIZE >= 64, OPENS >= 1");
	if (mkdir(dir, 0700) < 0)
		die(dir, "cannot create (must not exist)");
	char path[4096];
	if (fmt_name(path, sizeof(path), "%s/mailbox.db", dir) < 0)
		die(dir, "path too long");
	int userfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (userfd < 0 || spool_create_dirs(userfd) < 0)
		die("spool", "cannot create");
	int spoolfd = openat(userfd, "spool", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	unsigned char mk[STORE_KEY_LEN], pk[AGE_KEY_LEN], sk[AGE_KEY_LEN];
	rnd_bytes(mk, sizeof(mk));
	age_keypair(pk, sk);
	const char *err = NULL;
	double t0 = now_ms();
	struct store *st = store_create(path, mk, sk, &err);
	if (st == NULL)
		die("create", err);
	printf("create %.3f ms\n", now_ms() - t0);
	struct store_folder inbox;
	if (store_folder_get(st, "INBOX", &inbox) != 1)
		die("INBOX", NULL);

	struct buf msg = BUF_INIT;
	/* Append, one transaction per message. */
	t0 = now_ms();
	for (size_t i = 0; i < n; i++) {
		make_msg(&msg, size, (unsigned)i);
		if (store_append(st, inbox.id, msg.data, msg.len, 1700000000, 0, NULL, NULL, NULL) <
		    0)
			die("append", store_error(st));
	}
	double dt = now_ms() - t0;
	printf("append %zu x %zu B: %.1f ms, %.0f msg/s\n", n, size, dt, n / (dt / 1e3));

	/* Deliver to the spool, each committed on its own as the MX does. */
	t0 = now_ms();
	for (size_t i = 0; i < n; i++) {
		make_msg(&msg, size, (unsigned)(n + i));
		struct spool_delivery *d = spool_deliver_begin(spoolfd, pk, NULL);
		if (d == NULL || spool_write(d, msg.data, msg.len) != SPOOL_OK ||
		    spool_prepare(d) != SPOOL_OK || spool_commit(d) != SPOOL_OK)
			die("deliver", NULL);
		spool_free(&d);
	}
	dt = now_ms() - t0;
	printf("deliver %zu x %zu B: %.1f ms, %.0f msg/s\n", n, size, dt, n / (dt / 1e3));

	/* Import all of them in one transaction. */
	struct store_import_stats stats;
	t0 = now_ms();
	if (store_import_spool(st, spoolfd, size + 4096, &stats, &err) < 0)
		die("import", err);
	dt = now_ms() - t0;
	if (stats.imported != n)
		die("import", "count differs");
	printf("import %zu x %zu B: %.1f ms, %.0f msg/s\n", n, size, dt, n / (dt / 1e3));
	store_folder_clear(&inbox);
	store_close(&st);

	/* Open with the right key (warm page cache, warm process). */
	t0 = now_ms();
	st = store_open(path, mk, &err);
	if (st == NULL)
		die("open", err);
	printf("first-open %.3f ms\n", now_ms() - t0);
	store_close(&st);
	/* Alone, where the closing connection is the last one (it checkpoints
	 * and removes -wal/-shm, which the next open creates again), and next
	 * to another open connection, as with concurrent sessions. */
	for (int round = 0; round < 2; round++) {
		struct store *other = round == 1 ? store_open(path, mk, &err) : NULL;
		double best = 1e9, total_open = 0, total_close = 0;
		for (int i = 0; i < opens; i++) {
			double a = now_ms();
			st = store_open(path, mk, &err);
			if (st == NULL)
				die("open", err);
			double b = now_ms();
			store_close(&st);
			double c = now_ms();
			total_open += b - a;
			total_close += c - b;
			if (b - a < best)
				best = b - a;
		}
		printf("open%s %.3f ms mean, %.3f ms min; close %.3f ms mean (%d opens, %zu "
		       "messages)\n",
		       round == 1 ? "-with-other-session" : "", total_open / opens, best,
		       total_close / opens, opens, 2 * n);
		store_close(&other);
	}

	/* Import with nothing to do (every login without new mail). */
	st = store_open(path, mk, &err);
	t0 = now_ms();
	for (int i = 0; i < opens; i++)
		if (store_import_spool(st, spoolfd, size + 4096, NULL, &err) < 0)
			die("import", err);
	printf("empty-import %.3f ms\n", (now_ms() - t0) / opens);
	store_close(&st);
	buf_free(&msg);
	close(spoolfd);
	close(userfd);
	return 0;
}
