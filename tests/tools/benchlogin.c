/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* Benchmark helper: the cost of one login's steps, as the back process runs
 * them (lib/login/loginback.c via account_unlock and account_open_mailbox):
 *   directory   open directory.db read-only and look the user up
 *   kdf         Argon2id with the parameters stored in the user's blob
 *   unwrap      keywrap_unwrap: the KDF again plus XChaCha20-Poly1305
 *   open        account_open_mailbox: SQLCipher open with the raw MK and the
 *               spool import (nothing to import unless the spool was filled)
 *   close       store_close
 *   benchlogin ADDRESS N        password on the first line of stdin
 * The first round runs in a fresh process (cold: libraries not yet
 * initialised, KDF memory not yet faulted in); the median of the other
 * N - 1 rounds is the warm figure. Prints one line per round kind, wall
 * time (…_ms) and this process's CPU time (…_cpu_ms; on a busy host the
 * wall time also holds the time spent waiting for a core):
 *   cold rounds=1 directory_ms=… kdf_ms=… unwrap_ms=… aead_ms=… open_ms=…
 *        close_ms=… directory_cpu_ms=… … imported=…
 *   warm rounds=N-1 …  (medians)
 * Config from $SEALMAIL_CONF. Exit: 0 ok, 1 wrong password or unknown user,
 * 2 usage, 3 error. Trust: test tool (it holds a password and MK). */
#include <bsd/stdlib.h>
#include <limits.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "data/account.h"
#include "sys/conf.h"
#include "crypto/kdf.h"
#include "crypto/keywrap.h"
#include "sys/log.h"
#include "base/mem.h"
#include "data/store.h"

#define BL_STEPS 6
enum { BL_DIR, BL_KDF, BL_UNWRAP, BL_AEAD, BL_OPEN, BL_CLOSE };
static const char *const bl_names[BL_STEPS] = {"directory", "kdf",  "unwrap",
                                               "aead",      "open", "close"};

