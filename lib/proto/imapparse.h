/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* Incremental parser for IMAP client commands (RFC 3501 section 9, with
 * LITERAL+/LITERAL- of RFC 7888, literal8 of RFC 3516 and quoted UTF-8 of
 * RFC 6855), plus helpers that interpret common argument shapes: FETCH
 * attributes (with RFC 3516 BINARY and RFC 7162 MODSEQ), numbers and
 * mod-sequences. Pure; no I/O. Trust: pre-auth input; every size is bounded
 * by struct imapparse_limits.
 *
 * Use (the caller owns the connection and reads whole CRLF lines):
 *
 *   r = imapparse_feed_line(p, line, len);          line without its CRLF
 *   while (r == 0) {                                a literal is announced
 *       imapparse_literal(p, &lit);
 *       if (lit.sync) send "+ ..." and flush;
 *       read up to lit.remaining bytes, imapparse_feed_literal() them (in
 *       as many pieces as convenient) until it returns 1;
 *       r = imapparse_feed_line(p, next line);       the command goes on
 *   }
 *   r == 1: imapparse_command(p) is the command; r == -1: reply
 *   "<tag> BAD <reason>" (or "* BAD" when imapparse_tag() is NULL) and, when
 *   the error is fatal, close the connection (a non-synchronising literal is
 *   on its way and its bytes must never be read as commands).
 *
 * To refuse a literal the parser accepted (APPENDLIMIT, quota): for a {n}
 * literal reply "<tag> NO/BAD ..." instead of "+" and imapparse_reset(); a
 * {n+} literal is already on its way, so read and discard its bytes (and the
 * rest of the command) or close the connection.
 *
 * The next imapparse_feed_line() after 1 or -1 starts a new command. Lines
 * that are not commands (AUTHENTICATE responses, IDLE's DONE) are read by the
 * caller directly, not fed here.
 *
 * Secrets: the arguments of LOGIN and AUTHENTICATE (a password, a SASL
 * response holding one) are each allocated once at their final size and
 * zeroed before they are freed (imapparse_reset, imapparse_free, or the next
 * imapparse_feed_line that starts a command). The caller wipes its own
 * copies, such as the line it read.
 *
 * Lenience: runs of spaces between tokens and trailing spaces are accepted
 * (clients send them); everything else follows the grammar. */
#ifndef SEALMAIL_IMAPPARSE_H
#define SEALMAIL_IMAPPARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "seqset.h"

/* RFC 7888 section 5: with LITERAL- a non-synchronising literal holds at
 * most 4096 octets. */
#define IMAPPARSE_LITERAL_MINUS_MAX 4096

struct imapparse_limits {
	size_t max_line;            /* bytes in one line without CRLF */
	size_t max_literal;         /* bytes in one literal */
	size_t max_nonsync_literal; /* bytes in one {n+} literal: 0 refuses {n+},
				       IMAPPARSE_LITERAL_MINUS_MAX for LITERAL-,
				       max_literal for LITERAL+ */
	size_t max_command;         /* all lines and literals of one command */
	unsigned max_depth;         /* nesting of parenthesised lists */
	size_t max_args;            /* argument nodes (lists count) in one command */
};

/* Defaults: 64 KiB lines, 64 MiB literals with LITERAL+ semantics, 128 MiB
 * per command, depth 16, 100000 arguments. Pre-auth callers lower them. */
void imapparse_limits_default(struct imapparse_limits *lim);

/* Parser flags. */
#define IMAPPARSE_F_UTF8     0x1u /* RFC 6855 UTF8=ACCEPT: UTF-8 in quoted strings */
#define IMAPPARSE_F_LITERAL8 0x2u /* RFC 3516 BINARY: accept ~{n} literals */

enum imapparse_type {
	IMAPPARSE_ATOM,    /* atom-like token, including sequence sets, \Flags,
			      list-mailbox wildcards and fetch attributes with a
			      [section] (spaces and parentheses inside brackets
			      are part of the token: "BODY[HEADER.FIELDS (A B)]<0.9>") */
	IMAPPARSE_QUOTED,  /* quoted string, escapes removed */
	IMAPPARSE_LITERAL, /* {n}, {n+} or ~{n} literal; binary-safe */
	IMAPPARSE_NIL,     /* the atom NIL (any case); str is the text as sent */
	IMAPPARSE_LIST,    /* parenthesised list */
};

/* imapparse_arg.flags */
#define IMAPPARSE_ARG_WILDCARD  0x01u /* atom contains '%' or '*' */
#define IMAPPARSE_ARG_RBRACKET  0x02u /* atom contains ']' outside a section */
#define IMAPPARSE_ARG_SECTION   0x04u /* atom contains a [section] */
#define IMAPPARSE_ARG_BACKSLASH 0x08u /* atom starts with '\' (a system flag) */
#define IMAPPARSE_ARG_LITERAL8  0x10u /* literal was sent as ~{n} */
#define IMAPPARSE_ARG_NONSYNC   0x20u /* literal was sent as {n+} */
#define IMAPPARSE_ARG_8BIT      0x40u /* string holds bytes >= 0x80 */
#define IMAPPARSE_ARG_NUL       0x80u /* literal holds NUL bytes (a literal8, or APPEND's) */

/* The error text of a literal8 (~{n}) when IMAPPARSE_F_LITERAL8 is not set. */
#define IMAPPARSE_NO_LITERAL8 "Binary literals (~{n}) need BINARY, which is not offered"

struct imapparse_arg {
	enum imapparse_type type;
	unsigned flags;
	char *str;   /* atom, NIL, quoted, literal: NUL-terminated copy, len bytes
			(a literal8 may hold NULs); NULL for lists */
	size_t len;
	struct imapparse_arg *list; /* LIST: count children */
	size_t count;
	size_t cap;  /* internal */
};

struct imapparse_cmd {
	const char *tag;  /* as sent */
	const char *name; /* upper-cased; for "UID FETCH" name is "FETCH", uid true */
	bool uid;
	const struct imapparse_arg *args; /* count arguments after the name */
	size_t count;
};

enum imapparse_err {
	IMAPPARSE_ERR_NONE = 0,
	IMAPPARSE_ERR_SYNTAX,  /* grammar violated: "<tag> BAD <reason>" */
	IMAPPARSE_ERR_TAG,     /* missing or invalid tag: "* BAD <reason>" */
	IMAPPARSE_ERR_TOOBIG,  /* line, literal or command over a limit:
				  "<tag> BAD [TOOBIG] <reason>" (RFC 4469/7888) */
	IMAPPARSE_ERR_LIMIT,   /* nesting or argument count over a limit */
	IMAPPARSE_ERR_USAGE,   /* caller fed a line when a literal was due, or
				  the reverse */
};

struct imapparse_literal {
	uint64_t size;      /* announced size */
	uint64_t remaining; /* bytes still to feed */
	bool sync;          /* {n}: the server must send "+" first */
	bool literal8;      /* ~{n} */
};

struct imapparse;

/* lim is copied. Never returns NULL; free with imapparse_free(). */
struct imapparse *imapparse_new(const struct imapparse_limits *lim, unsigned flags);
void imapparse_free(struct imapparse **p);
/* Drop any command in progress (e.g. after refusing a literal). */
void imapparse_reset(struct imapparse *p);
void imapparse_set_flags(struct imapparse *p, unsigned flags);

/* Feed one line without its CRLF. Returns 1 the command is complete, 0 the
 * line ends with a literal announcement (see imapparse_literal), -1 error
 * (see imapparse_error). */
int imapparse_feed_line(struct imapparse *p, const char *line, size_t len);

/* Describe the literal due after feed_line returned 0: true and *lit_r
 * filled when one is due, false otherwise. */
bool imapparse_literal(const struct imapparse *p, struct imapparse_literal *lit_r);

/* Feed literal bytes; at most the remaining count is taken (*used_r, if not
 * NULL, says how many). Returns 1 the literal is complete (feed the next line
 * now), 0 more bytes are due, -1 not expecting a literal (ERR_USAGE). A NUL
 * in a {n} literal (RFC 3501 CHAR8 excludes it) makes the command fail with
 * -1 at its end, so the rest of the command is consumed first. */
int imapparse_feed_literal(struct imapparse *p, const unsigned char *data, size_t len,
			   size_t *used_r);

/* After 1: the command, owned by the parser, valid until the next feed or
 * reset. NULL otherwise. */
const struct imapparse_cmd *imapparse_command(const struct imapparse *p);

/* After -1: a short static reason for the BAD reply. *code_r and *fatal_r
 * are set when not NULL; fatal means a non-synchronising literal follows the
 * bad line, so the connection must be closed. NULL when there is no error. */
const char *imapparse_error(const struct imapparse *p, enum imapparse_err *code_r,
			    bool *fatal_r);

/* The current command's tag once it has been read and found valid, else NULL
 * (reply "* BAD"). Owned by the parser. */
const char *imapparse_tag(const struct imapparse *p);

/* ---- Argument helpers. All return pointers into the argument. ---- */

/* True when a is an atom equal to s, ignoring ASCII case. */
bool imapparse_arg_is_atom(const struct imapparse_arg *a, const char *s);
/* astring (RFC 3501 section 9): a plain atom (no wildcards, no \, no
 * section; ']' allowed), NIL as an atom, quoted or literal. Returns the text,
 * or NULL when a is not an astring or holds NUL bytes. */
const char *imapparse_arg_astring(const struct imapparse_arg *a);
/* string: quoted or literal only, without NUL bytes; else NULL. */
const char *imapparse_arg_string(const struct imapparse_arg *a);
/* nstring: NULL in *s_r for NIL. Returns true on a valid nstring. */
bool imapparse_arg_nstring(const struct imapparse_arg *a, const char **s_r);
/* list-mailbox (RFC 3501 section 9): like astring, wildcards allowed. */
const char *imapparse_arg_list_mailbox(const struct imapparse_arg *a);
/* flag (RFC 3501 section 9): "\Name" or a keyword atom. */
bool imapparse_arg_is_flag(const struct imapparse_arg *a);
/* number (RFC 3501: unsigned 32-bit) and nz-number from an atom: 1 ok, 0 not. */
int imapparse_arg_number(const struct imapparse_arg *a, uint32_t *v_r);
int imapparse_arg_nz_number(const struct imapparse_arg *a, uint32_t *v_r);
/* mod-sequence-value (RFC 7162 section 7): 1 .. 2^63-1; with allow_zero the
 * mod-sequence-valzer form that also takes 0. 1 ok, 0 not. */
int imapparse_arg_modseq(const struct imapparse_arg *a, bool allow_zero, uint64_t *v_r);
/* Parse an unsigned decimal in s[0..n) without sign or spaces, at most max:
 * 1 ok, 0 not. Leading zeros are allowed ("number" is 1*DIGIT). */
int imapparse_number(const char *s, size_t n, uint64_t max, uint64_t *v_r);

/* ---- FETCH attributes (RFC 3501 sections 6.4.5 and 9; RFC 3516; RFC 7162) ---- */

enum imapparse_fetch_kind {
	IMAPPARSE_FETCH_ENVELOPE,
	IMAPPARSE_FETCH_FLAGS,
	IMAPPARSE_FETCH_INTERNALDATE,
	IMAPPARSE_FETCH_RFC822,
	IMAPPARSE_FETCH_RFC822_HEADER,
	IMAPPARSE_FETCH_RFC822_SIZE,
	IMAPPARSE_FETCH_RFC822_TEXT,
	IMAPPARSE_FETCH_BODY,          /* BODY without section: non-extensible
					  BODYSTRUCTURE */
	IMAPPARSE_FETCH_BODYSTRUCTURE,
	IMAPPARSE_FETCH_UID,
	IMAPPARSE_FETCH_BODY_SECTION,  /* BODY[...] / BODY.PEEK[...] */
	IMAPPARSE_FETCH_BINARY,        /* BINARY[...] / BINARY.PEEK[...] (RFC 3516) */
	IMAPPARSE_FETCH_BINARY_SIZE,   /* BINARY.SIZE[...] (RFC 3516) */
	IMAPPARSE_FETCH_MODSEQ,        /* RFC 7162 section 3.1.4 */
};

enum imapparse_section_text {
	IMAPPARSE_SECTION_NONE,          /* [] or [1.2]: the whole (part) */
	IMAPPARSE_SECTION_HEADER,
	IMAPPARSE_SECTION_HEADER_FIELDS,
	IMAPPARSE_SECTION_HEADER_FIELDS_NOT,
	IMAPPARSE_SECTION_TEXT,
	IMAPPARSE_SECTION_MIME,          /* only after a part number */
};

/* Deepest section part path accepted (e.g. 1.2.3 is 3 deep). */
#define IMAPPARSE_SECTION_MAX_PARTS 64

struct imapparse_fetch_att {
	enum imapparse_fetch_kind kind;
	bool peek;                        /* BODY.PEEK / BINARY.PEEK */
	uint32_t *parts;                  /* section-part numbers, nparts of them */
	size_t nparts;
	enum imapparse_section_text text;
	char **fields;                    /* HEADER.FIELDS[.NOT] names, nfields */
	size_t nfields;
	bool partial;                     /* <origin.length> given */
	uint32_t origin, length;          /* length >= 1 */
	char *section;                    /* canonical text between the brackets
					     for the response item, e.g.
					     "1.HEADER.FIELDS (From To)";
					     NULL without a section */
};

struct imapparse_fetch {
	struct imapparse_fetch_att *atts; /* count items, all owned */
	size_t count;
};

/* Parse the FETCH item argument: a macro atom (ALL, FAST, FULL: expanded per
 * RFC 3501 section 6.4.5), one fetch-att atom, or a non-empty list of
 * fetch-att atoms. Returns 1 ok (out filled; release with
 * imapparse_fetch_free), 0 invalid (*error_r a static reason, out empty). */
int imapparse_fetch_parse(const struct imapparse_arg *arg, struct imapparse_fetch *out,
			  const char **error_r);
void imapparse_fetch_free(struct imapparse_fetch *f);

/* ---- CONDSTORE / QRESYNC arguments (RFC 7162) ---- */

/* FETCH modifiers, section 3.1.4.1 and 3.2.6: "(" fetch-modifier *(SP
 * fetch-modifier) ")" with CHANGEDSINCE mod-sequence and VANISHED. */
struct imapparse_fetch_mods {
	bool changedsince;
	uint64_t modseq;   /* CHANGEDSINCE value; 0 is accepted (all changes) */
	bool vanished;     /* only valid with UID FETCH: the caller checks */
};
/* 1 ok, 0 invalid (unknown or repeated modifier, VANISHED without
 * CHANGEDSINCE, bad number; *error_r a static reason). */
int imapparse_fetch_modifiers(const struct imapparse_arg *list, struct imapparse_fetch_mods *out,
			      const char **error_r);

/* STORE modifiers, section 3.1.3: "(" "UNCHANGEDSINCE" SP
 * mod-sequence-valzer ")". 1 ok, 0 invalid. */
struct imapparse_store_mods {
	bool unchangedsince;
	uint64_t modseq;
};
int imapparse_store_modifiers(const struct imapparse_arg *list, struct imapparse_store_mods *out,
			      const char **error_r);

/* SELECT/EXAMINE parameters, sections 3.1.8 and 3.2.5: "(" select-param
 * *(SP select-param) ")", select-param = "CONDSTORE" / "QRESYNC" SP "("
 * uidvalidity SP mod-sequence-value [SP known-uids] [SP seq-match-data] ")".
 * The sets are as sent (no '*' allowed in them); an absent one is empty.
 * Whether the two seq-match-data sets pair up is for the caller to judge. */
struct imapparse_select_params {
	bool condstore;
	bool qresync;
	uint32_t uidvalidity;       /* nz-number */
	uint64_t modseq;            /* mod-sequence-value, >= 1 */
	struct seqset known_uids;
	struct seqset match_seqs;   /* known-sequence-set */
	struct seqset match_uids;   /* known-uid-set */
};
/* 1 ok (release with imapparse_select_params_free), 0 invalid (out is
 * released already). max_ranges bounds each set (0: no limit). */
int imapparse_select_params(const struct imapparse_arg *list, size_t max_ranges,
			    struct imapparse_select_params *out, const char **error_r);
void imapparse_select_params_free(struct imapparse_select_params *sp);

#endif
