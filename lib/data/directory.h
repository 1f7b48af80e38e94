/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* The directory (DESIGN section 2): <state_dir>/directory.db holds hosted
 * domains, users (random id, address, wrapped mailbox keys, public sealing
 * key, quota) and aliases. It holds no secret, so it is plain SQLite (opened
 * through libsqlcipher without a key), in WAL mode, busy_timeout 5000 ms,
 * foreign keys on; the schema version is PRAGMA user_version, upgraded by
 * ordered migrations (version 1: initial schema).
 *
 * Addresses and domains are stored normalised (addr_normalise: domain and
 * local part lower-cased); every function taking an address normalises it.
 *
 * Read-only opens (the MX, login handlers) need no write access to the
 * state directory, with SQLite 3.15 conditions: SQLite before 3.22 cannot
 * create -wal/-shm for a read-only connection, so read-write opens keep
 * them on disk (SQLITE_FCNTL_PERSIST_WAL) and DIRECTORY_INIT creates them.
 * A reader that may write directory.db-shm uses it normally; one that may
 * only read it falls back to SQLite's readonly_shm mode, which reads
 * correctly but cannot rebuild the WAL index after a writer crashed: until
 * the next read-write open (any sealctl command) such readers get an error.
 * Hence the service needs: directory.db, -wal and -shm readable by the
 * service users (SQLite creates -wal/-shm with the database file's mode and,
 * as root, its owner), and preferably -shm writable by them. Do not open the
 * database read-write with other tools that delete -wal/-shm on close.
 *
 * A handle must not cross fork(): open it in the process that uses it.
 * The first query runs inside directory_open, so -wal/-shm are open before
 * a sandbox is applied. Trust: admin (sealctl) for writes; the MX and login
 * handlers read it pre-auth. */
#ifndef SEALMAIL_DIRECTORY_H
#define SEALMAIL_DIRECTORY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/addr.h"
#include "base/buf.h"

#define DIRECTORY_FILE            "directory.db"
#define DIRECTORY_SCHEMA_VERSION  1
#define DIRECTORY_ID_BYTES        16 /* random user id, never derived from the address */
#define DIRECTORY_ID_LEN          (2 * DIRECTORY_ID_BYTES) /* lower-case hex digits */
#define DIRECTORY_SEAL_PK_LEN     32                       /* X25519 public key */
#define DIRECTORY_BUSY_TIMEOUT_MS 5000
/* Alias expansion: nesting depth and the number of distinct addresses
 * visited in one resolution (Postfix virtual_alias_recursion_limit = 1000,
 * virtual_alias_expansion_limit = 1000; chains here are short). */
#define DIRECTORY_ALIAS_DEPTH_MAX 8
#define DIRECTORY_VISIT_MAX       1000
/* Longest URL target accepted. */
#define DIRECTORY_URL_MAX 2048

struct directory;

enum directory_mode {
	DIRECTORY_READ,  /* read-only; the schema must be current */
	DIRECTORY_WRITE, /* read-write; the file must exist with the current schema */
	DIRECTORY_INIT,  /* read-write; create the file if missing, run pending migrations */
};

/* Why the last failing call on a handle failed. */
enum directory_status {
	DIRECTORY_OK = 0,
	DIRECTORY_ERR_EXISTS,    /* already present */
	DIRECTORY_ERR_NOT_FOUND, /* no such domain, user or alias; or domain not hosted */
	DIRECTORY_ERR_INVALID,   /* syntax or a value refused; or a write on a read-only handle */
	DIRECTORY_ERR_IN_USE,    /* domain still has users or aliases */
	DIRECTORY_ERR_TEMP,      /* database error (busy, I/O, …): retry later */
};

enum directory_target_kind {
	DIRECTORY_TARGET_LOCAL = 'L',    /* a user (or alias) in a hosted domain */
	DIRECTORY_TARGET_EXTERNAL = 'E', /* an address elsewhere */
	DIRECTORY_TARGET_URL = 'U',      /* an https URL (webhook) */
};

struct directory_user {
	char id[DIRECTORY_ID_LEN + 1];
	char address[ADDR_SIZE];
	char domain[ADDR_DOMAIN_MAX + 1];
	struct buf pw_blob;       /* MK wrapped under the password (keywrap.h) */
	struct buf recovery_blob; /* MK wrapped under the recovery code; len 0: none */
	unsigned char seal_pk[DIRECTORY_SEAL_PK_LEN];
	uint64_t quota_bytes; /* 0: no quota */
	int64_t created;      /* Unix seconds, set by directory_user_add */
};

