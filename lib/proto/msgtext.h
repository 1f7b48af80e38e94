/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* The searchable text of a message, for IMAP SEARCH (RFC 3501 section
 * 6.4.4): header fields unfolded and RFC 2047-decoded, text parts
 * transfer-decoded (quoted-printable, base64), converted to UTF-8 and, for
 * HTML, reduced to their text; everything case-folded, so that the
 * case-insensitive substring match SEARCH asks for becomes a byte search
 * (memmem) of a folded needle in folded text.
 *
 * The store keeps this text in its full-text index (store.h, "Full-text
 * index"); imapd's SEARCH reads it back instead of parsing messages.
 *
 * Folding: UTF-8 is decoded (bytes that are not valid UTF-8 are read as
 * windows-1252, the usual meaning of unlabelled 8-bit mail text) and mapped
 * to lower case with simple one-to-one case mappings for ASCII, Latin-1,
 * Latin Extended-A and Additional, Greek, Cyrillic, Armenian and fullwidth
 * Latin (a subset of Unicode's simple case folding, CaseFolding.txt status
 * C: no mapping changes a string's length, so "ß" and "ss" stay different,
 * as they do in Dovecot's i;unicode-casemap only after decomposition). CR LF
 * and lone CR become LF; other control characters become a space.
 *
 * Charsets are converted with lib/proto/rfc2047.h's built-in tables, not iconv:
 * iconv loads gconv modules with dlopen, which the post-login sandbox
 * forbids (no PROT_EXEC mappings), and an exotic charset must not be able to
 * kill an import. Text in charsets those tables do not know is kept as its
 * bytes (so its ASCII still matches).
 *
 * Pure: no I/O, no globals, no logging. Trust: any (message content and
 * client strings are untrusted); work and memory are linear in the input. */
#ifndef SEALMAIL_MSGTEXT_H
#define SEALMAIL_MSGTEXT_H

#include <stdbool.h>
#include <stddef.h>

#include "base/buf.h"

/* Body text kept per message: decoded text beyond this (huge text
 * attachments, logs) is not indexed and so not found by BODY/TEXT. */
#define MSGTEXT_BODY_MAX (8u << 20)
/* Header text kept per header section; header fields after it are ignored. */
#define MSGTEXT_HEADER_MAX (1u << 20)

/* Append the folded form of n bytes of text (see above). header: LF and TAB
 * become a space too (a header value is one line). The output is valid
 * UTF-8 without NUL bytes. */
void msgtext_fold(const unsigned char *s, size_t n, bool header, struct buf *out);

/* Append a header section (it may include the empty line and anything after
 * it; reading stops there) as folded lines "name: value\n": one line per
 * field, the name folded, the value unfolded (RFC 5322 section 2.2.3),
 * RFC 2047-decoded, trimmed and folded. Fields without a colon are skipped. */
void msgtext_header(const unsigned char *hdr, size_t len, struct buf *out);

/* Append the searchable text of a whole message: *hdr gets msgtext_header of
 * its header; *body the folded text of every text/ part (MIME tree walk,
 * multipart and message/rfc822 included) and the header lines of attached
 * messages, parts separated by LF, at most MSGTEXT_BODY_MAX bytes. */
void msgtext_extract(const unsigned char *msg, size_t len, struct buf *hdr, struct buf *body);

/* In text from msgtext_header: true when a field named name (folded, ASCII
 * lower case) has a value containing needle (folded); an empty needle
 * matches any field of that name (RFC 3501 section 6.4.4, HEADER). */
bool msgtext_header_match(const unsigned char *hdr, size_t len, const char *name,
                          const unsigned char *needle, size_t nlen);

/* In text from msgtext_header: the value of the first field named name, or
 * NULL (*len_r set to its length, pointer into hdr). */
const unsigned char *msgtext_header_value(const unsigned char *hdr, size_t len, const char *name,
                                          size_t *len_r);

#endif
