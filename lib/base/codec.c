/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* base64, quoted-printable and hex: see codec.h. Trust: any; every byte fed
 * in may be hostile, and work and state are bounded per input byte. */
#include "codec.h"

#include <string.h>
#include <strings.h>

#include "mem.h"

/* ---- output ---------------------------------------------------------------- */

void codec_out_buf(struct codec_out *o, struct buf *b)
{
	*o = (struct codec_out){.buf = b};
}

void codec_out_arr(struct codec_out *o, unsigned char *arr, size_t cap)
{
	*o = (struct codec_out){.arr = arr, .cap = cap};
}

/* Append n bytes; false when a fixed array has no room for all of them
 * (then nothing is written). */
static bool codec_put_n(struct codec_out *o, const unsigned char *p, size_t n)
{
	if (o->buf != NULL) {
		buf_append(o->buf, p, n);
	} else {
		if (n > o->cap - o->len)
			return false;
		if (n > 0)
			memcpy(o->arr + o->len, p, n);
	}
	o->len += n;
	return true;
}

static bool codec_put(struct codec_out *o, unsigned char c)
{
	return codec_put_n(o, &c, 1);
}

const char *codec_strerror(enum codec_err e)
{
	switch (e) {
	case CODEC_OK:
		return "";
	case CODEC_ERR_CHAR:
		return "character outside the alphabet";
	case CODEC_ERR_PAD:
		return "bad padding or trailing bits";
	case CODEC_ERR_ESCAPE:
		return "malformed escape";
	case CODEC_ERR_SPACE:
		return "decoded data too long";
	}
	return "unknown error";
}

/* ---- base64 ---------------------------------------------------------------- */

static const char codec_b64_alphabets[3][65] = {
    [CODEC_B64_STD] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/",
    [CODEC_B64_URL] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_",
    [CODEC_B64_IMAP] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,",
};

/* The value of c in alphabet a, or -1 (the alphabets differ only in their
 * last two characters). */
static int codec_b64_value(enum codec_b64_alphabet a, unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == (unsigned char)codec_b64_alphabets[a][62])
		return 62;
	if (c == (unsigned char)codec_b64_alphabets[a][63])
		return 63;
	return -1;
}

size_t codec_b64_encoded_size(size_t n, bool pad)
{
	size_t full = mem_mul(n / 3, 4);
	size_t rest = n % 3;
	if (rest)
		full = mem_add(full, pad ? 4 : rest + 1);
	return mem_add(full, 1);
}

size_t codec_b64_encode(const unsigned char *in, size_t n, char *out, enum codec_b64_alphabet a,
                        bool pad)
{
	const char *alpha = codec_b64_alphabets[a];
	size_t o = 0, i = 0;
	for (; i + 3 <= n; i += 3) {
		unsigned v = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8 | in[i + 2];
		out[o++] = alpha[v >> 18];
		out[o++] = alpha[(v >> 12) & 63];
		out[o++] = alpha[(v >> 6) & 63];
		out[o++] = alpha[v & 63];
	}
	if (n - i == 1) {
		unsigned v = (unsigned)in[i] << 16;
		out[o++] = alpha[v >> 18];
		out[o++] = alpha[(v >> 12) & 63];
		if (pad) {
			out[o++] = '=';
			out[o++] = '=';
		}
	} else if (n - i == 2) {
		unsigned v = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8;
		out[o++] = alpha[v >> 18];
		out[o++] = alpha[(v >> 12) & 63];
		out[o++] = alpha[(v >> 6) & 63];
		if (pad)
			out[o++] = '=';
	}
	out[o] = '\0';
	return o;
}

void codec_b64_encode_buf(const unsigned char *in, size_t n, enum codec_b64_alphabet a, bool pad,
                          struct buf *out)
{
	size_t need = codec_b64_encoded_size(n, pad);
	buf_reserve(out, need);
	/* buf_reserve leaves room for need bytes and buf's own NUL, so the
	 * encoder's NUL lands inside the allocation and is then buf's. */
	out->len += codec_b64_encode(in, n, (char *)out->data + out->len, a, pad);
}

