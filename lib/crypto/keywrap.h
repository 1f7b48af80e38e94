/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* Wrapping of the mailbox key MK under a password or a recovery code
 * (DESIGN section 2): KEK = Argon2id(secret, salt, params), then
 * XChaCha20-Poly1305 (crypto_aead_xchacha20poly1305_ietf) with a random
 * 24-byte nonce and a fresh 16-byte salt on every wrap.
 *
 * Blob (one BLOB column holds all that unwrapping needs; integers are
 * big-endian):
 *     version(1) = 1 | salt(16) | opslimit(8) | memlimit(8) | nonce(24) |
 *     ciphertext(32) | tag(16)                        = KEYWRAP_BLOB_LEN
 * AAD = version(1) | user id | kind(1: 'P' or 'R') | opslimit(8) | memlimit(8).
 * The user id is the only variable-length AAD field, so the encoding is
 * unambiguous. Binding the user id and kind stops a blob from being moved
 * to another user or used as the other kind; binding the parameters stops
 * a downgrade of the stored cost (the salt is bound through the KEK).
 *
 * The caller holds a KDF slot (kdf.h) around wrap and unwrap: each runs one
 * Argon2id derivation. Trust: post-auth back process and sealctl. */
#ifndef SEALMAIL_KEYWRAP_H
#define SEALMAIL_KEYWRAP_H

#include <stdbool.h>
#include <stddef.h>

#include "base/buf.h"
#include "kdf.h"

#define KEYWRAP_VERSION	  1
#define KEYWRAP_MK_LEN	  32
#define KEYWRAP_NONCE_LEN 24 /* crypto_aead_xchacha20poly1305_ietf_NPUBBYTES */
#define KEYWRAP_TAG_LEN	  16 /* crypto_aead_xchacha20poly1305_ietf_ABYTES */
#define KEYWRAP_BLOB_LEN                                                                           \
	(1 + KDF_SALT_LEN + 8 + 8 + KEYWRAP_NONCE_LEN + KEYWRAP_MK_LEN + KEYWRAP_TAG_LEN)
/* Longest user id accepted in the AAD (directory ids are 32 hex digits). */
#define KEYWRAP_USER_ID_MAX 64

/* Recovery code: 200 random bits as 8 groups of 5 Crockford base32
 * symbols joined by '-', e.g. "7Q3KD-…". KEYWRAP_RECOVERY_SIZE includes the
 * NUL. */
#define KEYWRAP_RECOVERY_BITS	   200
#define KEYWRAP_RECOVERY_GROUPS	   8
#define KEYWRAP_RECOVERY_GROUP_LEN 5
#define KEYWRAP_RECOVERY_LEN	   (KEYWRAP_RECOVERY_GROUPS * (KEYWRAP_RECOVERY_GROUP_LEN + 1) - 1)
#define KEYWRAP_RECOVERY_SIZE	   (KEYWRAP_RECOVERY_LEN + 1)

enum keywrap_kind {
	KEYWRAP_PASSWORD = 'P',
	KEYWRAP_RECOVERY = 'R',
};

/* A fresh random MK. The caller wipes it. */
void keywrap_mk_new(unsigned char mk[KEYWRAP_MK_LEN]);

/* Wrap mk for user_id under secret with params p; the blob replaces the
 * contents of *blob_out (caller owns it; buf_free). For KEYWRAP_RECOVERY
 * the secret is normalised first (keywrap_recovery_normalise), so any form
 * a person may type unwraps. 0 ok; -1 with *error_r (static string) when
 * user_id is empty or too long, p is out of bounds, the recovery code is
 * malformed or the KDF failed. */
int keywrap_wrap(const char *user_id, enum keywrap_kind kind, const struct kdf_params *p,
		 const char *secret, size_t secretlen, const unsigned char mk[KEYWRAP_MK_LEN],
		 struct buf *blob_out, const char **error_r);

/* Unwrap blob into mk_out. 0 ok; -1 otherwise with *error_r (static
 * string): "wrong secret or corrupt key blob" when the tag does not verify
 * (a wrong secret, another user id or kind, edited parameters or a damaged
 * blob are indistinguishable), or a malformed/unsupported blob, bad
 * parameters or a KDF failure. mk_out is zeroed on failure. */
int keywrap_unwrap(const char *user_id, enum keywrap_kind kind, const unsigned char *blob,
		   size_t bloblen, const char *secret, size_t secretlen,
		   unsigned char mk_out[KEYWRAP_MK_LEN], const char **error_r);

/* The KDF parameters stored in blob (to decide whether to re-wrap under
 * stronger ones after a successful login). 1 ok; 0 malformed blob. */
int keywrap_blob_params(const unsigned char *blob, size_t bloblen, struct kdf_params *p);

/* Write a new recovery code (KEYWRAP_RECOVERY_LEN characters and a NUL)
 * into out. 0 ok; -1 when outsz < KEYWRAP_RECOVERY_SIZE. The caller wipes
 * it after showing it. */
int keywrap_recovery_new(char *out, size_t outsz);

/* Canonical form of a typed recovery code: case, '-', spaces and tabs are
 * ignored, and the Crockford look-alikes I/L (as 1) and O (as 0) accepted.
 * 1: written to out; 0: not a recovery code (wrong symbols or count); -1:
 * outsz < KEYWRAP_RECOVERY_SIZE. */
int keywrap_recovery_normalise(const char *in, char *out, size_t outsz);

#endif
