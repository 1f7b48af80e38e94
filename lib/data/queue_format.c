/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* Text forms of a queued message's envelope and delivery state (queue.h,
 * docs/SENDING.md). Pure: no I/O, no globals, no logging. The parsers accept
 * exactly what the formatters write (one canonical form), so a file that
 * parses also round-trips. Trust: files written by network-facing processes;
 * every length is bounded before anything is copied. */
#include "queue.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"

#define QUEUE_ENV_MAGIC "sealmail-queue-envelope 1"
#define QUEUE_STATE_MAGIC "sealmail-queue-state 1"

static bool queue_copy(char *dst, size_t dstsz, const char *src, size_t n)
{
	if (n >= dstsz)
		return false;
	memcpy(dst, src, n);
	dst[n] = '\0';
	return true;
}

int queue_env_add_rcpt(struct queue_env *e, const char *addr, unsigned notify, const char *orcpt)
{
	if (e->nrcpt >= QUEUE_RCPT_MAX)
		return -1;
	struct queue_rcpt r;
	memset(&r, 0, sizeof(r));
	if (!queue_copy(r.addr, sizeof(r.addr), addr, strlen(addr)) ||
	    !queue_copy(r.orcpt, sizeof(r.orcpt), orcpt ? orcpt : "", orcpt ? strlen(orcpt) : 0))
		return -1;
	r.notify = notify;
	/* Grow in steps of powers of two; nrcpt is bounded by QUEUE_RCPT_MAX. */
	if ((e->nrcpt & (e->nrcpt - 1)) == 0) {
		size_t cap = e->nrcpt ? e->nrcpt * 2 : 1;
		e->rcpt = mem_realloc(e->rcpt, cap, sizeof(*e->rcpt));
	}
	e->rcpt[e->nrcpt++] = r;
	return 0;
}

void queue_env_clear(struct queue_env *e)
{
	free(e->rcpt);
	memset(e, 0, sizeof(*e));
}

/* An address as the envelope carries it: no control characters (a quoted
 * local part may hold spaces, RFC 5321 section 4.1.2; UTF-8 is allowed for
 * SMTPUTF8, RFC 6531 section 3.3), at most SMTP_PATH_MAX bytes. */
static bool queue_addr_ok(const char *s, size_t n, bool allow_empty)
{
	if (n > SMTP_PATH_MAX || (n == 0 && !allow_empty))
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c < 0x20 || c == 0x7f)
			return false;
	}
	return true;
}

static bool queue_handler_ok(const char *s, size_t n)
{
	if (n == 0 || n > QUEUE_HANDLER_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
			return false;
	return true;
}

/* xtext (RFC 3461 section 4): "+" and "=" and everything outside 33..126
 * are written as "+HH". */
static void queue_xtext(struct buf *out, const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p < 33 || *p > 126 || *p == '+' || *p == '=')
			buf_printf(out, "+%02X", *p);
		else
			buf_append_byte(out, *p);
	}
}

/* NOTIFY as a comma list in a fixed order (one canonical form). */
static void queue_notify_format(struct buf *out, unsigned n)
{
	static const struct {
		unsigned bit;
		const char *name;
	} names[] = {{SMTP_NOTIFY_SUCCESS, "success"},
		     {SMTP_NOTIFY_FAILURE, "failure"},
		     {SMTP_NOTIFY_DELAY, "delay"}};
	const char *sep = "";
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (n & names[i].bit) {
			buf_printf(out, "%s%s", sep, names[i].name);
			sep = ",";
		}
	}
}

static const char *const queue_body_names[] = {"", "7bit", "8bitmime", "binarymime"};

