/* SPDX-License-Identifier: AGPL-3.0-or-later */
#include "conn.h"

#include <arpa/inet.h>
#include <bsd/stdlib.h>
#include <errno.h>
#include <limits.h>
#include <malloc.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include "fdpass.h"
#include "log.h"
#include "base/mem.h"
#include "base/rnd.h"
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

/* Poll slots kept on the loop's stack; more (pre-login sessions waiting
 * for a helper) go to the heap. */
#define CONN_POLL_STACK 32

static void conn_addr(const struct sockaddr_storage *ss, socklen_t len, char *addr, size_t addrsz,
                      char *port, size_t portsz, bool *loopback, bool *is_unix)
{
	*loopback = false;
	*is_unix = false;
	/* addr holds CONN_ADDR_MAX (an IPv6 address, so "local" and "unix");
	 * port holds 8 bytes (a 16-bit port has at most 5 digits): never cut. */
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

/* Fill c without touching the log context (the accept loop describes the
 * connection for its child before it forks). */
static void conn_fill(struct conn *c, int rfd, int wfd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	bool lo, ux;
	memset(c, 0, sizeof(*c));
	c->rfd = rfd;
	c->wfd = wfd;
	c->ctl_fd = -1;
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
		snprintf(c->remote, sizeof(c->remote), "local"); /* fits, as above */
		c->loopback = true;
	}
	len = sizeof(ss);
	if (getsockname(rfd, (struct sockaddr *)&ss, &len) == 0)
		conn_addr(&ss, len, c->local, sizeof(c->local), NULL, 0, &lo, &ux);
}

static void conn_log_context(const struct conn *c)
{
	log_set("SESSION", c->session);
	log_set("REMOTE", c->remote);
}

void conn_describe(struct conn *c, int rfd, int wfd)
{
	conn_fill(c, rfd, wfd);
	conn_log_context(c);
}

bool conn_is_listening(int fd)
{
	return sd_is_socket(fd, AF_UNSPEC, 0, 1) > 0;
}

bool conn_listeners_passed(void)
{
	const char *pid = getenv("LISTEN_PID"), *fds = getenv("LISTEN_FDS");
	if (pid == NULL || fds == NULL)
		return false;
	/* sd_listen_fds(3): LISTEN_PID is ours, LISTEN_FDS counts fds from 3 on. */
	const char *errstr;
	long long p = strtonum(pid, 1, INT_MAX, &errstr);
	if (errstr != NULL || p != (long long)getpid())
		return false;
	strtonum(fds, 1, INT_MAX - SD_LISTEN_FDS_START, &errstr);
	if (errstr != NULL)
		return false;
	return conn_is_listening(SD_LISTEN_FDS_START);
}

static bool conn_name_is_tls(const char *name)
{
	return name != NULL && (strcmp(name, "imaps") == 0 || strcmp(name, "pop3s") == 0 ||
	                        strcmp(name, "submissions") == 0 || strcmp(name, "smtps") == 0);
}

/* ---- helper requests ------------------------------------------------------
 * A session that may need a helper gets one end of a control socketpair. It
 * writes CONN_HELPER_ASK; the loop forks the helper with one end of a fresh
 * socketpair and passes the other end back with CONN_HELPER_OK (SCM_RIGHTS),
 * or answers CONN_HELPER_FAIL; then it closes the control channel. Anything
 * else from the session closes the channel too. */
#define CONN_HELPER_ASK  'H'
#define CONN_HELPER_OK   '+'
#define CONN_HELPER_FAIL '-'

int conn_helper(struct conn *c, int timeout_ms)
{
	int ctl = c->ctl_fd;
	if (ctl < 0)
		return -1;
	c->ctl_fd = -1;
	char b = CONN_HELPER_ASK;
	int fd = -1;
	if (send(ctl, &b, 1, MSG_NOSIGNAL) != 1 || fdpass_recv(ctl, &b, 1, &fd, timeout_ms) != 1 ||
	    b != CONN_HELPER_OK) {
		if (fd >= 0)
			close(fd);
		fd = -1;
	}
	close(ctl);
	return fd;
}

