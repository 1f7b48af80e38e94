/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* IMAP sequence sets (RFC 3501 section 9, "sequence-set"): parsing, '*'
 * resolution for message sequence numbers and UIDs, normalisation into
 * sorted merged ranges, membership, iteration and compact formatting (for
 * COPYUID, RFC 4315, and VANISHED, RFC 7162). Pure; no I/O. Trust: pre-auth
 * input.
 *
 * Numbers are nz-number (RFC 3501 section 9): 1 to 4294967295, no leading
 * zero. A parsed set keeps '*' as SEQSET_STAR until seqset_resolve(). */
#ifndef SEALMAIL_SEQSET_H
#define SEALMAIL_SEQSET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"

/* '*' in an unresolved set; 0 is never a valid number, so it cannot clash. */
#define SEQSET_STAR 0u

/* One range; lo <= hi once resolved. A single number n is {n, n}. */
struct seqset_range {
	uint32_t lo, hi;
};

/* ranges is owned by the set (free with seqset_free). Plain struct, used by
 * value like struct buf. */
struct seqset {
	struct seqset_range *ranges;
	size_t count;
	size_t cap;
};

#define SEQSET_INIT {NULL, 0, 0}

/* Release the ranges; the set is empty and reusable afterwards. */
void seqset_free(struct seqset *s);
/* Empty the set, keeping its memory. */
void seqset_clear(struct seqset *s);

/* Parse n bytes of sequence-set text, appending ranges to out as written
 * ('*' kept as SEQSET_STAR, "5:2" kept as {5, 2}). At most max_ranges
 * ranges are accepted (0: no limit). Returns 1 ok, 0 invalid syntax or
 * number, -1 more than max_ranges ranges; *error_r (if not NULL) points at a
 * static reason on 0 and -1. */
int seqset_parse(struct seqset *out, const char *text, size_t n, size_t max_ranges,
		 const char **error_r);

/* True if the set (unresolved) contains '*'. */
bool seqset_has_star(const struct seqset *s);

/* Replace '*' by max and normalise in place. Message sequence numbers
 * (uid = false): returns 0 if any number exceeds max (the client named a
 * message that does not exist; RFC 3501 section 9, seq-number), else 1.
 * UIDs (uid = true): numbers above max are kept, so "n:*" with n > max is
 * {max, n} and still holds the largest UID (RFC 3501 section 6.4.8); in an
 * empty mailbox (max == 0) a lone '*' matches nothing. Always 1 for UIDs. */
int seqset_resolve(struct seqset *s, uint32_t max, bool uid);

/* Sort ranges, order each as lo <= hi and merge overlapping or adjacent
 * ones. The set must not contain SEQSET_STAR. */
void seqset_normalise(struct seqset *s);

/* Append the range lo..hi (either order; both >= 1) without normalising.
 * When lo <= hi directly continues an ascending last range (lo == last.hi + 1)
 * the last range is extended instead, so a set built in ascending order stays
 * compact while keeping the caller's order and every number exactly once
 * (COPYUID pairs source and destination UIDs by position, RFC 4315
 * section 3). */
void seqset_add(struct seqset *s, uint32_t lo, uint32_t hi);

/* Membership and size of a normalised set. */
bool seqset_contains(const struct seqset *s, uint32_t n);
uint64_t seqset_count(const struct seqset *s);

/* Iterate the numbers of a normalised set in ascending order:
 *   struct seqset_iter it = SEQSET_ITER_INIT; uint32_t n;
 *   while (seqset_next(s, &it, &n)) ...                                     */
struct seqset_iter {
	size_t range;
	uint64_t next; /* 0: start of the current range */
};
#define SEQSET_ITER_INIT {0, 0}
bool seqset_next(const struct seqset *s, struct seqset_iter *it, uint32_t *n_r);

/* Append the set in IMAP form to out ("1:3,5,7:*"), ranges in stored order;
 * a single-number range is written as one number. An empty set appends
 * nothing. */
void seqset_format(const struct seqset *s, struct buf *out);

#endif
