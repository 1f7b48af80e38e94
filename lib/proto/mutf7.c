/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* Modified UTF-7 (RFC 3501 section 5.1.3). Trust: pre-auth input. */
#include "mutf7.h"

#include <stdint.h>
#include <string.h>

#include "base/codec.h"

/* Printable US-ASCII represents itself (RFC 3501 section 5.1.3). */
static bool mutf7_direct(uint32_t c)
{
	return c >= 0x20 && c <= 0x7e;
}

/* Decode one UTF-8 sequence at s[*pos]: 1 ok (code point in *cp_r), 0 bad. */
static int mutf7_utf8_next(const unsigned char *s, size_t n, size_t *pos, uint32_t *cp_r)
{
	size_t i = *pos;
	unsigned char c = s[i];
	uint32_t cp, min;
	size_t more;

	if (c < 0x80) {
		*cp_r = c;
		*pos = i + 1;
		return 1;
	}
	if (c >= 0xc2 && c <= 0xdf) {
		cp = c & 0x1f;
		more = 1;
		min = 0x80;
	} else if (c >= 0xe0 && c <= 0xef) {
		cp = c & 0x0f;
		more = 2;
		min = 0x800;
	} else if (c >= 0xf0 && c <= 0xf4) {
		cp = c & 0x07;
		more = 3;
		min = 0x10000;
	} else {
		return 0; /* continuation byte, 0xc0/0xc1 (overlong) or > 0xf4 */
	}
	if (n - i - 1 < more)
		return 0;
	for (size_t k = 1; k <= more; k++) {
		unsigned char d = s[i + k];
		if ((d & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (d & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	*cp_r = cp;
	*pos = i + 1 + more;
	return 1;
}

bool mutf7_utf8_valid(const unsigned char *s, size_t n)
{
	size_t pos = 0;
	uint32_t cp;

	while (pos < n) {
		if (mutf7_utf8_next(s, n, &pos, &cp) != 1)
			return false;
	}
	return true;
}

static int mutf7_fail(const char **error_r, const char *why)
{
	if (error_r != NULL)
		*error_r = why;
	return 0;
}

/* Decode one shifted run starting after '&' at in[*pos]; on success *pos is
 * just past the closing '-'. The run is RFC 2152 base64 (codec's IMAP
 * alphabet, no padding) of UTF-16BE; strict decoding refuses a lone last
 * character and non-zero trailing bits, and the canonical encoder pads the
 * last unit with at most 4 zero bits, so the bytes must also come in whole
 * 16-bit units: then every name has one spelling. units: scratch. */
static int mutf7_decode_shift(const unsigned char *in, size_t n, size_t *pos, struct buf *out,
                              struct buf *units, const char **error_r)
{
	size_t i = *pos;
	const unsigned char *dash = memchr(in + i, '-', n - i);
	size_t run = dash != NULL ? (size_t)(dash - in) - i : n - i;
	struct codec_b64 d;
	struct codec_out o;

	buf_reset(units);
	codec_out_buf(&o, units);
	codec_b64_init(&d, CODEC_B64_IMAP, CODEC_PAD_FORBIDDEN, CODEC_STRICT);
	if (codec_b64_feed(&d, in + i, run, &o) != 1 && d.err == CODEC_ERR_CHAR)
		return mutf7_fail(error_r, "invalid character in &-shift");
	if (dash == NULL)
		return mutf7_fail(error_r, "unterminated &-shift");
	/* Fewer than three characters hold no 16-bit unit. */
	if (run < 3)
		return mutf7_fail(error_r, "empty &-shift");
	if (d.err != CODEC_OK || codec_b64_finish(&d, &o) != 1 || units->len % 2 != 0)
		return mutf7_fail(error_r, "bad base64 padding in &-shift");

	uint32_t high = 0; /* pending high surrogate, 0 when none */
	for (size_t k = 0; k < units->len; k += 2) {
		uint32_t u = (uint32_t)units->data[k] << 8 | units->data[k + 1];
		if (u >= 0xd800 && u <= 0xdbff) {
			if (high != 0)
				return mutf7_fail(error_r, "unpaired UTF-16 surrogate");
			high = u;
			continue;
		}
		uint32_t cp;
		if (u >= 0xdc00 && u <= 0xdfff) {
			if (high == 0)
				return mutf7_fail(error_r, "unpaired UTF-16 surrogate");
			cp = 0x10000 + ((high - 0xd800) << 10) + (u - 0xdc00);
			high = 0;
		} else {
			if (high != 0)
				return mutf7_fail(error_r, "unpaired UTF-16 surrogate");
			cp = u;
		}
		if (cp == 0)
			return mutf7_fail(error_r, "NUL in mailbox name");
		if (mutf7_direct(cp))
			return mutf7_fail(error_r, "printable ASCII inside &-shift");
		buf_append_utf8(out, cp);
	}
	if (high != 0)
		return mutf7_fail(error_r, "unpaired UTF-16 surrogate");
	*pos = i + run + 1;
	return 1;
}

int mutf7_to_utf8(const char *text, size_t n, struct buf *out, const char **error_r)
{
	const unsigned char *in = (const unsigned char *)text;
	struct buf units = BUF_INIT;
	size_t i = 0;
	bool after_shift = false;
	int r = 1;

	while (r == 1 && i < n) {
		unsigned char c = in[i];
		if (c == '&') {
			if (i + 1 < n && in[i + 1] == '-') {
				buf_append_byte(out, '&');
				i += 2;
				after_shift = false;
				continue;
			}
			/* Two adjacent shifts would spell one run of characters in
			 * two ways; RFC 3501 encodes a run in a single shift. */
			if (after_shift) {
				r = mutf7_fail(error_r, "adjacent &-shifts");
				break;
			}
			i++;
			r = mutf7_decode_shift(in, n, &i, out, &units, error_r);
			after_shift = true;
			continue;
		}
		if (!mutf7_direct(c)) {
			r = mutf7_fail(error_r, "character outside printable US-ASCII");
			break;
		}
		buf_append_byte(out, c);
		i++;
		after_shift = false;
	}
	buf_free(&units);
	return r;
}

bool mutf7_valid(const char *in, size_t n)
{
	struct buf tmp = BUF_INIT;
	int r = mutf7_to_utf8(in, n, &tmp, NULL);
	buf_free(&tmp);
	return r == 1;
}

/* The UTF-16BE bytes of the current shifted run (RFC 2152 encodes them as
 * one base64 string, unpadded). */
struct mutf7_enc {
	struct buf units;
	bool shifted;
};

static void mutf7_enc_unit(struct mutf7_enc *e, uint32_t u)
{
	buf_append_byte(&e->units, (unsigned char)(u >> 8));
	buf_append_byte(&e->units, (unsigned char)(u & 0xff));
}

static void mutf7_enc_close(struct mutf7_enc *e, struct buf *out)
{
	if (!e->shifted)
		return;
	codec_b64_encode_buf(e->units.data, e->units.len, CODEC_B64_IMAP, false, out);
	buf_append_byte(out, '-');
	buf_reset(&e->units);
	e->shifted = false;
}

int mutf7_from_utf8(const char *text, size_t n, struct buf *out, const char **error_r)
{
	const unsigned char *in = (const unsigned char *)text;
	struct mutf7_enc e = {BUF_INIT, false};
	size_t pos = 0;
	int r = 1;

	while (pos < n) {
		uint32_t cp;
		if (mutf7_utf8_next(in, n, &pos, &cp) != 1) {
			r = mutf7_fail(error_r, "invalid UTF-8");
			break;
		}
		if (cp == 0) {
			r = mutf7_fail(error_r, "NUL in mailbox name");
			break;
		}
		if (mutf7_direct(cp)) {
			mutf7_enc_close(&e, out);
			if (cp == '&')
				buf_append(out, "&-", 2);
			else
				buf_append_byte(out, (unsigned char)cp);
			continue;
		}
		if (!e.shifted) {
			buf_append_byte(out, '&');
			e.shifted = true;
		}
		if (cp >= 0x10000) {
			cp -= 0x10000;
			mutf7_enc_unit(&e, 0xd800 + (cp >> 10));
			mutf7_enc_unit(&e, 0xdc00 + (cp & 0x3ff));
		} else {
			mutf7_enc_unit(&e, cp);
		}
	}
	if (r == 1)
		mutf7_enc_close(&e, out);
	buf_free(&e.units);
	return r;
}
