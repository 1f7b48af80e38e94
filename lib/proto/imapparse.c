/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* Incremental IMAP command parser (RFC 3501 section 9). Trust: pre-auth
 * input; the parser runs in the front process before login. */
#include "imapparse.h"

#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/mem.h"
#include "mutf7.h"

enum imapparse_state {
	IMAPPARSE_ST_IDLE,    /* next line starts a command */
	IMAPPARSE_ST_LINE,    /* a literal ended; the command goes on in a line */
	IMAPPARSE_ST_LITERAL, /* literal bytes are due */
	IMAPPARSE_ST_DONE,    /* a command is complete */
	IMAPPARSE_ST_ERROR,   /* the command failed */
};

struct imapparse {
	struct imapparse_limits lim;
	unsigned flags;
	enum imapparse_state st;

	char *tag;  /* valid tag, else NULL */
	char *name; /* upper-cased command name */
	bool uid;
	bool secret; /* the command carries credentials: wipe its bytes */
	struct imapparse_arg root;     /* top-level arguments (a LIST) */
	struct imapparse_arg **stack;  /* open lists; stack[0] == &root */
	unsigned depth;
	size_t nargs;
	uint64_t total;  /* bytes of lines (with CRLF) and literals so far */
	bool need_sep;   /* a token just ended: SP, ')' or end of line next */
	bool line_nonsync; /* the current line ends with {n+} */

	struct buf lit;
	uint64_t lit_size;
	bool lit_sync, lit8;
	unsigned lit_flags;

	const char *err;
	enum imapparse_err code;
	bool fatal;
	const char *deferred; /* error to report when the command ends */

	struct imapparse_cmd cmd;
};

void imapparse_limits_default(struct imapparse_limits *lim)
{
	lim->max_line = 64 * 1024;
	lim->max_literal = 64 * 1024 * 1024;
	lim->max_nonsync_literal = lim->max_literal;
	lim->max_command = 128 * 1024 * 1024;
	lim->max_depth = 16;
	lim->max_args = 100000;
}

/* ---- character classes (RFC 3501 section 9) ---- */

/* ATOM-CHAR: any CHAR except atom-specials = "(" / ")" / "{" / SP / CTL /
 * list-wildcards / quoted-specials / resp-specials. */
static bool imapparse_atom_char(unsigned char c)
{
	if (c <= 0x20 || c >= 0x7f)
		return false;
	switch (c) {
	case '(': case ')': case '{': case '%': case '*': case '"': case '\\': case ']':
		return false;
	default:
		return true;
	}
}

/* ASTRING-CHAR = ATOM-CHAR / resp-specials. */
static bool imapparse_astring_char(unsigned char c)
{
	return imapparse_atom_char(c) || c == ']';
}

/* tag = 1*<any ASTRING-CHAR except "+"> */
static bool imapparse_tag_char(unsigned char c)
{
	return imapparse_astring_char(c) && c != '+';
}

static bool imapparse_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

static unsigned char imapparse_upper(unsigned char c)
{
	return (c >= 'a' && c <= 'z') ? (unsigned char)(c - 'a' + 'A') : c;
}

static bool imapparse_ieq(const char *s, size_t n, const char *word)
{
	size_t wl = strlen(word);
	if (n != wl)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (imapparse_upper((unsigned char)s[i]) != (unsigned char)word[i])
			return false;
	}
	return true;
}

int imapparse_number(const char *s, size_t n, uint64_t max, uint64_t *v_r)
{
	uint64_t v = 0;

	if (n == 0)
		return 0;
	for (size_t i = 0; i < n; i++) {
		if (!imapparse_digit((unsigned char)s[i]))
			return 0;
		unsigned d = (unsigned)(s[i] - '0');
		if (v > (max - d) / 10)
			return 0;
		v = v * 10 + d;
	}
	*v_r = v;
	return 1;
}

/* ---- parser object ---- */

struct imapparse *imapparse_new(const struct imapparse_limits *lim, unsigned flags)
{
	struct imapparse *p = mem_zalloc(sizeof(*p));
	p->lim = *lim;
	if (p->lim.max_depth == 0)
		p->lim.max_depth = 1;
	p->flags = flags;
	p->stack = mem_array((size_t)p->lim.max_depth + 1, sizeof(*p->stack));
	p->root.type = IMAPPARSE_LIST;
	p->stack[0] = &p->root;
	p->st = IMAPPARSE_ST_IDLE;
	return p;
}

/* wipe: zero every string before it is freed (a password of LOGIN, the
 * SASL response of AUTHENTICATE). */
static void imapparse_arg_clear(struct imapparse_arg *a, bool wipe)
{
	/* Recursion depth is bounded by lim.max_depth. */
	for (size_t i = 0; i < a->count; i++)
		imapparse_arg_clear(&a->list[i], wipe);
	free(a->list);
	if (wipe)
		mem_wipe_free(a->str, a->str != NULL ? a->len + 1 : 0);
	else
		free(a->str);
	a->list = NULL;
	a->str = NULL;
	a->count = a->cap = 0;
}

void imapparse_reset(struct imapparse *p)
{
	imapparse_arg_clear(&p->root, p->secret);
	if (p->secret)
		buf_wipe(&p->lit);
	free(p->tag);
	free(p->name);
	p->tag = p->name = NULL;
	p->uid = false;
	p->secret = false;
	p->depth = 0;
	p->nargs = 0;
	p->total = 0;
	p->need_sep = false;
	p->line_nonsync = false;
	buf_free(&p->lit);
	p->lit_size = 0;
	p->lit_sync = p->lit8 = false;
	p->lit_flags = 0;
	p->err = NULL;
	p->code = IMAPPARSE_ERR_NONE;
	p->fatal = false;
	p->deferred = NULL;
	memset(&p->cmd, 0, sizeof(p->cmd));
	p->st = IMAPPARSE_ST_IDLE;
}

void imapparse_free(struct imapparse **pp)
{
	struct imapparse *p = *pp;
	if (p == NULL)
		return;
	imapparse_reset(p);
	free(p->stack);
	free(p);
	*pp = NULL;
}

void imapparse_set_flags(struct imapparse *p, unsigned flags)
{
	p->flags = flags;
}

static int imapparse_fail(struct imapparse *p, enum imapparse_err code, const char *why)
{
	p->st = IMAPPARSE_ST_ERROR;
	p->code = code;
	p->err = why;
	p->fatal = p->line_nonsync;
	return -1;
}

