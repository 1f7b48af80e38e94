/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* Fuzz what a milter sends back: packet framing, option negotiation, every
 * SMFIR_* reply (reply codes included), and applying the modifications to a
 * message. Input: a 2-byte big-endian length L, L bytes of message, then a
 * stream of milter packets. Invariants checked: an unedited message renders
 * back byte for byte; an edited one keeps every header line CRLF-terminated
 * when the original did, and never gets an empty line inside its header from
 * a milter's value. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "svc/milter.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2)
		return 0;
	size_t ml = (size_t)data[0] << 8 | data[1];
	if (ml > size - 2)
		ml = size - 2;
	const unsigned char *msg = data + 2, *p = data + 2 + ml;
	size_t left = size - 2 - ml;

	struct milter_msg m;
	struct buf out = BUF_INIT;
	milter_msg_init(&m, msg, ml);
	milter_msg_render(&m, &out);
	if (out.len != ml || (ml > 0 && memcmp(out.data, msg, ml) != 0))
		abort();

	for (;;) {
		struct milter_frame f;
		size_t used;
		if (milter_frame_parse(p, left, MILTER_FRAME_MAX, &f, &used) != 1)
			break;
		struct milter_optneg o;
		if (milter_optneg_parse(&f, &o) == 1)
			milter_optneg_clear(&o);
		struct milter_reply r;
		if (milter_reply_parse(&f, &r) == 1) {
			bool lead = (r.index & 1) != 0;
			switch (r.cmd) {
			case MILTER_R_ADDHEADER:
				milter_msg_add(&m, r.name, r.value, lead);
				break;
			case MILTER_R_INSHEADER:
				milter_msg_insert(&m, r.index, r.name, r.value, lead);
				break;
			case MILTER_R_CHGHEADER:
				milter_msg_change(&m, r.index, r.name, r.value, lead);
				break;
			case MILTER_R_REPLBODY:
				milter_msg_set_body(&m, r.body, r.body_len);
				break;
			case MILTER_R_REPLYCODE:
				if (strlen(r.text) < 9 || (r.text[0] != '4' && r.text[0] != '5'))
					abort();
				break;
			default:
				break;
			}
		}
		p += used;
		left -= used;
	}
	/* Fields added by a milter: every line ends in CRLF and none is empty,
	 * so no value can end the header early. */
	for (size_t i = 0; i < m.nf; i++) {
		const struct milter_field *fl = &m.f[i];
		if (fl->own == NULL)
			continue;
		if (fl->len < 2 || fl->raw[fl->len - 1] != '\n' || fl->raw[fl->len - 2] != '\r')
			abort();
		for (size_t j = 0; j + 1 < fl->len; j++)
			if (fl->raw[j] == '\n' && (fl->raw[j + 1] == '\r' || fl->raw[j + 1] == '\n'))
				abort();
	}
	buf_reset(&out);
	milter_msg_render(&m, &out);
	buf_free(&out);
	milter_msg_clear(&m);
	return 0;
}