size_t codec_b64_decoded_max(size_t n)
{
	/* A last group of r < 4 characters holds fewer than r whole bytes. */
	return n / 4 * 3 + n % 4;
}

void codec_b64_init(struct codec_b64 *d, enum codec_b64_alphabet a, enum codec_pad pad,
                    enum codec_mode mode)
{
	*d = (struct codec_b64){.alphabet = a, .pad = pad, .mode = mode, .err = CODEC_OK};
}

static int codec_b64_fail(struct codec_b64 *d, enum codec_err e)
{
	d->err = e;
	d->err_off = d->off;
	return 0;
}

/* '=' padding needed after a last group of `group` characters. */
static unsigned codec_b64_pad_needed(unsigned group)
{
	return group == 2 ? 2 : group == 3 ? 1 : 0;
}

/* One '=' in a mode where it is padding. */
static int codec_b64_pad_char(struct codec_b64 *d)
{
	if (d->mode == CODEC_LENIENT) {
		d->ended = true; /* RFC 2045 section 6.8: '=' ends the data */
		return 1;
	}
	if (d->mode == CODEC_LOOSE_END) {
		d->npad = 1; /* a run of any length; only its presence matters */
		return 1;
	}
	if (d->npad >= codec_b64_pad_needed(d->group))
		return codec_b64_fail(d, CODEC_ERR_PAD);
	/* RFC 4648 section 3.5: the bits padding discards must be zero, or
	 * two spellings decode to the same bytes. */
	if (d->acc != 0)
		return codec_b64_fail(d, CODEC_ERR_PAD);
	d->npad++;
	return 1;
}

int codec_b64_feed(struct codec_b64 *d, const void *in_, size_t n, struct codec_out *out)
{
	const unsigned char *in = in_;
	if (d->err != CODEC_OK)
		return 0;
	for (size_t i = 0; i < n; i++, d->off++) {
		if (d->ended) {
			d->off += n - i;
			break;
		}
		unsigned char c = in[i];
		int v = codec_b64_value(d->alphabet, c);
		if (v < 0) {
			bool is_pad =
			    c == '=' && !(d->mode == CODEC_STRICT && d->pad == CODEC_PAD_FORBIDDEN);
			if (is_pad) {
				if (codec_b64_pad_char(d) != 1)
					return 0;
				continue;
			}
			if (d->mode == CODEC_LENIENT)
				continue; /* RFC 2045 section 6.8: ignored */
			return codec_b64_fail(d, CODEC_ERR_CHAR);
		}
		if (d->npad > 0)
			return codec_b64_fail(d, CODEC_ERR_PAD); /* data after padding */
		d->acc = (d->acc << 6) | (uint32_t)v;
		d->bits += 6;
		d->group = (d->group + 1) & 3;
		if (d->bits >= 8) {
			d->bits -= 8;
			if (!codec_put(out, (unsigned char)(d->acc >> d->bits)))
				return codec_b64_fail(d, CODEC_ERR_SPACE);
			d->acc &= (1u << d->bits) - 1;
		}
	}
	return 1;
}

int codec_b64_finish(struct codec_b64 *d, struct codec_out *out)
{
	(void)out; /* base64 holds back bits, never bytes */
	if (d->err != CODEC_OK)
		return 0;
	if (d->mode != CODEC_STRICT)
		return 1;
	unsigned need = codec_b64_pad_needed(d->group);
	/* One character of a group is 6 bits, less than a byte. */
	if (d->group == 1 || d->acc != 0)
		return codec_b64_fail(d, CODEC_ERR_PAD);
	if (d->npad == 0 && need > 0 && d->pad == CODEC_PAD_REQUIRED)
		return codec_b64_fail(d, CODEC_ERR_PAD);
	if (d->npad > 0 && d->npad < need)
		return codec_b64_fail(d, CODEC_ERR_PAD);
	return 1;
}

