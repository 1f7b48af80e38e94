/* SPDX-License-Identifier: AGPL-3.0-or-later */
#include "confine.h"

#include <bsd/stdlib.h>
#include <fcntl.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/inotify.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "milter.h"
#include "penalty.h"
#include "notify.h"
#include "data/queue.h"
#include "sys/log.h"

uint16_t confine_port_of(const char *spec)
{
	const char *colon = strrchr(spec, ':');
	if (strncmp(spec, "unix:", 5) == 0 || colon == NULL)
		return 0;
	const char *errstr;
	long long v = strtonum(colon + 1, 1, 65535, &errstr);
	return errstr == NULL ? (uint16_t)v : 0;
}

static size_t confine_tcp_ports(const struct conf *c, uint16_t *ports, size_t max)
{
	size_t n = 0;
	const char *lists[] = {c->smtpd_milters, c->lmtpd_milters, c->submitd_milters};
	if (c->redis[0] != '\0' && confine_port_of(c->redis) != 0)
		ports[n++] = confine_port_of(c->redis);
	for (size_t i = 0; i < sizeof(lists) / sizeof(lists[0]); i++)
		n += milter_tcp_ports(lists[i], c, ports + n, max - n);
	return n;
}

/* Redis and every milter list's TCP ports. */
#define CONFINE_PORTS_MAX 32
/* Paths a profile adds to its layout: run_dir, the penalty key, and the
 * queue's three paths (confine_want_queue). */
#define CONFINE_EXTRA_MAX 5

static bool confine_queue_wanted;

void confine_want_queue(void)
{
	confine_queue_wanted = true;
}

/* The outbound queue for an enqueuing process (docs/SENDING.md section 7):
 * tmp/ make, write and remove its own files; active/ make files (by rename
 * only: REFER) but remove none, so that a compromised session can add mail
 * but neither delete nor replace queued mail; queue.pub read. Paths that do
 * not exist (no queue made by sealctl init) get no rule: enqueuing then
 * fails, logged, with a temporary error. */
static void confine_queue_rules(int state_fd, struct sandbox_layout *l,
                                struct sandbox_fs_rule extra[CONFINE_EXTRA_MAX])
{
	static const struct {
		const char *path;
		unsigned access;
	} q[] = {
	    {"queue/tmp", SANDBOX_FS_LIST | SANDBOX_FS_WRITE | SANDBOX_FS_CREATE | SANDBOX_FS_REMOVE |
	                      SANDBOX_FS_RENAME},
	    {"queue/active", SANDBOX_FS_LIST | SANDBOX_FS_CREATE | SANDBOX_FS_RENAME},
	    {"queue/" QUEUE_PUB_FILE, SANDBOX_FS_READ},
	};
	for (size_t i = 0; i < sizeof(q) / sizeof(q[0]) && l->nextra < CONFINE_EXTRA_MAX; i++)
		if (state_fd >= 0 && faccessat(state_fd, q[i].path, F_OK, AT_EACCESS) == 0)
			extra[l->nextra++] = (struct sandbox_fs_rule){state_fd, q[i].path, q[i].access};
}

/* The layout of profile p; ports and extra are its storage. */
static void confine_layout(enum sandbox_profile p, const struct conf *c, int state_fd,
                           const char *user_id, struct sandbox_layout *l,
                           uint16_t ports[CONFINE_PORTS_MAX],
                           struct sandbox_fs_rule extra[CONFINE_EXTRA_MAX])
{
	*l = (struct sandbox_layout){.state_fd = state_fd, .user_id = user_id};
	/* The pre-auth front talks to nothing but its client and its back;
	 * authentication (directory.db and the KDF) connects nowhere. */
	if (p != SANDBOX_PREAUTH_FRONT && p != SANDBOX_AUTH) {
		l->ntcp_ports = confine_tcp_ports(c, ports, CONFINE_PORTS_MAX);
		l->tcp_ports = ports;
	}
	l->extra = extra;
	if (p == SANDBOX_ACCEPT && access(c->run_dir, F_OK) == 0) {
		/* The back processes take KDF slots (lock files) and map the
		 * penalty table in run_dir. */
		extra[l->nextra++] = (struct sandbox_fs_rule){-1, c->run_dir, SANDBOX_FS_SQLITE};
	}
	if (p == SANDBOX_ACCEPT && c->redis[0] != '\0' && state_fd >= 0 &&
	    faccessat(state_fd, PENALTY_KEY_FILE, F_OK, AT_EACCESS) == 0) {
		/* ... and read the key naming penalties in Redis. */
		extra[l->nextra++] =
		    (struct sandbox_fs_rule){state_fd, PENALTY_KEY_FILE, SANDBOX_FS_READ};
	}
	if (confine_queue_wanted && (p == SANDBOX_ACCEPT || p == SANDBOX_SUBMIT))
		confine_queue_rules(state_fd, l, extra);
}

