/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* Trust: pre-auth. See io.h. */
#include "io.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/err.h>
#include <poll.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/timeutil.h"

#define IO_OUT_AUTOFLUSH 65536
#define IO_COMPACT_AT    65536

static void io_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);
	if (fl >= 0 && !(fl & O_NONBLOCK))
		fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

void io_init(struct io *io, int rfd, int wfd, int idle_ms)
{
	memset(io, 0, sizeof(*io));
	io->rfd = rfd;
	io->wfd = wfd;
	io->idle_ms = idle_ms;
	io_nonblock(rfd);
	if (wfd != rfd)
		io_nonblock(wfd);
}

void io_cleanup(struct io *io)
{
	if (io->ssl != NULL) {
		SSL_free(io->ssl);
		io->ssl = NULL;
	}
	buf_free(&io->in);
	buf_free(&io->out);
	io->in_pos = 0;
}

void io_trim(struct io *io)
{
	if (io->in_pos == io->in.len) {
		buf_free(&io->in);
		io->in_pos = 0;
		io->in_peak = 0;
	}
	if (io->out.len == 0)
		buf_free(&io->out);
}

void io_set_idle(struct io *io, int idle_ms)
{
	io->idle_ms = idle_ms;
}

void io_set_deadline(struct io *io, int64_t ms_from_now)
{
	io->deadline_ms = ms_from_now > 0 ? timeutil_mono_ms() + ms_from_now : 0;
}

const char *io_strerror(enum io_err err)
{
	switch (err) {
	case IO_OK:
		return "ok";
	case IO_EOF:
		return "connection closed";
	case IO_TIMEOUT:
		return "timeout";
	case IO_TOOLONG:
		return "line too long";
	case IO_BARELF:
		return "bare LF";
	case IO_BARECR:
		return "bare CR";
	case IO_SYSERR:
		return "I/O error";
	case IO_TLSERR:
		return "TLS error";
	}
	return "unknown";
}

void io_set_line_deadline(struct io *io, int ms)
{
	io->line_ms = ms;
}

void io_transfer_begin(struct io *io, int64_t grace_ms, uint64_t min_rate)
{
	io->xfer_start_ms = timeutil_mono_ms();
	io->xfer_grace_ms = grace_ms > 0 ? grace_ms : 0;
	io->xfer_rate = min_rate;
	io->xfer_bytes = 0;
}

void io_transfer_end(struct io *io)
{
	io->xfer_start_ms = 0;
	io->xfer_bytes = 0;
}

const char *io_limit_name(enum io_limit l)
{
	switch (l) {
	case IO_LIMIT_NONE:
		return "none";
	case IO_LIMIT_IDLE:
		return "idle timeout";
	case IO_LIMIT_LINE:
		return "line deadline";
	case IO_LIMIT_TRANSFER:
		return "transfer too slow";
	case IO_LIMIT_TOTAL:
		return "session deadline";
	}
	return "unknown";
}

/* The transfer's deadline now: its grace, plus 1/rate s per byte read
 * (saturating: a huge transfer at a low rate never wraps around). */
static int64_t io_transfer_deadline(const struct io *io)
{
	int64_t dl = io->xfer_start_ms + io->xfer_grace_ms;
	if (io->xfer_rate > 0) {
		uint64_t ms;
		if (__builtin_mul_overflow(io->xfer_bytes, (uint64_t)1000, &ms))
			return INT64_MAX;
		ms /= io->xfer_rate;
		if (ms > (uint64_t)(INT64_MAX - dl))
			return INT64_MAX;
		dl += (int64_t)ms;
	}
	return dl;
}

/* A deadline that passes less than this before the idle timeout would is
 * reported as the idle timeout: the peer was silent for (nearly) all of it
 * (a pre-login total equal to the idle timeout, for one). */
#define IO_IDLE_TIE_MS 100

/* Milliseconds we may still wait: the idle timeout capped by every deadline
 * set; -1 when unbounded, 0 when one already passed. *which_r: the limit
 * that sets the budget, which is the one that passed if the wait runs out. */
