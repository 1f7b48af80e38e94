/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* Local delivery for the MX handlers (DESIGN section 3): resolve a recipient
 * through directory.db to local users, then seal one copy per user into
 * users/<id>/spool (tmp, fsync, rename, directory fsync) and publish "new" on
 * the user's Redis channel. Holds no user secret. Trust: post-DATA; the
 * message comes from the network and is never interpreted here. */
#ifndef SEALMAIL_DELIVER_H
#define SEALMAIL_DELIVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "crypto/age.h"
#include "base/buf.h"
#include "sys/conf.h"

#define DELIVER_ID_MAX   33 /* user id: 32 hex + NUL */
#define DELIVER_ADDR_MAX 256

struct deliver_target {
	char user_id[DELIVER_ID_MAX];
	char address[DELIVER_ADDR_MAX]; /* the user's address: Delivered-To */
	unsigned char pk[AGE_KEY_LEN];
	size_t group;      /* index of the RCPT that produced it */
	int result;        /* after deliver_run: 0 ok, or a reply code */
	const char *reply; /* failure reply line (static) */
};

struct deliver;

/* Open the users directory under state_dir. NULL with *error_r. The
 * directory database and Redis are per connection: see
 * deliver_session_begin. */
struct deliver *deliver_new(const struct conf *c, const char **error_r);
void deliver_free(struct deliver **d);
/* In the process that serves the connection (after the accept loop's fork:
 * neither an SQLite handle nor a Redis connection may cross fork). Both are
 * opened on first use, inside the sandbox: directory.db read-only at the
 * first recipient, Redis at the first notification (failure to reach it is
 * logged and ignored). */
void deliver_session_begin(struct deliver *d);
/* In an accept loop, before each fork: keep an in-memory snapshot of the
 * directory (directory_snapshot), renewed whenever the file changed, for
 * the next child to inherit instead of opening the file: that open was
 * two thirds of the page faults of a one-message session. On failure the
 * children open the file themselves (logged once). */
void deliver_loop_refresh(struct deliver *d);
/* In an accept loop, once: a datagram socketpair over which the children
 * pass the ids of users to notify, so that the loop publishes them on one
 * Redis connection instead of each child connecting. Returns the loop's end
 * to poll, or -1 (no Redis configured, or no socketpair: children publish
 * themselves). */
int deliver_loop_relay(struct deliver *d);
/* The loop's end is readable: publish what the children sent (user ids
 * only; anything else is ignored). After a Redis failure nothing is
 * published for 5 s (sessions poll meanwhile); delivery never waits. */
void deliver_loop_publish(struct deliver *d);

/* Resolve addr (local@domain, or "postmaster") into local users, appending
 * to *targets (grown with mem_realloc) with group set. 1 accepted; 0
 * refused with *reply_r (550 5.1.1 unknown user, 550 5.7.1 relay denied,
 * 452 4.2.2 over quota, 550 5.7.1 external targets not yet deliverable);
 * -1 temporary failure with *reply_r (451 4.3.0). */
int deliver_resolve(struct deliver *d, const char *addr, size_t group,
                    struct deliver_target **targets, size_t *ntargets, const char **reply_r);

/* Deliver one message to every target. prefix is written before each copy
 * (Return-Path, Received); then "Delivered-To: <address>" and msg.
 * all_or_nothing (SMTP): every copy is fsync'd before any is committed, and
 * one failure aborts all. Otherwise (LMTP) each group stands alone. Targets
 * for the same user share one copy. Sets every target's result; returns the
 * number of targets delivered. */
size_t deliver_run(struct deliver *d, const struct buf *prefix, const unsigned char *msg,
                   size_t len, struct deliver_target *targets, size_t ntargets, bool all_or_nothing,
                   const char *queue_id);
/* deliver_run, but when flags is not NULL every copy starts with an
 * X-Sealmail-Flags field carrying them (spool_write_flags): a milter's
 * quarantine delivers with "$Quarantined folder=Junk". */
size_t deliver_run_flags(struct deliver *d, const struct buf *prefix, const unsigned char *msg,
                         size_t len, struct deliver_target *targets, size_t ntargets,
                         bool all_or_nothing, const char *queue_id, const char *flags);

#endif
