/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* Searchable text of a message: see msgtext.h. Trust: any (message
 * content). */
#include "msgtext.h"

#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "mime.h"
#include "rfc2047.h"
#include "base/codec.h"

/* ---- UTF-8 and folding ---------------------------------------------------- */

/* windows-1252 0x80-0x9F (WHATWG index); unassigned bytes keep their C1 code
 * point, which folding turns into a space. */
static const uint16_t msgtext_cp1252[32] = {
    0x20AC, 0x0081, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021, 0x02C6, 0x2030, 0x0160,
    0x2039, 0x0152, 0x008D, 0x017D, 0x008F, 0x0090, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022,
    0x2013, 0x2014, 0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0x009D, 0x017E, 0x0178,
};

/* Decode one code point at s (n >= 1 bytes): returns the bytes used. A
 * sequence that is not well-formed UTF-8 (RFC 3629 section 4: no overlong
 * forms, no surrogates, nothing above U+10FFFF) uses one byte, read as
 * windows-1252. */
static size_t msgtext_utf8_next(const unsigned char *s, size_t n, uint32_t *cp)
{
	unsigned char c = s[0];
	if (c < 0x80) {
		*cp = c;
		return 1;
	}
	size_t len = 0;
	uint32_t v = 0, min = 0;
	if (c >= 0xC2 && c <= 0xDF) {
		len = 2;
		v = c & 0x1F;
		min = 0x80;
	} else if (c >= 0xE0 && c <= 0xEF) {
		len = 3;
		v = c & 0x0F;
		min = 0x800;
	} else if (c >= 0xF0 && c <= 0xF4) {
		len = 4;
		v = c & 0x07;
		min = 0x10000;
	}
	if (len != 0 && len <= n) {
		size_t i = 1;
		for (; i < len && (s[i] & 0xC0) == 0x80; i++)
			v = (v << 6) | (s[i] & 0x3F);
		if (i == len && v >= min && v <= 0x10FFFF && !(v >= 0xD800 && v <= 0xDFFF)) {
			*cp = v;
			return len;
		}
	}
	*cp = c < 0xA0 ? msgtext_cp1252[c - 0x80] : c;
	return 1;
}

/* Simple lower-case mapping of the scripts listed in msgtext.h (Unicode
 * UnicodeData.txt simple lowercase mappings, ranges where upper and lower
 * case alternate or sit at a fixed distance). */
static uint32_t msgtext_fold_cp(uint32_t c)
{
	if (c < 0x80)
		return c >= 'A' && c <= 'Z' ? c + 32 : c;
	if (c < 0x100)
		return c >= 0xC0 && c <= 0xDE && c != 0xD7 ? c + 32 : c;
	if (c <= 0x17F) {
		if (c == 0x130)
			return 'i'; /* I WITH DOT ABOVE */
		if (c == 0x178)
			return 0xFF;
		if (c == 0x17F)
			return 's'; /* LONG S */
		if ((c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17E))
			return (c & 1) ? c + 1 : c;
		if (c == 0x131 || c == 0x138 || c == 0x149)
			return c;
		return c | 1;
	}
	if (c >= 0x386 && c <= 0x3AB) {
		if (c == 0x386)
			return 0x3AC;
		if (c >= 0x388 && c <= 0x38A)
			return c + 37;
		if (c == 0x38C)
			return 0x3CC;
		if (c == 0x38E || c == 0x38F)
			return c + 63;
		if (c >= 0x391 && c != 0x3A2)
			return c + 32;
		return c;
	}
	if (c == 0x3C2)
		return 0x3C3; /* final sigma */
	if (c >= 0x400 && c <= 0x40F)
		return c + 80;
	if (c >= 0x410 && c <= 0x42F)
		return c + 32;
	if ((c >= 0x460 && c <= 0x481) || (c >= 0x48A && c <= 0x4BF) || (c >= 0x4D0 && c <= 0x52F))
		return c | 1;
	if (c >= 0x4C1 && c <= 0x4CE)
		return (c & 1) ? c + 1 : c;
	if (c >= 0x531 && c <= 0x556)
		return c + 48;
	if ((c >= 0x1E00 && c <= 0x1E95) || (c >= 0x1EA0 && c <= 0x1EFF))
		return c | 1;
	if (c == 0x1E9E)
		return 0xDF; /* capital sharp s */
	if (c >= 0xFF21 && c <= 0xFF3A)
		return c + 32;
	return c;
}

