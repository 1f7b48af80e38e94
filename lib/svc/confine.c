/* SPDX-License-Identifier: AGPL-3.0-or-later */
#include "confine.h"

#include <bsd/stdlib.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "milter.h"
#include "penalty.h"
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
/* Paths a profile adds to its layout: run_dir, the penalty key. */
#define CONFINE_EXTRA_MAX 2

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
}

void confine_enter(enum sandbox_profile p, const struct conf *c, int state_fd, const char *user_id)
{
	uint16_t ports[CONFINE_PORTS_MAX];
	struct sandbox_fs_rule extra[CONFINE_EXTRA_MAX];
	struct sandbox_layout l;
	const char *err;
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
