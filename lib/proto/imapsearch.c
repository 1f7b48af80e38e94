/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* SEARCH criteria parser (RFC 3501 section 6.4.4; RFC 7162 section 3.1.5).
 * Trust: post-auth input. */
#include "imapsearch.h"

#include <stdlib.h>
#include <string.h>

#include "base/mem.h"
#include "mutf7.h"

enum imapsearch_argtype {
	IMAPSEARCH_A_NONE,
	IMAPSEARCH_A_STRING,  /* astring */
	IMAPSEARCH_A_HEADER,  /* header-fld-name SP astring */
	IMAPSEARCH_A_KEYWORD, /* flag-keyword */
	IMAPSEARCH_A_DATE,
	IMAPSEARCH_A_NUMBER,
	IMAPSEARCH_A_SEQSET,
	IMAPSEARCH_A_NOT,
	IMAPSEARCH_A_OR,
	IMAPSEARCH_A_MODSEQ,
};

struct imapsearch_keydef {
	const char *name;
	enum imapsearch_kind kind;
	enum imapsearch_argtype arg;
};

/* RFC 3501 section 9, search-key; RFC 7162 section 7, search-modsequence. */
static const struct imapsearch_keydef imapsearch_keys[] = {
	{"ALL", IMAPSEARCH_ALL, IMAPSEARCH_A_NONE},
	{"ANSWERED", IMAPSEARCH_ANSWERED, IMAPSEARCH_A_NONE},
	{"BCC", IMAPSEARCH_BCC, IMAPSEARCH_A_STRING},
	{"BEFORE", IMAPSEARCH_BEFORE, IMAPSEARCH_A_DATE},
	{"BODY", IMAPSEARCH_BODY, IMAPSEARCH_A_STRING},
	{"CC", IMAPSEARCH_CC, IMAPSEARCH_A_STRING},
	{"DELETED", IMAPSEARCH_DELETED, IMAPSEARCH_A_NONE},
	{"DRAFT", IMAPSEARCH_DRAFT, IMAPSEARCH_A_NONE},
	{"FLAGGED", IMAPSEARCH_FLAGGED, IMAPSEARCH_A_NONE},
	{"FROM", IMAPSEARCH_FROM, IMAPSEARCH_A_STRING},
	{"HEADER", IMAPSEARCH_HEADER, IMAPSEARCH_A_HEADER},
	{"KEYWORD", IMAPSEARCH_KEYWORD, IMAPSEARCH_A_KEYWORD},
	{"LARGER", IMAPSEARCH_LARGER, IMAPSEARCH_A_NUMBER},
	{"MODSEQ", IMAPSEARCH_MODSEQ, IMAPSEARCH_A_MODSEQ},
	{"NEW", IMAPSEARCH_NEW, IMAPSEARCH_A_NONE},
	{"NOT", IMAPSEARCH_NOT, IMAPSEARCH_A_NOT},
	{"OLD", IMAPSEARCH_OLD, IMAPSEARCH_A_NONE},
	{"ON", IMAPSEARCH_ON, IMAPSEARCH_A_DATE},
	{"OR", IMAPSEARCH_OR, IMAPSEARCH_A_OR},
	{"RECENT", IMAPSEARCH_RECENT, IMAPSEARCH_A_NONE},
	{"SEEN", IMAPSEARCH_SEEN, IMAPSEARCH_A_NONE},
	{"SENTBEFORE", IMAPSEARCH_SENTBEFORE, IMAPSEARCH_A_DATE},
	{"SENTON", IMAPSEARCH_SENTON, IMAPSEARCH_A_DATE},
	{"SENTSINCE", IMAPSEARCH_SENTSINCE, IMAPSEARCH_A_DATE},
	{"SINCE", IMAPSEARCH_SINCE, IMAPSEARCH_A_DATE},
	{"SMALLER", IMAPSEARCH_SMALLER, IMAPSEARCH_A_NUMBER},
	{"SUBJECT", IMAPSEARCH_SUBJECT, IMAPSEARCH_A_STRING},
	{"TEXT", IMAPSEARCH_TEXT, IMAPSEARCH_A_STRING},
	{"TO", IMAPSEARCH_TO, IMAPSEARCH_A_STRING},
	{"UID", IMAPSEARCH_UID, IMAPSEARCH_A_SEQSET},
	{"UNANSWERED", IMAPSEARCH_UNANSWERED, IMAPSEARCH_A_NONE},
	{"UNDELETED", IMAPSEARCH_UNDELETED, IMAPSEARCH_A_NONE},
	{"UNDRAFT", IMAPSEARCH_UNDRAFT, IMAPSEARCH_A_NONE},
	{"UNFLAGGED", IMAPSEARCH_UNFLAGGED, IMAPSEARCH_A_NONE},
	{"UNKEYWORD", IMAPSEARCH_UNKEYWORD, IMAPSEARCH_A_KEYWORD},
	{"UNSEEN", IMAPSEARCH_UNSEEN, IMAPSEARCH_A_NONE},
};

