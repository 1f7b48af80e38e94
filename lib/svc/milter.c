/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* The milter session (milter.h): the milters of one SMTP connection asked
 * in order at each SMTP stage and for the message, their verdicts, and the
 * failure rule. Trust: the milter list is admin configuration; replies from
 * milters and the message are untrusted (see milter.h). */
#include "milter_int.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "base/mem.h"
#include "base/timeutil.h"
#include "sys/log.h"

#ifndef SEALMAIL_VERSION
#define SEALMAIL_VERSION "0"
#endif

/* The events, in SMTP order (milter_int.h says what each field means). */
static const struct milter_event ev_connect = {"connect", MILTER_CMD_CONNECT,
					       MILTER_STAGE_CONNECT, MILTER_P_NOCONNECT,
					       MILTER_P_NR_CONN, false, false};
static const struct milter_event ev_helo = {"helo", MILTER_CMD_HELO, MILTER_STAGE_HELO,
					    MILTER_P_NOHELO, MILTER_P_NR_HELO, false, false};
static const struct milter_event ev_mail = {"mail", MILTER_CMD_MAIL, MILTER_STAGE_ENVFROM,
					    MILTER_P_NOMAIL, MILTER_P_NR_MAIL, true, false};
static const struct milter_event ev_rcpt = {"rcpt", MILTER_CMD_RCPT, MILTER_STAGE_ENVRCPT,
					    MILTER_P_NORCPT, MILTER_P_NR_RCPT, true, false};
static const struct milter_event ev_data = {"data", MILTER_CMD_DATA, MILTER_STAGE_DATA,
					    MILTER_P_NODATA, MILTER_P_NR_DATA, true, false};
static const struct milter_event ev_header = {"header", MILTER_CMD_HEADER, -1, MILTER_P_NOHDRS,
					      MILTER_P_NR_HDR, true, true};
static const struct milter_event ev_eoh = {"eoh", MILTER_CMD_EOH, MILTER_STAGE_EOH,
					   MILTER_P_NOEOH, MILTER_P_NR_EOH, true, true};
static const struct milter_event ev_body = {"body", MILTER_CMD_BODY, -1, MILTER_P_NOBODY,
					    MILTER_P_NR_BODY, true, true};
static const struct milter_event ev_eom = {"eom", MILTER_CMD_BODYEOB, MILTER_STAGE_EOM, 0, 0,
					   true, true};

static const char *milter_action_name(enum conf_milter_action a)
{
	return a == CONF_MILTER_ACCEPT ? "accept" : a == CONF_MILTER_REJECT ? "reject" : "tempfail";
}

struct milters *milters_new(const char *text, const struct conf *c, const char **error_r)
{
	struct milter_spec specs[MILTER_LIST_MAX];
	size_t n;
	*error_r = NULL;
	if (milter_spec_parse(text, c, specs, MILTER_LIST_MAX, &n, error_r) < 0 || n == 0)
		return NULL;
	struct milters *ms = mem_zalloc(sizeof(*ms));
	ms->m = mem_array(n, sizeof(*ms->m));
	ms->n = n;
	for (size_t i = 0; i < n; i++) {
		ms->m[i].spec = specs[i];
		ms->m[i].fd = -1;
	}
	return ms;
}

void milter_log(int prio, const char *event, const struct milter *m, const char *stage,
		const char *action, const char *reason)
{
	log_event(prio, event, "MILTER", m->spec.endpoint, "STAGE", stage, "ACTION", action,
		  "REASON", reason, NULL);
}

/* A failed milter answers every later event with its default action. */
static enum milter_verdict milter_failed_answer(const struct milter *m, struct milter_answer *a)
{
	if (m->spec.default_action == CONF_MILTER_ACCEPT)
		return MILTER_CONTINUE;
	milter_reply_set(a->reply, m->spec.default_action == CONF_MILTER_REJECT
					   ? MILTER_REJECT_REPLY
					   : MILTER_TEMPFAIL_REPLY);
	a->verdict = MILTER_REJECT;
	return MILTER_REJECT;
}