static int io_wait_budget(const struct io *io, enum io_limit *which_r)
{
	int64_t t = io->idle_ms > 0 ? io->idle_ms : -1;
	*which_r = IO_LIMIT_IDLE;
	int64_t now = timeutil_mono_ms();
	const int64_t dls[3] = {
	    io->line_dl_ms, io->xfer_start_ms > 0 ? io_transfer_deadline(io) : 0, io->deadline_ms};
	static const enum io_limit kinds[3] = {IO_LIMIT_LINE, IO_LIMIT_TRANSFER, IO_LIMIT_TOTAL};
	for (int i = 0; i < 3; i++) {
		if (dls[i] <= 0)
			continue;
		int64_t left = dls[i] > now ? dls[i] - now : 0;
		if (t < 0 || left < t) {
			bool tie = *which_r == IO_LIMIT_IDLE && t >= 0 && t - left < IO_IDLE_TIE_MS;
			t = left;
			if (!tie)
				*which_r = kinds[i];
		}
	}
	return t > INT32_MAX ? INT32_MAX : (int)t;
}

/* Wait for fd to become ready for events: 0 ready, -1 with io->err (and
 * io->expired after a timeout). */
static int io_wait_fd(struct io *io, int fd, short events)
{
	for (;;) {
		enum io_limit which;
		int t = io_wait_budget(io, &which);
		int r = 0;
		if (t != 0) {
			struct pollfd p = {.fd = fd, .events = events};
			r = poll(&p, 1, t);
		}
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			io->err = IO_SYSERR;
			return -1;
		}
		if (r == 0) {
			io->err = IO_TIMEOUT;
			io->expired = which;
			return -1;
		}
		return 0;
	}
}

/* Handle an SSL_* result <= 0: 1 retry, 0 clean EOF, -1 error. */
static int io_ssl_retry(struct io *io, int r)
{
	int e = SSL_get_error(io->ssl, r);
	switch (e) {
	case SSL_ERROR_WANT_READ:
		return io_wait_fd(io, io->rfd, POLLIN) == 0 ? 1 : -1;
	case SSL_ERROR_WANT_WRITE:
		return io_wait_fd(io, io->wfd, POLLOUT) == 0 ? 1 : -1;
	case SSL_ERROR_ZERO_RETURN:
		return 0;
	case SSL_ERROR_SYSCALL:
		if (errno == 0 || errno == ECONNRESET || errno == EPIPE)
			return 0;
		io->err = IO_SYSERR;
		return -1;
	default:
		io->err = IO_TLSERR;
		return -1;
	}
}

/* Read more bytes into io->in: 1 some, 0 EOF, -1 error. */
static int io_fill(struct io *io)
{
	if (io->in_pos == io->in.len) {
		buf_reset(&io->in);
		io->in_pos = 0;
	} else if (io->in_pos >= IO_COMPACT_AT) {
		buf_consume(&io->in, io->in_pos);
		io->in_pos = 0;
	}
	buf_reserve(&io->in, IO_READ_CHUNK);
	unsigned char *dst = io->in.data + io->in.len;
	for (;;) {
		ssize_t r;
		if (io->ssl != NULL) {
			ERR_clear_error();
			errno = 0;
			int n = SSL_read(io->ssl, dst, IO_READ_CHUNK);
			if (n > 0) {
				r = n;
			} else {
				int k = io_ssl_retry(io, n);
				if (k == 1)
					continue;
				if (k == 0)
					io->err = IO_EOF;
				return k;
			}
		} else {
			r = read(io->rfd, dst, IO_READ_CHUNK);
			if (r < 0) {
				if (errno == EINTR)
					continue;
				if (errno == EAGAIN || errno == EWOULDBLOCK) {
					if (io_wait_fd(io, io->rfd, POLLIN) < 0)
						return -1;
					continue;
				}
				if (errno == ECONNRESET) {
					io->err = IO_EOF;
					return 0;
				}
				io->err = IO_SYSERR;
				return -1;
			}
			if (r == 0) {
				io->err = IO_EOF;
				return 0;
			}
		}
		io->in.len += (size_t)r;
		if (io->xfer_start_ms > 0)
			io->xfer_bytes += (uint64_t)r;
		if (io->in.len > io->in_peak)
			io->in_peak = io->in.len;
		io->in.data[io->in.len] = '\0';
		io->bytes_in += (uint64_t)r;
		return 1;
	}
}

void io_prefill(struct io *io, const void *p, size_t n)
{
	buf_append(&io->in, p, n);
}

size_t io_pending(const struct io *io)
{
	return io->in.len - io->in_pos;
}

