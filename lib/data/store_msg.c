/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* Mailbox store: messages. Append (UID = UIDNEXT, a new mod-sequence), reads
 * of metadata and raw bodies, flag and keyword changes (RFC 7162 CONDSTORE),
 * expunge with its record for QRESYNC, and COPY/MOVE (RFC 3501 section
 * 6.4.7, RFC 6851). Every write runs in its own transaction or as a
 * savepoint of the caller's, and returns only after the COMMIT (durable with
 * synchronous=FULL) when it is the outermost one.
 * Trust: post-auth (the caller holds MK); message contents are stored as
 * they come, never parsed here. */
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"
#include "store_int.h"

/* ---- counters ---- */

/* Next mod-sequence of a folder (inside a transaction). */
int store_bump_modseq(struct store *st, int64_t folder_id, uint64_t *modseq_r)
{
	sqlite3_stmt *s = store_stmt(st, S_MODSEQ_BUMP);
	if (s == NULL)
		return -1;
	sqlite3_bind_int64(s, 1, folder_id);
	if (store_step_done(st, s, "bump modseq") < 0)
		return -1;
	if (sqlite3_changes(st->db) != 1)
		return store_fail_msg(st, "no such folder");
	s = store_stmt(st, S_FOLDER_COUNTERS);
	if (s == NULL)
		return -1;
	sqlite3_bind_int64(s, 1, folder_id);
	if (sqlite3_step(s) != SQLITE_ROW) {
		sqlite3_reset(s);
		return store_fail(st, "read modseq");
	}
	*modseq_r = (uint64_t)sqlite3_column_int64(s, 1);
	sqlite3_reset(s);
	return 0;
}

/* ---- append and read ---- */

/* Insert one message; the caller holds a transaction. keywords is already
 * in canonical form. */
int store_append_locked(struct store *st, int64_t folder_id, const void *data, size_t len,
                        int64_t internaldate, unsigned flags, const char *keywords, uint32_t *uid_r,
                        uint64_t *modseq_r)
{
	if (len > INT32_MAX)
		return store_fail_limit(st, "message too large for the store");
	sqlite3_stmt *s = store_stmt(st, S_FOLDER_COUNTERS);
	if (s == NULL)
		return -1;
	sqlite3_bind_int64(s, 1, folder_id);
	int rc = sqlite3_step(s);
	if (rc != SQLITE_ROW) {
		sqlite3_reset(s);
		return rc == SQLITE_DONE ? store_fail_msg(st, "no such folder")
		                         : store_fail(st, "folder counters");
	}
	int64_t uid = sqlite3_column_int64(s, 0);
	int64_t modseq = sqlite3_column_int64(s, 1) + 1;
	sqlite3_reset(s);
	/* UIDs are 32-bit (RFC 3501 section 2.3.1.1) and UIDNEXT must stay
	 * representable; a full folder needs a new UIDVALIDITY. */
	if (uid < 1 || uid >= (int64_t)UINT32_MAX)
		return store_fail_limit(st, "folder has run out of UIDs");

	s = store_stmt(st, S_BODY_INSERT);
	if (s == NULL)
		return -1;
	sqlite3_bind_int64(s, 1, (int64_t)len);
	sqlite3_bind_blob(s, 2, len ? data : "", (int)len, SQLITE_STATIC);
	if (store_step_done(st, s, "insert body") < 0)
		return -1;
	int64_t body_id = sqlite3_last_insert_rowid(st->db);
	if (store_text_index_body(st, body_id, data, len) < 0)
		return -1;

	s = store_stmt(st, S_MSG_INSERT);
	if (s == NULL)
		return -1;
	sqlite3_bind_int64(s, 1, folder_id);
	sqlite3_bind_int64(s, 2, uid);
	sqlite3_bind_int64(s, 3, modseq);
	sqlite3_bind_int(s, 4, (int)(flags & STORE_FLAGS_ALL));
	sqlite3_bind_text(s, 5, keywords != NULL ? keywords : "", -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 6, internaldate);
	sqlite3_bind_int64(s, 7, (int64_t)len);
	sqlite3_bind_int64(s, 8, body_id);
	if (store_step_done(st, s, "insert message") < 0)
		return -1;

	s = store_stmt(st, S_FOLDER_SET_COUNTERS);
	if (s == NULL)
		return -1;
	sqlite3_bind_int64(s, 1, folder_id);
	sqlite3_bind_int64(s, 2, uid + 1);
	sqlite3_bind_int64(s, 3, modseq);
	if (store_step_done(st, s, "update folder counters") < 0)
		return -1;
	if (uid_r != NULL)
		*uid_r = (uint32_t)uid;
	if (modseq_r != NULL)
		*modseq_r = (uint64_t)modseq;
	return 0;
}

