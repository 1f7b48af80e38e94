/* SPDX-License-Identifier: AGPL-3.0-or-later */
#include "notify.h"

#include <bsd/stdlib.h>
#include <errno.h>
#include <fcntl.h>
#include <hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "sys/io.h"
#include "sys/conf.h"
#include "sys/log.h"
#include "sys/tls.h"
#include "base/mem.h"

struct notify {
	char *spec;
	redisContext *rc;
	bool failed; /* one failed attempt: do not retry in this session */
	bool subscribed;
};

/* The Redis user's password (redis_password), read once per process before
 * its sandbox (confine_enter) and kept for the connections it makes later;
 * wiped in the stages that never talk to Redis. */
static char notify_pw[NOTIFY_PASSWORD_MAX + 3];
static size_t notify_pw_len;
static bool notify_pw_done;

/* Read the password from fd into notify_pw: one line, the newline (LF or
 * CRLF) not part of it. 0, or -1 with *error_r. */
static int notify_password_read(int fd, const char **error_r)
{
	size_t have = 0;
	for (;;) {
		ssize_t k = read(fd, notify_pw + have, sizeof(notify_pw) - have);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0) {
			*error_r = "cannot read the password file";
			return -1;
		}
		if (k == 0)
			break;
		have += (size_t)k;
		if (have == sizeof(notify_pw)) {
			*error_r = "password longer than 512 bytes";
			return -1;
		}
	}
	if (have > 0 && notify_pw[have - 1] == '\n')
		have--;
	if (have > 0 && notify_pw[have - 1] == '\r')
		have--;
	if (have == 0 || memchr(notify_pw, '\n', have) != NULL ||
	    memchr(notify_pw, '\r', have) != NULL || have > NOTIFY_PASSWORD_MAX) {
		*error_r = "the password file must hold one non-empty line of at most 512 bytes";
		return -1;
	}
	notify_pw_len = have;
	return 0;
}

int notify_password_load(const struct conf *c, const char **error_r)
{
	static char why[600];
	if (notify_pw_done)
		return 0;
	notify_pw_done = true;
	if (c->redis[0] == '\0' || c->redis_password[0] == '\0')
		return 0;
	char path[4096];
	const char *err;
	/* Resolved like tls_key: a path, or a name in $CREDENTIALS_DIRECTORY. */
	if (tls_resolve_path(c->redis_password, path, sizeof(path), &err) < 0) {
		*error_r = err;
		return -1;
	}
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		(void)snprintf(why, sizeof(why), "%.512s: %s", path, strerror(errno));
		*error_r = why;
		return -1;
	}
	int rc = notify_password_read(fd, error_r);
	close(fd);
	if (rc < 0)
		notify_password_forget();
	return rc;
}

void notify_password_forget(void)
{
	explicit_bzero(notify_pw, sizeof(notify_pw));
	notify_pw_len = 0;
	notify_pw_done = true;
}

/* AUTH NOTIFY_USER <password> (Redis 6 ACLs) on a new connection, before any
 * other command. Written from a stack buffer that is wiped at once (hiredis
 * would keep the command in heap buffers it frees unwiped); the reply, "+OK"
 * or an error line, read with the connection's timeout. NULL, or why not. */
const char *notify_auth(int fd)
{
	if (notify_pw_len == 0)
		return NULL;
	char cmd[64 + NOTIFY_PASSWORD_MAX];
	int hl = snprintf(cmd, sizeof(cmd), "*3\r\n$4\r\nAUTH\r\n$%zu\r\n%s\r\n$%zu\r\n",
	                  sizeof(NOTIFY_USER) - 1, NOTIFY_USER, notify_pw_len);
	/* The header is under 64 bytes: the password and CRLF fit after it. */
	if (hl < 0 || (size_t)hl + notify_pw_len + 2 > sizeof(cmd))
		return "AUTH command too long";
	memcpy(cmd + hl, notify_pw, notify_pw_len);
	memcpy(cmd + (size_t)hl + notify_pw_len, "\r\n", 2);
	int w = io_send_all(fd, cmd, (size_t)hl + notify_pw_len + 2);
	explicit_bzero(cmd, sizeof(cmd));
	if (w < 0)
		return "cannot send AUTH";
	char in[256];
	size_t have = 0;
	while (have < 2 || memcmp(in + have - 2, "\r\n", 2) != 0) {
		ssize_t k = have < sizeof(in) ? recv(fd, in + have, sizeof(in) - have, 0) : -1;
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return "no reply to AUTH";
		have += (size_t)k;
	}
	if (have == 5 && memcmp(in, "+OK\r\n", 5) == 0)
		return NULL;
	return "Redis refused AUTH (check redis_password and the ACL of user sealmail)";
}

