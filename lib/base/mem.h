/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* Allocation that never returns NULL: on exhaustion or a size overflow the
 * process aborts (a handler serves one connection; dying is the safe answer).
 * Trust: any. */
#ifndef SEALMAIL_MEM_H
#define SEALMAIL_MEM_H

#include <stddef.h>

void *mem_alloc(size_t n);                        /* uninitialised, caller frees */
void *mem_zalloc(size_t n);                       /* zeroed, caller frees */
void *mem_array(size_t count, size_t size);       /* zeroed count*size, overflow-checked */
void *mem_realloc(void *p, size_t count, size_t size); /* overflow-checked */
char *mem_strdup(const char *s);
char *mem_strndup(const char *s, size_t n);       /* at most n bytes, NUL-terminated */
void *mem_dup(const void *p, size_t n);
/* Wipe n bytes then free; p may be NULL. */
void mem_wipe_free(void *p, size_t n);
/* Abort with a message when a + b or a * b overflows; else return the result. */
size_t mem_add(size_t a, size_t b);
size_t mem_mul(size_t a, size_t b);

#endif
