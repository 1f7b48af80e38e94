/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* age v1 (https://age-encryption.org/v1): X25519 recipient stanza,
 * HKDF-SHA256, header MAC, ChaCha20-Poly1305 STREAM with 64 KiB chunks.
 * Enough to seal to one X25519 recipient and to open with one identity,
 * streaming in both directions. Interoperates with the `age` tool.
 * Trust: sealing runs in the MX (no secrets but the ephemeral key);
 * opening runs post-auth with the user's sealing secret key. */
#ifndef SEALMAIL_AGE_H
#define SEALMAIL_AGE_H

#include <stdbool.h>
#include <stddef.h>

#include "base/buf.h"

#define AGE_KEY_LEN 32
#define AGE_CHUNK_SIZE 65536
#define AGE_RECIPIENT_MAX 128 /* "age1" + bech32, with the NUL */
#define AGE_IDENTITY_MAX 128  /* "AGE-SECRET-KEY-1" + bech32, with the NUL */
#define AGE_HEADER_MAX 65536  /* header bytes accepted before the payload starts */
#define AGE_STANZA_MAX 32     /* recipient stanzas accepted in one header */
#define AGE_FILE_KEY_LEN 16   /* spec "File key" */
#define AGE_NONCE_LEN 16      /* spec "Payload": nonce in front of the STREAM */
#define AGE_TAG_LEN 16        /* ChaCha20-Poly1305 tag after every chunk */

/* Output sink: write n bytes; 0 ok, -1 failure (stops the operation). */
typedef int (*age_write_fn)(void *ctx, const unsigned char *p, size_t n);

/* Fresh X25519 key pair from the CSPRNG. */
void age_keypair(unsigned char pk[AGE_KEY_LEN], unsigned char sk[AGE_KEY_LEN]);
/* Public key from secret key. */
void age_public_from_secret(const unsigned char sk[AGE_KEY_LEN], unsigned char pk[AGE_KEY_LEN]);

/* Bech32 forms: "age1…" (lower case) and "AGE-SECRET-KEY-1…" (upper case).
 * encode: 0 ok, -1 when out is too small. decode: 1 ok, 0 malformed. */
int age_recipient_encode(const unsigned char pk[AGE_KEY_LEN], char *out, size_t outsz);
int age_recipient_decode(const char *s, unsigned char pk[AGE_KEY_LEN]);
int age_identity_encode(const unsigned char sk[AGE_KEY_LEN], char *out, size_t outsz);
int age_identity_decode(const char *s, unsigned char sk[AGE_KEY_LEN]);

/* Streaming seal. begin writes the header; update buffers and writes full
 * chunks; final writes the last chunk. Every call: 0 ok, -1 when the sink
 * failed. The object wipes its keys on free. */
/* begin also writes the payload nonce; it returns an object the caller
 * frees with age_seal_free, or NULL when the sink failed or recipient_pk is
 * a low-order point (all-zero shared secret, spec "X25519 recipient
 * stanza"). After a failure every call returns -1. */
struct age_seal;
struct age_seal *age_seal_begin(const unsigned char recipient_pk[AGE_KEY_LEN], age_write_fn out,
				void *ctx);
int age_seal_update(struct age_seal *s, const void *data, size_t len);
int age_seal_final(struct age_seal *s);
void age_seal_free(struct age_seal **s);

/* Streaming open: feed ciphertext in any split; plaintext goes to the sink
 * only after its chunk authenticated. update/final: 0 ok, -1 on error
 * (age_open_error says why: bad header, no matching stanza, bad MAC,
 * truncated, trailing data, sink failure). */
struct age_open;
struct age_open *age_open_new(const unsigned char identity_sk[AGE_KEY_LEN], age_write_fn out,
			      void *ctx);
int age_open_update(struct age_open *o, const void *data, size_t len);
int age_open_final(struct age_open *o);
const char *age_open_error(const struct age_open *o);
/* Notes on opening: the result is NULL while nothing failed, otherwise a
 * static string. A chunk's plaintext reaches the sink as soon as that chunk
 * authenticated, so a caller must treat the output as incomplete until
 * age_open_final returned 0. After an error every call returns -1.
 * Memory: at most AGE_HEADER_MAX for the header, then about two chunks. */
void age_open_free(struct age_open **o);

/* Conveniences. age_seal_to_fd: seal len bytes to fd (no fsync): 0/-1.
 * age_open_fd: read all of fd, append plaintext to out, refusing more than
 * max_plain bytes: 0 ok, -1 with *error_r (static string). */
int age_seal_to_fd(const unsigned char recipient_pk[AGE_KEY_LEN], const void *data, size_t len,
		   int fd);
int age_open_fd(const unsigned char identity_sk[AGE_KEY_LEN], int fd, struct buf *out,
		size_t max_plain, const char **error_r);

/* Notes on the conveniences: age_open_fd leaves out as it was (the bytes
 * it appended wiped) when it fails. */

/* HKDF-SHA256 (RFC 5869) from HMAC-SHA256: extract with salt (salt_len 0
 * means the RFC's string of zeros), expand with info into out_len bytes.
 * 0 ok, -1 when out_len > 255 * 32 (RFC 5869 section 2.3). */
int age_hkdf_sha256(const unsigned char *ikm, size_t ikm_len, const unsigned char *salt,
		    size_t salt_len, const unsigned char *info, size_t info_len, unsigned char *out,
		    size_t out_len);

#endif