void msgtext_fold(const unsigned char *s, size_t n, bool header, struct buf *out)
{
	buf_reserve(out, n);
	size_t i = 0;
	while (i < n) {
		unsigned char c = s[i];
		if (c >= 0x20 && c < 0x7F) {
			/* fast path: printable ASCII */
			buf_append_byte(out, (unsigned char)(c >= 'A' && c <= 'Z' ? c + 32 : c));
			i++;
			continue;
		}
		uint32_t cp;
		i += msgtext_utf8_next(s + i, n - i, &cp);
		if (cp == '\r') {
			if (i < n && s[i] == '\n')
				continue; /* CR LF: the LF follows */
			cp = '\n';
		}
		if (cp == '\n' || cp == '\t') {
			buf_append_byte(out, header ? ' ' : (unsigned char)cp);
			continue;
		}
		if (cp < 0x20 || (cp >= 0x7F && cp < 0xA0)) {
			buf_append_byte(out, ' ');
			continue;
		}
		if (cp == 0xFEFF)
			continue; /* byte order mark: no text */
		buf_append_utf8(out, msgtext_fold_cp(cp));
	}
}

/* ---- headers -------------------------------------------------------------- */

/* RFC 5322 section 3.6 allows any number of fields; a bound keeps a hostile
 * header from growing the index without limit. */
#define MSGTEXT_MAX_FIELDS 10000

void msgtext_header(const unsigned char *hdr, size_t len, struct buf *out)
{
	struct mime_header_iter it;
	struct mime_header_field f;
	struct buf unf = BUF_INIT, dec = BUF_INIT;
	size_t start = out->len;
	unsigned nfields = 0;
	mime_header_iter_init(&it, hdr, len);
	while (mime_header_next(&it, &f) == 1 && nfields++ < MSGTEXT_MAX_FIELDS) {
		if (!f.has_colon || f.name_len == 0)
			continue;
		if (out->len - start >= MSGTEXT_HEADER_MAX)
			break;
		msgtext_fold(f.name, f.name_len, true, out);
		buf_append(out, ": ", 2);
		buf_reset(&unf);
		buf_reset(&dec);
		mime_header_unfold(f.value, f.value_len, &unf);
		rfc2047_decode((const char *)unf.data, unf.len, &dec);
		msgtext_fold(dec.data, dec.len, true, out);
		buf_append_byte(out, '\n');
	}
	buf_free(&unf);
	buf_free(&dec);
}

/* Find the line of field name in msgtext_header text: the value after
 * "name: " and its length, starting the search at *pos (advanced past the
 * line). NULL when there is no further such line. */
static const unsigned char *msgtext_next_field(const unsigned char *hdr, size_t len, size_t *pos,
                                               const char *name, size_t name_len, size_t *vlen)
{
	while (*pos < len) {
		const unsigned char *line = hdr + *pos;
		const unsigned char *nl = memchr(line, '\n', len - *pos);
		size_t ll = nl ? (size_t)(nl - line) : len - *pos;
		*pos += ll + 1;
		if (ll >= name_len + 2 && memcmp(line, name, name_len) == 0 &&
		    line[name_len] == ':' && line[name_len + 1] == ' ') {
			*vlen = ll - name_len - 2;
			return line + name_len + 2;
		}
	}
	return NULL;
}

bool msgtext_header_match(const unsigned char *hdr, size_t len, const char *name,
                          const unsigned char *needle, size_t nlen)
{
	size_t pos = 0, vlen, name_len = strlen(name);
	const unsigned char *v;
	while ((v = msgtext_next_field(hdr, len, &pos, name, name_len, &vlen)) != NULL) {
		if (nlen == 0 || (vlen >= nlen && memmem(v, vlen, needle, nlen) != NULL))
			return true;
	}
	return false;
}

