/* SPDX-License-Identifier: AGPL-3.0-or-later */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "sys/conf.h"
#include "base/codec.h"
#include "crypto/kdf.h"
#include "crypto/kdf_hugepages.h"

static const char PW[] = "correct horse battery staple";
static const unsigned char SALT[KDF_SALT_LEN] = "sealmail-salt-16";

/* Expected values computed with Debian's argon2 tool (the reference
 * implementation), e.g.
 *   printf 'correct horse battery staple' |
 *     argon2 sealmail-salt-16 -id -t 2 -k 8 -p 1 -l 32 -r */
static void assert_kat(uint64_t ops, uint64_t mem, const char *hex)
{
	struct kdf_params p = {ops, mem};
	unsigned char out[KDF_KEY_LEN];
	char got[2 * KDF_KEY_LEN + 1];
	assert_int_equal(kdf_derive(&p, PW, strlen(PW), SALT, out), 0);
	codec_hex_encode(out, sizeof(out), got);
	assert_string_equal(got, hex);
}

static void test_kat_8k_t2(void **state)
{
	assert_kat(2, 8192, "508dc62516f1d58acda3704d353677430e75900faa95caf2ab43a8e81b8556e1");
}

static void test_kat_64k_t2(void **state)
{
	assert_kat(2, 65536, "8ccf5fb76b09b4b1a242d7be740ccd72fcfa8e5ff0cbaf37145f181d02ba05e3");
}

static void test_kat_64k_t1(void **state)
{
	assert_kat(1, 65536, "c9703e8f4c76b1903104b6cab9ae8107dba87bab3c6543f4bc6e96bd3ea571d6");
}

static void test_kat_defaults(void **state)
{
	/* 32 MiB, t = 2: the design's example cost. */
	assert_kat(2, 32ULL << 20,
	           "17da93b6f12dba5c0da711ef6bc45462480bef834e097b3a72354f065c96c03a");
}

static void derive_small(const char *pw, const unsigned char *salt, uint64_t ops, uint64_t mem,
                         unsigned char out[KDF_KEY_LEN])
{
	struct kdf_params p = {ops, mem};
	assert_int_equal(kdf_derive(&p, pw, strlen(pw), salt, out), 0);
}

static void test_deterministic(void **state)
{
	unsigned char a[KDF_KEY_LEN], b[KDF_KEY_LEN];
	derive_small(PW, SALT, 1, 16384, a);
	derive_small(PW, SALT, 1, 16384, b);
	assert_memory_equal(a, b, sizeof(a));
}

static void test_salt_sensitivity(void **state)
{
	unsigned char a[KDF_KEY_LEN], b[KDF_KEY_LEN], salt2[KDF_SALT_LEN];
	memcpy(salt2, SALT, sizeof(salt2));
	salt2[15] ^= 1;
	derive_small(PW, SALT, 1, 16384, a);
	derive_small(PW, salt2, 1, 16384, b);
	assert_memory_not_equal(a, b, sizeof(a));
}

static void test_password_sensitivity(void **state)
{
	unsigned char a[KDF_KEY_LEN], b[KDF_KEY_LEN];
	derive_small("password1", SALT, 1, 16384, a);
	derive_small("password2", SALT, 1, 16384, b);
	assert_memory_not_equal(a, b, sizeof(a));
}

static void test_memlimit_sensitivity(void **state)
{
	unsigned char a[KDF_KEY_LEN], b[KDF_KEY_LEN];
	derive_small(PW, SALT, 1, 16384, a);
	derive_small(PW, SALT, 1, 17408, b);
	assert_memory_not_equal(a, b, sizeof(a));
}

static void test_empty_password(void **state)
{
	unsigned char a[KDF_KEY_LEN];
	struct kdf_params p = {1, 8192};
	assert_int_equal(kdf_derive(&p, "", 0, SALT, a), 0);
}

static void test_params_out_of_bounds(void **state)
{
	static const struct kdf_params bad[] = {
	    {0, 65536},
	    {KDF_OPSLIMIT_MAX + 1, 65536},
	    {1, 4096},
	    {1, KDF_MEMLIMIT_MAX + 1},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		unsigned char out[KDF_KEY_LEN];
		memset(out, 0xaa, sizeof(out));
		assert_false(kdf_params_valid(&bad[i]));
		assert_int_equal(kdf_derive(&bad[i], PW, strlen(PW), SALT, out), -1);
		for (size_t j = 0; j < sizeof(out); j++)
			assert_int_equal(out[j], 0);
	}
}