/* ---- per-source limit ----------------------------------------------------
 * The loop keeps, per live session, the source it came from: IPv4 addresses
 * exactly, IPv6 ones by their /64 (what one host or one customer line is
 * usually given, RFC 6177), as 16 bytes (IPv4 as ::ffff:a.b.c.d). A session
 * whose plaintext connection passed to its helper (a login back) goes on
 * counting until both are gone. Counting is a scan of the live sessions:
 * at most max_connections entries of 24 bytes, microseconds against the
 * fork that follows. */
struct conn_src {
	pid_t pid;    /* the session, 0 once it exited */
	pid_t helper; /* its helper, or 0 */
	unsigned char key[16];
};

/* Unix sockets are local clients: never limited. */
bool conn_source_key(const struct sockaddr_storage *ss, socklen_t len, unsigned char key_r[16])
{
	memset(key_r, 0, 16);
	if (len >= sizeof(struct sockaddr_in) && ss->ss_family == AF_INET) {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)ss;
		key_r[10] = key_r[11] = 0xff;
		memcpy(key_r + 12, &s4->sin_addr, 4);
		return true;
	}
	if (len >= sizeof(struct sockaddr_in6) && ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)ss;
		bool v4 = IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr);
		memcpy(key_r, s6->sin6_addr.s6_addr, v4 ? 16 : 8);
		return true;
	}
	return false;
}

/* What the loop keeps per child: a session that may still ask for its
 * helper (ctl >= 0), or a helper (so that its death is logged). */
struct conn_child {
	pid_t pid;
	int ctl;
	bool helper;
	struct conn c;
};

struct conn_loop {
	const struct conn_opts *opts;
	conn_session_fn fn;
	void *arg;
	int *fds;
	bool *tls;
	int n;
	struct conn_child *kids;
	size_t nkids, cap;
	unsigned children;     /* live processes, sessions and helpers */
	unsigned max;          /* the most children at once */
	struct conn_src *srcs; /* live sessions' sources (per-source limit only) */
	size_t nsrcs, srccap;
	int chld_fd;   /* signalfd for SIGCHLD, or -1 (a handler then) */
	sigset_t mask; /* the signal mask to give children */
};

/* First thing in a child of the loop (a session or a helper): default
 * signals, none of the loop's descriptors (listening sockets, the other
 * sessions' control channels), c's log context. */
static void conn_child_enter(struct conn_loop *l, const struct conn *c)
{
	signal(SIGTERM, SIG_DFL);
	signal(SIGINT, SIG_DFL);
	signal(SIGCHLD, SIG_DFL);
	sigprocmask(SIG_SETMASK, &l->mask, NULL);
	sandbox_log_quiet();
	if (l->chld_fd >= 0)
		close(l->chld_fd);
	for (int j = 0; j < l->n; j++)
		close(l->fds[j]);
	for (size_t j = 0; j < l->nkids; j++)
		if (l->kids[j].ctl >= 0)
			close(l->kids[j].ctl);
	conn_log_context(c);
}

static void conn_kid_remove(struct conn_loop *l, size_t i)
{
	l->kids[i] = l->kids[--l->nkids];
}

static size_t conn_src_count(const struct conn_loop *l, const unsigned char key[16])
{
	size_t n = 0;
	for (size_t i = 0; i < l->nsrcs; i++)
		n += memcmp(l->srcs[i].key, key, 16) == 0;
	return n;
}

static void conn_src_add(struct conn_loop *l, pid_t pid, const unsigned char key[16])
{
	if (l->nsrcs == l->srccap) {
		l->srccap = l->srccap ? l->srccap * 2 : 64;
		l->srcs = mem_realloc(l->srcs, l->srccap, sizeof(*l->srcs));
	}
	struct conn_src *e = &l->srcs[l->nsrcs++];
	e->pid = pid;
	e->helper = 0;
	memcpy(e->key, key, 16);
}

/* Session pid's helper is helper: the source stays counted while either lives. */
static void conn_src_helper(struct conn_loop *l, pid_t pid, pid_t helper)
{
	for (size_t i = 0; i < l->nsrcs; i++)
		if (l->srcs[i].pid == pid) {
			l->srcs[i].helper = helper;
			return;
		}
}

