/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* IMAP sequence sets (RFC 3501 section 9). Trust: pre-auth input. */
#include "seqset.h"

#include <stdlib.h>

#include "base/mem.h"

void seqset_free(struct seqset *s)
{
	free(s->ranges);
	s->ranges = NULL;
	s->count = 0;
	s->cap = 0;
}

void seqset_clear(struct seqset *s)
{
	s->count = 0;
}

static void seqset_push(struct seqset *s, uint32_t lo, uint32_t hi)
{
	if (s->count == s->cap) {
		size_t cap = s->cap ? mem_mul(s->cap, 2) : 8;
		s->ranges = mem_realloc(s->ranges, cap, sizeof(*s->ranges));
		s->cap = cap;
	}
	s->ranges[s->count].lo = lo;
	s->ranges[s->count].hi = hi;
	s->count++;
}

static int seqset_fail(const char **error_r, const char *why, int r)
{
	if (error_r != NULL)
		*error_r = why;
	return r;
}

/* seq-number = nz-number / "*"; nz-number = digit-nz *DIGIT, at most
 * 4294967295 (RFC 3501 section 9, "number" is unsigned 32-bit). */
static int seqset_number(const char *t, size_t n, size_t *pos, uint32_t *v_r,
			 const char **error_r)
{
	size_t i = *pos;
	uint64_t v = 0;

	if (i < n && t[i] == '*') {
		*v_r = SEQSET_STAR;
		*pos = i + 1;
		return 1;
	}
	if (i >= n || t[i] < '0' || t[i] > '9')
		return seqset_fail(error_r, "Invalid sequence set", 0);
	if (t[i] == '0')
		return seqset_fail(error_r, "Invalid sequence number 0", 0);
	while (i < n && t[i] >= '0' && t[i] <= '9') {
		v = v * 10 + (uint64_t)(t[i] - '0');
		if (v > UINT32_MAX)
			return seqset_fail(error_r, "Sequence number too large", 0);
		i++;
	}
	*v_r = (uint32_t)v;
	*pos = i;
	return 1;
}

int seqset_parse(struct seqset *out, const char *text, size_t n, size_t max_ranges,
		 const char **error_r)
{
	size_t pos = 0, added = 0;

	if (n == 0)
		return seqset_fail(error_r, "Empty sequence set", 0);
	for (;;) {
		uint32_t lo, hi;
		if (seqset_number(text, n, &pos, &lo, error_r) != 1)
			return 0;
		hi = lo;
		if (pos < n && text[pos] == ':') {
			pos++;
			if (seqset_number(text, n, &pos, &hi, error_r) != 1)
				return 0;
		}
		if (max_ranges != 0 && added >= max_ranges)
			return seqset_fail(error_r, "Too many ranges in sequence set", -1);
		seqset_push(out, lo, hi);
		added++;
		if (pos == n)
			return 1;
		if (text[pos] != ',')
			return seqset_fail(error_r, "Invalid sequence set", 0);
		pos++;
		if (pos == n)
			return seqset_fail(error_r, "Invalid sequence set", 0);
	}
}

bool seqset_has_star(const struct seqset *s)
{
	for (size_t i = 0; i < s->count; i++) {
		if (s->ranges[i].lo == SEQSET_STAR || s->ranges[i].hi == SEQSET_STAR)
			return true;
	}
	return false;
}

static int seqset_cmp(const void *a, const void *b)
{
	const struct seqset_range *x = a, *y = b;
	if (x->lo != y->lo)
		return x->lo < y->lo ? -1 : 1;
	if (x->hi != y->hi)
		return x->hi < y->hi ? -1 : 1;
	return 0;
}

