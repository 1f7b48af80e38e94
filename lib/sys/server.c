/* SPDX-License-Identifier: AGPL-3.0-or-later */
#include "server.h"

#include <fcntl.h>
#include <getopt.h>
#include <stdint.h>
#include <unistd.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sodium.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conn.h"
#include "io.h"
#include "log.h"
#include "tls.h"
#include "base/timeutil.h"

void server_flags(int argc, char **argv, const char *prog, struct server_args *a)
{
	static const struct option opts[] = {
	    {"config", required_argument, NULL, 'c'},
	    {"tls", no_argument, NULL, 't'},
	    {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, 'V'},
	    {NULL, 0, NULL, 0},
	};
	memset(a, 0, sizeof(*a));
	int ch;
	while ((ch = getopt_long(argc, argv, "c:", opts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			a->conf_path = optarg;
			break;
		case 't':
			a->tls = true;
			break;
		case 'h':
			printf("usage: %s [-c FILE] [--tls]\n"
			       "Serves one connection on fd 0/1 (inetd, systemd "
			       "StandardInput=socket),\n"
			       "or the sockets passed by systemd (LISTEN_FDS).\n",
			       prog);
			exit(0);
		case 'V':
			printf("%s (sealmail) " SEALMAIL_VERSION "\n", prog);
			exit(0);
		default:
			fprintf(stderr, "usage: %s [-c FILE] [--tls]\n", prog);
			exit(2);
		}
	}
	if (optind != argc) {
		fprintf(stderr, "usage: %s [-c FILE] [--tls]\n", prog);
		exit(2);
	}
}

void server_no_core(void)
{
	struct rlimit rl = {0, 0};
	setrlimit(RLIMIT_CORE, &rl);
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
}

void server_log(const char *prog)
{
	static char ident[64];
	/* prog is one of our own short names; a cut ident would still name
	 * the program well enough to log under. */
	(void)snprintf(ident, sizeof(ident), "sealmail-%s", prog);
	log_init(ident);
	server_no_core();
}

struct conf *server_conf_load(const struct server_args *a)
{
	struct conf *c = conf_new();
	const char *err;
	if (conf_load(c, conf_path(a->conf_path), &err) < 0)
		log_fatal("configuration: %s", err);
	return c;
}

SSL_CTX *server_tls(const struct conf *c)
{
	if (c->tls_cert[0] == '\0' && c->tls_key[0] == '\0')
		return NULL;
	const char *err;
	SSL_CTX *ctx = tls_server_ctx(c->tls_cert, c->tls_key, &err);
	if (ctx == NULL)
		log_fatal("TLS: %s", err);
	return ctx;
}

SSL_CTX *server_tls_cert(const struct conf *c, int *keyfd_r)
{
	*keyfd_r = -1;
	if (c->tls_cert[0] == '\0' && c->tls_key[0] == '\0')
		return NULL;
	const char *err;
	SSL_CTX *ctx = tls_server_ctx_cert(c->tls_cert, &err);
	if (ctx == NULL)
		log_fatal("TLS: %s", err);
	*keyfd_r = tls_key_open(c->tls_key, &err);
	if (*keyfd_r < 0)
		log_fatal("TLS: %s", err);
	return ctx;
}

void server_tls_key(SSL_CTX *ctx, int *keyfd)
{
	if (*keyfd < 0)
		return;
	const char *err;
	if (tls_key_load(ctx, *keyfd, &err) < 0)
		log_fatal("TLS: %s", err);
	close(*keyfd);
	*keyfd = -1;
}

void server_warm(void)
{
	unsigned char b;
	tls_warm();
	timeutil_warm();
	if (sodium_init() < 0)
		log_fatal("libsodium initialisation failed");
	/* SQLite preallocates a page cache of SQLITE_DEFAULT_PCACHE_INITSZ
	 * pages for each connection and writes a header into every slot: 100
	 * pages in Debian's build, 430 KB touched at the first read, which a
	 * forked child pays in ~110 page faults per connection opened. Pages
	 * come one by one from the heap instead. Must precede any other use
	 * of SQLite. Then: SQLite opens /dev/urandom on first use of its PRNG. */
	sqlite3_config(SQLITE_CONFIG_PAGECACHE, NULL, 0, 0);
	sqlite3_initialize();
	sqlite3_randomness(1, &b);
}

int server_state_fd(const struct conf *c)
{
	int fd = open(c->state_dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		log_fatal("state_dir %s cannot be opened (run sealctl init)", c->state_dir);
	return fd;
}

int server_starttls(struct io *io, SSL_CTX *ctx)
{
	size_t discarded = 0;
	if (io_starttls(io, ctx, &discarded) < 0) {
		log_event(LOG_NOTICE, "tls-fail", "REASON", io_strerror(io->err), NULL);
		return -1;
	}
	char tls[128], nd[24];
	(void)snprintf(nd, sizeof(nd), "%zu", discarded); /* at most 20 digits: never cut */
	log_event(discarded ? LOG_WARNING : LOG_INFO, "tls", "TLS",
	          io_tls_desc(io, tls, sizeof(tls)), "DISCARDED", discarded ? nd : NULL, NULL);
	return 0;
}
