/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* Cache form of a parsed MIME tree. Layout (all integers unsigned LEB128,
 * minimal length; "str" = length + bytes; "nstr" = length + 1 + bytes, or 0
 * for NULL):
 *   "SMC" 0x01, message size, root part
 *   part = flags, hdr_off, hdr_size, body_size, body_lines,
 *          type str, subtype str, nparams, nparams * param,
 *          id, description, encoding, md5, location, disposition (nstr each),
 *          ndisp_params, ndisp_params * param, nlanguages, nlanguages * str,
 *          message fields: 0 | 1 followed by 10 nstr (Date .. Message-ID raw,
 *          in the order of enum mime_msg_field),
 *          nchildren, children
 *   param = name str, value str, ext_value nstr
 * The message fields are stored raw, never in a protocol's form: whatever
 * writes them out for a client quotes them anew, so a tampered cache cannot
 * put protocol text into a response. Decoding checks every offset against
 * its parent, every count against a bound, and rejects trailing bytes.
 * Trust: the bytes come from the user's own encrypted store but are checked
 * as if hostile. */
#include <string.h>
#include <strings.h>

#include "mime.h"
#include "mime_internal.h"

static const unsigned char cache_magic[4] = {'S', 'M', 'C', 1};

static void put_uint(struct buf *out, size_t v)
{
	do {
		unsigned char b = v & 0x7f;
		v >>= 7;
		buf_append_byte(out, v ? (unsigned char)(b | 0x80) : b);
	} while (v);
}

static void put_str(struct buf *out, const char *s)
{
	size_t n = strlen(s);
	put_uint(out, n);
	buf_append(out, s, n);
}

static void put_nstr(struct buf *out, const void *s, size_t n)
{
	if (s == NULL) {
		put_uint(out, 0);
		return;
	}
	put_uint(out, n + 1);
	buf_append(out, s, n);
}

static void put_params(struct buf *out, const struct mime_param *pp, unsigned n)
{
	put_uint(out, n);
	for (unsigned i = 0; i < n; i++) {
		put_str(out, pp[i].name);
		put_str(out, pp[i].value);
		put_nstr(out, pp[i].ext_value,
		         pp[i].ext_value != NULL ? strlen(pp[i].ext_value) : 0);
	}
}

static void put_cstr(struct buf *out, const char *s)
{
	put_nstr(out, s, s != NULL ? strlen(s) : 0);
}

static void encode_part(const struct mime_part *p, struct buf *out)
{
	put_uint(out, p->flags);
	put_uint(out, p->hdr_off);
	put_uint(out, p->hdr_size);
	put_uint(out, p->body_size);
	put_uint(out, p->body_lines);
	put_str(out, p->type);
	put_str(out, p->subtype);
	put_params(out, p->params, p->nparams);
	put_cstr(out, p->id);
	put_cstr(out, p->description);
	put_cstr(out, p->encoding);
	put_cstr(out, p->md5);
	put_cstr(out, p->location);
	put_cstr(out, p->disposition);
	put_params(out, p->disp_params, p->ndisp_params);
	put_uint(out, p->nlanguages);
	for (unsigned i = 0; i < p->nlanguages; i++)
		put_str(out, p->languages[i]);
	if (p->msg_fields == NULL)
		put_uint(out, 0);
	else {
		put_uint(out, 1);
		for (int i = 0; i < MIME_MSG_FIELD_COUNT; i++)
			put_nstr(out, p->msg_fields->val[i], p->msg_fields->len[i]);
	}
	put_uint(out, p->nchildren);
	for (const struct mime_part *c = p->children; c != NULL; c = c->next)
		encode_part(c, out);
}

void mime_cache_encode(const struct mime_part *root, struct buf *out)
{
	buf_append(out, cache_magic, sizeof(cache_magic));
	put_uint(out, mime_message_size(root));
	encode_part(root, out);
}

struct dec {
	const unsigned char *p, *end;
	struct mime_arena *arena;
	size_t msg_size;
	unsigned nparts;
};

