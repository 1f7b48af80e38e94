/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* MIME parser: builds the part tree of a message (RFC 2045, RFC 2046) with
 * byte offsets, line counts, the Content-* fields and the message fields of
 * every message header in it.
 *
 * The body is scanned line by line (LF ends a line; a CR before it is part
 * of the line end). Only lines that start with "--" are compared with the
 * boundaries of the open multiparts, so the work is linear in the message.
 * Fallbacks for malformed MIME follow Dovecot's message-parser.c:
 *  - a boundary line is any line that starts with "--" and an open boundary;
 *    the longest matching boundary wins, the innermost on a tie, and a
 *    boundary of an outer multipart ends every part opened inside it (a
 *    missing close delimiter is no error);
 *  - the line end before a boundary belongs to the boundary (RFC 2046
 *    section 5.1.1), unless it ends the header of the part, as when a body is
 *    empty;
 *  - a header line without a colon stays in the header;
 *  - a boundary line inside a header ends that header there;
 *  - multipart without a usable boundary parameter: Dovecot clears the
 *    multipart flag and the part becomes text/plain, which is also RFC 2045
 *    section 5.2's advice for a syntactically invalid Content-Type;
 *  - a part below multipart/digest without a valid Content-Type is
 *    message/rfc822 (RFC 2046 section 5.1.5), elsewhere text/plain in
 *    US-ASCII (RFC 2045 section 5.2);
 *  - past max_depth a multipart or message/rfc822 part is not descended into
 *    (flag MIME_PART_OVERFLOW; its body runs to its parent's next boundary);
 *    once max_parts parts exist, the part being read when another one would
 *    start takes the rest of the message (MIME_PART_OVERFLOW), as Dovecot
 *    does with max_total_mime_parts. */
#include "mime.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/mem.h"
#include "mime_internal.h"
#include "rfc2231.h"

/* bytes of a body line kept to compare it with boundaries: "--" boundary "--" */
#define LINE_KEEP (2 + MIME_BOUNDARY_MAX + 2)

struct open_part {
	struct mime_part *part;
	struct mime_part *last_child;
	size_t body_lf; /* LF characters before body_off */
	unsigned depth;
	bool in_header;
	bool digest; /* multipart/digest: children default to message/rfc822 */
};

struct boundary {
	char *str;
	size_t len;
	unsigned level; /* index of its multipart in the open-part stack */
};

struct mime_parser {
	struct mime_limits lim;
	struct mime_arena *arena;
	struct mime_part *root;
	struct open_part *stack;
	unsigned nstack, capstack;
	struct boundary *bnd;
	unsigned nbnd, capbnd;
	unsigned nparts;
	bool overflow; /* max_parts reached: boundaries are no longer looked for */

	size_t line_start; /* offset of the line being read */
	size_t lf_count;   /* LF characters before line_start */
	size_t prev_eol;   /* line end length of the line before line_start */
	struct buf line;   /* kept prefix of a line split across chunks */
	size_t line_len;   /* bytes of that line so far */
	unsigned char line_last;

	/* header of the part on top of the stack */
	struct buf field;
	bool field_active, field_drop;
	size_t hdr_kept;
	unsigned hdr_fields;
	struct mime_hdr_values vals;
};

/* ---- Content-* field values (RFC 2045 section 5.1, RFC 2183, RFC 3282) ---- */

static bool is_tspecial(unsigned char c)
{
	return c != '\0' && strchr("()<>@,;:\\\"/[]?=", c) != NULL;
}

static bool is_token(unsigned char c)
{
	return c > ' ' && c < 0x7f && !is_tspecial(c);
}

/* Skip white space and (nested) comments. */
static const unsigned char *skip_cfws(const unsigned char *p, const unsigned char *end)
{
	while (p < end) {
		if (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n') {
			p++;
			continue;
		}
		if (*p != '(')
			break;
		size_t depth = 0;
		do {
			if (*p == '\\' && p + 1 < end)
				p++;
			else if (*p == '(')
				depth++;
			else if (*p == ')')
				depth--;
			p++;
		} while (depth > 0 && p < end);
	}
	return p;
}

static const unsigned char *token(const unsigned char *p, const unsigned char *end)
{
	while (p < end && is_token(*p))
		p++;
	return p;
}

struct rawparam {
	char *name;
	char *value;
};

/* parameter list: *(";" attribute "=" value), leniently: a value that is
 * not a token or quoted-string runs to the next ";" (unquoted file names
 * with spaces are common). Returns the count, at most MIME_MAX_PARAMS. */
static unsigned parse_params(const unsigned char *p, const unsigned char *end, struct rawparam *out)
{
	unsigned n = 0;
	struct buf v = BUF_INIT;
	while (p < end && n < MIME_MAX_PARAMS) {
		p = skip_cfws(p, end);
		if (p >= end)
			break;
		if (*p == ';') {
			p++;
			continue;
		}
		const unsigned char *ns = p, *ne = token(p, end);
		p = skip_cfws(ne, end);
		if (ne == ns || p >= end || *p != '=') {
			/* broken: skip to the next parameter */
			while (p < end && *p != ';')
				p++;
			continue;
		}
		p = skip_cfws(p + 1, end);
		buf_reset(&v);
		if (p < end && *p == '"') {
			p++;
			while (p < end && *p != '"') {
				if (*p == '\\' && p + 1 < end)
					p++;
				if (*p != '\r' && *p != '\n')
					buf_append_byte(&v, *p);
				p++;
			}
			if (p < end)
				p++;
			while (p < end && *p != ';')
				p++;
		} else {
			const unsigned char *vs = p;
			while (p < end && *p != ';' && *p != ' ' && *p != '\t' && *p != '(' &&
			       *p != '"')
				p++;
			const unsigned char *ve = p, *q = skip_cfws(p, end);
			if (q < end && *q != ';') {
				/* garbage after the value: take all up to ";" */
				while (q < end && *q != ';')
					q++;
				ve = q;
				while (ve > vs && (ve[-1] == ' ' || ve[-1] == '\t'))
					ve--;
			}
			p = q;
			buf_append(&v, vs, (size_t)(ve - vs));
		}
		out[n].name = mem_strndup((const char *)ns, (size_t)(ne - ns));
		out[n].value = mem_strndup((const char *)buf_cstr(&v), v.len);
		n++;
	}
	buf_free(&v);
	return n;
}

/* RFC 2231 section 3 and 4: name*N / name*N* / name* */
static bool split_2231(const char *name, size_t *base_len, unsigned *idx, bool *ext, bool *indexed)
{
	const char *star = strchr(name, '*');
	if (star == NULL || star == name)
		return false;
	*base_len = (size_t)(star - name);
	const char *s = star + 1;
	*idx = 0;
	*ext = false;
	*indexed = false;
	if (*s >= '0' && *s <= '9') {
		*indexed = true;
		if (*s == '0' && s[1] >= '0' && s[1] <= '9')
			return false; /* no leading zeros */
		unsigned v = 0, digits = 0;
		while (*s >= '0' && *s <= '9') {
			v = v * 10 + (unsigned)(*s++ - '0');
			if (++digits > 3)
				return false;
		}
		if (v >= MIME_MAX_PARAMS)
			return false;
		*idx = v;
	}
	if (*s == '*') {
		*ext = true;
		s++;
	} else if (!*indexed && *s == '\0') {
		*ext = true; /* "name*": the one star marks an extended value */
		return true;
	}
	return *s == '\0' && *indexed;
}

struct seg {
	unsigned raw; /* index into the raw list */
	unsigned idx;
	bool ext, indexed;
	size_t base_len;
};

static struct mime_param *param_new(struct mime_arena *a, struct mime_param *arr, unsigned *n,
                                    const char *name, size_t name_len, const char *value,
                                    size_t value_len, const char *ext, size_t ext_len)
{
	struct mime_param *pp = &arr[(*n)++];
	pp->name = mime_arena_strndup(a, name, name_len);
	pp->value = mime_arena_strndup(a, value, value_len);
	pp->ext_value = ext != NULL ? mime_arena_strndup(a, ext, ext_len) : NULL;
	return pp;
}

/* Merge RFC 2231 continuations and decode extended values. Plain parameters
 * keep their order; merged ones follow in the order of their first segment.
 * A set of segments with a missing or repeated index is kept unmerged, as
 * Dovecot's rfc2231-parser does. The merged wire form is Dovecot's too:
 * name* = charset'lang'%XX... with '%' of plain segments escaped, so that
 * BODYSTRUCTURE stays 7-bit and clients decode it. */
static struct mime_param *merge_params(struct mime_arena *a, struct rawparam *raw, unsigned n,
                                       unsigned *count_r)
{
	struct mime_param *out = n > 0 ? mime_arena_alloc(a, sizeof(*out) * n) : NULL;
	struct seg *segs = mem_array(n ? n : 1, sizeof(*segs));
	bool *done = mem_array(n ? n : 1, sizeof(bool));
	unsigned cnt = 0;

	for (unsigned i = 0; i < n; i++) {
		struct seg s = {.raw = i};
		if (!split_2231(raw[i].name, &s.base_len, &s.idx, &s.ext, &s.indexed)) {
			param_new(a, out, &cnt, raw[i].name, strlen(raw[i].name), raw[i].value,
			          strlen(raw[i].value), NULL, 0);
			done[i] = true;
		}
	}
	for (unsigned i = 0; i < n; i++) {
		if (done[i])
			continue;
		/* collect the group of raw[i]'s base name */
		unsigned ns = 0;
		size_t base_len = strchr(raw[i].name, '*') - raw[i].name;
		for (unsigned j = i; j < n; j++) {
			if (done[j])
				continue;
			struct seg s = {.raw = j};
			split_2231(raw[j].name, &s.base_len, &s.idx, &s.ext, &s.indexed);
			if (s.base_len != base_len ||
			    strncasecmp(raw[j].name, raw[i].name, base_len) != 0)
				continue;
			/* insertion by index keeps the sort linear per segment */
			unsigned k = ns++;
			while (k > 0 && segs[k - 1].idx > s.idx) {
				segs[k] = segs[k - 1];
				k--;
			}
			segs[k] = s;
			done[j] = true;
		}
		bool ok = true, any_ext = false;
		for (unsigned k = 0; k < ns; k++) {
			if (segs[k].idx != k || (!segs[k].indexed && ns > 1))
				ok = false;
			any_ext |= segs[k].ext;
		}
		if (!ok) {
			for (unsigned k = 0; k < ns; k++) {
				struct rawparam *r = &raw[segs[k].raw];
				param_new(a, out, &cnt, r->name, strlen(r->name), r->value,
				          strlen(r->value), NULL, 0);
			}
			continue;
		}
		struct buf wire = BUF_INIT, dec = BUF_INIT;
		if (any_ext && !segs[0].ext)
			buf_append_str(&wire, "''");
		for (unsigned k = 0; k < ns; k++) {
			const char *v = raw[segs[k].raw].value;
			if (!any_ext || segs[k].ext) {
				buf_append_str(&wire, v);
				continue;
			}
			for (; *v != '\0'; v++) {
				if (*v == '%')
					buf_append_str(&wire, "%25");
				else
					buf_append_byte(&wire, (unsigned char)*v);
			}
		}
		if (!any_ext)
			param_new(a, out, &cnt, raw[i].name, base_len,
			          (const char *)buf_cstr(&wire), wire.len, NULL, 0);
		else {
			if (rfc2231_decode((const char *)buf_cstr(&wire), wire.len, &dec) < 0)
				buf_append(&dec, wire.data, wire.len);
			param_new(a, out, &cnt, raw[i].name, base_len, (const char *)buf_cstr(&dec),
			          dec.len, (const char *)buf_cstr(&wire), wire.len);
		}
		buf_free(&wire);
		buf_free(&dec);
	}
	free(segs);
	free(done);
	*count_r = cnt;
	return cnt > 0 ? out : NULL;
}

static void rawparams_free(struct rawparam *raw, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		free(raw[i].name);
		free(raw[i].value);
	}
	free(raw);
}

