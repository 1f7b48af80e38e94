/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* The outbound queue's files (lib/data/queue): envelope and state text forms
 * (round trips, hostile input), keys, enqueue/read/remove, the age tool as
 * the independent check of the sealing, and crashes at every step and at
 * random points (SIGKILL) leaving either a complete message or nothing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/fmt.h"
#include "crypto/age.h"
#include "data/queue.h"

struct fixture {
	char dir[64];
	int statefd, qfd;
	unsigned char pk[AGE_KEY_LEN], sk[AGE_KEY_LEN];
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	if (fmt_name(f->dir, sizeof(f->dir), "/tmp/test_queue.XXXXXX") < 0 || mkdtemp(f->dir) == NULL)
		return -1;
	f->statefd = open(f->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (f->statefd < 0 || queue_create_dirs(f->statefd) < 0)
		return -1;
	f->qfd = openat(f->statefd, "queue", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (f->qfd < 0 || queue_keys_create(f->qfd) != 1 || queue_pubkey_load(f->qfd, f->pk) < 0 ||
	    queue_seckey_load(f->qfd, QUEUE_KEY_FILE, f->sk) < 0)
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[128];
	close(f->qfd);
	close(f->statefd);
	assert_int_equal(fmt_name(cmd, sizeof(cmd), "rm -rf '%s'", f->dir), 0);
	if (system(cmd) != 0)
		return -1;
	free(f);
	return 0;
}

static size_t count_entries(int qfd, const char *sub)
{
	int fd = openat(qfd, sub, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(fd >= 0);
	DIR *d = fdopendir(fd);
	assert_non_null(d);
	size_t n = 0;
	struct dirent *de;
	while ((de = readdir(d)) != NULL)
		n += de->d_name[0] != '.';
	closedir(d);
	return n;
}

/* An envelope with every field set. */
static void full_env(struct queue_env *e)
{
	memset(e, 0, sizeof(*e));
	memcpy(e->id, "1700000000123456.0123456789abcdef", 34);
	e->arrival = 1700000000;
	memcpy(e->handler, "submitd", 8);
	memcpy(e->user, "alice@example.test", 19);
	memcpy(e->from, "\"a b\"@example.test", 19);
	memcpy(e->envid, "env+id=1 x", 11);
	e->ret = SMTP_RET_HDRS;
	e->body = SMTP_BODY_8BITMIME;
	e->smtputf8 = true;
	e->requiretls = true;
	assert_int_equal(queue_env_add_rcpt(e, "bob@example.org", 0, ""), 0);
	assert_int_equal(queue_env_add_rcpt(e, "j\xc3\xb6rg@b\xc3\xbc" "cher.example", SMTP_NOTIFY_NEVER,
					    "utf-8;j\xc3\xb6rg@example"),
			 0);
	assert_int_equal(queue_env_add_rcpt(e, "c@example.net",
					    SMTP_NOTIFY_SUCCESS | SMTP_NOTIFY_DELAY, "rfc822;c+x@y"),
			 0);
}

static void assert_env_equal(const struct queue_env *a, const struct queue_env *b)
{
	assert_string_equal(a->id, b->id);
	assert_int_equal(a->arrival, b->arrival);
	assert_string_equal(a->handler, b->handler);
	assert_string_equal(a->user, b->user);
	assert_string_equal(a->from, b->from);
	assert_string_equal(a->envid, b->envid);
	assert_int_equal(a->ret, b->ret);
	assert_int_equal(a->body, b->body);
	assert_int_equal(a->smtputf8, b->smtputf8);
	assert_int_equal(a->requiretls, b->requiretls);
	assert_int_equal(a->nrcpt, b->nrcpt);
	for (size_t i = 0; i < a->nrcpt; i++) {
		assert_string_equal(a->rcpt[i].addr, b->rcpt[i].addr);
		assert_int_equal(a->rcpt[i].notify, b->rcpt[i].notify);
		assert_string_equal(a->rcpt[i].orcpt, b->rcpt[i].orcpt);
	}
}

static void test_env_roundtrip(void **state)
{
	struct queue_env e, back;
	struct buf t = BUF_INIT;
	full_env(&e);
	assert_int_equal(queue_env_format(&e, &t), 0);
	/* xtext keeps the format's separators out of values (RFC 3461 4). */
	assert_non_null(strstr((char *)t.data, "envid env+2Bid+3D1+20x\n"));
	assert_non_null(strstr((char *)t.data, "rcpt success,delay rfc822;c+2Bx@y c@example.net\n"));
	assert_int_equal(queue_env_parse(t.data, t.len, &back), 1);
	assert_env_equal(&e, &back);
	queue_env_clear(&back);
	/* The minimal envelope: null sender, nothing optional. */
	struct queue_env m;
	memset(&m, 0, sizeof(m));
	memcpy(m.id, e.id, sizeof(m.id));
	memcpy(m.handler, "smtpd", 6);
	assert_int_equal(queue_env_add_rcpt(&m, "x@y.example", 0, NULL), 0);
	buf_reset(&t);
	assert_int_equal(queue_env_format(&m, &t), 0);
	assert_string_equal((char *)t.data, "sealmail-queue-envelope 1\nid 1700000000123456.0123456789abcdef\n"
					    "arrival 0\nhandler smtpd\nfrom \nrcpt - - x@y.example\nend\n");
	assert_int_equal(queue_env_parse(t.data, t.len, &back), 1);
	assert_env_equal(&m, &back);
	queue_env_clear(&back);
	queue_env_clear(&m);
	queue_env_clear(&e);
	buf_free(&t);
}

static void test_env_format_refuses(void **state)
{
	struct queue_env e;
	struct buf t = BUF_INIT;
	full_env(&e);
	e.rcpt[1].notify = SMTP_NOTIFY_NEVER | SMTP_NOTIFY_FAILURE; /* RFC 3461 4.1 */
	assert_int_equal(queue_env_format(&e, &t), -1);
	assert_int_equal(t.len, 0);
	e.rcpt[1].notify = 0;
	memcpy(e.rcpt[0].addr, "a\r\nrcpt - - evil@x", 19); /* a line injected */
	assert_int_equal(queue_env_format(&e, &t), -1);
	memcpy(e.rcpt[0].addr, "a@b", 4);
	memcpy(e.handler, "Sub mitd", 9);
	assert_int_equal(queue_env_format(&e, &t), -1);
	memcpy(e.handler, "submitd", 8);
	e.from[0] = '\x7f';
	assert_int_equal(queue_env_format(&e, &t), -1);
	e.from[0] = 'x';
	assert_int_equal(queue_env_format(&e, &t), 0);
	queue_env_clear(&e);
	struct queue_env none;
	memset(&none, 0, sizeof(none));
	memcpy(none.id, "1700000000123456.0123456789abcdef", 34);
	memcpy(none.handler, "smtpd", 6);
	assert_int_equal(queue_env_format(&none, &t), -1); /* no recipient */
	/* Limits of queue_env_add_rcpt. */
	char longaddr[SMTP_PATH_MAX + 2];
	memset(longaddr, 'a', sizeof(longaddr) - 1);
	longaddr[sizeof(longaddr) - 1] = '\0';
	assert_int_equal(queue_env_add_rcpt(&none, longaddr, 0, ""), -1);
	for (size_t i = 0; i < QUEUE_RCPT_MAX; i++)
		assert_int_equal(queue_env_add_rcpt(&none, "a@b", 0, ""), 0);
	assert_int_equal(queue_env_add_rcpt(&none, "a@b", 0, ""), -1);
	queue_env_clear(&none);
	buf_free(&t);
}

static int parse_str(const char *s)
{
	struct queue_env e;
	int r = queue_env_parse((const unsigned char *)s, strlen(s), &e);
	if (r == 1)
		queue_env_clear(&e);
	else
		assert_int_equal(e.nrcpt, 0);
	return r;
}

#define HEAD "sealmail-queue-envelope 1\nid 1700000000123456.0123456789abcdef\narrival 5\n"

static void test_env_hostile(void **state)
{
	assert_int_equal(parse_str(HEAD "handler smtpd\nfrom a@b\nrcpt - - c@d\nend\n"), 1);
	static const char *const bad[] = {
	    "",
	    "sealmail-queue-envelope 2\n",
	    HEAD "handler smtpd\nfrom a@b\nrcpt - - c@d\nend",                /* no LF */
	    HEAD "handler smtpd\nfrom a@b\nrcpt - - c@d\nend\n\n",            /* trailing */
	    HEAD "handler smtpd\nfrom a@b\nrcpt - - c@d\nend\nrcpt - - e@f\n", /* after end */
	    HEAD "handler smtpd\nfrom a@b\nend\n",                             /* no rcpt */
	    HEAD "handler smtpd\nfrom a@b\r\nrcpt - - c@d\nend\n",             /* CR */
	    HEAD "handler smtpd\nfrom a\tb\nrcpt - - c@d\nend\n",              /* TAB */
	    HEAD "handler smtpd\nhandler smtpd\nfrom a@b\nrcpt - - c@d\nend\n", /* twice */
	    HEAD "handler smtpd\nfrom a@b\nret full\nenvid x\nrcpt - - c@d\nend\n", /* order */
	    HEAD "handler smtpd\nfrom a@b\nrcpt never,success - c@d\nend\n",
	    HEAD "handler smtpd\nfrom a@b\nrcpt delay,failure - c@d\nend\n", /* not canonical */
	    HEAD "handler smtpd\nfrom a@b\nrcpt - +zz c@d\nend\n",
	    HEAD "handler smtpd\nfrom a@b\nrcpt - +41 c@d\nend\n", /* 'A' needs no escape */
	    HEAD "handler smtpd\nfrom a@b\nrcpt - +00 c@d\nend\n", /* NUL */
	    HEAD "handler smtpd\nfrom a@b\nrcpt - +2b c@d\nend\n", /* lower-case hex */
	    HEAD "handler smtpd\nfrom a@b\nrcpt - + c@d\nend\n",
	    HEAD "handler smtpd\nfrom a@b\nrcpt - - \nend\n", /* empty recipient */
	    HEAD "handler smtpd\nfrom a@b\nrcpt - -\nend\n",
	    HEAD "handler smtpd\nfrom a@b\nrcpt -  c@d\nend\n",
	    HEAD "handler smtpd\nfrom a@b\nbody 9bit\nrcpt - - c@d\nend\n",
	    HEAD "handler smtpd\nfrom a@b\nret all\nrcpt - - c@d\nend\n",
	    HEAD "handler smtpd\nfrom a@b\nx-unknown 1\nrcpt - - c@d\nend\n",
	    HEAD "handler smtpd\nuser \nfrom a@b\nrcpt - - c@d\nend\n",
	    HEAD "handler Smtpd\nfrom a@b\nrcpt - - c@d\nend\n",
	    HEAD "handler \nfrom a@b\nrcpt - - c@d\nend\n",
	    HEAD "handler smtpd\nfrom\nrcpt - - c@d\nend\n",
	    "sealmail-queue-envelope 1\nid ../../etc/passwd\narrival 5\nhandler smtpd\nfrom \n"
	    "rcpt - - c@d\nend\n",
	    "sealmail-queue-envelope 1\nid 1700000000123456.0123456789abcdef\narrival 05\n"
	    "handler smtpd\nfrom \nrcpt - - c@d\nend\n",
	    "sealmail-queue-envelope 1\nid 1700000000123456.0123456789abcdef\narrival -5\n"
	    "handler smtpd\nfrom \nrcpt - - c@d\nend\n",
	    "sealmail-queue-envelope 1\nid 1700000000123456.0123456789abcdef\n"
	    "arrival 9999999999999999999\nhandler smtpd\nfrom \nrcpt - - c@d\nend\n",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (parse_str(bad[i]) != 0)
			fail_msg("accepted bad envelope %zu", i);
	}
	/* NUL inside a line. */
	static const char nul[] = HEAD "handler smtpd\nfrom a\0b\nrcpt - - c@d\nend\n";
	struct queue_env e;
	assert_int_equal(queue_env_parse((const unsigned char *)nul, sizeof(nul) - 1, &e), 0);
	/* Too long: an address over SMTP_PATH_MAX, a line over QUEUE_LINE_MAX. */
	struct buf t = BUF_INIT;
	buf_printf(&t, HEAD "handler smtpd\nfrom a@b\nrcpt - - ");
	for (int i = 0; i < SMTP_PATH_MAX; i++)
		buf_append_byte(&t, 'x');
	buf_append_str(&t, "@d\nend\n");
	assert_int_equal(queue_env_parse(t.data, t.len, &e), 0);
	buf_reset(&t);
	buf_printf(&t, HEAD "handler smtpd\nfrom ");
	for (int i = 0; i < QUEUE_LINE_MAX + 10; i++)
		buf_append_byte(&t, 'x');
	buf_append_str(&t, "\nrcpt - - c@d\nend\n");
	assert_int_equal(queue_env_parse(t.data, t.len, &e), 0);
	buf_free(&t);
}

/* Every proper prefix of a valid envelope is refused (a truncated file is
 * never half a message), and every one-byte change either is refused or
 * gives an envelope whose text form is exactly the changed input. */
static void test_env_prefixes_and_flips(void **state)
{
	struct queue_env e, back;
	struct buf t = BUF_INIT, again = BUF_INIT;
	full_env(&e);
	assert_int_equal(queue_env_format(&e, &t), 0);
	for (size_t n = 0; n < t.len; n++)
		assert_int_equal(queue_env_parse(t.data, n, &back), 0);
	for (size_t i = 0; i < t.len; i++) {
		unsigned char saved = t.data[i];
		for (unsigned v = 0; v < 256; v += 7) {
			t.data[i] = (unsigned char)v;
			if (queue_env_parse(t.data, t.len, &back) == 1) {
				buf_reset(&again);
				assert_int_equal(queue_env_format(&back, &again), 0);
				assert_int_equal(again.len, t.len);
				assert_memory_equal(again.data, t.data, t.len);
				queue_env_clear(&back);
			}
		}
		t.data[i] = saved;
	}
	queue_env_clear(&e);
	buf_free(&t);
	buf_free(&again);
}

static void test_state_roundtrip_and_hostile(void **state)
{
	struct queue_env e;
	struct queue_state s, back;
	struct buf t = BUF_INIT;
	full_env(&e);
	queue_state_init(&s, &e);
	assert_int_equal(s.n, 3);
	assert_int_equal(s.rcpt[2].next_try, e.arrival);
	s.held = true;
	s.rcpt[0].status = QUEUE_RCPT_SENT;
	s.rcpt[1].status = QUEUE_RCPT_BOUNCED;
	s.rcpt[1].attempts = 7;
	s.rcpt[1].last_try = 1700000100;
	s.rcpt[2].warned = true;
	static const char remote[] = "451 4.7.1 Try\r\nagain \x01\xff later";
	queue_state_set_error(&s.rcpt[1], remote, sizeof(remote) - 1);
	assert_string_equal(s.rcpt[1].error, "451 4.7.1 Try  again    later");
	char longerr[QUEUE_ERROR_MAX * 2];
	memset(longerr, 'e', sizeof(longerr));
	queue_state_set_error(&s.rcpt[2], longerr, sizeof(longerr));
	assert_int_equal(strlen(s.rcpt[2].error), QUEUE_ERROR_MAX);
	assert_int_equal(queue_state_format(&s, &t), 0);
	assert_int_equal(queue_state_parse(t.data, t.len, 3, &back), 1);
	assert_true(back.held);
	for (size_t i = 0; i < 3; i++) {
		assert_int_equal(back.rcpt[i].status, s.rcpt[i].status);
		assert_int_equal(back.rcpt[i].attempts, s.rcpt[i].attempts);
		assert_int_equal(back.rcpt[i].next_try, s.rcpt[i].next_try);
		assert_int_equal(back.rcpt[i].last_try, s.rcpt[i].last_try);
		assert_int_equal(back.rcpt[i].warned, s.rcpt[i].warned);
		assert_string_equal(back.rcpt[i].error, s.rcpt[i].error);
	}
	queue_state_clear(&back);
	/* The recipient count must match the envelope's. */
	assert_int_equal(queue_state_parse(t.data, t.len, 2, &back), 0);
	assert_int_equal(queue_state_parse(t.data, t.len, 4, &back), 0);
	for (size_t n = 0; n < t.len; n++)
		assert_int_equal(queue_state_parse(t.data, n, 3, &back), 0);
	static const char *const bad[] = {
	    "sealmail-queue-state 1\nheld 2\nrcpt 0 pending 0 0 0 0 \nend\n",
	    "sealmail-queue-state 1\nheld 0\nrcpt 1 pending 0 0 0 0 \nend\n",
	    "sealmail-queue-state 1\nheld 0\nrcpt 0 done 0 0 0 0 \nend\n",
	    "sealmail-queue-state 1\nheld 0\nrcpt 0 pending 4294967296 0 0 0 \nend\n",
	    "sealmail-queue-state 1\nheld 0\nrcpt 0 pending 0 0 0 2 \nend\n",
	    "sealmail-queue-state 1\nheld 0\nrcpt 0 pending 0 0 0 0\nend\n",
	    "sealmail-queue-state 1\nheld 0\nrcpt 0 pending 0 0 0 0 \xc3\xa9\nend\n",
	    "sealmail-queue-state 1\nheld 0\nrcpt 0 pending 0 -1 0 0 \nend\n",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (queue_state_parse((const unsigned char *)bad[i], strlen(bad[i]), 1, &back) != 0)
			fail_msg("accepted bad state %zu", i);
	static const char good[] = "sealmail-queue-state 1\nheld 0\nrcpt 0 pending 0 0 0 0 \nend\n";
	assert_int_equal(queue_state_parse((const unsigned char *)good, sizeof(good) - 1, 1, &back), 1);
	queue_state_clear(&back);
	queue_state_clear(&s);
	queue_env_clear(&e);
	buf_free(&t);
}

static void test_keys(void **state)
{
	struct fixture *f = *state;
	unsigned char pk[AGE_KEY_LEN];
	age_public_from_secret(f->sk, pk);
	assert_memory_equal(pk, f->pk, AGE_KEY_LEN);
	struct stat st;
	assert_int_equal(fstatat(f->qfd, QUEUE_KEY_FILE, &st, 0), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(fstatat(f->qfd, QUEUE_PUB_FILE, &st, 0), 0);
	assert_int_equal(st.st_mode & 0777, 0644);
	/* Idempotent: an existing pair is kept. */
	assert_int_equal(queue_keys_create(f->qfd), 0);
	assert_int_equal(queue_pubkey_load(f->qfd, pk), 0);
	assert_memory_equal(pk, f->pk, AGE_KEY_LEN);
	/* The key moved into a credential: no new pair behind queued's back. */
	assert_int_equal(renameat(f->qfd, QUEUE_KEY_FILE, f->statefd, "credential"), 0);
	assert_int_equal(queue_keys_create(f->qfd), 0);
	assert_int_equal(faccessat(f->qfd, QUEUE_KEY_FILE, F_OK, 0), -1);
	unsigned char sk[AGE_KEY_LEN];
	assert_int_equal(queue_seckey_load(f->statefd, "credential", sk), 0);
	assert_memory_equal(sk, f->sk, AGE_KEY_LEN);
	/* A crash between the key and the public key: the public key is remade. */
	assert_int_equal(renameat(f->statefd, "credential", f->qfd, QUEUE_KEY_FILE), 0);
	assert_int_equal(unlinkat(f->qfd, QUEUE_PUB_FILE, 0), 0);
	assert_int_equal(queue_keys_create(f->qfd), 1);
	assert_int_equal(queue_pubkey_load(f->qfd, pk), 0);
	assert_memory_equal(pk, f->pk, AGE_KEY_LEN);
	/* Identity files with no key or two keys are refused. */
	char ident[AGE_IDENTITY_MAX], text[400];
	assert_int_equal(age_identity_encode(f->sk, ident, sizeof(ident)), 0);
	for (size_t i = 0; i < 3; i++) {
		if (i == 0)
			assert_int_equal(fmt_name(text, sizeof(text), "# only a comment\n"), 0);
		else if (i == 1)
			assert_int_equal(fmt_name(text, sizeof(text), "%s\n%s\n", ident, ident), 0);
		else
			assert_int_equal(fmt_name(text, sizeof(text), "%sX\n", ident), 0);
		int fd = openat(f->statefd, "id", O_WRONLY | O_CREAT | O_TRUNC, 0600);
		assert_true(fd >= 0);
		assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
		close(fd);
		assert_int_equal(queue_seckey_load(f->statefd, "id", sk), -1);
		assert_int_equal(errno, EINVAL);
	}
}

static void make_msg(struct buf *m, size_t size, unsigned seed)
{
	buf_reset(m);
	buf_printf(m, "From: a@example.test\r\nSubject: test %u\r\n\r\n", seed);
	while (m->len < size)
		buf_printf(m, "line %u of message %u, some body text.\r\n", (unsigned)m->len, seed);
}

/* Enqueue msg with envelope e (id and arrival filled in); the id to id_out. */
static void enqueue(struct fixture *f, const struct buf *msg, struct queue_env *e, char *id_out)
{
	enum queue_result r = QUEUE_ERROR;
	struct queue_enqueue *q = queue_enqueue_begin(f->qfd, f->pk, &r);
	assert_non_null(q);
	assert_int_equal(r, QUEUE_OK);
	for (size_t off = 0; off < msg->len; off += 9999) {
		size_t n = msg->len - off < 9999 ? msg->len - off : 9999;
		assert_int_equal(queue_enqueue_write(q, msg->data + off, n), QUEUE_OK);
	}
	assert_int_equal(queue_enqueue_bytes(q), msg->len);
	assert_int_equal(queue_enqueue_prepare(q, e), QUEUE_OK);
	assert_string_equal(e->id, queue_enqueue_id(q));
	assert_int_equal(queue_enqueue_commit(q), QUEUE_OK);
	memcpy(id_out, queue_enqueue_id(q), QUEUE_ID_MAX);
	queue_enqueue_free(&q);
	assert_null(q);
}

static int buf_sink(void *ctx, const unsigned char *p, size_t n)
{
	buf_append(ctx, p, n);
	return 0;
}

static void test_enqueue_read_remove(void **state)
{
	struct fixture *f = *state;
	struct buf msg = BUF_INIT, out = BUF_INIT;
	struct queue_env e, back;
	struct queue_state st;
	char id[QUEUE_ID_MAX], id2[QUEUE_ID_MAX];
	const char *err = NULL;
	make_msg(&msg, 200000, 1); /* several age chunks */
	full_env(&e);
	enqueue(f, &msg, &e, id);
	assert_int_equal(count_entries(f->qfd, "tmp"), 0);
	struct queue_entry *list;
	size_t n;
	assert_int_equal(queue_list(f->qfd, &list, &n), 0);
	assert_int_equal(n, 1);
	assert_string_equal(list[0].id, id);
	assert_true(list[0].sealed_size > msg.len);
	free(list);
	assert_int_equal(queue_read_meta(f->qfd, id, f->sk, &back, &st, &err), 0);
	assert_env_equal(&e, &back);
	assert_int_equal(st.n, 3);
	assert_int_equal(st.rcpt[0].status, QUEUE_RCPT_PENDING);
	assert_int_equal(st.rcpt[0].next_try, back.arrival);
	assert_int_equal(queue_read_message(f->qfd, id, f->sk, buf_sink, &out, &err), 0);
	assert_int_equal(out.len, msg.len);
	assert_memory_equal(out.data, msg.data, msg.len);
	/* State: saved sealed, read back. */
	st.rcpt[1].status = QUEUE_RCPT_SENT;
	st.rcpt[2].attempts = 3;
	queue_state_save(f->qfd, id, f->pk, &st);
	queue_state_clear(&st);
	queue_env_clear(&back);
	assert_int_equal(queue_read_meta(f->qfd, id, f->sk, &back, &st, &err), 0);
	assert_int_equal(st.rcpt[1].status, QUEUE_RCPT_SENT);
	assert_int_equal(st.rcpt[2].attempts, 3);
	queue_state_clear(&st);
	queue_env_clear(&back);
	/* Another key cannot read it. */
	unsigned char opk[AGE_KEY_LEN], osk[AGE_KEY_LEN];
	age_keypair(opk, osk);
	assert_int_equal(queue_read_meta(f->qfd, id, osk, &back, &st, &err), -1);
	buf_reset(&out);
	assert_int_equal(queue_read_message(f->qfd, id, osk, buf_sink, &out, &err), -1);
	assert_int_equal(out.len, 0);
	/* Ids are paths only after validation. */
	assert_int_equal(queue_read_meta(f->qfd, "../queue.key", f->sk, &back, &st, &err), -1);
	assert_string_equal(err, "bad queue id");
	assert_int_equal(queue_remove(f->qfd, "../tmp"), -1);
	/* Ordered oldest first. */
	e.nrcpt = 1;
	enqueue(f, &msg, &e, id2);
	assert_int_equal(queue_list(f->qfd, &list, &n), 0);
	assert_int_equal(n, 2);
	assert_string_equal(list[0].id, id);
	assert_string_equal(list[1].id, id2);
	free(list);
	/* Remove: gone from active/, nothing left in tmp/. */
	assert_int_equal(queue_remove(f->qfd, id), 0);
	assert_int_equal(queue_remove(f->qfd, id), -1);
	assert_int_equal(errno, ENOENT);
	assert_int_equal(queue_list(f->qfd, &list, &n), 0);
	assert_int_equal(n, 1);
	assert_string_equal(list[0].id, id2);
	free(list);
	assert_int_equal(count_entries(f->qfd, "tmp"), 0);
	/* Its message and state went with the envelope. */
	assert_int_equal(count_entries(f->qfd, "active"), 2);
	e.nrcpt = 3;
	queue_env_clear(&e);
	buf_free(&msg);
	buf_free(&out);
}

/* An envelope renamed to another message's id is refused. */
static void test_envelope_swap_refused(void **state)
{
	struct fixture *f = *state;
	struct buf msg = BUF_INIT;
	struct queue_env e, back;
	struct queue_state st;
	char a[QUEUE_ID_MAX], b[QUEUE_ID_MAX], pa[80], pb[80];
	const char *err = NULL;
	make_msg(&msg, 100, 2);
	full_env(&e);
	enqueue(f, &msg, &e, a);
	enqueue(f, &msg, &e, b);
	assert_int_equal(fmt_name(pa, sizeof(pa), "active/%s.envelope", a), 0);
	assert_int_equal(fmt_name(pb, sizeof(pb), "active/%s.envelope", b), 0);
	assert_int_equal(renameat(f->qfd, pa, f->qfd, pb), 0);
	assert_int_equal(queue_read_meta(f->qfd, b, f->sk, &back, &st, &err), -1);
	assert_string_equal(err, "envelope of another message");
	assert_int_equal(queue_read_meta(f->qfd, a, f->sk, &back, &st, &err), -1);
	assert_string_equal(err, "no envelope");
	queue_env_clear(&e);
	buf_free(&msg);
}

static void test_abort_leaves_nothing(void **state)
{
	struct fixture *f = *state;
	struct queue_env e;
	full_env(&e);
	struct queue_enqueue *q = queue_enqueue_begin(f->qfd, f->pk, NULL);
	assert_non_null(q);
	assert_int_equal(queue_enqueue_write(q, "x", 1), QUEUE_OK);
	queue_enqueue_free(&q);
	q = queue_enqueue_begin(f->qfd, f->pk, NULL);
	assert_int_equal(queue_enqueue_write(q, "x", 1), QUEUE_OK);
	assert_int_equal(queue_enqueue_prepare(q, &e), QUEUE_OK);
	/* Order is enforced. */
	assert_int_equal(queue_enqueue_write(q, "x", 1), QUEUE_ERROR);
	assert_int_equal(queue_enqueue_prepare(q, &e), QUEUE_ERROR);
	queue_enqueue_free(&q);
	/* An envelope the format refuses fails prepare. */
	q = queue_enqueue_begin(f->qfd, f->pk, NULL);
	e.rcpt[0].addr[0] = '\n';
	assert_int_equal(queue_enqueue_prepare(q, &e), QUEUE_ERROR);
	assert_int_equal(queue_enqueue_commit(q), QUEUE_ERROR);
	queue_enqueue_free(&q);
	assert_int_equal(count_entries(f->qfd, "tmp"), 0);
	assert_int_equal(count_entries(f->qfd, "active"), 0);
	queue_env_clear(&e);
}

/* Enqueue from a file descriptor (a message larger than any buffer). */
static void test_enqueue_from_fd(void **state)
{
	struct fixture *f = *state;
	struct buf msg = BUF_INIT, out = BUF_INIT;
	struct queue_env e;
	char path[96], id[QUEUE_ID_MAX];
	const char *err;
	make_msg(&msg, 3 * AGE_CHUNK_SIZE + 17, 3);
	assert_int_equal(fmt_name(path, sizeof(path), "%s/msg", f->dir), 0);
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	assert_int_equal(write(fd, msg.data, msg.len), (ssize_t)msg.len);
	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	full_env(&e);
	struct queue_enqueue *q = queue_enqueue_begin(f->qfd, f->pk, NULL);
	assert_int_equal(queue_enqueue_from_fd(q, fd), QUEUE_OK);
	close(fd);
	assert_int_equal(queue_enqueue_prepare(q, &e), QUEUE_OK);
	assert_int_equal(queue_enqueue_commit(q), QUEUE_OK);
	memcpy(id, queue_enqueue_id(q), sizeof(id));
	queue_enqueue_free(&q);
	assert_int_equal(queue_read_message(f->qfd, id, f->sk, buf_sink, &out, &err), 0);
	assert_int_equal(out.len, msg.len);
	assert_memory_equal(out.data, msg.data, msg.len);
	queue_env_clear(&e);
	buf_free(&msg);
	buf_free(&out);
}

/* Debian's age tool opens every queue file with queue.key as it is. */
static void test_age_tool_decrypts(void **state)
{
	struct fixture *f = *state;
	if (access("/usr/bin/age", X_OK) != 0)
		skip();
	struct buf msg = BUF_INIT, t = BUF_INIT;
	struct queue_env e, back;
	char id[QUEUE_ID_MAX], cmd[512], path[128];
	make_msg(&msg, 70000, 4);
	full_env(&e);
	enqueue(f, &msg, &e, id);
	static const char *const files[] = {"message", "envelope"};
	for (int i = 0; i < 2; i++) {
		assert_int_equal(fmt_name(cmd, sizeof(cmd),
					  "/usr/bin/age -d -i '%s/queue/queue.key' -o '%s/plain' "
					  "'%s/queue/active/%s.%s'",
					  f->dir, f->dir, f->dir, id, files[i]),
				 0);
		assert_int_equal(system(cmd), 0);
		assert_int_equal(fmt_name(path, sizeof(path), "%s/plain", f->dir), 0);
		FILE *fp = fopen(path, "rb");
		assert_non_null(fp);
		char tmp[4096];
		size_t n;
		buf_reset(&t);
		while ((n = fread(tmp, 1, sizeof(tmp), fp)) > 0)
			buf_append(&t, tmp, n);
		fclose(fp);
		unlink(path);
		if (i == 0) {
			assert_int_equal(t.len, msg.len);
			assert_memory_equal(t.data, msg.data, msg.len);
		} else {
			assert_int_equal(queue_env_parse(t.data, t.len, &back), 1);
			assert_env_equal(&e, &back);
			queue_env_clear(&back);
		}
	}
	queue_env_clear(&e);
	buf_free(&msg);
	buf_free(&t);
}

/* Every listed message opens completely. */
static size_t check_complete(struct fixture *f)
{
	struct queue_entry *list;
	size_t n;
	assert_int_equal(queue_list(f->qfd, &list, &n), 0);
	for (size_t i = 0; i < n; i++) {
		struct queue_env e;
		struct queue_state st;
		struct buf out = BUF_INIT;
		const char *err = NULL;
		if (queue_read_meta(f->qfd, list[i].id, f->sk, &e, &st, &err) != 0)
			fail_msg("%s: %s", list[i].id, err);
		if (queue_read_message(f->qfd, list[i].id, f->sk, buf_sink, &out, &err) != 0)
			fail_msg("%s: %s", list[i].id, err);
		assert_true(out.len > 0);
		queue_env_clear(&e);
		queue_state_clear(&st);
		buf_free(&out);
	}
	free(list);
	return n;
}

/* A crash between the two renames of the commit: the message is in
 * active/ without its envelope. queued does not see it; cleaning removes it
 * once old, and never touches a message that has its envelope. */
static void test_half_commit_orphan(void **state)
{
	struct fixture *f = *state;
	struct buf msg = BUF_INIT;
	struct queue_env e;
	char id[QUEUE_ID_MAX], name[80];
	make_msg(&msg, 1000, 7);
	full_env(&e);
	enqueue(f, &msg, &e, id); /* a queued message beside the orphan */
	struct queue_enqueue *q = queue_enqueue_begin(f->qfd, f->pk, NULL);
	assert_int_equal(queue_enqueue_write(q, msg.data, msg.len), QUEUE_OK);
	assert_int_equal(queue_enqueue_prepare(q, &e), QUEUE_OK);
	assert_int_equal(fmt_name(name, sizeof(name), "%s.message", queue_enqueue_id(q)), 0);
	int tfd = openat(f->qfd, "tmp", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int afd = openat(f->qfd, "active", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_int_equal(renameat(tfd, name, afd, name), 0);
	assert_int_equal(check_complete(f), 1);
	struct queue_env back;
	struct queue_state st;
	const char *err;
	assert_int_equal(queue_read_meta(f->qfd, queue_enqueue_id(q), f->sk, &back, &st, &err), -1);
	assert_string_equal(err, "no envelope");
	/* State is never written for a message without envelope. */
	queue_state_init(&st, &e);
	assert_int_equal(queue_state_save(f->qfd, queue_enqueue_id(q), f->pk, &st), -1);
	queue_state_clear(&st);
	queue_enqueue_free(&q); /* the crash: its envelope stays in tmp/ */
	size_t removed = 0;
	assert_int_equal(queue_clean(f->qfd, 3600, &removed), 0);
	assert_int_equal(removed, 0);
	assert_int_equal(queue_clean(f->qfd, -10, &removed), 0);
	assert_int_equal(removed, 1); /* the orphan; free() took the tmp envelope */
	assert_int_equal(count_entries(f->qfd, "active"), 2);
	assert_int_equal(check_complete(f), 1);
	close(tfd);
	close(afd);
	queue_env_clear(&e);
	buf_free(&msg);
}

/* A child that dies (no cleanup) after step k of one enqueue. */
static void test_crash_points(void **state)
{
	struct fixture *f = *state;
	struct buf msg = BUF_INIT;
	make_msg(&msg, 100000, 5);
	for (int k = 0; k <= 4; k++) {
		pid_t pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			struct queue_env e;
			full_env(&e);
			struct queue_enqueue *q = queue_enqueue_begin(f->qfd, f->pk, NULL);
			if (q == NULL)
				_exit(2);
			if (k == 0)
				_exit(0);
			if (queue_enqueue_write(q, msg.data, msg.len / 2) != QUEUE_OK)
				_exit(2);
			if (k == 1)
				_exit(0);
			if (queue_enqueue_write(q, msg.data + msg.len / 2, msg.len - msg.len / 2) !=
			    QUEUE_OK)
				_exit(2);
			if (k == 2)
				_exit(0);
			if (queue_enqueue_prepare(q, &e) != QUEUE_OK)
				_exit(2);
			if (k == 3)
				_exit(0);
			_exit(queue_enqueue_commit(q) == QUEUE_OK ? 0 : 2);
		}
		int status;
		assert_int_equal(waitpid(pid, &status, 0), pid);
		assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
		/* Before the commit: nothing visible; after: complete. */
		size_t left = k == 4 ? 0 : k == 3 ? 2 : 1; /* message, and envelope */
		assert_int_equal(check_complete(f), k == 4 ? 1 : 0);
		assert_int_equal(count_entries(f->qfd, "tmp"), left);
		/* queued's cleanup removes the dead writer's files, but not while
		 * they are young (they may be a writer's at work). */
		size_t removed = 9;
		assert_int_equal(queue_clean(f->qfd, 3600, &removed), 0);
		assert_int_equal(removed, 0);
		assert_int_equal(queue_clean(f->qfd, -10, &removed), 0);
		assert_int_equal(removed, left);
		assert_int_equal(count_entries(f->qfd, "tmp"), 0);
		assert_int_equal(check_complete(f), k == 4 ? 1 : 0);
	}
	buf_free(&msg);
}

/* SIGKILL at arbitrary points: a writer enqueues in a loop and reports each
 * commit on a pipe; the parent kills it right after the n-th report, while
 * it is somewhere inside the next enqueue. Every acknowledged message is
 * there and complete; nothing half-written is listed. */
static void test_sigkill_anywhere(void **state)
{
	struct fixture *f = *state;
	struct buf msg = BUF_INIT;
	make_msg(&msg, 150000, 6);
	size_t acked = 0;
	for (int round = 0; round < 12; round++) {
		int p[2];
		assert_int_equal(pipe(p), 0);
		pid_t pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			close(p[0]);
			for (;;) {
				struct queue_env e;
				full_env(&e);
				struct queue_enqueue *q = queue_enqueue_begin(f->qfd, f->pk, NULL);
				size_t step = 1000 + (size_t)round * 3000;
				for (size_t off = 0; q && off < msg.len; off += step)
					queue_enqueue_write(q, msg.data + off,
							    msg.len - off < step ? msg.len - off : step);
				if (q == NULL || queue_enqueue_prepare(q, &e) != QUEUE_OK ||
				    queue_enqueue_commit(q) != QUEUE_OK || write(p[1], "k", 1) != 1)
					_exit(2);
				queue_enqueue_free(&q);
				queue_env_clear(&e);
			}
		}
		close(p[1]);
		char c;
		for (int i = 0; i <= round % 3; i++) {
			assert_int_equal(read(p[0], &c, 1), 1);
			acked++;
		}
		kill(pid, SIGKILL);
		int status;
		assert_int_equal(waitpid(pid, &status, 0), pid);
		/* Commits reported after the last read but before the kill. */
		while (read(p[0], &c, 1) == 1)
			acked++;
		close(p[0]);
		size_t n = check_complete(f);
		assert_true(n >= acked && n <= acked + 1);
		acked = n;
	}
	size_t before = check_complete(f);
	assert_int_equal(queue_clean(f->qfd, -10, NULL), 0);
	assert_int_equal(count_entries(f->qfd, "tmp"), 0);
	/* Cleaning removes leftovers only, never a queued message. */
	assert_int_equal(check_complete(f), before);
	assert_int_equal(count_entries(f->qfd, "active"), 2 * before);
	buf_free(&msg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_env_roundtrip),
	    cmocka_unit_test(test_env_format_refuses),
	    cmocka_unit_test(test_env_hostile),
	    cmocka_unit_test(test_env_prefixes_and_flips),
	    cmocka_unit_test(test_state_roundtrip_and_hostile),
	    cmocka_unit_test_setup_teardown(test_keys, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_enqueue_read_remove, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_envelope_swap_refused, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_abort_leaves_nothing, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_enqueue_from_fd, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_age_tool_decrypts, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_half_commit_orphan, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_crash_points, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_sigkill_anywhere, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