struct notify *notify_new(const char *spec)
{
	if (spec == NULL || spec[0] == '\0')
		return NULL;
	struct notify *n = mem_zalloc(sizeof(*n));
	n->spec = mem_strdup(spec);
	return n;
}

/* Split "host:port" (port 6379 when absent) into host and *port. NULL, or
 * why the spec is unusable: a cut host name or a wrapped port would connect
 * somewhere else. */
static const char *notify_split(const char *spec, char *host, size_t hostsz, int *port)
{
	const char *colon = strrchr(spec, ':');
	size_t hl = colon ? (size_t)(colon - spec) : strlen(spec);
	if (hl == 0 || hl >= hostsz)
		return "redis host name is empty or too long";
	memcpy(host, spec, hl);
	host[hl] = '\0';
	*port = 6379;
	if (colon != NULL) {
		const char *errstr;
		*port = (int)strtonum(colon + 1, 1, 65535, &errstr);
		if (errstr != NULL)
			return "redis port is not a number from 1 to 65535";
	}
	return NULL;
}

static void notify_drop(struct notify *n, const char *why)
{
	log_event(LOG_WARNING, "redis-error", "REASON", why, NULL);
	redisFree(n->rc);
	n->rc = NULL;
	n->failed = true;
}

int notify_connect(struct notify *n)
{
	if (n == NULL || n->failed)
		return -1;
	if (n->rc != NULL)
		return 0;
	struct timeval tv = {0, NOTIFY_TIMEOUT_MS * 1000};
	if (strncmp(n->spec, "unix:", 5) == 0) {
		n->rc = redisConnectUnixWithTimeout(n->spec + 5, tv);
	} else {
		char host[256];
		int port;
		const char *why = notify_split(n->spec, host, sizeof(host), &port);
		if (why != NULL) {
			log_event(LOG_WARNING, "redis-error", "REASON", why, NULL);
			n->failed = true;
			return -1;
		}
		n->rc = redisConnectWithTimeout(host, port, tv);
	}
	if (n->rc == NULL || n->rc->err) {
		log_event(LOG_WARNING, "redis-error", "REASON",
		          n->rc ? n->rc->errstr : "cannot allocate context", NULL);
		if (n->rc)
			redisFree(n->rc);
		n->rc = NULL;
		n->failed = true;
		return -1;
	}
	redisSetTimeout(n->rc, tv);
	const char *why = notify_auth(n->rc->fd);
	if (why != NULL) {
		notify_drop(n, why);
		return -1;
	}
	return 0;
}

/* PUBLISH is written and its reply read here rather than through
 * redisCommand, which allocates a command buffer, grows a reader buffer and
 * builds a reply object for every call: the MX accept loop publishes after
 * every delivery, and in a process that forks per connection each heap page
 * it writes is a page copied again after the next fork (three to four per
 * message). The commands are formatted on the stack, sent whole, and the
 * replies (one integer each) read into a stack buffer. hiredis still makes
 * the connection and serves subscribers. */
int notify_parse_integer(const char *in, size_t len, size_t *used)
{
	/* RESP integer: ':' [-] digits CRLF (at most 20 digits for 64 bits). */
	size_t i = 0;
	*used = 0;
	if (len == 0)
		return 0;
	if (in[i++] != ':')
		return -1;
	if (i < len && in[i] == '-')
		i++;
	size_t digits = 0;
	while (i < len && in[i] >= '0' && in[i] <= '9') {
		if (++digits > 20)
			return -1;
		i++;
	}
	if (i == len)
		return 0;
	if (digits == 0 || in[i] != '\r')
		return -1;
	if (++i == len)
		return 0;
	if (in[i++] != '\n')
		return -1;
	*used = i;
	return 1;
}

