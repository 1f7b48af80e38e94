/* SPDX-License-Identifier: AGPL-3.0-or-later */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <ctype.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "base/fmt.h"
#include "crypto/age.h"
#include "base/bech32.h"
#include "base/buf.h"
#include "base/codec.h"
#include "base/rnd.h"

#define ENC_CHUNK (AGE_CHUNK_SIZE + AGE_TAG_LEN)
#define A16       "AAAAAAAAAAAAAAAA"
#define A64       A16 A16 A16 A16 /* one full body line */

static unsigned char test_pk[AGE_KEY_LEN], test_sk[AGE_KEY_LEN];

static int setup(void **state)
{
	age_keypair(test_pk, test_sk);
	return 0;
}

static int sink_buf(void *ctx, const unsigned char *p, size_t n)
{
	buf_append(ctx, p, n);
	return 0;
}

static int sink_fail(void *ctx, const unsigned char *p, size_t n)
{
	return -1;
}

static void hex_to(const char *h, unsigned char *out, size_t n)
{
	assert_int_equal(codec_hex_decode(h, strlen(h), out, n), 1);
}

/* Seal msg, handing it to age_seal_update in pieces of step bytes. */
static void seal_msg(const unsigned char *pk, const unsigned char *msg, size_t len, size_t step,
                     struct buf *out)
{
	struct age_seal *s = age_seal_begin(pk, sink_buf, out);
	assert_non_null(s);
	for (size_t off = 0; off < len; off += step)
		assert_int_equal(age_seal_update(s, msg + off, len - off < step ? len - off : step),
		                 0);
	assert_int_equal(age_seal_final(s), 0);
	age_seal_free(&s);
	assert_null(s);
}

/* Open c in pieces of step bytes: 0 ok, -1 with *err set. */
static int open_msg(const unsigned char *sk, const unsigned char *c, size_t len, size_t step,
                    struct buf *out, const char **err)
{
	struct age_open *o = age_open_new(sk, sink_buf, out);
	int r = 0;
	for (size_t off = 0; off < len && r == 0; off += step)
		r = age_open_update(o, c + off, len - off < step ? len - off : step);
	if (r == 0)
		r = age_open_final(o);
	*err = age_open_error(o);
	if (r == 0)
		assert_null(*err);
	else
		assert_non_null(*err);
	age_open_free(&o);
	assert_null(o);
	return r;
}

static int open_fails(const unsigned char *c, size_t len, const char *want_err)
{
	struct buf out = BUF_INIT;
	const char *err = NULL;
	int r = open_msg(test_sk, c, len, len ? len : 1, &out, &err);
	if (r == 0) {
		buf_free(&out);
		return 0;
	}
	if (want_err != NULL && strcmp(err, want_err) != 0) {
		print_error("error \"%s\", expected \"%s\"\n", err, want_err);
		buf_free(&out);
		return 0;
	}
	buf_free(&out);
	return 1;
}

/* ---- primitives ---- */

/* RFC 5869 appendix A, test cases 1-3 (SHA-256). */
static void test_hkdf_rfc5869(void **state)
{
	unsigned char ikm[80], salt[80], info[80], okm[82], want[82];

	memset(ikm, 0x0b, 22);
	for (int i = 0; i < 13; i++)
		salt[i] = (unsigned char)i;
	for (int i = 0; i < 10; i++)
		info[i] = (unsigned char)(0xf0 + i);
	assert_int_equal(age_hkdf_sha256(ikm, 22, salt, 13, info, 10, okm, 42), 0);
	hex_to("3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf"
	       "34007208d5b887185865",
	       want, 42);
	assert_memory_equal(okm, want, 42);

	for (int i = 0; i < 80; i++) {
		ikm[i] = (unsigned char)i;
		salt[i] = (unsigned char)(0x60 + i);
		info[i] = (unsigned char)(0xb0 + i);
	}
	assert_int_equal(age_hkdf_sha256(ikm, 80, salt, 80, info, 80, okm, 82), 0);
	hex_to("b11e398dc80327a1c8e7f78c596a49344f012eda2d4efad8a050cc4c19afa97c"
	       "59045a99cac7827271cb41c65e590e09da3275600c2f09b8367793a9aca3db71"
	       "cc30c58179ec3e87c14c01d5c1f3434f1d87",
	       want, 82);
	assert_memory_equal(okm, want, 82);

	memset(ikm, 0x0b, 22);
	assert_int_equal(age_hkdf_sha256(ikm, 22, NULL, 0, NULL, 0, okm, 42), 0);
	hex_to("8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d"
	       "9d201395faa4b61a96c8",
	       want, 42);
	assert_memory_equal(okm, want, 42);

	assert_int_equal(age_hkdf_sha256(ikm, 22, NULL, 0, NULL, 0, okm, 255 * 32 + 1), -1);
}

