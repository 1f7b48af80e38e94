/* SPDX-License-Identifier: AGPL-3.0-or-later */
#include "log.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <systemd/sd-journal.h>
#include <unistd.h>

#include "base/fmt.h"

#define LOG_STICKY_MAX 8
#define LOG_FIELDS_MAX 32

static char log_ident_field[96] = "SYSLOG_IDENTIFIER=sealmail";
static enum log_target log_dest = LOG_TARGET_STDERR;
static bool log_debug;
static struct {
	char key[32];
	char value[LOG_VALUE_MAX + 8];
} log_sticky[LOG_STICKY_MAX];

/* One decimal number of the full unsigned 64-bit range at s (digits only:
 * no sign, no blanks), *end after it. Not strtonum: inode numbers of some
 * file systems (overlayfs with xino) use the top bit. true if parsed. */
static bool log_parse_u64(const char *s, char **end, unsigned long long *v)
{
	if (!isdigit((unsigned char)*s))
		return false;
	errno = 0;
	*v = strtoull(s, end, 10);
	return errno == 0;
}

/* JOURNAL_STREAM is "DEV:INO" of the journal's stream socket
 * (systemd.exec(5)); stderr is that socket when both match. */
static bool log_stderr_is_journal(void)
{
	const char *js = getenv("JOURNAL_STREAM");
	struct stat st;
	if (js == NULL || fstat(2, &st) < 0)
		return false;
	unsigned long long dev, ino;
	char *end;
	return log_parse_u64(js, &end, &dev) && *end == ':' && log_parse_u64(end + 1, &end, &ino) &&
	       *end == '\0' && dev == (unsigned long long)st.st_dev &&
	       ino == (unsigned long long)st.st_ino;
}

void log_init(const char *ident)
{
	struct stat st;
	const char *t = getenv("LOG_TARGET");
	/* ident is a program name of ours (a handler's, under 20 bytes): it fits.
	 * A longer one would only be shortened in the journal. */
	snprintf(log_ident_field, sizeof(log_ident_field), "SYSLOG_IDENTIFIER=%s", ident);
	log_debug = getenv("SEALMAIL_DEBUG") != NULL;
	if (t != NULL && strcmp(t, "journal") == 0)
		log_dest = LOG_TARGET_JOURNAL;
	else if (log_stderr_is_journal())
		log_dest = LOG_TARGET_JOURNAL;
	else if (fstat(2, &st) == 0 && S_ISSOCK(st.st_mode))
		log_dest = LOG_TARGET_JOURNAL; /* inetd: fd 2 may be the client */
	else if (fstat(2, &st) < 0)
		log_dest = LOG_TARGET_JOURNAL;
	else
		log_dest = LOG_TARGET_STDERR;
	if (t != NULL && strcmp(t, "stderr") == 0 && fstat(2, &st) == 0 && !S_ISSOCK(st.st_mode))
		log_dest = LOG_TARGET_STDERR;
}

enum log_target log_target(void)
{
	return log_dest;
}

void log_escape(const char *value, char *out, size_t outsz)
{
	size_t o = 0, i = 0;
	const unsigned char *v = (const unsigned char *)value;
	if (outsz == 0)
		return;
	for (; v[i] != '\0'; i++) {
		char tmp[5];
		size_t tl;
		if (v[i] >= 0x20 && v[i] < 0x7f && v[i] != '\\' && v[i] != '"') {
			tmp[0] = (char)v[i];
			tl = 1;
		} else if (v[i] == '\\' || v[i] == '"') {
			tmp[0] = '\\';
			tmp[1] = (char)v[i];
			tl = 2;
		} else {
			snprintf(tmp, sizeof(tmp), "\\x%02x", v[i]); /* 4 bytes: fits */
			tl = 4;
		}
		if (o + tl > LOG_VALUE_MAX || o + tl + 4 > outsz) {
			if (o + 4 <= outsz) {
				memcpy(out + o, "...", 3);
				o += 3;
			}
			break;
		}
		memcpy(out + o, tmp, tl);
		o += tl;
	}
	out[o] = '\0';
}

static void log_key_upper(const char *key, char *out, size_t outsz)
{
	size_t i = 0;
	for (; key[i] != '\0' && i + 1 < outsz; i++) {
		unsigned char c = (unsigned char)key[i];
		out[i] = isalnum(c) ? (char)toupper(c) : '_';
	}
	out[i] = '\0';
}

void log_set(const char *key, const char *value)
{
	char k[32];
	log_key_upper(key, k, sizeof(k));
	int free_slot = -1;
	for (int i = 0; i < LOG_STICKY_MAX; i++) {
		if (log_sticky[i].key[0] == '\0') {
			if (free_slot < 0)
				free_slot = i;
			continue;
		}
		if (strcmp(log_sticky[i].key, k) == 0) {
			if (value == NULL)
				log_sticky[i].key[0] = '\0';
			else
				log_escape(value, log_sticky[i].value, sizeof(log_sticky[i].value));
			return;
		}
	}
	if (value == NULL || free_slot < 0)
		return;
	memcpy(log_sticky[free_slot].key, k, sizeof(k));
	log_escape(value, log_sticky[free_slot].value, sizeof(log_sticky[free_slot].value));
}

