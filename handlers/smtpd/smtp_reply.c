/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* Every reply the SMTP engine writes, in one place (as qmail keeps them):
 * the basic code of RFC 5321 section 4.2, then the enhanced status code of
 * RFC 3463 (announced by ENHANCEDSTATUSCODES, RFC 2034). Texts are part of
 * the interface: clients and tests compare them, so they change only on
 * purpose. Trust: pre-auth; what a client sent appears here only as a
 * recipient address (LMTP) that the parser has checked. */
#include "smtp_int.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "sys/log.h"

static const char *const smtp_reply_texts[SMTP_R_COUNT] = {
    [SMTP_R_NONE] = "451 4.3.0 Error: internal",
    /* 2yz: done. */
    [SMTP_R_OK] = "250 2.0.0 Ok",
    [SMTP_R_MAIL_OK] = "250 2.1.0 Ok",
    [SMTP_R_RCPT_OK] = "250 2.1.5 Ok",
    [SMTP_R_TLS_GO] = "220 2.0.0 Ready to start TLS", /* RFC 3207 section 4 */
    /* RFC 5321 section 3.5.3: 252 when we do not verify. */
    [SMTP_R_VRFY] = "252 2.5.0 Cannot VRFY user, but will accept message and attempt delivery",
    [SMTP_R_HELP] = "214 2.0.0 See https://www.rfc-editor.org/rfc/rfc5321",
    /* An HTTP request on the SMTP port (as Postfix answers it). */
    [SMTP_R_HTTP_BYE] = "221 2.7.0 Error: I can break rules, too. Goodbye.",
    /* 3yz: go on (RFC 5321 section 4.1.1.4). */
    [SMTP_R_DATA_GO] = "354 End data with <CR><LF>.<CR><LF>",
    /* 421: the session ends (RFC 5321 section 3.8). */
    [SMTP_R_BDAT_UNREADABLE] = "421 4.5.0 Closing connection: unreadable BDAT",
    [SMTP_R_CLOSING] = "421 4.5.0 Closing connection",
    [SMTP_R_TOO_MANY_ERRORS] = "421 4.7.0 Error: too many errors",
    [SMTP_R_CONFIG] = "421 4.3.5 Error: server configuration",
    /* 4yz: try again. 4.5.3: send the rest in another transaction (RFC
     * 5321 section 4.5.3.1.10). */
    [SMTP_R_TOO_MANY_RCPTS] = "452 4.5.3 Error: too many recipients",
    [SMTP_R_DELIVERY_FAILED] = "451 4.3.0 Error: local delivery failed, try again later",
    /* 500-504: syntax and sequence (RFC 5321 section 4.2.4). */
    [SMTP_R_LINE_TOO_LONG] = "500 5.5.2 Error: line too long",
    [SMTP_R_BARE_CRLF_CMD] = "500 5.5.2 Error: bare CR or LF in command",
    [SMTP_R_NUL_IN_CMD] = "500 5.5.2 Error: NUL byte in command",
    [SMTP_R_UNKNOWN_CMD] = "500 5.5.2 Error: command not recognized",
    /* RFC 2033 section 4.1: LMTP has LHLO only, and SMTP has no LHLO. */
    [SMTP_R_LHLO_ONLY] = "500 5.5.1 Use LHLO in LMTP",
    [SMTP_R_NO_LHLO] = "500 5.5.1 Unknown command",
    [SMTP_R_HELO_SYNTAX] = "501 5.5.4 Syntax: EHLO domain or address literal",
    [SMTP_R_DATA_SYNTAX] = "501 5.5.4 Syntax: DATA takes no argument",
    [SMTP_R_STARTTLS_SYNTAX] = "501 5.5.4 Syntax: STARTTLS",
    [SMTP_R_EXPN] = "502 5.5.1 Error: EXPN disabled",
    [SMTP_R_NO_STARTTLS] = "502 5.5.1 Error: STARTTLS unavailable (no certificate configured)",
    [SMTP_R_HELO_FIRST] = "503 5.5.1 Error: send HELO/EHLO first",
    [SMTP_R_EHLO_FIRST] = "503 5.5.1 Error: send EHLO first",
    [SMTP_R_NESTED_MAIL] = "503 5.5.1 Error: nested MAIL command",
    [SMTP_R_NEED_MAIL] = "503 5.5.1 Error: need MAIL command",
    [SMTP_R_NEED_RCPT] = "503 5.5.1 Error: need RCPT command",
    /* RFC 3030 section 2: only BDAT, RSET, NOOP, QUIT inside a sequence. */
    [SMTP_R_BDAT_SEQUENCE] = "503 5.5.1 Error: BDAT sequence in progress",
    [SMTP_R_TLS_ACTIVE] = "503 5.5.1 Error: TLS already active",
    [SMTP_R_NO_AUTH] = "503 5.5.1 Error: authentication not enabled",
    /* RFC 4954 section 4: no AUTH after a successful one. */
    [SMTP_R_AUTH_AGAIN] = "503 5.5.1 Error: already authenticated",
    /* 55x: refused. */
    [SMTP_R_SIZE_LIMIT] = "552 5.3.4 Message size exceeds fixed limit", /* RFC 1870 */
    [SMTP_R_CHUNK_LIMIT] = "552 5.3.4 Chunk exceeds the message size limit",
    [SMTP_R_UTF8_ADDR] = "553 5.6.7 Non-ASCII address requires SMTPUTF8 (RFC 6531)",
    [SMTP_R_NO_VALID_RCPT] = "554 5.5.1 Error: no valid recipients",
    [SMTP_R_MAIL_PARAMS] = "555 5.5.4 MAIL parameters need EHLO",
    /* A bare CR or LF is never normalised: it is how SMTP smuggling hides
     * a second message. */
    [SMTP_R_BARE_CRLF_MSG] = "554 5.6.0 Message contains bare CR or LF (RFC 5321 section 2.3.8)",
    /* Only BINARYMIME content may hold NUL (RFC 3030 section 3), and it is
     * not offered: see smtp_data_has_nul. */
    [SMTP_R_NUL_IN_MSG] = "554 5.6.0 Message contains a NUL byte (RFC 5322 section 3.5)",
};

