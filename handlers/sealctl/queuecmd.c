/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* sealctl queue: the outbound queue for the administrator. Reads the queue's
 * secret key (queue_key; as root, a credential name is also looked for in
 * /etc/sealmail/, where production keeps it). Every change takes the lock
 * queued takes on the message's envelope, so it never races a delivery. */
#include "queuecmd.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/fmt.h"
#include "data/queue.h"
#include "svc/queuekey.h"

/* sealctl's exit codes (main.c). */
#define EX_OK_Q   0
#define EX_FAIL_Q 3

static const char *age_text(int64_t s, char *out, size_t outsz)
{
	if (s < 120)
		fmt_msg(out, outsz, "%llds", (long long)s);
	else if (s < 7200)
		fmt_msg(out, outsz, "%lldm", (long long)(s / 60));
	else if (s < 172800)
		fmt_msg(out, outsz, "%lldh", (long long)(s / 3600));
	else
		fmt_msg(out, outsz, "%lldd", (long long)(s / 86400));
	return out;
}

static const char *status_name(enum queue_rcpt_status s)
{
	return s == QUEUE_RCPT_SENT ? "sent" : s == QUEUE_RCPT_BOUNCED ? "bounced" : "pending";
}

static int load_key(const struct conf *c, unsigned char sk[AGE_KEY_LEN])
{
	const char *err;
	if (queuekey_load(c, sk, &err) == 0)
		return 0;
	if (strchr(c->queue_key, '/') == NULL) {
		char path[4096];
		if (fmt_name(path, sizeof(path), "/etc/sealmail/%s", c->queue_key) == 0 &&
		    queue_seckey_load(AT_FDCWD, path, sk) == 0)
			return 0;
	}
	fprintf(stderr, "sealctl: %s\n", err);
	return -1;
}

static void list_one(int qfd, const struct queue_entry *e, const unsigned char *sk)
{
	struct queue_env env;
	struct queue_state st;
	const char *err;
	char age[32];
	if (queue_read_meta(qfd, e->id, sk, &env, &st, &err) < 0) {
		printf("%s  (unreadable: %s)\n", e->id, err);
		return;
	}
	printf("%s  %s  %llu  <%s>%s\n", e->id,
	       age_text((int64_t)time(NULL) - env.arrival, age, sizeof(age)),
	       (unsigned long long)e->sealed_size, env.from, st.held ? "  held" : "");
	for (size_t i = 0; i < env.nrcpt; i++) {
		const struct queue_rcpt_state *r = &st.rcpt[i];
		printf("    %s  %s  tries=%u%s%s\n", env.rcpt[i].addr, status_name(r->status),
		       (unsigned)r->attempts, r->error[0] ? "  " : "", r->error);
	}
	queue_env_clear(&env);
	queue_state_clear(&st);
}

static int cmd_list(int qfd, const unsigned char *sk)
{
	struct queue_entry *e;
	size_t n;
	if (queue_list(qfd, &e, &n) < 0) {
		fprintf(stderr, "sealctl: queue: %s\n", strerror(errno));
		return EX_FAIL_Q;
	}
	for (size_t i = 0; i < n; i++)
		list_one(qfd, &e[i], sk);
	if (n == 0)
		printf("queue is empty\n");
	free(e);
	return EX_OK_Q;
}

static int write_stdout(void *ctx, const unsigned char *p, size_t n)
{
	(void)ctx;
	return fwrite(p, 1, n, stdout) == n ? 0 : -1;
}

static int cmd_show(int qfd, const unsigned char *sk, const char *id, bool body)
{
	struct queue_env env;
	struct queue_state st;
	const char *err;
	if (queue_read_meta(qfd, id, sk, &env, &st, &err) < 0) {
		fprintf(stderr, "sealctl: %s: %s\n", id, err);
		return EX_FAIL_Q;
	}
	struct buf out = BUF_INIT;
	int rc = EX_OK_Q;
	if (queue_env_format(&env, &out) == 0 && queue_state_format(&st, &out) == 0)
		fwrite(out.data, 1, out.len, stdout);
	buf_free(&out);
	if (body) {
		printf("\n");
		fflush(stdout);
		if (queue_read_message(qfd, id, sk, write_stdout, NULL, &err) < 0) {
			fprintf(stderr, "sealctl: %s: %s\n", id, err);
			rc = EX_FAIL_Q;
		}
	}
	queue_env_clear(&env);
	queue_state_clear(&st);
	return rc;
}

/* Lock a message as queued does; waits up to 30 s for a delivery in
 * progress. The descriptor, or -1 (reported). */
