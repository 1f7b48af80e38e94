/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* SEARCH and UID SEARCH (RFC 3501 section 6.4.4) with the MODSEQ criterion
 * and result of CONDSTORE (RFC 7162 section 3.1.5). lib/proto/imapsearch.h parses
 * the criteria; this file evaluates the tree over the selected mailbox's
 * view. Trust: post-auth; the criteria and the messages are untrusted.
 *
 * Evaluation: the per-message metadata (flags, keywords, dates, sizes,
 * mod-sequences) comes from one scan of the messages table. The tree is
 * evaluated key by key over a mask of the messages still in question, cheap
 * keys first, so that AND, OR and NOT never run an expensive key on a
 * message whose result is already known.
 *
 * Header keys (FROM TO CC BCC SUBJECT HEADER) and SENT* read the folded,
 * RFC 2047-decoded header text that the store keeps per body (store.h,
 * "Full-text index"; lib/proto/msgtext.h), never the message itself.
 *
 * What matches, exactly (all comparisons ignore case, lib/proto/msgtext.h):
 *   - FROM TO CC BCC SUBJECT HEADER: a substring of the field's unfolded,
 *     decoded value (RFC 3501 to the letter); HEADER with "" matches any
 *     message that has the field. With more than SRCH_DIRECT_MAX messages in
 *     question and a needle with a word after a separator ("bob@example",
 *     "r report"), the FTS phrase of the words from the second on narrows
 *     the candidates first: any text containing the needle contains that
 *     phrase, so this changes nothing but the speed.
 *   - SENTBEFORE SENTON SENTSINCE: the calendar date written in the Date:
 *     field; the internal date when there is none or it does not parse.
 *   - BODY and TEXT (TEXT: header text or body text) follow the full-text
 *     index, the way Dovecot's FTS plugins do:
 *       one word of SRCH_PREFIX_MIN characters or more ("invoice"): a word
 *         that begins with it, ignoring diacritics too (FTS4 unicode61), so
 *         "ello" does not find "hello", while "cafe" finds "Café";
 *       a needle with separators ("quick brown", "bob@ex", "i,"): a
 *         substring, verified on the stored text, of the candidates whose
 *         words match the FTS phrase of the needle's words (the last one a
 *         prefix when it ends the needle); the phrase makes the first word
 *         begin a word, so "lo wor" does not find "hello world" (but " wor",
 *         which starts with a separator, does);
 *       anything else (no word at all, a lone word shorter than
 *         SRCH_PREFIX_MIN characters at the end of the needle as in "ab" or
 *         ", a", or text in a script written without spaces: CJK, Thai, ...,
 *         where words are not tokens): an exact substring, checked on every
 *         message in question;
 *       "": every message.
 *     Words are runs of ASCII letters and digits and any non-ASCII
 *     characters; the FTS4 tokenizer decides the rest. */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "imapd.h"
#include "proto/imapsearch.h"
#include "sys/log.h"
#include "base/mem.h"
#include "proto/msgtext.h"

/* Up to this many messages in question, verify each one directly. */
#define SRCH_DIRECT_MAX 64
/* Shortest word matched as an FTS prefix (characters): "a*" would expand to
 * most of the vocabulary and cost more than a scan. */
#define SRCH_PREFIX_MIN 3
/* Words of a needle that go into an FTS phrase: a phrase of its first words
 * is a necessary condition just as well, and a long one costs a doclist per
 * word. */
#define SRCH_FTS_MAX_WORDS 16
/* Criteria that read stored text (header, SENT*, BODY, TEXT) in one SEARCH:
 * each may have to read every message's text. */
#define SRCH_MAX_TEXT_KEYS 64

enum srch_cost { SRCH_COST_META, SRCH_COST_HEADER, SRCH_COST_TEXT };

struct srch_msg {
	uint32_t uid;
	bool present; /* still in the store */
	bool recent;
	unsigned flags;
	int64_t internaldate;
	int64_t body_id;
	uint64_t size, modseq;
	char *keywords; /* only when a KEYWORD key needs them */
};

/* body_id -> message index, sorted by body_id (COPY can make several
 * messages of the mailbox share one body). */
struct srch_ref {
	int64_t body_id;
	size_t idx;
};

struct srch {
	struct imap_sess *s;
	sqlite3 *db;
	struct srch_msg *m;
	size_t n;
	struct srch_ref *refs; /* n entries, built on first need */
	sqlite3_stmt *q_hdr, *q_body, *q_raw;
	struct buf needle, scratch_hdr, scratch_body;
};

/* ---- the tree ------------------------------------------------------------ */

