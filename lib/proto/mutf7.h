/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* Modified UTF-7 mailbox names (RFC 3501 section 5.1.3) to and from UTF-8,
 * and strict UTF-8 validation (RFC 3629). Pure; no I/O. Trust: pre-auth
 * input (mailbox names come straight from the client).
 *
 * Both directions are strict, so that every name has exactly one encoding:
 * decoding refuses characters outside 0x20-0x7E, a shift ("&...-") that
 * encodes a printable US-ASCII character, two shifts in a row (the RFC wants
 * one shift for a run of non-ASCII characters), bad or non-zero trailing
 * base64 bits, an unterminated shift, unpaired UTF-16 surrogates and U+0000.
 * Encoding refuses invalid UTF-8 (overlong forms, surrogates, > U+10FFFF)
 * and U+0000. Therefore decode(encode(x)) == x and encode(decode(y)) == y
 * whenever the inner call succeeds. */
#ifndef SEALMAIL_MUTF7_H
#define SEALMAIL_MUTF7_H

#include <stdbool.h>
#include <stddef.h>

#include "base/buf.h"

/* Decode n bytes of modified UTF-7 and append the UTF-8 text to out.
 * Returns 1 ok, 0 invalid input (out may then hold a partial result; *error_r,
 * if error_r is not NULL, points at a static reason). */
int mutf7_to_utf8(const char *in, size_t n, struct buf *out, const char **error_r);

/* Encode n bytes of UTF-8 and append the modified UTF-7 text to out.
 * Returns 1 ok, 0 invalid UTF-8 or U+0000 (reason in *error_r as above). */
int mutf7_from_utf8(const char *in, size_t n, struct buf *out, const char **error_r);

/* True when the n bytes are a valid modified UTF-7 name (as mutf7_to_utf8
 * would accept). */
bool mutf7_valid(const char *in, size_t n);

/* True when the n bytes are well-formed UTF-8 (RFC 3629 section 4: no
 * overlong forms, no surrogates, nothing above U+10FFFF). NUL bytes are
 * well-formed; callers that need text check for them separately. */
bool mutf7_utf8_valid(const unsigned char *s, size_t n);

#endif