int queue_env_format(const struct queue_env *e, struct buf *out)
{
	size_t start = out->len;
	if (queue_id_parse(e->id, NULL) != 1 || e->arrival < 0 ||
	    !queue_handler_ok(e->handler, strlen(e->handler)) ||
	    !queue_addr_ok(e->user, strlen(e->user), true) ||
	    !queue_addr_ok(e->from, strlen(e->from), true) || e->nrcpt == 0 ||
	    e->nrcpt > QUEUE_RCPT_MAX || (unsigned)e->body > SMTP_BODY_BINARYMIME ||
	    (unsigned)e->ret > SMTP_RET_HDRS || strlen(e->envid) > SMTP_ENVID_MAX)
		return -1;
	buf_printf(out, QUEUE_ENV_MAGIC "\nid %s\narrival %lld\nhandler %s\n", e->id,
		   (long long)e->arrival, e->handler);
	if (e->user[0])
		buf_printf(out, "user %s\n", e->user);
	buf_printf(out, "from %s\n", e->from);
	if (e->envid[0]) {
		buf_append_str(out, "envid ");
		queue_xtext(out, e->envid);
		buf_append_byte(out, '\n');
	}
	if (e->ret != SMTP_RET_UNSET)
		buf_printf(out, "ret %s\n", e->ret == SMTP_RET_FULL ? "full" : "hdrs");
	if (e->body != SMTP_BODY_UNSET)
		buf_printf(out, "body %s\n", queue_body_names[e->body]);
	if (e->smtputf8)
		buf_append_str(out, "smtputf8\n");
	if (e->requiretls)
		buf_append_str(out, "requiretls\n");
	for (size_t i = 0; i < e->nrcpt; i++) {
		const struct queue_rcpt *r = &e->rcpt[i];
		unsigned n = r->notify;
		/* RFC 3461 section 4.1: NEVER stands alone. */
		if (!queue_addr_ok(r->addr, strlen(r->addr), false) ||
		    (n & ~(SMTP_NOTIFY_NEVER | SMTP_NOTIFY_SUCCESS | SMTP_NOTIFY_FAILURE |
			   SMTP_NOTIFY_DELAY)) != 0 ||
		    ((n & SMTP_NOTIFY_NEVER) && n != SMTP_NOTIFY_NEVER) ||
		    strlen(r->orcpt) > SMTP_ORCPT_MAX) {
			buf_truncate(out, start);
			return -1;
		}
		buf_append_str(out, "rcpt ");
		if (n == 0)
			buf_append_byte(out, '-');
		else if (n == SMTP_NOTIFY_NEVER)
			buf_append_str(out, "never");
		else
			queue_notify_format(out, n);
		buf_append_byte(out, ' ');
		if (r->orcpt[0])
			queue_xtext(out, r->orcpt);
		else
			buf_append_byte(out, '-');
		buf_printf(out, " %s\n", r->addr);
	}
	buf_append_str(out, "end\n");
	return 0;
}

/* The line reader of both parsers. */
struct queue_lines {
	const unsigned char *p;
	size_t len, pos;
	const char *line; /* current line, not NUL-terminated */
	size_t ll;
};

/* Next line: 1, or 0 at the end or when the line is too long, lacks its LF,
 * or holds a control character (CR, NUL, TAB included). */
static int queue_next(struct queue_lines *l)
{
	if (l->pos >= l->len)
		return 0;
	const unsigned char *s = l->p + l->pos;
	size_t avail = l->len - l->pos;
	size_t lim = avail < QUEUE_LINE_MAX + 1 ? avail : QUEUE_LINE_MAX + 1;
	const unsigned char *nl = memchr(s, '\n', lim);
	if (nl == NULL)
		return 0;
	size_t n = (size_t)(nl - s);
	for (size_t i = 0; i < n; i++)
		if (s[i] < 0x20 || s[i] == 0x7f)
			return 0;
	l->line = (const char *)s;
	l->ll = n;
	l->pos += n + 1;
	return 1;
}

static bool queue_is(const struct queue_lines *l, const char *text)
{
	size_t n = strlen(text);
	return l->ll == n && memcmp(l->line, text, n) == 0;
}

/* "key value": 1 with the value, 0 when the line is not that key. */
static bool queue_key(const struct queue_lines *l, const char *key, const char **v, size_t *vn)
{
	size_t k = strlen(key);
	if (l->ll <= k || memcmp(l->line, key, k) != 0 || l->line[k] != ' ')
		return false;
	*v = l->line + k + 1;
	*vn = l->ll - k - 1;
	return true;
}

/* A canonical decimal number: no sign, no leading zero, at most 18 digits. */
static bool queue_num(const char *s, size_t n, int64_t *out)
{
	if (n == 0 || n > 18 || (n > 1 && s[0] == '0'))
		return false;
	int64_t v = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return true;
}