struct directory_alias {
	char *source; /* "local@domain" or "*@domain" */
	char *target; /* address or URL */
	enum directory_target_kind kind;
};

/* One resolved recipient. */
struct directory_target {
	enum directory_target_kind kind;
	char *value; /* LOCAL: the user's address; EXTERNAL: the address; URL: the URL */
	char id[DIRECTORY_ID_LEN + 1];                /* LOCAL only, else "" */
	unsigned char seal_pk[DIRECTORY_SEAL_PK_LEN]; /* LOCAL only */
};

/* Why directory_resolve found nothing. The MX answers 550 5.7.1 (relaying
 * denied) for DOMAIN and 550 5.1.1 for USER (RFC 3463); 501 for SYNTAX;
 * LOOP is a configuration error (5.4.6 routing loop). */
enum directory_miss {
	DIRECTORY_MISS_NONE = 0,
	DIRECTORY_MISS_SYNTAX, /* not an address */
	DIRECTORY_MISS_DOMAIN, /* the domain is not hosted here */
	DIRECTORY_MISS_USER,   /* hosted domain, no such user, alias or catch-all */
	DIRECTORY_MISS_LOOP,   /* only alias loops or chains deeper than the limit */
};

struct directory_result {
	struct directory_target *targets; /* owned; free with directory_result_clear */
	size_t n;
	enum directory_miss miss;
	char address[ADDR_SIZE]; /* the normalised address asked for ("" if invalid) */
};

/* Open <state_dir>/directory.db. 0 ok with *d_r set (close with
 * directory_close); -1 with *error_r (static buffer, valid until the next
 * failing open) when the file is missing (READ, WRITE), the schema is
 * older (READ, WRITE: run init) or newer than this program knows, or
 * SQLite fails. */
int directory_open(const char *state_dir, enum directory_mode mode, struct directory **d_r,
                   const char **error_r);
void directory_close(struct directory **d);

/* For a process that forks per connection (the MX accept loop): a copy of
 * d in memory, without the wrapped keys, with its statements prepared. A
 * child uses the copy it inherited as a read-only directory: an in-memory
 * database shares no file or lock with anyone, so unlike a connection to
 * the file it may cross fork(). 0 ok (*snap_r, close with directory_close);
 * -1 (TEMP, status on d). */
int directory_snapshot(struct directory *d, struct directory **snap_r);
/* 1 when another connection committed to d's database since the previous
 * call (the first call says 1), 0 when not, -1 error. Cheap: stat(2) of
 * the database and its WAL, and PRAGMA data_version only when one of them
 * changed or a second has passed since it last ran. */
int directory_changed(struct directory *d);

/* The reason and message of the last failure on d (valid until the next
 * call on d). */
enum directory_status directory_status(const struct directory *d);
const char *directory_error(const struct directory *d);
/* PRAGMA user_version of the open database, or -1. */
int directory_schema_version(struct directory *d);

/* Group several changes into one transaction (BEGIN IMMEDIATE, so it waits
 * for other writers up to the busy timeout). Changes made outside one are
 * each their own transaction. 0 ok; -1 (status set). */
int directory_begin(struct directory *d);
int directory_commit(struct directory *d);
int directory_rollback(struct directory *d);

/* Domains. add: 0 ok; -1 (EXISTS, INVALID, TEMP). del: 0 ok; -1 (NOT_FOUND,
 * IN_USE when users or aliases remain, TEMP). exists: 1 yes, 0 no, -1 error.
 * list: 0 ok with *names_r (sorted, caller frees with directory_strv_free)
 * and *n_r; -1 error. */
int directory_domain_add(struct directory *d, const char *domain);
int directory_domain_del(struct directory *d, const char *domain);
int directory_domain_exists(struct directory *d, const char *domain);
int directory_domain_list(struct directory *d, char ***names_r, size_t *n_r);
void directory_strv_free(char ***v, size_t n);

/* A fresh random user id (hex). The id is needed before the user exists:
 * it is part of the key wrapping AAD and names users/<id>/. */
void directory_new_id(char id[DIRECTORY_ID_LEN + 1]);
/* true for DIRECTORY_ID_LEN lower-case hex digits. */
bool directory_id_valid(const char *id);