static int codec_b64_run(const void *in, size_t n, enum codec_b64_alphabet a, enum codec_pad pad,
                         enum codec_mode mode, struct codec_out *o)
{
	struct codec_b64 d;
	codec_b64_init(&d, a, pad, mode);
	return codec_b64_feed(&d, in, n, o) == 1 && codec_b64_finish(&d, o) == 1;
}

int codec_b64_decode(const void *in, size_t n, enum codec_b64_alphabet a, enum codec_pad pad,
                     enum codec_mode mode, struct buf *out)
{
	struct codec_out o;
	codec_out_buf(&o, out);
	buf_reserve(out, codec_b64_decoded_max(n));
	return codec_b64_run(in, n, a, pad, mode, &o);
}

int codec_b64_decode_arr(const void *in, size_t n, enum codec_b64_alphabet a, enum codec_pad pad,
                         enum codec_mode mode, unsigned char *arr, size_t cap, size_t *len_r)
{
	struct codec_out o;
	codec_out_arr(&o, arr, cap);
	int r = codec_b64_run(in, n, a, pad, mode, &o);
	*len_r = o.len;
	return r;
}

/* ---- quoted-printable -------------------------------------------------------- */

/* Decoder states; QP_CR and the QP_EQ_WSP/QP_EQ_CR pair occur in
 * CODEC_QP_BODY only. */
enum {
	QP_TEXT,   /* between escapes */
	QP_CR,     /* after a CR: a line break if LF follows */
	QP_EQ,     /* after '=' */
	QP_EQ_HEX, /* after '=' and one hex digit (in hi) */
	QP_EQ_WSP, /* after '=' and white space (in the ring) */
	QP_EQ_CR,  /* after '=', white space and CR */
};

static unsigned char codec_qp_escape(const struct codec_qp *d)
{
	return d->kind == CODEC_QP_PERCENT ? '%' : '=';
}

void codec_qp_init(struct codec_qp *d, enum codec_qp_kind kind, enum codec_mode mode)
{
	d->kind = kind;
	d->mode = mode;
	d->state = QP_TEXT;
	d->hi = 0;
	d->wsp_head = 0;
	d->wsp_len = 0;
	d->err = CODEC_OK;
	d->off = 0;
	d->err_off = 0;
}

static int codec_qp_fail(struct codec_qp *d, enum codec_err e)
{
	d->err = e;
	d->err_off = d->off;
	return 0;
}

static int codec_qp_put(struct codec_qp *d, struct codec_out *out, unsigned char c)
{
	return codec_put(out, c) ? 1 : codec_qp_fail(d, CODEC_ERR_SPACE);
}

/* Write the held-back white space: it turned out not to end a line. */
static int codec_qp_wsp_flush(struct codec_qp *d, struct codec_out *out)
{
	for (; d->wsp_len > 0; d->wsp_len--) {
		if (codec_qp_put(d, out, d->wsp[d->wsp_head]) != 1)
			return 0;
		d->wsp_head = (d->wsp_head + 1) % CODEC_QP_WSP_MAX;
	}
	d->wsp_head = 0;
	return 1;
}

static void codec_qp_wsp_drop(struct codec_qp *d)
{
	d->wsp_head = 0;
	d->wsp_len = 0;
}

/* Hold back one byte of white space; when the ring is full its oldest byte
 * is written (only the last CODEC_QP_WSP_MAX count as trailing). */
static int codec_qp_wsp_push(struct codec_qp *d, struct codec_out *out, unsigned char c)
{
	if (d->wsp_len == CODEC_QP_WSP_MAX) {
		if (codec_qp_put(d, out, d->wsp[d->wsp_head]) != 1)
			return 0;
		d->wsp_head = (d->wsp_head + 1) % CODEC_QP_WSP_MAX;
		d->wsp_len--;
	}
	d->wsp[(d->wsp_head + d->wsp_len) % CODEC_QP_WSP_MAX] = c;
	d->wsp_len++;
	return 1;
}

