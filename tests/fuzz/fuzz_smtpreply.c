/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* Fuzz the SMTP client's reply parser (lib/svc/smtpclient.c): the input is
 * split into lines at LF (a CR before it dropped) and fed as one server's
 * replies; each EHLO keyword parse runs on every line's text too. No crash,
 * no read past a line, kept text always printable and bounded. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "svc/smtpclient.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct smtpc_reply r;
	memset(&r, 0, sizeof(r));
	size_t start = 0;
	while (start < size) {
		const uint8_t *nl = memchr(data + start, '\n', size - start);
		size_t end = nl != NULL ? (size_t)(nl - data) : size;
		size_t len = end - start;
		if (len > 0 && data[start + len - 1] == '\r')
			len--;
		char *line = malloc(len + 1);
		if (line == NULL)
			return 0;
		memcpy(line, data + start, len);
		line[len] = '\0';
		int rc = smtpc_reply_feed(&r, line, len);
		if (rc != 0) {
			if (rc == 1 && (r.code < 200 || r.code > 599))
				abort();
			if (strlen(r.text) > SMTPC_TEXT_MAX || strlen(r.enh) >= sizeof(r.enh))
				abort();
			for (const char *t = r.text; *t; t++)
				if (*t < 0x20 || *t > 0x7e)
					abort();
			memset(&r, 0, sizeof(r));
		}
		if (len > 4 && memchr(line, '\0', len) == NULL) {
			uint64_t sz = 0;
			(void)smtpc_ehlo_keyword(line + 4, &sz);
		}
		free(line);
		start = end + 1;
	}
	return 0;
}