static double clock_ms(clockid_t id)
{
	struct timespec ts;
	clock_gettime(id, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* Wall and CPU time of the steps of one round. */
struct bl_times {
	double wall[BL_STEPS], cpu[BL_STEPS];
};

struct bl_mark {
	double wall, cpu;
};

static struct bl_mark bl_now(void)
{
	return (struct bl_mark){clock_ms(CLOCK_MONOTONIC), clock_ms(CLOCK_PROCESS_CPUTIME_ID)};
}

static void bl_since(struct bl_times *t, int step, struct bl_mark m)
{
	struct bl_mark n = bl_now();
	t->wall[step] = n.wall - m.wall;
	t->cpu[step] = n.cpu - m.cpu;
}

static int dbl_cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/* One login; t receives the step times. 0 ok, 1 refused, 3 error. */
static int bl_round(const struct conf *c, const char *address, const char *pw, struct bl_times *t,
                    size_t *imported_r)
{
	const char *err = NULL;
	struct directory *d;
	struct directory_user u;
	struct bl_mark a = bl_now();
	if (directory_open(c->state_dir, DIRECTORY_READ, &d, &err) < 0) {
		fprintf(stderr, "benchlogin: %s\n", err);
		return 3;
	}
	int g = directory_user_get(d, address, &u);
	directory_close(&d);
	if (g != 1) {
		fprintf(stderr, "benchlogin: no user %s\n", address);
		return g == 0 ? 1 : 3;
	}
	bl_since(t, BL_DIR, a);

	struct kdf_params kp;
	unsigned char salt[KDF_SALT_LEN], key[KDF_KEY_LEN], mk[KEYWRAP_MK_LEN];
	if (keywrap_blob_params(u.pw_blob.data, u.pw_blob.len, &kp) != 1) {
		directory_user_clear(&u);
		return 3;
	}
	randombytes_buf(salt, sizeof(salt));
	a = bl_now();
	int r = kdf_derive(&kp, pw, strlen(pw), salt, key);
	bl_since(t, BL_KDF, a);
	sodium_memzero(key, sizeof(key));
	if (r < 0) {
		directory_user_clear(&u);
		return 3;
	}
	a = bl_now();
	r = keywrap_unwrap(u.id, KEYWRAP_PASSWORD, u.pw_blob.data, u.pw_blob.len, pw, strlen(pw),
	                   mk, &err);
	bl_since(t, BL_UNWRAP, a);
	/* unwrap = the same KDF + the AEAD; the difference is the AEAD and
	 * parsing (noise can make it slightly negative: clamp). */
	t->wall[BL_AEAD] =
	    t->wall[BL_UNWRAP] > t->wall[BL_KDF] ? t->wall[BL_UNWRAP] - t->wall[BL_KDF] : 0;
	t->cpu[BL_AEAD] =
	    t->cpu[BL_UNWRAP] > t->cpu[BL_KDF] ? t->cpu[BL_UNWRAP] - t->cpu[BL_KDF] : 0;
	if (r < 0) {
		fprintf(stderr, "benchlogin: %s\n", err);
		directory_user_clear(&u);
		return 1;
	}
	struct store_import_stats stats = {0};
	a = bl_now();
	struct store *st = account_open_mailbox(c, u.id, mk, &stats, &err);
	bl_since(t, BL_OPEN, a);
	sodium_memzero(mk, sizeof(mk));
	directory_user_clear(&u);
	if (st == NULL) {
		fprintf(stderr, "benchlogin: open: %s\n", err);
		return 3;
	}
	a = bl_now();
	store_close(&st);
	bl_since(t, BL_CLOSE, a);
	*imported_r = stats.imported;
	return 0;
}

static void bl_print(const char *kind, const struct bl_times *t, size_t imported, int rounds)
{
	printf("%s rounds=%d", kind, rounds);
	for (int i = 0; i < BL_STEPS; i++)
		printf(" %s_ms=%.3f", bl_names[i], t->wall[i]);
	for (int i = 0; i < BL_STEPS; i++)
		printf(" %s_cpu_ms=%.3f", bl_names[i], t->cpu[i]);
	printf(" imported=%zu\n", imported);
}

/* Median of v[0..n) (sorted in a scratch copy). */
static double bl_median(const double *v, size_t n, double *scratch)
{
	memcpy(scratch, v, n * sizeof(*scratch));
	qsort(scratch, n, sizeof(*scratch), dbl_cmp);
	return scratch[(n - 1) / 2];
}

int main(int argc, char **argv)
{
	const char *errstr = "missing";
	int n = argc == 3 ? (int)strtonum(argv[2], 1, INT_MAX, &errstr) : 0;
	if (errstr != NULL) {
		fprintf(stderr, "usage: benchlogin ADDRESS N < password (N >= 1)\n");
		return 2;
	}
	log_init("benchlogin");
	if (sodium_init() < 0)
		return 3;
	struct conf *c = conf_new();
	const char *err;
	if (conf_load(c, conf_path(NULL), &err) < 0) {
		fprintf(stderr, "benchlogin: %s\n", err);
		return 3;
	}
	char pw[1024];
	if (fgets(pw, sizeof(pw), stdin) == NULL)
		return 2;
	pw[strcspn(pw, "\r\n")] = '\0';
	struct bl_times t;
	size_t imported = 0;
	int rc = bl_round(c, argv[1], pw, &t, &imported);
	if (rc != 0)
		return rc;
	bl_print("cold", &t, imported, 1);
	if (n > 1) {
		size_t m = (size_t)n - 1;
		struct bl_times *all = mem_array(m, sizeof(*all));
		double *wall = mem_array(m, sizeof(double)), *cpu = mem_array(m, sizeof(double));
		double *scratch = mem_array(m, sizeof(double));
		for (size_t i = 0; i < m && rc == 0; i++)
			rc = bl_round(c, argv[1], pw, &all[i], &imported);
		if (rc == 0) {
			for (int s = 0; s < BL_STEPS; s++) {
				for (size_t i = 0; i < m; i++) {
					wall[i] = all[i].wall[s];
					cpu[i] = all[i].cpu[s];
				}
				t.wall[s] = bl_median(wall, m, scratch);
				t.cpu[s] = bl_median(cpu, m, scratch);
			}
			bl_print("warm", &t, imported, n - 1);
		}
		free(scratch);
		free(cpu);
		free(wall);
		free(all);
	}
	sodium_memzero(pw, sizeof(pw));
	conf_free(&c);
	return rc;
}