static int get_uint(struct dec *d, size_t *v)
{
	size_t r = 0;
	unsigned shift = 0;
	for (;;) {
		if (d->p >= d->end || shift >= sizeof(size_t) * 8)
			return -1;
		unsigned char b = *d->p++;
		size_t part = (size_t)(b & 0x7f);
		if (shift > 0 && (part << shift) >> shift != part)
			return -1; /* does not fit */
		r |= part << shift;
		if ((b & 0x80) == 0) {
			if (b == 0 && shift > 0)
				return -1; /* not minimal */
			break;
		}
		shift += 7;
	}
	*v = r;
	return 0;
}

static int get_bytes(struct dec *d, size_t n, const unsigned char **s)
{
	if ((size_t)(d->end - d->p) < n)
		return -1;
	*s = d->p;
	d->p += n;
	return 0;
}

/* A C string of the tree: no NUL inside. */
static int get_str(struct dec *d, char **s)
{
	size_t n;
	const unsigned char *b;
	if (get_uint(d, &n) < 0 || get_bytes(d, n, &b) < 0 || memchr(b, '\0', n) != NULL)
		return -1;
	*s = mime_arena_strndup(d->arena, b, n);
	return 0;
}

static int get_nstr(struct dec *d, char **s)
{
	size_t n;
	const unsigned char *b;
	if (get_uint(d, &n) < 0)
		return -1;
	if (n == 0) {
		*s = NULL;
		return 0;
	}
	if (get_bytes(d, n - 1, &b) < 0 || memchr(b, '\0', n - 1) != NULL)
		return -1;
	*s = mime_arena_strndup(d->arena, b, n - 1);
	return 0;
}

static int get_count(struct dec *d, unsigned max, unsigned *n)
{
	size_t v;
	if (get_uint(d, &v) < 0 || v > max)
		return -1;
	*n = (unsigned)v;
	return 0;
}

static int get_params(struct dec *d, struct mime_param **pp, unsigned *n)
{
	if (get_count(d, MIME_MAX_PARAMS, n) < 0)
		return -1;
	*pp = NULL;
	if (*n == 0)
		return 0;
	*pp = mime_arena_alloc(d->arena, sizeof(**pp) * *n);
	for (unsigned i = 0; i < *n; i++)
		if (get_str(d, &(*pp)[i].name) < 0 || get_str(d, &(*pp)[i].value) < 0 ||
		    get_nstr(d, &(*pp)[i].ext_value) < 0)
			return -1;
	return 0;
}

/* The message fields of p: 10 nstr, each no longer than p's header. They
 * may hold any byte (a NUL of the header included, as the parser kept it);
 * a reader quotes them for its protocol. */
static int get_msg_fields(struct dec *d, struct mime_part *p)
{
	struct mime_msg_fields *f = mime_arena_alloc(d->arena, sizeof(*f));
	for (int i = 0; i < MIME_MSG_FIELD_COUNT; i++) {
		size_t n;
		const unsigned char *b;
		if (get_uint(d, &n) < 0)
			return -1;
		if (n == 0)
			continue;
		if (get_bytes(d, n - 1, &b) < 0 || n - 1 > p->hdr_size)
			return -1;
		unsigned char *v = mime_arena_alloc(d->arena, n);
		memcpy(v, b, n - 1);
		f->val[i] = v;
		f->len[i] = n - 1;
	}
	p->msg_fields = f;
	return 0;
}

/* Decode one part that must lie in [lo, hi]; exact: it must span it all
 * (the root, and the message inside a message/rfc822 part). */
