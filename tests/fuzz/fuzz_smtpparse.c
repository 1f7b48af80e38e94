/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* Fuzz the SMTP command, path and parameter parsers and the DATA decoder. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "proto/smtpparse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *line = malloc(size + 1);
	if (line == NULL)
		return 0;
	memcpy(line, data, size);
	line[size] = '\0';
	struct smtp_command c;
	smtpparse_command(line, strlen(line), &c);
	struct smtp_path p;
	struct smtp_mail_params mp;
	struct smtp_rcpt_params rp;
	const char *r;
	uint64_t n;
	bool last;
	smtpparse_mail(c.arg, &p, &mp, &r);
	smtpparse_rcpt(c.arg, &p, &rp, &r);
	smtpparse_bdat(c.arg, &n, &last, &r);
	smtpparse_helo_ok(c.arg);
	struct smtp_data d;
	struct buf out = BUF_INIT;
	smtp_data_init(&d, 4096);
	size_t used = 0;
	/* Split the input in two feeds at a data-derived point. */
	size_t cut = size ? data[0] % (size + 1) : 0;
	used += smtp_data_feed(&d, data, cut, &out);
	if (!d.done)
		used += smtp_data_feed(&d, data + used, size - used, &out);
	if (used > size || out.len > 4096)
		abort();
	smtp_data_clean(out.data ? out.data : (const unsigned char *)"", out.len);
	buf_free(&out);
	free(line);
	return 0;
}
