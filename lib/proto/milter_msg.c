/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* Message editing for milters (milterproto.h): a message as header fields
 * (byte ranges of the original, or owned after an edit) and a body, edited
 * as SMFIR_ADDHEADER, SMFIR_INSHEADER, SMFIR_CHGHEADER and SMFIR_REPLBODY
 * ask, and rendered back. Pure. Trust: the message comes from the network,
 * the edits from a milter; neither is trusted. */
#include "milterproto.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/mem.h"

/* ======================================================================== */
/* Message editing                                                          */
/* ======================================================================== */

static bool milter_ftext(unsigned char c)
{
	return c >= 33 && c <= 126 && c != ':';
}

static void milter_msg_push(struct milter_msg *m, size_t at, struct milter_field fl)
{
	m->f = mem_realloc(m->f, m->nf + 1, sizeof(*m->f));
	memmove(&m->f[at + 1], &m->f[at], (m->nf - at) * sizeof(*m->f));
	m->f[at] = fl;
	m->nf++;
}

void milter_msg_init(struct milter_msg *m, const unsigned char *msg, size_t len)
{
	memset(m, 0, sizeof(*m));
	if (msg == NULL)
		msg = (const unsigned char *)"";
	m->orig = msg;
	m->orig_len = len;
	size_t pos = 0;
	while (pos < len) {
		const unsigned char *p = msg + pos;
		size_t rem = len - pos;
		if (p[0] == '\n') {
			m->sep_len = 1;
			break;
		}
		if (rem >= 2 && p[0] == '\r' && p[1] == '\n') {
			m->sep_len = 2;
			break;
		}
		size_t k = 0;
		while (k < rem && milter_ftext(p[k]))
			k++;
		size_t name_len = k;
		while (k < rem && (p[k] == ' ' || p[k] == '\t')) /* RFC 5322 4.5 obs-optional */
			k++;
		if (name_len == 0 || k >= rem || p[k] != ':')
			break;
		size_t end = pos;
		for (;;) {
			const unsigned char *lf = memchr(msg + end, '\n', len - end);
			end = lf != NULL ? (size_t)(lf - msg) + 1 : len;
			if (end >= len || (msg[end] != ' ' && msg[end] != '\t'))
				break;
		}
		struct milter_field fl = {.raw = p, .len = end - pos, .name_len = name_len};
		milter_msg_push(m, m->nf, fl);
		pos = end;
	}
	m->sep_off = pos;
	m->body_off = pos + m->sep_len;
}

void milter_msg_clear(struct milter_msg *m)
{
	for (size_t i = 0; i < m->nf; i++)
		free(m->f[i].own);
	free(m->f);
	buf_free(&m->body);
	memset(m, 0, sizeof(*m));
}

void milter_msg_value(const struct milter_msg *m, size_t i, bool leadspc, struct buf *out)
{
	const struct milter_field *fl = &m->f[i];
	const unsigned char *p = fl->raw;
	size_t a = fl->name_len, b = fl->len;
	while (a < b && p[a] != ':')
		a++;
	a++;
	if (b > a && p[b - 1] == '\n')
		b--;
	if (b > a && p[b - 1] == '\r')
		b--;
	if (!leadspc)
		while (a < b && (p[a] == ' ' || p[a] == '\t'))
			a++;
	buf_reset(out);
	for (size_t j = a; j < b; j++) {
		if (p[j] == '\r' && j + 1 < b && p[j + 1] == '\n')
			continue; /* folded lines reach milters with LF only */
		buf_append_byte(out, p[j]);
	}
	buf_cstr(out);
}

const unsigned char *milter_msg_body(const struct milter_msg *m, size_t *len_r)
{
	if (m->body_replaced) {
		*len_r = m->body.len;
		return m->body.data ? m->body.data : (const unsigned char *)"";
	}
	*len_r = m->orig_len - m->body_off;
	return m->orig + m->body_off;
}

