/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* The POP3 session after login (RFC 1939 TRANSACTION and UPDATE states),
 * in the back process. The maildrop is INBOX as it was at login: mail that
 * arrives later shows in the next session. DELE takes effect only at QUIT,
 * and the deletion is committed (fsync'd) before the +OK; a dropped
 * connection deletes nothing. UIDL is "<UIDVALIDITY>.<UID>", stable and
 * the same message IMAP shows under that UIDVALIDITY/UID. Trust: post-auth. */
#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <unistd.h>

#include "sys/io.h"
#include "sys/log.h"
#include "login/loginback.h"
#include "base/mem.h"
#include "svc/notify.h"
#include "pop3d.h"
#include "login/login.h"

#define POP3_ERRORS_MAX 20

struct pop3_msg {
	uint32_t uid;
	uint64_t size;
	bool deleted, retrieved;
};

struct pop3 {
	const struct conf *conf;
	struct login_session *ls;
	struct io io;
	int64_t inbox;
	uint32_t uidvalidity;
	struct pop3_msg *msgs;
	size_t n;
	unsigned errors;
};

static int pop3_lock_fd = -1;

/* One POP3 session per user at a time (RFC 1939 section 8 allows the
 * exclusive lock; RFC 2449 [IN-USE] reports it). IMAP is not locked out. */
static int pop3_admit(const struct conf *c, struct login_session *ls, void *arg)
{
	char path[4200];
	(void)arg;
	snprintf(path, sizeof(path), "%s/users/%s/pop3.lock", c->state_dir, ls->user_id);
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return LOGIN_TEMPFAIL;
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		close(fd);
		return errno == EWOULDBLOCK ? LOGIN_INUSE : LOGIN_TEMPFAIL;
	}
	pop3_lock_fd = fd; /* held until the process ends */
	return 0;
}

static int pop3_load(struct pop3 *p)
{
	struct store_folder f;
	if (store_folder_get(p->ls->st, "INBOX", &f) != 1)
		return -1;
	p->inbox = f.id;
	p->uidvalidity = f.uidvalidity;
	store_folder_clear(&f);
	sqlite3_stmt *q;
	if (sqlite3_prepare_v2(store_db(p->ls->st),
	                       "SELECT uid, size FROM messages WHERE folder_id = ? ORDER BY uid",
	                       -1, &q, NULL) != SQLITE_OK)
		return -1;
	sqlite3_bind_int64(q, 1, p->inbox);
	size_t cap = 0;
	while (sqlite3_step(q) == SQLITE_ROW) {
		if (p->n == cap) {
			cap = cap ? cap * 2 : 64;
			p->msgs = mem_realloc(p->msgs, cap, sizeof(*p->msgs));
		}
		p->msgs[p->n].uid = (uint32_t)sqlite3_column_int64(q, 0);
		p->msgs[p->n].size = (uint64_t)sqlite3_column_int64(q, 1);
		p->msgs[p->n].deleted = p->msgs[p->n].retrieved = false;
		p->n++;
	}
	sqlite3_finalize(q);
	return 0;
}

/* Parse a message number argument: the message, or NULL after -ERR. */
static struct pop3_msg *pop3_msg_arg(struct pop3 *p, const char *arg)
{
	char *end;
	if (arg[0] < '1' || arg[0] > '9') {
		io_puts(&p->io, "-ERR Invalid message number.\r\n");
		return NULL;
	}
	errno = 0;
	unsigned long long v = strtoull(arg, &end, 10);
	if (errno != 0 || (*end != '\0' && *end != ' ') || v > p->n) {
		io_puts(&p->io, "-ERR No such message.\r\n");
		return NULL;
	}
	struct pop3_msg *m = &p->msgs[v - 1];
	if (m->deleted) {
		io_puts(&p->io, "-ERR Message is deleted.\r\n");
		return NULL;
	}
	return m;
}

/* Send a message dot-stuffed (RFC 1939 section 3), CRLF line ends; with
 * body_lines >= 0 only the header and that many body lines (TOP). */