const char *smtp_reply_text(enum smtp_reply_id id)
{
	if ((unsigned)id >= SMTP_R_COUNT || smtp_reply_texts[id] == NULL)
		return smtp_reply_texts[SMTP_R_NONE];
	return smtp_reply_texts[id];
}

void smtp_reply_line(struct smtp_sess *s, const char *line)
{
	io_puts(&s->io, line);
	io_puts(&s->io, "\r\n");
}

void smtp_reply(struct smtp_sess *s, enum smtp_reply_id id)
{
	smtp_reply_line(s, smtp_reply_text(id));
}

static void smtp_reply_f(struct smtp_sess *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void smtp_reply_f(struct smtp_sess *s, const char *fmt, ...)
{
	/* Into the output buffer, which grows: nothing is cut. */
	va_list ap;
	va_start(ap, fmt);
	buf_vprintf(&s->io.out, fmt, ap);
	va_end(ap);
	io_puts(&s->io, "\r\n");
}

void smtp_reply_reject_line(struct smtp_sess *s, const char *line, const char *stage)
{
	char code[4] = {0};
	memcpy(code, line, 3);
	smtp_reply_line(s, line);
	log_event(LOG_NOTICE, "reject", "STAGE", stage, "REASON", line + 4, "CODE", code, NULL);
}

void smtp_reply_reject(struct smtp_sess *s, enum smtp_reply_id id, const char *stage)
{
	smtp_reply_reject_line(s, smtp_reply_text(id), stage);
}

void smtp_reply_refuse_message(struct smtp_sess *s, enum smtp_reply_id id, const char *stage)
{
	const char *line = smtp_reply_text(id);
	if (!smtp_session_lmtp(s) || s->nrcpts == 0) {
		smtp_reply_reject_line(s, line, stage);
		return;
	}
	/* RFC 2033 section 4.2: the client waits for one reply per accepted
	 * RCPT; a single one would leave it waiting for the others. */
	for (size_t g = 0; g < s->nrcpts; g++)
		smtp_reply_lmtp_fail(s, s->rcpts[g].addr, line);
	char code[4] = {0};
	memcpy(code, line, 3);
	log_event(LOG_NOTICE, "reject", "STAGE", stage, "REASON", line + 4, "CODE", code, NULL);
}

void smtp_reply_error_line(struct smtp_sess *s, const char *line, const char *stage)
{
	s->errors++;
	smtp_reply_reject_line(s, line, stage);
}

void smtp_reply_error(struct smtp_sess *s, enum smtp_reply_id id, const char *stage)
{
	smtp_reply_error_line(s, smtp_reply_text(id), stage);
}

void smtp_reply_greeting(struct smtp_sess *s)
{
	/* RFC 5321 section 4.3.1; RFC 2033 section 4.1 names LMTP here. */
	smtp_reply_f(s, "220 %s %s sealmail", s->srv->conf->hostname,
	             smtp_session_lmtp(s) ? "LMTP" : "ESMTP");
}

void smtp_reply_helo(struct smtp_sess *s)
{
	const char *host = s->srv->conf->hostname;
	if (!s->esmtp) {
		smtp_reply_f(s, "250 %s", host);
		return;
	}
	/* RFC 5321 section 4.1.1.1: the extensions, one per line. */
	smtp_reply_f(s, "250-%s", host);
	smtp_reply_line(s, "250-PIPELINING");
	smtp_reply_f(s, "250-SIZE %" PRIu64, s->srv->conf->max_message_size);
	if (s->srv->tls != NULL && !io_is_tls(&s->io))
		smtp_reply_line(s, "250-STARTTLS");
	smtp_reply_line(s, "250-ENHANCEDSTATUSCODES");
	smtp_reply_line(s, "250-8BITMIME");
	smtp_reply_line(s, "250-DSN");
	smtp_reply_line(s, "250-CHUNKING");
	smtp_reply_line(s, "250 SMTPUTF8");
}

void smtp_reply_quit(struct smtp_sess *s)
{
	smtp_reply_f(s, "221 2.0.0 %s closing connection", s->srv->conf->hostname);
}

void smtp_reply_timeout(struct smtp_sess *s)
{
	smtp_reply_f(s, "421 4.4.2 %s Error: timeout exceeded", s->srv->conf->hostname);
}

void smtp_reply_limit(struct smtp_sess *s, enum io_limit which)
{
	/* 4.4.2 "bad connection" for every time limit, as Postfix's timeout
	 * reply; the text names the limit that passed. */
	const char *what;
	switch (which) {
	case IO_LIMIT_LINE:
		what = "command not completed in time";
		break;
	case IO_LIMIT_TRANSFER:
		what = "message data arriving too slowly";
		break;
	case IO_LIMIT_TOTAL:
		what = "session time limit exceeded";
		break;
	default:
		smtp_reply_timeout(s);
		return;
	}
	smtp_reply_f(s, "421 4.4.2 %s Error: %s", s->srv->conf->hostname, what);
}

void smtp_reply_junk(struct smtp_sess *s)
{
	smtp_reply_f(s, "421 4.7.0 %s Error: too many junk commands", s->srv->conf->hostname);
}

const char *smtp_reply_busy(const struct conf *c, char *buf, size_t n)
{
	/* A host name too long for buf would cut the line: the reply then goes
	 * without it (the code is what clients act on). */
	int r = snprintf(buf, n, "421 4.7.0 %s Error: too many connections from your address\r\n",
	                 c->hostname);
	if (r < 0 || (size_t)r >= n)
		(void)snprintf(buf, n, "%s", "421 4.7.0 Error: too many connections\r\n");
	return buf;
}

void smtp_reply_queued(struct smtp_sess *s)
{
	smtp_reply_f(s, "250 2.0.0 Ok: queued as %s", s->queue_id);
}

void smtp_reply_chunk(struct smtp_sess *s, uint64_t size)
{
	smtp_reply_f(s, "250 2.0.0 %" PRIu64 " octets received", size);
}

void smtp_reply_lmtp_ok(struct smtp_sess *s, const char *rcpt, bool saved)
{
	smtp_reply_f(s, "250 2.0.0 <%s> %s %s", rcpt, s->queue_id, saved ? "Saved" : "Ok");
}

void smtp_reply_lmtp_fail(struct smtp_sess *s, const char *rcpt, const char *line)
{
	/* "550 5.1.1 text" becomes "550 <rcpt> 5.1.1 text". */
	smtp_reply_f(s, "%.4s<%s> %s", line, rcpt, line + 4);
}