enum milter_verdict milter_fail(struct milter *m, const char *stage, const char *why,
				struct milter_answer *a)
{
	milter_log(LOG_WARNING, "milter-error", m, stage, milter_action_name(m->spec.default_action),
		   why);
	milter_close(m);
	m->st = MILTER_ST_FAILED;
	m->in_txn = false;
	m->txn_skip = false;
	return milter_failed_answer(m, a);
}


/* Send the event (with its macros) to one milter; read its reply unless it
 * asked for none. 1 reply in *r, 0 no reply expected, -1 failure (*why). */
static int milter_exchange(struct milters *ms, struct milter *m, const struct milter_event *ev,
			   const void *data, size_t len, struct milter_reply *r,
			   struct milter_frame *f, const char **why)
{
	struct buf out = BUF_INIT;
	int64_t timeout = (int64_t)(ev->content ? m->spec.content_timeout_ms
						: m->spec.command_timeout_ms);
	milter_put_macros(ms, m, ev, &out);
	milter_frame_put(&out, ev->cmd, data, len);
	int rc = milter_write(m, &out, timeutil_mono_ms() + timeout, why);
	buf_free(&out);
	if (rc < 0)
		return -1;
	if (ev->noreply_bit != 0 && (m->protocol & ev->noreply_bit) != 0)
		return 0;
	if (milter_read(m, timeout, f, why) < 0)
		return -1;
	if (milter_reply_parse(f, r) < 0) {
		*why = "protocol violation: malformed reply";
		return -1;
	}
	return 1;
}

/* A verdict reply (not a modification). Fills *a; accept and continue give
 * MILTER_CONTINUE with *accepted telling them apart. -1: not a verdict. */
static int milter_verdict_of(const struct milter_reply *r, struct milter_answer *a,
			     bool *accepted)
{
	*accepted = false;
	switch (r->cmd) {
	case MILTER_R_CONTINUE:
		return MILTER_CONTINUE;
	case MILTER_R_ACCEPT:
		*accepted = true;
		return MILTER_CONTINUE;
	case MILTER_R_REJECT:
		milter_reply_set(a->reply, MILTER_REJECT_REPLY);
		return MILTER_REJECT;
	case MILTER_R_TEMPFAIL:
		milter_reply_set(a->reply, MILTER_TEMPFAIL_REPLY);
		return MILTER_REJECT;
	case MILTER_R_REPLYCODE:
		milter_reply_set(a->reply, r->text);
		/* A 421 reply closes the connection, as in Postfix. */
		return strncmp(r->text, "421", 3) == 0 ? MILTER_SHUTDOWN : MILTER_REJECT;
	case MILTER_R_DISCARD:
		return MILTER_DISCARD;
	case MILTER_R_SHUTDOWN:
	case MILTER_R_CONN_FAIL:
		milter_reply_set(a->reply, MILTER_SHUTDOWN_REPLY);
		return MILTER_SHUTDOWN;
	default:
		return -1;
	}
}

static void milter_answer_init(struct milter_answer *a)
{
	a->verdict = MILTER_CONTINUE;
	a->reply[0] = '\0';
}