/* RFC 7748 section 6.1. */
static void test_x25519_rfc7748(void **state)
{
	unsigned char a_sk[32], a_pk[32], b_sk[32], b_pk[32], k[32], pk[32], s1[32], s2[32];
	hex_to("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a", a_sk, 32);
	hex_to("8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a", a_pk, 32);
	hex_to("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb", b_sk, 32);
	hex_to("de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f", b_pk, 32);
	hex_to("4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742", k, 32);
	age_public_from_secret(a_sk, pk);
	assert_memory_equal(pk, a_pk, 32);
	age_public_from_secret(b_sk, pk);
	assert_memory_equal(pk, b_pk, 32);
	assert_int_equal(crypto_scalarmult(s1, a_sk, b_pk), 0);
	assert_int_equal(crypto_scalarmult(s2, b_sk, a_pk), 0);
	assert_memory_equal(s1, k, 32);
	assert_memory_equal(s2, k, 32);
}

/* ---- known-answer file: C2SP age test suite ("testkit"), vector "x25519":
 * file key "YELLOW SUBMARINE", payload "age". */

static const char kat_identity[] =
    "AGE-SECRET-KEY-1XMWWC06LY3EE5RYTXM9MFLAZ2U56JJJ36S0MYPDRWSVLUL66MV4QX3S7F6";
static const char kat_share[] = "TEiF0ypqr+bpvcqXNyCVJpL7OuwPdVwPL7KQEbFDOCc";
static const char kat_body[] = "EmECAEcKN+n/Vs9SbWiV+Hu0r+E8R77DdWYyd83nw7U";
static const char kat_mac[] = "Vn+54jqiiUCE+WZcEVY3f1sqHjlu/z1LCQ/T7Xm7qI0";
static const char kat_payload_hex[] =
    "eecf62c7ce91b433274e68d4f2f9134cb74c5bfef7beaa52c8f0bc0e992c1e8331fb66";
static const unsigned char kat_file_key[AGE_FILE_KEY_LEN] = "YELLOW SUBMARINE";

static void kat_payload(struct buf *b)
{
	unsigned char p[35];
	hex_to(kat_payload_hex, p, sizeof(p));
	buf_append(b, p, sizeof(p));
}

/* The vector's file with extra header text before/after its stanza, the
 * MAC recomputed from the known file key so only the parser is tested. */
static void kat_build(struct buf *b, const char *before, const char *after)
{
	unsigned char k[32], mac[32];
	char mac_b64[64];
	buf_reset(b);
	buf_printf(b, "age-encryption.org/v1\n%s-> X25519 %s\n%s\n%s---", before, kat_share,
	           kat_body, after);
	assert_int_equal(
	    age_hkdf_sha256(kat_file_key, 16, NULL, 0, (const unsigned char *)"header", 6, k, 32),
	    0);
	crypto_auth_hmacsha256(mac, b->data, b->len, k);
	codec_b64_encode(mac, 32, mac_b64, CODEC_B64_STD, false);
	buf_printf(b, " %s\n", mac_b64);
	kat_payload(b);
}

static void kat_sk(unsigned char sk[AGE_KEY_LEN])
{
	assert_int_equal(age_identity_decode(kat_identity, sk), 1);
}

static int kat_open(const struct buf *file, size_t step, const char **err)
{
	unsigned char sk[AGE_KEY_LEN];
	struct buf out = BUF_INIT;
	kat_sk(sk);
	int r = open_msg(sk, file->data, file->len, step, &out, err);
	if (r == 0) {
		assert_int_equal(out.len, 3);
		assert_memory_equal(out.data, "age", 3);
	}
	buf_free(&out);
	return r;
}

static void test_kat_c2sp_x25519(void **state)
{
	struct buf f = BUF_INIT;
	const char *err = NULL;
	buf_printf(&f, "age-encryption.org/v1\n-> X25519 %s\n%s\n--- %s\n", kat_share, kat_body,
	           kat_mac);
	kat_payload(&f);
	assert_int_equal(kat_open(&f, f.len, &err), 0);
	assert_int_equal(kat_open(&f, 1, &err), 0);
	/* Our own MAC computation agrees with the vector's. */
	struct buf g = BUF_INIT;
	kat_build(&g, "", "");
	assert_int_equal(g.len, f.len);
	assert_memory_equal(g.data, f.data, f.len);
	/* The identity string round-trips exactly. */
	unsigned char sk[AGE_KEY_LEN];
	char id[AGE_IDENTITY_MAX];
	kat_sk(sk);
	assert_int_equal(age_identity_encode(sk, id, sizeof(id)), 0);
	assert_string_equal(id, kat_identity);
	buf_free(&f);
	buf_free(&g);
}