static void test_params_default_and_conf(void **state)
{
	struct kdf_params d, c;
	struct conf *cf = conf_new();
	kdf_params_default(&d);
	kdf_params_from_conf(cf, &c);
	assert_int_equal(d.opslimit, 2);
	assert_int_equal(d.memlimit, 32 << 20);
	assert_int_equal(c.opslimit, d.opslimit);
	assert_int_equal(c.memlimit, d.memlimit);
	assert_true(kdf_params_valid(&d));
	const char *err;
	assert_int_equal(conf_set(cf, "kdf_memlimit", "19M", &err), 0);
	kdf_params_from_conf(cf, &c);
	assert_int_equal(c.memlimit, 19 << 20);
	conf_free(&cf);
}

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void test_dummy_costs_like_real(void **state)
{
	/* Only a lower bound (minimum of three runs each, interleaved, within a
	 * factor of three), because other processes may slow either side: the
	 * point is that the dummy runs a full derivation, not a shortcut. */
	struct kdf_params p = {2, 8 << 20};
	unsigned char out[KDF_KEY_LEN];
	double real = 1e9, dummy = 1e9;
	for (int i = 0; i < 3; i++) {
		double t0 = now_ms();
		assert_int_equal(kdf_derive(&p, PW, strlen(PW), SALT, out), 0);
		double t1 = now_ms();
		kdf_dummy(&p, PW, strlen(PW));
		double t2 = now_ms();
		if (t1 - t0 < real)
			real = t1 - t0;
		if (t2 - t1 < dummy)
			dummy = t2 - t1;
	}
	assert_true(dummy > real / 3);
}

/* ---- slots ---- */

static char tmpdir[64];

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	return remove(path);
}

static int setup_dir(void **state)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/sealmail-kdf-XXXXXX");
	return mkdtemp(tmpdir) == NULL ? -1 : 0;
}

static int teardown_dir(void **state)
{
	return nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* true when slot file i is locked by someone (a fresh open file
 * description cannot take it). */
static bool slot_locked(unsigned i)
{
	char path[128];
	snprintf(path, sizeof(path), "%s/kdf-slot.%u", tmpdir, i);
	int fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	bool locked = flock(fd, LOCK_EX | LOCK_NB) < 0 && errno == EWOULDBLOCK;
	close(fd);
	return locked;
}

static void test_slots_create_files(void **state)
{
	struct kdf_slots *s = kdf_slots_open(tmpdir, 3);
	assert_int_equal(kdf_slots_count(s), 3);
	for (unsigned i = 0; i < 3; i++)
		assert_false(slot_locked(i));
	kdf_slots_free(&s);
	assert_null(s);
}

static void test_slots_acquire_release(void **state)
{
	struct kdf_slots *s = kdf_slots_open(tmpdir, 1);
	assert_int_equal(kdf_slot_acquire(s), 0);
	assert_true(slot_locked(0));
	kdf_slot_release(s);
	assert_false(slot_locked(0));
	kdf_slots_free(&s);
}

static void test_slots_distinct_holders(void **state)
{
	struct kdf_slots *a = kdf_slots_open(tmpdir, 2), *b = kdf_slots_open(tmpdir, 2);
	assert_int_equal(kdf_slot_acquire(a), 0);
	assert_int_equal(kdf_slot_acquire(b), 0);
	/* Both tried without blocking, so they hold the two different slots. */
	assert_true(slot_locked(0));
	assert_true(slot_locked(1));
	kdf_slots_free(&a);
	assert_true(slot_locked(0) != slot_locked(1));
	kdf_slots_free(&b);
	assert_false(slot_locked(0));
	assert_false(slot_locked(1));
}

static void test_slots_double_acquire_refused(void **state)
{
	struct kdf_slots *s = kdf_slots_open(tmpdir, 2);
	assert_int_equal(kdf_slot_acquire(s), 0);
	assert_int_equal(kdf_slot_acquire(s), -1);
	assert_int_equal(errno, EBUSY);
	kdf_slots_free(&s);
}

static void test_slots_free_releases(void **state)
{
	struct kdf_slots *s = kdf_slots_open(tmpdir, 1);
	assert_int_equal(kdf_slot_acquire(s), 0);
	kdf_slots_free(&s);
	assert_false(slot_locked(0));
}

static void test_slots_zero_means_cpus(void **state)
{
	struct kdf_slots *s = kdf_slots_open(tmpdir, 0);
	assert_int_equal(kdf_slots_count(s), (unsigned)sysconf(_SC_NPROCESSORS_ONLN));
	kdf_slots_free(&s);
}

static void test_slots_missing_dir_unlimited(void **state)
{
	char dir[128];
	snprintf(dir, sizeof(dir), "%s/missing", tmpdir);
	struct kdf_slots *s = kdf_slots_open(dir, 2);
	assert_int_equal(kdf_slots_count(s), 0);
	assert_int_equal(kdf_slot_acquire(s), 0);
	kdf_slot_release(s);
	assert_int_equal(kdf_slot_acquire(s), 0);
	kdf_slots_free(&s);
}

/* In a child: acquire through s, then write one byte to fd. */
static pid_t acquire_in_child(struct kdf_slots *s, int fd)
{
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		alarm(30); /* never outlive a broken test */
		int r = kdf_slot_acquire(s);
		char c = r == 0 ? 'y' : 'n';
		if (write(fd, &c, 1) != 1)
			_exit(2);
		_exit(0);
	}
	return pid;
}

