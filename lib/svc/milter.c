/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* Trust: the milter list is admin configuration; replies from milters and
 * the message are untrusted (see milter.h). */
#include "milter.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "sys/log.h"
#include "base/mem.h"
#include "base/timeutil.h"

#ifndef SEALMAIL_VERSION
#define SEALMAIL_VERSION "0"
#endif

/* Replies Postfix uses when a milter refuses without a text of its own, or
 * for the default action of a failed milter. */
#define MILTER_TEMPFAIL_REPLY "451 4.7.1 Service unavailable - try again later"
#define MILTER_REJECT_REPLY "550 5.7.1 Command rejected"
#define MILTER_SHUTDOWN_REPLY "421 4.7.0 Server closing connection"
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
		size_t k = (size_t)snprintf(line, sizeof(line), "%s%c", code, i + 1 < nl ? '-' : ' ');
		size_t el = milter_enhanced(t, tl);
		if (el == 0) {
			/* RFC 3463 section 3.8: x.7.1 "delivery not authorized". */
			k += (size_t)snprintf(line + k, sizeof(line) - k, "%c.7.1%s", code[0],
					      tl > 0 ? " " : "");
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

/* ======================================================================== */
/* Configuration                                                            */
/* ======================================================================== */

static char milter_errbuf[256];

static int milter_spec_error(const char **error_r, const char *what, const char *item)
{
	snprintf(milter_errbuf, sizeof(milter_errbuf), "milters: %s: %.100s", what, item);
	*error_r = milter_errbuf;
	return -1;
}

/* "inet:host:port" into host and port; "unix:/path" into path. */
static int milter_endpoint_split(const char *ep, char *host, size_t hostsz, uint16_t *port_r,
				 bool *is_unix)
{
	if (strncmp(ep, "unix:", 5) == 0) {
		*is_unix = true;
		struct sockaddr_un sun;
		if (ep[5] != '/' || strlen(ep + 5) >= sizeof(sun.sun_path))
			return -1;
		snprintf(host, hostsz, "%s", ep + 5);
		return 0;
	}
	*is_unix = false;
	if (strncmp(ep, "inet:", 5) != 0)
		return -1;
	const char *h = ep + 5, *colon;
	size_t hl;
	if (h[0] == '[') {
		const char *rb = strchr(h, ']');
		if (rb == NULL || rb[1] != ':')
			return -1;
		h++;
		hl = (size_t)(rb - h);
		colon = rb + 1;
	} else {
		colon = strrchr(h, ':');
		if (colon == NULL)
			return -1;
		hl = (size_t)(colon - h);
		if (memchr(h, ':', hl) != NULL)
			return -1; /* IPv6 needs brackets */
	}
	if (hl == 0 || hl >= hostsz)
		return -1;
	memcpy(host, h, hl);
	host[hl] = '\0';
	/* Numeric addresses only: the handler connects from inside its
	 * sandbox, where the resolver (files, sockets) is out of reach. */
	unsigned char bin[sizeof(struct in6_addr)];
	if (inet_pton(ep[5] == '[' ? AF_INET6 : AF_INET, host, bin) != 1)
		return -1;
	char *end;
	errno = 0;
	unsigned long p = strtoul(colon + 1, &end, 10);
	if (colon[1] < '0' || colon[1] > '9' || *end != '\0' || errno != 0 || p == 0 || p > 65535)
		return -1;
	*port_r = (uint16_t)p;
	return 0;
}

/* Split s at commas and white space; tokens written NUL-terminated into
 * work, pointers into toks. Braces are their own tokens. */
static int milter_tokens(const char *s, char *work, size_t worksz, char **toks, size_t maxt,
			 size_t *n_r)
{
	size_t n = 0, w = 0;
	const char *p = s;
	while (*p != '\0') {
		while (*p == ' ' || *p == '\t' || *p == ',' || *p == '\n' || *p == '\r')
			p++;
		if (*p == '\0')
			break;
		if (n == maxt)
			return -1;
		size_t len = 1;
		if (*p != '{' && *p != '}') {
			len = strcspn(p, " \t,\r\n{}");
			/* "key = value" inside braces: keep '=' with its neighbours */
			while (p[len] == ' ' || p[len] == '\t') {
				size_t sp = len + strspn(p + len, " \t");
				if (p[sp] != '=' && p[len - 1] != '=')
					break;
				len = sp + (p[sp] == '=' ? 1 : 0);
				len += strspn(p + len, " \t");
				len += strcspn(p + len, " \t,\r\n{}");
			}
		}
		if (w + len + 1 > worksz)
			return -1;
		toks[n++] = work + w;
		for (size_t i = 0; i < len; i++)
			if (p[i] != ' ' && p[i] != '\t')
				work[w++] = p[i];
		work[w++] = '\0';
		p += len;
	}
	*n_r = n;
	return 0;
}

static int milter_spec_option(struct milter_spec *sp, const char *kv, const char **error_r)
{
	const char *eq = strchr(kv, '=');
	if (eq == NULL)
		return milter_spec_error(error_r, "expected key=value", kv);
	size_t kl = (size_t)(eq - kv);
	const char *v = eq + 1;
	uint64_t *dur = NULL;
	if (kl == 15 && strncmp(kv, "connect_timeout", kl) == 0)
		dur = &sp->connect_timeout_ms;
	else if (kl == 15 && strncmp(kv, "command_timeout", kl) == 0)
		dur = &sp->command_timeout_ms;
	else if (kl == 15 && strncmp(kv, "content_timeout", kl) == 0)
		dur = &sp->content_timeout_ms;
	if (dur != NULL) {
		uint64_t ms;
		if (!conf_parse_duration(v, &ms) || ms == 0 || ms > 3600000)
			return milter_spec_error(error_r, "bad duration", kv);
		*dur = ms;
		return 0;
	}
	if (kl == 14 && strncmp(kv, "default_action", kl) == 0) {
		if (strcmp(v, "tempfail") == 0)
			sp->default_action = CONF_MILTER_TEMPFAIL;
		else if (strcmp(v, "accept") == 0)
			sp->default_action = CONF_MILTER_ACCEPT;
		else if (strcmp(v, "reject") == 0)
			sp->default_action = CONF_MILTER_REJECT;
		else
			return milter_spec_error(error_r, "default_action must be tempfail, accept or reject",
						 kv);
		return 0;
	}
	return milter_spec_error(error_r, "unknown setting", kv);
}

static int milter_spec_endpoint(struct milter_spec *sp, const struct conf *c, const char *ep,
				const char **error_r)
{
	char host[MILTER_ENDPOINT_MAX];
	uint16_t port;
	bool is_unix;
	memset(sp, 0, sizeof(*sp));
	if (strlen(ep) >= sizeof(sp->endpoint) ||
	    milter_endpoint_split(ep, host, sizeof(host), &port, &is_unix) < 0)
		return milter_spec_error(error_r,
					 "expected inet:IPv4:port, inet:[IPv6]:port or unix:/path", ep);
	snprintf(sp->endpoint, sizeof(sp->endpoint), "%s", ep);
	sp->default_action = c->milter_default_action;
	sp->connect_timeout_ms = c->milter_connect_timeout_ms;
	sp->command_timeout_ms = c->milter_command_timeout_ms;
	sp->content_timeout_ms = c->milter_content_timeout_ms;
	return 0;
}

int milter_spec_parse(const char *text, const struct conf *c, struct milter_spec *specs,
		      size_t max, size_t *n_r, const char **error_r)
{
	char work[CONF_LINE_MAX + 64];
	char *toks[MILTER_LIST_MAX * 8];
	size_t nt, n = 0;
	*n_r = 0;
	if (text == NULL)
		return 0;
	if (milter_tokens(text, work, sizeof(work), toks, sizeof(toks) / sizeof(toks[0]), &nt) < 0)
		return milter_spec_error(error_r, "list too long", text);
	for (size_t i = 0; i < nt; i++) {
		if (strcmp(toks[i], "}") == 0)
			return milter_spec_error(error_r, "unbalanced }", text);
		if (n == max)
			return milter_spec_error(error_r, "too many milters", text);
		if (strcmp(toks[i], "{") != 0) {
			if (milter_spec_endpoint(&specs[n], c, toks[i], error_r) < 0)
				return -1;
			n++;
			continue;
		}
		if (++i >= nt || strcmp(toks[i], "}") == 0 || strcmp(toks[i], "{") == 0)
			return milter_spec_error(error_r, "empty { }", text);
		if (milter_spec_endpoint(&specs[n], c, toks[i], error_r) < 0)
			return -1;
		for (i++; i < nt && strcmp(toks[i], "}") != 0; i++) {
			if (strcmp(toks[i], "{") == 0)
				return milter_spec_error(error_r, "nested {", text);
			if (milter_spec_option(&specs[n], toks[i], error_r) < 0)
				return -1;
		}
		if (i >= nt)
			return milter_spec_error(error_r, "missing }", text);
		n++;
	}
	*n_r = n;
	return 0;
}

size_t milter_tcp_ports(const char *text, const struct conf *c, uint16_t *ports, size_t max)
{
	struct milter_spec specs[MILTER_LIST_MAX];
	size_t n, np = 0;
	const char *err;
	if (milter_spec_parse(text, c, specs, MILTER_LIST_MAX, &n, &err) < 0)
		return 0;
	for (size_t i = 0; i < n && np < max; i++) {
		char host[MILTER_ENDPOINT_MAX];
		uint16_t port;
		bool is_unix;
		if (milter_endpoint_split(specs[i].endpoint, host, sizeof(host), &port, &is_unix) == 0 &&
		    !is_unix)
			ports[np++] = port;
	}
	return np;
}

/* ======================================================================== */
/* Session                                                                  */
/* ======================================================================== */

enum milter_state {
	MILTER_ST_NEW,    /* not connected yet */
	MILTER_ST_OPEN,   /* negotiated, taking events */
	MILTER_ST_DONE,   /* accepted or refused the connection: not asked again */
	MILTER_ST_FAILED, /* unreachable or misbehaving: its default action answers */
};

struct milter {
	struct milter_spec spec;
	int fd;
	enum milter_state st;
	uint32_t actions, protocol;
	char *macros[MILTER_STAGE_COUNT];
	bool in_txn;   /* saw part of the current transaction */
	bool txn_skip; /* accepted or discarded the current transaction */
	struct buf in;
	size_t in_pos;
};

/* Macro values; NULL = unknown (not sent). */
enum milter_macro {
	MM_J,
	MM_DAEMON_NAME,
	MM_DAEMON_ADDR,
	MM_V,
	MM_UNDERSCORE,
	MM_CLIENT_ADDR,
	MM_CLIENT_PORT,
	MM_CLIENT_NAME,
	MM_TLS_VERSION,
	MM_CIPHER,
	MM_I,
	MM_MAIL_ADDR,
	MM_AUTH_AUTHEN,
	MM_RCPT_ADDR,
	MM_RCPT_MAILER,
	MM_COUNT
};

static const char *const milter_macro_names[MM_COUNT] = {
	"j",		 "{daemon_name}",  "{daemon_addr}", "v",	  "_",
	"{client_addr}", "{client_port}",  "{client_name}", "{tls_version}", "{cipher}",
	"i",		 "{mail_addr}",	   "{auth_authen}", "{rcpt_addr}",   "{rcpt_mailer}",
};

/* What is sent before each command unless the milter chose its own list
 * (Postfix's milter_*_macros defaults, minus what has no value here). */
static const enum milter_macro milter_default_macros[MILTER_STAGE_COUNT][8] = {
	[MILTER_STAGE_CONNECT] = {MM_J, MM_UNDERSCORE, MM_DAEMON_NAME, MM_DAEMON_ADDR, MM_V,
				  MM_CLIENT_ADDR, MM_CLIENT_PORT, MM_CLIENT_NAME},
	[MILTER_STAGE_HELO] = {MM_TLS_VERSION, MM_CIPHER, MM_COUNT},
	[MILTER_STAGE_ENVFROM] = {MM_I, MM_MAIL_ADDR, MM_AUTH_AUTHEN, MM_COUNT},
	[MILTER_STAGE_ENVRCPT] = {MM_RCPT_ADDR, MM_RCPT_MAILER, MM_COUNT},
	[MILTER_STAGE_DATA] = {MM_I, MM_COUNT},
	[MILTER_STAGE_EOM] = {MM_I, MM_COUNT},
	[MILTER_STAGE_EOH] = {MM_I, MM_COUNT},
};

struct milters {
	struct milter *m;
	size_t n;
	char *mv[MM_COUNT];
	bool conn_refused; /* a milter refused the connection: MAIL gets conn_reply */
	char conn_reply[MILTER_REPLY_MAX];
	bool conn_discard; /* discard every message of the connection */
	bool txn_discard;  /* discard the current message */
};

/* One kind of event. */
struct milter_event {
	const char *name;       /* for logs */
	unsigned char cmd;
	int stage;              /* macro stage, -1 none */
	uint32_t skip_bit;      /* SMFIP_NO* */
	uint32_t noreply_bit;   /* SMFIP_NR_* */
	bool txn;               /* part of a mail transaction */
	bool content;           /* milter_content_timeout applies */
};

static const struct milter_event ev_connect = {"connect", MILTER_CMD_CONNECT,
					       MILTER_STAGE_CONNECT, MILTER_P_NOCONNECT,
					       MILTER_P_NR_CONN, false, false};
static const struct milter_event ev_helo = {"helo", MILTER_CMD_HELO, MILTER_STAGE_HELO,
					    MILTER_P_NOHELO, MILTER_P_NR_HELO, false, false};
static const struct milter_event ev_mail = {"mail", MILTER_CMD_MAIL, MILTER_STAGE_ENVFROM,
					    MILTER_P_NOMAIL, MILTER_P_NR_MAIL, true, false};
static const struct milter_event ev_rcpt = {"rcpt", MILTER_CMD_RCPT, MILTER_STAGE_ENVRCPT,
					    MILTER_P_NORCPT, MILTER_P_NR_RCPT, true, false};
static const struct milter_event ev_data = {"data", MILTER_CMD_DATA, MILTER_STAGE_DATA,
					    MILTER_P_NODATA, MILTER_P_NR_DATA, true, false};
static const struct milter_event ev_header = {"header", MILTER_CMD_HEADER, -1, MILTER_P_NOHDRS,
					      MILTER_P_NR_HDR, true, true};
static const struct milter_event ev_eoh = {"eoh", MILTER_CMD_EOH, MILTER_STAGE_EOH,
					   MILTER_P_NOEOH, MILTER_P_NR_EOH, true, true};
static const struct milter_event ev_body = {"body", MILTER_CMD_BODY, -1, MILTER_P_NOBODY,
					    MILTER_P_NR_BODY, true, true};
static const struct milter_event ev_eom = {"eom", MILTER_CMD_BODYEOB, MILTER_STAGE_EOM, 0, 0,
					   true, true};

static const char *milter_action_name(enum conf_milter_action a)
{
	return a == CONF_MILTER_ACCEPT ? "accept" : a == CONF_MILTER_REJECT ? "reject" : "tempfail";
}

static void milter_set(struct milters *ms, enum milter_macro k, const char *v)
{
	free(ms->mv[k]);
	ms->mv[k] = v != NULL ? mem_strdup(v) : NULL;
}

struct milters *milters_new(const char *text, const struct conf *c, const char **error_r)
{
	struct milter_spec specs[MILTER_LIST_MAX];
	size_t n;
	*error_r = NULL;
	if (milter_spec_parse(text, c, specs, MILTER_LIST_MAX, &n, error_r) < 0 || n == 0)
		return NULL;
	struct milters *ms = mem_zalloc(sizeof(*ms));
	ms->m = mem_array(n, sizeof(*ms->m));
	ms->n = n;
	for (size_t i = 0; i < n; i++) {
		ms->m[i].spec = specs[i];
		ms->m[i].fd = -1;
	}
	return ms;
}

void milters_set_fd(struct milters *ms, size_t i, int fd)
{
	if (ms == NULL || i >= ms->n) {
		close(fd);
		return;
	}
	if (ms->m[i].fd >= 0)
		close(ms->m[i].fd);
	/* Deadlines rely on non-blocking reads and writes. */
	int fl = fcntl(fd, F_GETFL);
	if (fl >= 0)
		fcntl(fd, F_SETFL, fl | O_NONBLOCK);
	ms->m[i].fd = fd;
}

static void milter_close(struct milter *m)
{
	if (m->fd >= 0)
		close(m->fd);
	m->fd = -1;
	buf_free(&m->in);
	m->in_pos = 0;
}

/* Wait for fd to become ready for ev before the deadline: 1 ready, 0 timed
 * out, -1 error. */
static int milter_wait(int fd, short ev, int64_t deadline)
{
	for (;;) {
		int64_t left = deadline - timeutil_mono_ms();
		if (left <= 0)
			return 0;
		struct pollfd pfd = {.fd = fd, .events = ev};
		int r = poll(&pfd, 1, left > INT_MAX ? INT_MAX : (int)left);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -1;
		if (r > 0)
			return 1;
	}
}

static int milter_write(struct milter *m, const struct buf *b, int64_t deadline, const char **why)
{
	size_t off = 0;
	while (off < b->len) {
		ssize_t w = send(m->fd, b->data + off, b->len - off, MSG_NOSIGNAL);
		if (w > 0) {
			off += (size_t)w;
			continue;
		}
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			int r = milter_wait(m->fd, POLLOUT, deadline);
			if (r == 0) {
				*why = "timeout sending to milter";
				return -1;
			}
			if (r > 0)
				continue;
		}
		*why = "cannot send to milter";
		return -1;
	}
	return 0;
}