/* Header grammar, on top of the vector (spec "Header", and the testkit's
 * stanza_*, hmac_* and x25519_* cases). */
static void test_header_grammar(void **state)
{
	struct buf f = BUF_INIT;
	const char *err = NULL;
	char full[65];
	memset(full, 'A', 64);
	full[64] = '\0';

	/* Unknown stanzas are skipped: grease, a multi-line body, an empty
	 * body, and someone else's X25519 stanza. */
	kat_build(&f, "-> 1a-grease !\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~ xyz\nAAAA\n", "");
	assert_int_equal(kat_open(&f, 1, &err), 0);
	char line[300];
	assert_int_equal(fmt_name(line, sizeof(line), "-> grease\n%s\n%s\nAA\n", full, full), 0);
	kat_build(&f, line, "");
	assert_int_equal(kat_open(&f, f.len, &err), 0);
	kat_build(&f, "", "-> empty\n\n");
	assert_int_equal(kat_open(&f, f.len, &err), 0);
	kat_build(&f,
	          "-> X25519 ajtqAvDEkVNr2B7zUOtq2mAQXDSBlNrVAuM/dKb5sT4\n"
	          "0evrK/HQXVsQ4YaDe+659l5OQzvAzD2ytLGHQLQiqxg\n",
	          "");
	assert_int_equal(kat_open(&f, 7, &err), 0);

	static const struct {
		const char *before, *after, *why;
	} bad[] = {
	    {"", "-> empty\n", "body missing (needs an empty line)"},
	    {"", "-> stanza\n" A64 "\n", "missing final short line"},
	    {"", "-> stanza\n" A64 "AAAA\n\n", "body line longer than 64"},
	    {"", "-> stanza\nAA==\n", "padding"},
	    {"", "-> stanza\nAB\n", "not canonical"},
	    {"", "-> stanza\nA*\n", "bad character"},
	    {"", "-> stanza\nAAAA\r\n", "spurious CR"},
	    {"", "-> \n\n", "no arguments"},
	    {"", "-> a  b\n\n", "empty argument"},
	    {"", "-> a \n\n", "trailing space"},
	    {"", "-> a\x80\n\n", "non-ASCII argument"},
	    {"", "->a\n\n", "bad stanza start"},
	    {"-> scrypt c2FsdA 10\nAAAA\n", "", "scrypt not alone"},
	    {"-> X25519 TEiF0ypqr+bpvcqXNyCVJpL7OuwPdVwPL7KQEbFDOCc extra\n"
	     "EmECAEcKN+n/Vs9SbWiV+Hu0r+E8R77DdWYyd83nw7U\n",
	     "", "X25519 extra argument"},
	    {"-> X25519 TEiF0ypqr+bpvcqXNyCVJpL7OuwPdVwPL7KQEbFDOC\n"
	     "EmECAEcKN+n/Vs9SbWiV+Hu0r+E8R77DdWYyd83nw7U\n",
	     "", "X25519 short share"},
	    {"-> X25519 TEiF0ypqr+bpvcqXNyCVJpL7OuwPdVwPL7KQEbFDOCd\n"
	     "EmECAEcKN+n/Vs9SbWiV+Hu0r+E8R77DdWYyd83nw7U\n",
	     "", "X25519 share not canonical"},
	    {"-> X25519 TEiF0ypqr+bpvcqXNyCVJpL7OuwPdVwPL7KQEbFDOCc\n"
	     "EmECAEcKN+n/Vs9SbWiV+Hu0r+E8R77DdWYyd83nw7UAAA\n",
	     "", "X25519 long body"},
	    {"-> X25519 AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n"
	     "EmECAEcKN+n/Vs9SbWiV+Hu0r+E8R77DdWYyd83nw7U\n",
	     "", "X25519 low-order share"},
	    {"-> x25519 TEiF0ypqr+bpvcqXNyCVJpL7OuwPdVwPL7KQEbFDOCc\n"
	     "EmECAEcKN+n/Vs9SbWiV+Hu0r+E8R77DdWYyd83nw7U\n",
	     "-> X25519\n", "X25519 without share"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		kat_build(&f, bad[i].before, bad[i].after);
		if (kat_open(&f, 1, &err) == 0)
			fail_msg("accepted: %s", bad[i].why);
		assert_true(strncmp(err, "bad header", 10) == 0);
	}
	kat_build(&f,
	          "-> X25519 AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n"
	          "EmECAEcKN+n/Vs9SbWiV+Hu0r+E8R77DdWYyd83nw7U\n",
	          "");
	assert_int_equal(kat_open(&f, f.len, &err), -1);
	assert_string_equal(err, "bad header: X25519 share is a low-order point");

	/* Lines that replace the whole header. */
	static const char *const whole[] = {
	    "",
	    "age-encryption.org/v1\n",
	    "age-encryption.org/v1\r\n",
	    "age-encryption.org/v2\n",
	    "age-encryption.org/v1\n--- Vn+54jqiiUCE+WZcEVY3f1sqHjlu/z1LCQ/T7Xm7qI0\n",
	    "-----BEGIN AGE ENCRYPTED FILE-----\n",
	};
	for (size_t i = 0; i < sizeof(whole) / sizeof(whole[0]); i++) {
		buf_reset(&f);
		buf_append_str(&f, whole[i]);
		kat_payload(&f);
		assert_int_equal(kat_open(&f, 1, &err), -1);
	}

	/* MAC line variants (testkit hmac_*). */
	static const char *const macs[] = {
	    "---\n",
	    "---  Vn+54jqiiUCE+WZcEVY3f1sqHjlu/z1LCQ/T7Xm7qI0\n",
	    "--- Vn+54jqiiUCE+WZcEVY3f1sqHjlu/z1LCQ/T7Xm7qI0 \n",
	    "---Vn+54jqiiUCE+WZcEVY3f1sqHjlu/z1LCQ/T7Xm7qI0\n",
	    "--- Vn+54jqiiUCE+WZcEVY3f1sqHjlu/z1LCQ/T7Xm7qI1\n",
	    "--- Vn+54jqiiUCE+WZcEVY3f1sqHjlu/z1LCQ/T7Xm7qI\n",
	    "--- Vn+54jqiiUCE+WZcEVY3f1sqHjlu/z1LCQ/T7Xm7qI0=\n",
	    "--- AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n",
	};
	for (size_t i = 0; i < sizeof(macs) / sizeof(macs[0]); i++) {
		buf_reset(&f);
		buf_printf(&f, "age-encryption.org/v1\n-> X25519 %s\n%s\n%s", kat_share, kat_body,
		           macs[i]);
		kat_payload(&f);
		assert_int_equal(kat_open(&f, f.len, &err), -1);
	}
	assert_string_equal(err, "bad header MAC");
	buf_free(&f);
}

static void test_header_limits(void **state)
{
	struct buf f = BUF_INIT, before = BUF_INIT;
	const char *err = NULL;
	for (int i = 0; i < AGE_STANZA_MAX - 1; i++)
		buf_printf(&before, "-> grease%d\n\n", i);
	kat_build(&f, buf_cstr(&before), "");
	assert_int_equal(kat_open(&f, f.len, &err), 0);
	buf_append_str(&before, "-> one-too-many\n\n");
	kat_build(&f, buf_cstr(&before), "");
	assert_int_equal(kat_open(&f, f.len, &err), -1);
	assert_string_equal(err, "bad header: too many stanzas");

	/* A stanza line longer than the whole header budget. */
	buf_reset(&before);
	buf_append_str(&before, "-> big ");
	for (int i = 0; i < AGE_HEADER_MAX; i++)
		buf_append_byte(&before, 'x');
	buf_append_str(&before, "\n\n");
	kat_build(&f, buf_cstr(&before), "");
	assert_int_equal(kat_open(&f, 4096, &err), -1);
	assert_string_equal(err, "bad header: too long");
	/* A first line that cannot be the version line fails at once. */
	buf_reset(&f);
	for (int i = 0; i < 100; i++)
		buf_append_byte(&f, 'x');
	assert_int_equal(kat_open(&f, 1, &err), -1);
	assert_string_equal(err, "bad header: not an age v1 file");
	buf_free(&f);
	buf_free(&before);
}

/* ---- keys ---- */

static void test_key_strings(void **state)
{
	unsigned char pk[AGE_KEY_LEN], sk[AGE_KEY_LEN], back[AGE_KEY_LEN];
	char r[AGE_RECIPIENT_MAX], id[AGE_IDENTITY_MAX], t[AGE_IDENTITY_MAX];
	age_keypair(pk, sk);
	assert_int_equal(age_recipient_encode(pk, r, sizeof(r)), 0);
	assert_int_equal(age_identity_encode(sk, id, sizeof(id)), 0);
	assert_int_equal(strlen(r), 62);
	assert_int_equal(strlen(id), 74);
	assert_memory_equal(r, "age1", 4);
	assert_memory_equal(id, "AGE-SECRET-KEY-1", 16);
	assert_int_equal(age_recipient_decode(r, back), 1);
	assert_memory_equal(back, pk, 32);
	assert_int_equal(age_identity_decode(id, back), 1);
	assert_memory_equal(back, sk, 32);

	/* Recipients are lower case only, identities upper case only, and
	 * mixed case is never valid bech32. */
	assert_int_equal(fmt_name(t, sizeof(t), "%s", r), 0);
	for (size_t i = 0; t[i]; i++)
		t[i] = (char)toupper((unsigned char)t[i]);
	assert_int_equal(age_recipient_decode(t, back), 0);
	assert_int_equal(fmt_name(t, sizeof(t), "%s", id), 0);
	for (size_t i = 0; t[i]; i++)
		t[i] = (char)tolower((unsigned char)t[i]);
	assert_int_equal(age_identity_decode(t, back), 0);
	assert_int_equal(fmt_name(t, sizeof(t), "%s", r), 0);
	size_t letter = 4; /* first letter after "age1" (digits have no case) */
	while (!islower((unsigned char)t[letter]))
		letter++;
	t[letter] = (char)toupper((unsigned char)t[letter]);
	assert_int_equal(age_recipient_decode(t, back), 0);
	/* Wrong kind, bad checksum, wrong length. */
	assert_int_equal(age_identity_decode(r, back), 0);
	assert_int_equal(age_recipient_decode(id, back), 0);
	assert_int_equal(fmt_name(t, sizeof(t), "%s", r), 0);
	t[20] = t[20] == 'q' ? 'p' : 'q';
	assert_int_equal(age_recipient_decode(t, back), 0);
	unsigned char long_key[AGE_KEY_LEN + 1] = {0};
	assert_int_equal(bech32_encode("age", long_key, 31, false, t, sizeof(t)), 0);
	assert_int_equal(age_recipient_decode(t, back), 0);
	assert_int_equal(bech32_encode("age", long_key, 33, false, t, sizeof(t)), 0);
	assert_int_equal(age_recipient_decode(t, back), 0);
	assert_int_equal(age_recipient_decode("", back), 0);
	/* Output too small. */
	assert_int_equal(age_recipient_encode(pk, r, 62), -1);
	assert_int_equal(age_identity_encode(sk, id, 74), -1);
	sodium_memzero(sk, sizeof(sk));
}

/* ---- round trips ---- */

static size_t expected_size(size_t hdr, size_t n)
{
	size_t chunks = n == 0 ? 1 : (n + AGE_CHUNK_SIZE - 1) / AGE_CHUNK_SIZE;
	return hdr + AGE_NONCE_LEN + n + chunks * AGE_TAG_LEN;
}

static size_t header_len(const struct buf *c)
{
	const unsigned char *p = memmem(c->data, c->len, "\n--- ", 5);
	assert_non_null(p);
	const unsigned char *nl = memchr(p + 1, '\n', c->len - (size_t)(p + 1 - c->data));
	assert_non_null(nl);
	return (size_t)(nl + 1 - c->data);
}

static void test_round_trips(void **state)
{
	static const size_t sizes[] = {0, 1, 65535, 65536, 65537, 3 * 65536};
	static const size_t steps[] = {1 << 20, 1000, 65536, 7};
	unsigned char *msg = malloc(3 * 65536);
	rnd_bytes(msg, 3 * 65536);
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		for (size_t j = 0; j < sizeof(steps) / sizeof(steps[0]); j++) {
			struct buf c = BUF_INIT, p = BUF_INIT;
			const char *err = NULL;
			seal_msg(test_pk, msg, sizes[i], steps[j], &c);
			assert_int_equal(c.len, expected_size(header_len(&c), sizes[i]));
			assert_int_equal(
			    open_msg(test_sk, c.data, c.len, steps[(j + 1) % 4], &p, &err), 0);
			assert_int_equal(p.len, sizes[i]);
			if (sizes[i])
				assert_memory_equal(p.data, msg, sizes[i]);
			buf_free(&c);
			buf_free(&p);
		}
	}
	free(msg);
}

