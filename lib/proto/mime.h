/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* MIME structure of a message: the part tree with byte offsets (RFC 2045,
 * RFC 2046), the raw RFC 5322 header fields of every message in it, section
 * lookup by part number, header field iteration and unfolding, and a compact
 * cache of the parsed tree so that a reader never parses twice. This module
 * knows no protocol: the IMAP forms of the tree (BODY, BODYSTRUCTURE,
 * ENVELOPE) are written by imapbody.h and imapenv.h from its public fields.
 *
 * Pure code: no I/O, no globals, no logging. Every input is untrusted message
 * content (parsed at import and post-auth); malformed MIME never fails a
 * parse, it falls back the way Dovecot does (documented where it happens in
 * mime.c). Work is linear in the message size: the body is scanned line by
 * line and each line is compared only against the open boundaries, whose
 * number is bounded by max_depth. Trust: any. */
#ifndef SEALMAIL_MIME_H
#define SEALMAIL_MIME_H

#include <stdbool.h>
#include <stddef.h>

#include "base/buf.h"

/* Defaults follow Dovecot's message parser (src/lib-mail/message-parser.h:
 * MESSAGE_PARSER_DEFAULT_MAX_NESTED_MIME_PARTS 100 and
 * MESSAGE_PARSER_DEFAULT_MAX_TOTAL_MIME_PARTS 10000). The header size limit
 * is Postfix's header_size_limit default (102400 bytes): header bytes past it
 * still count in the offsets, but their fields are not interpreted. */
#define MIME_DEFAULT_MAX_DEPTH         100
#define MIME_DEFAULT_MAX_PARTS         10000
#define MIME_DEFAULT_MAX_HEADER_SIZE   102400
#define MIME_DEFAULT_MAX_HEADER_FIELDS 1000
/* RFC 2046 section 5.1.1 allows 1 to 70 characters; longer boundaries seen in
 * the wild are matched on their first MIME_BOUNDARY_MAX bytes. */
#define MIME_BOUNDARY_MAX 200
/* Parameters per header field beyond this are ignored (RFC 2231 merging is
 * quadratic in the worst case, so the count is bounded). */
#define MIME_MAX_PARAMS 256

struct mime_limits {
	size_t max_header_size;     /* bytes of one part's header that are interpreted */
	unsigned max_header_fields; /* fields of one part's header that are interpreted */
	unsigned max_parts;         /* parts in the whole tree, root included */
	unsigned max_depth;         /* nesting of multiparts and message/rfc822 */
};

#define MIME_LIMITS_DEFAULT                                                                        \
	{                                                                                          \
		MIME_DEFAULT_MAX_HEADER_SIZE, MIME_DEFAULT_MAX_HEADER_FIELDS,                      \
		    MIME_DEFAULT_MAX_PARTS, MIME_DEFAULT_MAX_DEPTH                                 \
	}

enum mime_part_flags {
	MIME_PART_MULTIPART = 1 << 0, /* children are the body parts (may be none) */
	MIME_PART_MESSAGE = 1 << 1,   /* message/rfc822: exactly one child, the message */
	MIME_PART_TEXT = 1 << 2,      /* text/...: body_lines counts lines of text */
	MIME_PART_OVERFLOW = 1 << 3,  /* a limit stopped the parse inside this part */
};
#define MIME_PART_FLAGS_ALL 0x0fu

struct mime_param {
	char *name;      /* as written, without RFC 2231 "*" / "*N" suffixes once merged */
	char *value;     /* RFC 2231 values decoded to UTF-8 where the charset is known */
	char *ext_value; /* non-NULL for RFC 2231 extended values: "charset'lang'%XX...",
	                    continuations merged (Dovecot's wire form of the value) */
};

/* The header fields of a message that describe it as a whole (RFC 5322
 * section 3.6: origination date, originator, destination, identification,
 * and Subject), as the parser found them: the first occurrence of each (a
 * repeated From is a defect), raw, that is everything after the colon, still
 * folded, the final line end excluded; encoded words (RFC 2047) and comments
 * are kept. An IMAP ENVELOPE is built from exactly these (imapenv.h). */
enum mime_msg_field {
	MIME_MSG_DATE,
	MIME_MSG_SUBJECT,
	MIME_MSG_FROM,
	MIME_MSG_SENDER,
	MIME_MSG_REPLY_TO,
	MIME_MSG_TO,
	MIME_MSG_CC,
	MIME_MSG_BCC,
	MIME_MSG_IN_REPLY_TO,
	MIME_MSG_MESSAGE_ID,
	MIME_MSG_FIELD_COUNT
};

struct mime_msg_fields {
	/* val[i] NULL: field i absent; else len[i] bytes (may be 0, may hold
	 * any byte, NUL included: not a C string) */
	const unsigned char *val[MIME_MSG_FIELD_COUNT];
	size_t len[MIME_MSG_FIELD_COUNT];
};

/* One node of the tree. Offsets count bytes of the original message. For a
 * part inside a multipart, the header is its MIME header and the body ends
 * before the CRLF that precedes the next boundary (RFC 2046 section 5.1.1).
 * For the root and for the child of a message/rfc822 part, the header is the
 * RFC 5322 header of a message. All strings are NUL-terminated (a NUL byte of
 * the message becomes U+FFFD) and owned by the tree. */
