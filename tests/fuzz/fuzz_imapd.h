/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* What the imapd fuzz targets (fuzz_fetch, fuzz_search) share: the replies
 * of handlers/imapd/back.c written to the session's io (a memory file here),
 * with a check that a command sends at most one tagged reply, and reading
 * that output back. Included by one target each (its definitions are the
 * handler's external functions). */
#ifndef SEALMAIL_FUZZ_IMAPD_H
#define SEALMAIL_FUZZ_IMAPD_H

#include <stdarg.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "../../handlers/imapd/imapd.h"

static int fz_tagged; /* 0 none, 'O' OK, 'N' NO, 'B' BAD */

static void fz_reply(struct imap_sess *s, const char *prefix, const char *fmt, va_list ap)
{
	struct buf b = BUF_INIT;
	buf_append_str(&b, prefix);
	buf_vprintf(&b, fmt, ap);
	buf_append(&b, "\r\n", 2);
	io_write(&s->io, b.data, b.len);
	buf_free(&b);
}

#define FZ_REPLY(name, prefix, mark)                                                               \
	void name(struct imap_sess *s, const char *fmt, ...)                                       \
	{                                                                                          \
		va_list ap;                                                                        \
		if (mark != 0 && fz_tagged != 0)                                                   \
			abort(); /* two tagged replies */                                          \
		if (mark != 0)                                                                     \
			fz_tagged = mark;                                                          \
		va_start(ap, fmt);                                                                 \
		fz_reply(s, prefix, fmt, ap);                                                      \
		va_end(ap);                                                                        \
	}
FZ_REPLY(imap_untagged, "* ", 0)
FZ_REPLY(imap_ok, "a OK ", 'O')
FZ_REPLY(imap_no, "a NO ", 'N')
FZ_REPLY(imap_bad, "a BAD ", 'B')

void imap_condstore_enable(struct imap_sess *s)
{
	s->condstore = true;
}

static int fz_memfd = -1;

/* Point the session's output at the memory file (created once). */
static void fz_io_open(struct imap_sess *s)
{
	if (fz_memfd < 0 && (fz_memfd = memfd_create("fuzz_imapd", MFD_CLOEXEC)) < 0)
		abort();
	io_init(&s->io, -1, fz_memfd, 0);
	fz_tagged = 0;
}

/* Flush and take what the session wrote (*len_r bytes, NUL-terminated,
 * caller frees); the memory file is emptied. With FZ_DUMP in the
 * environment it goes to stderr as well. */
static unsigned char *fz_io_take(struct imap_sess *s, size_t *len_r)
{
	if (io_flush(&s->io) < 0)
		abort();
	off_t olen = lseek(fz_memfd, 0, SEEK_CUR);
	unsigned char *out = malloc((size_t)(olen > 0 ? olen : 0) + 1);
	if (out == NULL || olen < 0 || (olen > 0 && pread(fz_memfd, out, (size_t)olen, 0) != olen))
		abort();
	out[olen] = '\0';
	if (getenv("FZ_DUMP") != NULL && olen > 0)
		fwrite(out, 1, (size_t)olen, stderr);
	if (ftruncate(fz_memfd, 0) < 0 || lseek(fz_memfd, 0, SEEK_SET) < 0)
		abort();
	io_cleanup(&s->io);
	*len_r = (size_t)olen;
	return out;
}

#endif
