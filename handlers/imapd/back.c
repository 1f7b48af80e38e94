/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* The post-auth IMAP session: command loop, dispatch, responses, and the
 * small commands (CAPABILITY, NOOP, CHECK, LOGOUT, ID, ENABLE, NAMESPACE;
 * the first four also run in the front). Trust: post-auth, except the
 * responses and the small commands of any state, which the pre-auth front
 * runs too; the client is untrusted input either way. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "imapd.h"
#include "sys/log.h"
#include "base/mem.h"
#include "proto/mutf7.h"
#include "base/timeutil.h"

static void imap_vtagged(struct imap_sess *s, const char *status, const char *fmt, va_list ap)
{
	io_printf(&s->io, "%s %s ", s->cmd && s->cmd->tag ? s->cmd->tag : "*", status);
	buf_vprintf(&s->io.out, fmt, ap);
	io_puts(&s->io, "\r\n");
}

void imap_untagged(struct imap_sess *s, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	io_puts(&s->io, "* ");
	buf_vprintf(&s->io.out, fmt, ap);
	io_puts(&s->io, "\r\n");
	va_end(ap);
}

void imap_ok(struct imap_sess *s, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	imap_vtagged(s, "OK", fmt, ap);
	va_end(ap);
}

void imap_no(struct imap_sess *s, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	imap_vtagged(s, "NO", fmt, ap);
	va_end(ap);
}

void imap_bad(struct imap_sess *s, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	imap_vtagged(s, "BAD", fmt, ap);
	va_end(ap);
}

void imap_publish_change(struct imap_sess *s, uint64_t modseq)
{
	/* "changed " and 20 digits always fit. */
	char msg[40];
	int k = snprintf(msg, sizeof(msg), "changed %llu", (unsigned long long)modseq);
	if (k < 0 || (size_t)k >= sizeof(msg))
		return;
	notify_publish(s->notify, s->user_id, msg);
}

int imap_mailbox_arg(struct imap_sess *s, const struct imapparse_arg *a, struct buf *out)
{
	const char *name = imapparse_arg_astring(a);
	const char *err;
	buf_reset(out);
	if (name == NULL) {
		imap_bad(s, "Invalid mailbox name.");
		return -1;
	}
	/* RFC 3501 section 5.1: INBOX is case-insensitive. */
	if (strcasecmp(name, "INBOX") == 0) {
		buf_append_str(out, "INBOX");
		return 0;
	}
	if (mutf7_to_utf8(name, a->len, out, &err) != 1) {
		imap_no(s, "[CANNOT] Invalid mailbox name: %s", err);
		return -1;
	}
	/* INBOX/child keeps INBOX's canonical case. */
	if (out->len > 6 && strncasecmp((const char *)out->data, "INBOX/", 6) == 0)
		memcpy(out->data, "INBOX", 5);
	if (out->len == 0 || out->len > STORE_FOLDER_NAME_MAX || out->data[0] == IMAPD_DELIM ||
	    out->data[out->len - 1] == IMAPD_DELIM || strstr(buf_cstr(out), "//") != NULL) {
		imap_no(s, "[CANNOT] Invalid mailbox name.");
		return -1;
	}
	return 0;
}

void imap_append_mailbox(struct buf *out, const char *utf8name)
{
	struct buf enc = BUF_INIT;
	const char *err;
	if (mutf7_from_utf8(utf8name, strlen(utf8name), &enc, &err) != 1)
		buf_append_str(&enc, utf8name);
	buf_append_byte(out, '"');
	for (size_t i = 0; i < enc.len; i++) {
		if (enc.data[i] == '"' || enc.data[i] == '\\')
			buf_append_byte(out, '\\');
		buf_append_byte(out, enc.data[i]);
	}
	buf_append_byte(out, '"');
	buf_free(&enc);
}