/* Decode xtext that queue_xtext wrote (canonical: upper-case hex, only for
 * the bytes that need it, no NUL). */
static bool queue_unxtext(const char *s, size_t n, char *out, size_t outsz)
{
	size_t o = 0;
	for (size_t i = 0; i < n; i++) {
		unsigned c = (unsigned char)s[i];
		if (c == '+') {
			if (n - i < 3)
				return false;
			unsigned v = 0;
			for (int k = 1; k <= 2; k++) {
				char h = s[i + k];
				if (h >= '0' && h <= '9')
					v = v * 16 + (unsigned)(h - '0');
				else if (h >= 'A' && h <= 'F')
					v = v * 16 + (unsigned)(h - 'A' + 10);
				else
					return false;
			}
			if (v == 0 || (v >= 33 && v <= 126 && v != '+' && v != '='))
				return false;
			c = v;
			i += 2;
		} else if (c < 33 || c > 126 || c == '=') {
			return false;
		}
		if (o + 1 >= outsz)
			return false;
		out[o++] = (char)c;
	}
	out[o] = '\0';
	return true;
}

static bool queue_notify_parse(const char *s, size_t n, unsigned *out)
{
	static const struct {
		const char *text;
		unsigned bits;
	} forms[] = {
	    {"-", 0},
	    {"never", SMTP_NOTIFY_NEVER},
	    {"success", SMTP_NOTIFY_SUCCESS},
	    {"failure", SMTP_NOTIFY_FAILURE},
	    {"delay", SMTP_NOTIFY_DELAY},
	    {"success,failure", SMTP_NOTIFY_SUCCESS | SMTP_NOTIFY_FAILURE},
	    {"success,delay", SMTP_NOTIFY_SUCCESS | SMTP_NOTIFY_DELAY},
	    {"failure,delay", SMTP_NOTIFY_FAILURE | SMTP_NOTIFY_DELAY},
	    {"success,failure,delay", SMTP_NOTIFY_SUCCESS | SMTP_NOTIFY_FAILURE | SMTP_NOTIFY_DELAY},
	};
	for (size_t i = 0; i < sizeof(forms) / sizeof(forms[0]); i++) {
		if (strlen(forms[i].text) == n && memcmp(forms[i].text, s, n) == 0) {
			*out = forms[i].bits;
			return true;
		}
	}
	return false;
}

/* "rcpt NOTIFY ORCPT ADDRESS" (the address last: it may hold spaces). */
static bool queue_rcpt_parse(const char *v, size_t vn, struct queue_env *e)
{
	const char *sp1 = memchr(v, ' ', vn);
	if (sp1 == NULL)
		return false;
	const char *o = sp1 + 1;
	const char *sp2 = memchr(o, ' ', vn - (size_t)(o - v));
	if (sp2 == NULL)
		return false;
	const char *a = sp2 + 1;
	size_t an = vn - (size_t)(a - v);
	unsigned notify;
	char orcpt[SMTP_ORCPT_MAX + 1] = "";
	char addr[SMTP_PATH_MAX + 1];
	size_t on = (size_t)(sp2 - o);
	if (!queue_notify_parse(v, (size_t)(sp1 - v), &notify))
		return false;
	if (!(on == 1 && o[0] == '-') &&
	    (on == 0 || !queue_unxtext(o, on, orcpt, sizeof(orcpt))))
		return false;
	if (!queue_addr_ok(a, an, false) || !queue_copy(addr, sizeof(addr), a, an))
		return false;
	return queue_env_add_rcpt(e, addr, notify, orcpt) == 0;
}

