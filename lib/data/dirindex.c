/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* Trust: see dirindex.h. */
#include "dirindex.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"

struct dirindex_domain {
	const char *name;
	const struct dirindex_user *first_user; /* set by dirindex_seal */
};

struct dirindex {
	struct dirindex_domain *domains; /* sorted by name once sealed */
	size_t ndomains, cdomains;
	const char *first_domain;
	struct dirindex_user *users; /* sorted by address once sealed */
	size_t nusers, cusers;
	const struct dirindex_user **by_id; /* sorted by id */
	struct dirindex_alias *aliases;     /* sorted by (source, seq) */
	size_t naliases, caliases;
	char **strings; /* every copied string, freed with the index */
	size_t nstrings, cstrings;
	bool sealed;
};

struct dirindex *dirindex_new(void)
{
	return mem_zalloc(sizeof(struct dirindex));
}

void dirindex_free(struct dirindex **xp)
{
	struct dirindex *x = *xp;
	if (x == NULL)
		return;
	for (size_t i = 0; i < x->nstrings; i++)
		free(x->strings[i]);
	free(x->strings);
	free(x->domains);
	free(x->users);
	free(x->by_id);
	free(x->aliases);
	free(x);
	*xp = NULL;
}

/* Room for one more element in an array of *cap. */
static void *dx_grow(void *p, size_t n, size_t *cap, size_t size)
{
	if (n < *cap)
		return p;
	*cap = *cap ? mem_mul(*cap, 2) : 16;
	return mem_realloc(p, *cap, size);
}

static const char *dx_str(struct dirindex *x, const char *s)
{
	x->strings = dx_grow(x->strings, x->nstrings, &x->cstrings, sizeof(*x->strings));
	x->strings[x->nstrings] = mem_strdup(s != NULL ? s : "");
	return x->strings[x->nstrings++];
}

void dirindex_add_domain(struct dirindex *x, const char *name)
{
	if (x->sealed)
		abort();
	x->domains = dx_grow(x->domains, x->ndomains, &x->cdomains, sizeof(*x->domains));
	x->domains[x->ndomains] = (struct dirindex_domain){dx_str(x, name), NULL};
	if (x->ndomains++ == 0)
		x->first_domain = x->domains[0].name;
}

void dirindex_add_user(struct dirindex *x, const struct dirindex_user *u)
{
	if (x->sealed)
		abort();
	x->users = dx_grow(x->users, x->nusers, &x->cusers, sizeof(*x->users));
	struct dirindex_user *c = &x->users[x->nusers++];
	*c = *u;
	c->id = dx_str(x, u->id);
	c->address = dx_str(x, u->address);
	c->domain = dx_str(x, u->domain);
}

void dirindex_add_alias(struct dirindex *x, const char *source, const char *target,
                        const char *kind)
{
	if (x->sealed)
		abort();
	x->aliases = dx_grow(x->aliases, x->naliases, &x->caliases, sizeof(*x->aliases));
	x->aliases[x->naliases] = (struct dirindex_alias){dx_str(x, source), dx_str(x, target),
	                                                  dx_str(x, kind), x->naliases};
	x->naliases++;
}

/* qsort and bsearch, which must not be given a NULL array even when it is
 * empty. */
static void dx_sort(void *base, size_t n, size_t size, int (*cmp)(const void *, const void *))
{
	if (n > 1)
		qsort(base, n, size, cmp);
}

static void *dx_find(const void *key, const void *base, size_t n, size_t size,
                     int (*cmp)(const void *, const void *))
{
	return n > 0 ? bsearch(key, base, n, size, cmp) : NULL;
}

static int dx_cmp_domain(const void *a, const void *b)
{
	return strcmp(((const struct dirindex_domain *)a)->name,
	              ((const struct dirindex_domain *)b)->name);
}

/* Addresses (and ids) are unique in the directory. */
static int dx_cmp_user(const void *a, const void *b)
{
	return strcmp(((const struct dirindex_user *)a)->address,
	              ((const struct dirindex_user *)b)->address);
}

static int dx_cmp_user_id(const void *a, const void *b)
{
	return strcmp((*(const struct dirindex_user *const *)a)->id,
	              (*(const struct dirindex_user *const *)b)->id);
}

