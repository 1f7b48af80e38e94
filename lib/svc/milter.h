/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* The MTA side of the Sendmail milter protocol, version 6 (libmilter 1.0.1,
 * Sendmail 8.14+), applied the way Postfix applies it (MILTER_README): a list
 * of milters, each consulted in order at every SMTP stage (connect, HELO,
 * MAIL, RCPT, DATA), then each in turn given the whole message (headers, end
 * of headers, body chunks, end of message); the edits of one milter are
 * applied before the next one sees the message.
 *
 * Parts, lowest first:
 *  - proto/milterproto.h (pure): framing, the option negotiation and reply
 *    packets (checked for shape), message editing with untouched header
 *    fields kept byte for byte;
 *  - milter_spec.c: the milter list in Postfix syntax and its endpoints;
 *  - milter_io.c: one socket per milter (inet:host:port or unix:/path), each
 *    read and write bounded by a deadline (milter_connect_timeout for connect
 *    and negotiation, milter_command_timeout for SMTP commands,
 *    milter_content_timeout for the message; SMFIR_PROGRESS restarts it);
 *  - milter_negotiate.c: option negotiation, and what it decides: the
 *    steps, actions and macros of each milter;
 *  - milter_edit.c: a milter's end-of-message modifications, applied to the
 *    message and the envelope after its verdict;
 *  - milter.c: the session: events in SMTP order, verdicts, failures.
 * milter_int.h holds what these share.
 *
 * Failure rule: a milter that cannot be reached, times out, or sends
 * anything the protocol does not allow at that point is closed and from then
 * on answers every event with its default action (milter_default_action):
 * accept (the milter is ignored), tempfail (451 4.7.1) or reject (550 5.7.1).
 * Edits are applied only after the milter's final end-of-message verdict, so
 * a milter that fails half-way never leaves half of its edits behind.
 *
 * Trust: the milters are configured by the admin, but their replies are
 * parsed as untrusted input (a misbehaving milter must not corrupt a message
 * or the SMTP dialogue). The message and envelope come from the network. */
#ifndef SEALMAIL_MILTER_H
#define SEALMAIL_MILTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "proto/milterproto.h" /* packets, replies and message edits (pure) */
#include "sys/conf.h"

/* Milters in one list (Postfix has no limit; a list longer than this is a
 * configuration mistake). */
#define MILTER_LIST_MAX 16
#define MILTER_ENDPOINT_MAX 160
#define MILTER_REASON_MAX 200

/* ---- configuration (milter_spec.c) --------------------------------------- */

struct milter_spec {
	char endpoint[MILTER_ENDPOINT_MAX]; /* "inet:host:port" or "unix:/path" */
	enum conf_milter_action default_action;
	uint64_t connect_timeout_ms;
	uint64_t command_timeout_ms;
	uint64_t content_timeout_ms;
};

/* Parse a milter list as Postfix's smtpd_milters: endpoints separated by
 * spaces or commas, each "inet:host:port" (host an IPv4 address or an IPv6
 * address in brackets: no names, the handler connects from inside its
 * sandbox where the resolver cannot work) or "unix:/absolute/path", or a group
 * "{ endpoint, key=value, ... }" overriding connect_timeout,
 * command_timeout, content_timeout (durations) or default_action
 * (tempfail|accept|reject) for that milter; the rest come from c. Fills
 * specs[0..*n_r). 0 ok (an empty list is ok), -1 with *error_r (static
 * text). */
int milter_spec_parse(const char *text, const struct conf *c, struct milter_spec *specs,
		      size_t max, size_t *n_r, const char **error_r);
/* TCP ports of the inet endpoints in text (for the sandbox's Landlock
 * connect rules), at most max; returns the count (0 if text is invalid). */
size_t milter_tcp_ports(const char *text, const struct conf *c, uint16_t *ports, size_t max);

/* ---- session (milter.c) ---------------------------------------------------- */

/* What the SMTP side must do after an event. */
enum milter_verdict {
	MILTER_CONTINUE = 0, /* go on: every milter continued or accepted */
	MILTER_REJECT,       /* refuse this command or message with reply (4xx or 5xx) */
	MILTER_DISCARD,      /* end of message: say 250, deliver nothing (log it) */
	MILTER_SHUTDOWN,     /* send reply (421) and close the SMTP connection */
};

struct milter_answer {
	enum milter_verdict verdict;
	char reply[MILTER_REPLY_MAX]; /* REJECT and SHUTDOWN: reply lines joined by CRLF */
};

