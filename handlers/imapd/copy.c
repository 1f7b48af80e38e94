/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* COPY (RFC 3501 section 6.4.7), MOVE (RFC 6851), EXPUNGE (RFC 3501
 * section 6.4.3) and UID EXPUNGE (RFC 4315 section 2.1), with the COPYUID
 * response code of UIDPLUS (RFC 4315 section 3). The database side is
 * store_copy / store_expunge; this file turns the client's sets into UIDs,
 * reports and publishes. Trust: post-auth. */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>

#include "imapd.h"
#include "sys/log.h"
#include "base/mem.h"

/* The UIDs of a normalised set as an array (caller frees; NULL when empty). */
static uint32_t *copy_set_array(const struct seqset *set, size_t *n_r)
{
	uint64_t count = seqset_count(set);
	uint32_t *v = count ? mem_array((size_t)count, sizeof(*v)) : NULL;
	struct seqset_iter it = SEQSET_ITER_INIT;
	size_t n = 0;
	uint32_t uid;
	while (n < count && seqset_next(set, &it, &uid))
		v[n++] = uid;
	*n_r = n;
	return v;
}

static void copy_log_expunge(size_t n)
{
	char count[24];
	/* 20 digits at most; a log line without a count beats a cut one. */
	int k = snprintf(count, sizeof(count), "%zu", n);
	if (k < 0 || (size_t)k >= sizeof(count))
		return;
	log_event(LOG_INFO, "expunge", "COUNT", count, NULL);
}

static int copy_or_move(struct imap_sess *s, const struct imapparse_arg *args, size_t n, bool move)
{
	struct seqset set = SEQSET_INIT, srcset = SEQSET_INIT, dstset = SEQSET_INIT;
	struct buf name = BUF_INIT, a = BUF_INIT, b = BUF_INIT;
	struct store_folder f;
	bool have_folder = false;
	uint32_t *uids = NULL, *src = NULL, *dst = NULL;
	size_t nuids = 0, k = 0;
	uint64_t src_modseq = 0;
	const char *what = move ? "MOVE" : "COPY";

	if (n != 2) {
		imap_bad(s, "Syntax: %s%s sequence-set mailbox", s->cmd->uid ? "UID " : "", what);
		return 0;
	}
	if (!imap_uidset_arg(s, &args[0], s->cmd->uid, &set))
		return 0;
	if (imap_mailbox_arg(s, &args[1], &name) < 0)
		goto out;
	/* RFC 6851 section 3.3: MOVE expunges, which a read-only (EXAMINE)
	 * session may not do. */
	if (move && s->sel->readonly) {
		imap_no(s, "[READ-ONLY] Mailbox is read-only.");
		goto out;
	}
	int r = store_folder_get(s->st, buf_cstr(&name), &f);
	if (r <= 0) {
		if (r == 0)
			/* RFC 3501 section 6.4.7 */
			imap_no(s, "[TRYCREATE] Mailbox doesn't exist.");
		else
			imap_no(s, "[SERVERBUG] Internal error.");
		goto out;
	}
	have_folder = true;
	uids = copy_set_array(&set, &nuids);
	if (nuids == 0) {
		/* Only a UID set can name no message at all (RFC 3501 section
		 * 6.4.8: non-existent UIDs are ignored). */
		imap_ok(s, "No messages found.");
		goto out;
	}
	/* All or nothing (RFC 3501 section 6.4.7: a failed COPY leaves the
	 * target as it was): when another session expunged some of the
	 * messages meanwhile, undo and say so (RFC 5530 EXPUNGEISSUE). */
	if (store_begin(s->st) < 0) {
		imap_no(s, "[SERVERBUG] Internal error.");
		goto out;
	}
	if (store_copy(s->st, s->sel->folder_id, uids, nuids, f.id, move, &src, &dst, &k,
	               &src_modseq) < 0) {
		store_rollback(s->st);
		/* RFC 5530 section 3: a limit of the store (the target folder
		 * out of UIDs) is LIMIT. */
		if (store_error_is_limit(s->st))
			imap_no(s, "[LIMIT] %s failed: %s.", what, store_error(s->st));
		else
			imap_no(s, "[SERVERBUG] %s failed.", what);
		goto out;
	}
	if (k != nuids) {
		store_rollback(s->st);
		imap_no(s, "[EXPUNGEISSUE] Some of the requested messages no longer exist.");
		goto out;
	}
	uint64_t dst_modseq = 0;
	sqlite3_stmt *q;
	if (sqlite3_prepare_v2(store_db(s->st), "SELECT highestmodseq FROM folders WHERE id = ?",
	                       -1, &q, NULL) == SQLITE_OK) {
		sqlite3_bind_int64(q, 1, f.id);
		if (sqlite3_step(q) == SQLITE_ROW)
			dst_modseq = (uint64_t)sqlite3_column_int64(q, 0);
		sqlite3_finalize(q);
	}
	if (store_commit(s->st) < 0) {
		imap_no(s, "[SERVERBUG] %s failed.", what);
		goto out;
	}
	/* COPYUID pairs source and destination UIDs by position (RFC 4315
	 * section 3); seqset_add keeps that order and compacts runs. */
	for (size_t i = 0; i < k; i++) {
		seqset_add(&srcset, src[i], src[i]);
		seqset_add(&dstset, dst[i], dst[i]);
	}
	seqset_format(&srcset, &a);
	seqset_format(&dstset, &b);
	imap_publish_change(s, move && src_modseq > dst_modseq ? src_modseq : dst_modseq);
	if (move) {
		/* RFC 6851 section 4.3: COPYUID goes in an untagged OK before the
		 * EXPUNGE (or VANISHED) responses. */
		imap_untagged(s, "OK [COPYUID %u %s %s] Moved UIDs.", f.uidvalidity, buf_cstr(&a),
		              buf_cstr(&b));
		imap_report_expunged(s, src, k, src_modseq);
		copy_log_expunge(k);
	}
	/* Into the selected mailbox itself: report the new messages now. */
	if (f.id == s->sel->folder_id)
		imap_sync(s, true);
	if (move)
		imap_ok(s, "Move completed.");
	else
		imap_ok(s, "[COPYUID %u %s %s] Copy completed.", f.uidvalidity, buf_cstr(&a),
		        buf_cstr(&b));
out:
	if (have_folder)
		store_folder_clear(&f);
	free(uids);
	free(src);
	free(dst);
	seqset_free(&set);
	seqset_free(&srcset);
	seqset_free(&dstset);
	buf_free(&name);
	buf_free(&a);
	buf_free(&b);
	return 0;
}

