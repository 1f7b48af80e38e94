/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* The directory's users (directory.h): random id, address, wrapped mailbox
 * keys, public sealing key, quota. Trust: written by sealctl (admin); read
 * by the MX and login handlers with addresses from clients. */
#include "directory_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"
#include "base/rnd.h"

/* Copy a text value into a fixed field: false when it does not fit. The
 * API stores only normalised addresses and 32-digit ids, which always fit;
 * a longer value comes from a directory written by other tools and is
 * refused rather than cut (a cut address or id could name someone else). */
static bool dir_copy_str(char *out, size_t outsz, const char *s)
{
	size_t n = strlen(s);
	if (n >= outsz)
		return false;
	memcpy(out, s, n + 1);
	return true;
}

static bool dir_copy_text(char *out, size_t outsz, sqlite3_stmt *st, int col)
{
	const unsigned char *t = sqlite3_column_text(st, col);
	return dir_copy_str(out, outsz, t ? (const char *)t : "");
}

static void dir_copy_blob(struct buf *b, sqlite3_stmt *st, int col)
{
	const void *p = sqlite3_column_blob(st, col);
	int n = sqlite3_column_bytes(st, col);
	buf_reset(b);
	if (p != NULL && n > 0)
		buf_append(b, p, (size_t)n);
}

int dir_user_row(sqlite3_stmt *st, struct directory_user *u)
{
	if (!dir_copy_text(u->id, sizeof(u->id), st, 0) ||
	    !dir_copy_text(u->address, sizeof(u->address), st, 1) ||
	    !dir_copy_text(u->domain, sizeof(u->domain), st, 2))
		return -1;
	dir_copy_blob(&u->pw_blob, st, 3);
	dir_copy_blob(&u->recovery_blob, st, 4);
	memset(u->seal_pk, 0, sizeof(u->seal_pk));
	if (sqlite3_column_bytes(st, 5) == DIRECTORY_SEAL_PK_LEN)
		memcpy(u->seal_pk, sqlite3_column_blob(st, 5), DIRECTORY_SEAL_PK_LEN);
	sqlite3_int64 q = sqlite3_column_int64(st, 6);
	u->quota_bytes = q > 0 ? (uint64_t)q : 0;
	u->created = sqlite3_column_int64(st, 7);
	return 0;
}

int dir_user_indexed(const struct dirindex_user *x, struct directory_user *u)
{
	if (x == NULL)
		return 0;
	if (!dir_copy_str(u->id, sizeof(u->id), x->id) ||
	    !dir_copy_str(u->address, sizeof(u->address), x->address) ||
	    !dir_copy_str(u->domain, sizeof(u->domain), x->domain))
		return -1;
	buf_reset(&u->pw_blob);
	buf_reset(&u->recovery_blob);
	memcpy(u->seal_pk, x->seal_pk, sizeof(u->seal_pk));
	u->quota_bytes = x->quota_bytes;
	u->created = x->created;
	return 1;
}

/* A snapshot answers from its index (see dirindex.h), the file from the
 * cached statement. */
int dir_user_query(struct directory *d, enum dir_stmt which, const char *key,
                   struct directory_user *u)
{
	if (d->index != NULL) {
		const struct dirindex_user *x =
		    which == ST_USER_BY_ADDRESS ? dirindex_user_by_address(d->index, key)
		    : which == ST_USER_BY_ID    ? dirindex_user_by_id(d->index, key)
		                                : dirindex_first_user(d->index, key);
		int r = dir_user_indexed(x, u);
		if (r < 0)
			return dir_fail(d, DIRECTORY_ERR_TEMP, "user %.300s: value too long", key);
		return r;
	}
	sqlite3_stmt *st = dir_stmt(d, which);
	if (st == NULL)
		return -1;
	dir_bind_text(st, 1, key);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		int r = dir_user_row(st, u);
		sqlite3_reset(st);
		if (r < 0)
			return dir_fail(d, DIRECTORY_ERR_TEMP, "user %.300s: value too long", key);
		return 1;
	}
	sqlite3_reset(st);
	if (rc == SQLITE_DONE)
		return 0;
	return dir_sqlfail(d, "user lookup");
}

void directory_new_id(char id[DIRECTORY_ID_LEN + 1])
{
	rnd_hex(id, DIRECTORY_ID_BYTES);
}

bool directory_id_valid(const char *id)
{
	size_t i;
	for (i = 0; i < DIRECTORY_ID_LEN; i++) {
		char c = id[i];
		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
			return false;
	}
	return id[i] == '\0';
}

void directory_user_clear(struct directory_user *u)
{
	buf_free(&u->pw_blob);
	buf_free(&u->recovery_blob);
	memset(u, 0, sizeof(*u));
}

