/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* Mailbox store: keyword sets. A message's keywords (RFC 3501 flag-keyword =
 * atom) are one space-separated string, deduplicated case-insensitively and
 * sorted (docs/STORE.md, "Schema"); here they are parsed, edited and put back
 * in that form. Pure: no I/O, no globals.
 * Trust: post-auth; the keywords come from the user's client or, through the
 * spool's X-Sealmail-Flags field, from the MX. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/mem.h"
#include "store_int.h"

/* RFC 3501 section 9: flag-keyword = atom; atom-char is any CHAR except
 * atom-specials: "(" ")" "{" SP CTL "%" "*" DQUOTE "\" "]". */
static bool store_atom_char(unsigned char c)
{
	if (c <= 0x20 || c >= 0x7f)
		return false;
	return strchr("(){%*\"\\]", c) == NULL;
}

static bool store_keyword_valid(const char *k, size_t n)
{
	if (n == 0 || n > STORE_KEYWORD_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!store_atom_char((unsigned char)k[i]))
			return false;
	return true;
}

void store_kwset_free(struct store_kwset *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->kw[i]);
	s->n = 0;
}

static ssize_t store_kwset_find(const struct store_kwset *s, const char *k, size_t n)
{
	for (size_t i = 0; i < s->n; i++)
		if (strlen(s->kw[i]) == n && strncasecmp(s->kw[i], k, n) == 0)
			return (ssize_t)i;
	return -1;
}

/* Add one keyword: 0 ok (or already present), -1 invalid, STORE_KWSET_FULL
 * too many: kept apart because a client that sends too many keywords ran
 * into a limit (RFC 5530 LIMIT), which is not a malformed request. */
int store_kwset_add(struct store_kwset *s, const char *k, size_t n)
{
	if (!store_keyword_valid(k, n))
		return -1;
	if (store_kwset_find(s, k, n) >= 0)
		return 0;
	if (s->n == STORE_KEYWORDS_MAX)
		return STORE_KWSET_FULL;
	s->kw[s->n++] = mem_strndup(k, n);
	return 0;
}

void store_kwset_remove(struct store_kwset *s, const char *k, size_t n)
{
	ssize_t i = store_kwset_find(s, k, n);
	if (i < 0)
		return;
	free(s->kw[i]);
	s->kw[i] = s->kw[s->n - 1];
	s->n--;
}

/* Parse a space-separated list; NULL is empty. 0 ok, -1 invalid keyword,
 * STORE_KWSET_FULL too many. */
int store_kwset_parse(struct store_kwset *s, const char *list, bool remove)
{
	const char *p = list;
	if (p == NULL)
		return 0;
	while (*p != '\0') {
		while (*p == ' ')
			p++;
		const char *start = p;
		while (*p != '\0' && *p != ' ')
			p++;
		if (p == start)
			continue;
		if (remove) {
			store_kwset_remove(s, start, (size_t)(p - start));
			continue;
		}
		int rc = store_kwset_add(s, start, (size_t)(p - start));
		if (rc < 0)
			return rc;
	}
	return 0;
}

static int store_kw_cmp(const void *a, const void *b)
{
	return strcasecmp(*(char *const *)a, *(char *const *)b);
}

/* Canonical form: sorted case-insensitively, single spaces. */
void store_kwset_format(struct store_kwset *s, struct buf *out)
{
	qsort(s->kw, s->n, sizeof(s->kw[0]), store_kw_cmp);
	buf_reset(out);
	buf_append_str(out, "");
	for (size_t i = 0; i < s->n; i++) {
		if (i > 0)
			buf_append_byte(out, ' ');
		buf_append_str(out, s->kw[i]);
	}
}