/* Read one packet (progress packets restart the timer and are skipped when
 * skip_progress). The frame points into m->in until the next read. */
static int milter_read(struct milter *m, int64_t timeout_ms, struct milter_frame *f,
		       const char **why)
{
	int64_t deadline = timeutil_mono_ms() + timeout_ms;
	for (;;) {
		size_t used;
		int r = milter_frame_parse(m->in.data ? m->in.data + m->in_pos : NULL,
					   m->in.len - m->in_pos, MILTER_FRAME_MAX, f, &used);
		if (r < 0) {
			*why = "protocol violation: bad packet length";
			return -1;
		}
		if (r > 0) {
			m->in_pos += used;
			if (f->cmd == MILTER_R_PROGRESS) {
				if (f->len != 0) {
					*why = "protocol violation: data in progress packet";
					return -1;
				}
				/* SMFIR_PROGRESS: the milter is alive, restart the timer. */
				deadline = timeutil_mono_ms() + timeout_ms;
				continue;
			}
			return 1;
		}
		if (m->in_pos > 0) {
			buf_consume(&m->in, m->in_pos);
			m->in_pos = 0;
		}
		buf_reserve(&m->in, 16384);
		ssize_t n = recv(m->fd, m->in.data + m->in.len, m->in.cap - m->in.len - 1, 0);
		if (n > 0) {
			m->in.len += (size_t)n;
			continue;
		}
		if (n == 0) {
			*why = "connection closed by milter";
			return -1;
		}
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK) {
			int w = milter_wait(m->fd, POLLIN, deadline);
			if (w > 0)
				continue;
			*why = w == 0 ? "timeout waiting for milter" : "cannot read from milter";
			return -1;
		}
		*why = "cannot read from milter";
		return -1;
	}
}

