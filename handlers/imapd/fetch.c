/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* FETCH and UID FETCH (RFC 3501 sections 6.4.5, 6.4.8, 7.4.2), with the
 * CONDSTORE/QRESYNC parts (RFC 7162 sections 3.1.4, 3.2.6: MODSEQ,
 * CHANGEDSINCE, VANISHED) and BINARY / BINARY.SIZE (RFC 3516; answered when
 * asked, not advertised).
 *
 * Each message's response is assembled first (text plus a description of
 * every literal) and written only when complete, so a message that cannot be
 * answered leaves no half-written line. No literal is ever held whole in
 * memory: a literal is a generator (a range of the raw message, a body
 * decoded as RFC 3516 asks, or the fields of a header) that is run once to
 * learn its length (the IMAP literal announces it first, RFC 3501 section
 * 4.3) and once more to send it, in FETCH_CHUNK pieces through lib/sys/io.c,
 * whose queue is flushed, waiting for the client, beyond 64 KiB. So a FETCH
 * holds its line, a few chunks and one message's parse, whatever the number
 * of items and whether the client reads; a client that stops reading blocks
 * this process until the idle timeout ends the session.
 *
 * Where RFC 3501 leaves a choice we answer as Dovecot does: a section that
 * does not exist is an empty string, NUL bytes in a literal become 0x80, a
 * message expunged by another session is skipped and the command ends "OK
 * [EXPUNGEISSUED]" (RFC 2180 section 4.1.2, RFC 5530; Dovecot answers OK
 * rather than NO because clients treat a NO FETCH as fatal). Trust:
 * post-auth; message content is untrusted. */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "imapd.h"
#include "sys/log.h"
#include "base/codec.h"
#include "base/mem.h"
#include "proto/imapbody.h"
#include "proto/mime.h"

#define FETCH_CHUNK 65536u
/* After a message with this much literal data, end the read snapshot (the
 * client may have been slow to take it). */
#define FETCH_RELEASE_BYTES (1u << 20)
/* Decoded sizes remembered per message: a client asking for one part many
 * times costs one counting pass, not one per item. */
#define FETCH_MEASURE_MAX 8
#define FETCH_NO_NUL      UINT64_MAX

/* What a literal is made of, produced anew each time it is needed. */
enum fetch_gen_kind {
	FETCH_GEN_RAW,    /* raw bytes [off, off + len) */
	FETCH_GEN_BINARY, /* raw [0, hdr_len), then [off, off + len) decoded by cte */
	FETCH_GEN_FIELDS, /* the header at [off, off + len) filtered by att */
	FETCH_GEN_HEADER, /* the message's header as parsed (mi->header) */
};

struct fetch_gen {
	enum fetch_gen_kind kind;
	uint64_t hdr_len;
	uint64_t off, len;
	enum codec_cte cte;
	bool root_hdr;                         /* FIELDS: the message's header (mi->header) */
	const struct imapparse_fetch_att *att; /* FIELDS: which fields */
};

/* A generator's whole output: its length and where its NUL bytes are. */
struct fetch_measure {
	struct fetch_gen g;
	uint64_t total;
	uint64_t first_nul, last_nul; /* FETCH_NO_NUL: none */
};

struct fetch_piece {
	size_t at;           /* position in the line buffer where the literal goes */
	struct fetch_gen g;  /* what to produce */
	uint64_t start, len; /* the window of its output that is sent (partial) */
	bool nul_to_80;      /* a literal, not a literal8: NUL is sent as 0x80 */
};

struct fetch_ctx {
	struct imap_sess *s;
	struct imapparse_fetch f;
	struct imapparse_fetch_mods mods;
	const struct imapparse_fetch_att **order; /* items in response order */
	size_t norder;
	bool want_uid, want_flags, want_modseq;
	bool sets_seen;
	unsigned need;              /* IMAP_MC_* */
	struct seqset seen_changed; /* UIDs whose \Seen this FETCH set */
	struct imap_msgcache *mc;
	const struct imap_msginfo *mi;
	uint32_t seq;
	struct buf line;
	struct fetch_piece *pieces;
	size_t npieces, pieces_cap;
	uint64_t raw_bytes; /* literal bytes of the current message */
	bool expunged;      /* a message vanished under us */
	bool cte_error;     /* BINARY met an unknown encoding */
	unsigned char *chunk;
	struct buf dec; /* one chunk decoded (at most FETCH_CHUNK and the QP hold-back) */
	struct fetch_measure measured[FETCH_MEASURE_MAX];
	size_t nmeasured; /* of the current message */
};

static const struct imapparse_fetch_att fetch_att_uid = {.kind = IMAPPARSE_FETCH_UID};
static const struct imapparse_fetch_att fetch_att_flags = {.kind = IMAPPARSE_FETCH_FLAGS};
static const struct imapparse_fetch_att fetch_att_modseq = {.kind = IMAPPARSE_FETCH_MODSEQ};

/* ---- small formatters ------------------------------------------------------ */

