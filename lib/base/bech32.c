/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* Bech32 per BIP 173. Trust: any (also parses user-supplied keys). */
#include "bech32.h"

#include <sodium.h>
#include <stdint.h>
#include <string.h>

#include "mem.h"

static const char bech32_alphabet[] = "qpzry9x8gf2tvdw0s3jn54khce6mua7l";

/* BIP 173 "Checksum": the generator of the BCH code, one constant per bit
 * of the value shifted out of the top of the 30-bit state. */
static uint32_t bech32_step(uint32_t chk, unsigned v)
{
	static const uint32_t gen[5] = {0x3b6a57b2, 0x26508e6d, 0x1ea119fa, 0x3d4233dd,
					0x2a1462b3};
	uint32_t top = chk >> 25;
	chk = ((chk & 0x1ffffff) << 5) ^ v;
	for (int i = 0; i < 5; i++)
		if ((top >> i) & 1)
			chk ^= gen[i];
	return chk;
}

static unsigned char bech32_lower(unsigned char c)
{
	return c >= 'A' && c <= 'Z' ? (unsigned char)(c - 'A' + 'a') : c;
}

static unsigned char bech32_upper(unsigned char c)
{
	return c >= 'a' && c <= 'z' ? (unsigned char)(c - 'a' + 'A') : c;
}

/* Checksum state after the expanded hrp (high bits, a zero, low bits), on
 * the lower-case form of each character. */
static uint32_t bech32_hrp_state(const char *hrp, size_t hlen)
{
	uint32_t chk = 1;
	for (size_t i = 0; i < hlen; i++)
		chk = bech32_step(chk, bech32_lower((unsigned char)hrp[i]) >> 5);
	chk = bech32_step(chk, 0);
	for (size_t i = 0; i < hlen; i++)
		chk = bech32_step(chk, bech32_lower((unsigned char)hrp[i]) & 31);
	return chk;
}

static int bech32_charval(unsigned char c)
{
	const char *p = memchr(bech32_alphabet, bech32_lower(c), 32);
	return p ? (int)(p - bech32_alphabet) : -1;
}

int bech32_encode5(const char *hrp, const unsigned char *d5, size_t n, bool upper, char *out,
		   size_t outsz)
{
	size_t hlen = strlen(hrp);
	if (hlen == 0)
		return -1;
	for (size_t i = 0; i < hlen; i++)
		if ((unsigned char)hrp[i] < 33 || (unsigned char)hrp[i] > 126)
			return -1;
	for (size_t i = 0; i < n; i++)
		if (d5[i] >= 32)
			return -1;
	/* hlen + '1' + n + checksum + NUL, overflow-checked. */
	size_t need = mem_add(mem_add(hlen, n), 1 + BECH32_CHECKSUM_LEN + 1);
	if (outsz < need)
		return -1;
	uint32_t chk = bech32_hrp_state(hrp, hlen);
	for (size_t i = 0; i < n; i++)
		chk = bech32_step(chk, d5[i]);
	for (int i = 0; i < BECH32_CHECKSUM_LEN; i++)
		chk = bech32_step(chk, 0);
	chk ^= 1;
	size_t o = 0;
	for (size_t i = 0; i < hlen; i++) {
		unsigned char c = (unsigned char)hrp[i];
		out[o++] = (char)(upper ? bech32_upper(c) : bech32_lower(c));
	}
	out[o++] = '1';
	for (size_t i = 0; i < n; i++)
		out[o++] = bech32_alphabet[d5[i]];
	for (int i = 0; i < BECH32_CHECKSUM_LEN; i++)
		out[o++] = bech32_alphabet[(chk >> (5 * (BECH32_CHECKSUM_LEN - 1 - i))) & 31];
	if (upper)
		for (size_t i = hlen + 1; i < o; i++)
			out[i] = (char)bech32_upper((unsigned char)out[i]);
	out[o] = '\0';
	return 0;
}

int bech32_decode5(const char *s, size_t maxlen, char *hrp, size_t hrpsz, unsigned char *d5,
		   size_t d5sz, size_t *n_r)
{
	size_t len = strnlen(s, maxlen + 1);
	if (len > maxlen)
		return 0;
	bool lower = false, upper = false;
	size_t sep = len; /* the last '1' separates: the hrp may contain '1' */
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c < 33 || c > 126)
			return 0;
		lower |= c >= 'a' && c <= 'z';
		upper |= c >= 'A' && c <= 'Z';
		if (c == '1')
			sep = i;
	}
	if (lower && upper)
		return 0;
	if (sep == len || sep == 0 || len - sep - 1 < BECH32_CHECKSUM_LEN)
		return 0;
	size_t n = len - sep - 1 - BECH32_CHECKSUM_LEN;
	if (sep >= hrpsz || n > d5sz)
		return 0;
	uint32_t chk = bech32_hrp_state(s, sep);
	for (size_t i = sep + 1; i < len; i++) {
		int v = bech32_charval((unsigned char)s[i]);
		if (v < 0)
			return 0;
		chk = bech32_step(chk, (unsigned)v);
		if (i - sep - 1 < n)
			d5[i - sep - 1] = (unsigned char)v;
	}
	if (chk != 1) {
		sodium_memzero(d5, n);
		return 0;
	}
	memcpy(hrp, s, sep);
	hrp[sep] = '\0';
	*n_r = n;
	return 1;
}

int bech32_encode(const char *hrp, const unsigned char *data, size_t len, bool upper, char *out,
		  size_t outsz)
{
	size_t n5 = mem_add(mem_mul(len, 8), 4) / 5;
	unsigned char *d5 = mem_alloc(n5);
	size_t o = 0;
	unsigned acc = 0;
	int bits = 0;
	for (size_t i = 0; i < len; i++) {
		acc = (acc << 8 | data[i]) & 0xfff; /* at most 4 + 8 bits pending */
		bits += 8;
		while (bits >= 5) {
			bits -= 5;
			d5[o++] = (unsigned char)((acc >> bits) & 31);
		}
	}
	if (bits > 0)
		d5[o++] = (unsigned char)((acc << (5 - bits)) & 31);
	int r = bech32_encode5(hrp, d5, o, upper, out, outsz);
	acc = 0;
	mem_wipe_free(d5, n5);
	return r;
}

int bech32_decode(const char *s, size_t maxlen, char *hrp, size_t hrpsz, unsigned char *data,
		  size_t datasz, size_t *len_r)
{
	size_t slen = strnlen(s, maxlen + 1);
	if (slen > maxlen)
		return 0;
	unsigned char *d5 = mem_alloc(slen);
	size_t n5 = 0, o = 0;
	int ok = bech32_decode5(s, maxlen, hrp, hrpsz, d5, slen, &n5);
	unsigned acc = 0;
	int bits = 0;
	for (size_t i = 0; ok && i < n5; i++) {
		acc = (acc << 5 | d5[i]) & 0xfff; /* at most 7 + 5 bits pending */
		bits += 5;
		if (bits >= 8) {
			bits -= 8;
			if (o == datasz) {
				ok = 0;
				break;
			}
			data[o++] = (unsigned char)(acc >> bits);
		}
	}
	/* BIP 173 reference convertbits(..., pad=False): at most 4 leftover
	 * bits, and they must be zero, so every string has one decoding. */
	if (ok && (bits >= 5 || (acc & ((1u << bits) - 1)) != 0))
		ok = 0;
	acc = 0;
	mem_wipe_free(d5, slen);
	if (!ok) {
		sodium_memzero(data, o);
		return 0;
	}
	*len_r = o;
	return 1;
}
