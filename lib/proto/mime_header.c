/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* Header field iteration (RFC 5322 sections 2.2 and 2.2.3), the table of
 * fields the MIME tree uses, the message fields of a header, and the arena
 * that owns a tree. Trust: any. */
#include <stdalign.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/mem.h"
#include "mime.h"
#include "mime_internal.h"

/* ---- arena ---- */

struct mime_arena_chunk {
	struct mime_arena_chunk *next;
	size_t used, cap;
	alignas(max_align_t) unsigned char data[];
};

struct mime_arena {
	struct mime_arena_chunk *head;
};

#define ARENA_CHUNK_MIN 4096
#define ARENA_CHUNK_MAX (1024 * 1024)

struct mime_arena *mime_arena_new(void)
{
	return mem_zalloc(sizeof(struct mime_arena));
}

void mime_arena_free(struct mime_arena **a)
{
	if (*a == NULL)
		return;
	struct mime_arena_chunk *c = (*a)->head;
	while (c != NULL) {
		struct mime_arena_chunk *n = c->next;
		free(c);
		c = n;
	}
	free(*a);
	*a = NULL;
}

void *mime_arena_alloc(struct mime_arena *a, size_t n)
{
	const size_t align = alignof(max_align_t);
	n = mem_add(n, align - 1) & ~(align - 1);
	struct mime_arena_chunk *c = a->head;
	if (c == NULL || c->cap - c->used < n) {
		size_t cap = c == NULL ? ARENA_CHUNK_MIN : c->cap * 2;
		if (cap > ARENA_CHUNK_MAX)
			cap = ARENA_CHUNK_MAX;
		if (cap < n)
			cap = n;
		struct mime_arena_chunk *nc =
		    mem_zalloc(mem_add(sizeof(struct mime_arena_chunk), cap));
		nc->cap = cap;
		if (c != NULL && cap == n) {
			/* a big block of its own: keep filling the current chunk */
			nc->next = c->next;
			c->next = nc;
			nc->used = n;
			return nc->data;
		}
		nc->next = c;
		a->head = c = nc;
	}
	void *p = c->data + c->used;
	c->used += n;
	return p;
}

char *mime_arena_strndup(struct mime_arena *a, const void *s, size_t n)
{
	const unsigned char *u = s;
	size_t nuls = 0;
	for (size_t i = 0; i < n; i++)
		nuls += u[i] == '\0';
	char *d = mime_arena_alloc(a, mem_add(mem_add(n, mem_mul(nuls, 2)), 1));
	size_t j = 0;
	for (size_t i = 0; i < n; i++) {
		if (u[i] == '\0') {
			memcpy(d + j, "\xef\xbf\xbd", 3);
			j += 3;
		} else
			d[j++] = (char)u[i];
	}
	d[j] = '\0';
	return d;
}

/* ---- field table ---- */

static const char *const hdr_names[MIME_H_COUNT] = {
    [MIME_H_CONTENT_TYPE] = "Content-Type",
    [MIME_H_CONTENT_TRANSFER_ENCODING] = "Content-Transfer-Encoding",
    [MIME_H_CONTENT_ID] = "Content-ID",
    [MIME_H_CONTENT_DESCRIPTION] = "Content-Description",
    [MIME_H_CONTENT_DISPOSITION] = "Content-Disposition",
    [MIME_H_CONTENT_LANGUAGE] = "Content-Language",
    [MIME_H_CONTENT_LOCATION] = "Content-Location",
    [MIME_H_CONTENT_MD5] = "Content-MD5",
    [MIME_H_DATE] = "Date",
    [MIME_H_SUBJECT] = "Subject",
    [MIME_H_FROM] = "From",
    [MIME_H_SENDER] = "Sender",
    [MIME_H_REPLY_TO] = "Reply-To",
    [MIME_H_TO] = "To",
    [MIME_H_CC] = "Cc",
    [MIME_H_BCC] = "Bcc",
    [MIME_H_IN_REPLY_TO] = "In-Reply-To",
    [MIME_H_MESSAGE_ID] = "Message-ID",
};

int mime_hdr_lookup(const unsigned char *name, size_t len)
{
	if (len < 2 || len > 25)
		return -1;
	for (int i = 0; i < MIME_H_COUNT; i++)
		if (strlen(hdr_names[i]) == len &&
		    strncasecmp(hdr_names[i], (const char *)name, len) == 0)
			return i;
	return -1;
}

void mime_hdr_values_reset(struct mime_hdr_values *v)
{
	for (int i = 0; i < MIME_H_COUNT; i++) {
		v->seen[i] = false;
		buf_reset(&v->val[i]);
	}
}

void mime_hdr_values_free(struct mime_hdr_values *v)
{
	for (int i = 0; i < MIME_H_COUNT; i++) {
		v->seen[i] = false;
		buf_free(&v->val[i]);
	}
}

void mime_hdr_values_add(struct mime_hdr_values *v, const unsigned char *name, size_t name_len,
                         const unsigned char *value, size_t value_len)
{
	int id = mime_hdr_lookup(name, name_len);
	if (id < 0 || v->seen[id])
		return;
	v->seen[id] = true;
	buf_reset(&v->val[id]);
	buf_append(&v->val[id], value, value_len);
}