/* Who is connected, for SMFIC_CONNECT and the connect macros. Strings are
 * copied. */
struct milter_client {
	const char *daemon_name; /* {daemon_name}: "smtpd", "lmtpd", "submitd" */
	const char *hostname;    /* {j}: our host name */
	const char *daemon_addr; /* {daemon_addr}, may be NULL */
	const char *client_addr; /* {client_addr}; NULL when not IP (unix socket) */
	const char *client_port; /* may be NULL */
	const char *client_name; /* {client_name}; NULL: "unknown" (no reverse DNS here) */
};

/* One recipient or sender change made by a milter at end of message. */
struct milter_rcpt_edit {
	bool add; /* true: SMFIR_ADDRCPT(_PAR); false: SMFIR_DELRCPT */
	char addr[MILTER_ADDR_MAX + 1];
};

/* The outcome of the message stage. */
struct milter_result {
	struct milter_answer answer;
	bool changed;    /* msg holds the edited message */
	struct buf msg;
	bool quarantine; /* SMFIR_QUARANTINE: deliver to Junk with $Quarantined */
	char quarantine_reason[MILTER_REASON_MAX + 1]; /* cut to fit: it is only logged */
	bool from_changed; /* SMFIR_CHGFROM */
	char from[MILTER_ADDR_MAX + 1]; /* "" = null sender */
	struct milter_rcpt_edit *rcpt;  /* in the order the milters made them */
	size_t nrcpt;
};

/* The milters of one SMTP connection. Create it in the process that serves
 * the connection (after the accept loop's fork): its sockets belong to that
 * connection only. */
struct milters;

/* From a list in Postfix syntax (see milter_spec_parse). NULL with *error_r
 * when the list is invalid; NULL with *error_r = NULL when it is empty.
 * Nothing is connected yet. Free with milters_free. */
struct milters *milters_new(const char *text, const struct conf *c, const char **error_r);
/* Sends SMFIC_QUIT to every open milter, closes, frees; sets *ms to NULL. */
void milters_free(struct milters **ms);
/* Tests: use an already connected socket for milter i instead of its
 * endpoint (negotiated at milters_connect). Takes ownership of fd. */
void milters_set_fd(struct milters *ms, size_t i, int fd);

/* Events, in SMTP order. Each fills *a and returns a->verdict. A milter is
 * asked only while nothing before it in the list refused. */

/* Connect to every milter, negotiate, send SMFIC_CONNECT. A refusal here is
 * remembered and becomes the reply to every MAIL of the connection (Postfix
 * keeps talking and refuses the transactions); SHUTDOWN ends at once. */
enum milter_verdict milters_connect(struct milters *ms, const struct milter_client *cl,
				    struct milter_answer *a);
/* HELO/EHLO; tls_version and cipher ({tls_version}, {cipher}) or NULL. */
enum milter_verdict milters_helo(struct milters *ms, const char *helo, const char *tls_version,
				 const char *cipher, struct milter_answer *a);
/* MAIL FROM: from without brackets ("" for <>), params the ESMTP parameters
 * as the client wrote them (space-separated, may be ""), queue_id ({i}),
 * auth_authen the SASL login name or NULL (never sent then: some milters take
 * a present but empty {auth_authen} for an authenticated client). On refusal
 * the milters' transaction is aborted. */
enum milter_verdict milters_mail(struct milters *ms, const char *from, const char *params,
				 const char *queue_id, const char *auth_authen,
				 struct milter_answer *a);
/* RCPT TO of a recipient we accepted; a refusal is for this recipient only. */
enum milter_verdict milters_rcpt(struct milters *ms, const char *rcpt, const char *params,
				 struct milter_answer *a);
/* DATA (or the first BDAT), before the message is read. */
enum milter_verdict milters_data(struct milters *ms, struct milter_answer *a);
/* The received message: each milter in turn gets headers, end of headers,
 * body chunks and end of message, and its edits are applied before the next
 * one. Fills *res (free with milter_result_clear) and returns
 * res->answer.verdict. The transaction is over afterwards. */
enum milter_verdict milters_message(struct milters *ms, const unsigned char *msg, size_t len,
				    struct milter_result *res);
void milter_result_clear(struct milter_result *res);
/* The SMTP transaction ended without a message (RSET, EHLO, refusal, lost
 * client): SMFIC_ABORT to the milters that saw part of it. */
void milters_abort(struct milters *ms);

#endif
