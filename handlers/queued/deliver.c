/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* One destination's delivery, in a child process: the parent decrypted the
 * message into a sealed memfd; the child wipes its copy of the queue key at
 * once, so that a compromised SMTP session (the client parses whatever a
 * remote MX sends) can read this one message but no other queued mail. It
 * reports one line per recipient: "INDEX CODE ENH TEXT". */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/fmt.h"
#include "queued.h"
#include "svc/smtpclient.h"
#include "sys/io.h"
#include "sys/log.h"

static void child_report(int fd, const struct smtpc_result *res, size_t n, const char *host)
{
	struct buf out = BUF_INIT;
	if (res->tls)
		buf_printf(&out, "tls %s\n", res->tls_desc);
	for (size_t i = 0; i < n; i++) {
		const struct smtpc_reply *r = &res->rcpt[i];
		buf_printf(&out, "%zu %d %s %.255s: %s\n", i, r->code, r->enh[0] ? r->enh : "-",
		           host, r->text);
	}
	const unsigned char *p = out.data;
	size_t left = out.len;
	while (left > 0) {
		ssize_t w = write(fd, p, left);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			break;
		p += w;
		left -= (size_t)w;
	}
	buf_free(&out);
}

static void child_main(struct qd *q, int msgfd, const struct queue_env *env,
                       const struct qd_dest *d, const size_t *idx, size_t n, int outfd)
{
	struct stat sb;
	const unsigned char *data = (const unsigned char *)"";
	if (fstat(msgfd, &sb) == 0 && sb.st_size > 0) {
		void *m = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_PRIVATE, msgfd, 0);
		if (m == MAP_FAILED)
			_exit(2);
		data = m;
	}
	const char **rcpt = calloc(n, sizeof(*rcpt));
	const char **orcpt = calloc(n, sizeof(*orcpt));
	unsigned *notify = calloc(n, sizeof(*notify));
	struct smtpc_result res = {.rcpt = calloc(n, sizeof(struct smtpc_reply))};
	if (rcpt == NULL || orcpt == NULL || notify == NULL || res.rcpt == NULL)
		_exit(2);
	for (size_t i = 0; i < n; i++) {
		rcpt[i] = env->rcpt[idx[i]].addr;
		orcpt[i] = env->rcpt[idx[i]].orcpt;
		notify[i] = env->rcpt[idx[i]].notify;
	}
	struct smtpc_msg msg = {.data = data,
	                        .len = (size_t)sb.st_size,
	                        .from = env->from,
	                        .body = env->body,
	                        .smtputf8 = env->smtputf8,
	                        .envid = env->envid,
	                        .ret = env->ret,
	                        .nrcpt = n,
	                        .rcpt = rcpt,
	                        .notify = notify,
	                        .orcpt = orcpt};
	struct smtpc_opts o = {.helo = q->conf->hostname,
	                       .tls = q->tls,
	                       .connect_timeout_ms = (int)q->conf->queued_connect_timeout_ms,
	                       .timeout_cap_ms = (int)q->conf->queued_smtp_timeout_cap_ms};
	char lasterr[SMTPC_TEXT_MAX + 64] = "no address";
	for (size_t a = 0; a < d->naddr; a++) {
		struct in6_addr lit;
		/* RFC 6066 section 3: SNI names a host, never an address. */
		bool literal = inet_pton(AF_INET, d->host[a], &lit) == 1 ||
		               inet_pton(AF_INET6, d->host[a], &lit) == 1;
		o.sni = literal ? NULL : d->host[a];
		o.tls = q->tls;
		memset(res.rcpt, 0, n * sizeof(struct smtpc_reply));
		res.tls = res.tls_failed = false;
		int rc = smtpc_deliver((const struct sockaddr *)&d->addr[a], d->addrlen[a], &o,
		                       &msg, &res);
		if (rc < 0 && res.tls_failed) {
			/* RFC 7435 section 3: opportunistic TLS that fails falls back to
			 * plaintext with the same server. */
			o.tls = NULL;
			memset(res.rcpt, 0, n * sizeof(struct smtpc_reply));
			rc = smtpc_deliver((const struct sockaddr *)&d->addr[a], d->addrlen[a], &o,
			                   &msg, &res);
		}
		if (rc == 0) {
			child_report(outfd, &res, n, d->host[a]);
			_exit(0);
		}
		fmt_msg(lasterr, sizeof(lasterr), "%s", res.error);
	}
	/* No address took the message: every recipient is deferred. */
	for (size_t i = 0; i < n; i++) {
		res.rcpt[i].code = 451;
		fmt_msg(res.rcpt[i].enh, sizeof(res.rcpt[i].enh), "4.4.1");
		fmt_msg(res.rcpt[i].text, sizeof(res.rcpt[i].text), "%s", lasterr);
	}
	res.tls = false;
	child_report(outfd, &res, n, d->naddr > 0 ? d->host[d->naddr - 1] : "-");
	_exit(0);
}

int qd_child_start(struct qd *q, int msgfd, const struct queue_env *env, const struct qd_dest *d,
                   size_t *idx, size_t n, struct qd_child *ch)
{
	int p[2];
	ch->cap = (n + 1) * QD_REPORT_LINE_MAX;
	ch->buf = malloc(ch->cap);
	if (ch->buf == NULL)
		return -1;
	if (pipe2(p, O_CLOEXEC) < 0) {
		free(ch->buf);
		return -1;
	}
	pid_t pid = fork();
	if (pid < 0) {
		close(p[0]);
		close(p[1]);
		free(ch->buf);
		return -1;
	}
	if (pid == 0) {
		/* The child never holds the queue key (docs/SENDING.md section 5),
		 * nor the queue's descriptor; it cannot be ptraced or dumped by
		 * its user's other processes, and gains no privilege by exec. */
		explicit_bzero(q->sk, sizeof(q->sk));
		close(p[0]);
		close(q->qfd);
		(void)prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
		(void)prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
		(void)prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
		signal(SIGTERM, SIG_DFL);
		child_main(q, msgfd, env, d, idx, n, p[1]);
		_exit(0);
	}
	close(p[1]);
	ch->pid = pid;
	ch->fd = p[0];
	ch->idx = idx;
	ch->n = n;
	ch->len = 0;
	return 0;
}