int directory_user_add(struct directory *d, struct directory_user *u)
{
	char address[ADDR_SIZE];
	if (!directory_id_valid(u->id))
		return dir_fail(d, DIRECTORY_ERR_INVALID, "invalid user id");
	if (u->pw_blob.len == 0)
		return dir_fail(d, DIRECTORY_ERR_INVALID, "no wrapped key");
	if (u->quota_bytes > INT64_MAX)
		return dir_fail(d, DIRECTORY_ERR_INVALID, "quota too large");
	if (dir_norm_address(d, u->address, address) < 0)
		return -1;
	const char *domain = dir_domain_of(address);
	if (strncmp(address, "*@", 2) == 0)
		return dir_fail(d, DIRECTORY_ERR_INVALID, "\"*\" is the catch-all, not a user");
	if (dir_write_begin(d) < 0)
		return -1;
	bool ok = false;
	int h = dir_hosted(d, domain);
	if (h == 0)
		dir_fail(d, DIRECTORY_ERR_NOT_FOUND, "domain %s is not hosted here", domain);
	if (h != 1)
		return dir_write_end(d, false);
	/* An alias of the same address would never be used again (a user
	 * wins): refuse rather than hide it. */
	int a = dir_alias_exists(d, address);
	if (a == 1)
		dir_fail(d, DIRECTORY_ERR_EXISTS, "an alias %s exists", address);
	if (a != 0)
		return dir_write_end(d, false);

	sqlite3_stmt *st = dir_prepare(
	    d, "INSERT INTO users (id, address, domain, pw_blob, recovery_blob, seal_pk, "
	       "quota_bytes, created) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)");
	if (st != NULL) {
		int64_t now = (int64_t)time(NULL);
		dir_bind_text(st, 1, u->id);
		dir_bind_text(st, 2, address);
		dir_bind_text(st, 3, domain);
		sqlite3_bind_blob(st, 4, u->pw_blob.data, (int)u->pw_blob.len, SQLITE_TRANSIENT);
		if (u->recovery_blob.len > 0)
			sqlite3_bind_blob(st, 5, u->recovery_blob.data, (int)u->recovery_blob.len,
			                  SQLITE_TRANSIENT);
		sqlite3_bind_blob(st, 6, u->seal_pk, DIRECTORY_SEAL_PK_LEN, SQLITE_TRANSIENT);
		sqlite3_bind_int64(st, 7, (sqlite3_int64)u->quota_bytes);
		sqlite3_bind_int64(st, 8, now);
		if (sqlite3_step(st) == SQLITE_DONE) {
			ok = true;
			u->created = now;
			/* Both fit: address has u->address's size, and its domain
			 * part is shorter than ADDR_DOMAIN_MAX. */
			(void)dir_copy_str(u->address, sizeof(u->address), address);
			(void)dir_copy_str(u->domain, sizeof(u->domain), domain);
		} else if (dir_sqlfail(d, "add user") < 0 && d->status == DIRECTORY_ERR_EXISTS) {
			dir_fail(d, DIRECTORY_ERR_EXISTS, "user %s (or its id) exists", address);
		}
		sqlite3_finalize(st);
	}
	return dir_write_end(d, ok);
}

int directory_user_get(struct directory *d, const char *address, struct directory_user *u)
{
	char key[ADDR_SIZE];
	memset(u, 0, sizeof(*u));
	if (addr_normalise(address, strlen(address), ADDR_UTF8, key, sizeof(key)) != 1)
		return 0;
	return dir_user_query(d, ST_USER_BY_ADDRESS, key, u);
}

int directory_user_get_by_id(struct directory *d, const char *id, struct directory_user *u)
{
	memset(u, 0, sizeof(*u));
	if (!directory_id_valid(id))
		return 0;
	return dir_user_query(d, ST_USER_BY_ID, id, u);
}

int directory_user_del(struct directory *d, const char *address, char id_out[DIRECTORY_ID_LEN + 1])
{
	char key[ADDR_SIZE];
	struct directory_user u;
	memset(&u, 0, sizeof(u));
	if (dir_norm_address(d, address, key) < 0)
		return -1;
	if (dir_write_begin(d) < 0)
		return -1;
	bool ok = false;
	int r = dir_user_query(d, ST_USER_BY_ADDRESS, key, &u);
	if (r == 0)
		dir_fail(d, DIRECTORY_ERR_NOT_FOUND, "no user %s", key);
	if (r == 1) {
		sqlite3_stmt *st = dir_prepare(d, "DELETE FROM users WHERE id = ?1");
		if (st != NULL) {
			dir_bind_text(st, 1, u.id);
			ok = dir_step_done(d, st, "delete user") == 0;
		}
	}
	if (ok && id_out != NULL)
		memcpy(id_out, u.id, sizeof(u.id)); /* DIRECTORY_ID_LEN + 1 bytes, both */
	directory_user_clear(&u);
	return dir_write_end(d, ok);
}

void directory_user_list_free(struct directory_user **users, size_t n)
{
	if (*users == NULL)
		return;
	for (size_t i = 0; i < n; i++)
		directory_user_clear(&(*users)[i]);
	free(*users);
	*users = NULL;
}