/* An escape that is not one: an error when strict, else its characters
 * stand for themselves (RFC 2045 section 6.7 note (2)) and the decoder goes
 * on in state next. */
static int codec_qp_malformed(struct codec_qp *d, struct codec_out *out, unsigned next)
{
	if (d->mode == CODEC_STRICT)
		return codec_qp_fail(d, CODEC_ERR_ESCAPE);
	if (codec_qp_put(d, out, codec_qp_escape(d)) != 1)
		return 0;
	if (d->state == QP_EQ_HEX && codec_qp_put(d, out, d->hi) != 1)
		return 0;
	d->state = next;
	return 1;
}

static bool codec_qp_wsp(unsigned char c)
{
	return c == ' ' || c == '\t';
}

/* State QP_TEXT, CODEC_QP_BODY: RFC 2045 section 6.7 rules (1)-(4). */
static int codec_qp_body_text(struct codec_qp *d, struct codec_out *out, unsigned char c)
{
	if (codec_qp_wsp(c))
		return codec_qp_wsp_push(d, out, c);
	if (c == '\n') {
		codec_qp_wsp_drop(d); /* rule (3): transport-added */
		return codec_qp_put(d, out, '\n');
	}
	if (c == '\r') {
		d->state = QP_CR;
		return 1;
	}
	if (codec_qp_wsp_flush(d, out) != 1)
		return 0;
	if (c == '=') {
		d->state = QP_EQ;
		return 1;
	}
	return codec_qp_put(d, out, c);
}

/* States after '=' in CODEC_QP_BODY that are not QP_EQ_HEX. Returns 1 done,
 * 0 error, 2 when c must be looked at again in the new state. */
static int codec_qp_body_eq(struct codec_qp *d, struct codec_out *out, unsigned char c)
{
	if (d->state == QP_EQ && codec_hex_digit(c) >= 0) {
		d->hi = c;
		d->state = QP_EQ_HEX;
		return 1;
	}
	if (d->state != QP_EQ_CR) {
		if (codec_qp_wsp(c) && d->wsp_len < CODEC_QP_WSP_MAX) {
			d->wsp[d->wsp_len++] = c; /* the ring is empty after '=' */
			d->state = QP_EQ_WSP;
			return 1;
		}
		if (c == '\r') {
			d->state = QP_EQ_CR;
			return 1;
		}
	}
	if (c == '\n') {
		codec_qp_wsp_drop(d); /* soft line break, rule (5) */
		d->state = QP_TEXT;
		return 1;
	}
	/* Not an escape: '=' is itself, white space after it is held back
	 * as any other, a CR after that is looked at again. */
	unsigned next = d->state == QP_EQ_CR ? QP_CR : QP_TEXT;
	return codec_qp_malformed(d, out, next) == 1 ? 2 : 0;
}

