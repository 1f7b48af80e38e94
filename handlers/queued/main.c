/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* queued: delivers the sealed outbound queue (docs/SENDING.md section 3).
 * Start-up (CONVENTIONS 5): log, config, open the queue and its key, warm
 * the resolver and OpenSSL, READY=1; then scan active/ at start, on every
 * inotify event of active/ and when the next try is due. Each due message:
 * lock its envelope, decrypt it into a sealed memfd, group the pending
 * recipients by domain, resolve, deliver each group in a child (at most
 * queued.max_children at once), record each recipient's outcome in the
 * state, enqueue a DSN for the ones that bounced, remove the message when
 * no recipient is pending. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/inotify.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <systemd/sd-daemon.h>
#include <time.h>
#include <unistd.h>

#include "base/fmt.h"
#include "base/rnd.h"
#include "queued.h"
#include "svc/queuekey.h"
#include "sys/log.h"
#include "sys/tls.h"

static volatile sig_atomic_t stop;
static void on_term(int sig)
{
	(void)sig;
	stop = 1;
}

static int64_t now_s(void)
{
	return (int64_t)time(NULL);
}

static int memfd_write(void *ctx, const unsigned char *p, size_t n)
{
	int fd = *(int *)ctx;
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Decrypt the message into a memfd sealed against change. fd or -1. */
static int message_memfd(struct qd *q, const char *id)
{
	int fd = memfd_create("message", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0)
		return -1;
	const char *err;
	if (queue_read_message(q->qfd, id, q->sk, memfd_write, &fd, &err) < 0) {
		log_event(LOG_ERR, "queue_read_failed", "ID", id, "ERROR", err, NULL);
		close(fd);
		return -1;
	}
	(void)fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL);
	return fd;
}

static const char *domain_of(const char *addr)
{
	const char *at = strrchr(addr, '@');
	return at != NULL ? at + 1 : "";
}

/* Attempt n (1-based) failed: the next try after retry_min * 2^(n-1),
 * capped at retry_max, with up to 10 % jitter so that messages deferred
 * together do not come back together. */
static int64_t next_try(const struct qd *q, uint32_t attempts, int64_t now)
{
	uint64_t ms = q->conf->queued_retry_min_ms;
	for (uint32_t i = 1; i < attempts && ms < q->conf->queued_retry_max_ms; i++)
		ms *= 2;
	if (ms > q->conf->queued_retry_max_ms)
		ms = q->conf->queued_retry_max_ms;
	ms += rnd_uniform((uint32_t)(ms / 10 + 1));
	return now + (int64_t)((ms + 999) / 1000);
}

/* Record one recipient's outcome ("CODE ENH TEXT"). */
static void outcome(const struct qd *q, const struct queue_env *env, struct queue_rcpt_state *r,
                    int code, const char *text, int64_t now)
{
	r->attempts++;
	r->last_try = now;
	if (code / 100 == 2) {
		r->status = QUEUE_RCPT_SENT;
		r->error[0] = '\0';
		return;
	}
	queue_state_set_error(r, text, strlen(text));
	if (code / 100 == 5) {
		r->status = QUEUE_RCPT_BOUNCED;
		return;
	}
	int64_t end = env->arrival + (int64_t)(q->conf->queue_lifetime_ms / 1000);
	r->next_try = next_try(q, r->attempts, now);
	if (r->next_try > end)
		r->next_try = end;
}

