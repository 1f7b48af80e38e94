/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* Shared internals of the mime_* modules (mime.c, mime_envelope.c,
 * mime_header.c, mime_imap.c, mime_cache.c). Not for other callers.
 * Trust: any. */
#ifndef SEALMAIL_MIME_INTERNAL_H
#define SEALMAIL_MIME_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

#include "base/buf.h"
#include "mime.h"

/* Bump allocator owning every node and string of one tree. */
struct mime_arena;
struct mime_arena *mime_arena_new(void);
void mime_arena_free(struct mime_arena **a);
void *mime_arena_alloc(struct mime_arena *a, size_t n); /* zeroed */
/* Copy n bytes as a C string; NUL bytes become U+FFFD so that the string
 * is never cut short. */
char *mime_arena_strndup(struct mime_arena *a, const void *s, size_t n);

/* Header fields that the tree and the envelope use. */
enum mime_hdr_id {
	MIME_H_CONTENT_TYPE,
	MIME_H_CONTENT_TRANSFER_ENCODING,
	MIME_H_CONTENT_ID,
	MIME_H_CONTENT_DESCRIPTION,
	MIME_H_CONTENT_DISPOSITION,
	MIME_H_CONTENT_LANGUAGE,
	MIME_H_CONTENT_LOCATION,
	MIME_H_CONTENT_MD5,
	MIME_H_DATE,
	MIME_H_SUBJECT,
	MIME_H_FROM,
	MIME_H_SENDER,
	MIME_H_REPLY_TO,
	MIME_H_TO,
	MIME_H_CC,
	MIME_H_BCC,
	MIME_H_IN_REPLY_TO,
	MIME_H_MESSAGE_ID,
	MIME_H_COUNT
};

/* The first occurrence of each field wins (a repeated Content-Type or From
 * is a defect; Dovecot also keeps the first Content-* field). Values are raw:
 * everything after the colon, folded, the final line end excluded. */
struct mime_hdr_values {
	bool seen[MIME_H_COUNT];
	struct buf val[MIME_H_COUNT];
};

int mime_hdr_lookup(const unsigned char *name, size_t len); /* enum mime_hdr_id or -1 */
void mime_hdr_values_reset(struct mime_hdr_values *v);
void mime_hdr_values_free(struct mime_hdr_values *v);
/* Record one field (name, raw value) if it is of interest and not seen yet. */
void mime_hdr_values_add(struct mime_hdr_values *v, const unsigned char *name, size_t name_len,
                         const unsigned char *value, size_t value_len);

/* Split one raw field (its continuation lines and line end included) into
 * name and value as mime_header_next() does. */
void mime_header_split(const unsigned char *raw, size_t len, struct mime_header_field *f);

/* The raw envelope fields of a message header (MIME_H_DATE ..
 * MIME_H_MESSAGE_ID), kept in the tree so the cache can carry them and the
 * envelope string is always rebuilt, never trusted from storage. */
#define MIME_ENV_FIRST MIME_H_DATE
#define MIME_ENV_COUNT (MIME_H_COUNT - MIME_H_DATE)
struct mime_env_src {
	unsigned char *val[MIME_ENV_COUNT]; /* NULL: field absent */
	size_t len[MIME_ENV_COUNT];
};
struct mime_env_src *mime_env_src_new(struct mime_arena *a, const struct mime_hdr_values *v);
/* Build part->envelope from part->env_src. */
void mime_env_src_build(struct mime_arena *a, struct mime_part *part);

/* ENVELOPE "(...)" from collected values (RFC 3501 section 7.4.2). */
void mime_envelope_from_values(const struct mime_hdr_values *v, struct buf *out);

/* IMAP string writers (mime_imap.c). */
void mime_imap_nstring(const char *s, struct buf *out); /* NULL: NIL */
/* Unfolded text for people (Dovecot's "for humans" form): CR/LF removed, runs
 * of white space collapsed to one space, ends trimmed. */
void mime_imap_string_human(const unsigned char *s, size_t len, struct buf *out);
/* CR and LF removed, otherwise as is. */
void mime_imap_string_nolf(const unsigned char *s, size_t len, struct buf *out);

#endif