static char wait_byte(int fd, int timeout_ms)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	if (poll(&p, 1, timeout_ms) != 1)
		return 0;
	char c = 0;
	assert_int_equal(read(fd, &c, 1), 1);
	return c;
}

static void test_slots_full_blocks_until_release(void **state)
{
	int pfd[2];
	assert_int_equal(pipe(pfd), 0);
	struct kdf_slots *a = kdf_slots_open(tmpdir, 2), *b = kdf_slots_open(tmpdir, 2);
	struct kdf_slots *c = kdf_slots_open(tmpdir, 2);
	assert_int_equal(kdf_slot_acquire(a), 0);
	assert_int_equal(kdf_slot_acquire(b), 0);
	pid_t pid = acquire_in_child(c, pfd[1]);
	/* Both slots are taken: the child must still be waiting. */
	assert_int_equal(wait_byte(pfd[0], 300), 0);
	kdf_slot_release(a);
	kdf_slot_release(b);
	assert_int_equal(wait_byte(pfd[0], 10000), 'y');
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	kdf_slots_free(&a);
	kdf_slots_free(&b);
	kdf_slots_free(&c);
	close(pfd[0]);
	close(pfd[1]);
}

static void test_slots_fork_does_not_share_lock(void **state)
{
	/* The parent holds the only slot through s; a child using the same
	 * (inherited) s must wait for it, not share the parent's lock. */
	int pfd[2];
	assert_int_equal(pipe(pfd), 0);
	struct kdf_slots *s = kdf_slots_open(tmpdir, 1);
	assert_int_equal(kdf_slot_acquire(s), 0);
	pid_t pid = acquire_in_child(s, pfd[1]);
	assert_int_equal(wait_byte(pfd[0], 300), 0);
	assert_true(slot_locked(0));
	kdf_slot_release(s);
	assert_int_equal(wait_byte(pfd[0], 10000), 'y');
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	kdf_slots_free(&s);
	close(pfd[0]);
	close(pfd[1]);
}

/* mmap as libsodium calls it: the symbol "mmap" (this file's own calls to
 * mmap go to mmap64 under _FILE_OFFSET_BITS=64). */
void *lib_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off) __asm__("mmap");

/* VmFlags of the mapping that starts at p, from /proc/self/smaps. */
static bool vma_has_flag(const void *p, const char *flag)
{
	FILE *f = fopen("/proc/self/smaps", "r");
	assert_non_null(f);
	char line[512], want[32];
	snprintf(want, sizeof(want), "%lx-", (unsigned long)(uintptr_t)p);
	bool in = false, found = false;
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, want, strlen(want)) == 0)
			in = true;
		else if (in && strncmp(line, "VmFlags:", 8) == 0) {
			char *tok = strtok(line + 8, " \n");
			for (; tok; tok = strtok(NULL, " \n"))
				if (strcmp(tok, flag) == 0)
					found = true;
			break;
		}
	}
	fclose(f);
	return found;
}

static bool thp_configured(void)
{
	return access("/sys/kernel/mm/transparent_hugepage/enabled", F_OK) == 0;
}

/* Argon2's kind of mapping (libsodium: private, anonymous, populated, many
 * MiB) goes through this module's mmap: 2 MiB aligned, advised for huge
 * pages, fully usable and unmapped by (address, length) like any other. */
