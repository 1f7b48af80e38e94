/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* Fuzz target for the address parser. The first input byte selects the
 * parse flags; the rest is the address. Beyond not crashing, it checks the
 * parser's promises: limits hold, the canonical form re-parses to the same
 * mailbox, normalising is idempotent, tag stripping keeps a valid address. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/addr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(bool ok)
{
	if (!ok)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	unsigned flags = data[0] & (ADDR_UTF8 | ADDR_LITERAL);
	const char *s = (const char *)data + 1;
	size_t len = size - 1;
	struct addr a, b;
	char out[ADDR_SIZE], again[ADDR_SIZE];

	char dom[ADDR_DOMAIN_MAX + 1];
	int dr = addr_domain_normalise(s, len, flags, dom, sizeof(dom));
	check(dr == 0 || (dr == 1 && strlen(dom) == len));

	if (addr_parse(s, len, flags, &a) != 1)
		return 0;
	check(a.local_len >= 1 && a.local_len <= ADDR_LOCAL_MAX);
	check(a.local_len == strlen(a.local));
	check(a.domain_len >= 1 && a.domain_len <= ADDR_DOMAIN_MAX);
	check(a.domain_len == strlen(a.domain));
	check(a.literal == (a.domain[0] == '['));
	check(!a.utf8 || (flags & ADDR_UTF8));
	check(addr_utf8_valid((const unsigned char *)a.local, a.local_len));

	/* The canonical form is valid, no longer than the input, and names
	 * the same mailbox. */
	check(addr_format(&a, out, sizeof(out)) == 0);
	check(strlen(out) <= len);
	check(addr_parse(out, strlen(out), flags, &b) == 1);
	check(b.local_len == a.local_len && memcmp(b.local, a.local, a.local_len) == 0);
	check(strcmp(b.domain, a.domain) == 0 && b.quoted == a.quoted);

	/* Normalising twice gives the same text. */
	if (addr_normalise(s, len, flags, out, sizeof(out)) == 1) {
		check(addr_normalise(out, strlen(out), flags, again, sizeof(again)) == 1);
		check(strcmp(out, again) == 0);
	} else {
		abort(); /* parse succeeded, so normalise must too */
	}

	/* Stripping a tag leaves a valid dot-atom address. */
	const char *tag = addr_tag(&a);
	if (tag != NULL) {
		check(tag > a.local + 1 && tag[-1] == ADDR_TAG_SEP);
		b = a;
		check(addr_strip_tag(&b));
		check(!b.quoted && b.local_len > 0);
		check(addr_format(&b, out, sizeof(out)) == 0);
		check(addr_parse(out, strlen(out), flags, &a) == 1 && !a.quoted);
	}
	(void)addr_is_postmaster(&b);
	return 0;
}
