/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* IMAP ENVELOPE (RFC 3501 section 7.4.2) from the raw message fields of a
 * MIME tree, with a lenient RFC 5322 section 3.4 address-list parser. Malformed addresses are
 * filled in the way Dovecot's message_address_parse() with FILL_MISSING does, so that clients
 * always get four fields: a missing local part becomes "MISSING_MAILBOX", a
 * missing domain "MISSING_DOMAIN", an unclosed angle address has the domain
 * "SYNTAX_ERROR" and an unparsable route "INVALID_ROUTE". Trust: any. */
#include "imapenv.h"

#include <string.h>

#include "imapbody.h"

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

/* Unfolded text for people (Dovecot's "for humans" form): CR/LF removed, runs
 * of white space collapsed to one space, ends trimmed. */
static void string_human(const unsigned char *s, size_t len, struct buf *out)
{
	struct buf t = BUF_INIT;
	bool space = false;
	buf_reserve(&t, len);
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '\r' || s[i] == '\n')
			continue;
		if (s[i] == ' ' || s[i] == '\t') {
			space = true;
			continue;
		}
		if (space && t.len > 0)
			buf_append_byte(&t, ' ');
		space = false;
		buf_append_byte(&t, s[i]);
	}
	imapbody_string((const char *)t.data, t.len, out);
	buf_free(&t);
}

static void write_addr(struct buf *out, const struct buf *name, bool has_name, const char *route,
                       const char *mailbox, const char *domain)
{
	buf_append_byte(out, '(');
	if (has_name)
		string_human(name->data, name->len, out);
	else
		buf_append_str(out, "NIL");
	buf_append_byte(out, ' ');
	imapbody_nstring(route, out);
	buf_append_byte(out, ' ');
	imapbody_nstring(mailbox, out);
	buf_append_byte(out, ' ');
	imapbody_nstring(domain, out);
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
			imapbody_string((const char *)phrase.data, phrase.len, &list);
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

static void write_nolf(const struct mime_msg_fields *f, int id, struct buf *out)
{
	if (f->val[id] == NULL) {
		buf_append_str(out, "NIL");
		return;
	}
	struct buf t = BUF_INIT;
	mime_header_unfold(f->val[id], f->len[id], &t);
	imapbody_string((const char *)t.data, t.len, out);
	buf_free(&t);
}

void imapenv_envelope(const struct mime_msg_fields *f, struct buf *out)
{
	struct buf from = BUF_INIT, tmp = BUF_INIT;
	static const int addr_ids[] = {MIME_MSG_FROM, MIME_MSG_SENDER, MIME_MSG_REPLY_TO,
	                               MIME_MSG_TO,   MIME_MSG_CC,     MIME_MSG_BCC};

	buf_append_byte(out, '(');
	write_nolf(f, MIME_MSG_DATE, out);
	buf_append_byte(out, ' ');
	if (f->val[MIME_MSG_SUBJECT] != NULL)
		string_human(f->val[MIME_MSG_SUBJECT], f->len[MIME_MSG_SUBJECT], out);
	else
		buf_append_str(out, "NIL");
	for (size_t i = 0; i < sizeof(addr_ids) / sizeof(addr_ids[0]); i++) {
		int id = addr_ids[i];
		buf_reset(&tmp);
		if (f->val[id] != NULL)
			write_address_list(f->val[id], f->len[id], &tmp);
		else
			buf_append_str(&tmp, "NIL");
		if (id == MIME_MSG_FROM)
			buf_append(&from, tmp.data, tmp.len);
		/* RFC 3501 section 7.4.2: Sender and Reply-To absent or empty
		 * take the value of From */
		if ((id == MIME_MSG_SENDER || id == MIME_MSG_REPLY_TO) && tmp.len == 3 &&
		    memcmp(tmp.data, "NIL", 3) == 0) {
			buf_reset(&tmp);
			buf_append(&tmp, from.data, from.len);
		}
		buf_append_byte(out, ' ');
		buf_append(out, tmp.data, tmp.len);
	}
	buf_append_byte(out, ' ');
	write_nolf(f, MIME_MSG_IN_REPLY_TO, out);
	buf_append_byte(out, ' ');
	write_nolf(f, MIME_MSG_MESSAGE_ID, out);
	buf_append_byte(out, ')');
	buf_free(&from);
	buf_free(&tmp);
}

void imapenv_envelope_header(const unsigned char *hdr, size_t len, struct buf *out)
{
	struct mime_msg_fields f;
	mime_header_msg_fields(hdr, len, &f);
	imapenv_envelope(&f, out);
}
