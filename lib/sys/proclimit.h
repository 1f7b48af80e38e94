/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* Per-process memory ceilings (RLIMIT_AS) of the login handlers (imapd,
 * pop3d): whatever a client sends, a front or a back cannot grow past a
 * size measured for its work, so one user cannot take the host's memory.
 * The values and their measurements are in proclimit.c; docs/SECURITY.md
 * ("Memory limits") has the whole picture, with the units' MemoryMax= and
 * TasksMax=. RLIMIT_NPROC is the sandbox's (sandbox/sandbox.c: 0 for every
 * profile that never forks). Trust: admin (set before serving). */
#ifndef SEALMAIL_PROCLIMIT_H
#define SEALMAIL_PROCLIMIT_H

#include <stdint.h>

#include "conf.h"

enum proclimit_role {
	PROCLIMIT_FRONT, /* a pre-auth front: bounded lines, TLS, then the relay */
	PROCLIMIT_BACK,  /* a back once the user is known: the mailbox, one message at a time */
};

/* The RLIMIT_AS of role under configuration c, in bytes (the back's grows
 * with max_message_size: APPEND and the spool import hold one message). */
uint64_t proclimit_as_bytes(enum proclimit_role role, const struct conf *c);
/* Lower this process's RLIMIT_AS, soft and hard, to proclimit_as_bytes (never
 * raise it: a lower LimitAS= of the unit stays). Past it an allocation
 * fails, which ends the process (lib/base/mem.h) without a transaction
 * half-written. A no-op in sanitizer builds, whose shadow memory is
 * terabytes of address space. 0, or -1 (logged). */
int proclimit_apply(enum proclimit_role role, const struct conf *c);

#endif
