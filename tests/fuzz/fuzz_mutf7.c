/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* Fuzz target: modified UTF-7 both ways. Strictness makes the encoding
 * canonical, so every accepted input must survive a round trip unchanged. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "proto/mutf7.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool fuzz_same(const struct buf *b, const uint8_t *data, size_t size)
{
	return b->len == size && (size == 0 || memcmp(b->data, data, size) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *in = (const char *)data;
	struct buf a = BUF_INIT, b = BUF_INIT;

	/* mUTF-7 -> UTF-8 -> mUTF-7 gives back the input. */
	if (mutf7_to_utf8(in, size, &a, NULL) == 1) {
		if (!mutf7_utf8_valid(a.data, a.len) || !mutf7_valid(in, size))
			abort();
		if (mutf7_from_utf8((const char *)a.data, a.len, &b, NULL) != 1 ||
		    !fuzz_same(&b, data, size))
			abort();
	} else if (mutf7_valid(in, size)) {
		abort();
	}
	buf_reset(&a);
	buf_reset(&b);

	/* UTF-8 -> mUTF-7 -> UTF-8 gives back the input; it is accepted exactly
	 * when it is valid UTF-8 without NUL. */
	bool valid = mutf7_utf8_valid(data, size) && (size == 0 || memchr(data, 0, size) == NULL);
	if (mutf7_from_utf8(in, size, &a, NULL) == 1) {
		if (!valid)
			abort();
		for (size_t i = 0; i < a.len; i++) {
			if (a.data[i] < 0x20 || a.data[i] > 0x7e)
				abort();
		}
		if (mutf7_to_utf8((const char *)a.data, a.len, &b, NULL) != 1 ||
		    !fuzz_same(&b, data, size))
			abort();
	} else if (valid) {
		abort();
	}
	buf_free(&a);
	buf_free(&b);
	return 0;
}
