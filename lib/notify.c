/* SPDX-License-Identifier: AGPL-3.0-or-later */
#include "notify.h"

#include <hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include "log.h"
#include "mem.h"

struct notify {
	char *spec;
	redisContext *rc;
	bool failed; /* one failed attempt: do not retry in this session */
	bool subscribed;
};

struct notify *notify_new(const char *spec)
{
	if (spec == NULL || spec[0] == '\0')
		return NULL;
	struct notify *n = mem_zalloc(sizeof(*n));
	n->spec = mem_strdup(spec);
	return n;
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
		const char *colon = strrchr(n->spec, ':');
		int port = 6379;
		size_t hl = colon ? (size_t)(colon - n->spec) : strlen(n->spec);
		if (hl >= sizeof(host))
			hl = sizeof(host) - 1;
		memcpy(host, n->spec, hl);
		host[hl] = '\0';
		if (colon)
			port = atoi(colon + 1);
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
	return 0;
}

static void notify_drop(struct notify *n, const char *why)
{
	log_event(LOG_WARNING, "redis-error", "REASON", why, NULL);
	redisFree(n->rc);
	n->rc = NULL;
	n->failed = true;
}

int notify_publish(struct notify *n, const char *user_id, const char *msg)
{
	if (n == NULL || n->subscribed || notify_connect(n) < 0)
		return -1;
	redisReply *r = redisCommand(n->rc, "PUBLISH sealmail:user:%s %s", user_id, msg);
	if (r == NULL) {
		notify_drop(n, n->rc->errstr);
		return -1;
	}
	int rc = r->type == REDIS_REPLY_INTEGER ? 0 : -1;
	freeReplyObject(r);
	return rc;
}

int notify_publish_many(struct notify *n, const char *const *user_ids, size_t count,
                        const char *msg)
{
	if (count == 1)
		return notify_publish(n, user_ids[0], msg);
	if (n == NULL || n->subscribed || notify_connect(n) < 0)
		return -1;
	for (size_t i = 0; i < count; i++)
		if (redisAppendCommand(n->rc, "PUBLISH sealmail:user:%s %s", user_ids[i], msg) !=
		    REDIS_OK) {
			notify_drop(n, n->rc->errstr);
			return -1;
		}
	int rc = 0;
	for (size_t i = 0; i < count; i++) {
		void *reply = NULL;
		if (redisGetReply(n->rc, &reply) != REDIS_OK || reply == NULL) {
			notify_drop(n, n->rc->errstr);
			return -1;
		}
		if (((redisReply *)reply)->type != REDIS_REPLY_INTEGER)
			rc = -1;
		freeReplyObject(reply);
	}
	return rc;
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
	if (r->type == REDIS_REPLY_ARRAY && r->elements == 3 && r->element[2]->type == REDIS_REPLY_STRING) {
		snprintf(msg, msgsz, "%.*s", (int)r->element[2]->len, r->element[2]->str);
		rc = 1;
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
