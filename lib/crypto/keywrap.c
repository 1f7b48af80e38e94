/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* MK wrapping under a password or recovery code (DESIGN section 2). */
#include "keywrap.h"

#include <sodium.h>
#include <string.h>

#include "base/rnd.h"

#define KEYWRAP_OFF_SALT  1
#define KEYWRAP_OFF_OPS	  (KEYWRAP_OFF_SALT + KDF_SALT_LEN)
#define KEYWRAP_OFF_MEM	  (KEYWRAP_OFF_OPS + 8)
#define KEYWRAP_OFF_NONCE (KEYWRAP_OFF_MEM + 8)
#define KEYWRAP_OFF_CT	  (KEYWRAP_OFF_NONCE + KEYWRAP_NONCE_LEN)
#define KEYWRAP_AAD_MAX	  (1 + KEYWRAP_USER_ID_MAX + 1 + 8 + 8)

_Static_assert(KEYWRAP_NONCE_LEN == crypto_aead_xchacha20poly1305_ietf_NPUBBYTES, "nonce size");
_Static_assert(KEYWRAP_TAG_LEN == crypto_aead_xchacha20poly1305_ietf_ABYTES, "tag size");
_Static_assert(KEYWRAP_MK_LEN == crypto_aead_xchacha20poly1305_ietf_KEYBYTES, "key size");
_Static_assert(KDF_KEY_LEN == crypto_aead_xchacha20poly1305_ietf_KEYBYTES, "KEK size");
_Static_assert(KDF_SALT_LEN == crypto_pwhash_SALTBYTES, "salt size");
_Static_assert(KEYWRAP_OFF_CT + KEYWRAP_MK_LEN + KEYWRAP_TAG_LEN == KEYWRAP_BLOB_LEN, "layout");
/* 200 bits = 25 bytes = 40 symbols of 5 bits. */
_Static_assert(KEYWRAP_RECOVERY_BITS == KEYWRAP_RECOVERY_GROUPS * KEYWRAP_RECOVERY_GROUP_LEN * 5,
	       "recovery code size");
#define KEYWRAP_RECOVERY_BYTES	 (KEYWRAP_RECOVERY_BITS / 8)
#define KEYWRAP_RECOVERY_SYMBOLS (KEYWRAP_RECOVERY_BITS / 5)

/* Crockford base32 (https://www.crockford.com/base32.html): no I, L, O, U. */
static const char keywrap_b32[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

static const char KEYWRAP_ERR_TAG[] = "wrong secret or corrupt key blob";

static void keywrap_put64(unsigned char *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--) {
		p[i] = (unsigned char)(v & 0xff);
		v >>= 8;
	}
}

static uint64_t keywrap_get64(const unsigned char *p)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

/* Build the AAD; 0 or -1 when user_id is empty or too long. */
static int keywrap_aad(const char *user_id, enum keywrap_kind kind, const struct kdf_params *p,
		       unsigned char aad[KEYWRAP_AAD_MAX], size_t *len_r)
{
	size_t idlen = strnlen(user_id, KEYWRAP_USER_ID_MAX + 1);
	if (idlen == 0 || idlen > KEYWRAP_USER_ID_MAX)
		return -1;
	size_t o = 0;
	aad[o++] = KEYWRAP_VERSION;
	memcpy(aad + o, user_id, idlen);
	o += idlen;
	aad[o++] = (unsigned char)kind;
	keywrap_put64(aad + o, p->opslimit);
	o += 8;
	keywrap_put64(aad + o, p->memlimit);
	o += 8;
	*len_r = o;
	return 0;
}

/* The KDF input: the password as given, or the canonical recovery code.
 * *tmp receives the canonical code (the caller wipes it). 0 or -1. */
static int keywrap_secret(enum keywrap_kind kind, const char *secret, size_t secretlen,
			  char tmp[KEYWRAP_RECOVERY_SIZE], const char **s_r, size_t *len_r)
{
	if (kind == KEYWRAP_PASSWORD) {
		*s_r = secret;
		*len_r = secretlen;
		return 0;
	}
	/* The code is text: a NUL inside it, or a length no code can have even
	 * with generous spacing, is refused before copying. */
	char in[4 * KEYWRAP_RECOVERY_SIZE];
	if (secretlen >= sizeof(in) || memchr(secret, '\0', secretlen) != NULL)
		return -1;
	memcpy(in, secret, secretlen);
	in[secretlen] = '\0';
	int r = keywrap_recovery_normalise(in, tmp, KEYWRAP_RECOVERY_SIZE);
	sodium_memzero(in, sizeof(in));
	if (r != 1)
		return -1;
	*s_r = tmp;
	*len_r = KEYWRAP_RECOVERY_LEN;
	return 0;
}