static const struct {
	unsigned bit;
	const char *name;
} imap_sysflags[] = {
    {STORE_FLAG_ANSWERED, "\\Answered"}, {STORE_FLAG_FLAGGED, "\\Flagged"},
    {STORE_FLAG_DELETED, "\\Deleted"},   {STORE_FLAG_SEEN, "\\Seen"},
    {STORE_FLAG_DRAFT, "\\Draft"},
};

void imap_append_flags(struct buf *out, unsigned flags, const char *keywords, bool recent)
{
	bool first = true;
	buf_append_byte(out, '(');
	for (size_t i = 0; i < sizeof(imap_sysflags) / sizeof(imap_sysflags[0]); i++) {
		if (!(flags & imap_sysflags[i].bit))
			continue;
		if (!first)
			buf_append_byte(out, ' ');
		buf_append_str(out, imap_sysflags[i].name);
		first = false;
	}
	if (recent) {
		if (!first)
			buf_append_byte(out, ' ');
		buf_append_str(out, "\\Recent");
		first = false;
	}
	if (keywords != NULL && keywords[0] != '\0') {
		if (!first)
			buf_append_byte(out, ' ');
		buf_append_str(out, keywords);
	}
	buf_append_byte(out, ')');
}

/* One flag: a system flag goes into *flags (0), a keyword is to be kept
 * (1), anything else is answered BAD (-1). */
static int imap_one_flag(struct imap_sess *s, const struct imapparse_arg *a, unsigned *flags)
{
	if (a->type != IMAPPARSE_ATOM || !imapparse_arg_is_flag(a)) {
		imap_bad(s, "Invalid flag.");
		return -1;
	}
	if (a->str[0] == '\\') {
		for (size_t i = 0; i < sizeof(imap_sysflags) / sizeof(imap_sysflags[0]); i++) {
			if (strcasecmp(a->str, imap_sysflags[i].name) == 0) {
				*flags |= imap_sysflags[i].bit;
				return 0;
			}
		}
		/* \Recent cannot be stored (RFC 3501 section 2.3.2). */
		if (strcasecmp(a->str, "\\Recent") == 0)
			imap_bad(s, "\\Recent cannot be stored.");
		else
			imap_bad(s, "Invalid system flag.");
		return -1;
	}
	if (a->len > STORE_KEYWORD_MAX) {
		imap_bad(s, "Keyword too long.");
		return -1;
	}
	return 1;
}

/* Keywords in case-insensitive order, ties by position: the first use of
 * each keyword sorts first in its group. */
static int imap_kw_cmp(const void *x, const void *y)
{
	const struct imapparse_arg *a = *(const struct imapparse_arg *const *)x;
	const struct imapparse_arg *b = *(const struct imapparse_arg *const *)y;
	int c = strncasecmp(a->str, b->str, a->len < b->len ? a->len : b->len);
	if (c != 0)
		return c;
	if (a->len != b->len)
		return a->len < b->len ? -1 : 1;
	return a < b ? -1 : a > b;
}

int imap_parse_flags(struct imap_sess *s, const struct imapparse_arg *a, unsigned *flags_r,
                     struct buf *keywords)
{
	*flags_r = 0;
	buf_reset(keywords);
	const struct imapparse_arg *list = a->type == IMAPPARSE_LIST ? a->list : a;
	size_t n = a->type == IMAPPARSE_LIST ? a->count : 1, nk = 0;
	/* Keywords keep the case of their first use; duplicates collapse.
	 * Found by sorting, not by comparing each keyword with every earlier
	 * one: a list may hold up to the parser's max_args keywords. */
	const struct imapparse_arg **kw = mem_array(n ? n : 1, sizeof(*kw));
	bool *dup = mem_zalloc(n ? n : 1);
	int rc = 0;
	for (size_t i = 0; i < n && rc == 0; i++) {
		int r = imap_one_flag(s, &list[i], flags_r);
		if (r < 0)
			rc = -1;
		else if (r == 1)
			kw[nk++] = &list[i];
	}
	if (rc == 0 && nk > 1) {
		qsort(kw, nk, sizeof(*kw), imap_kw_cmp);
		for (size_t i = 1; i < nk; i++)
			if (kw[i]->len == kw[i - 1]->len &&
			    strncasecmp(kw[i]->str, kw[i - 1]->str, kw[i]->len) == 0)
				dup[kw[i] - list] = true;
	}
	for (size_t i = 0; i < n && rc == 0; i++) {
		if (dup[i] || list[i].type != IMAPPARSE_ATOM || list[i].str[0] == '\\')
			continue;
		if (keywords->len)
			buf_append_byte(keywords, ' ');
		buf_append(keywords, list[i].str, list[i].len);
	}
	free(kw);
	free(dup);
	return rc;
}