/* Read what a child wrote; parse its lines when it is done. */
static void child_finish(struct qd_child *ch, const struct qd *q, const struct queue_env *env,
                         struct queue_state *st, const char *id)
{
	int status = 0;
	/* Closed first: a child still writing gets EPIPE, never blocks. */
	close(ch->fd);
	(void)waitpid(ch->pid, &status, 0);
	bool *seen = calloc(ch->n, sizeof(bool));
	int64_t now = now_s();
	char *p = ch->buf, *end = ch->buf + ch->len;
	while (p < end && seen != NULL) {
		char *nl = memchr(p, '\n', (size_t)(end - p));
		if (nl == NULL)
			break;
		*nl = '\0';
		size_t i;
		int code, off = 0;
		if (strncmp(p, "tls ", 4) == 0) {
			log_event(LOG_INFO, "tls", "ID", id, "TLS", p + 4, NULL);
		} else if (sscanf(p, "%zu %d %n", &i, &code, &off) == 2 && off > 0 && i < ch->n &&
		           !seen[i]) {
			char text[QUEUE_ERROR_MAX + 1];
			const char *rest = p + off;
			const char *enh = strncmp(rest, "- ", 2) == 0 ? "" : rest;
			fmt_msg(text, sizeof(text), "%d %s", code, enh[0] ? enh : rest + 2);
			seen[i] = true;
			outcome(q, env, &st->rcpt[ch->idx[i]], code, text, now);
			log_event(code / 100 == 2 ? LOG_INFO : LOG_NOTICE, "delivery", "ID", id,
			          "RCPT", env->rcpt[ch->idx[i]].addr, "STATUS",
			          code / 100 == 2   ? "sent"
			          : code / 100 == 5 ? "bounced"
			                            : "deferred",
			          "REPLY", text, NULL);
		}
		p = nl + 1;
	}
	for (size_t i = 0; i < ch->n; i++)
		if (seen == NULL || !seen[i])
			outcome(q, env, &st->rcpt[ch->idx[i]], 451,
			        "451 4.3.0 delivery process failed", now);
	free(seen);
	free(ch->buf);
	ch->buf = NULL;
}

/* Wait until one of the running children is done; WATCHDOG=1 meanwhile. */
static size_t children_wait_one(struct qd_child *ch, size_t nch)
{
	for (;;) {
		struct pollfd pf[QD_CHILDREN_MAX];
		size_t np = 0;
		for (size_t i = 0; i < nch && np < QD_CHILDREN_MAX; i++)
			pf[np++] = (struct pollfd){.fd = ch[i].fd, .events = POLLIN};
		int pr = poll(pf, np, 1000);
		(void)sd_notify(0, "WATCHDOG=1");
		if (stop) {
			/* Stopping: end the sessions; their recipients stay pending. */
			for (size_t i = 0; i < nch; i++)
				(void)kill(ch[i].pid, SIGTERM);
		}
		if (pr <= 0)
			continue;
		for (size_t i = 0; i < np; i++) {
			if (pf[i].revents == 0)
				continue;
			ssize_t r = read(ch[i].fd, ch[i].buf + ch[i].len, ch[i].cap - ch[i].len);
			if (r > 0)
				ch[i].len += (size_t)r;
			if (r == 0 || (r < 0 && errno != EINTR) || ch[i].len == ch[i].cap)
				return i;
		}
	}
}

/* Group the due recipients by domain (one group with a relayhost). idx gets
 * the recipients in group order, grp_start[g] where group g starts. */
static size_t group_due(const struct qd *q, const struct queue_env *env,
                        const struct queue_state *st, int64_t now, size_t *idx, size_t *grp_start)
{
	size_t n = 0, ng = 0;
	bool *taken = calloc(env->nrcpt + 1, sizeof(bool));
	if (taken == NULL)
		return 0;
	for (size_t i = 0; i < env->nrcpt; i++) {
		const struct queue_rcpt_state *r = &st->rcpt[i];
		if (taken[i] || r->status != QUEUE_RCPT_PENDING || r->next_try > now)
			continue;
		grp_start[ng++] = n;
		for (size_t j = i; j < env->nrcpt; j++) {
			const struct queue_rcpt_state *rj = &st->rcpt[j];
			if (taken[j] || rj->status != QUEUE_RCPT_PENDING || rj->next_try > now)
				continue;
			if (q->conf->relayhost[0] == '\0' &&
			    strcasecmp(domain_of(env->rcpt[j].addr),
			               domain_of(env->rcpt[i].addr)) != 0)
				continue;
			if (n - grp_start[ng - 1] == QD_RCPT_PER_CONN)
				grp_start[ng++] = n; /* the next connection to the same place */
			taken[j] = true;
			idx[n++] = j;
		}
	}
	grp_start[ng] = n;
	free(taken);
	return ng;
}

