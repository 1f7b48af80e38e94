/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* RFC 2047 encoded-word decoding and charset tables. Trust: any. */
#include "rfc2047.h"

#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "base/codec.h"

enum charset_id { CS_UNKNOWN, CS_UTF8, CS_1252, CS_8859_2, CS_8859_15 };

/* ISO-8859-2 0xA0..0xFF (from the Unicode mapping file 8859-2.TXT). */
static const uint16_t latin2_high[96] = {
    0x00a0, 0x0104, 0x02d8, 0x0141, 0x00a4, 0x013d, 0x015a, 0x00a7, 0x00a8, 0x0160, 0x015e, 0x0164,
    0x0179, 0x00ad, 0x017d, 0x017b, 0x00b0, 0x0105, 0x02db, 0x0142, 0x00b4, 0x013e, 0x015b, 0x02c7,
    0x00b8, 0x0161, 0x015f, 0x0165, 0x017a, 0x02dd, 0x017e, 0x017c, 0x0154, 0x00c1, 0x00c2, 0x0102,
    0x00c4, 0x0139, 0x0106, 0x00c7, 0x010c, 0x00c9, 0x0118, 0x00cb, 0x011a, 0x00cd, 0x00ce, 0x010e,
    0x0110, 0x0143, 0x0147, 0x00d3, 0x00d4, 0x0150, 0x00d6, 0x00d7, 0x0158, 0x016e, 0x00da, 0x0170,
    0x00dc, 0x00dd, 0x0162, 0x00df, 0x0155, 0x00e1, 0x00e2, 0x0103, 0x00e4, 0x013a, 0x0107, 0x00e7,
    0x010d, 0x00e9, 0x0119, 0x00eb, 0x011b, 0x00ed, 0x00ee, 0x010f, 0x0111, 0x0144, 0x0148, 0x00f3,
    0x00f4, 0x0151, 0x00f6, 0x00f7, 0x0159, 0x016f, 0x00fa, 0x0171, 0x00fc, 0x00fd, 0x0163, 0x02d9,
};

/* windows-1252 0x80..0x9F; the five unassigned bytes map to the C1 code
 * points as in the WHATWG index-windows-1252. */
static const uint16_t cp1252_c1[32] = {
    0x20ac, 0x0081, 0x201a, 0x0192, 0x201e, 0x2026, 0x2020, 0x2021, 0x02c6, 0x2030, 0x0160,
    0x2039, 0x0152, 0x008d, 0x017d, 0x008f, 0x0090, 0x2018, 0x2019, 0x201c, 0x201d, 0x2022,
    0x2013, 0x2014, 0x02dc, 0x2122, 0x0161, 0x203a, 0x0153, 0x009d, 0x017e, 0x0178,
};

/* Length of the well-formed UTF-8 sequence at s (RFC 3629 section 4), or 0. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
	unsigned char c = s[0];
	if (c < 0x80)
		return 1;
	size_t len;
	unsigned char lo = 0x80, hi = 0xbf;
	if (c >= 0xc2 && c <= 0xdf)
		len = 2;
	else if (c >= 0xe0 && c <= 0xef) {
		len = 3;
		if (c == 0xe0)
			lo = 0xa0;
		else if (c == 0xed)
			hi = 0x9f; /* no surrogates */
	} else if (c >= 0xf0 && c <= 0xf4) {
		len = 4;
		if (c == 0xf0)
			lo = 0x90;
		else if (c == 0xf4)
			hi = 0x8f;
	} else
		return 0;
	if (n < len || s[1] < lo || s[1] > hi)
		return 0;
	for (size_t i = 2; i < len; i++)
		if ((s[i] & 0xc0) != 0x80)
			return 0;
	return len;
}

bool rfc2047_utf8_valid(const unsigned char *s, size_t n)
{
	size_t i = 0;
	while (i < n) {
		size_t l = utf8_seq(s + i, n - i);
		if (l == 0)
			return false;
		i += l;
	}
	return true;
}

static uint32_t byte_to_cp(enum charset_id cs, unsigned char c)
{
	if (c < 0x80)
		return c;
	switch (cs) {
	case CS_8859_2:
		return c >= 0xa0 ? latin2_high[c - 0xa0] : c;
	case CS_8859_15:
		switch (c) {
		case 0xa4:
			return 0x20ac;
		case 0xa6:
			return 0x0160;
		case 0xa8:
			return 0x0161;
		case 0xb4:
			return 0x017d;
		case 0xb8:
			return 0x017e;
		case 0xbc:
			return 0x0152;
		case 0xbd:
			return 0x0153;
		case 0xbe:
			return 0x0178;
		default:
			return c;
		}
	default:
		return c < 0xa0 ? cp1252_c1[c - 0x80] : c;
	}
}