void keywrap_mk_new(unsigned char mk[KEYWRAP_MK_LEN])
{
	rnd_bytes(mk, KEYWRAP_MK_LEN);
}

int keywrap_wrap(const char *user_id, enum keywrap_kind kind, const struct kdf_params *p,
		 const char *secret, size_t secretlen, const unsigned char mk[KEYWRAP_MK_LEN],
		 struct buf *blob_out, const char **error_r)
{
	unsigned char aad[KEYWRAP_AAD_MAX], kek[KDF_KEY_LEN], blob[KEYWRAP_BLOB_LEN];
	char code[KEYWRAP_RECOVERY_SIZE];
	const char *s;
	size_t aadlen, slen;
	int ret = -1;

	if (kind != KEYWRAP_PASSWORD && kind != KEYWRAP_RECOVERY) {
		*error_r = "unknown wrap kind";
		return -1;
	}
	if (!kdf_params_valid(p)) {
		*error_r = "KDF parameters out of bounds";
		return -1;
	}
	if (keywrap_aad(user_id, kind, p, aad, &aadlen) < 0) {
		*error_r = "invalid user id";
		return -1;
	}
	if (keywrap_secret(kind, secret, secretlen, code, &s, &slen) < 0) {
		*error_r = "malformed recovery code";
		return -1;
	}

	blob[0] = KEYWRAP_VERSION;
	rnd_bytes(blob + KEYWRAP_OFF_SALT, KDF_SALT_LEN); /* fresh on every wrap */
	keywrap_put64(blob + KEYWRAP_OFF_OPS, p->opslimit);
	keywrap_put64(blob + KEYWRAP_OFF_MEM, p->memlimit);
	/* 192-bit random nonces: collisions are negligible (XChaCha20). */
	rnd_bytes(blob + KEYWRAP_OFF_NONCE, KEYWRAP_NONCE_LEN);
	if (kdf_derive(p, s, slen, blob + KEYWRAP_OFF_SALT, kek) < 0) {
		*error_r = "key derivation failed";
		goto out;
	}
	crypto_aead_xchacha20poly1305_ietf_encrypt(blob + KEYWRAP_OFF_CT, NULL, mk, KEYWRAP_MK_LEN,
						   aad, aadlen, NULL, blob + KEYWRAP_OFF_NONCE,
						   kek);
	buf_reset(blob_out);
	buf_append(blob_out, blob, sizeof(blob));
	ret = 0;
out:
	sodium_memzero(kek, sizeof(kek));
	sodium_memzero(code, sizeof(code));
	return ret;
}

int keywrap_blob_params(const unsigned char *blob, size_t bloblen, struct kdf_params *p)
{
	if (bloblen != KEYWRAP_BLOB_LEN || blob[0] != KEYWRAP_VERSION)
		return 0;
	p->opslimit = keywrap_get64(blob + KEYWRAP_OFF_OPS);
	p->memlimit = keywrap_get64(blob + KEYWRAP_OFF_MEM);
	return 1;
}