static const char *const imapsearch_names[] = {
	[IMAPSEARCH_AND] = "AND", [IMAPSEARCH_OR] = "OR", [IMAPSEARCH_NOT] = "NOT",
	[IMAPSEARCH_ALL] = "ALL", [IMAPSEARCH_SEQSET] = "SEQSET", [IMAPSEARCH_UID] = "UID",
	[IMAPSEARCH_ANSWERED] = "ANSWERED", [IMAPSEARCH_DELETED] = "DELETED",
	[IMAPSEARCH_DRAFT] = "DRAFT", [IMAPSEARCH_FLAGGED] = "FLAGGED", [IMAPSEARCH_NEW] = "NEW",
	[IMAPSEARCH_OLD] = "OLD", [IMAPSEARCH_RECENT] = "RECENT", [IMAPSEARCH_SEEN] = "SEEN",
	[IMAPSEARCH_UNANSWERED] = "UNANSWERED", [IMAPSEARCH_UNDELETED] = "UNDELETED",
	[IMAPSEARCH_UNDRAFT] = "UNDRAFT", [IMAPSEARCH_UNFLAGGED] = "UNFLAGGED",
	[IMAPSEARCH_UNSEEN] = "UNSEEN", [IMAPSEARCH_KEYWORD] = "KEYWORD",
	[IMAPSEARCH_UNKEYWORD] = "UNKEYWORD", [IMAPSEARCH_BCC] = "BCC",
	[IMAPSEARCH_BODY] = "BODY", [IMAPSEARCH_CC] = "CC", [IMAPSEARCH_FROM] = "FROM",
	[IMAPSEARCH_SUBJECT] = "SUBJECT", [IMAPSEARCH_TEXT] = "TEXT", [IMAPSEARCH_TO] = "TO",
	[IMAPSEARCH_HEADER] = "HEADER", [IMAPSEARCH_BEFORE] = "BEFORE", [IMAPSEARCH_ON] = "ON",
	[IMAPSEARCH_SINCE] = "SINCE", [IMAPSEARCH_SENTBEFORE] = "SENTBEFORE",
	[IMAPSEARCH_SENTON] = "SENTON", [IMAPSEARCH_SENTSINCE] = "SENTSINCE",
	[IMAPSEARCH_LARGER] = "LARGER", [IMAPSEARCH_SMALLER] = "SMALLER",
	[IMAPSEARCH_MODSEQ] = "MODSEQ",
};

const char *imapsearch_kind_name(enum imapsearch_kind kind)
{
	if ((size_t)kind >= sizeof(imapsearch_names) / sizeof(imapsearch_names[0]) ||
	    imapsearch_names[kind] == NULL)
		return "?";
	return imapsearch_names[kind];
}

void imapsearch_limits_default(struct imapsearch_limits *lim)
{
	lim->max_depth = 32;
	lim->max_keys = 10000;
	lim->max_ranges = 10000;
}

struct imapsearch_ctx {
	const struct imapsearch_limits *lim;
	size_t nkeys;
	bool ascii;      /* CHARSET US-ASCII: no 8-bit bytes in strings */
	const char *err;
};