static const char *param_get(const struct mime_param *pp, unsigned n, const char *name)
{
	for (unsigned i = 0; i < n; i++)
		if (strcasecmp(pp[i].name, name) == 0)
			return pp[i].value;
	return NULL;
}

/* Unfolded value of a collected field, or NULL when absent. */
static const struct buf *field_value(const struct mime_hdr_values *v, int id, struct buf *tmp)
{
	if (!v->seen[id])
		return NULL;
	buf_reset(tmp);
	mime_header_unfold(v->val[id].data, v->val[id].len, tmp);
	buf_reserve(tmp, 0);
	return tmp;
}

static char *field_string(struct mime_arena *a, const struct mime_hdr_values *v, int id)
{
	struct buf t = BUF_INIT;
	const struct buf *b = field_value(v, id, &t);
	char *s = b == NULL ? NULL : mime_arena_strndup(a, b->data, b->len);
	buf_free(&t);
	return s;
}

/* Fill the Content-* fields of part from the collected header values. On a
 * multipart with a usable boundary, boundary gets it (truncated). */
static void part_set_content(struct mime_arena *a, struct mime_part *part,
                             const struct mime_hdr_values *v, bool in_digest, struct buf *boundary,
                             bool *digest)
{
	struct buf t = BUF_INIT;
	const struct buf *b;
	bool valid = false;
	*digest = false;
	buf_reset(boundary);

	if ((b = field_value(v, MIME_H_CONTENT_TYPE, &t)) != NULL) {
		/* content := type "/" subtype *(";" parameter), RFC 2045 5.1 */
		const unsigned char *p = b->data, *end = b->data + b->len;
		p = skip_cfws(p, end);
		const unsigned char *ts = p, *te = token(p, end);
		p = skip_cfws(te, end);
		if (te > ts && p < end && *p == '/') {
			p = skip_cfws(p + 1, end);
			const unsigned char *ss = p, *se = token(p, end);
			p = skip_cfws(se, end);
			if (se > ss && (p == end || *p == ';')) {
				valid = true;
				part->type = mime_arena_strndup(a, ts, (size_t)(te - ts));
				part->subtype = mime_arena_strndup(a, ss, (size_t)(se - ss));
				struct rawparam *raw = mem_array(MIME_MAX_PARAMS, sizeof(*raw));
				unsigned n = parse_params(p, end, raw);
				part->params = merge_params(a, raw, n, &part->nparams);
				rawparams_free(raw, n);
			}
		}
	}
	if (valid && strcasecmp(part->type, "multipart") == 0) {
		const char *bs = param_get(part->params, part->nparams, "boundary");
		if (bs == NULL || *bs == '\0') {
			valid = false; /* RFC 2046 5.1.1: the boundary is mandatory */
		} else {
			size_t bl = strlen(bs);
			buf_append(boundary, bs, bl > MIME_BOUNDARY_MAX ? MIME_BOUNDARY_MAX : bl);
			part->flags |= MIME_PART_MULTIPART;
			*digest = strcasecmp(part->subtype, "digest") == 0;
		}
	}
	if (!valid) {
		part->params = NULL;
		part->nparams = 0;
		if (in_digest) {
			part->type = mime_arena_strndup(a, "message", 7);
			part->subtype = mime_arena_strndup(a, "rfc822", 6);
		} else {
			part->type = mime_arena_strndup(a, "text", 4);
			part->subtype = mime_arena_strndup(a, "plain", 5);
		}
	}
	if (strcasecmp(part->type, "text") == 0)
		part->flags |= MIME_PART_TEXT;
	else if (strcasecmp(part->type, "message") == 0 && strcasecmp(part->subtype, "rfc822") == 0)
		part->flags |= MIME_PART_MESSAGE;

	if ((b = field_value(v, MIME_H_CONTENT_TRANSFER_ENCODING, &t)) != NULL) {
		/* mechanism := token, nothing else (RFC 2045 section 6.1) */
		const unsigned char *p = skip_cfws(b->data, b->data + b->len);
		const unsigned char *e = token(p, b->data + b->len);
		if (e > p && skip_cfws(e, b->data + b->len) == b->data + b->len)
			part->encoding = mime_arena_strndup(a, p, (size_t)(e - p));
	}
	if ((b = field_value(v, MIME_H_CONTENT_DISPOSITION, &t)) != NULL) {
		/* disposition := type *(";" parameter), RFC 2183 section 2 */
		const unsigned char *p = skip_cfws(b->data, b->data + b->len),
		                    *end = b->data + b->len;
		const unsigned char *e = token(p, end);
		if (e > p) {
			part->disposition = mime_arena_strndup(a, p, (size_t)(e - p));
			struct rawparam *raw = mem_array(MIME_MAX_PARAMS, sizeof(*raw));
			unsigned n = parse_params(e, end, raw);
			part->disp_params = merge_params(a, raw, n, &part->ndisp_params);
			rawparams_free(raw, n);
		}
	}
	if ((b = field_value(v, MIME_H_CONTENT_LANGUAGE, &t)) != NULL) {
		/* Content-Language: 1#Language-Tag (RFC 3282 section 2) */
		const unsigned char *p = b->data, *end = b->data + b->len;
		unsigned n = 0, cap = 0;
		char **langs = NULL;
		for (;;) {
			p = skip_cfws(p, end);
			const unsigned char *e = token(p, end);
			if (e == p)
				break;
			if (n == cap) {
				cap = cap ? cap * 2 : 4;
				char **nl = mime_arena_alloc(a, sizeof(char *) * cap);
				if (n > 0)
					memcpy(nl, langs, sizeof(char *) * n);
				langs = nl;
			}
			langs[n++] = mime_arena_strndup(a, p, (size_t)(e - p));
			p = skip_cfws(e, end);
			if (p >= end || *p != ',' || n >= MIME_MAX_PARAMS)
				break;
			p++;
		}
		part->languages = langs;
		part->nlanguages = n;
	}
	part->id = field_string(a, v, MIME_H_CONTENT_ID);
	part->description = field_string(a, v, MIME_H_CONTENT_DESCRIPTION);
	part->location = field_string(a, v, MIME_H_CONTENT_LOCATION);
	part->md5 = field_string(a, v, MIME_H_CONTENT_MD5);
	buf_free(&t);
}