/* One SMTP-stage event to every milter in order. */
static enum milter_verdict milters_event(struct milters *ms, const struct milter_event *ev,
					 const void *data, size_t len, struct milter_answer *a)
{
	milter_answer_init(a);
	if (ev->txn && (ms->txn_discard || ms->conn_discard))
		return MILTER_CONTINUE; /* the message goes nowhere anyway */
	for (size_t i = 0; i < ms->n; i++) {
		struct milter *m = &ms->m[i];
		if (m->st == MILTER_ST_FAILED) {
			if (milter_failed_answer(m, a) != MILTER_CONTINUE)
				return a->verdict;
			continue;
		}
		if (m->st != MILTER_ST_OPEN || (ev->txn && m->txn_skip))
			continue;
		if (ev->txn)
			m->in_txn = true;
		if ((m->protocol & ev->skip_bit) != 0)
			continue;
		struct milter_reply r;
		struct milter_frame f;
		const char *why = NULL;
		int x = milter_exchange(ms, m, ev, data, len, &r, &f, &why);
		if (x < 0) {
			if (milter_fail(m, ev->name, why, a) != MILTER_CONTINUE)
				return a->verdict;
			continue;
		}
		if (x == 0)
			continue;
		bool accepted;
		int v = milter_verdict_of(&r, a, &accepted);
		if (v < 0) {
			if (milter_fail(m, ev->name, "protocol violation: unexpected reply", a) !=
			    MILTER_CONTINUE)
				return a->verdict;
			continue;
		}
		if (v == MILTER_CONTINUE) {
			if (accepted) {
				/* Accept: no more questions for this connection or
				 * this transaction (libmilter's SMFIS_ACCEPT). */
				if (ev->txn)
					m->txn_skip = true;
				else
					m->st = MILTER_ST_DONE;
				milter_log(LOG_INFO, "milter-action", m, ev->name, "accept", NULL);
			}
			continue;
		}
		if (v == MILTER_DISCARD) {
			milter_log(LOG_NOTICE, "milter-action", m, ev->name, "discard", NULL);
			if (ev->txn)
				ms->txn_discard = true;
			else
				ms->conn_discard = true;
			return MILTER_CONTINUE;
		}
		a->verdict = (enum milter_verdict)v;
		if (ev == &ev_connect)
			m->st = MILTER_ST_DONE; /* refused the connection: done with it */
		milter_log(LOG_NOTICE, "milter-action", m, ev->name,
			   v == MILTER_SHUTDOWN ? "shutdown" : "reject", a->reply);
		return a->verdict;
	}
	return MILTER_CONTINUE;
}

enum milter_verdict milters_connect(struct milters *ms, const struct milter_client *cl,
				    struct milter_answer *a)
{
	milter_answer_init(a);
	const char *name = cl->client_name ? cl->client_name : "unknown";
	/* Only a real IP address is an SMFIA_INET/INET6 client (libmilter
	 * parses it with inet_pton); anything else is "unknown". */
	unsigned char bin[sizeof(struct in6_addr)];
	struct milter_client c2 = *cl;
	if (c2.client_addr != NULL && inet_pton(AF_INET, c2.client_addr, bin) != 1 &&
	    inet_pton(AF_INET6, c2.client_addr, bin) != 1)
		c2.client_addr = NULL;
	cl = &c2;
	milter_set(ms, MM_J, cl->hostname);
	milter_set(ms, MM_DAEMON_NAME, cl->daemon_name);
	milter_set(ms, MM_DAEMON_ADDR, cl->daemon_addr);
	milter_set(ms, MM_V, "sealmail " SEALMAIL_VERSION);
	milter_set(ms, MM_CLIENT_ADDR, cl->client_addr);
	milter_set(ms, MM_CLIENT_PORT, cl->client_addr ? cl->client_port : NULL);
	milter_set(ms, MM_CLIENT_NAME, name);
	struct buf under = BUF_INIT; /* "name [addr]", Sendmail's ${_} */
	buf_append_str(&under, name);
	buf_append_str(&under, " [");
	buf_append_str(&under, cl->client_addr ? cl->client_addr : "local");
	buf_append_str(&under, "]");
	milter_set(ms, MM_UNDERSCORE, buf_cstr(&under));
	buf_free(&under);
	milter_set(ms, MM_RCPT_MAILER, "local");
	for (size_t i = 0; i < ms->n; i++) {
		struct milter *m = &ms->m[i];
		const char *why = NULL;
		if (m->st != MILTER_ST_NEW)
			continue;
		if (m->fd < 0)
			m->fd = milter_dial(m->spec.endpoint,
					    timeutil_mono_ms() + (int64_t)m->spec.connect_timeout_ms,
					    &why);
		if (m->fd < 0 || milter_negotiate(m, &why) < 0) {
			milter_fail(m, "connect", why, a);
			continue; /* its default action is applied below, in order */
		}
		m->st = MILTER_ST_OPEN;
	}
	/* SMFIC_CONNECT: host name ("[addr]" without reverse DNS, as Sendmail
	 * and Postfix send it), family, port, address (milter-protocol.txt). */
	struct buf d = BUF_INIT;
	if (cl->client_addr == NULL) {
		buf_append(&d, "localhost", 10);
		buf_append_byte(&d, 'U');
	} else {
		char host[MILTER_ADDR_MAX + 3];
		/* A name too long to be a DNS name (RFC 1035 section 2.3.4) is
		 * not sent; the address always fits (inet_pton took it). */
		if (cl->client_name == NULL ||
		    (size_t)snprintf(host, sizeof(host), "%s", cl->client_name) >= sizeof(host))
			(void)snprintf(host, sizeof(host), "[%s]", cl->client_addr);
		buf_append(&d, host, strlen(host) + 1);
		buf_append_byte(&d, strchr(cl->client_addr, ':') ? '6' : '4');
		unsigned long port = cl->client_port ? strtoul(cl->client_port, NULL, 10) : 0;
		unsigned char pb[2] = {(unsigned char)(port >> 8), (unsigned char)port};
		buf_append(&d, pb, 2);
		buf_append(&d, cl->client_addr, strlen(cl->client_addr) + 1);
	}
	enum milter_verdict v = milters_event(ms, &ev_connect, d.data, d.len, a);
	buf_free(&d);
	if (v == MILTER_REJECT) {
		/* Remembered for MAIL (the milter that refused is done). */
		ms->conn_refused = true;
		milter_reply_set(ms->conn_reply, a->reply);
	}
	return v;
}

