/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* The directory's hosted domains (directory.h). Trust: added and removed by
 * sealctl (admin); dir_hosted is asked with domains from clients. */
#include "directory_int.h"

#include <stdlib.h>
#include <string.h>

#include "base/mem.h"

/* 1 hosted, 0 not, -1 error. */
int dir_hosted(struct directory *d, const char *domain)
{
	if (d->index != NULL)
		return dirindex_has_domain(d->index, domain) ? 1 : 0;
	sqlite3_stmt *st = dir_stmt(d, ST_DOMAIN_EXISTS);
	if (st == NULL)
		return -1;
	dir_bind_text(st, 1, domain);
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc == SQLITE_ROW)
		return 1;
	if (rc == SQLITE_DONE)
		return 0;
	return dir_sqlfail(d, "domain lookup");
}

int directory_domain_add(struct directory *d, const char *domain)
{
	char name[ADDR_DOMAIN_MAX + 1];
	if (dir_norm_domain(d, domain, name) < 0)
		return -1;
	if (dir_write_begin(d) < 0)
		return -1;
	sqlite3_stmt *st = dir_prepare(d, "INSERT INTO domains (name, created) VALUES (?1, ?2)");
	bool ok = false;
	if (st != NULL) {
		dir_bind_text(st, 1, name);
		sqlite3_bind_int64(st, 2, (sqlite3_int64)time(NULL));
		if (sqlite3_step(st) == SQLITE_DONE)
			ok = true;
		else if (dir_sqlfail(d, "add domain") < 0 && d->status == DIRECTORY_ERR_EXISTS)
			dir_fail(d, DIRECTORY_ERR_EXISTS, "domain %s exists", name);
		sqlite3_finalize(st);
	}
	return dir_write_end(d, ok);
}

int directory_domain_del(struct directory *d, const char *domain)
{
	char name[ADDR_DOMAIN_MAX + 1];
	int64_t users = 0, aliases = 0;
	if (dir_norm_domain(d, domain, name) < 0)
		return -1;
	if (dir_write_begin(d) < 0)
		return -1;
	bool ok = false;
	int h = dir_hosted(d, name);
	if (h == 0)
		dir_fail(d, DIRECTORY_ERR_NOT_FOUND, "no domain %s", name);
	if (h != 1)
		return dir_write_end(d, false);
	if (dir_count(d, "SELECT count(*) FROM users WHERE domain = ?1", name, &users) < 0 ||
	    dir_count(d, "SELECT count(*) FROM aliases WHERE domain = ?1", name, &aliases) < 0)
		return dir_write_end(d, false);
	if (users > 0 || aliases > 0) {
		dir_fail(d, DIRECTORY_ERR_IN_USE, "domain %s still has %lld users and %lld aliases",
		         name, (long long)users, (long long)aliases);
		return dir_write_end(d, false);
	}
	sqlite3_stmt *st = dir_prepare(d, "DELETE FROM domains WHERE name = ?1");
	if (st != NULL) {
		dir_bind_text(st, 1, name);
		ok = dir_step_done(d, st, "delete domain") == 0;
	}
	return dir_write_end(d, ok);
}

int directory_domain_exists(struct directory *d, const char *domain)
{
	char name[ADDR_DOMAIN_MAX + 1];
	if (addr_domain_normalise(domain, strlen(domain), ADDR_UTF8, name, sizeof(name)) != 1)
		return 0;
	return dir_hosted(d, name);
}

void directory_strv_free(char ***vp, size_t n)
{
	char **v = *vp;
	if (v == NULL)
		return;
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
	*vp = NULL;
}

int directory_domain_list(struct directory *d, char ***names_r, size_t *n_r)
{
	*names_r = NULL;
	*n_r = 0;
	sqlite3_stmt *st = dir_prepare(d, "SELECT name FROM domains ORDER BY name");
	if (st == NULL)
		return -1;
	char **v = NULL;
	size_t n = 0;
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		v = mem_realloc(v, n + 1, sizeof(*v));
		v[n++] = mem_strdup((const char *)sqlite3_column_text(st, 0));
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		directory_strv_free(&v, n);
		return dir_sqlfail(d, "list domains");
	}
	*names_r = v;
	*n_r = n;
	return 0;
}
