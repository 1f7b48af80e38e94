/* SPDX-License-Identifier: AGPL-3.0-or-later */
#include "conn.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include "log.h"
#include "rnd.h"
#include "sandbox.h"

#define CONN_MAX_LISTEN 16

static volatile sig_atomic_t conn_stop;

static void conn_on_term(int sig)
{
	(void)sig;
	conn_stop = 1;
}

static void conn_on_chld(int sig)
{
	(void)sig; /* only interrupts poll() so the loop reaps */
}

static void conn_addr(const struct sockaddr_storage *ss, socklen_t len, char *addr, size_t addrsz,
                      char *port, size_t portsz, bool *loopback, bool *is_unix)
{
	*loopback = false;
	*is_unix = false;
	snprintf(addr, addrsz, "local");
	if (port)
		port[0] = '\0';
	if (len == 0)
		return;
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)ss;
		inet_ntop(AF_INET, &s4->sin_addr, addr, (socklen_t)addrsz);
		if (port)
			snprintf(port, portsz, "%u", ntohs(s4->sin_port));
		*loopback = (ntohl(s4->sin_addr.s_addr) >> 24) == 127;
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)ss;
		if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr)) {
			struct in_addr a4;
			memcpy(&a4, &s6->sin6_addr.s6_addr[12], 4);
			inet_ntop(AF_INET, &a4, addr, (socklen_t)addrsz);
			*loopback = (ntohl(a4.s_addr) >> 24) == 127;
		} else {
			inet_ntop(AF_INET6, &s6->sin6_addr, addr, (socklen_t)addrsz);
			*loopback = IN6_IS_ADDR_LOOPBACK(&s6->sin6_addr);
		}
		if (port)
			snprintf(port, portsz, "%u", ntohs(s6->sin6_port));
	} else if (ss->ss_family == AF_UNIX) {
		snprintf(addr, addrsz, "unix");
		*loopback = true;
		*is_unix = true;
	}
}

