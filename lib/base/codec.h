/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* The one place base64, quoted-printable and hex are encoded and decoded.
 * Pure: no I/O, no globals, no logging. Trust: any (decoders take mail
 * bodies, header words, client SASL lines and key files alike).
 *
 * base64 (RFC 4648): three alphabets (section 4 standard, section 5 URL-safe,
 * and the mailbox-name alphabet of RFC 3501 section 5.1.3 / RFC 2152 with ','
 * for '/'), padding required, optional or forbidden, and three modes:
 *   CODEC_STRICT     every byte is in the alphabet or padding; padding as
 *                    asked and of the right length, nothing after it; a lone
 *                    last character and non-zero trailing bits are errors, so
 *                    every decoded value has one spelling (keys, age
 *                    stanzas, SASL, mailbox names).
 *   CODEC_LOOSE_END  every byte before padding is in the alphabet, but the
 *                    end is loose: any run of '=' ends the data (only '='
 *                    may follow), a partial last group gives the whole bytes
 *                    it holds, trailing bits are ignored (RFC 2047 section
 *                    4.1 "B" words as mail software writes them).
 *   CODEC_LENIENT    RFC 2045 section 6.8 for bodies: bytes outside the
 *                    alphabet (line breaks, garbage) are skipped, the first
 *                    '=' ends the data, never an error.
 * The padding policy is checked in CODEC_STRICT only.
 *
 * quoted-printable, three kinds:
 *   CODEC_QP_BODY    RFC 2045 section 6.7: "=XX" in either case, soft line
 *                    breaks "=" [WSP...] (CR LF | LF) or "=" [WSP...] at the
 *                    end of the input, and literal white space at the end of
 *                    a line (before CR LF or LF) deleted, as rule (3) asks:
 *                    it was added in transport. Line breaks are kept as
 *                    written (CR LF or LF); a lone CR is an ordinary byte.
 *                    Only the last CODEC_QP_WSP_MAX bytes of a run of white
 *                    space count as trailing, and at most CODEC_QP_WSP_MAX
 *                    may stand between '=' and a soft line break, so the
 *                    incremental state stays small.
 *   CODEC_QP_WORD    RFC 2047 section 4.2 "Q": "=XX", '_' is a space, no
 *                    line structure.
 *   CODEC_QP_PERCENT RFC 2231 section 4 extended values: "%XX", nothing
 *                    else special.
 * A malformed escape (escape character not followed by two hex digits, or
 * not starting a soft line break) is an error in CODEC_STRICT and kept as
 * written in any other mode (RFC 2045 section 6.7, note (2)).
 *
 * Decoders work incrementally: init, feed any number of chunks, finish. The
 * output, and any error with its offset, are the same however the input is
 * split (a body can be decoded as it is read). One-shot wrappers do the
 * three steps. Output goes to a struct codec_out: a struct buf that grows,
 * or a caller's fixed array (running out of room is CODEC_ERR_SPACE).
 *
 * Decoder functions return 1 ok, 0 invalid input (or no room; the reason
 * and its offset are in the state). After an error, feed and finish return
 * 0 and write nothing more; what was written before stays. */
#ifndef SEALMAIL_CODEC_H
#define SEALMAIL_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

enum codec_b64_alphabet {
	CODEC_B64_STD,  /* RFC 4648 section 4: "+/" */
	CODEC_B64_URL,  /* RFC 4648 section 5: "-_" */
	CODEC_B64_IMAP, /* RFC 3501 section 5.1.3: "+," */
};

enum codec_pad {
	CODEC_PAD_REQUIRED,  /* RFC 4648 section 3.2 default; SASL (RFC 4422) */
	CODEC_PAD_OPTIONAL,  /* none, or exactly the right amount */
	CODEC_PAD_FORBIDDEN, /* '=' is not part of the text (age, mailbox names) */
};

enum codec_mode {
	CODEC_STRICT,
	CODEC_LOOSE_END,
	CODEC_LENIENT,
};

enum codec_qp_kind {
	CODEC_QP_BODY,
	CODEC_QP_WORD,
	CODEC_QP_PERCENT,
};

enum codec_err {
	CODEC_OK,
	CODEC_ERR_CHAR,   /* a byte outside the alphabet */
	CODEC_ERR_PAD,    /* bad padding, lone last character, non-zero trailing bits */
	CODEC_ERR_ESCAPE, /* malformed quoted-printable escape */
	CODEC_ERR_SPACE,  /* the output array is full */
};

/* Content-Transfer-Encoding values (RFC 2045 section 6.1). */
enum codec_cte {
	CODEC_CTE_IDENTITY, /* absent, 7bit, 8bit, binary: the bytes as they are */
	CODEC_CTE_BASE64,
	CODEC_CTE_QP,
	CODEC_CTE_UNKNOWN,
};

/* Where decoded bytes go: set up with codec_out_buf or codec_out_arr. len
 * counts the bytes this sink received (for an array: its used length). */
struct codec_out {
	struct buf *buf;    /* append here when not NULL (not owned) */
	unsigned char *arr; /* else write here (not owned) */
	size_t cap;         /* room in arr */
	size_t len;
};

/* Bytes of white space the quoted-printable body decoder holds back (see
 * CODEC_QP_BODY above; RFC 2045 section 6.7 rule (5) keeps lines to 76). */
#define CODEC_QP_WSP_MAX 256

