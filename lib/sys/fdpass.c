/* SPDX-License-Identifier: AGPL-3.0-or-later */
#include "fdpass.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

union fdpass_cmsg {
	struct cmsghdr h;
	char buf[CMSG_SPACE(sizeof(int))];
};

int fdpass_send(int sock, const void *p, size_t n, int fd)
{
	union fdpass_cmsg cm;
	struct iovec iov = {.iov_base = (void *)p, .iov_len = n};
	struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1};
	if (fd >= 0) {
		memset(&cm, 0, sizeof(cm));
		m.msg_control = cm.buf;
		m.msg_controllen = sizeof(cm.buf);
		struct cmsghdr *h = CMSG_FIRSTHDR(&m);
		h->cmsg_level = SOL_SOCKET;
		h->cmsg_type = SCM_RIGHTS;
		h->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(h), &fd, sizeof(int));
	}
	ssize_t w;
	do
		w = sendmsg(sock, &m, MSG_NOSIGNAL | MSG_DONTWAIT);
	while (w < 0 && errno == EINTR);
	if (w < 0)
		return -1;
	if ((size_t)w != n) {
		errno = EMSGSIZE;
		return -1;
	}
	return 0;
}

ssize_t fdpass_recv(int sock, void *p, size_t n, int *fd_r, int timeout_ms)
{
	*fd_r = -1;
	struct pollfd pfd = {.fd = sock, .events = POLLIN};
	int r;
	do
		r = poll(&pfd, 1, timeout_ms);
	while (r < 0 && errno == EINTR);
	if (r <= 0) {
		if (r == 0)
			errno = ETIMEDOUT;
		return -1;
	}
	union fdpass_cmsg cm;
	struct iovec iov = {.iov_base = p, .iov_len = n};
	struct msghdr m = {.msg_iov = &iov,
	                   .msg_iovlen = 1,
	                   .msg_control = cm.buf,
	                   .msg_controllen = sizeof(cm.buf)};
	*fd_r = -1;
	ssize_t k;
	do
		k = recvmsg(sock, &m, MSG_CMSG_CLOEXEC);
	while (k < 0 && errno == EINTR);
	if (k < 0)
		return -1;
	struct cmsghdr *h = CMSG_FIRSTHDR(&m);
	if (h != NULL && h->cmsg_level == SOL_SOCKET && h->cmsg_type == SCM_RIGHTS &&
	    h->cmsg_len == CMSG_LEN(sizeof(int))) {
		int fd;
		memcpy(&fd, CMSG_DATA(h), sizeof(int));
		/* One descriptor, nothing cut off: anything else is refused. */
		if ((m.msg_flags & MSG_CTRUNC) || CMSG_NXTHDR(&m, h) != NULL)
			close(fd);
		else
			*fd_r = fd;
	}
	return k;
}
