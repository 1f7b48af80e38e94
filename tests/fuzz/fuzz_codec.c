/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* Fuzz target: base64, quoted-printable and hex. Encoding then decoding
 * gives the input back in every alphabet and mode; a strict decode that
 * succeeds re-encodes to its input (one spelling per value); and feeding the
 * input in chunks (one byte at a time, or sizes taken from the input) gives
 * the same output, result and error as one call, into a buffer or a small
 * array. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/codec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct fuzz_res {
	int r;
	enum codec_err err;
	uint64_t err_off;
	struct buf out;
};

/* Decoder configuration from a selector byte: 27 base64 ones, 9 QP ones. */
struct fuzz_cfg {
	bool b64;
	int a;
	enum codec_pad pad;
	enum codec_mode mode;
};

static struct fuzz_cfg fuzz_cfg(uint8_t sel)
{
	unsigned k = sel % 36u;
	if (k < 27)
		return (struct fuzz_cfg){true, (int)(k / 9), (enum codec_pad)(k / 3 % 3),
		                         (enum codec_mode)(k % 3)};
	k -= 27;
	return (struct fuzz_cfg){false, (int)(k / 3), CODEC_PAD_OPTIONAL, (enum codec_mode)(k % 3)};
}

static bool fuzz_same_bytes(const unsigned char *a, size_t an, const unsigned char *b, size_t bn)
{
	return an == bn && (an == 0 || memcmp(a, b, an) == 0);
}

/* Decode in[n] in chunks of sizes from steps[nsteps] (cycled; a 0 step is
 * 1), or in one call when nsteps is 0; into res->out, or into arr[cap]
 * when arr is not NULL (then copied to res->out). */
static void fuzz_run(const struct fuzz_cfg *c, const uint8_t *in, size_t n, const uint8_t *steps,
                     size_t nsteps, unsigned char *arr, size_t cap, struct fuzz_res *res)
{
	struct codec_b64 b;
	struct codec_qp q;
	struct codec_out o;
	res->out = (struct buf)BUF_INIT;
	if (arr != NULL)
		codec_out_arr(&o, arr, cap);
	else
		codec_out_buf(&o, &res->out);
	if (c->b64)
		codec_b64_init(&b, (enum codec_b64_alphabet)c->a, c->pad, c->mode);
	else
		codec_qp_init(&q, (enum codec_qp_kind)c->a, c->mode);
	size_t at = 0, k = 0;
	int r = 1;
	while (r == 1 && at < n) {
		size_t step = nsteps == 0 ? n - at : steps[k++ % nsteps];
		if (step == 0)
			step = 1;
		if (step > n - at)
			step = n - at;
		r = c->b64 ? codec_b64_feed(&b, in + at, step, &o)
		           : codec_qp_feed(&q, in + at, step, &o);
		at += step;
	}
	if (r == 1)
		r = c->b64 ? codec_b64_finish(&b, &o) : codec_qp_finish(&q, &o);
	res->r = r;
	res->err = c->b64 ? b.err : q.err;
	res->err_off = c->b64 ? b.err_off : q.err_off;
	if (arr != NULL)
		buf_append(&res->out, arr, o.len);
	else if (o.len != res->out.len)
		abort();
}

static void fuzz_expect_same(const struct fuzz_res *x, const struct fuzz_res *y)
{
	if (x->r != y->r || x->err != y->err || x->err_off != y->err_off ||
	    !fuzz_same_bytes(x->out.data, x->out.len, y->out.data, y->out.len))
		abort();
}

/* Chunked decoding equals one call. data[0] picks the decoder, data[1] the
 * size of an output array, data[2..5] chunk sizes; the rest is the input. */
static void fuzz_chunks(const uint8_t *data, size_t size)
{
	if (size < 6)
		return;
	struct fuzz_cfg c = fuzz_cfg(data[0]);
	const uint8_t *in = data + 6;
	size_t n = size - 6;
	static const uint8_t one = 1;
	struct fuzz_res whole, bytes, steps, arr_whole, arr_bytes;
	unsigned char arr[256];
	size_t cap = data[1];

	fuzz_run(&c, in, n, NULL, 0, NULL, 0, &whole);
	fuzz_run(&c, in, n, &one, 1, NULL, 0, &bytes);
	fuzz_run(&c, in, n, data + 2, 4, NULL, 0, &steps);
	fuzz_expect_same(&whole, &bytes);
	fuzz_expect_same(&whole, &steps);
	/* A lenient or successful decode into a buffer never fails for room;
	 * into an array it fails exactly when the output does not fit, after
	 * writing the part that does. */
	fuzz_run(&c, in, n, NULL, 0, arr, cap, &arr_whole);
	fuzz_run(&c, in, n, &one, 1, arr, cap, &arr_bytes);
	fuzz_expect_same(&arr_whole, &arr_bytes);
	if (whole.out.len <= cap) {
		fuzz_expect_same(&whole, &arr_whole);
	} else if (arr_whole.r != 0 || arr_whole.out.len > cap ||
	           !fuzz_same_bytes(arr_whole.out.data, arr_whole.out.len, whole.out.data,
	                            arr_whole.out.len)) {
		abort();
	}
	if (c.mode == CODEC_LENIENT && whole.r != 1)
		abort();
	buf_free(&whole.out);
	buf_free(&bytes.out);
	buf_free(&steps.out);
	buf_free(&arr_whole.out);
	buf_free(&arr_bytes.out);
}

