/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* STORE and UID STORE (RFC 3501 sections 6.4.6, 6.4.8), the conditional
 * STORE of CONDSTORE (RFC 7162 section 3.1.3: UNCHANGEDSINCE, MODIFIED), and
 * the flag-change core that FETCH's implicit \Seen shares. Trust: post-auth. */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "imapd.h"
#include "sys/log.h"
#include "base/mem.h"

void imap_condstore_enable(struct imap_sess *s)
{
	if (s->condstore)
		return;
	s->condstore = true;
	/* RFC 7162 section 3.1: after a CONDSTORE enabling command other than
	 * SELECT/EXAMINE the client learns the mailbox's HIGHESTMODSEQ (Dovecot
	 * sends it the same way). imap_sync() ran just before the command, so
	 * modseq_seen is the folder's current value. */
	if (s->sel != NULL)
		imap_untagged(s, "OK [HIGHESTMODSEQ %llu] Highest",
		              (unsigned long long)s->sel->modseq_seen);
}

void imap_flag_results_free(struct imap_flag_result **resp, size_t n)
{
	struct imap_flag_result *res = *resp;
	if (res == NULL)
		return;
	for (size_t i = 0; i < n; i++)
		free(res[i].keywords);
	free(res);
	*resp = NULL;
}

static int flags_folder_hms(sqlite3 *db, int64_t folder_id, uint64_t *hms)
{
	sqlite3_stmt *q;
	int rc = -1;
	if (sqlite3_prepare_v2(db, "SELECT highestmodseq FROM folders WHERE id = ?1", -1, &q,
	                       NULL) != SQLITE_OK)
		return -1;
	sqlite3_bind_int64(q, 1, folder_id);
	if (sqlite3_step(q) == SQLITE_ROW) {
		*hms = (uint64_t)sqlite3_column_int64(q, 0);
		rc = 0;
	}
	sqlite3_finalize(q);
	return rc;
}

int imap_flags_apply(struct imap_sess *s, const uint32_t *uids, size_t n, enum store_flag_op op,
                     unsigned flags, const char *keywords, bool unchangedsince,
                     uint64_t unchangedsince_modseq, struct imap_flag_result **res_r)
{
	struct imap_sel *sel = s->sel;
	sqlite3 *db = store_db(s->st);
	struct imap_flag_result *res = mem_array(n ? n : 1, sizeof(*res));
	sqlite3_stmt *get = NULL;
	uint64_t h_start = 0, h_end = 0;
	bool any_changed = false;
	*res_r = NULL;
	/* One transaction: the whole STORE is atomic, costs one fsync, and no
	 * other session's change can interleave with ours (BEGIN IMMEDIATE),
	 * which is what lets us tell our changes from theirs below. */
	if (store_begin(s->st) < 0)
		goto fail_nt;
	if (sqlite3_prepare_v2(db,
	                       "SELECT flags, keywords, modseq FROM messages "
	                       "WHERE folder_id = ?1 AND uid = ?2",
	                       -1, &get, NULL) != SQLITE_OK ||
	    flags_folder_hms(db, sel->folder_id, &h_start) < 0)
		goto fail;
	for (size_t i = 0; i < n; i++) {
		struct imap_flag_result *r = &res[i];
		r->uid = uids[i];
		int sr;
		if (unchangedsince && unchangedsince_modseq == 0)
			sr = 0; /* RFC 7162 section 3.1.3: always fails for an existing message */
		else
			sr = store_set_flags(s->st, sel->folder_id, uids[i], op, flags, keywords,
			                     unchangedsince ? unchangedsince_modseq : 0, NULL);
		if (sr < 0)
			goto fail;
		sqlite3_bind_int64(get, 1, sel->folder_id);
		sqlite3_bind_int64(get, 2, uids[i]);
		int rc = sqlite3_step(get);
		if (rc == SQLITE_ROW) {
			r->flags = (unsigned)sqlite3_column_int(get, 0) & STORE_FLAGS_ALL;
			const unsigned char *kw = sqlite3_column_text(get, 1);
			r->keywords = mem_strdup(kw != NULL ? (const char *)kw : "");
			r->modseq = (uint64_t)sqlite3_column_int64(get, 2);
			/* Every change in this transaction got a mod-sequence
			 * above the folder's value at its start. */
			r->changed = sr == 1 && r->modseq > h_start;
			r->status = sr == 1 ? 1 : 2;
			any_changed |= r->changed;
		} else if (rc == SQLITE_DONE) {
			r->status = 0;
		} else {
			sqlite3_reset(get);
			goto fail;
		}
		sqlite3_reset(get);
	}
	if (flags_folder_hms(db, sel->folder_id, &h_end) < 0)
		goto fail;
	sqlite3_finalize(get);
	get = NULL;
	if (store_commit(s->st) < 0)
		goto fail_nt;
	if (any_changed) {
		imap_publish_change(s, h_end);
		/* Our own changes are reported by the command itself; when no
		 * other change came between the last sync and our transaction,
		 * everything up to h_end is known to the client (the note on
		 * modseq_seen in select.c). Otherwise imap_sync() reports the
		 * other changes, and ours once more, which is harmless. */
		if (h_start == sel->modseq_seen)
			sel->modseq_seen = h_end;
	}
	*res_r = res;
	return 0;
fail:
	if (get != NULL)
		sqlite3_finalize(get);
	store_rollback(s->st);
fail_nt:
	imap_flag_results_free(&res, n);
	return -1;
}