static bool imapsearch_ieq(const char *s, size_t n, const char *upper)
{
	if (strlen(upper) != n)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (c >= 'a' && c <= 'z')
			c = (char)(c - 'a' + 'A');
		if (c != upper[i])
			return false;
	}
	return true;
}

static int imapsearch_fail(struct imapsearch_ctx *c, const char *why)
{
	if (c->err == NULL)
		c->err = why;
	return -1;
}

static void imapsearch_key_clear(struct imapsearch_key *k)
{
	/* Recursion depth is bounded by the parse depth limit. */
	for (size_t i = 0; i < k->nsub; i++)
		imapsearch_key_clear(&k->sub[i]);
	free(k->sub);
	free(k->str);
	free(k->header);
	free(k->modseq_flag);
	seqset_free(&k->set);
	memset(k, 0, sizeof(*k));
}

void imapsearch_free(struct imapsearch **sp)
{
	struct imapsearch *s = *sp;
	if (s == NULL)
		return;
	imapsearch_key_clear(&s->root);
	free(s);
	*sp = NULL;
}

/* date-day "-" date-month "-" date-year; date-day = 1*2DIGIT; date-year =
 * 4DIGIT (RFC 3501 section 9). */
int imapsearch_parse_date(const char *s, size_t n, struct imapsearch_date *d_r)
{
	static const char months[12][4] = {"JAN", "FEB", "MAR", "APR", "MAY", "JUN",
					   "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"};
	static const int mdays[12] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	size_t i = 0;
	int day = 0, month = 0, year = 0;

	while (i < n && i < 2 && s[i] >= '0' && s[i] <= '9')
		day = day * 10 + (s[i++] - '0');
	if (i == 0 || i >= n || s[i] != '-')
		return 0;
	i++;
	if (n - i != 3 + 1 + 4 || s[i + 3] != '-')
		return 0;
	for (int m = 0; m < 12; m++) {
		if (imapsearch_ieq(s + i, 3, months[m]))
			month = m + 1;
	}
	if (month == 0)
		return 0;
	i += 4;
	for (size_t k = 0; k < 4; k++, i++) {
		if (s[i] < '0' || s[i] > '9')
			return 0;
		year = year * 10 + (s[i] - '0');
	}
	bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
	if (day < 1 || day > mdays[month - 1] || (month == 2 && day == 29 && !leap))
		return 0;
	d_r->year = year;
	d_r->month = month;
	d_r->day = day;
	return 1;
}

/* astring in the search charset. */
static int imapsearch_string(struct imapsearch_ctx *c, const struct imapparse_arg *a,
			     struct imapsearch_key *k)
{
	const char *s = imapparse_arg_astring(a);
	if (s == NULL)
		return imapsearch_fail(c, "Invalid search string");
	size_t n = a->len;
	if (a->flags & IMAPPARSE_ARG_8BIT) {
		if (c->ascii)
			return imapsearch_fail(c, "8-bit characters in US-ASCII search string");
		if (!mutf7_utf8_valid((const unsigned char *)s, n))
			return imapsearch_fail(c, "Invalid UTF-8 in search string");
	}
	k->str = mem_strndup(s, n);
	k->len = n;
	return 0;
}

/* flag-keyword = atom (RFC 3501 section 9). */
static bool imapsearch_keyword_ok(const struct imapparse_arg *a)
{
	if (a->type == IMAPPARSE_NIL)
		return true;
	return a->type == IMAPPARSE_ATOM && a->flags == 0;
}

static bool imapsearch_field_ok(const char *s, size_t n)
{
	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];
		if (ch < 33 || ch > 126 || ch == ':')
			return false;
	}
	return true;
}

static int imapsearch_key(struct imapsearch_ctx *c, const struct imapparse_arg *args, size_t count,
			  size_t *i, struct imapsearch_key *k, unsigned depth);