enum milter_verdict milters_helo(struct milters *ms, const char *helo, const char *tls_version,
				 const char *cipher, struct milter_answer *a)
{
	milter_set(ms, MM_TLS_VERSION, tls_version);
	milter_set(ms, MM_CIPHER, cipher);
	return milters_event(ms, &ev_helo, helo, strlen(helo) + 1, a);
}

/* "<addr>\0" followed by each space-separated parameter, NUL-terminated. */
static void milter_args(struct buf *d, const char *addr, const char *params)
{
	buf_append_byte(d, '<');
	buf_append_str(d, addr);
	buf_append(d, ">", 2);
	const char *p = params ? params : "";
	while (*p != '\0') {
		while (*p == ' ')
			p++;
		size_t l = strcspn(p, " ");
		if (l == 0)
			break;
		buf_append(d, p, l);
		buf_append_byte(d, '\0');
		p += l;
	}
}

enum milter_verdict milters_mail(struct milters *ms, const char *from, const char *params,
				 const char *queue_id, const char *auth_authen,
				 struct milter_answer *a)
{
	milter_answer_init(a);
	ms->txn_discard = false;
	for (size_t i = 0; i < ms->n; i++) {
		ms->m[i].txn_skip = false;
		ms->m[i].in_txn = false;
	}
	if (ms->conn_refused) {
		milter_reply_set(a->reply, ms->conn_reply);
		a->verdict = MILTER_REJECT;
		return MILTER_REJECT;
	}
	milter_set(ms, MM_I, queue_id);
	milter_set(ms, MM_MAIL_ADDR, from);
	milter_set(ms, MM_AUTH_AUTHEN, auth_authen);
	struct buf d = BUF_INIT;
	milter_args(&d, from, params);
	enum milter_verdict v = MILTER_CONTINUE;
	if (d.len > MILTER_CHUNK_MAX) {
		milter_reply_set(a->reply, "501 5.5.4 Error: MAIL command too long");
		a->verdict = v = MILTER_REJECT;
	} else {
		v = milters_event(ms, &ev_mail, d.data, d.len, a);
	}
	buf_free(&d);
	if (v != MILTER_CONTINUE)
		milters_abort(ms);
	return v;
}

