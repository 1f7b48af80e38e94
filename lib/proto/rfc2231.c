/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* RFC 2231 extended value decoding. Trust: any. */
#include "rfc2231.h"

#include <string.h>

#include "rfc2047.h"
#include "base/codec.h"

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
	/* Section 4: "%XX" is an octet; a malformed "%" is kept. */
	codec_qp_decode(v, vlen, CODEC_QP_PERCENT, CODEC_LENIENT, &raw);
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
