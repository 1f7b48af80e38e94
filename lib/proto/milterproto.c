/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* Milter packets (milterproto.h): framing, option negotiation, replies.
 * Pure. Trust: the bytes parsed here come from a milter and are untrusted. */
#include "milterproto.h"

#include <stdlib.h>
#include <string.h>

#include "base/mem.h"

/* ESMTP arguments accepted after an address in SMFIR_ADDRCPT_PAR/CHGFROM. */
#define MILTER_ARGS_MAX 32

/* ======================================================================== */
/* Framing                                                                  */
/* ======================================================================== */

static void milter_put32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)(v >> 24);
	p[1] = (unsigned char)(v >> 16);
	p[2] = (unsigned char)(v >> 8);
	p[3] = (unsigned char)v;
}

static uint32_t milter_get32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

void milter_frame_put(struct buf *out, unsigned char cmd, const void *data, size_t len)
{
	if (len > MILTER_FRAME_MAX)
		abort(); /* callers bound what they send */
	unsigned char hdr[5];
	milter_put32(hdr, (uint32_t)(len + 1));
	hdr[4] = cmd;
	buf_append(out, hdr, sizeof(hdr));
	if (len > 0)
		buf_append(out, data, len);
}

int milter_frame_parse(const unsigned char *p, size_t n, size_t max, struct milter_frame *f,
		       size_t *used_r)
{
	if (n < 4)
		return 0;
	uint32_t len = milter_get32(p);
	/* The length counts the command byte, so 0 is impossible; refuse an
	 * over-long length before its bytes arrive. */
	if (len == 0 || (uint64_t)len - 1 > max)
		return -1;
	if (n - 4 < len)
		return 0;
	f->cmd = p[4];
	f->data = p + 5;
	f->len = (size_t)len - 1;
	*used_r = 4 + (size_t)len;
	return 1;
}

/* ======================================================================== */
/* Option negotiation                                                       */
/* ======================================================================== */

void milter_optneg_put(struct buf *out, uint32_t version, uint32_t actions, uint32_t protocol)
{
	unsigned char d[12];
	milter_put32(d, version);
	milter_put32(d + 4, actions);
	milter_put32(d + 8, protocol);
	milter_frame_put(out, MILTER_CMD_OPTNEG, d, sizeof(d));
}

void milter_optneg_clear(struct milter_optneg *o)
{
	for (size_t i = 0; i < MILTER_STAGE_COUNT; i++) {
		free(o->macros[i]);
		o->macros[i] = NULL;
	}
}

int milter_optneg_parse(const struct milter_frame *f, struct milter_optneg *o)
{
	memset(o, 0, sizeof(*o));
	if (f->cmd != MILTER_CMD_OPTNEG || f->len < 12)
		return -1;
	o->version = milter_get32(f->data);
	o->actions = milter_get32(f->data + 4);
	o->protocol = milter_get32(f->data + 8);
	size_t i = 12;
	while (i < f->len) {
		if (f->len - i < 5)
			goto bad;
		uint32_t stage = milter_get32(f->data + i);
		i += 4;
		const unsigned char *nul = memchr(f->data + i, '\0', f->len - i);
		if (nul == NULL || stage >= MILTER_STAGE_COUNT || o->macros[stage] != NULL)
			goto bad;
		size_t l = (size_t)(nul - (f->data + i));
		if (l > MILTER_MACRO_LIST_MAX)
			goto bad;
		o->macros[stage] = mem_strndup((const char *)f->data + i, l);
		i += l + 1;
	}
	return 1;
bad:
	milter_optneg_clear(o);
	return -1;
}

/* ======================================================================== */
/* Replies                                                                  */
/* ======================================================================== */

/* Split data into NUL-terminated strings that fill it exactly. */
static int milter_strings(const unsigned char *d, size_t len, const char **v, size_t maxv,
			  size_t *n_r)
{
	size_t n = 0, i = 0;
	if (len == 0 || d[len - 1] != '\0')
		return -1;
	while (i < len) {
		if (n == maxv)
			return -1;
		v[n++] = (const char *)d + i;
		i += strlen((const char *)d + i) + 1;
	}
	*n_r = n;
	return 1;
}