/* RFC 3501 date-time: "dd-Mon-yyyy hh:mm:ss +zzzz" in the server's zone. */
static void fetch_internaldate(struct buf *b, int64_t t)
{
	static const char *const mon[12] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
	                                    "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
	time_t tt = (time_t)t;
	struct tm tm;
	if (localtime_r(&tt, &tm) == NULL || tm.tm_year + 1900 < 0 || tm.tm_year + 1900 > 9999) {
		tt = 0;
		gmtime_r(&tt, &tm);
	}
	long off = tm.tm_gmtoff / 60;
	char sign = off < 0 ? '-' : '+';
	if (off < 0)
		off = -off;
	buf_printf(b, "\"%02d-%s-%04d %02d:%02d:%02d %c%02ld%02ld\"", tm.tm_mday, mon[tm.tm_mon],
	           tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec, sign, off / 60, off % 60);
}

/* Announce a literal of len bytes of g's output from start, to be produced
 * when the response is written. tilde: a literal8 (RFC 3516 section 4.2,
 * only when the bytes hold a NUL). */
static void fetch_literal_gen(struct fetch_ctx *c, const struct fetch_gen *g, uint64_t start,
                              uint64_t len, bool tilde)
{
	buf_printf(&c->line, "%s{%llu}\r\n", tilde ? "~" : "", (unsigned long long)len);
	if (len == 0)
		return;
	if (c->npieces == c->pieces_cap) {
		c->pieces_cap = c->pieces_cap ? c->pieces_cap * 2 : 8;
		c->pieces = mem_realloc(c->pieces, c->pieces_cap, sizeof(*c->pieces));
	}
	/* RFC 3501 CHAR8 excludes NUL; Dovecot sends 0x80. A literal8 carries
	 * NUL as it is. */
	c->pieces[c->npieces++] = (struct fetch_piece){.at = c->line.len,
	                                               .g = *g,
	                                               .start = start,
	                                               .len = len,
	                                               .nul_to_80 = g->kind != FETCH_GEN_BINARY};
	c->raw_bytes += len;
}

/* A literal of the raw message's bytes [off, off + len). */
static void fetch_literal_raw(struct fetch_ctx *c, uint64_t off, uint64_t len)
{
	struct fetch_gen g = {.kind = FETCH_GEN_RAW, .off = off, .len = len};
	fetch_literal_gen(c, &g, 0, len, false);
}

/* Clip [0, total) to the partial <origin.length> of att (RFC 3501 section
 * 6.4.5: an origin past the end gives an empty string). */
static void fetch_partial(const struct imapparse_fetch_att *a, uint64_t total, uint64_t *start,
                          uint64_t *len)
{
	*start = 0;
	*len = total;
	if (!a->partial)
		return;
	if (a->origin >= total) {
		*start = total;
		*len = 0;
		return;
	}
	*start = a->origin;
	*len = total - a->origin;
	if (a->length < *len)
		*len = a->length;
}

static void fetch_section_name(struct buf *line, const char *prefix,
                               const struct imapparse_fetch_att *a)
{
	buf_printf(line, "%s[%s]", prefix, a->section ? a->section : "");
	if (a->partial)
		buf_printf(line, "<%u>", a->origin);
	buf_append_byte(line, ' ');
}

/* RFC 3501 section 6.4.5 HEADER.FIELDS / HEADER.FIELDS.NOT: the matching
 * fields as they are (folding kept) and the empty line that ends a header. */
static void fetch_header_filter(const unsigned char *hdr, size_t len,
                                const struct imapparse_fetch_att *a, struct buf *out)
{
	bool exclude = a->text == IMAPPARSE_SECTION_HEADER_FIELDS_NOT;
	struct mime_header_iter it;
	struct mime_header_field f;
	mime_header_iter_init(&it, hdr, len);
	while (mime_header_next(&it, &f) == 1) {
		bool match = false;
		for (size_t i = 0; f.has_colon && !match && i < a->nfields; i++)
			match = mime_header_name_is(&f, a->fields[i]);
		if (match == exclude)
			continue;
		buf_append(out, f.raw, f.raw_len);
		if (f.raw_len == 0 || f.raw[f.raw_len - 1] != '\n')
			buf_append(out, "\r\n", 2);
	}
	buf_append(out, "\r\n", 2);
}

/* ---- sections ---------------------------------------------------------------- */

/* Read n raw bytes at off into b. 0 / -1. */
static int fetch_read(struct fetch_ctx *c, uint64_t off, uint64_t n, struct buf *b)
{
	if (n > SIZE_MAX - 1)
		return -1;
	buf_reserve(b, (size_t)n);
	if (imap_msgcache_raw(c->mc, off, b->data + b->len, (size_t)n) < 0)
		return -1;
	b->len += (size_t)n;
	b->data[b->len] = '\0';
	return 0;
}

/* Find the part a section-part path names; NULL when there is none. */
static struct mime_part *fetch_find_part(struct fetch_ctx *c, const struct imapparse_fetch_att *a)
{
	struct buf path = BUF_INIT;
	struct mime_part *part = NULL;
	for (size_t i = 0; i < a->nparts; i++)
		buf_printf(&path, "%s%u", i ? "." : "", a->parts[i]);
	if (c->mi->tree == NULL || mime_part_find(c->mi->tree, buf_cstr(&path), &part) < 0)
		part = NULL;
	buf_free(&path);
	return part;
}

/* Resolve a BODY[section] (RFC 3501 section 6.4.5) to what produces it: a
 * range of the raw message, or the fields of a header. A part that does not
 * exist, or HEADER/TEXT of a part that is not message/rfc822, is the empty
 * string, as Dovecot answers. */
