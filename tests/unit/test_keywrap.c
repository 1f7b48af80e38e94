/* SPDX-License-Identifier: AGPL-3.0-or-later */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "base/buf.h"
#include "crypto/keywrap.h"

static const char UID[] = "0123456789abcdef0123456789abcdef";
static const char UID2[] = "fedcba9876543210fedcba9876543210";
static const char PW[] = "hunter2 is not a good password";
/* Cheap parameters: these tests are about the format, not the cost. */
static const struct kdf_params P = {1, 8192};

static unsigned char MK[KEYWRAP_MK_LEN];

static int setup(void **state)
{
	keywrap_mk_new(MK);
	return 0;
}

static void wrap_pw(struct buf *blob)
{
	const char *err = NULL;
	assert_int_equal(keywrap_wrap(UID, KEYWRAP_PASSWORD, &P, PW, strlen(PW), MK, blob, &err),
			 0);
	assert_int_equal(blob->len, KEYWRAP_BLOB_LEN);
}

static int unwrap_pw(const struct buf *blob, const char *uid, const char *pw, unsigned char *mk,
		     const char **err)
{
	return keywrap_unwrap(uid, KEYWRAP_PASSWORD, blob->data, blob->len, pw, strlen(pw), mk,
			      err);
}

static void test_roundtrip_password(void **state)
{
	struct buf blob = BUF_INIT;
	unsigned char mk[KEYWRAP_MK_LEN];
	const char *err = NULL;
	wrap_pw(&blob);
	assert_int_equal(unwrap_pw(&blob, UID, PW, mk, &err), 0);
	assert_memory_equal(mk, MK, sizeof(mk));
	buf_free(&blob);
}

static void test_blob_layout(void **state)
{
	struct buf blob = BUF_INIT;
	struct kdf_params p;
	wrap_pw(&blob);
	assert_int_equal(KEYWRAP_BLOB_LEN, 105);
	assert_int_equal(blob.data[0], KEYWRAP_VERSION);
	assert_int_equal(keywrap_blob_params(blob.data, blob.len, &p), 1);
	assert_int_equal(p.opslimit, P.opslimit);
	assert_int_equal(p.memlimit, P.memlimit);
	/* big-endian opslimit right after version and salt */
	assert_int_equal(blob.data[1 + KDF_SALT_LEN + 7], 1);
	assert_int_equal(blob.data[1 + KDF_SALT_LEN + 8 + 6], 8192 >> 8);
	buf_free(&blob);
}

static void test_wrap_replaces_buffer(void **state)
{
	struct buf blob = BUF_INIT;
	buf_append_str(&blob, "old contents");
	wrap_pw(&blob);
	assert_int_equal(blob.data[0], KEYWRAP_VERSION);
	buf_free(&blob);
}

static void test_fresh_salt_and_nonce(void **state)
{
	struct buf a = BUF_INIT, b = BUF_INIT;
	wrap_pw(&a);
	wrap_pw(&b);
	/* salt at 1..16, nonce at 33..56 */
	assert_memory_not_equal(a.data + 1, b.data + 1, KDF_SALT_LEN);
	assert_memory_not_equal(a.data + 33, b.data + 33, KEYWRAP_NONCE_LEN);
	assert_memory_not_equal(a.data + 57, b.data + 57, KEYWRAP_MK_LEN);
	buf_free(&a);
	buf_free(&b);
}

static void test_wrong_password(void **state)
{
	struct buf blob = BUF_INIT;
	unsigned char mk[KEYWRAP_MK_LEN];
	const char *err = NULL;
	wrap_pw(&blob);
	memset(mk, 0xaa, sizeof(mk));
	assert_int_equal(unwrap_pw(&blob, UID, "hunter3 is not a good password", mk, &err), -1);
	assert_string_equal(err, "wrong secret or corrupt key blob");
	for (size_t i = 0; i < sizeof(mk); i++)
		assert_int_equal(mk[i], 0);
	buf_free(&blob);
}

static void test_empty_password_differs(void **state)
{
	struct buf blob = BUF_INIT;
	unsigned char mk[KEYWRAP_MK_LEN];
	const char *err = NULL;
	wrap_pw(&blob);
	assert_int_equal(unwrap_pw(&blob, UID, "", mk, &err), -1);
	buf_free(&blob);
}

static void test_other_user_id_fails(void **state)
{
	/* A blob copied to another user's row does not open there. */
	struct buf blob = BUF_INIT;
	unsigned char mk[KEYWRAP_MK_LEN];
	const char *err = NULL;
	wrap_pw(&blob);
	assert_int_equal(unwrap_pw(&blob, UID2, PW, mk, &err), -1);
	assert_string_equal(err, "wrong secret or corrupt key blob");
	buf_free(&blob);
}