static bool confine_watch_wanted;
static int confine_watch = -1;

void confine_want_user_watch(void)
{
	confine_watch_wanted = true;
}

int confine_user_watch_fd(void)
{
	return confine_watch;
}

/* The watches a session after login needs, set while it still may: Landlock
 * does not govern inotify_add_watch (nor stat), so the POSTAUTH seccomp
 * filter forbids it, and a compromised session cannot watch another user's
 * spool/new to learn when and how much mail arrives. New mail (spool/new)
 * and other sessions' writes (the mailbox's WAL in users/<id>/). Without
 * them (too many inotify instances for this user, say) IDLE still checks
 * periodically. */
static void confine_set_user_watch(const struct conf *c, const char *user_id)
{
	char path[4200];
	if (!confine_watch_wanted || confine_watch >= 0 || user_id == NULL ||
	    strchr(user_id, '/') != NULL || user_id[0] == '.' || user_id[0] == '\0')
		return;
	int fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (fd < 0) {
		log_event(LOG_WARNING, "inotify-unavailable", "REASON", strerror(errno), NULL);
		return;
	}
	/* A cut path would watch another directory. */
	int k = snprintf(path, sizeof(path), "%s/users/%s/spool/new", c->state_dir, user_id);
	if (k < 0 || (size_t)k >= sizeof(path) ||
	    inotify_add_watch(fd, path, IN_MOVED_TO | IN_CREATE) < 0) {
		close(fd);
		return;
	}
	/* Shorter than the one above, so it fits. */
	k = snprintf(path, sizeof(path), "%s/users/%s", c->state_dir, user_id);
	if (k >= 0 && (size_t)k < sizeof(path))
		inotify_add_watch(fd, path, IN_MODIFY);
	confine_watch = fd;
}

void confine_enter(enum sandbox_profile p, const struct conf *c, int state_fd, const char *user_id)
{
	uint16_t ports[CONFINE_PORTS_MAX];
	struct sandbox_fs_rule extra[CONFINE_EXTRA_MAX];
	struct sandbox_layout l;
	const char *err;
	if (p == SANDBOX_POSTAUTH)
		confine_set_user_watch(c, user_id);
	/* The Redis password: read while the file is reachable by the stages
	 * that talk to Redis; gone from those that never do (the pre-auth
	 * front and authentication, forked from an accept loop that has it). */
	if (p == SANDBOX_PREAUTH_FRONT || p == SANDBOX_AUTH)
		notify_password_forget();
	else if (notify_password_load(c, &err) < 0)
		/* Not fatal: delivery never depends on Redis (sessions poll). */
		log_event(LOG_ERR, "redis-error", "REASON", "redis_password unusable", "DETAIL",
		          err, NULL);
	confine_layout(p, c, state_fd, user_id, &l, ports, extra);
	if (sandbox_enter_layout(p, &l, &err) < 0)
		log_fatal("sandbox %s: %s", sandbox_profile_name(p), err);
	sandbox_test_hook(sandbox_profile_name(p));
}

void confine_prepare(enum sandbox_profile p, const struct conf *c, int state_fd)
{
	uint16_t ports[CONFINE_PORTS_MAX];
	struct sandbox_fs_rule extra[CONFINE_EXTRA_MAX];
	struct sandbox_layout l;
	const char *err;
	confine_layout(p, c, state_fd, NULL, &l, ports, extra);
	/* Not fatal: each child then builds its own. */
	if (sandbox_prepare_layout(p, &l, &err) < 0)
		log_event(LOG_WARNING, "sandbox-prepare-failed", "PROFILE", sandbox_profile_name(p),
		          "REASON", err, NULL);
}
