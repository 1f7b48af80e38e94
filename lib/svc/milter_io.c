/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* Milter sockets (milter_int.h): connecting to an endpoint, and every read
 * and write bounded by a deadline on a non-blocking socket. Trust: the
 * endpoint is admin configuration; what is read is untrusted (only framed
 * here: milterproto.h parses it). */
#include "milter_int.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "base/timeutil.h"

void milters_set_fd(struct milters *ms, size_t i, int fd)
{
	if (ms == NULL || i >= ms->n) {
		close(fd);
		return;
	}
	if (ms->m[i].fd >= 0)
		close(ms->m[i].fd);
	/* Deadlines rely on non-blocking reads and writes. */
	int fl = fcntl(fd, F_GETFL);
	if (fl >= 0)
		fcntl(fd, F_SETFL, fl | O_NONBLOCK);
	ms->m[i].fd = fd;
}

void milter_close(struct milter *m)
{
	if (m->fd >= 0)
		close(m->fd);
	m->fd = -1;
	buf_free(&m->in);
	m->in_pos = 0;
}

/* Wait for fd to become ready for ev before the deadline: 1 ready, 0 timed
 * out, -1 error. */
static int milter_wait(int fd, short ev, int64_t deadline)
{
	for (;;) {
		int64_t left = deadline - timeutil_mono_ms();
		if (left <= 0)
			return 0;
		struct pollfd pfd = {.fd = fd, .events = ev};
		int r = poll(&pfd, 1, left > INT_MAX ? INT_MAX : (int)left);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -1;
		if (r > 0)
			return 1;
	}
}

int milter_write(struct milter *m, const struct buf *b, int64_t deadline, const char **why)
{
	size_t off = 0;
	while (off < b->len) {
		ssize_t w = send(m->fd, b->data + off, b->len - off, MSG_NOSIGNAL);
		if (w > 0) {
			off += (size_t)w;
			continue;
		}
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			int r = milter_wait(m->fd, POLLOUT, deadline);
			if (r == 0) {
				*why = "timeout sending to milter";
				return -1;
			}
			if (r > 0)
				continue;
		}
		*why = "cannot send to milter";
		return -1;
	}
	return 0;
}

/* Read one packet (progress packets restart the timer and are skipped when
 * skip_progress). The frame points into m->in until the next read. */
int milter_read(struct milter *m, int64_t timeout_ms, struct milter_frame *f, const char **why)
{
	int64_t deadline = timeutil_mono_ms() + timeout_ms;
	for (;;) {
		size_t used;
		int r = milter_frame_parse(m->in.data ? m->in.data + m->in_pos : NULL,
					   m->in.len - m->in_pos, MILTER_FRAME_MAX, f, &used);
		if (r < 0) {
			*why = "protocol violation: bad packet length";
			return -1;
		}
		if (r > 0) {
			m->in_pos += used;
			if (f->cmd == MILTER_R_PROGRESS) {
				if (f->len != 0) {
					*why = "protocol violation: data in progress packet";
					return -1;
				}
				/* SMFIR_PROGRESS: the milter is alive, restart the timer. */
				deadline = timeutil_mono_ms() + timeout_ms;
				continue;
			}
			return 1;
		}
		if (m->in_pos > 0) {
			buf_consume(&m->in, m->in_pos);
			m->in_pos = 0;
		}
		buf_reserve(&m->in, 16384);
		ssize_t n = recv(m->fd, m->in.data + m->in.len, m->in.cap - m->in.len - 1, 0);
		if (n > 0) {
			m->in.len += (size_t)n;
			continue;
		}
		if (n == 0) {
			*why = "connection closed by milter";
			return -1;
		}
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK) {
			int w = milter_wait(m->fd, POLLIN, deadline);
			if (w > 0)
				continue;
			*why = w == 0 ? "timeout waiting for milter" : "cannot read from milter";
			return -1;
		}
		*why = "cannot read from milter";
		return -1;
	}
}

/* Format a failure reason into buf (a static buffer of milter_dial). A cut
 * text is harmless: it is only logged. */
__attribute__((format(printf, 3, 4))) static const char *milter_reason(char *buf, size_t size,
								       const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	(void)vsnprintf(buf, size, fmt, ap);
	va_end(ap);
	return buf;
}

int milter_dial(const char *ep, int64_t deadline, const char **why)
{
	static char reason[160];
	char host[MILTER_ENDPOINT_MAX];
	uint16_t port;
	bool is_unix;
	if (milter_endpoint_split(ep, host, sizeof(host), &port, &is_unix) < 0) {
		*why = "bad endpoint";
		return -1;
	}
	if (is_unix) {
		struct sockaddr_un sun = {.sun_family = AF_UNIX};
		if ((size_t)snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", host) >=
		    sizeof(sun.sun_path)) {
			*why = "socket path too long"; /* milter_endpoint_split checks it */
			return -1;
		}
		int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fd < 0 || connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
			*why = milter_reason(reason, sizeof(reason), "connect: %s", strerror(errno));
			if (fd >= 0)
				close(fd);
			return -1;
		}
		return fd;
	}
	char portstr[8];
	if ((size_t)snprintf(portstr, sizeof(portstr), "%u", (unsigned)port) >= sizeof(portstr)) {
		*why = "bad port"; /* a 16-bit port always fits */
		return -1;
	}
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM,
				 .ai_flags = AI_NUMERICSERV | AI_NUMERICHOST};
	struct addrinfo *res = NULL;
	int g = getaddrinfo(host, portstr, &hints, &res);
	if (g != 0) {
		*why = milter_reason(reason, sizeof(reason), "cannot resolve %s: %s", host,
				     gai_strerror(g));
		return -1;
	}
	int fd = -1;
	(void)milter_reason(reason, sizeof(reason), "connect: no address");
	for (struct addrinfo *ai = res; ai != NULL && fd < 0; ai = ai->ai_next) {
		fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fd < 0)
			continue;
		int r = connect(fd, ai->ai_addr, ai->ai_addrlen);
		if (r < 0 && errno == EINPROGRESS) {
			int w = milter_wait(fd, POLLOUT, deadline);
			/* The outcome of the asynchronous connect: a second connect()
			 * says EISCONN when it worked, else the error (this avoids
			 * getsockopt, which the MX seccomp policy does not allow). */
			if (w > 0) {
				r = connect(fd, ai->ai_addr, ai->ai_addrlen);
				if (r < 0 && errno == EISCONN)
					r = 0;
			} else {
				errno = w == 0 ? ETIMEDOUT : errno;
				r = -1;
			}
		}
		if (r < 0) {
			(void)milter_reason(reason, sizeof(reason), "connect: %s", strerror(errno));
			close(fd);
			fd = -1;
			continue;
		}
		/* Small packets go out at once (no Nagle wait on the milter's
		 * delayed ACK after a run of body chunks). */
		int one = 1;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	}
	freeaddrinfo(res);
	if (fd < 0)
		*why = reason;
	return fd;
}