static struct milter_field milter_field_make(const char *name, const char *value, bool leadspc)
{
	struct buf b = BUF_INIT;
	size_t vl = strlen(value);
	while (vl > 0 && (value[vl - 1] == '\n' || value[vl - 1] == '\r'))
		vl--;
	buf_append_str(&b, name);
	buf_append_str(&b, leadspc ? ":" : ": ");
	for (size_t i = 0; i < vl; i++) {
		char c = value[i];
		if (c == '\r' && i + 1 < vl && value[i + 1] == '\n')
			continue;
		if (c == '\n') {
			buf_append(&b, "\r\n", 2);
			if (i + 1 >= vl || (value[i + 1] != ' ' && value[i + 1] != '\t'))
				buf_append_byte(&b, ' ');
			continue;
		}
		buf_append_byte(&b, c == '\r' ? ' ' : (unsigned char)c);
	}
	buf_append(&b, "\r\n", 2);
	struct milter_field fl = {.name_len = strlen(name)};
	fl.own = buf_steal(&b, &fl.len);
	fl.raw = fl.own;
	return fl;
}

void milter_msg_add(struct milter_msg *m, const char *name, const char *value, bool leadspc)
{
	milter_msg_push(m, m->nf, milter_field_make(name, value, leadspc));
	m->changed = true;
}

void milter_msg_insert(struct milter_msg *m, uint32_t index, const char *name, const char *value,
		       bool leadspc)
{
	size_t at = index > m->nf ? m->nf : index;
	milter_msg_push(m, at, milter_field_make(name, value, leadspc));
	m->changed = true;
}

void milter_msg_change(struct milter_msg *m, uint32_t index, const char *name, const char *value,
		       bool leadspc)
{
	size_t nlen = strlen(name);
	uint32_t want = index == 0 ? 1 : index, seen = 0;
	for (size_t i = 0; i < m->nf; i++) {
		struct milter_field *fl = &m->f[i];
		if (fl->name_len != nlen || strncasecmp((const char *)fl->raw, name, nlen) != 0)
			continue;
		if (++seen != want)
			continue;
		if (value[0] == '\0') {
			free(fl->own);
			memmove(&m->f[i], &m->f[i + 1], (m->nf - i - 1) * sizeof(*m->f));
			m->nf--;
		} else {
			/* The field keeps its name as the message spelt it. */
			char *orig = mem_strndup((const char *)fl->raw, fl->name_len);
			free(fl->own);
			*fl = milter_field_make(orig, value, leadspc);
			free(orig);
		}
		m->changed = true;
		return;
	}
	if (value[0] != '\0')
		milter_msg_add(m, name, value, leadspc);
}

void milter_msg_set_body(struct milter_msg *m, const unsigned char *data, size_t len)
{
	buf_reset(&m->body);
	for (size_t i = 0; i < len; i++) {
		if (data[i] == '\r' || data[i] == '\n') {
			buf_append(&m->body, "\r\n", 2);
			if (data[i] == '\r' && i + 1 < len && data[i + 1] == '\n')
				i++;
			continue;
		}
		buf_append_byte(&m->body, data[i]);
	}
	m->body_replaced = true;
	m->changed = true;
}

void milter_msg_render(const struct milter_msg *m, struct buf *out)
{
	for (size_t i = 0; i < m->nf; i++) {
		const struct milter_field *fl = &m->f[i];
		buf_append(out, fl->raw, fl->len);
		/* A last field without line ending (a message that is only a
		 * header) needs one once something follows it. */
		bool more = i + 1 < m->nf || m->sep_len > 0 || m->body_replaced ||
			    m->body_off < m->orig_len;
		if (more && (fl->len == 0 || fl->raw[fl->len - 1] != '\n'))
			buf_append(out, "\r\n", 2);
	}
	if (m->sep_len > 0)
		buf_append(out, m->orig + m->sep_off, m->sep_len);
	else if (m->body_replaced)
		buf_append(out, "\r\n", 2);
	size_t bl;
	const unsigned char *b = milter_msg_body(m, &bl);
	buf_append(out, b, bl);
}

