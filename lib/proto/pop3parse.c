/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* Trust: pre-auth input. See pop3parse.h. */
#include "pop3parse.h"

#include <string.h>
#include <strings.h>

/* How a command's arguments are read. */
enum pop3parse_args {
	POP3PARSE_NONE,   /* no argument */
	POP3PARSE_NUMBER, /* numbers separated by single spaces */
	POP3PARSE_REST,   /* the rest of the line, spaces included */
	POP3PARSE_AUTH,   /* mechanism [initial-response] */
};

/* The grammar of each command: RFC 1939 sections 5-7, RFC 2449 section 5,
 * RFC 2595 section 4, RFC 5034 section 4, RFC 6856 section 2. secret:
 * the line may carry credentials and gets the longer line limit. */
static const struct pop3parse_verb {
	const char *name;
	enum pop3_cmd cmd;
	enum pop3parse_args args;
	unsigned min, max;
	bool secret;
} pop3parse_verbs[] = {
    {"USER", POP3_CMD_USER, POP3PARSE_REST, 1, 1, true},
    {"PASS", POP3_CMD_PASS, POP3PARSE_REST, 0, 1, true},
    {"APOP", POP3_CMD_APOP, POP3PARSE_REST, 0, 1, true},
    {"AUTH", POP3_CMD_AUTH, POP3PARSE_AUTH, 0, 2, true},
    {"STLS", POP3_CMD_STLS, POP3PARSE_NONE, 0, 0, false},
    {"UTF8", POP3_CMD_UTF8, POP3PARSE_NONE, 0, 0, false},
    {"CAPA", POP3_CMD_CAPA, POP3PARSE_NONE, 0, 0, false},
    {"QUIT", POP3_CMD_QUIT, POP3PARSE_NONE, 0, 0, false},
    {"NOOP", POP3_CMD_NOOP, POP3PARSE_NONE, 0, 0, false},
    {"STAT", POP3_CMD_STAT, POP3PARSE_NONE, 0, 0, false},
    {"LIST", POP3_CMD_LIST, POP3PARSE_NUMBER, 0, 1, false},
    {"RETR", POP3_CMD_RETR, POP3PARSE_NUMBER, 1, 1, false},
    {"DELE", POP3_CMD_DELE, POP3PARSE_NUMBER, 1, 1, false},
    {"RSET", POP3_CMD_RSET, POP3PARSE_NONE, 0, 0, false},
    {"TOP", POP3_CMD_TOP, POP3PARSE_NUMBER, 2, 2, false},
    {"UIDL", POP3_CMD_UIDL, POP3PARSE_NUMBER, 0, 1, false},
};

#define POP3PARSE_NVERBS (sizeof(pop3parse_verbs) / sizeof(pop3parse_verbs[0]))

const char *pop3parse_name(enum pop3_cmd cmd)
{
	for (size_t i = 0; i < POP3PARSE_NVERBS; i++)
		if (pop3parse_verbs[i].cmd == cmd)
			return pop3parse_verbs[i].name;
	return "";
}

int pop3parse_number(const char *p, size_t len, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;
	if (len == 0 || (p[0] == '0' && len > 1))
		return -1;
	for (size_t i = 0; i < len; i++) {
		if (p[i] < '0' || p[i] > '9')
			return -1;
		if (__builtin_mul_overflow(v, 10, &v) ||
		    __builtin_add_overflow(v, (uint64_t)(p[i] - '0'), &v))
			return -1;
	}
	if (v > max)
		return -1;
	*out = v;
	return 1;
}

/* RFC 2449 section 4: keywords and arguments are printable ASCII; UTF-8 is
 * let through for USER and PASS (RFC 6856 section 2) by not checking them
 * here. */
static bool pop3parse_ctl(unsigned char c)
{
	return c < 0x20 || c == 0x7f;
}

static int pop3parse_fail(struct pop3_command *out, enum pop3parse_error e, unsigned arg)
{
	out->error = e;
	out->bad_arg = arg;
	return -1;
}

