/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* SEARCH criteria (RFC 3501 sections 6.4.4 and 9, plus the MODSEQ key of
 * RFC 7162 section 3.1.5) parsed from the argument list of a command into a
 * tree. Parsing only: evaluation belongs to the mailbox code. Pure; no I/O.
 * Trust: post-auth input (SEARCH needs a selected mailbox), bounded by
 * struct imapsearch_limits. */
#ifndef SEALMAIL_IMAPSEARCH_H
#define SEALMAIL_IMAPSEARCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "imapparse.h"
#include "seqset.h"

/* The response code to send with NO for an unsupported CHARSET (RFC 3501
 * section 6.4.4, section 7.1 BADCHARSET). */
#define IMAPSEARCH_BADCHARSET "[BADCHARSET (UTF-8 US-ASCII)]"

enum imapsearch_kind {
	IMAPSEARCH_AND,        /* sub[0..nsub): all must match; the top level and
				  parenthesised groups */
	IMAPSEARCH_OR,         /* sub[0], sub[1] */
	IMAPSEARCH_NOT,        /* sub[0] */
	IMAPSEARCH_ALL,
	IMAPSEARCH_SEQSET,     /* set: message sequence numbers, '*' unresolved */
	IMAPSEARCH_UID,        /* set: UIDs, '*' unresolved */
	/* flags, no argument */
	IMAPSEARCH_ANSWERED,
	IMAPSEARCH_DELETED,
	IMAPSEARCH_DRAFT,
	IMAPSEARCH_FLAGGED,
	IMAPSEARCH_NEW,        /* RECENT UNSEEN */
	IMAPSEARCH_OLD,        /* NOT RECENT */
	IMAPSEARCH_RECENT,
	IMAPSEARCH_SEEN,
	IMAPSEARCH_UNANSWERED,
	IMAPSEARCH_UNDELETED,
	IMAPSEARCH_UNDRAFT,
	IMAPSEARCH_UNFLAGGED,
	IMAPSEARCH_UNSEEN,
	/* str: a flag-keyword */
	IMAPSEARCH_KEYWORD,
	IMAPSEARCH_UNKEYWORD,
	/* str/len: the string to look for */
	IMAPSEARCH_BCC,
	IMAPSEARCH_BODY,
	IMAPSEARCH_CC,
	IMAPSEARCH_FROM,
	IMAPSEARCH_SUBJECT,
	IMAPSEARCH_TEXT,
	IMAPSEARCH_TO,
	IMAPSEARCH_HEADER,     /* header: field name; str/len: value (may be "") */
	/* date: internal date (BEFORE ON SINCE) or Date: header (SENT*) */
	IMAPSEARCH_BEFORE,
	IMAPSEARCH_ON,
	IMAPSEARCH_SINCE,
	IMAPSEARCH_SENTBEFORE,
	IMAPSEARCH_SENTON,
	IMAPSEARCH_SENTSINCE,
	/* number: size in octets */
	IMAPSEARCH_LARGER,
	IMAPSEARCH_SMALLER,
	/* number: mod-sequence (0 allowed); modseq_flag / modseq_type optional */
	IMAPSEARCH_MODSEQ,
};

/* A calendar date as sent (RFC 3501 section 9, date-text), validated. */
struct imapsearch_date {
	int year;  /* 4 digits */
	int month; /* 1-12 */
	int day;   /* 1-31, valid for the month */
};

/* RFC 7162 section 3.1.5: entry-type-req. */
enum imapsearch_modseq_type {
	IMAPSEARCH_MODSEQ_ALL,
	IMAPSEARCH_MODSEQ_PRIV,
	IMAPSEARCH_MODSEQ_SHARED,
};

struct imapsearch_key {
	enum imapsearch_kind kind;
	char *str;    /* owned; string keys, KEYWORD/UNKEYWORD, HEADER value */
	size_t len;
	char *header; /* owned; HEADER field name */
	struct imapsearch_date date;
	uint64_t number;
	struct seqset set;
	char *modseq_flag; /* owned; MODSEQ "/flags/<flag>" entry: the flag,
			      e.g. "\Seen"; NULL when not given */
	enum imapsearch_modseq_type modseq_type;
	struct imapsearch_key *sub; /* owned; AND, OR, NOT */
	size_t nsub;
};

struct imapsearch {
	const char *charset;   /* "UTF-8" or "US-ASCII" when CHARSET was given,
				  NULL when not: strings are then taken as UTF-8,
				  of which US-ASCII (RFC 3501's default) is a
				  subset */
	struct imapsearch_key root; /* kind AND */
};

struct imapsearch_limits {
	unsigned max_depth; /* nesting of NOT, OR and parentheses */
	size_t max_keys;    /* key nodes in the tree */
	size_t max_ranges;  /* ranges in each sequence set (0: no limit) */
};

/* Defaults: depth 32, 10000 keys, 10000 ranges per set. */
void imapsearch_limits_default(struct imapsearch_limits *lim);

/* Parse args[0..count) (everything after SEARCH or UID SEARCH). Returns 1 ok
 * (*out_r owned by the caller, free with imapsearch_free), 0 unsupported
 * CHARSET (reply NO IMAPSEARCH_BADCHARSET), -1 syntax error or limit (reply
 * BAD *error_r, a static reason). *out_r is NULL unless 1. */
int imapsearch_parse(const struct imapparse_arg *args, size_t count,
		     const struct imapsearch_limits *lim, struct imapsearch **out_r,
		     const char **error_r);
void imapsearch_free(struct imapsearch **s);

/* Parse an IMAP date ("1-Feb-2024", RFC 3501 section 9 date-text) from n
 * bytes: 1 ok, 0 invalid (bad day for the month included). */
int imapsearch_parse_date(const char *s, size_t n, struct imapsearch_date *d_r);

/* Upper-case key name ("AND", "SEQSET", "UID", "SENTBEFORE", ...). */
const char *imapsearch_kind_name(enum imapsearch_kind kind);

/* Append a readable form of the tree to out, for logs and tests, e.g.
 * AND(OR(SEEN,NOT(FLAGGED)),FROM "a",SINCE 2024-02-01,UID 1:*). */
void imapsearch_format(const struct imapsearch_key *k, struct buf *out);

#endif
