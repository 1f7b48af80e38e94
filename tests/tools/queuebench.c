/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* queuebench: what one acknowledged message costs on this disk, queue
 * against spool (docs/SENDING.md section 2).
 *     queuebench queue|spool DIR SIZE COUNT [read]
 * Writes COUNT messages of SIZE bytes through lib/data/queue (enqueue,
 * prepare, commit: 3 fsyncs) or lib/data/spool (2 fsyncs) into DIR, one
 * after the other, and prints messages/s; with "read" (queue only), then
 * reads every envelope and state back with the secret key. Run several at
 * once on one DIR for concurrent writers. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "crypto/age.h"
#include "data/queue.h"
#include "data/spool.h"

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static int one_enqueue(int qfd, const unsigned char *pk, const unsigned char *msg, size_t size)
{
	struct queue_env e;
	memset(&e, 0, sizeof(e));
	memcpy(e.handler, "submitd", 8);
	memcpy(e.from, "a@example.org", 14);
	queue_env_add_rcpt(&e, "b@example.net", 0, "");
	struct queue_enqueue *q = queue_enqueue_begin(qfd, pk, NULL);
	int rc = q != NULL && queue_enqueue_write(q, msg, size) == QUEUE_OK &&
			 queue_enqueue_prepare(q, &e) == QUEUE_OK && queue_enqueue_commit(q) == QUEUE_OK
		     ? 0
		     : -1;
	queue_enqueue_free(&q);
	queue_env_clear(&e);
	return rc;
}

static int one_spool(int sfd, const unsigned char *pk, const unsigned char *msg, size_t size)
{
	struct spool_delivery *d = spool_deliver_begin(sfd, pk, NULL);
	int rc = d != NULL && spool_write(d, msg, size) == SPOOL_OK && spool_prepare(d) == SPOOL_OK &&
			 spool_commit(d) == SPOOL_OK
		     ? 0
		     : -1;
	spool_free(&d);
	return rc;
}

static int read_back(int qfd, const unsigned char *sk)
{
	struct queue_entry *list;
	size_t n;
	double t0 = now();
	if (queue_list(qfd, &list, &n) < 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		struct queue_env e;
		struct queue_state st;
		const char *err;
		if (queue_read_meta(qfd, list[i].id, sk, &e, &st, &err) < 0)
			return -1;
		queue_env_clear(&e);
		queue_state_clear(&st);
	}
	free(list);
	printf("read envelope and state of %zu messages: %.3f ms each\n", n,
	       n ? (now() - t0) * 1000 / (double)n : 0.0);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 5) {
		fprintf(stderr, "usage: queuebench queue|spool DIR SIZE COUNT [read]\n");
		return 2;
	}
	bool queue = strcmp(argv[1], "queue") == 0;
	size_t size = strtoul(argv[3], NULL, 10);
	long count = strtol(argv[4], NULL, 10);
	int dfd = open(argv[2], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	unsigned char pk[AGE_KEY_LEN], sk[AGE_KEY_LEN];
	int fd = -1;
	if (dfd < 0)
		return 1;
	if (queue) {
		if (queue_create_dirs(dfd) < 0 ||
		    (fd = openat(dfd, "queue", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0 ||
		    queue_keys_create(fd) < 0 || queue_pubkey_load(fd, pk) < 0 ||
		    queue_seckey_load(fd, QUEUE_KEY_FILE, sk) < 0)
			return 1;
	} else {
		age_keypair(pk, sk);
		if (spool_create_dirs(dfd) < 0 ||
		    (fd = openat(dfd, "spool", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
			return 1;
	}
	unsigned char *msg = malloc(size ? size : 1);
	if (msg == NULL)
		return 1;
	memset(msg, 'x', size);
	double t0 = now();
	for (long i = 0; i < count; i++)
		if ((queue ? one_enqueue(fd, pk, msg, size) : one_spool(fd, pk, msg, size)) < 0)
			return 1;
	double el = now() - t0;
	printf("%s %zu B: %.0f msg/s (%.3f ms each)\n", argv[1], size, (double)count / el,
	       el * 1000 / (double)count);
	if (queue && argc > 5 && strcmp(argv[5], "read") == 0 && read_back(fd, sk) < 0)
		return 1;
	free(msg);
	return 0;
}