static int pop3_send(struct pop3 *p, struct pop3_msg *m, long long body_lines)
{
	struct buf raw = BUF_INIT;
	int r = store_fetch_raw(p->ls->st, p->inbox, m->uid, &raw);
	if (r != 1) {
		buf_free(&raw);
		io_puts(&p->io, r == 0 ? "-ERR Message was expunged by another session.\r\n"
		                       : "-ERR [SYS/TEMP] Cannot read message.\r\n");
		return 0;
	}
	io_printf(&p->io, "+OK %llu octets\r\n", (unsigned long long)m->size);
	const unsigned char *d = raw.data ? raw.data : (const unsigned char *)"";
	size_t i = 0;
	bool in_body = false;
	long long sent_body = 0;
	while (i < raw.len) {
		if (in_body && body_lines >= 0 && sent_body >= body_lines)
			break;
		const unsigned char *nl = memchr(d + i, '\n', raw.len - i);
		size_t end = nl ? (size_t)(nl - d) : raw.len; /* index of LF or len */
		size_t lend = end;
		if (lend > i && d[lend - 1] == '\r')
			lend--;
		if (d[i] == '.')
			io_write(&p->io, ".", 1);
		io_write(&p->io, d + i, lend - i);
		io_write(&p->io, "\r\n", 2);
		if (!in_body && lend == i)
			in_body = true; /* the empty line ends the header */
		else if (in_body)
			sent_body++;
		i = nl ? end + 1 : raw.len;
	}
	io_puts(&p->io, ".\r\n");
	buf_free(&raw);
	if (body_lines < 0)
		m->retrieved = true;
	return io_flush(&p->io);
}

static void pop3_stat(struct pop3 *p)
{
	uint64_t n = 0, size = 0;
	for (size_t i = 0; i < p->n; i++)
		if (!p->msgs[i].deleted) {
			n++;
			size += p->msgs[i].size;
		}
	io_printf(&p->io, "+OK %llu %llu\r\n", (unsigned long long)n, (unsigned long long)size);
}

static void pop3_list(struct pop3 *p, const char *arg, bool uidl)
{
	if (arg[0] != '\0') {
		struct pop3_msg *m = pop3_msg_arg(p, arg);
		if (m == NULL)
			return;
		size_t no = (size_t)(m - p->msgs) + 1;
		if (uidl)
			io_printf(&p->io, "+OK %zu %u.%u\r\n", no, p->uidvalidity, m->uid);
		else
			io_printf(&p->io, "+OK %zu %llu\r\n", no, (unsigned long long)m->size);
		return;
	}
	io_puts(&p->io, "+OK\r\n");
	for (size_t i = 0; i < p->n; i++) {
		if (p->msgs[i].deleted)
			continue;
		if (uidl)
			io_printf(&p->io, "%zu %u.%u\r\n", i + 1, p->uidvalidity, p->msgs[i].uid);
		else
			io_printf(&p->io, "%zu %llu\r\n", i + 1,
			          (unsigned long long)p->msgs[i].size);
	}
	io_puts(&p->io, ".\r\n");
}

/* UPDATE state (RFC 1939 section 6): remove what was deleted, mark what was
 * retrieved \Seen, all in one transaction committed before the +OK. */
static void pop3_update(struct pop3 *p)
{
	uint32_t *del = mem_array(p->n ? p->n : 1, sizeof(*del));
	size_t nd = 0;
	uint64_t modseq = 0, m2 = 0;
	int rc = store_begin(p->ls->st);
	for (size_t i = 0; rc == 0 && i < p->n; i++) {
		if (p->msgs[i].deleted)
			del[nd++] = p->msgs[i].uid;
		else if (p->msgs[i].retrieved &&
		         store_set_flags(p->ls->st, p->inbox, p->msgs[i].uid, STORE_FLAGS_ADD,
		                         STORE_FLAG_SEEN, NULL, 0, &m2) < 0)
			rc = -1;
	}
	size_t removed = 0;
	if (rc == 0 && nd > 0)
		rc = store_expunge(p->ls->st, p->inbox, del, nd, &removed, &modseq);
	if (rc == 0)
		rc = store_commit(p->ls->st);
	else
		store_rollback(p->ls->st);
	free(del);
	if (rc < 0) {
		/* RFC 2449 section 8.1.1 */
		io_puts(&p->io,
		        "-ERR [SYS/TEMP] Could not delete messages; none were deleted.\r\n");
		return;
	}
	if (modseq || m2) {
		struct notify *n = notify_new(p->conf->redis);
		char msg[40];
		snprintf(msg, sizeof(msg), "changed %llu",
		         (unsigned long long)(modseq > m2 ? modseq : m2));
		notify_publish(n, p->ls->user_id, msg);
		notify_free(&n);
	}
	if (removed) {
		char nb[24];
		snprintf(nb, sizeof(nb), "%zu", removed);
		log_event(LOG_INFO, "expunge", "COUNT", nb, NULL);
	}
	io_printf(&p->io, "+OK Logging out, %zu messages deleted.\r\n", removed);
}

