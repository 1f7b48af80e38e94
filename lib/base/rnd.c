/* SPDX-License-Identifier: AGPL-3.0-or-later */
#include "rnd.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/random.h>

#include "codec.h"

void rnd_bytes(void *out, size_t n)
{
	unsigned char *p = out;
	while (n > 0) {
		ssize_t r = getrandom(p, n > 256 ? 256 : n, 0);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			fprintf(stderr, "<2>fatal getrandom failed\n");
			abort();
		}
		p += r;
		n -= (size_t)r;
	}
}

void rnd_hex(char *out, size_t nbytes)
{
	unsigned char tmp[64];
	while (nbytes > 0) {
		size_t n = nbytes > sizeof(tmp) ? sizeof(tmp) : nbytes;
		rnd_bytes(tmp, n);
		codec_hex_encode(tmp, n, out);
		out += 2 * n;
		nbytes -= n;
	}
	*out = '\0';
}

uint32_t rnd_uniform(uint32_t bound)
{
	uint32_t min = -bound % bound, r;
	do
		rnd_bytes(&r, sizeof(r));
	while (r < min);
	return r % bound;
}