/* Append bytes, keeping well-formed UTF-8 and reading any other byte in the
 * single-byte charset fallback (U+FFFD when fallback is CS_UTF8). */
static void append_sanitised(struct buf *out, const unsigned char *s, size_t n,
                             enum charset_id fallback)
{
	size_t i = 0;
	while (i < n) {
		size_t run = i;
		while (run < n && s[run] < 0x80 && s[run] != '\0')
			run++;
		if (run > i) {
			buf_append(out, s + i, run - i);
			i = run;
			continue;
		}
		if (s[i] == '\0') {
			buf_append_utf8(out, 0xfffd); /* NUL is never valid header text */
			i++;
			continue;
		}
		size_t l = utf8_seq(s + i, n - i);
		if (l > 0) {
			buf_append(out, s + i, l);
			i += l;
		} else {
			buf_append_utf8(out, fallback == CS_UTF8 ? 0xfffd : byte_to_cp(fallback, s[i]));
			i++;
		}
	}
}

static enum charset_id charset_lookup(const char *name, size_t len)
{
	static const struct {
		const char *name;
		enum charset_id id;
	} names[] = {
	    {"utf-8", CS_UTF8},          {"utf8", CS_UTF8},
	    {"us-ascii", CS_1252},       {"ascii", CS_1252},
	    {"ansi_x3.4-1968", CS_1252}, {"iso-8859-1", CS_1252},
	    {"iso8859-1", CS_1252},      {"iso_8859-1", CS_1252},
	    {"latin1", CS_1252},         {"l1", CS_1252},
	    {"windows-1252", CS_1252},   {"cp1252", CS_1252},
	    {"x-cp1252", CS_1252},       {"iso-8859-2", CS_8859_2},
	    {"iso8859-2", CS_8859_2},    {"iso_8859-2", CS_8859_2},
	    {"latin2", CS_8859_2},       {"l2", CS_8859_2},
	    {"iso-8859-15", CS_8859_15}, {"iso8859-15", CS_8859_15},
	    {"iso_8859-15", CS_8859_15}, {"latin-9", CS_8859_15},
	    {"latin9", CS_8859_15},
	};
	/* RFC 2231 section 5: charset*language */
	const char *star = memchr(name, '*', len);
	if (star != NULL)
		len = (size_t)(star - name);
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strlen(names[i].name) == len && strncasecmp(names[i].name, name, len) == 0)
			return names[i].id;
	return CS_UNKNOWN;
}

int rfc2047_charset_to_utf8(const char *charset, size_t charset_len, const unsigned char *in,
                            size_t len, struct buf *out)
{
	enum charset_id cs = charset_lookup(charset, charset_len);
	if (cs == CS_UNKNOWN)
		return -1;
	if (cs == CS_UTF8) {
		append_sanitised(out, in, len, CS_UTF8);
		return 0;
	}
	buf_reserve(out, len);
	for (size_t i = 0; i < len; i++) {
		if (in[i] == '\0')
			buf_append_utf8(out, 0xfffd);
		else
			buf_append_utf8(out, byte_to_cp(cs, in[i]));
	}
	return 0;
}

struct ew {
	const char *charset;
	size_t charset_len;
	size_t total; /* bytes of the whole encoded word */
	struct buf bytes;
};

/* Parse and decode the encoded word at s (RFC 2047 section 2): 1 ok, 0 not an
 * encoded word. */