/* The fixed header lines up to and including "from". */
static bool queue_env_head(struct queue_lines *l, struct queue_env *e)
{
	const char *v;
	size_t vn;
	if (!queue_next(l) || !queue_is(l, QUEUE_ENV_MAGIC))
		return false;
	if (!queue_next(l) || !queue_key(l, "id", &v, &vn) ||
	    !queue_copy(e->id, sizeof(e->id), v, vn) || queue_id_parse(e->id, NULL) != 1)
		return false;
	if (!queue_next(l) || !queue_key(l, "arrival", &v, &vn) || !queue_num(v, vn, &e->arrival))
		return false;
	if (!queue_next(l) || !queue_key(l, "handler", &v, &vn) || !queue_handler_ok(v, vn) ||
	    !queue_copy(e->handler, sizeof(e->handler), v, vn))
		return false;
	if (!queue_next(l))
		return false;
	if (queue_key(l, "user", &v, &vn)) {
		if (!queue_addr_ok(v, vn, false) || !queue_copy(e->user, sizeof(e->user), v, vn) ||
		    !queue_next(l))
			return false;
	}
	/* "from " with nothing after it is the null sender (RFC 5321 4.5.5). */
	if (l->ll < 5 || memcmp(l->line, "from ", 5) != 0)
		return false;
	v = l->line + 5;
	vn = l->ll - 5;
	return queue_addr_ok(v, vn, true) && queue_copy(e->from, sizeof(e->from), v, vn);
}

/* The optional lines between "from" and the first "rcpt", in their order;
 * leaves l on the first line that is none of them. */
static bool queue_env_options(struct queue_lines *l, struct queue_env *e)
{
	const char *v;
	size_t vn;
	if (!queue_next(l))
		return false;
	if (queue_key(l, "envid", &v, &vn)) {
		if (!queue_unxtext(v, vn, e->envid, sizeof(e->envid)) || !queue_next(l))
			return false;
	}
	if (queue_key(l, "ret", &v, &vn)) {
		if (vn == 4 && memcmp(v, "full", 4) == 0)
			e->ret = SMTP_RET_FULL;
		else if (vn == 4 && memcmp(v, "hdrs", 4) == 0)
			e->ret = SMTP_RET_HDRS;
		else
			return false;
		if (!queue_next(l))
			return false;
	}
	if (queue_key(l, "body", &v, &vn)) {
		for (unsigned b = SMTP_BODY_7BIT; b <= SMTP_BODY_BINARYMIME; b++)
			if (strlen(queue_body_names[b]) == vn && memcmp(queue_body_names[b], v, vn) == 0)
				e->body = (enum smtp_body)b;
		if (e->body == SMTP_BODY_UNSET || !queue_next(l))
			return false;
	}
	if (queue_is(l, "smtputf8")) {
		e->smtputf8 = true;
		if (!queue_next(l))
			return false;
	}
	if (queue_is(l, "requiretls")) {
		e->requiretls = true;
		if (!queue_next(l))
			return false;
	}
	return true;
}

int queue_env_parse(const unsigned char *p, size_t len, struct queue_env *e)
{
	struct queue_lines l = {p, len, 0, NULL, 0};
	memset(e, 0, sizeof(*e));
	if (len > QUEUE_ENV_MAX || !queue_env_head(&l, e) || !queue_env_options(&l, e))
		goto bad;
	const char *v;
	size_t vn;
	while (queue_key(&l, "rcpt", &v, &vn)) {
		if (!queue_rcpt_parse(v, vn, e) || !queue_next(&l))
			goto bad;
	}
	if (e->nrcpt == 0 || !queue_is(&l, "end") || l.pos != len)
		goto bad;
	return 1;
bad:
	queue_env_clear(e);
	return 0;
}

/* --- State ---------------------------------------------------------------- */

static const char *const queue_status_names[] = {"pending", "sent", "bounced"};

void queue_state_init(struct queue_state *s, const struct queue_env *e)
{
	s->held = false;
	s->n = e->nrcpt;
	s->rcpt = mem_array(e->nrcpt ? e->nrcpt : 1, sizeof(*s->rcpt));
	for (size_t i = 0; i < s->n; i++)
		s->rcpt[i].next_try = e->arrival;
}

void queue_state_clear(struct queue_state *s)
{
	free(s->rcpt);
	memset(s, 0, sizeof(*s));
}

void queue_state_set_error(struct queue_rcpt_state *r, const char *text, size_t len)
{
	size_t n = len < QUEUE_ERROR_MAX ? len : QUEUE_ERROR_MAX;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)text[i];
		/* Printable ASCII only: the text came from a remote server. */
		r->error[i] = (c < 0x20 || c >= 0x7f) ? ' ' : (char)c;
	}
	r->error[n] = '\0';
}

