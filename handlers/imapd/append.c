/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* APPEND (RFC 3501 section 6.3.11) with APPENDUID (RFC 4315 section 3),
 * APPENDLIMIT (RFC 7889) and LITERAL+ (RFC 7888). The message literal has
 * been read by the command loop (back.c), which also refuses literals over
 * max_message_size before they are sent. Trust: post-auth; the message is
 * untrusted content and is stored byte for byte as given. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "imapd.h"
#include "proto/imapsearch.h"
#include "base/mem.h"

/* Days since 1970-01-01 of a proleptic Gregorian date (the civil-from-days
 * inverse of H. Hinnant's algorithm); pure arithmetic, no time zone files. */
static int64_t append_days(int y, int m, int d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	int64_t yoe = y - era * 400;
	int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static bool append_digits(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return true;
}

static int append_num(const char *s, size_t n)
{
	int v = 0;
	for (size_t i = 0; i < n; i++)
		v = v * 10 + (s[i] - '0');
	return v;
}

/* RFC 3501 section 9: date-time = DQUOTE date-day-fixed "-" date-month "-"
 * date-year SP time SP zone DQUOTE, e.g. " 7-Feb-1994 21:52:25 -0800"
 * (date-day-fixed is SP DIGIT or 2DIGIT; a lone digit is accepted too).
 * Returns 1 and the unix time, or 0 when invalid. */
static int append_parse_datetime(const char *s, size_t n, int64_t *t_r)
{
	struct imapsearch_date d;
	if (n > 0 && s[0] == ' ') {
		s++;
		n--;
	}
	const char *sp = memchr(s, ' ', n);
	if (sp == NULL || imapsearch_parse_date(s, (size_t)(sp - s), &d) != 1)
		return 0;
	const char *t = sp + 1;
	size_t tn = n - (size_t)(t - s);
	/* "hh:mm:ss +zzzz" */
	if (tn != 14 || t[2] != ':' || t[5] != ':' || t[8] != ' ' || (t[9] != '+' && t[9] != '-') ||
	    !append_digits(t, 2) || !append_digits(t + 3, 2) || !append_digits(t + 6, 2) ||
	    !append_digits(t + 10, 4))
		return 0;
	int hh = append_num(t, 2), mm = append_num(t + 3, 2), ss = append_num(t + 6, 2);
	int zh = append_num(t + 10, 2), zm = append_num(t + 12, 2);
	/* ss 60: a leap second (RFC 5322 section 3.3 allows it). */
	if (hh > 23 || mm > 59 || ss > 60 || zm > 59)
		return 0;
	int64_t off = (int64_t)(zh * 60 + zm) * 60 * (t[9] == '-' ? -1 : 1);
	*t_r = append_days(d.year, d.month, d.day) * 86400 + hh * 3600 + mm * 60 + ss - off;
	return 1;
}

/* Keywords in a space-separated list. */
static size_t append_count_words(const char *s)
{
	size_t n = 0;
	bool in = false;
	for (; *s; s++) {
		if (*s == ' ')
			in = false;
		else if (!in) {
			in = true;
			n++;
		}
	}
	return n;
}

int imap_cmd_append(struct imap_sess *s, const struct imapparse_arg *args, size_t n)
{
	struct buf name = BUF_INIT, kw = BUF_INIT;
	struct store_folder f;
	unsigned flags = 0;
	int64_t date = (int64_t)time(NULL);
	bool have_folder = false;

	/* APPEND mailbox [flag-list] [date-time] literal */
	if (n < 2 || n > 4) {
		imap_bad(s, "Syntax: APPEND mailbox [(flags)] [date-time] literal");
		return 0;
	}
	const struct imapparse_arg *msg = &args[n - 1];
	size_t i = 1;
	if (i < n - 1 && args[i].type == IMAPPARSE_LIST) {
		if (imap_parse_flags(s, &args[i], &flags, &kw) < 0)
			goto out;
		i++;
	}
	if (i < n - 1) {
		if (args[i].type != IMAPPARSE_QUOTED ||
		    append_parse_datetime(args[i].str, args[i].len, &date) != 1) {
			imap_bad(s, "Invalid date-time.");
			goto out;
		}
		i++;
	}
	if (i != n - 1 || (msg->type != IMAPPARSE_LITERAL && msg->type != IMAPPARSE_QUOTED)) {
		imap_bad(s, "Syntax: APPEND mailbox [(flags)] [date-time] literal");
		goto out;
	}
	if (msg->flags & IMAPPARSE_ARG_LITERAL8) {
		/* RFC 3516 section 4.4: literal8 needs BINARY, not offered (the
		 * parser already refuses it; this keeps APPEND safe should the
		 * parser ever be given IMAPPARSE_F_LITERAL8). */
		imap_bad(s, "Binary literals are not supported.");
		goto out;
	}
	if (args[0].flags & IMAPPARSE_ARG_NUL) {
		imap_bad(s, "NUL in literal");
		goto out;
	}
	if ((msg->flags & IMAPPARSE_ARG_NUL) && !(msg->flags & IMAPPARSE_ARG_LITERAL8)) {
		/* RFC 3501 section 4.3: a literal carries CHAR8, never NUL. The
		 * command is well-formed and the message is refused as it is
		 * (RFC 5530 CANNOT: sent again it fails again); stored, it
		 * would come back altered in FETCH. */
		imap_no(s, "[CANNOT] The message contains NUL bytes, which an IMAP literal cannot "
		           "carry (RFC 3501 section 4.3); encode it (base64 or quoted-printable).");
		goto out;
	}
	if (imap_mailbox_arg(s, &args[0], &name) < 0)
		goto out;
	if (append_count_words(buf_cstr(&kw)) > STORE_KEYWORDS_MAX) {
		imap_no(s, "[LIMIT] Too many keywords.");
		goto out;
	}
	/* back.c refuses larger literals before they are sent; this covers a
	 * quoted string and keeps the rule in one obvious place. */
	if (msg->len > s->conf->max_message_size) {
		imap_no(s, "[TOOBIG] Message too large (APPENDLIMIT %llu).",
		        (unsigned long long)s->conf->max_message_size);
		goto out;
	}
	if (msg->len == 0) {
		imap_no(s, "Cannot append an empty message.");
		goto out;
	}
	int r = store_folder_get(s->st, buf_cstr(&name), &f);
	if (r <= 0) {
		if (r == 0)
			/* RFC 3501 section 6.3.11: the client may CREATE and retry. */
			imap_no(s, "[TRYCREATE] Mailbox doesn't exist.");
		else
			imap_no(s, "[SERVERBUG] Internal error.");
		goto out;
	}
	have_folder = true;
	uint32_t uid;
	uint64_t modseq;
	/* The store commits with synchronous=FULL: the message is on disk
	 * before the OK below. Bare LF and other oddities are kept as sent. */
	if (store_append(s->st, f.id, msg->str, msg->len, date, flags, buf_cstr(&kw), &uid,
	                 &modseq) < 0) {
		/* RFC 5530 section 3: a limit of the store is LIMIT. */
		if (store_error_is_limit(s->st))
			imap_no(s, "[LIMIT] Append failed: %s.", store_error(s->st));
		else
			imap_no(s, "[SERVERBUG] Append failed.");
		goto out;
	}
	imap_publish_change(s, modseq);
	/* Into the selected mailbox: EXISTS (and \Recent for this session,
	 * by the recent mark of select.c) before the tagged reply. */
	if (s->sel != NULL && s->sel->folder_id == f.id)
		imap_sync(s, true);
	imap_ok(s, "[APPENDUID %u %u] Append completed.", f.uidvalidity, uid);
out:
	if (have_folder)
		store_folder_clear(&f);
	buf_free(&name);
	buf_free(&kw);
	return 0;
}
