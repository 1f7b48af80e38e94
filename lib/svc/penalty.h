/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* Authentication penalty shared by every login handler on a host (and by
 * every host sharing one Redis), as Dovecot's auth_penalty and Postfix's
 * anvil do it: failures are counted per source (an IPv4 address, an IPv6
 * /64) and per account (the lower-cased user name as given, whether or not
 * it exists), and each attempt from a penalised source or on a penalised
 * account first waits its turn.
 *
 * The policy (docs/SECURITY.md): after f failures within the window the
 * step is base * 2^(f-1), capped (auth_penalty_max for a source,
 * auth_penalty_account_max for an account). The steps are not only a wait
 * but turns: each attempt reserves the next free slot of its source and
 * account, so attempts over N parallel connections run one step apart, as
 * they would over one connection. An attempt whose source's turn is further
 * off than auth_penalty_max waits that long and is then failed without a
 * password check (no KDF is run for it); an account's wait is capped and
 * the attempt then proceeds: a delay, never a refusal, so that nobody can
 * lock a real user out. A successful login clears its source.
 *
 * State: Redis when configured and reachable (keys are HMAC-SHA256 of the
 * source or account under the install's secret, state_dir/auth_penalty.key,
 * so that they name nobody to another Redis client), else a fixed-size table
 * in run_dir/auth_penalty.tab mapped shared by every handler process of the
 * host under a short flock. Both are opened before the sandbox.
 * Trust: the back, before authentication (user names are client input). */
#ifndef SEALMAIL_PENALTY_H
#define SEALMAIL_PENALTY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sys/conf.h"

/* The install secret below state_dir, and the host table below run_dir. */
#define PENALTY_KEY_FILE   "auth_penalty.key"
#define PENALTY_KEY_LEN    32
#define PENALTY_TABLE_FILE "auth_penalty.tab"
/* Entries in the host table: sources and accounts being penalised at once.
 * When full, the entry least recently failed is evicted. */
#define PENALTY_TABLE_SLOTS 4096
/* Redis connect and command timeout: a login never waits longer on it. */
#define PENALTY_REDIS_TIMEOUT_MS 200
/* "6:" + 16 hex digits + "/64", or "4:" + a dotted quad; room to spare. */
#define PENALTY_SOURCE_MAX 64

struct penalty_policy {
	uint64_t base_ms;        /* first step; 0 turns the penalty off */
	uint64_t max_ms;         /* a source's cap */
	uint64_t account_max_ms; /* an account's cap */
	uint64_t window_ms;      /* failures are forgotten this long after the last */
};

/* What an attempt must do before its password check. */
struct penalty_verdict {
	uint64_t wait_ms; /* sleep this long first */
	bool refuse;      /* then fail without checking the password */
	unsigned source_failures, account_failures;
	const char *store; /* "redis" or "local", for the log */
};

/* The key of a source address (textual, as conn.remote): "4:" and the IPv4
 * address (IPv4-mapped IPv6 included), "6:" and the /64 prefix in hex for
 * IPv6, or "x:" and the text for anything else (a unix socket). 0, or -1
 * when it does not fit. Pure. */
int penalty_source_key(const char *remote, char *out, size_t outsz);
/* The step after f failures: 0 for none, else base * 2^(f-1), at most cap.
 * Pure. */
uint64_t penalty_step(const struct penalty_policy *pol, unsigned f, uint64_t cap);
/* The policy of the configuration. */
void penalty_policy_of(const struct conf *c, struct penalty_policy *pol);

/* The host table, on memory the caller maps (PENALTY_TABLE_SIZE bytes of
 * zeros are a valid empty table, keyed by a fresh random key on first use).
 * The caller holds the lock; now_ms is CLOCK_MONOTONIC. */
struct penalty_slot {
	unsigned char id[16]; /* truncated HMAC of the kind and key */
	uint32_t failures;
	uint32_t pad;
	int64_t next_ms; /* the next free turn */
	int64_t last_ms; /* the last failure; 0 = free */
};
struct penalty_table {
	uint32_t magic;
	uint32_t nslots;
	unsigned char key[PENALTY_KEY_LEN];
	struct penalty_slot slot[PENALTY_TABLE_SLOTS];
};
#define PENALTY_TABLE_SIZE  sizeof(struct penalty_table)
#define PENALTY_TABLE_MAGIC 0x53504e31u /* "SPN1" */

/* Reserve a turn for kind ('s' source, 'a' account) and key: the wait, and
 * *failures; *beyond when the turn was further off than cap (not reserved
 * then, and the wait is cap). */
uint64_t penalty_table_begin(struct penalty_table *t, const struct penalty_policy *pol, char kind,
                             const char *key, uint64_t cap, int64_t now_ms, unsigned *failures,
                             bool *beyond);
/* Count a failure. */
void penalty_table_fail(struct penalty_table *t, const struct penalty_policy *pol, char kind,
                        const char *key, uint64_t cap, int64_t now_ms);
/* Forget kind and key (a success). */
void penalty_table_clear(struct penalty_table *t, char kind, const char *key);
/* Failures counted for kind and key at now_ms (tests, sealctl). */
unsigned penalty_table_failures(struct penalty_table *t, const struct penalty_policy *pol,
                                char kind, const char *key, int64_t now_ms);

struct penalty;

/* Make state_dir's PENALTY_KEY_FILE (32 random bytes, mode 0600) unless it
 * exists: sealctl init, and a handler on first use. 0, or -1 (errno). */
int penalty_key_ensure(int state_fd);

/* Open before the sandbox: the host table, the install secret (created when
 * missing and state_dir is writable) and, when configured, a Redis
 * connection (the caller ignores SIGPIPE, as conn_serve does, so that a
 * Redis gone away is an error and the table takes over). NULL when the penalty is off (auth_penalty_base = 0). Never
 * fails otherwise: what cannot be opened is logged and done without. */
struct penalty *penalty_open(const struct conf *c, int state_fd);
void penalty_close(struct penalty **p);
/* Before a password check for user from remote. */
void penalty_begin(struct penalty *p, const char *remote, const char *user,
                   struct penalty_verdict *v);
/* After the check: a failure counts against both; a success clears the
 * source. */
void penalty_fail(struct penalty *p, const char *remote, const char *user);
void penalty_success(struct penalty *p, const char *remote);

#endif
