/* SPDX-License-Identifier: AGPL-3.0-or-later */
#include "mem.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void mem_die(const char *what)
{
	/* No logging layer here on purpose: this is below everything else. */
	fprintf(stderr, "<2>fatal %s\n", what);
	abort();
}

void *mem_alloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (p == NULL)
		mem_die("out of memory");
	return p;
}

void *mem_zalloc(size_t n)
{
	void *p = calloc(1, n ? n : 1);
	if (p == NULL)
		mem_die("out of memory");
	return p;
}

void *mem_array(size_t count, size_t size)
{
	return mem_zalloc(mem_mul(count, size));
}

void *mem_realloc(void *p, size_t count, size_t size)
{
	size_t n = mem_mul(count, size);
	void *q = realloc(p, n ? n : 1);
	if (q == NULL)
		mem_die("out of memory");
	return q;
}

char *mem_strdup(const char *s)
{
	return mem_dup(s, strlen(s) + 1);
}

char *mem_strndup(const char *s, size_t n)
{
	size_t len = strnlen(s, n);
	char *p = mem_alloc(mem_add(len, 1));
	memcpy(p, s, len);
	p[len] = '\0';
	return p;
}

void *mem_dup(const void *p, size_t n)
{
	void *q = mem_alloc(n);
	if (n)
		memcpy(q, p, n);
	return q;
}

void mem_wipe_free(void *p, size_t n)
{
	if (p == NULL)
		return;
	sodium_memzero(p, n);
	free(p);
}

size_t mem_add(size_t a, size_t b)
{
	size_t r;
	if (__builtin_add_overflow(a, b, &r))
		mem_die("size overflow");
	return r;
}

size_t mem_mul(size_t a, size_t b)
{
	size_t r;
	if (__builtin_mul_overflow(a, b, &r))
		mem_die("size overflow");
	return r;
}