void conn_describe(struct conn *c, int rfd, int wfd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	bool lo, ux;
	memset(c, 0, sizeof(*c));
	c->rfd = rfd;
	c->wfd = wfd;
	rnd_hex(c->session, 8);
	if (getpeername(rfd, (struct sockaddr *)&ss, &len) == 0) {
		conn_addr(&ss, len, c->remote, sizeof(c->remote), c->remote_port,
		          sizeof(c->remote_port), &c->loopback, &c->is_unix);
		/* Replies are written whole and flushed before each read; Nagle
		 * would hold a small reply (a greeting after the TLS session
		 * tickets) until the client's delayed ACK, 40 ms per round. */
		if (!c->is_unix) {
			int one = 1;
			setsockopt(rfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		}
	} else {
		/* Not a socket (a pipe in tests, a terminal): local by definition. */
		snprintf(c->remote, sizeof(c->remote), "local");
		c->loopback = true;
	}
	len = sizeof(ss);
	if (getsockname(rfd, (struct sockaddr *)&ss, &len) == 0)
		conn_addr(&ss, len, c->local, sizeof(c->local), NULL, 0, &lo, &ux);
	log_set("SESSION", c->session);
	log_set("REMOTE", c->remote);
}

bool conn_is_listening(int fd)
{
	return sd_is_socket(fd, AF_UNSPEC, 0, 1) > 0;
}

static bool conn_name_is_tls(const char *name)
{
	return name != NULL && (strcmp(name, "imaps") == 0 || strcmp(name, "pop3s") == 0 ||
	                        strcmp(name, "submissions") == 0 || strcmp(name, "smtps") == 0);
}

static int conn_accept_loop(const struct conn_opts *opts, int *fds, bool *tls, int n,
                            conn_session_fn fn, void *arg)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = conn_on_term;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sa.sa_handler = conn_on_chld;
	sa.sa_flags = SA_NOCLDSTOP;
	sigaction(SIGCHLD, &sa, NULL);
	if (opts->before_loop != NULL)
		opts->before_loop(arg);
	unsigned max = opts->max_children ? opts->max_children : 1000;
	unsigned children = 0;
	struct pollfd p[CONN_MAX_LISTEN];
	log_event(LOG_INFO, "listen", "COUNT", n == 1 ? "1" : "many", NULL);
	while (!conn_stop) {
		while (waitpid(-1, NULL, WNOHANG) > 0)
			children--;
		if (children >= max) {
			/* At the limit, stop accepting: the kernel backlog holds new
			 * clients until a session ends. */
			if (waitpid(-1, NULL, 0) > 0)
				children--;
			continue;
		}
		for (int i = 0; i < n; i++) {
			p[i].fd = fds[i];
			p[i].events = POLLIN;
			p[i].revents = 0;
		}
		int r = poll(p, (nfds_t)n, 1000);
		if (r < 0 && errno != EINTR) {
			log_event(LOG_ERR, "accept-error", "REASON", strerror(errno), NULL);
			return 1;
		}
		for (int i = 0; r > 0 && i < n; i++) {
			if (!(p[i].revents & POLLIN))
				continue;
			int cfd = accept4(fds[i], NULL, NULL, SOCK_CLOEXEC);
			if (cfd < 0) {
				if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
					log_event(LOG_WARNING, "accept-error", "REASON",
					          strerror(errno), NULL);
				continue;
			}
			pid_t pid = fork();
			if (pid < 0) {
				log_event(LOG_ERR, "fork-error", "REASON", strerror(errno), NULL);
				close(cfd);
				continue;
			}
			if (pid == 0) {
				signal(SIGTERM, SIG_DFL);
				signal(SIGINT, SIG_DFL);
				signal(SIGCHLD, SIG_DFL);
				sandbox_log_quiet();
				for (int j = 0; j < n; j++)
					close(fds[j]);
				struct conn c;
				conn_describe(&c, cfd, cfd);
				c.implicit_tls = tls[i];
				int rc = fn(&c, arg);
				_exit(rc);
			}
			children++;
			close(cfd);
		}
	}
	return 0;
}

int conn_serve(const struct conn_opts *opts, conn_session_fn fn, void *arg)
{
	signal(SIGPIPE, SIG_IGN);
	char **names = NULL;
	int n = sd_listen_fds_with_names(1, &names);
	if (n > 0) {
		int fds[CONN_MAX_LISTEN];
		bool tls[CONN_MAX_LISTEN];
		int nl = 0;
		if (n == 1 && !conn_is_listening(SD_LISTEN_FDS_START)) {
			/* Accept=yes: fd 3 is the connection. */
			struct conn c;
			conn_describe(&c, SD_LISTEN_FDS_START, SD_LISTEN_FDS_START);
			c.implicit_tls = opts->tls_flag;
			for (int i = 0; names && names[i]; i++)
				free(names[i]);
			free(names);
			return fn(&c, arg);
		}
		for (int i = 0; i < n && nl < CONN_MAX_LISTEN; i++) {
			int fd = SD_LISTEN_FDS_START + i;
			if (!conn_is_listening(fd)) {
				log_event(LOG_ERR, "setup-error", "REASON",
				          "passed a mix of listening and connected sockets", NULL);
				return 1;
			}
			fds[nl] = fd;
			tls[nl] = conn_name_is_tls(names ? names[i] : NULL);
			nl++;
		}
		for (int i = 0; names && names[i]; i++)
			free(names[i]);
		free(names);
		return conn_accept_loop(opts, fds, tls, nl, fn, arg);
	}
	if (n < 0) {
		log_event(LOG_ERR, "setup-error", "REASON", "bad LISTEN_FDS", NULL);
		return 1;
	}
	struct conn c;
	conn_describe(&c, 0, 1);
	c.implicit_tls = opts->tls_flag;
	return fn(&c, arg);
}