/* One or more keys from args[0..count) into k (kind AND). */
static int imapsearch_list(struct imapsearch_ctx *c, const struct imapparse_arg *args,
			   size_t count, struct imapsearch_key *k, unsigned depth)
{
	size_t i = 0;

	k->kind = IMAPSEARCH_AND;
	if (count == 0)
		return imapsearch_fail(c, "Missing search key");
	while (i < count) {
		k->sub = mem_realloc(k->sub, mem_add(k->nsub, 1), sizeof(*k->sub));
		struct imapsearch_key *sub = &k->sub[k->nsub++];
		memset(sub, 0, sizeof(*sub));
		if (imapsearch_key(c, args, count, &i, sub, depth) != 0)
			return -1;
	}
	return 0;
}

static int imapsearch_subkeys(struct imapsearch_ctx *c, const struct imapparse_arg *args,
			      size_t count, size_t *i, struct imapsearch_key *k, size_t n,
			      unsigned depth)
{
	k->sub = mem_array(n, sizeof(*k->sub));
	for (size_t j = 0; j < n; j++) {
		k->nsub = j + 1;
		if (*i >= count)
			return imapsearch_fail(c, "Missing search key");
		if (imapsearch_key(c, args, count, i, &k->sub[j], depth + 1) != 0)
			return -1;
	}
	return 0;
}

static int imapsearch_modseq(struct imapsearch_ctx *c, const struct imapparse_arg *args,
			     size_t count, size_t *i, struct imapsearch_key *k)
{
	/* search-modsequence = "MODSEQ" [search-modseq-ext] SP mod-sequence-valzer;
	 * search-modseq-ext = SP entry-name SP entry-type-req; entry-name is a
	 * quoted "/flags/" attr-flag (RFC 7162 section 7). */
	if (*i < count && args[*i].type == IMAPPARSE_QUOTED) {
		const struct imapparse_arg *e = &args[*i];
		const char *f = e->str + 7;
		size_t fn = e->len >= 7 ? e->len - 7 : 0;
		if (e->len < 7 || !imapsearch_ieq(e->str, 7, "/FLAGS/"))
			return imapsearch_fail(c, "Invalid MODSEQ entry name");
		size_t skip = (fn > 0 && f[0] == '\\') ? 1 : 0;
		if (fn == skip)
			return imapsearch_fail(c, "Invalid MODSEQ entry name");
		for (size_t j = skip; j < fn; j++) {
			unsigned char ch = (unsigned char)f[j];
			if (ch <= 0x20 || ch >= 0x7f || strchr("(){%*\"\\]", ch) != NULL)
				return imapsearch_fail(c, "Invalid MODSEQ entry name");
		}
		if (*i + 1 >= count)
			return imapsearch_fail(c, "Missing MODSEQ entry type");
		const struct imapparse_arg *t = &args[*i + 1];
		if (imapparse_arg_is_atom(t, "PRIV"))
			k->modseq_type = IMAPSEARCH_MODSEQ_PRIV;
		else if (imapparse_arg_is_atom(t, "SHARED"))
			k->modseq_type = IMAPSEARCH_MODSEQ_SHARED;
		else if (imapparse_arg_is_atom(t, "ALL"))
			k->modseq_type = IMAPSEARCH_MODSEQ_ALL;
		else
			return imapsearch_fail(c, "Invalid MODSEQ entry type");
		k->modseq_flag = mem_strndup(f, fn);
		*i += 2;
	}
	if (*i >= count || imapparse_arg_modseq(&args[*i], true, &k->number) != 1)
		return imapsearch_fail(c, "Invalid MODSEQ value");
	(*i)++;
	return 0;
}