/* Append a child to the innermost open list. The returned pointer is valid
 * until that list grows again, which only happens after any child list has
 * been closed, so open lists on the stack never move. */
static struct imapparse_arg *imapparse_add(struct imapparse *p, enum imapparse_type type,
					   unsigned flags)
{
	struct imapparse_arg *l = p->stack[p->depth];
	if (l->count == l->cap) {
		size_t cap = l->cap ? mem_mul(l->cap, 2) : 4;
		l->list = mem_realloc(l->list, cap, sizeof(*l->list));
		l->cap = cap;
	}
	struct imapparse_arg *a = &l->list[l->count++];
	memset(a, 0, sizeof(*a));
	a->type = type;
	a->flags = flags;
	p->nargs++;
	return a;
}

/* True when the line ends with a non-synchronising literal announcement
 * "{digits+}": if the line is refused, those bytes arrive regardless. */
static bool imapparse_ends_nonsync(const char *line, size_t len)
{
	size_t i;
	if (len < 4 || line[len - 1] != '}' || line[len - 2] != '+')
		return false;
	i = len - 2;
	while (i > 0 && imapparse_digit((unsigned char)line[i - 1]))
		i--;
	return i > 0 && i < len - 2 && line[i - 1] == '{';
}

/* ---- tokens ---- */

/* Fetch attributes whose '[' opens a section that may contain spaces,
 * parentheses and quoted strings (RFC 3501 section 9, fetch-att; RFC 3516). */
static bool imapparse_section_prefix(const char *s, size_t n)
{
	return imapparse_ieq(s, n, "BODY") || imapparse_ieq(s, n, "BODY.PEEK") ||
	       imapparse_ieq(s, n, "BINARY") || imapparse_ieq(s, n, "BINARY.PEEK") ||
	       imapparse_ieq(s, n, "BINARY.SIZE");
}

/* Skip a quoted string inside a section starting at line[*pos] == '"'. */
static int imapparse_skip_quoted(const char *line, size_t len, size_t *pos)
{
	size_t i = *pos + 1;
	for (; i < len; i++) {
		unsigned char c = (unsigned char)line[i];
		if (c == '"') {
			*pos = i + 1;
			return 1;
		}
		if (c == '\\') {
			if (i + 1 >= len || (line[i + 1] != '"' && line[i + 1] != '\\'))
				return 0;
			i++;
			continue;
		}
		if (c == 0 || c == '\r' || c == '\n' || c >= 0x80)
			return 0;
	}
	return 0;
}

/* Scan "[...]" at line[*pos] == '['; ']' inside the parenthesised header
 * list is an ASTRING-CHAR, not the end of the section. */
static int imapparse_scan_section(struct imapparse *p, const char *line, size_t len, size_t *pos)
{
	size_t i = *pos + 1;
	bool in_list = false;

	while (i < len) {
		unsigned char c = (unsigned char)line[i];
		if (c == ']' && !in_list) {
			*pos = i + 1;
			return 1;
		}
		if (c == '"') {
			if (imapparse_skip_quoted(line, len, &i) != 1)
				return imapparse_fail(p, IMAPPARSE_ERR_SYNTAX,
						      "Invalid quoted string in section");
			continue;
		}
		if (c == '(') {
			if (in_list)
				return imapparse_fail(p, IMAPPARSE_ERR_SYNTAX,
						      "Nested list in section");
			in_list = true;
		} else if (c == ')') {
			if (!in_list)
				return imapparse_fail(p, IMAPPARSE_ERR_SYNTAX,
						      "Unexpected ')' in section");
			in_list = false;
		} else if (c == '{') {
			return imapparse_fail(p, IMAPPARSE_ERR_SYNTAX, "Literal inside section");
		} else if (c != ' ' && !imapparse_astring_char(c)) {
			return imapparse_fail(p, IMAPPARSE_ERR_SYNTAX,
					      "Invalid characters in section");
		}
		i++;
	}
	return imapparse_fail(p, IMAPPARSE_ERR_SYNTAX, "Missing ']'");
}

static int imapparse_atom(struct imapparse *p, const char *line, size_t len, size_t *pos)
{
	size_t start = *pos, i = *pos;
	unsigned flags = 0;

	/* flag-extension and system flags: "\" atom (RFC 3501 section 9). */
	if (line[i] == '\\') {
		flags |= IMAPPARSE_ARG_BACKSLASH;
		i++;
	}
	while (i < len) {
		unsigned char c = (unsigned char)line[i];
		if (c == ' ' || c == ')' || c == '(')
			break;
		if (c == '[' && !(flags & IMAPPARSE_ARG_SECTION) &&
		    imapparse_section_prefix(line + start, i - start)) {
			if (imapparse_scan_section(p, line, len, &i) != 1)
				return -1;
			flags |= IMAPPARSE_ARG_SECTION;
			continue;
		}
		if (c == '%' || c == '*')
			flags |= IMAPPARSE_ARG_WILDCARD;
		else if (c == ']')
			flags |= IMAPPARSE_ARG_RBRACKET;
		else if (!imapparse_atom_char(c))
			return imapparse_fail(p, IMAPPARSE_ERR_SYNTAX,
					      "Invalid characters in atom");
		i++;
	}
	if (i == start + ((flags & IMAPPARSE_ARG_BACKSLASH) ? 1 : 0))
		return imapparse_fail(p, IMAPPARSE_ERR_SYNTAX, "Empty atom");
	if (p->nargs >= p->lim.max_args)
		return imapparse_fail(p, IMAPPARSE_ERR_LIMIT, "Too many arguments");
	bool nil = flags == 0 && imapparse_ieq(line + start, i - start, "NIL");
	struct imapparse_arg *a = imapparse_add(p, nil ? IMAPPARSE_NIL : IMAPPARSE_ATOM, flags);
	a->str = mem_strndup(line + start, i - start);
	a->len = i - start;
	*pos = i;
	return 1;
}

/* quoted = DQUOTE *QUOTED-CHAR DQUOTE; QUOTED-CHAR = <any TEXT-CHAR except
 * quoted-specials> / "\" quoted-specials (RFC 3501 section 9). 8-bit only
 * as UTF-8 with UTF8=ACCEPT (RFC 6855 section 3). */
