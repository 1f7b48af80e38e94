/* SPDX-License-Identifier: AGPL-3.0-or-later */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <grp.h>
#include <setjmp.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "data/directory.h"

#define DOM "example.test"

static char root[64];      /* mkdtemp */
static char statedir[128]; /* root/state */
static char dbpath[192];
static struct directory *D;
static char self_exe[4096];

/* ---- fixture ---- */

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	return remove(path);
}

static int setup(void **state)
{
	snprintf(root, sizeof(root), "/tmp/sealmail-dir-XXXXXX");
	if (mkdtemp(root) == NULL)
		return -1;
	snprintf(statedir, sizeof(statedir), "%s/state", root);
	snprintf(dbpath, sizeof(dbpath), "%s/%s", statedir, DIRECTORY_FILE);
	if (mkdir(statedir, 0755) < 0)
		return -1;
	const char *err = NULL;
	if (directory_open(statedir, DIRECTORY_INIT, &D, &err) < 0) {
		fprintf(stderr, "init: %s\n", err);
		return -1;
	}
	return directory_domain_add(D, DOM);
}

static int teardown(void **state)
{
	directory_close(&D);
	chmod(statedir, 0755);
	return nftw(root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* Plain fixture without a database. */
static int setup_empty(void **state)
{
	snprintf(root, sizeof(root), "/tmp/sealmail-dir-XXXXXX");
	if (mkdtemp(root) == NULL)
		return -1;
	snprintf(statedir, sizeof(statedir), "%s/state", root);
	snprintf(dbpath, sizeof(dbpath), "%s/%s", statedir, DIRECTORY_FILE);
	return mkdir(statedir, 0755);
}

static void raw_sql(const char *sql)
{
	sqlite3 *db;
	char *msg = NULL;
	assert_int_equal(sqlite3_open(dbpath, &db), SQLITE_OK);
	sqlite3_busy_timeout(db, 5000);
	int rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
	if (rc != SQLITE_OK)
		fprintf(stderr, "%s: %s\n", sql, msg);
	assert_int_equal(rc, SQLITE_OK);
	sqlite3_close(db);
}

static void add_user(const char *address, char *id_out)
{
	struct directory_user u;
	memset(&u, 0, sizeof(u));
	directory_new_id(u.id);
	snprintf(u.address, sizeof(u.address), "%s", address);
	buf_append_str(&u.pw_blob, "wrapped-key-placeholder");
	memset(u.seal_pk, address[0], sizeof(u.seal_pk));
	int r = directory_user_add(D, &u);
	if (r != 0)
		fprintf(stderr, "user add %s: %s\n", address, directory_error(D));
	assert_int_equal(r, 0);
	if (id_out != NULL)
		memcpy(id_out, u.id, DIRECTORY_ID_LEN + 1);
	directory_user_clear(&u);
}

static void add_alias(const char *source, const char *target)
{
	int r = directory_alias_add(D, source, target, NULL);
	if (r != 0)
		fprintf(stderr, "alias add %s %s: %s\n", source, target, directory_error(D));
	assert_int_equal(r, 0);
}

static struct directory_result R;

static int resolve(const char *address, const char *postmaster)
{
	directory_result_clear(&R);
	return directory_resolve(D, address, postmaster, &R);
}

/* true when R holds a target of this kind and value. */
static bool has_target(enum directory_target_kind kind, const char *value)
{
	for (size_t i = 0; i < R.n; i++)
		if (R.targets[i].kind == kind && strcmp(R.targets[i].value, value) == 0)
			return true;
	return false;
}

static void expect_only_local(const char *address, const char *postmaster, const char *user)
{
	int r = resolve(address, postmaster);
	if (r != 1 || R.n != 1 || !has_target(DIRECTORY_TARGET_LOCAL, user))
		fprintf(stderr, "resolve %s: r=%d n=%zu first=%s miss=%d\n", address, r, R.n,
		        R.n ? R.targets[0].value : "-", R.miss);
	assert_int_equal(r, 1);
	assert_int_equal(R.n, 1);
	assert_true(has_target(DIRECTORY_TARGET_LOCAL, user));
	assert_int_equal(R.miss, DIRECTORY_MISS_NONE);
}

static void expect_miss(const char *address, const char *postmaster, enum directory_miss miss)
{
	int r = resolve(address, postmaster);
	assert_int_equal(r, 0);
	assert_int_equal(R.n, 0);
	assert_int_equal(R.miss, miss);
}

static int teardown_result(void **state)
{
	directory_result_clear(&R);
	return teardown(state);
}

/* ---- open, init, migrations ---- */

static void test_init_creates_schema(void **state)
{
	struct stat sb;
	assert_int_equal(directory_schema_version(D), DIRECTORY_SCHEMA_VERSION);
	directory_close(&D);
	/* -wal and -shm stay for read-only openers. */
	char p[256];
	snprintf(p, sizeof(p), "%s-wal", dbpath);
	assert_int_equal(stat(p, &sb), 0);
	snprintf(p, sizeof(p), "%s-shm", dbpath);
	assert_int_equal(stat(p, &sb), 0);
}

static void test_init_twice_idempotent(void **state)
{
	const char *err;
	add_user("alice@" DOM, NULL);
	directory_close(&D);
	assert_int_equal(directory_open(statedir, DIRECTORY_INIT, &D, &err), 0);
	assert_int_equal(directory_schema_version(D), DIRECTORY_SCHEMA_VERSION);
	assert_int_equal(directory_domain_exists(D, DOM), 1);
	struct directory_user u;
	assert_int_equal(directory_user_get(D, "alice@" DOM, &u), 1);
	directory_user_clear(&u);
}

static void test_init_concurrent_handles(void **state)
{
	/* A second init while a handle is open waits for nothing and changes
	 * nothing. */
	const char *err;
	struct directory *d2;
	assert_int_equal(directory_open(statedir, DIRECTORY_INIT, &d2, &err), 0);
	assert_int_equal(directory_schema_version(d2), DIRECTORY_SCHEMA_VERSION);
	directory_close(&d2);
}

static void test_migration_from_version_zero(void **state)
{
	/* A database file that exists but was never initialised. */
	const char *err;
	struct directory *d;
	raw_sql("CREATE TABLE unrelated (x); PRAGMA user_version = 0;");
	assert_int_equal(directory_open(statedir, DIRECTORY_WRITE, &d, &err), -1);
	assert_non_null(strstr(err, "run sealctl init"));
	assert_int_equal(directory_open(statedir, DIRECTORY_INIT, &d, &err), 0);
	assert_int_equal(directory_schema_version(d), 1);
	assert_int_equal(directory_domain_add(d, DOM), 0);
	directory_close(&d);
}

static void test_newer_schema_refused(void **state)
{
	const char *err;
	struct directory *d;
	directory_close(&D);
	raw_sql("PRAGMA user_version = 99;");
	assert_int_equal(directory_open(statedir, DIRECTORY_INIT, &d, &err), -1);
	assert_non_null(strstr(err, "newer"));
	assert_int_equal(directory_open(statedir, DIRECTORY_READ, &d, &err), -1);
	assert_int_equal(directory_open(statedir, DIRECTORY_WRITE, &d, &err), -1);
	raw_sql("PRAGMA user_version = 1;");
	assert_int_equal(directory_open(statedir, DIRECTORY_WRITE, &D, &err), 0);
}

static void test_open_missing_file(void **state)
{
	const char *err;
	struct directory *d;
	assert_int_equal(directory_open(statedir, DIRECTORY_READ, &d, &err), -1);
	assert_null(d);
	assert_non_null(strstr(err, "run sealctl init"));
	assert_int_equal(directory_open(statedir, DIRECTORY_WRITE, &d, &err), -1);
}

static void test_read_handle_refuses_writes(void **state)
{
	const char *err;
	struct directory *r;
	assert_int_equal(directory_open(statedir, DIRECTORY_READ, &r, &err), 0);
	assert_int_equal(directory_domain_exists(r, DOM), 1);
	assert_int_equal(directory_domain_add(r, "other.test"), -1);
	assert_int_equal(directory_status(r), DIRECTORY_ERR_INVALID);
	directory_close(&r);
}

static void test_transaction_rollback(void **state)
{
	assert_int_equal(directory_begin(D), 0);
	assert_int_equal(directory_domain_add(D, "a.test"), 0);
	assert_int_equal(directory_domain_add(D, "a.test"), -1); /* inner failure */
	assert_int_equal(directory_domain_add(D, "b.test"), 0);
	assert_int_equal(directory_domain_exists(D, "b.test"), 1);
	assert_int_equal(directory_rollback(D), 0);
	assert_int_equal(directory_domain_exists(D, "a.test"), 0);
	assert_int_equal(directory_domain_exists(D, "b.test"), 0);
}

static void test_transaction_commit(void **state)
{
	assert_int_equal(directory_begin(D), 0);
	assert_int_equal(directory_begin(D), -1);
	assert_int_equal(directory_domain_add(D, "a.test"), 0);
	assert_int_equal(directory_domain_add(D, "a.test"), -1);
	assert_int_equal(directory_commit(D), 0);
	assert_int_equal(directory_domain_exists(D, "a.test"), 1);
	assert_int_equal(directory_commit(D), -1);
}

/* ---- domains ---- */

static void test_domain_add_normalises(void **state)
{
	char **v;
	size_t n;
	assert_int_equal(directory_domain_add(D, "Mail.Example.ORG"), 0);
	assert_int_equal(directory_domain_exists(D, "mail.example.org"), 1);
	assert_int_equal(directory_domain_exists(D, "MAIL.example.org"), 1);
	assert_int_equal(directory_domain_list(D, &v, &n), 0);
	assert_int_equal(n, 2);
	assert_string_equal(v[0], DOM);
	assert_string_equal(v[1], "mail.example.org");
	directory_strv_free(&v, n);
	assert_null(v);
}

static void test_domain_add_duplicate(void **state)
{
	assert_int_equal(directory_domain_add(D, "EXAMPLE.test"), -1);
	assert_int_equal(directory_status(D), DIRECTORY_ERR_EXISTS);
}

static void test_domain_add_invalid(void **state)
{
	assert_int_equal(directory_domain_add(D, "bad_domain"), -1);
	assert_int_equal(directory_status(D), DIRECTORY_ERR_INVALID);
	assert_int_equal(directory_domain_add(D, "[192.0.2.1]"), -1);
	assert_int_equal(directory_domain_add(D, ""), -1);
	assert_int_equal(directory_domain_exists(D, "bad_domain"), 0);
}

static void test_domain_del_empty(void **state)
{
	assert_int_equal(directory_domain_add(D, "gone.test"), 0);
	assert_int_equal(directory_domain_del(D, "Gone.Test"), 0);
	assert_int_equal(directory_domain_exists(D, "gone.test"), 0);
}

static void test_domain_del_unknown(void **state)
{
	assert_int_equal(directory_domain_del(D, "nowhere.test"), -1);
	assert_int_equal(directory_status(D), DIRECTORY_ERR_NOT_FOUND);
}

static void test_domain_del_with_users_refused(void **state)
{
	add_user("alice@" DOM, NULL);
	assert_int_equal(directory_domain_del(D, DOM), -1);
	assert_int_equal(directory_status(D), DIRECTORY_ERR_IN_USE);
	assert_int_equal(directory_domain_exists(D, DOM), 1);
	assert_int_equal(directory_user_del(D, "alice@" DOM, NULL), 0);
	assert_int_equal(directory_domain_del(D, DOM), 0);
}

static void test_domain_del_with_aliases_refused(void **state)
{
	add_alias("fwd@" DOM, "someone@elsewhere.test");
	assert_int_equal(directory_domain_del(D, DOM), -1);
	assert_int_equal(directory_status(D), DIRECTORY_ERR_IN_USE);
}

/* ---- users ---- */

static void test_user_add_get(void **state)
{
	char id[DIRECTORY_ID_LEN + 1];
	struct directory_user u;
	add_user("Alice@Example.Test", id);
	assert_true(directory_id_valid(id));
	assert_int_equal(directory_user_get(D, "ALICE@example.test", &u), 1);
	assert_string_equal(u.id, id);
	assert_string_equal(u.address, "alice@" DOM);
	assert_string_equal(u.domain, DOM);
	assert_int_equal(u.pw_blob.len, strlen("wrapped-key-placeholder"));
	assert_memory_equal(u.pw_blob.data, "wrapped-key-placeholder", u.pw_blob.len);
	assert_int_equal(u.recovery_blob.len, 0);
	assert_int_equal(u.seal_pk[0], 'A');
	assert_int_equal(u.quota_bytes, 0);
	assert_true(u.created > 1700000000);
	directory_user_clear(&u);
}

static void test_user_get_by_id(void **state)
{
	char id[DIRECTORY_ID_LEN + 1];
	struct directory_user u;
	add_user("alice@" DOM, id);
	assert_int_equal(directory_user_get_by_id(D, id, &u), 1);
	assert_string_equal(u.address, "alice@" DOM);
	directory_user_clear(&u);
	assert_int_equal(directory_user_get_by_id(D, "00000000000000000000000000000000", &u), 0);
	assert_int_equal(directory_user_get_by_id(D, "not-an-id", &u), 0);
}

/* A row written by another tool with an address too long for struct
 * directory_user is refused, not cut (a cut address could be someone
 * else's), from the file and from a snapshot's index alike. */
static void test_user_row_too_long_refused(void **state)
{
	char id[DIRECTORY_ID_LEN + 1];
	struct directory_user u, *list = NULL;
	size_t n = 0;
	add_user("alice@" DOM, NULL);
	directory_new_id(id);
	char sql[1024], local[301];
	memset(local, 'x', 300);
	local[300] = '\0';
	snprintf(sql, sizeof(sql),
	         "INSERT INTO users (id, address, domain, pw_blob, seal_pk, created) VALUES "
	         "('%s', '%s@" DOM "', '" DOM "', X'01', zeroblob(32), 1)",
	         id, local);
	raw_sql(sql);
	assert_int_equal(directory_user_get_by_id(D, id, &u), -1);
	assert_int_equal(directory_status(D), DIRECTORY_ERR_TEMP);
	assert_int_equal(directory_user_list(D, DOM, &list, &n), -1);
	assert_null(list);
	assert_int_equal(n, 0);
	assert_int_equal(directory_status(D), DIRECTORY_ERR_TEMP);
	struct directory *snap;
	assert_int_equal(directory_snapshot(D, &snap), 0);
	assert_int_equal(directory_user_get_by_id(snap, id, &u), -1);
	assert_int_equal(directory_status(snap), DIRECTORY_ERR_TEMP);
	assert_int_equal(directory_user_get(snap, "alice@" DOM, &u), 1);
	directory_user_clear(&u);
	directory_close(&snap);
}

static void test_user_get_missing(void **state)
{
	struct directory_user u;
	assert_int_equal(directory_user_get(D, "nobody@" DOM, &u), 0);
	assert_int_equal(directory_user_get(D, "not an address", &u), 0);
}

static void test_user_ids_random(void **state)
{
	char a[DIRECTORY_ID_LEN + 1], b[DIRECTORY_ID_LEN + 1];
	directory_new_id(a);
	directory_new_id(b);
	assert_true(directory_id_valid(a));
	assert_string_not_equal(a, b);
	assert_false(directory_id_valid("0123456789ABCDEF0123456789abcdef"));
	assert_false(directory_id_valid("0123456789abcdef0123456789abcde"));
	assert_false(directory_id_valid("0123456789abcdef0123456789abcdef0"));
}

static void test_user_add_duplicate_address(void **state)
{
	struct directory_user u;
	memset(&u, 0, sizeof(u));
	add_user("alice@" DOM, NULL);
	directory_new_id(u.id);
	snprintf(u.address, sizeof(u.address), "ALICE@" DOM);
	buf_append_str(&u.pw_blob, "x");
	assert_int_equal(directory_user_add(D, &u), -1);
	assert_int_equal(directory_status(D), DIRECTORY_ERR_EXISTS);
	directory_user_clear(&u);
}

static void test_user_add_duplicate_id(void **state)
{
	struct directory_user u;
	char id[DIRECTORY_ID_LEN + 1];
	memset(&u, 0, sizeof(u));
	add_user("alice@" DOM, id);
	memcpy(u.id, id, sizeof(u.id));
	snprintf(u.address, sizeof(u.address), "bob@" DOM);
	buf_append_str(&u.pw_blob, "x");
	assert_int_equal(directory_user_add(D, &u), -1);
	assert_int_equal(directory_status(D), DIRECTORY_ERR_EXISTS);
	directory_user_clear(&u);
}

static void test_user_add_refusals(void **state)
{
	struct directory_user u;
	memset(&u, 0, sizeof(u));
	directory_new_id(u.id);
	buf_append_str(&u.pw_blob, "x");

	snprintf(u.address, sizeof(u.address), "carol@unhosted.test");
	assert_int_equal(directory_user_add(D, &u), -1);
	assert_int_equal(directory_status(D), DIRECTORY_ERR_NOT_FOUND);

	snprintf(u.address, sizeof(u.address), "*@" DOM);
	assert_int_equal(directory_user_add(D, &u), -1);
	assert_int_equal(directory_status(D), DIRECTORY_ERR_INVALID);

	snprintf(u.address, sizeof(u.address), "no address");
	assert_int_equal(directory_user_add(D, &u), -1);
	assert_int_equal(directory_status(D), DIRECTORY_ERR_INVALID);

	snprintf(u.address, sizeof(u.address), "carol@" DOM);
	snprintf(u.id, sizeof(u.id), "NOTHEX");
	assert_int_equal(directory_user_add(D, &u), -1);
	assert_int_equal(directory_status(D), DIRECTORY_ERR_INVALID);

	directory_new_id(u.id);
	buf_reset(&u.pw_blob);
	assert_int_equal(directory_user_add(D, &u), -1);
	assert_int_equal(directory_status(D), DIRECTORY_ERR_INVALID);
	directory_user_clear(&u);
}

static void test_user_add_over_alias_refused(void **state)
{
	add_user("alice@" DOM, NULL);
	add_alias("info@" DOM, "alice@" DOM);
	struct directory_user u;
	memset(&u, 0, sizeof(u));
	directory_new_id(u.id);
	buf_append_str(&u.pw_blob, "x");
	snprintf(u.address, sizeof(u.address), "info@" DOM);
	assert_int_equal(directory_user_add(D, &u), -1);
	assert_int_equal(directory_status(D), DIRECTORY_ERR_EXISTS);
	directory_user_clear(&u);
}

static void test_user_add_with_recovery_and_quota(void **state)
{
	struct directory_user u, g;
	memset(&u, 0, sizeof(u));
	directory_new_id(u.id);
	snprintf(u.address, sizeof(u.address), "dave@" DOM);
	buf_append_str(&u.pw_blob, "pw");
	buf_append_str(&u.recovery_blob, "rec");
	u.quota_bytes = 1ULL << 33;
	assert_int_equal(directory_user_add(D, &u), 0);
	assert_int_equal(directory_user_get(D, "dave@" DOM, &g), 1);
	assert_int_equal(g.recovery_blob.len, 3);
	assert_memory_equal(g.recovery_blob.data, "rec", 3);
	assert_int_equal(g.quota_bytes, 1ULL << 33);
	directory_user_clear(&g);
	directory_user_clear(&u);
}

static void test_user_list(void **state)
{
	struct directory_user *v;
	size_t n;
	assert_int_equal(directory_domain_add(D, "other.test"), 0);
	add_user("zed@" DOM, NULL);
	add_user("amy@" DOM, NULL);
	add_user("bob@other.test", NULL);
	assert_int_equal(directory_user_list(D, DOM, &v, &n), 0);
	assert_int_equal(n, 2);
	assert_string_equal(v[0].address, "amy@" DOM);
	assert_string_equal(v[1].address, "zed@" DOM);
	directory_user_list_free(&v, n);
	assert_null(v);
	assert_int_equal(directory_user_list(D, NULL, &v, &n), 0);
	assert_int_equal(n, 3);
	assert_string_equal(v[1].address, "bob@other.test");
	directory_user_list_free(&v, n);
	assert_int_equal(directory_user_list(D, "empty.test", &v, &n), 0);
	assert_int_equal(n, 0);
}

static void test_user_del_returns_id(void **state)
{
	char id[DIRECTORY_ID_LEN + 1], got[DIRECTORY_ID_LEN + 1];
	struct directory_user u;
	add_user("alice@" DOM, id);
	assert_int_equal(directory_user_del(D, "Alice@" DOM, got), 0);
	assert_string_equal(got, id);
	assert_int_equal(directory_user_get(D, "alice@" DOM, &u), 0);
}

static void test_user_del_unknown(void **state)
{
	assert_int_equal(directory_user_del(D, "ghost@" DOM, NULL), -1);
	assert_int_equal(directory_status(D), DIRECTORY_ERR_NOT_FOUND);
}

static void test_user_update_pw_blob(void **state)
{
	struct directory_user u, g;
	char id[DIRECTORY_ID_LEN + 1];
	add_user("alice@" DOM, id);
	memset(&u, 0, sizeof(u));
	memcpy(u.id, id, sizeof(u.id));
	buf_append_str(&u.pw_blob, "new-blob");
	assert_int_equal(directory_user_update(D, &u, DIRECTORY_SET_PW_BLOB), 0);
	assert_int_equal(directory_user_get(D, "alice@" DOM, &g), 1);
	assert_int_equal(g.pw_blob.len, 8);
	assert_memory_equal(g.pw_blob.data, "new-blob", 8);
	assert_int_equal(g.seal_pk[0], 'a'); /* untouched */
	directory_user_clear(&g);
	directory_user_clear(&u);
}

static void test_user_update_recovery_set_and_clear(void **state)
{
	struct directory_user u, g;
	char id[DIRECTORY_ID_LEN + 1];
	add_user("alice@" DOM, id);
	memset(&u, 0, sizeof(u));
	memcpy(u.id, id, sizeof(u.id));
	buf_append_str(&u.recovery_blob, "rec-blob");
	assert_int_equal(directory_user_update(D, &u, DIRECTORY_SET_RECOVERY_BLOB), 0);
	assert_int_equal(directory_user_get_by_id(D, id, &g), 1);
	assert_int_equal(g.recovery_blob.len, 8);
	directory_user_clear(&g);
	buf_reset(&u.recovery_blob);
	assert_int_equal(directory_user_update(D, &u, DIRECTORY_SET_RECOVERY_BLOB), 0);
	assert_int_equal(directory_user_get_by_id(D, id, &g), 1);
	assert_int_equal(g.recovery_blob.len, 0);
	assert_int_equal(g.pw_blob.len, strlen("wrapped-key-placeholder"));
	directory_user_clear(&g);
	directory_user_clear(&u);
}

static void test_user_update_rekey_fields(void **state)
{
	struct directory_user u, g;
	char id[DIRECTORY_ID_LEN + 1];
	add_user("alice@" DOM, id);
	memset(&u, 0, sizeof(u));
	memcpy(u.id, id, sizeof(u.id));
	buf_append_str(&u.pw_blob, "pw2");
	buf_append_str(&u.recovery_blob, "rec2");
	memset(u.seal_pk, 0x5a, sizeof(u.seal_pk));
	u.quota_bytes = 1000;
	assert_int_equal(directory_user_update(D, &u,
	                                       DIRECTORY_SET_PW_BLOB | DIRECTORY_SET_RECOVERY_BLOB |
	                                           DIRECTORY_SET_SEAL_PK | DIRECTORY_SET_QUOTA),
	                 0);
	assert_int_equal(directory_user_get_by_id(D, id, &g), 1);
	assert_memory_equal(g.pw_blob.data, "pw2", 3);
	assert_memory_equal(g.recovery_blob.data, "rec2", 4);
	assert_memory_equal(g.seal_pk, u.seal_pk, sizeof(u.seal_pk));
	assert_int_equal(g.quota_bytes, 1000);
	directory_user_clear(&g);
	directory_user_clear(&u);
}

static void test_user_update_refusals(void **state)
{
	struct directory_user u;
	memset(&u, 0, sizeof(u));
	directory_new_id(u.id);
	buf_append_str(&u.pw_blob, "x");
	assert_int_equal(directory_user_update(D, &u, DIRECTORY_SET_PW_BLOB), -1);
	assert_int_equal(directory_status(D), DIRECTORY_ERR_NOT_FOUND);
	assert_int_equal(directory_user_update(D, &u, 0), -1);
	assert_int_equal(directory_status(D), DIRECTORY_ERR_INVALID);
	assert_int_equal(directory_user_update(D, &u, 1u << 10), -1);
	buf_reset(&u.pw_blob);
	assert_int_equal(directory_user_update(D, &u, DIRECTORY_SET_PW_BLOB), -1);
	assert_int_equal(directory_status(D), DIRECTORY_ERR_INVALID);
	directory_user_clear(&u);
}

/* ---- aliases ---- */

static void test_alias_kinds(void **state)
{
	enum directory_target_kind k;
	add_user("alice@" DOM, NULL);
	assert_int_equal(directory_alias_add(D, "info@" DOM, "Alice@" DOM, &k), 0);
	assert_int_equal(k, DIRECTORY_TARGET_LOCAL);
	assert_int_equal(directory_alias_add(D, "info@" DOM, "Someone@Elsewhere.Test", &k), 0);
	assert_int_equal(k, DIRECTORY_TARGET_EXTERNAL);
	assert_int_equal(directory_alias_add(D, "hook@" DOM, "HTTPS://hooks.example/x?y=1", &k), 0);
	assert_int_equal(k, DIRECTORY_TARGET_URL);

	struct directory_alias *v;
	size_t n;
	assert_int_equal(directory_alias_list(D, NULL, &v, &n), 0);
	assert_int_equal(n, 3);
	assert_string_equal(v[0].source, "hook@" DOM);
	assert_string_equal(v[0].target, "https://hooks.example/x?y=1");
	assert_int_equal(v[0].kind, DIRECTORY_TARGET_URL);
	assert_string_equal(v[1].source, "info@" DOM);
	assert_string_equal(v[1].target, "alice@" DOM);
	assert_int_equal(v[1].kind, DIRECTORY_TARGET_LOCAL);
	assert_string_equal(v[2].target, "someone@elsewhere.test");
	assert_int_equal(v[2].kind, DIRECTORY_TARGET_EXTERNAL);
	directory_alias_list_free(&v, n);
	assert_null(v);
}

static void test_alias_bad_urls(void **state)
{
	assert_int_equal(directory_alias_add(D, "hook@" DOM, "http://plain.example/", NULL), -1);
	assert_int_equal(directory_status(D), DIRECTORY_ERR_INVALID);
	assert_int_equal(directory_alias_add(D, "hook@" DOM, "https://", NULL), -1);
	assert_int_equal(directory_alias_add(D, "hook@" DOM, "https:///path", NULL), -1);
	assert_int_equal(directory_alias_add(D, "hook@" DOM, "https://a b/", NULL), -1);
}

static void test_alias_local_target_must_exist(void **state)
{
	assert_int_equal(directory_alias_add(D, "info@" DOM, "ghost@" DOM, NULL), -1);
	assert_int_equal(directory_status(D), DIRECTORY_ERR_NOT_FOUND);
}

static void test_alias_refusals(void **state)
{
	add_user("alice@" DOM, NULL);
	assert_int_equal(directory_alias_add(D, "a@unhosted.test", "alice@" DOM, NULL), -1);
	assert_int_equal(directory_status(D), DIRECTORY_ERR_NOT_FOUND);
	assert_int_equal(directory_alias_add(D, "alice@" DOM, "x@elsewhere.test", NULL), -1);
	assert_int_equal(directory_status(D), DIRECTORY_ERR_EXISTS);
	assert_int_equal(directory_alias_add(D, "self@" DOM, "SELF@" DOM, NULL), -1);
	assert_int_equal(directory_status(D), DIRECTORY_ERR_INVALID);
	assert_int_equal(directory_alias_add(D, "bad source", "alice@" DOM, NULL), -1);
	assert_int_equal(directory_status(D), DIRECTORY_ERR_INVALID);
	assert_int_equal(directory_alias_add(D, "x@" DOM, "bad target", NULL), -1);
	assert_int_equal(directory_status(D), DIRECTORY_ERR_INVALID);
}

static void test_alias_duplicate(void **state)
{
	add_user("alice@" DOM, NULL);
	add_alias("info@" DOM, "alice@" DOM);
	assert_int_equal(directory_alias_add(D, "INFO@" DOM, "alice@" DOM, NULL), -1);
	assert_int_equal(directory_status(D), DIRECTORY_ERR_EXISTS);
}

static void test_alias_del_one_and_all(void **state)
{
	struct directory_alias *v;
	size_t n;
	add_user("alice@" DOM, NULL);
	add_user("bob@" DOM, NULL);
	add_alias("team@" DOM, "alice@" DOM);
	add_alias("team@" DOM, "bob@" DOM);
	add_alias("other@" DOM, "bob@" DOM);
	assert_int_equal(directory_alias_del(D, "team@" DOM, "ALICE@" DOM), 0);
	assert_int_equal(directory_alias_list(D, "team@" DOM, &v, &n), 0);
	assert_int_equal(n, 1);
	assert_string_equal(v[0].target, "bob@" DOM);
	directory_alias_list_free(&v, n);
	assert_int_equal(directory_alias_del(D, "team@" DOM, NULL), 0);
	assert_int_equal(directory_alias_list(D, DOM, &v, &n), 0);
	assert_int_equal(n, 1);
	assert_string_equal(v[0].source, "other@" DOM);
	directory_alias_list_free(&v, n);
}

static void test_alias_del_unknown(void **state)
{
	assert_int_equal(directory_alias_del(D, "none@" DOM, NULL), -1);
	assert_int_equal(directory_status(D), DIRECTORY_ERR_NOT_FOUND);
	add_user("alice@" DOM, NULL);
	add_alias("info@" DOM, "alice@" DOM);
	assert_int_equal(directory_alias_del(D, "info@" DOM, "bob@" DOM), -1);
	assert_int_equal(directory_status(D), DIRECTORY_ERR_NOT_FOUND);
}

/* ---- resolve ---- */

/* ---- in-memory snapshots (the MX accept loop) ---- */

static void test_snapshot_resolves_like_the_file(void **state)
{
	(void)state;
	char id[DIRECTORY_ID_LEN + 1];
	add_user("alice@" DOM, id);
	add_alias("sales@" DOM, "alice@" DOM);
	add_alias("*@" DOM, "alice@" DOM);
	struct directory *snap, *file = D;
	assert_int_equal(directory_snapshot(file, &snap), 0);
	D = snap;
	expect_only_local("alice+tag@" DOM, NULL, "alice@" DOM);
	assert_string_equal(R.targets[0].id, id);
	assert_int_equal(R.targets[0].seal_pk[0], 'a');
	expect_only_local("sales@" DOM, NULL, "alice@" DOM);
	expect_only_local("anything@" DOM, NULL, "alice@" DOM);
	expect_miss("x@elsewhere.test", NULL, DIRECTORY_MISS_DOMAIN);
	/* No wrapped keys in the copy. */
	struct directory_user u;
	memset(&u, 0, sizeof(u));
	assert_int_equal(directory_user_get_by_id(snap, id, &u), 1);
	assert_int_equal(u.pw_blob.len, 0);
	assert_int_equal(u.seal_pk[0], 'a');
	directory_user_clear(&u);
	/* A copy is read-only. */
	assert_int_equal(directory_domain_add(snap, "other.test"), -1);
	D = file;
	directory_close(&snap);
}

/* Every resolution the MX does, from a snapshot (its read-only index) and
 * from the file: the same targets in the same order, the same misses. */
static void test_snapshot_index_resolves_as_the_file(void **state)
{
	(void)state;
	assert_int_equal(directory_domain_add(D, "second.test"), 0);
	assert_int_equal(directory_domain_add(D, "empty.test"), 0);
	add_user("alice@" DOM, NULL);
	add_user("bob@" DOM, NULL);
	add_user("carol@second.test", NULL);
	add_user("dave@second.test", NULL);
	add_alias("sales@" DOM, "bob@" DOM);
	add_alias("sales@" DOM, "alice@" DOM);
	add_alias("team@" DOM, "sales@" DOM);
	add_alias("team@" DOM, "carol@second.test");
	add_alias("alice+list@" DOM, "dave@second.test");
	add_alias("*@second.test", "dave@second.test");
	raw_sql("INSERT INTO aliases (source, domain, target, kind, created) VALUES "
	        "('ext@" DOM "', '" DOM "', 'someone@elsewhere.test', 'external', 1),"
	        "('hook@" DOM "', '" DOM "', 'https://hooks.example/x', 'url', 1),"
	        "('hook@" DOM "', '" DOM "', 'alice@" DOM "', 'local', 1),"
	        "('loop1@" DOM "', '" DOM "', 'loop2@" DOM "', 'local', 1),"
	        "('loop2@" DOM "', '" DOM "', 'loop1@" DOM "', 'local', 1)");
	static const char *const addrs[] = {
	    "alice@" DOM, "ALICE@" DOM, "alice+tag@" DOM, "alice+list@" DOM, "sales@" DOM,
	    "sales+x@" DOM, "team@" DOM, "loop1@" DOM, "nobody@" DOM, "ext@" DOM, "hook@" DOM,
	    "carol@second.test", "anyone@second.test", "postmaster@" DOM, "postmaster",
	    "Postmaster", "postmaster@empty.test", "x@empty.test", "x@elsewhere.test",
	    "a b@" DOM, "", "@", "x@[192.0.2.1]"};
	static const char *const pms[] = {NULL, "bob@" DOM, "team@" DOM};
	struct directory *snap;
	assert_int_equal(directory_snapshot(D, &snap), 0);
	for (size_t p = 0; p < sizeof(pms) / sizeof(pms[0]); p++) {
		for (size_t i = 0; i < sizeof(addrs) / sizeof(addrs[0]); i++) {
			struct directory_result a, b;
			int ra = directory_resolve(D, addrs[i], pms[p], &a);
			int rb = directory_resolve(snap, addrs[i], pms[p], &b);
			if (ra != rb || a.n != b.n || a.miss != b.miss)
				fprintf(stderr, "%s (postmaster %s): file %d/%zu/%d, snapshot %d/%zu/%d\n",
				        addrs[i], pms[p] ? pms[p] : "-", ra, a.n, (int)a.miss, rb, b.n,
				        (int)b.miss);
			assert_int_equal(ra, rb);
			assert_int_equal(a.n, b.n);
			assert_int_equal(a.miss, b.miss);
			assert_string_equal(a.address, b.address);
			for (size_t t = 0; t < a.n; t++) {
				assert_int_equal(a.targets[t].kind, b.targets[t].kind);
				assert_string_equal(a.targets[t].value, b.targets[t].value);
				assert_string_equal(a.targets[t].id, b.targets[t].id);
				assert_memory_equal(a.targets[t].seal_pk, b.targets[t].seal_pk,
				                    DIRECTORY_SEAL_PK_LEN);
			}
			directory_result_clear(&a);
			directory_result_clear(&b);
		}
	}
	/* Users by id, as delivery reads quotas. */
	struct directory_user u, v;
	memset(&u, 0, sizeof(u));
	memset(&v, 0, sizeof(v));
	assert_int_equal(directory_user_get(D, "carol@second.test", &u), 1);
	assert_int_equal(directory_user_get_by_id(snap, u.id, &v), 1);
	assert_string_equal(u.address, v.address);
	assert_int_equal(u.quota_bytes, v.quota_bytes);
	assert_int_equal(u.created, v.created);
	assert_int_equal(directory_user_get_by_id(snap, "00000000000000000000000000000000", &v),
	                 0);
	directory_user_clear(&u);
	directory_user_clear(&v);
	directory_close(&snap);
}

static void test_changed_sees_other_connections(void **state)
{
	(void)state;
	const char *err;
	struct directory *r;
	assert_int_equal(directory_open(statedir, DIRECTORY_READ, &r, &err), 0);
	assert_int_equal(directory_changed(r), 1); /* first call */
	assert_int_equal(directory_changed(r), 0);
	add_user("bob@" DOM, NULL);
	assert_int_equal(directory_changed(r), 1);
	assert_int_equal(directory_changed(r), 0);
	/* The snapshot taken now has the new user; an older one would not. */
	struct directory *snap;
	assert_int_equal(directory_snapshot(r, &snap), 0);
	struct directory *file = D;
	D = snap;
	expect_only_local("bob@" DOM, NULL, "bob@" DOM);
	D = file;
	directory_close(&snap);
	directory_close(&r);
}

/* Commits closer together than the file system's timestamp granularity:
 * each is still seen at once (the WAL's size changes), with no statement
 * run in between when nothing changed. */
static void test_changed_sees_back_to_back_commits(void **state)
{
	(void)state;
	const char *err;
	struct directory *r;
	assert_int_equal(directory_open(statedir, DIRECTORY_READ, &r, &err), 0);
	assert_int_equal(directory_changed(r), 1);
	add_user("carol@" DOM, NULL);
	for (int i = 0; i < 40; i++) {
		assert_int_equal(directory_changed(r), 1);
		assert_int_equal(directory_changed(r), 0);
		if (i % 2 == 0)
			add_alias("list@" DOM, "carol@" DOM);
		else
			assert_int_equal(directory_alias_del(D, "list@" DOM, "carol@" DOM), 0);
	}
	assert_int_equal(directory_changed(r), 1);
	directory_close(&r);
}

static void test_resolve_exact_user(void **state)
{
	char id[DIRECTORY_ID_LEN + 1];
	add_user("alice@" DOM, id);
	expect_only_local("alice@" DOM, NULL, "alice@" DOM);
	assert_string_equal(R.targets[0].id, id);
	assert_int_equal(R.targets[0].seal_pk[0], 'a');
	assert_string_equal(R.address, "alice@" DOM);
}

static void test_resolve_case_insensitive(void **state)
{
	add_user("alice@" DOM, NULL);
	expect_only_local("ALICE@Example.TEST", NULL, "alice@" DOM);
	assert_string_equal(R.address, "alice@" DOM);
}

static void test_resolve_tag_to_user(void **state)
{
	add_user("alice@" DOM, NULL);
	expect_only_local("alice+lists@" DOM, NULL, "alice@" DOM);
}

static void test_resolve_alias_exact(void **state)
{
	add_user("alice@" DOM, NULL);
	add_alias("info@" DOM, "alice@" DOM);
	expect_only_local("info@" DOM, NULL, "alice@" DOM);
}

static void test_resolve_alias_tag_stripped(void **state)
{
	add_user("alice@" DOM, NULL);
	add_alias("info@" DOM, "alice@" DOM);
	expect_only_local("info+web@" DOM, NULL, "alice@" DOM);
}

static void test_resolve_user_beats_alias(void **state)
{
	/* The API refuses to create both; a database may still have them. */
	add_user("alice@" DOM, NULL);
	add_user("bob@" DOM, NULL);
	raw_sql("INSERT INTO aliases VALUES ('alice@example.test', 'example.test', "
	        "'bob@example.test', 'local', 0)");
	expect_only_local("alice@" DOM, NULL, "alice@" DOM);
}

static void test_resolve_tagged_alias_beats_base_user(void **state)
{
	/* An alias naming the tagged address exactly is more specific than
	 * the user reached by stripping the tag. */
	add_user("alice@" DOM, NULL);
	add_user("bob@" DOM, NULL);
	add_alias("alice+sales@" DOM, "bob@" DOM);
	expect_only_local("alice+sales@" DOM, NULL, "bob@" DOM);
	expect_only_local("alice+other@" DOM, NULL, "alice@" DOM);
}

static void test_resolve_alias_beats_catchall(void **state)
{
	add_user("alice@" DOM, NULL);
	add_user("bob@" DOM, NULL);
	add_alias("*@" DOM, "bob@" DOM);
	add_alias("info@" DOM, "alice@" DOM);
	expect_only_local("info@" DOM, NULL, "alice@" DOM);
}

static void test_resolve_user_beats_catchall(void **state)
{
	add_user("alice@" DOM, NULL);
	add_user("bob@" DOM, NULL);
	add_alias("*@" DOM, "bob@" DOM);
	expect_only_local("alice@" DOM, NULL, "alice@" DOM);
	expect_only_local("alice+x@" DOM, NULL, "alice@" DOM);
}

static void test_resolve_catchall(void **state)
{
	add_user("bob@" DOM, NULL);
	add_alias("*@" DOM, "bob@" DOM);
	expect_only_local("anything@" DOM, NULL, "bob@" DOM);
	expect_only_local("any+thing@" DOM, NULL, "bob@" DOM);
	expect_only_local("*@" DOM, NULL, "bob@" DOM);
}

static void test_resolve_unknown_user(void **state)
{
	add_user("alice@" DOM, NULL);
	expect_miss("bob@" DOM, NULL, DIRECTORY_MISS_USER);
	assert_string_equal(R.address, "bob@" DOM);
}

static void test_resolve_unknown_domain(void **state)
{
	expect_miss("alice@elsewhere.test", NULL, DIRECTORY_MISS_DOMAIN);
	expect_miss("alice@[192.0.2.1]", NULL, DIRECTORY_MISS_DOMAIN);
}

static void test_resolve_syntax(void **state)
{
	expect_miss("not an address", NULL, DIRECTORY_MISS_SYNTAX);
	expect_miss("", NULL, DIRECTORY_MISS_SYNTAX);
	assert_string_equal(R.address, "");
}

static void test_resolve_chain(void **state)
{
	add_user("alice@" DOM, NULL);
	add_alias("b@" DOM, "alice@" DOM);
	add_alias("a@" DOM, "b@" DOM);
	expect_only_local("a@" DOM, NULL, "alice@" DOM);
}

/* a0 -> a1 -> ... -> a<links-1> -> alice */
static void make_chain(int links)
{
	char src[64], dst[64];
	add_user("alice@" DOM, NULL);
	snprintf(dst, sizeof(dst), "alice@%s", DOM);
	for (int i = links - 1; i >= 0; i--) {
		snprintf(src, sizeof(src), "a%d@%s", i, DOM);
		add_alias(src, dst);
		snprintf(dst, sizeof(dst), "%s", src);
	}
}

static void test_resolve_chain_at_depth_limit(void **state)
{
	make_chain(DIRECTORY_ALIAS_DEPTH_MAX);
	expect_only_local("a0@" DOM, NULL, "alice@" DOM);
}

static void test_resolve_chain_too_deep(void **state)
{
	make_chain(DIRECTORY_ALIAS_DEPTH_MAX + 1);
	expect_miss("a0@" DOM, NULL, DIRECTORY_MISS_LOOP);
	expect_only_local("a1@" DOM, NULL, "alice@" DOM);
}

static void test_resolve_loop(void **state)
{
	raw_sql("INSERT INTO aliases VALUES ('a@example.test', 'example.test', 'b@example.test', "
	        "'local', 0), ('b@example.test', 'example.test', 'a@example.test', 'local', 0)");
	expect_miss("a@" DOM, NULL, DIRECTORY_MISS_LOOP);
}

static void test_resolve_loop_with_exit(void **state)
{
	add_user("alice@" DOM, NULL);
	add_alias("a@" DOM, "alice@" DOM);
	add_alias("b@" DOM, "a@" DOM);
	add_alias("a@" DOM, "b@" DOM);
	expect_only_local("a@" DOM, NULL, "alice@" DOM);
	expect_only_local("b@" DOM, NULL, "alice@" DOM);
}

static void test_resolve_catchall_loop(void **state)
{
	/* The catch-all names an address that only the catch-all catches. */
	add_user("alice@" DOM, NULL);
	add_alias("*@" DOM, "alice@" DOM);
	raw_sql("UPDATE aliases SET target = 'nobody@example.test' WHERE source = "
	        "'*@example.test'");
	expect_miss("x@" DOM, NULL, DIRECTORY_MISS_LOOP);
}

static void test_resolve_dangling_alias(void **state)
{
	add_user("alice@" DOM, NULL);
	add_alias("info@" DOM, "alice@" DOM);
	assert_int_equal(directory_user_del(D, "alice@" DOM, NULL), 0);
	expect_miss("info@" DOM, NULL, DIRECTORY_MISS_USER);
}

static void test_resolve_dangling_target_falls_to_catchall(void **state)
{
	add_user("alice@" DOM, NULL);
	add_user("bob@" DOM, NULL);
	add_alias("info@" DOM, "alice@" DOM);
	add_alias("*@" DOM, "bob@" DOM);
	assert_int_equal(directory_user_del(D, "alice@" DOM, NULL), 0);
	expect_only_local("info@" DOM, NULL, "bob@" DOM);
}

static void test_resolve_fanout_dedup(void **state)
{
	add_user("alice@" DOM, NULL);
	add_user("bob@" DOM, NULL);
	add_alias("al@" DOM, "alice@" DOM);
	add_alias("team@" DOM, "alice@" DOM);
	add_alias("team@" DOM, "bob@" DOM);
	add_alias("team@" DOM, "al@" DOM);
	add_alias("team@" DOM, "alice+x@" DOM);
	assert_int_equal(resolve("team@" DOM, NULL), 1);
	assert_int_equal(R.n, 2);
	assert_true(has_target(DIRECTORY_TARGET_LOCAL, "alice@" DOM));
	assert_true(has_target(DIRECTORY_TARGET_LOCAL, "bob@" DOM));
}

static void test_resolve_external_and_url(void **state)
{
	add_user("alice@" DOM, NULL);
	add_alias("fwd@" DOM, "alice@" DOM);
	add_alias("fwd@" DOM, "friend@elsewhere.test");
	add_alias("fwd@" DOM, "https://hooks.example/in");
	assert_int_equal(resolve("fwd@" DOM, NULL), 1);
	assert_int_equal(R.n, 3);
	assert_true(has_target(DIRECTORY_TARGET_LOCAL, "alice@" DOM));
	assert_true(has_target(DIRECTORY_TARGET_EXTERNAL, "friend@elsewhere.test"));
	assert_true(has_target(DIRECTORY_TARGET_URL, "https://hooks.example/in"));
	for (size_t i = 0; i < R.n; i++)
		if (R.targets[i].kind != DIRECTORY_TARGET_LOCAL)
			assert_string_equal(R.targets[i].id, "");
}

static void test_resolve_external_only(void **state)
{
	/* Found: the caller (the MX) decides to refuse external targets. */
	add_alias("fwd@" DOM, "friend@elsewhere.test");
	assert_int_equal(resolve("fwd@" DOM, NULL), 1);
	assert_int_equal(R.n, 1);
	assert_int_equal(R.targets[0].kind, DIRECTORY_TARGET_EXTERNAL);
}

static void test_resolve_postmaster_configured(void **state)
{
	add_user("alice@" DOM, NULL);
	add_user("admin@" DOM, NULL);
	expect_only_local("postmaster@" DOM, "admin@" DOM, "admin@" DOM);
	expect_only_local("PostMaster@" DOM, "Admin@" DOM, "admin@" DOM);
}

static void test_resolve_postmaster_configured_other_domain(void **state)
{
	assert_int_equal(directory_domain_add(D, "other.test"), 0);
	add_user("root@other.test", NULL);
	expect_only_local("postmaster@" DOM, "root@other.test", "root@other.test");
}

static void test_resolve_postmaster_alias_beats_config(void **state)
{
	add_user("alice@" DOM, NULL);
	add_user("admin@" DOM, NULL);
	add_alias("postmaster@" DOM, "alice@" DOM);
	expect_only_local("postmaster@" DOM, "admin@" DOM, "alice@" DOM);
}

static void test_resolve_postmaster_user_beats_config(void **state)
{
	add_user("admin@" DOM, NULL);
	add_user("postmaster@" DOM, NULL);
	expect_only_local("postmaster@" DOM, "admin@" DOM, "postmaster@" DOM);
}

static void test_resolve_postmaster_first_user(void **state)
{
	add_user("first@" DOM, NULL);
	add_user("second@" DOM, NULL);
	raw_sql("UPDATE users SET created = 1 WHERE address = 'first@example.test'");
	raw_sql("UPDATE users SET created = 2 WHERE address = 'second@example.test'");
	expect_only_local("postmaster@" DOM, NULL, "first@" DOM);
	expect_only_local("postmaster@" DOM, "", "first@" DOM);
}

static void test_resolve_postmaster_bad_config_falls_back(void **state)
{
	add_user("first@" DOM, NULL);
	expect_only_local("postmaster@" DOM, "ghost@" DOM, "first@" DOM);
	expect_only_local("postmaster@" DOM, "not an address", "first@" DOM);
}

static void test_resolve_postmaster_catchall_before_first_user(void **state)
{
	add_user("first@" DOM, NULL);
	add_user("bob@" DOM, NULL);
	add_alias("*@" DOM, "bob@" DOM);
	expect_only_local("postmaster@" DOM, NULL, "bob@" DOM);
}

static void test_resolve_postmaster_config_beats_catchall(void **state)
{
	add_user("admin@" DOM, NULL);
	add_user("bob@" DOM, NULL);
	add_alias("*@" DOM, "bob@" DOM);
	expect_only_local("postmaster@" DOM, "admin@" DOM, "admin@" DOM);
}

static void test_resolve_postmaster_empty_domain(void **state)
{
	expect_miss("postmaster@" DOM, NULL, DIRECTORY_MISS_USER);
	expect_miss("postmaster@elsewhere.test", NULL, DIRECTORY_MISS_DOMAIN);
}

static void test_resolve_postmaster_bare(void **state)
{
	add_user("first@" DOM, NULL);
	expect_only_local("Postmaster", NULL, "first@" DOM);
	assert_string_equal(R.address, "postmaster@" DOM);
}

static void test_resolve_postmaster_bare_no_domains(void **state)
{
	assert_int_equal(directory_domain_del(D, DOM), 0);
	expect_miss("postmaster", NULL, DIRECTORY_MISS_DOMAIN);
}

/* A first domain too long for "postmaster@" in an address (RFC 5321
 * section 4.5.3.1.3) leaves a bare postmaster without a mailbox, from the
 * file and from a snapshot's index. */
static void test_resolve_postmaster_bare_long_domain(void **state)
{
	char dom[256];
	size_t k = 0;
	for (int l = 0; l < 4; l++) {
		memset(dom + k, 'a' + l, 60);
		k += 60;
		dom[k++] = '.';
	}
	memcpy(dom + k, "test", 5); /* 248 octets */
	assert_int_equal(directory_domain_del(D, DOM), 0);
	assert_int_equal(directory_domain_add(D, dom), 0);
	assert_int_equal(directory_domain_add(D, DOM), 0);
	add_user("first@" DOM, NULL);
	expect_miss("postmaster", NULL, DIRECTORY_MISS_USER);
	struct directory *snap, *file = D;
	assert_int_equal(directory_snapshot(file, &snap), 0);
	D = snap;
	expect_miss("postmaster", NULL, DIRECTORY_MISS_USER);
	D = file;
	directory_close(&snap);
}

static void test_resolve_postmaster_is_not_tagged(void **state)
{
	/* postmaster+x is not postmaster: with no such user nothing matches. */
	expect_miss("postmaster+x@" DOM, NULL, DIRECTORY_MISS_USER);
}

static void test_resolve_from_read_handle(void **state)
{
	const char *err;
	struct directory *r;
	add_user("alice@" DOM, NULL);
	add_alias("info@" DOM, "alice@" DOM);
	assert_int_equal(directory_open(statedir, DIRECTORY_READ, &r, &err), 0);
	directory_result_clear(&R);
	assert_int_equal(directory_resolve(r, "info+x@" DOM, NULL, &R), 1);
	assert_true(has_target(DIRECTORY_TARGET_LOCAL, "alice@" DOM));
	directory_close(&r);
}

/* ---- read-only opens without write access (run as nobody) ---- */

/* Child mode: --ro-probe STATEDIR ADDRESS prints "found ID", "miss N" or
 * "error MESSAGE" and exits 0. */
static int ro_probe(const char *dir, const char *address)
{
	struct directory *d;
	struct directory_result res;
	const char *err;
	if (directory_open(dir, DIRECTORY_READ, &d, &err) < 0) {
		printf("error %s\n", err);
		return 0;
	}
	int r = directory_resolve(d, address, NULL, &res);
	if (r == 1)
		printf("found %s\n", res.targets[0].value);
	else if (r == 0)
		printf("miss %d\n", res.miss);
	else
		printf("error %s\n", directory_error(d));
	directory_result_clear(&res);
	directory_close(&d);
	return 0;
}

/* Run the probe as nobody in a fresh process (SQLite state must not be
 * inherited through fork); returns its first output line. */
static const char *probe_as_nobody(const char *address)
{
	static char line[512];
	int p[2];
	assert_int_equal(pipe(p), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		dup2(p[1], 1);
		close(p[0]);
		if (setgroups(0, NULL) < 0 || setgid(65534) < 0 || setuid(65534) < 0)
			_exit(3);
		execl(self_exe, self_exe, "--ro-probe", statedir, address, (char *)NULL);
		_exit(4);
	}
	close(p[1]);
	ssize_t n = 0, r;
	while (n < (ssize_t)sizeof(line) - 1 &&
	       (r = read(p[0], line + n, sizeof(line) - 1 - n)) > 0)
		n += r;
	close(p[0]);
	line[n > 0 ? n : 0] = '\0';
	char *nl = strchr(line, '\n');
	if (nl != NULL)
		*nl = '\0';
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	return line;
}

static void lock_down(mode_t shm_mode)
{
	char p[256];
	/* The service user may read everything and write nothing in the
	 * directory (and -shm only when shm_mode says so). */
	assert_int_equal(chmod(root, 0755), 0);
	assert_int_equal(chmod(dbpath, 0644), 0);
	snprintf(p, sizeof(p), "%s-wal", dbpath);
	assert_int_equal(chmod(p, 0644), 0);
	snprintf(p, sizeof(p), "%s-shm", dbpath);
	assert_int_equal(chmod(p, shm_mode), 0);
	assert_int_equal(chmod(statedir, 0555), 0);
}

static void skip_unless_root(void)
{
	if (geteuid() != 0)
		skip(); /* needs setuid to a user without write access */
}

static void test_ro_nobody_readonly_shm_writer_closed(void **state)
{
	skip_unless_root();
	add_user("alice@" DOM, NULL);
	directory_close(&D);
	lock_down(0644);
	assert_string_equal(probe_as_nobody("alice@" DOM), "found alice@" DOM);
	assert_string_equal(probe_as_nobody("bob@" DOM), "miss 3");
}

static void test_ro_nobody_readonly_shm_writer_open(void **state)
{
	/* A writer is active (and keeps writing) while read-only readers run. */
	skip_unless_root();
	add_user("alice@" DOM, NULL);
	lock_down(0644);
	assert_string_equal(probe_as_nobody("alice@" DOM), "found alice@" DOM);
	add_user("bob@" DOM, NULL);
	assert_string_equal(probe_as_nobody("bob@" DOM), "found bob@" DOM);
	assert_int_equal(directory_user_del(D, "alice@" DOM, NULL), 0);
	assert_string_equal(probe_as_nobody("alice@" DOM), "miss 3");
}

static void test_ro_nobody_writable_shm(void **state)
{
	skip_unless_root();
	add_user("alice@" DOM, NULL);
	lock_down(0666);
	assert_string_equal(probe_as_nobody("alice@" DOM), "found alice@" DOM);
	add_user("bob@" DOM, NULL);
	assert_string_equal(probe_as_nobody("bob@" DOM), "found bob@" DOM);
}

static void test_ro_nobody_after_reopen_by_writer(void **state)
{
	/* The WAL grows and is checkpointed by a later writer session; the
	 * reader sees each committed state. */
	const char *err;
	skip_unless_root();
	add_user("alice@" DOM, NULL);
	directory_close(&D);
	assert_int_equal(directory_open(statedir, DIRECTORY_WRITE, &D, &err), 0);
	add_user("bob@" DOM, NULL);
	directory_close(&D);
	lock_down(0644);
	assert_string_equal(probe_as_nobody("bob@" DOM), "found bob@" DOM);
	assert_int_equal(chmod(statedir, 0755), 0);
	assert_int_equal(directory_open(statedir, DIRECTORY_WRITE, &D, &err), 0);
	add_user("carol@" DOM, NULL);
	assert_int_equal(chmod(statedir, 0555), 0);
	assert_string_equal(probe_as_nobody("carol@" DOM), "found carol@" DOM);
}

static void test_ro_nobody_without_wal_files(void **state)
{
	/* What SQLite 3.15 cannot do: if -wal/-shm were removed (e.g. by
	 * another tool closing the database last), a reader without write
	 * access to the directory cannot open it. The error says what to do. */
	char p[256];
	skip_unless_root();
	directory_close(&D);
	snprintf(p, sizeof(p), "%s-wal", dbpath);
	assert_int_equal(unlink(p), 0);
	snprintf(p, sizeof(p), "%s-shm", dbpath);
	assert_int_equal(unlink(p), 0);
	assert_int_equal(chmod(root, 0755), 0);
	assert_int_equal(chmod(dbpath, 0644), 0);
	assert_int_equal(chmod(statedir, 0555), 0);
	const char *line = probe_as_nobody("alice@" DOM);
	assert_true(strncmp(line, "error ", 6) == 0);
	assert_non_null(strstr(line, "sealctl init"));
}

int main(int argc, char **argv)
{
	if (argc == 4 && strcmp(argv[1], "--ro-probe") == 0)
		return ro_probe(argv[2], argv[3]);
	ssize_t n = readlink("/proc/self/exe", self_exe, sizeof(self_exe) - 1);
	self_exe[n > 0 ? n : 0] = '\0';

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown_result)
	const struct CMUnitTest tests[] = {
	    T(test_init_creates_schema),
	    T(test_init_twice_idempotent),
	    T(test_init_concurrent_handles),
	    cmocka_unit_test_setup_teardown(test_migration_from_version_zero, setup_empty,
	                                    teardown),
	    T(test_newer_schema_refused),
	    cmocka_unit_test_setup_teardown(test_open_missing_file, setup_empty, teardown),
	    T(test_read_handle_refuses_writes),
	    T(test_transaction_rollback),
	    T(test_transaction_commit),
	    T(test_domain_add_normalises),
	    T(test_domain_add_duplicate),
	    T(test_domain_add_invalid),
	    T(test_domain_del_empty),
	    T(test_domain_del_unknown),
	    T(test_domain_del_with_users_refused),
	    T(test_domain_del_with_aliases_refused),
	    T(test_user_add_get),
	    T(test_user_get_by_id),
	    T(test_user_row_too_long_refused),
	    T(test_user_get_missing),
	    T(test_user_ids_random),
	    T(test_user_add_duplicate_address),
	    T(test_user_add_duplicate_id),
	    T(test_user_add_refusals),
	    T(test_user_add_over_alias_refused),
	    T(test_user_add_with_recovery_and_quota),
	    T(test_user_list),
	    T(test_user_del_returns_id),
	    T(test_user_del_unknown),
	    T(test_user_update_pw_blob),
	    T(test_user_update_recovery_set_and_clear),
	    T(test_user_update_rekey_fields),
	    T(test_user_update_refusals),
	    T(test_alias_kinds),
	    T(test_alias_bad_urls),
	    T(test_alias_local_target_must_exist),
	    T(test_alias_refusals),
	    T(test_alias_duplicate),
	    T(test_alias_del_one_and_all),
	    T(test_alias_del_unknown),
	    T(test_snapshot_resolves_like_the_file),
	    T(test_snapshot_index_resolves_as_the_file),
	    T(test_changed_sees_other_connections),
	    T(test_changed_sees_back_to_back_commits),
	    T(test_resolve_exact_user),
	    T(test_resolve_case_insensitive),
	    T(test_resolve_tag_to_user),
	    T(test_resolve_alias_exact),
	    T(test_resolve_alias_tag_stripped),
	    T(test_resolve_user_beats_alias),
	    T(test_resolve_tagged_alias_beats_base_user),
	    T(test_resolve_alias_beats_catchall),
	    T(test_resolve_user_beats_catchall),
	    T(test_resolve_catchall),
	    T(test_resolve_unknown_user),
	    T(test_resolve_unknown_domain),
	    T(test_resolve_syntax),
	    T(test_resolve_chain),
	    T(test_resolve_chain_at_depth_limit),
	    T(test_resolve_chain_too_deep),
	    T(test_resolve_loop),
	    T(test_resolve_loop_with_exit),
	    T(test_resolve_catchall_loop),
	    T(test_resolve_dangling_alias),
	    T(test_resolve_dangling_target_falls_to_catchall),
	    T(test_resolve_fanout_dedup),
	    T(test_resolve_external_and_url),
	    T(test_resolve_external_only),
	    T(test_resolve_postmaster_configured),
	    T(test_resolve_postmaster_configured_other_domain),
	    T(test_resolve_postmaster_alias_beats_config),
	    T(test_resolve_postmaster_user_beats_config),
	    T(test_resolve_postmaster_first_user),
	    T(test_resolve_postmaster_bad_config_falls_back),
	    T(test_resolve_postmaster_catchall_before_first_user),
	    T(test_resolve_postmaster_config_beats_catchall),
	    T(test_resolve_postmaster_empty_domain),
	    T(test_resolve_postmaster_bare),
	    T(test_resolve_postmaster_bare_no_domains),
	    T(test_resolve_postmaster_bare_long_domain),
	    T(test_resolve_postmaster_is_not_tagged),
	    T(test_resolve_from_read_handle),
	    T(test_ro_nobody_readonly_shm_writer_closed),
	    T(test_ro_nobody_readonly_shm_writer_open),
	    T(test_ro_nobody_writable_shm),
	    T(test_ro_nobody_after_reopen_by_writer),
	    T(test_ro_nobody_without_wal_files),
	};
#undef T
	return cmocka_run_group_tests(tests, NULL, NULL);
}