static int imapsearch_key(struct imapsearch_ctx *c, const struct imapparse_arg *args, size_t count,
			  size_t *i, struct imapsearch_key *k, unsigned depth)
{
	const struct imapparse_arg *a = &args[*i];
	const struct imapsearch_keydef *def = NULL;

	if (depth > c->lim->max_depth)
		return imapsearch_fail(c, "Search criteria nested too deeply");
	if (++c->nkeys > c->lim->max_keys)
		return imapsearch_fail(c, "Too many search keys");
	(*i)++;

	if (a->type == IMAPPARSE_LIST)
		return imapsearch_list(c, a->list, a->count, k, depth + 1);
	if (a->type != IMAPPARSE_ATOM && a->type != IMAPPARSE_NIL)
		return imapsearch_fail(c, "Invalid search key");
	if ((a->str[0] >= '0' && a->str[0] <= '9') || a->str[0] == '*') {
		const char *why = "Invalid sequence set";
		k->kind = IMAPSEARCH_SEQSET;
		if (seqset_parse(&k->set, a->str, a->len, c->lim->max_ranges, &why) != 1)
			return imapsearch_fail(c, why);
		return 0;
	}
	for (size_t j = 0; j < sizeof(imapsearch_keys) / sizeof(imapsearch_keys[0]); j++) {
		if (imapsearch_ieq(a->str, a->len, imapsearch_keys[j].name)) {
			def = &imapsearch_keys[j];
			break;
		}
	}
	if (def == NULL)
		return imapsearch_fail(c, "Unknown search key");
	k->kind = def->kind;

	const struct imapparse_arg *v = *i < count ? &args[*i] : NULL;
	switch (def->arg) {
	case IMAPSEARCH_A_NONE:
		return 0;
	case IMAPSEARCH_A_NOT:
		return imapsearch_subkeys(c, args, count, i, k, 1, depth);
	case IMAPSEARCH_A_OR:
		return imapsearch_subkeys(c, args, count, i, k, 2, depth);
	case IMAPSEARCH_A_MODSEQ:
		return imapsearch_modseq(c, args, count, i, k);
	default:
		break;
	}
	if (v == NULL)
		return imapsearch_fail(c, "Missing search key argument");
	(*i)++;
	switch (def->arg) {
	case IMAPSEARCH_A_STRING:
		return imapsearch_string(c, v, k);
	case IMAPSEARCH_A_HEADER: {
		const char *f = imapparse_arg_astring(v);
		if (f == NULL || !imapsearch_field_ok(f, v->len))
			return imapsearch_fail(c, "Invalid header field name");
		if (*i >= count)
			return imapsearch_fail(c, "Missing search key argument");
		k->header = mem_strndup(f, v->len);
		return imapsearch_string(c, &args[(*i)++], k);
	}
	case IMAPSEARCH_A_KEYWORD:
		if (!imapsearch_keyword_ok(v))
			return imapsearch_fail(c, "Invalid keyword");
		k->str = mem_strndup(v->str, v->len);
		k->len = v->len;
		return 0;
	case IMAPSEARCH_A_DATE:
		/* date = date-text / DQUOTE date-text DQUOTE: atom or quoted. */
		if ((v->type != IMAPPARSE_ATOM && v->type != IMAPPARSE_QUOTED) ||
		    imapsearch_parse_date(v->str, v->len, &k->date) != 1)
			return imapsearch_fail(c, "Invalid date");
		return 0;
	case IMAPSEARCH_A_NUMBER:
		/* number is 32-bit in RFC 3501, number64 in RFC 9051. */
		if (v->type != IMAPPARSE_ATOM ||
		    imapparse_number(v->str, v->len, INT64_MAX, &k->number) != 1)
			return imapsearch_fail(c, "Invalid number");
		return 0;
	case IMAPSEARCH_A_SEQSET: {
		const char *why = "Invalid sequence set";
		if (v->type != IMAPPARSE_ATOM ||
		    seqset_parse(&k->set, v->str, v->len, c->lim->max_ranges, &why) != 1)
			return imapsearch_fail(c, why);
		return 0;
	}
	default:
		return imapsearch_fail(c, "Invalid search key");
	}
}