/* Decoder states: set up by the init functions; callers read only err (why
 * decoding failed) and err_off (the offset, in the whole input, of the byte
 * that made it fail; the input's length when the end did). */
struct codec_b64 {
	enum codec_b64_alphabet alphabet;
	enum codec_pad pad;
	enum codec_mode mode;
	uint32_t acc;   /* pending bits, right-aligned */
	unsigned bits;  /* how many (< 8 between bytes) */
	unsigned group; /* alphabet characters seen, mod 4 */
	unsigned npad;  /* '=' seen */
	bool ended;     /* CODEC_LENIENT: '=' seen, the rest is ignored */
	enum codec_err err;
	uint64_t off;     /* input bytes fed so far */
	uint64_t err_off; /* offset of the byte that failed (input length: at the end) */
};

struct codec_qp {
	enum codec_qp_kind kind;
	enum codec_mode mode;
	unsigned state;                      /* private */
	unsigned char hi;                    /* first hex digit of an escape */
	unsigned char wsp[CODEC_QP_WSP_MAX]; /* held-back white space, a ring */
	unsigned wsp_head, wsp_len;
	enum codec_err err;
	uint64_t off;
	uint64_t err_off;
};

/* Content-Transfer-Encoding body decoder: one of the two above, or a copy. */
struct codec_body {
	enum codec_cte cte;
	union {
		struct codec_b64 b64;
		struct codec_qp qp;
	} u;
};

/* ---- output ---------------------------------------------------------------- */

void codec_out_buf(struct codec_out *o, struct buf *b);
void codec_out_arr(struct codec_out *o, unsigned char *arr, size_t cap);

/* A static English phrase for an error ("" for CODEC_OK). */
const char *codec_strerror(enum codec_err e);

/* ---- base64 ---------------------------------------------------------------- */

/* Bytes needed for the encoding of n bytes, including the NUL; aborts when
 * the size overflows (as lib/base/mem.h does). */
size_t codec_b64_encoded_size(size_t n, bool pad);
/* Encode n bytes into out (codec_b64_encoded_size bytes), NUL-terminated;
 * returns the length without the NUL. pad: '=' up to a multiple of 4. */
size_t codec_b64_encode(const unsigned char *in, size_t n, char *out, enum codec_b64_alphabet a,
                        bool pad);
/* The same, appended to out. */
void codec_b64_encode_buf(const unsigned char *in, size_t n, enum codec_b64_alphabet a, bool pad,
                          struct buf *out);
/* An upper bound of the bytes n encoded characters decode to. */
size_t codec_b64_decoded_max(size_t n);

void codec_b64_init(struct codec_b64 *d, enum codec_b64_alphabet a, enum codec_pad pad,
                    enum codec_mode mode);
int codec_b64_feed(struct codec_b64 *d, const void *in, size_t n, struct codec_out *out);
int codec_b64_finish(struct codec_b64 *d, struct codec_out *out);

/* One shot, appending to out. */
int codec_b64_decode(const void *in, size_t n, enum codec_b64_alphabet a, enum codec_pad pad,
                     enum codec_mode mode, struct buf *out);
/* One shot into arr[cap]; *len_r gets the decoded length (also on error:
 * what was written). */
int codec_b64_decode_arr(const void *in, size_t n, enum codec_b64_alphabet a, enum codec_pad pad,
                         enum codec_mode mode, unsigned char *arr, size_t cap, size_t *len_r);

/* ---- quoted-printable -------------------------------------------------------- */

void codec_qp_init(struct codec_qp *d, enum codec_qp_kind kind, enum codec_mode mode);
int codec_qp_feed(struct codec_qp *d, const void *in, size_t n, struct codec_out *out);
int codec_qp_finish(struct codec_qp *d, struct codec_out *out);
int codec_qp_decode(const void *in, size_t n, enum codec_qp_kind kind, enum codec_mode mode,
                    struct buf *out);
int codec_qp_decode_arr(const void *in, size_t n, enum codec_qp_kind kind, enum codec_mode mode,
                        unsigned char *arr, size_t cap, size_t *len_r);

/* ---- hex --------------------------------------------------------------------- */

/* Write 2*n lower-case hex digits and a NUL into out. */
void codec_hex_encode(const unsigned char *in, size_t n, char *out);
/* Decode exactly 2*n hex digits (either case) from in into out[n]: 1 ok, 0
 * bad input (a wrong length or a non-hex byte). */
int codec_hex_decode(const char *in, size_t inlen, unsigned char *out, size_t n);
/* The value of one hex digit (either case), or -1. */
int codec_hex_digit(unsigned char c);

/* ---- message bodies (RFC 2045 section 6) -------------------------------------- */

/* The encoding named by a Content-Transfer-Encoding value (case-insensitive;
 * NULL is the default 7bit). */
enum codec_cte codec_cte_lookup(const char *name);

/* The body decoders FETCH BINARY (RFC 3516) and the search index share:
 * CODEC_LENIENT base64 and CODEC_QP_BODY; identity is copied. init returns
 * 1, or 0 for CODEC_CTE_UNKNOWN (then feed and finish fail). */
int codec_body_init(struct codec_body *d, enum codec_cte cte);
int codec_body_feed(struct codec_body *d, const void *in, size_t n, struct codec_out *out);
int codec_body_finish(struct codec_body *d, struct codec_out *out);
/* One shot, appending to out: 1 ok, 0 unknown encoding (nothing appended). */
int codec_body_decode(enum codec_cte cte, const void *in, size_t n, struct buf *out);

#endif