static void fetch_section(struct fetch_ctx *c, const struct imapparse_fetch_att *a,
                          struct fetch_gen *d)
{
	const struct imap_msginfo *mi = c->mi;
	uint64_t raw = imap_msgcache_raw_size(c->mc);
	memset(d, 0, sizeof(*d));
	d->kind = FETCH_GEN_RAW;
	uint64_t hoff = 0, hlen = 0, boff = 0, blen = 0;
	bool root_hdr = false;
	if (a->nparts == 0) {
		root_hdr = true;
		hlen = mi->header_len;
		boff = hlen;
		blen = raw >= hlen ? raw - hlen : 0;
		if (a->text == IMAPPARSE_SECTION_NONE) {
			d->off = 0;
			d->len = raw;
			return;
		}
	} else {
		struct mime_part *part = fetch_find_part(c, a);
		if (part == NULL)
			return;
		switch (a->text) {
		case IMAPPARSE_SECTION_NONE:
			d->off = part->body_off;
			d->len = part->body_size;
			goto check;
		case IMAPPARSE_SECTION_MIME:
			d->off = part->hdr_off;
			d->len = part->hdr_size;
			goto check;
		default:
			break;
		}
		if (!(part->flags & MIME_PART_MESSAGE) || part->children == NULL)
			return;
		hoff = part->children->hdr_off;
		hlen = part->children->hdr_size;
		boff = part->children->body_off;
		blen = part->children->body_size;
	}
	switch (a->text) {
	case IMAPPARSE_SECTION_HEADER:
		d->off = hoff;
		d->len = hlen;
		break;
	case IMAPPARSE_SECTION_TEXT:
		d->off = boff;
		d->len = blen;
		break;
	case IMAPPARSE_SECTION_HEADER_FIELDS:
	case IMAPPARSE_SECTION_HEADER_FIELDS_NOT:
		if (!root_hdr && (hoff > raw || hlen > raw - hoff))
			return;
		d->kind = FETCH_GEN_FIELDS;
		d->root_hdr = root_hdr;
		d->att = a;
		d->off = hoff;
		d->len = hlen;
		return;
	default:
		break;
	}
check:
	/* Offsets come from a validated cache or a fresh parse of this very
	 * body; still, never trust them beyond the raw size. */
	if (d->off > raw || d->len > raw - d->off)
		d->off = d->len = 0;
}

/* BINARY[section] / BINARY.SIZE (RFC 3516): the part's body with its
 * content-transfer-encoding removed (composite parts as they are; BINARY[]
 * is the header and the decoded body). 1 ok, 0 unknown encoding (RFC 3516
 * UNKNOWN-CTE). */
static int fetch_binary(struct fetch_ctx *c, const struct imapparse_fetch_att *a,
                        struct fetch_gen *g)
{
	struct mime_part *part = a->nparts ? fetch_find_part(c, a) : c->mi->tree;
	uint64_t raw = imap_msgcache_raw_size(c->mc);
	memset(g, 0, sizeof(*g));
	g->kind = FETCH_GEN_BINARY;
	g->cte = CODEC_CTE_IDENTITY;
	if (part == NULL || part->body_off > raw || part->body_size > raw - part->body_off)
		return 1;
	/* The search index decodes with the same lenient decoders (RFC 2045
	 * sections 6.7 and 6.8): a malformed '=' stays as it is, bytes outside
	 * the base64 alphabet are skipped. */
	if (!(part->flags & (MIME_PART_MULTIPART | MIME_PART_MESSAGE)))
		g->cte = codec_cte_lookup(part->encoding);
	if (g->cte == CODEC_CTE_UNKNOWN)
		return 0;
	g->hdr_len = a->nparts == 0 ? part->body_off : 0;
	g->off = part->body_off;
	g->len = part->body_size;
	return 1;
}

/* ---- generators: a literal produced in chunks -------------------------------- */

enum fetch_sink_mode {
	FETCH_SINK_COUNT, /* the length and the first and last NUL of the whole output */
	FETCH_SINK_NUL,   /* whether the window holds a NUL */
	FETCH_SINK_SEND,  /* the window, to the client */
};

struct fetch_sink {
	enum fetch_sink_mode mode;
	uint64_t pos;        /* bytes produced so far */
	uint64_t start, end; /* the window (NUL, SEND) */
	uint64_t first_nul, last_nul;
	uint64_t sent;
	bool nul_found;
	bool nul_to_80;
	bool done; /* nothing more is needed: producing may stop */
	struct io *io;
};

/* Take n produced bytes (p is scratch: SEND may rewrite NUL bytes in it).
 * 0, or -1 when the client connection failed. */
static int fetch_sink_put(struct fetch_sink *k, unsigned char *p, size_t n)
{
	uint64_t pos = k->pos;
	k->pos += n;
	if (n == 0)
		return 0;
	if (k->mode == FETCH_SINK_COUNT) {
		for (unsigned char *z = p; (z = memchr(z, 0, n - (size_t)(z - p))) != NULL; z++) {
			if (k->first_nul == FETCH_NO_NUL)
				k->first_nul = pos + (uint64_t)(z - p);
			k->last_nul = pos + (uint64_t)(z - p);
		}
		return 0;
	}
	if (k->pos <= k->start)
		return 0;
	if (k->pos >= k->end)
		k->done = true;
	if (pos >= k->end)
		return 0;
	size_t skip = pos < k->start ? (size_t)(k->start - pos) : 0;
	size_t take = (size_t)((k->pos < k->end ? k->pos : k->end) - pos) - skip;
	p += skip;
	if (k->mode == FETCH_SINK_NUL) {
		if (memchr(p, 0, take) != NULL)
			k->nul_found = k->done = true;
		return 0;
	}
	if (k->nul_to_80)
		for (unsigned char *z = p; (z = memchr(z, 0, take - (size_t)(z - p))) != NULL;)
			*z++ = 0x80;
	io_write(k->io, p, take);
	k->sent += take;
	return k->io->write_failed ? -1 : 0;
}