/* ---- the line scanner ---- */

void mime_free(struct mime_part **root)
{
	if (*root == NULL)
		return;
	struct mime_arena *a = (*root)->arena;
	mime_arena_free(&a);
	*root = NULL;
}

static struct open_part *top(struct mime_parser *p)
{
	return &p->stack[p->nstack - 1];
}

static void header_state_reset(struct mime_parser *p)
{
	buf_reset(&p->field);
	p->field_active = p->field_drop = false;
	p->hdr_kept = 0;
	p->hdr_fields = 0;
	mime_hdr_values_reset(&p->vals);
}

/* Open a new part at hdr_off, a child of stack entry parent (or the root). */
static void part_open(struct mime_parser *p, struct open_part *parent, size_t hdr_off)
{
	struct mime_part *part = mime_arena_alloc(p->arena, sizeof(*part));
	part->hdr_off = part->body_off = hdr_off;
	unsigned depth = 0;
	if (parent != NULL) {
		part->parent = parent->part;
		if (parent->last_child == NULL)
			parent->part->children = part;
		else
			parent->last_child->next = part;
		parent->last_child = part;
		parent->part->nchildren++;
		depth = parent->depth + 1;
	}
	if (p->nstack == p->capstack) {
		p->capstack = p->capstack ? p->capstack * 2 : 8;
		p->stack = mem_realloc(p->stack, p->capstack, sizeof(*p->stack));
	}
	/* parent may have moved with the realloc; it is no longer used */
	p->stack[p->nstack++] = (struct open_part){.part = part, .depth = depth, .in_header = true};
	p->nparts++;
	header_state_reset(p);
}

