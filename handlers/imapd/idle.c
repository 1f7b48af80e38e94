/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* IDLE (RFC 2177). Changes reach an idling session through Redis (our own
 * channel sealmail:user:<id>: "new" from the MX, "changed <modseq>" from
 * other sessions) within milliseconds; without Redis, inotify on the user's
 * directory (the spool and the mailbox's WAL) wakes us; a periodic check
 * covers anything missed. Trust: post-auth. */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "imapd.h"
#include "sys/log.h"
#include "svc/confine.h"
#include "base/timeutil.h"

/* Keep NAT boxes and clients convinced the connection lives (Dovecot sends
 * its "Still here" every 2 minutes too). */
#define IDLE_KEEPALIVE_MS 120000
/* Safety net when neither Redis nor inotify tells us anything. */
#define IDLE_POLL_MS 30000

static void idle_drain(int fd)
{
	char buf[4096];
	while (read(fd, buf, sizeof(buf)) > 0)
		;
}

int imap_cmd_idle(struct imap_sess *s, const struct imapparse_arg *args, size_t n)
{
	enum imap_state prior = s->state;
	struct notify *sub = notify_new(s->conf->redis);
	bool redis_ok = sub != NULL && notify_subscribe(sub, s->user_id) == 0;
	/* Set before the POSTAUTH sandbox, which forbids adding watches
	 * (lib/svc/confine.c); what it saw before this IDLE is old news. */
	int ino = confine_user_watch_fd();
	if (ino >= 0)
		idle_drain(ino);
	/* Report what happened before the IDLE started. */
	if (s->sel != NULL)
		imap_sync(s, true);
	imap_set_state(s, IMAP_ST_IDLE);
	io_puts(&s->io, "+ idling\r\n");
	if (io_flush(&s->io) < 0)
		goto out_end;
	/* An idling client may wait for hours: the page cache, the cached
	 * statements, the connection's buffers and free heap go back to the
	 * system meanwhile. */
	io_trim(&s->io);
	store_trim(s->st);
	int64_t started = timeutil_mono_ms(), last_io = started, last_check = started;
	for (;;) {
		int64_t now = timeutil_mono_ms();
		if (now - started >= (int64_t)s->conf->imapd_idle_timeout_ms) {
			imap_untagged(s, "BYE Disconnected for inactivity.");
			io_flush(&s->io);
			goto out_end;
		}
		struct pollfd p[3];
		int np = 0, ri = -1, ii = -1;
		p[np++] = (struct pollfd){.fd = s->io.rfd, .events = POLLIN};
		if (redis_ok) {
			ri = np;
			p[np++] = (struct pollfd){.fd = notify_fd(sub), .events = POLLIN};
		}
		if (ino >= 0) {
			ii = np;
			p[np++] = (struct pollfd){.fd = ino, .events = POLLIN};
		}
		int timeout = IDLE_POLL_MS;
		if (io_pending(&s->io) > 0)
			timeout = 0;
		int r = poll(p, (nfds_t)np, timeout);
		if (r < 0 && errno != EINTR)
			goto out_end;
		bool wake = false;
		if (ri >= 0 && (p[ri].revents & (POLLIN | POLLHUP | POLLERR))) {
			char msg[NOTIFY_MSG_MAX];
			int k;
			while ((k = notify_read(sub, msg, sizeof(msg))) == 1)
				wake = true;
			if (k < 0) {
				redis_ok = false; /* inotify and polling carry on */
				wake = true;
			}
		}
		if (ii >= 0 && (p[ii].revents & POLLIN)) {
			idle_drain(ino);
			wake = true;
		}
		now = timeutil_mono_ms();
		if (now - last_check >= IDLE_POLL_MS)
			wake = true;
		if (wake && s->sel != NULL) {
			last_check = now;
			size_t before = s->io.out.len;
			imap_sync(s, true);
			if (s->io.out.len != before)
				last_io = now;
			if (io_flush(&s->io) < 0)
				goto out_end;
			if (s->state == IMAP_ST_LOGOUT)
				goto out_end;
			/* Our own import wrote the WAL: forget that event. */
			if (ino >= 0)
				idle_drain(ino);
			store_trim(s->st);
		}
		if (now - last_io >= IDLE_KEEPALIVE_MS) {
			imap_untagged(s, "OK Still here");
			last_io = now;
			if (io_flush(&s->io) < 0)
				goto out_end;
		}
		if (io_pending(&s->io) > 0 || (p[0].revents & (POLLIN | POLLHUP | POLLERR))) {
			char *line;
			size_t len;
			/* A "DONE" trickled a byte at a time ends at the line
			 * deadline (imapd.command_timeout), with a BYE. */
			int lr = io_read_line(&s->io, &line, &len, 64);
			if (lr < 0 && s->io.err == IO_TIMEOUT)
				imap_timeout_bye(s);
			if (lr <= 0 &&
			    !(lr < 0 && (s->io.err == IO_TOOLONG || s->io.err == IO_BARELF ||
			                 s->io.err == IO_BARECR)))
				goto out_end;
			if (lr == 1 && strcasecmp(line, "DONE") == 0)
				imap_ok(s, "Idle completed.");
			else
				imap_bad(s, "Expected DONE.");
			break;
		}
	}
	imap_set_state(s, prior);
	notify_free(&sub);
	return 0;
out_end:
	notify_free(&sub);
	return -1;
}
