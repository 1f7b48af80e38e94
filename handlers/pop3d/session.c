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

#include "base/mem.h"
#include "sys/io.h"
#include "sys/log.h"
#include "sys/title.h"
#include "svc/notify.h"
#include "login/login.h"
#include "login/loginback.h"
#include "pop3d.h"

#define POP3_ERRORS_MAX 20

/* The back process from fork to exit: AUTHORIZATION while the login layer
 * waits for the front's credentials, then TRANSACTION and UPDATE. */
struct pop3_back {
	struct login_ctx *ctx;
	enum pop3_state state;
	const char *user; /* NULL until login */
	int lock_fd;      /* users/<id>/pop3.lock, held until the process ends */
};

struct pop3_msg {
	uint32_t uid;
	uint64_t size;
	bool deleted, retrieved;
};

struct pop3 {
	const struct conf *conf;
	struct pop3_back *back;
	struct login_session *ls;
	struct io io;
	struct pop3parse_limits lim;
	int64_t inbox;
	uint32_t uidvalidity;
	struct pop3_msg *msgs;
	size_t n;
	struct pop3_msg *cur; /* the message a check step selected, or NULL */
	unsigned errors;
};

/* Every state change of the back goes through here: the process title
 * ("pop3d: alice@example.org 203.0.113.5 TRANSACTION") and a debug event
 * name it. */
static void pop3_state(struct pop3_back *b, enum pop3_state s)
{
	static const char *const names[] = {[POP3_AUTHORIZATION] = "AUTHORIZATION",
	                                    [POP3_TRANSACTION] = "TRANSACTION",
	                                    [POP3_UPDATE] = "UPDATE"};
	b->state = s;
	if (b->user != NULL)
		title_set("%s %s %s", b->user, b->ctx->conn->remote, names[s]);
	else
		title_set("%s %s", b->ctx->conn->remote, names[s]);
	log_event(LOG_DEBUG, "state", "STATE", names[s], NULL);
}

/* One POP3 session per user at a time (RFC 1939 section 8 allows the
 * exclusive lock; RFC 2449 [IN-USE] reports it). IMAP is not locked out. */
static int pop3_admit(const struct conf *c, struct login_session *ls, void *arg)
{
	struct pop3_back *b = arg;
	char path[4200];
	int n = snprintf(path, sizeof(path), "%s/users/%s/pop3.lock", c->state_dir, ls->user_id);
	if (n < 0 || (size_t)n >= sizeof(path))
		return LOGIN_TEMPFAIL; /* a cut path names another file */
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return LOGIN_TEMPFAIL;
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		close(fd);
		return errno == EWOULDBLOCK ? LOGIN_INUSE : LOGIN_TEMPFAIL;
	}
	b->lock_fd = fd;
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

/* Send a message dot-stuffed (RFC 1939 section 3), CRLF line ends; with
 * top, only the header and body_lines lines of the body (TOP). */
static int pop3_send(struct pop3 *p, struct pop3_msg *m, bool top, uint64_t body_lines)
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
	uint64_t sent_body = 0;
	while (i < raw.len) {
		if (in_body && top && sent_body >= body_lines)
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
	if (!top)
		m->retrieved = true;
	return io_flush(&p->io);
}

/* ---- check steps: beyond the grammar; 0 go on, -1 the reply is written
 * and the command ends there. ---- */

/* RFC 1939 section 5: a message-number names a message of the maildrop not
 * marked as deleted; it becomes p->cur. */
static int pop3_check_msg(struct pop3 *p, const struct pop3_command *c)
{
	uint64_t v = c->num[0];
	if (v == 0) {
		io_puts(&p->io, "-ERR Invalid message number.\r\n");
		return -1;
	}
	if (v > p->n) {
		io_puts(&p->io, "-ERR No such message.\r\n");
		return -1;
	}
	if (p->msgs[v - 1].deleted) {
		io_puts(&p->io, "-ERR Message is deleted.\r\n");
		return -1;
	}
	p->cur = &p->msgs[v - 1];
	return 0;
}

/* LIST and UIDL: the argument is optional. */
static int pop3_check_msg_opt(struct pop3 *p, const struct pop3_command *c)
{
	p->cur = NULL;
	return c->argc == 0 ? 0 : pop3_check_msg(p, c);
}

/* ---- proceed steps: the effect; 0 go on, -1 end the session. ---- */

static int pop3_stat(struct pop3 *p, const struct pop3_command *c)
{
	uint64_t n = 0, size = 0;
	for (size_t i = 0; i < p->n; i++)
		if (!p->msgs[i].deleted) {
			n++;
			size += p->msgs[i].size;
		}
	io_printf(&p->io, "+OK %llu %llu\r\n", (unsigned long long)n, (unsigned long long)size);
	return 0;
}