/* Parse a caller's keyword list into kw: 0 ok, -1 with st's error, a limit
 * (store_error_is_limit) when it names more than STORE_KEYWORDS_MAX. */
static int store_keywords_parse(struct store *st, struct store_kwset *kw, const char *keywords)
{
	int rc = store_kwset_parse(kw, keywords, false);
	if (rc == STORE_KWSET_FULL)
		return store_fail_limit(st, "too many keywords");
	if (rc < 0)
		return store_fail_msg(st, "invalid keyword");
	return 0;
}

int store_append(struct store *st, int64_t folder_id, const void *data, size_t len,
                 int64_t internaldate, unsigned flags, const char *keywords, uint32_t *uid_r,
                 uint64_t *modseq_r)
{
	struct store_kwset kw = {0};
	struct buf kwtext = BUF_INIT;
	int rc = -1;
	if (store_keywords_parse(st, &kw, keywords) < 0)
		goto out;
	store_kwset_format(&kw, &kwtext);
	if (store_begin(st) < 0)
		goto out;
	if (store_append_locked(st, folder_id, data, len, internaldate, flags, buf_cstr(&kwtext),
	                        uid_r, modseq_r) < 0) {
		store_rollback(st);
		goto out;
	}
	rc = store_commit(st);
out:
	store_kwset_free(&kw);
	buf_free(&kwtext);
	return rc;
}

int store_message_count(struct store *st, int64_t folder_id, uint64_t *count_r, uint64_t *unseen_r)
{
	sqlite3_stmt *s = store_prepare(st, "SELECT count(*), "
	                                    "coalesce(sum((flags & 1) = 0), 0) FROM messages "
	                                    "WHERE folder_id = ?1");
	if (s == NULL)
		return -1;
	sqlite3_bind_int64(s, 1, folder_id);
	int rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		if (count_r != NULL)
			*count_r = (uint64_t)sqlite3_column_int64(s, 0);
		if (unseen_r != NULL)
			*unseen_r = (uint64_t)sqlite3_column_int64(s, 1);
	}
	sqlite3_finalize(s);
	return rc == SQLITE_ROW ? 0 : store_fail(st, "message count");
}

/* Step s (one uid column) to its end, finalize it, and collect the uids
 * into *v (the caller frees it): SQLITE_DONE, or the step's error. */
static int store_collect_uids(sqlite3_stmt *s, uint32_t **v, size_t *n)
{
	size_t cap = 0;
	int rc;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		if (*n == cap) {
			cap = cap ? cap * 2 : 64;
			*v = mem_realloc(*v, cap, sizeof(**v));
		}
		(*v)[(*n)++] = (uint32_t)sqlite3_column_int64(s, 0);
	}
	sqlite3_finalize(s);
	return rc;
}

int store_uids(struct store *st, int64_t folder_id, uint32_t **uids_r, size_t *n_r)
{
	*uids_r = NULL;
	*n_r = 0;
	sqlite3_stmt *s =
	    store_prepare(st, "SELECT uid FROM messages WHERE folder_id = ?1 ORDER BY uid");
	if (s == NULL)
		return -1;
	sqlite3_bind_int64(s, 1, folder_id);
	uint32_t *v = NULL;
	size_t n = 0;
	int rc = store_collect_uids(s, &v, &n);
	if (rc != SQLITE_DONE) {
		free(v);
		return store_fail(st, "uids");
	}
	*uids_r = v;
	*n_r = n;
	return 0;
}

int store_message_get(struct store *st, int64_t folder_id, uint32_t uid, struct store_msg *m)
{
	memset(m, 0, sizeof(*m));
	sqlite3_stmt *s = store_stmt(st, S_MSG_GET);
	if (s == NULL)
		return -1;
	sqlite3_bind_int64(s, 1, folder_id);
	sqlite3_bind_int64(s, 2, uid);
	int rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		m->uid = (uint32_t)sqlite3_column_int64(s, 0);
		m->modseq = (uint64_t)sqlite3_column_int64(s, 1);
		m->flags = (unsigned)sqlite3_column_int(s, 2);
		m->keywords = store_col_strdup(s, 3);
		if (m->keywords == NULL)
			m->keywords = mem_strdup("");
		m->internaldate = sqlite3_column_int64(s, 4);
		m->size = (uint64_t)sqlite3_column_int64(s, 5);
		sqlite3_reset(s);
		return 1;
	}
	sqlite3_reset(s);
	return rc == SQLITE_DONE ? 0 : store_fail(st, "message get");
}

