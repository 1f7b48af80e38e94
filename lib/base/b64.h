/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* Base64 (RFC 4648 section 4). Pure; no I/O. */
#ifndef SEALMAIL_B64_H
#define SEALMAIL_B64_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"

/* Bytes needed for the encoding of n bytes, including the NUL. */
size_t b64_encoded_size(size_t n, bool pad);
/* Encode n bytes into out (size from b64_encoded_size); returns length. */
size_t b64_encode(const unsigned char *in, size_t n, char *out, bool pad);
/* Strict decode, appending to out: 1 ok, 0 bad input (alphabet, padding,
 * non-zero trailing bits). pad: true requires '=' padding (SASL, RFC 4648),
 * false forbids it (age, RFC 4648 section 3.2). */
int b64_decode(const char *in, size_t n, struct buf *out, bool pad);

#endif