static int imapparse_quoted(struct imapparse *p, const char *line, size_t len, size_t *pos)
{
	unsigned flags = 0;
	size_t i = *pos + 1, n = 0;

	/* First the grammar and the length, then one copy of exactly that
	 * size: nothing is reallocated, so no stray copy of a password (LOGIN
	 * "user" "secret") is left in freed memory. */
	for (;; i++) {
		if (i >= len)
			return imapparse_fail(p, IMAPPARSE_ERR_SYNTAX, "Missing '\"'");
		unsigned char c = (unsigned char)line[i];
		if (c == '"')
			break;
		if (c == '\\') {
			if (i + 1 >= len || (line[i + 1] != '"' && line[i + 1] != '\\'))
				return imapparse_fail(p, IMAPPARSE_ERR_SYNTAX,
						      "Invalid escape in quoted string");
			i++;
		} else if (c == 0 || c == '\r' || c == '\n') {
			return imapparse_fail(p, IMAPPARSE_ERR_SYNTAX,
					      "Invalid characters in quoted string");
		} else if (c >= 0x80) {
			if (!(p->flags & IMAPPARSE_F_UTF8))
				return imapparse_fail(p, IMAPPARSE_ERR_SYNTAX,
						      "8-bit characters in quoted string");
			flags |= IMAPPARSE_ARG_8BIT;
		}
		n++;
	}
	size_t end = i;
	if (p->nargs >= p->lim.max_args)
		return imapparse_fail(p, IMAPPARSE_ERR_LIMIT, "Too many arguments");
	char *str = mem_alloc(mem_add(n, 1));
	size_t k = 0;
	for (i = *pos + 1; i < end; i++) {
		if (line[i] == '\\')
			i++;
		str[k++] = line[i];
	}
	str[k] = '\0';
	if ((flags & IMAPPARSE_ARG_8BIT) && !mutf7_utf8_valid((const unsigned char *)str, n)) {
		mem_wipe_free(str, n + 1);
		return imapparse_fail(p, IMAPPARSE_ERR_SYNTAX, "Invalid UTF-8 in quoted string");
	}
	struct imapparse_arg *a = imapparse_add(p, IMAPPARSE_QUOTED, flags);
	a->str = str;
	a->len = n;
	*pos = end + 1;
	return 1;
}

/* literal = "{" number ["+"] "}" CRLF *CHAR8 (RFC 3501 section 9, RFC 7888
 * section 8); literal8 = "~{" number ["+"] "}" CRLF *OCTET (RFC 3516). The
 * announcement must end the line. Returns 0 when the literal is due. */
static int imapparse_announce(struct imapparse *p, const char *line, size_t len, size_t pos)
{
	size_t i = pos;
	bool lit8 = false, nonsync = false, overflow = false;
	uint64_t size = 0;
	size_t digits;

	if (line[i] == '~') {
		lit8 = true;
		i++;
	}
	i++; /* '{' */
	digits = i;
	while (i < len && imapparse_digit((unsigned char)line[i])) {
		unsigned d = (unsigned)(line[i] - '0');
		if (size > (UINT64_MAX - d) / 10)
			overflow = true;
		else
			size = size * 10 + d;
		i++;
	}
	if (i == digits)
		return imapparse_fail(p, IMAPPARSE_ERR_SYNTAX, "Invalid literal size");
	if (i < len && line[i] == '+') {
		nonsync = true;
		i++;
	}
	if (i >= len || line[i] != '}')
		return imapparse_fail(p, IMAPPARSE_ERR_SYNTAX, "Invalid literal announcement");
	if (i + 1 != len)
		return imapparse_fail(p, IMAPPARSE_ERR_SYNTAX, "Literal must end the line");
	/* Without BINARY a literal8 is a syntax error. Recognised all the same,
	 * so that the bytes of a non-synchronising one are read as the literal
	 * they are (and the command refused at its end), never as commands; a
	 * synchronising one is refused before the client sends it. */
	if (lit8 && !(p->flags & IMAPPARSE_F_LITERAL8)) {
		if (!nonsync)
			return imapparse_fail(p, IMAPPARSE_ERR_SYNTAX, IMAPPARSE_NO_LITERAL8);
		if (p->deferred == NULL)
			p->deferred = IMAPPARSE_NO_LITERAL8;
	}
	if (nonsync && p->lim.max_nonsync_literal == 0)
		return imapparse_fail(p, IMAPPARSE_ERR_SYNTAX,
				      "Non-synchronizing literals not supported");
	/* RFC 7888 section 5: a LITERAL- server refuses larger {n+} literals
	 * with BAD [TOOBIG]; the bytes still come, hence fatal (set in fail). */
	if (overflow || (nonsync && size > p->lim.max_nonsync_literal))
		return imapparse_fail(p, IMAPPARSE_ERR_TOOBIG, "Literal too large");
	if (size > p->lim.max_literal)
		return imapparse_fail(p, IMAPPARSE_ERR_TOOBIG, "Literal too large");
	if (size > p->lim.max_command - p->total)
		return imapparse_fail(p, IMAPPARSE_ERR_TOOBIG, "Command too large");
	if (p->nargs >= p->lim.max_args)
		return imapparse_fail(p, IMAPPARSE_ERR_LIMIT, "Too many arguments");
	/* An error already found in this command is reported now rather than
	 * inviting the client to send a literal that would be discarded. */
	if (p->deferred != NULL && !nonsync)
		return imapparse_fail(p, IMAPPARSE_ERR_SYNTAX, p->deferred);
	p->total += size;
	p->lit_size = size;
	p->lit_sync = !nonsync;
	p->lit8 = lit8;
	p->lit_flags = (lit8 ? IMAPPARSE_ARG_LITERAL8 : 0) | (nonsync ? IMAPPARSE_ARG_NONSYNC : 0);
	/* A secret literal gets all its room at once: growing the buffer
	 * would leave copies of its first bytes behind in freed memory. */
	if (p->secret)
		buf_reserve(&p->lit, (size_t)size);
	buf_reset(&p->lit);
	p->st = IMAPPARSE_ST_LITERAL;
	return 0;
}

static int imapparse_finish(struct imapparse *p)
{
	if (p->depth > 0)
		return imapparse_fail(p, IMAPPARSE_ERR_SYNTAX, "Missing ')'");
	if (p->deferred != NULL)
		return imapparse_fail(p, IMAPPARSE_ERR_SYNTAX, p->deferred);
	p->cmd.tag = p->tag;
	p->cmd.name = p->name;
	p->cmd.uid = p->uid;
	p->cmd.args = p->root.list;
	p->cmd.count = p->root.count;
	p->st = IMAPPARSE_ST_DONE;
	return 1;
}