void store_msg_clear(struct store_msg *m)
{
	free(m->keywords);
	memset(m, 0, sizeof(*m));
}

int store_fetch_raw(struct store *st, int64_t folder_id, uint32_t uid, struct buf *out)
{
	sqlite3_stmt *s = store_prepare(st, "SELECT b.raw FROM messages m JOIN bodies b "
	                                    "ON b.id = m.body_id WHERE m.folder_id = ?1 "
	                                    "AND m.uid = ?2");
	if (s == NULL)
		return -1;
	sqlite3_bind_int64(s, 1, folder_id);
	sqlite3_bind_int64(s, 2, uid);
	int rc = sqlite3_step(s), ret;
	if (rc == SQLITE_ROW) {
		const void *p = sqlite3_column_blob(s, 0);
		int n = sqlite3_column_bytes(s, 0);
		if (n > 0)
			buf_append(out, p, (size_t)n);
		ret = 1;
	} else {
		ret = rc == SQLITE_DONE ? 0 : store_fail(st, "fetch");
	}
	sqlite3_finalize(s);
	return ret;
}

/* ---- flags and expunge ---- */

/* The system flags after a STORE of flags with op (RFC 3501 section 6.4.6). */
static unsigned store_flags_apply(enum store_flag_op op, unsigned cur, unsigned flags)
{
	switch (op) {
	case STORE_FLAGS_REPLACE:
		return flags;
	case STORE_FLAGS_ADD:
		return cur | flags;
	case STORE_FLAGS_REMOVE:
		return cur & ~flags;
	}
	return cur;
}

/* Apply a STORE's keywords arg to the message's set cur. 0 ok, -1 the
 * message would carry more than STORE_KEYWORDS_MAX (cur is then partly
 * changed; the caller rolls back). */
static int store_keywords_apply(enum store_flag_op op, struct store_kwset *cur,
                                const struct store_kwset *arg)
{
	switch (op) {
	case STORE_FLAGS_REPLACE:
		/* arg holds at most STORE_KEYWORDS_MAX distinct valid keywords,
		 * so every add succeeds. */
		store_kwset_free(cur);
		for (size_t i = 0; i < arg->n; i++)
			store_kwset_add(cur, arg->kw[i], strlen(arg->kw[i]));
		break;
	case STORE_FLAGS_ADD:
		for (size_t i = 0; i < arg->n; i++)
			if (store_kwset_add(cur, arg->kw[i], strlen(arg->kw[i])) < 0)
				return -1;
		break;
	case STORE_FLAGS_REMOVE:
		for (size_t i = 0; i < arg->n; i++)
			store_kwset_remove(cur, arg->kw[i], strlen(arg->kw[i]));
		break;
	}
	return 0;
}

