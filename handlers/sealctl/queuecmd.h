/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* sealctl queue: list, show, retry, hold, release, delete (docs/SENDING.md
 * section 6). */
#ifndef SEALMAIL_SEALCTL_QUEUE_H
#define SEALMAIL_SEALCTL_QUEUE_H

#include "sys/conf.h"

/* argv[0] is the subcommand. Returns a sealctl exit code, or -1 for a
 * usage error. */
int sealctl_queue(const struct conf *c, int argc, char **argv);

#endif
