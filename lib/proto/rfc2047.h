/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* Decoding of RFC 2047 encoded words in header text, and the small set of
 * charsets mail headers use, converted to UTF-8 with built-in tables (no
 * iconv: it loads gconv modules from disk, which a sandboxed process cannot,
 * and parsers here do no I/O). Pure; no I/O. Trust: any (message content). */
#ifndef SEALMAIL_RFC2047_H
#define SEALMAIL_RFC2047_H

#include <stdbool.h>
#include <stddef.h>

#include "base/buf.h"

/* Append the UTF-8 form of header text to utf8_out: encoded words
 * (=?charset?B|Q?text?=, RFC 2047 sections 2-4, with an optional RFC 2231
 * section 5 "*language" after the charset) are decoded, white space between
 * two adjacent encoded words is dropped (section 6.2), CR and LF are removed
 * (unfolding), and the rest is kept. Encoded words in a charset this module
 * does not know stay as written unless they decode to plain ASCII. Bytes that
 * are not valid UTF-8 (raw 8-bit headers) are read as windows-1252. Never
 * fails. */
void rfc2047_decode(const char *in, size_t len, struct buf *utf8_out);

/* Append bytes in the named charset as UTF-8. Known: UTF-8, US-ASCII,
 * ISO-8859-1, ISO-8859-2, ISO-8859-15, windows-1252 (with common aliases,
 * case-insensitive). Labels ISO-8859-1 and US-ASCII decode as windows-1252,
 * as the WHATWG Encoding Standard does, since mail so labelled is often
 * windows-1252. Invalid UTF-8 becomes U+FFFD. Returns 0, or -1 (nothing
 * appended) when the charset is unknown. */
int rfc2047_charset_to_utf8(const char *charset, size_t charset_len, const unsigned char *in,
                            size_t len, struct buf *out);

/* true when the n bytes are well-formed UTF-8 (RFC 3629 section 4). */
bool rfc2047_utf8_valid(const unsigned char *s, size_t n);

#endif