int store_set_flags(struct store *st, int64_t folder_id, uint32_t uid, enum store_flag_op op,
                    unsigned flags, const char *keywords, uint64_t unchangedsince,
                    uint64_t *modseq_r)
{
	struct store_kwset cur = {0}, arg = {0};
	struct buf before = BUF_INIT, after = BUF_INIT;
	int ret = -1;
	flags &= STORE_FLAGS_ALL;
	/* Validate the argument before taking the lock. */
	if (store_keywords_parse(st, &arg, keywords) < 0)
		goto out;
	if (store_begin(st) < 0)
		goto out;
	sqlite3_stmt *s = store_stmt(st, S_MSG_GET);
	if (s == NULL)
		goto rollback;
	sqlite3_bind_int64(s, 1, folder_id);
	sqlite3_bind_int64(s, 2, uid);
	int rc = sqlite3_step(s);
	if (rc != SQLITE_ROW) {
		sqlite3_reset(s);
		if (rc != SQLITE_DONE) {
			store_fail(st, "flags get");
			goto rollback;
		}
		ret = 0;
		goto rollback;
	}
	uint64_t modseq = (uint64_t)sqlite3_column_int64(s, 1);
	unsigned oldflags = (unsigned)sqlite3_column_int(s, 2) & STORE_FLAGS_ALL;
	const unsigned char *kwt = sqlite3_column_text(s, 3);
	int prc = store_kwset_parse(&cur, kwt != NULL ? (const char *)kwt : "", false);
	sqlite3_reset(s);
	if (prc < 0) {
		store_fail_msg(st, "stored keywords are invalid");
		goto rollback;
	}
	if (unchangedsince != 0 && modseq > unchangedsince) {
		ret = 0; /* RFC 7162 section 3.2: reported as MODIFIED by the caller */
		goto rollback;
	}
	store_kwset_format(&cur, &before);
	unsigned newflags = store_flags_apply(op, oldflags, flags);
	if (store_keywords_apply(op, &cur, &arg) < 0) {
		store_fail_limit(st, "too many keywords on the message");
		goto rollback;
	}
	store_kwset_format(&cur, &after);
	if (newflags == oldflags && strcmp(buf_cstr(&before), buf_cstr(&after)) == 0) {
		if (store_commit(st) < 0)
			goto out;
		if (modseq_r != NULL)
			*modseq_r = modseq;
		ret = 1;
		goto out;
	}
	if (store_bump_modseq(st, folder_id, &modseq) < 0)
		goto rollback;
	s = store_stmt(st, S_MSG_SET_FLAGS);
	if (s == NULL)
		goto rollback;
	sqlite3_bind_int64(s, 1, folder_id);
	sqlite3_bind_int64(s, 2, uid);
	sqlite3_bind_int(s, 3, (int)newflags);
	sqlite3_bind_text(s, 4, buf_cstr(&after), -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 5, (int64_t)modseq);
	if (store_step_done(st, s, "set flags") < 0)
		goto rollback;
	if (store_commit(st) < 0)
		goto out;
	if (modseq_r != NULL)
		*modseq_r = modseq;
	ret = 1;
	goto out;
rollback:
	store_rollback(st);
out:
	store_kwset_free(&cur);
	store_kwset_free(&arg);
	buf_free(&before);
	buf_free(&after);
	return ret;
}

int store_expunge(struct store *st, int64_t folder_id, const uint32_t *uids, size_t n,
                  size_t *removed_r, uint64_t *modseq_r)
{
	size_t removed = 0;
	uint64_t modseq = 0;
	if (store_begin(st) < 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		sqlite3_stmt *s = store_stmt(st, S_MSG_DELETE);
		if (s == NULL)
			goto fail;
		sqlite3_bind_int64(s, 1, folder_id);
		sqlite3_bind_int64(s, 2, uids[i]);
		if (store_step_done(st, s, "expunge") < 0)
			goto fail;
		if (sqlite3_changes(st->db) == 0)
			continue;
		/* One mod-sequence for the whole command (RFC 7162 section 3.2.10
		 * only needs VANISHED (EARLIER) to find UIDs expunged after a
		 * client's last known value). */
		if (modseq == 0 && store_bump_modseq(st, folder_id, &modseq) < 0)
			goto fail;
		s = store_stmt(st, S_EXPUNGED_ADD);
		if (s == NULL)
			goto fail;
		sqlite3_bind_int64(s, 1, folder_id);
		sqlite3_bind_int64(s, 2, uids[i]);
		sqlite3_bind_int64(s, 3, (int64_t)modseq);
		if (store_step_done(st, s, "record expunge") < 0)
			goto fail;
		removed++;
	}
	if (store_commit(st) < 0)
		return -1;
	if (removed_r != NULL)
		*removed_r = removed;
	if (modseq_r != NULL)
		*modseq_r = modseq;
	return 0;
fail:
	store_rollback(st);
	return -1;
}

int store_expunge_deleted(struct store *st, int64_t folder_id, uint32_t **uids_r, size_t *n_r,
                          uint64_t *modseq_r)
{
	*uids_r = NULL;
	*n_r = 0;
	if (store_begin(st) < 0)
		return -1;
	sqlite3_stmt *s = store_prepare(st, "SELECT uid FROM messages WHERE folder_id = ?1 "
	                                    "AND (flags & 8) != 0 ORDER BY uid");
	if (s == NULL) {
		store_rollback(st);
		return -1;
	}
	sqlite3_bind_int64(s, 1, folder_id);
	uint32_t *v = NULL;
	size_t n = 0;
	int rc = store_collect_uids(s, &v, &n);
	if (rc != SQLITE_DONE) {
		store_fail(st, "select deleted");
		goto fail;
	}
	if (store_expunge(st, folder_id, v, n, NULL, modseq_r) < 0)
		goto fail;
	if (store_commit(st) < 0) {
		free(v);
		return -1;
	}
	*uids_r = v;
	*n_r = n;
	return 0;
fail:
	free(v);
	store_rollback(st);
	return -1;
}