/* ---- STORE ----------------------------------------------------------------- */

/* store-att-flags = (["+" / "-"] "FLAGS" [".SILENT"]) (RFC 3501 section 9). */
static bool store_item(const struct imapparse_arg *a, enum store_flag_op *op, bool *silent)
{
	if (a->type != IMAPPARSE_ATOM)
		return false;
	const char *p = a->str;
	*op = STORE_FLAGS_REPLACE;
	if (*p == '+') {
		*op = STORE_FLAGS_ADD;
		p++;
	} else if (*p == '-') {
		*op = STORE_FLAGS_REMOVE;
		p++;
	}
	if (strcasecmp(p, "FLAGS") == 0) {
		*silent = false;
		return true;
	}
	if (strcasecmp(p, "FLAGS.SILENT") == 0) {
		*silent = true;
		return true;
	}
	return false;
}

/* The flag argument: a list, or one or more flags without parentheses.
 * 0 ok, -1 after a BAD reply. */
static int store_flag_args(struct imap_sess *s, const struct imapparse_arg *args, size_t n,
                           unsigned *flags, struct buf *kw)
{
	struct buf one = BUF_INIT;
	*flags = 0;
	buf_reset(kw);
	if (n == 1)
		return imap_parse_flags(s, &args[0], flags, kw);
	for (size_t i = 0; i < n; i++) {
		unsigned f;
		if (args[i].type == IMAPPARSE_LIST) {
			imap_bad(
			    s,
			    "Syntax: STORE sequence-set [(modifiers)] [+|-]FLAGS[.SILENT] flags");
			buf_free(&one);
			return -1;
		}
		if (imap_parse_flags(s, &args[i], &f, &one) < 0) {
			buf_free(&one);
			return -1;
		}
		*flags |= f;
		if (one.len) {
			if (kw->len)
				buf_append_byte(kw, ' ');
			buf_append(kw, one.data, one.len);
		}
	}
	buf_free(&one);
	return 0;
}