const unsigned char *msgtext_header_value(const unsigned char *hdr, size_t len, const char *name,
                                          size_t *len_r)
{
	size_t pos = 0;
	return msgtext_next_field(hdr, len, &pos, name, strlen(name), len_r);
}

/* ---- HTML ----------------------------------------------------------------- */

/* A crude HTML-to-text reduction, enough for searching: tags are dropped
 * (block-level ones leave a line break, others a space, except inline
 * formatting tags, which leave nothing so "<b>W</b>ord" stays one word),
 * comments, <script> and <style> content are dropped, runs of white space
 * collapse to one space (as a browser renders them) and character
 * references are decoded (HTML 5 section 13.2.5.72, for the numeric form and
 * a few common names). Works on UTF-8: every byte it looks at is ASCII. */

static bool msgtext_tag_is(const unsigned char *name, size_t n, const char *const *list)
{
	for (size_t i = 0; list[i] != NULL; i++)
		if (strlen(list[i]) == n && strncasecmp((const char *)name, list[i], n) == 0)
			return true;
	return false;
}

static const char *const msgtext_inline_tags[] = {
    "a",      "abbr", "b",   "bdi",  "bdo",  "big", "cite", "code", "del",   "dfn",  "em",
    "font",   "i",    "ins", "kbd",  "mark", "q",   "s",    "samp", "small", "span", "strike",
    "strong", "sub",  "sup", "time", "tt",   "u",   "var",  "wbr",  NULL,
};

static const char *const msgtext_block_tags[] = {
    "address", "article", "aside",   "blockquote", "br",    "dd", "div",    "dl", "dt", "footer",
    "h1",      "h2",      "h3",      "h4",         "h5",    "h6", "header", "hr", "li", "ol",
    "p",       "pre",     "section", "table",      "title", "tr", "ul",     NULL,
};

static const struct {
	const char *name;
	uint32_t cp;
} msgtext_entities[] = {
    {"amp", '&'},      {"lt", '<'},        {"gt", '>'},       {"quot", '"'},     {"apos", '\''},
    {"nbsp", ' '},     {"shy", 0},         {"copy", 0xA9},    {"reg", 0xAE},     {"euro", 0x20AC},
    {"ndash", 0x2013}, {"mdash", 0x2014},  {"lsquo", 0x2018}, {"rsquo", 0x2019}, {"ldquo", 0x201C},
    {"rdquo", 0x201D}, {"hellip", 0x2026}, {"laquo", 0xAB},   {"raquo", 0xBB},   {"auml", 0xE4},
    {"ouml", 0xF6},    {"uuml", 0xFC},     {"Auml", 0xC4},    {"Ouml", 0xD6},    {"Uuml", 0xDC},
    {"szlig", 0xDF},   {"eacute", 0xE9},   {"egrave", 0xE8},  {"ecirc", 0xEA},   {"agrave", 0xE0},
    {"aacute", 0xE1},  {"ccedil", 0xE7},   {"Eacute", 0xC9},  {"oacute", 0xF3},  {"iacute", 0xED},
    {"uacute", 0xFA},  {"ntilde", 0xF1},
};

/* Decode a character reference at s[0] == '&': returns the bytes used (0:
 * not a reference, keep the '&'). */
