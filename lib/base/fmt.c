/* SPDX-License-Identifier: AGPL-3.0-or-later */
#include "fmt.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

int fmt_name(char *out, size_t outsz, const char *fmt, ...)
{
	if (outsz == 0) {
		errno = EINVAL;
		return -1;
	}
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(out, outsz, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= outsz) {
		out[0] = '\0';
		errno = n < 0 ? EINVAL : ENAMETOOLONG;
		return -1;
	}
	return 0;
}

void fmt_vmsg(char *out, size_t outsz, const char *fmt, va_list ap)
{
	if (outsz == 0)
		return;
	int n = vsnprintf(out, outsz, fmt, ap);
	if (n < 0) {
		/* An encoding error: say so rather than leave a partial text. */
		int m = snprintf(out, outsz, "(unprintable message)");
		(void)m; /* a cut of this fixed text is the message's own cut */
	} else if ((size_t)n >= outsz && outsz >= 4) {
		memcpy(out + outsz - 4, "...", 4);
	}
}

void fmt_msg(char *out, size_t outsz, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fmt_vmsg(out, outsz, fmt, ap);
	va_end(ap);
}