static void test_edited_opslimit_fails(void **state)
{
	struct buf blob = BUF_INIT;
	unsigned char mk[KEYWRAP_MK_LEN];
	const char *err = NULL;
	wrap_pw(&blob);
	blob.data[1 + KDF_SALT_LEN + 7] = 2;
	assert_int_equal(unwrap_pw(&blob, UID, PW, mk, &err), -1);
	assert_string_equal(err, "wrong secret or corrupt key blob");
	buf_free(&blob);
}

static void test_edited_memlimit_fails(void **state)
{
	struct buf blob = BUF_INIT;
	unsigned char mk[KEYWRAP_MK_LEN];
	const char *err = NULL;
	wrap_pw(&blob);
	blob.data[1 + KDF_SALT_LEN + 8 + 6] ^= 0x04; /* 8192 -> 9216 */
	assert_int_equal(unwrap_pw(&blob, UID, PW, mk, &err), -1);
	assert_string_equal(err, "wrong secret or corrupt key blob");
	buf_free(&blob);
}

static void test_huge_memlimit_refused_before_kdf(void **state)
{
	struct buf blob = BUF_INIT;
	unsigned char mk[KEYWRAP_MK_LEN];
	const char *err = NULL;
	wrap_pw(&blob);
	blob.data[1 + KDF_SALT_LEN + 8] = 0x01; /* 2^56 bytes */
	assert_int_equal(unwrap_pw(&blob, UID, PW, mk, &err), -1);
	assert_string_equal(err, "KDF parameters out of bounds");
	buf_free(&blob);
}

static void test_edited_salt_fails(void **state)
{
	struct buf blob = BUF_INIT;
	unsigned char mk[KEYWRAP_MK_LEN];
	const char *err = NULL;
	wrap_pw(&blob);
	blob.data[1] ^= 1;
	assert_int_equal(unwrap_pw(&blob, UID, PW, mk, &err), -1);
	buf_free(&blob);
}

static void test_edited_ciphertext_fails(void **state)
{
	struct buf blob = BUF_INIT;
	unsigned char mk[KEYWRAP_MK_LEN];
	const char *err = NULL;
	wrap_pw(&blob);
	blob.data[KEYWRAP_BLOB_LEN - 20] ^= 0x80;
	assert_int_equal(unwrap_pw(&blob, UID, PW, mk, &err), -1);
	blob.data[KEYWRAP_BLOB_LEN - 20] ^= 0x80;
	blob.data[KEYWRAP_BLOB_LEN - 1] ^= 0x01; /* the tag */
	assert_int_equal(unwrap_pw(&blob, UID, PW, mk, &err), -1);
	buf_free(&blob);
}

static void test_truncated_blob(void **state)
{
	struct buf blob = BUF_INIT;
	unsigned char mk[KEYWRAP_MK_LEN];
	const char *err = NULL;
	struct kdf_params p;
	wrap_pw(&blob);
	assert_int_equal(keywrap_unwrap(UID, KEYWRAP_PASSWORD, blob.data, blob.len - 1, PW,
					strlen(PW), mk, &err),
			 -1);
	assert_string_equal(err, "malformed key blob");
	assert_int_equal(
		keywrap_unwrap(UID, KEYWRAP_PASSWORD, blob.data, 0, PW, strlen(PW), mk, &err), -1);
	assert_int_equal(keywrap_blob_params(blob.data, blob.len + 0 - 1, &p), 0);
	buf_free(&blob);
}

static void test_unknown_version(void **state)
{
	struct buf blob = BUF_INIT;
	unsigned char mk[KEYWRAP_MK_LEN];
	const char *err = NULL;
	struct kdf_params p;
	wrap_pw(&blob);
	blob.data[0] = 2;
	assert_int_equal(unwrap_pw(&blob, UID, PW, mk, &err), -1);
	assert_string_equal(err, "unsupported key blob version");
	assert_int_equal(keywrap_blob_params(blob.data, blob.len, &p), 0);
	buf_free(&blob);
}

static void test_bad_user_id(void **state)
{
	struct buf blob = BUF_INIT;
	const char *err = NULL;
	char longid[KEYWRAP_USER_ID_MAX + 2];
	memset(longid, 'a', sizeof(longid) - 1);
	longid[sizeof(longid) - 1] = '\0';
	assert_int_equal(keywrap_wrap("", KEYWRAP_PASSWORD, &P, PW, strlen(PW), MK, &blob, &err),
			 -1);
	assert_string_equal(err, "invalid user id");
	assert_int_equal(
		keywrap_wrap(longid, KEYWRAP_PASSWORD, &P, PW, strlen(PW), MK, &blob, &err), -1);
	buf_free(&blob);
}

