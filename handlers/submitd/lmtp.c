/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* Local copies of a submission, handed to lmtpd over its socket
 * (<run_dir>/lmtp, RFC 2033) rather than written by this process: the back
 * runs as the user that owns every mailbox, so it gets no right under users/
 * at all (SANDBOX_SUBMIT), and lmtpd (the MX's user and sandbox) seals and
 * spools each copy, fsyncs it and answers per recipient. Trust: post-auth;
 * lmtpd's replies are read with bounds and a timeout. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "sys/io.h"
#include "sys/log.h"
#include "submitd.h"

#define LMTP_REPLY_MAX 1024

/* Copy a reply into text[n]; a longer one is cut (it is only shown). */
static void lmtp_copy(char *text, size_t n, const char *r)
{
	size_t len = strnlen(r, n - 1);
	memcpy(text, r, len);
	text[len] = '\0';
}

/* One reply (the last line of a multi-line one): its code, or -1 when the
 * connection failed or the line is not a reply. */
static int lmtp_reply(struct io *io, char *text, size_t n)
{
	for (;;) {
		char *line;
		size_t len;
		if (io_read_line(io, &line, &len, LMTP_REPLY_MAX) <= 0 || len < 3)
			return -1;
		if (len > 3 && line[3] == '-')
			continue;
		size_t k = len < n - 1 ? len : n - 1; /* cut to the caller's buffer */
		memcpy(text, line, k);
		text[k] = '\0';
		if (line[0] < '2' || line[0] > '5' || line[1] < '0' || line[1] > '9' ||
		    line[2] < '0' || line[2] > '9')
			return -1;
		return (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
	}
}

/* The message, dot-stuffed (RFC 5321 section 4.5.2), ending with CRLF, and
 * the final dot. */
static void lmtp_data(struct io *io, const struct buf *prefix, const struct buf *msg)
{
	const struct buf *parts[] = {prefix, msg};
	bool bol = true;
	for (size_t k = 0; k < 2; k++) {
		const unsigned char *p = parts[k]->data;
		size_t len = parts[k]->len;
		for (size_t i = 0; i < len;) {
			const unsigned char *nl = memchr(p + i, '\n', len - i);
			size_t ll = nl ? (size_t)(nl - (p + i)) + 1 : len - i;
			if (bol && p[i] == '.')
				io_write(io, ".", 1);
			io_write(io, p + i, ll);
			bol = nl != NULL;
			i += ll;
		}
	}
	io_puts(io, bol ? ".\r\n" : "\r\n.\r\n");
}

static int lmtp_connect(const struct conf *c)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int n = snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/lmtp", c->run_dir);
	if (n < 0 || (size_t)n >= sizeof(sa.sun_path)) /* a cut path names another socket */
		return -1;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		log_event(LOG_ERR, "lmtp-error", "REASON", strerror(errno), "SOCKET", sa.sun_path,
		          NULL);
		close(fd);
		fd = -1;
	}
	return fd;
}

/* The envelope up to DATA's 354: 0, or -1 with the failing reply in text. */
static int lmtp_envelope(struct io *io, const struct submitd_lmtp *m, char *text, size_t n)
{
	io_printf(io, "LHLO %s\r\n", m->hostname);
	io_printf(io, "MAIL FROM:<%s>%s%s\r\n", m->from,
	          m->body == SMTP_BODY_8BITMIME ? " BODY=8BITMIME" : "",
	          m->smtputf8 ? " SMTPUTF8" : "");
	for (size_t i = 0; i < m->nrcpts; i++)
		io_printf(io, "RCPT TO:<%s>\r\n", m->rcpts[i]);
	io_puts(io, "DATA\r\n");
	/* lmtpd offers PIPELINING (RFC 2920): one write, then the replies. */
	if (io_flush(io) < 0 || lmtp_reply(io, text, n) != 250 || lmtp_reply(io, text, n) != 250)
		return -1;
	char r[LMTP_REPLY_MAX + 1];
	bool bad = false;
	for (size_t i = 0; i < m->nrcpts; i++)
		if (lmtp_reply(io, r, sizeof(r)) / 100 != 2 && !bad) {
			bad = true; /* the first refusal is the one to tell */
			lmtp_copy(text, n, r);
		}
	int data = lmtp_reply(io, r, sizeof(r));
	if (!bad && data != 354)
		lmtp_copy(text, n, r);
	/* After a refusal DATA may still have been accepted for the other
	 * recipients: the connection is closed before any data, which lmtpd
	 * takes as no message at all. */
	return bad || data != 354 ? -1 : 0;
}

const char *submitd_lmtp(const struct conf *c, const struct submitd_lmtp *m, char *text,
                         size_t n)
{
	int fd = lmtp_connect(c);
	if (fd < 0)
		return "451 4.3.0 Error: local delivery unavailable";
	struct io io;
	io_init(&io, fd, fd, (int)c->smtpd_data_timeout_ms);
	text[0] = '\0';
	const char *fail = NULL;
	if (lmtp_reply(&io, text, n) != 220 || lmtp_envelope(&io, m, text, n) < 0) {
		fail = "local delivery refused";
	} else {
		lmtp_data(&io, m->prefix, m->msg);
		if (io_flush(&io) < 0)
			fail = "local delivery failed";
		/* RFC 2033 section 4.2: one reply per accepted recipient. */
		for (size_t i = 0; fail == NULL && i < m->nrcpts; i++)
			if (lmtp_reply(&io, text, n) / 100 != 2)
				fail = "local delivery failed";
	}
	if (fail == NULL) {
		io_puts(&io, "QUIT\r\n");
		io_flush(&io);
	}
	io_cleanup(&io);
	close(fd);
	if (fail == NULL)
		return NULL;
	log_event(LOG_WARNING, "lmtp-fail", "REASON", fail, "REPLY", text, NULL);
	/* lmtpd's own reply when it gave one (4xx or 5xx), else a local error. */
	if (strlen(text) > 4 && (text[0] == '4' || text[0] == '5'))
		return text;
	return "451 4.3.0 Error: local delivery failed";
}