/* Connect to the endpoint before the deadline: the socket or -1 with *why. */
static int milter_dial(const char *ep, int64_t deadline, const char **why)
{
	static char reason[160];
	char host[MILTER_ENDPOINT_MAX];
	uint16_t port;
	bool is_unix;
	if (milter_endpoint_split(ep, host, sizeof(host), &port, &is_unix) < 0) {
		*why = "bad endpoint";
		return -1;
	}
	if (is_unix) {
		struct sockaddr_un sun = {.sun_family = AF_UNIX};
		snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", host);
		int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fd < 0 || connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
			snprintf(reason, sizeof(reason), "connect: %s", strerror(errno));
			*why = reason;
			if (fd >= 0)
				close(fd);
			return -1;
		}
		return fd;
	}
	char portstr[8];
	snprintf(portstr, sizeof(portstr), "%u", (unsigned)port);
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM,
				 .ai_flags = AI_NUMERICSERV | AI_NUMERICHOST};
	struct addrinfo *res = NULL;
	int g = getaddrinfo(host, portstr, &hints, &res);
	if (g != 0) {
		snprintf(reason, sizeof(reason), "cannot resolve %s: %s", host, gai_strerror(g));
		*why = reason;
		return -1;
	}
	int fd = -1;
	snprintf(reason, sizeof(reason), "connect: no address");
	for (struct addrinfo *ai = res; ai != NULL && fd < 0; ai = ai->ai_next) {
		fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fd < 0)
			continue;
		int r = connect(fd, ai->ai_addr, ai->ai_addrlen);
		if (r < 0 && errno == EINPROGRESS) {
			int w = milter_wait(fd, POLLOUT, deadline);
			/* The outcome of the asynchronous connect: a second connect()
			 * says EISCONN when it worked, else the error (this avoids
			 * getsockopt, which the MX seccomp policy does not allow). */
			if (w > 0) {
				r = connect(fd, ai->ai_addr, ai->ai_addrlen);
				if (r < 0 && errno == EISCONN)
					r = 0;
			} else {
				errno = w == 0 ? ETIMEDOUT : errno;
				r = -1;
			}
		}
		if (r < 0) {
			snprintf(reason, sizeof(reason), "connect: %s", strerror(errno));
			close(fd);
			fd = -1;
			continue;
		}
		/* Small packets go out at once (no Nagle wait on the milter's
		 * delayed ACK after a run of body chunks). */
		int one = 1;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	}
	freeaddrinfo(res);
	if (fd < 0)
		*why = reason;
	return fd;
}

