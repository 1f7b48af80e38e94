/* SPDX-License-Identifier: AGPL-3.0-or-later */
#include "login.h"

#include <errno.h>
#include <malloc.h>
#include <poll.h>
#include <signal.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/codec.h"
#include "sys/fdpass.h"
#include "sys/log.h"
#include "base/timeutil.h"

int login_fork_back(int (*fn)(int fd, void *arg), void *arg, pid_t *pid_r)
{
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return -1;
	pid_t pid = fork();
	if (pid < 0) {
		close(sv[0]);
		close(sv[1]);
		return -1;
	}
	if (pid == 0) {
		close(sv[0]);
		_exit(fn(sv[1], arg));
	}
	close(sv[1]);
	*pid_r = pid;
	return sv[0];
}

static void login_put16(unsigned char *p, size_t v)
{
	p[0] = (unsigned char)(v >> 8);
	p[1] = (unsigned char)v;
}

int login_send(int fd, const char *user, size_t ulen, const char *secret, size_t slen,
               const char *tag, unsigned flags)
{
	size_t tlen = strlen(tag);
	if (ulen > LOGIN_USER_MAX || slen > LOGIN_SECRET_MAX || tlen > LOGIN_TAG_MAX)
		return -1;
	unsigned char msg[LOGIN_MSG_MAX];
	size_t n = 0;
	/* Frame: u16 length of the rest, then version, flags, and three
	 * length-prefixed fields. */
	n = 2;
	msg[n++] = LOGIN_VERSION;
	msg[n++] = (unsigned char)flags;
	login_put16(msg + n, ulen);
	n += 2;
	memcpy(msg + n, user, ulen);
	n += ulen;
	login_put16(msg + n, slen);
	n += 2;
	memcpy(msg + n, secret, slen);
	n += slen;
	login_put16(msg + n, tlen);
	n += 2;
	memcpy(msg + n, tag, tlen);
	n += tlen;
	login_put16(msg, n - 2);
	int rc = io_send_all(fd, msg, n);
	sodium_memzero(msg, sizeof(msg));
	return rc;
}

