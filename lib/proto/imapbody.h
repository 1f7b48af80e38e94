/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* IMAP forms of a MIME tree (mime.h): the FETCH BODY and BODYSTRUCTURE
 * strings (RFC 3501 section 7.4.2) and the IMAP string writer they and the
 * ENVELOPE (imapenv.h) share (RFC 3501 section 4.3 and section 9 "string",
 * "quoted", "literal"). Built on the tree's public fields only; where RFC
 * 3501 leaves a choice the output is Dovecot's, so that clients see what
 * they see there.
 *
 * Pure code: no I/O, no globals, no logging. The tree describes untrusted
 * message content (or a cache checked as if hostile): every string of it is
 * quoted or sent as a literal, never copied into protocol text as is.
 * Trust: any. */
#ifndef SEALMAIL_IMAPBODY_H
#define SEALMAIL_IMAPBODY_H

#include <stdbool.h>
#include <stddef.h>

#include "base/buf.h"
#include "mime.h"

/* IMAP strings longer than this are sent as literals (RFC 3501 section 4.3
 * sets no limit; long quoted strings trip up line-oriented clients). */
#define IMAPBODY_QUOTED_MAX 1024

/* Append the RFC 3501 section 7.4.2 body structure of part, parentheses
 * included: BODY when !extended, BODYSTRUCTURE when extended. Sizes are body
 * bytes of the original message (store messages with CRLF line ends so they
 * equal what FETCH sends). A message/rfc822 part carries the ENVELOPE of its
 * message, built here from the message's fields (imapenv_envelope()). */
void imapbody_bodystructure(const struct mime_part *part, bool extended, struct buf *out);

/* Append s as an IMAP string: "quoted" when it is at most IMAPBODY_QUOTED_MAX
 * bytes and has no CR, LF, NUL, 8-bit byte, quote or backslash, else a
 * literal {n}CRLF<bytes> (a NUL is sent as 0x80: RFC 3501 CHAR8 excludes it). */
void imapbody_string(const char *s, size_t len, struct buf *out);
/* As imapbody_string() for a C string; NULL is sent as NIL (nstring). */
void imapbody_nstring(const char *s, struct buf *out);

#endif