/* ---- small commands ------------------------------------------------------
 * Shared by the front and the back: what differs is said by the state. */

int imap_cmd_capability(struct imap_sess *s, const struct imapparse_arg *args, size_t n)
{
	if (s->state == IMAP_ST_NOT_AUTH) {
		struct buf caps = BUF_INIT;
		imap_front_caps(s, &caps);
		imap_untagged(s, "CAPABILITY %s", buf_cstr(&caps));
		buf_free(&caps);
	} else {
		imap_untagged(s, "CAPABILITY " IMAPD_CAPS_AUTH " APPENDLIMIT=%llu",
		              (unsigned long long)s->conf->max_message_size);
	}
	imap_ok(s, "Capability completed.");
	return 0;
}

int imap_cmd_noop(struct imap_sess *s, const struct imapparse_arg *args, size_t n)
{
	imap_ok(s, "%s completed.", s->cmd->name);
	return 0;
}

int imap_cmd_logout(struct imap_sess *s, const struct imapparse_arg *args, size_t n)
{
	imap_untagged(s, "BYE Logging out");
	imap_ok(s, "Logout completed.");
	io_flush(&s->io);
	imap_set_state(s, IMAP_ST_LOGOUT);
	return -1;
}

int imap_check_id(struct imap_sess *s, const struct imapparse_cmd *c)
{
	if (c->count == 1 &&
	    (c->args[0].type == IMAPPARSE_LIST || c->args[0].type == IMAPPARSE_NIL))
		return 0;
	imap_bad(s, "Syntax: ID ( field value ... ) or ID NIL");
	return -1;
}

int imap_cmd_id(struct imap_sess *s, const struct imapparse_arg *args, size_t n)
{
	/* RFC 2971: ours is sent; the client's is not acted upon. */
	imap_untagged(s, "ID (\"name\" \"sealmail\" \"version\" \"" SEALMAIL_VERSION "\")");
	imap_ok(s, "ID completed.");
	return 0;
}

int imap_check_enable(struct imap_sess *s, const struct imapparse_cmd *c)
{
	bool ok = c->count > 0;
	for (size_t i = 0; ok && i < c->count; i++)
		ok = c->args[i].type == IMAPPARSE_ATOM;
	if (ok)
		return 0;
	imap_bad(s, "Syntax: ENABLE capability...");
	return -1;
}

int imap_cmd_enable(struct imap_sess *s, const struct imapparse_arg *args, size_t n)
{
	/* RFC 5161: list what was newly enabled; unknown names are ignored. */
	struct buf en = BUF_INIT;
	for (size_t i = 0; i < n; i++) {
		if (imapparse_arg_is_atom(&args[i], "CONDSTORE") && !s->condstore) {
			s->condstore = true;
			buf_append_str(&en, " CONDSTORE");
		} else if (imapparse_arg_is_atom(&args[i], "QRESYNC") && !s->qresync) {
			/* RFC 7162 section 3.2.3: QRESYNC implies CONDSTORE. */
			s->qresync = true;
			s->condstore = true;
			buf_append_str(&en, " QRESYNC");
		}
	}
	imap_untagged(s, "ENABLED%s", buf_cstr(&en));
	buf_free(&en);
	imap_ok(s, "Enabled.");
	return 0;
}

