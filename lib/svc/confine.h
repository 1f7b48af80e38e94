/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* The standard sandbox of each profile for this configuration: which state
 * files, which TCP ports (Redis and every milter list) and which run_dir a
 * handler at that stage may reach. Above svc/ because the ports come from
 * the milter lists' syntax. Trust: admin (configuration). */
#ifndef SEALMAIL_CONFINE_H
#define SEALMAIL_CONFINE_H

#include <stdint.h>

#include "sandbox.h"
#include "sys/conf.h"

/* The TCP port of a Redis spec ("host:port", as the redis key takes it):
 * 1..65535, or 0 for "unix:/path", a spec without a port and a port that is
 * not a decimal number in that range (such a spec gets no Landlock rule;
 * notify refuses it too). */
uint16_t confine_port_of(const char *spec);

/* Enter a sandbox profile with the standard rules for this configuration:
 * state_fd (see sandbox_enter_layout), user_id for POSTAUTH, the TCP ports
 * of Redis and the milters (none for PREAUTH_FRONT and AUTH), and run_dir
 * (KDF slot files) for ACCEPT. A
 * failure is fatal: no handler serves a client unconfined. */
void confine_enter(enum sandbox_profile p, const struct conf *c, int state_fd, const char *user_id);
/* Ask this process's confine_enter(POSTAUTH) to set inotify watches on
 * users/<id>/spool/new and users/<id>/ first (imapd's IDLE without Redis):
 * the POSTAUTH seccomp filter refuses inotify_add_watch, since Landlock
 * does not stop a watch on another user's directory. */
void confine_want_user_watch(void);
/* Add the outbound queue's rules (queue/tmp write, queue/active make by
 * rename, queue.pub read) to this process's ACCEPT and SUBMIT profiles:
 * submitd, whose back enqueues after login. */
void confine_want_queue(void);
/* Those watches: an inotify descriptor (non-blocking, owned by this module
 * for the rest of the process), or -1 when none were set. */
int confine_user_watch_fd(void);
/* In an accept loop, before its own sandbox: build the Landlock ruleset of
 * profile p (no user) once, for every child's confine_enter(p, …, NULL) to
 * apply (sandbox_prepare_layout). A failure is logged; children then build
 * their own. */
void confine_prepare(enum sandbox_profile p, const struct conf *c, int state_fd);

#endif