static void pop3_list_line(struct pop3 *p, const char *ok, const struct pop3_msg *m, bool uidl)
{
	size_t no = (size_t)(m - p->msgs) + 1;
	if (uidl)
		io_printf(&p->io, "%s%zu %u.%u\r\n", ok, no, p->uidvalidity, m->uid);
	else
		io_printf(&p->io, "%s%zu %llu\r\n", ok, no, (unsigned long long)m->size);
}

static void pop3_listing(struct pop3 *p, bool uidl)
{
	if (p->cur != NULL) {
		pop3_list_line(p, "+OK ", p->cur, uidl);
		return;
	}
	io_puts(&p->io, "+OK\r\n");
	for (size_t i = 0; i < p->n; i++)
		if (!p->msgs[i].deleted)
			pop3_list_line(p, "", &p->msgs[i], uidl);
	io_puts(&p->io, ".\r\n");
}

static int pop3_list(struct pop3 *p, const struct pop3_command *c)
{
	pop3_listing(p, false);
	return 0;
}

static int pop3_uidl(struct pop3 *p, const struct pop3_command *c)
{
	pop3_listing(p, true);
	return 0;
}

static int pop3_retr(struct pop3 *p, const struct pop3_command *c)
{
	return pop3_send(p, p->cur, false, 0);
}

static int pop3_top(struct pop3 *p, const struct pop3_command *c)
{
	return pop3_send(p, p->cur, true, c->num[1]);
}

static int pop3_dele(struct pop3 *p, const struct pop3_command *c)
{
	p->cur->deleted = true;
	io_puts(&p->io, "+OK Marked to be deleted.\r\n");
	return 0;
}

static int pop3_rset(struct pop3 *p, const struct pop3_command *c)
{
	for (size_t i = 0; i < p->n; i++)
		p->msgs[i].deleted = false;
	io_puts(&p->io, "+OK\r\n");
	return 0;
}

static int pop3_noop(struct pop3 *p, const struct pop3_command *c)
{
	io_puts(&p->io, "+OK\r\n");
	return 0;
}

static int pop3_capa(struct pop3 *p, const struct pop3_command *c)
{
	io_puts(&p->io, "+OK Capability list follows\r\n" POP3_CAPA_COMMON ".\r\n");
	return 0;
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
		/* "changed " and at most 20 digits: never cut. */
		int k = snprintf(msg, sizeof(msg), "changed %llu",
		                 (unsigned long long)(modseq > m2 ? modseq : m2));
		if (k > 0 && (size_t)k < sizeof(msg))
			notify_publish(n, p->ls->user_id, msg);
		notify_free(&n);
	}
	if (removed) {
		char nb[24];
		int k = snprintf(nb, sizeof(nb), "%zu", removed);
		if (k > 0 && (size_t)k < sizeof(nb)) /* at most 20 digits: never cut */
			log_event(LOG_INFO, "expunge", "COUNT", nb, NULL);
	}
	io_printf(&p->io, "+OK Logging out, %zu messages deleted.\r\n", removed);
}

static int pop3_quit(struct pop3 *p, const struct pop3_command *c)
{
	pop3_state(p->back, POP3_UPDATE);
	pop3_update(p);
	io_flush(&p->io);
	return -1;
}

#define A POP3_IN(POP3_AUTHORIZATION)
#define T POP3_IN(POP3_TRANSACTION)
/* The commands of the back (RFC 1939 sections 5-7, RFC 2449 section 5).
 * Rows allowed only in AUTHORIZATION are the front's: after login they are
 * refused as such. A command with no row is unknown here. */