enum milter_verdict milters_rcpt(struct milters *ms, const char *rcpt, const char *params,
				 struct milter_answer *a)
{
	milter_set(ms, MM_RCPT_ADDR, rcpt);
	struct buf d = BUF_INIT;
	milter_args(&d, rcpt, params);
	enum milter_verdict v = milters_event(ms, &ev_rcpt, d.data, d.len, a);
	buf_free(&d);
	return v;
}

enum milter_verdict milters_data(struct milters *ms, struct milter_answer *a)
{
	return milters_event(ms, &ev_data, NULL, 0, a);
}

void milters_abort(struct milters *ms)
{
	if (ms == NULL)
		return;
	for (size_t i = 0; i < ms->n; i++) {
		struct milter *m = &ms->m[i];
		bool was = m->in_txn;
		m->in_txn = false;
		m->txn_skip = false;
		if (!was || m->st != MILTER_ST_OPEN)
			continue;
		/* SMFIC_ABORT has no reply. */
		struct buf out = BUF_INIT;
		const char *why;
		milter_frame_put(&out, MILTER_CMD_ABORT, NULL, 0);
		if (milter_write(m, &out, timeutil_mono_ms() + (int64_t)m->spec.command_timeout_ms,
				 &why) < 0)
			milter_fail(m, "abort", why, &(struct milter_answer){0});
		buf_free(&out);
	}
	ms->txn_discard = false;
}

/* Content outcome of one milter. */
enum milter_content_rc { MC_CONTINUE, MC_SKIPPED, MC_VERDICT, MC_FAILED };

/* Send one content event and interpret a reply that is not end of message:
 * MC_CONTINUE, MC_SKIPPED (accept or SMFIR_SKIP in the body: *skip_body),
 * MC_VERDICT (*a filled, or discard in *discard), MC_FAILED (*why). */
static enum milter_content_rc milter_content_step(struct milters *ms, struct milter *m,
						  const struct milter_event *ev, const void *data,
						  size_t len, struct milter_answer *a,
						  bool *accepted, bool *skip_body, bool *discard,
						  const char **why)
{
	struct milter_reply r;
	struct milter_frame f;
	if ((m->protocol & ev->skip_bit) != 0)
		return MC_CONTINUE;
	int x = milter_exchange(ms, m, ev, data, len, &r, &f, why);
	if (x < 0)
		return MC_FAILED;
	if (x == 0)
		return MC_CONTINUE;
	if (r.cmd == MILTER_R_SKIP && ev == &ev_body) {
		*skip_body = true;
		return MC_CONTINUE;
	}
	int v = milter_verdict_of(&r, a, accepted);
	if (v < 0) {
		*why = "protocol violation: unexpected reply";
		return MC_FAILED;
	}
	if (v == MILTER_CONTINUE)
		return *accepted ? MC_SKIPPED : MC_CONTINUE;
	if (v == MILTER_DISCARD)
		*discard = true;
	a->verdict = (enum milter_verdict)v;
	return MC_VERDICT;
}

/* A copied modification packet, applied after the final verdict. */

/* Headers, end of headers and body to one milter, unless it skips them.
 * MC_CONTINUE: on to end of message; MC_SKIPPED (it accepted), MC_VERDICT
 * (*a, or a discard), MC_FAILED (*why). */