static void conn_src_exit(struct conn_loop *l, pid_t pid)
{
	for (size_t i = 0; i < l->nsrcs; i++) {
		struct conn_src *e = &l->srcs[i];
		if (e->pid != pid && e->helper != pid)
			continue;
		if (e->pid == pid)
			e->pid = 0;
		else
			e->helper = 0;
		if (e->pid == 0 && e->helper == 0)
			l->srcs[i] = l->srcs[--l->nsrcs];
		return;
	}
}

/* Over the limit: the protocol's "busy, try later" and close, without
 * reading a byte. A fresh socket's send buffer is empty, so the short
 * reply never blocks the loop (MSG_DONTWAIT anyway). */
static void conn_refuse(struct conn_loop *l, int cfd, bool tls, const struct sockaddr_storage *ss,
                        socklen_t len)
{
	char addr[CONN_ADDR_MAX], limit[16];
	bool lo, ux;
	conn_addr(ss, len, addr, sizeof(addr), NULL, 0, &lo, &ux);
	if (!tls && l->opts->busy_reply != NULL)
		(void)send(cfd, l->opts->busy_reply, strlen(l->opts->busy_reply),
		           MSG_DONTWAIT | MSG_NOSIGNAL);
	close(cfd);
	snprintf(limit, sizeof(limit), "%u", l->opts->max_per_source); /* an unsigned fits */
	log_event(LOG_NOTICE, "limit", "REMOTE", addr, "REASON",
	          "too many connections from this source", "LIMIT", limit, NULL);
}

static void conn_reap(struct conn_loop *l, bool block)
{
	int status;
	pid_t pid;
	while ((pid = waitpid(-1, &status, block ? 0 : WNOHANG)) > 0) {
		block = false;
		if (l->children > 0)
			l->children--;
		conn_src_exit(l, pid);
		for (size_t i = 0; i < l->nkids; i++) {
			if (l->kids[i].pid != pid || !l->kids[i].helper)
				continue;
			if (WIFSIGNALED(status)) {
				/* A crash or a sandbox kill (SIGSYS) of a helper
				 * is a server fault worth a line of its own. */
				char sig[16]; /* any int fits */
				snprintf(sig, sizeof(sig), "%d", WTERMSIG(status));
				log_event(LOG_ERR, "back-died", "SESSION", l->kids[i].c.session,
				          "REMOTE", l->kids[i].c.remote, "SIGNAL", sig, NULL);
			}
			conn_kid_remove(l, i);
			break;
		}
	}
}

static void conn_helper_answer(int ctl, char b, int fd)
{
	/* The session waits with an empty buffer: this never blocks. */
	if (fdpass_send(ctl, &b, 1, fd) < 0)
		log_event(LOG_WARNING, "helper-error", "REASON", strerror(errno), NULL);
}

/* The session behind kids[i] wrote on its control channel. */
static void conn_helper_serve(struct conn_loop *l, size_t i)
{
	struct conn_child *k = &l->kids[i];
	char b = 0;
	ssize_t r = recv(k->ctl, &b, 1, MSG_DONTWAIT);
	if (r < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (r == 1 && b == CONN_HELPER_ASK) {
		int sv[2];
		pid_t pid = -1;
		if (l->children < l->max &&
		    socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0) {
			pid = fork();
			if (pid == 0) {
				close(sv[0]);
				struct conn c = k->c;
				conn_child_enter(l, &c);
				_exit(l->opts->helper(&c, sv[1], l->arg));
			}
			if (pid < 0)
				log_event(LOG_ERR, "fork-error", "REASON", strerror(errno), NULL);
			conn_helper_answer(k->ctl, pid > 0 ? CONN_HELPER_OK : CONN_HELPER_FAIL,
			                   pid > 0 ? sv[0] : -1);
			close(sv[0]);
			close(sv[1]);
		} else {
			conn_helper_answer(k->ctl, CONN_HELPER_FAIL, -1);
		}
		close(k->ctl);
		k->ctl = -1;
		if (pid > 0) {
			/* The entry now tracks the helper. */
			conn_src_helper(l, k->pid, pid);
			l->children++;
			k->pid = pid;
			k->helper = true;
			return;
		}
	} else {
		/* The session ended, or sent something else: no helper for it. */
		close(k->ctl);
		k->ctl = -1;
	}
	conn_kid_remove(l, i);
}

static void conn_spawn(struct conn_loop *l, int cfd, bool tls, const unsigned char *src)
{
	if (l->opts->before_fork != NULL)
		l->opts->before_fork(l->arg);
	struct conn c;
	conn_fill(&c, cfd, cfd);
	c.implicit_tls = tls;
	int ctl[2] = {-1, -1};
	if (l->opts->helper != NULL &&
	    socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, ctl) < 0) {
		log_event(LOG_ERR, "accept-error", "REASON", strerror(errno), NULL);
		close(cfd);
		return;
	}
	pid_t pid = fork();
	if (pid < 0) {
		log_event(LOG_ERR, "fork-error", "REASON", strerror(errno), NULL);
		close(cfd);
		if (ctl[0] >= 0) {
			close(ctl[0]);
			close(ctl[1]);
		}
		return;
	}
	if (pid == 0) {
		if (ctl[0] >= 0)
			close(ctl[0]);
		c.ctl_fd = ctl[1];
		conn_child_enter(l, &c);
		_exit(l->fn(&c, l->arg));
	}
	l->children++;
	if (src != NULL)
		conn_src_add(l, pid, src);
	close(cfd);
	if (ctl[0] < 0)
		return;
	close(ctl[1]);
	if (l->nkids == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 64;
		l->kids = mem_realloc(l->kids, l->cap, sizeof(*l->kids));
	}
	c.rfd = c.wfd = -1;
	l->kids[l->nkids++] = (struct conn_child){.pid = pid, .ctl = ctl[0], .c = c};
}

