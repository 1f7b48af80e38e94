/* SPDX-License-Identifier: AGPL-3.0-or-later */
#include "timeutil.h"

#include <stdio.h>
#include <stdlib.h>

int64_t timeutil_mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t timeutil_now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

void timeutil_rfc5322(time_t t, char *out)
{
	static const char days[7][4] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
	static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
					   "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
	struct tm tm;
	localtime_r(&t, &tm);
	long off = tm.tm_gmtoff / 60;
	char sign = off < 0 ? '-' : '+';
	if (off < 0)
		off = -off;
	/* Built by hand: strftime's %a/%b follow the locale. At most 5 + 2 + 1
	 * + 4 + 11 (any int year) + 10 + 5 = 38 bytes: TIMEUTIL_DATE_MAX (64)
	 * always holds it (tm_gmtoff is within a day, 4 digits). */
	snprintf(out, TIMEUTIL_DATE_MAX, "%s, %d %s %04d %02d:%02d:%02d %c%02ld%02ld",
		 days[tm.tm_wday % 7], tm.tm_mday, months[tm.tm_mon % 12], tm.tm_year + 1900,
		 tm.tm_hour, tm.tm_min, tm.tm_sec, sign, off / 60, off % 60);
}

void timeutil_warm(void)
{
	tzset();
	time_t t = time(NULL);
	struct tm tm;
	localtime_r(&t, &tm);
}