static int imapparse_args(struct imapparse *p, const char *line, size_t len, size_t pos)
{
	while (pos < len) {
		unsigned char c = (unsigned char)line[pos];
		if (c == ' ') {
			p->need_sep = false;
			pos++;
			continue;
		}
		if (c == ')') {
			if (p->depth == 0)
				return imapparse_fail(p, IMAPPARSE_ERR_SYNTAX, "Unexpected ')'");
			p->depth--;
			p->need_sep = true;
			pos++;
			continue;
		}
		if (p->need_sep)
			return imapparse_fail(p, IMAPPARSE_ERR_SYNTAX, "Missing space");
		int r;
		if (c == '(') {
			if (p->depth >= p->lim.max_depth)
				return imapparse_fail(p, IMAPPARSE_ERR_LIMIT, "Too deep nesting");
			if (p->nargs >= p->lim.max_args)
				return imapparse_fail(p, IMAPPARSE_ERR_LIMIT, "Too many arguments");
			struct imapparse_arg *l = imapparse_add(p, IMAPPARSE_LIST, 0);
			p->stack[++p->depth] = l;
			pos++;
			continue;
		} else if (c == '"') {
			r = imapparse_quoted(p, line, len, &pos);
		} else if (c == '{' || (c == '~' && pos + 1 < len && line[pos + 1] == '{')) {
			return imapparse_announce(p, line, len, pos);
		} else {
			r = imapparse_atom(p, line, len, &pos);
		}
		if (r != 1)
			return -1;
		p->need_sep = true;
	}
	return imapparse_finish(p);
}

/* tag SP command-name [SP "UID" ...]; returns the position after the name. */
static int imapparse_head(struct imapparse *p, const char *line, size_t len, size_t *pos_r)
{
	size_t i = 0, start;

	if (len == 0)
		return imapparse_fail(p, IMAPPARSE_ERR_TAG, "Empty command line");
	while (i < len && line[i] != ' ') {
		if (!imapparse_tag_char((unsigned char)line[i]))
			return imapparse_fail(p, IMAPPARSE_ERR_TAG, "Invalid tag");
		i++;
	}
	if (i == 0)
		return imapparse_fail(p, IMAPPARSE_ERR_TAG, "Missing tag");
	p->tag = mem_strndup(line, i);

	for (int word = 0; word < 2; word++) {
		while (i < len && line[i] == ' ')
			i++;
		start = i;
		while (i < len && line[i] != ' ') {
			if (!imapparse_atom_char((unsigned char)line[i]))
				return imapparse_fail(p, IMAPPARSE_ERR_SYNTAX,
						      "Invalid characters in command name");
			i++;
		}
		if (i == start)
			return imapparse_fail(p, IMAPPARSE_ERR_SYNTAX,
					      word ? "Missing command after UID"
						   : "Missing command");
		free(p->name);
		p->name = mem_strndup(line + start, i - start);
		for (char *c = p->name; *c; c++)
			*c = (char)imapparse_upper((unsigned char)*c);
		/* UID is a prefix of COPY, FETCH, MOVE, SEARCH, STORE, EXPUNGE
		 * (RFC 3501 section 6.4.8; RFC 4315; RFC 6851). */
		if (word == 0 && strcmp(p->name, "UID") == 0)
			p->uid = true;
		else
			break;
	}
	/* RFC 3501 sections 6.2.2 and 6.2.3: their arguments are a password
	 * or a SASL response that holds one. */
	p->secret = strcmp(p->name, "LOGIN") == 0 || strcmp(p->name, "AUTHENTICATE") == 0;
	*pos_r = i;
	return 1;
}

int imapparse_feed_line(struct imapparse *p, const char *line, size_t len)
{
	size_t pos = 0;

	if (p->st == IMAPPARSE_ST_LITERAL)
		return imapparse_fail(p, IMAPPARSE_ERR_USAGE, "Literal data expected");
	bool first = p->st != IMAPPARSE_ST_LINE;
	if (first) {
		imapparse_reset(p);
		p->stack[0] = &p->root;
	}
	p->line_nonsync = imapparse_ends_nonsync(line, len);
	if (len > p->lim.max_line)
		return imapparse_fail(p, IMAPPARSE_ERR_TOOBIG, "Line too long");
	/* total never exceeds max_command, so the subtraction cannot wrap. */
	if ((uint64_t)len + 2 > p->lim.max_command - p->total)
		return imapparse_fail(p, IMAPPARSE_ERR_TOOBIG, "Command too large");
	p->total += (uint64_t)len + 2;
	if (first) {
		if (imapparse_head(p, line, len, &pos) != 1)
			return -1;
		p->need_sep = false;
	}
	p->st = IMAPPARSE_ST_LINE;
	return imapparse_args(p, line, len, pos);
}

bool imapparse_literal(const struct imapparse *p, struct imapparse_literal *lit_r)
{
	if (p->st != IMAPPARSE_ST_LITERAL)
		return false;
	lit_r->size = p->lit_size;
	lit_r->remaining = p->lit_size - p->lit.len;
	lit_r->sync = p->lit_sync;
	lit_r->literal8 = p->lit8;
	return true;
}

int imapparse_feed_literal(struct imapparse *p, const unsigned char *data, size_t len,
			   size_t *used_r)
{
	if (used_r != NULL)
		*used_r = 0;
	if (p->st != IMAPPARSE_ST_LITERAL)
		return imapparse_fail(p, IMAPPARSE_ERR_USAGE, "No literal expected");
	uint64_t remaining = p->lit_size - p->lit.len;
	size_t take = (uint64_t)len < remaining ? len : (size_t)remaining;
	if (take > 0) {
		/* RFC 3501 section 4.3: NUL is not CHAR8. APPEND's caller gets
		 * the literal flagged and refuses the message with NO (it is
		 * well-formed, just not storable as sent); anywhere else it is
		 * a syntax error at the end of the command. */
		if (memchr(data, 0, take) != NULL) {
			if (p->lit8 || (p->name != NULL && strcmp(p->name, "APPEND") == 0))
				p->lit_flags |= IMAPPARSE_ARG_NUL;
			else if (p->deferred == NULL)
				p->deferred = "NUL in literal";
		}
		for (size_t i = 0; i < take && !(p->lit_flags & IMAPPARSE_ARG_8BIT); i++) {
			if (data[i] >= 0x80)
				p->lit_flags |= IMAPPARSE_ARG_8BIT;
		}
		buf_append(&p->lit, data, take);
	}
	if (used_r != NULL)
		*used_r = take;
	if (p->lit.len < p->lit_size)
		return 0;
	struct imapparse_arg *a = imapparse_add(p, IMAPPARSE_LITERAL, p->lit_flags);
	if (p->lit.data == NULL)
		buf_append(&p->lit, "", 0);
	a->str = (char *)buf_steal(&p->lit, &a->len);
	p->need_sep = true;
	p->st = IMAPPARSE_ST_LINE;
	return 1;
}