int directory_user_list(struct directory *d, const char *domain, struct directory_user **users_r,
                        size_t *n_r)
{
	char name[ADDR_DOMAIN_MAX + 1];
	*users_r = NULL;
	*n_r = 0;
	if (domain != NULL && dir_norm_domain(d, domain, name) < 0)
		return -1;
	sqlite3_stmt *st = dir_prepare(
	    d, domain != NULL ? "SELECT " DIR_USER_COLUMNS
	                        " FROM users WHERE domain = ?1 ORDER BY address"
	                      : "SELECT " DIR_USER_COLUMNS " FROM users ORDER BY address");
	if (st == NULL)
		return -1;
	if (domain != NULL)
		dir_bind_text(st, 1, name);
	struct directory_user *v = NULL;
	size_t n = 0;
	int rc = SQLITE_DONE;
	bool fits = true;
	while (fits && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		v = mem_realloc(v, n + 1, sizeof(*v));
		memset(&v[n], 0, sizeof(v[n]));
		fits = dir_user_row(st, &v[n++]) == 0;
	}
	if (rc != SQLITE_DONE && fits)
		dir_sqlfail(d, "list users");
	sqlite3_finalize(st);
	if (!fits)
		dir_fail(d, DIRECTORY_ERR_TEMP, "list users: value too long");
	if (rc != SQLITE_DONE) {
		directory_user_list_free(&v, n);
		return -1;
	}
	*users_r = v;
	*n_r = n;
	return 0;
}

int directory_user_update(struct directory *d, const struct directory_user *u, unsigned fields)
{
	struct buf sql = BUF_INIT;
	if (!directory_id_valid(u->id))
		return dir_fail(d, DIRECTORY_ERR_INVALID, "invalid user id");
	if (fields == 0 ||
	    (fields & ~(unsigned)(DIRECTORY_SET_PW_BLOB | DIRECTORY_SET_RECOVERY_BLOB |
	                          DIRECTORY_SET_SEAL_PK | DIRECTORY_SET_QUOTA)))
		return dir_fail(d, DIRECTORY_ERR_INVALID, "invalid update fields");
	if ((fields & DIRECTORY_SET_PW_BLOB) && u->pw_blob.len == 0)
		return dir_fail(d, DIRECTORY_ERR_INVALID, "no wrapped key");
	if ((fields & DIRECTORY_SET_QUOTA) && u->quota_bytes > INT64_MAX)
		return dir_fail(d, DIRECTORY_ERR_INVALID, "quota too large");

	/* Fixed parameter numbers, so the statement text only selects columns. */
	buf_append_str(&sql, "UPDATE users SET id = id");
	if (fields & DIRECTORY_SET_PW_BLOB)
		buf_append_str(&sql, ", pw_blob = ?2");
	if (fields & DIRECTORY_SET_RECOVERY_BLOB)
		buf_append_str(&sql, ", recovery_blob = ?3");
	if (fields & DIRECTORY_SET_SEAL_PK)
		buf_append_str(&sql, ", seal_pk = ?4");
	if (fields & DIRECTORY_SET_QUOTA)
		buf_append_str(&sql, ", quota_bytes = ?5");
	buf_append_str(&sql, " WHERE id = ?1");

	if (dir_write_begin(d) < 0) {
		buf_free(&sql);
		return -1;
	}
	bool ok = false;
	sqlite3_stmt *st = dir_prepare(d, buf_cstr(&sql));
	buf_free(&sql);
	if (st != NULL) {
		dir_bind_text(st, 1, u->id);
		if (fields & DIRECTORY_SET_PW_BLOB)
			sqlite3_bind_blob(st, 2, u->pw_blob.data, (int)u->pw_blob.len,
			                  SQLITE_TRANSIENT);
		if ((fields & DIRECTORY_SET_RECOVERY_BLOB) && u->recovery_blob.len > 0)
			sqlite3_bind_blob(st, 3, u->recovery_blob.data, (int)u->recovery_blob.len,
			                  SQLITE_TRANSIENT);
		if (fields & DIRECTORY_SET_SEAL_PK)
			sqlite3_bind_blob(st, 4, u->seal_pk, DIRECTORY_SEAL_PK_LEN,
			                  SQLITE_TRANSIENT);
		if (fields & DIRECTORY_SET_QUOTA)
			sqlite3_bind_int64(st, 5, (sqlite3_int64)u->quota_bytes);
		if (sqlite3_step(st) != SQLITE_DONE)
			dir_sqlfail(d, "update user");
		else if (sqlite3_changes(d->db) == 0)
			dir_fail(d, DIRECTORY_ERR_NOT_FOUND, "no user with id %s", u->id);
		else
			ok = true;
		sqlite3_finalize(st);
	}
	return dir_write_end(d, ok);
}