int imap_cmd_namespace(struct imap_sess *s, const struct imapparse_arg *args, size_t n)
{
	/* RFC 2342: one personal namespace, no shared or other users'. */
	imap_untagged(s, "NAMESPACE ((\"\" \"/\")) NIL NIL");
	imap_ok(s, "Namespace completed.");
	return 0;
}

int imap_cmd_check(struct imap_sess *s, const struct imapparse_arg *args, size_t n)
{
	imap_ok(s, "Check completed.");
	return 0;
}

/* APPEND with a message over max_message_size (RFC 7889 section 4, TOOBIG
 * of RFC 4469): the parser refuses the literal announcement with its limit,
 * max_message_size. For APPEND that becomes "NO [TOOBIG]" rather than the
 * parser's BAD: a {n} literal is refused before the client sends it; a
 * {n+} one is already on its way, so its bytes are read and discarded (up
 * to APPEND_DISCARD_FACTOR times the limit; beyond that the session ends as
 * for any other oversized non-synchronising literal). */
#define APPEND_DISCARD_FACTOR 4

/* True when the first line of a command names APPEND: "tag APPEND ...". */
static bool imap_line_is_append(const char *line, size_t len)
{
	const char *sp = memchr(line, ' ', len);
	if (sp == NULL)
		return false;
	size_t rest = len - (size_t)(sp + 1 - line);
	return rest >= 7 && strncasecmp(sp + 1, "APPEND ", 7) == 0;
}

/* The size of a literal announced at the end of line, or -1. */
static int64_t imap_line_literal(const char *line, size_t len, bool *nonsync)
{
	if (len < 3 || line[len - 1] != '}')
		return -1;
	size_t i = len - 1;
	*nonsync = line[i - 1] == '+';
	if (*nonsync)
		i--;
	size_t end = i;
	while (i > 0 && line[i - 1] >= '0' && line[i - 1] <= '9' && end - i < 19)
		i--;
	if (i == end || i == 0 || line[i - 1] != '{')
		return -1;
	int64_t v = 0;
	for (size_t j = i; j < end; j++)
		v = v * 10 + (line[j] - '0');
	return v;
}

void imap_timeout_bye(struct imap_sess *s)
{
	const char *why;
	switch (s->io.expired) {
	case IO_LIMIT_LINE:
		why = "Command line not completed in time.";
		break;
	case IO_LIMIT_TRANSFER:
		why = "Literal data arriving too slowly.";
		break;
	case IO_LIMIT_TOTAL:
		why = "Login time limit exceeded.";
		break;
	default:
		/* RFC 3501 section 5.4: the autologout timer. */
		why = "Disconnected for inactivity.";
		break;
	}
	io_printf(&s->io, "* BYE %s\r\n", why);
	io_flush(&s->io);
	log_event(LOG_INFO, "disconnect", "REASON", io_limit_name(s->io.expired), NULL);
}

void imap_literal_deadline(struct imap_sess *s)
{
	/* As SMTP content: the command deadline as a grace, then a minimum
	 * rate, so a 50 MB APPEND on a slow line goes through and a literal
	 * trickled a byte at a time ends. */
	if (s->conf->imapd_min_data_rate > 0)
		io_transfer_begin(&s->io, (int64_t)s->conf->imapd_command_timeout_ms,
		                  s->conf->imapd_min_data_rate);
}

/* 1: not an oversized APPEND literal (the caller answers BAD); 0: refused
 * with NO [TOOBIG], the session goes on; -1: end the session. */
