/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* Change notification between handlers over Redis pub/sub (DESIGN section 3).
 * Channel `sealmail:user:<id>`; messages carry no content: "new" or
 * "changed <modseq>". Redis is optional: every call is bounded by a short
 * timeout and failure only costs latency (sessions fall back to polling);
 * delivery never depends on it. Trust: any. */
#ifndef SEALMAIL_NOTIFY_H
#define SEALMAIL_NOTIFY_H

#include <stdbool.h>
#include <stddef.h>

#define NOTIFY_TIMEOUT_MS 200
#define NOTIFY_MSG_MAX    128

/* Redis 6 ACL user that sealmail authenticates as (docs/INSTALL.md). */
#define NOTIFY_USER         "sealmail"
#define NOTIFY_PASSWORD_MAX 512

struct notify;
struct conf;

/* Read redis_password (a file, or a credential name as tls_key takes it)
 * once per process, before its sandbox; later connections send
 * AUTH NOTIFY_USER <password>. 0 (also when redis or redis_password is
 * empty, or after an earlier call), -1 with *error_r. Never logged. */
int notify_password_load(const struct conf *c, const char **error_r);
/* On a new Redis connection fd, before any other command: AUTH NOTIFY_USER
 * <password> when a password is loaded (nothing otherwise). NULL, or why it
 * failed. Every sealmail Redis connection goes through it. */
const char *notify_auth(int fd);
/* Wipe the password (stages that never talk to Redis) and load no more. */
void notify_password_forget(void);

/* spec: "unix:/path" or "host:port"; NULL or "" means disabled (returns
 * NULL). The connection is made lazily on first use. */
struct notify *notify_new(const char *spec);
/* Connect now (before a sandbox narrows what we may open): 0/-1. */
int notify_connect(struct notify *n);
/* PUBLISH msg on the user's channel: 0 sent, -1 failed (logged once). */
int notify_publish(struct notify *n, const char *user_id, const char *msg);
/* The same for n users at once, in one round trip (pipelined): 0 all sent,
 * -1 failed (logged once). */
int notify_publish_many(struct notify *n, const char *const *user_ids, size_t count,
                        const char *msg);
/* SUBSCRIBE to the user's channel on this connection (it becomes a
 * subscriber connection): 0/-1. Then poll notify_fd() for input. */
int notify_subscribe(struct notify *n, const char *user_id);
int notify_fd(const struct notify *n);
/* After notify_fd() polled readable: 1 one message copied into msg, 0 none
 * complete yet, -1 connection lost. */
int notify_read(struct notify *n, char *msg, size_t msgsz);
void notify_free(struct notify **n);
/* In a process forked from n's owner: close the connection's socket and set
 * *n to NULL without freeing anything. The memory is the parent's; freeing
 * it would write to, and so copy, the pages the two processes still share. */
void notify_forsake(struct notify **n);
/* Pure parser of the reply to PUBLISH, a RESP integer (":<n>\r\n"), at the
 * start of in[0..len): 1 complete, with *used its length; 0 more bytes
 * needed; -1 anything else (an error reply, another type, a malformed or
 * overlong number). */
int notify_parse_integer(const char *in, size_t len, size_t *used);

#endif