/* Expire the recipients past queue_lifetime (RFC 5321 section 4.5.4.1). */
static void expire(const struct qd *q, const struct queue_env *env, struct queue_state *st,
                   int64_t now)
{
	int64_t end = env->arrival + (int64_t)(q->conf->queue_lifetime_ms / 1000);
	for (size_t i = 0; i < env->nrcpt; i++) {
		struct queue_rcpt_state *r = &st->rcpt[i];
		if (r->status != QUEUE_RCPT_PENDING || now < end)
			continue;
		char text[QUEUE_ERROR_MAX + 1];
		fmt_msg(text, sizeof(text), "550 5.4.7 delivery time expired%s%.400s",
		        r->error[0] ? "; last error: " : "", r->error);
		queue_state_set_error(r, text, strlen(text));
		r->status = QUEUE_RCPT_BOUNCED;
	}
}

/* Deliver every group; each group's outcome lands in st. */
static void deliver_groups(struct qd *q, const char *id, const struct queue_env *env,
                           struct queue_state *st, int msgfd, size_t *idx, const size_t *gs,
                           size_t ng)
{
	static struct qd_child ch[QD_CHILDREN_MAX];
	size_t nch = 0, maxch = q->conf->queued_max_children;
	if (maxch > QD_CHILDREN_MAX)
		maxch = QD_CHILDREN_MAX;
	struct qd_dest *d = malloc(sizeof(*d));
	if (d == NULL)
		return;
	for (size_t g = 0; g < ng; g++) {
		size_t n = gs[g + 1] - gs[g];
		qd_resolve(q, domain_of(env->rcpt[idx[gs[g]]].addr), d);
		if (d->fail_code != 0) {
			for (size_t i = 0; i < n; i++) {
				outcome(q, env, &st->rcpt[idx[gs[g] + i]], d->fail_code, d->fail,
				        now_s());
				log_event(LOG_NOTICE, "delivery", "ID", id, "RCPT",
				          env->rcpt[idx[gs[g] + i]].addr, "STATUS",
				          d->fail_code / 100 == 5 ? "bounced" : "deferred", "REPLY",
				          d->fail, NULL);
			}
			continue;
		}
		if (nch == maxch) {
			size_t k = children_wait_one(ch, nch);
			child_finish(&ch[k], q, env, st, id);
			ch[k] = ch[--nch];
		}
		if (qd_child_start(q, msgfd, env, d, idx + gs[g], n, &ch[nch]) == 0)
			nch++;
		else
			for (size_t i = 0; i < n; i++)
				outcome(q, env, &st->rcpt[idx[gs[g] + i]], 451,
				        "451 4.3.0 fork failed", now_s());
	}
	while (nch > 0) {
		size_t k = children_wait_one(ch, nch);
		child_finish(&ch[k], q, env, st, id);
		ch[k] = ch[--nch];
	}
	free(d);
}

/* The bounced recipients whose DSN is due: newly bounced ones (before[i]
 * was pending) whose NOTIFY allows a failure report (RFC 3461 section
 * 4.1: absent NOTIFY means FAILURE,DELAY), never for the null sender. */
static size_t dsn_due(const struct queue_env *env, const struct queue_state *st,
                      const bool *was_pending, size_t *out)
{
	size_t n = 0;
	if (env->from[0] == '\0')
		return 0;
	for (size_t i = 0; i < env->nrcpt; i++) {
		unsigned nt = env->rcpt[i].notify;
		if (!was_pending[i] || st->rcpt[i].status != QUEUE_RCPT_BOUNCED)
			continue;
		if (nt != 0 && !(nt & SMTP_NOTIFY_FAILURE))
			continue;
		out[n++] = i;
	}
	return n;
}

