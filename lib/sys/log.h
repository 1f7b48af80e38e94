/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* Structured logging (DESIGN section 5). One event per call. Fields go to
 * journald as SEALMAIL_<KEY>=value when stderr is the journal stream (or
 * LOG_TARGET=journal), else as one line on stderr:
 *     <prio>event SEALMAIL_SESSION=… SEALMAIL_<KEY>=value …
 * with the same field names. A handler never writes logs to a socket: when
 * fd 2 is a socket that is not the journal stream (inetd), events go to the
 * journal. Values are escaped (non-printable bytes as \xNN, '"' and '\' with
 * a backslash) and truncated, because many come from the client. In the text
 * form a value that is not a plain token is quoted, with '=' written \x3d as
 * well: every '=' of a line ends a key, so no value can look like a field
 * (etc/fail2ban/filter.d/sealmail.conf relies on it). Journal fields keep
 * '='. Never pass secrets or message content.
 * Trust: any. */
#ifndef SEALMAIL_LOG_H
#define SEALMAIL_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <syslog.h>

#define LOG_VALUE_MAX 200 /* bytes of a value kept before "..." */

enum log_target { LOG_TARGET_STDERR, LOG_TARGET_JOURNAL };

/* ident becomes SYSLOG_IDENTIFIER. Target: LOG_TARGET=journal|stderr, else
 * journal if $JOURNAL_STREAM names fd 2 or fd 2 is a socket, else stderr.
 * SEALMAIL_DEBUG=1 lets LOG_DEBUG events through. */
void log_init(const char *ident);
enum log_target log_target(void);
/* Sticky fields added to every later event: key without the SEALMAIL_
 * prefix ("SESSION", "REMOTE", "USER"); value NULL removes the field. */
void log_set(const char *key, const char *value);
/* Emit event with NULL-terminated (key, value) pairs of strings; keys are
 * upper-case without the SEALMAIL_ prefix, NULL values are skipped. */
void log_event(int prio, const char *event, ...) __attribute__((sentinel));
/* Free-text message (event "message", field MESSAGE). */
void log_msg(int prio, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Log at LOG_CRIT and exit(1): a server fault, never a client error. */
void log_fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
/* Escape and truncate value into out (size outsz) as it would be logged. */
void log_escape(const char *value, char *out, size_t outsz);

#endif