/* ---- copy and move ---- */

int store_copy(struct store *st, int64_t from_folder, const uint32_t *uids, size_t n,
               int64_t to_folder, bool move, uint32_t **src_uids_r, uint32_t **dst_uids_r,
               size_t *n_r, uint64_t *src_modseq_r)
{
	uint32_t *src = mem_array(n ? n : 1, sizeof(*src));
	uint32_t *dst = mem_array(n ? n : 1, sizeof(*dst));
	size_t k = 0;
	uint64_t modseq = 0;
	*src_uids_r = *dst_uids_r = NULL;
	*n_r = 0;
	if (src_modseq_r != NULL)
		*src_modseq_r = 0;
	if (store_begin(st) < 0)
		goto fail_nt;
	sqlite3_stmt *sel =
	    store_prepare(st, "SELECT flags, keywords, internaldate, size, body_id, "
	                      "envelope, bodystructure FROM messages "
	                      "WHERE folder_id = ?1 AND uid = ?2");
	sqlite3_stmt *ins = store_prepare(
	    st, "INSERT INTO messages(folder_id, uid, modseq, flags, keywords, internaldate, "
	        "size, body_id, envelope, bodystructure) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, "
	        "?9, ?10)");
	sqlite3_stmt *cnt = store_stmt(st, S_FOLDER_COUNTERS);
	if (sel == NULL || ins == NULL || cnt == NULL)
		goto fail;
	sqlite3_bind_int64(cnt, 1, to_folder);
	if (sqlite3_step(cnt) != SQLITE_ROW) {
		sqlite3_reset(cnt);
		store_fail_msg(st, "no such folder");
		goto fail;
	}
	int64_t uidnext = sqlite3_column_int64(cnt, 0);
	modseq = (uint64_t)sqlite3_column_int64(cnt, 1) + 1;
	sqlite3_reset(cnt);
	for (size_t i = 0; i < n; i++) {
		sqlite3_reset(sel);
		sqlite3_bind_int64(sel, 1, from_folder);
		sqlite3_bind_int64(sel, 2, uids[i]);
		int rc = sqlite3_step(sel);
		if (rc == SQLITE_DONE)
			continue;
		if (rc != SQLITE_ROW) {
			store_fail(st, "copy read");
			goto fail;
		}
		if (uidnext >= (int64_t)UINT32_MAX) {
			store_fail_limit(st, "folder has run out of UIDs");
			goto fail;
		}
		sqlite3_reset(ins);
		sqlite3_bind_int64(ins, 1, to_folder);
		sqlite3_bind_int64(ins, 2, uidnext);
		sqlite3_bind_int64(ins, 3, (int64_t)modseq);
		for (int c = 0; c < 7; c++)
			sqlite3_bind_value(ins, 4 + c, sqlite3_column_value(sel, c));
		if (sqlite3_step(ins) != SQLITE_DONE) {
			store_fail(st, "copy insert");
			goto fail;
		}
		src[k] = uids[i];
		dst[k] = (uint32_t)uidnext++;
		k++;
	}
	if (k > 0) {
		sqlite3_stmt *u = store_stmt(st, S_FOLDER_SET_COUNTERS);
		if (u == NULL)
			goto fail;
		sqlite3_bind_int64(u, 1, to_folder);
		sqlite3_bind_int64(u, 2, uidnext);
		sqlite3_bind_int64(u, 3, (int64_t)modseq);
		if (store_step_done(st, u, "copy counters") < 0)
			goto fail;
	}
	sqlite3_finalize(sel);
	sqlite3_finalize(ins);
	sel = ins = NULL;
	if (move && k > 0 && store_expunge(st, from_folder, src, k, NULL, src_modseq_r) < 0)
		goto fail;
	if (store_commit(st) < 0)
		goto fail_nt;
	*src_uids_r = src;
	*dst_uids_r = dst;
	*n_r = k;
	return 0;
fail:
	if (sel != NULL)
		sqlite3_finalize(sel);
	if (ins != NULL)
		sqlite3_finalize(ins);
	store_rollback(st);
fail_nt:
	free(src);
	free(dst);
	return -1;
}