/* Produce the raw bytes [off, off + len), decoded by dec when not NULL. 0,
 * or -1 (store error, client gone). */
static int fetch_gen_range(struct fetch_ctx *c, uint64_t off, uint64_t len, struct codec_body *dec,
                           struct fetch_sink *k)
{
	struct codec_out o;
	for (uint64_t done = 0; done < len && !k->done;) {
		uint64_t left = len - done;
		size_t n = left < FETCH_CHUNK ? (size_t)left : FETCH_CHUNK;
		if (imap_msgcache_raw(c->mc, off + done, c->chunk, n) < 0)
			return -1;
		done += n;
		if (dec == NULL) {
			if (fetch_sink_put(k, c->chunk, n) < 0)
				return -1;
			continue;
		}
		/* At most n bytes and the QP decoder's held-back white space:
		 * the buffer stays near FETCH_CHUNK. */
		buf_reset(&c->dec);
		codec_out_buf(&o, &c->dec);
		codec_body_feed(dec, c->chunk, n, &o);
		if (fetch_sink_put(k, c->dec.data, c->dec.len) < 0)
			return -1;
	}
	if (dec != NULL && !k->done) {
		buf_reset(&c->dec);
		codec_out_buf(&o, &c->dec);
		codec_body_finish(dec, &o);
		if (fetch_sink_put(k, c->dec.data, c->dec.len) < 0)
			return -1;
	}
	return 0;
}

/* HEADER.FIELDS[.NOT]: bounded by the header, which is part of the message's
 * parse (or read for a nested message and dropped at once). */
static int fetch_gen_fields(struct fetch_ctx *c, const struct fetch_gen *g, struct fetch_sink *k)
{
	struct buf tmp = BUF_INIT, out = BUF_INIT;
	const unsigned char *hdr = c->mi->header;
	size_t hlen = c->mi->header_len;
	if (!g->root_hdr) {
		if (fetch_read(c, g->off, g->len, &tmp) < 0) {
			buf_free(&tmp);
			return -1;
		}
		hdr = tmp.data != NULL ? tmp.data : (const unsigned char *)"";
		hlen = tmp.len;
	}
	fetch_header_filter(hdr, hlen, g->att, &out);
	buf_free(&tmp);
	int r = fetch_sink_put(k, out.data, out.len);
	buf_free(&out);
	return r;
}

/* Run g into k: 0, or -1 (store error, client gone). */
static int fetch_gen_run(struct fetch_ctx *c, const struct fetch_gen *g, struct fetch_sink *k)
{
	struct codec_body dec;
	switch (g->kind) {
	case FETCH_GEN_RAW:
		return fetch_gen_range(c, g->off, g->len, NULL, k);
	case FETCH_GEN_FIELDS:
		return fetch_gen_fields(c, g, k);
	case FETCH_GEN_HEADER:
		/* Through the chunk: SEND rewrites NUL bytes. */
		for (size_t at = 0; at < c->mi->header_len && !k->done;) {
			size_t n = c->mi->header_len - at;
			if (n > FETCH_CHUNK)
				n = FETCH_CHUNK;
			memcpy(c->chunk, c->mi->header + at, n);
			at += n;
			if (fetch_sink_put(k, c->chunk, n) < 0)
				return -1;
		}
		return 0;
	case FETCH_GEN_BINARY:
		if (fetch_gen_range(c, 0, g->hdr_len, NULL, k) < 0)
			return -1;
		if (g->cte == CODEC_CTE_IDENTITY)
			return fetch_gen_range(c, g->off, g->len, NULL, k);
		if (codec_body_init(&dec, g->cte) != 1)
			return -1;
		return fetch_gen_range(c, g->off, g->len, &dec, k);
	}
	return -1;
}

static bool fetch_gen_same(const struct fetch_gen *x, const struct fetch_gen *y)
{
	return x->kind == y->kind && x->hdr_len == y->hdr_len && x->off == y->off &&
	       x->len == y->len && x->cte == y->cte && x->root_hdr == y->root_hdr &&
	       x->att == y->att;
}

/* The length and NUL positions of g's whole output, by a pass that keeps
 * nothing (remembered for the current message). 0 / -1 store error. */
static int fetch_measure(struct fetch_ctx *c, const struct fetch_gen *g, struct fetch_measure *m)
{
	for (size_t i = 0; i < c->nmeasured && i < FETCH_MEASURE_MAX; i++)
		if (fetch_gen_same(&c->measured[i].g, g)) {
			*m = c->measured[i];
			return 0;
		}
	struct fetch_sink k = {
	    .mode = FETCH_SINK_COUNT, .first_nul = FETCH_NO_NUL, .last_nul = FETCH_NO_NUL};
	if (fetch_gen_run(c, g, &k) < 0)
		return -1;
	*m = (struct fetch_measure){
	    .g = *g, .total = k.pos, .first_nul = k.first_nul, .last_nul = k.last_nul};
	c->measured[c->nmeasured++ % FETCH_MEASURE_MAX] = *m;
	return 0;
}

