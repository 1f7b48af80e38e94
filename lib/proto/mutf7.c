/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* Modified UTF-7 (RFC 3501 section 5.1.3). Trust: pre-auth input. */
#include "mutf7.h"

#include <stdint.h>

/* RFC 3501 section 5.1.3: modified BASE64 of RFC 2152 with ',' in place of
 * '/', no '=' padding. */
static const char mutf7_alphabet[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";

static int mutf7_b64_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == ',')
		return 63;
	return -1;
}

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
 * just past the closing '-'. */
static int mutf7_decode_shift(const unsigned char *in, size_t n, size_t *pos, struct buf *out,
			      const char **error_r)
{
	uint32_t bits = 0;   /* pending bits, right-aligned */
	unsigned nbits = 0;  /* how many are pending (< 16 + 6) */
	uint32_t high = 0;   /* pending high surrogate, 0 when none */
	size_t units = 0;
	size_t i = *pos;

	for (;; i++) {
		if (i >= n)
			return mutf7_fail(error_r, "unterminated &-shift");
		if (in[i] == '-')
			break;
		int v = mutf7_b64_value(in[i]);
		if (v < 0)
			return mutf7_fail(error_r, "invalid character in &-shift");
		bits = (bits << 6) | (uint32_t)v;
		nbits += 6;
		if (nbits < 16)
			continue;
		nbits -= 16;
		uint32_t u = (bits >> nbits) & 0xffff;
		bits &= (1u << nbits) - 1;
		units++;
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
	/* The canonical encoder pads the last unit with at most 4 zero bits: a
	 * leftover of 6 or more bits is an extra character, non-zero padding is
	 * a second spelling of the same name. */
	if (units == 0)
		return mutf7_fail(error_r, "empty &-shift");
	if (high != 0)
		return mutf7_fail(error_r, "unpaired UTF-16 surrogate");
	if (nbits >= 6 || bits != 0)
		return mutf7_fail(error_r, "bad base64 padding in &-shift");
	*pos = i + 1;
	return 1;
}

int mutf7_to_utf8(const char *text, size_t n, struct buf *out, const char **error_r)
{
	const unsigned char *in = (const unsigned char *)text;
	size_t i = 0;
	bool after_shift = false;

	while (i < n) {
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
			if (after_shift)
				return mutf7_fail(error_r, "adjacent &-shifts");
			i++;
			if (mutf7_decode_shift(in, n, &i, out, error_r) != 1)
				return 0;
			after_shift = true;
			continue;
		}
		if (!mutf7_direct(c))
			return mutf7_fail(error_r, "character outside printable US-ASCII");
		buf_append_byte(out, c);
		i++;
		after_shift = false;
	}
	return 1;
}

bool mutf7_valid(const char *in, size_t n)
{
	struct buf tmp = BUF_INIT;
	int r = mutf7_to_utf8(in, n, &tmp, NULL);
	buf_free(&tmp);
	return r == 1;
}

struct mutf7_enc {
	uint32_t bits;
	unsigned nbits;
	bool shifted;
};

static void mutf7_enc_unit(struct mutf7_enc *e, struct buf *out, uint32_t u)
{
	e->bits = (e->bits << 16) | u;
	e->nbits += 16;
	while (e->nbits >= 6) {
		e->nbits -= 6;
		buf_append_byte(out, (unsigned char)mutf7_alphabet[(e->bits >> e->nbits) & 0x3f]);
	}
	e->bits &= (1u << e->nbits) - 1;
}

static void mutf7_enc_close(struct mutf7_enc *e, struct buf *out)
{
	if (!e->shifted)
		return;
	if (e->nbits > 0)
		buf_append_byte(out,
				(unsigned char)mutf7_alphabet[(e->bits << (6 - e->nbits)) & 0x3f]);
	buf_append_byte(out, '-');
	e->bits = 0;
	e->nbits = 0;
	e->shifted = false;
}

int mutf7_from_utf8(const char *text, size_t n, struct buf *out, const char **error_r)
{
	const unsigned char *in = (const unsigned char *)text;
	struct mutf7_enc e = {0, 0, false};
	size_t pos = 0;

	while (pos < n) {
		uint32_t cp;
		if (mutf7_utf8_next(in, n, &pos, &cp) != 1)
			return mutf7_fail(error_r, "invalid UTF-8");
		if (cp == 0)
			return mutf7_fail(error_r, "NUL in mailbox name");
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
			mutf7_enc_unit(&e, out, 0xd800 + (cp >> 10));
			mutf7_enc_unit(&e, out, 0xdc00 + (cp & 0x3ff));
		} else {
			mutf7_enc_unit(&e, out, cp);
		}
	}
	mutf7_enc_close(&e, out);
	return 1;
}
