/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* Message data for FETCH (and SEARCH): metadata, the derived ENVELOPE and
 * BODYSTRUCTURE strings and the MIME tree. ENVELOPE and BODYSTRUCTURE are
 * written from the tree (lib/proto/imapenv.c, imapbody.c) once in a
 * message's life, on first need, and kept in the store (messages.envelope,
 * messages.bodystructure); the tree comes from bodies.header_cache when it
 * is there, else from a parse. The tree itself holds no IMAP text: FETCH
 * BODY writes it anew from the tree each time.
 *
 * Why it is shaped this way (SQLCipher decrypts every page it reads):
 * - The root header is read from the start of bodies.raw with incremental
 *   blob I/O: SQLite walks the overflow chain only as far as the requested
 *   range, so a 10 MB message costs the pages of its header, not 10 MB. The
 *   header bytes therefore need no copy in the cache.
 * - bodies.header_cache holds "SMC1" followed by mime_cache_encode() of the
 *   tree (section offsets for BODY[n], BODY without extension data); it is
 *   used whenever present. Writing it is another matter: SQLite rewrites a
 *   whole row, raw body and overflow pages included, on UPDATE. Measured
 *   here, that costs about 20 ms per MB against about 3 ms per MB to parse
 *   again, while small messages parse in microseconds. So a FETCH writes it
 *   only when it needed the tree of a body between MC_TREE_CACHE_MIN and
 *   MC_TREE_CACHE_MAX bytes; ENVELOPE and BODYSTRUCTURE alone only update the
 *   small messages row. (Filling it where the body is first written, at
 *   import or APPEND, would cost nothing extra.)
 * - Loads share one read transaction per batch (a consistent snapshot: the
 *   body read is the body of the metadata read, even when another session
 *   expunges and a new message reuses the rowid), ended every
 *   MC_BATCH_LOADS loads or MC_BATCH_BYTES of raw reads so that a long FETCH
 *   does not pin the WAL. Cache writes are queued and written in one short
 *   write transaction per batch; they are an optimisation, so a busy
 *   database makes us drop them rather than wait.
 * Trust: post-auth; message content is untrusted and only lib/proto/mime.c parses
 * it. */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "imapd.h"
#include "sys/log.h"
#include "base/mem.h"
#include "proto/imapbody.h"
#include "proto/imapenv.h"
#include "proto/mime.h"

#define MC_BATCH_LOADS       256
#define MC_BATCH_BYTES       (8u << 20)
#define MC_PENDING_MAX       256
#define MC_PENDING_BYTES     (4u << 20)
#define MC_TREE_CACHE_MIN    (64u << 10)
#define MC_TREE_CACHE_MAX    (1u << 20)
#define MC_CHUNK             65536u
#define MC_HEADER_FIRST_READ 1024u
/* A cache write waits this long for another session's write lock. */
#define MC_WRITE_BUSY_MS 200
#define MC_MAGIC         "SMC1"
#define MC_MAGIC_LEN     4

struct mc_pending {
	uint32_t uid;
	char *envelope, *bodystructure;
	int64_t body_id;
	unsigned char *hc; /* NULL: no tree cache to write */
	size_t hc_len;
	bool hc_replace; /* the stored one is invalid: overwrite it */
};

struct imap_msgcache {
	struct store *st;
	sqlite3 *db;
	int64_t folder_id;
	bool in_read; /* our deferred read transaction is open */
	unsigned batch_loads;
	uint64_t batch_bytes;
	sqlite3_stmt *q_meta, *q_full, *q_hc, *u_msg, *u_body;
	sqlite3_blob *blob; /* raw of a message of this batch */
	bool blob_ok;       /* blob points at the loaded message */
	int64_t body_id;
	uint64_t raw_size;
	bool loaded, header_done;
	struct imap_msginfo mi;
	struct buf keywords, envelope, bodystructure, header;
	struct mime_part *tree;
	unsigned char *chunk; /* MC_CHUNK bytes */
	struct mc_pending *pend;
	size_t npend, pend_cap, pend_bytes;
};

static sqlite3_stmt *mc_prepare(struct imap_msgcache *mc, sqlite3_stmt **slot, const char *sql)
{
	if (*slot == NULL && sqlite3_prepare_v2(mc->db, sql, -1, slot, NULL) != SQLITE_OK) {
		log_event(LOG_ERR, "store-error", "REASON", sqlite3_errmsg(mc->db), NULL);
		*slot = NULL;
	}
	return *slot;
}