static void test_open_one_byte_at_a_time(void **state)
{
	static const size_t sizes[] = {0, 1, 65536, 65537, 3 * 65536};
	unsigned char *msg = malloc(3 * 65536);
	rnd_bytes(msg, 3 * 65536);
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		struct buf c = BUF_INIT, p = BUF_INIT;
		const char *err = NULL;
		seal_msg(test_pk, msg, sizes[i], 1 << 20, &c);
		assert_int_equal(open_msg(test_sk, c.data, c.len, 1, &p, &err), 0);
		assert_int_equal(p.len, sizes[i]);
		if (sizes[i])
			assert_memory_equal(p.data, msg, sizes[i]);
		buf_free(&c);
		buf_free(&p);
	}
	free(msg);
}

static void test_wrong_identity(void **state)
{
	unsigned char pk[AGE_KEY_LEN], sk[AGE_KEY_LEN];
	struct buf c = BUF_INIT, p = BUF_INIT;
	const char *err = NULL;
	age_keypair(pk, sk);
	seal_msg(test_pk, (const unsigned char *)"hello", 5, 5, &c);
	assert_int_equal(open_msg(sk, c.data, c.len, c.len, &p, &err), -1);
	assert_string_equal(err, "no matching stanza for this identity");
	assert_int_equal(p.len, 0);
	buf_free(&c);
	buf_free(&p);
}