static size_t msgtext_entity(const unsigned char *s, size_t n, struct buf *out)
{
	size_t end = 1;
	while (end < n && end < 12 && s[end] != ';')
		end++;
	if (end >= n || s[end] != ';' || end < 2)
		return 0;
	uint32_t cp = 0;
	if (s[1] == '#') {
		bool hex = end > 2 && (s[2] == 'x' || s[2] == 'X');
		size_t i = hex ? 3 : 2;
		if (i == end)
			return 0;
		for (; i < end; i++) {
			int d = hex ? codec_hex_digit(s[i])
			            : (s[i] >= '0' && s[i] <= '9' ? s[i] - '0' : -1);
			if (d < 0)
				return 0;
			cp = cp * (hex ? 16 : 10) + (uint32_t)d;
			if (cp > 0x10FFFF)
				return 0;
		}
		if (cp == 0 || (cp >= 0xD800 && cp <= 0xDFFF))
			cp = 0xFFFD;
	} else {
		size_t k = 0, nent = sizeof(msgtext_entities) / sizeof(msgtext_entities[0]);
		for (; k < nent; k++) {
			if (strlen(msgtext_entities[k].name) == end - 1 &&
			    memcmp(msgtext_entities[k].name, s + 1, end - 1) == 0)
				break;
		}
		if (k == nent)
			return 0;
		cp = msgtext_entities[k].cp;
	}
	if (cp != 0)
		buf_append_utf8(out, cp);
	return end + 1;
}

/* Find the case-insensitive ASCII string pat in s[0..n): offset or n. */
static size_t msgtext_find_ci(const unsigned char *s, size_t n, const char *pat)
{
	size_t m = strlen(pat);
	for (size_t i = 0; i + m <= n; i++)
		if (strncasecmp((const char *)s + i, pat, m) == 0)
			return i;
	return n;
}

static void msgtext_html(const unsigned char *s, size_t n, struct buf *out)
{
	bool space = false; /* white space pending */
	size_t i = 0;
	while (i < n) {
		unsigned char c = s[i];
		if (c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f') {
			space = true;
			i++;
			continue;
		}
		if (c == '<') {
			if (n - i >= 4 && memcmp(s + i, "<!--", 4) == 0) {
				size_t e = i + 4;
				while (e + 3 <= n && memcmp(s + e, "-->", 3) != 0)
					e++;
				i = e + 3 <= n ? e + 3 : n;
				continue;
			}
			size_t j = i + 1;
			bool closing = j < n && s[j] == '/';
			if (closing)
				j++;
			size_t name = j;
			while (j < n &&
			       ((s[j] >= 'a' && s[j] <= 'z') || (s[j] >= 'A' && s[j] <= 'Z') ||
			        (s[j] >= '0' && s[j] <= '9')))
				j++;
			size_t name_len = j - name;
			if (name_len == 0 && !(j < n && (s[j] == '!' || s[j] == '?'))) {
				/* "<" not starting a tag ("a < b") is text */
				goto text;
			}
			const unsigned char *gt = memchr(s + j, '>', n - j);
			size_t after = gt ? (size_t)(gt - s) + 1 : n;
			if (!closing &&
			    (msgtext_tag_is(s + name, name_len,
			                    (const char *const[]){"script", "style", NULL}))) {
				const char *endtag = name_len == 6 ? "</script" : "</style";
				size_t e = after + msgtext_find_ci(s + after, n - after, endtag);
				const unsigned char *gt2 = e < n ? memchr(s + e, '>', n - e) : NULL;
				after = gt2 ? (size_t)(gt2 - s) + 1 : n;
				space = true;
			} else if (msgtext_tag_is(s + name, name_len, msgtext_block_tags)) {
				if (out->len > 0 && out->data[out->len - 1] != '\n')
					buf_append_byte(out, '\n');
				space = false;
			} else if (!msgtext_tag_is(s + name, name_len, msgtext_inline_tags)) {
				space = true;
			}
			i = after;
			continue;
		}
	text:
		if (space) {
			if (out->len > 0 && out->data[out->len - 1] != '\n')
				buf_append_byte(out, ' ');
			space = false;
		}
		if (c == '&') {
			size_t used = msgtext_entity(s + i, n - i, out);
			if (used > 0) {
				i += used;
				continue;
			}
		}
		buf_append_byte(out, c);
		i++;
	}
}

/* ---- the MIME walk -------------------------------------------------------- */

struct msgtext_walk {
	const unsigned char *msg;
	size_t len;
	struct buf *body;
	struct buf raw, utf8, text; /* scratch */
};

static const char *msgtext_param(const struct mime_part *p, const char *name)
{
	for (unsigned i = 0; i < p->nparams; i++)
		if (p->params[i].name != NULL && strcasecmp(p->params[i].name, name) == 0)
			return p->params[i].value;
	return NULL;
}

