/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* Process titles: what `ps` shows for each process, as Postfix, Dovecot and
 * OpenSSH do it ("imapd: alice@example.org 203.0.113.5 IDLE", "smtpd:
 * 198.51.100.7 DATA"), through libbsd's setproctitle. Trust: the text may
 * hold what a client sent (an address); bytes outside printable ASCII are
 * shown as '?', and a title is at most TITLE_MAX bytes. */
#ifndef SEALMAIL_TITLE_H
#define SEALMAIL_TITLE_H

#define TITLE_MAX 200

/* Once, first thing in main(): makes room for titles (libbsd moves the
 * environment out of the way of argv). prog names every later title. */
void title_init(int argc, char **argv, const char *prog);
/* "prog: <formatted text>". Before title_init, nothing happens. */
void title_set(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
