/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* Trust: pre-auth input. See smtpparse.h. */
#include "smtpparse.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "base/buf.h"

static const struct {
	const char *name;
	enum smtp_cmd cmd;
} smtp_verbs[] = {
	{"HELO", SMTP_CMD_HELO}, {"EHLO", SMTP_CMD_EHLO},   {"LHLO", SMTP_CMD_LHLO},
	{"MAIL", SMTP_CMD_MAIL}, {"RCPT", SMTP_CMD_RCPT},   {"DATA", SMTP_CMD_DATA},
	{"BDAT", SMTP_CMD_BDAT}, {"RSET", SMTP_CMD_RSET},   {"NOOP", SMTP_CMD_NOOP},
	{"QUIT", SMTP_CMD_QUIT}, {"VRFY", SMTP_CMD_VRFY},   {"EXPN", SMTP_CMD_EXPN},
	{"HELP", SMTP_CMD_HELP}, {"STARTTLS", SMTP_CMD_STARTTLS}, {"AUTH", SMTP_CMD_AUTH},
	/* Postfix's smtpd_forbidden_commands: a browser or proxy talking to
	 * port 25 is never a mail client. */
	{"GET", SMTP_CMD_HTTP},  {"POST", SMTP_CMD_HTTP},   {"CONNECT", SMTP_CMD_HTTP},
	{"PUT", SMTP_CMD_HTTP},  {"HEAD", SMTP_CMD_HTTP},   {"USER", SMTP_CMD_HTTP},
};

int smtpparse_command(const char *line, size_t len, struct smtp_command *out)
{
	size_t n = 0;
	while (n < len && line[n] != ' ')
		n++;
	out->cmd = SMTP_CMD_UNKNOWN;
	out->name = "";
	out->arg = n < len ? line + n + 1 : line + len;
	for (size_t i = 0; i < sizeof(smtp_verbs) / sizeof(smtp_verbs[0]); i++) {
		if (strlen(smtp_verbs[i].name) == n && strncasecmp(line, smtp_verbs[i].name, n) == 0) {
			out->cmd = smtp_verbs[i].cmd;
			out->name = smtp_verbs[i].name;
			return 1;
		}
	}
	return 0;
}

/* RFC 5321 section 4.1.2 atext plus UTF-8 (RFC 6531 section 3.3). */
static bool smtp_atext(unsigned char c)
{
	return isalnum(c) || strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL || c >= 0x80;
}

static bool smtp_domain_ok(const char *d, size_t n)
{
	if (n == 0 || n > SMTP_DOMAIN_MAX)
		return false;
	if (d[0] == '[') {
		/* address-literal: "[" 1*dcontent "]" (RFC 5321 section 4.1.3) */
		if (n < 3 || d[n - 1] != ']')
			return false;
		for (size_t i = 1; i + 1 < n; i++) {
			unsigned char c = (unsigned char)d[i];
			if (c < 33 || c > 126 || c == '[' || c == ']' || c == '\\')
				return false;
		}
		return true;
	}
	size_t label = 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)d[i];
		if (c == '.') {
			if (label == 0 || d[i - 1] == '-')
				return false;
			label = 0;
			continue;
		}
		if (!(isalnum(c) || c == '-' || c >= 0x80))
			return false;
		if (label == 0 && c == '-')
			return false;
		if (++label > 63)
			return false;
	}
	return label > 0 && d[n - 1] != '-';
}

bool smtpparse_helo_ok(const char *arg)
{
	size_t n = strlen(arg);
	while (n > 0 && arg[n - 1] == ' ')
		n--;
	if (n == 0)
		return false;
	/* RFC 5321 4.1.4: HELO/EHLO take a domain or address literal. A single
	 * label ("localhost") is common in practice and accepted. */
	if (memchr(arg, ' ', n) != NULL)
		return false;
	return smtp_domain_ok(arg, n);
}

static const char *const RP_SYNTAX = "501 5.1.7 Bad address syntax";
static const char *const RP_TOOLONG = "501 5.1.7 Address too long (RFC 5321 section 4.5.3.1)";

/* The '>' that closes the path opened at s, outside a quoted local part;
 * NULL when there is none. */
