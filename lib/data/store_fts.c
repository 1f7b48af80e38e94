/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* Mailbox store: the searchable text of bodies behind IMAP SEARCH (store.h,
 * "Full-text index"; docs/STORE.md). store_append_locked indexes a new body
 * in the transaction that stores it; bodies of a migrated mailbox wait in
 * body_text_todo for store_text_index_pending.
 * Trust: post-auth (the caller holds MK); message text is extracted by the
 * pure code of lib/proto/msgtext.h. */
#include <stdint.h>

#include "base/buf.h"
#include "proto/msgtext.h"
#include "store_int.h"

/* Store a body's searchable text, which the triggers add to the full-text
 * indexes (inside the caller's transaction). */
int store_text_index_body(struct store *st, int64_t body_id, const void *data, size_t len)
{
	struct buf hdr = BUF_INIT, body = BUF_INIT;
	int rc = 0;
	msgtext_extract(data, len, &hdr, &body);
	/* msgtext bounds both texts far below INT_MAX. */
	const struct {
		enum store_stmt stmt;
		const struct buf *text;
	} rows[] = {{S_TEXT_HDR_INSERT, &hdr}, {S_TEXT_BODY_INSERT, &body}};
	for (size_t i = 0; i < 2 && rc == 0; i++) {
		sqlite3_stmt *s = store_stmt(st, rows[i].stmt);
		if (s == NULL) {
			rc = -1;
			break;
		}
		sqlite3_bind_int64(s, 1, body_id);
		sqlite3_bind_text(s, 2, rows[i].text->len ? (const char *)rows[i].text->data : "",
		                  (int)rows[i].text->len, SQLITE_STATIC);
		rc = store_step_done(st, s, "index text");
		sqlite3_clear_bindings(s);
	}

	buf_free(&hdr);
	buf_free(&body);
	return rc;
}

/* One transaction of store_text_index_pending: index up to max queued
 * bodies (and at most STORE_TEXT_BATCH_BYTES of raw text). 1 some were
 * indexed (*n_r), 0 the queue is empty, -1 error (rolled back). */
static int store_text_index_batch(struct store *st, size_t max, size_t *n_r)
{
	sqlite3_stmt *q = NULL, *raw = NULL, *del = NULL;
	size_t n = 0;
	uint64_t bytes = 0;
	*n_r = 0;
	if (store_begin(st) < 0)
		return -1;
	q = store_prepare(st, "SELECT body_id FROM body_text_todo ORDER BY body_id LIMIT ?1");
	/* A body already indexed (it cannot happen through this module, but a
	 * second row would fail the whole batch) is only dequeued. */
	raw = store_prepare(st, "SELECT raw FROM bodies WHERE id = ?1 AND NOT EXISTS "
	                        "(SELECT 1 FROM body_hdr WHERE id = ?1)");
	del = store_prepare(st, "DELETE FROM body_text_todo WHERE body_id = ?1");
	if (q == NULL || raw == NULL || del == NULL)
		goto fail;
	sqlite3_bind_int64(q, 1, (int64_t)max);
	int rc;
	while ((rc = sqlite3_step(q)) == SQLITE_ROW && bytes < STORE_TEXT_BATCH_BYTES) {
		int64_t id = sqlite3_column_int64(q, 0);
		sqlite3_reset(raw);
		sqlite3_bind_int64(raw, 1, id);
		int r = sqlite3_step(raw);
		if (r == SQLITE_ROW) {
			const void *p = sqlite3_column_blob(raw, 0);
			int len = sqlite3_column_bytes(raw, 0);
			bytes += (uint64_t)len;
			if (store_text_index_body(st, id, p != NULL ? p : "", (size_t)len) < 0)
				goto fail;
		} else if (r != SQLITE_DONE) {
			store_fail(st, "read body to index");
			goto fail;
		}
		sqlite3_reset(raw);
		sqlite3_reset(del);
		sqlite3_bind_int64(del, 1, id);
		if (store_step_done(st, del, "dequeue body") < 0)
			goto fail;
		n++;
	}
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		store_fail(st, "text queue");
		goto fail;
	}
	sqlite3_finalize(q);
	sqlite3_finalize(raw);
	sqlite3_finalize(del);
	if (store_commit(st) < 0)
		return -1;
	*n_r = n;
	return n > 0 ? 1 : 0;
fail:
	sqlite3_finalize(q);
	sqlite3_finalize(raw);
	sqlite3_finalize(del);
	store_rollback(st);
	return -1;
}

int store_text_index_pending(struct store *st, size_t max, size_t *done_r)
{
	size_t done = 0;
	if (done_r != NULL)
		*done_r = 0;
	/* Cheap when the queue is empty, which is the usual case: one read of
	 * an empty table, no write lock. */
	sqlite3_stmt *s = store_prepare(st, "SELECT 1 FROM body_text_todo LIMIT 1");
	if (s == NULL)
		return -1;
	int rc = sqlite3_step(s);
	sqlite3_finalize(s);
	if (rc == SQLITE_DONE)
		return 0;
	if (rc != SQLITE_ROW)
		return store_fail(st, "text queue");
	for (;;) {
		size_t want = STORE_TEXT_BATCH, n;
		if (max != 0 && max - done < want)
			want = max - done;
		if (want == 0)
			break;
		int r = store_text_index_batch(st, want, &n);
		if (r < 0)
			return -1;
		done += n;
		if (done_r != NULL)
			*done_r = done;
		if (r == 0)
			break;
	}
	return 0;
}
