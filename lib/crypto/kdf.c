/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* Argon2id key derivation and the host-wide KDF slot limit. Trust:
 * post-auth back process and sealctl (admin); it sees passwords. */
#include "kdf.h"
#include "kdf_hugepages.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "sys/conf.h"
#include "sys/log.h"
#include "base/mem.h"
#include "base/rnd.h"

struct kdf_slots {
	char *dir;
	unsigned n;  /* 0: no limit */
	int *fds;    /* n lock files */
	pid_t owner; /* process whose open file descriptions fds are */
	int held;    /* index of the held slot, -1 none, -2 held without limit */
};

/* Argon2 takes its memory with mmap(), which kdf_hugepages.c defines. A
 * static library member is linked only when something refers to it: this
 * reference links it into every program that derives a key (the login
 * backs, sealctl, the benchmarks), whether or not its main() calls
 * kdf_hugepages_init. */
void *(*const kdf_hugepages_linked)(size_t, int, int) = kdf_hugepages_mmap;

/* sodium_init() selects the fastest Argon2 implementation for this CPU;
 * without it crypto_pwhash silently runs the slower reference code. */
static void kdf_sodium(void)
{
	if (sodium_init() < 0)
		log_fatal("libsodium initialisation failed");
}

void kdf_params_default(struct kdf_params *p)
{
	p->opslimit = KDF_OPSLIMIT_DEFAULT;
	p->memlimit = KDF_MEMLIMIT_DEFAULT;
}

void kdf_params_from_conf(const struct conf *c, struct kdf_params *p)
{
	p->opslimit = c->kdf_opslimit;
	p->memlimit = c->kdf_memlimit;
}

bool kdf_params_valid(const struct kdf_params *p)
{
	return p->opslimit >= KDF_OPSLIMIT_MIN && p->opslimit <= KDF_OPSLIMIT_MAX &&
	       p->opslimit >= crypto_pwhash_OPSLIMIT_MIN && p->memlimit >= KDF_MEMLIMIT_MIN &&
	       p->memlimit <= KDF_MEMLIMIT_MAX && p->memlimit >= crypto_pwhash_MEMLIMIT_MIN &&
	       (uint64_t)(size_t)p->memlimit == p->memlimit;
}

int kdf_derive(const struct kdf_params *p, const char *password, size_t pwlen,
               const unsigned char salt[KDF_SALT_LEN], unsigned char out[KDF_KEY_LEN])
{
	kdf_sodium();
	if (!kdf_params_valid(p) || pwlen > crypto_pwhash_PASSWD_MAX) {
		sodium_memzero(out, KDF_KEY_LEN);
		return -1;
	}
	if (crypto_pwhash(out, KDF_KEY_LEN, password, pwlen, salt, (unsigned long long)p->opslimit,
	                  (size_t)p->memlimit, crypto_pwhash_ALG_ARGON2ID13) != 0) {
		sodium_memzero(out, KDF_KEY_LEN);
		return -1;
	}
	return 0;
}

void kdf_dummy(const struct kdf_params *p, const char *password, size_t pwlen)
{
	/* A random salt costs nothing measurable and keeps this from being a
	 * fixed function of the password that someone might cache. */
	unsigned char salt[KDF_SALT_LEN], out[KDF_KEY_LEN];
	rnd_bytes(salt, sizeof(salt));
	(void)kdf_derive(p, password, pwlen, salt, out);
	sodium_memzero(out, sizeof(out));
}

static void kdf_slots_close(struct kdf_slots *s)
{
	for (unsigned i = 0; i < s->n; i++) {
		if (s->fds[i] >= 0)
			close(s->fds[i]);
		s->fds[i] = -1;
	}
}

/* Open every lock file; false (all closed) if any cannot be opened. */
static bool kdf_slots_reopen(struct kdf_slots *s)
{
	kdf_slots_close(s);
	s->owner = getpid();
	for (unsigned i = 0; i < s->n; i++) {
		char path[4096];
		if ((size_t)snprintf(path, sizeof(path), "%s/kdf-slot.%u", s->dir, i) >=
		    sizeof(path)) {
			errno = ENAMETOOLONG;
			goto fail;
		}
		/* flock works on a read-only descriptor too: a process that
		 * cannot create or write the files may still share them. */
		int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0660);
		if (fd < 0 && (errno == EACCES || errno == EROFS || errno == EPERM))
			fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
		if (fd < 0)
			goto fail;
		s->fds[i] = fd;
	}
	return true;
fail:;
	int e = errno;
	kdf_slots_close(s);
	errno = e;
	return false;
}

struct kdf_slots *kdf_slots_open(const char *run_dir, uint64_t n)
{
	struct kdf_slots *s = mem_zalloc(sizeof(*s));
	s->held = -1;
	s->owner = getpid();
	s->dir = mem_strdup(run_dir);
	if (n == 0) {
		long cpus = sysconf(_SC_NPROCESSORS_ONLN);
		n = cpus > 0 ? (uint64_t)cpus : 1;
	}
	if (n > 1024)
		n = 1024; /* the config key's maximum */
	s->n = (unsigned)n;
	s->fds = mem_array(s->n, sizeof(int));
	for (unsigned i = 0; i < s->n; i++)
		s->fds[i] = -1;
	if (!kdf_slots_reopen(s)) {
		log_msg(LOG_WARNING,
		        "KDF concurrency limit disabled: cannot open lock files in %s: %s", run_dir,
		        strerror(errno));
		free(s->fds);
		s->fds = NULL;
		s->n = 0;
	}
	return s;
}

unsigned kdf_slots_count(const struct kdf_slots *s)
{
	return s->n;
}

int kdf_slot_acquire(struct kdf_slots *s)
{
	bool reopen_failed = false;
	if (s->owner != getpid()) {
		/* A forked child: a slot held at fork time is the parent's. */
		s->held = -1;
		s->owner = getpid();
		if (s->n > 0 && !kdf_slots_reopen(s)) {
			log_msg(LOG_WARNING,
			        "KDF concurrency limit skipped: cannot reopen lock files in %s: %s",
			        s->dir, strerror(errno));
			reopen_failed = true;
		}
	}
	if (s->held != -1) {
		errno = EBUSY; /* a second slot would let one process wait on itself */
		return -1;
	}
	if (s->n == 0 || reopen_failed || s->fds[0] < 0) {
		s->held = -2;
		return 0;
	}
	/* Start at a varying slot so waiters spread over the locks. */
	unsigned start = (unsigned)getpid() % s->n;
	for (unsigned k = 0; k < s->n; k++) {
		unsigned i = (start + k) % s->n;
		if (flock(s->fds[i], LOCK_EX | LOCK_NB) == 0) {
			s->held = (int)i;
			return 0;
		}
		if (errno != EWOULDBLOCK && errno != EINTR)
			return -1;
	}
	for (;;) {
		if (flock(s->fds[start], LOCK_EX) == 0) {
			s->held = (int)start;
			return 0;
		}
		if (errno != EINTR)
			return -1;
	}
}

void kdf_slot_release(struct kdf_slots *s)
{
	if (s->held >= 0 && s->owner == getpid())
		(void)flock(s->fds[s->held], LOCK_UN);
	s->held = -1;
}

void kdf_slots_free(struct kdf_slots **sp)
{
	struct kdf_slots *s = *sp;
	if (s == NULL)
		return;
	kdf_slot_release(s);
	if (s->fds != NULL) {
		/* Closing an inherited copy in another process must not drop the
		 * owner's locks; close() alone never does that for flock. */
		kdf_slots_close(s);
		free(s->fds);
	}
	free(s->dir);
	free(s);
	*sp = NULL;
}
