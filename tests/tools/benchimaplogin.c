/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* Benchmark client: IMAP LOGIN+LOGOUT load (the team's anchors client,
 * shared/bench-anchors/imaplogin.c, in house style). Each connection:
 * greeting, [TLS], LOGIN, LOGOUT, close; CONC threads for SECS seconds.
 *   benchimaplogin PORT MODE CONC SECS USERFMT PASS [NUSERS]
 *     MODE: plain | tls (implicit TLS) | starttls | tlsresume (implicit TLS,
 *           reusing the thread's last session ticket)
 *     USERFMT: printf format with one %d, e.g. "p%d"; users cycle 1..NUSERS
 * Prints one key=value line: logins/s, failures, latency median and p99.
 * Exit: 0 when at least one login succeeded, 1 otherwise, 2 usage.
 * Trust: test tool; it talks only to 127.0.0.1. */
#include <bsd/stdlib.h>
#include <limits.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "base/fmt.h"
#include "base/mem.h"

#define BIL_THREADS_MAX 256
#define BIL_LAT_MAX     200000 /* latencies kept per thread */

static int g_port, g_nusers = 1;
static const char *g_mode, *g_userfmt, *g_pass;
static double g_end;
static SSL_CTX *g_ctx;

struct bil_io {
	int fd;
	SSL *ssl;
	char buf[4096];
	int len, pos;
};

struct bil_thread {
	int id;
	long ok, fail;
	size_t nlat;
	double *lat;
};

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int dbl_cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/* q-quantile of v (sorted in place); 0 for an empty set. */
static double quantile(double *v, size_t n, double q)
{
	if (n == 0)
		return 0;
	qsort(v, n, sizeof(*v), dbl_cmp);
	return v[(size_t)(q * (double)(n - 1) + 0.5)];
}

static int io_read(struct bil_io *io, char *b, int n)
{
	return io->ssl != NULL ? SSL_read(io->ssl, b, n) : (int)read(io->fd, b, (size_t)n);
}

static bool io_write(struct bil_io *io, const char *s)
{
	int n = (int)strlen(s);
	return (io->ssl != NULL ? SSL_write(io->ssl, s, n) : (int)write(io->fd, s, (size_t)n)) == n;
}

/* Read lines until one starts with tag (with tag NULL: the first line).
 * true when that line says OK (for the greeting: "* OK"). */
static bool expect(struct bil_io *io, const char *tag)
{
	char line[4096];
	size_t ll = 0;
	for (;;) {
		if (io->pos == io->len) {
			io->len = io_read(io, io->buf, (int)sizeof(io->buf));
			io->pos = 0;
			if (io->len <= 0)
				return false;
		}
		char ch = io->buf[io->pos++];
		if (ll < sizeof(line) - 1)
			line[ll++] = ch;
		if (ch != '\n')
			continue;
		line[ll] = '\0';
		if (tag == NULL)
			return strncmp(line, "* OK", 4) == 0;
		size_t tl = strlen(tag);
		if (strncmp(line, tag, tl) == 0 && line[tl] == ' ')
			return strncmp(line + tl + 1, "OK", 2) == 0;
		ll = 0;
	}
}

static bool one_login(int uid, SSL_SESSION **sess)
{
	struct bil_io io = {.fd = -1};
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)g_port)};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	bool ok = false;
	io.fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (io.fd < 0)
		return false;
	int one = 1;
	setsockopt(io.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(io.fd, (struct sockaddr *)&a, sizeof(a)) < 0)
		goto out;
	bool tls = strcmp(g_mode, "plain") != 0, starttls = strcmp(g_mode, "starttls") == 0;
	if (starttls &&
	    (!expect(&io, NULL) || !io_write(&io, "s STARTTLS\r\n") || !expect(&io, "s")))
		goto out;
	if (tls) {
		io.ssl = SSL_new(g_ctx);
		SSL_set_fd(io.ssl, io.fd);
		if (sess != NULL && *sess != NULL)
			SSL_set_session(io.ssl, *sess);
		if (SSL_connect(io.ssl) != 1) {
			ERR_print_errors_fp(stderr);
			goto out;
		}
	}
	if (!starttls && !expect(&io, NULL))
		goto out;
	char user[128], cmd[256];
	/* The format comes from the command line of this test tool. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
	int un = snprintf(user, sizeof(user), g_userfmt, uid);
#pragma GCC diagnostic pop
	/* A cut user name or command would log in as someone else. */
	if (un < 0 || (size_t)un >= sizeof(user) ||
	    fmt_name(cmd, sizeof(cmd), "a LOGIN %s \"%s\"\r\n", user, g_pass) < 0 ||
	    !io_write(&io, cmd) || !expect(&io, "a"))
		goto out;
	if (!io_write(&io, "b LOGOUT\r\n") || !expect(&io, "b"))
		goto out;
	ok = true;
	if (sess != NULL && io.ssl != NULL) {
		SSL_SESSION *s = SSL_get1_session(io.ssl);
		if (*sess != NULL)
			SSL_SESSION_free(*sess);
		*sess = s;
	}