static int imap_refuse_append(struct imap_sess *s, const char *line, size_t len)
{
	bool nonsync = false;
	int64_t size = imap_line_literal(line, len, &nonsync);
	uint64_t max = s->conf->max_message_size;
	const char *tag = imapparse_tag(s->parser);
	if (size < 0 || (uint64_t)size <= max || tag == NULL)
		return 1;
	if (nonsync) {
		if ((uint64_t)size / APPEND_DISCARD_FACTOR > max)
			return 1;
		uint64_t left = (uint64_t)size;
		imap_literal_deadline(s);
		while (left > 0) {
			unsigned char *p;
			ssize_t k = io_peek(&s->io, &p);
			if (k <= 0)
				return -1;
			size_t used = (uint64_t)k < left ? (size_t)k : (size_t)left;
			io_consume(&s->io, used);
			left -= used;
		}
		/* The rest of the command line; another literal in it (a
		 * multi-part APPEND we do not offer) cannot be skipped safely. */
		char *rest;
		size_t rlen;
		if (io_read_line(&s->io, &rest, &rlen, s->conf->imapd_max_line) <= 0 ||
		    imap_line_literal(rest, rlen, &nonsync) >= 0)
			return -1;
	}
	io_printf(&s->io, "%s NO [TOOBIG] Message too large (APPENDLIMIT %llu).\r\n", tag,
	          (unsigned long long)max);
	imapparse_reset(s->parser);
	return 0;
}

static int imap_read_command_in(struct imap_sess *s, const struct imapparse_cmd **c_r)
{
	char *line;
	size_t len;
	if (io_pending(&s->io) == 0 && io_flush(&s->io) < 0)
		return -1;
	int r = io_read_line(&s->io, &line, &len, s->conf->imapd_max_line);
	if (r == 0)
		return -1;
	if (r < 0) {
		switch (s->io.err) {
		case IO_TOOLONG:
			io_puts(&s->io, "* BAD [TOOBIG] Command line too long.\r\n");
			imapparse_reset(s->parser);
			return 0;
		case IO_BARELF:
		case IO_BARECR:
			io_puts(&s->io, "* BAD Lines must end with CRLF.\r\n");
			imapparse_reset(s->parser);
			return 0;
		default: /* a timeout: imap_read_command says which */
			return -1;
		}
	}
	bool append = imap_line_is_append(line, len);
	r = imapparse_feed_line(s->parser, line, len);
	while (r == 0) {
		struct imapparse_literal lit;
		if (!imapparse_literal(s->parser, &lit))
			return -1;
		if (lit.sync) {
			io_puts(&s->io, "+ Ready for literal data\r\n");
			if (io_flush(&s->io) < 0)
				return -1;
		}
		/* An empty literal ({0}) has no bytes to wait for but must still
		 * be handed to the parser, which adds it as an argument. */
		if (lit.remaining == 0 &&
		    imapparse_feed_literal(s->parser, (const unsigned char *)"", 0, NULL) < 0)
			return -1;
		imap_literal_deadline(s);
		while (lit.remaining > 0) {
			unsigned char *p;
			ssize_t k = io_peek(&s->io, &p);
			if (k <= 0)
				return -1;
			size_t used;
			int lr = imapparse_feed_literal(s->parser, p, (size_t)k, &used);
			io_consume(&s->io, used);
			lit.remaining -= used;
			if (lr < 0)
				return -1;
		}
		r = io_read_line(&s->io, &line, &len, s->conf->imapd_max_line);
		if (r <= 0)
			return -1;
		r = imapparse_feed_line(s->parser, line, len);
	}
	if (r == 1) {
		*c_r = imapparse_command(s->parser);
		return 1;
	}
	bool fatal = false;
	enum imapparse_err code;
	const char *why = imapparse_error(s->parser, &code, &fatal);
	if (code == IMAPPARSE_ERR_TOOBIG && append) {
		int ar = imap_refuse_append(s, line, len);
		if (ar <= 0)
			return ar;
	}
	const char *tag = imapparse_tag(s->parser);
	io_printf(&s->io, "%s BAD %s%s\r\n", tag ? tag : "*",
	          code == IMAPPARSE_ERR_TOOBIG ? "[TOOBIG] " : "", why ? why : "Syntax error.");
	if (fatal) {
		io_flush(&s->io);
		return -1;
	}
	return 0;
}