/* Split s[0..len) (no trailing space) at single spaces into out->argv. */
static int pop3parse_words(const char *s, size_t len, const struct pop3parse_verb *v,
                           struct pop3_command *out)
{
	size_t i = 0;
	while (i < len) {
		size_t start = i;
		while (i < len && s[i] != ' ')
			i++;
		if (i == start) /* two spaces in a row */
			return pop3parse_fail(out, POP3PARSE_E_ARGS, out->argc);
		if (out->argc == v->max)
			return pop3parse_fail(out, POP3PARSE_E_ARGS, out->argc);
		out->argv[out->argc].p = s + start;
		out->argv[out->argc].len = i - start;
		out->argc++;
		if (i < len)
			i++; /* the separating space */
	}
	if (out->argc < v->min)
		return pop3parse_fail(out, POP3PARSE_E_ARGS, out->argc);
	return 1;
}

/* The arguments after the keyword's space (rest, n bytes; rest is NULL
 * when the keyword ended the line). */
static int pop3parse_args(const char *rest, size_t n, const struct pop3parse_limits *lim,
                          const struct pop3parse_verb *v, struct pop3_command *out)
{
	if (v->args == POP3PARSE_REST) {
		if (rest != NULL) {
			out->argv[0].p = rest;
			out->argv[0].len = n;
			out->argc = 1;
		}
		if (out->argc < v->min || (v->cmd == POP3_CMD_USER && n == 0))
			return pop3parse_fail(out, POP3PARSE_E_ARGS, 0);
		if (v->cmd == POP3_CMD_USER && n > lim->user_max)
			return pop3parse_fail(out, POP3PARSE_E_ARGLONG, 0);
		return 1;
	}
	/* Trailing spaces are dropped: a command with a fixed grammar loses
	 * nothing by it. */
	while (rest != NULL && n > 0 && rest[n - 1] == ' ')
		n--;
	if (rest == NULL || n == 0)
		return out->argc < v->min ? pop3parse_fail(out, POP3PARSE_E_ARGS, 0) : 1;
	if (v->max == 0)
		return pop3parse_fail(out, POP3PARSE_E_ARGS, 0);
	for (size_t i = 0; i < n; i++)
		if (pop3parse_ctl((unsigned char)rest[i]))
			return pop3parse_fail(out, POP3PARSE_E_CHAR, 0);
	if (pop3parse_words(rest, n, v, out) < 0)
		return -1;
	if (v->args == POP3PARSE_AUTH) {
		if (out->argv[0].len > lim->mech_max)
			return pop3parse_fail(out, POP3PARSE_E_ARGLONG, 0);
		return 1;
	}
	for (unsigned a = 0; a < out->argc; a++)
		if (pop3parse_number(out->argv[a].p, out->argv[a].len, UINT64_MAX, &out->num[a]) <
		    0)
			return pop3parse_fail(out, POP3PARSE_E_NUMBER, a);
	return 1;
}

int pop3parse_command(const char *line, size_t len, const struct pop3parse_limits *lim,
                      struct pop3_command *out)
{
	memset(out, 0, sizeof(*out));
	out->name = "";
	size_t k = 0;
	while (k < len && line[k] != ' ')
		k++;
	const struct pop3parse_verb *v = NULL;
	for (size_t i = 0; k <= POP3_KEYWORD_MAX && i < POP3PARSE_NVERBS; i++)
		if (strlen(pop3parse_verbs[i].name) == k &&
		    strncasecmp(line, pop3parse_verbs[i].name, k) == 0)
			v = &pop3parse_verbs[i];
	if (v != NULL) {
		out->cmd = v->cmd;
		out->name = v->name;
	}
	if (memchr(line, '\0', len) != NULL)
		return pop3parse_fail(out, POP3PARSE_E_NUL, 0);
	if (len > (v != NULL && v->secret ? lim->secret_line_max : lim->line_max))
		return pop3parse_fail(out, POP3PARSE_E_TOOLONG, 0);
	if (v == NULL)
		return 0;
	return pop3parse_args(k < len ? line + k + 1 : NULL, k < len ? len - k - 1 : 0, lim, v,
	                      out);
}

int pop3parse_sasl_response(const char *line, size_t len, const struct pop3parse_limits *lim,
                            enum pop3parse_error *error_r)
{
	*error_r = POP3PARSE_OK;
	if (len > lim->secret_line_max) {
		*error_r = POP3PARSE_E_TOOLONG;
		return -1;
	}
	if (memchr(line, '\0', len) != NULL) {
		*error_r = POP3PARSE_E_NUL;
		return -1;
	}
	/* RFC 5034 section 4: a lone "*" cancels the exchange. */
	return len == 1 && line[0] == '*' ? 0 : 1;
}