int imapsearch_parse(const struct imapparse_arg *args, size_t count,
		     const struct imapsearch_limits *lim, struct imapsearch **out_r,
		     const char **error_r)
{
	struct imapsearch_ctx c = {lim, 0, false, NULL};
	const char *charset = NULL;

	*out_r = NULL;
	/* [SP "CHARSET" SP astring]: only as the first argument. */
	if (count > 0 && imapparse_arg_is_atom(&args[0], "CHARSET")) {
		const char *cs = count > 1 ? imapparse_arg_astring(&args[1]) : NULL;
		if (cs == NULL) {
			if (error_r != NULL)
				*error_r = "Missing charset";
			return -1;
		}
		if (imapsearch_ieq(cs, args[1].len, "UTF-8")) {
			charset = "UTF-8";
		} else if (imapsearch_ieq(cs, args[1].len, "US-ASCII")) {
			charset = "US-ASCII";
			c.ascii = true;
		} else {
			if (error_r != NULL)
				*error_r = "Unsupported charset";
			return 0;
		}
		args += 2;
		count -= 2;
	}
	struct imapsearch *s = mem_zalloc(sizeof(*s));
	s->charset = charset;
	if (imapsearch_list(&c, args, count, &s->root, 0) != 0) {
		imapsearch_free(&s);
		if (error_r != NULL)
			*error_r = c.err;
		return -1;
	}
	*out_r = s;
	return 1;
}

static void imapsearch_quote(struct buf *out, const char *s, size_t n)
{
	buf_append_byte(out, '"');
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '"' || s[i] == '\\')
			buf_append_byte(out, '\\');
		buf_append_byte(out, (unsigned char)s[i]);
	}
	buf_append_byte(out, '"');
}

void imapsearch_format(const struct imapsearch_key *k, struct buf *out)
{
	static const char *const types[] = {"all", "priv", "shared"};

	switch (k->kind) {
	case IMAPSEARCH_AND:
	case IMAPSEARCH_OR:
	case IMAPSEARCH_NOT:
		buf_printf(out, "%s(", imapsearch_kind_name(k->kind));
		for (size_t i = 0; i < k->nsub; i++) {
			if (i > 0)
				buf_append_byte(out, ',');
			imapsearch_format(&k->sub[i], out);
		}
		buf_append_byte(out, ')');
		return;
	default:
		break;
	}
	buf_append_str(out, imapsearch_kind_name(k->kind));
	switch (k->kind) {
	case IMAPSEARCH_SEQSET:
	case IMAPSEARCH_UID:
		buf_append_byte(out, ' ');
		seqset_format(&k->set, out);
		break;
	case IMAPSEARCH_KEYWORD:
	case IMAPSEARCH_UNKEYWORD:
		buf_printf(out, " %s", k->str);
		break;
	case IMAPSEARCH_HEADER:
		buf_printf(out, " %s ", k->header);
		imapsearch_quote(out, k->str, k->len);
		break;
	case IMAPSEARCH_BCC:
	case IMAPSEARCH_BODY:
	case IMAPSEARCH_CC:
	case IMAPSEARCH_FROM:
	case IMAPSEARCH_SUBJECT:
	case IMAPSEARCH_TEXT:
	case IMAPSEARCH_TO:
		buf_append_byte(out, ' ');
		imapsearch_quote(out, k->str, k->len);
		break;
	case IMAPSEARCH_BEFORE:
	case IMAPSEARCH_ON:
	case IMAPSEARCH_SINCE:
	case IMAPSEARCH_SENTBEFORE:
	case IMAPSEARCH_SENTON:
	case IMAPSEARCH_SENTSINCE:
		buf_printf(out, " %04d-%02d-%02d", k->date.year, k->date.month, k->date.day);
		break;
	case IMAPSEARCH_LARGER:
	case IMAPSEARCH_SMALLER:
		buf_printf(out, " %llu", (unsigned long long)k->number);
		break;
	case IMAPSEARCH_MODSEQ:
		if (k->modseq_flag != NULL) {
			buf_append_byte(out, ' ');
			imapsearch_quote(out, k->modseq_flag, strlen(k->modseq_flag));
			buf_printf(out, " %s", types[k->modseq_type]);
		}
		buf_printf(out, " %llu", (unsigned long long)k->number);
		break;
	default:
		break;
	}
}
