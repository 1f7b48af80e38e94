/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* The directory's aliases (directory.h): a source address or catch-all
 * "*@domain" with one or more targets (a local address, an address
 * elsewhere, or an https URL). Trust: written by sealctl (admin). */
#include "directory_int.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/mem.h"

const char *dir_kind_name(enum directory_target_kind k)
{
	switch (k) {
	case DIRECTORY_TARGET_LOCAL:
		return "local";
	case DIRECTORY_TARGET_EXTERNAL:
		return "external";
	case DIRECTORY_TARGET_URL:
		return "url";
	}
	return "external";
}

enum directory_target_kind dir_kind_parse(const unsigned char *s)
{
	if (s != NULL && strcmp((const char *)s, "local") == 0)
		return DIRECTORY_TARGET_LOCAL;
	if (s != NULL && strcmp((const char *)s, "url") == 0)
		return DIRECTORY_TARGET_URL;
	return DIRECTORY_TARGET_EXTERNAL;
}

int dir_alias_exists(struct directory *d, const char *source)
{
	int64_t n = 0;
	if (dir_count(d, "SELECT count(*) FROM aliases WHERE source = ?1", source, &n) < 0)
		return -1;
	return n > 0;
}

/* true for an https URL we are willing to store: printable ASCII without
 * spaces, a non-empty host. */
static bool dir_url_valid(const char *s)
{
	size_t n = strlen(s);
	if (n <= 8 || n > DIRECTORY_URL_MAX || strncasecmp(s, "https://", 8) != 0)
		return false;
	if (s[8] == '/' || s[8] == '?' || s[8] == '#')
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f)
			return false;
	return true;
}

static bool dir_is_url(const char *s)
{
	return strncasecmp(s, "https://", 8) == 0 || strncasecmp(s, "http://", 7) == 0;
}

/* Normalise an alias target; URL scheme lower-cased. */
static int dir_norm_target(struct directory *d, const char *target, struct buf *out)
{
	buf_reset(out);
	if (dir_is_url(target)) {
		if (!dir_url_valid(target))
			return dir_fail(d, DIRECTORY_ERR_INVALID,
			                "invalid URL target (https only): %.300s", target);
		buf_append_str(out, "https://");
		buf_append_str(out, target + 8);
		return 0;
	}
	char addr[ADDR_SIZE];
	if (dir_norm_address(d, target, addr) < 0)
		return -1;
	buf_append_str(out, addr);
	return 0;
}

int directory_alias_add(struct directory *d, const char *source, const char *target,
                        enum directory_target_kind *kind_r)
{
	char src[ADDR_SIZE];
	struct buf tgt = BUF_INIT;
	struct directory_result res;
	enum directory_target_kind kind = DIRECTORY_TARGET_EXTERNAL;
	bool ok = false;

	memset(&res, 0, sizeof(res));
	if (dir_norm_address(d, source, src) < 0 || dir_norm_target(d, target, &tgt) < 0) {
		buf_free(&tgt);
		return -1;
	}
	if (strcmp(src, buf_cstr(&tgt)) == 0) {
		buf_free(&tgt);
		return dir_fail(d, DIRECTORY_ERR_INVALID, "alias %s points to itself", src);
	}
	if (dir_write_begin(d) < 0) {
		buf_free(&tgt);
		return -1;
	}
	const char *domain = dir_domain_of(src);
	int h = dir_hosted(d, domain);
	if (h == 0)
		dir_fail(d, DIRECTORY_ERR_NOT_FOUND, "domain %s is not hosted here", domain);
	if (h != 1)
		goto out;
	struct directory_user u;
	memset(&u, 0, sizeof(u));
	int r = dir_user_query(d, ST_USER_BY_ADDRESS, src, &u);
	if (r == 1) {
		directory_user_clear(&u);
		dir_fail(d, DIRECTORY_ERR_EXISTS, "a user %s exists (it would win over the alias)",
		         src);
	}
	if (r != 0)
		goto out;

	if (dir_is_url(buf_cstr(&tgt))) {
		kind = DIRECTORY_TARGET_URL;
	} else {
		h = dir_hosted(d, dir_domain_of(buf_cstr(&tgt)));
		if (h < 0)
			goto out;
		if (h == 1) {
			/* A local target must lead somewhere now: catches typos. */
			kind = DIRECTORY_TARGET_LOCAL;
			r = directory_resolve(d, buf_cstr(&tgt), NULL, &res);
			if (r == 0)
				dir_fail(d, DIRECTORY_ERR_NOT_FOUND,
				         "target %s is no user, alias or catch-all here",
				         buf_cstr(&tgt));
			if (r != 1)
				goto out;
		}
	}

