/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* Bounded formatting whose truncation is never silent. Two kinds of text:
 * names (paths, keys, anything that is used to find something), where a cut
 * is an error, since a cut path names another file; and messages (errors,
 * log text), where a cut is harmless but must show. Trust: any. */
#ifndef SEALMAIL_FMT_H
#define SEALMAIL_FMT_H

#include <stdarg.h>
#include <stddef.h>

/* Format a name into out[outsz]. 0 when all of it fit; -1 when it did not
 * or on an encoding error, with out then "" (never a usable prefix) and
 * errno ENAMETOOLONG (or EINVAL for outsz 0 / an encoding error). */
int fmt_name(char *out, size_t outsz, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Format a message into out[outsz] (outsz > 0). A message that does not fit
 * is cut and ends in "..." (when outsz >= 4). Never fails. */
void fmt_msg(char *out, size_t outsz, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void fmt_vmsg(char *out, size_t outsz, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

#endif