static void test_mmap_argon2_kind_is_huge_aligned(void **state)
{
#ifdef SEALMAIL_SAN
	skip(); /* sanitizer builds keep the sanitizer's mmap */
#endif
	if (sizeof(void *) != 8)
		skip(); /* 64-bit only, see kdf.c */
	size_t len = (8u << 20) + 4096;
	unsigned char *p = lib_mmap(NULL, len, PROT_READ | PROT_WRITE,
	                            MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	assert_true(p != MAP_FAILED);
	assert_int_equal((uintptr_t)p % (2u << 20), 0);
	if (thp_configured())
		assert_true(vma_has_flag(p, "hg"));
	assert_int_equal(p[0] | p[len - 1], 0);
	p[0] = 1;
	p[len - 1] = 2;
	assert_int_equal(p[0] + p[len - 1], 3);
	assert_int_equal(munmap(p, len), 0);
}

/* The mapping itself, called directly (also in sanitizer builds). */
static void test_mmap_huge_direct(void **state)
{
	size_t len = (4u << 20) + 12288;
	unsigned char *p = kdf_hugepages_mmap(len, PROT_READ | PROT_WRITE,
	                                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE);
	assert_true(p != MAP_FAILED);
	assert_int_equal((uintptr_t)p % (2u << 20), 0);
	if (thp_configured())
		assert_true(vma_has_flag(p, "hg"));
	memset(p, 0xa5, len);
	assert_int_equal(p[len - 1], 0xa5);
	assert_int_equal(munmap(p, len), 0);
}

/* Every other mapping is the system call's own: small or unpopulated
 * anonymous memory is not advised, file mappings read the file. */
static void test_mmap_other_kinds_unchanged(void **state)
{
	size_t len = 8u << 20;
	void *small = lib_mmap(NULL, 65536, PROT_READ | PROT_WRITE,
	                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	assert_true(small != MAP_FAILED);
	assert_false(vma_has_flag(small, "hg"));
	assert_int_equal(munmap(small, 65536), 0);
	void *lazy =
	    lib_mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(lazy != MAP_FAILED);
	assert_false(vma_has_flag(lazy, "hg"));
	assert_int_equal(munmap(lazy, len), 0);

	char path[] = "/tmp/test_kdf_mmap.XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	unlink(path);
	assert_int_equal(write(fd, "sealmail", 8), 8);
	char *m = lib_mmap(NULL, 8, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0);
	assert_true(m != MAP_FAILED);
	assert_memory_equal(m, "sealmail", 8);
	assert_int_equal(munmap(m, 8), 0);
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_kat_8k_t2),
	    cmocka_unit_test(test_kat_64k_t2),
	    cmocka_unit_test(test_kat_64k_t1),
	    cmocka_unit_test(test_kat_defaults),
	    cmocka_unit_test(test_deterministic),
	    cmocka_unit_test(test_salt_sensitivity),
	    cmocka_unit_test(test_password_sensitivity),
	    cmocka_unit_test(test_memlimit_sensitivity),
	    cmocka_unit_test(test_empty_password),
	    cmocka_unit_test(test_params_out_of_bounds),
	    cmocka_unit_test(test_params_default_and_conf),
	    cmocka_unit_test(test_dummy_costs_like_real),
	    cmocka_unit_test(test_mmap_argon2_kind_is_huge_aligned),
	    cmocka_unit_test(test_mmap_other_kinds_unchanged),
	    cmocka_unit_test(test_mmap_huge_direct),
	    cmocka_unit_test_setup_teardown(test_slots_create_files, setup_dir, teardown_dir),
	    cmocka_unit_test_setup_teardown(test_slots_acquire_release, setup_dir, teardown_dir),
	    cmocka_unit_test_setup_teardown(test_slots_distinct_holders, setup_dir, teardown_dir),
	    cmocka_unit_test_setup_teardown(test_slots_double_acquire_refused, setup_dir,
	                                    teardown_dir),
	    cmocka_unit_test_setup_teardown(test_slots_free_releases, setup_dir, teardown_dir),
	    cmocka_unit_test_setup_teardown(test_slots_zero_means_cpus, setup_dir, teardown_dir),
	    cmocka_unit_test_setup_teardown(test_slots_missing_dir_unlimited, setup_dir,
	                                    teardown_dir),
	    cmocka_unit_test_setup_teardown(test_slots_full_blocks_until_release, setup_dir,
	                                    teardown_dir),
	    cmocka_unit_test_setup_teardown(test_slots_fork_does_not_share_lock, setup_dir,
	                                    teardown_dir),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