const struct imapparse_cmd *imapparse_command(const struct imapparse *p)
{
	return p->st == IMAPPARSE_ST_DONE ? &p->cmd : NULL;
}

const char *imapparse_error(const struct imapparse *p, enum imapparse_err *code_r,
			    bool *fatal_r)
{
	bool err = p->st == IMAPPARSE_ST_ERROR;
	if (code_r != NULL)
		*code_r = err ? p->code : IMAPPARSE_ERR_NONE;
	if (fatal_r != NULL)
		*fatal_r = err && p->fatal;
	return err ? p->err : NULL;
}

const char *imapparse_tag(const struct imapparse *p)
{
	return p->tag;
}

/* ---- argument helpers ---- */

bool imapparse_arg_is_atom(const struct imapparse_arg *a, const char *s)
{
	return (a->type == IMAPPARSE_ATOM || a->type == IMAPPARSE_NIL) &&
	       imapparse_ieq(a->str, a->len, s);
}

const char *imapparse_arg_astring(const struct imapparse_arg *a)
{
	switch (a->type) {
	case IMAPPARSE_ATOM:
		if (a->flags & (IMAPPARSE_ARG_WILDCARD | IMAPPARSE_ARG_SECTION |
				IMAPPARSE_ARG_BACKSLASH))
			return NULL;
		return a->str;
	case IMAPPARSE_NIL:
		return a->str;
	default:
		return imapparse_arg_string(a);
	}
}

const char *imapparse_arg_string(const struct imapparse_arg *a)
{
	if (a->type != IMAPPARSE_QUOTED && a->type != IMAPPARSE_LITERAL)
		return NULL;
	if (a->flags & IMAPPARSE_ARG_NUL)
		return NULL;
	return a->str;
}

bool imapparse_arg_nstring(const struct imapparse_arg *a, const char **s_r)
{
	if (a->type == IMAPPARSE_NIL) {
		*s_r = NULL;
		return true;
	}
	*s_r = imapparse_arg_string(a);
	return *s_r != NULL;
}

const char *imapparse_arg_list_mailbox(const struct imapparse_arg *a)
{
	if (a->type == IMAPPARSE_ATOM &&
	    (a->flags & (IMAPPARSE_ARG_SECTION | IMAPPARSE_ARG_BACKSLASH)) == 0)
		return a->str;
	return imapparse_arg_astring(a);
}

bool imapparse_arg_is_flag(const struct imapparse_arg *a)
{
	if (a->type == IMAPPARSE_NIL)
		return true; /* "NIL" is a valid keyword atom */
	if (a->type != IMAPPARSE_ATOM)
		return false;
	return (a->flags & (IMAPPARSE_ARG_WILDCARD | IMAPPARSE_ARG_RBRACKET |
			    IMAPPARSE_ARG_SECTION)) == 0;
}

int imapparse_arg_number(const struct imapparse_arg *a, uint32_t *v_r)
{
	uint64_t v;
	if (a->type != IMAPPARSE_ATOM || imapparse_number(a->str, a->len, UINT32_MAX, &v) != 1)
		return 0;
	*v_r = (uint32_t)v;
	return 1;
}

int imapparse_arg_nz_number(const struct imapparse_arg *a, uint32_t *v_r)
{
	/* nz-number = digit-nz *DIGIT: no leading zero. */
	if (a->type != IMAPPARSE_ATOM || a->len == 0 || a->str[0] == '0')
		return 0;
	return imapparse_arg_number(a, v_r);
}

int imapparse_arg_modseq(const struct imapparse_arg *a, bool allow_zero, uint64_t *v_r)
{
	uint64_t v;
	if (a->type != IMAPPARSE_ATOM || imapparse_number(a->str, a->len, INT64_MAX, &v) != 1)
		return 0;
	if (v == 0 && !allow_zero)
		return 0;
	*v_r = v;
	return 1;
}

/* ---- FETCH attributes ---- */

struct imapparse_simple_att {
	const char *name;
	enum imapparse_fetch_kind kind;
};

static const struct imapparse_simple_att imapparse_simple_atts[] = {
	{"ENVELOPE", IMAPPARSE_FETCH_ENVELOPE},
	{"FLAGS", IMAPPARSE_FETCH_FLAGS},
	{"INTERNALDATE", IMAPPARSE_FETCH_INTERNALDATE},
	{"RFC822", IMAPPARSE_FETCH_RFC822},
	{"RFC822.HEADER", IMAPPARSE_FETCH_RFC822_HEADER},
	{"RFC822.SIZE", IMAPPARSE_FETCH_RFC822_SIZE},
	{"RFC822.TEXT", IMAPPARSE_FETCH_RFC822_TEXT},
	{"BODY", IMAPPARSE_FETCH_BODY},
	{"BODYSTRUCTURE", IMAPPARSE_FETCH_BODYSTRUCTURE},
	{"UID", IMAPPARSE_FETCH_UID},
	{"MODSEQ", IMAPPARSE_FETCH_MODSEQ},
};

static int imapparse_ffail(const char **error_r, const char *why)
{
	if (error_r != NULL)
		*error_r = why;
	return 0;
}

static void imapparse_att_clear(struct imapparse_fetch_att *att)
{
	for (size_t i = 0; i < att->nfields; i++)
		free(att->fields[i]);
	free(att->fields);
	free(att->parts);
	free(att->section);
	memset(att, 0, sizeof(*att));
}

void imapparse_fetch_free(struct imapparse_fetch *f)
{
	for (size_t i = 0; i < f->count; i++)
		imapparse_att_clear(&f->atts[i]);
	free(f->atts);
	f->atts = NULL;
	f->count = 0;
}

