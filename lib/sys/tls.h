/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* TLS contexts. Trust: admin (certificate and key paths come from config). */
#ifndef SEALMAIL_TLS_H
#define SEALMAIL_TLS_H

#include <openssl/ssl.h>

/* Resolve a tls_cert/tls_key value: an absolute path is used as is; a bare
 * name is looked up in $CREDENTIALS_DIRECTORY (systemd LoadCredential=).
 * Writes the path into out; 0 ok, -1 with *error_r. */
int tls_resolve_path(const char *value, char *out, size_t outsz, const char **error_r);
/* Server context: TLS 1.2 minimum with the house cipher suites (tls.c),
 * session tickets, no compression, no renegotiation, certificate chain and
 * key from files (resolved as above), key checked against the certificate.
 * NULL with *error_r on failure. */
SSL_CTX *tls_server_ctx(const char *cert, const char *key, const char **error_r);

/* The same context in three steps, so that the private key is loaded only
 * in the process that needs it (DESIGN section 4: the login front, after
 * the back is forked): */
/* The context with its settings and certificate chain, without a key. */
SSL_CTX *tls_server_ctx_cert(const char *cert, const char **error_r);
/* Open the key file (resolved as above) read-only, close-on-exec, before
 * the sandbox: the descriptor, or -1 with *error_r. */
int tls_key_open(const char *key, const char **error_r);
/* Load the PEM key at keyfd into ctx and check it against the
 * certificate. The file is read with pread (the offset is left alone, so
 * processes sharing keyfd may each load it) into a buffer wiped afterwards.
 * Encrypted keys are refused. 0, or -1 with *error_r. */
int tls_key_load(SSL_CTX *ctx, int keyfd, const char **error_r);
/* tls_key_load in a child process that then exits: whether the key loads
 * and matches, without the caller ever holding it (an accept loop checks
 * at start-up). Forks. 0, or -1 with *error_r. */
int tls_key_check(SSL_CTX *ctx, int keyfd, const char **error_r);
/* Client context (tests, outbound). verify: check the peer against the
 * system trust store. */
SSL_CTX *tls_client_ctx(int verify, const char **error_r);
/* Load OpenSSL's configuration and providers now, before the sandbox hides
 * the files it reads lazily (DESIGN section 4), and fetch the algorithms
 * sessions use, so that the processes an accept loop forks find them built
 * (tls.c says why). */
void tls_warm(void);

#endif
