/* SPDX-License-Identifier: AGPL-3.0-or-later */
#include "tls.h"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/fmt.h"

static char tls_error[512];

static const char *tls_openssl_error(const char *what)
{
	unsigned long e = ERR_get_error();
	char detail[256] = "", w[256];
	fmt_msg(w, sizeof(w), "%s", what); /* what may point into tls_error */
	if (e != 0)
		ERR_error_string_n(e, detail, sizeof(detail));
	fmt_msg(tls_error, sizeof(tls_error), "%s%s%s", w, detail[0] ? ": " : "", detail);
	ERR_clear_error();
	return tls_error;
}

int tls_resolve_path(const char *value, char *out, size_t outsz, const char **error_r)
{
	if (value == NULL || value[0] == '\0') {
		*error_r = "no certificate or key configured (tls_cert, tls_key)";
		return -1;
	}
	/* A cut path would name another file: too long is an error. */
	if (value[0] == '/') {
		if (fmt_name(out, outsz, "%s", value) < 0) {
			*error_r = "certificate or key path too long";
			return -1;
		}
		return 0;
	}
	if (strchr(value, '/') != NULL) {
		*error_r = "credential names must not contain '/' (use an absolute path for a file)";
		return -1;
	}
	const char *dir = getenv("CREDENTIALS_DIRECTORY");
	if (dir == NULL || dir[0] == '\0') {
		fmt_msg(tls_error, sizeof(tls_error),
			"'%s' is a credential name but $CREDENTIALS_DIRECTORY is not set", value);
		*error_r = tls_error;
		return -1;
	}
	if (fmt_name(out, outsz, "%s/%s", dir, value) < 0) {
		*error_r = "$CREDENTIALS_DIRECTORY and credential name too long";
		return -1;
	}
	return 0;
}

/* Fetch, once, every algorithm a session uses: TLS 1.2 and 1.3 handshakes
 * and records, and SQLCipher's page cipher and HMACs. OpenSSL 3 builds the
 * methods of an operation (all ciphers, all KDFs, ...) at its first fetch
 * and caches them in its method store. Done here, in the process that forks
 * the sessions, the children find the store filled; left to them, every
 * child built and cached the same methods again, writing all over the heap
 * it shares with the loop and copying those pages. Measured with
 * tests/bench/idlemem.py (50 idle IMAP connections, docs/BENCHMARKS.md §4):
 * 648 -> 445 KB of PSS per TLS connection, 361 -> 261 KB in plaintext; CPU
 * per TLS login unchanged within the noise. A name this OpenSSL lacks is
 * skipped (the fetch returns NULL). */
static void tls_fetch_algorithms(void)
{
	static const char *const md[] = {"SHA1", "SHA256", "SHA384", "SHA512", "MD5-SHA1"};
	static const char *const cipher[] = {"AES-128-GCM", "AES-256-GCM", "ChaCha20-Poly1305",
					     "AES-128-CBC", "AES-256-CBC"};
	static const char *const kdf[] = {"HKDF", "TLS13-KDF", "TLS1-PRF", "PBKDF2"};
	static const char *const keymgmt[] = {"X25519", "X448", "EC", "RSA", "RSA-PSS", "HMAC"};
	static const char *const exch[] = {"X25519", "X448", "ECDH"};
	static const char *const sig[] = {"ECDSA", "RSA"};
#define TLS_FETCH_ALL(names, fetch, release)                                                       \
	for (size_t i = 0; i < sizeof(names) / sizeof(*(names)); i++)                             \
		release(fetch(NULL, (names)[i], NULL))
	TLS_FETCH_ALL(md, EVP_MD_fetch, EVP_MD_free);
	TLS_FETCH_ALL(cipher, EVP_CIPHER_fetch, EVP_CIPHER_free);
	TLS_FETCH_ALL(kdf, EVP_KDF_fetch, EVP_KDF_free);
	TLS_FETCH_ALL(keymgmt, EVP_KEYMGMT_fetch, EVP_KEYMGMT_free);
	TLS_FETCH_ALL(exch, EVP_KEYEXCH_fetch, EVP_KEYEXCH_free);
	TLS_FETCH_ALL(sig, EVP_SIGNATURE_fetch, EVP_SIGNATURE_free);
#undef TLS_FETCH_ALL
	EVP_MAC_free(EVP_MAC_fetch(NULL, "HMAC", NULL));
	EVP_RAND_free(EVP_RAND_fetch(NULL, "CTR-DRBG", NULL));
	ERR_clear_error();
}

void tls_warm(void)
{
	OPENSSL_init_ssl(OPENSSL_INIT_LOAD_CONFIG | OPENSSL_INIT_LOAD_SSL_STRINGS |
				 OPENSSL_INIT_LOAD_CRYPTO_STRINGS,
			 NULL);
	tls_fetch_algorithms();
}

SSL_CTX *tls_server_ctx(const char *cert, const char *key, const char **error_r)
{
	char cpath[4096], kpath[4096];
	if (tls_resolve_path(cert, cpath, sizeof(cpath), error_r) < 0 ||
	    tls_resolve_path(key, kpath, sizeof(kpath), error_r) < 0)
		return NULL;
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	if (ctx == NULL) {
		*error_r = tls_openssl_error("SSL_CTX_new");
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	/* IGNORE_UNEXPECTED_EOF: a client that drops the TCP connection without
	 * close_notify is an ordinary end of session, not a protocol error.
	 * CLEANSE_PLAINTEXT: decrypted records are wiped once read, so a LOGIN
	 * password does not outlive its command in OpenSSL's buffers (the front
	 * wipes its own copies). */
	SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
					 SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_IGNORE_UNEXPECTED_EOF |
					 SSL_OP_CLEANSE_PLAINTEXT);
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
	if (SSL_CTX_use_certificate_chain_file(ctx, cpath) != 1) {
		fmt_msg(tls_error, sizeof(tls_error), "certificate %s", cpath);
		*error_r = tls_openssl_error(tls_error);
		SSL_CTX_free(ctx);
		return NULL;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, kpath, SSL_FILETYPE_PEM) != 1) {
		fmt_msg(tls_error, sizeof(tls_error), "key %s", kpath);
		*error_r = tls_openssl_error(tls_error);
		SSL_CTX_free(ctx);
		return NULL;
	}
	if (SSL_CTX_check_private_key(ctx) != 1) {
		*error_r = tls_openssl_error("key does not match certificate");
		SSL_CTX_free(ctx);
		return NULL;
	}
	return ctx;
}

SSL_CTX *tls_client_ctx(int verify, const char **error_r)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	if (ctx == NULL) {
		*error_r = tls_openssl_error("SSL_CTX_new");
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
	if (verify) {
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
		SSL_CTX_set_default_verify_paths(ctx);
	} else {
		SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	}
	return ctx;
}