static void field_flush(struct mime_parser *p)
{
	if (p->field_active && !p->field_drop) {
		struct mime_header_field f;
		mime_header_split(p->field.data, p->field.len, &f);
		if (f.has_colon)
			mime_hdr_values_add(&p->vals, f.name, f.name_len, f.value, f.value_len);
	}
	buf_reset(&p->field);
	p->field_active = p->field_drop = false;
}

/* The header of the top part ends at hdr_end (body_lf LFs before it).
 * Children (a multipart's boundary, a message/rfc822's message) are set up
 * only when the header ended with its empty line. */
static void header_end(struct mime_parser *p, size_t hdr_end, size_t body_lf, bool proper)
{
	field_flush(p);
	struct open_part *e = top(p);
	struct mime_part *part = e->part;
	bool in_digest = p->nstack >= 2 && p->stack[p->nstack - 2].digest;
	bool parent_msg = part->parent == NULL || (part->parent->flags & MIME_PART_MESSAGE) != 0;
	struct buf boundary = BUF_INIT;
	bool digest;

	part->hdr_size = hdr_end - part->hdr_off;
	part->body_off = hdr_end;
	e->in_header = false;
	e->body_lf = body_lf;
	part_set_content(p->arena, part, &p->vals, in_digest, &boundary, &digest);
	if (parent_msg)
		part->msg_fields = mime_msg_fields_new(p->arena, &p->vals);
	header_state_reset(p);

	bool too_deep = e->depth + 1 > p->lim.max_depth;
	if ((part->flags & MIME_PART_MULTIPART) != 0) {
		if (too_deep) {
			part->flags &= ~MIME_PART_MULTIPART;
			part->flags |= MIME_PART_OVERFLOW;
		} else if (p->overflow) {
			part->flags |= MIME_PART_OVERFLOW;
		} else if (proper) {
			if (p->nbnd == p->capbnd) {
				p->capbnd = p->capbnd ? p->capbnd * 2 : 8;
				p->bnd = mem_realloc(p->bnd, p->capbnd, sizeof(*p->bnd));
			}
			p->bnd[p->nbnd++] = (struct boundary){
			    .str = mime_arena_strndup(p->arena, boundary.data, boundary.len),
			    .len = boundary.len,
			    .level = p->nstack - 1};
			e->digest = digest;
		}
	} else if ((part->flags & MIME_PART_MESSAGE) != 0) {
		if (!proper) {
			part->flags &= ~MIME_PART_MESSAGE;
		} else if (too_deep || p->overflow || p->nparts >= p->lim.max_parts) {
			part->flags &= ~MIME_PART_MESSAGE;
			part->flags |= MIME_PART_OVERFLOW;
		} else {
			part_open(p, e, hdr_end);
		}
	}
	buf_free(&boundary);
}