static struct imapparse_fetch_att *imapparse_fetch_push(struct imapparse_fetch *f,
							enum imapparse_fetch_kind kind)
{
	f->atts = mem_realloc(f->atts, mem_add(f->count, 1), sizeof(*f->atts));
	struct imapparse_fetch_att *att = &f->atts[f->count++];
	memset(att, 0, sizeof(*att));
	att->kind = kind;
	return att;
}

/* header-fld-name = astring, and a field name is 1*ftext (RFC 5322 section
 * 3.6.8: printable US-ASCII except ':'). */
static bool imapparse_field_name_ok(const char *s, size_t n)
{
	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c < 33 || c > 126 || c == ':')
			return false;
	}
	return true;
}

/* header-list = "(" header-fld-name *(SP header-fld-name) ")" inside the
 * section text s[*pos..n); the list must end the section. */
static int imapparse_header_list(const char *s, size_t n, size_t pos,
				 struct imapparse_fetch_att *att, const char **error_r)
{
	if (pos >= n || s[pos] != '(')
		return imapparse_ffail(error_r, "Missing header field list");
	pos++;
	for (;;) {
		while (pos < n && s[pos] == ' ')
			pos++;
		if (pos >= n)
			return imapparse_ffail(error_r, "Missing ')' in header field list");
		if (s[pos] == ')') {
			pos++;
			break;
		}
		struct buf name = BUF_INIT;
		if (s[pos] == '"') {
			pos++;
			while (pos < n && s[pos] != '"') {
				if (s[pos] == '\\' && pos + 1 < n)
					pos++;
				buf_append_byte(&name, (unsigned char)s[pos]);
				pos++;
			}
			if (pos >= n) {
				buf_free(&name);
				return imapparse_ffail(error_r, "Missing '\"'");
			}
			pos++;
		} else {
			while (pos < n && s[pos] != ' ' && s[pos] != ')') {
				if (!imapparse_astring_char((unsigned char)s[pos])) {
					buf_free(&name);
					return imapparse_ffail(error_r,
							       "Invalid header field name");
				}
				buf_append_byte(&name, (unsigned char)s[pos]);
				pos++;
			}
		}
		if (!imapparse_field_name_ok((const char *)name.data, name.len)) {
			buf_free(&name);
			return imapparse_ffail(error_r, "Invalid header field name");
		}
		att->fields = mem_realloc(att->fields, mem_add(att->nfields, 1),
					  sizeof(*att->fields));
		att->fields[att->nfields++] = (char *)buf_steal(&name, NULL);
		if (pos < n && s[pos] != ' ' && s[pos] != ')')
			return imapparse_ffail(error_r, "Missing space in header field list");
	}
	if (att->nfields == 0)
		return imapparse_ffail(error_r, "Empty header field list");
	if (pos != n)
		return imapparse_ffail(error_r, "Junk after header field list");
	return 1;
}

/* section-spec = section-msgtext / (section-part ["." section-text])
 * (RFC 3501 section 9); section-binary = "[" [section-part] "]" (RFC 3516). */
static int imapparse_section(const char *s, size_t n, bool binary,
			     struct imapparse_fetch_att *att, const char **error_r)
{
	size_t pos = 0;

	while (pos < n && imapparse_digit((unsigned char)s[pos])) {
		size_t start = pos;
		uint64_t v;
		while (pos < n && imapparse_digit((unsigned char)s[pos]))
			pos++;
		if (s[start] == '0' ||
		    imapparse_number(s + start, pos - start, UINT32_MAX, &v) != 1)
			return imapparse_ffail(error_r, "Invalid section part number");
		if (att->nparts >= IMAPPARSE_SECTION_MAX_PARTS)
			return imapparse_ffail(error_r, "Section part path too deep");
		att->parts = mem_realloc(att->parts, mem_add(att->nparts, 1), sizeof(*att->parts));
		att->parts[att->nparts++] = (uint32_t)v;
		if (pos == n)
			return 1;
		if (s[pos] != '.')
			return imapparse_ffail(error_r, "Invalid section");
		pos++;
		if (pos == n)
			return imapparse_ffail(error_r, "Invalid section");
	}
	if (pos == n)
		return 1; /* BODY[]: the whole message */
	if (binary)
		return imapparse_ffail(error_r, "BINARY takes only part numbers");

	size_t kw = pos;
	while (pos < n && s[pos] != ' ')
		pos++;
	const char *k = s + kw;
	size_t kn = pos - kw;
	if (imapparse_ieq(k, kn, "HEADER"))
		att->text = IMAPPARSE_SECTION_HEADER;
	else if (imapparse_ieq(k, kn, "TEXT"))
		att->text = IMAPPARSE_SECTION_TEXT;
	else if (imapparse_ieq(k, kn, "MIME") && att->nparts > 0)
		att->text = IMAPPARSE_SECTION_MIME; /* section-text only after a part */
	else if (imapparse_ieq(k, kn, "HEADER.FIELDS"))
		att->text = IMAPPARSE_SECTION_HEADER_FIELDS;
	else if (imapparse_ieq(k, kn, "HEADER.FIELDS.NOT"))
		att->text = IMAPPARSE_SECTION_HEADER_FIELDS_NOT;
	else
		return imapparse_ffail(error_r, "Invalid section");
	if (att->text != IMAPPARSE_SECTION_HEADER_FIELDS &&
	    att->text != IMAPPARSE_SECTION_HEADER_FIELDS_NOT) {
		if (pos != n)
			return imapparse_ffail(error_r, "Invalid section");
		return 1;
	}
	if (pos == n)
		return imapparse_ffail(error_r, "Missing header field list");
	while (pos < n && s[pos] == ' ')
		pos++;
	return imapparse_header_list(s, n, pos, att, error_r);
}

static bool imapparse_needs_quotes(const char *s)
{
	for (; *s; s++) {
		if (!imapparse_atom_char((unsigned char)*s))
			return true;
	}
	return false;
}

