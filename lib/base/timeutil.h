/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* Clocks and date formats. */
#ifndef SEALMAIL_TIMEUTIL_H
#define SEALMAIL_TIMEUTIL_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

int64_t timeutil_mono_ms(void);      /* CLOCK_MONOTONIC in ms */
int64_t timeutil_now_us(void);       /* CLOCK_REALTIME in microseconds */
/* RFC 5322 section 3.3 date-time, e.g. "Mon, 23 Nov 2026 11:16:53 +0000",
 * in local time. out must hold TIMEUTIL_DATE_MAX bytes. */
#define TIMEUTIL_DATE_MAX 64
void timeutil_rfc5322(time_t t, char *out);
/* Read the time zone now, before a sandbox hides /etc/localtime. */
void timeutil_warm(void);

#endif