static int parse_ew(const unsigned char *s, size_t n, struct ew *ew)
{
	if (n < 8 || s[0] != '=' || s[1] != '?')
		return 0;
	size_t i = 2;
	while (i < n && s[i] != '?' && s[i] > ' ' && s[i] < 0x7f)
		i++;
	if (i == 2 || i + 3 >= n || s[i] != '?' || s[i + 2] != '?')
		return 0;
	ew->charset = (const char *)s + 2;
	ew->charset_len = i - 2;
	unsigned char enc = s[i + 1];
	size_t text = i + 3, j = text;
	while (j + 1 < n && !(s[j] == '?' && s[j + 1] == '=')) {
		if (s[j] <= ' ' || s[j] >= 0x7f || s[j] == '?')
			return 0;
		j++;
	}
	if (j + 1 >= n)
		return 0;
	buf_reset(&ew->bytes);
	if (enc == 'B' || enc == 'b') {
		/* Section 4.1, with missing padding and non-zero trailing bits
		 * tolerated (common in the wild); any other byte outside the
		 * alphabet makes it no encoded word. */
		if (codec_b64_decode(s + text, j - text, CODEC_B64_STD, CODEC_PAD_OPTIONAL,
		                     CODEC_LOOSE_END, &ew->bytes) != 1)
			return 0;
	} else if (enc == 'Q' || enc == 'q') {
		/* Section 4.2: "_" is SPACE, "=XX" an octet; a malformed "=" is
		 * kept. */
		codec_qp_decode(s + text, j - text, CODEC_QP_WORD, CODEC_LENIENT, &ew->bytes);
	} else {
		return 0;
	}
	ew->total = j + 2;
	return 1;
}

static bool all_ascii(const unsigned char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] >= 0x80 || s[i] == '\0')
			return false;
	return true;
}

void rfc2047_decode(const char *in_, size_t len, struct buf *utf8_out)
{
	const unsigned char *in = (const unsigned char *)in_;
	struct ew ew = {.bytes = BUF_INIT};
	/* Bytes of adjacent encoded words in one charset are joined before
	 * conversion, so a multi-byte character split across words survives. */
	struct buf run = BUF_INIT;
	const char *run_cs = NULL;
	size_t run_cs_len = 0;
	bool last_ew = false;
	size_t i = 0;

	while (i < len) {
		if (in[i] == '=' && parse_ew(in + i, len - i, &ew) == 1) {
			bool known = charset_lookup(ew.charset, ew.charset_len) != CS_UNKNOWN;
			if (run_cs != NULL && (!known || run_cs_len != ew.charset_len ||
			                       strncasecmp(run_cs, ew.charset, run_cs_len) != 0)) {
				rfc2047_charset_to_utf8(run_cs, run_cs_len, run.data, run.len,
				                        utf8_out);
				buf_reset(&run);
				run_cs = NULL;
			}
			if (known) {
				if (run_cs == NULL) {
					run_cs = ew.charset;
					run_cs_len = ew.charset_len;
				}
				buf_append(&run, ew.bytes.data, ew.bytes.len);
			} else if (all_ascii(ew.bytes.data, ew.bytes.len)) {
				buf_append(utf8_out, ew.bytes.data, ew.bytes.len);
			} else {
				/* RFC 2047 section 6.2: an unknown charset may be shown as is */
				buf_append(utf8_out, in + i, ew.total);
			}
			i += ew.total;
			last_ew = true;
			continue;
		}
		if (last_ew && (in[i] == ' ' || in[i] == '\t' || in[i] == '\r' || in[i] == '\n')) {
			size_t j = i;
			while (j < len &&
			       (in[j] == ' ' || in[j] == '\t' || in[j] == '\r' || in[j] == '\n'))
				j++;
			if (j < len && in[j] == '=' && parse_ew(in + j, len - j, &ew) == 1) {
				i = j; /* RFC 2047 section 6.2: dropped between encoded words */
				continue;
			}
		}
		if (run_cs != NULL) {
			rfc2047_charset_to_utf8(run_cs, run_cs_len, run.data, run.len, utf8_out);
			buf_reset(&run);
			run_cs = NULL;
		}
		last_ew = false;
		size_t j = i;
		while (j < len && !(in[j] == '=' && j + 1 < len && in[j + 1] == '?') &&
		       !(j > i && (in[j] == ' ' || in[j] == '\t')))
			j++;
		if (j == i)
			j++;
		/* unfold: CR and LF are dropped, everything else is kept */
		size_t k = i;
		while (k < j) {
			size_t e = k;
			while (e < j && in[e] != '\r' && in[e] != '\n')
				e++;
			append_sanitised(utf8_out, in + k, e - k, CS_1252);
			k = e < j ? e + 1 : e;
		}
		i = j;
	}
	if (run_cs != NULL)
		rfc2047_charset_to_utf8(run_cs, run_cs_len, run.data, run.len, utf8_out);
	buf_free(&run);
	buf_free(&ew.bytes);
	buf_reserve(utf8_out, 0);
}