struct mime_part {
	struct mime_part *parent, *next, *children;
	unsigned nchildren;
	unsigned flags;  /* enum mime_part_flags */
	size_t hdr_off;  /* start of the header */
	size_t hdr_size; /* header bytes, the empty line ending it included */
	size_t body_off; /* == hdr_off + hdr_size */
	size_t body_size;
	size_t body_lines;    /* LF characters in the body (RFC 3501 "size in text lines") */
	char *type, *subtype; /* never NULL: defaults text/plain (RFC 2045 section 5.2) or
	                         message/rfc822 in a multipart/digest (RFC 2046 5.1.5) */
	struct mime_param *params;
	unsigned nparams;
	char *id, *description, *encoding, *md5, *location; /* NULL when absent */
	char *disposition;                                  /* NULL when absent */
	struct mime_param *disp_params;
	unsigned ndisp_params;
	char **languages;
	unsigned nlanguages;
	/* The message fields of the root and of the child of every
	 * message/rfc822 part (the parts whose header is a message header);
	 * NULL for every other part. Only the interpreted part of a header
	 * counts (max_header_size, max_header_fields). */
	const struct mime_msg_fields *msg_fields;
	struct mime_arena *arena; /* root only: owns the memory of the tree */
};

/* Parse a whole message in memory into a tree; lim NULL means the defaults.
 * Returns 0 (malformed MIME is not an error) and *root_r, which the caller
 * frees with mime_free(). */
int mime_parse(const unsigned char *msg, size_t len, const struct mime_limits *lim,
               struct mime_part **root_r);
void mime_free(struct mime_part **root);

/* Incremental form of mime_parse(): feed the message in any chunks, then
 * finish. Memory held between chunks is bounded by max_header_size plus a
 * boundary line. mime_parser_finish() frees the parser, NULLs *p and returns
 * the tree (caller frees with mime_free()). */
struct mime_parser;
struct mime_parser *mime_parser_init(const struct mime_limits *lim);
void mime_parser_feed(struct mime_parser *p, const unsigned char *data, size_t len);
struct mime_part *mime_parser_finish(struct mime_parser **p);

/* Length of the message the tree describes (end of the root's body). */
size_t mime_message_size(const struct mime_part *root);

/* Map an IMAP section-part ("1", "2.1.3": nz-number *("." nz-number)) to a
 * part (RFC 3501 section 6.4.5): part 1 of a non-multipart message is its
 * body, numbers after a message/rfc822 part go into the encapsulated message.
 * BODY[n] is the body of *part_r; n.MIME is its header; for n.HEADER / n.TEXT
 * use (*part_r)->children when the part is MIME_PART_MESSAGE (for the top
 * level, the root itself). Returns 0 found, -1 malformed or no such part. */
int mime_part_find(struct mime_part *root, const char *section, struct mime_part **part_r);

/* Header fields of a header section, in order. */
struct mime_header_field {
	const unsigned char *name; /* before ':' (WSP before ':' excluded); the whole
	                              line when there is no colon */
	size_t name_len;
	const unsigned char *value; /* after ':' to the end of the field, folded, final
	                               line end excluded */
	size_t value_len;
	const unsigned char *raw; /* the whole field: continuation lines and line end */
	size_t raw_len;
	bool has_colon;
};

struct mime_header_iter {
	const unsigned char *p, *end;
	bool done;
};

/* hdr may include the empty line and anything after it; iteration stops at
 * the empty line. */
void mime_header_iter_init(struct mime_header_iter *it, const unsigned char *hdr, size_t len);
/* 1: *f holds the next field (pointers into hdr); 0: end of the header. */
int mime_header_next(struct mime_header_iter *it, struct mime_header_field *f);
/* Case-insensitive comparison of the field name (RFC 5322 section 1.2.2). */
bool mime_header_name_is(const struct mime_header_field *f, const char *name);
/* Append the unfolded value (RFC 5322 section 2.2.3: CR and LF removed),
 * without leading and trailing white space. */
void mime_header_unfold(const unsigned char *value, size_t len, struct buf *out);
/* Fill *f with the message fields of a header section (as the parser keeps
 * them in the tree, but with no limit on the header's size): the pointers
 * point into hdr, which must outlive *f. Iteration stops at the empty line. */
void mime_header_msg_fields(const unsigned char *hdr, size_t len, struct mime_msg_fields *f);

/* Cache: a compact, versioned serialisation of a parsed tree (offsets,
 * Content-* fields, message fields), so that a reader of the structure or
 * of a section needs no parse. The format is stored in users' mailboxes:
 * changing it needs a new version byte. mime_cache_decode() validates everything (offsets nested
 * and in range, counts bounded, flags consistent, no trailing bytes) and returns 0 with *root_r
 * (caller frees with mime_free()) or -1 (nothing allocated). */
#define MIME_CACHE_MAX_PARTS 100000u
#define MIME_CACHE_MAX_DEPTH 1000u
void mime_cache_encode(const struct mime_part *root, struct buf *out);
int mime_cache_decode(const unsigned char *data, size_t len, struct mime_part **root_r);

#endif
