/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* The handler skeleton every main() follows (DESIGN section 4, CONVENTIONS
 * 5): log -> config -> open privileged things -> warm lazy libraries ->
 * sandbox -> session -> exit. Trust: admin (flags and config). */
#ifndef SEALMAIL_SERVER_H
#define SEALMAIL_SERVER_H

#include <openssl/ssl.h>
#include <stdbool.h>

#include "conf.h"
#include "sandbox.h"

struct server_args {
	const char *conf_path; /* -c FILE */
	bool tls;              /* --tls: implicit TLS on fd 0/1 */
};

/* Parse the common handler flags (-c FILE, --tls, --help, --version); exits
 * with status 2 on a usage error. */
void server_flags(int argc, char **argv, const char *prog, struct server_args *a);
/* Log: initialise logging as "sealmail-<prog>" and keep secrets out of
 * core dumps (server_no_core). */
void server_log(const char *prog);
/* Config: load the configuration (-c, $SEALMAIL_CONF or the default); a
 * bad configuration is a server fault (exit 1, logged with file:line). */
struct conf *server_conf_load(const struct server_args *a);

/* The TLS context from tls_cert/tls_key, or NULL when neither is set.
 * A configured but unusable certificate is fatal. */
SSL_CTX *server_tls(const struct conf *c);
/* The same context without its private key, for a process whose children
 * parse client input without needing the key (DESIGN section 4): the
 * certificate chain and settings, and the key file opened in *keyfd_r
 * (-1 when no TLS is configured). Unusable files are fatal. */
SSL_CTX *server_tls_cert(const struct conf *c, int *keyfd_r);
/* Load the key at *keyfd into ctx (tls_key_load), then close *keyfd and
 * set it to -1; nothing when *keyfd is -1. An unusable key is fatal. */
void server_tls_key(SSL_CTX *ctx, int *keyfd);
/* Keep secrets out of core dumps: RLIMIT_CORE 0 and not dumpable (also
 * hides /proc/<pid>/mem from other processes of the same user). */
void server_no_core(void);
/* Load what libraries would open lazily after the sandbox: OpenSSL
 * configuration, time zone, SQLite's randomness source, libsodium. */
void server_warm(void);

struct io;
/* Upgrade the connection to TLS after STARTTLS and log the outcome: the
 * protocol and cipher, and how many bytes the client pipelined before the
 * handshake (discarded, never executed: the CVE-2011-0411 class). 0 ok, -1
 * the session must end. */
int server_starttls(struct io *io, SSL_CTX *ctx);

/* Open state_dir as a directory descriptor for the sandbox rules; fatal
 * when it does not exist. */
int server_state_fd(const struct conf *c);
#endif