static const struct pop3_cmd_row {
	enum pop3_cmd cmd;
	unsigned states;
	const char *usage; /* "-ERR Syntax: <usage>" when the grammar fails */
	int (*check)(struct pop3 *p, const struct pop3_command *c);
	int (*proceed)(struct pop3 *p, const struct pop3_command *c);
} pop3_cmds[] = {
    {POP3_CMD_STAT, T, "STAT", NULL, pop3_stat},
    {POP3_CMD_LIST, T, "LIST [msg]", pop3_check_msg_opt, pop3_list},
    {POP3_CMD_UIDL, T, "UIDL [msg]", pop3_check_msg_opt, pop3_uidl},
    {POP3_CMD_RETR, T, "RETR msg", pop3_check_msg, pop3_retr},
    {POP3_CMD_TOP, T, "TOP msg n", pop3_check_msg, pop3_top},
    {POP3_CMD_DELE, T, "DELE msg", pop3_check_msg, pop3_dele},
    {POP3_CMD_RSET, T, "RSET", NULL, pop3_rset},
    {POP3_CMD_NOOP, T, "NOOP", NULL, pop3_noop},
    {POP3_CMD_CAPA, A | T, "CAPA", NULL, pop3_capa},
    {POP3_CMD_QUIT, A | T, "QUIT", NULL, pop3_quit},
    {POP3_CMD_USER, A, "USER name", NULL, NULL},
    {POP3_CMD_PASS, A, "PASS string", NULL, NULL},
    {POP3_CMD_AUTH, A, "AUTH mechanism", NULL, NULL},
    {POP3_CMD_STLS, A, "STLS", NULL, NULL},
    {POP3_CMD_APOP, A, "APOP name digest", NULL, NULL},
};
#undef A
#undef T

/* The command table's dispatcher: state, grammar, check, proceed. 0 go
 * on, -1 end the session. */
static int pop3_command(struct pop3 *p, const char *line, size_t len)
{
	struct pop3_command c;
	int r = pop3parse_command(line, len, &p->lim, &c);
	if (r < 0 && (c.error == POP3PARSE_E_NUL || c.error == POP3PARSE_E_TOOLONG)) {
		p->errors++;
		io_puts(&p->io, c.error == POP3PARSE_E_NUL ? "-ERR NUL byte in command.\r\n"
		                                           : "-ERR Bad command line.\r\n");
		return 0;
	}
	const struct pop3_cmd_row *row = NULL;
	for (size_t i = 0; i < sizeof(pop3_cmds) / sizeof(pop3_cmds[0]); i++)
		if (pop3_cmds[i].cmd == c.cmd)
			row = &pop3_cmds[i];
	if (row == NULL) {
		p->errors++;
		io_puts(&p->io, "-ERR Unknown command.\r\n");
		return 0;
	}
	if (!(row->states & POP3_IN(p->back->state))) {
		io_puts(&p->io, "-ERR Already logged in.\r\n");
		return 0;
	}
	if (r < 0) {
		p->errors++;
		/* A message number that is no number (RFC 1939 section 5). */
		if (c.error == POP3PARSE_E_NUMBER && c.bad_arg == 0)
			io_puts(&p->io, "-ERR Invalid message number.\r\n");
		else
			io_printf(&p->io, "-ERR Syntax: %s\r\n", row->usage);
		return 0;
	}
	if (row->check != NULL && row->check(p, &c) < 0)
		return 0;
	return row->proceed(p, &c);
}

void pop3d_timeout_err(struct io *io)
{
	const char *why;
	switch (io->expired) {
	case IO_LIMIT_LINE:
		why = "Command line not completed in time.";
		break;
	case IO_LIMIT_TOTAL:
		why = "Login time limit exceeded.";
		break;
	default:
		why = "Disconnected for inactivity.";
		break;
	}
	io_printf(io, "-ERR %s\r\n", why);
	io_flush(io);
	log_event(LOG_INFO, "disconnect", "REASON", io_limit_name(io->expired), NULL);
}

static int pop3_session(const struct conf *c, struct login_session *ls, void *arg)
{
	struct pop3 p;
	memset(&p, 0, sizeof(p));
	p.conf = c;
	p.back = arg;
	p.ls = ls;
	p.lim = (struct pop3parse_limits)POP3PARSE_LIMITS_INIT(LOGIN_USER_MAX);
	p.back->user = ls->user;
	pop3_state(p.back, POP3_TRANSACTION);
	/* RFC 1939 section 3: the autologout timer (pop3d.timeout) between
	 * commands, and pop3d.command_timeout for each line; no total: a
	 * download of a large maildrop takes its time. */
	io_init(&p.io, ls->fd, ls->fd, (int)c->pop3d_timeout_ms);
	io_set_line_deadline(&p.io, (int)c->pop3d_command_timeout_ms);
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
				pop3d_timeout_err(&p.io);
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
	struct pop3_back b = {.ctx = arg, .lock_fd = -1};
	struct login_back_ops ops = {.admit = pop3_admit,
	                             .session = pop3_session,
	                             .arg = &b,
	                             .login_timeout_ms = b.ctx->conf->pop3d_login_timeout_ms};
	pop3_state(&b, POP3_AUTHORIZATION);
	int rc = login_back_run(b.ctx->conf, b.ctx->conn, fd, b.ctx->state_fd, &ops);
	if (b.lock_fd >= 0)
		close(b.lock_fd);
	return rc;
}