static void test_bad_params_refused(void **state)
{
	struct buf blob = BUF_INIT;
	const char *err = NULL;
	struct kdf_params bad = {0, 8192};
	assert_int_equal(keywrap_wrap(UID, KEYWRAP_PASSWORD, &bad, PW, strlen(PW), MK, &blob, &err),
			 -1);
	assert_string_equal(err, "KDF parameters out of bounds");
	buf_free(&blob);
}

static void test_recovery_roundtrip_typed_loosely(void **state)
{
	char code[KEYWRAP_RECOVERY_SIZE], typed[128];
	struct buf blob = BUF_INIT;
	unsigned char mk[KEYWRAP_MK_LEN];
	const char *err = NULL;
	assert_int_equal(keywrap_recovery_new(code, sizeof(code)), 0);
	assert_int_equal(
		keywrap_wrap(UID, KEYWRAP_RECOVERY, &P, code, strlen(code), MK, &blob, &err), 0);
	/* lower case, spaces instead of dashes */
	size_t o = 0;
	for (const char *p = code; *p; p++)
		typed[o++] = *p == '-' ? ' ' : (char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p);
	typed[o] = '\0';
	assert_int_equal(keywrap_unwrap(UID, KEYWRAP_RECOVERY, blob.data, blob.len, typed,
					strlen(typed), mk, &err),
			 0);
	assert_memory_equal(mk, MK, sizeof(mk));
	buf_free(&blob);
}

static void test_recovery_wrong_code(void **state)
{
	char code[KEYWRAP_RECOVERY_SIZE], other[KEYWRAP_RECOVERY_SIZE];
	struct buf blob = BUF_INIT;
	unsigned char mk[KEYWRAP_MK_LEN];
	const char *err = NULL;
	assert_int_equal(keywrap_recovery_new(code, sizeof(code)), 0);
	assert_int_equal(keywrap_recovery_new(other, sizeof(other)), 0);
	assert_int_equal(
		keywrap_wrap(UID, KEYWRAP_RECOVERY, &P, code, strlen(code), MK, &blob, &err), 0);
	assert_int_equal(keywrap_unwrap(UID, KEYWRAP_RECOVERY, blob.data, blob.len, other,
					strlen(other), mk, &err),
			 -1);
	assert_string_equal(err, "wrong secret or corrupt key blob");
	/* Garbage is answered the same way as a wrong code. */
	assert_int_equal(
		keywrap_unwrap(UID, KEYWRAP_RECOVERY, blob.data, blob.len, "nonsense", 8, mk, &err),
		-1);
	assert_string_equal(err, "wrong secret or corrupt key blob");
	buf_free(&blob);
}

static void test_kind_is_bound(void **state)
{
	/* A recovery blob does not open as a password blob with the code as
	 * password, and vice versa. */
	char code[KEYWRAP_RECOVERY_SIZE];
	struct buf blob = BUF_INIT;
	unsigned char mk[KEYWRAP_MK_LEN];
	const char *err = NULL;
	assert_int_equal(keywrap_recovery_new(code, sizeof(code)), 0);
	assert_int_equal(
		keywrap_wrap(UID, KEYWRAP_RECOVERY, &P, code, strlen(code), MK, &blob, &err), 0);
	assert_int_equal(keywrap_unwrap(UID, KEYWRAP_PASSWORD, blob.data, blob.len, code,
					strlen(code), mk, &err),
			 -1);
	assert_int_equal(
		keywrap_wrap(UID, KEYWRAP_PASSWORD, &P, code, strlen(code), MK, &blob, &err), 0);
	assert_int_equal(keywrap_unwrap(UID, KEYWRAP_RECOVERY, blob.data, blob.len, code,
					strlen(code), mk, &err),
			 -1);
	buf_free(&blob);
}

static void test_recovery_wrap_malformed_code(void **state)
{
	struct buf blob = BUF_INIT;
	const char *err = NULL;
	assert_int_equal(keywrap_wrap(UID, KEYWRAP_RECOVERY, &P, "short", 5, MK, &blob, &err), -1);
	assert_string_equal(err, "malformed recovery code");
	buf_free(&blob);
}

static void test_recovery_format(void **state)
{
	char code[KEYWRAP_RECOVERY_SIZE];
	assert_int_equal(keywrap_recovery_new(code, sizeof(code)), 0);
	assert_int_equal(strlen(code), 47);
	assert_int_equal(KEYWRAP_RECOVERY_BITS, 200);
	for (size_t i = 0; i < 47; i++) {
		if (i % 6 == 5) {
			assert_int_equal(code[i], '-');
			continue;
		}
		assert_non_null(strchr("0123456789ABCDEFGHJKMNPQRSTVWXYZ", code[i]));
	}
}