out:
	if (io.ssl != NULL) {
		SSL_shutdown(io.ssl);
		SSL_free(io.ssl);
	}
	close(io.fd);
	return ok;
}

static void *worker(void *arg)
{
	struct bil_thread *t = arg;
	SSL_SESSION *sess = NULL;
	bool resume = strcmp(g_mode, "tlsresume") == 0;
	int uid = t->id;
	while (now_s() < g_end) {
		double s = now_s();
		bool ok = one_login(uid % g_nusers + 1, resume ? &sess : NULL);
		uid++;
		if (ok) {
			t->ok++;
			if (t->nlat < BIL_LAT_MAX)
				t->lat[t->nlat++] = now_s() - s;
		} else {
			t->fail++;
			usleep(10000);
		}
	}
	if (sess != NULL)
		SSL_SESSION_free(sess);
	return NULL;
}

int main(int argc, char **argv)
{
	if (argc < 7) {
		fprintf(stderr, "usage: benchimaplogin PORT plain|tls|starttls|tlsresume CONC SECS "
		                "USERFMT PASS [NUSERS]\n");
		return 2;
	}
	const char *e1, *e2, *e3 = NULL;
	g_port = (int)strtonum(argv[1], 1, 65535, &e1);
	g_mode = argv[2];
	int conc = (int)strtonum(argv[3], 1, BIL_THREADS_MAX, &e2);
	double secs = atof(argv[4]);
	g_userfmt = argv[5];
	g_pass = argv[6];
	if (argc > 7)
		g_nusers = (int)strtonum(argv[7], 1, INT_MAX, &e3);
	if (e1 != NULL || e2 != NULL || e3 != NULL || secs <= 0 || strchr(g_userfmt, '%') == NULL) {
		fprintf(stderr,
		        "benchimaplogin: bad arguments (PORT 1-65535, CONC 1-%d, SECS > 0, "
		        "NUSERS >= 1, USERFMT with a %%d)\n",
		        BIL_THREADS_MAX);
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	g_ctx = SSL_CTX_new(TLS_client_method());
	SSL_CTX_set_verify(g_ctx, SSL_VERIFY_NONE, NULL);
	SSL_CTX_set_session_cache_mode(g_ctx, SSL_SESS_CACHE_CLIENT);
	pthread_t *th = mem_array((size_t)conc, sizeof(*th));
	struct bil_thread *ta = mem_array((size_t)conc, sizeof(*ta));
	double t0 = now_s();
	g_end = t0 + secs;
	for (int i = 0; i < conc; i++) {
		ta[i] = (struct bil_thread){.id = i, .lat = mem_array(BIL_LAT_MAX, sizeof(double))};
		pthread_create(&th[i], NULL, worker, &ta[i]);
	}
	long ok = 0, fail = 0;
	size_t nl = 0;
	double *all = mem_array(mem_mul(BIL_LAT_MAX, (size_t)conc), sizeof(*all));
	for (int i = 0; i < conc; i++) {
		pthread_join(th[i], NULL);
		ok += ta[i].ok;
		fail += ta[i].fail;
		memcpy(all + nl, ta[i].lat, ta[i].nlat * sizeof(*all));
		nl += ta[i].nlat;
		free(ta[i].lat);
	}
	double el = now_s() - t0;
	printf("mode=%s conc=%d ok=%ld fail=%ld logins_per_s=%.1f lat_median_ms=%.2f "
	       "lat_p99_ms=%.2f\n",
	       g_mode, conc, ok, fail, (double)ok / el, quantile(all, nl, 0.5) * 1e3,
	       quantile(all, nl, 0.99) * 1e3);
	free(all);
	free(ta);
	free(th);
	SSL_CTX_free(g_ctx);
	return ok > 0 ? 0 : 1;
}