void conn_loop_settle(void)
{
	/* glibc keeps small freed chunks in "fast" lists and merges them only
	 * when a larger request comes: in every child, whose first such
	 * request then rewrote chunks all over the heap it shares with the
	 * loop (copying each page). Merging them here, once, leaves the
	 * children nothing to merge. The merged chunks wait in an unsorted
	 * list, which the next large request would sort (writing to each):
	 * one here sorts them. */
	malloc_trim(0);
	free(mem_alloc(64 * 1024));
}

/* Children's exits are learnt from a signalfd rather than a SIGCHLD
 * handler: a handler's frame is written on the loop's stack, below what the
 * loop itself uses, which after every fork is one more page to copy. */
static void conn_chld_setup(struct conn_loop *l)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sigset_t chld;
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	l->chld_fd = -1;
	sigprocmask(SIG_SETMASK, NULL, &l->mask);
	if (sigprocmask(SIG_BLOCK, &chld, NULL) == 0) {
		l->chld_fd = signalfd(-1, &chld, SFD_NONBLOCK | SFD_CLOEXEC);
		if (l->chld_fd >= 0)
			return;
		sigprocmask(SIG_SETMASK, &l->mask, NULL);
	}
	sa.sa_handler = conn_on_chld;
	sa.sa_flags = SA_NOCLDSTOP;
	sigaction(SIGCHLD, &sa, NULL);
}

static void conn_chld_drain(struct conn_loop *l)
{
	struct signalfd_siginfo si;
	while (read(l->chld_fd, &si, sizeof(si)) > 0)
		;
}

/* Accept one connection on listening socket i: fork its session, or refuse
 * it when its source is at the limit. */
static void conn_accept_one(struct conn_loop *l, int i)
{
	struct sockaddr_storage ss;
	socklen_t sslen = sizeof(ss);
	int cfd = accept4(l->fds[i], (struct sockaddr *)&ss, &sslen, SOCK_CLOEXEC);
	if (cfd < 0) {
		if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
			log_event(LOG_WARNING, "accept-error", "REASON", strerror(errno), NULL);
		return;
	}
	unsigned char key[16];
	bool counted = l->opts->max_per_source > 0 && conn_source_key(&ss, sslen, key);
	if (counted && conn_src_count(l, key) >= l->opts->max_per_source) {
		conn_refuse(l, cfd, l->tls[i], &ss, sslen);
		return;
	}
	conn_spawn(l, cfd, l->tls[i], counted ? key : NULL);
}