static int lock_message(int qfd, const char *id)
{
	char path[128];
	if (fmt_name(path, sizeof(path), "active/%s.envelope", id) < 0 ||
	    !queue_id_parse(id, NULL)) {
		fprintf(stderr, "sealctl: %s: not a queue id\n", id);
		return -1;
	}
	int fd = openat(qfd, path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		fprintf(stderr, "sealctl: %s: %s\n", id,
		        errno == ENOENT ? "no such message" : strerror(errno));
		return -1;
	}
	for (int i = 0; i < 300; i++) {
		if (flock(fd, LOCK_EX | LOCK_NB) == 0)
			return fd;
		usleep(100000);
	}
	fprintf(stderr, "sealctl: %s: being delivered, try again\n", id);
	close(fd);
	return -1;
}

/* hold, release, retry, delete of one message. */
static int change(int qfd, const unsigned char *sk, const char *verb, const char *id)
{
	int lfd = lock_message(qfd, id);
	if (lfd < 0)
		return EX_FAIL_Q;
	int rc = EX_OK_Q;
	if (strcmp(verb, "delete") == 0) {
		if (queue_remove(qfd, id) < 0) {
			fprintf(stderr, "sealctl: %s: %s\n", id, strerror(errno));
			rc = EX_FAIL_Q;
		}
		close(lfd);
		return rc;
	}
	struct queue_env env;
	struct queue_state st;
	const char *err;
	unsigned char pk[AGE_KEY_LEN];
	if (queue_pubkey_load(qfd, pk) < 0 || queue_read_meta(qfd, id, sk, &env, &st, &err) < 0) {
		fprintf(stderr, "sealctl: %s: cannot read\n", id);
		close(lfd);
		return EX_FAIL_Q;
	}
	if (strcmp(verb, "hold") == 0 || strcmp(verb, "release") == 0)
		st.held = strcmp(verb, "hold") == 0;
	else
		for (size_t i = 0; i < st.n; i++)
			if (st.rcpt[i].status == QUEUE_RCPT_PENDING)
				st.rcpt[i].next_try = (int64_t)time(NULL);
	if (queue_state_save(qfd, id, pk, &st) < 0) {
		fprintf(stderr, "sealctl: %s: %s\n", id, strerror(errno));
		rc = EX_FAIL_Q;
	}
	queue_env_clear(&env);
	queue_state_clear(&st);
	close(lfd);
	/* Wake queued (it watches queue/ for this name) to look again now. */
	int wfd = openat(qfd, "wake", O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0640);
	if (wfd >= 0)
		close(wfd);
	return rc;
}

static int retry_all(int qfd, const unsigned char *sk)
{
	struct queue_entry *e;
	size_t n;
	if (queue_list(qfd, &e, &n) < 0) {
		fprintf(stderr, "sealctl: queue: %s\n", strerror(errno));
		return EX_FAIL_Q;
	}
	int rc = EX_OK_Q;
	for (size_t i = 0; i < n; i++)
		if (change(qfd, sk, "retry", e[i].id) != EX_OK_Q)
			rc = EX_FAIL_Q;
	free(e);
	return rc;
}

int sealctl_queue(const struct conf *c, int argc, char **argv)
{
	if (argc < 1)
		return -1;
	const char *verb = argv[0];
	bool body = argc == 3 && strcmp(argv[2], "--body") == 0;
	bool one = strcmp(verb, "show") == 0 || strcmp(verb, "hold") == 0 ||
	           strcmp(verb, "release") == 0 || strcmp(verb, "retry") == 0 ||
	           strcmp(verb, "delete") == 0;
	bool all = strcmp(verb, "retry") == 0 && argc == 1; /* retry every message */
	if (strcmp(verb, "list") == 0 ? argc != 1
	                              : !one || (argc != 2 && !all && !(body && verb[0] == 's')))
		return -1;
	char path[4096];
	if (fmt_name(path, sizeof(path), "%s/queue", c->state_dir) < 0)
		return EX_FAIL_Q;
	int qfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (qfd < 0) {
		fprintf(stderr, "sealctl: %s: %s\n", path, strerror(errno));
		return EX_FAIL_Q;
	}
	unsigned char sk[AGE_KEY_LEN];
	int rc = EX_FAIL_Q;
	if (load_key(c, sk) == 0) {
		if (strcmp(verb, "list") == 0)
			rc = cmd_list(qfd, sk);
		else if (strcmp(verb, "show") == 0)
			rc = cmd_show(qfd, sk, argv[1], body);
		else if (all)
			rc = retry_all(qfd, sk);
		else
			rc = change(qfd, sk, verb, argv[1]);
	}
	explicit_bzero(sk, sizeof(sk));
	close(qfd);
	return rc;
}