static enum srch_cost srch_cost(const struct imapsearch_key *k)
{
	switch (k->kind) {
	case IMAPSEARCH_AND:
	case IMAPSEARCH_OR:
	case IMAPSEARCH_NOT: {
		enum srch_cost c = SRCH_COST_META;
		for (size_t i = 0; i < k->nsub; i++) {
			enum srch_cost sc = srch_cost(&k->sub[i]);
			if (sc > c)
				c = sc;
		}
		return c;
	}
	case IMAPSEARCH_BODY:
	case IMAPSEARCH_TEXT:
		return SRCH_COST_TEXT;
	case IMAPSEARCH_BCC:
	case IMAPSEARCH_CC:
	case IMAPSEARCH_FROM:
	case IMAPSEARCH_SUBJECT:
	case IMAPSEARCH_TO:
	case IMAPSEARCH_HEADER:
	case IMAPSEARCH_SENTBEFORE:
	case IMAPSEARCH_SENTON:
	case IMAPSEARCH_SENTSINCE:
		return SRCH_COST_HEADER;
	default:
		return SRCH_COST_META;
	}
}

/* Walk the tree: resolve '*' in sets and note what the evaluation needs;
 * *textkeys counts the keys that read stored text. */
static void srch_prepare(struct imapsearch_key *k, const struct imap_sel *sel, bool *keywords,
                         bool *modseq, size_t *textkeys)
{
	if (k->kind != IMAPSEARCH_AND && k->kind != IMAPSEARCH_OR && k->kind != IMAPSEARCH_NOT &&
	    srch_cost(k) != SRCH_COST_META)
		(*textkeys)++;
	switch (k->kind) {
	case IMAPSEARCH_SEQSET:
		/* A number beyond the mailbox matches nothing (resolving as UIDs
		 * keeps such numbers instead of failing the whole set). */
		seqset_resolve(&k->set, (uint32_t)sel->count, true);
		break;
	case IMAPSEARCH_UID:
		seqset_resolve(&k->set, sel->count ? sel->msgs[sel->count - 1].uid : 0, true);
		break;
	case IMAPSEARCH_KEYWORD:
	case IMAPSEARCH_UNKEYWORD:
		*keywords = true;
		break;
	case IMAPSEARCH_MODSEQ:
		*modseq = true;
		break;
	default:
		break;
	}
	for (size_t i = 0; i < k->nsub; i++)
		srch_prepare(&k->sub[i], sel, keywords, modseq, textkeys);
}

/* ---- metadata ------------------------------------------------------------- */

static int srch_load(struct srch *x, bool keywords)
{
	const struct imap_sel *sel = x->s->sel;
	sqlite3_stmt *q;
	if (sqlite3_prepare_v2(x->db,
	                       keywords ? "SELECT uid, modseq, flags, internaldate, size, body_id, "
	                                  "keywords FROM messages WHERE folder_id = ? ORDER BY uid"
	                                : "SELECT uid, modseq, flags, internaldate, size, body_id "
	                                  "FROM messages WHERE folder_id = ? ORDER BY uid",
	                       -1, &q, NULL) != SQLITE_OK)
		return -1;
	for (size_t i = 0; i < x->n; i++) {
		x->m[i].uid = sel->msgs[i].uid;
		x->m[i].recent = sel->msgs[i].recent;
	}
	sqlite3_bind_int64(q, 1, sel->folder_id);
	/* Both in ascending UID order: a merge. Messages another session
	 * expunged that we have not reported yet stay !present and match
	 * nothing. */
	size_t i = 0;
	int rc;
	while ((rc = sqlite3_step(q)) == SQLITE_ROW && i < x->n) {
		uint32_t uid = (uint32_t)sqlite3_column_int64(q, 0);
		while (i < x->n && x->m[i].uid < uid)
			i++;
		if (i == x->n || x->m[i].uid != uid)
			continue;
		struct srch_msg *m = &x->m[i++];
		m->present = true;
		m->modseq = (uint64_t)sqlite3_column_int64(q, 1);
		m->flags = (unsigned)sqlite3_column_int(q, 2);
		m->internaldate = sqlite3_column_int64(q, 3);
		m->size = (uint64_t)sqlite3_column_int64(q, 4);
		m->body_id = sqlite3_column_int64(q, 5);
		if (keywords) {
			const char *kw = (const char *)sqlite3_column_text(q, 6);
			m->keywords = mem_strdup(kw ? kw : "");
		}
	}
	sqlite3_finalize(q);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -1;
}

static bool srch_has_keyword(const char *list, const char *kw)
{
	size_t l = strlen(kw);
	const char *p = list;
	while (p != NULL && *p) {
		const char *sp = strchr(p, ' ');
		size_t wl = sp ? (size_t)(sp - p) : strlen(p);
		/* flags are case-insensitive (RFC 3501 section 2.3.2) */
		if (wl == l && strncasecmp(p, kw, l) == 0)
			return true;
		p = sp ? sp + 1 : NULL;
	}
	return false;
}