static void milter_log(int prio, const char *event, const struct milter *m, const char *stage,
		       const char *action, const char *reason)
{
	log_event(prio, event, "MILTER", m->spec.endpoint, "STAGE", stage, "ACTION", action,
		  "REASON", reason, NULL);
}

/* The milter failed: close it and answer with its default action. Returns
 * the verdict for the current event. */
static enum milter_verdict milter_fail(struct milter *m, const char *stage, const char *why,
				       struct milter_answer *a)
{
	milter_log(LOG_WARNING, "milter-error", m, stage, milter_action_name(m->spec.default_action),
		   why);
	milter_close(m);
	m->st = MILTER_ST_FAILED;
	m->in_txn = false;
	m->txn_skip = false;
	if (m->spec.default_action == CONF_MILTER_ACCEPT)
		return MILTER_CONTINUE;
	snprintf(a->reply, sizeof(a->reply), "%s",
		 m->spec.default_action == CONF_MILTER_REJECT ? MILTER_REJECT_REPLY
							      : MILTER_TEMPFAIL_REPLY);
	a->verdict = MILTER_REJECT;
	return MILTER_REJECT;
}

/* A failed milter answers every later event with its default action. */
static enum milter_verdict milter_failed_answer(const struct milter *m, struct milter_answer *a)
{
	if (m->spec.default_action == CONF_MILTER_ACCEPT)
		return MILTER_CONTINUE;
	snprintf(a->reply, sizeof(a->reply), "%s",
		 m->spec.default_action == CONF_MILTER_REJECT ? MILTER_REJECT_REPLY
							      : MILTER_TEMPFAIL_REPLY);
	a->verdict = MILTER_REJECT;
	return MILTER_REJECT;
}

static bool milter_name_in(const char *list, const char *name)
{
	/* "j" and "{j}" are the same macro (libmilter smfi_getsymval). */
	char alt[8] = "";
	size_t nl = strlen(name);
	if (nl == 1)
		snprintf(alt, sizeof(alt), "{%s}", name);
	else if (nl == 3 && name[0] == '{' && name[2] == '}')
		snprintf(alt, sizeof(alt), "%c", name[1]);
	const char *p = list;
	while (*p != '\0') {
		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		size_t l = strcspn(p, " \t,");
		if (l == 0)
			break;
		if ((l == nl && memcmp(p, name, l) == 0) ||
		    (alt[0] != '\0' && l == strlen(alt) && memcmp(p, alt, l) == 0))
			return true;
		p += l;
	}
	return false;
}

/* SMFIC_MACRO for the stage, if there is anything to send. */
static void milter_put_macros(const struct milters *ms, const struct milter *m,
			      const struct milter_event *ev, struct buf *out)
{
	if (ev->stage < 0)
		return;
	struct buf d = BUF_INIT;
	buf_append_byte(&d, ev->cmd);
	const char *list = m->macros[ev->stage];
	for (size_t k = 0; k < MM_COUNT; k++) {
		bool want = false;
		if (list != NULL) {
			want = milter_name_in(list, milter_macro_names[k]);
		} else {
			for (size_t j = 0; j < 8; j++) {
				enum milter_macro dm = milter_default_macros[ev->stage][j];
				if (dm == MM_COUNT)
					break;
				if ((size_t)dm == k)
					want = true;
			}
		}
		if (!want || ms->mv[k] == NULL)
			continue;
		buf_append(&d, milter_macro_names[k], strlen(milter_macro_names[k]) + 1);
		buf_append(&d, ms->mv[k], strlen(ms->mv[k]) + 1);
	}
	if (d.len > 1 && d.len <= MILTER_CHUNK_MAX)
		milter_frame_put(out, MILTER_CMD_MACRO, d.data, d.len);
	buf_free(&d);
}

/* Send the event (with its macros) to one milter; read its reply unless it
 * asked for none. 1 reply in *r, 0 no reply expected, -1 failure (*why). */
static int milter_exchange(struct milters *ms, struct milter *m, const struct milter_event *ev,
			   const void *data, size_t len, struct milter_reply *r,
			   struct milter_frame *f, const char **why)
{
	struct buf out = BUF_INIT;
	int64_t timeout = (int64_t)(ev->content ? m->spec.content_timeout_ms
						: m->spec.command_timeout_ms);
	milter_put_macros(ms, m, ev, &out);
	milter_frame_put(&out, ev->cmd, data, len);
	int rc = milter_write(m, &out, timeutil_mono_ms() + timeout, why);
	buf_free(&out);
	if (rc < 0)
		return -1;
	if (ev->noreply_bit != 0 && (m->protocol & ev->noreply_bit) != 0)
		return 0;
	if (milter_read(m, timeout, f, why) < 0)
		return -1;
	if (milter_reply_parse(f, r) < 0) {
		*why = "protocol violation: malformed reply";
		return -1;
	}
	return 1;
}