static int dx_cmp_alias(const void *a, const void *b)
{
	const struct dirindex_alias *x = a, *y = b;
	int c = strcmp(x->source, y->source);
	if (c != 0)
		return c;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

void dirindex_seal(struct dirindex *x)
{
	if (x->sealed)
		return;
	/* Each domain's first user: the first added (the caller adds them in
	 * the directory's order), found before the users are sorted. */
	dx_sort(x->domains, x->ndomains, sizeof(*x->domains), dx_cmp_domain);
	size_t *first = mem_array(x->ndomains + 1, sizeof(*first));
	for (size_t i = 0; i < x->ndomains; i++)
		first[i] = SIZE_MAX;
	for (size_t u = 0; u < x->nusers; u++) {
		struct dirindex_domain key = {.name = x->users[u].domain};
		struct dirindex_domain *d =
		    dx_find(&key, x->domains, x->ndomains, sizeof(*x->domains), dx_cmp_domain);
		if (d != NULL && first[d - x->domains] == SIZE_MAX)
			first[d - x->domains] = u;
	}
	/* Remember the first users by address, since sorting moves them. */
	const char **first_addr = mem_array(x->ndomains + 1, sizeof(*first_addr));
	for (size_t i = 0; i < x->ndomains; i++)
		first_addr[i] = first[i] == SIZE_MAX ? NULL : x->users[first[i]].address;
	dx_sort(x->users, x->nusers, sizeof(*x->users), dx_cmp_user);
	x->by_id = mem_array(x->nusers + 1, sizeof(*x->by_id));
	for (size_t u = 0; u < x->nusers; u++)
		x->by_id[u] = &x->users[u];
	dx_sort(x->by_id, x->nusers, sizeof(*x->by_id), dx_cmp_user_id);
	dx_sort(x->aliases, x->naliases, sizeof(*x->aliases), dx_cmp_alias);
	x->sealed = true;
	for (size_t i = 0; i < x->ndomains; i++)
		x->domains[i].first_user =
		    first_addr[i] != NULL ? dirindex_user_by_address(x, first_addr[i]) : NULL;
	free(first);
	free(first_addr);
}

static const struct dirindex_domain *dx_domain(const struct dirindex *x, const char *name)
{
	struct dirindex_domain key = {.name = name};
	return x->sealed
	           ? dx_find(&key, x->domains, x->ndomains, sizeof(*x->domains), dx_cmp_domain)
	           : NULL;
}

bool dirindex_has_domain(const struct dirindex *x, const char *name)
{
	return dx_domain(x, name) != NULL;
}

const char *dirindex_first_domain(const struct dirindex *x)
{
	return x->first_domain;
}

const struct dirindex_user *dirindex_user_by_address(const struct dirindex *x, const char *a)
{
	struct dirindex_user key = {.address = a};
	return x->sealed ? dx_find(&key, x->users, x->nusers, sizeof(*x->users), dx_cmp_user)
	                 : NULL;
}

const struct dirindex_user *dirindex_user_by_id(const struct dirindex *x, const char *id)
{
	struct dirindex_user key = {.id = id};
	const struct dirindex_user *kp = &key;
	const struct dirindex_user *const *r =
	    x->sealed ? dx_find(&kp, x->by_id, x->nusers, sizeof(*x->by_id), dx_cmp_user_id) : NULL;
	return r != NULL ? *r : NULL;
}

const struct dirindex_user *dirindex_first_user(const struct dirindex *x, const char *domain)
{
	const struct dirindex_domain *d = dx_domain(x, domain);
	return d != NULL ? d->first_user : NULL;
}

size_t dirindex_aliases(const struct dirindex *x, const char *source,
                        const struct dirindex_alias **first)
{
	*first = NULL;
	if (!x->sealed || x->naliases == 0)
		return 0;
	/* Lower bound of source. */
	size_t lo = 0, hi = x->naliases;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (strcmp(x->aliases[mid].source, source) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	size_t n = 0;
	while (lo + n < x->naliases && strcmp(x->aliases[lo + n].source, source) == 0)
		n++;
	if (n > 0)
		*first = &x->aliases[lo];
	return n;
}