void seqset_normalise(struct seqset *s)
{
	size_t out = 0;

	for (size_t i = 0; i < s->count; i++) {
		if (s->ranges[i].lo > s->ranges[i].hi) {
			uint32_t t = s->ranges[i].lo;
			s->ranges[i].lo = s->ranges[i].hi;
			s->ranges[i].hi = t;
		}
	}
	if (s->count > 1)
		qsort(s->ranges, s->count, sizeof(*s->ranges), seqset_cmp);
	for (size_t i = 0; i < s->count; i++) {
		struct seqset_range r = s->ranges[i];
		if (out > 0) {
			struct seqset_range *last = &s->ranges[out - 1];
			/* Adjacent ranges merge too; hi + 1 is computed in 64 bits
			 * so that a range ending at 4294967295 cannot wrap. */
			if ((uint64_t)r.lo <= (uint64_t)last->hi + 1) {
				if (r.hi > last->hi)
					last->hi = r.hi;
				continue;
			}
		}
		s->ranges[out++] = r;
	}
	s->count = out;
}

int seqset_resolve(struct seqset *s, uint32_t max, bool uid)
{
	size_t out = 0;

	for (size_t i = 0; i < s->count; i++) {
		uint32_t lo = s->ranges[i].lo == SEQSET_STAR ? max : s->ranges[i].lo;
		uint32_t hi = s->ranges[i].hi == SEQSET_STAR ? max : s->ranges[i].hi;
		if (lo > hi) {
			uint32_t t = lo;
			lo = hi;
			hi = t;
		}
		if (!uid) {
			/* Sequence numbers name existing messages only; '*' in an
			 * empty mailbox names none (lo == 0 here). */
			if (lo == 0 || hi > max)
				return 0;
		} else {
			if (hi == 0)
				continue; /* lone '*' in an empty mailbox */
			if (lo == 0)
				lo = 1;
		}
		s->ranges[out].lo = lo;
		s->ranges[out].hi = hi;
		out++;
	}
	s->count = out;
	seqset_normalise(s);
	return 1;
}

void seqset_add(struct seqset *s, uint32_t lo, uint32_t hi)
{
	if (s->count > 0 && lo <= hi) {
		struct seqset_range *last = &s->ranges[s->count - 1];
		if (last->lo <= last->hi && (uint64_t)lo == (uint64_t)last->hi + 1) {
			last->hi = hi;
			return;
		}
	}
	seqset_push(s, lo, hi);
}

bool seqset_contains(const struct seqset *s, uint32_t n)
{
	size_t a = 0, b = s->count;

	while (a < b) {
		size_t m = a + (b - a) / 2;
		if (n < s->ranges[m].lo)
			b = m;
		else if (n > s->ranges[m].hi)
			a = m + 1;
		else
			return true;
	}
	return false;
}

uint64_t seqset_count(const struct seqset *s)
{
	uint64_t total = 0;
	for (size_t i = 0; i < s->count; i++)
		total += (uint64_t)s->ranges[i].hi - s->ranges[i].lo + 1;
	return total;
}

bool seqset_next(const struct seqset *s, struct seqset_iter *it, uint32_t *n_r)
{
	while (it->range < s->count) {
		const struct seqset_range *r = &s->ranges[it->range];
		if (it->next == 0)
			it->next = r->lo;
		if (it->next <= r->hi) {
			*n_r = (uint32_t)it->next;
			it->next++;
			return true;
		}
		it->range++;
		it->next = 0;
	}
	return false;
}

static void seqset_put(struct buf *out, uint32_t v)
{
	if (v == SEQSET_STAR)
		buf_append_byte(out, '*');
	else
		buf_printf(out, "%u", v);
}

void seqset_format(const struct seqset *s, struct buf *out)
{
	for (size_t i = 0; i < s->count; i++) {
		if (i > 0)
			buf_append_byte(out, ',');
		seqset_put(out, s->ranges[i].lo);
		if (s->ranges[i].hi != s->ranges[i].lo) {
			buf_append_byte(out, ':');
			seqset_put(out, s->ranges[i].hi);
		}
	}
}