/* Close the parts above stack level `level`: their bodies end at the line
 * end before offset L (or at L when a body starts there). */
static void close_down_to(struct mime_parser *p, unsigned level, size_t L, size_t lf_L, size_t eol)
{
	size_t end = L - eol, lf_end = eol > 0 ? lf_L - 1 : lf_L;
	size_t run = 0;
	if (p->nstack > level + 1 && top(p)->in_header) {
		struct mime_part *hp = top(p)->part;
		if (L > hp->hdr_off)
			header_end(p, end, lf_end, false);
		else
			header_end(p, L, lf_L, false);
	}
	while (p->nstack > level + 1) {
		struct open_part *e = top(p);
		struct mime_part *part = e->part;
		size_t pos = end, lf = lf_end;
		if (part->body_off > pos || run > pos) {
			pos = L;
			lf = lf_L;
		}
		part->body_size = pos - part->body_off;
		part->body_lines = lf - e->body_lf;
		run = pos;
		p->nstack--;
	}
}

/* Longest open boundary that the line (after "--") starts with; ties go to
 * the innermost. -1 when none. */
static int boundary_find(const struct mime_parser *p, const unsigned char *s, size_t n)
{
	int best = -1;
	for (unsigned i = p->nbnd; i-- > 0;) {
		const struct boundary *b = &p->bnd[i];
		if (b->len <= n && memcmp(b->str, s, b->len) == 0 &&
		    (best < 0 || p->bnd[best].len < b->len))
			best = (int)i;
	}
	return best;
}