/* One due message. Returns its earliest next try (or INT64_MAX). */
static int64_t process_message(struct qd *q, const char *id, struct queue_env *env,
                               struct queue_state *st)
{
	int64_t now = now_s();
	size_t *idx = calloc(env->nrcpt + 1, sizeof(size_t));
	size_t *gs = calloc(env->nrcpt + 2, sizeof(size_t));
	bool *was = calloc(env->nrcpt + 1, sizeof(bool));
	int msgfd = -1;
	if (idx == NULL || gs == NULL || was == NULL)
		goto out;
	for (size_t i = 0; i < env->nrcpt; i++)
		was[i] = st->rcpt[i].status == QUEUE_RCPT_PENDING;
	expire(q, env, st, now);
	size_t ng = group_due(q, env, st, now, idx, gs);
	msgfd = message_memfd(q, id);
	if (msgfd < 0)
		goto out;
	deliver_groups(q, id, env, st, msgfd, idx, gs, ng);
	/* A DSN is enqueued before the state that records the bounce is saved:
	 * a crash between the two sends the report twice, never not at all. */
	size_t nb = dsn_due(env, st, was, idx);
	if (nb > 0)
		(void)qd_dsn_enqueue(q, env, st, msgfd, idx, nb);
	if (queue_state_save(q->qfd, id, q->pk, st) < 0)
		log_event(LOG_ERR, "state_save_failed", "ID", id, "ERROR", strerror(errno), NULL);
out:
	if (msgfd >= 0)
		close(msgfd);
	free(idx);
	free(gs);
	free(was);
	int64_t next = INT64_MAX;
	bool pending = false;
	for (size_t i = 0; i < env->nrcpt; i++) {
		if (st->rcpt[i].status != QUEUE_RCPT_PENDING)
			continue;
		pending = true;
		if (st->rcpt[i].next_try < next)
			next = st->rcpt[i].next_try;
	}
	if (!pending && queue_remove(q->qfd, id) == 0)
		log_event(LOG_INFO, "removed", "ID", id, NULL);
	return next;
}

/* One pass over active/: every message whose next try is due. Returns the
 * earliest next try of what stays. */
static int64_t scan(struct qd *q)
{
	struct queue_entry *e = NULL;
	size_t n = 0;
	int64_t next = INT64_MAX;
	if (queue_list(q->qfd, &e, &n) < 0) {
		log_event(LOG_ERR, "queue_list_failed", "ERROR", strerror(errno), NULL);
		return now_s() + 60;
	}
	for (size_t i = 0; i < n && !stop; i++) {
		struct queue_env env;
		struct queue_state st;
		const char *err;
		char path[128];
		(void)sd_notify(0, "WATCHDOG=1");
		if (fmt_name(path, sizeof(path), "active/%s.envelope", e[i].id) < 0)
			continue;
		/* sealctl takes the same lock before it changes a message. */
		int lfd = openat(q->qfd, path, O_RDONLY | O_CLOEXEC);
		if (lfd < 0)
			continue;
		if (flock(lfd, LOCK_EX | LOCK_NB) < 0) {
			close(lfd);
			if (now_s() + 5 < next)
				next = now_s() + 5;
			continue;
		}
		if (queue_read_meta(q->qfd, e[i].id, q->sk, &env, &st, &err) < 0) {
			log_event(LOG_ERR, "queue_read_failed", "ID", e[i].id, "ERROR", err, NULL);
			close(lfd);
			continue;
		}
		int64_t due = INT64_MAX;
		for (size_t k = 0; k < env.nrcpt; k++)
			if (st.rcpt[k].status == QUEUE_RCPT_PENDING && st.rcpt[k].next_try < due)
				due = st.rcpt[k].next_try;
		int64_t end = env.arrival + (int64_t)(q->conf->queue_lifetime_ms / 1000);
		if (due != INT64_MAX && due > end)
			due = end;
		if (!st.held && (due <= now_s() || due == INT64_MAX))
			due = process_message(q, e[i].id, &env, &st);
		if (!st.held && due < next)
			next = due;
		queue_env_clear(&env);
		queue_state_clear(&st);
		close(lfd);
	}
	free(e);
	return next;
}

/* Wait up to ms for a new message: an envelope renamed into active/ (the
 * queue's commit point). Renames of our own state files are not news. */