/* Read one command with its literals into the parser: 1 command ready, 0 an
 * error was answered, -1 end of session (with "* BYE" if a limit passed).
 * Limits (lib/sys/io.h): imapd.idle_timeout before a command starts (the
 * RFC 3501 section 5.4 autologout), imapd.command_timeout for each line of
 * it, a transfer deadline for each literal. A logged-in session may last
 * for days: it has no total. */
static int imap_read_command(struct imap_sess *s, const struct imapparse_cmd **c_r)
{
	int r = imap_read_command_in(s, c_r);
	io_transfer_end(&s->io);
	if (r < 0 && s->io.err == IO_TIMEOUT)
		imap_timeout_bye(s);
	return r;
}

int imap_import_spool(struct imap_sess *s)
{
	struct store_import_stats stats;
	const char *err;
	if (s->spool_fd < 0)
		return 0;
	if (store_import_spool(s->st, s->spool_fd, (size_t)s->conf->max_message_size + (1 << 20),
	                       &stats, &err) < 0) {
		log_event(LOG_ERR, "import-error", "REASON", err, NULL);
		return -1;
	}
	return (int)stats.imported;
}

int imap_session(const struct conf *c, int fd, const struct buf *pending, struct store *st,
                 int spool_fd, const char *user, const char *user_id, const char *tag,
                 const char *remote)
{
	struct imap_sess s;
	memset(&s, 0, sizeof(s));
	s.conf = c;
	s.st = st;
	s.spool_fd = spool_fd;
	s.state = IMAP_ST_NOT_AUTH;
	/* The login skeleton bounds all three by these sizes; a longer one
	 * would be a bug there, and a session under a cut name a worse one. */
	if (imap_strcpy(s.user, sizeof(s.user), user) < 0 ||
	    imap_strcpy(s.user_id, sizeof(s.user_id), user_id) < 0 ||
	    imap_strcpy(s.remote, sizeof(s.remote), remote) < 0) {
		log_event(LOG_ERR, "session-error", "REASON", "user or address too long", NULL);
		store_close(&st);
		if (spool_fd >= 0)
			close(spool_fd);
		return 1;
	}
	s.notify = notify_new(c->redis);
	io_init(&s.io, fd, fd, (int)c->imapd_idle_timeout_ms);
	io_set_line_deadline(&s.io, (int)c->imapd_command_timeout_ms);
	io_prefill(&s.io, pending->data, pending->len);
	struct imapparse_limits lim;
	imapparse_limits_default(&lim);
	lim.max_line = c->imapd_max_line;
	lim.max_literal = c->max_message_size;
	lim.max_nonsync_literal = c->max_message_size;
	lim.max_command = c->max_message_size + c->imapd_max_line * 4;
	s.parser = imapparse_new(&lim, 0);
	io_printf(&s.io, "%s OK [CAPABILITY " IMAPD_CAPS_AUTH " APPENDLIMIT=%llu] Logged in\r\n",
	          tag, (unsigned long long)c->max_message_size);
	imap_set_state(&s, IMAP_ST_AUTH);
	for (;;) {
		const struct imapparse_cmd *cmd;
		int r = imap_read_command(&s, &cmd);
		if (r < 0)
			break;
		if (r == 0)
			continue;
		if (imap_dispatch(&s, cmd) < 0 || s.state == IMAP_ST_LOGOUT)
			break;
		s.cmd = NULL;
	}
	io_flush(&s.io);
	log_event(LOG_INFO, "disconnect", NULL);
	imap_sel_free(&s.sel);
	if (s.spool_fd >= 0)
		close(s.spool_fd);
	imapparse_free(&s.parser);
	notify_free(&s.notify);
	store_close(&s.st);
	buf_free(&s.scratch);
	io_cleanup(&s.io);
	return 0;
}