/* Add u (id, address, pw_blob, optional recovery_blob, seal_pk,
 * quota_bytes; created is set to now). The domain must be hosted and the
 * local part may not be "*". 0 ok; -1 (EXISTS for the address or id,
 * NOT_FOUND for the domain, INVALID, TEMP). */
int directory_user_add(struct directory *d, struct directory_user *u);
/* Look up by address (normalised first; no tag stripping, no aliases) or by
 * id. 1 found (*u filled: call directory_user_clear), 0 not found, -1 error. */
int directory_user_get(struct directory *d, const char *address, struct directory_user *u);
int directory_user_get_by_id(struct directory *d, const char *id, struct directory_user *u);
/* Remove the user; its id is written to id_out (when not NULL) so that the
 * caller can remove users/<id>/. Aliases naming the address are kept (a
 * later user of that address receives their mail, as with Postfix). 0 ok;
 * -1 (NOT_FOUND, TEMP). */
int directory_user_del(struct directory *d, const char *address, char id_out[DIRECTORY_ID_LEN + 1]);
/* Users of one domain (or all with domain NULL), ordered by address. 0 ok
 * with *users_r (free with directory_user_list_free) and *n_r; -1 error. */
int directory_user_list(struct directory *d, const char *domain, struct directory_user **users_r,
                        size_t *n_r);
void directory_user_list_free(struct directory_user **users, size_t n);
void directory_user_clear(struct directory_user *u);

/* directory_user_update fields. */
enum {
	DIRECTORY_SET_PW_BLOB = 1 << 0,
	DIRECTORY_SET_RECOVERY_BLOB = 1 << 1, /* an empty recovery_blob removes it */
	DIRECTORY_SET_SEAL_PK = 1 << 2,
	DIRECTORY_SET_QUOTA = 1 << 3,
};
/* Change the given fields of the user with id u->id in one statement (a
 * password change sets PW_BLOB; a rekey sets PW_BLOB, RECOVERY_BLOB and
 * SEAL_PK together). 0 ok; -1 (NOT_FOUND, INVALID, TEMP). */
int directory_user_update(struct directory *d, const struct directory_user *u, unsigned fields);

/* Aliases. source: "local@domain" or "*@domain" (catch-all) in a hosted
 * domain. target: an https URL (kind URL), an address in a hosted domain
 * (kind LOCAL; it must resolve now: a user, an alias or a catch-all), or
 * any other address (kind EXTERNAL). A source may have several targets.
 * add: 0 ok; -1 (EXISTS, NOT_FOUND, INVALID, TEMP). del: target NULL removes
 * every target of source; 0 ok, -1 (NOT_FOUND, TEMP). list: filter NULL for
 * all, a source address, or a bare domain; ordered by source then insertion;
 * free with directory_alias_list_free. */
int directory_alias_add(struct directory *d, const char *source, const char *target,
                        enum directory_target_kind *kind_r);
int directory_alias_del(struct directory *d, const char *source, const char *target);
int directory_alias_list(struct directory *d, const char *filter,
                         struct directory_alias **aliases_r, size_t *n_r);
void directory_alias_list_free(struct directory_alias **aliases, size_t n);

/* Resolve a recipient address for delivery, in this order:
 *   1. a user with exactly this address;
 *   2. an alias with exactly this source;
 *   3. with a +tag (user+tag@d): a user, then an alias, for user@d;
 *   4. for postmaster@d (RFC 5321 section 4.5.1, any case): the address
 *      postmaster (caller's configuration, may be NULL or "") when it
 *      resolves;
 *   5. the catch-all alias *@d;
 *   6. for postmaster@d: the first user created in d.
 * Alias targets are resolved the same way, recursively, up to
 * DIRECTORY_ALIAS_DEPTH_MAX deep; an address already being expanded is not
 * expanded again (loops end), and a target in a domain not hosted here is an
 * EXTERNAL result. A bare "postmaster" (RFC 5321 section 4.1.1.3) is
 * postmaster@ the first hosted domain. Local results are deduplicated by
 * user id. All reads happen in one read transaction.
 * 1 found (res->n > 0; EXTERNAL and URL targets count: the caller decides
 * whether to accept them), 0 not found (res->miss says why), -1 error. res
 * is overwritten: call directory_result_clear after each use. */
int directory_resolve(struct directory *d, const char *address, const char *postmaster,
                      struct directory_result *res);
void directory_result_clear(struct directory_result *res);

#endif
