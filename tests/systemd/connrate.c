/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* Connections per second against a line-based mail server, for the unit
 * mode measurements in docs/SECURITY.md. Each of CONC threads loops for SECS
 * seconds over: connect, read the greeting (up to a line whose fourth byte is
 * not '-', so multi-line SMTP greetings count as one), send COMMAND + CRLF,
 * read until the server closes the connection. A session that the server
 * ends on its own (a refused connection: MaxConnections=) counts as an error.
 *
 *     connrate HOST PORT CONC SECS COMMAND
 *     connrate /path/to/unix.socket - CONC SECS COMMAND
 *     -> conns=N errors=E secs=S conn_per_s=R
 *
 * Built by tests/systemd/run.sh; not part of the product. Trust: test tool. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define CONNRATE_MAX_THREADS  64
#define CONNRATE_IO_TIMEOUT_S 10

static struct sockaddr_storage connrate_addr;
static socklen_t connrate_addrlen;
static char connrate_cmd[256];
static size_t connrate_cmdlen;
static double connrate_deadline;
static atomic_ulong connrate_ok;
static atomic_ulong connrate_err;

static double connrate_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Read until the greeting's last line has arrived: true on success. */
static bool connrate_greeting(int fd)
{
	char buf[4096];
	size_t len = 0, line = 0;
	for (;;) {
		if (len == sizeof(buf))
			return false;
		ssize_t r = read(fd, buf + len, sizeof(buf) - len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return false;
		len += (size_t)r;
		for (size_t i = line; i < len; i++) {
			if (buf[i] != '\n')
				continue;
			/* RFC 5321 section 4.2.1: "NNN-" continues a reply. */
			if (i - line < 4 || buf[line + 3] != '-')
				return true;
			line = i + 1;
		}
	}
}

static bool connrate_session(void)
{
	int fd = socket(connrate_addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return false;
	struct timeval tv = {CONNRATE_IO_TIMEOUT_S, 0};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	int one = 1;
	if (connrate_addr.ss_family == AF_INET)
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	bool ok = false;
	if (connect(fd, (struct sockaddr *)&connrate_addr, connrate_addrlen) == 0 &&
	    connrate_greeting(fd) &&
	    write(fd, connrate_cmd, connrate_cmdlen) == (ssize_t)connrate_cmdlen) {
		char buf[1024];
		ssize_t r;
		while ((r = read(fd, buf, sizeof(buf))) > 0 || (r < 0 && errno == EINTR))
			;
		ok = r == 0;
	}
	close(fd);
	return ok;
}

static void *connrate_thread(void *arg)
{
	(void)arg;
	while (connrate_now() < connrate_deadline) {
		if (connrate_session())
			atomic_fetch_add(&connrate_ok, 1);
		else
			atomic_fetch_add(&connrate_err, 1);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	if (argc != 6) {
		fprintf(stderr, "usage: connrate HOST PORT CONC SECS COMMAND\n");
		return 2;
	}
	memset(&connrate_addr, 0, sizeof(connrate_addr));
	if (argv[1][0] == '/') {
		struct sockaddr_un *un = (struct sockaddr_un *)&connrate_addr;
		if (strlen(argv[1]) >= sizeof(un->sun_path)) {
			fprintf(stderr, "connrate: socket path too long\n");
			return 2;
		}
		un->sun_family = AF_UNIX;
		memcpy(un->sun_path, argv[1], strlen(argv[1]) + 1);
		connrate_addrlen = sizeof(*un);
	} else {
		struct sockaddr_in *in = (struct sockaddr_in *)&connrate_addr;
		in->sin_family = AF_INET;
		in->sin_port = htons((uint16_t)atoi(argv[2]));
		if (inet_pton(AF_INET, argv[1], &in->sin_addr) != 1) {
			fprintf(stderr, "connrate: bad IPv4 address %s\n", argv[1]);
			return 2;
		}
		connrate_addrlen = sizeof(*in);
	}
	int conc = atoi(argv[3]);
	double secs = atof(argv[4]);
	if (conc < 1 || conc > CONNRATE_MAX_THREADS || secs <= 0) {
		fprintf(stderr, "connrate: CONC 1..%d, SECS > 0\n", CONNRATE_MAX_THREADS);
		return 2;
	}
	int n = snprintf(connrate_cmd, sizeof(connrate_cmd), "%s\r\n", argv[5]);
	if (n < 0 || (size_t)n >= sizeof(connrate_cmd))
		return 2;
	connrate_cmdlen = (size_t)n;
	double start = connrate_now();
	connrate_deadline = start + secs;
	pthread_t th[CONNRATE_MAX_THREADS];
	for (int i = 0; i < conc; i++)
		if (pthread_create(&th[i], NULL, connrate_thread, NULL) != 0)
			return 1;
	for (int i = 0; i < conc; i++)
		pthread_join(th[i], NULL);
	double el = connrate_now() - start;
	unsigned long ok = atomic_load(&connrate_ok), err = atomic_load(&connrate_err);
	printf("conns=%lu errors=%lu secs=%.2f conn_per_s=%.1f\n", ok, err, el, (double)ok / el);
	return ok > 0 ? 0 : 1;
}