static bool msgtext_full(const struct msgtext_walk *w)
{
	return w->body->len >= MSGTEXT_BODY_MAX;
}

/* Cut the body text back to MSGTEXT_BODY_MAX at a character boundary. */
static void msgtext_cap(struct buf *b)
{
	if (b->len <= MSGTEXT_BODY_MAX)
		return;
	size_t l = MSGTEXT_BODY_MAX;
	while (l > 0 && (b->data[l] & 0xC0) == 0x80)
		l--;
	buf_truncate(b, l);
}

static void msgtext_sep(struct buf *b)
{
	if (b->len > 0 && b->data[b->len - 1] != '\n')
		buf_append_byte(b, '\n');
}

static void msgtext_text_part(struct msgtext_walk *w, const struct mime_part *p)
{
	size_t off = p->body_off, size = p->body_size;
	if (off > w->len)
		return;
	if (size > w->len - off)
		size = w->len - off;
	const unsigned char *data = w->msg + off;
	buf_reset(&w->raw);
	buf_reset(&w->utf8);
	buf_reset(&w->text);
	/* RFC 2045 section 6: the same lenient decoders as FETCH BINARY, so
	 * SEARCH finds what a client is shown. Identity and unknown encodings
	 * keep their bytes (an unknown one may still hold readable ASCII). */
	enum codec_cte cte = codec_cte_lookup(p->encoding);
	if (cte == CODEC_CTE_BASE64 || cte == CODEC_CTE_QP) {
		codec_body_decode(cte, data, size, &w->raw);
		data = w->raw.data;
		size = w->raw.len;
	}
	if (size == 0)
		return;
	const char *cs = msgtext_param(p, "charset");
	const unsigned char *u = data;
	size_t un = size;
	/* Unknown charsets (and none) keep their bytes: msgtext_fold reads
	 * invalid UTF-8 as windows-1252. */
	if (cs != NULL && rfc2047_charset_to_utf8(cs, strlen(cs), data, size, &w->utf8) == 0) {
		u = w->utf8.data;
		un = w->utf8.len;
	}
	if (strcasecmp(p->subtype, "html") == 0) {
		msgtext_html(u, un, &w->text);
		u = w->text.data;
		un = w->text.len;
	}
	msgtext_sep(w->body);
	msgtext_fold(u, un, false, w->body);
	msgtext_cap(w->body);
}

static void msgtext_walk_part(struct msgtext_walk *w, const struct mime_part *p)
{
	/* Recursion depth is bounded by the MIME parser's max_depth. */
	if (msgtext_full(w))
		return;
	if (p->flags & MIME_PART_MULTIPART) {
		for (const struct mime_part *c = p->children; c != NULL; c = c->next)
			msgtext_walk_part(w, c);
	} else if (p->flags & MIME_PART_MESSAGE) {
		const struct mime_part *c = p->children;
		if (c == NULL || c->hdr_off > w->len || c->hdr_size > w->len - c->hdr_off)
			return;
		/* An attached message's header is text of the outer body. */
		msgtext_sep(w->body);
		msgtext_header(w->msg + c->hdr_off, c->hdr_size, w->body);
		msgtext_cap(w->body);
		msgtext_walk_part(w, c);
	} else if (strcasecmp(p->type, "text") == 0) {
		msgtext_text_part(w, p);
	}
}

void msgtext_extract(const unsigned char *msg, size_t len, struct buf *hdr, struct buf *body)
{
	struct mime_part *root = NULL;
	mime_parse(msg, len, NULL, &root);
	if (root == NULL)
		return;
	if (root->hdr_off <= len && root->hdr_size <= len - root->hdr_off)
		msgtext_header(msg + root->hdr_off, root->hdr_size, hdr);
	struct msgtext_walk w = {.msg = msg, .len = len, .body = body};
	msgtext_walk_part(&w, root);
	buf_free(&w.raw);
	buf_free(&w.utf8);
	buf_free(&w.text);
	mime_free(&root);
}