/* The section as the FETCH response names it (RFC 3501 section 7.4.2). */
static void imapparse_section_canon(struct imapparse_fetch_att *att)
{
	static const char *const texts[] = {
		[IMAPPARSE_SECTION_NONE] = "",
		[IMAPPARSE_SECTION_HEADER] = "HEADER",
		[IMAPPARSE_SECTION_HEADER_FIELDS] = "HEADER.FIELDS",
		[IMAPPARSE_SECTION_HEADER_FIELDS_NOT] = "HEADER.FIELDS.NOT",
		[IMAPPARSE_SECTION_TEXT] = "TEXT",
		[IMAPPARSE_SECTION_MIME] = "MIME",
	};
	struct buf b = BUF_INIT;

	for (size_t i = 0; i < att->nparts; i++)
		buf_printf(&b, "%s%u", i ? "." : "", att->parts[i]);
	if (att->text != IMAPPARSE_SECTION_NONE)
		buf_printf(&b, "%s%s", att->nparts ? "." : "", texts[att->text]);
	if (att->nfields > 0) {
		buf_append_str(&b, " (");
		for (size_t i = 0; i < att->nfields; i++) {
			const char *f = att->fields[i];
			if (i > 0)
				buf_append_byte(&b, ' ');
			if (!imapparse_needs_quotes(f)) {
				buf_append_str(&b, f);
				continue;
			}
			buf_append_byte(&b, '"');
			for (; *f; f++) {
				if (*f == '"' || *f == '\\')
					buf_append_byte(&b, '\\');
				buf_append_byte(&b, (unsigned char)*f);
			}
			buf_append_byte(&b, '"');
		}
		buf_append_byte(&b, ')');
	}
	if (b.data == NULL)
		buf_append(&b, "", 0);
	att->section = (char *)buf_steal(&b, NULL);
}

/* Find the ']' closing the section that starts at s[open] == '['. */
static size_t imapparse_section_end(const char *s, size_t n, size_t open)
{
	bool in_list = false, in_quote = false;
	for (size_t i = open + 1; i < n; i++) {
		if (in_quote) {
			if (s[i] == '\\')
				i++;
			else if (s[i] == '"')
				in_quote = false;
		} else if (s[i] == '"') {
			in_quote = true;
		} else if (s[i] == '(') {
			in_list = true;
		} else if (s[i] == ')') {
			in_list = false;
		} else if (s[i] == ']' && !in_list) {
			return i;
		}
	}
	return n;
}

/* partial = "<" number "." nz-number ">" (RFC 3501 section 9). */
static int imapparse_partial(const char *s, size_t n, struct imapparse_fetch_att *att,
			     const char **error_r)
{
	const char *dot, *end = s + n - 1;
	uint64_t o, l;

	if (n < 5 || s[0] != '<' || *end != '>')
		return imapparse_ffail(error_r, "Invalid partial range");
	dot = memchr(s, '.', n);
	if (dot == NULL || dot == s + 1 || dot + 1 >= end || dot[1] == '0')
		return imapparse_ffail(error_r, "Invalid partial range");
	if (imapparse_number(s + 1, (size_t)(dot - s - 1), UINT32_MAX, &o) != 1 ||
	    imapparse_number(dot + 1, (size_t)(end - dot - 1), UINT32_MAX, &l) != 1)
		return imapparse_ffail(error_r, "Invalid partial range");
	att->partial = true;
	att->origin = (uint32_t)o;
	att->length = (uint32_t)l;
	return 1;
}

static int imapparse_fetch_att(const char *s, size_t n, struct imapparse_fetch *out,
			       const char **error_r)
{
	const char *open = memchr(s, '[', n);
	size_t name_len = open ? (size_t)(open - s) : n;

	if (open == NULL) {
		size_t natts = sizeof(imapparse_simple_atts) / sizeof(imapparse_simple_atts[0]);
		for (size_t i = 0; i < natts; i++) {
			if (imapparse_ieq(s, n, imapparse_simple_atts[i].name)) {
				imapparse_fetch_push(out, imapparse_simple_atts[i].kind);
				return 1;
			}
		}
		return imapparse_ffail(error_r, "Unknown fetch attribute");
	}

	enum imapparse_fetch_kind kind;
	bool peek = false, binary = false;
	if (imapparse_ieq(s, name_len, "BODY")) {
		kind = IMAPPARSE_FETCH_BODY_SECTION;
	} else if (imapparse_ieq(s, name_len, "BODY.PEEK")) {
		kind = IMAPPARSE_FETCH_BODY_SECTION;
		peek = true;
	} else if (imapparse_ieq(s, name_len, "BINARY")) {
		kind = IMAPPARSE_FETCH_BINARY;
		binary = true;
	} else if (imapparse_ieq(s, name_len, "BINARY.PEEK")) {
		kind = IMAPPARSE_FETCH_BINARY;
		binary = peek = true;
	} else if (imapparse_ieq(s, name_len, "BINARY.SIZE")) {
		kind = IMAPPARSE_FETCH_BINARY_SIZE;
		binary = true;
	} else {
		return imapparse_ffail(error_r, "Unknown fetch attribute");
	}

	size_t o = name_len;
	size_t close = imapparse_section_end(s, n, o);
	if (close >= n)
		return imapparse_ffail(error_r, "Missing ']'");
	struct imapparse_fetch_att *att = imapparse_fetch_push(out, kind);
	att->peek = peek;
	if (imapparse_section(s + o + 1, close - o - 1, binary, att, error_r) != 1)
		return 0;
	imapparse_section_canon(att);
	if (close + 1 < n) {
		/* RFC 3516 section 4.2: BINARY.SIZE takes no partial. */
		if (kind == IMAPPARSE_FETCH_BINARY_SIZE)
			return imapparse_ffail(error_r, "Junk after section");
		return imapparse_partial(s + close + 1, n - close - 1, att, error_r);
	}
	return 1;
}

/* RFC 3501 section 6.4.5: the macros, each only on its own. */
static int imapparse_fetch_macro(const struct imapparse_arg *a, struct imapparse_fetch *out)
{
	static const enum imapparse_fetch_kind full[] = {
		IMAPPARSE_FETCH_FLAGS, IMAPPARSE_FETCH_INTERNALDATE, IMAPPARSE_FETCH_RFC822_SIZE,
		IMAPPARSE_FETCH_ENVELOPE, IMAPPARSE_FETCH_BODY,
	};
	size_t n;
	if (imapparse_arg_is_atom(a, "FAST"))
		n = 3;
	else if (imapparse_arg_is_atom(a, "ALL"))
		n = 4;
	else if (imapparse_arg_is_atom(a, "FULL"))
		n = 5;
	else
		return 0;
	for (size_t i = 0; i < n; i++)
		imapparse_fetch_push(out, full[i]);
	return 1;
}