/* Feed one byte. */
static int codec_qp_byte(struct codec_qp *d, struct codec_out *out, unsigned char c)
{
	for (;;) {
		int r;
		switch (d->state) {
		case QP_TEXT:
			if (d->kind == CODEC_QP_BODY)
				return codec_qp_body_text(d, out, c);
			if (c == codec_qp_escape(d)) {
				d->state = QP_EQ;
				return 1;
			}
			if (d->kind == CODEC_QP_WORD && c == '_')
				c = ' '; /* RFC 2047 section 4.2 (2) */
			return codec_qp_put(d, out, c);
		case QP_CR:
			if (c == '\n') {
				codec_qp_wsp_drop(d);
				d->state = QP_TEXT;
				if (codec_qp_put(d, out, '\r') != 1)
					return 0;
				return codec_qp_put(d, out, '\n');
			}
			/* A lone CR is data, and so ends a run of white space. */
			if (codec_qp_wsp_flush(d, out) != 1 || codec_qp_put(d, out, '\r') != 1)
				return 0;
			d->state = QP_TEXT;
			continue;
		case QP_EQ_HEX:
			if (codec_hex_digit(c) >= 0) {
				d->state = QP_TEXT;
				return codec_qp_put(d, out,
				                    (unsigned char)(codec_hex_digit(d->hi) << 4 |
				                                    codec_hex_digit(c)));
			}
			if (codec_qp_malformed(d, out, QP_TEXT) != 1)
				return 0;
			continue;
		default:
			if (d->kind == CODEC_QP_BODY)
				r = codec_qp_body_eq(d, out, c);
			else if (codec_hex_digit(c) >= 0) {
				d->hi = c;
				d->state = QP_EQ_HEX;
				r = 1;
			} else {
				r = codec_qp_malformed(d, out, QP_TEXT) == 1 ? 2 : 0;
			}
			if (r != 2)
				return r;
			continue;
		}
	}
}

/* True when c in state QP_TEXT is written as it is and ends no run of white
 * space that matters: such runs are copied in one go. */
static bool codec_qp_plain(const struct codec_qp *d, unsigned char c)
{
	if (c == codec_qp_escape(d))
		return false;
	if (d->kind == CODEC_QP_WORD)
		return c != '_';
	if (d->kind == CODEC_QP_BODY)
		return !codec_qp_wsp(c) && c != '\r' && c != '\n';
	return true;
}

int codec_qp_feed(struct codec_qp *d, const void *in_, size_t n, struct codec_out *out)
{
	const unsigned char *in = in_;
	if (d->err != CODEC_OK)
		return 0;
	size_t i = 0;
	while (i < n) {
		if (d->state == QP_TEXT && d->wsp_len == 0 && codec_qp_plain(d, in[i])) {
			size_t run = i + 1;
			while (run < n && codec_qp_plain(d, in[run]))
				run++;
			if (!codec_put_n(out, in + i, run - i)) {
				/* Fill what fits so the error is the same as byte by byte. */
				size_t room = out->cap - out->len;
				codec_put_n(out, in + i, room);
				d->off += room;
				return codec_qp_fail(d, CODEC_ERR_SPACE);
			}
			d->off += run - i;
			i = run;
			continue;
		}
		if (codec_qp_byte(d, out, in[i]) != 1)
			return 0;
		d->off++;
		i++;
	}
	return 1;
}

int codec_qp_finish(struct codec_qp *d, struct codec_out *out)
{
	if (d->err != CODEC_OK)
		return 0;
	switch (d->state) {
	case QP_TEXT:
		/* The end of the input is not the end of a line: white space at
		 * the end of a body without a last line break is data. */
		return codec_qp_wsp_flush(d, out);
	case QP_CR:
		return codec_qp_wsp_flush(d, out) == 1 ? codec_qp_put(d, out, '\r') : 0;
	case QP_EQ:
	case QP_EQ_WSP:
		if (d->kind == CODEC_QP_BODY) {
			/* '=' [WSP] at the very end: a soft line break. */
			codec_qp_wsp_drop(d);
			d->state = QP_TEXT;
			return 1;
		}
		return codec_qp_malformed(d, out, QP_TEXT);
	case QP_EQ_HEX:
		return codec_qp_malformed(d, out, QP_TEXT);
	default: /* QP_EQ_CR */
		if (codec_qp_malformed(d, out, QP_CR) != 1)
			return 0;
		return codec_qp_finish(d, out);
	}
}

static int codec_qp_run(const void *in, size_t n, enum codec_qp_kind kind, enum codec_mode mode,
                        struct codec_out *o)
{
	struct codec_qp d;
	codec_qp_init(&d, kind, mode);
	return codec_qp_feed(&d, in, n, o) == 1 && codec_qp_finish(&d, o) == 1;
}

