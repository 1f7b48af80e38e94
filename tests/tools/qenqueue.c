/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* Tests: enqueue the message on stdin into STATE_DIR/queue with the queue's
 * public key, as submitd does (lib/data/queue.h), and print its id.
 *     qenqueue [-u] STATE_DIR FROM RCPT[:NOTIFY] ...
 * -u marks the message as needing SMTPUTF8 (RFC 6531).
 * FROM "" is the null sender; NOTIFY is "never" or a list such as
 * "failure,delay" (the envelope's words). */
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/fmt.h"
#include "data/queue.h"

static unsigned notify_of(const char *s)
{
	unsigned n = 0;
	if (strstr(s, "never") != NULL)
		n |= SMTP_NOTIFY_NEVER;
	if (strstr(s, "success") != NULL)
		n |= SMTP_NOTIFY_SUCCESS;
	if (strstr(s, "failure") != NULL)
		n |= SMTP_NOTIFY_FAILURE;
	if (strstr(s, "delay") != NULL)
		n |= SMTP_NOTIFY_DELAY;
	return n;
}

int main(int argc, char **argv)
{
	bool utf8 = argc > 1 && strcmp(argv[1], "-u") == 0;
	if (utf8) {
		argv++;
		argc--;
	}
	if (argc < 4) {
		fprintf(stderr, "usage: qenqueue STATE_DIR FROM RCPT[:NOTIFY]...\n");
		return 2;
	}
	char path[4096];
	if (fmt_name(path, sizeof(path), "%s/queue", argv[1]) < 0)
		return 1;
	int qfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	unsigned char pk[AGE_KEY_LEN];
	if (qfd < 0 || queue_pubkey_load(qfd, pk) < 0) {
		perror(path);
		return 1;
	}
	struct queue_env env = {.body = SMTP_BODY_8BITMIME, .smtputf8 = utf8};
	fmt_msg(env.handler, sizeof(env.handler), "submitd");
	fmt_msg(env.from, sizeof(env.from), "%s", argv[2]);
	for (int i = 3; i < argc; i++) {
		char addr[SMTP_PATH_MAX + 1];
		fmt_msg(addr, sizeof(addr), "%s", argv[i]);
		char *colon = strchr(addr, ':');
		unsigned nt = 0;
		if (colon != NULL) {
			*colon = '\0';
			nt = notify_of(colon + 1);
		}
		if (queue_env_add_rcpt(&env, addr, nt, "") < 0)
			return 1;
	}
	enum queue_result r;
	struct queue_enqueue *q = queue_enqueue_begin(qfd, pk, &r);
	if (q == NULL || queue_enqueue_from_fd(q, 0) != QUEUE_OK ||
	    queue_enqueue_prepare(q, &env) != QUEUE_OK || queue_enqueue_commit(q) != QUEUE_OK) {
		fprintf(stderr, "qenqueue: failed\n");
		return 1;
	}
	printf("%s\n", env.id);
	queue_enqueue_free(&q);
	queue_env_clear(&env);
	return 0;
}
