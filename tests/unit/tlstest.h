/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* Test helper: a throw-away self-signed EC P-256 certificate in a temp dir. */
#ifndef SEALMAIL_TLSTEST_H
#define SEALMAIL_TLSTEST_H

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>

/* Writes dir/cert.pem and dir/key.pem; returns 0 on success. */
static inline int tlstest_make_cert(const char *dir, char *cert, size_t certsz, char *key,
				    size_t keysz)
{
	EVP_PKEY *pk = EVP_EC_gen("P-256");
	X509 *x = X509_new();
	if (pk == NULL || x == NULL)
		return -1;
	ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
	X509_gmtime_adj(X509_getm_notBefore(x), -60);
	X509_gmtime_adj(X509_getm_notAfter(x), 3600);
	X509_set_pubkey(x, pk);
	X509_NAME *name = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"localhost", -1,
				   -1, 0);
	X509_set_issuer_name(x, name);
	if (X509_sign(x, pk, EVP_sha256()) == 0)
		return -1;
	snprintf(cert, certsz, "%s/cert.pem", dir);
	snprintf(key, keysz, "%s/key.pem", dir);
	FILE *f = fopen(cert, "w");
	if (f == NULL)
		return -1;
	PEM_write_X509(f, x);
	fclose(f);
	f = fopen(key, "w");
	if (f == NULL)
		return -1;
	PEM_write_PrivateKey(f, pk, NULL, NULL, 0, NULL, NULL);
	fclose(f);
	X509_free(x);
	EVP_PKEY_free(pk);
	return 0;
}

#endif
