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

#include "buf.h"
#include "mem.h"

#define LOG_STICKY_MAX 8
#define LOG_FIELDS_MAX 32

static const char *log_ident = "sealmail";
static enum log_target log_dest = LOG_TARGET_STDERR;
static bool log_debug;
static struct {
	char key[32];
	char value[LOG_VALUE_MAX + 8];
} log_sticky[LOG_STICKY_MAX];

static bool log_stderr_is_journal(void)
{
	const char *js = getenv("JOURNAL_STREAM");
	struct stat st;
	if (fstat(2, &st) < 0)
		return false;
	if (js != NULL) {
		unsigned long long dev, ino;
		if (sscanf(js, "%llu:%llu", &dev, &ino) == 2 && dev == (unsigned long long)st.st_dev &&
		    ino == (unsigned long long)st.st_ino)
			return true;
	}
	return false;
}

void log_init(const char *ident)
{
	struct stat st;
	const char *t = getenv("LOG_TARGET");
	log_ident = ident;
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
			snprintf(tmp, sizeof(tmp), "\\x%02x", v[i]);
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

struct log_field {
	char key[40];
	char value[LOG_VALUE_MAX + 8];
};

static void log_emit(int prio, const char *event, struct log_field *f, int nf, const char *message)
{
	if (prio == LOG_DEBUG && !log_debug)
		return;
	int saved_errno = errno;
	struct buf line = BUF_INIT;
	buf_append_str(&line, event);
	for (int i = 0; i < nf; i++) {
		bool quote = f[i].value[0] == '\0' || strpbrk(f[i].value, " =") != NULL;
		buf_printf(&line, quote ? " SEALMAIL_%s=\"%s\"" : " SEALMAIL_%s=%s", f[i].key, f[i].value);
	}
	if (message != NULL) {
		char esc[LOG_VALUE_MAX * 2];
		log_escape(message, esc, sizeof(esc));
		buf_printf(&line, " MESSAGE=\"%s\"", esc);
	}
	if (log_dest == LOG_TARGET_STDERR) {
		struct buf out = BUF_INIT;
		buf_printf(&out, "<%d>%s\n", prio, buf_cstr(&line));
		/* One write per event so concurrent handlers do not interleave. */
		ssize_t r = write(2, out.data, out.len);
		(void)r;
		buf_free(&out);
	} else {
		struct iovec iov[LOG_FIELDS_MAX + LOG_STICKY_MAX + 6];
		struct buf parts[LOG_FIELDS_MAX + LOG_STICKY_MAX + 6];
		int n = 0;
		memset(parts, 0, sizeof(parts));
		buf_printf(&parts[n++], "MESSAGE=%s", message ? message : buf_cstr(&line));
		buf_printf(&parts[n++], "PRIORITY=%d", prio);
		buf_printf(&parts[n++], "SYSLOG_IDENTIFIER=%s", log_ident);
		buf_printf(&parts[n++], "SEALMAIL_EVENT=%s", event);
		for (int i = 0; i < nf; i++)
			buf_printf(&parts[n++], "SEALMAIL_%s=%s", f[i].key, f[i].value);
		for (int i = 0; i < n; i++) {
			iov[i].iov_base = parts[i].data;
			iov[i].iov_len = parts[i].len;
		}
		sd_journal_sendv(iov, n);
		for (int i = 0; i < n; i++)
			buf_free(&parts[i]);
	}
	buf_free(&line);
	errno = saved_errno;
}

static int log_collect_sticky(struct log_field *f)
{
	int nf = 0;
	for (int i = 0; i < LOG_STICKY_MAX; i++) {
		if (log_sticky[i].key[0] == '\0')
			continue;
		memcpy(f[nf].key, log_sticky[i].key, sizeof(log_sticky[i].key));
		memcpy(f[nf].value, log_sticky[i].value, sizeof(f[nf].value));
		nf++;
	}
	return nf;
}

void log_event(int prio, const char *event, ...)
{
	struct log_field f[LOG_FIELDS_MAX + LOG_STICKY_MAX];
	int nf = log_collect_sticky(f);
	va_list ap;
	va_start(ap, event);
	for (;;) {
		const char *k = va_arg(ap, const char *);
		if (k == NULL)
			break;
		const char *v = va_arg(ap, const char *);
		if (v == NULL || nf >= LOG_FIELDS_MAX + LOG_STICKY_MAX)
			continue;
		log_key_upper(k, f[nf].key, sizeof(f[nf].key));
		log_escape(v, f[nf].value, sizeof(f[nf].value));
		nf++;
	}
	va_end(ap);
	log_emit(prio, event, f, nf, NULL);
}

void log_msg(int prio, const char *fmt, ...)
{
	struct log_field f[LOG_STICKY_MAX];
	int nf = log_collect_sticky(f);
	char text[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	log_emit(prio, "message", f, nf, text);
}

void log_fatal(const char *fmt, ...)
{
	struct log_field f[LOG_STICKY_MAX];
	int nf = log_collect_sticky(f);
	char text[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	log_emit(LOG_CRIT, "fatal", f, nf, text);
	exit(1);
}