/* Negotiate (SMFIC_OPTNEG) on a connected socket: 0 ok, -1 with *why. */
static int milter_negotiate(struct milter *m, const char **why)
{
	static char reason[120];
	struct buf out = BUF_INIT;
	int64_t deadline = timeutil_mono_ms() + (int64_t)m->spec.connect_timeout_ms;
	milter_optneg_put(&out, MILTER_VERSION, MILTER_F_OFFERED, MILTER_P_OFFERED);
	int rc = milter_write(m, &out, deadline, why);
	buf_free(&out);
	if (rc < 0)
		return -1;
	struct milter_frame f;
	int64_t left = deadline - timeutil_mono_ms();
	if (milter_read(m, left > 0 ? left : 1, &f, why) < 0)
		return -1;
	struct milter_optneg o;
	if (milter_optneg_parse(&f, &o) < 0) {
		*why = "protocol violation: bad option negotiation";
		return -1;
	}
	/* Versions 2 to 6 share this framing; a milter speaking a version we
	 * do not know is refused, as libmilter refuses one from the MTA. */
	if (o.version < 2 || o.version > MILTER_VERSION) {
		snprintf(reason, sizeof(reason), "unsupported protocol version %u",
			 (unsigned)o.version);
		*why = reason;
		milter_optneg_clear(&o);
		return -1;
	}
	if ((o.actions & ~MILTER_F_OFFERED) != 0 || (o.protocol & ~MILTER_P_OFFERED) != 0) {
		/* Postfix logs and ignores what it did not offer; so do we. */
		snprintf(reason, sizeof(reason), "actions 0x%x protocol 0x%x not offered, ignored",
			 (unsigned)(o.actions & ~MILTER_F_OFFERED),
			 (unsigned)(o.protocol & ~MILTER_P_OFFERED));
		milter_log(LOG_NOTICE, "milter-negotiate", m, "connect", NULL, reason);
	}
	m->actions = o.actions & MILTER_F_OFFERED;
	m->protocol = o.protocol & MILTER_P_OFFERED;
	/* Macro lists are honoured whenever the milter sent them (with or
	 * without SMFIF_SETSYMLIST among its actions): it asked for them. */
	for (size_t i = 0; i < MILTER_STAGE_COUNT; i++) {
		free(m->macros[i]);
		m->macros[i] = o.macros[i];
		o.macros[i] = NULL;
	}
	return 0;
}

/* A verdict reply (not a modification). Fills *a; accept and continue give
 * MILTER_CONTINUE with *accepted telling them apart. -1: not a verdict. */
static int milter_verdict_of(const struct milter_reply *r, struct milter_answer *a,
			     bool *accepted)
{
	*accepted = false;
	switch (r->cmd) {
	case MILTER_R_CONTINUE:
		return MILTER_CONTINUE;
	case MILTER_R_ACCEPT:
		*accepted = true;
		return MILTER_CONTINUE;
	case MILTER_R_REJECT:
		snprintf(a->reply, sizeof(a->reply), "%s", MILTER_REJECT_REPLY);
		return MILTER_REJECT;
	case MILTER_R_TEMPFAIL:
		snprintf(a->reply, sizeof(a->reply), "%s", MILTER_TEMPFAIL_REPLY);
		return MILTER_REJECT;
	case MILTER_R_REPLYCODE:
		snprintf(a->reply, sizeof(a->reply), "%s", r->text);
		/* A 421 reply closes the connection, as in Postfix. */
		return strncmp(r->text, "421", 3) == 0 ? MILTER_SHUTDOWN : MILTER_REJECT;
	case MILTER_R_DISCARD:
		return MILTER_DISCARD;
	case MILTER_R_SHUTDOWN:
	case MILTER_R_CONN_FAIL:
		snprintf(a->reply, sizeof(a->reply), "%s", MILTER_SHUTDOWN_REPLY);
		return MILTER_SHUTDOWN;
	default:
		return -1;
	}
}

static void milter_answer_init(struct milter_answer *a)
{
	a->verdict = MILTER_CONTINUE;
	a->reply[0] = '\0';
}

/* One SMTP-stage event to every milter in order. */
static enum milter_verdict milters_event(struct milters *ms, const struct milter_event *ev,
					 const void *data, size_t len, struct milter_answer *a)
{
	milter_answer_init(a);
	if (ev->txn && (ms->txn_discard || ms->conn_discard))
		return MILTER_CONTINUE; /* the message goes nowhere anyway */
	for (size_t i = 0; i < ms->n; i++) {
		struct milter *m = &ms->m[i];
		if (m->st == MILTER_ST_FAILED) {
			if (milter_failed_answer(m, a) != MILTER_CONTINUE)
				return a->verdict;
			continue;
		}
		if (m->st != MILTER_ST_OPEN || (ev->txn && m->txn_skip))
			continue;
		if (ev->txn)
			m->in_txn = true;
		if ((m->protocol & ev->skip_bit) != 0)
			continue;
		struct milter_reply r;
		struct milter_frame f;
		const char *why = NULL;
		int x = milter_exchange(ms, m, ev, data, len, &r, &f, &why);
		if (x < 0) {
			if (milter_fail(m, ev->name, why, a) != MILTER_CONTINUE)
				return a->verdict;
			continue;
		}
		if (x == 0)
			continue;
		bool accepted;
		int v = milter_verdict_of(&r, a, &accepted);
		if (v < 0) {
			if (milter_fail(m, ev->name, "protocol violation: unexpected reply", a) !=
			    MILTER_CONTINUE)
				return a->verdict;
			continue;
		}
		if (v == MILTER_CONTINUE) {
			if (accepted) {
				/* Accept: no more questions for this connection or
				 * this transaction (libmilter's SMFIS_ACCEPT). */
				if (ev->txn)
					m->txn_skip = true;
				else
					m->st = MILTER_ST_DONE;
				milter_log(LOG_INFO, "milter-action", m, ev->name, "accept", NULL);
			}
			continue;
		}
		if (v == MILTER_DISCARD) {
			milter_log(LOG_NOTICE, "milter-action", m, ev->name, "discard", NULL);
			if (ev->txn)
				ms->txn_discard = true;
			else
				ms->conn_discard = true;
			return MILTER_CONTINUE;
		}
		a->verdict = (enum milter_verdict)v;
		if (ev == &ev_connect)
			m->st = MILTER_ST_DONE; /* refused the connection: done with it */
		milter_log(LOG_NOTICE, "milter-action", m, ev->name,
			   v == MILTER_SHUTDOWN ? "shutdown" : "reject", a->reply);
		return a->verdict;
	}
	return MILTER_CONTINUE;
}

