/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* Fuzz target: age_open with a fixed identity, the input fed in three
 * pieces at two split points derived from the input itself, so header,
 * nonce and chunk boundaries get crossed at arbitrary offsets. The seed
 * corpus holds files sealed to this identity (the C2SP age test-suite key),
 * so mutations reach the payload code too. Trust: test-only. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "crypto/age.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char fuzz_identity[] =
	"AGE-SECRET-KEY-1XMWWC06LY3EE5RYTXM9MFLAZ2U56JJJ36S0MYPDRWSVLUL66MV4QX3S7F6";

/* Counts plaintext and never fails: the point is the parser. */
static int fuzz_sink(void *ctx, const unsigned char *p, size_t n)
{
	size_t *total = ctx;
	*total += n;
	if (n > 0 && p[0] == 0xff && p[n - 1] == 0xff)
		*total += 1; /* touch the bytes so ASan checks them */
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static unsigned char sk[AGE_KEY_LEN];
	static int have_sk;
	if (!have_sk) {
		if (age_identity_decode(fuzz_identity, sk) != 1)
			abort();
		have_sk = 1;
	}
	/* Split points from the last two bytes (the payload's tag, in a valid
	 * file), scaled to the input length: a <= b <= size. */
	size_t a = 0, b = 0;
	if (size >= 2) {
		a = (size_t)data[size - 1] * size / 256;
		b = a + (size_t)data[size - 2] * (size - a) / 256;
	}
	size_t total = 0;
	struct age_open *o = age_open_new(sk, fuzz_sink, &total);
	if (age_open_update(o, data, a) == 0 && age_open_update(o, data + a, b - a) == 0 &&
	    age_open_update(o, data + b, size - b) == 0)
		(void)age_open_final(o);
	/* Whatever happened, the object must have a consistent state. */
	if (age_open_error(o) == NULL && age_open_final(o) == 0)
		abort(); /* a second final must never succeed */
	age_open_free(&o);
	return 0;
}