struct imap_msgcache *imap_msgcache_new(struct store *st, int64_t folder_id)
{
	struct imap_msgcache *mc = mem_zalloc(sizeof(*mc));
	mc->st = st;
	mc->db = store_db(st);
	mc->folder_id = folder_id;
	return mc;
}

static void mc_pending_clear(struct imap_msgcache *mc)
{
	for (size_t i = 0; i < mc->npend; i++) {
		free(mc->pend[i].envelope);
		free(mc->pend[i].bodystructure);
		free(mc->pend[i].hc);
	}
	mc->npend = 0;
	mc->pend_bytes = 0;
}

static void mc_blob_close(struct imap_msgcache *mc)
{
	if (mc->blob != NULL) {
		sqlite3_blob_close(mc->blob);
		mc->blob = NULL;
	}
	mc->blob_ok = false;
}

/* Forget the loaded message. The blob handle stays open for the next one
 * of the batch: moving it to another row (sqlite3_blob_reopen) is much
 * cheaper than compiling a new one. */
static void mc_unload(struct imap_msgcache *mc)
{
	mc->blob_ok = false;
	mime_free(&mc->tree);
	mc->loaded = false;
	mc->header_done = false;
	mc->raw_size = 0;
	memset(&mc->mi, 0, sizeof(mc->mi));
}

static void mc_exec(struct imap_msgcache *mc, const char *sql)
{
	if (sqlite3_exec(mc->db, sql, NULL, NULL, NULL) != SQLITE_OK)
		log_event(LOG_WARNING, "store-error", "REASON", sqlite3_errmsg(mc->db), NULL);
}