static int pop3_command(struct pop3 *p, char *line, size_t len)
{
	if (strlen(line) != len) {
		io_puts(&p->io, "-ERR NUL byte in command.\r\n");
		p->errors++;
		return 0;
	}
	char *arg = strchr(line, ' ');
	if (arg != NULL)
		*arg++ = '\0';
	else
		arg = line + len;
	if (strcasecmp(line, "STAT") == 0 && arg[0] == '\0') {
		pop3_stat(p);
	} else if (strcasecmp(line, "LIST") == 0) {
		pop3_list(p, arg, false);
	} else if (strcasecmp(line, "UIDL") == 0) {
		pop3_list(p, arg, true);
	} else if (strcasecmp(line, "RETR") == 0) {
		struct pop3_msg *m = pop3_msg_arg(p, arg);
		if (m != NULL && pop3_send(p, m, -1) < 0)
			return -1;
	} else if (strcasecmp(line, "TOP") == 0) {
		char *sp = strchr(arg, ' ');
		char *end;
		long long nl = sp ? strtoll(sp + 1, &end, 10) : -1;
		if (sp == NULL || sp[1] < '0' || sp[1] > '9' || *end != '\0' || nl < 0) {
			io_puts(&p->io, "-ERR Syntax: TOP msg n\r\n");
		} else {
			struct pop3_msg *m = pop3_msg_arg(p, arg);
			if (m != NULL && pop3_send(p, m, nl) < 0)
				return -1;
		}
	} else if (strcasecmp(line, "DELE") == 0) {
		struct pop3_msg *m = pop3_msg_arg(p, arg);
		if (m != NULL) {
			m->deleted = true;
			io_puts(&p->io, "+OK Marked to be deleted.\r\n");
		}
	} else if (strcasecmp(line, "RSET") == 0) {
		for (size_t i = 0; i < p->n; i++)
			p->msgs[i].deleted = false;
		io_puts(&p->io, "+OK\r\n");
	} else if (strcasecmp(line, "NOOP") == 0) {
		io_puts(&p->io, "+OK\r\n");
	} else if (strcasecmp(line, "CAPA") == 0) {
		io_puts(&p->io,
		        "+OK Capability list follows\r\nTOP\r\nUIDL\r\nRESP-CODES\r\n"
		        "AUTH-RESP-CODE\r\nPIPELINING\r\nUTF8\r\nIMPLEMENTATION sealmail\r\n.\r\n");
	} else if (strcasecmp(line, "QUIT") == 0) {
		pop3_update(p);
		io_flush(&p->io);
		return -1;
	} else if (strcasecmp(line, "USER") == 0 || strcasecmp(line, "PASS") == 0 ||
	           strcasecmp(line, "AUTH") == 0 || strcasecmp(line, "STLS") == 0 ||
	           strcasecmp(line, "APOP") == 0) {
		io_puts(&p->io, "-ERR Already logged in.\r\n");
	} else {
		p->errors++;
		io_puts(&p->io, "-ERR Unknown command.\r\n");
	}
	return 0;
}

static int pop3_session(const struct conf *c, struct login_session *ls, void *arg)
{
	struct pop3 p;
	(void)arg;
	memset(&p, 0, sizeof(p));
	p.conf = c;
	p.ls = ls;
	io_init(&p.io, ls->fd, ls->fd, (int)c->pop3d_timeout_ms);
	io_prefill(&p.io, ls->pending.data, ls->pending.len);
	if (pop3_load(&p) < 0) {
		io_puts(&p.io, "-ERR [SYS/TEMP] Cannot open the maildrop.\r\n");
		io_flush(&p.io);
		io_cleanup(&p.io);
		return 0;
	}
	io_printf(&p.io, "+OK Logged in, %zu messages.\r\n", p.n);
	for (;;) {
		if (io_pending(&p.io) == 0 && io_flush(&p.io) < 0)
			break;
		char *line;
		size_t len;
		int r = io_read_line(&p.io, &line, &len, POP3_LINE_MAX);
		if (r == 0)
			break;
		if (r < 0) {
			if (p.io.err == IO_TOOLONG || p.io.err == IO_BARELF ||
			    p.io.err == IO_BARECR) {
				io_puts(&p.io, "-ERR Bad command line.\r\n");
				if (++p.errors < POP3_ERRORS_MAX)
					continue;
			} else if (p.io.err == IO_TIMEOUT) {
				io_puts(&p.io, "-ERR Disconnected for inactivity.\r\n");
			}
			io_flush(&p.io);
			break;
		}
		if (pop3_command(&p, line, len) < 0)
			break;
		if (p.errors >= POP3_ERRORS_MAX) {
			io_puts(&p.io, "-ERR Too many errors.\r\n");
			io_flush(&p.io);
			break;
		}
	}
	log_event(LOG_INFO, "disconnect", NULL);
	free(p.msgs);
	io_cleanup(&p.io);
	return 0;
}

int pop3d_back(int fd, void *arg)
{
	struct login_ctx *ctx = arg;
	struct login_back_ops ops = {.admit = pop3_admit, .session = pop3_session};
	int rc = login_back_run(ctx->conf, ctx->conn, fd, ctx->state_fd, &ops);
	if (pop3_lock_fd >= 0)
		close(pop3_lock_fd);
	return rc;
}
