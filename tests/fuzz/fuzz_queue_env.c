/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* Fuzz the queue's envelope and state parsers (lib/data/queue_format.c):
 * no crash, and whatever parses formats back to exactly the input (one
 * canonical form). The first byte picks envelope or state. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "data/queue.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	struct buf out = BUF_INIT;
	if (data[0] & 1) {
		struct queue_state s;
		size_t nrcpt = 1 + (data[0] >> 1) % 4;
		if (queue_state_parse(data + 1, size - 1, nrcpt, &s) == 1) {
			if (queue_state_format(&s, &out) != 0 || out.len != size - 1 ||
			    memcmp(out.data, data + 1, out.len) != 0)
				abort();
			queue_state_clear(&s);
		}
	} else {
		struct queue_env e;
		if (queue_env_parse(data + 1, size - 1, &e) == 1) {
			if (queue_env_format(&e, &out) != 0 || out.len != size - 1 ||
			    memcmp(out.data, data + 1, out.len) != 0)
				abort();
			struct queue_state s;
			queue_state_init(&s, &e);
			buf_reset(&out);
			if (queue_state_format(&s, &out) != 0)
				abort();
			queue_state_clear(&s);
			queue_env_clear(&e);
		}
	}
	buf_free(&out);
	return 0;
}