/* One line: s holds its first kept bytes, full is its length with the line
 * end (eol bytes, 0 at the end of input without LF). */
static void process_line(struct mime_parser *p, const unsigned char *s, size_t kept, size_t full,
                         size_t eol)
{
	size_t L = p->line_start;
	size_t content = full - eol;
	bool has_lf = eol > 0;

	if (p->nbnd > 0 && content >= 2 && s[0] == '-' && s[1] == '-') {
		size_t avail = (kept < content ? kept : content) - 2;
		int bi = boundary_find(p, s + 2, avail);
		if (bi >= 0) {
			const struct boundary *b = &p->bnd[bi];
			bool close =
			    avail >= b->len + 2 && s[2 + b->len] == '-' && s[3 + b->len] == '-';
			if (!close && p->nparts >= p->lim.max_parts) {
				/* max_parts: the current part takes the rest */
				top(p)->part->flags |= MIME_PART_OVERFLOW;
				p->nbnd = 0;
				p->overflow = true;
			} else {
				unsigned level = b->level;
				close_down_to(p, level, L, p->lf_count, p->prev_eol);
				p->nbnd = close ? (unsigned)bi : (unsigned)bi + 1;
				if (!close)
					part_open(p, &p->stack[level], L + full);
				goto done;
			}
		}
	}
	if (top(p)->in_header) {
		if (content == 0) {
			/* the empty line ends the header (RFC 5322 section 2.1) */
			header_end(p, L + full, p->lf_count + (has_lf ? 1 : 0), true);
			goto done;
		}
		bool cont = (s[0] == ' ' || s[0] == '\t') && p->field_active;
		if (!cont) {
			field_flush(p);
			p->field_active = true;
			if (++p->hdr_fields > p->lim.max_header_fields)
				p->field_drop = true;
		}
		size_t room = p->lim.max_header_size - p->hdr_kept;
		size_t n = kept < room ? kept : room;
		if (n < full)
			p->field_drop = true; /* cut by max_header_size: not interpreted */
		if (!p->field_drop)
			buf_append(&p->field, s, n);
		p->hdr_kept += n; /* dropped bytes count too: n <= room */
	}
done:
	p->line_start = L + full;
	p->lf_count += has_lf ? 1 : 0;
	p->prev_eol = eol;
}

