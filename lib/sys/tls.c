/* SPDX-License-Identifier: AGPL-3.0-or-later */
#include "tls.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/decoder.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/fmt.h"
#include "base/mem.h"

/* The largest key file read: a PEM RSA key of 16384 bits is about 12 KB. */
#define TLS_KEY_FILE_MAX 65536

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

/* The house policy (docs/SECURITY.md): Mozilla's "intermediate"
 * configuration (TLS 1.2 and 1.3; TLS 1.2 only with ECDHE key exchange and
 * an AEAD cipher: no CBC mode, no RSA key transport, no SHA-1 MACs) without
 * its DHE suites, which would need Diffie-Hellman parameters and serve no
 * client that lacks ECDHE. TLS 1.3's suites are OpenSSL's defaults, all
 * AEAD. Checked by tests/integration/test_tls_scan.py (testssl.sh). */
#define TLS_CIPHERS_12                                                                             \
	"ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"                               \
	"ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"                               \
	"ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"
#define TLS_GROUPS "X25519:P-256:P-384"

SSL_CTX *tls_server_ctx_cert(const char *cert, const char **error_r)
{
	char cpath[4096];
	if (tls_resolve_path(cert, cpath, sizeof(cpath), error_r) < 0)
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
	                             SSL_OP_CIPHER_SERVER_PREFERENCE |
	                             SSL_OP_IGNORE_UNEXPECTED_EOF | SSL_OP_CLEANSE_PLAINTEXT);
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
	if (SSL_CTX_set_cipher_list(ctx, TLS_CIPHERS_12) != 1 ||
	    SSL_CTX_set1_groups_list(ctx, TLS_GROUPS) != 1) {
		*error_r = tls_openssl_error("cipher suites");
		SSL_CTX_free(ctx);
		return NULL;
	}
	if (SSL_CTX_use_certificate_chain_file(ctx, cpath) != 1) {
		fmt_msg(tls_error, sizeof(tls_error), "certificate %s", cpath);
		*error_r = tls_openssl_error(tls_error);
		SSL_CTX_free(ctx);
		return NULL;
	}
	return ctx;
}

/* OpenSSL 3 parses a key through a chain of decoders that it assembles
 * from every provider's for each parse, and the assembly is 80% of the
 * cost: 0.37 of 0.42 ms for an RSA key here, 0.63 of 0.75 for a P-256 one.
 * tls_key_open assembles it once, in the process that forks the fronts;
 * each front's tls_key_load then only runs it (0.04-0.12 ms). It holds no
 * key: the output goes to tls_decoded, emptied after every parse. */
static OSSL_DECODER_CTX *tls_decoder;
static EVP_PKEY *tls_decoded;

/* No passphrase prompt: a server has no terminal, and an encrypted key is
 * refused rather than waited on. */
static int tls_no_passphrase(char *buf, int size, int rwflag, void *u)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)u;
	return 0;
}

static int tls_decoder_no_passphrase(char *pass, size_t size, size_t *len,
                                     const OSSL_PARAM params[], void *arg)
{
	(void)pass;
	(void)size;
	(void)len;
	(void)params;
	(void)arg;
	return 0;
}

int tls_key_open(const char *key, const char **error_r)
{
	if (tls_decoder == NULL) {
		tls_decoder = OSSL_DECODER_CTX_new_for_pkey(&tls_decoded, "PEM", NULL, NULL,
		                                            EVP_PKEY_KEYPAIR, NULL, NULL);
		if (tls_decoder != NULL)
			OSSL_DECODER_CTX_set_passphrase_cb(tls_decoder, tls_decoder_no_passphrase,
			                                   NULL);
		ERR_clear_error(); /* without it, tls_key_load parses the slow way */
	}
	char kpath[4096];
	if (tls_resolve_path(key, kpath, sizeof(kpath), error_r) < 0)
		return -1;
	int fd = open(kpath, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		fmt_msg(tls_error, sizeof(tls_error), "key %s: %s", kpath, strerror(errno));
		*error_r = tls_error;
	}
	return fd;
}

/* Read the whole key file at fd into buf (pread: the offset of a descriptor
 * the forked processes share stays untouched). Its length, or -1. */
