/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* Fuzz target: the searchable text of a message (msgtext_extract) and the
 * folding of arbitrary bytes, with the invariants the search relies on: the
 * output is valid UTF-8 without NUL, header lines have the "name: value\n"
 * shape, the body respects MSGTEXT_BODY_MAX, folding is idempotent, and the
 * header lookups never read outside their text. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "proto/msgtext.h"
#include "proto/rfc2047.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_check_text(const struct buf *b)
{
	if (b->len > 0 &&
	    (memchr(b->data, 0, b->len) != NULL || !rfc2047_utf8_valid(b->data, b->len)))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct buf hdr = BUF_INIT, body = BUF_INIT, f1 = BUF_INIT, f2 = BUF_INIT;
	msgtext_extract(data, size, &hdr, &body);
	fuzz_check_text(&hdr);
	fuzz_check_text(&body);
	if (body.len > MSGTEXT_BODY_MAX)
		abort();
	/* every header line is "name: value" */
	for (size_t i = 0; i < hdr.len;) {
		const unsigned char *nl = memchr(hdr.data + i, '\n', hdr.len - i);
		if (nl == NULL)
			abort();
		size_t ll = (size_t)(nl - (hdr.data + i));
		if (memmem(hdr.data + i, ll, ": ", 2) == NULL)
			abort();
		i += ll + 1;
	}
	/* folding folded text changes nothing */
	msgtext_fold(data, size, false, &f1);
	fuzz_check_text(&f1);
	msgtext_fold(f1.data, f1.len, false, &f2);
	if (f1.len != f2.len || (f1.len && memcmp(f1.data, f2.data, f1.len) != 0))
		abort();
	size_t vl;
	const unsigned char *v = msgtext_header_value(hdr.data, hdr.len, "subject", &vl);
	if (v != NULL && (v < hdr.data || v + vl > hdr.data + hdr.len))
		abort();
	msgtext_header_match(hdr.data, hdr.len, "from", f1.data, f1.len < 8 ? f1.len : 8);
	buf_free(&hdr);
	buf_free(&body);
	buf_free(&f1);
	buf_free(&f2);
	return 0;
}
