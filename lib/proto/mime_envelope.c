/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* IMAP ENVELOPE (RFC 3501 section 7.4.2) with a lenient RFC 5322 section
 * 3.4 address-list parser. Malformed addresses are filled in the way
 * Dovecot's message_address_parse() with FILL_MISSING does, so that clients
 * always get four fields: a missing local part becomes "MISSING_MAILBOX", a
 * missing domain "MISSING_DOMAIN", an unclosed angle address has the domain
 * "SYNTAX_ERROR" and an unparsable route "INVALID_ROUTE". Trust: any. */
#include <string.h>

#include "mime.h"
#include "mime_internal.h"

struct ap {
	const unsigned char *p, *end;
	struct buf comment; /* text of the last comment skipped */
};

static bool is_wsp(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* RFC 5322 section 3.2.3 atext, plus 8-bit bytes (RFC 6532) */
static bool is_atext(unsigned char c)
{
	if (c >= 0x80)
		return true;
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
		return true;
	return c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL;
}

/* Skip white space and comments (RFC 5322 section 3.2.2 CFWS), keeping the
 * text of the last comment. Nesting is tracked with a counter, so a deep
 * "(((((" costs no stack. */
static void skip_cfws(struct ap *a)
{
	while (a->p < a->end) {
		if (is_wsp(*a->p)) {
			a->p++;
			continue;
		}
		if (*a->p != '(')
			return;
		buf_reset(&a->comment);
		size_t depth = 0;
		do {
			unsigned char c = *a->p++;
			if (c == '\\' && a->p < a->end) {
				buf_append_byte(&a->comment, *a->p++);
				continue;
			}
			if (c == '(') {
				if (depth++ > 0)
					buf_append_byte(&a->comment, c);
			} else if (c == ')') {
				if (--depth > 0)
					buf_append_byte(&a->comment, c);
			} else if (c != '\r' && c != '\n')
				buf_append_byte(&a->comment, c);
		} while (depth > 0 && a->p < a->end);
	}
}

/* quoted-string (RFC 5322 section 3.2.4) at '"': content appended unquoted */
static void parse_quoted(struct ap *a, struct buf *out)
{
	a->p++;
	while (a->p < a->end && *a->p != '"') {
		unsigned char c = *a->p++;
		if (c == '\\' && a->p < a->end)
			c = *a->p++;
		else if (c == '\r' || c == '\n')
			continue;
		buf_append_byte(out, c);
	}
	if (a->p < a->end)
		a->p++;
}

/* phrase (RFC 5322 section 3.2.5, obs-phrase allows "."): words joined by
 * one space. Returns the number of words. */
static unsigned parse_phrase(struct ap *a, struct buf *out)
{
	unsigned words = 0;
	for (;;) {
		skip_cfws(a);
		if (a->p >= a->end)
			break;
		if (*a->p == '"') {
			if (words++ > 0)
				buf_append_byte(out, ' ');
			parse_quoted(a, out);
		} else if (is_atext(*a->p) || *a->p == '.') {
			if (words++ > 0)
				buf_append_byte(out, ' ');
			while (a->p < a->end && (is_atext(*a->p) || *a->p == '.'))
				buf_append_byte(out, *a->p++);
		} else
			break;
	}
	return words;
}

/* local-part (section 3.4.1, with obs-local-part): returns whether it was a
 * single quoted-string; *any tells whether anything was read. */
static bool parse_local(struct ap *a, struct buf *out, bool *any)
{
	unsigned tokens = 0;
	bool quoted = false;
	*any = false;
	for (;;) {
		skip_cfws(a);
		if (a->p >= a->end)
			break;
		if (*a->p == '"') {
			parse_quoted(a, out);
			quoted = tokens == 0;
		} else if (is_atext(*a->p) || *a->p == '.') {
			while (a->p < a->end && (is_atext(*a->p) || *a->p == '.'))
				buf_append_byte(out, *a->p++);
			quoted = false;
		} else
			break;
		tokens++;
		*any = true;
		/* words of an obs-local-part are joined by "." only */
		const unsigned char *save = a->p;
		skip_cfws(a);
		if (a->p < a->end && (*a->p == '"' || is_atext(*a->p)) && out->len > 0 &&
		    out->data[out->len - 1] != '.') {
			a->p = save;
			break;
		}
	}
	return quoted && tokens == 1;
}

/* domain (section 3.4.1): dot-atom or domain-literal, after the "@" */
static void parse_domain(struct ap *a, struct buf *out)
{
	skip_cfws(a);
	if (a->p < a->end && *a->p == '[') {
		while (a->p < a->end && *a->p != ']') {
			if (*a->p != '\r' && *a->p != '\n')
				buf_append_byte(out, *a->p);
			a->p++;
		}
		if (a->p < a->end)
			buf_append_byte(out, *a->p++);
		return;
	}
	for (;;) {
		while (a->p < a->end && (is_atext(*a->p) || *a->p == '.'))
			buf_append_byte(out, *a->p++);
		const unsigned char *save = a->p;
		skip_cfws(a);
		if (a->p < a->end && *a->p == '.' && out->len > 0)
			continue;
		a->p = save;
		break;
	}
}

static void write_addr(struct buf *out, const struct buf *name, bool has_name, const char *route,
                       const char *mailbox, const char *domain)
{
	buf_append_byte(out, '(');
	if (has_name)
		mime_imap_string_human(name->data, name->len, out);
	else
		buf_append_str(out, "NIL");
	buf_append_byte(out, ' ');
	mime_imap_nstring(route, out);
	buf_append_byte(out, ' ');
	mime_imap_nstring(mailbox, out);
	buf_append_byte(out, ' ');
	mime_imap_nstring(domain, out);
	buf_append_byte(out, ')');
}

/* mailbox (section 3.4): name-addr / addr-spec. Writes one address. */
static void parse_mailbox(struct ap *a, struct buf *out)
{
	struct buf name = BUF_INIT, route = BUF_INIT, local = BUF_INIT, dom = BUF_INIT;
	bool has_name = false, has_local = false, has_dom = false, has_route = false;
	const char *route_s = NULL, *dom_s = NULL;
	const unsigned char *start = a->p;

	unsigned words = parse_phrase(a, &name);
	skip_cfws(a);
	if (a->p < a->end && *a->p == '<') {
		/* name-addr = [display-name] angle-addr */
		has_name = words > 0 && name.len > 0;
		a->p++;
		skip_cfws(a);
		if (a->p < a->end && *a->p == '@') {
			/* obs-route = obs-domain-list ":" */
			has_route = true;
			while (a->p < a->end && *a->p == '@') {
				if (route.len > 0)
					buf_append_byte(&route, ',');
				buf_append_byte(&route, '@');
				a->p++;
				parse_domain(a, &route);
				skip_cfws(a);
				while (a->p < a->end && *a->p == ',') {
					a->p++;
					skip_cfws(a);
				}
			}
			if (a->p < a->end && *a->p == ':') {
				a->p++;
				route_s = (const char *)buf_cstr(&route);
			} else
				route_s = "INVALID_ROUTE";
			skip_cfws(a);
		}
		bool bad = false;
		if (a->p < a->end && *a->p == '>') {
			/* "<>" has neither part; filled in below */
		} else {
			parse_local(a, &local, &has_local);
			skip_cfws(a);
			if (a->p < a->end && *a->p == '@') {
				a->p++;
				parse_domain(a, &dom);
				has_dom = true;
				skip_cfws(a);
			}
		}
		if (a->p < a->end && *a->p == '>')
			a->p++;
		else {
			bad = true;
			/* skip what is left of the broken address up to the next
			 * address, but never past a group's ";" */
			while (a->p < a->end && *a->p != ',' && *a->p != ';' && *a->p != '>')
				a->p++;
			if (a->p < a->end && *a->p == '>')
				a->p++;
		}
		if (bad)
			dom_s = "SYNTAX_ERROR";
	} else {
		/* addr-spec = local-part "@" domain; a comment names it */
		a->p = start;
		buf_reset(&a->comment);
		buf_reset(&name);
		bool quoted = parse_local(a, &local, &has_local);
		skip_cfws(a);
		if (a->p < a->end && *a->p == '@') {
			a->p++;
			parse_domain(a, &dom);
			has_dom = true;
			skip_cfws(a);
		}
		if (a->comment.len > 0) {
			buf_append(&name, a->comment.data, a->comment.len);
			has_name = true;
		} else if (!has_dom) {
			/* "user" alone is a mailbox without domain; "Some Name"
			 * (more words follow) is a display name without address */
			struct buf more = BUF_INIT;
			if (parse_phrase(a, &more) > 0 || (quoted && has_local)) {
				buf_append(&name, local.data, local.len);
				if (more.len > 0) {
					buf_append_byte(&name, ' ');
					buf_append(&name, more.data, more.len);
				}
				has_name = true;
				has_local = false;
				buf_reset(&local);
			}
			buf_free(&more);
		}
	}
	if (a->p == start)
		a->p++; /* always make progress */
	const char *mbox = has_local && local.len > 0 ? buf_cstr(&local) : "MISSING_MAILBOX";
	if (dom_s == NULL)
		dom_s = has_dom && dom.len > 0 ? buf_cstr(&dom) : "MISSING_DOMAIN";
	(void)has_route;
	write_addr(out, &name, has_name && name.len > 0, route_s, mbox, dom_s);
	buf_free(&name);
	buf_free(&route);
	buf_free(&local);
	buf_free(&dom);
}

/* Skip to the next "," (or ";" in a group) after something unparsable. */
static void skip_garbage(struct ap *a, bool in_group)
{
	while (a->p < a->end && *a->p != ',' && !(in_group && *a->p == ';')) {
		if (*a->p == '"') {
			struct buf junk = BUF_INIT;
			parse_quoted(a, &junk);
			buf_free(&junk);
		} else if (*a->p == '(')
			skip_cfws(a);
		else
			a->p++;
	}
}

/* address-list (section 3.4): appends "((...)(...))" or NIL when empty. */
static void write_address_list(const unsigned char *v, size_t len, struct buf *out)
{
	struct ap a = {v, v + len, BUF_INIT};
	struct buf list = BUF_INIT;
	size_t count = 0;

	skip_cfws(&a);
	while (a.p < a.end) {
		if (*a.p == ',' || *a.p == ';') {
			a.p++;
			skip_cfws(&a);
			continue;
		}
		const unsigned char *start = a.p;
		struct buf phrase = BUF_INIT;
		unsigned words = parse_phrase(&a, &phrase);
		skip_cfws(&a);
		if (words > 0 && a.p < a.end && *a.p == ':') {
			/* group = display-name ":" [group-list] ";": (NIL NIL "name"
			 * NIL) ... (NIL NIL NIL NIL), RFC 3501 section 7.4.2 */
			a.p++;
			buf_append_str(&list, "(NIL NIL ");
			mime_imap_string((const char *)phrase.data, phrase.len, &list);
			buf_append_str(&list, " NIL)");
			count++;
			skip_cfws(&a);
			while (a.p < a.end && *a.p != ';') {
				if (*a.p == ',') {
					a.p++;
					skip_cfws(&a);
					continue;
				}
				parse_mailbox(&a, &list);
				count++;
				skip_cfws(&a);
				if (a.p < a.end && *a.p != ',' && *a.p != ';')
					skip_garbage(&a, true);
			}
			if (a.p < a.end)
				a.p++;
			buf_append_str(&list, "(NIL NIL NIL NIL)");
		} else {
			a.p = start;
			parse_mailbox(&a, &list);
			count++;
		}
		buf_free(&phrase);
		skip_cfws(&a);
		if (a.p < a.end && *a.p != ',')
			skip_garbage(&a, false);
	}
	if (count == 0)
		buf_append_str(out, "NIL");
	else {
		buf_append_byte(out, '(');
		buf_append(out, list.data, list.len);
		buf_append_byte(out, ')');
	}
	buf_free(&list);
	buf_free(&a.comment);
}

static void write_nolf(const struct mime_hdr_values *v, int id, struct buf *out)
{
	if (!v->seen[id]) {
		buf_append_str(out, "NIL");
		return;
	}
	struct buf t = BUF_INIT;
	mime_header_unfold(v->val[id].data, v->val[id].len, &t);
	mime_imap_string((const char *)t.data, t.len, out);
	buf_free(&t);
}

void mime_envelope_from_values(const struct mime_hdr_values *v, struct buf *out)
{
	struct buf from = BUF_INIT, tmp = BUF_INIT;
	static const int addr_ids[] = {MIME_H_FROM, MIME_H_SENDER, MIME_H_REPLY_TO,
	                               MIME_H_TO,   MIME_H_CC,     MIME_H_BCC};

	buf_append_byte(out, '(');
	write_nolf(v, MIME_H_DATE, out);
	buf_append_byte(out, ' ');
	if (v->seen[MIME_H_SUBJECT])
		mime_imap_string_human(v->val[MIME_H_SUBJECT].data, v->val[MIME_H_SUBJECT].len,
		                       out);
	else
		buf_append_str(out, "NIL");
	for (size_t i = 0; i < sizeof(addr_ids) / sizeof(addr_ids[0]); i++) {
		int id = addr_ids[i];
		buf_reset(&tmp);
		if (v->seen[id])
			write_address_list(v->val[id].data, v->val[id].len, &tmp);
		else
			buf_append_str(&tmp, "NIL");
		if (id == MIME_H_FROM)
			buf_append(&from, tmp.data, tmp.len);
		/* RFC 3501 section 7.4.2: Sender and Reply-To absent or empty
		 * take the value of From */
		if ((id == MIME_H_SENDER || id == MIME_H_REPLY_TO) && tmp.len == 3 &&
		    memcmp(tmp.data, "NIL", 3) == 0) {
			buf_reset(&tmp);
			buf_append(&tmp, from.data, from.len);
		}
		buf_append_byte(out, ' ');
		buf_append(out, tmp.data, tmp.len);
	}
	buf_append_byte(out, ' ');
	write_nolf(v, MIME_H_IN_REPLY_TO, out);
	buf_append_byte(out, ' ');
	write_nolf(v, MIME_H_MESSAGE_ID, out);
	buf_append_byte(out, ')');
	buf_free(&from);
	buf_free(&tmp);
}

void mime_envelope(const unsigned char *hdr, size_t len, struct buf *out)
{
	struct mime_hdr_values v = {0};
	struct mime_header_iter it;
	struct mime_header_field f;
	mime_header_iter_init(&it, hdr, len);
	while (mime_header_next(&it, &f) == 1)
		if (f.has_colon)
			mime_hdr_values_add(&v, f.name, f.name_len, f.value, f.value_len);
	mime_envelope_from_values(&v, out);
	mime_hdr_values_free(&v);
}

struct mime_env_src *mime_env_src_new(struct mime_arena *a, const struct mime_hdr_values *v)
{
	struct mime_env_src *e = mime_arena_alloc(a, sizeof(*e));
	for (int i = 0; i < MIME_ENV_COUNT; i++) {
		if (!v->seen[MIME_ENV_FIRST + i])
			continue;
		const struct buf *b = &v->val[MIME_ENV_FIRST + i];
		e->val[i] = mime_arena_alloc(a, b->len + 1);
		if (b->len > 0)
			memcpy(e->val[i], b->data, b->len);
		e->len[i] = b->len;
	}
	return e;
}

void mime_env_src_build(struct mime_arena *a, struct mime_part *part)
{
	struct mime_hdr_values v = {0};
	struct buf env = BUF_INIT;
	for (int i = 0; i < MIME_ENV_COUNT; i++) {
		if (part->env_src->val[i] == NULL)
			continue;
		v.seen[MIME_ENV_FIRST + i] = true;
		buf_append(&v.val[MIME_ENV_FIRST + i], part->env_src->val[i],
		           part->env_src->len[i]);
	}
	mime_envelope_from_values(&v, &env);
	part->envelope = mime_arena_strndup(a, env.data, env.len);
	buf_free(&env);
	mime_hdr_values_free(&v);
}
