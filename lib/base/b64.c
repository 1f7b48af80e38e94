/* SPDX-License-Identifier: AGPL-3.0-or-later */
#include "b64.h"

#include "mem.h"

static const char b64_alphabet[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static int b64_val(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

size_t b64_encoded_size(size_t n, bool pad)
{
	size_t full = mem_mul(n / 3, 4);
	size_t rest = n % 3;
	if (rest)
		full = mem_add(full, pad ? 4 : rest + 1);
	return mem_add(full, 1);
}

size_t b64_encode(const unsigned char *in, size_t n, char *out, bool pad)
{
	size_t o = 0, i = 0;
	for (; i + 3 <= n; i += 3) {
		unsigned v = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8 | in[i + 2];
		out[o++] = b64_alphabet[v >> 18];
		out[o++] = b64_alphabet[(v >> 12) & 63];
		out[o++] = b64_alphabet[(v >> 6) & 63];
		out[o++] = b64_alphabet[v & 63];
	}
	if (n - i == 1) {
		unsigned v = (unsigned)in[i] << 16;
		out[o++] = b64_alphabet[v >> 18];
		out[o++] = b64_alphabet[(v >> 12) & 63];
		if (pad) {
			out[o++] = '=';
			out[o++] = '=';
		}
	} else if (n - i == 2) {
		unsigned v = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8;
		out[o++] = b64_alphabet[v >> 18];
		out[o++] = b64_alphabet[(v >> 12) & 63];
		out[o++] = b64_alphabet[(v >> 6) & 63];
		if (pad)
			out[o++] = '=';
	}
	out[o] = '\0';
	return o;
}

int b64_decode(const char *in, size_t n, struct buf *out, bool pad)
{
	const unsigned char *s = (const unsigned char *)in;
	size_t npad = 0;
	if (pad) {
		if (n % 4 != 0)
			return 0;
		while (npad < 2 && n > npad && s[n - 1 - npad] == '=')
			npad++;
		n -= npad;
	} else if (n % 4 == 1) {
		return 0;
	}
	unsigned acc = 0;
	int bits = 0;
	buf_reserve(out, n / 4 * 3 + 3);
	for (size_t i = 0; i < n; i++) {
		int v = b64_val(s[i]);
		if (v < 0)
			return 0;
		acc = (acc << 6) | (unsigned)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			buf_append_byte(out, (unsigned char)(acc >> bits));
			acc &= (1u << bits) - 1;
		}
	}
	/* Canonical encodings only: leftover bits must be zero. */
	if (acc != 0)
		return 0;
	if (pad && ((n % 4 == 2 && npad != 2) || (n % 4 == 3 && npad != 1) ||
		    (n % 4 == 0 && npad != 0)))
		return 0;
	if (!pad && n % 4 == 1)
		return 0;
	return 1;
}
