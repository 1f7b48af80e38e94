/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* Recipient resolution (directory_resolve in directory.h): users, aliases
 * followed recursively, +tags, postmaster and catch-alls. The MX calls it
 * for every RCPT, mostly on a snapshot read through its index (dirindex.h),
 * so it allocates little and runs no statement there. Trust: the address
 * comes from the network (pre-auth); the directory from the admin. */
#include "directory_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/mem.h"

struct dir_visit {
	char *address;
	bool active; /* being expanded: meeting it again is a loop */
	int found;   /* result once done */
};

struct dir_resolver {
	struct directory *d;
	struct directory_result *res;
	const char *postmaster;
	struct dir_visit *visits;
	size_t nvisits;
	bool loop;
};

void directory_result_clear(struct directory_result *res)
{
	for (size_t i = 0; i < res->n; i++)
		free(res->targets[i].value);
	free(res->targets);
	memset(res, 0, sizeof(*res));
}

static void dir_add_target(struct dir_resolver *r, enum directory_target_kind kind,
                           const char *value, const struct directory_user *u)
{
	struct directory_result *res = r->res;
	for (size_t i = 0; i < res->n; i++) {
		struct directory_target *t = &res->targets[i];
		if (t->kind != kind)
			continue;
		if (kind == DIRECTORY_TARGET_LOCAL ? strcmp(t->id, u->id) == 0
		                                   : strcmp(t->value, value) == 0)
			return;
	}
	res->targets = mem_realloc(res->targets, res->n + 1, sizeof(*res->targets));
	struct directory_target *t = &res->targets[res->n++];
	memset(t, 0, sizeof(*t));
	t->kind = kind;
	t->value = mem_strdup(value);
	if (u != NULL) {
		memcpy(t->id, u->id, sizeof(t->id));
		memcpy(t->seal_pk, u->seal_pk, sizeof(t->seal_pk));
	}
}

/* A user with address key: 1 added, 0 none, -1 error. */
static int dir_resolve_user(struct dir_resolver *r, enum dir_stmt which, const char *key)
{
	struct directory_user u;
	memset(&u, 0, sizeof(u));
	int rc = dir_user_query(r->d, which, key, &u);
	if (rc == 1)
		dir_add_target(r, DIRECTORY_TARGET_LOCAL, u.address, &u);
	directory_user_clear(&u);
	return rc;
}

static int dir_resolve_addr(struct dir_resolver *r, const char *address, int depth);

/* Expand the alias with this source. *matched: it has targets. Returns 1
 * when a target led somewhere, 0 when not, -1 on error. */
static int dir_resolve_alias(struct dir_resolver *r, const char *source, int depth, bool *matched)
{
	*matched = false;
	/* Copy the targets out first: resolving them reuses the statement. */
	char **targets = NULL;
	enum directory_target_kind *kinds = NULL;
	size_t n = 0;
	int rc = SQLITE_DONE;
	if (r->d->index != NULL) {
		const struct dirindex_alias *a;
		size_t na = dirindex_aliases(r->d->index, source, &a);
		targets = mem_array(na + 1, sizeof(*targets));
		kinds = mem_array(na + 1, sizeof(*kinds));
		for (; n < na; n++) {
			targets[n] = mem_strdup(a[n].target);
			kinds[n] = dir_kind_parse((const unsigned char *)a[n].kind);
		}
	} else {
		sqlite3_stmt *st = dir_stmt(r->d, ST_ALIAS_TARGETS);
		if (st == NULL)
			return -1;
		dir_bind_text(st, 1, source);
		while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
			targets = mem_realloc(targets, n + 1, sizeof(*targets));
			kinds = mem_realloc(kinds, n + 1, sizeof(*kinds));
			targets[n] = mem_strdup((const char *)sqlite3_column_text(st, 0));
			kinds[n] = dir_kind_parse(sqlite3_column_text(st, 1));
			n++;
		}
		sqlite3_reset(st);
	}
	int found = 0;
	if (rc != SQLITE_DONE) {
		found = dir_sqlfail(r->d, "alias lookup");
	} else {
		*matched = n > 0;
		for (size_t i = 0; i < n && found >= 0; i++) {
			if (kinds[i] == DIRECTORY_TARGET_URL) {
				dir_add_target(r, DIRECTORY_TARGET_URL, targets[i], NULL);
				found = 1;
				continue;
			}
			int f = dir_resolve_addr(r, targets[i], depth + 1);
			if (f < 0)
				found = -1;
			else if (f > 0)
				found = 1;
		}
	}
	for (size_t i = 0; i < n; i++)
		free(targets[i]);
	free(targets);
	free(kinds);
	return found;
}