static const char *smtp_path_close(const char *s)
{
	bool q = false;
	for (const char *p = s + 1; *p; p++) {
		if (q && *p == '\\' && p[1]) {
			p++;
			continue;
		}
		if (*p == '"')
			q = !q;
		else if (!q && *p == '>')
			return p;
	}
	return NULL;
}

/* The length of the local part at the start of a (n bytes): a quoted-string
 * (quotes kept) or a dot-string (RFC 5321 section 4.1.2); 0 when it is
 * malformed. */
static size_t smtp_local_part(const char *a, size_t n)
{
	size_t i = 0;
	if (n > 0 && a[0] == '"') {
		for (i = 1; i < n && a[i] != '"'; i++) {
			unsigned char c = (unsigned char)a[i];
			if (c == '\\') {
				if (i + 1 >= n || (unsigned char)a[i + 1] < 32 || a[i + 1] == 127)
					return 0;
				i++;
			} else if (c < 32 || c == 127) {
				return 0;
			}
		}
		return i < n ? i + 1 : 0;
	}
	bool dot_ok = false;
	for (; i < n && a[i] != '@'; i++) {
		unsigned char c = (unsigned char)a[i];
		if (c == '.' && dot_ok)
			dot_ok = false;
		else if (c != '.' && smtp_atext(c))
			dot_ok = true;
		else
			return 0;
	}
	return dot_ok ? i : 0;
}

/* After the local part (path->local set, i its length): the domain, or
 * <Postmaster> alone. 1 ok, -1 with *reply_r. */
static int smtp_path_domain(const char *a, size_t n, size_t i, struct smtp_path *path,
			    const char **reply_r)
{
	if (i == n) {
		/* RFC 5321 section 4.5.1: <Postmaster> without a domain. */
		if (strcasecmp(path->local, "postmaster") == 0) {
			path->domainless = true;
			/* "postmaster" in any case: 10 bytes, it fits. */
			snprintf(path->addr, sizeof(path->addr), "%s", path->local);
			return 1;
		}
		*reply_r = "501 5.1.3 Address must have a domain";
		return -1;
	}
	if (a[i] != '@') {
		*reply_r = RP_SYNTAX;
		return -1;
	}
	const char *d = a + i + 1;
	size_t dn = n - i - 1;
	if (!smtp_domain_ok(d, dn)) {
		*reply_r = "501 5.1.2 Bad domain syntax";
		return -1;
	}
	memcpy(path->domain, d, dn);
	path->domain[dn] = '\0';
	/* local@domain is the n bytes between the brackets, under
	 * SMTP_PATH_MAX: never cut, and refused were it ever. */
	int w = snprintf(path->addr, sizeof(path->addr), "%s@%s", path->local, path->domain);
	if (w < 0 || (size_t)w >= sizeof(path->addr)) {
		*reply_r = RP_TOOLONG;
		return -1;
	}
	return 1;
}

int smtpparse_path(const char *s, bool allow_null, struct smtp_path *path, const char **end_r,
		   const char **reply_r)
{
	memset(path, 0, sizeof(*path));
	if (*s != '<') {
		*reply_r = "501 5.5.4 Syntax: address must be enclosed in <>";
		return -1;
	}
	const char *close = smtp_path_close(s);
	if (close == NULL) {
		*reply_r = "501 5.5.4 Syntax: missing '>'";
		return -1;
	}
	if ((size_t)(close - s + 1) > SMTP_PATH_MAX) {
		*reply_r = RP_TOOLONG;
		return -1;
	}
	*end_r = close + 1;
	const char *a = s + 1;
	size_t n = (size_t)(close - a);
	if (n == 0) {
		if (!allow_null) {
			*reply_r = "501 5.1.3 Null address not allowed here";
			return -1;
		}
		path->null = true;
		return 1;
	}
	/* A-d-l source route "@a,@b:" is obsolete: accept and ignore it (RFC
	 * 5321 section 4.1.1.3 and appendix C). */
	if (a[0] == '@') {
		const char *colon = memchr(a, ':', n);
		if (colon == NULL) {
			*reply_r = RP_SYNTAX;
			return -1;
		}
		n -= (size_t)(colon + 1 - a);
		a = colon + 1;
	}
	size_t local_len = smtp_local_part(a, n);
	if (local_len == 0) {
		*reply_r = RP_SYNTAX;
		return -1;
	}
	if (local_len > sizeof(path->local) - 1) {
		*reply_r = RP_TOOLONG;
		return -1;
	}
	memcpy(path->local, a, local_len);
	path->local[local_len] = '\0';
	for (size_t k = 0; k < n; k++)
		if ((unsigned char)a[k] >= 0x80)
			path->utf8 = true;
	return smtp_path_domain(a, n, local_len, path, reply_r);
}