/* Write the queued cache entries in one transaction, or drop them. */
static void mc_flush(struct imap_msgcache *mc)
{
	if (mc->npend == 0)
		return;
	sqlite3_stmt *um = mc_prepare(mc, &mc->u_msg,
	                              "UPDATE messages SET envelope = coalesce(envelope, ?3), "
	                              "bodystructure = coalesce(bodystructure, ?4) "
	                              "WHERE folder_id = ?1 AND uid = ?2 AND "
	                              "(envelope IS NULL OR bodystructure IS NULL)");
	sqlite3_stmt *ub = mc_prepare(mc, &mc->u_body,
	                              "UPDATE bodies SET header_cache = ?2 "
	                              "WHERE id = ?1 AND (header_cache IS NULL OR ?3)");
	if (um == NULL || ub == NULL || !sqlite3_get_autocommit(mc->db)) {
		mc_pending_clear(mc);
		return;
	}
	sqlite3_busy_timeout(mc->db, MC_WRITE_BUSY_MS);
	bool ok = sqlite3_exec(mc->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) == SQLITE_OK;
	for (size_t i = 0; ok && i < mc->npend; i++) {
		const struct mc_pending *p = &mc->pend[i];
		if (p->envelope != NULL || p->bodystructure != NULL) {
			sqlite3_bind_int64(um, 1, mc->folder_id);
			sqlite3_bind_int64(um, 2, p->uid);
			sqlite3_bind_text(um, 3, p->envelope, -1, SQLITE_STATIC);
			sqlite3_bind_text(um, 4, p->bodystructure, -1, SQLITE_STATIC);
			ok = sqlite3_step(um) == SQLITE_DONE;
			sqlite3_reset(um);
			sqlite3_clear_bindings(um);
		}
		if (ok && p->hc != NULL) {
			sqlite3_bind_int64(ub, 1, p->body_id);
			sqlite3_bind_blob(ub, 2, p->hc, (int)p->hc_len, SQLITE_STATIC);
			sqlite3_bind_int(ub, 3, p->hc_replace ? 1 : 0);
			ok = sqlite3_step(ub) == SQLITE_DONE;
			sqlite3_reset(ub);
			sqlite3_clear_bindings(ub);
		}
	}
	if (ok && sqlite3_exec(mc->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
		ok = false;
	if (ok) {
		char cnt[24];
		/* 20 digits at most; no log line rather than a cut count. */
		int k = snprintf(cnt, sizeof(cnt), "%zu", mc->npend);
		if (k >= 0 && (size_t)k < sizeof(cnt))
			log_event(LOG_DEBUG, "cache-write", "COUNT", cnt, NULL);
	}
	if (!ok) {
		/* Another session holds the write lock, or the disk is full:
		 * the next FETCH parses again and retries. */
		log_event(LOG_INFO, "cache-write-skipped", "REASON", sqlite3_errmsg(mc->db), NULL);
		if (!sqlite3_get_autocommit(mc->db))
			sqlite3_exec(mc->db, "ROLLBACK", NULL, NULL, NULL);
	}
	sqlite3_busy_timeout(mc->db, STORE_BUSY_TIMEOUT_MS);
	mc_pending_clear(mc);
}

void imap_msgcache_release(struct imap_msgcache *mc)
{
	mc_unload(mc);
	mc_blob_close(mc);
	if (mc->in_read) {
		if (!sqlite3_get_autocommit(mc->db))
			mc_exec(mc, "COMMIT");
		mc->in_read = false;
	}
	mc_flush(mc);
}

void imap_msgcache_free(struct imap_msgcache **mcp)
{
	struct imap_msgcache *mc = *mcp;
	if (mc == NULL)
		return;
	imap_msgcache_release(mc);
	sqlite3_finalize(mc->q_meta);
	sqlite3_finalize(mc->q_full);
	sqlite3_finalize(mc->q_hc);
	sqlite3_finalize(mc->u_msg);
	sqlite3_finalize(mc->u_body);
	buf_free(&mc->keywords);
	buf_free(&mc->envelope);
	buf_free(&mc->bodystructure);
	buf_free(&mc->header);
	free(mc->chunk);
	free(mc->pend);
	free(mc);
	*mcp = NULL;
}

static int mc_blob_open(struct imap_msgcache *mc)
{
	if (mc->blob_ok)
		return 0;
	if (mc->blob != NULL && sqlite3_blob_reopen(mc->blob, mc->body_id) != SQLITE_OK)
		mc_blob_close(mc);
	if (mc->blob == NULL && sqlite3_blob_open(mc->db, "main", "bodies", "raw", mc->body_id, 0,
	                                          &mc->blob) != SQLITE_OK) {
		log_event(LOG_ERR, "store-error", "REASON", sqlite3_errmsg(mc->db), NULL);
		mc_blob_close(mc);
		return -1;
	}
	mc->blob_ok = true;
	mc->raw_size = (uint64_t)sqlite3_blob_bytes(mc->blob);
	return 0;
}

uint64_t imap_msgcache_raw_size(struct imap_msgcache *mc)
{
	if (mc->loaded && mc_blob_open(mc) < 0)
		return 0;
	return mc->raw_size;
}

int imap_msgcache_raw(struct imap_msgcache *mc, uint64_t off, void *out, size_t n)
{
	if (!mc->loaded || mc_blob_open(mc) < 0)
		return -1;
	if (n == 0)
		return 0;
	if (off > mc->raw_size || n > mc->raw_size - off || n > INT32_MAX)
		return -1;
	if (sqlite3_blob_read(mc->blob, out, (int)n, (int)off) != SQLITE_OK) {
		log_event(LOG_ERR, "store-error", "REASON", sqlite3_errmsg(mc->db), NULL);
		return -1;
	}
	mc->batch_bytes += n;
	return 0;
}

/* The root header (RFC 5322 section 2.1): everything up to and including the
 * first empty line, or the whole message when there is none. Lines end in
 * LF (CR before it is part of the line end), as lib/proto/mime.c splits them. */
static int mc_header(struct imap_msgcache *mc)
{
	if (mc->header_done)
		return 0;
	if (mc_blob_open(mc) < 0)
		return -1;
	buf_reset(&mc->header);
	size_t line = 0, end = 0;
	bool found = false;
	uint64_t want = MC_HEADER_FIRST_READ;
	while (!found && mc->header.len < mc->raw_size) {
		uint64_t left = mc->raw_size - mc->header.len;
		size_t n = (size_t)(want < left ? want : left);
		size_t old = mc->header.len;
		buf_reserve(&mc->header, n);
		if (imap_msgcache_raw(mc, old, mc->header.data + old, n) < 0)
			return -1;
		mc->header.len = old + n;
		mc->header.data[mc->header.len] = '\0';
		const unsigned char *d = mc->header.data;
		size_t len = mc->header.len;
		while (line < len) {
			const unsigned char *nl = memchr(d + line, '\n', len - line);
			if (nl == NULL)
				break;
			size_t l = (size_t)(nl - (d + line));
			if (l == 0 || (l == 1 && d[line] == '\r')) {
				end = line + l + 1;
				found = true;
				break;
			}
			line += l + 1;
		}
		if (want < MC_CHUNK)
			want *= 2;
	}
	if (!found)
		end = mc->header.len;
	buf_truncate(&mc->header, end);
	mc->mi.header = mc->header.data != NULL ? mc->header.data : (const unsigned char *)"";
	mc->mi.header_len = end;
	mc->header_done = true;
	return 0;
}

static void mc_queue(struct imap_msgcache *mc, const char *env, const char *bs,
                     const unsigned char *hc, size_t hc_len, bool hc_replace)
{
	if (mc->npend == mc->pend_cap) {
		mc->pend_cap = mc->pend_cap ? mc->pend_cap * 2 : 16;
		mc->pend = mem_realloc(mc->pend, mc->pend_cap, sizeof(*mc->pend));
	}
	struct mc_pending *p = &mc->pend[mc->npend++];
	memset(p, 0, sizeof(*p));
	p->uid = mc->mi.uid;
	p->body_id = mc->body_id;
	p->envelope = env != NULL ? mem_strdup(env) : NULL;
	p->bodystructure = bs != NULL ? mem_strdup(bs) : NULL;
	if (hc != NULL) {
		p->hc = mem_dup(hc, hc_len);
		p->hc_len = hc_len;
		p->hc_replace = hc_replace;
	}
	mc->pend_bytes += (env ? strlen(env) : 0) + (bs ? strlen(bs) : 0) + hc_len;
}

/* Parse the raw message (in chunks: memory stays bounded by the parser's
 * limits, not the message size), fill what was missing and queue it for the
 * store. hc_replace: the stored tree cache exists but is unusable. */
static int mc_parse(struct imap_msgcache *mc, bool for_tree, bool hc_replace)
{
	if (mc_blob_open(mc) < 0)
		return -1;
	if (mc->chunk == NULL)
		mc->chunk = mem_alloc(MC_CHUNK);
	struct mime_parser *p = mime_parser_init(NULL);
	for (uint64_t off = 0; off < mc->raw_size;) {
		uint64_t left = mc->raw_size - off;
		size_t n = left < MC_CHUNK ? (size_t)left : MC_CHUNK;
		if (imap_msgcache_raw(mc, off, mc->chunk, n) < 0) {
			struct mime_part *t = mime_parser_finish(&p);
			mime_free(&t);
			return -1;
		}
		mime_parser_feed(p, mc->chunk, n);
		off += n;
	}
	mime_free(&mc->tree);
	mc->tree = mime_parser_finish(&p);

	/* What the store already holds stays what the client sees; fresh
	 * values fill the gaps (the UPDATE only writes NULL columns), and only
	 * the gaps are written out from the tree. */
	struct buf hc = BUF_INIT;
	const char *env = NULL, *bs = NULL;
	if (mc->mi.envelope == NULL) {
		buf_reset(&mc->envelope);
		if (mc->tree->msg_fields != NULL)
			imapenv_envelope(mc->tree->msg_fields, &mc->envelope);
		else if (mc_header(mc) == 0) /* the parser always fills the root's */
			imapenv_envelope_header(mc->mi.header, mc->mi.header_len, &mc->envelope);
		else
			return -1;
		env = mc->mi.envelope = buf_cstr(&mc->envelope);
	}
	if (mc->mi.bodystructure == NULL) {
		buf_reset(&mc->bodystructure);
		imapbody_bodystructure(mc->tree, true, &mc->bodystructure);
		bs = mc->mi.bodystructure = buf_cstr(&mc->bodystructure);
	}
	if (for_tree && mc->raw_size > MC_TREE_CACHE_MIN && mc->raw_size <= MC_TREE_CACHE_MAX) {
		buf_append(&hc, MC_MAGIC, MC_MAGIC_LEN);
		mime_cache_encode(mc->tree, &hc);
	}
	if (env != NULL || bs != NULL || hc.len > 0)
		mc_queue(mc, env, bs, hc.len ? hc.data : NULL, hc.len, hc_replace);
	buf_free(&hc);
	return 0;
}

/* The tree from bodies.header_cache: 1 decoded, 0 absent or unusable (*bad_r
 * set when present but unusable), -1 error. */
static int mc_tree_cached(struct imap_msgcache *mc, bool *bad_r)
{
	*bad_r = false;
	sqlite3_stmt *q =
	    mc_prepare(mc, &mc->q_hc, "SELECT header_cache FROM bodies WHERE id = ?1");
	if (q == NULL)
		return -1;
	sqlite3_bind_int64(q, 1, mc->body_id);
	int rc = sqlite3_step(q), ret = 0;
	if (rc == SQLITE_ROW && sqlite3_column_type(q, 0) != SQLITE_NULL) {
		const unsigned char *d = sqlite3_column_blob(q, 0);
		size_t n = (size_t)sqlite3_column_bytes(q, 0);
		if (d != NULL && n > MC_MAGIC_LEN && memcmp(d, MC_MAGIC, MC_MAGIC_LEN) == 0 &&
		    mime_cache_decode(d + MC_MAGIC_LEN, n - MC_MAGIC_LEN, &mc->tree) == 0 &&
		    mime_message_size(mc->tree) == mc->raw_size)
			ret = 1;
		else
			*bad_r = true;
		if (ret == 0)
			mime_free(&mc->tree);
	} else if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		log_event(LOG_ERR, "store-error", "REASON", sqlite3_errmsg(mc->db), NULL);
		ret = -1;
	}
	sqlite3_reset(q);
	return ret;
}

static const char *mc_col_text(sqlite3_stmt *q, int col, struct buf *b)
{
	const unsigned char *t = sqlite3_column_text(q, col);
	if (t == NULL)
		return NULL;
	buf_reset(b);
	buf_append(b, t, (size_t)sqlite3_column_bytes(q, col));
	return buf_cstr(b);
}

int imap_msgcache_load(struct imap_msgcache *mc, uint32_t uid, unsigned need,
                       const struct imap_msginfo **mi_r)
{
	mc_unload(mc);
	if (mc->in_read &&
	    (mc->batch_loads >= MC_BATCH_LOADS || mc->batch_bytes >= MC_BATCH_BYTES ||
	     mc->npend >= MC_PENDING_MAX || mc->pend_bytes >= MC_PENDING_BYTES))
		imap_msgcache_release(mc);
	if (!mc->in_read && sqlite3_get_autocommit(mc->db)) {
		if (sqlite3_exec(mc->db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK) {
			log_event(LOG_ERR, "store-error", "REASON", sqlite3_errmsg(mc->db), NULL);
			return -1;
		}
		mc->in_read = true;
		mc->batch_loads = 0;
		mc->batch_bytes = 0;
	}
	mc->batch_loads++;

	bool ext = (need & (IMAP_MC_ENVELOPE | IMAP_MC_BODYSTRUCTURE)) != 0;
	sqlite3_stmt *q =
	    ext ? mc_prepare(mc, &mc->q_full,
	                     "SELECT modseq, flags, keywords, internaldate, size, body_id, "
	                     "envelope, bodystructure FROM messages "
	                     "WHERE folder_id = ?1 AND uid = ?2")
	        : mc_prepare(mc, &mc->q_meta,
	                     "SELECT modseq, flags, keywords, internaldate, size, body_id "
	                     "FROM messages WHERE folder_id = ?1 AND uid = ?2");
	if (q == NULL)
		return -1;
	sqlite3_bind_int64(q, 1, mc->folder_id);
	sqlite3_bind_int64(q, 2, uid);
	int rc = sqlite3_step(q);
	if (rc != SQLITE_ROW) {
		sqlite3_reset(q);
		if (rc == SQLITE_DONE)
			return 0;
		log_event(LOG_ERR, "store-error", "REASON", sqlite3_errmsg(mc->db), NULL);
		return -1;
	}
	struct imap_msginfo *mi = &mc->mi;
	mi->uid = uid;
	mi->modseq = (uint64_t)sqlite3_column_int64(q, 0);
	mi->flags = (unsigned)sqlite3_column_int(q, 1) & STORE_FLAGS_ALL;
	mi->keywords = mc_col_text(q, 2, &mc->keywords);
	if (mi->keywords == NULL)
		mi->keywords = "";
	mi->internaldate = sqlite3_column_int64(q, 3);
	mi->size = (uint64_t)sqlite3_column_int64(q, 4);
	mc->body_id = sqlite3_column_int64(q, 5);
	if (ext) {
		mi->envelope = mc_col_text(q, 6, &mc->envelope);
		mi->bodystructure = mc_col_text(q, 7, &mc->bodystructure);
	}
	sqlite3_reset(q);
	mc->loaded = true;

	bool parsed = false;
	if (((need & IMAP_MC_ENVELOPE) && mi->envelope == NULL) ||
	    ((need & IMAP_MC_BODYSTRUCTURE) && mi->bodystructure == NULL)) {
		if (mc_parse(mc, (need & IMAP_MC_TREE) != 0, false) < 0)
			goto fail;
		parsed = true;
	}
	if ((need & IMAP_MC_TREE) && !parsed) {
		if (mc_blob_open(mc) < 0)
			goto fail;
		bool bad;
		int r = mc_tree_cached(mc, &bad);
		if (r < 0)
			goto fail;
		if (r == 0 && mc_parse(mc, true, bad) < 0)
			goto fail;
	}
	if ((need & IMAP_MC_TREE) == 0)
		mime_free(&mc->tree);
	mi->tree = mc->tree;
	if ((need & IMAP_MC_HEADER) && mc_header(mc) < 0)
		goto fail;
	*mi_r = mi;
	return 1;
fail:
	mc_unload(mc);
	return -1;
}
