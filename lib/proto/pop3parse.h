/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* POP3 command lines (RFC 1939 sections 3, 5-7; CAPA, RFC 2449; STLS, RFC
 * 2595; AUTH with an initial response, RFC 5034; UTF8, RFC 6856). Pure: no
 * I/O, no globals, no logging; the reply texts live in handlers/pop3d/.
 * Line-based: the caller reads one line (without its CRLF) and hands it
 * over whole; nothing here looks past len, and the line need not be
 * NUL-terminated. Trust: pre-auth input. */
#ifndef SEALMAIL_POP3PARSE_H
#define SEALMAIL_POP3PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* RFC 2449 section 4: a command line is at most 255 octets, CRLF included. */
#define POP3_CMD_LINE_MAX 255
/* RFC 2449 section 4: keywords are three or four characters. */
#define POP3_KEYWORD_MAX 4
/* The most arguments a command takes: TOP msg n, AUTH mechanism
 * initial-response (RFC 1939 section 7, RFC 5034 section 4). */
#define POP3_ARGS_MAX 2
/* Lines that carry a password are exempt from the 255 octets: PASS (RFC
 * 1939 section 7 lets the password hold spaces), AUTH with an initial
 * response, and the SASL responses after "+ " (RFC 5034 section 4 keeps
 * the 255-octet command limit only for what the client chooses to send
 * inline). 2048 octets hold the base64 of the longest PLAIN response the
 * login layer accepts (authcid and password, ~1.8 KB encoded). */
#define POP3_SECRET_LINE_MAX 2048

enum pop3_cmd {
	POP3_CMD_UNKNOWN,
	/* AUTHORIZATION (RFC 1939 section 7, RFC 5034, RFC 2595, RFC 6856) */
	POP3_CMD_USER,
	POP3_CMD_PASS,
	POP3_CMD_APOP,
	POP3_CMD_AUTH,
	POP3_CMD_STLS,
	POP3_CMD_UTF8,
	/* any state (RFC 1939 sections 5-6, RFC 2449 section 5) */
	POP3_CMD_CAPA,
	POP3_CMD_QUIT,
	POP3_CMD_NOOP,
	/* TRANSACTION (RFC 1939 section 5, UIDL and TOP from section 7) */
	POP3_CMD_STAT,
	POP3_CMD_LIST,
	POP3_CMD_RETR,
	POP3_CMD_DELE,
	POP3_CMD_RSET,
	POP3_CMD_TOP,
	POP3_CMD_UIDL,
	POP3_CMD_COUNT
};

/* Why a line was refused (pop3parse_command returned -1). */
enum pop3parse_error {
	POP3PARSE_OK,
	POP3PARSE_E_NUL,     /* a NUL byte in the line */
	POP3PARSE_E_TOOLONG, /* over limits->line_max (or secret_line_max) */
	POP3PARSE_E_ARGS,    /* too few or too many arguments, or empty ones */
	POP3PARSE_E_CHAR,    /* a control character in a keyword or argument */
	POP3PARSE_E_NUMBER,  /* an argument that must be a number is not */
	POP3PARSE_E_ARGLONG, /* an argument over its own limit */
};

struct pop3parse_limits {
	size_t line_max;        /* a command line, CRLF excluded */
	size_t secret_line_max; /* PASS, AUTH and SASL response lines, CRLF excluded */
	size_t user_max;        /* USER's name */
	size_t mech_max;        /* an AUTH mechanism name */
};

/* RFC 2449 section 4 for commands; RFC 4422 section 3.1 gives mechanism
 * names 1-20 characters; user_max is the caller's (the login layer's). */
#define POP3PARSE_LIMITS_INIT(user_max)                                                            \
	{                                                                                          \
		POP3_CMD_LINE_MAX - 2, POP3_SECRET_LINE_MAX - 2, (user_max), 20                    \
	}

struct pop3_arg {
	const char *p; /* into the line; not NUL-terminated */
	size_t len;
};

struct pop3_command {
	enum pop3_cmd cmd;
	const char *name; /* upper-case keyword, static; "" when unknown */
	unsigned argc;
	/* USER and PASS: argv[0] is the rest of the line after the keyword's
	 * space, spaces included (RFC 1939 section 7); APOP: the rest of the
	 * line, unchecked (it is refused whatever follows). */
	struct pop3_arg argv[POP3_ARGS_MAX];
	uint64_t num[POP3_ARGS_MAX]; /* numeric arguments (LIST, UIDL, RETR, DELE, TOP) */
	enum pop3parse_error error;
	unsigned bad_arg; /* POP3PARSE_E_NUMBER, _CHAR, _ARGLONG: which argument */
};

/* Parse one command line (without CRLF). 1: a known command, well formed
 * (argument count, numbers); 0: an unknown keyword (out->cmd is
 * POP3_CMD_UNKNOWN); -1: malformed, out->error says why and out->cmd names
 * the command when the keyword was known. Keywords are case-insensitive
 * (RFC 1939 section 3); arguments are separated by one space, and trailing
 * spaces after a command without a free-text argument are ignored (some
 * clients send "LIST "). */
int pop3parse_command(const char *line, size_t len, const struct pop3parse_limits *lim,
                      struct pop3_command *out);

/* A number argument: "0" or a non-zero digit then digits, no sign, no
 * spaces, no leading zeros, at most max. 1 ok (*out set), -1 not. */
int pop3parse_number(const char *p, size_t len, uint64_t max, uint64_t *out);

/* A SASL response line after "+ " (RFC 5034 section 4): 1 data (hand it
 * to the mechanism), 0 the client cancelled ("*"), -1 too long
 * (*error_r POP3PARSE_E_TOOLONG) or holding a NUL (POP3PARSE_E_NUL). */
int pop3parse_sasl_response(const char *line, size_t len, const struct pop3parse_limits *lim,
                            enum pop3parse_error *error_r);

/* The keyword of a command, upper case ("" for POP3_CMD_UNKNOWN). */
const char *pop3parse_name(enum pop3_cmd cmd);

#endif