static void test_low_order_recipient_refused(void **state)
{
	unsigned char zero[AGE_KEY_LEN] = {0};
	struct buf c = BUF_INIT;
	assert_null(age_seal_begin(zero, sink_buf, &c));
	assert_int_equal(c.len, 0);
}

/* Every single-bit flip anywhere in a small file is detected. */
static void test_bit_flips(void **state)
{
	struct buf c = BUF_INIT;
	seal_msg(test_pk, (const unsigned char *)"flip me", 7, 7, &c);
	size_t hdr = header_len(&c);
	for (size_t i = 0; i < c.len; i++) {
		for (int bit = 0; bit < 8; bit++) {
			c.data[i] ^= (unsigned char)(1 << bit);
			const char *want = NULL;
			/* Flips in the MAC's base64 that stay canonical are MAC
			 * failures; in the payload (nonce included) they break the
			 * chunk's tag. */
			if (i >= hdr)
				want = "payload authentication failed";
			if (!open_fails(c.data, c.len, want))
				fail_msg("flip of byte %zu bit %d accepted", i, bit);
			c.data[i] ^= (unsigned char)(1 << bit);
		}
	}
	/* MAC byte flip with valid base64: reported as a MAC failure. */
	unsigned char *m = memmem(c.data, c.len, "\n--- ", 5);
	m[5] = m[5] == 'A' ? 'B' : 'A';
	assert_true(open_fails(c.data, c.len, "bad header MAC"));
	buf_free(&c);
}