int queue_state_format(const struct queue_state *s, struct buf *out)
{
	size_t start = out->len;
	buf_printf(out, QUEUE_STATE_MAGIC "\nheld %d\n", s->held ? 1 : 0);
	for (size_t i = 0; i < s->n; i++) {
		const struct queue_rcpt_state *r = &s->rcpt[i];
		size_t el = strnlen(r->error, sizeof(r->error));
		bool ok = (unsigned)r->status <= QUEUE_RCPT_BOUNCED && r->next_try >= 0 &&
			  r->last_try >= 0 && el <= QUEUE_ERROR_MAX;
		for (size_t k = 0; ok && k < el; k++)
			ok = r->error[k] >= 0x20 && r->error[k] < 0x7f;
		if (!ok) {
			buf_truncate(out, start);
			return -1;
		}
		buf_printf(out, "rcpt %zu %s %u %lld %lld %d %s\n", i, queue_status_names[r->status],
			   r->attempts, (long long)r->next_try, (long long)r->last_try,
			   r->warned ? 1 : 0, r->error);
	}
	buf_append_str(out, "end\n");
	return 0;
}

/* Split the next space-separated field off v; false when there is none. */
static bool queue_field(const char **v, size_t *vn, const char **f, size_t *fn)
{
	const char *sp = memchr(*v, ' ', *vn);
	if (sp == NULL)
		return false;
	*f = *v;
	*fn = (size_t)(sp - *v);
	*vn -= *fn + 1;
	*v = sp + 1;
	return true;
}

/* "rcpt IDX STATUS ATTEMPTS NEXT LAST WARNED ERROR" for recipient idx. */
static bool queue_state_rcpt(const char *v, size_t vn, size_t idx, struct queue_rcpt_state *r)
{
	const char *f[6];
	size_t fn[6];
	int64_t num[6];
	for (int i = 0; i < 6; i++)
		if (!queue_field(&v, &vn, &f[i], &fn[i]))
			return false;
	if (!queue_num(f[0], fn[0], &num[0]) || (uint64_t)num[0] != idx)
		return false;
	bool found = false;
	for (unsigned s = 0; s <= QUEUE_RCPT_BOUNCED; s++) {
		if (strlen(queue_status_names[s]) == fn[1] &&
		    memcmp(queue_status_names[s], f[1], fn[1]) == 0) {
			r->status = (enum queue_rcpt_status)s;
			found = true;
		}
	}
	for (int i = 2; i < 6; i++)
		if (!queue_num(f[i], fn[i], &num[i]))
			return false;
	if (!found || num[2] > UINT32_MAX || num[5] > 1 || vn > QUEUE_ERROR_MAX)
		return false;
	r->attempts = (uint32_t)num[2];
	r->next_try = num[3];
	r->last_try = num[4];
	r->warned = num[5] == 1;
	for (size_t i = 0; i < vn; i++)
		if ((unsigned char)v[i] >= 0x7f) /* printable ASCII only */
			return false;
	return queue_copy(r->error, sizeof(r->error), v, vn);
}

int queue_state_parse(const unsigned char *p, size_t len, size_t nrcpt, struct queue_state *s)
{
	struct queue_lines l = {p, len, 0, NULL, 0};
	memset(s, 0, sizeof(*s));
	if (len > QUEUE_STATE_MAX || nrcpt == 0 || nrcpt > QUEUE_RCPT_MAX)
		return 0;
	s->n = nrcpt;
	s->rcpt = mem_array(nrcpt, sizeof(*s->rcpt));
	const char *v;
	size_t vn;
	if (!queue_next(&l) || !queue_is(&l, QUEUE_STATE_MAGIC) || !queue_next(&l))
		goto bad;
	if (queue_is(&l, "held 1"))
		s->held = true;
	else if (!queue_is(&l, "held 0"))
		goto bad;
	for (size_t i = 0; i < nrcpt; i++) {
		if (!queue_next(&l) || !queue_key(&l, "rcpt", &v, &vn) ||
		    !queue_state_rcpt(v, vn, i, &s->rcpt[i]))
			goto bad;
	}
	if (!queue_next(&l) || !queue_is(&l, "end") || l.pos != len)
		goto bad;
	return 1;
bad:
	queue_state_clear(s);
	return 0;
}