static int login_read_full(int fd, unsigned char *p, size_t n, int64_t deadline)
{
	size_t off = 0;
	while (off < n) {
		int64_t left = deadline - timeutil_mono_ms();
		if (left <= 0)
			return -1;
		struct pollfd pf = {.fd = fd, .events = POLLIN};
		int r = poll(&pf, 1, (int)left);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		ssize_t k = read(fd, p + off, n - off);
		if (k < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (k == 0)
			return off == 0 ? 0 : -1;
		if (k < 0)
			return -1;
		off += (size_t)k;
	}
	return 1;
}

int login_wait_answer(int fd, int timeout_ms)
{
	unsigned char b;
	int r = login_read_full(fd, &b, 1, timeutil_mono_ms() + timeout_ms);
	return r == 1 ? b : -1;
}

int login_answer(int fd, char answer)
{
	for (;;) {
		ssize_t w = send(fd, &answer, 1, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		return w == 1 ? 0 : -1;
	}
}

static int login_field(const unsigned char *msg, size_t len, size_t *pos, char *out, size_t max)
{
	if (*pos + 2 > len)
		return 0;
	size_t n = (size_t)msg[*pos] << 8 | msg[*pos + 1];
	*pos += 2;
	if (n > max || *pos + n > len || memchr(msg + *pos, '\0', n) != NULL)
		return 0;
	memcpy(out, msg + *pos, n);
	out[n] = '\0';
	*pos += n;
	return 1;
}

int login_decode(const unsigned char *msg, size_t len, struct login_creds *c)
{
	size_t pos = 2;
	memset(c, 0, sizeof(*c));
	if (len < 4 || ((size_t)msg[0] << 8 | msg[1]) != len - 2 || msg[pos++] != LOGIN_VERSION)
		return 0;
	c->flags = msg[pos++];
	if (!login_field(msg, len, &pos, c->user, LOGIN_USER_MAX) ||
	    !login_field(msg, len, &pos, c->secret, LOGIN_SECRET_MAX) ||
	    !login_field(msg, len, &pos, c->tag, LOGIN_TAG_MAX))
		goto bad;
	if (pos != len) /* trailing bytes are an error */
		goto bad;
	return 1;
bad:
	sodium_memzero(c, sizeof(*c));
	return 0;
}

int login_recv(int fd, int timeout_ms, struct login_creds *c)
{
	unsigned char msg[LOGIN_MSG_MAX];
	int64_t deadline = timeutil_mono_ms() + timeout_ms;
	int r = login_read_full(fd, msg, 2, deadline);
	if (r <= 0)
		return r;
	size_t n = (size_t)msg[0] << 8 | msg[1];
	if (n + 2 > sizeof(msg) || n < 2)
		return -1;
	if (login_read_full(fd, msg + 2, n, deadline) != 1) {
		sodium_memzero(msg, sizeof(msg));
		return -1;
	}
	int ok = login_decode(msg, n + 2, c);
	sodium_memzero(msg, sizeof(msg));
	return ok ? 1 : -1;
}

#define LOGIN_RELAY_QUIET_MS 1000

int login_relay(struct io *client, int backfd)
{
	unsigned char buf[IO_READ_CHUNK];
	bool client_open = true;
	/* Pipelined bytes that followed the login command. */
	while (io_pending(client) > 0) {
		ssize_t k = io_read_some(client, buf, sizeof(buf));
		if (k <= 0)
			break;
		if (send(backfd, buf, (size_t)k, MSG_NOSIGNAL) != k)
			return 0;
	}
	io_set_idle(client, -1); /* the back owns the session timeouts */
	/* After LOGIN_RELAY_QUIET_MS without traffic the connection is taken
	 * to be idle (IMAP IDLE, a client between polls) and gives back the
	 * buffers and heap pages the TLS handshake and the last exchange left
	 * dirty, until the next byte either way. */
	bool busy = true;
	for (;;) {
		struct pollfd p[2];
		int n = 0, ci = -1;
		if (client_open) {
			p[n] = (struct pollfd){.fd = client->rfd, .events = POLLIN};
			ci = n++;
		}
		p[n] = (struct pollfd){.fd = backfd, .events = POLLIN};
		int bi = n++;
		bool tls_pending =
		    client_open && client->ssl != NULL && SSL_pending(client->ssl) > 0;
		int r = poll(p, (nfds_t)n, tls_pending ? 0 : busy ? LOGIN_RELAY_QUIET_MS : -1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return 0;
		if (r == 0 && !tls_pending) {
			io_trim(client);
			malloc_trim(0);
			busy = false;
			continue;
		}
		busy = true;
		if (client_open && (tls_pending || p[ci].revents != 0)) {
			ssize_t k = io_read_some(client, buf, sizeof(buf));
			if (k <= 0) {
				/* Client gone: tell the back, which then ends. */
				shutdown(backfd, SHUT_WR);
				client_open = false;
			} else if (send(backfd, buf, (size_t)k, MSG_NOSIGNAL) != k) {
				return 0;
			}
		}
		if (p[bi].revents != 0) {
			ssize_t k = read(backfd, buf, sizeof(buf));
			if (k < 0 && (errno == EINTR || errno == EAGAIN))
				continue;
			if (k <= 0)
				return 0; /* the back ended the session */
			if (!client_open)
				continue;
			io_write(client, buf, (size_t)k);
			if (io_flush(client) < 0)
				client_open = false;
		}
	}
}

static int login_handoff(struct io *client, int backfd)
{
	unsigned char hdr[4], buf[IO_READ_CHUNK];
	size_t n = io_pending(client);
	if (n > LOGIN_HANDOFF_MAX)
		return -1;
	hdr[0] = (unsigned char)(n >> 24);
	hdr[1] = (unsigned char)(n >> 16);
	hdr[2] = (unsigned char)(n >> 8);
	hdr[3] = (unsigned char)n;
	if (fdpass_send(backfd, hdr, sizeof(hdr), client->rfd) < 0)
		return -1;
	while (io_pending(client) > 0) {
		ssize_t k = io_read_some(client, buf, sizeof(buf));
		if (k <= 0 || send(backfd, buf, (size_t)k, MSG_NOSIGNAL) != k)
			return -1;
	}
	return 0;
}

int login_continue(struct login_ctx *ctx, struct io *client)
{
	/* The back expects the hand-over exactly when login_attempt announced
	 * it; nothing was read from the client since. */
	if (!ctx->handoff)
		return login_relay(client, ctx->backfd);
	if (login_handoff(client, ctx->backfd) < 0)
		log_event(LOG_WARNING, "handoff-fail", "REASON", strerror(errno), NULL);
	return 0;
}

int login_handoff_recv(int fd, int timeout_ms, struct buf *pending)
{
	int64_t deadline = timeutil_mono_ms() + timeout_ms;
	unsigned char hdr[4];
	int cfd = -1;
	if (fdpass_recv(fd, hdr, sizeof(hdr), &cfd, timeout_ms) != (ssize_t)sizeof(hdr) || cfd < 0)
		goto fail;
	size_t n = (size_t)hdr[0] << 24 | (size_t)hdr[1] << 16 | (size_t)hdr[2] << 8 | hdr[3];
	if (n > LOGIN_HANDOFF_MAX)
		goto fail;
	buf_reserve(pending, n);
	if (n > 0 && login_read_full(fd, pending->data + pending->len, n, deadline) != 1)
		goto fail;
	pending->len += n;
	return cfd;
fail:
	if (cfd >= 0)
		close(cfd);
	return -1;
}

bool login_plaintext_ok(const struct login_ctx *ctx, const struct io *io)
{
	if (io_is_tls(io))
		return true;
	switch (ctx->conf->plaintext_auth) {
	case CONF_PLAINTEXT_ALWAYS:
		return true;
	case CONF_PLAINTEXT_LOOPBACK:
		return ctx->conn->loopback;
	case CONF_PLAINTEXT_NEVER:
		return false;
	}
	return false;
}

enum login_plain login_sasl_plain(const char *b64, size_t len, struct buf *raw, const char **user,
                                  size_t *ulen, const char **pw, size_t *plen)
{
	if (len == 1 && b64[0] == '*')
		return LOGIN_PLAIN_CANCEL;
	if (codec_b64_decode(b64, len, CODEC_B64_STD, CODEC_PAD_REQUIRED, CODEC_STRICT, raw) != 1)
		return LOGIN_PLAIN_BAD_B64;
	const char *p = (const char *)raw->data, *end = p ? p + raw->len : NULL;
	const char *nul1 = p ? memchr(p, '\0', raw->len) : NULL;
	const char *nul2 = nul1 ? memchr(nul1 + 1, '\0', (size_t)(end - nul1 - 1)) : NULL;
	if (nul1 == NULL || nul2 == NULL)
		return LOGIN_PLAIN_MALFORMED;
	size_t zlen = (size_t)(nul1 - p);
	*user = nul1 + 1;
	*ulen = (size_t)(nul2 - nul1 - 1);
	*pw = nul2 + 1;
	*plen = (size_t)(end - nul2 - 1);
	if (zlen != 0 && (zlen != *ulen || memcmp(p, *user, zlen) != 0))
		return LOGIN_PLAIN_AUTHZID;
	return LOGIN_PLAIN_OK;
}