/* ---- payload forging: recover the file key as the recipient can, then
 * re-encrypt chunks with chosen last-chunk flags. ---- */

struct forge {
	struct buf file; /* header and nonce, then forged chunks */
	size_t prefix;   /* bytes of header and nonce */
	unsigned char key[32];
	uint64_t counter;
};

static void forge_begin(struct forge *g, const struct buf *sealed)
{
	const char *p = (const char *)sealed->data;
	const char *share_b64 = strstr(p, "-> X25519 ") + 10;
	const char *body_b64 = strchr(share_b64, '\n') + 1;
	struct buf share = BUF_INIT, body = BUF_INIT;
	assert_int_equal(codec_b64_decode(share_b64, 43, CODEC_B64_STD, CODEC_PAD_FORBIDDEN,
	                                  CODEC_STRICT, &share),
	                 1);
	assert_int_equal(
	    codec_b64_decode(body_b64, 43, CODEC_B64_STD, CODEC_PAD_FORBIDDEN, CODEC_STRICT, &body),
	    1);
	unsigned char shared[32], salt[64], wrap[32], fk[16], nonce12[12] = {0};
	assert_int_equal(crypto_scalarmult(shared, test_sk, share.data), 0);
	memcpy(salt, share.data, 32);
	memcpy(salt + 32, test_pk, 32);
	assert_int_equal(age_hkdf_sha256(shared, 32, salt, 64,
	                                 (const unsigned char *)"age-encryption.org/v1/X25519", 28,
	                                 wrap, 32),
	                 0);
	assert_int_equal(crypto_aead_chacha20poly1305_ietf_decrypt(fk, NULL, NULL, body.data, 32,
	                                                           NULL, 0, nonce12, wrap),
	                 0);
	g->prefix = header_len(sealed) + AGE_NONCE_LEN;
	assert_int_equal(age_hkdf_sha256(fk, 16, sealed->data + g->prefix - AGE_NONCE_LEN,
	                                 AGE_NONCE_LEN, (const unsigned char *)"payload", 7, g->key,
	                                 32),
	                 0);
	g->file = (struct buf)BUF_INIT;
	buf_append(&g->file, sealed->data, g->prefix);
	g->counter = 0;
	buf_free(&share);
	buf_free(&body);
}

static void forge_chunk(struct forge *g, const unsigned char *p, size_t n, bool last)
{
	unsigned char nonce[12] = {0};
	for (int i = 0; i < 8; i++)
		nonce[10 - i] = (unsigned char)(g->counter >> (8 * i));
	nonce[11] = last;
	buf_reserve(&g->file, n + 16);
	unsigned long long clen = 0;
	crypto_aead_chacha20poly1305_ietf_encrypt(g->file.data + g->file.len, &clen, p, n, NULL, 0,
	                                          NULL, nonce, g->key);
	g->file.len += (size_t)clen;
	g->counter++;
}

