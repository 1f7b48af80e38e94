/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* Commands whose implementation is being written: each answers NO until its
 * file lands (then its function is removed from here). */
#include "imapd.h"

int imap_cmd_append(struct imap_sess *s, const struct imapparse_arg *args, size_t n)
{
	imap_no(s, "[CANNOT] APPEND unavailable.");
	return 0;
}

int imap_cmd_search(struct imap_sess *s, const struct imapparse_arg *args, size_t n)
{
	imap_no(s, "[CANNOT] SEARCH unavailable.");
	return 0;
}

int imap_cmd_copy(struct imap_sess *s, const struct imapparse_arg *args, size_t n)
{
	imap_no(s, "[CANNOT] COPY unavailable.");
	return 0;
}

int imap_cmd_move(struct imap_sess *s, const struct imapparse_arg *args, size_t n)
{
	imap_no(s, "[CANNOT] MOVE unavailable.");
	return 0;
}

int imap_cmd_expunge(struct imap_sess *s, const struct imapparse_arg *args, size_t n)
{
	imap_no(s, "[CANNOT] EXPUNGE unavailable.");
	return 0;
}