static enum milter_content_rc milter_send_content(struct milters *ms, struct milter *m,
						  const struct milter_msg *mm,
						  struct milter_answer *a, const char **why)
{
	bool leadspc = (m->protocol & MILTER_P_HDR_LEADSPC) != 0;
	bool accepted = false, skip_body = false, discard = false;
	enum milter_content_rc rc = MC_CONTINUE;
	struct buf d = BUF_INIT, v = BUF_INIT;
	/* Headers, one packet each: name NUL value NUL. */
	for (size_t i = 0; i < mm->nf && rc == MC_CONTINUE; i++) {
		if ((m->protocol & MILTER_P_NOHDRS) != 0)
			break;
		milter_msg_value(mm, i, leadspc, &v);
		buf_reset(&d);
		buf_append(&d, mm->f[i].raw, mm->f[i].name_len);
		buf_append_byte(&d, '\0');
		/* libmilter refuses packets over 64 KiB: cut a monstrous value. */
		size_t vl = v.len;
		if (d.len + vl + 1 > MILTER_CHUNK_MAX)
			vl = MILTER_CHUNK_MAX - d.len - 1;
		buf_append(&d, v.data ? v.data : (const unsigned char *)"", vl);
		buf_append_byte(&d, '\0');
		rc = milter_content_step(ms, m, &ev_header, d.data, d.len, a, &accepted, &skip_body,
					 &discard, why);
	}
	if (rc == MC_CONTINUE)
		rc = milter_content_step(ms, m, &ev_eoh, NULL, 0, a, &accepted, &skip_body, &discard,
					 why);
	size_t bl;
	const unsigned char *body = milter_msg_body(mm, &bl);
	for (size_t off = 0; off < bl && rc == MC_CONTINUE && !skip_body; off += MILTER_CHUNK_MAX) {
		size_t n = bl - off < MILTER_CHUNK_MAX ? bl - off : MILTER_CHUNK_MAX;
		rc = milter_content_step(ms, m, &ev_body, body + off, n, a, &accepted, &skip_body,
					 &discard, why);
	}
	buf_free(&d);
	buf_free(&v);
	if (rc == MC_VERDICT && discard) {
		ms->txn_discard = true;
		milter_log(LOG_NOTICE, "milter-action", m, "content", "discard", NULL);
	} else if (rc == MC_VERDICT) {
		milter_log(LOG_NOTICE, "milter-action", m, "content",
			   a->verdict == MILTER_SHUTDOWN ? "shutdown" : "reject", a->reply);
	}
	if (rc == MC_SKIPPED)
		milter_log(LOG_INFO, "milter-action", m, "content", "accept", NULL);
	return rc;
}

/* End of message: the milter's modifications, kept until its verdict, then
 * applied to *mm and res when it lets the message go on. Returns as
 * milter_content. */
static enum milter_content_rc milter_eom(struct milters *ms, struct milter *m,
					 struct milter_msg *mm, struct milter_result *res,
					 const char **why)
{
	struct milter_answer *a = &res->answer;
	enum milter_content_rc rc = MC_FAILED;
	bool accepted;
	struct buf out = BUF_INIT;
	int64_t timeout = (int64_t)m->spec.content_timeout_ms;
	milter_put_macros(ms, m, &ev_eom, &out);
	milter_frame_put(&out, MILTER_CMD_BODYEOB, NULL, 0);
	int w = milter_write(m, &out, timeutil_mono_ms() + timeout, why);
	buf_free(&out);
	if (w < 0)
		return MC_FAILED;
	struct milter_mods mods = {NULL, 0};
	for (;;) {
		struct milter_frame f;
		struct milter_reply r;
		if (milter_read(m, timeout, &f, why) < 0) {
			rc = MC_FAILED;
			break;
		}
		if (milter_reply_parse(&f, &r) < 0) {
			*why = "protocol violation: malformed reply";
			rc = MC_FAILED;
			break;
		}
		int vd = milter_verdict_of(&r, a, &accepted);
		if (vd >= 0) {
			if (vd == MILTER_CONTINUE) {
				rc = MC_CONTINUE;
				milter_apply(m, &mods, mm, res);
			} else {
				rc = MC_VERDICT;
				a->verdict = (enum milter_verdict)vd;
				if (vd == MILTER_DISCARD) {
					ms->txn_discard = true;
					milter_log(LOG_NOTICE, "milter-action", m, "eom", "discard",
						   NULL);
				} else {
					milter_log(LOG_NOTICE, "milter-action", m, "eom",
						   vd == MILTER_SHUTDOWN ? "shutdown" : "reject",
						   a->reply);
				}
			}
			break;
		}
		if (milter_mods_add(&mods, m, &f, &r, why) < 0) {
			rc = MC_FAILED;
			break;
		}
	}
	milter_mods_free(&mods);
	return rc;
}