static void forge_reset(struct forge *g)
{
	buf_truncate(&g->file, g->prefix);
	g->counter = 0;
}

static int forge_open(struct forge *g, size_t expect_len, const char **err)
{
	struct buf p = BUF_INIT;
	int r = open_msg(test_sk, g->file.data, g->file.len, 4099, &p, err);
	if (r == 0)
		assert_int_equal(p.len, expect_len);
	buf_free(&p);
	return r;
}

static void test_last_chunk_flag(void **state)
{
	unsigned char *m = calloc(1, 2 * AGE_CHUNK_SIZE);
	struct buf sealed = BUF_INIT;
	struct forge g;
	const char *err = NULL;
	seal_msg(test_pk, m, 10, 10, &sealed);
	forge_begin(&g, &sealed);

	/* The helper reproduces a valid file. */
	forge_chunk(&g, m, AGE_CHUNK_SIZE, false);
	forge_chunk(&g, m, 10, true);
	assert_int_equal(forge_open(&g, AGE_CHUNK_SIZE + 10, &err), 0);
	/* A full last chunk is fine (testkit stream_last_chunk_full). */
	forge_reset(&g);
	forge_chunk(&g, m, AGE_CHUNK_SIZE, true);
	assert_int_equal(forge_open(&g, AGE_CHUNK_SIZE, &err), 0);
	/* Only chunk without the flag. */
	forge_reset(&g);
	forge_chunk(&g, m, 10, false);
	assert_int_equal(forge_open(&g, 0, &err), -1);
	assert_string_equal(err, "payload authentication failed");
	/* Last chunk without the flag after a full chunk. */
	forge_reset(&g);
	forge_chunk(&g, m, AGE_CHUNK_SIZE, false);
	forge_chunk(&g, m, 10, false);
	assert_int_equal(forge_open(&g, 0, &err), -1);
	/* First chunk flagged last, then another chunk (two final chunks). */
	forge_reset(&g);
	forge_chunk(&g, m, AGE_CHUNK_SIZE, true);
	forge_chunk(&g, m, 10, true);
	assert_int_equal(forge_open(&g, 0, &err), -1);
	assert_string_equal(err, "trailing data after the last chunk");
	/* Empty last chunk after a full one (testkit stream_last_chunk_empty). */
	forge_reset(&g);
	forge_chunk(&g, m, AGE_CHUNK_SIZE, false);
	forge_chunk(&g, m, 0, true);
	assert_int_equal(forge_open(&g, 0, &err), -1);
	assert_string_equal(err, "payload: empty last chunk");
	/* Full non-last chunk and nothing after it (stream_no_final_full). */
	forge_reset(&g);
	forge_chunk(&g, m, AGE_CHUNK_SIZE, false);
	assert_int_equal(forge_open(&g, 0, &err), -1);
	assert_string_equal(err, "truncated payload: last chunk missing");
	/* Short non-last chunk followed by a last chunk. */
	forge_reset(&g);
	forge_chunk(&g, m, 100, false);
	forge_chunk(&g, m, 10, true);
	assert_int_equal(forge_open(&g, 0, &err), -1);
	/* No chunk at all (stream_no_chunks). */
	forge_reset(&g);
	assert_int_equal(forge_open(&g, 0, &err), -1);
	assert_string_equal(err, "truncated payload: no chunk");

	buf_free(&g.file);
	buf_free(&sealed);
	sodium_memzero(&g, sizeof(g));
	free(m);
}

static void test_truncation(void **state)
{
	static const size_t sizes[] = {3 * 65536, 3 * 65536 + 1};
	unsigned char *msg = malloc(3 * 65536 + 1);
	rnd_bytes(msg, 3 * 65536 + 1);
	for (size_t s = 0; s < 2; s++) {
		struct buf c = BUF_INIT;
		seal_msg(test_pk, msg, sizes[s], 1 << 20, &c);
		size_t pre = header_len(&c) + AGE_NONCE_LEN;
		/* Every chunk boundary before the end. */
		for (size_t k = 0; pre + k * ENC_CHUNK < c.len; k++) {
			const char *want = k == 0 ? "truncated payload: no chunk"
			                          : "truncated payload: last chunk missing";
			if (!open_fails(c.data, pre + k * ENC_CHUNK, want))
				fail_msg("truncation after %zu chunks accepted", k);
		}
		/* Inside the header, the nonce, and one byte short. */
		assert_true(open_fails(c.data, 10, "truncated header"));
		assert_true(open_fails(c.data, pre - 1, "truncated payload: no nonce"));
		assert_true(open_fails(c.data, c.len - 1, "payload authentication failed"));
		assert_true(open_fails(c.data, c.len - 17, NULL));
		buf_free(&c);
	}
	free(msg);
}

