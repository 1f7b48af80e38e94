/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* Bech32 (BIP 173, "Bech32" section): human-readable part, separator '1',
 * 5-bit data groups, 6-character BCH checksum. age uses it for its keys
 * ("age1…" recipients, "AGE-SECRET-KEY-1…" identities) but lifts BIP 173's
 * 90-character limit, so every decoder here takes its own length limit.
 * Pure; no I/O, no globals. Temporaries are wiped, since age identities are
 * secret keys. Trust: any. */
#ifndef SEALMAIL_BECH32_H
#define SEALMAIL_BECH32_H

#include <stdbool.h>
#include <stddef.h>

#define BECH32_BIP173_MAX 90 /* BIP 173: "does not exceed 90 characters" */
#define BECH32_CHECKSUM_LEN 6

/* Encode hrp and 5-bit values d5[0..n) (each < 32). The checksum is computed
 * on the lower-case form of hrp (BIP 173 "Uppercase/lowercase"); the output
 * is all lower case, or all upper case when upper is true. out has outsz
 * bytes including the NUL. 0 ok, -1 when out is too small, hrp is empty or
 * holds a character outside 33..126, or a value is >= 32. */
int bech32_encode5(const char *hrp, const unsigned char *d5, size_t n, bool upper, char *out,
		   size_t outsz);

/* Decode the whole NUL-terminated string s of at most maxlen characters.
 * The human-readable part is copied as written (case preserved, so callers
 * can insist on one case) into hrp (hrpsz bytes with the NUL); the 5-bit
 * values go to d5 (room for d5sz) and their count to *n_r.
 * 1 ok; 0 malformed: too long, mixed case, character outside 33..126,
 * no separator, empty hrp, short or bad checksum, a data character outside
 * the bech32 alphabet, or a result that does not fit hrp/d5. */
int bech32_decode5(const char *s, size_t maxlen, char *hrp, size_t hrpsz, unsigned char *d5,
		   size_t d5sz, size_t *n_r);

/* Byte forms: the data regrouped 8 -> 5 bits with zero padding (encode), or
 * 5 -> 8 bits where the padding must be shorter than 5 bits and all zero
 * (decode, BIP 173 reference "convertbits" without padding). Return values
 * as bech32_encode5 / bech32_decode5; the decoded bytes go to data (room for
 * datasz) and their count to *len_r. */
int bech32_encode(const char *hrp, const unsigned char *data, size_t len, bool upper, char *out,
		  size_t outsz);
int bech32_decode(const char *s, size_t maxlen, char *hrp, size_t hrpsz, unsigned char *data,
		  size_t datasz, size_t *len_r);

#endif
