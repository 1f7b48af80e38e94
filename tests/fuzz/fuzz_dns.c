/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* Fuzz the DNS record data parsers (lib/proto/dnswire.c) with what a hostile
 * server could put in an answer. The first byte picks the record type; the
 * rest is the RDATA. Checks: no crash, outputs within their bounds, names
 * that come out are names we would accept to query. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "proto/dnswire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_name(const char *name)
{
	size_t n = strlen(name);
	if (n > DNSWIRE_NAME_MAX || (n > 0 && !dnswire_name_ok(name)))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	const unsigned char *rd = data + 1;
	size_t len = size - 1;
	char name[DNSWIRE_NAME_MAX + 1];
	uint16_t pref;
	size_t used;
	switch (data[0] % 6) {
	case 0:
		if (dnswire_mx(rd, len, &pref, name, sizeof(name)) == 1)
			check_name(name);
		break;
	case 1:
		if (dnswire_ptr(rd, len, name, sizeof(name)) == 1)
			check_name(name);
		break;
	case 2: {
		/* The exact size the resolver allocates: len + 1. */
		unsigned char *out = malloc(len + 1);
		size_t outlen;
		if (out != NULL && dnswire_txt(rd, len, out, &outlen) == 1 &&
		    (outlen >= len || out[outlen] != '\0'))
			abort();
		free(out);
		break;
	}
	case 3: {
		uint8_t u, s, m;
		const unsigned char *d;
		size_t dl;
		if (dnswire_tlsa(rd, len, &u, &s, &m, &d, &dl) == 1 && (d < rd || d + dl != rd + len))
			abort();
		break;
	}
	case 4:
		if (dnswire_name(rd, len, name, sizeof(name), &used) == 1) {
			check_name(name);
			if (used > len || used > DNSWIRE_WIRE_MAX)
				abort();
		}
		break;
	default: {
		/* Query names as text, and reverse names of the bytes. */
		char *text = malloc(len + 1);
		if (text == NULL)
			break;
		memcpy(text, rd, len);
		text[len] = '\0';
		dnswire_name_ok(text);
		free(text);
		char rev[80];
		if (len >= 16 && dnswire_reverse_name(AF_INET6, rd, rev, sizeof(rev)) == 0)
			check_name(rev);
		if (len >= 4 && dnswire_reverse_name(AF_INET, rd, rev, sizeof(rev)) == 0)
			check_name(rev);
		break;
	}
	}
	return 0;
}
