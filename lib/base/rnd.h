/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* Secure random bytes from the kernel CSPRNG (getrandom). Aborts if the
 * kernel cannot provide them: no caller can do anything safe without. */
#ifndef SEALMAIL_RND_H
#define SEALMAIL_RND_H

#include <stddef.h>
#include <stdint.h>

void rnd_bytes(void *out, size_t n);
/* Write 2*nbytes lowercase hex digits plus NUL into out (size >= 2*nbytes+1). */
void rnd_hex(char *out, size_t nbytes);
/* Uniform value in [0, bound) without modulo bias; bound > 0. */
uint32_t rnd_uniform(uint32_t bound);

#endif