/* A date as a comparable number yyyymmdd. */
static long srch_ymd(int y, int m, int d)
{
	return (long)y * 10000 + m * 100 + d;
}

/* RFC 3501 section 6.4.4: BEFORE/ON/SINCE compare the internal date
 * "disregarding time and timezone", i.e. its calendar date in the server's
 * time zone, the zone FETCH INTERNALDATE uses. */
static long srch_internal_ymd(int64_t t)
{
	time_t tt = (time_t)t;
	struct tm tm;
	if (localtime_r(&tt, &tm) == NULL)
		return 0;
	return srch_ymd(tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
}

/* The calendar date of an RFC 5322 section 3.3 date-time (folded text:
 * lower case), as written, time and zone disregarded (RFC 3501 section
 * 6.4.4, SENT*). Accepts the obsolete forms of section 4.3 (two- and
 * three-digit years, comments). 0 when unparseable. */
static long srch_parse_sent(const unsigned char *s, size_t n)
{
	static const char months[] = "janfebmaraprmayjunjulaugsepoctnovdec";
	size_t i = 0;
	int day = 0, mon = 0, year = 0, nd = 0;
	/* skip white space, comments and an optional "dow," */
	for (;;) {
		while (i < n && (s[i] == ' ' || s[i] == '\t'))
			i++;
		if (i < n && s[i] == '(') {
			int depth = 0;
			for (; i < n; i++) {
				if (s[i] == '(')
					depth++;
				else if (s[i] == ')' && --depth == 0) {
					i++;
					break;
				}
			}
			continue;
		}
		if (i < n && s[i] >= 'a' && s[i] <= 'z') {
			while (i < n && s[i] >= 'a' && s[i] <= 'z')
				i++;
			if (i < n && s[i] == ',')
				i++;
			continue;
		}
		break;
	}
	for (; i < n && s[i] >= '0' && s[i] <= '9' && nd < 3; i++, nd++)
		day = day * 10 + (s[i] - '0');
	if (nd == 0 || nd > 2)
		return 0;
	while (i < n && (s[i] == ' ' || s[i] == '-'))
		i++;
	if (n - i < 3)
		return 0;
	for (int k = 0; k < 12; k++)
		if (memcmp(s + i, months + 3 * k, 3) == 0)
			mon = k + 1;
	if (mon == 0)
		return 0;
	i += 3;
	while (i < n && s[i] >= 'a' && s[i] <= 'z')
		i++; /* "january" */
	while (i < n && (s[i] == ' ' || s[i] == '-'))
		i++;
	for (nd = 0; i < n && s[i] >= '0' && s[i] <= '9' && nd < 5; i++, nd++)
		year = year * 10 + (s[i] - '0');
	if (nd < 2 || nd > 4)
		return 0;
	/* RFC 5322 section 4.3 */
	if (nd == 2)
		year += year < 50 ? 2000 : 1900;
	else if (nd == 3)
		year += 1900;
	if (day < 1 || day > 31)
		return 0;
	return srch_ymd(year, mon, day);
}

/* ---- the text index ------------------------------------------------------- */

static int srch_ref_cmp(const void *a, const void *b)
{
	const struct srch_ref *x = a, *y = b;
	if (x->body_id != y->body_id)
		return x->body_id < y->body_id ? -1 : 1;
	return x->idx < y->idx ? -1 : x->idx > y->idx;
}

static void srch_build_refs(struct srch *x)
{
	if (x->refs != NULL)
		return;
	x->refs = mem_array(x->n ? x->n : 1, sizeof(*x->refs));
	for (size_t i = 0; i < x->n; i++) {
		x->refs[i].body_id = x->m[i].present ? x->m[i].body_id : -1;
		x->refs[i].idx = i;
	}
	qsort(x->refs, x->n, sizeof(*x->refs), srch_ref_cmp);
}

/* First ref with body_id, or x->n. */
static size_t srch_ref_find(const struct srch *x, int64_t body_id)
{
	size_t lo = 0, hi = x->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (x->refs[mid].body_id < body_id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < x->n && x->refs[lo].body_id == body_id ? lo : x->n;
}

static sqlite3_stmt *srch_stmt(struct srch *x, sqlite3_stmt **slot, const char *sql)
{
	if (*slot == NULL && sqlite3_prepare_v2(x->db, sql, -1, slot, NULL) != SQLITE_OK) {
		log_event(LOG_ERR, "store-error", "REASON", sqlite3_errmsg(x->db), NULL);
		*slot = NULL;
		return NULL;
	}
	sqlite3_reset(*slot);
	return *slot;
}

/* Load the stored text of a body into x->scratch_hdr (want_body false) or
 * x->scratch_body (true), from the plain tables, which are cheap to read by
 * id. A body the index lacks (it should not happen) is extracted from the
 * raw message. 0 ok, -1 error. */
static int srch_load_text(struct srch *x, int64_t body_id, bool want_body)
{
	struct buf *out = want_body ? &x->scratch_body : &x->scratch_hdr;
	buf_reset(out);
	sqlite3_stmt *q = want_body
	                      ? srch_stmt(x, &x->q_body, "SELECT body FROM body_text WHERE id = ?")
	                      : srch_stmt(x, &x->q_hdr, "SELECT hdr FROM body_hdr WHERE id = ?");
	if (q == NULL)
		return -1;
	sqlite3_bind_int64(q, 1, body_id);
	int rc = sqlite3_step(q);
	if (rc == SQLITE_ROW) {
		const unsigned char *t = sqlite3_column_text(q, 0);
		buf_append(out, t ? t : (const unsigned char *)"",
		           (size_t)sqlite3_column_bytes(q, 0));
		sqlite3_reset(q);
		return 0;
	}
	sqlite3_reset(q);
	if (rc != SQLITE_DONE)
		return -1;
	q = srch_stmt(x, &x->q_raw, "SELECT raw FROM bodies WHERE id = ?");
	if (q == NULL)
		return -1;
	sqlite3_bind_int64(q, 1, body_id);
	rc = sqlite3_step(q);
	if (rc == SQLITE_ROW) {
		struct buf other = BUF_INIT;
		const void *p = sqlite3_column_blob(q, 0);
		size_t len = (size_t)sqlite3_column_bytes(q, 0);
		if (want_body)
			msgtext_extract(p ? p : "", len, &other, out);
		else
			msgtext_extract(p ? p : "", len, out, &other);
		buf_free(&other);
	}
	sqlite3_reset(q);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -1;
}

static bool srch_is_word_byte(unsigned char c)
{
	/* Folded text: ASCII letters are lower case. Non-ASCII bytes count as
	 * word characters: unicode61 treats most of them so, and treating a
	 * separator as a word character only makes a query less selective,
	 * never wrong (see srch_fts_query). */
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c >= 0x80;
}

/* Characters (not bytes) in n bytes of UTF-8. */
static size_t srch_chars(const unsigned char *s, size_t n)
{
	size_t c = 0;
	for (size_t i = 0; i < n; i++)
		c += (s[i] & 0xC0) != 0x80;
	return c;
}

/* True when the (valid UTF-8) needle has a character of a script written
 * without spaces between words, where an FTS token is a whole phrase and
 * word starts mean nothing: Thai, Lao, Tibetan, Myanmar, Khmer, the CJK
 * blocks with kana, Yi and Hangul, halfwidth kana. */
static bool srch_spaceless(const unsigned char *s, size_t n)
{
	for (size_t i = 0; i < n;) {
		uint32_t c = s[i];
		size_t l = 1;
		if (c >= 0xF0 && i + 3 < n) {
			c = ((c & 0x07) << 18) | ((s[i + 1] & 0x3Fu) << 12) |
			    ((s[i + 2] & 0x3Fu) << 6) | (s[i + 3] & 0x3Fu);
			l = 4;
		} else if (c >= 0xE0 && i + 2 < n) {
			c = ((c & 0x0F) << 12) | ((s[i + 1] & 0x3Fu) << 6) | (s[i + 2] & 0x3Fu);
			l = 3;
		} else if (c >= 0xC0 && i + 1 < n) {
			c = ((c & 0x1F) << 6) | (s[i + 1] & 0x3Fu);
			l = 2;
		}
		if ((c >= 0x0E00 && c <= 0x0FFF) || (c >= 0x1000 && c <= 0x109F) ||
		    (c >= 0x1780 && c <= 0x17FF) || (c >= 0x2E80 && c <= 0xA4CF) ||
		    (c >= 0xAC00 && c <= 0xD7AF) || (c >= 0xF900 && c <= 0xFAFF) ||
		    (c >= 0xFF66 && c <= 0xFF9F) || (c >= 0x20000 && c <= 0x3FFFF))
			return true;
		i += l;
	}
	return false;
}

enum srch_fts {
	SRCH_FTS_NONE,   /* the index cannot help: verify every message */
	SRCH_FTS_VERIFY, /* the query narrows down, each candidate is verified */
	SRCH_FTS_FINAL,  /* the query's result is the answer (one word) */
};

/* Build the FTS4 MATCH expression for a folded needle (rules in the file
 * comment). Words are runs of word bytes, separated by anything else.
 * word_start: BODY and TEXT, whose needles match where a word begins, so
 * the first word is a token start; else (header keys) the first word may
 * end a longer token and is left out, which keeps the query a necessary
 * condition of the substring match. */
static enum srch_fts srch_fts_query(const unsigned char *s, size_t n, bool word_start,
                                    struct buf *q)
{
	size_t i = 0, words = 0, last_len = 0;
	bool first_partial = n > 0 && srch_is_word_byte(s[0]);
	bool last_partial = n > 0 && srch_is_word_byte(s[n - 1]);
	buf_reset(q);
	buf_append_byte(q, '"');
	while (i < n) {
		while (i < n && !srch_is_word_byte(s[i]))
			i++;
		size_t start = i;
		while (i < n && srch_is_word_byte(s[i]))
			i++;
		if (i == start)
			break;
		if (start == 0 && first_partial && !word_start)
			continue;
		if (words == SRCH_FTS_MAX_WORDS) {
			/* The words kept are whole words of the needle. */
			last_partial = false;
			break;
		}
		if (words++)
			buf_append_byte(q, ' ');
		/* Inside a phrase only '"' and a trailing '*' are special; words
		 * hold neither. */
		buf_append(q, s + start, i - start);
		last_len = i - start;
	}
	if (words == 0 || srch_spaceless(s, n))
		return SRCH_FTS_NONE;
	bool one_word = words == 1 && last_len == n;
	if (last_partial) {
		/* A short prefix alone expands to much of the vocabulary and
		 * costs more than verifying every message; after other words of
		 * a phrase even one letter narrows the candidates a lot. */
		if (words == 1 &&
		    srch_chars(q->data + q->len - last_len, last_len) < SRCH_PREFIX_MIN)
			return SRCH_FTS_NONE;
		buf_append_byte(q, '*');
	}
	buf_append_byte(q, '"');
	return one_word && word_start ? SRCH_FTS_FINAL : SRCH_FTS_VERIFY;
}

static bool srch_contains(const struct buf *hay, const struct buf *needle)
{
	return needle->len == 0 ||
	       (hay->len >= needle->len && memmem(hay->data, hay->len, needle->data, needle->len));
}

static const char *srch_field_name(const struct imapsearch_key *k, struct buf *tmp)
{
	switch (k->kind) {
	case IMAPSEARCH_BCC:
		return "bcc";
	case IMAPSEARCH_CC:
		return "cc";
	case IMAPSEARCH_FROM:
		return "from";
	case IMAPSEARCH_SUBJECT:
		return "subject";
	case IMAPSEARCH_TO:
		return "to";
	case IMAPSEARCH_HEADER:
		buf_reset(tmp);
		msgtext_fold((const unsigned char *)k->header, strlen(k->header), true, tmp);
		return buf_cstr(tmp);
	default:
		return "date"; /* SENT* */
	}
}

/* Does message i match the header, SENT* or text key k? x->needle holds the
 * folded needle. -1 on a store error. */
static int srch_match_one(struct srch *x, const struct imapsearch_key *k, size_t i,
                          const char *field)
{
	const struct srch_msg *m = &x->m[i];
	if (k->kind == IMAPSEARCH_BODY || k->kind == IMAPSEARCH_TEXT) {
		if (k->kind == IMAPSEARCH_TEXT) {
			if (srch_load_text(x, m->body_id, false) < 0)
				return -1;
			if (srch_contains(&x->scratch_hdr, &x->needle))
				return 1;
		}
		if (srch_load_text(x, m->body_id, true) < 0)
			return -1;
		return srch_contains(&x->scratch_body, &x->needle);
	}
	if (srch_load_text(x, m->body_id, false) < 0)
		return -1;
	switch (k->kind) {
	case IMAPSEARCH_SENTBEFORE:
	case IMAPSEARCH_SENTON:
	case IMAPSEARCH_SENTSINCE: {
		size_t vl = 0;
		const unsigned char *v =
		    msgtext_header_value(x->scratch_hdr.data, x->scratch_hdr.len, "date", &vl);
		long d = v ? srch_parse_sent(v, vl) : 0;
		/* Without a usable Date: field, the internal date stands in
		 * (as Dovecot does). */
		if (d == 0)
			d = srch_internal_ymd(m->internaldate);
		long want = srch_ymd(k->date.year, k->date.month, k->date.day);
		if (k->kind == IMAPSEARCH_SENTBEFORE)
			return d < want;
		if (k->kind == IMAPSEARCH_SENTON)
			return d == want;
		return d >= want;
	}
	default:
		return msgtext_header_match(x->scratch_hdr.data, x->scratch_hdr.len, field,
		                            x->needle.data, x->needle.len);
	}
}

static int srch_id_cmp(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return x < y ? -1 : x > y;
}

/* Add the docids of one FTS query that belong to messages of the view to
 * *cand. 0 ok, -1 error. */
static int srch_fts_candidates(struct srch *x, const char *table, const struct buf *q,
                               int64_t **cand, size_t *ncand, size_t *cap)
{
	char sql[96];
	sqlite3_stmt *fq;
	/* table is one of our short FTS table names; a cut statement would
	 * not be valid SQL, so it is an error rather than a wrong query. */
	int k = snprintf(sql, sizeof(sql), "SELECT docid FROM %s WHERE %s MATCH ?", table, table);
	if (k < 0 || (size_t)k >= sizeof(sql)) {
		log_event(LOG_ERR, "store-error", "REASON", "FTS table name too long", NULL);
		return -1;
	}
	if (sqlite3_prepare_v2(x->db, sql, -1, &fq, NULL) != SQLITE_OK) {
		log_event(LOG_ERR, "store-error", "REASON", sqlite3_errmsg(x->db), NULL);
		return -1;
	}
	sqlite3_bind_text(fq, 1, (const char *)q->data, (int)q->len, SQLITE_STATIC);
	int r;
	while ((r = sqlite3_step(fq)) == SQLITE_ROW) {
		int64_t id = sqlite3_column_int64(fq, 0);
		if (srch_ref_find(x, id) == x->n)
			continue;
		if (*ncand == *cap) {
			*cap = *cap ? *cap * 2 : 256;
			*cand = mem_realloc(*cand, *cap, sizeof(**cand));
		}
		(*cand)[(*ncand)++] = id;
	}
	if (r != SQLITE_DONE)
		log_event(LOG_ERR, "store-error", "REASON", sqlite3_errmsg(x->db), NULL);
	sqlite3_finalize(fq);
	return r == SQLITE_DONE ? 0 : -1;
}

/* Header, SENT* and text keys over the messages in need. */
static int srch_text_key(struct srch *x, const struct imapsearch_key *k, const uint8_t *need,
                         uint8_t *res)
{
	struct buf fieldbuf = BUF_INIT, q = BUF_INIT;
	int64_t *cand = NULL;
	size_t count = 0, ncand = 0, cap = 0;
	int rc = 0;
	for (size_t i = 0; i < x->n; i++)
		count += need[i];
	if (count == 0)
		return 0;
	bool textkey = k->kind == IMAPSEARCH_BODY || k->kind == IMAPSEARCH_TEXT;
	bool sent = k->kind == IMAPSEARCH_SENTBEFORE || k->kind == IMAPSEARCH_SENTON ||
	            k->kind == IMAPSEARCH_SENTSINCE;
	buf_reset(&x->needle);
	if (!sent)
		msgtext_fold((const unsigned char *)(k->str ? k->str : ""), k->len, !textkey,
		             &x->needle);
	if (textkey && x->needle.len == 0) {
		/* The empty string is a substring of every text. */
		memcpy(res, need, x->n);
		return 0;
	}
	const char *field = srch_field_name(k, &fieldbuf);
	enum srch_fts cls =
	    sent ? SRCH_FTS_NONE : srch_fts_query(x->needle.data, x->needle.len, textkey, &q);
	/* BODY and TEXT go through the index whenever it applies, so that
	 * their meaning does not depend on the number of messages; for header
	 * keys (exact substrings) it only pays off with many messages. */
	bool use_fts = cls != SRCH_FTS_NONE && (textkey || count > SRCH_DIRECT_MAX);
	if (!use_fts) {
		for (size_t i = 0; i < x->n && rc == 0; i++) {
			if (!need[i])
				continue;
			int mr = srch_match_one(x, k, i, field);
			if (mr < 0)
				rc = -1;
			else
				res[i] = (uint8_t)mr;
		}
		goto out;
	}
	srch_build_refs(x);
	if (k->kind != IMAPSEARCH_BODY &&
	    srch_fts_candidates(x, "hdr_fts", &q, &cand, &ncand, &cap) < 0)
		rc = -1;
	if (rc == 0 && textkey && srch_fts_candidates(x, "text_fts", &q, &cand, &ncand, &cap) < 0)
		rc = -1;
	if (rc < 0)
		goto out;
	if (ncand > 1)
		qsort(cand, ncand, sizeof(*cand), srch_id_cmp);
	for (size_t c = 0; c < ncand && rc == 0; c++) {
		if (c > 0 && cand[c] == cand[c - 1])
			continue; /* in both indexes */
		bool checked = false, hit = false;
		for (size_t j = srch_ref_find(x, cand[c]);
		     j < x->n && x->refs[j].body_id == cand[c]; j++) {
			size_t i = x->refs[j].idx;
			if (!need[i])
				continue;
			if (!checked && cls == SRCH_FTS_FINAL) {
				hit = true;
				checked = true;
			} else if (!checked) {
				int mr = srch_match_one(x, k, i, field);
				if (mr < 0) {
					rc = -1;
					break;
				}
				hit = mr == 1;
				checked = true;
			}
			res[i] = hit;
		}
	}
out:
	free(cand);
	buf_free(&fieldbuf);
	buf_free(&q);
	return rc;
}

static bool srch_meta_match(const struct srch *x, const struct imapsearch_key *k, size_t i)
{
	const struct srch_msg *m = &x->m[i];
	switch (k->kind) {
	case IMAPSEARCH_ALL:
		return true;
	case IMAPSEARCH_SEQSET:
		return seqset_contains(&k->set, (uint32_t)(i + 1));
	case IMAPSEARCH_UID:
		return seqset_contains(&k->set, m->uid);
	case IMAPSEARCH_ANSWERED:
		return m->flags & STORE_FLAG_ANSWERED;
	case IMAPSEARCH_DELETED:
		return m->flags & STORE_FLAG_DELETED;
	case IMAPSEARCH_DRAFT:
		return m->flags & STORE_FLAG_DRAFT;
	case IMAPSEARCH_FLAGGED:
		return m->flags & STORE_FLAG_FLAGGED;
	case IMAPSEARCH_SEEN:
		return m->flags & STORE_FLAG_SEEN;
	case IMAPSEARCH_UNANSWERED:
		return !(m->flags & STORE_FLAG_ANSWERED);
	case IMAPSEARCH_UNDELETED:
		return !(m->flags & STORE_FLAG_DELETED);
	case IMAPSEARCH_UNDRAFT:
		return !(m->flags & STORE_FLAG_DRAFT);
	case IMAPSEARCH_UNFLAGGED:
		return !(m->flags & STORE_FLAG_FLAGGED);
	case IMAPSEARCH_UNSEEN:
		return !(m->flags & STORE_FLAG_SEEN);
	case IMAPSEARCH_RECENT:
		return m->recent;
	case IMAPSEARCH_OLD:
		return !m->recent;
	case IMAPSEARCH_NEW:
		/* RFC 3501: equivalent to (RECENT UNSEEN) */
		return m->recent && !(m->flags & STORE_FLAG_SEEN);
	case IMAPSEARCH_KEYWORD:
		return srch_has_keyword(m->keywords, k->str);
	case IMAPSEARCH_UNKEYWORD:
		return !srch_has_keyword(m->keywords, k->str);
	case IMAPSEARCH_BEFORE:
		return srch_internal_ymd(m->internaldate) <
		       srch_ymd(k->date.year, k->date.month, k->date.day);
	case IMAPSEARCH_ON:
		return srch_internal_ymd(m->internaldate) ==
		       srch_ymd(k->date.year, k->date.month, k->date.day);
	case IMAPSEARCH_SINCE:
		return srch_internal_ymd(m->internaldate) >=
		       srch_ymd(k->date.year, k->date.month, k->date.day);
	case IMAPSEARCH_LARGER:
		return m->size > k->number;
	case IMAPSEARCH_SMALLER:
		return m->size < k->number;
	case IMAPSEARCH_MODSEQ:
		/* RFC 7162 section 3.1.5: equal or greater. Flags have no
		 * mod-sequences of their own here, so entry name and type are
		 * ignored, as the section requires then. */
		return m->modseq >= k->number;
	default:
		return false;
	}
}

/* Evaluate k for the messages with need[i] set: res[i] gets the result
 * there and 0 elsewhere. -1 on a store error. Recursion depth is bounded by
 * the parser's max_depth. */
static int srch_eval(struct srch *x, const struct imapsearch_key *k, const uint8_t *need,
                     uint8_t *res)
{
	size_t n = x->n;
	memset(res, 0, n);
	switch (k->kind) {
	case IMAPSEARCH_AND: {
		/* Cheap keys first; each later key only sees the messages that
		 * are still possible. */
		memcpy(res, need, n);
		uint8_t *tmp = mem_alloc(n ? n : 1);
		int rc = 0;
		for (enum srch_cost c = SRCH_COST_META; c <= SRCH_COST_TEXT && rc == 0; c++) {
			for (size_t j = 0; j < k->nsub && rc == 0; j++) {
				if (srch_cost(&k->sub[j]) != c)
					continue;
				if (memchr(res, 1, n) == NULL)
					break;
				rc = srch_eval(x, &k->sub[j], res, tmp);
				for (size_t i = 0; i < n; i++)
					res[i] &= tmp[i];
			}
		}
		free(tmp);
		return rc;
	}
	case IMAPSEARCH_OR: {
		const struct imapsearch_key *a = &k->sub[0], *b = &k->sub[1];
		if (srch_cost(b) < srch_cost(a)) {
			a = &k->sub[1];
			b = &k->sub[0];
		}
		uint8_t *ra = mem_alloc(n ? n : 1), *need2 = mem_alloc(n ? n : 1);
		int rc = srch_eval(x, a, need, ra);
		if (rc == 0) {
			for (size_t i = 0; i < n; i++)
				need2[i] = need[i] && !ra[i];
			rc = srch_eval(x, b, need2, res);
			for (size_t i = 0; i < n; i++)
				res[i] = need[i] && (ra[i] || res[i]);
		}
		free(ra);
		free(need2);
		return rc;
	}
	case IMAPSEARCH_NOT: {
		uint8_t *ra = mem_alloc(n ? n : 1);
		int rc = srch_eval(x, &k->sub[0], need, ra);
		for (size_t i = 0; i < n; i++)
			res[i] = need[i] && !ra[i];
		free(ra);
		return rc;
	}
	default:
		break;
	}
	if (srch_cost(k) != SRCH_COST_META)
		return srch_text_key(x, k, need, res);
	for (size_t i = 0; i < n; i++)
		if (need[i])
			res[i] = srch_meta_match(x, k, i);
	return 0;
}

/* ---- the command ---------------------------------------------------------- */

static void srch_free(struct srch *x)
{
	for (size_t i = 0; i < x->n; i++)
		free(x->m[i].keywords);
	free(x->m);
	free(x->refs);
	sqlite3_finalize(x->q_hdr);
	sqlite3_finalize(x->q_body);
	sqlite3_finalize(x->q_raw);
	buf_free(&x->needle);
	buf_free(&x->scratch_hdr);
	buf_free(&x->scratch_body);
}

int imap_cmd_search(struct imap_sess *s, const struct imapparse_arg *args, size_t n)
{
	struct imapsearch_limits lim;
	struct imapsearch *tree = NULL;
	const char *err = NULL;
	imapsearch_limits_default(&lim);
	int r = imapsearch_parse(args, n, &lim, &tree, &err);
	if (r == 0) {
		imap_no(s, IMAPSEARCH_BADCHARSET " Unsupported charset.");
		return 0;
	}
	if (r < 0) {
		imap_bad(s, "Invalid search criteria: %s", err ? err : "syntax error");
		return 0;
	}
	bool keywords = false, modseq = false;
	size_t textkeys = 0;
	srch_prepare(&tree->root, s->sel, &keywords, &modseq, &textkeys);
	if (textkeys > SRCH_MAX_TEXT_KEYS) {
		/* Each may have to read every message's text. */
		imap_no(s, "[LIMIT] At most %d header, date or text criteria.", SRCH_MAX_TEXT_KEYS);
		imapsearch_free(&tree);
		return 0;
	}
	if (modseq)
		/* RFC 7162 section 3.1: SEARCH MODSEQ enables CONDSTORE. */
		imap_condstore_enable(s);

	struct srch x;
	memset(&x, 0, sizeof(x));
	x.s = s;
	x.db = store_db(s->st);
	x.n = s->sel->count;
	x.m = mem_array(x.n ? x.n : 1, sizeof(*x.m));
	uint8_t *need = mem_alloc(x.n ? x.n : 1), *res = mem_alloc(x.n ? x.n : 1);
	/* The text of bodies stored before the index existed is indexed first
	 * (a write); the search itself then reads one snapshot: one read
	 * transaction instead of one per lookup (each would lock and unlock
	 * the WAL index, a system call per message). */
	int rc = 0;
	if (srch_cost(&tree->root) != SRCH_COST_META)
		rc = store_text_index_pending(s->st, 0, NULL);
	bool snapshot = rc == 0 && sqlite3_exec(x.db, "BEGIN", NULL, NULL, NULL) == SQLITE_OK;
	if (rc == 0)
		rc = srch_load(&x, keywords);
	if (rc == 0) {
		for (size_t i = 0; i < x.n; i++)
			need[i] = x.m[i].present;
		rc = srch_eval(&x, &tree->root, need, res);
	}
	if (snapshot)
		sqlite3_exec(x.db, "COMMIT", NULL, NULL, NULL);
	if (rc < 0) {
		imap_no(s, "[SERVERBUG] Search failed.");
		goto out;
	}
	struct buf out = BUF_INIT;
	uint64_t maxmod = 0;
	bool any = false;
	for (size_t i = 0; i < x.n; i++) {
		if (!res[i])
			continue;
		buf_printf(&out, " %u", s->cmd->uid ? x.m[i].uid : (unsigned)(i + 1));
		if (x.m[i].modseq > maxmod)
			maxmod = x.m[i].modseq;
		any = true;
	}
	/* RFC 7162 section 3.1.5: with MODSEQ in the criteria, the highest
	 * mod-sequence of the result (only when there is a result). */
	if (modseq && any)
		buf_printf(&out, " (MODSEQ %llu)", (unsigned long long)maxmod);
	imap_untagged(s, "SEARCH%s", buf_cstr(&out));
	buf_free(&out);
	imap_ok(s, "Search completed.");
out:
	free(need);
	free(res);
	srch_free(&x);
	imapsearch_free(&tree);
	return 0;
}