int codec_qp_decode(const void *in, size_t n, enum codec_qp_kind kind, enum codec_mode mode,
                    struct buf *out)
{
	struct codec_out o;
	codec_out_buf(&o, out);
	buf_reserve(out, n);
	return codec_qp_run(in, n, kind, mode, &o);
}

int codec_qp_decode_arr(const void *in, size_t n, enum codec_qp_kind kind, enum codec_mode mode,
                        unsigned char *arr, size_t cap, size_t *len_r)
{
	struct codec_out o;
	codec_out_arr(&o, arr, cap);
	int r = codec_qp_run(in, n, kind, mode, &o);
	*len_r = o.len;
	return r;
}

/* ---- hex --------------------------------------------------------------------- */

int codec_hex_digit(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

void codec_hex_encode(const unsigned char *in, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * n] = '\0';
}

int codec_hex_decode(const char *in, size_t inlen, unsigned char *out, size_t n)
{
	if (inlen % 2 != 0 || inlen / 2 != n)
		return 0;
	for (size_t i = 0; i < n; i++) {
		int hi = codec_hex_digit((unsigned char)in[2 * i]);
		int lo = codec_hex_digit((unsigned char)in[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return 0;
		out[i] = (unsigned char)(hi << 4 | lo);
	}
	return 1;
}

/* ---- message bodies -------------------------------------------------------------- */

enum codec_cte codec_cte_lookup(const char *name)
{
	if (name == NULL || strcasecmp(name, "7bit") == 0 || strcasecmp(name, "8bit") == 0 ||
	    strcasecmp(name, "binary") == 0)
		return CODEC_CTE_IDENTITY;
	if (strcasecmp(name, "base64") == 0)
		return CODEC_CTE_BASE64;
	if (strcasecmp(name, "quoted-printable") == 0)
		return CODEC_CTE_QP;
	return CODEC_CTE_UNKNOWN;
}

int codec_body_init(struct codec_body *d, enum codec_cte cte)
{
	d->cte = cte;
	if (cte == CODEC_CTE_BASE64)
		codec_b64_init(&d->u.b64, CODEC_B64_STD, CODEC_PAD_OPTIONAL, CODEC_LENIENT);
	else if (cte == CODEC_CTE_QP)
		codec_qp_init(&d->u.qp, CODEC_QP_BODY, CODEC_LENIENT);
	return cte != CODEC_CTE_UNKNOWN;
}

int codec_body_feed(struct codec_body *d, const void *in, size_t n, struct codec_out *out)
{
	switch (d->cte) {
	case CODEC_CTE_IDENTITY:
		if (codec_put_n(out, in, n))
			return 1;
		/* As byte by byte: fill the array, then fail. */
		codec_put_n(out, in, out->cap - out->len);
		return 0;
	case CODEC_CTE_BASE64:
		return codec_b64_feed(&d->u.b64, in, n, out);
	case CODEC_CTE_QP:
		return codec_qp_feed(&d->u.qp, in, n, out);
	default:
		return 0;
	}
}

int codec_body_finish(struct codec_body *d, struct codec_out *out)
{
	switch (d->cte) {
	case CODEC_CTE_IDENTITY:
		return 1;
	case CODEC_CTE_BASE64:
		return codec_b64_finish(&d->u.b64, out);
	case CODEC_CTE_QP:
		return codec_qp_finish(&d->u.qp, out);
	default:
		return 0;
	}
}

int codec_body_decode(enum codec_cte cte, const void *in, size_t n, struct buf *out)
{
	struct codec_body d;
	struct codec_out o;
	if (codec_body_init(&d, cte) != 1)
		return 0;
	codec_out_buf(&o, out);
	buf_reserve(out, n);
	/* With a growing buffer the lenient decoders cannot fail. */
	codec_body_feed(&d, in, n, &o);
	codec_body_finish(&d, &o);
	return 1;
}