static int decode_part(struct dec *d, struct mime_part *parent, size_t lo, size_t hi, bool exact,
                       unsigned depth, struct mime_part **part_r)
{
	if (depth > MIME_CACHE_MAX_DEPTH || ++d->nparts > MIME_CACHE_MAX_PARTS)
		return -1;
	struct mime_part *p = mime_arena_alloc(d->arena, sizeof(*p));
	size_t flags, end;
	p->parent = parent;
	*part_r = p;
	if (get_uint(d, &flags) < 0 || (flags & ~(size_t)MIME_PART_FLAGS_ALL) != 0 ||
	    get_uint(d, &p->hdr_off) < 0 || get_uint(d, &p->hdr_size) < 0 ||
	    get_uint(d, &p->body_size) < 0 || get_uint(d, &p->body_lines) < 0)
		return -1;
	p->flags = (unsigned)flags;
	if (__builtin_add_overflow(p->hdr_off, p->hdr_size, &p->body_off) ||
	    __builtin_add_overflow(p->body_off, p->body_size, &end))
		return -1;
	if (p->hdr_off < lo || end > hi || (exact && (p->hdr_off != lo || end != hi)) ||
	    p->body_lines > p->body_size)
		return -1;
	bool multi = (p->flags & MIME_PART_MULTIPART) != 0;
	bool msg = (p->flags & MIME_PART_MESSAGE) != 0;
	if (multi && msg)
		return -1;
	if (get_str(d, &p->type) < 0 || get_str(d, &p->subtype) < 0 ||
	    get_params(d, &p->params, &p->nparams) < 0)
		return -1;
	/* the flags must say what the type says (the serialiser trusts them) */
	bool text = strcasecmp(p->type, "text") == 0;
	if (((p->flags & MIME_PART_TEXT) != 0) != text || (text && (multi || msg)) ||
	    (multi && strcasecmp(p->type, "multipart") != 0) ||
	    (msg && (strcasecmp(p->type, "message") != 0 || strcasecmp(p->subtype, "rfc822") != 0)))
		return -1;
	if (get_nstr(d, &p->id) < 0 || get_nstr(d, &p->description) < 0 ||
	    get_nstr(d, &p->encoding) < 0 || get_nstr(d, &p->md5) < 0 ||
	    get_nstr(d, &p->location) < 0 || get_nstr(d, &p->disposition) < 0 ||
	    get_params(d, &p->disp_params, &p->ndisp_params) < 0 ||
	    get_count(d, MIME_MAX_PARAMS, &p->nlanguages) < 0)
		return -1;
	if (p->nlanguages > 0) {
		p->languages = mime_arena_alloc(d->arena, sizeof(char *) * p->nlanguages);
		for (unsigned i = 0; i < p->nlanguages; i++)
			if (get_str(d, &p->languages[i]) < 0)
				return -1;
	}
	size_t has_env;
	if (get_uint(d, &has_env) < 0 || has_env > 1)
		return -1;
	/* exactly the root and the messages of message/rfc822 parts */
	if ((has_env == 1) != (parent == NULL || (parent->flags & MIME_PART_MESSAGE) != 0))
		return -1;
	if (has_env && get_msg_fields(d, p) < 0)
		return -1;
	unsigned nchildren;
	if (get_count(d, MIME_CACHE_MAX_PARTS, &nchildren) < 0)
		return -1;
	if ((msg && nchildren != 1) || (!msg && !multi && nchildren != 0))
		return -1;
	struct mime_part **link = &p->children;
	size_t next = p->body_off;
	for (unsigned i = 0; i < nchildren; i++) {
		struct mime_part *c;
		if (decode_part(d, p, msg ? p->body_off : next, end, msg, depth + 1, &c) < 0)
			return -1;
		*link = c;
		link = &c->next;
		p->nchildren++;
		next = c->body_off + c->body_size;
	}
	return 0;
}

int mime_cache_decode(const unsigned char *data, size_t len, struct mime_part **root_r)
{
	struct dec d = {data, data + len, NULL, 0, 0};
	struct mime_part *root;
	if (len < sizeof(cache_magic) || memcmp(data, cache_magic, sizeof(cache_magic)) != 0)
		return -1;
	d.p += sizeof(cache_magic);
	if (get_uint(&d, &d.msg_size) < 0)
		return -1;
	d.arena = mime_arena_new();
	if (decode_part(&d, NULL, 0, d.msg_size, true, 0, &root) < 0 || d.p != d.end) {
		mime_arena_free(&d.arena);
		return -1;
	}
	root->arena = d.arena;
	*root_r = root;
	return 0;
}
