/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* Fuzz the MIME parser (whole and in chunks), the IMAP BODY/BODYSTRUCTURE
 * and ENVELOPE writers on its trees (imapbody.c, imapenv.c), section
 * lookup, header iteration, RFC 2047 decoding, and the cache: encode/decode
 * must round-trip, and decoding arbitrary bytes must never crash. Any
 * inconsistency aborts. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "proto/imapbody.h"
#include "proto/imapenv.h"
#include "proto/mime.h"
#include "proto/rfc2047.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_offsets(const struct mime_part *p, size_t lo, size_t hi, unsigned *n)
{
	if (p->hdr_off < lo || p->body_off != p->hdr_off + p->hdr_size ||
	    p->body_off + p->body_size > hi || p->body_lines > p->body_size)
		abort();
	if ((p->flags & MIME_PART_MESSAGE) != 0 &&
	    (p->nchildren != 1 || p->children->hdr_off != p->body_off))
		abort();
	size_t next = p->body_off;
	unsigned c = 0;
	for (const struct mime_part *ch = p->children; ch != NULL; ch = ch->next) {
		check_offsets(ch, next, p->body_off + p->body_size, n);
		next = ch->body_off + ch->body_size;
		c++;
	}
	if (c != p->nchildren)
		abort();
	(*n)++;
}

static void serialise(const struct mime_part *root, const uint8_t *msg, struct buf *out)
{
	imapbody_bodystructure(root, false, out);
	imapbody_bodystructure(root, true, out);
	if (msg != NULL)
		imapenv_envelope_header(msg + root->hdr_off, root->hdr_size, out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mime_limits lim = MIME_LIMITS_DEFAULT;
	if (size > 0 && (data[0] & 1) != 0) {
		/* small limits, so that they are reached */
		lim.max_parts = 1 + data[0] % 16;
		lim.max_depth = data[0] % 5;
		lim.max_header_size = 64 + data[0];
		lim.max_header_fields = 1 + data[0] % 8;
	}
	struct mime_part *root;
	if (mime_parse(data, size, &lim, &root) != 0 || mime_message_size(root) != size)
		abort();
	unsigned nparts = 0;
	check_offsets(root, 0, size, &nparts);
	if (nparts > lim.max_parts)
		abort();

	/* incremental parse in three data-derived chunks: same tree */
	struct buf a = BUF_INIT, b = BUF_INIT;
	mime_cache_encode(root, &a);
	size_t c1 = size > 1 ? data[1] % (size + 1) : 0;
	size_t c2 = size > 2 ? c1 + data[2] % (size - c1 + 1) : c1;
	struct mime_parser *ps = mime_parser_init(&lim);
	mime_parser_feed(ps, data, c1);
	mime_parser_feed(ps, data + c1, c2 - c1);
	mime_parser_feed(ps, data + c2, size - c2);
	struct mime_part *r2 = mime_parser_finish(&ps);
	mime_cache_encode(r2, &b);
	if (a.len != b.len || memcmp(a.data, b.data, a.len) != 0)
		abort();
	mime_free(&r2);

	/* cache round trip */
	if (mime_cache_decode(a.data, a.len, &r2) != 0)
		abort();
	buf_reset(&b);
	mime_cache_encode(r2, &b);
	if (a.len != b.len || memcmp(a.data, b.data, a.len) != 0)
		abort();
	struct buf s1 = BUF_INIT, s2 = BUF_INIT;
	serialise(root, data, &s1);
	serialise(r2, NULL, &s2);
	if (s2.len == 0 || memcmp(s1.data, s2.data, s2.len) != 0)
		abort();
	if (root->msg_fields == NULL || r2->msg_fields == NULL)
		abort();
	buf_reset(&s1);
	buf_reset(&s2);
	imapenv_envelope(root->msg_fields, &s1);
	imapenv_envelope(r2->msg_fields, &s2);
	if (s1.len != s2.len || memcmp(s1.data, s2.data, s1.len) != 0)
		abort();
	mime_free(&r2);

	/* sections */
	static const char *const sections[] = {"1", "2", "1.1", "1.2", "2.1", "1.1.1", "3.2.1"};
	for (size_t i = 0; i < sizeof(sections) / sizeof(sections[0]); i++) {
		struct mime_part *p;
		if (mime_part_find(root, sections[i], &p) == 0 && p->body_off + p->body_size > size)
			abort();
	}

	/* header fields of the root */
	struct mime_header_iter it;
	struct mime_header_field f;
	size_t total = 0;
	mime_header_iter_init(&it, data, root->hdr_size);
	while (mime_header_next(&it, &f) == 1) {
		total += f.raw_len;
		buf_reset(&b);
		mime_header_unfold(f.value, f.value_len, &b);
		rfc2047_decode((const char *)f.value, f.value_len, &b);
	}
	if (total > root->hdr_size)
		abort();

	/* arbitrary bytes as a cache, and as header text */
	if (mime_cache_decode(data, size, &r2) == 0) {
		buf_reset(&s2);
		serialise(r2, NULL, &s2);
		imapenv_envelope(r2->msg_fields, &s2);
		mime_free(&r2);
	}
	buf_reset(&b);
	rfc2047_decode((const char *)data, size, &b);
	if (!rfc2047_utf8_valid(b.data, b.len))
		abort();

	buf_free(&a);
	buf_free(&b);
	buf_free(&s1);
	buf_free(&s2);
	mime_free(&root);
	return 0;
}