int imap_cmd_store(struct imap_sess *s, const struct imapparse_arg *args, size_t n)
{
	struct imap_sel *sel = s->sel;
	bool uid_cmd = s->cmd->uid;
	struct imapparse_store_mods mods;
	struct seqset uids = SEQSET_INIT;
	struct buf kw = BUF_INIT;
	enum store_flag_op op;
	bool silent;
	unsigned flags;
	const char *err = NULL;
	size_t i = 1;
	memset(&mods, 0, sizeof(mods));
	if (n >= 2 && args[1].type == IMAPPARSE_LIST) {
		/* store-modifiers come before the item (RFC 7162 section 7). */
		if (imapparse_store_modifiers(&args[1], &mods, &err) != 1) {
			imap_bad(s, "Invalid STORE modifiers: %s.", err ? err : "syntax error");
			return 0;
		}
		i = 2;
	}
	if (n < i + 2 || !store_item(&args[i], &op, &silent)) {
		imap_bad(s, "Syntax: %sSTORE sequence-set [(modifiers)] [+|-]FLAGS[.SILENT] flags",
		         uid_cmd ? "UID " : "");
		return 0;
	}
	if (store_flag_args(s, &args[i + 1], n - i - 1, &flags, &kw) < 0)
		goto out;
	if (imap_uidset_arg(s, &args[0], uid_cmd, &uids) != 1)
		goto out;
	if (sel->readonly) {
		imap_no(s, "[READ-ONLY] Mailbox is read-only.");
		goto out;
	}
	/* RFC 7162 section 3.1: UNCHANGEDSINCE enables CONDSTORE. */
	if (mods.unchangedsince)
		imap_condstore_enable(s);

	size_t cnt = (size_t)seqset_count(&uids), k = 0;
	uint32_t *list = mem_array(cnt ? cnt : 1, sizeof(*list));
	struct seqset_iter it = SEQSET_ITER_INIT;
	uint32_t uid;
	while (k < cnt && seqset_next(&uids, &it, &uid))
		list[k++] = uid;
	struct imap_flag_result *res = NULL;
	if (imap_flags_apply(s, list, k, op, flags, kw.len ? buf_cstr(&kw) : NULL,
	                     mods.unchangedsince, mods.modseq, &res) < 0) {
		/* RFC 5530 section 3: LIMIT, not SERVERBUG, when the request
		 * itself is beyond what the store takes; keywords are the only
		 * limit a flag change can reach. */
		if (store_error_is_limit(s->st))
			imap_no(s, "[LIMIT] Too many keywords: a message carries at most %d.",
			        STORE_KEYWORDS_MAX);
		else
			imap_no(s, "[SERVERBUG] Internal error.");
		free(list);
		goto out;
	}
	struct seqset modified = SEQSET_INIT;
	bool expunged = false;
	struct buf fl = BUF_INIT;
	for (size_t j = 0; j < k; j++) {
		const struct imap_flag_result *r = &res[j];
		uint32_t seq = imap_seq_of_uid(sel, r->uid);
		if (r->status == 0) {
			expunged = true;
			continue;
		}
		if (r->status == 2) {
			seqset_add(&modified, uid_cmd ? r->uid : seq, uid_cmd ? r->uid : seq);
			continue;
		}
		/* RFC 7162 section 3.1.3: with CONDSTORE even .SILENT reports
		 * the new MODSEQ of every changed message, with its UID. */
		if (silent && !(s->condstore && r->changed))
			continue;
		buf_reset(&fl);
		if (!silent)
			imap_append_flags(&fl, r->flags, r->keywords, sel->msgs[seq - 1].recent);
		if (s->condstore)
			imap_untagged(s, "%u FETCH (UID %u%s%s MODSEQ (%llu))", seq, r->uid,
			              silent ? "" : " FLAGS ", silent ? "" : buf_cstr(&fl),
			              (unsigned long long)r->modseq);
		else if (uid_cmd)
			imap_untagged(s, "%u FETCH (UID %u FLAGS %s)", seq, r->uid, buf_cstr(&fl));
		else
			imap_untagged(s, "%u FETCH (FLAGS %s)", seq, buf_cstr(&fl));
	}
	buf_free(&fl);
	if (modified.count > 0) {
		struct buf b = BUF_INIT;
		seqset_normalise(&modified);
		seqset_format(&modified, &b);
		imap_ok(s, "[MODIFIED %s] Conditional STORE failed.", buf_cstr(&b));
		buf_free(&b);
	} else if (expunged) {
		/* RFC 2180 section 4.2.1 / RFC 5530, as for FETCH. */
		imap_ok(s, "[EXPUNGEISSUED] Some messages were already expunged.");
	} else {
		imap_ok(s, "Store completed.");
	}
	seqset_free(&modified);
	imap_flag_results_free(&res, k);
	free(list);
out:
	seqset_free(&uids);
	buf_free(&kw);
	return 0;
}
