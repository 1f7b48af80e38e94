/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* Fuzz target: the POP3 command parser fed as a session feeds it. The input
 * is split at LF into lines (a trailing CR dropped, as the reader does);
 * each line goes to the command parser in a buffer of exactly its length,
 * then to the SASL response parser and the number parser, with the default
 * limits and with tiny ones. Whatever comes back must describe the line:
 * arguments inside it, counts within bounds, an error only with -1. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/pop3parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_line(const char *line, size_t len, const struct pop3parse_limits *lim)
{
	struct pop3_command c;
	int r = pop3parse_command(line, len, lim, &c);
	if (r < -1 || r > 1 || c.argc > POP3_ARGS_MAX)
		abort();
	if ((r == -1) != (c.error != POP3PARSE_OK))
		abort();
	if (r == 0 && c.cmd != POP3_CMD_UNKNOWN)
		abort();
	if (r == 1 && (c.cmd == POP3_CMD_UNKNOWN || strcmp(c.name, pop3parse_name(c.cmd)) != 0))
		abort();
	for (unsigned i = 0; i < c.argc; i++)
		if (c.argv[i].p < line || c.argv[i].p + c.argv[i].len > line + len)
			abort();
	if (r == 1 && len > lim->secret_line_max)
		abort();
	enum pop3parse_error e;
	r = pop3parse_sasl_response(line, len, lim, &e);
	if ((r == -1) != (e != POP3PARSE_OK))
		abort();
	uint64_t v;
	if (pop3parse_number(line, len, UINT64_MAX, &v) == 1 && (len == 0 || len > 20))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct pop3parse_limits lim = POP3PARSE_LIMITS_INIT(320);
	static const struct pop3parse_limits tiny = {8, 16, 4, 3};
	size_t pos = 0;
	while (pos < size) {
		const uint8_t *nl = memchr(data + pos, '\n', size - pos);
		size_t end = nl ? (size_t)(nl - data) : size;
		size_t len = end - pos;
		if (len > 0 && data[end - 1] == '\r')
			len--;
		/* An exact copy: a read past len is out of bounds. */
		char *line = malloc(len ? len : 1);
		if (line == NULL)
			return 0;
		memcpy(line, data + pos, len);
		fuzz_line(line, len, &lim);
		fuzz_line(line, len, &tiny);
		free(line);
		pos = end + 1;
	}
	return 0;
}
