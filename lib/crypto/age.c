/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* age v1 (https://age-encryption.org/v1, "the spec" below): one X25519
 * recipient when sealing, one X25519 identity when opening.
 * Trust: sealing runs in the MX on message bytes it never interprets;
 * opening parses untrusted file bytes post-auth, so every header line is
 * bounded and checked before anything is derived from it. */
#include "age.h"

#include <errno.h>
#include <sodium.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/codec.h"
#include "base/bech32.h"
#include "base/mem.h"
#include "base/rnd.h"

#define AGE_VERSION_LINE "age-encryption.org/v1"
#define AGE_VERSION_PREFIX "age-encryption.org/"
#define AGE_X25519_INFO "age-encryption.org/v1/X25519"
#define AGE_RECIPIENT_HRP "age"
#define AGE_IDENTITY_HRP "AGE-SECRET-KEY-"
#define AGE_COLUMNS 64	     /* spec "Header": body lines wrapped at 64 columns */
#define AGE_KEY_B64_LEN 43   /* unpadded base64 of 32 bytes */
#define AGE_MAC_LEN 32	     /* HMAC-SHA256 */
#define AGE_STREAM_NONCE 12  /* 11-byte counter || last-chunk flag */
#define AGE_ENC_CHUNK (AGE_CHUNK_SIZE + AGE_TAG_LEN)

_Static_assert(AGE_TAG_LEN == crypto_aead_chacha20poly1305_ietf_ABYTES, "tag length");
_Static_assert(AGE_STREAM_NONCE == crypto_aead_chacha20poly1305_ietf_NPUBBYTES, "nonce");
_Static_assert(AGE_KEY_LEN == crypto_scalarmult_BYTES, "X25519 key length");

static void age_sodium_init(void)
{
	/* Idempotent; it only fails when the library cannot work at all. */
	if (sodium_init() < 0)
		abort();
}

int age_hkdf_sha256(const unsigned char *ikm, size_t ikm_len, const unsigned char *salt,
		    size_t salt_len, const unsigned char *info, size_t info_len, unsigned char *out,
		    size_t out_len)
{
	static const unsigned char none[1] = {0};
	unsigned char prk[crypto_auth_hmacsha256_BYTES], t[crypto_auth_hmacsha256_BYTES];
	crypto_auth_hmacsha256_state st;

	if (out_len > 255 * sizeof(t))
		return -1;
	/* RFC 5869 section 2.2: an absent salt is HashLen zero bytes, which
	 * HMAC's zero padding of a shorter key makes equal to the empty key. */
	crypto_auth_hmacsha256_init(&st, salt_len ? salt : none, salt_len);
	crypto_auth_hmacsha256_update(&st, ikm_len ? ikm : none, ikm_len);
	crypto_auth_hmacsha256_final(&st, prk);
	/* Section 2.3: T(i) = HMAC(PRK, T(i-1) | info | i). */
	size_t done = 0;
	for (unsigned char i = 1; done < out_len; i++) {
		crypto_auth_hmacsha256_init(&st, prk, sizeof(prk));
		if (i > 1)
			crypto_auth_hmacsha256_update(&st, t, sizeof(t));
		crypto_auth_hmacsha256_update(&st, info_len ? info : none, info_len);
		crypto_auth_hmacsha256_update(&st, &i, 1);
		crypto_auth_hmacsha256_final(&st, t);
		size_t n = out_len - done < sizeof(t) ? out_len - done : sizeof(t);
		memcpy(out + done, t, n);
		done += n;
	}
	sodium_memzero(prk, sizeof(prk));
	sodium_memzero(t, sizeof(t));
	sodium_memzero(&st, sizeof(st));
	return 0;
}

static void age_hkdf_str(const unsigned char *ikm, size_t ikm_len, const unsigned char *salt,
			 size_t salt_len, const char *info, unsigned char *out, size_t out_len)
{
	/* Callers pass fixed small lengths; only out_len > 8160 can fail. */
	if (age_hkdf_sha256(ikm, ikm_len, salt, salt_len, (const unsigned char *)info,
			    strlen(info), out, out_len) < 0)
		abort();
}

/* Spec "Payload": STREAM nonce = 11-byte big-endian chunk counter followed
 * by 0x01 for the last chunk, 0x00 otherwise. */
static void age_stream_nonce(unsigned char n[AGE_STREAM_NONCE], uint64_t counter, bool last)
{
	memset(n, 0, AGE_STREAM_NONCE);
	for (int i = 0; i < 8; i++)
		n[10 - i] = (unsigned char)(counter >> (8 * i));
	n[11] = last ? 1 : 0;
}

/* Spec "Header": header MAC key = HKDF(ikm = file key, salt = empty,
 * info = "header"); the MAC covers the header up to and including "---". */
static void age_header_mac(const unsigned char fk[AGE_FILE_KEY_LEN], const unsigned char *hdr,
			   size_t len, unsigned char mac[AGE_MAC_LEN])
{
	unsigned char k[crypto_auth_hmacsha256_KEYBYTES];
	crypto_auth_hmacsha256_state st;
	age_hkdf_str(fk, AGE_FILE_KEY_LEN, NULL, 0, "header", k, sizeof(k));
	crypto_auth_hmacsha256_init(&st, k, sizeof(k));
	crypto_auth_hmacsha256_update(&st, hdr, len);
	crypto_auth_hmacsha256_final(&st, mac);
	sodium_memzero(k, sizeof(k));
	sodium_memzero(&st, sizeof(st));
}

/* Spec "X25519 recipient stanza": wrap key = HKDF(ikm = shared secret,
 * salt = ephemeral share || recipient, info = "age-encryption.org/v1/X25519").
 * -1 when the shared secret is all zero (a low-order point), which the spec
 * requires to be rejected. */
static int age_x25519_wrap_key(const unsigned char secret[AGE_KEY_LEN],
			       const unsigned char point[AGE_KEY_LEN],
			       const unsigned char share[AGE_KEY_LEN],
			       const unsigned char recipient[AGE_KEY_LEN],
			       unsigned char wrap[crypto_aead_chacha20poly1305_ietf_KEYBYTES])
{
	unsigned char shared[AGE_KEY_LEN], salt[2 * AGE_KEY_LEN];
	/* libsodium already refuses an all-zero result; check again so this
	 * does not depend on the library version. */
	if (crypto_scalarmult(shared, secret, point) != 0 ||
	    sodium_is_zero(shared, sizeof(shared))) {
		sodium_memzero(shared, sizeof(shared));
		return -1;
	}
	memcpy(salt, share, AGE_KEY_LEN);
	memcpy(salt + AGE_KEY_LEN, recipient, AGE_KEY_LEN);
	age_hkdf_str(shared, sizeof(shared), salt, sizeof(salt), AGE_X25519_INFO, wrap,
		     crypto_aead_chacha20poly1305_ietf_KEYBYTES);
	sodium_memzero(shared, sizeof(shared));
	return 0;
}

/* ---- keys ---- */

void age_keypair(unsigned char pk[AGE_KEY_LEN], unsigned char sk[AGE_KEY_LEN])
{
	/* An age X25519 identity is 32 random bytes; clamping happens inside
	 * X25519 itself (RFC 7748 section 5). */
	rnd_bytes(sk, AGE_KEY_LEN);
	age_public_from_secret(sk, pk);
}

void age_public_from_secret(const unsigned char sk[AGE_KEY_LEN], unsigned char pk[AGE_KEY_LEN])
{
	age_sodium_init();
	crypto_scalarmult_base(pk, sk);
}

int age_recipient_encode(const unsigned char pk[AGE_KEY_LEN], char *out, size_t outsz)
{
	return bech32_encode(AGE_RECIPIENT_HRP, pk, AGE_KEY_LEN, false, out, outsz);
}

static int age_key_decode(const char *s, const char *want_hrp, size_t maxlen,
			  unsigned char key[AGE_KEY_LEN])
{
	char hrp[sizeof(AGE_IDENTITY_HRP)];
	unsigned char tmp[AGE_KEY_LEN];
	size_t n = 0;
	/* The hrp comes back in the case it was written in: comparing it
	 * exactly makes recipients lower-case only and identities upper-case
	 * only, as the age tool requires. */
	if (bech32_decode(s, maxlen, hrp, sizeof(hrp), tmp, sizeof(tmp), &n) != 1)
		return 0;
	if (n != AGE_KEY_LEN || strcmp(hrp, want_hrp) != 0) {
		sodium_memzero(tmp, sizeof(tmp));
		return 0;
	}
	memcpy(key, tmp, AGE_KEY_LEN);
	sodium_memzero(tmp, sizeof(tmp));
	return 1;
}

int age_recipient_decode(const char *s, unsigned char pk[AGE_KEY_LEN])
{
	return age_key_decode(s, AGE_RECIPIENT_HRP, AGE_RECIPIENT_MAX - 1, pk);
}

int age_identity_encode(const unsigned char sk[AGE_KEY_LEN], char *out, size_t outsz)
{
	/* Checksummed over the lower-case hrp, printed in upper case. */
	return bech32_encode("age-secret-key-", sk, AGE_KEY_LEN, true, out, outsz);
}

int age_identity_decode(const char *s, unsigned char sk[AGE_KEY_LEN])
{
	return age_key_decode(s, AGE_IDENTITY_HRP, AGE_IDENTITY_MAX - 1, sk);
}

/* ---- sealing ---- */

struct age_seal {
	unsigned char key[crypto_aead_chacha20poly1305_ietf_KEYBYTES]; /* payload key */
	uint64_t counter;
	unsigned char *plain; /* AGE_CHUNK_SIZE bytes */
	size_t plain_len;
	size_t plain_max; /* the most of plain ever used: what age_seal_free wipes */
	unsigned char *enc; /* AGE_ENC_CHUNK bytes */
	age_write_fn out;
	void *ctx;
	bool failed;
	bool finished;
};

/* Encrypt the buffered plaintext as chunk number counter and write it. */
static int age_seal_chunk(struct age_seal *s, bool last)
{
	unsigned char nonce[AGE_STREAM_NONCE];
	unsigned long long clen = 0;
	age_stream_nonce(nonce, s->counter, last);
	crypto_aead_chacha20poly1305_ietf_encrypt(s->enc, &clen, s->plain, s->plain_len, NULL, 0,
						  NULL, nonce, s->key);
	s->counter++;
	s->plain_len = 0;
	if (s->out(s->ctx, s->enc, (size_t)clen) < 0) {
		s->failed = true;
		return -1;
	}
	return 0;
}

/* Header text with one X25519 stanza, up to and including "---" (the part
 * the MAC covers). Returns -1 for a low-order recipient. */
static int age_seal_header(struct buf *hdr, const unsigned char pk[AGE_KEY_LEN],
			   const unsigned char fk[AGE_FILE_KEY_LEN])
{
	unsigned char eph[AGE_KEY_LEN], share[AGE_KEY_LEN];
	unsigned char wrap[crypto_aead_chacha20poly1305_ietf_KEYBYTES];
	unsigned char body[AGE_FILE_KEY_LEN + AGE_TAG_LEN];
	unsigned char zero_nonce[AGE_STREAM_NONCE] = {0};
	char b64[AGE_KEY_B64_LEN + 1];
	unsigned long long blen = 0;

	rnd_bytes(eph, sizeof(eph));
	crypto_scalarmult_base(share, eph);
	int r = age_x25519_wrap_key(eph, pk, share, pk, wrap);
	sodium_memzero(eph, sizeof(eph));
	if (r < 0)
		return -1;
	/* The wrap key is used once, so the all-zero nonce is safe (spec). */
	crypto_aead_chacha20poly1305_ietf_encrypt(body, &blen, fk, AGE_FILE_KEY_LEN, NULL, 0, NULL,
						  zero_nonce, wrap);
	sodium_memzero(wrap, sizeof(wrap));
	buf_append_str(hdr, AGE_VERSION_LINE "\n-> X25519 ");
	codec_b64_encode(share, sizeof(share), b64, CODEC_B64_STD, false);
	buf_append_str(hdr, b64);
	buf_append_byte(hdr, '\n');
	/* 32 bytes are 43 columns: one short body line ends the stanza. */
	codec_b64_encode(body, sizeof(body), b64, CODEC_B64_STD, false);
	buf_append_str(hdr, b64);
	buf_append_str(hdr, "\n---");
	return 0;
}

struct age_seal *age_seal_begin(const unsigned char recipient_pk[AGE_KEY_LEN], age_write_fn out,
				void *ctx)
{
	unsigned char fk[AGE_FILE_KEY_LEN], mac[AGE_MAC_LEN], nonce[AGE_NONCE_LEN];
	char mac_b64[AGE_KEY_B64_LEN + 1];
	struct buf hdr = BUF_INIT;

	age_sodium_init();
	rnd_bytes(fk, sizeof(fk));
	if (age_seal_header(&hdr, recipient_pk, fk) < 0) {
		sodium_memzero(fk, sizeof(fk));
		buf_free(&hdr);
		return NULL;
	}
	age_header_mac(fk, hdr.data, hdr.len, mac);
	codec_b64_encode(mac, sizeof(mac), mac_b64, CODEC_B64_STD, false);
	buf_append_byte(&hdr, ' ');
	buf_append_str(&hdr, mac_b64);
	buf_append_byte(&hdr, '\n');

	struct age_seal *s = mem_zalloc(sizeof(*s));
	s->out = out;
	s->ctx = ctx;
	/* Spec "Payload": payload key = HKDF(ikm = file key, salt = nonce,
	 * info = "payload"), a fresh 16-byte nonce per file. */
	rnd_bytes(nonce, sizeof(nonce));
	age_hkdf_str(fk, sizeof(fk), nonce, sizeof(nonce), "payload", s->key, sizeof(s->key));
	sodium_memzero(fk, sizeof(fk));
	buf_append(&hdr, nonce, sizeof(nonce));
	s->plain = mem_alloc(AGE_CHUNK_SIZE);
	s->enc = mem_alloc(AGE_ENC_CHUNK);
	int r = out(ctx, hdr.data, hdr.len);
	buf_free(&hdr);
	if (r < 0) {
		age_seal_free(&s);
		return NULL;
	}
	return s;
}

int age_seal_update(struct age_seal *s, const void *data, size_t len)
{
	const unsigned char *p = data;
	if (s->failed || s->finished)
		return -1;
	while (len > 0) {
		/* A full chunk is written only once more data shows it is not
		 * the last one: the last chunk may be full (spec "Payload"). */
		if (s->plain_len == AGE_CHUNK_SIZE && age_seal_chunk(s, false) < 0)
			return -1;
		size_t n = AGE_CHUNK_SIZE - s->plain_len;
		if (n > len)
			n = len;
		memcpy(s->plain + s->plain_len, p, n);
		s->plain_len += n;
		if (s->plain_len > s->plain_max)
			s->plain_max = s->plain_len;
		p += n;
		len -= n;
	}
	return 0;
}

int age_seal_final(struct age_seal *s)
{
	if (s->failed || s->finished)
		return -1;
	s->finished = true;
	/* Only an empty message ends with an empty chunk: update never leaves
	 * the buffer empty after the first byte. */
	return age_seal_chunk(s, true);
}

void age_seal_free(struct age_seal **sp)
{
	struct age_seal *s = *sp;
	if (s == NULL)
		return;
	sodium_memzero(s->key, sizeof(s->key));
	/* Plaintext is message content: wipe what was used of it (a small
	 * message leaves most of the 64 KiB untouched, unmapped even; wiping
	 * it all would cost a page fault per 4 KiB). The ciphertext is public. */
	mem_wipe_free(s->plain, s->plain_max);
	free(s->enc);
	mem_wipe_free(s, sizeof(*s));
	*sp = NULL;
}

/* ---- opening ---- */

enum age_open_state { AGE_OPEN_HEADER, AGE_OPEN_NONCE, AGE_OPEN_PAYLOAD, AGE_OPEN_DONE };
enum age_header_state { AGE_HDR_VERSION, AGE_HDR_STANZA, AGE_HDR_BODY };

struct age_open {
	unsigned char sk[AGE_KEY_LEN];
	unsigned char pk[AGE_KEY_LEN];
	age_write_fn out;
	void *ctx;
	enum age_open_state state;
	const char *error; /* static; NULL until something failed */

	/* header */
	struct buf header; /* raw header so far, for the MAC; <= AGE_HEADER_MAX */
	size_t line_start; /* offset of the line being received */
	enum age_header_state hstate;
	unsigned stanzas;
	bool scrypt;	       /* an scrypt stanza was seen */
	bool body_x25519;      /* the body being read belongs to an X25519 stanza */
	unsigned char share[AGE_KEY_LEN]; /* its ephemeral share */
	struct buf scratch;    /* base64 decoding */
	bool have_file_key;
	unsigned char file_key[AGE_FILE_KEY_LEN];

	/* payload */
	unsigned char nonce[AGE_NONCE_LEN];
	size_t nonce_len;
	unsigned char key[crypto_aead_chacha20poly1305_ietf_KEYBYTES];
	uint64_t counter;
	unsigned char *enc; /* AGE_ENC_CHUNK bytes: one chunk as received */
	size_t enc_len;
	unsigned char *plain; /* AGE_CHUNK_SIZE bytes */
	size_t plain_max;     /* the most of plain ever used: what age_open_free wipes */
};

static int age_fail(struct age_open *o, const char *why)
{
	if (o->error == NULL)
		o->error = why;
	return -1;
}

struct age_open *age_open_new(const unsigned char identity_sk[AGE_KEY_LEN], age_write_fn out,
			      void *ctx)
{
	age_sodium_init();
	struct age_open *o = mem_zalloc(sizeof(*o));
	memcpy(o->sk, identity_sk, AGE_KEY_LEN);
	age_public_from_secret(o->sk, o->pk);
	o->out = out;
	o->ctx = ctx;
	o->state = AGE_OPEN_HEADER;
	o->hstate = AGE_HDR_VERSION;
	return o;
}

const char *age_open_error(const struct age_open *o)
{
	return o->error;
}

void age_open_free(struct age_open **op)
{
	struct age_open *o = *op;
	if (o == NULL)
		return;
	buf_wipe(&o->header);
	buf_wipe(&o->scratch);
	/* Only the used part of the plaintext buffer holds anything (see
	 * age_seal_free); the ciphertext is public. */
	if (o->plain != NULL)
		mem_wipe_free(o->plain, o->plain_max);
	free(o->enc);
	/* Wipes sk, file_key and the payload key with the rest. */
	mem_wipe_free(o, sizeof(*o));
	*op = NULL;
}

/* Strict unpadded canonical base64 of exactly want bytes into out. */
static bool age_b64_exact(struct age_open *o, const char *s, size_t n, unsigned char *out,
			  size_t want)
{
	buf_reset(&o->scratch);
	if (codec_b64_decode(s, n, CODEC_B64_STD, CODEC_PAD_FORBIDDEN, CODEC_STRICT,
	                     &o->scratch) != 1 ||
	    o->scratch.len != want)
		return false;
	memcpy(out, o->scratch.data, want);
	return true;
}

/* Spec "X25519 recipient stanza", identity side. A stanza that does not
 * open with our key belongs to someone else and is skipped. */
static int age_x25519_unwrap(struct age_open *o, const unsigned char body[AGE_KEY_LEN])
{
	unsigned char wrap[crypto_aead_chacha20poly1305_ietf_KEYBYTES];
	unsigned char zero_nonce[AGE_STREAM_NONCE] = {0};
	unsigned char fk[AGE_FILE_KEY_LEN];
	if (age_x25519_wrap_key(o->sk, o->share, o->share, o->pk, wrap) < 0)
		return age_fail(o, "bad header: X25519 share is a low-order point");
	if (crypto_aead_chacha20poly1305_ietf_decrypt(fk, NULL, NULL, body, AGE_KEY_LEN, NULL, 0,
						      zero_nonce, wrap) == 0) {
		memcpy(o->file_key, fk, sizeof(fk));
		o->have_file_key = true;
	}
	sodium_memzero(wrap, sizeof(wrap));
	sodium_memzero(fk, sizeof(fk));
	return 0;
}

/* Stanza line "-> type arg…": spec "Header": arguments are non-empty
 * strings of VCHAR (33..126) separated by single spaces. */
static int age_stanza_line(struct age_open *o, const char *line, size_t len)
{
	const char *args[3] = {NULL, NULL, NULL};
	size_t lens[3] = {0, 0, 0}, nargs = 0;
	size_t i = 3; /* past "-> " */

	if (++o->stanzas > AGE_STANZA_MAX)
		return age_fail(o, "bad header: too many stanzas");
	while (i <= len) {
		size_t start = i;
		while (i < len && line[i] != ' ') {
			unsigned char c = (unsigned char)line[i];
			if (c < 33 || c > 126)
				return age_fail(o, "bad header: bad character in stanza");
			i++;
		}
		if (i == start)
			return age_fail(o, "bad header: empty stanza argument");
		if (nargs < 3) {
			args[nargs] = line + start;
			lens[nargs] = i - start;
		}
		nargs++;
		i++; /* the space, or one past the end */
	}
	o->body_x25519 = false;
	if (lens[0] == 6 && memcmp(args[0], "X25519", 6) == 0) {
		/* Exactly one argument, the 32-byte ephemeral share. */
		if (nargs != 2 || lens[1] != AGE_KEY_B64_LEN ||
		    !age_b64_exact(o, args[1], lens[1], o->share, AGE_KEY_LEN))
			return age_fail(o, "bad header: malformed X25519 stanza");
		o->body_x25519 = true;
	} else if (lens[0] == 6 && memcmp(args[0], "scrypt", 6) == 0) {
		o->scrypt = true;
	}
	/* Any other type is someone else's (or grease): skipped, but its
	 * body must still be well formed. */
	o->hstate = AGE_HDR_BODY;
	return 0;
}

/* Body lines: canonical unpadded base64, full lines of exactly 64 columns,
 * the last one shorter (possibly empty). */
static int age_body_line(struct age_open *o, const char *line, size_t len)
{
	if (o->body_x25519) {
		/* The wrapped file key is 32 bytes: one line of 43 columns. */
		unsigned char body[AGE_KEY_LEN];
		if (len != AGE_KEY_B64_LEN || !age_b64_exact(o, line, len, body, sizeof(body)))
			return age_fail(o, "bad header: malformed X25519 stanza");
		o->hstate = AGE_HDR_STANZA;
		if (o->have_file_key)
			return 0;
		return age_x25519_unwrap(o, body);
	}
	buf_reset(&o->scratch);
	if (len > AGE_COLUMNS || codec_b64_decode(line, len, CODEC_B64_STD, CODEC_PAD_FORBIDDEN,
	                                          CODEC_STRICT, &o->scratch) != 1)
		return age_fail(o, "bad header: malformed stanza body");
	if (len < AGE_COLUMNS)
		o->hstate = AGE_HDR_STANZA;
	return 0;
}

/* "--- <MAC>": the end of the header. */
static int age_mac_line(struct age_open *o, const char *line, size_t len)
{
	unsigned char want[AGE_MAC_LEN], got[AGE_MAC_LEN];
	if (len != 4 + AGE_KEY_B64_LEN || line[3] != ' ' ||
	    !age_b64_exact(o, line + 4, AGE_KEY_B64_LEN, got, sizeof(got)))
		return age_fail(o, "bad header: malformed MAC line");
	if (o->stanzas == 0)
		return age_fail(o, "bad header: no recipient stanza");
	/* Spec "scrypt recipient stanza": it must be the only stanza. */
	if (o->scrypt && o->stanzas != 1)
		return age_fail(o, "bad header: scrypt stanza is not alone");
	if (!o->have_file_key)
		return age_fail(o, "no matching stanza for this identity");
	age_header_mac(o->file_key, o->header.data, o->line_start + 3, want);
	int bad = crypto_verify_32(want, got);
	sodium_memzero(want, sizeof(want));
	if (bad != 0)
		return age_fail(o, "bad header MAC");
	o->state = AGE_OPEN_NONCE;
	buf_wipe(&o->header);
	buf_wipe(&o->scratch);
	return 0;
}

static int age_header_line(struct age_open *o, const char *line, size_t len)
{
	switch (o->hstate) {
	case AGE_HDR_VERSION:
		if (len == strlen(AGE_VERSION_LINE) && memcmp(line, AGE_VERSION_LINE, len) == 0) {
			o->hstate = AGE_HDR_STANZA;
			return 0;
		}
		if (len >= strlen(AGE_VERSION_PREFIX) &&
		    memcmp(line, AGE_VERSION_PREFIX, strlen(AGE_VERSION_PREFIX)) == 0)
			return age_fail(o, "bad header: unsupported age version");
		return age_fail(o, "bad header: not an age v1 file");
	case AGE_HDR_STANZA:
		if (len >= 3 && memcmp(line, "-> ", 3) == 0)
			return age_stanza_line(o, line, len);
		if (len >= 3 && memcmp(line, "---", 3) == 0)
			return age_mac_line(o, line, len);
		return age_fail(o, "bad header: expected a stanza or the MAC line");
	case AGE_HDR_BODY:
		return age_body_line(o, line, len);
	}
	return age_fail(o, "bad header");
}

/* Longest line each header state can take, so garbage fails early. */
static size_t age_line_max(const struct age_open *o)
{
	switch (o->hstate) {
	case AGE_HDR_VERSION:
		return strlen(AGE_VERSION_LINE);
	case AGE_HDR_BODY:
		return AGE_COLUMNS;
	case AGE_HDR_STANZA:
		break;
	}
	return AGE_HEADER_MAX;
}

/* Take header bytes up to and including the next newline. */
static int age_open_header(struct age_open *o, const unsigned char *p, size_t n, size_t *used_r)
{
	const unsigned char *nl = memchr(p, '\n', n);
	size_t take = nl != NULL ? (size_t)(nl - p) + 1 : n;
	if (take > AGE_HEADER_MAX - o->header.len)
		return age_fail(o, "bad header: too long");
	buf_append(&o->header, p, take);
	*used_r = take;
	size_t line_len = o->header.len - o->line_start - (nl != NULL ? 1 : 0);
	if (line_len > age_line_max(o))
		return age_fail(o, o->hstate == AGE_HDR_VERSION ? "bad header: not an age v1 file"
								: "bad header: line too long");
	if (nl == NULL)
		return 0;
	const char *line = (const char *)o->header.data + o->line_start;
	int r = age_header_line(o, line, line_len);
	o->line_start = o->header.len;
	return r;
}

/* Authenticate and emit the buffered chunk. */
static int age_open_chunk(struct age_open *o, bool last)
{
	unsigned char nonce[AGE_STREAM_NONCE];
	unsigned long long plen = 0;

	if (o->enc_len < AGE_TAG_LEN)
		return age_fail(o, "truncated payload");
	age_stream_nonce(nonce, o->counter, last);
	if (crypto_aead_chacha20poly1305_ietf_decrypt(o->plain, &plen, NULL, o->enc, o->enc_len,
						      NULL, 0, nonce, o->key) != 0) {
		/* Tell the two boundary cases apart from plain corruption: a
		 * full chunk that is really the last one with bytes after it,
		 * and a full non-last chunk followed by the end of input. Only
		 * the tag is checked (NULL output). */
		age_stream_nonce(nonce, o->counter, !last);
		if (o->enc_len == AGE_ENC_CHUNK &&
		    crypto_aead_chacha20poly1305_ietf_decrypt(NULL, NULL, NULL, o->enc, o->enc_len,
							      NULL, 0, nonce, o->key) == 0)
			return age_fail(o, last ? "truncated payload: last chunk missing"
						: "trailing data after the last chunk");
		return age_fail(o, "payload authentication failed");
	}
	/* Spec "Payload": the last chunk may be empty only if it is the only
	 * chunk, so there is one encoding per plaintext. */
	if (last && plen == 0 && o->counter > 0)
		return age_fail(o, "payload: empty last chunk");
	if (plen > o->plain_max)
		o->plain_max = (size_t)plen;
	if (o->counter == UINT64_MAX)
		return age_fail(o, "payload too long");
	o->counter++;
	o->enc_len = 0;
	if (plen > 0 && o->out(o->ctx, o->plain, (size_t)plen) < 0)
		return age_fail(o, "sink failed");
	return 0;
}

static int age_open_payload(struct age_open *o, const unsigned char *p, size_t n)
{
	while (n > 0) {
		/* A full buffered chunk followed by more input is not last. */
		if (o->enc_len == AGE_ENC_CHUNK && age_open_chunk(o, false) < 0)
			return -1;
		size_t take = AGE_ENC_CHUNK - o->enc_len;
		if (take > n)
			take = n;
		memcpy(o->enc + o->enc_len, p, take);
		o->enc_len += take;
		p += take;
		n -= take;
	}
	return 0;
}

int age_open_update(struct age_open *o, const void *data, size_t len)
{
	const unsigned char *p = data;
	if (o->error != NULL)
		return -1;
	if (o->state == AGE_OPEN_DONE && len > 0)
		return age_fail(o, "trailing data after the last chunk");
	while (len > 0) {
		size_t used = 0;
		switch (o->state) {
		case AGE_OPEN_HEADER:
			if (age_open_header(o, p, len, &used) < 0)
				return -1;
			break;
		case AGE_OPEN_NONCE:
			used = AGE_NONCE_LEN - o->nonce_len;
			if (used > len)
				used = len;
			memcpy(o->nonce + o->nonce_len, p, used);
			o->nonce_len += used;
			if (o->nonce_len == AGE_NONCE_LEN) {
				age_hkdf_str(o->file_key, sizeof(o->file_key), o->nonce,
					     sizeof(o->nonce), "payload", o->key, sizeof(o->key));
				sodium_memzero(o->file_key, sizeof(o->file_key));
				o->enc = mem_alloc(AGE_ENC_CHUNK);
				o->plain = mem_alloc(AGE_CHUNK_SIZE);
				o->state = AGE_OPEN_PAYLOAD;
			}
			break;
		case AGE_OPEN_PAYLOAD:
			if (age_open_payload(o, p, len) < 0)
				return -1;
			used = len;
			break;
		case AGE_OPEN_DONE:
			return age_fail(o, "trailing data after the last chunk");
		}
		p += used;
		len -= used;
	}
	return 0;
}

int age_open_final(struct age_open *o)
{
	if (o->error != NULL)
		return -1;
	switch (o->state) {
	case AGE_OPEN_HEADER:
		return age_fail(o, o->header.len == 0 ? "empty input" : "truncated header");
	case AGE_OPEN_NONCE:
		return age_fail(o, "truncated payload: no nonce");
	case AGE_OPEN_PAYLOAD:
		break;
	case AGE_OPEN_DONE:
		return age_fail(o, "age_open_final called twice");
	}
	if (o->enc_len == 0)
		return age_fail(o, o->counter == 0 ? "truncated payload: no chunk"
						   : "truncated payload: last chunk missing");
	if (age_open_chunk(o, true) < 0)
		return -1;
	o->state = AGE_OPEN_DONE;
	return 0;
}

/* ---- file descriptor conveniences ---- */

static int age_fd_write(void *ctx, const unsigned char *p, size_t n)
{
	int fd = *(int *)ctx;
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

int age_seal_to_fd(const unsigned char recipient_pk[AGE_KEY_LEN], const void *data, size_t len,
		   int fd)
{
	struct age_seal *s = age_seal_begin(recipient_pk, age_fd_write, &fd);
	if (s == NULL)
		return -1;
	int r = age_seal_update(s, data, len) == 0 && age_seal_final(s) == 0 ? 0 : -1;
	age_seal_free(&s);
	return r;
}

struct age_buf_sink {
	struct buf *out;
	size_t start;
	size_t max_plain;
	bool too_big;
};

static int age_buf_write(void *ctx, const unsigned char *p, size_t n)
{
	struct age_buf_sink *k = ctx;
	if (n > k->max_plain - (k->out->len - k->start)) {
		k->too_big = true;
		return -1;
	}
	buf_append(k->out, p, n);
	return 0;
}

int age_open_fd(const unsigned char identity_sk[AGE_KEY_LEN], int fd, struct buf *out,
		size_t max_plain, const char **error_r)
{
	struct age_buf_sink k = {out, out->len, max_plain, false};
	struct age_open *o = age_open_new(identity_sk, age_buf_write, &k);
	unsigned char *rbuf = mem_alloc(AGE_ENC_CHUNK);
	const char *err = NULL;
	for (;;) {
		ssize_t r = read(fd, rbuf, AGE_ENC_CHUNK);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			err = "read error";
			break;
		}
		if (r == 0) {
			if (age_open_final(o) < 0)
				err = age_open_error(o);
			break;
		}
		if (age_open_update(o, rbuf, (size_t)r) < 0) {
			err = age_open_error(o);
			break;
		}
	}
	if (err != NULL && k.too_big)
		err = "plaintext too large";
	age_open_free(&o);
	free(rbuf);
	if (err != NULL) {
		/* Leave out as it was; what was appended is plaintext. */
		if (out->len > k.start) {
			sodium_memzero(out->data + k.start, out->len - k.start);
			buf_truncate(out, k.start);
		}
		*error_r = err;
		return -1;
	}
	return 0;
}
