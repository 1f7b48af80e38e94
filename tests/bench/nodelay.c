/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* Benchmark experiment, not part of any server: an LD_PRELOAD shim that sets
 * TCP_NODELAY on every socket a process gets from accept4(), to measure what
 * Nagle's algorithm costs a handler (docs/BENCHMARKS.md, section 2):
 *   cc -O2 -shared -fPIC -o nodelay.so tests/bench/nodelay.c -ldl
 *   LD_PRELOAD=$PWD/nodelay.so systemd-socket-activate -l 127.0.0.1:PORT \
 *       --fdname=imaps -E SEALMAIL_CONF -E LD_PRELOAD build/imapd
 * Trust: test tool. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stddef.h>
#include <sys/socket.h>

int accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags)
{
	static int (*real_accept4)(int, struct sockaddr *, socklen_t *, int);
	if (real_accept4 == NULL)
		real_accept4 =
		    (int (*)(int, struct sockaddr *, socklen_t *, int))dlsym(RTLD_NEXT, "accept4");
	int c = real_accept4(fd, addr, len, flags);
	if (c >= 0) {
		int one = 1;
		(void)setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	}
	return c;
}