bool milter_header_name_ok(const char *name)
{
	size_t n = 0;
	for (; name[n] != '\0'; n++) {
		unsigned char c = (unsigned char)name[n];
		if (c < 33 || c > 126 || c == ':')
			return false;
	}
	return n > 0 && n <= 997;
}

/* An address from a milter, with or without <>: printable (UTF-8 allowed),
 * no brackets inside, at most MILTER_ADDR_MAX bytes. */
static int milter_addr(const char *s, bool allow_empty, char *out)
{
	size_t n = strlen(s);
	if (n >= 2 && s[0] == '<' && s[n - 1] == '>') {
		s++;
		n -= 2;
	}
	if (n > MILTER_ADDR_MAX || (n == 0 && !allow_empty))
		return -1;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c < 0x21 || c == 0x7f || c == '<' || c == '>')
			return -1;
	}
	memcpy(out, s, n);
	out[n] = '\0';
	return 1;
}

/* RFC 3463 enhanced status code "c.sss.ddd" at p (c in 2, 4, 5; 1-3 digits
 * each) followed by a space or the end: its length, or 0. */
static size_t milter_enhanced(const char *p, size_t n)
{
	if (n < 5 || (p[0] != '2' && p[0] != '4' && p[0] != '5') || p[1] != '.')
		return 0;
	size_t i = 2;
	for (int part = 0; part < 2; part++) {
		size_t d = 0;
		while (i < n && p[i] >= '0' && p[i] <= '9' && d < 3) {
			i++;
			d++;
		}
		if (d == 0)
			return 0;
		if (part == 0) {
			if (i >= n || p[i] != '.')
				return 0;
			i++;
		}
	}
	if (i < n && p[i] != ' ')
		return 0;
	return i;
}

int milter_reply_text(const unsigned char *data, size_t len, char *out, size_t outsz)
{
	if (len < 4 || data[len - 1] != '\0' || memchr(data, '\0', len - 1) != NULL || outsz < 64)
		return -1;
	const char *s = (const char *)data;
	size_t slen = len - 1;
	if ((s[0] != '4' && s[0] != '5') || s[1] < '0' || s[1] > '9' || s[2] < '0' || s[2] > '9')
		return -1;
	char code[4] = {s[0], s[1], s[2], '\0'};
	/* Lines, separated by CRLF (smfi_setmlreply). */
	const char *lines[MILTER_REPLY_LINES];
	size_t lens[MILTER_REPLY_LINES], nl = 0, pos = 0;
	while (pos <= slen) {
		const char *cr = memchr(s + pos, '\r', slen - pos);
		size_t end = cr ? (size_t)(cr - s) : slen;
		if (cr != NULL && (end + 1 >= slen || s[end + 1] != '\n'))
			return -1;
		if (memchr(s + pos, '\n', end - pos) != NULL || nl == MILTER_REPLY_LINES)
			return -1;
		lines[nl] = s + pos;
		lens[nl++] = end - pos;
		if (cr == NULL)
			break;
		pos = end + 2;
	}
	size_t o = 0;
	for (size_t i = 0; i < nl; i++) {
		const char *l = lines[i];
		size_t ll = lens[i];
		/* Every line carries the same code, then '-' (more follow) or ' '. */
		if (ll < 3 || memcmp(l, code, 3) != 0 || (ll > 3 && l[3] != ' ' && l[3] != '-'))
			return -1;
		const char *t = ll > 3 ? l + 4 : l + 3;
		size_t tl = ll > 3 ? ll - 4 : 0;
		char line[MILTER_REPLY_LINE_MAX + 1];
		/* The code and '-' or ' ', then the enhanced code: a few
		 * bytes at the start of a MILTER_REPLY_LINE_MAX line. */
		memcpy(line, code, 3);
		line[3] = i + 1 < nl ? '-' : ' ';
		size_t k = 4;
		size_t el = milter_enhanced(t, tl);
		if (el == 0) {
			/* RFC 3463 section 3.8: x.7.1 "delivery not authorized". */
			line[k++] = code[0];
			memcpy(line + k, ".7.1", 4);
			k += 4;
			if (tl > 0)
				line[k++] = ' ';
		} else {
			memcpy(line + k, t, el);
			line[k] = code[0]; /* class agrees with the reply code */
			k += el;
			t += el;
			tl -= el;
			if (tl > 0) {
				line[k++] = ' ';
				t++;
				tl--;
			}
		}
		for (size_t j = 0; j < tl && k < MILTER_REPLY_LINE_MAX; j++) {
			unsigned char c = (unsigned char)t[j];
			if (c == '%' && j + 1 < tl && t[j + 1] == '%')
				j++;
			line[k++] = (c < 0x20 || c == 0x7f) ? ' ' : (char)c;
		}
		while (k > 4 && line[k - 1] == ' ')
			k--;
		line[k] = '\0';
		size_t need = k + (i > 0 ? 2 : 0);
		if (o + need + 1 > outsz) {
			/* Too long: end at the previous line, now made the last. */
			if (i == 0)
				return -1;
			out[o] = '\0';
			char *last = o > 0 ? strrchr(out, '\n') : NULL;
			last = last ? last + 1 : out;
			last[3] = ' ';
			return 1;
		}
		if (i > 0) {
			out[o++] = '\r';
			out[o++] = '\n';
		}
		memcpy(out + o, line, k);
		o += k;
	}
	out[o] = '\0';
	return 1;
}