static ssize_t tls_key_read(int fd, unsigned char *buf, size_t size)
{
	size_t n = 0;
	while (n < size) {
		ssize_t r = pread(fd, buf + n, size - n, (off_t)n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -1;
		if (r == 0)
			return (ssize_t)n;
		n += (size_t)r;
	}
	errno = EFBIG; /* a key file fills at most a few KB */
	return -1;
}

int tls_key_load(SSL_CTX *ctx, int keyfd, const char **error_r)
{
	unsigned char *buf = mem_alloc(TLS_KEY_FILE_MAX);
	ssize_t n = tls_key_read(keyfd, buf, TLS_KEY_FILE_MAX);
	if (n < 0) {
		fmt_msg(tls_error, sizeof(tls_error), "key: %s", strerror(errno));
		*error_r = tls_error;
		free(buf);
		return -1;
	}
	EVP_PKEY *pk = NULL;
	if (tls_decoder != NULL) {
		const unsigned char *data = buf;
		size_t left = (size_t)n;
		tls_decoded = NULL;
		if (OSSL_DECODER_from_data(tls_decoder, &data, &left) == 1)
			pk = tls_decoded;
		tls_decoded = NULL;
	} else {
		/* The BIO reads buf in place: no copy of the file outside buf. */
		BIO *bio = BIO_new_mem_buf(buf, (int)n); /* n <= TLS_KEY_FILE_MAX: fits */
		pk =
		    bio ? PEM_read_bio_PrivateKey_ex(bio, NULL, tls_no_passphrase, NULL, NULL, NULL)
		        : NULL;
		BIO_free(bio);
	}
	OPENSSL_cleanse(buf, (size_t)n);
	free(buf);
	/* SSL_CTX_use_PrivateKey refuses a key that does not match a
	 * certificate of its type, but takes one of another type (an RSA key
	 * with an ECDSA certificate) into an empty slot: hence the check. */
	int rc = -1;
	if (pk == NULL || SSL_CTX_use_PrivateKey(ctx, pk) != 1)
		*error_r = tls_openssl_error("key");
	else if (SSL_CTX_check_private_key(ctx) != 1)
		*error_r = tls_openssl_error("key does not match certificate");
	else
		rc = 0;
	EVP_PKEY_free(pk); /* the context keeps its own reference */
	return rc;
}

int tls_key_check(SSL_CTX *ctx, int keyfd, const char **error_r)
{
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0) {
		fmt_msg(tls_error, sizeof(tls_error), "key check: %s", strerror(errno));
		*error_r = tls_error;
		return -1;
	}
	pid_t pid = fork();
	if (pid < 0) {
		fmt_msg(tls_error, sizeof(tls_error), "key check: %s", strerror(errno));
		*error_r = tls_error;
		close(p[0]);
		close(p[1]);
		return -1;
	}
	if (pid == 0) {
		/* The child loads the key and dies: the caller never holds it. */
		close(p[0]);
		const char *err = "";
		int rc = tls_key_load(ctx, keyfd, &err);
		size_t len = strlen(err);
		ssize_t w = write(p[1], err, len < sizeof(tls_error) ? len : sizeof(tls_error) - 1);
		(void)w; /* the parent reports a failure without its text */
		_exit(rc < 0 ? 1 : 0);
	}
	close(p[1]);
	size_t got = 0;
	for (;;) {
		ssize_t r = read(p[0], tls_error + got, sizeof(tls_error) - 1 - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0 || (got += (size_t)r) == sizeof(tls_error) - 1)
			break;
	}
	tls_error[got] = '\0';
	close(p[0]);
	int status = 0;
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	if (got == 0)
		fmt_msg(tls_error, sizeof(tls_error), "key check failed");
	*error_r = tls_error;
	return -1;
}

SSL_CTX *tls_server_ctx(const char *cert, const char *key, const char **error_r)
{
	SSL_CTX *ctx = tls_server_ctx_cert(cert, error_r);
	if (ctx == NULL)
		return NULL;
	int fd = tls_key_open(key, error_r);
	if (fd < 0 || tls_key_load(ctx, fd, error_r) < 0) {
		if (fd >= 0)
			close(fd);
		SSL_CTX_free(ctx);
		return NULL;
	}
	close(fd);
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