enum milter_verdict milters_connect(struct milters *ms, const struct milter_client *cl,
				    struct milter_answer *a)
{
	milter_answer_init(a);
	const char *name = cl->client_name ? cl->client_name : "unknown";
	/* Only a real IP address is an SMFIA_INET/INET6 client (libmilter
	 * parses it with inet_pton); anything else is "unknown". */
	unsigned char bin[sizeof(struct in6_addr)];
	struct milter_client c2 = *cl;
	if (c2.client_addr != NULL && inet_pton(AF_INET, c2.client_addr, bin) != 1 &&
	    inet_pton(AF_INET6, c2.client_addr, bin) != 1)
		c2.client_addr = NULL;
	cl = &c2;
	char under[2 * MILTER_ADDR_MAX];
	milter_set(ms, MM_J, cl->hostname);
	milter_set(ms, MM_DAEMON_NAME, cl->daemon_name);
	milter_set(ms, MM_DAEMON_ADDR, cl->daemon_addr);
	milter_set(ms, MM_V, "sealmail " SEALMAIL_VERSION);
	milter_set(ms, MM_CLIENT_ADDR, cl->client_addr);
	milter_set(ms, MM_CLIENT_PORT, cl->client_addr ? cl->client_port : NULL);
	milter_set(ms, MM_CLIENT_NAME, name);
	snprintf(under, sizeof(under), "%s [%s]", name, cl->client_addr ? cl->client_addr : "local");
	milter_set(ms, MM_UNDERSCORE, under);
	milter_set(ms, MM_RCPT_MAILER, "local");
	for (size_t i = 0; i < ms->n; i++) {
		struct milter *m = &ms->m[i];
		const char *why = NULL;
		if (m->st != MILTER_ST_NEW)
			continue;
		if (m->fd < 0)
			m->fd = milter_dial(m->spec.endpoint,
					    timeutil_mono_ms() + (int64_t)m->spec.connect_timeout_ms,
					    &why);
		if (m->fd < 0 || milter_negotiate(m, &why) < 0) {
			milter_fail(m, "connect", why, a);
			continue; /* its default action is applied below, in order */
		}
		m->st = MILTER_ST_OPEN;
	}
	/* SMFIC_CONNECT: host name ("[addr]" without reverse DNS, as Sendmail
	 * and Postfix send it), family, port, address (milter-protocol.txt). */
	struct buf d = BUF_INIT;
	if (cl->client_addr == NULL) {
		buf_append(&d, "localhost", 10);
		buf_append_byte(&d, 'U');
	} else {
		char host[MILTER_ADDR_MAX + 3];
		if (cl->client_name != NULL)
			snprintf(host, sizeof(host), "%s", cl->client_name);
		else
			snprintf(host, sizeof(host), "[%s]", cl->client_addr);
		buf_append(&d, host, strlen(host) + 1);
		buf_append_byte(&d, strchr(cl->client_addr, ':') ? '6' : '4');
		unsigned long port = cl->client_port ? strtoul(cl->client_port, NULL, 10) : 0;
		unsigned char pb[2] = {(unsigned char)(port >> 8), (unsigned char)port};
		buf_append(&d, pb, 2);
		buf_append(&d, cl->client_addr, strlen(cl->client_addr) + 1);
	}
	enum milter_verdict v = milters_event(ms, &ev_connect, d.data, d.len, a);
	buf_free(&d);
	if (v == MILTER_REJECT) {
		/* Remembered for MAIL (the milter that refused is done). */
		ms->conn_refused = true;
		snprintf(ms->conn_reply, sizeof(ms->conn_reply), "%s", a->reply);
	}
	return v;
}

enum milter_verdict milters_helo(struct milters *ms, const char *helo, const char *tls_version,
				 const char *cipher, struct milter_answer *a)
{
	milter_set(ms, MM_TLS_VERSION, tls_version);
	milter_set(ms, MM_CIPHER, cipher);
	return milters_event(ms, &ev_helo, helo, strlen(helo) + 1, a);
}

/* "<addr>\0" followed by each space-separated parameter, NUL-terminated. */
static void milter_args(struct buf *d, const char *addr, const char *params)
{
	buf_append_byte(d, '<');
	buf_append_str(d, addr);
	buf_append(d, ">", 2);
	const char *p = params ? params : "";
	while (*p != '\0') {
		while (*p == ' ')
			p++;
		size_t l = strcspn(p, " ");
		if (l == 0)
			break;
		buf_append(d, p, l);
		buf_append_byte(d, '\0');
		p += l;
	}
}

enum milter_verdict milters_mail(struct milters *ms, const char *from, const char *params,
				 const char *queue_id, const char *auth_authen,
				 struct milter_answer *a)
{
	milter_answer_init(a);
	ms->txn_discard = false;
	for (size_t i = 0; i < ms->n; i++) {
		ms->m[i].txn_skip = false;
		ms->m[i].in_txn = false;
	}
	if (ms->conn_refused) {
		snprintf(a->reply, sizeof(a->reply), "%s", ms->conn_reply);
		a->verdict = MILTER_REJECT;
		return MILTER_REJECT;
	}
	milter_set(ms, MM_I, queue_id);
	milter_set(ms, MM_MAIL_ADDR, from);
	milter_set(ms, MM_AUTH_AUTHEN, auth_authen);
	struct buf d = BUF_INIT;
	milter_args(&d, from, params);
	enum milter_verdict v = MILTER_CONTINUE;
	if (d.len > MILTER_CHUNK_MAX) {
		snprintf(a->reply, sizeof(a->reply), "501 5.5.4 Error: MAIL command too long");
		a->verdict = v = MILTER_REJECT;
	} else {
		v = milters_event(ms, &ev_mail, d.data, d.len, a);
	}
	buf_free(&d);
	if (v != MILTER_CONTINUE)
		milters_abort(ms);
	return v;
}

enum milter_verdict milters_rcpt(struct milters *ms, const char *rcpt, const char *params,
				 struct milter_answer *a)
{
	milter_set(ms, MM_RCPT_ADDR, rcpt);
	struct buf d = BUF_INIT;
	milter_args(&d, rcpt, params);
	enum milter_verdict v = milters_event(ms, &ev_rcpt, d.data, d.len, a);
	buf_free(&d);
	return v;
}

enum milter_verdict milters_data(struct milters *ms, struct milter_answer *a)
{
	return milters_event(ms, &ev_data, NULL, 0, a);
}

void milters_abort(struct milters *ms)
{
	if (ms == NULL)
		return;
	for (size_t i = 0; i < ms->n; i++) {
		struct milter *m = &ms->m[i];
		bool was = m->in_txn;
		m->in_txn = false;
		m->txn_skip = false;
		if (!was || m->st != MILTER_ST_OPEN)
			continue;
		/* SMFIC_ABORT has no reply. */
		struct buf out = BUF_INIT;
		const char *why;
		milter_frame_put(&out, MILTER_CMD_ABORT, NULL, 0);
		if (milter_write(m, &out, timeutil_mono_ms() + (int64_t)m->spec.command_timeout_ms,
				 &why) < 0)
			milter_fail(m, "abort", why, &(struct milter_answer){0});
		buf_free(&out);
	}
	ms->txn_discard = false;
}

void milter_result_clear(struct milter_result *res)
{
	buf_free(&res->msg);
	free(res->rcpt);
	memset(res, 0, sizeof(*res));
}