int smtpparse_xtext_decode(const char *in, size_t len, char *out, size_t outsz)
{
	size_t o = 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)in[i];
		if (c == '+') {
			if (i + 2 >= len)
				return 0;
			unsigned v;
			char hx[3] = {in[i + 1], in[i + 2], 0};
			if (!isxdigit((unsigned char)hx[0]) || !isxdigit((unsigned char)hx[1]) ||
			    sscanf(hx, "%2x", &v) != 1)
				return 0;
			c = (unsigned char)v;
			i += 2;
		} else if (c < 33 || c > 126 || c == '=') {
			return 0;
		}
		if (o + 1 >= outsz)
			return 0;
		out[o++] = (char)c;
	}
	out[o] = '\0';
	return 1;
}

/* Iterate "KEY[=VALUE]" parameters separated by spaces. */
static const char *smtp_next_param(const char *p, char *key, size_t keysz, const char **val,
				   size_t *vlen)
{
	while (*p == ' ')
		p++;
	if (*p == '\0')
		return NULL;
	const char *end = strchr(p, ' ');
	if (end == NULL)
		end = p + strlen(p);
	const char *eq = memchr(p, '=', (size_t)(end - p));
	size_t kl = (size_t)((eq ? eq : end) - p);
	if (kl >= keysz)
		kl = keysz - 1;
	memcpy(key, p, kl);
	key[kl] = '\0';
	*val = eq ? eq + 1 : NULL;
	*vlen = eq ? (size_t)(end - eq - 1) : 0;
	return end;
}

static bool smtp_digits(const char *v, size_t n, uint64_t *out)
{
	uint64_t r = 0;
	if (n == 0 || n > 19)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (!isdigit((unsigned char)v[i]))
			return false;
		r = r * 10 + (uint64_t)(v[i] - '0');
	}
	*out = r;
	return true;
}

static bool smtp_prefix(const char **s, const char *prefix)
{
	size_t n = strlen(prefix);
	if (strncasecmp(*s, prefix, n) != 0)
		return false;
	*s += n;
	if (**s == ' ')
		(*s)++; /* tolerate "FROM: <a@b>" */
	return true;
}