/* The resolution order of directory_resolve for one normalised address a
 * in a hosted domain. 1 found, 0 not, -1 error. */
static int dir_resolve_steps(struct dir_resolver *r, const struct addr *a, const char *key,
                             int depth)
{
	bool matched;
	int rc;

	if ((rc = dir_resolve_user(r, ST_USER_BY_ADDRESS, key)) != 0)
		return rc;
	rc = dir_resolve_alias(r, key, depth, &matched);
	if (rc != 0 || matched)
		return rc;

	struct addr base = *a;
	if (addr_strip_tag(&base)) {
		char bkey[ADDR_SIZE];
		if (addr_format(&base, bkey, sizeof(bkey)) < 0)
			return 0;
		if ((rc = dir_resolve_user(r, ST_USER_BY_ADDRESS, bkey)) != 0)
			return rc;
		rc = dir_resolve_alias(r, bkey, depth, &matched);
		if (rc != 0 || matched)
			return rc;
	}

	bool postmaster = addr_is_postmaster(a);
	if (postmaster && r->postmaster != NULL && r->postmaster[0] != '\0') {
		if ((rc = dir_resolve_addr(r, r->postmaster, depth + 1)) != 0)
			return rc;
	}

	/* The catch-all, resolved as the address "*@domain" so that a
	 * catch-all whose target falls back to the catch-all is a loop. */
	if (!(a->local_len == 1 && a->local[0] == '*')) {
		char ca[ADDR_SIZE];
		/* Never cut: "*@domain" is no longer than key, whose local
		 * part is at least one octet. Were it cut, no catch-all could
		 * be stored under it either: there is none to find. */
		if ((size_t)snprintf(ca, sizeof(ca), "*@%s", a->domain) < sizeof(ca) &&
		    (rc = dir_resolve_addr(r, ca, depth + 1)) != 0)
			return rc;
	}

	/* The domain's first user (by creation) stands in for postmaster. */
	if (postmaster)
		return dir_resolve_user(r, ST_FIRST_USER, a->domain);
	return 0;
}

/* Resolve one address (depth 0: the one asked for). 1 found, 0 not, -1. */
static int dir_resolve_addr(struct dir_resolver *r, const char *address, int depth)
{
	struct addr a;
	char key[ADDR_SIZE];
	bool top = depth == 0;

	if (addr_parse(address, strlen(address), ADDR_UTF8 | ADDR_LITERAL, &a) != 1) {
		if (top)
			r->res->miss = DIRECTORY_MISS_SYNTAX;
		return 0;
	}
	addr_lower_local(&a);
	if (addr_format(&a, key, sizeof(key)) < 0)
		return 0;
	if (top) /* addr_format bounds key to ADDR_SIZE, the size of address */
		memcpy(r->res->address, key, strlen(key) + 1);

	int h = a.literal ? 0 : dir_hosted(r->d, a.domain);
	if (h < 0)
		return -1;
	if (h == 0) {
		if (top) {
			r->res->miss = DIRECTORY_MISS_DOMAIN;
			return 0;
		}
		dir_add_target(r, DIRECTORY_TARGET_EXTERNAL, key, NULL);
		return 1;
	}
	if (depth > DIRECTORY_ALIAS_DEPTH_MAX) {
		r->loop = true;
		return 0;
	}

	for (size_t i = 0; i < r->nvisits; i++) {
		if (strcmp(r->visits[i].address, key) == 0) {
			if (r->visits[i].active)
				r->loop = true;
			/* Done before: its targets are in the result already. */
			return r->visits[i].active ? 0 : r->visits[i].found;
		}
	}
	if (r->nvisits >= DIRECTORY_VISIT_MAX) {
		r->loop = true;
		return 0;
	}
	size_t v = r->nvisits++;
	r->visits = mem_realloc(r->visits, r->nvisits, sizeof(*r->visits));
	r->visits[v].address = mem_strdup(key);
	r->visits[v].active = true;
	r->visits[v].found = 0;

	int rc = dir_resolve_steps(r, &a, key, depth);

	r->visits[v].active = false;
	r->visits[v].found = rc;
	return rc;
}