/* Whether g's output holds a NUL in [start, start + len): from the
 * measure, or by one more pass when NULs lie on both sides of the window. */
static int fetch_window_nul(struct fetch_ctx *c, const struct fetch_measure *m, uint64_t start,
                            uint64_t len, bool *nul_r)
{
	uint64_t end = start + len; /* within m->total (fetch_partial) */
	*nul_r = false;
	if (len == 0 || m->first_nul == FETCH_NO_NUL || m->first_nul >= end || m->last_nul < start)
		return 0;
	if (m->first_nul >= start || m->last_nul < end) {
		*nul_r = true;
		return 0;
	}
	struct fetch_sink k = {.mode = FETCH_SINK_NUL, .start = start, .end = end};
	if (fetch_gen_run(c, &m->g, &k) < 0)
		return -1;
	*nul_r = k.nul_found;
	return 0;
}

/* ---- one message --------------------------------------------------------- */

static void fetch_flags(struct fetch_ctx *c)
{
	imap_append_flags(&c->line, c->mi->flags, c->mi->keywords,
	                  c->s->sel->msgs[c->seq - 1].recent);
}

/* BODY[section]<partial>: 1 ok, -1 store error. */
static int fetch_item_section(struct fetch_ctx *c, const struct imapparse_fetch_att *a)
{
	struct fetch_gen g;
	struct fetch_measure m;
	uint64_t start, len;
	fetch_section(c, a, &g);
	fetch_section_name(&c->line, "BODY", a);
	if (g.kind == FETCH_GEN_RAW) {
		fetch_partial(a, g.len, &start, &len);
		fetch_literal_raw(c, g.off + start, len);
		return 1;
	}
	if (fetch_measure(c, &g, &m) < 0)
		return -1;
	fetch_partial(a, m.total, &start, &len);
	fetch_literal_gen(c, &g, start, len, false);
	return 1;
}

/* BINARY[section]<partial> and BINARY.SIZE[section] (RFC 3516 sections 4.2,
 * 4.3): 1 ok, 0 unknown encoding (cte_error set), -1 store error. */
static int fetch_item_binary(struct fetch_ctx *c, const struct imapparse_fetch_att *a)
{
	struct fetch_gen g;
	struct fetch_measure m;
	uint64_t start, len;
	bool nul;
	if (fetch_binary(c, a, &g) == 0) {
		c->cte_error = true;
		return 0;
	}
	if (fetch_measure(c, &g, &m) < 0)
		return -1;
	if (a->kind == IMAPPARSE_FETCH_BINARY_SIZE) {
		buf_printf(&c->line, "BINARY.SIZE[%s] %llu", a->section ? a->section : "",
		           (unsigned long long)m.total);
		return 1;
	}
	fetch_section_name(&c->line, "BINARY", a);
	fetch_partial(a, m.total, &start, &len);
	if (fetch_window_nul(c, &m, start, len, &nul) < 0)
		return -1;
	fetch_literal_gen(c, &g, start, len, nul);
	return 1;
}

/* Append one item: 1 ok, 0 the message cannot be answered (cte_error set),
 * -1 store error. */
static int fetch_item(struct fetch_ctx *c, const struct imapparse_fetch_att *a)
{
	const struct imap_msginfo *mi = c->mi;
	struct buf *l = &c->line;
	uint64_t raw;
	switch (a->kind) {
	case IMAPPARSE_FETCH_UID:
		buf_printf(l, "UID %u", mi->uid);
		return 1;
	case IMAPPARSE_FETCH_FLAGS:
		buf_append_str(l, "FLAGS ");
		fetch_flags(c);
		return 1;
	case IMAPPARSE_FETCH_MODSEQ:
		buf_printf(l, "MODSEQ (%llu)", (unsigned long long)mi->modseq);
		return 1;
	case IMAPPARSE_FETCH_INTERNALDATE:
		buf_append_str(l, "INTERNALDATE ");
		fetch_internaldate(l, mi->internaldate);
		return 1;
	case IMAPPARSE_FETCH_RFC822_SIZE:
		buf_printf(l, "RFC822.SIZE %llu", (unsigned long long)mi->size);
		return 1;
	case IMAPPARSE_FETCH_ENVELOPE:
		buf_printf(l, "ENVELOPE %s", mi->envelope ? mi->envelope : "NIL");
		return 1;
	case IMAPPARSE_FETCH_BODYSTRUCTURE:
		buf_printf(l, "BODYSTRUCTURE %s", mi->bodystructure ? mi->bodystructure : "NIL");
		return 1;
	case IMAPPARSE_FETCH_BODY:
		buf_append_str(l, "BODY ");
		if (mi->tree != NULL)
			imapbody_bodystructure(mi->tree, false, l);
		else
			buf_append_str(l, "NIL");
		return 1;
	case IMAPPARSE_FETCH_RFC822:
		buf_append_str(l, "RFC822 ");
		fetch_literal_raw(c, 0, imap_msgcache_raw_size(c->mc));
		return 1;
	case IMAPPARSE_FETCH_RFC822_HEADER: {
		/* Copied in chunks when sent, not into the line: one item per
		 * header, but the header may be large. */
		struct fetch_gen g = {.kind = FETCH_GEN_HEADER};
		buf_append_str(l, "RFC822.HEADER ");
		fetch_literal_gen(c, &g, 0, mi->header_len, false);
		return 1;
	}
	case IMAPPARSE_FETCH_RFC822_TEXT:
		raw = imap_msgcache_raw_size(c->mc);
		buf_append_str(l, "RFC822.TEXT ");
		fetch_literal_raw(c, mi->header_len,
		                  raw >= mi->header_len ? raw - mi->header_len : 0);
		return 1;
	case IMAPPARSE_FETCH_BODY_SECTION:
		return fetch_item_section(c, a);
	case IMAPPARSE_FETCH_BINARY:
	case IMAPPARSE_FETCH_BINARY_SIZE:
		return fetch_item_binary(c, a);
	}
	return 1;
}

