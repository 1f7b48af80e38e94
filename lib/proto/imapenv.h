/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* IMAP ENVELOPE (RFC 3501 section 7.4.2) of a message, from its raw header
 * fields (struct mime_msg_fields of mime.h), with a lenient RFC 5322 section
 * 3.4 address-list parser. Strings are sent as in the header, unfolded:
 * encoded words stay encoded. Sender and Reply-To default to From when
 * absent or empty.
 *
 * Pure code: no I/O, no globals, no logging; the fields are untrusted
 * message content. Trust: any. */
#ifndef SEALMAIL_IMAPENV_H
#define SEALMAIL_IMAPENV_H

#include <stddef.h>

#include "base/buf.h"
#include "mime.h"

/* Append the ENVELOPE "(...)" of a message with the fields f. */
void imapenv_envelope(const struct mime_msg_fields *f, struct buf *out);

/* Append the ENVELOPE of a message header (the header section; bytes after
 * its empty line are ignored). The same as imapenv_envelope() of the
 * message fields the parser finds in it, when no limit cut the header. */
void imapenv_envelope_header(const unsigned char *hdr, size_t len, struct buf *out);

#endif
