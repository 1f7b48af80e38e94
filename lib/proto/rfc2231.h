/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* RFC 2231 extended parameter values: charset'language'percent-encoded.
 * Pure; no I/O. Trust: any (message content). */
#ifndef SEALMAIL_RFC2231_H
#define SEALMAIL_RFC2231_H

#include <stddef.h>

#include "base/buf.h"

/* Append the UTF-8 text of an extended value (RFC 2231 sections 4 and 7:
 * "charset'language'value", value with %XX escapes) to out. Returns 0, or -1
 * (nothing appended) when the value has no charset'language' prefix, or the
 * charset is unknown and the decoded bytes are not UTF-8. A malformed %
 * escape is kept as written. */
int rfc2231_decode(const char *ext, size_t len, struct buf *out);

#endif