static int conn_accept_loop(struct conn_loop *l)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = conn_on_term;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	conn_chld_setup(l);
	/* Each pre-login session holds a control socket in this process: with
	 * max_connections of them the usual soft limit of 1,024 descriptors
	 * would be too few. The hard limit is the administrator's (LimitNOFILE=). */
	struct rlimit nofile;
	if (l->opts->helper != NULL && getrlimit(RLIMIT_NOFILE, &nofile) == 0 &&
	    nofile.rlim_cur < nofile.rlim_max) {
		nofile.rlim_cur = nofile.rlim_max;
		setrlimit(RLIMIT_NOFILE, &nofile);
	}
	if (l->opts->before_loop != NULL)
		l->opts->before_loop(l->arg);
	int xfd = l->opts->loop_fd != NULL ? l->opts->loop_fd(l->arg) : -1;
	conn_loop_settle();
	/* Slots on the stack, which the loop writes anyway, rather than on a
	 * heap page that every fork would make the loop copy again. */
	struct pollfd pst[CONN_POLL_STACK];
	size_t kst[CONN_POLL_STACK];
	struct pollfd *p = pst, *pheap = NULL;
	size_t *kid = kst, *kheap = NULL; /* poll slot -> entry in l->kids */
	size_t pcap = CONN_POLL_STACK;
	int rc = 0;
	log_event(LOG_INFO, "listen", "COUNT", l->n == 1 ? "1" : "many", NULL);
	while (!conn_stop) {
		conn_reap(l, false);
		/* At the limit, stop accepting: the kernel backlog holds new
		 * clients until a session ends. Requests for helpers are still
		 * answered (with a refusal when no process may be added). */
		bool full = l->children >= l->max;
		size_t np = (full ? 0 : (size_t)l->n) + (xfd >= 0) + (l->chld_fd >= 0);
		for (size_t i = 0; i < l->nkids; i++)
			np += l->kids[i].ctl >= 0;
		if (np == 0) {
			conn_reap(l, true);
			continue;
		}
		if (np > pcap) {
			pcap = np * 2;
			p = pheap = mem_realloc(pheap, pcap, sizeof(*p));
			kid = kheap = mem_realloc(kheap, pcap, sizeof(*kid));
		}
		size_t k = 0;
		for (int i = 0; !full && i < l->n; i++)
			p[k++] = (struct pollfd){.fd = l->fds[i], .events = POLLIN};
		size_t xi = k;
		if (xfd >= 0)
			p[k++] = (struct pollfd){.fd = xfd, .events = POLLIN};
		size_t ci = k;
		if (l->chld_fd >= 0)
			p[k++] = (struct pollfd){.fd = l->chld_fd, .events = POLLIN};
		size_t base = k;
		for (size_t i = 0; i < l->nkids; i++)
			if (l->kids[i].ctl >= 0) {
				kid[k] = i;
				p[k++] = (struct pollfd){.fd = l->kids[i].ctl, .events = POLLIN};
			}
		int r = poll(p, (nfds_t)k, 1000);
		if (r < 0 && errno != EINTR) {
			log_event(LOG_ERR, "accept-error", "REASON", strerror(errno), NULL);
			rc = 1;
			break;
		}
		if (r <= 0)
			continue;
		if (l->chld_fd >= 0 && p[ci].revents != 0)
			conn_chld_drain(l); /* reaped at the top of the loop */
		if (xfd >= 0 && p[xi].revents != 0)
			l->opts->loop_fd_ready(l->arg);
		/* Helper requests first (their sessions wait). From the highest
		 * entry down: removing entry i moves the last one, already seen,
		 * into its place. */
		for (size_t j = k; j-- > base;)
			if (p[j].revents != 0)
				conn_helper_serve(l, kid[j]);
		/* Sessions that just ended no longer count against their source
		 * (the poll slots' entries, which reaping may move, are done). */
		conn_reap(l, false);
		for (int i = 0; !full && i < l->n; i++) {
			if (!(p[i].revents & POLLIN))
				continue;
			conn_accept_one(l, i);
		}
	}
	free(pheap);
	free(kheap);
	for (size_t i = 0; i < l->nkids; i++)
		if (l->kids[i].ctl >= 0)
			close(l->kids[i].ctl);
	free(l->kids);
	free(l->srcs);
	if (l->chld_fd >= 0)
		close(l->chld_fd);
	return rc;
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
		struct conn_loop l = {.opts = opts,
		                      .fn = fn,
		                      .arg = arg,
		                      .fds = fds,
		                      .tls = tls,
		                      .n = nl,
		                      .max = opts->max_children ? opts->max_children : 1000};
		return conn_accept_loop(&l);
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
