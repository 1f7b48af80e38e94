/* SPDX-License-Identifier: AGPL-3.0-or-later */
#include "title.h"

#include <bsd/unistd.h>
#include <stdarg.h>
#include <stdio.h>
#include <unistd.h>

extern char **environ;

static const char *title_prog;

void title_init(int argc, char **argv, const char *prog)
{
	/* libbsd keeps argv and environ pointers; both outlive main(). */
	setproctitle_init(argc, argv, environ);
	title_prog = prog;
}

void title_set(const char *fmt, ...)
{
	char text[TITLE_MAX + 1];
	va_list ap;
	if (title_prog == NULL)
		return;
	va_start(ap, fmt);
	int n = vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	/* A longer title is cut: ps shows a prefix, which is what it is for. */
	for (char *p = text; *p != '\0'; p++)
		if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e)
			*p = '?';
	/* The leading '-' keeps libbsd from adding its own program name. */
	setproctitle("-%s: %s", title_prog, text);
}