static int io_read_line_in(struct io *io, char **line_r, size_t *len_r, size_t max)
{
	size_t scanned = 0; /* bytes after in_pos already known to hold no LF */
	for (;;) {
		unsigned char *start = io->in.data + io->in_pos;
		size_t avail = io->in.len - io->in_pos;
		unsigned char *lf =
		    avail > scanned ? memchr(start + scanned, '\n', avail - scanned) : NULL;
		if (lf != NULL) {
			size_t n = (size_t)(lf - start); /* bytes before the LF */
			io->in_pos += n + 1;
			if (io->discarding) {
				io->discarding = false;
				io->err = IO_TOOLONG;
				return -1;
			}
			if (n == 0 || start[n - 1] != '\r') {
				io->err = IO_BARELF;
				return -1;
			}
			n--; /* drop CR */
			if (n > max) {
				io->err = IO_TOOLONG;
				return -1;
			}
			if (memchr(start, '\r', n) != NULL) {
				io->err = IO_BARECR;
				return -1;
			}
			start[n] = '\0';
			*line_r = (char *)start;
			*len_r = n;
			io->err = IO_OK;
			return 1;
		}
		/* No LF yet. Beyond max + CR the line is over-long: drop what we
		 * have and keep discarding until its LF, so memory stays bounded. */
		if (io->discarding || avail > max + 1) {
			io->discarding = true;
			io->in_pos = io->in.len;
			scanned = 0;
		} else {
			scanned = avail;
		}
		/* Part of a line is here and its rest must be waited for: the
		 * line's deadline starts now (RFC 5321 section 4.5.3.2.7 gives the
		 * client minutes to start a command, not to trickle one). */
		if (io->line_ms > 0 && io->line_dl_ms == 0 && (avail > 0 || io->discarding))
			io->line_dl_ms = timeutil_mono_ms() + io->line_ms;
		int r = io_fill(io);
		if (r <= 0)
			return r;
	}
}

int io_read_line(struct io *io, char **line_r, size_t *len_r, size_t max)
{
	int r = io_read_line_in(io, line_r, len_r, max);
	io->line_dl_ms = 0;
	return r;
}

ssize_t io_read_some(struct io *io, void *out, size_t n)
{
	if (n == 0)
		return 0;
	if (io_pending(io) == 0) {
		int r = io_fill(io);
		if (r <= 0)
			return r;
	}
	size_t avail = io_pending(io);
	size_t k = avail < n ? avail : n;
	memcpy(out, io->in.data + io->in_pos, k);
	io->in_pos += k;
	return (ssize_t)k;
}

ssize_t io_peek(struct io *io, unsigned char **p_r)
{
	if (io_pending(io) == 0) {
		int r = io_fill(io);
		if (r <= 0)
			return r;
	}
	*p_r = io->in.data + io->in_pos;
	return (ssize_t)io_pending(io);
}

void io_consume(struct io *io, size_t n)
{
	size_t avail = io_pending(io);
	io->in_pos += n < avail ? n : avail;
}

int io_read_exact(struct io *io, void *out, size_t n)
{
	unsigned char *p = out;
	while (n > 0) {
		ssize_t r = io_read_some(io, p, n);
		if (r <= 0)
			return (int)r;
		p += r;
		n -= (size_t)r;
	}
	return 1;
}

int io_wait_readable(struct io *io, int timeout_ms)
{
	if (io_pending(io) > 0 || (io->ssl != NULL && SSL_pending(io->ssl) > 0))
		return 1;
	for (;;) {
		struct pollfd p = {.fd = io->rfd, .events = POLLIN};
		int r = poll(&p, 1, timeout_ms);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			io->err = IO_SYSERR;
			return -1;
		}
		return r > 0 ? 1 : 0;
	}
}

void io_write(struct io *io, const void *p, size_t n)
{
	buf_append(&io->out, p, n);
	if (io->out.len >= IO_OUT_AUTOFLUSH)
		io_flush(io);
}

void io_puts(struct io *io, const char *s)
{
	io_write(io, s, strlen(s));
}

void io_printf(struct io *io, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	buf_vprintf(&io->out, fmt, ap);
	va_end(ap);
	if (io->out.len >= IO_OUT_AUTOFLUSH)
		io_flush(io);
}