int smtpparse_mail(const char *arg, struct smtp_path *path, struct smtp_mail_params *p,
		   const char **reply_r)
{
	memset(p, 0, sizeof(*p));
	const char *s = arg;
	if (!smtp_prefix(&s, "FROM:")) {
		*reply_r = "501 5.5.4 Syntax: MAIL FROM:<address>";
		return -1;
	}
	const char *end;
	if (smtpparse_path(s, true, path, &end, reply_r) < 0)
		return -1;
	if (*end != '\0' && *end != ' ') {
		*reply_r = "501 5.5.4 Syntax: MAIL FROM:<address> [parameters]";
		return -1;
	}
	char key[32];
	const char *v;
	size_t vl;
	while ((end = smtp_next_param(end, key, sizeof(key), &v, &vl)) != NULL) {
		if (strcasecmp(key, "SIZE") == 0) {
			if (v == NULL || !smtp_digits(v, vl, &p->size) || p->size_set) {
				*reply_r = "501 5.5.4 Bad SIZE parameter (RFC 1870)";
				return -1;
			}
			p->size_set = true;
		} else if (strcasecmp(key, "BODY") == 0) {
			if (v != NULL && vl == 4 && strncasecmp(v, "7BIT", 4) == 0)
				p->body = SMTP_BODY_7BIT;
			else if (v != NULL && vl == 8 && strncasecmp(v, "8BITMIME", 8) == 0)
				p->body = SMTP_BODY_8BITMIME;
			else {
				*reply_r = "501 5.5.4 Bad BODY parameter (7BIT or 8BITMIME)";
				return -1;
			}
		} else if (strcasecmp(key, "SMTPUTF8") == 0) {
			if (v != NULL) {
				*reply_r = "501 5.5.4 SMTPUTF8 takes no value";
				return -1;
			}
			p->smtputf8 = true;
		} else if (strcasecmp(key, "RET") == 0) {
			if (v != NULL && vl == 4 && strncasecmp(v, "FULL", 4) == 0)
				p->ret = SMTP_RET_FULL;
			else if (v != NULL && vl == 4 && strncasecmp(v, "HDRS", 4) == 0)
				p->ret = SMTP_RET_HDRS;
			else {
				*reply_r = "501 5.5.4 Bad RET parameter (RFC 3461)";
				return -1;
			}
		} else if (strcasecmp(key, "ENVID") == 0) {
			if (v == NULL || vl > SMTP_ENVID_MAX * 3 ||
			    !smtpparse_xtext_decode(v, vl, p->envid, sizeof(p->envid))) {
				*reply_r = "501 5.5.4 Bad ENVID parameter (RFC 3461)";
				return -1;
			}
		} else if (strcasecmp(key, "AUTH") == 0) {
			if (v == NULL || !smtpparse_xtext_decode(v, vl, p->auth, sizeof(p->auth))) {
				*reply_r = "501 5.5.4 Bad AUTH parameter (RFC 4954)";
				return -1;
			}
		} else {
			*reply_r = "555 5.5.4 Unsupported MAIL parameter";
			return -1;
		}
	}
	if (path->utf8 && !p->smtputf8) {
		*reply_r = "553 5.6.7 Non-ASCII address requires SMTPUTF8 (RFC 6531)";
		return -1;
	}
	return 1;
}

int smtpparse_rcpt(const char *arg, struct smtp_path *path, struct smtp_rcpt_params *p,
		   const char **reply_r)
{
	memset(p, 0, sizeof(*p));
	const char *s = arg;
	if (!smtp_prefix(&s, "TO:")) {
		*reply_r = "501 5.5.4 Syntax: RCPT TO:<address>";
		return -1;
	}
	const char *end;
	if (smtpparse_path(s, false, path, &end, reply_r) < 0)
		return -1;
	if (*end != '\0' && *end != ' ') {
		*reply_r = "501 5.5.4 Syntax: RCPT TO:<address> [parameters]";
		return -1;
	}
	char key[32];
	const char *v;
	size_t vl;
	while ((end = smtp_next_param(end, key, sizeof(key), &v, &vl)) != NULL) {
		if (strcasecmp(key, "NOTIFY") == 0) {
			if (v == NULL || vl == 0) {
				*reply_r = "501 5.5.4 Bad NOTIFY parameter (RFC 3461)";
				return -1;
			}
			const char *q = v, *qe = v + vl;
			while (q < qe) {
				const char *c = memchr(q, ',', (size_t)(qe - q));
				size_t l = (size_t)((c ? c : qe) - q);
				if (l == 5 && strncasecmp(q, "NEVER", 5) == 0)
					p->notify |= SMTP_NOTIFY_NEVER;
				else if (l == 7 && strncasecmp(q, "SUCCESS", 7) == 0)
					p->notify |= SMTP_NOTIFY_SUCCESS;
				else if (l == 7 && strncasecmp(q, "FAILURE", 7) == 0)
					p->notify |= SMTP_NOTIFY_FAILURE;
				else if (l == 5 && strncasecmp(q, "DELAY", 5) == 0)
					p->notify |= SMTP_NOTIFY_DELAY;
				else {
					*reply_r = "501 5.5.4 Bad NOTIFY parameter (RFC 3461)";
					return -1;
				}
				q += l + (c ? 1 : 0);
			}
			/* RFC 3461 section 4.1: NEVER stands alone. */
			if ((p->notify & SMTP_NOTIFY_NEVER) && p->notify != SMTP_NOTIFY_NEVER) {
				*reply_r = "501 5.5.4 NOTIFY=NEVER cannot be combined";
				return -1;
			}
		} else if (strcasecmp(key, "ORCPT") == 0) {
			if (v == NULL || vl > SMTP_ORCPT_MAX * 3 || memchr(v, ';', vl) == NULL ||
			    !smtpparse_xtext_decode(v, vl, p->orcpt, sizeof(p->orcpt))) {
				*reply_r = "501 5.5.4 Bad ORCPT parameter (RFC 3461)";
				return -1;
			}
		} else {
			*reply_r = "555 5.5.4 Unsupported RCPT parameter";
			return -1;
		}
	}
	return 1;
}