/* An event is assembled in static buffers, not on the stack or the heap: in
 * a child of an accept loop every page written is a page copied, and a
 * stack array of every possible field reached pages below anything else the
 * child touches. Handlers are single-threaded and never log from a signal
 * handler. The line has room for every field at its longest. */
#define LOG_FIELD_ROOM (sizeof(" SEALMAIL_=") + 32 + LOG_VALUE_MAX + 16)
#define LOG_LINE_MAX   (64 + (LOG_FIELDS_MAX + LOG_STICKY_MAX + 1) * LOG_FIELD_ROOM)
#define LOG_HEAD       16 /* room before the event for "<prio>" or "MESSAGE=" */

struct log_record {
	char line[LOG_LINE_MAX]; /* [LOG_HEAD] "event SEALMAIL_K=v ..." */
	size_t len;
	char parts[LOG_LINE_MAX]; /* journald: "SEALMAIL_K=v" strings, each ended by NUL */
	size_t plen;
	size_t part_len[LOG_FIELDS_MAX + LOG_STICKY_MAX];
	int nparts;
};
static struct log_record log_rec;

static void log_put(char *buf, size_t *len, const char *s, size_t n)
{
	/* Room is always kept for "\n" and the NUL. */
	size_t room = *len < LOG_LINE_MAX - 2 ? LOG_LINE_MAX - 2 - *len : 0;
	if (n > room)
		n = room;
	memcpy(buf + *len, s, n);
	*len += n;
	buf[*len] = '\0';
}

static void log_puts(char *buf, size_t *len, const char *s)
{
	log_put(buf, len, s, strlen(s));
}

static void log_begin(const char *event)
{
	struct log_record *r = &log_rec;
	r->len = LOG_HEAD;
	r->plen = 0;
	r->nparts = 0;
	log_puts(r->line, &r->len, event);
}

/* A plain token of the text form: printable ASCII without blank, quote,
 * backslash or '='. */
static bool log_is_token(const char *v)
{
	if (*v == '\0')
		return false;
	for (; *v != '\0'; v++)
		if (*v <= 0x20 || *v >= 0x7f || *v == '"' || *v == '\\' || *v == '=')
			return false;
	return true;
}

/* The text form of an escaped value (log_escape's output: only printable
 * ASCII, with \", \\ and \xNN escapes): a plain token as it is, anything
 * else quoted with '=' written \x3d as well. So every '=' of a line ends a
 * key, and " SEALMAIL_REMOTE=" can appear in a line only where that field
 * is: a client cannot forge a field for a log reader such as fail2ban
 * (etc/fail2ban/filter.d/sealmail.conf). A cut keeps whole escapes and is
 * marked "...". */
static void log_text_value(const char *v, char *out, size_t outsz)
{
	size_t o = 0;
	if (log_is_token(v)) {
		(void)fmt_name(out, outsz, "%s", v); /* same bound as v: fits */
		return;
	}
	out[o++] = '"';
	for (size_t i = 0; v[i] != '\0';) {
		const char *piece = v + i;
		size_t pl = 1, step = 1;
		if (v[i] == '=') {
			piece = "\\x3d";
			pl = 4;
		} else if (v[i] == '\\') {
			pl = step = v[i + 1] == 'x' && v[i + 2] != '\0' && v[i + 3] != '\0' ? 4 : 2;
			if (v[i + 1] == '\0')
				pl = step = 1; /* never produced by log_escape */
		}
		if (o + pl + sizeof("...\"") > outsz) {
			memcpy(out + o, "...", 3);
			o += 3;
			break;
		}
		memcpy(out + o, piece, pl);
		o += pl;
		i += step;
	}
	out[o++] = '"';
	out[o] = '\0';
}

/* key: upper-case, without the prefix; value: escaped. */
static void log_add(const char *key, const char *value)
{
	struct log_record *r = &log_rec;
	char tv[LOG_VALUE_MAX + 16];
	log_text_value(value, tv, sizeof(tv));
	log_puts(r->line, &r->len, " SEALMAIL_");
	log_puts(r->line, &r->len, key);
	log_puts(r->line, &r->len, "=");
	log_puts(r->line, &r->len, tv);
	if (log_dest != LOG_TARGET_JOURNAL || r->nparts >= LOG_FIELDS_MAX + LOG_STICKY_MAX)
		return;
	size_t at = r->plen;
	log_puts(r->parts, &r->plen, "SEALMAIL_");
	log_puts(r->parts, &r->plen, key);
	log_puts(r->parts, &r->plen, "=");
	log_puts(r->parts, &r->plen, value);
	r->part_len[r->nparts++] = r->plen - at;
	r->plen++; /* past the NUL */
}