int io_flush(struct io *io)
{
	size_t off = 0;
	int rc = 0;
	while (off < io->out.len) {
		size_t n = io->out.len - off;
		if (io->ssl != NULL) {
			ERR_clear_error();
			errno = 0;
			int w = SSL_write(io->ssl, io->out.data + off,
			                  n > INT32_MAX ? INT32_MAX : (int)n);
			if (w > 0) {
				off += (size_t)w;
				continue;
			}
			int k = io_ssl_retry(io, w);
			if (k == 1)
				continue;
			if (k == 0)
				io->err = IO_EOF;
			rc = -1;
			break;
		}
		ssize_t w = write(io->wfd, io->out.data + off, n);
		if (w >= 0) {
			off += (size_t)w;
			continue;
		}
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK) {
			if (io_wait_fd(io, io->wfd, POLLOUT) < 0) {
				rc = -1;
				break;
			}
			continue;
		}
		io->err = (errno == EPIPE || errno == ECONNRESET) ? IO_EOF : IO_SYSERR;
		rc = -1;
		break;
	}
	io->bytes_out += off;
	/* On failure the queued output is dropped: the session is over (and
	 * write_failed tells a long writer to stop). */
	if (rc < 0)
		io->write_failed = true;
	buf_reset(&io->out);
	return rc;
}

static int io_handshake_in(struct io *io, bool server)
{
	for (;;) {
		ERR_clear_error();
		errno = 0;
		int r = server ? SSL_accept(io->ssl) : SSL_connect(io->ssl);
		if (r == 1)
			return 0;
		int k = io_ssl_retry(io, r);
		if (k == 1)
			continue;
		if (k == 0)
			io->err = IO_EOF;
		else if (io->err != IO_TIMEOUT)
			io->err = IO_TLSERR;
		return -1;
	}
}

/* A handshake trickled a byte at a time ends at the line deadline too. */
static int io_handshake(struct io *io, bool server)
{
	if (io->line_ms > 0)
		io->line_dl_ms = timeutil_mono_ms() + io->line_ms;
	int r = io_handshake_in(io, server);
	io->line_dl_ms = 0;
	return r;
}

static int io_tls_setup(struct io *io, SSL_CTX *ctx)
{
	if (io->ssl != NULL) {
		io->err = IO_TLSERR; /* no second upgrade */
		return -1;
	}
	io->ssl = SSL_new(ctx);
	if (io->ssl == NULL) {
		io->err = IO_TLSERR;
		return -1;
	}
	if (io->rfd == io->wfd)
		SSL_set_fd(io->ssl, io->rfd);
	else {
		SSL_set_rfd(io->ssl, io->rfd);
		SSL_set_wfd(io->ssl, io->wfd);
	}
	return 0;
}

int io_starttls(struct io *io, SSL_CTX *ctx, size_t *discarded_r)
{
	/* RFC 3207 section 4.2 / CVE-2011-0411: anything the client pipelined
	 * after the STARTTLS command arrived in plaintext and must not be
	 * executed inside the TLS session. */
	size_t discarded = io_pending(io);
	buf_reset(&io->in);
	io->in_pos = 0;
	io->discarding = false;
	if (discarded_r != NULL)
		*discarded_r = discarded;
	if (io_flush(io) < 0)
		return -1;
	if (io_tls_setup(io, ctx) < 0)
		return -1;
	SSL_set_accept_state(io->ssl);
	return io_handshake(io, true);
}

int io_starttls_client(struct io *io, SSL_CTX *ctx, const char *sni)
{
	buf_reset(&io->in);
	io->in_pos = 0;
	if (io_flush(io) < 0)
		return -1;
	if (io_tls_setup(io, ctx) < 0)
		return -1;
	if (sni != NULL)
		SSL_set_tlsext_host_name(io->ssl, sni);
	SSL_set_connect_state(io->ssl);
	return io_handshake(io, false);
}

bool io_is_tls(const struct io *io)
{
	return io->ssl != NULL;
}

const char *io_tls_desc(const struct io *io, char *out, size_t outsz)
{
	if (io->ssl == NULL) {
		if (outsz)
			out[0] = '\0';
		return out;
	}
	/* For logs and the Received: comment only. OpenSSL's version and
	 * cipher names are under 64 bytes together and callers pass 128; were
	 * one ever cut, a log line would be shorter, nothing else. */
	snprintf(out, outsz, "%s %s", SSL_get_version(io->ssl), SSL_get_cipher_name(io->ssl));
	return out;
}

int io_send_all(int fd, const void *p, size_t n)
{
	const unsigned char *b = p;
	while (n > 0) {
		ssize_t w = send(fd, b, n, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		b += w;
		n -= (size_t)w;
	}
	return 0;
}
