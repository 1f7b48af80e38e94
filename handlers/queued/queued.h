/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* queued: the outbound delivery daemon (docs/SENDING.md section 3). */
#ifndef SEALMAIL_QUEUED_H
#define SEALMAIL_QUEUED_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <openssl/ssl.h>

#include "crypto/age.h"
#include "data/queue.h"
#include "svc/dns.h"
#include "sys/conf.h"

#define QD_CHILDREN_MAX 64 /* children at once, whatever queued.max_children says */
#define QD_ADDR_MAX     16 /* addresses tried per destination and attempt */

struct qd {
	struct conf *conf;
	int qfd; /* queue/ */
	unsigned char sk[AGE_KEY_LEN];
	unsigned char pk[AGE_KEY_LEN];
	struct dns *dns;
	SSL_CTX *tls;
};

/* Where one group of recipients goes: the addresses in order, or a failure
 * found while resolving (code 4xx/5xx with its text, no address). */
struct qd_dest {
	struct sockaddr_storage addr[QD_ADDR_MAX];
	socklen_t addrlen[QD_ADDR_MAX];
	size_t naddr;
	char host[QD_ADDR_MAX][256];
	int fail_code;
	char fail[QUEUE_ERROR_MAX + 1]; /* "550 5.1.10 …" */
};

/* route.c */
void qd_resolve(struct qd *q, const char *domain, struct qd_dest *d);

/* deliver.c: one destination in a child. The child never holds the key. */
struct qd_child {
	pid_t pid;
	int fd;      /* results, read by the parent */
	size_t *idx; /* the envelope's recipient indexes */
	size_t n;
	char *buf; /* malloc'd: QD_REPORT_LINE_MAX per recipient and a tls line */
	size_t cap, len;
};
/* One report line: index, code, enhanced code, host, reply text. */
#define QD_REPORT_LINE_MAX 800
/* Recipients per connection: RFC 5321 section 4.5.3.1.8 makes 100 the least
 * a server must take in one transaction. */
#define QD_RCPT_PER_CONN 100
int qd_child_start(struct qd *q, int msgfd, const struct queue_env *env, const struct qd_dest *d,
                   size_t *idx, size_t n, struct qd_child *ch);

/* dsn.c: enqueue one RFC 3464 report for the recipients bounced[] (indexes,
 * n > 0). 0, or -1 (logged). */
int qd_dsn_enqueue(struct qd *q, const struct queue_env *env, const struct queue_state *st,
                   int msgfd, const size_t *bounced, size_t n);

#endif
