/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* What the MIME tests share: where the message corpus (tests/data/mime) is,
 * reading its files, the escapes of its .expected values, and comparing
 * bytes with a readable failure. Included by one test program each (static
 * functions), after cmocka. */
#ifndef SEALMAIL_TEST_MIME_CORPUS_H
#define SEALMAIL_TEST_MIME_CORPUS_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"

/* Corpus location: below the source tree the Makefile names, so that the
 * test passes from any working directory; MIME_TESTDATA overrides. */
#ifndef SEALMAIL_SRCDIR
#error "build with -DSEALMAIL_SRCDIR (the Makefile passes the source directory)"
#endif
static const char *data_dir(void)
{
	const char *d = getenv("MIME_TESTDATA");
	return d != NULL ? d : SEALMAIL_SRCDIR "/tests/data/mime";
}

static unsigned char *read_file(const char *path, size_t *len_r)
{
	FILE *f = fopen(path, "rb");
	if (f == NULL)
		return NULL;
	struct buf b = BUF_INIT;
	unsigned char tmp[65536];
	size_t n;
	while ((n = fread(tmp, 1, sizeof(tmp), f)) > 0)
		buf_append(&b, tmp, n);
	fclose(f);
	return buf_steal(&b, len_r);
}

/* .expected values: \\ \r \n escapes, other bytes as is */
static void unescape(const char *s, size_t n, struct buf *out)
{
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '\\' && i + 1 < n) {
			i++;
			buf_append_byte(out, s[i] == 'r'   ? '\r'
			                     : s[i] == 'n' ? '\n'
			                                   : (unsigned char)s[i]);
		} else
			buf_append_byte(out, (unsigned char)s[i]);
	}
}

static void assert_bytes_equal(const char *what, const char *file, const void *got, size_t gl,
                               const void *want, size_t wl)
{
	/* an empty buffer may have no storage: memcmp wants pointers */
	if (gl != wl || (gl > 0 && memcmp(got, want, gl) != 0)) {
		print_error("%s: %s differs\n got: %.*s\nwant: %.*s\n", file, what, (int)gl,
		            (const char *)got, (int)wl, (const char *)want);
		fail();
	}
}

#endif