int imap_cmd_copy(struct imap_sess *s, const struct imapparse_arg *args, size_t n)
{
	return copy_or_move(s, args, n, false);
}

int imap_cmd_move(struct imap_sess *s, const struct imapparse_arg *args, size_t n)
{
	return copy_or_move(s, args, n, true);
}

/* The UIDs of set (in the view) that carry \Deleted, ascending. The caller
 * holds a transaction, so the flags cannot change before the expunge. */
static int expunge_deleted_in(struct imap_sess *s, const struct seqset *set, uint32_t **uids_r,
                              size_t *n_r)
{
	sqlite3_stmt *q;
	uint32_t *v = NULL;
	size_t n = 0, cap = 0;
	*uids_r = NULL;
	*n_r = 0;
	if (sqlite3_prepare_v2(store_db(s->st),
	                       "SELECT uid FROM messages WHERE folder_id = ?1 AND uid BETWEEN ?2 "
	                       "AND ?3 AND (flags & ?4) != 0 ORDER BY uid",
	                       -1, &q, NULL) != SQLITE_OK)
		return -1;
	int rc = SQLITE_DONE;
	for (size_t i = 0; i < set->count && rc == SQLITE_DONE; i++) {
		sqlite3_reset(q);
		sqlite3_bind_int64(q, 1, s->sel->folder_id);
		sqlite3_bind_int64(q, 2, set->ranges[i].lo);
		sqlite3_bind_int64(q, 3, set->ranges[i].hi);
		sqlite3_bind_int(q, 4, STORE_FLAG_DELETED);
		while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
			if (n == cap) {
				cap = cap ? cap * 2 : 64;
				v = mem_realloc(v, cap, sizeof(*v));
			}
			v[n++] = (uint32_t)sqlite3_column_int64(q, 0);
		}
	}
	sqlite3_finalize(q);
	if (rc != SQLITE_DONE) {
		free(v);
		return -1;
	}
	*uids_r = v;
	*n_r = n;
	return 0;
}

int imap_check_expunge(struct imap_sess *s, const struct imapparse_cmd *c)
{
	/* RFC 3501 section 6.4.3; UID EXPUNGE takes a set (RFC 4315 2.1). */
	if (c->count == (c->uid ? 1u : 0u))
		return 0;
	imap_bad(s, c->uid ? "Syntax: UID EXPUNGE uid-set" : "Syntax: EXPUNGE");
	return -1;
}

int imap_cmd_expunge(struct imap_sess *s, const struct imapparse_arg *args, size_t n)
{
	struct seqset set = SEQSET_INIT;
	uint32_t *uids = NULL;
	size_t nu = 0;
	uint64_t modseq = 0;
	if (s->cmd->uid && !imap_uidset_arg(s, &args[0], true, &set))
		return 0;
	if (s->sel->readonly) {
		imap_no(s, "[READ-ONLY] Mailbox is read-only.");
		goto out;
	}
	if (!s->cmd->uid) {
		/* RFC 3501 section 6.4.3: every message with \Deleted. */
		if (store_expunge_deleted(s->st, s->sel->folder_id, &uids, &nu, &modseq) < 0) {
			imap_no(s, "[SERVERBUG] Expunge failed.");
			goto out;
		}
	} else {
		/* RFC 4315 section 2.1: only those of the set with \Deleted. The
		 * set holds UIDs of the view only (imap_uidset_arg). */
		if (store_begin(s->st) < 0) {
			imap_no(s, "[SERVERBUG] Expunge failed.");
			goto out;
		}
		if (expunge_deleted_in(s, &set, &uids, &nu) < 0 ||
		    store_expunge(s->st, s->sel->folder_id, uids, nu, NULL, &modseq) < 0) {
			store_rollback(s->st);
			imap_no(s, "[SERVERBUG] Expunge failed.");
			goto out;
		}
		if (store_commit(s->st) < 0) {
			imap_no(s, "[SERVERBUG] Expunge failed.");
			goto out;
		}
	}
	if (nu > 0) {
		imap_report_expunged(s, uids, nu, modseq);
		imap_publish_change(s, modseq);
		copy_log_expunge(nu);
	}
	imap_ok(s, "Expunge completed.");
out:
	free(uids);
	seqset_free(&set);
	return 0;
}
