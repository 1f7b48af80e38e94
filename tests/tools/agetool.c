/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* Test helper around lib/age: lets the interoperability tests check our age
 * files against the `age` tool in both directions. Trust: test-only.
 *
 *   agetool keygen            identity line, then recipient line
 *   agetool pubkey IDENTITY   recipient of an identity
 *   agetool seal RECIPIENT    stdin -> age file on stdout
 *   agetool open IDENTITY     age file on stdin -> plaintext on stdout
 *   agetool bench             seal/open throughput at 10 KB and 1 MB
 *
 * Exit: 0 ok, 1 failure (reason on stderr), 2 usage. */
#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "crypto/age.h"
#include "base/buf.h"
#include "base/mem.h"
#include "base/rnd.h"

#define AGETOOL_READ 65536

static int write_all(void *ctx, const unsigned char *p, size_t n)
{
	int fd = *(int *)ctx;
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static int cmd_keygen(void)
{
	unsigned char pk[AGE_KEY_LEN], sk[AGE_KEY_LEN];
	char id[AGE_IDENTITY_MAX], rcpt[AGE_RECIPIENT_MAX];
	age_keypair(pk, sk);
	if (age_identity_encode(sk, id, sizeof(id)) < 0 ||
	    age_recipient_encode(pk, rcpt, sizeof(rcpt)) < 0)
		return 1;
	sodium_memzero(sk, sizeof(sk));
	printf("%s\n%s\n", id, rcpt);
	sodium_memzero(id, sizeof(id));
	return fflush(stdout) == 0 ? 0 : 1;
}

static int cmd_pubkey(const char *identity)
{
	unsigned char pk[AGE_KEY_LEN], sk[AGE_KEY_LEN];
	char rcpt[AGE_RECIPIENT_MAX];
	if (age_identity_decode(identity, sk) != 1) {
		fprintf(stderr, "agetool: malformed identity\n");
		return 1;
	}
	age_public_from_secret(sk, pk);
	sodium_memzero(sk, sizeof(sk));
	if (age_recipient_encode(pk, rcpt, sizeof(rcpt)) < 0)
		return 1;
	printf("%s\n", rcpt);
	return fflush(stdout) == 0 ? 0 : 1;
}

static int cmd_seal(const char *recipient)
{
	unsigned char pk[AGE_KEY_LEN];
	int fd = 1;
	if (age_recipient_decode(recipient, pk) != 1) {
		fprintf(stderr, "agetool: malformed recipient\n");
		return 1;
	}
	struct age_seal *s = age_seal_begin(pk, write_all, &fd);
	if (s == NULL) {
		fprintf(stderr, "agetool: cannot seal to this recipient\n");
		return 1;
	}
	unsigned char *rbuf = mem_alloc(AGETOOL_READ);
	int rc = 1;
	for (;;) {
		ssize_t r = read(0, rbuf, AGETOOL_READ);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			break;
		if (r == 0) {
			rc = age_seal_final(s) == 0 ? 0 : 1;
			break;
		}
		if (age_seal_update(s, rbuf, (size_t)r) < 0)
			break;
	}
	if (rc != 0)
		fprintf(stderr, "agetool: seal failed\n");
	age_seal_free(&s);
	free(rbuf);
	return rc;
}

static int cmd_open(const char *identity)
{
	unsigned char sk[AGE_KEY_LEN];
	int fd = 1;
	if (age_identity_decode(identity, sk) != 1) {
		fprintf(stderr, "agetool: malformed identity\n");
		return 1;
	}
	struct age_open *o = age_open_new(sk, write_all, &fd);
	sodium_memzero(sk, sizeof(sk));
	unsigned char *rbuf = mem_alloc(AGETOOL_READ);
	int rc = 1;
	for (;;) {
		ssize_t r = read(0, rbuf, AGETOOL_READ);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			fprintf(stderr, "agetool: read: %s\n", strerror(errno));
			break;
		}
		if (r == 0) {
			rc = age_open_final(o) == 0 ? 0 : 1;
			break;
		}
		if (age_open_update(o, rbuf, (size_t)r) < 0)
			break;
	}
	if (rc != 0 && age_open_error(o) != NULL)
		fprintf(stderr, "agetool: %s\n", age_open_error(o));
	age_open_free(&o);
	free(rbuf);
	return rc;
}

/* ---- bench ---- */

static int sink_buf(void *ctx, const unsigned char *p, size_t n)
{
	buf_append(ctx, p, n);
	return 0;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int bench_one(size_t size, const unsigned char pk[AGE_KEY_LEN],
		     const unsigned char sk[AGE_KEY_LEN])
{
	unsigned char *msg = mem_alloc(size);
	rnd_bytes(msg, size);
	struct buf sealed = BUF_INIT, plain = BUF_INIT;
	/* Enough rounds for about 64 MB of work, at least 200. */
	unsigned rounds = (unsigned)(64 * 1024 * 1024 / size);
	if (rounds < 200)
		rounds = 200;
	double t0 = now_s();
	for (unsigned i = 0; i < rounds; i++) {
		buf_reset(&sealed);
		struct age_seal *s = age_seal_begin(pk, sink_buf, &sealed);
		if (s == NULL || age_seal_update(s, msg, size) < 0 || age_seal_final(s) < 0)
			return -1;
		age_seal_free(&s);
	}
	double t1 = now_s();
	for (unsigned i = 0; i < rounds; i++) {
		buf_reset(&plain);
		struct age_open *o = age_open_new(sk, sink_buf, &plain);
		if (age_open_update(o, sealed.data, sealed.len) < 0 || age_open_final(o) < 0)
			return -1;
		age_open_free(&o);
	}
	double t2 = now_s();
	if (plain.len != size || memcmp(plain.data, msg, size) != 0)
		return -1;
	double mb = (double)size * rounds / 1e6;
	printf("size %7zu B: seal %8.1f MB/s (%7.1f us/msg), open %8.1f MB/s (%7.1f us/msg), "
	       "%u rounds\n",
	       size, mb / (t1 - t0), (t1 - t0) / rounds * 1e6, mb / (t2 - t1),
	       (t2 - t1) / rounds * 1e6, rounds);
	buf_free(&sealed);
	buf_free(&plain);
	free(msg);
	return 0;
}

static int cmd_bench(void)
{
	unsigned char pk[AGE_KEY_LEN], sk[AGE_KEY_LEN];
	age_keypair(pk, sk);
	int r = bench_one(10 * 1000, pk, sk) == 0 && bench_one(1000 * 1000, pk, sk) == 0 ? 0 : 1;
	sodium_memzero(sk, sizeof(sk));
	return r;
}

int main(int argc, char **argv)
{
	if (argc == 2 && strcmp(argv[1], "keygen") == 0)
		return cmd_keygen();
	if (argc == 2 && strcmp(argv[1], "bench") == 0)
		return cmd_bench();
	if (argc == 3 && strcmp(argv[1], "pubkey") == 0)
		return cmd_pubkey(argv[2]);
	if (argc == 3 && strcmp(argv[1], "seal") == 0)
		return cmd_seal(argv[2]);
	if (argc == 3 && strcmp(argv[1], "open") == 0)
		return cmd_open(argv[2]);
	fprintf(stderr, "usage: agetool keygen | pubkey IDENTITY | seal RECIPIENT | "
			"open IDENTITY | bench\n");
	return 2;
}