int smtpparse_bdat(const char *arg, uint64_t *size_r, bool *last_r, const char **reply_r)
{
	const char *sp = strchr(arg, ' ');
	size_t n = sp ? (size_t)(sp - arg) : strlen(arg);
	*last_r = false;
	if (!smtp_digits(arg, n, size_r)) {
		*reply_r = "501 5.5.4 Syntax: BDAT size [LAST]";
		return -1;
	}
	if (sp != NULL) {
		if (strcasecmp(sp + 1, "LAST") != 0) {
			*reply_r = "501 5.5.4 Syntax: BDAT size [LAST]";
			return -1;
		}
		*last_r = true;
	}
	return 1;
}

void smtp_data_init(struct smtp_data *d, uint64_t max)
{
	memset(d, 0, sizeof(*d));
	d->st = SMTP_DATA_LINESTART;
	d->max = max;
}

static void smtp_data_out(struct smtp_data *d, struct buf *out, const char *p, size_t n)
{
	if (d->total + n <= d->max)
		buf_append(out, p, n);
	d->total += n;
}

size_t smtp_data_feed(struct smtp_data *d, const unsigned char *in, size_t len, struct buf *out)
{
	size_t i = 0;
	while (i < len && !d->done) {
		unsigned char c = in[i];
		switch (d->st) {
		case SMTP_DATA_LINESTART:
			if (c == '.') {
				d->st = SMTP_DATA_DOT;
				i++;
				continue;
			}
			d->st = SMTP_DATA_TEXT;
			continue; /* reprocess as text */
		case SMTP_DATA_DOT:
			if (c == '\r') {
				d->st = SMTP_DATA_DOTCR;
				i++;
				continue;
			}
			/* RFC 5321 4.5.2: drop the first of a leading dot; a "." line
			 * ended by a bare LF is text (and makes the message invalid). */
			d->st = SMTP_DATA_TEXT;
			continue;
		case SMTP_DATA_DOTCR:
			if (c == '\n') {
				d->done = true;
				i++;
				continue;
			}
			/* ".\r" then something else: a bare CR. */
			d->bare_cr = true;
			smtp_data_out(d, out, "\r", 1);
			d->st = SMTP_DATA_TEXT;
			continue;
		case SMTP_DATA_TEXT: {
			/* Copy a run of ordinary bytes at once. */
			size_t j = i;
			while (j < len && in[j] != '\r' && in[j] != '\n')
				j++;
			if (j > i) {
				smtp_data_out(d, out, (const char *)in + i, j - i);
				i = j;
				continue;
			}
			if (c == '\r') {
				d->st = SMTP_DATA_CR;
			} else {
				/* A bare LF never starts a line: "\n.\r\n" must not
				 * end the data (SMTP smuggling). */
				d->bare_lf = true;
				smtp_data_out(d, out, "\n", 1);
			}
			i++;
			continue;
		}
		case SMTP_DATA_CR:
			if (c == '\n') {
				smtp_data_out(d, out, "\r\n", 2);
				d->st = SMTP_DATA_LINESTART;
				i++;
				continue;
			}
			d->bare_cr = true;
			smtp_data_out(d, out, "\r", 1);
			d->st = SMTP_DATA_TEXT;
			continue;
		}
	}
	return i;
}

bool smtp_data_clean(const unsigned char *msg, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if (msg[i] == '\r') {
			if (i + 1 >= len || msg[i + 1] != '\n')
				return false;
			i++;
		} else if (msg[i] == '\n') {
			return false;
		}
	}
	return true;
}