/* Send the assembled response, producing each literal in chunks. 0 / -1
 * (the connection is unusable: a literal was announced and could not be
 * sent, or the client is gone). */
static int fetch_write(struct fetch_ctx *c)
{
	struct io *io = &c->s->io;
	size_t pos = 0;
	for (size_t i = 0; i < c->npieces; i++) {
		const struct fetch_piece *p = &c->pieces[i];
		io_write(io, c->line.data + pos, p->at - pos);
		pos = p->at;
		struct fetch_sink k = {.mode = FETCH_SINK_SEND,
		                       .start = p->start,
		                       .end = p->start + p->len,
		                       .nul_to_80 = p->nul_to_80,
		                       .io = io};
		/* The same bytes as counted; fewer would leave the client
		 * waiting for the rest of the literal. */
		if (fetch_gen_run(c, &p->g, &k) < 0 || k.sent != p->len)
			return -1;
	}
	io_write(io, c->line.data + pos, c->line.len - pos);
	return 0;
}

/* 1 answered, 0 skipped (expunged, unchanged, cannot be answered), -1 a
 * store error before anything of this message was sent, -2 a store error in
 * the middle of a literal (the connection cannot carry on). */
static int fetch_one(struct fetch_ctx *c, uint32_t uid, uint32_t seq)
{
	const struct imap_msginfo *mi;
	int r;
	if (c->mods.changedsince) {
		/* RFC 7162 section 3.1.4.1: only messages changed since. */
		r = imap_msgcache_load(c->mc, uid, 0, &mi);
		if (r <= 0)
			goto gone;
		if (mi->modseq <= c->mods.modseq)
			return 0;
	}
	r = imap_msgcache_load(c->mc, uid, c->need, &mi);
	if (r <= 0)
		goto gone;
	c->mi = mi;
	c->seq = seq;
	c->npieces = 0;
	c->raw_bytes = 0;
	c->nmeasured = 0;
	buf_reset(&c->line);
	buf_printf(&c->line, "* %u FETCH (", seq);
	bool first = true, seen_now = seqset_contains(&c->seen_changed, uid);
	for (size_t i = 0; i < c->norder + 3; i++) {
		const struct imapparse_fetch_att *a;
		if (i < c->norder) {
			a = c->order[i];
		} else if (!seen_now) {
			break;
		} else if (i == c->norder) {
			/* RFC 3501 section 6.4.5: the implicit \Seen shows
			 * in FLAGS; RFC 7162 section 3.1: with CONDSTORE, the
			 * response also carries UID and MODSEQ. */
			if (c->want_flags)
				continue;
			a = &fetch_att_flags;
		} else if (!c->s->condstore) {
			break;
		} else if (i == c->norder + 1) {
			if (c->want_uid)
				continue;
			a = &fetch_att_uid;
		} else {
			if (c->want_modseq)
				continue;
			a = &fetch_att_modseq;
		}
		if (!first)
			buf_append_byte(&c->line, ' ');
		first = false;
		r = fetch_item(c, a);
		if (r < 0)
			return -1;
		if (r == 0)
			return 0;
	}
	buf_append_str(&c->line, ")\r\n");
	if (fetch_write(c) < 0)
		return -2;
	if (c->raw_bytes >= FETCH_RELEASE_BYTES)
		imap_msgcache_release(c->mc);
	return 1;
gone:
	if (r < 0)
		return -1;
	c->expunged = true;
	return 0;
}

/* ---- the command ------------------------------------------------------------ */

static bool fetch_sets_seen(const struct imapparse_fetch_att *a)
{
	switch (a->kind) {
	case IMAPPARSE_FETCH_RFC822:
	case IMAPPARSE_FETCH_RFC822_TEXT:
		return true;
	case IMAPPARSE_FETCH_BODY_SECTION:
	case IMAPPARSE_FETCH_BINARY:
		return !a->peek;
	default:
		return false;
	}
}

static unsigned fetch_need(const struct imapparse_fetch_att *a)
{
	switch (a->kind) {
	case IMAPPARSE_FETCH_ENVELOPE:
		return IMAP_MC_ENVELOPE;
	case IMAPPARSE_FETCH_BODYSTRUCTURE:
		return IMAP_MC_BODYSTRUCTURE;
	case IMAPPARSE_FETCH_BODY:
		return IMAP_MC_TREE;
	case IMAPPARSE_FETCH_RFC822_HEADER:
	case IMAPPARSE_FETCH_RFC822_TEXT:
		return IMAP_MC_HEADER;
	case IMAPPARSE_FETCH_BODY_SECTION:
		if (a->nparts > 0)
			return IMAP_MC_TREE;
		return a->text == IMAPPARSE_SECTION_NONE ? 0 : IMAP_MC_HEADER;
	case IMAPPARSE_FETCH_BINARY:
	case IMAPPARSE_FETCH_BINARY_SIZE:
		return IMAP_MC_TREE;
	default:
		return 0;
	}
}