/* The message to one milter. Returns MC_CONTINUE (edits applied to *mm and
 * res), MC_SKIPPED, MC_VERDICT (res->answer), or MC_FAILED (*why). */
static enum milter_content_rc milter_content(struct milters *ms, struct milter *m,
					     struct milter_msg *mm, struct milter_result *res,
					     const char **why)
{
	enum milter_content_rc rc = milter_send_content(ms, m, mm, &res->answer, why);
	return rc == MC_CONTINUE ? milter_eom(ms, m, mm, res, why) : rc;
}

enum milter_verdict milters_message(struct milters *ms, const unsigned char *msg, size_t len,
				    struct milter_result *res)
{
	memset(res, 0, sizeof(*res));
	milter_answer_init(&res->answer);
	if (msg == NULL)
		msg = (const unsigned char *)"";
	struct buf cur = BUF_INIT; /* the message as edited so far */
	bool edited = false;
	for (size_t i = 0; i < ms->n && !ms->txn_discard && !ms->conn_discard; i++) {
		struct milter *m = &ms->m[i];
		if (m->st == MILTER_ST_FAILED) {
			if (milter_failed_answer(m, &res->answer) != MILTER_CONTINUE)
				break;
			continue;
		}
		if (m->st != MILTER_ST_OPEN || m->txn_skip)
			continue;
		struct milter_msg mm;
		milter_msg_init(&mm, edited ? cur.data : msg, edited ? cur.len : len);
		const char *why = NULL;
		enum milter_content_rc rc = milter_content(ms, m, &mm, res, &why);
		m->in_txn = false; /* end of message, or a verdict, ends its transaction */
		if (rc == MC_FAILED) {
			milter_msg_clear(&mm);
			if (milter_fail(m, "content", why, &res->answer) != MILTER_CONTINUE)
				break;
			continue;
		}
		if (rc == MC_CONTINUE && mm.changed) {
			struct buf next = BUF_INIT;
			milter_msg_render(&mm, &next);
			buf_free(&cur);
			cur = next;
			edited = true;
		}
		milter_msg_clear(&mm);
		if (rc == MC_VERDICT)
			break;
	}
	if (ms->txn_discard || ms->conn_discard) {
		res->answer.verdict = MILTER_DISCARD;
		res->answer.reply[0] = '\0';
	}
	if (res->answer.verdict == MILTER_CONTINUE && edited) {
		res->changed = true;
		res->msg = cur;
	} else {
		buf_free(&cur);
	}
	/* The transaction is over for every milter (those that were skipped
	 * or refused get SMFIC_ABORT, which libmilter ignores when idle). */
	milters_abort(ms);
	return res->answer.verdict;
}

void milters_free(struct milters **msp)
{
	struct milters *ms = *msp;
	if (ms == NULL)
		return;
	for (size_t i = 0; i < ms->n; i++) {
		struct milter *m = &ms->m[i];
		if (m->fd >= 0 && (m->st == MILTER_ST_OPEN || m->st == MILTER_ST_DONE)) {
			struct buf out = BUF_INIT;
			const char *why;
			milter_frame_put(&out, MILTER_CMD_QUIT, NULL, 0);
			(void)milter_write(m, &out, timeutil_mono_ms() + 1000, &why);
			buf_free(&out);
		}
		milter_close(m);
		for (size_t k = 0; k < MILTER_STAGE_COUNT; k++)
			free(m->macros[k]);
	}
	for (size_t k = 0; k < MM_COUNT; k++)
		free(ms->mv[k]);
	free(ms->m);
	free(ms);
	*msp = NULL;
}