static void log_add_sticky(void)
{
	for (int i = 0; i < LOG_STICKY_MAX; i++)
		if (log_sticky[i].key[0] != '\0')
			log_add(log_sticky[i].key, log_sticky[i].value);
}

/* Send the event; message: MESSAGE for journald instead of the line. */
static void log_end(int prio, const char *event, const char *message)
{
	struct log_record *r = &log_rec;
	int saved_errno = errno;
	if (log_dest == LOG_TARGET_STDERR) {
		char p[LOG_HEAD];
		int pl = snprintf(p, sizeof(p), "<%d>", prio); /* syslog prio 0-7: fits */
		char *start = r->line + LOG_HEAD - pl;
		memcpy(start, p, (size_t)pl);
		r->line[r->len++] = '\n';
		/* One write per event so concurrent handlers do not interleave. */
		ssize_t w = write(2, start, (size_t)(r->line + r->len - start));
		(void)w;
		errno = saved_errno;
		return;
	}
	struct iovec iov[4 + LOG_FIELDS_MAX + LOG_STICKY_MAX];
	/* Sized for what the formats below can produce (any int; the precisions
	 * bound the strings): none is ever cut, so each length is exact. */
	char pr[24], ev[80], msg[16 + 512];
	int n = 0;
	if (message != NULL) {
		iov[n++] = (struct iovec){
		    msg, (size_t)snprintf(msg, sizeof(msg), "MESSAGE=%.512s", message)};
	} else {
		char *start = r->line + LOG_HEAD - (sizeof("MESSAGE=") - 1);
		memcpy(start, "MESSAGE=", sizeof("MESSAGE=") - 1);
		iov[n++] = (struct iovec){start, (size_t)(r->line + r->len - start)};
	}
	iov[n++] = (struct iovec){pr, (size_t)snprintf(pr, sizeof(pr), "PRIORITY=%d", prio)};
	iov[n++] = (struct iovec){log_ident_field, strlen(log_ident_field)};
	iov[n++] =
	    (struct iovec){ev, (size_t)snprintf(ev, sizeof(ev), "SEALMAIL_EVENT=%.64s", event)};
	char *p = r->parts;
	for (int i = 0; i < r->nparts; i++) {
		iov[n++] = (struct iovec){p, r->part_len[i]};
		p += r->part_len[i] + 1;
	}
	sd_journal_sendv(iov, n);
	errno = saved_errno;
}

void log_event(int prio, const char *event, ...)
{
	if (prio == LOG_DEBUG && !log_debug)
		return;
	log_begin(event);
	log_add_sticky();
	va_list ap;
	va_start(ap, event);
	int nf = 0;
	for (;;) {
		const char *k = va_arg(ap, const char *);
		if (k == NULL)
			break;
		const char *v = va_arg(ap, const char *);
		if (v == NULL || nf >= LOG_FIELDS_MAX)
			continue;
		char key[32], value[LOG_VALUE_MAX + 8];
		log_key_upper(k, key, sizeof(key));
		log_escape(v, value, sizeof(value));
		log_add(key, value);
		nf++;
	}
	va_end(ap);
	log_end(prio, event, NULL);
}

/* A free-text event: the sticky fields and MESSAGE. */
static void log_text(int prio, const char *event, const char *text)
{
	if (prio == LOG_DEBUG && !log_debug)
		return;
	char esc[LOG_VALUE_MAX * 2], tv[LOG_VALUE_MAX + 16];
	log_escape(text, esc, sizeof(esc));
	log_text_value(esc, tv, sizeof(tv));
	log_begin(event);
	log_add_sticky();
	struct log_record *r = &log_rec;
	log_puts(r->line, &r->len, " MESSAGE=");
	log_puts(r->line, &r->len, tv);
	log_end(prio, event, text);
}

/* Free text is cut (fmt_vmsg marks the cut with "..."): log values are
 * bounded anyway (LOG_VALUE_MAX on stderr, 512 bytes of MESSAGE in the
 * journal). */
#define LOG_TEXT_MAX 512

void log_msg(int prio, const char *fmt, ...)
{
	char text[LOG_TEXT_MAX];
	va_list ap;
	va_start(ap, fmt);
	fmt_vmsg(text, sizeof(text), fmt, ap);
	va_end(ap);
	log_text(prio, "message", text);
}

void log_fatal(const char *fmt, ...)
{
	char text[LOG_TEXT_MAX];
	va_list ap;
	va_start(ap, fmt);
	fmt_vmsg(text, sizeof(text), fmt, ap);
	va_end(ap);
	log_text(LOG_CRIT, "fatal", text);
	exit(1);
}