/* Encode data every way and decode it back. */
static void fuzz_round_trips(const uint8_t *data, size_t size)
{
	struct buf enc = BUF_INIT, dec = BUF_INIT;
	for (int a = CODEC_B64_STD; a <= CODEC_B64_IMAP; a++) {
		for (int pad = 0; pad < 2; pad++) {
			buf_reset(&enc);
			codec_b64_encode_buf(data, size, (enum codec_b64_alphabet)a, pad, &enc);
			if (enc.len + 1 != codec_b64_encoded_size(size, pad))
				abort();
			for (int m = CODEC_STRICT; m <= CODEC_LENIENT; m++) {
				buf_reset(&dec);
				enum codec_pad p = pad ? CODEC_PAD_REQUIRED : CODEC_PAD_FORBIDDEN;
				if (codec_b64_decode(enc.data, enc.len, (enum codec_b64_alphabet)a,
				                     p, (enum codec_mode)m, &dec) != 1 ||
				    !fuzz_same_bytes(dec.data, dec.len, data, size))
					abort();
			}
		}
	}

	/* Quoted-printable: every byte escaped, then printable bytes as they
	 * are (not '=', white space or line breaks, which the body form
	 * treats specially). */
	static const char hexd[] = "0123456789ABCDEF";
	for (int literal = 0; literal < 2; literal++) {
		buf_reset(&enc);
		for (size_t i = 0; i < size; i++) {
			unsigned char ch = data[i];
			if (literal && ch > ' ' && ch < 0x7f && ch != '=' && ch != '_' &&
			    ch != '%') {
				buf_append_byte(&enc, ch);
				continue;
			}
			buf_append_byte(&enc, '=');
			buf_append_byte(&enc, (unsigned char)hexd[ch >> 4]);
			buf_append_byte(&enc, (unsigned char)hexd[ch & 15]);
			if (i % 25 == 24)
				buf_append(&enc, "=\r\n", 3); /* soft line break */
		}
		for (int m = CODEC_STRICT; m <= CODEC_LENIENT; m++) {
			buf_reset(&dec);
			if (codec_qp_decode(enc.data, enc.len, CODEC_QP_BODY, (enum codec_mode)m,
			                    &dec) != 1 ||
			    !fuzz_same_bytes(dec.data, dec.len, data, size))
				abort();
		}
	}

	/* hex */
	if (size <= 4096) {
		char h[2 * 4096 + 1];
		unsigned char back[4096];
		codec_hex_encode(data, size, h);
		if (codec_hex_decode(h, 2 * size, back, size) != 1 ||
		    !fuzz_same_bytes(back, size, data, size))
			abort();
	}
	buf_free(&enc);
	buf_free(&dec);
}

/* What strict decoding accepts re-encodes to the same text. */
static void fuzz_canonical(const uint8_t *data, size_t size)
{
	struct buf dec = BUF_INIT, enc = BUF_INIT;
	for (int a = CODEC_B64_STD; a <= CODEC_B64_IMAP; a++) {
		for (int pad = 0; pad < 2; pad++) {
			enum codec_pad p = pad ? CODEC_PAD_REQUIRED : CODEC_PAD_FORBIDDEN;
			buf_reset(&dec);
			if (codec_b64_decode(data, size, (enum codec_b64_alphabet)a, p,
			                     CODEC_STRICT, &dec) != 1)
				continue;
			buf_reset(&enc);
			codec_b64_encode_buf(dec.data, dec.len, (enum codec_b64_alphabet)a, pad,
			                     &enc);
			if (!fuzz_same_bytes(enc.data, enc.len, data, size))
				abort();
		}
	}
	if (size % 2 == 0 && size <= 8192) {
		unsigned char raw[4096];
		char h[8193];
		if (codec_hex_decode((const char *)data, size, raw, size / 2) == 1) {
			codec_hex_encode(raw, size / 2, h);
			for (size_t i = 0; i < size; i++) {
				unsigned char ch = data[i];
				if (ch >= 'A' && ch <= 'F')
					ch = (unsigned char)(ch + 32);
				if ((unsigned char)h[i] != ch)
					abort();
			}
		}
	}
	buf_free(&dec);
	buf_free(&enc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_chunks(data, size);
	fuzz_round_trips(data, size);
	fuzz_canonical(data, size);
	return 0;
}
