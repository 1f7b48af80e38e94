/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* Password key derivation (DESIGN section 2): KEK = Argon2id(password, salt,
 * params) through libsodium crypto_pwhash (ALG_ARGON2ID13), and the host-wide
 * limit on concurrent derivations (DESIGN section 4, config kdf_concurrency).
 * Trust: post-auth back process and sealctl (admin); it sees passwords. */
#ifndef SEALMAIL_KDF_H
#define SEALMAIL_KDF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define KDF_SALT_LEN 16 /* crypto_pwhash_SALTBYTES */
#define KDF_KEY_LEN  32 /* the KEK wraps a 256-bit key */
/* Bounds accepted for stored parameters: libsodium's minimums, and the
 * maximums of the kdf_opslimit / kdf_memlimit config keys, so that a
 * corrupt or hostile blob cannot make a login allocate unbounded memory. */
#define KDF_OPSLIMIT_MIN 1ULL
#define KDF_OPSLIMIT_MAX 100ULL
#define KDF_MEMLIMIT_MIN 8192ULL
#define KDF_MEMLIMIT_MAX (4ULL << 30)
/* Defaults (also the config defaults): about 25-40 ms on one core here. */
#define KDF_OPSLIMIT_DEFAULT 2ULL
/* 32 MiB, t = 2 (DESIGN's example): a 25-30 ms login on the 2-vCPU hosts we
 * measure on, inside the 25-40 ms DESIGN aims for, since Argon2's memory
 * comes in 2 MiB pages (kdf_hugepages.c; docs/BENCHMARKS.md: the derivation alone
 * 21 ms, 15 ms at 24 MiB); well above OWASP's 19 MiB minimum. */
#define KDF_MEMLIMIT_DEFAULT (32ULL << 20)

/* Argon2id cost, stored per user beside the wrapped key so it can be raised
 * later without breaking existing users. */
struct kdf_params {
	uint64_t opslimit; /* passes (t) */
	uint64_t memlimit; /* bytes */
};

/* The compiled-in defaults. */
void kdf_params_default(struct kdf_params *p);
/* The configured cost for new wraps (kdf_opslimit, kdf_memlimit). */
struct conf;
void kdf_params_from_conf(const struct conf *c, struct kdf_params *p);
/* true when p lies within the KDF_*_MIN/MAX bounds. */
bool kdf_params_valid(const struct kdf_params *p);

/* out = Argon2id13(password, salt, p), KDF_KEY_LEN bytes. 0 ok; -1 when p
 * is out of bounds, the password is too long for libsodium, or memory for
 * memlimit could not be had (out is zeroed then). The caller wipes out. */
int kdf_derive(const struct kdf_params *p, const char *password, size_t pwlen,
               const unsigned char salt[KDF_SALT_LEN], unsigned char out[KDF_KEY_LEN]);

/* Spend the same time as kdf_derive with the same p and password, and
 * discard the result: used for unknown users so that response time does not
 * tell which users exist. Call it under a KDF slot exactly like a real
 * derivation. */
void kdf_dummy(const struct kdf_params *p, const char *password, size_t pwlen);

/* Host-wide limit on concurrent derivations: n lock files
 * <run_dir>/kdf-slot.<i>, each held with flock(2) by one derivation.
 *
 * flock locks belong to the open file description, which fork() shares: a
 * set opened before a fork would let parent and children hold "the same"
 * slot at once. kdf_slot_acquire therefore re-opens the files when called in
 * a process other than the one that opened them. Open the set in the
 * process that derives (after fork, before the sandbox), or make sure the
 * sandbox still allows opening run_dir. */
struct kdf_slots;

/* Open (creating when possible, mode 0660) n lock files in run_dir; n == 0
 * means the number of online CPUs. If run_dir is missing or neither the
 * files nor the directory can be opened, the set works without a limit and
 * a warning is logged. Never NULL; free with kdf_slots_free. */
struct kdf_slots *kdf_slots_open(const char *run_dir, uint64_t n);
/* Hold one slot: each lock is tried without blocking in turn, then the
 * process waits on one of them. 0 ok (also when running without a limit);
 * -1 on an unexpected locking error (errno set) or when this set already
 * holds a slot. */
int kdf_slot_acquire(struct kdf_slots *s);
/* Give the held slot back; nothing happens when none is held. */
void kdf_slot_release(struct kdf_slots *s);
/* Number of slots (0 when running without a limit). */
unsigned kdf_slots_count(const struct kdf_slots *s);
/* Release, close and free; *s becomes NULL. */
void kdf_slots_free(struct kdf_slots **s);

#endif
