/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* Benchmark helper: an Argon2id password hash in the PHC string format
 * ($argon2id$v=19$m=…,t=…,p=1$salt$hash) with chosen parameters, so that a
 * peer (Dovecot's {ARGON2ID} scheme verifies such strings with libsodium)
 * can be measured with the same KDF cost as sealmail's users.
 *   benchpwhash OPSLIMIT MEMLIMIT_KIB < password
 * Prints the string. Exit: 0 ok, 2 usage, 3 error. Trust: test tool. */
#include <bsd/stdlib.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
	if (argc != 3)
		return 2;
	/* Bounded by libsodium's limits, so that the KiB count cannot overflow. */
	const char *e1, *e2;
	unsigned long long ops = (unsigned long long)strtonum(argv[1], crypto_pwhash_OPSLIMIT_MIN,
	                                                      crypto_pwhash_OPSLIMIT_MAX, &e1);
	size_t mem = (size_t)strtonum(argv[2], crypto_pwhash_MEMLIMIT_MIN / 1024,
	                              crypto_pwhash_MEMLIMIT_MAX / 1024, &e2) *
	             1024;
	if (e1 != NULL || e2 != NULL) {
		fprintf(stderr, "benchpwhash: OPSLIMIT %s, MEMLIMIT_KIB %s\n", e1 ? e1 : "ok",
		        e2 ? e2 : "ok");
		return 2;
	}
	char pw[1024], out[crypto_pwhash_STRBYTES];
	if (sodium_init() < 0 || fgets(pw, sizeof(pw), stdin) == NULL)
		return 3;
	pw[strcspn(pw, "\r\n")] = '\0';
	int r = crypto_pwhash_str_alg(out, pw, strlen(pw), ops, mem, crypto_pwhash_ALG_ARGON2ID13);
	sodium_memzero(pw, sizeof(pw));
	if (r != 0)
		return 3;
	printf("%s\n", out);
	return 0;
}
