/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* A user's keys and files as one unit (DESIGN section 2), used by sealctl
 * and the login handlers: create (id, MK, sealing key pair, wrapped MK,
 * users/<id>/ with mailbox.db and spool/), unlock (KDF, unwrap MK), change
 * password, recover, rekey, reset. Secrets passed in are not kept; MK
 * outputs are the caller's to wipe. Trust: admin (sealctl) and post-login. */
#ifndef SEALMAIL_ACCOUNT_H
#define SEALMAIL_ACCOUNT_H

#include <stdbool.h>
#include <stddef.h>

#include "sys/conf.h"
#include "directory.h"
#include "crypto/keywrap.h"
#include "store.h"

/* Path of users/<id>/ and of its mailbox.db (written into out): 0, or -1
 * with errno ENAMETOOLONG when it does not fit (out is then ""). */
int account_user_dir(const struct conf *c, const char *id, char *out, size_t outsz);
int account_mailbox_path(const struct conf *c, const char *id, char *out, size_t outsz);

/* Create the user: 0 ok (when recovery_out is not NULL a recovery code is
 * made, written there, and wraps MK a second time); -1 with *error_r and
 * *status_r (DIRECTORY_ERR_EXISTS, NOT_FOUND for an unhosted domain,
 * INVALID, TEMP). Nothing is left behind on failure. */
int account_create(struct directory *dir, const struct conf *c, const char *address,
		   const char *password, size_t pwlen, char *recovery_out, size_t recovery_sz,
		   enum directory_status *status_r, const char **error_r);

/* Unlock with a password (kind KEYWRAP_PASSWORD) or a recovery code
 * (KEYWRAP_RECOVERY): 1 ok with *u (directory_user_clear) and mk; 0 wrong
 * secret or unknown user (the same KDF cost is spent either way); -1 error.
 * slots (may be NULL) bounds concurrent KDFs on the host. */
struct kdf_slots;
int account_unlock(struct directory *dir, const struct conf *c, struct kdf_slots *slots,
		   const char *address, enum keywrap_kind kind, const char *secret, size_t secretlen,
		   struct directory_user *u, unsigned char mk[KEYWRAP_MK_LEN], const char **error_r);

/* Re-wrap mk under a new password (fresh salt, configured KDF cost): the
 * mail is not re-encrypted. 0 ok, -1 with *error_r. */
int account_set_password(struct directory *dir, const struct conf *c, struct directory_user *u,
			 const unsigned char mk[KEYWRAP_MK_LEN], const char *password, size_t pwlen,
			 const char **error_r);

/* Re-encrypt the mailbox under a new MK and a new sealing key pair; the
 * password wraps the new MK; when the user had a recovery code a new one is
 * written to recovery_out (the old one stops working). 0 ok, -1. */
int account_rekey(struct directory *dir, const struct conf *c, struct directory_user *u,
		  const unsigned char old_mk[KEYWRAP_MK_LEN], const char *password, size_t pwlen,
		  char *recovery_out, size_t recovery_sz, bool *new_recovery_r, const char **error_r);

/* Throw the mailbox away and start with new keys and password (explicit
 * loss of the old mail). 0 ok, -1. */
int account_reset(struct directory *dir, const struct conf *c, const char *address,
		  const char *password, size_t pwlen, const char **error_r);

/* Delete the user from the directory and remove users/<id>/. 0 ok, -1. */
int account_delete(struct directory *dir, const struct conf *c, const char *address,
		   enum directory_status *status_r, const char **error_r);

/* Open the user's mailbox with mk, import the spool and remove the partial
 * files of dead deliveries from spool/tmp (spool_clean_tmp): the store, or
 * NULL with *error_r. */
struct store *account_open_mailbox(const struct conf *c, const char *id,
				   const unsigned char mk[KEYWRAP_MK_LEN],
				   struct store_import_stats *stats, const char **error_r);

/* When running as root, give path to the service users (sealmail, group
 * sealmail-mx for the spool), if they exist. */
void account_chown(const char *path, bool spool);

#endif