int keywrap_unwrap(const char *user_id, enum keywrap_kind kind, const unsigned char *blob,
		   size_t bloblen, const char *secret, size_t secretlen,
		   unsigned char mk_out[KEYWRAP_MK_LEN], const char **error_r)
{
	unsigned char aad[KEYWRAP_AAD_MAX], kek[KDF_KEY_LEN];
	char code[KEYWRAP_RECOVERY_SIZE];
	struct kdf_params p;
	const char *s;
	size_t aadlen, slen;
	int ret = -1;

	sodium_memzero(mk_out, KEYWRAP_MK_LEN);
	if (kind != KEYWRAP_PASSWORD && kind != KEYWRAP_RECOVERY) {
		*error_r = "unknown wrap kind";
		return -1;
	}
	if (bloblen < 1 || blob[0] != KEYWRAP_VERSION) {
		*error_r = "unsupported key blob version";
		return -1;
	}
	if (keywrap_blob_params(blob, bloblen, &p) != 1) {
		*error_r = "malformed key blob";
		return -1;
	}
	/* Bounds before the KDF: a hostile blob must not ask for 1 TiB. */
	if (!kdf_params_valid(&p)) {
		*error_r = "KDF parameters out of bounds";
		return -1;
	}
	if (keywrap_aad(user_id, kind, &p, aad, &aadlen) < 0) {
		*error_r = "invalid user id";
		return -1;
	}
	if (keywrap_secret(kind, secret, secretlen, code, &s, &slen) < 0) {
		/* Same answer as a wrong code: it is one, as far as the user
		 * can tell. */
		*error_r = KEYWRAP_ERR_TAG;
		return -1;
	}
	if (kdf_derive(&p, s, slen, blob + KEYWRAP_OFF_SALT, kek) < 0) {
		*error_r = "key derivation failed";
		goto out;
	}
	/* The Poly1305 tag check inside libsodium is constant-time. */
	if (crypto_aead_xchacha20poly1305_ietf_decrypt(
		    mk_out, NULL, NULL, blob + KEYWRAP_OFF_CT, KEYWRAP_MK_LEN + KEYWRAP_TAG_LEN,
		    aad, aadlen, blob + KEYWRAP_OFF_NONCE, kek) != 0) {
		sodium_memzero(mk_out, KEYWRAP_MK_LEN);
		*error_r = KEYWRAP_ERR_TAG;
		goto out;
	}
	ret = 0;
out:
	sodium_memzero(kek, sizeof(kek));
	sodium_memzero(code, sizeof(code));
	return ret;
}

/* Write the 40 symbols of bytes[25] in groups; out has KEYWRAP_RECOVERY_SIZE. */
static void keywrap_recovery_format(const unsigned char bytes[KEYWRAP_RECOVERY_BYTES], char *out)
{
	size_t o = 0;
	for (size_t sym = 0; sym < KEYWRAP_RECOVERY_SYMBOLS; sym++) {
		/* Symbol sym holds bits [5*sym, 5*sym+5) of the big-endian stream. */
		size_t bit = 5 * sym, byte = bit / 8, shift = bit % 8;
		unsigned v = (unsigned)bytes[byte] << 8;
		if (byte + 1 < KEYWRAP_RECOVERY_BYTES)
			v |= bytes[byte + 1];
		v = (v >> (11 - shift)) & 31;
		if (sym > 0 && sym % KEYWRAP_RECOVERY_GROUP_LEN == 0)
			out[o++] = '-';
		out[o++] = keywrap_b32[v];
	}
	out[o] = '\0';
}

int keywrap_recovery_new(char *out, size_t outsz)
{
	unsigned char bytes[KEYWRAP_RECOVERY_BYTES];
	if (outsz < KEYWRAP_RECOVERY_SIZE)
		return -1;
	rnd_bytes(bytes, sizeof(bytes));
	keywrap_recovery_format(bytes, out);
	sodium_memzero(bytes, sizeof(bytes));
	return 0;
}

/* Value of a typed symbol, or -1. */
static int keywrap_b32_value(unsigned char c)
{
	if (c >= 'a' && c <= 'z')
		c = (unsigned char)(c - 'a' + 'A');
	if (c == 'I' || c == 'L')
		c = '1';
	else if (c == 'O')
		c = '0';
	const char *p = c != '\0' ? strchr(keywrap_b32, c) : NULL;
	return p == NULL ? -1 : (int)(p - keywrap_b32);
}

int keywrap_recovery_normalise(const char *in, char *out, size_t outsz)
{
	char syms[KEYWRAP_RECOVERY_SYMBOLS];
	size_t n = 0;
	if (outsz < KEYWRAP_RECOVERY_SIZE)
		return -1;
	for (const unsigned char *p = (const unsigned char *)in; *p != '\0'; p++) {
		if (*p == '-' || *p == ' ' || *p == '\t')
			continue;
		int v = keywrap_b32_value(*p);
		if (v < 0 || n == KEYWRAP_RECOVERY_SYMBOLS) {
			sodium_memzero(syms, sizeof(syms));
			return 0;
		}
		syms[n++] = keywrap_b32[v];
	}
	if (n != KEYWRAP_RECOVERY_SYMBOLS) {
		sodium_memzero(syms, sizeof(syms));
		return 0;
	}
	size_t o = 0;
	for (size_t i = 0; i < n; i++) {
		if (i > 0 && i % KEYWRAP_RECOVERY_GROUP_LEN == 0)
			out[o++] = '-';
		out[o++] = syms[i];
	}
	out[o] = '\0';
	sodium_memzero(syms, sizeof(syms));
	return 1;
}