/* A modification allowed by the negotiated actions? */
static bool milter_mod_allowed(const struct milter *m, unsigned char cmd)
{
	switch (cmd) {
	case MILTER_R_ADDHEADER:
	case MILTER_R_INSHEADER:
		return (m->actions & MILTER_F_ADDHDRS) != 0;
	case MILTER_R_CHGHEADER:
		return (m->actions & MILTER_F_CHGHDRS) != 0;
	case MILTER_R_REPLBODY:
		return (m->actions & MILTER_F_CHGBODY) != 0;
	case MILTER_R_ADDRCPT:
		return (m->actions & MILTER_F_ADDRCPT) != 0;
	case MILTER_R_ADDRCPT_PAR:
		return (m->actions & MILTER_F_ADDRCPT_PAR) != 0;
	case MILTER_R_DELRCPT:
		return (m->actions & MILTER_F_DELRCPT) != 0;
	case MILTER_R_CHGFROM:
		return (m->actions & MILTER_F_CHGFROM) != 0;
	case MILTER_R_QUARANTINE:
		return (m->actions & MILTER_F_QUARANTINE) != 0;
	default:
		return false;
	}
}

/* Content outcome of one milter. */
enum milter_content_rc { MC_CONTINUE, MC_SKIPPED, MC_VERDICT, MC_FAILED };

/* Send one content event and interpret a reply that is not end of message:
 * MC_CONTINUE, MC_SKIPPED (accept or SMFIR_SKIP in the body: *skip_body),
 * MC_VERDICT (*a filled, or discard in *discard), MC_FAILED (*why). */
static enum milter_content_rc milter_content_step(struct milters *ms, struct milter *m,
						  const struct milter_event *ev, const void *data,
						  size_t len, struct milter_answer *a,
						  bool *accepted, bool *skip_body, bool *discard,
						  const char **why)
{
	struct milter_reply r;
	struct milter_frame f;
	if ((m->protocol & ev->skip_bit) != 0)
		return MC_CONTINUE;
	int x = milter_exchange(ms, m, ev, data, len, &r, &f, why);
	if (x < 0)
		return MC_FAILED;
	if (x == 0)
		return MC_CONTINUE;
	if (r.cmd == MILTER_R_SKIP && ev == &ev_body) {
		*skip_body = true;
		return MC_CONTINUE;
	}
	int v = milter_verdict_of(&r, a, accepted);
	if (v < 0) {
		*why = "protocol violation: unexpected reply";
		return MC_FAILED;
	}
	if (v == MILTER_CONTINUE)
		return *accepted ? MC_SKIPPED : MC_CONTINUE;
	if (v == MILTER_DISCARD)
		*discard = true;
	a->verdict = (enum milter_verdict)v;
	return MC_VERDICT;
}

/* A copied modification packet, applied after the final verdict. */
struct milter_mod {
	unsigned char cmd;
	unsigned char *data;
	size_t len;
};

static void milter_mods_free(struct milter_mod *mods, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(mods[i].data);
	free(mods);
}

/* Apply one milter's modifications to mm and res. */
static void milter_apply(const struct milter *m, struct milter_mod *mods, size_t n,
			 struct milter_msg *mm, struct milter_result *res)
{
	bool leadspc = (m->protocol & MILTER_P_HDR_LEADSPC) != 0;
	struct buf body = BUF_INIT;
	bool body_set = false;
	for (size_t i = 0; i < n; i++) {
		struct milter_frame f = {mods[i].cmd, mods[i].data, mods[i].len};
		struct milter_reply r;
		if (milter_reply_parse(&f, &r) < 0)
			continue; /* checked on receipt */
		switch (r.cmd) {
		case MILTER_R_ADDHEADER:
			milter_msg_add(mm, r.name, r.value, leadspc);
			break;
		case MILTER_R_INSHEADER:
			milter_msg_insert(mm, r.index, r.name, r.value, leadspc);
			break;
		case MILTER_R_CHGHEADER:
			milter_msg_change(mm, r.index, r.name, r.value, leadspc);
			break;
		case MILTER_R_REPLBODY:
			/* Consecutive chunks make one new body. */
			buf_append(&body, r.body, r.body_len);
			body_set = true;
			break;
		case MILTER_R_ADDRCPT:
		case MILTER_R_ADDRCPT_PAR:
		case MILTER_R_DELRCPT:
			res->rcpt = mem_realloc(res->rcpt, res->nrcpt + 1, sizeof(*res->rcpt));
			res->rcpt[res->nrcpt].add = r.cmd != MILTER_R_DELRCPT;
			snprintf(res->rcpt[res->nrcpt].addr, sizeof(res->rcpt[0].addr), "%s", r.addr);
			res->nrcpt++;
			milter_log(LOG_INFO, "milter-action", m, "eom",
				   r.cmd == MILTER_R_DELRCPT ? "delrcpt" : "addrcpt", r.addr);
			break;
		case MILTER_R_CHGFROM:
			res->from_changed = true;
			snprintf(res->from, sizeof(res->from), "%s", r.addr);
			milter_log(LOG_INFO, "milter-action", m, "eom", "chgfrom", r.addr);
			break;
		case MILTER_R_QUARANTINE:
			res->quarantine = true;
			snprintf(res->quarantine_reason, sizeof(res->quarantine_reason), "%s",
				 r.value);
			milter_log(LOG_NOTICE, "milter-action", m, "eom", "quarantine", r.value);
			break;
		default:
			break;
		}
	}
	if (body_set)
		milter_msg_set_body(mm, body.data ? body.data : (const unsigned char *)"", body.len);
	buf_free(&body);
}

/* The message to one milter. Returns MC_CONTINUE (edits applied to *mm and
 * res), MC_SKIPPED, MC_VERDICT (res->answer), or MC_FAILED (*why). */