int imapparse_fetch_parse(const struct imapparse_arg *arg, struct imapparse_fetch *out,
			  const char **error_r)
{
	out->atts = NULL;
	out->count = 0;
	if (arg->type == IMAPPARSE_ATOM) {
		if (imapparse_fetch_macro(arg, out))
			return 1;
		if (imapparse_fetch_att(arg->str, arg->len, out, error_r) == 1)
			return 1;
		imapparse_fetch_free(out);
		return 0;
	}
	if (arg->type != IMAPPARSE_LIST || arg->count == 0)
		return imapparse_ffail(error_r, "Invalid fetch attributes");
	for (size_t i = 0; i < arg->count; i++) {
		const struct imapparse_arg *a = &arg->list[i];
		if (a->type != IMAPPARSE_ATOM ||
		    imapparse_fetch_att(a->str, a->len, out, error_r) != 1) {
			if (a->type != IMAPPARSE_ATOM && error_r != NULL)
				*error_r = "Invalid fetch attribute";
			imapparse_fetch_free(out);
			return 0;
		}
	}
	return 1;
}

/* ---- CONDSTORE / QRESYNC (RFC 7162) ---- */

int imapparse_fetch_modifiers(const struct imapparse_arg *list, struct imapparse_fetch_mods *out,
			      const char **error_r)
{
	memset(out, 0, sizeof(*out));
	if (list->type != IMAPPARSE_LIST || list->count == 0)
		return imapparse_ffail(error_r, "Invalid FETCH modifiers");
	for (size_t i = 0; i < list->count; i++) {
		const struct imapparse_arg *a = &list->list[i];
		if (imapparse_arg_is_atom(a, "CHANGEDSINCE")) {
			if (out->changedsince || i + 1 >= list->count ||
			    imapparse_arg_modseq(&list->list[i + 1], true, &out->modseq) != 1)
				return imapparse_ffail(error_r, "Invalid CHANGEDSINCE");
			out->changedsince = true;
			i++;
		} else if (imapparse_arg_is_atom(a, "VANISHED")) {
			if (out->vanished)
				return imapparse_ffail(error_r, "Repeated VANISHED");
			out->vanished = true;
		} else {
			return imapparse_ffail(error_r, "Unknown FETCH modifier");
		}
	}
	/* RFC 7162 section 3.2.6: VANISHED only together with CHANGEDSINCE. */
	if (out->vanished && !out->changedsince)
		return imapparse_ffail(error_r, "VANISHED requires CHANGEDSINCE");
	return 1;
}

int imapparse_store_modifiers(const struct imapparse_arg *list, struct imapparse_store_mods *out,
			      const char **error_r)
{
	memset(out, 0, sizeof(*out));
	if (list->type != IMAPPARSE_LIST || list->count == 0)
		return imapparse_ffail(error_r, "Invalid STORE modifiers");
	for (size_t i = 0; i < list->count; i++) {
		if (!imapparse_arg_is_atom(&list->list[i], "UNCHANGEDSINCE"))
			return imapparse_ffail(error_r, "Unknown STORE modifier");
		if (out->unchangedsince || i + 1 >= list->count ||
		    imapparse_arg_modseq(&list->list[i + 1], true, &out->modseq) != 1)
			return imapparse_ffail(error_r, "Invalid UNCHANGEDSINCE");
		out->unchangedsince = true;
		i++;
	}
	return 1;
}

void imapparse_select_params_free(struct imapparse_select_params *sp)
{
	seqset_free(&sp->known_uids);
	seqset_free(&sp->match_seqs);
	seqset_free(&sp->match_uids);
	memset(sp, 0, sizeof(*sp));
}

/* A sequence-set atom without '*' (RFC 7162 section 7: known-uids,
 * known-sequence-set and known-uid-set exclude it). */
static int imapparse_plain_set(const struct imapparse_arg *a, size_t max_ranges,
			       struct seqset *out)
{
	if (a->type != IMAPPARSE_ATOM || (a->flags & ~IMAPPARSE_ARG_WILDCARD) != 0)
		return 0;
	if (seqset_parse(out, a->str, a->len, max_ranges, NULL) != 1 || seqset_has_star(out))
		return 0;
	return 1;
}

static int imapparse_qresync(const struct imapparse_arg *l, size_t max_ranges,
			     struct imapparse_select_params *out)
{
	size_t i = 2;

	if (l->type != IMAPPARSE_LIST || l->count < 2 || l->count > 4)
		return 0;
	if (imapparse_arg_nz_number(&l->list[0], &out->uidvalidity) != 1 ||
	    imapparse_arg_modseq(&l->list[1], false, &out->modseq) != 1)
		return 0;
	if (i < l->count && l->list[i].type == IMAPPARSE_ATOM) {
		if (imapparse_plain_set(&l->list[i], max_ranges, &out->known_uids) != 1)
			return 0;
		i++;
	}
	if (i < l->count) {
		const struct imapparse_arg *m = &l->list[i];
		if (m->type != IMAPPARSE_LIST || m->count != 2 ||
		    imapparse_plain_set(&m->list[0], max_ranges, &out->match_seqs) != 1 ||
		    imapparse_plain_set(&m->list[1], max_ranges, &out->match_uids) != 1)
			return 0;
		i++;
	}
	return i == l->count;
}

int imapparse_select_params(const struct imapparse_arg *list, size_t max_ranges,
			    struct imapparse_select_params *out, const char **error_r)
{
	memset(out, 0, sizeof(*out));
	if (list->type != IMAPPARSE_LIST || list->count == 0)
		return imapparse_ffail(error_r, "Invalid SELECT parameters");
	for (size_t i = 0; i < list->count; i++) {
		const struct imapparse_arg *a = &list->list[i];
		if (imapparse_arg_is_atom(a, "CONDSTORE") && !out->condstore) {
			out->condstore = true;
		} else if (imapparse_arg_is_atom(a, "QRESYNC") && !out->qresync) {
			if (i + 1 >= list->count ||
			    imapparse_qresync(&list->list[i + 1], max_ranges, out) != 1) {
				imapparse_select_params_free(out);
				return imapparse_ffail(error_r, "Invalid QRESYNC parameters");
			}
			out->qresync = true;
			i++;
		} else {
			imapparse_select_params_free(out);
			return imapparse_ffail(error_r, "Unknown SELECT parameter");
		}
	}
	return 1;
}
