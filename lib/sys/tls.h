/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* TLS contexts. Trust: admin (certificate and key paths come from config). */
#ifndef SEALMAIL_TLS_H
#define SEALMAIL_TLS_H

#include <openssl/ssl.h>

/* Resolve a tls_cert/tls_key value: an absolute path is used as is; a bare
 * name is looked up in $CREDENTIALS_DIRECTORY (systemd LoadCredential=).
 * Writes the path into out; 0 ok, -1 with *error_r. */
int tls_resolve_path(const char *value, char *out, size_t outsz, const char **error_r);
/* Server context: TLS 1.2 minimum, session tickets, no compression, no
 * renegotiation, certificate chain and key from files (resolved as above),
 * key checked against the certificate. NULL with *error_r on failure. */
SSL_CTX *tls_server_ctx(const char *cert, const char *key, const char **error_r);
/* Client context (tests, outbound). verify: check the peer against the
 * system trust store. */
SSL_CTX *tls_client_ctx(int verify, const char **error_r);
/* Load OpenSSL's configuration and providers now, before the sandbox hides
 * the files it reads lazily (DESIGN section 4), and fetch the algorithms
 * sessions use, so that the processes an accept loop forks find them built
 * (tls.c says why). */
void tls_warm(void);

#endif