/* Build the item order: UID first for UID FETCH (RFC 3501 section 6.4.8),
 * the items as asked (simple ones once), MODSEQ last when implied. */
static void fetch_plan(struct fetch_ctx *c, bool uid_cmd)
{
	bool seen_kind[IMAPPARSE_FETCH_MODSEQ + 1];
	memset(seen_kind, 0, sizeof(seen_kind));
	c->order = mem_array(c->f.count + 2, sizeof(*c->order));
	for (size_t i = 0; i < c->f.count; i++)
		if (c->f.atts[i].kind == IMAPPARSE_FETCH_UID)
			c->want_uid = true;
	if (uid_cmd && !c->want_uid) {
		c->order[c->norder++] = &fetch_att_uid;
		c->want_uid = true;
		seen_kind[IMAPPARSE_FETCH_UID] = true;
	}
	for (size_t i = 0; i < c->f.count; i++) {
		const struct imapparse_fetch_att *a = &c->f.atts[i];
		bool simple = a->kind != IMAPPARSE_FETCH_BODY_SECTION &&
		              a->kind != IMAPPARSE_FETCH_BINARY &&
		              a->kind != IMAPPARSE_FETCH_BINARY_SIZE;
		if (simple && seen_kind[a->kind])
			continue;
		seen_kind[a->kind] = true;
		c->order[c->norder++] = a;
		c->need |= fetch_need(a);
		if (fetch_sets_seen(a))
			c->sets_seen = true;
		if (a->kind == IMAPPARSE_FETCH_FLAGS)
			c->want_flags = true;
		if (a->kind == IMAPPARSE_FETCH_MODSEQ)
			c->want_modseq = true;
	}
	/* RFC 7162 section 3.1.4.1: CHANGEDSINCE implies MODSEQ; with
	 * CONDSTORE enabled FLAGS travel with MODSEQ (as Dovecot does). */
	if (!c->want_modseq && (c->mods.changedsince || (c->want_flags && c->s->condstore))) {
		c->order[c->norder++] = &fetch_att_modseq;
		c->want_modseq = true;
	}
}

/* RFC 3501 section 6.4.5: BODY[...] (not .PEEK), RFC822 and RFC822.TEXT set
 * \Seen in a read-write mailbox; that is a flag change like STORE's. Only
 * messages this FETCH returns are touched. */
static void fetch_set_seen(struct fetch_ctx *c, const struct seqset *uids)
{
	struct imap_sess *s = c->s;
	sqlite3_stmt *q;
	uint32_t *unseen = NULL;
	size_t n = 0, cap = 0;
	if (sqlite3_prepare_v2(
	        store_db(s->st),
	        "SELECT uid FROM messages WHERE folder_id = ?1 AND uid BETWEEN ?2 AND "
	        "?3 AND (flags & ?4) = 0 AND modseq > ?5 ORDER BY uid",
	        -1, &q, NULL) != SQLITE_OK) {
		log_event(LOG_ERR, "store-error", "REASON", sqlite3_errmsg(store_db(s->st)), NULL);
		return;
	}
	for (size_t i = 0; i < uids->count; i++) {
		sqlite3_bind_int64(q, 1, s->sel->folder_id);
		sqlite3_bind_int64(q, 2, uids->ranges[i].lo);
		sqlite3_bind_int64(q, 3, uids->ranges[i].hi);
		sqlite3_bind_int(q, 4, STORE_FLAG_SEEN);
		sqlite3_bind_int64(q, 5, c->mods.changedsince ? (sqlite3_int64)c->mods.modseq : 0);
		while (sqlite3_step(q) == SQLITE_ROW) {
			if (n == cap) {
				cap = cap ? cap * 2 : 64;
				unseen = mem_realloc(unseen, cap, sizeof(*unseen));
			}
			unseen[n++] = (uint32_t)sqlite3_column_int64(q, 0);
		}
		sqlite3_reset(q);
	}
	sqlite3_finalize(q);
	if (n > 0) {
		struct imap_flag_result *res = NULL;
		if (imap_flags_apply(s, unseen, n, STORE_FLAGS_ADD, STORE_FLAG_SEEN, NULL, false, 0,
		                     &res) == 0) {
			for (size_t i = 0; i < n; i++)
				if (res[i].changed)
					seqset_add(&c->seen_changed, res[i].uid, res[i].uid);
			seqset_normalise(&c->seen_changed);
			imap_flag_results_free(&res, n);
		} else {
			/* The data can still be sent; the flag is a courtesy. */
			log_event(LOG_WARNING, "store-error", "REASON", store_error(s->st), NULL);
		}
	}
	free(unseen);
}

/* RFC 7162 section 3.2.6: VANISHED (EARLIER) with the UIDs of the set that
 * were expunged since the CHANGEDSINCE mod-sequence, before any FETCH. UIDs
 * still in our view are left to the next EXPUNGE report. */