	sqlite3_stmt *st = dir_prepare(d, "INSERT INTO aliases (source, domain, target, kind, "
	                                  "created) VALUES (?1, ?2, ?3, ?4, ?5)");
	if (st != NULL) {
		dir_bind_text(st, 1, src);
		dir_bind_text(st, 2, domain);
		dir_bind_text(st, 3, buf_cstr(&tgt));
		dir_bind_text(st, 4, dir_kind_name(kind));
		sqlite3_bind_int64(st, 5, (sqlite3_int64)time(NULL));
		if (sqlite3_step(st) == SQLITE_DONE)
			ok = true;
		else if (dir_sqlfail(d, "add alias") < 0 && d->status == DIRECTORY_ERR_EXISTS)
			dir_fail(d, DIRECTORY_ERR_EXISTS, "alias %s -> %s exists", src,
			         buf_cstr(&tgt));
		sqlite3_finalize(st);
	}
out:
	directory_result_clear(&res);
	buf_free(&tgt);
	if (ok && kind_r != NULL)
		*kind_r = kind;
	return dir_write_end(d, ok);
}

int directory_alias_del(struct directory *d, const char *source, const char *target)
{
	char src[ADDR_SIZE];
	struct buf tgt = BUF_INIT;
	if (dir_norm_address(d, source, src) < 0)
		return -1;
	if (target != NULL && dir_norm_target(d, target, &tgt) < 0) {
		buf_free(&tgt);
		return -1;
	}
	if (dir_write_begin(d) < 0) {
		buf_free(&tgt);
		return -1;
	}
	bool ok = false;
	sqlite3_stmt *st = dir_prepare(d, target != NULL ? "DELETE FROM aliases WHERE source = ?1 "
	                                                   "AND target = ?2"
	                                                 : "DELETE FROM aliases WHERE source = ?1");
	if (st != NULL) {
		dir_bind_text(st, 1, src);
		if (target != NULL)
			dir_bind_text(st, 2, buf_cstr(&tgt));
		if (sqlite3_step(st) != SQLITE_DONE)
			dir_sqlfail(d, "delete alias");
		else if (sqlite3_changes(d->db) == 0)
			dir_fail(d, DIRECTORY_ERR_NOT_FOUND, "no alias %s%s%s", src,
			         target != NULL ? " -> " : "",
			         target != NULL ? buf_cstr(&tgt) : "");
		else
			ok = true;
		sqlite3_finalize(st);
	}
	buf_free(&tgt);
	return dir_write_end(d, ok);
}

void directory_alias_list_free(struct directory_alias **aliases, size_t n)
{
	if (*aliases == NULL)
		return;
	for (size_t i = 0; i < n; i++) {
		free((*aliases)[i].source);
		free((*aliases)[i].target);
	}
	free(*aliases);
	*aliases = NULL;
}

int directory_alias_list(struct directory *d, const char *filter,
                         struct directory_alias **aliases_r, size_t *n_r)
{
	char key[ADDR_DOMAIN_MAX + 1]; /* an address (ADDR_SIZE) or a domain */
	const char *sql = "SELECT source, target, kind FROM aliases ORDER BY source, rowid";
	*aliases_r = NULL;
	*n_r = 0;
	if (filter != NULL && strchr(filter, '@') != NULL) {
		if (dir_norm_address(d, filter, key) < 0)
			return -1;
		sql = "SELECT source, target, kind FROM aliases WHERE source = ?1 ORDER BY rowid";
	} else if (filter != NULL) {
		if (dir_norm_domain(d, filter, key) < 0)
			return -1;
		sql = "SELECT source, target, kind FROM aliases WHERE domain = ?1 "
		      "ORDER BY source, rowid";
	}
	sqlite3_stmt *st = dir_prepare(d, sql);
	if (st == NULL)
		return -1;
	if (filter != NULL)
		dir_bind_text(st, 1, key);
	struct directory_alias *v = NULL;
	size_t n = 0;
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		v = mem_realloc(v, n + 1, sizeof(*v));
		v[n].source = mem_strdup((const char *)sqlite3_column_text(st, 0));
		v[n].target = mem_strdup((const char *)sqlite3_column_text(st, 1));
		v[n].kind = dir_kind_parse(sqlite3_column_text(st, 2));
		n++;
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		directory_alias_list_free(&v, n);
		return dir_sqlfail(d, "list aliases");
	}
	*aliases_r = v;
	*n_r = n;
	return 0;
}
