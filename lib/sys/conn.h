/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* How a handler gets its connection (DESIGN section 1, INTERFACES):
 *  - fd 0/1 (inetd, systemd StandardInput=socket, systemd-socket-activate --inetd);
 *  - fd 3 with LISTEN_FDS=1 and a connected socket (Accept=yes without StandardInput);
 *  - listening sockets from LISTEN_FDS (Accept=no): accept and fork one child per
 *    connection, which runs the same session code; sockets named (FileDescriptorName=)
 *    imaps, pop3s or submissions carry implicit TLS.
 * Trust: pre-auth. */
#ifndef SEALMAIL_CONN_H
#define SEALMAIL_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#define CONN_ADDR_MAX 64

struct conn {
	int rfd, wfd;
	bool implicit_tls; /* --tls, or a listening socket named imaps/pop3s/submissions */
	bool loopback;     /* peer is 127.0.0.0/8, ::1 or a unix socket */
	bool is_unix;
	char remote[CONN_ADDR_MAX]; /* textual peer address, "unix" or "local" */
	char remote_port[8];
	char local[CONN_ADDR_MAX];
	char session[17]; /* random session id, also in every log event */
	int ctl_fd;       /* accept mode with a helper: channel to the loop, else -1 */
};

struct conn_opts {
	bool tls_flag;         /* --tls: implicit TLS on fd 0/1 or fd 3 */
	unsigned max_children; /* accept mode: concurrent sessions */
	/* Accept mode: connections at once from one source (an IPv4 address,
	 * an IPv6 /64; unix sockets are not counted); 0: no limit. A connection
	 * over it gets busy_reply (a whole protocol line, CRLF included, the
	 * protocol's "try later": nothing is read from the client) and is
	 * closed by the loop itself; on an implicit-TLS socket it is closed
	 * without a word (plaintext there would be a TLS error anyway). */
	unsigned max_per_source;
	const char *busy_reply;
	/* Accept mode: called in the parent once, after the listening sockets were
	 * found and before the loop (the sandbox goes here). */
	void (*before_loop)(void *arg);
	/* Accept mode: called in the parent before each session's fork. */
	void (*before_fork)(void *arg);
	/* Accept mode: after before_loop, a descriptor for the loop to watch
	 * too (-1: none), and what to call when it is readable. */
	int (*loop_fd)(void *arg);
	void (*loop_fd_ready)(void *arg);
	/* Accept mode: the helper process a session may ask the loop for, once
	 * (conn_helper). It runs in a child forked from the loop, not from the
	 * session, with c describing the session's connection (rfd, wfd: -1)
	 * and fd its end of a socketpair to the session. */
	int (*helper)(struct conn *c, int fd, void *arg);
};

typedef int (*conn_session_fn)(struct conn *c, void *arg);

/* In a session of an accept loop with a helper: ask the loop to fork it.
 * Returns the session's end of the socketpair to the helper, or -1 (no such
 * loop, asked before, or no answer within timeout_ms). A session that never
 * asks costs one process, not two. */
int conn_helper(struct conn *c, int timeout_ms);

/* Find the connection(s) and run fn for each; returns the exit status for
 * main(): fn's result for a single connection, 0 when an accept loop ends
 * on SIGTERM, 1 on a server fault. Ignores SIGPIPE. */
int conn_serve(const struct conn_opts *opts, conn_session_fn fn, void *arg);
/* Fill c from a connected socket (or any fd): addresses, loopback, session id;
 * the session id and remote address go into every later log event. */
void conn_describe(struct conn *c, int rfd, int wfd);
/* The source a per-source limit counts a peer under: 16 bytes, an IPv4
 * address as ::ffff:a.b.c.d (also when it comes IPv4-mapped), an IPv6 one
 * cut to its /64. False (nothing counted) for other families. */
bool conn_source_key(const struct sockaddr_storage *ss, socklen_t len, unsigned char key_r[16]);
/* True if the socket fd is listening (for Accept=no). */
bool conn_is_listening(int fd);
/* True if systemd (or systemd-socket-activate) passed this process listening
 * sockets: LISTEN_PID is ours and the first passed fd listens. Unlike
 * sd_listen_fds it changes nothing (no FD_CLOEXEC, no unsetenv), so it may
 * be asked before an exec that keeps the sockets. */
bool conn_listeners_passed(void);

/* In an accept loop, after it changed much of its memory (start-up, a new
 * directory snapshot): tidy the allocator's free lists, so that children
 * find nothing of the loop's to rewrite. */
void conn_loop_settle(void);

#endif