/* "postmaster@" the first hosted domain into pm: RFC 5321 section 4.1.1.3
 * wants "RCPT TO:<Postmaster>" without a domain accepted. 1 with pm, 0
 * with res->miss, -1 error. */
static int dir_bare_postmaster(struct directory *d, char pm[ADDR_SIZE],
                               struct directory_result *res)
{
	const char *first = NULL;
	sqlite3_stmt *st = NULL;
	int rc = 1;
	if (d->index != NULL) {
		first = dirindex_first_domain(d->index);
	} else {
		st = dir_stmt(d, ST_FIRST_DOMAIN);
		if (st == NULL)
			return -1;
		int s = sqlite3_step(st);
		if (s == SQLITE_ROW)
			first = (const char *)sqlite3_column_text(st, 0);
		else if (s != SQLITE_DONE)
			rc = dir_sqlfail(d, "domain lookup");
	}
	if (rc > 0 && first == NULL) {
		res->miss = DIRECTORY_MISS_DOMAIN;
		rc = 0;
	} else if (rc > 0 && (size_t)snprintf(pm, ADDR_SIZE, "postmaster@%s", first) >= ADDR_SIZE) {
		/* A domain longer than 243 octets has no room for this local
		 * part in an address (RFC 5321 section 4.5.3.1.3). */
		res->miss = DIRECTORY_MISS_USER;
		rc = 0;
	}
	if (st != NULL)
		sqlite3_reset(st);
	return rc;
}

int directory_resolve(struct directory *d, const char *address, const char *postmaster,
                      struct directory_result *res)
{
	struct dir_resolver r = {.d = d, .res = res, .postmaster = postmaster};
	char pm[ADDR_SIZE];
	int rc;

	memset(res, 0, sizeof(*res));
	/* One snapshot for all lookups. Inside a write transaction (alias
	 * add) that transaction is the snapshot; a private in-memory copy,
	 * read through its index, changes under nobody's hands and needs
	 * none. */
	bool own_txn = d->txn_level == 0 && d->index == NULL;
	if (own_txn && dir_exec(d, "BEGIN") < 0)
		return -1;

	if (strchr(address, '@') == NULL && strcasecmp(address, "postmaster") == 0) {
		rc = dir_bare_postmaster(d, pm, res);
		if (rc <= 0)
			goto out;
		address = pm;
	}

	rc = dir_resolve_addr(&r, address, 0);
	if (rc >= 0) {
		rc = res->n > 0 ? 1 : 0;
		if (rc == 0 && res->miss == DIRECTORY_MISS_NONE)
			res->miss = r.loop ? DIRECTORY_MISS_LOOP : DIRECTORY_MISS_USER;
	}
out:
	for (size_t i = 0; i < r.nvisits; i++)
		free(r.visits[i].address);
	free(r.visits);
	if (own_txn)
		(void)sqlite3_exec(d->db, "COMMIT", NULL, NULL, NULL);
	if (rc < 0)
		directory_result_clear(res);
	return rc;
}
