/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* The sealed inbound spool of one user (DESIGN sections 2 and 3):
 *     users/<id>/spool/tmp/<name>   being written (not yet acknowledged)
 *     users/<id>/spool/new/<name>   sealed, fsync'd, acknowledged, awaiting import
 *     users/<id>/spool/bad/<name>   set aside by the importer (undecryptable)
 * <name> is "<unix-microseconds>.<16 lowercase hex random>". Every file is an
 * age v1 file sealed to the user's X25519 public key; the plaintext is the
 * whole message, optionally starting with an X-Sealmail-Flags: field that the
 * importer strips (see spool_write_flags).
 *
 * Writer side: the MX (smtpd, lmtpd), which runs as another system user in
 * the spool's group and holds no secret of the user. Everything is relative to
 * directory descriptors, because the sandbox hands out dirfds, not paths.
 * Trust: post-SMTP-DATA; the content comes from the network, but this module
 * never interprets it (except spool_write_flags, whose argument is ours). */
#ifndef SEALMAIL_SPOOL_H
#define SEALMAIL_SPOOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "crypto/age.h"

/* Result codes of the writer functions. SPOOL_NOSPACE means ENOSPC or EDQUOT:
 * the caller answers with a temporary failure (RFC 5321 section 4.2.2 code 452,
 * RFC 3463 enhanced status 4.3.1 or 4.2.2 for a user over quota) instead of
 * the 451 it uses for other local errors. */
enum spool_result {
	SPOOL_OK = 0,
	SPOOL_ERROR = -1,
	SPOOL_NOSPACE = -2,
};

/* "<20 digits at most>.<16 hex>" plus the NUL. */
#define SPOOL_NAME_MAX 40
/* Header field carrying the flags set at delivery (DESIGN section 2). */
#define SPOOL_FLAGS_FIELD "X-Sealmail-Flags"
/* Longest value accepted by spool_write_flags. */
#define SPOOL_FLAGS_MAX 900
/* Modes: the spool directories are shared with the MX user through the group
 * and setgid, so files created there belong to the spool's group (DESIGN
 * section 4). Files are group-readable so the user's session can read them. */
#define SPOOL_DIR_MODE 02770
#define SPOOL_FILE_MODE 0640
/* Default age after which spool_clean_tmp removes a tmp file. */
#define SPOOL_TMP_MAX_AGE_S (24 * 3600)

/* Create spool/, spool/tmp and spool/new under user_dirfd with mode
 * SPOOL_DIR_MODE (setgid, group-writable). Existing directories are kept and
 * their mode is set again. 0 ok, -1 with errno. */
int spool_create_dirs(int user_dirfd);

/* Parse a spool file name: 1 valid (the timestamp in microseconds goes to
 * *us_r when us_r is not NULL), 0 not a spool name. Pure. */
int spool_name_parse(const char *name, int64_t *us_r);

/* One message being written to one user's spool. */
struct spool_delivery;

/* Start a delivery: creates spool/tmp/<fresh name> (O_EXCL, mode
 * SPOOL_FILE_MODE) under spool_dirfd (the user's spool/ directory) and writes
 * the age header sealed to recipient_pk. Returns the object (caller frees with
 * spool_free), or NULL with *result_r set to SPOOL_NOSPACE or SPOOL_ERROR
 * (errno kept). result_r may be NULL. */
struct spool_delivery *spool_deliver_begin(int spool_dirfd,
					   const unsigned char recipient_pk[AGE_KEY_LEN],
					   enum spool_result *result_r);
/* Write the X-Sealmail-Flags field ("X-Sealmail-Flags: <flags>\r\n") as the
 * very first line of the message. Must come before any spool_write; the
 * importer honours the field only in that position (a field of the same name
 * further down came from the sender and is stripped without effect). flags is
 * space-separated: system flags (\Seen …), keywords ($Quarantined …) and at
 * most one "folder=<name>" routing token. SPOOL_ERROR if called late or if
 * flags is empty, too long or holds control characters. */
enum spool_result spool_write_flags(struct spool_delivery *d, const char *flags);
/* Stream message bytes through the sealer into the tmp file. */
enum spool_result spool_write(struct spool_delivery *d, const void *data, size_t len);
/* Finish the age stream, fsync and close the tmp file. After SPOOL_OK the
 * content is durable but not visible to the importer. */
enum spool_result spool_prepare(struct spool_delivery *d);
/* Rename tmp/<name> to new/<name> (never replacing a file) and fsync new/.
 * Requires a successful spool_prepare. After SPOOL_OK the message may be
 * acknowledged: it survives a crash and will be imported. */
enum spool_result spool_commit(struct spool_delivery *d);
/* Free the object. A delivery that was not committed is aborted: its tmp
 * file is unlinked. Sets *d to NULL. spool_abort is the same operation, named
 * for call sites that abandon a delivery. */
void spool_free(struct spool_delivery **d);
void spool_abort(struct spool_delivery **d);

/* The file name (owned by d), e.g. for logs. */
const char *spool_name(const struct spool_delivery *d);
/* Plaintext bytes accepted so far (the flags field included). */
uint64_t spool_plain_bytes(const struct spool_delivery *d);
/* errno of the last failure, 0 if none. */
int spool_errno(const struct spool_delivery *d);

/* Sum of the sizes (st_size) and number of the files in spool/new, for
 * quota checks before accepting a message. 0 ok, -1 with errno. */
int spool_usage(int spool_dirfd, uint64_t *bytes_r, size_t *files_r);

/* Remove files in spool/tmp last modified more than max_age_s seconds ago:
 * deliveries that crashed before spool_commit (they were never acknowledged,
 * so nothing is lost). Younger files may belong to a delivery in progress.
 * *removed_r (may be NULL) gets the count. 0 ok, -1 with errno. */
int spool_clean_tmp(int spool_dirfd, int64_t max_age_s, size_t *removed_r);

#endif
