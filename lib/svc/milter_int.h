/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* Internals shared by the parts of the milter client (milter.h lists them):
 * the per-connection state of each milter, the events, and the functions
 * one part offers another. Private to lib/svc/milter*.c. Trust: as
 * milter.h (admin configuration; replies and the message untrusted). */
#ifndef SEALMAIL_MILTER_INT_H
#define SEALMAIL_MILTER_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "milter.h"

/* Replies Postfix uses when a milter refuses without a text of its own, or
 * for the default action of a failed milter. */
#define MILTER_TEMPFAIL_REPLY "451 4.7.1 Service unavailable - try again later"
#define MILTER_REJECT_REPLY "550 5.7.1 Command rejected"
#define MILTER_SHUTDOWN_REPLY "421 4.7.0 Server closing connection"

/* Copy a reply into a struct milter_answer's or the session's reply. Every
 * source is a constant reply (those above, a few in milter.c) or another
 * MILTER_REPLY_MAX buffer (milter_reply_text bounds a milter's own), so
 * nothing is ever cut; the bound only keeps the copy safe. */
static inline void milter_reply_set(char reply[MILTER_REPLY_MAX], const char *s)
{
	size_t n = strnlen(s, MILTER_REPLY_MAX - 1);
	memcpy(reply, s, n);
	reply[n] = '\0';
}

enum milter_state {
	MILTER_ST_NEW,    /* not connected yet */
	MILTER_ST_OPEN,   /* negotiated, taking events */
	MILTER_ST_DONE,   /* accepted or refused the connection: not asked again */
	MILTER_ST_FAILED, /* unreachable or misbehaving: its default action answers */
};

struct milter {
	struct milter_spec spec;
	int fd;
	enum milter_state st;
	uint32_t actions, protocol;
	char *macros[MILTER_STAGE_COUNT];
	bool in_txn;   /* saw part of the current transaction */
	bool txn_skip; /* accepted or discarded the current transaction */
	struct buf in;
	size_t in_pos;
};

/* Macro values; NULL = unknown (not sent). */
enum milter_macro {
	MM_J,
	MM_DAEMON_NAME,
	MM_DAEMON_ADDR,
	MM_V,
	MM_UNDERSCORE,
	MM_CLIENT_ADDR,
	MM_CLIENT_PORT,
	MM_CLIENT_NAME,
	MM_TLS_VERSION,
	MM_CIPHER,
	MM_I,
	MM_MAIL_ADDR,
	MM_AUTH_AUTHEN,
	MM_RCPT_ADDR,
	MM_RCPT_MAILER,
	MM_COUNT
};

struct milters {
	struct milter *m;
	size_t n;
	char *mv[MM_COUNT];
	bool conn_refused; /* a milter refused the connection: MAIL gets conn_reply */
	char conn_reply[MILTER_REPLY_MAX];
	bool conn_discard; /* discard every message of the connection */
	bool txn_discard;  /* discard the current message */
};

/* One kind of event. */
struct milter_event {
	const char *name;       /* for logs */
	unsigned char cmd;
	int stage;              /* macro stage, -1 none */
	uint32_t skip_bit;      /* SMFIP_NO* */
	uint32_t noreply_bit;   /* SMFIP_NR_* */
	bool txn;               /* part of a mail transaction */
	bool content;           /* milter_content_timeout applies */
};

/* ---- milter.c: the session ---- */

void milter_log(int prio, const char *event, const struct milter *m, const char *stage,
		const char *action, const char *reason);
/* The milter failed: close it and answer with its default action. Returns
 * the verdict for the current event. */
enum milter_verdict milter_fail(struct milter *m, const char *stage, const char *why,
				struct milter_answer *a);

/* ---- milter_spec.c: configuration ---- */

/* "inet:host:port" into host and port; "unix:/path" into host (the path).
 * 0, or -1 when ep is none of these or host does not fit hostsz. */
int milter_endpoint_split(const char *ep, char *host, size_t hostsz, uint16_t *port_r,
			  bool *is_unix);

/* ---- milter_io.c: sockets and deadlines ---- */

/* Connect to the endpoint before the deadline: the socket (non-blocking) or
 * -1 with *why (static text). */
int milter_dial(const char *ep, int64_t deadline, const char **why);
/* Write all of b before the deadline: 0, or -1 with *why. */
int milter_write(struct milter *m, const struct buf *b, int64_t deadline, const char **why);
/* Read one packet within timeout_ms (SMFIR_PROGRESS restarts the timer and
 * is skipped). The frame points into m->in until the next read. 1, or -1
 * with *why. */
int milter_read(struct milter *m, int64_t timeout_ms, struct milter_frame *f, const char **why);
/* Close the socket and drop buffered input. */
void milter_close(struct milter *m);

/* ---- milter_negotiate.c: option negotiation and its consequences ---- */

/* Negotiate (SMFIC_OPTNEG) on a connected socket: 0 ok (m->actions,
 * m->protocol and m->macros set), -1 with *why. */
int milter_negotiate(struct milter *m, const char **why);
/* Set a macro value (copied; NULL: unknown, not sent). */
void milter_set(struct milters *ms, enum milter_macro k, const char *v);
/* Append SMFIC_MACRO for the event's stage to out, if there is anything to
 * send: the macros the milter asked for, else Postfix's defaults. */
void milter_put_macros(const struct milters *ms, const struct milter *m,
		       const struct milter_event *ev, struct buf *out);

/* ---- milter_edit.c: end-of-message modifications ---- */

/* A copied modification packet, applied after the final verdict. */
struct milter_mod {
	unsigned char cmd;
	unsigned char *data;
	size_t len;
};

struct milter_mods {
	struct milter_mod *v;
	size_t n;
};

/* Keep the modification in f (parsed as r) for later: 0, or -1 with *why
 * when the milter did not negotiate that action. */
int milter_mods_add(struct milter_mods *mods, const struct milter *m,
		    const struct milter_frame *f, const struct milter_reply *r, const char **why);
void milter_mods_free(struct milter_mods *mods);
/* Apply one milter's modifications, in order, to the message mm (headers,
 * body) and res (recipients, sender, quarantine). */
void milter_apply(const struct milter *m, const struct milter_mods *mods, struct milter_msg *mm,
		  struct milter_result *res);

#endif
