/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* Growable byte buffer. data is always NUL-terminated one past len so it can
 * be used as a C string when it holds text. Trust: any. */
#ifndef SEALMAIL_BUF_H
#define SEALMAIL_BUF_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct buf {
	unsigned char *data; /* owned; NULL until the first append */
	size_t len;
	size_t cap;
};

#define BUF_INIT {NULL, 0, 0}

void buf_reserve(struct buf *b, size_t extra);
void buf_append(struct buf *b, const void *p, size_t n);
void buf_append_str(struct buf *b, const char *s);
void buf_append_byte(struct buf *b, unsigned char c);
/* Append code point cp (at most U+10FFFF; the caller validates) as UTF-8. */
void buf_append_utf8(struct buf *b, uint32_t cp);
void buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void buf_vprintf(struct buf *b, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
/* Remove the first n bytes. */
void buf_consume(struct buf *b, size_t n);
void buf_truncate(struct buf *b, size_t len);
void buf_reset(struct buf *b);
/* Return data as a C string ("" when empty); owned by b. */
const char *buf_cstr(struct buf *b);
/* Release memory; buf_wipe also zeroes the contents (secrets). */
void buf_free(struct buf *b);
void buf_wipe(struct buf *b);
/* Hand the data to the caller (NUL-terminated, caller frees) and reset b. */
unsigned char *buf_steal(struct buf *b, size_t *len_r);

#endif
