/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* Shared internals of the mime_* modules (mime.c, mime_header.c,
 * mime_cache.c). Not for other callers.
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

/* The message fields (enum mime_msg_field) are MIME_H_DATE ..
 * MIME_H_MESSAGE_ID, in the same order. */
#define MIME_MSG_FIRST MIME_H_DATE
_Static_assert(MIME_H_COUNT - MIME_H_DATE == MIME_MSG_FIELD_COUNT &&
                   MIME_H_SUBJECT - MIME_H_DATE == MIME_MSG_SUBJECT &&
                   MIME_H_MESSAGE_ID - MIME_H_DATE == MIME_MSG_MESSAGE_ID,
               "message fields follow the header table");
/* Copy the message fields of collected values into the arena. */
const struct mime_msg_fields *mime_msg_fields_new(struct mime_arena *a,
                                                  const struct mime_hdr_values *v);

#endif
