/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* The selected mailbox (RFC 3501 sections 6.3.1, 6.3.2, 6.4.2, 7.3, 7.4.1;
 * RFC 7162 sections 3.1.8, 3.2.5, 3.2.10, 3.2.11; RFC 3691 UNSELECT): the
 * view of sequence numbers this session has reported, and the sync that
 * reports what other sessions (and deliveries) changed. Trust: post-auth. */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "imapd.h"
#include "sys/log.h"
#include "base/mem.h"

void imap_sel_free(struct imap_sel **selp)
{
	struct imap_sel *sel = *selp;
	if (sel == NULL)
		return;
	free(sel->name);
	free(sel->msgs);
	free(sel);
	*selp = NULL;
}

uint32_t imap_seq_of_uid(const struct imap_sel *sel, uint32_t uid)
{
	size_t lo = 0, hi = sel->count;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (sel->msgs[mid].uid < uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < sel->count && sel->msgs[lo].uid == uid ? (uint32_t)(lo + 1) : 0;
}

void imap_sel_remove(struct imap_sel *sel, uint32_t uid)
{
	uint32_t seq = imap_seq_of_uid(sel, uid);
	if (seq == 0)
		return;
	if (sel->msgs[seq - 1].recent && sel->recent > 0)
		sel->recent--;
	memmove(&sel->msgs[seq - 1], &sel->msgs[seq], (sel->count - seq) * sizeof(sel->msgs[0]));
	sel->count--;
}

static void imap_sel_push(struct imap_sel *sel, uint32_t uid, bool recent)
{
	if (sel->count == sel->cap) {
		sel->cap = sel->cap ? sel->cap * 2 : 64;
		sel->msgs = mem_realloc(sel->msgs, sel->cap, sizeof(sel->msgs[0]));
	}
	sel->msgs[sel->count].uid = uid;
	sel->msgs[sel->count].recent = recent;
	sel->count++;
	if (recent)
		sel->recent++;
}

int imap_uidset_arg(struct imap_sess *s, const struct imapparse_arg *a, bool uid,
                    struct seqset *uids_r)
{
	struct seqset set = SEQSET_INIT;
	const char *err = NULL;
	struct imap_sel *sel = s->sel;
	seqset_clear(uids_r);
	if (a->type != IMAPPARSE_ATOM || seqset_parse(&set, a->str, a->len, 100000, &err) != 1) {
		imap_bad(s, "Invalid message set%s%s.", err ? ": " : "", err ? err : "");
		seqset_free(&set);
		return 0;
	}
	uint32_t max =
	    uid ? (sel->count ? sel->msgs[sel->count - 1].uid : 0) : (uint32_t)sel->count;
	if (seqset_resolve(&set, max, uid) == 0) {
		/* RFC 3501 section 9: seq-number beyond the mailbox is an error. */
		imap_bad(s, "Invalid message sequence number.");
		seqset_free(&set);
		return 0;
	}
	for (size_t i = 0; i < sel->count; i++) {
		uint32_t key = uid ? sel->msgs[i].uid : (uint32_t)(i + 1);
		if (seqset_contains(&set, key))
			seqset_add(uids_r, sel->msgs[i].uid, sel->msgs[i].uid);
	}
	seqset_free(&set);
	return 1;
}

void imap_report_expunged(struct imap_sess *s, const uint32_t *uids, size_t n, uint64_t modseq)
{
	struct imap_sel *sel = s->sel;
	if (n == 0)
		return;
	if (s->qresync) {
		/* RFC 7162 section 3.2.10: VANISHED replaces EXPUNGE. */
		struct seqset set = SEQSET_INIT;
		struct buf b = BUF_INIT;
		for (size_t i = 0; i < n; i++)
			if (imap_seq_of_uid(sel, uids[i]))
				seqset_add(&set, uids[i], uids[i]);
		seqset_normalise(&set);
		seqset_format(&set, &b);
		if (b.len)
			imap_untagged(s, "VANISHED %s", buf_cstr(&b));
		buf_free(&b);
		seqset_free(&set);
		for (size_t i = 0; i < n; i++)
			imap_sel_remove(sel, uids[i]);
	} else {
		/* Each EXPUNGE renumbers the later messages: report from the
		 * highest sequence number down so every number stays valid. */
		for (size_t i = n; i-- > 0;) {
			uint32_t seq = imap_seq_of_uid(sel, uids[i]);
			if (seq == 0)
				continue;
			imap_untagged(s, "%u EXPUNGE", seq);
			imap_sel_remove(sel, uids[i]);
		}
	}
	(void)modseq;
}

/* ---- store access for the view ----------------------------------------- */

static int imap_folder_state(struct imap_sess *s, int64_t folder_id, uint32_t *uidnext,
                             uint64_t *hms)
{
	sqlite3_stmt *q;
	int rc = -1;
	if (sqlite3_prepare_v2(store_db(s->st),
	                       "SELECT uidnext, highestmodseq FROM folders WHERE id = ?", -1, &q,
	                       NULL) != SQLITE_OK)
		return -1;
	sqlite3_bind_int64(q, 1, folder_id);
	int r = sqlite3_step(q);
	if (r == SQLITE_ROW) {
		*uidnext = (uint32_t)sqlite3_column_int64(q, 0);
		*hms = (uint64_t)sqlite3_column_int64(q, 1);
		rc = 1;
	} else if (r == SQLITE_DONE) {
		rc = 0;
	}
	sqlite3_finalize(q);
	return rc;
}

/* \Recent (RFC 3501 section 2.3.2): a message is recent in exactly one
 * session, the first to see it with SELECT; a mark per folder says which
 * UIDs no session has claimed yet. Returns the first unclaimed UID and, when
 * claim is set, moves the mark to uidnext. */
static uint32_t imap_recent_claim(struct imap_sess *s, int64_t folder_id, uint32_t uidnext,
                                  bool claim)
{
	char key[64];
	sqlite3_stmt *q;
	uint32_t mark = 1;
	/* 12 bytes and 20 digits at most: a cut key would name another folder. */
	int k = snprintf(key, sizeof(key), "imap.recent.%lld", (long long)folder_id);
	if (k < 0 || (size_t)k >= sizeof(key))
		return mark;
	sqlite3 *db = store_db(s->st);
	if (sqlite3_prepare_v2(db, "SELECT CAST(value AS INTEGER) FROM meta WHERE key = ?", -1, &q,
	                       NULL) == SQLITE_OK) {
		sqlite3_bind_text(q, 1, key, -1, SQLITE_STATIC);
		if (sqlite3_step(q) == SQLITE_ROW)
			mark = (uint32_t)sqlite3_column_int64(q, 0);
		sqlite3_finalize(q);
	}
	if (claim && uidnext > mark &&
	    sqlite3_prepare_v2(db, "INSERT OR REPLACE INTO meta(key, value) VALUES(?, ?)", -1, &q,
	                       NULL) == SQLITE_OK) {
		char v[16];
		/* At most 10 digits. */
		int vk = snprintf(v, sizeof(v), "%u", uidnext);
		if (vk < 0 || (size_t)vk >= sizeof(v)) {
			sqlite3_finalize(q);
			return mark;
		}
		sqlite3_bind_text(q, 1, key, -1, SQLITE_STATIC);
		sqlite3_bind_text(q, 2, v, -1, SQLITE_STATIC);
		sqlite3_step(q);
		sqlite3_finalize(q);
	}
	return mark;
}

static void imap_fetch_flags_line(struct imap_sess *s, uint32_t seq, uint32_t uid, unsigned flags,
                                  const char *kw, bool recent, uint64_t modseq)
{
	struct buf b = BUF_INIT;
	imap_append_flags(&b, flags, kw, recent);
	if (s->condstore)
		imap_untagged(s, "%u FETCH (UID %u FLAGS %s MODSEQ (%llu))", seq, uid, buf_cstr(&b),
		              (unsigned long long)modseq);
	else
		imap_untagged(s, "%u FETCH (FLAGS %s)", seq, buf_cstr(&b));
	buf_free(&b);
}

int imap_sync(struct imap_sess *s, bool allow_expunge)
{
	struct imap_sel *sel = s->sel;
	if (sel == NULL)
		return 0;
	imap_import_spool(s);
	uint32_t uidnext;
	uint64_t hms;
	int r = imap_folder_state(s, sel->folder_id, &uidnext, &hms);
	if (r < 0)
		return -1;
	if (r == 0) {
		/* Deleted by another session: nothing sensible remains. */
		imap_untagged(s, "BYE Selected mailbox was deleted, have to disconnect.");
		imap_set_state(s, IMAP_ST_LOGOUT);
		return 0;
	}
	if (uidnext == sel->uidnext && hms <= sel->modseq_seen && !sel->pending_expunge)
		return 0;
	sqlite3 *db = store_db(s->st);
	sqlite3_stmt *q;
	/* 1. Expunges by others. */
	if (allow_expunge && hms > sel->expunge_seen) {
		uint32_t *gone = NULL;
		size_t ngone = 0, cap = 0;
		if (sqlite3_prepare_v2(
		        db,
		        "SELECT uid FROM expunged WHERE folder_id = ? AND modseq > ? "
		        "ORDER BY uid",
		        -1, &q, NULL) == SQLITE_OK) {
			sqlite3_bind_int64(q, 1, sel->folder_id);
			sqlite3_bind_int64(q, 2, (sqlite3_int64)sel->expunge_seen);
			while (sqlite3_step(q) == SQLITE_ROW) {
				uint32_t uid = (uint32_t)sqlite3_column_int64(q, 0);
				if (imap_seq_of_uid(sel, uid) == 0)
					continue;
				if (ngone == cap) {
					cap = cap ? cap * 2 : 16;
					gone = mem_realloc(gone, cap, sizeof(*gone));
				}
				gone[ngone++] = uid;
			}
			sqlite3_finalize(q);
		}
		imap_report_expunged(s, gone, ngone, hms);
		free(gone);
		sel->expunge_seen = hms;
		sel->pending_expunge = false;
	} else if (hms > sel->expunge_seen) {
		sel->pending_expunge = true;
	}
	/* 2. Flag changes of messages the client knows. */
	uint32_t old_next = sel->uidnext;
	if (hms > sel->modseq_seen &&
	    sqlite3_prepare_v2(
	        db,
	        "SELECT uid, flags, keywords, modseq FROM messages WHERE folder_id = ? "
	        "AND modseq > ? AND uid < ? ORDER BY uid",
	        -1, &q, NULL) == SQLITE_OK) {
		sqlite3_bind_int64(q, 1, sel->folder_id);
		sqlite3_bind_int64(q, 2, (sqlite3_int64)sel->modseq_seen);
		sqlite3_bind_int64(q, 3, old_next);
		while (sqlite3_step(q) == SQLITE_ROW) {
			uint32_t uid = (uint32_t)sqlite3_column_int64(q, 0);
			uint32_t seq = imap_seq_of_uid(sel, uid);
			if (seq == 0)
				continue;
			imap_fetch_flags_line(s, seq, uid, (unsigned)sqlite3_column_int(q, 1),
			                      (const char *)sqlite3_column_text(q, 2),
			                      sel->msgs[seq - 1].recent,
			                      (uint64_t)sqlite3_column_int64(q, 3));
		}
		sqlite3_finalize(q);
	}
	sel->modseq_seen = hms;
	/* 3. New messages. */
	if (uidnext != sel->uidnext) {
		uint32_t mark = imap_recent_claim(s, sel->folder_id, uidnext, !sel->readonly);
		size_t before = sel->count;
		if (sqlite3_prepare_v2(db,
		                       "SELECT uid FROM messages WHERE folder_id = ? AND uid >= ? "
		                       "ORDER BY uid",
		                       -1, &q, NULL) == SQLITE_OK) {
			sqlite3_bind_int64(q, 1, sel->folder_id);
			sqlite3_bind_int64(q, 2, old_next);
			while (sqlite3_step(q) == SQLITE_ROW) {
				uint32_t uid = (uint32_t)sqlite3_column_int64(q, 0);
				imap_sel_push(sel, uid, uid >= mark);
			}
			sqlite3_finalize(q);
		}
		sel->uidnext = uidnext;
		if (sel->count != before) {
			imap_untagged(s, "%zu EXISTS", sel->count);
			imap_untagged(s, "%zu RECENT", sel->recent);
		}
	}
	return 0;
}

/* ---- SELECT / EXAMINE ------------------------------------------------------ */

struct qresync_params {
	bool given;
	uint32_t uidvalidity;
	uint64_t modseq;
	struct seqset known; /* known-uids, empty: all */
};

/* Parse "(CONDSTORE)" or "(QRESYNC (uidvalidity modseq [known-uids ...]))". */
static int imap_select_params(struct imap_sess *s, const struct imapparse_arg *a,
                              struct qresync_params *qp)
{
	if (a->type != IMAPPARSE_LIST) {
		imap_bad(s, "Invalid SELECT parameters.");
		return -1;
	}
	for (size_t i = 0; i < a->count; i++) {
		const struct imapparse_arg *p = &a->list[i];
		if (imapparse_arg_is_atom(p, "CONDSTORE")) {
			s->condstore = true;
			continue;
		}
		if (imapparse_arg_is_atom(p, "QRESYNC") && i + 1 < a->count &&
		    a->list[i + 1].type == IMAPPARSE_LIST) {
			const struct imapparse_arg *l = &a->list[++i];
			if (!s->qresync) {
				/* RFC 7162 section 3.2.5: QRESYNC must be enabled first. */
				imap_bad(s, "QRESYNC is not enabled.");
				return -1;
			}
			uint32_t v;
			if (l->count < 2 || l->count > 4 ||
			    !imapparse_arg_nz_number(&l->list[0], &v) ||
			    !imapparse_arg_modseq(&l->list[1], false, &qp->modseq)) {
				imap_bad(s, "Invalid QRESYNC parameters.");
				return -1;
			}
			qp->uidvalidity = v;
			qp->given = true;
			if (l->count >= 3) {
				if (l->list[2].type != IMAPPARSE_ATOM ||
				    seqset_parse(&qp->known, l->list[2].str, l->list[2].len, 100000,
				                 NULL) != 1 ||
				    seqset_has_star(&qp->known)) {
					imap_bad(s, "Invalid QRESYNC known-uids.");
					return -1;
				}
				seqset_normalise(&qp->known);
			}
			continue;
		}
		imap_bad(s, "Unknown SELECT parameter.");
		return -1;
	}
	return 0;
}

static void imap_select_flags(struct imap_sess *s, int64_t folder_id)
{
	/* Keywords in use in this mailbox are announced with the system flags. */
	struct buf kw = BUF_INIT;
	sqlite3_stmt *q;
	if (sqlite3_prepare_v2(store_db(s->st),
	                       "SELECT DISTINCT keywords FROM messages WHERE folder_id = ? AND "
	                       "keywords != '' LIMIT 1000",
	                       -1, &q, NULL) == SQLITE_OK) {
		sqlite3_bind_int64(q, 1, folder_id);
		while (sqlite3_step(q) == SQLITE_ROW) {
			const char *k = (const char *)sqlite3_column_text(q, 0);
			char *copy = mem_strdup(k ? k : ""), *save = NULL;
			for (char *w = strtok_r(copy, " ", &save); w;
			     w = strtok_r(NULL, " ", &save)) {
				/* dedupe */
				char pad[STORE_KEYWORD_MAX + 3];
				/* Stored keywords are at most STORE_KEYWORD_MAX
				 * bytes; a longer one is not announced. */
				int pk = snprintf(pad, sizeof(pad), " %s ", w);
				if (pk < 0 || (size_t)pk >= sizeof(pad))
					continue;
				struct buf probe = BUF_INIT;
				buf_printf(&probe, " %s ", buf_cstr(&kw));
				if (strstr(buf_cstr(&probe), pad) == NULL && kw.len < 8000) {
					if (kw.len)
						buf_append_byte(&kw, ' ');
					buf_append_str(&kw, w);
				}
				buf_free(&probe);
			}
			free(copy);
		}
		sqlite3_finalize(q);
	}
	imap_untagged(s, "FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft%s%s)",
	              kw.len ? " " : "", buf_cstr(&kw));
	imap_untagged(s,
	              "OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft%s%s \\*)] "
	              "Flags permitted.",
	              kw.len ? " " : "", buf_cstr(&kw));
	buf_free(&kw);
}

/* QRESYNC (RFC 7162 section 3.2.5.2): VANISHED (EARLIER) for what went away
 * since the client's modseq, FETCH for what changed. */
static void imap_select_qresync(struct imap_sess *s, const struct qresync_params *qp)
{
	struct imap_sel *sel = s->sel;
	sqlite3 *db = store_db(s->st);
	sqlite3_stmt *q;
	struct seqset gone = SEQSET_INIT;
	if (sqlite3_prepare_v2(
	        db, "SELECT uid FROM expunged WHERE folder_id = ? AND modseq > ? ORDER BY uid", -1,
	        &q, NULL) == SQLITE_OK) {
		sqlite3_bind_int64(q, 1, sel->folder_id);
		sqlite3_bind_int64(q, 2, (sqlite3_int64)qp->modseq);
		while (sqlite3_step(q) == SQLITE_ROW) {
			uint32_t uid = (uint32_t)sqlite3_column_int64(q, 0);
			if (qp->known.count == 0 || seqset_contains(&qp->known, uid))
				seqset_add(&gone, uid, uid);
		}
		sqlite3_finalize(q);
	}
	if (gone.count) {
		struct buf b = BUF_INIT;
		seqset_normalise(&gone);
		seqset_format(&gone, &b);
		imap_untagged(s, "VANISHED (EARLIER) %s", buf_cstr(&b));
		buf_free(&b);
	}
	seqset_free(&gone);
	if (sqlite3_prepare_v2(
	        db,
	        "SELECT uid, flags, keywords, modseq FROM messages WHERE folder_id = ? "
	        "AND modseq > ? ORDER BY uid",
	        -1, &q, NULL) == SQLITE_OK) {
		sqlite3_bind_int64(q, 1, sel->folder_id);
		sqlite3_bind_int64(q, 2, (sqlite3_int64)qp->modseq);
		while (sqlite3_step(q) == SQLITE_ROW) {
			uint32_t uid = (uint32_t)sqlite3_column_int64(q, 0);
			uint32_t seq = imap_seq_of_uid(sel, uid);
			if (seq == 0)
				continue;
			imap_fetch_flags_line(s, seq, uid, (unsigned)sqlite3_column_int(q, 1),
			                      (const char *)sqlite3_column_text(q, 2),
			                      sel->msgs[seq - 1].recent,
			                      (uint64_t)sqlite3_column_int64(q, 3));
		}
		sqlite3_finalize(q);
	}
}

static int imap_do_select(struct imap_sess *s, const struct imapparse_arg *args, size_t n,
                          bool readonly)
{
	struct buf name = BUF_INIT;
	struct qresync_params qp;
	memset(&qp, 0, sizeof(qp));
	bool had = s->sel != NULL;
	if (imap_mailbox_arg(s, &args[0], &name) < 0 ||
	    (n == 2 && imap_select_params(s, &args[1], &qp) < 0)) {
		buf_free(&name);
		seqset_free(&qp.known);
		return 0;
	}
	/* RFC 3501 section 6.3.1: a SELECT deselects first, even if it fails;
	 * RFC 7162 section 3.2.11: with QRESYNC that is announced. */
	imap_sel_free(&s->sel);
	imap_set_state(s, IMAP_ST_AUTH);
	if (had && s->qresync)
		imap_untagged(s, "OK [CLOSED] Previous mailbox closed.");
	imap_import_spool(s);
	struct store_folder f;
	int r = store_folder_get(s->st, buf_cstr(&name), &f);
	if (r <= 0) {
		if (r == 0)
			imap_no(s, "[NONEXISTENT] Mailbox doesn't exist: %s", buf_cstr(&name));
		else
			imap_no(s, "[SERVERBUG] Internal error.");
		buf_free(&name);
		seqset_free(&qp.known);
		return 0;
	}
	struct imap_sel *sel = mem_zalloc(sizeof(*sel));
	sel->folder_id = f.id;
	sel->name = mem_strdup(f.name);
	sel->readonly = readonly;
	sel->uidvalidity = f.uidvalidity;
	uint32_t *uids = NULL;
	size_t nuids = 0;
	if (store_begin(s->st) < 0 || store_uids(s->st, f.id, &uids, &nuids) < 0 ||
	    imap_folder_state(s, f.id, &sel->uidnext, &sel->modseq_seen) != 1) {
		store_rollback(s->st);
		imap_no(s, "[SERVERBUG] Internal error.");
		imap_sel_free(&sel);
		store_folder_clear(&f);
		buf_free(&name);
		seqset_free(&qp.known);
		free(uids);
		return 0;
	}
	uint32_t mark = imap_recent_claim(s, f.id, sel->uidnext, !readonly);
	store_commit(s->st);
	sel->expunge_seen = sel->modseq_seen;
	sel->cap = nuids ? nuids : 16;
	sel->msgs = mem_array(sel->cap, sizeof(sel->msgs[0]));
	for (size_t i = 0; i < nuids; i++)
		imap_sel_push(sel, uids[i], uids[i] >= mark);
	free(uids);
	s->sel = sel;
	imap_set_state(s, IMAP_ST_SELECTED);
	imap_select_flags(s, f.id);
	imap_untagged(s, "%zu EXISTS", sel->count);
	imap_untagged(s, "%zu RECENT", sel->recent);
	{
		/* First unseen message (RFC 3501 section 7.1, UNSEEN). */
		sqlite3_stmt *q;
		if (sqlite3_prepare_v2(
		        store_db(s->st),
		        "SELECT uid FROM messages WHERE folder_id = ? AND (flags & 1) = 0 "
		        "ORDER BY uid LIMIT 1",
		        -1, &q, NULL) == SQLITE_OK) {
			sqlite3_bind_int64(q, 1, f.id);
			if (sqlite3_step(q) == SQLITE_ROW) {
				uint32_t seq =
				    imap_seq_of_uid(sel, (uint32_t)sqlite3_column_int64(q, 0));
				if (seq)
					imap_untagged(s, "OK [UNSEEN %u] First unseen.", seq);
			}
			sqlite3_finalize(q);
		}
	}
	imap_untagged(s, "OK [UIDVALIDITY %u] UIDs valid", sel->uidvalidity);
	imap_untagged(s, "OK [UIDNEXT %u] Predicted next UID", sel->uidnext);
	imap_untagged(s, "OK [HIGHESTMODSEQ %llu] Highest", (unsigned long long)sel->modseq_seen);
	if (qp.given && qp.uidvalidity == sel->uidvalidity)
		imap_select_qresync(s, &qp);
	imap_ok(s, "[%s] %s completed.", readonly ? "READ-ONLY" : "READ-WRITE",
	        readonly ? "Examine" : "Select");
	store_folder_clear(&f);
	buf_free(&name);
	seqset_free(&qp.known);
	return 0;
}

int imap_check_select(struct imap_sess *s, const struct imapparse_cmd *c)
{
	if (c->count >= 1 && c->count <= 2)
		return 0;
	imap_bad(s, "Syntax: %s mailbox [(parameters)]", c->name);
	return -1;
}

int imap_cmd_select(struct imap_sess *s, const struct imapparse_arg *args, size_t n)
{
	return imap_do_select(s, args, n, false);
}

int imap_cmd_examine(struct imap_sess *s, const struct imapparse_arg *args, size_t n)
{
	return imap_do_select(s, args, n, true);
}

int imap_cmd_unselect(struct imap_sess *s, const struct imapparse_arg *args, size_t n)
{
	imap_sel_free(&s->sel);
	imap_set_state(s, IMAP_ST_AUTH);
	imap_ok(s, "Unselect completed.");
	return 0;
}

int imap_cmd_close(struct imap_sess *s, const struct imapparse_arg *args, size_t n)
{
	/* RFC 3501 section 6.4.2: expunge silently unless read-only. */
	if (!s->sel->readonly) {
		uint32_t *uids = NULL;
		size_t nu = 0;
		uint64_t modseq = 0;
		if (store_expunge_deleted(s->st, s->sel->folder_id, &uids, &nu, &modseq) < 0) {
			imap_no(s, "[SERVERBUG] Internal error.");
			return 0;
		}
		if (nu > 0)
			imap_publish_change(s, modseq);
		free(uids);
	}
	imap_sel_free(&s->sel);
	imap_set_state(s, IMAP_ST_AUTH);
	imap_ok(s, "Close completed.");
	return 0;
}