int milter_reply_parse(const struct milter_frame *f, struct milter_reply *r)
{
	const char *v[MILTER_ARGS_MAX + 1];
	size_t n;
	r->cmd = f->cmd;
	r->index = 0;
	r->name = r->value = NULL;
	r->body = NULL;
	r->body_len = 0;
	r->nargs = 0;
	r->addr[0] = r->text[0] = '\0';
	switch (f->cmd) {
	case MILTER_R_ACCEPT:
	case MILTER_R_CONTINUE:
	case MILTER_R_DISCARD:
	case MILTER_R_REJECT:
	case MILTER_R_TEMPFAIL:
	case MILTER_R_PROGRESS:
	case MILTER_R_SKIP:
	case MILTER_R_SHUTDOWN:
	case MILTER_R_CONN_FAIL:
		return f->len == 0 ? 1 : -1;
	case MILTER_R_REPLYCODE:
		return milter_reply_text(f->data, f->len, r->text, sizeof(r->text));
	case MILTER_R_ADDHEADER:
	case MILTER_R_INSHEADER:
	case MILTER_R_CHGHEADER: {
		const unsigned char *d = f->data;
		size_t len = f->len;
		if (f->cmd != MILTER_R_ADDHEADER) {
			if (len < 4)
				return -1;
			r->index = milter_get32(d);
			d += 4;
			len -= 4;
		}
		if (milter_strings(d, len, v, 2, &n) < 0 || n != 2 || !milter_header_name_ok(v[0]))
			return -1;
		r->name = v[0];
		r->value = v[1];
		return 1;
	}
	case MILTER_R_REPLBODY:
		r->body = f->data;
		r->body_len = f->len;
		return 1;
	case MILTER_R_ADDRCPT:
	case MILTER_R_DELRCPT:
		if (milter_strings(f->data, f->len, v, 1, &n) < 0)
			return -1;
		return milter_addr(v[0], false, r->addr);
	case MILTER_R_ADDRCPT_PAR:
	case MILTER_R_CHGFROM:
		if (milter_strings(f->data, f->len, v, MILTER_ARGS_MAX + 1, &n) < 0)
			return -1;
		r->nargs = n - 1;
		return milter_addr(v[0], f->cmd == MILTER_R_CHGFROM, r->addr);
	case MILTER_R_QUARANTINE:
		if (milter_strings(f->data, f->len, v, 1, &n) < 0)
			return -1;
		r->value = v[0];
		return 1;
	default:
		return -1;
	}
}

