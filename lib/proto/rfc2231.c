/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* RFC 2231 extended value decoding. Trust: any. */
#include "rfc2231.h"

#include <string.h>

#include "rfc2047.h"

static int hexval(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

int rfc2231_decode(const char *ext, size_t len, struct buf *out)
{
	const char *q1 = memchr(ext, '\'', len);
	if (q1 == NULL)
		return -1;
	const char *q2 = memchr(q1 + 1, '\'', len - (size_t)(q1 + 1 - ext));
	if (q2 == NULL)
		return -1;
	const unsigned char *v = (const unsigned char *)q2 + 1;
	size_t vlen = len - (size_t)(q2 + 1 - ext);
	struct buf raw = BUF_INIT;
	for (size_t i = 0; i < vlen; i++) {
		if (v[i] == '%' && i + 2 < vlen && hexval(v[i + 1]) >= 0 && hexval(v[i + 2]) >= 0) {
			buf_append_byte(&raw,
			                (unsigned char)(hexval(v[i + 1]) * 16 + hexval(v[i + 2])));
			i += 2;
		} else
			buf_append_byte(&raw, v[i]);
	}
	int ret = 0;
	size_t cslen = (size_t)(q1 - ext);
	if (rfc2047_charset_to_utf8(ext, cslen, raw.data, raw.len, out) < 0) {
		/* RFC 2231 section 4: an unknown charset leaves the bytes
		 * undecodable; keep them only when they already are UTF-8. */
		if (rfc2047_utf8_valid(raw.data, raw.len))
			buf_append(out, raw.data, raw.len);
		else
			ret = -1;
	}
	buf_free(&raw);
	return ret;
}