static void test_trailing_data(void **state)
{
	static const size_t sizes[] = {0, 100, 65536};
	static const size_t extra[] = {1, 100, ENC_CHUNK, ENC_CHUNK + 5};
	unsigned char *msg = calloc(1, 65536);
	for (size_t s = 0; s < 3; s++) {
		for (size_t e = 0; e < 4; e++) {
			struct buf c = BUF_INIT;
			seal_msg(test_pk, msg, sizes[s], 1 << 20, &c);
			for (size_t i = 0; i < extra[e]; i++)
				buf_append_byte(&c, (unsigned char)i);
			assert_true(open_fails(c.data, c.len, NULL));
			buf_free(&c);
		}
	}
	/* A full last chunk followed by garbage names the problem. */
	struct buf c = BUF_INIT;
	seal_msg(test_pk, msg, 65536, 1 << 20, &c);
	buf_append_str(&c, "x");
	assert_true(open_fails(c.data, c.len, "trailing data after the last chunk"));
	/* Data after a successful final is refused. */
	struct buf p = BUF_INIT;
	c.len--;
	struct age_open *o = age_open_new(test_sk, sink_buf, &p);
	assert_int_equal(age_open_update(o, c.data, c.len), 0);
	assert_int_equal(age_open_final(o), 0);
	assert_int_equal(age_open_update(o, "x", 1), -1);
	age_open_free(&o);
	buf_free(&p);
	buf_free(&c);
	free(msg);
}

static void test_sink_failure(void **state)
{
	struct buf c = BUF_INIT;
	seal_msg(test_pk, (const unsigned char *)"abc", 3, 3, &c);
	struct age_open *o = age_open_new(test_sk, sink_fail, NULL);
	assert_int_equal(age_open_update(o, c.data, c.len), 0);
	assert_int_equal(age_open_final(o), -1);
	assert_string_equal(age_open_error(o), "sink failed");
	assert_int_equal(age_open_final(o), -1);
	age_open_free(&o);
	assert_null(age_seal_begin(test_pk, sink_fail, NULL));
	buf_free(&c);
}

static void test_fd_conveniences(void **state)
{
	unsigned char *msg = malloc(200000);
	rnd_bytes(msg, 200000);
	int fd = memfd_create("age-test", 0);
	assert_true(fd >= 0);
	assert_int_equal(age_seal_to_fd(test_pk, msg, 200000, fd), 0);

	struct buf out = BUF_INIT;
	const char *err = NULL;
	buf_append_str(&out, "prefix");
	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	assert_int_equal(age_open_fd(test_sk, fd, &out, 200000, &err), 0);
	assert_int_equal(out.len, 6 + 200000);
	assert_memory_equal(out.data + 6, msg, 200000);

	/* Over the limit: refused, out left as it was. */
	buf_truncate(&out, 6);
	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	assert_int_equal(age_open_fd(test_sk, fd, &out, 199999, &err), -1);
	assert_string_equal(err, "plaintext too large");
	assert_int_equal(out.len, 6);
	assert_string_equal(buf_cstr(&out), "prefix");

	/* Wrong key. */
	unsigned char pk[AGE_KEY_LEN], sk[AGE_KEY_LEN];
	age_keypair(pk, sk);
	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	assert_int_equal(age_open_fd(sk, fd, &out, 1 << 20, &err), -1);
	assert_string_equal(err, "no matching stanza for this identity");
	close(fd);
	buf_free(&out);
	free(msg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_hkdf_rfc5869),
	    cmocka_unit_test(test_x25519_rfc7748),
	    cmocka_unit_test(test_kat_c2sp_x25519),
	    cmocka_unit_test(test_header_grammar),
	    cmocka_unit_test(test_header_limits),
	    cmocka_unit_test(test_key_strings),
	    cmocka_unit_test(test_round_trips),
	    cmocka_unit_test(test_open_one_byte_at_a_time),
	    cmocka_unit_test(test_wrong_identity),
	    cmocka_unit_test(test_low_order_recipient_refused),
	    cmocka_unit_test(test_bit_flips),
	    cmocka_unit_test(test_last_chunk_flag),
	    cmocka_unit_test(test_truncation),
	    cmocka_unit_test(test_trailing_data),
	    cmocka_unit_test(test_sink_failure),
	    cmocka_unit_test(test_fd_conveniences),
	};
	return cmocka_run_group_tests(tests, setup, NULL);
}