struct mime_parser *mime_parser_init(const struct mime_limits *lim)
{
	static const struct mime_limits def = MIME_LIMITS_DEFAULT;
	struct mime_parser *p = mem_zalloc(sizeof(*p));
	p->lim = lim != NULL ? *lim : def;
	if (p->lim.max_parts == 0)
		p->lim.max_parts = 1;
	p->arena = mime_arena_new();
	part_open(p, NULL, 0);
	p->root = p->stack[0].part;
	p->root->arena = p->arena;
	return p;
}

static size_t line_cap(const struct mime_parser *p)
{
	if (p->nstack > 0 && p->stack[p->nstack - 1].in_header) {
		size_t room = p->lim.max_header_size - p->hdr_kept;
		return room > LINE_KEEP ? room : LINE_KEEP;
	}
	return LINE_KEEP;
}

void mime_parser_feed(struct mime_parser *p, const unsigned char *data, size_t len)
{
	while (len > 0) {
		const unsigned char *nl = memchr(data, '\n', len);
		size_t seg = nl != NULL ? (size_t)(nl - data) + 1 : len;
		if (p->line_len == 0 && nl != NULL) {
			/* the whole line is in this chunk: no copy */
			size_t eol = seg >= 2 && data[seg - 2] == '\r' ? 2 : 1;
			process_line(p, data, seg, seg, eol);
		} else {
			size_t cap = line_cap(p);
			if (p->line.len < cap) {
				size_t n = cap - p->line.len;
				buf_append(&p->line, data, seg < n ? seg : n);
			}
			unsigned char before_lf =
			    seg >= 2 ? data[seg - 2] : (p->line_len > 0 ? p->line_last : 0);
			p->line_len += seg;
			if (nl != NULL) {
				size_t eol = p->line_len >= 2 && before_lf == '\r' ? 2 : 1;
				process_line(p, p->line.data, p->line.len, p->line_len, eol);
				buf_reset(&p->line);
				p->line_len = 0;
			} else
				p->line_last = data[seg - 1];
		}
		data += seg;
		len -= seg;
	}
}