static void fetch_vanished(struct fetch_ctx *c, const struct imapparse_arg *setarg)
{
	struct imap_sess *s = c->s;
	struct seqset set = SEQSET_INIT, gone = SEQSET_INIT;
	sqlite3_stmt *q;
	uint32_t max = s->sel->uidnext > 1 ? s->sel->uidnext - 1 : 0;
	if (seqset_parse(&set, setarg->str, setarg->len, 100000, NULL) != 1) {
		seqset_free(&set);
		return;
	}
	seqset_resolve(&set, max, true);
	if (sqlite3_prepare_v2(store_db(s->st),
	                       "SELECT uid FROM expunged WHERE folder_id = ?1 AND modseq > ?2 "
	                       "ORDER BY uid",
	                       -1, &q, NULL) == SQLITE_OK) {
		sqlite3_bind_int64(q, 1, s->sel->folder_id);
		sqlite3_bind_int64(q, 2, (sqlite3_int64)c->mods.modseq);
		while (sqlite3_step(q) == SQLITE_ROW) {
			uint32_t uid = (uint32_t)sqlite3_column_int64(q, 0);
			if (seqset_contains(&set, uid) && imap_seq_of_uid(s->sel, uid) == 0)
				seqset_add(&gone, uid, uid);
		}
		sqlite3_finalize(q);
	}
	if (gone.count > 0) {
		struct buf b = BUF_INIT;
		seqset_normalise(&gone);
		seqset_format(&gone, &b);
		imap_untagged(s, "VANISHED (EARLIER) %s", buf_cstr(&b));
		buf_free(&b);
	}
	seqset_free(&set);
	seqset_free(&gone);
}

int imap_cmd_fetch(struct imap_sess *s, const struct imapparse_arg *args, size_t n)
{
	struct fetch_ctx c;
	const char *err = NULL;
	struct seqset uids = SEQSET_INIT;
	bool uid_cmd = s->cmd->uid;
	int rc = 0;
	memset(&c, 0, sizeof(c));
	c.s = s;
	if (n < 2 || n > 3) {
		imap_bad(s, "Syntax: %sFETCH sequence-set items [(modifiers)]",
		         uid_cmd ? "UID " : "");
		return 0;
	}
	if (imapparse_fetch_parse(&args[1], &c.f, &err) != 1) {
		imap_bad(s, "Invalid fetch items: %s.", err ? err : "syntax error");
		return 0;
	}
	if (n == 3 && imapparse_fetch_modifiers(&args[2], &c.mods, &err) != 1) {
		imap_bad(s, "Invalid FETCH modifiers: %s.", err ? err : "syntax error");
		goto out;
	}
	if (c.mods.vanished && !uid_cmd) {
		/* RFC 7162 section 3.2.6: VANISHED only with UID FETCH. */
		imap_bad(s, "VANISHED only with UID FETCH.");
		goto out;
	}
	if (c.mods.vanished && !s->qresync) {
		imap_bad(s, "QRESYNC is not enabled.");
		goto out;
	}
	if (imap_uidset_arg(s, &args[0], uid_cmd, &uids) != 1)
		goto out;
	bool modseq_asked = c.mods.changedsince;
	for (size_t i = 0; i < c.f.count; i++)
		if (c.f.atts[i].kind == IMAPPARSE_FETCH_MODSEQ)
			modseq_asked = true;
	/* RFC 7162 section 3.1: FETCH MODSEQ and CHANGEDSINCE enable CONDSTORE. */
	if (modseq_asked)
		imap_condstore_enable(s);
	fetch_plan(&c, uid_cmd);
	if (c.mods.vanished)
		fetch_vanished(&c, &args[0]);
	if (c.sets_seen && !s->sel->readonly && uids.count > 0)
		fetch_set_seen(&c, &uids);
	c.mc = imap_msgcache_new(s->st, s->sel->folder_id);
	c.chunk = mem_alloc(FETCH_CHUNK);
	struct seqset_iter it = SEQSET_ITER_INIT;
	uint32_t uid;
	while (seqset_next(&uids, &it, &uid)) {
		uint32_t seq = imap_seq_of_uid(s->sel, uid);
		if (seq == 0)
			continue;
		int r = fetch_one(&c, uid, seq);
		if (r < 0) {
			/* As Dovecot: rather BYE than a NO that a client could
			 * take for "this message is gone". */
			log_event(LOG_ERR, "fetch-failed", "REASON", "store read failed", NULL);
			imap_msgcache_free(&c.mc);
			if (r == -1)
				imap_untagged(s, "BYE Internal error reading the mailbox.");
			imap_set_state(s, IMAP_ST_LOGOUT);
			rc = -1;
			goto out;
		}
	}
	imap_msgcache_free(&c.mc);
	if (c.cte_error)
		imap_no(s, "[UNKNOWN-CTE] Unknown Content-Transfer-Encoding in some parts.");
	else if (c.expunged)
		imap_ok(s, "[EXPUNGEISSUED] Some messages were already expunged.");
	else
		imap_ok(s, "Fetch completed.");
out:
	seqset_free(&uids);
	imapparse_fetch_free(&c.f);
	free(c.order);
	free(c.pieces);
	free(c.chunk);
	buf_free(&c.dec);
	buf_free(&c.line);
	seqset_free(&c.seen_changed);
	return rc;
}