const struct mime_msg_fields *mime_msg_fields_new(struct mime_arena *a,
                                                  const struct mime_hdr_values *v)
{
	struct mime_msg_fields *f = mime_arena_alloc(a, sizeof(*f));
	for (int i = 0; i < MIME_MSG_FIELD_COUNT; i++) {
		if (!v->seen[MIME_MSG_FIRST + i])
			continue;
		const struct buf *b = &v->val[MIME_MSG_FIRST + i];
		/* one byte more, zeroed: a value is never a NULL pointer */
		unsigned char *d = mime_arena_alloc(a, mem_add(b->len, 1));
		if (b->len > 0)
			memcpy(d, b->data, b->len);
		f->val[i] = d;
		f->len[i] = b->len;
	}
	return f;
}

/* ---- iteration ---- */

void mime_header_iter_init(struct mime_header_iter *it, const unsigned char *hdr, size_t len)
{
	it->p = hdr;
	it->end = hdr + len;
	it->done = len == 0;
}

/* End of the line at p: the byte after its LF, or end. */
static const unsigned char *line_end(const unsigned char *p, const unsigned char *end)
{
	const unsigned char *lf = memchr(p, '\n', (size_t)(end - p));
	return lf == NULL ? end : lf + 1;
}

void mime_header_split(const unsigned char *p, size_t len, struct mime_header_field *f)
{
	const unsigned char *e = p + len;
	f->raw = p;
	f->raw_len = (size_t)(e - p);
	/* the field without its final line end */
	const unsigned char *fe = e;
	if (fe > p && fe[-1] == '\n') {
		fe--;
		if (fe > p && fe[-1] == '\r')
			fe--;
	}
	const unsigned char *colon = memchr(p, ':', (size_t)(fe - p));
	/* a colon on a continuation line does not make a field name */
	const unsigned char *first_lf = memchr(p, '\n', (size_t)(fe - p));
	if (colon != NULL && first_lf != NULL && colon > first_lf)
		colon = NULL;
	if (colon == NULL) {
		/* Dovecot's header parser: "missing ':', assume the whole line is
		 * name". Such a line stays in the header. */
		f->has_colon = false;
		f->name = p;
		f->name_len = (size_t)(fe - p);
		f->value = fe;
		f->value_len = 0;
	} else {
		const unsigned char *ne = colon;
		while (ne > p && (ne[-1] == ' ' || ne[-1] == '\t'))
			ne--;
		f->has_colon = true;
		f->name = p;
		f->name_len = (size_t)(ne - p);
		f->value = colon + 1;
		f->value_len = (size_t)(fe - (colon + 1));
	}
}

int mime_header_next(struct mime_header_iter *it, struct mime_header_field *f)
{
	if (it->done || it->p >= it->end)
		return 0;
	const unsigned char *p = it->p, *end = it->end;
	/* the empty line ends the header (RFC 5322 section 2.1) */
	if (p[0] == '\n' || (p[0] == '\r' && p + 1 < end && p[1] == '\n')) {
		it->done = true;
		return 0;
	}
	const unsigned char *e = line_end(p, end);
	/* continuation lines start with WSP (RFC 5322 section 2.2.3) */
	while (e < end && (e[0] == ' ' || e[0] == '\t'))
		e = line_end(e, end);
	mime_header_split(p, (size_t)(e - p), f);
	it->p = e;
	return 1;
}

bool mime_header_name_is(const struct mime_header_field *f, const char *name)
{
	size_t n = strlen(name);
	return f->name_len == n && strncasecmp((const char *)f->name, name, n) == 0;
}

void mime_header_unfold(const unsigned char *value, size_t len, struct buf *out)
{
	size_t s = 0, e = len;
	while (s < e &&
	       (value[s] == ' ' || value[s] == '\t' || value[s] == '\r' || value[s] == '\n'))
		s++;
	while (e > s && (value[e - 1] == ' ' || value[e - 1] == '\t' || value[e - 1] == '\r' ||
	                 value[e - 1] == '\n'))
		e--;
	buf_reserve(out, e - s);
	for (size_t i = s; i < e; i++)
		if (value[i] != '\r' && value[i] != '\n')
			buf_append_byte(out, value[i]);
}

void mime_header_msg_fields(const unsigned char *hdr, size_t len, struct mime_msg_fields *f)
{
	struct mime_header_iter it;
	struct mime_header_field hf;
	memset(f, 0, sizeof(*f));
	mime_header_iter_init(&it, hdr, len);
	while (mime_header_next(&it, &hf) == 1) {
		int id = hf.has_colon ? mime_hdr_lookup(hf.name, hf.name_len) : -1;
		if (id < MIME_MSG_FIRST || f->val[id - MIME_MSG_FIRST] != NULL)
			continue; /* not a message field, or not its first occurrence */
		/* value points into hdr, never NULL: after the colon */
		f->val[id - MIME_MSG_FIRST] = hf.value;
		f->len[id - MIME_MSG_FIRST] = hf.value_len;
	}
}