/* count integer replies; anything else is an error. */
static int notify_read_integers(int fd, size_t count, const char **why_r)
{
	char in[128];
	size_t have = 0;
	while (count > 0) {
		size_t used;
		int r = notify_parse_integer(in, have, &used);
		if (r < 0) {
			*why_r = have > 0 && in[0] == '-' ? "PUBLISH refused"
			                                  : "unexpected reply to PUBLISH";
			return -1;
		}
		if (r == 0) {
			ssize_t k =
			    have < sizeof(in) ? recv(fd, in + have, sizeof(in) - have, 0) : -1;
			if (k < 0 && errno == EINTR)
				continue;
			if (k <= 0) {
				*why_r = k == 0 ? "connection closed" : "no reply to PUBLISH";
				return -1;
			}
			have += (size_t)k;
			continue;
		}
		memmove(in, in + used, have - used);
		have -= used;
		count--;
	}
	if (have > 0) {
		*why_r = "unexpected data from Redis";
		return -1;
	}
	return 0;
}

int notify_publish_many(struct notify *n, const char *const *user_ids, size_t count,
                        const char *msg)
{
	if (n == NULL || n->subscribed || notify_connect(n) < 0)
		return -1;
	redisContext *c = n->rc;
	const char *why = "cannot write PUBLISH";
	/* A publishing connection has nothing pending between commands. */
	if (c->obuf[0] != '\0' || c->reader->pos != c->reader->len) {
		notify_drop(n, "Redis connection out of step");
		return -1;
	}
	for (size_t i = 0; i < count; i++) {
		char cmd[64 + NOTIFY_MSG_MAX + 256];
		size_t chl = sizeof("sealmail:user:") - 1 + strlen(user_ids[i]);
		int len =
		    snprintf(cmd, sizeof(cmd),
		             "*3\r\n$7\r\nPUBLISH\r\n$%zu\r\nsealmail:user:%s\r\n$%zu\r\n%s\r\n",
		             chl, user_ids[i], strlen(msg), msg);
		if (len < 0 || (size_t)len >= sizeof(cmd) ||
		    io_send_all(c->fd, cmd, (size_t)len) < 0) {
			notify_drop(n, why);
			return -1;
		}
	}
	if (notify_read_integers(c->fd, count, &why) < 0) {
		notify_drop(n, why);
		return -1;
	}
	return 0;
}

int notify_publish(struct notify *n, const char *user_id, const char *msg)
{
	return notify_publish_many(n, &user_id, 1, msg);
}

int notify_subscribe(struct notify *n, const char *user_id)
{
	if (n == NULL || notify_connect(n) < 0)
		return -1;
	redisReply *r = redisCommand(n->rc, "SUBSCRIBE sealmail:user:%s", user_id);
	if (r == NULL) {
		notify_drop(n, n->rc->errstr);
		return -1;
	}
	freeReplyObject(r);
	n->subscribed = true;
	return 0;
}

int notify_fd(const struct notify *n)
{
	return n != NULL && n->rc != NULL ? n->rc->fd : -1;
}

int notify_read(struct notify *n, char *msg, size_t msgsz)
{
	if (n == NULL || n->rc == NULL)
		return -1;
	void *reply = NULL;
	/* A reply may already be buffered from an earlier read: take it before
	 * reading the socket again. */
	if (redisGetReplyFromReader(n->rc, &reply) != REDIS_OK) {
		notify_drop(n, n->rc->errstr);
		return -1;
	}
	if (reply == NULL) {
		if (redisBufferRead(n->rc) != REDIS_OK ||
		    redisGetReplyFromReader(n->rc, &reply) != REDIS_OK) {
			notify_drop(n, n->rc->errstr);
			return -1;
		}
	}
	if (reply == NULL)
		return 0;
	redisReply *r = reply;
	int rc = 0;
	/* A message too long for msg is none of ours ("new", "changed <modseq>"):
	 * skipped whole, since a cut one could carry another modseq. */
	if (r->type == REDIS_REPLY_ARRAY && r->elements == 3 &&
	    r->element[2]->type == REDIS_REPLY_STRING && r->element[2]->len < msgsz) {
		int m = snprintf(msg, msgsz, "%.*s", (int)r->element[2]->len, r->element[2]->str);
		rc = m >= 0 && (size_t)m < msgsz ? 1 : 0;
	}
	freeReplyObject(r);
	return rc;
}

void notify_free(struct notify **np)
{
	struct notify *n = *np;
	if (n == NULL)
		return;
	if (n->rc)
		redisFree(n->rc);
	free(n->spec);
	free(n);
	*np = NULL;
}

void notify_forsake(struct notify **np)
{
	struct notify *n = *np;
	if (n == NULL)
		return;
	if (n->rc != NULL && n->rc->fd >= 0)
		close(n->rc->fd);
	*np = NULL;
}
