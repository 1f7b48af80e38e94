/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* Fuzz target: sequence-set parsing, formatting round trip, '*' resolution
 * for sequence numbers and UIDs, and the invariants of a normalised set. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "proto/seqset.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_check_normalised(const struct seqset *s)
{
	uint64_t total = 0;
	for (size_t i = 0; i < s->count; i++) {
		const struct seqset_range *r = &s->ranges[i];
		if (r->lo == 0 || r->lo > r->hi)
			abort();
		/* Sorted, disjoint and not adjacent. */
		if (i > 0 && (uint64_t)s->ranges[i - 1].hi + 1 >= r->lo)
			abort();
		if (!seqset_contains(s, r->lo) || !seqset_contains(s, r->hi))
			abort();
		if (r->lo > 1 && (i == 0 || s->ranges[i - 1].hi < r->lo - 1) &&
		    seqset_contains(s, r->lo - 1))
			abort();
		total += (uint64_t)r->hi - r->lo + 1;
	}
	if (seqset_count(s) != total)
		abort();
	/* The iterator yields the first numbers in ascending order. */
	struct seqset_iter it = SEQSET_ITER_INIT;
	uint32_t n, prev = 0;
	for (int k = 0; k < 64 && seqset_next(s, &it, &n); k++) {
		if (n <= prev || !seqset_contains(s, n))
			abort();
		prev = n;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct seqset s = SEQSET_INIT, again = SEQSET_INIT;
	struct buf b = BUF_INIT;
	uint32_t max = 0;

	/* Derive a mailbox size from the input so resolution varies. */
	for (size_t i = 0; i < size; i++)
		max = max * 31 + data[i];
	max %= 1000;

	int r = seqset_parse(&s, (const char *)data, size, 256, NULL);
	if (r == 1) {
		/* Formatting a parsed set gives back a set that parses the same. */
		seqset_format(&s, &b);
		if (seqset_parse(&again, (const char *)b.data, b.len, 256, NULL) != 1 ||
		    again.count != s.count ||
		    memcmp(again.ranges, s.ranges, s.count * sizeof(*s.ranges)) != 0)
			abort();
		struct seqset uid = SEQSET_INIT;
		for (size_t i = 0; i < s.count; i++)
			seqset_add(&uid, s.ranges[i].lo ? s.ranges[i].lo : 1,
				   s.ranges[i].hi ? s.ranges[i].hi : 1);
		seqset_free(&uid);
		bool star = seqset_has_star(&s);
		if (seqset_resolve(&s, max, true) != 1)
			abort();
		fuzz_check_normalised(&s);
		if (star && max > 0 && !seqset_contains(&s, max))
			abort();
		if (seqset_resolve(&again, max, false) == 1) {
			fuzz_check_normalised(&again);
			if (again.count > 0 && again.ranges[again.count - 1].hi > max)
				abort();
		}
	} else if (r != 0 && r != -1) {
		abort();
	}
	buf_free(&b);
	seqset_free(&s);
	seqset_free(&again);
	return 0;
}
