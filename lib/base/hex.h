/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* Hex encoding. Pure; no I/O. */
#ifndef SEALMAIL_HEX_H
#define SEALMAIL_HEX_H

#include <stddef.h>

/* Write 2*n lowercase hex digits and a NUL into out. */
void hex_encode(const unsigned char *in, size_t n, char *out);
/* Decode exactly 2*n hex digits from in into out[n]: 1 ok, 0 bad input. */
int hex_decode(const char *in, size_t inlen, unsigned char *out, size_t n);

#endif