static void wait_new(int ifd, int ms)
{
	int64_t end = now_s() * 1000 + ms;
	for (;;) {
		struct pollfd pf = {.fd = ifd, .events = POLLIN};
		int left = (int)(end - now_s() * 1000);
		if (stop || left <= 0 || poll(&pf, 1, left) <= 0)
			return;
		char ev[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
		bool news = false;
		ssize_t r;
		while ((r = read(ifd, ev, sizeof(ev))) > 0) {
			for (ssize_t off = 0; off + (ssize_t)sizeof(struct inotify_event) <= r;) {
				const struct inotify_event *e = (const void *)(ev + off);
				size_t nl = e->len > 0 ? strnlen(e->name, e->len) : 0;
				if (nl > 9 && memcmp(e->name + nl - 9, ".envelope", 9) == 0)
					news = true;
				/* queue/wake: written by sealctl queue retry|release. */
				if (nl == 4 && memcmp(e->name, "wake", 4) == 0)
					news = true;
				if (e->mask & IN_Q_OVERFLOW)
					news = true;
				off += (ssize_t)sizeof(struct inotify_event) + e->len;
			}
		}
		if (news)
			return;
	}
}

static int setup(struct qd *q, const char *conf_flag)
{
	const char *err;
	q->conf = conf_new();
	if (conf_load(q->conf, conf_path(conf_flag), &err) < 0)
		log_fatal("config: %s", err);
	char path[4096];
	if (fmt_name(path, sizeof(path), "%s/queue", q->conf->state_dir) < 0)
		log_fatal("state_dir too long");
	q->qfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (q->qfd < 0)
		log_fatal("%s: %s (run sealctl init)", path, strerror(errno));
	if (queuekey_load(q->conf, q->sk, &err) < 0)
		log_fatal("%s", err);
	if (queue_pubkey_load(q->qfd, q->pk) < 0)
		log_fatal("queue.pub: %s", strerror(errno));
	q->dns = dns_new(q->conf, &err);
	if (q->dns == NULL || dns_warm(q->dns) < 0)
		log_event(LOG_WARNING, "resolver_unusable", "ERROR",
		          q->dns == NULL ? err : "warm-up failed", NULL);
	tls_warm();
	q->tls = tls_client_ctx(0, &err);
	if (q->tls == NULL)
		log_fatal("TLS client context: %s", err);
	int ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (fmt_name(path, sizeof(path), "%s/queue/active", q->conf->state_dir) < 0)
		log_fatal("state_dir too long");
	/* An envelope renamed in is a new message (the commit point). */
	if (ifd < 0 || inotify_add_watch(ifd, path, IN_MOVED_TO) < 0)
		log_fatal("inotify on %s: %s", path, strerror(errno));
	path[strlen(path) - strlen("/active")] = '\0';
	if (inotify_add_watch(ifd, path, IN_CLOSE_WRITE) < 0)
		log_fatal("inotify on %s: %s", path, strerror(errno));
	return ifd;
}

int main(int argc, char **argv)
{
	const char *conf_flag = NULL;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-c") == 0 && i + 1 < argc)
			conf_flag = argv[++i];
		else {
			fprintf(stderr, "usage: queued [-c CONFIG]\n");
			return 2;
		}
	}
	log_init("queued");
	struct sigaction sa = {.sa_handler = on_term};
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	static struct qd q;
	int ifd = setup(&q, conf_flag);
	size_t cleaned = 0;
	(void)queue_clean(q.qfd, 86400, &cleaned);
	(void)sd_notify(0, "READY=1");
	log_event(LOG_INFO, "started", "RELAYHOST", q.conf->relayhost[0] ? q.conf->relayhost : NULL,
	          NULL);
	int64_t last_clean = now_s();
	while (!stop) {
		int64_t next = scan(&q);
		(void)sd_notify(0, "WATCHDOG=1");
		if (now_s() - last_clean > 3600) {
			(void)queue_clean(q.qfd, 86400, NULL);
			last_clean = now_s();
		}
		int64_t wait_s = next == INT64_MAX ? 30 : next - now_s();
		if (wait_s > 30)
			wait_s = 30; /* the watchdog, and a rescan now and then */
		if (wait_s <= 0)
			continue;
		wait_new(ifd, (int)wait_s * 1000);
	}
	(void)sd_notify(0, "STOPPING=1");
	explicit_bzero(q.sk, sizeof(q.sk));
	log_event(LOG_INFO, "stopped", NULL);
	return 0;
}