static void test_recovery_codes_differ(void **state)
{
	char a[KEYWRAP_RECOVERY_SIZE], b[KEYWRAP_RECOVERY_SIZE];
	assert_int_equal(keywrap_recovery_new(a, sizeof(a)), 0);
	assert_int_equal(keywrap_recovery_new(b, sizeof(b)), 0);
	assert_string_not_equal(a, b);
}

static void test_recovery_small_buffer(void **state)
{
	char out[KEYWRAP_RECOVERY_SIZE - 1];
	assert_int_equal(keywrap_recovery_new(out, sizeof(out)), -1);
	assert_int_equal(keywrap_recovery_normalise("x", out, sizeof(out)), -1);
}

static const char *normalise(const char *in)
{
	static char out[KEYWRAP_RECOVERY_SIZE];
	if (keywrap_recovery_normalise(in, out, sizeof(out)) != 1)
		return "";
	return out;
}

static const char CANON[] = "0123A-BCDEF-GHJKM-NPQRS-TVWXY-Z0000-11111-22222";

static void test_normalise_identity(void **state)
{
	assert_string_equal(normalise(CANON), CANON);
}

static void test_normalise_case_dashes_spaces(void **state)
{
	assert_string_equal(normalise("0123abcdefghjkmnpqrstvwxyz00001111122222"), CANON);
	assert_string_equal(normalise(" 0123a bcdef\tghjkm-npqrs--tvwxy z0000 11111 22222 "),
			    CANON);
}

static void test_normalise_lookalikes(void **state)
{
	/* Crockford: O is 0, I and L are 1. */
	assert_string_equal(normalise("0123A-BCDEF-GHJKM-NPQRS-TVWXY-ZoOoO-iIlL1-22222"), CANON);
}

static void test_normalise_rejects_u_and_symbols(void **state)
{
	assert_string_equal(normalise("0123U-BCDEF-GHJKM-NPQRS-TVWXY-Z0000-11111-22222"), "");
	assert_string_equal(normalise("0123A-BCDEF-GHJKM-NPQRS-TVWXY-Z0000-11111-2222!"), "");
	assert_string_equal(normalise("0123A_BCDEF-GHJKM-NPQRS-TVWXY-Z0000-11111-22222"), "");
}

static void test_normalise_rejects_wrong_length(void **state)
{
	assert_string_equal(normalise("0123A-BCDEF-GHJKM-NPQRS-TVWXY-Z0000-11111-2222"), "");
	assert_string_equal(normalise("0123A-BCDEF-GHJKM-NPQRS-TVWXY-Z0000-11111-222222"), "");
	assert_string_equal(normalise(""), "");
	assert_string_equal(normalise("-----"), "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip_password),
		cmocka_unit_test(test_blob_layout),
		cmocka_unit_test(test_wrap_replaces_buffer),
		cmocka_unit_test(test_fresh_salt_and_nonce),
		cmocka_unit_test(test_wrong_password),
		cmocka_unit_test(test_empty_password_differs),
		cmocka_unit_test(test_other_user_id_fails),
		cmocka_unit_test(test_edited_opslimit_fails),
		cmocka_unit_test(test_edited_memlimit_fails),
		cmocka_unit_test(test_huge_memlimit_refused_before_kdf),
		cmocka_unit_test(test_edited_salt_fails),
		cmocka_unit_test(test_edited_ciphertext_fails),
		cmocka_unit_test(test_truncated_blob),
		cmocka_unit_test(test_unknown_version),
		cmocka_unit_test(test_bad_user_id),
		cmocka_unit_test(test_bad_params_refused),
		cmocka_unit_test(test_recovery_roundtrip_typed_loosely),
		cmocka_unit_test(test_recovery_wrong_code),
		cmocka_unit_test(test_kind_is_bound),
		cmocka_unit_test(test_recovery_wrap_malformed_code),
		cmocka_unit_test(test_recovery_format),
		cmocka_unit_test(test_recovery_codes_differ),
		cmocka_unit_test(test_recovery_small_buffer),
		cmocka_unit_test(test_normalise_identity),
		cmocka_unit_test(test_normalise_case_dashes_spaces),
		cmocka_unit_test(test_normalise_lookalikes),
		cmocka_unit_test(test_normalise_rejects_u_and_symbols),
		cmocka_unit_test(test_normalise_rejects_wrong_length),
	};
	return cmocka_run_group_tests(tests, setup, NULL);
}
