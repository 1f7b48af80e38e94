/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* The queue's secret key as the configuration names it (queue_key): an
 * absolute path, a path relative to state_dir (it holds a '/'; the default
 * queue/queue.key), or a bare name in $CREDENTIALS_DIRECTORY (systemd
 * LoadCredential=, as tls_key). With the default, a credential named
 * queue.key is used when systemd passes one (the shipped unit does).
 * Read by queued and `sealctl queue`.
 * Trust: admin. */
#ifndef SEALMAIL_QUEUEKEY_H
#define SEALMAIL_QUEUEKEY_H

#include "crypto/age.h"
#include "sys/conf.h"

/* conf.c's default for queue_key. */
#define QUEUEKEY_DEFAULT "queue/queue.key"

/* 0 with sk filled (the caller wipes it), or -1 with *error_r (static). */
int queuekey_load(const struct conf *c, unsigned char sk[AGE_KEY_LEN], const char **error_r);

#endif
