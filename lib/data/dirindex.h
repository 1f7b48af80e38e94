/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* A read-only index of the directory's public data (domains, users without
 * their wrapped keys, aliases), built by a process that forks per
 * connection (the MX accept loop) for its children to resolve recipients.
 * A lookup only reads memory (binary search over sorted arrays): SQLite,
 * even on a private in-memory copy, writes its statement, cursor and page
 * cache memory at every query, and in a forked child every page written is
 * a page copied from the parent. Lookups compare bytes, as the directory's
 * BINARY collation does. Trust: built from directory.db (admin); queried
 * with addresses from clients. */
#ifndef SEALMAIL_DIRINDEX_H
#define SEALMAIL_DIRINDEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DIRINDEX_PK_LEN 32

struct dirindex;

struct dirindex_user {
	const char *id, *address, *domain;
	unsigned char seal_pk[DIRINDEX_PK_LEN];
	uint64_t quota_bytes;
	int64_t created;
};

struct dirindex_alias {
	const char *source, *target, *kind;
	size_t seq; /* order of addition, kept among equal sources */
};

struct dirindex *dirindex_new(void);
void dirindex_free(struct dirindex **x);

/* Building: domains in the directory's order (the first is the default
 * postmaster domain), users in the order of "first user of a domain"
 * (created, rowid), aliases in the order their targets are tried. Strings
 * are copied. Then dirindex_seal() once; no additions after it. */
void dirindex_add_domain(struct dirindex *x, const char *name);
void dirindex_add_user(struct dirindex *x, const struct dirindex_user *u);
void dirindex_add_alias(struct dirindex *x, const char *source, const char *target,
                        const char *kind);
void dirindex_seal(struct dirindex *x);

/* Lookups on a sealed index; returned pointers live as long as x. */
bool dirindex_has_domain(const struct dirindex *x, const char *name);
const char *dirindex_first_domain(const struct dirindex *x); /* NULL: none */
const struct dirindex_user *dirindex_user_by_address(const struct dirindex *x, const char *a);
const struct dirindex_user *dirindex_user_by_id(const struct dirindex *x, const char *id);
const struct dirindex_user *dirindex_first_user(const struct dirindex *x, const char *domain);
/* The aliases with this source, in order: *first and the count (0: none). */
size_t dirindex_aliases(const struct dirindex *x, const char *source,
                        const struct dirindex_alias **first);

#endif