static enum milter_content_rc milter_content(struct milters *ms, struct milter *m,
					     struct milter_msg *mm, struct milter_result *res,
					     const char **why)
{
	struct milter_answer *a = &res->answer;
	bool leadspc = (m->protocol & MILTER_P_HDR_LEADSPC) != 0;
	bool accepted = false, skip_body = false, discard = false;
	enum milter_content_rc rc = MC_CONTINUE;
	struct buf d = BUF_INIT, v = BUF_INIT;
	/* Headers, one packet each: name NUL value NUL. */
	for (size_t i = 0; i < mm->nf && rc == MC_CONTINUE; i++) {
		if ((m->protocol & MILTER_P_NOHDRS) != 0)
			break;
		milter_msg_value(mm, i, leadspc, &v);
		buf_reset(&d);
		buf_append(&d, mm->f[i].raw, mm->f[i].name_len);
		buf_append_byte(&d, '\0');
		/* libmilter refuses packets over 64 KiB: cut a monstrous value. */
		size_t vl = v.len;
		if (d.len + vl + 1 > MILTER_CHUNK_MAX)
			vl = MILTER_CHUNK_MAX - d.len - 1;
		buf_append(&d, v.data ? v.data : (const unsigned char *)"", vl);
		buf_append_byte(&d, '\0');
		rc = milter_content_step(ms, m, &ev_header, d.data, d.len, a, &accepted, &skip_body,
					 &discard, why);
	}
	if (rc == MC_CONTINUE)
		rc = milter_content_step(ms, m, &ev_eoh, NULL, 0, a, &accepted, &skip_body, &discard,
					 why);
	size_t bl;
	const unsigned char *body = milter_msg_body(mm, &bl);
	for (size_t off = 0; off < bl && rc == MC_CONTINUE && !skip_body; off += MILTER_CHUNK_MAX) {
		size_t n = bl - off < MILTER_CHUNK_MAX ? bl - off : MILTER_CHUNK_MAX;
		rc = milter_content_step(ms, m, &ev_body, body + off, n, a, &accepted, &skip_body,
					 &discard, why);
	}
	buf_free(&d);
	buf_free(&v);
	if (rc == MC_VERDICT && discard) {
		ms->txn_discard = true;
		milter_log(LOG_NOTICE, "milter-action", m, "content", "discard", NULL);
	} else if (rc == MC_VERDICT) {
		milter_log(LOG_NOTICE, "milter-action", m, "content",
			   a->verdict == MILTER_SHUTDOWN ? "shutdown" : "reject", a->reply);
	}
	if (rc != MC_CONTINUE) {
		if (rc == MC_SKIPPED)
			milter_log(LOG_INFO, "milter-action", m, "content", "accept", NULL);
		return rc;
	}
	/* End of message: modifications, then the verdict. */
	struct buf out = BUF_INIT;
	int64_t timeout = (int64_t)m->spec.content_timeout_ms;
	milter_put_macros(ms, m, &ev_eom, &out);
	milter_frame_put(&out, MILTER_CMD_BODYEOB, NULL, 0);
	int w = milter_write(m, &out, timeutil_mono_ms() + timeout, why);
	buf_free(&out);
	if (w < 0)
		return MC_FAILED;
	struct milter_mod *mods = NULL;
	size_t nmods = 0;
	for (;;) {
		struct milter_frame f;
		struct milter_reply r;
		if (milter_read(m, timeout, &f, why) < 0) {
			rc = MC_FAILED;
			break;
		}
		if (milter_reply_parse(&f, &r) < 0) {
			*why = "protocol violation: malformed reply";
			rc = MC_FAILED;
			break;
		}
		int vd = milter_verdict_of(&r, a, &accepted);
		if (vd >= 0) {
			if (vd == MILTER_CONTINUE) {
				rc = MC_CONTINUE;
				milter_apply(m, mods, nmods, mm, res);
			} else {
				rc = MC_VERDICT;
				a->verdict = (enum milter_verdict)vd;
				if (vd == MILTER_DISCARD) {
					ms->txn_discard = true;
					milter_log(LOG_NOTICE, "milter-action", m, "eom", "discard",
						   NULL);
				} else {
					milter_log(LOG_NOTICE, "milter-action", m, "eom",
						   vd == MILTER_SHUTDOWN ? "shutdown" : "reject",
						   a->reply);
				}
			}
			break;
		}
		if (!milter_mod_allowed(m, r.cmd)) {
			*why = "protocol violation: modification not negotiated or not allowed";
			rc = MC_FAILED;
			break;
		}
		mods = mem_realloc(mods, nmods + 1, sizeof(*mods));
		mods[nmods].cmd = f.cmd;
		mods[nmods].data = mem_dup(f.len ? f.data : (const unsigned char *)"", f.len);
		mods[nmods].len = f.len;
		nmods++;
	}
	milter_mods_free(mods, nmods);
	return rc;
}

enum milter_verdict milters_message(struct milters *ms, const unsigned char *msg, size_t len,
				    struct milter_result *res)
{
	memset(res, 0, sizeof(*res));
	milter_answer_init(&res->answer);
	if (msg == NULL)
		msg = (const unsigned char *)"";
	struct buf cur = BUF_INIT; /* the message as edited so far */
	bool edited = false;
	for (size_t i = 0; i < ms->n && !ms->txn_discard && !ms->conn_discard; i++) {
		struct milter *m = &ms->m[i];
		if (m->st == MILTER_ST_FAILED) {
			if (milter_failed_answer(m, &res->answer) != MILTER_CONTINUE)
				break;
			continue;
		}
		if (m->st != MILTER_ST_OPEN || m->txn_skip)
			continue;
		struct milter_msg mm;
		milter_msg_init(&mm, edited ? cur.data : msg, edited ? cur.len : len);
		const char *why = NULL;
		enum milter_content_rc rc = milter_content(ms, m, &mm, res, &why);
		m->in_txn = false; /* end of message, or a verdict, ends its transaction */
		if (rc == MC_FAILED) {
			milter_msg_clear(&mm);
			if (milter_fail(m, "content", why, &res->answer) != MILTER_CONTINUE)
				break;
			continue;
		}
		if (rc == MC_CONTINUE && mm.changed) {
			struct buf next = BUF_INIT;
			milter_msg_render(&mm, &next);
			buf_free(&cur);
			cur = next;
			edited = true;
		}
		milter_msg_clear(&mm);
		if (rc == MC_VERDICT)
			break;
	}
	if (ms->txn_discard || ms->conn_discard) {
		res->answer.verdict = MILTER_DISCARD;
		res->answer.reply[0] = '\0';
	}
	if (res->answer.verdict == MILTER_CONTINUE && edited) {
		res->changed = true;
		res->msg = cur;
	} else {
		buf_free(&cur);
	}
	/* The transaction is over for every milter (those that were skipped
	 * or refused get SMFIC_ABORT, which libmilter ignores when idle). */
	milters_abort(ms);
	return res->answer.verdict;
}

void milters_free(struct milters **msp)
{
	struct milters *ms = *msp;
	if (ms == NULL)
		return;
	for (size_t i = 0; i < ms->n; i++) {
		struct milter *m = &ms->m[i];
		if (m->fd >= 0 && (m->st == MILTER_ST_OPEN || m->st == MILTER_ST_DONE)) {
			struct buf out = BUF_INIT;
			const char *why;
			milter_frame_put(&out, MILTER_CMD_QUIT, NULL, 0);
			(void)milter_write(m, &out, timeutil_mono_ms() + 1000, &why);
			buf_free(&out);
		}
		milter_close(m);
		for (size_t k = 0; k < MILTER_STAGE_COUNT; k++)
			free(m->macros[k]);
	}
	for (size_t k = 0; k < MM_COUNT; k++)
		free(ms->mv[k]);
	free(ms->m);
	free(ms);
	*msp = NULL;
}