struct mime_part *mime_parser_finish(struct mime_parser **pp)
{
	struct mime_parser *p = *pp;
	if (p->line_len > 0) {
		process_line(p, p->line.data, p->line.len, p->line_len, 0);
		buf_reset(&p->line);
		p->line_len = 0;
	}
	/* end of input ends every open part, a missing close delimiter
	 * included (no error, as in Dovecot) */
	size_t end = p->line_start;
	if (top(p)->in_header)
		header_end(p, end, p->lf_count, false);
	while (p->nstack > 0) {
		struct open_part *e = top(p);
		e->part->body_size = end - e->part->body_off;
		e->part->body_lines = p->lf_count - e->body_lf;
		p->nstack--;
	}
	struct mime_part *root = p->root;
	buf_free(&p->line);
	buf_free(&p->field);
	mime_hdr_values_free(&p->vals);
	free(p->stack);
	free(p->bnd);
	free(p);
	*pp = NULL;
	return root;
}

int mime_parse(const unsigned char *msg, size_t len, const struct mime_limits *lim,
               struct mime_part **root_r)
{
	if (msg == NULL && len > 0)
		return -1;
	struct mime_parser *p = mime_parser_init(lim);
	mime_parser_feed(p, msg, len);
	*root_r = mime_parser_finish(&p);
	return 0;
}

size_t mime_message_size(const struct mime_part *root)
{
	return root->body_off + root->body_size;
}

int mime_part_find(struct mime_part *root, const char *section, struct mime_part **part_r)
{
	struct mime_part *msg = root, *part = NULL;
	const char *s = section;
	if (*s == '\0')
		return -1;
	while (*s != '\0') {
		/* nz-number = digit-nz *DIGIT (RFC 3501 section 9) */
		if (*s < '1' || *s > '9')
			return -1;
		unsigned long n = 0;
		while (*s >= '0' && *s <= '9') {
			n = n * 10 + (unsigned long)(*s++ - '0');
			if (n > MIME_CACHE_MAX_PARTS)
				return -1;
		}
		if (*s == '.') {
			s++;
			if (*s == '\0')
				return -1;
		} else if (*s != '\0')
			return -1;
		if ((msg->flags & MIME_PART_MULTIPART) != 0) {
			part = msg->children;
			for (unsigned long i = 1; i < n && part != NULL; i++)
				part = part->next;
			if (part == NULL)
				return -1;
		} else {
			/* "non-multipart ... messages ... only have a part 1" */
			if (n != 1)
				return -1;
			part = msg;
		}
		if (*s != '\0') {
			/* deeper numbers: into an encapsulated message or a
			 * nested multipart */
			if ((part->flags & MIME_PART_MESSAGE) != 0 && part->children != NULL)
				msg = part->children;
			else if ((part->flags & MIME_PART_MULTIPART) != 0 && part != msg)
				msg = part;
			else
				return -1;
		}
	}
	*part_r = part;
	return 0;
}
