/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* A milter's end-of-message modifications (milter_int.h): kept as they
 * arrive, checked against the actions it negotiated, and applied only after
 * its final verdict to the message (header add/insert/change, body
 * replacement) and to the envelope (recipients added or removed, sender
 * changed, quarantine). Trust: the modifications come from a milter and
 * were checked for shape by milter_reply_parse. */
#include "milter_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"
#include "sys/log.h"

/* Addresses are copied whole between these (milter_reply_parse bounds them
 * to MILTER_ADDR_MAX). */
_Static_assert(sizeof(((struct milter_reply *)0)->addr) ==
		       sizeof(((struct milter_rcpt_edit *)0)->addr) &&
		   sizeof(((struct milter_reply *)0)->addr) == sizeof(((struct milter_result *)0)->from),
	       "one address size");

void milter_result_clear(struct milter_result *res)
{
	buf_free(&res->msg);
	free(res->rcpt);
	memset(res, 0, sizeof(*res));
}

/* A modification allowed by the negotiated actions? */
static bool milter_mod_allowed(const struct milter *m, unsigned char cmd)
{
	switch (cmd) {
	case MILTER_R_ADDHEADER:
	case MILTER_R_INSHEADER:
		return (m->actions & MILTER_F_ADDHDRS) != 0;
	case MILTER_R_CHGHEADER:
		return (m->actions & MILTER_F_CHGHDRS) != 0;
	case MILTER_R_REPLBODY:
		return (m->actions & MILTER_F_CHGBODY) != 0;
	case MILTER_R_ADDRCPT:
		return (m->actions & MILTER_F_ADDRCPT) != 0;
	case MILTER_R_ADDRCPT_PAR:
		return (m->actions & MILTER_F_ADDRCPT_PAR) != 0;
	case MILTER_R_DELRCPT:
		return (m->actions & MILTER_F_DELRCPT) != 0;
	case MILTER_R_CHGFROM:
		return (m->actions & MILTER_F_CHGFROM) != 0;
	case MILTER_R_QUARANTINE:
		return (m->actions & MILTER_F_QUARANTINE) != 0;
	default:
		return false;
	}
}

int milter_mods_add(struct milter_mods *mods, const struct milter *m,
		    const struct milter_frame *f, const struct milter_reply *r, const char **why)
{
	if (!milter_mod_allowed(m, r->cmd)) {
		*why = "protocol violation: modification not negotiated or not allowed";
		return -1;
	}
	/* The frame lives in the milter's input buffer only until the next
	 * read: keep a copy. */
	mods->v = mem_realloc(mods->v, mods->n + 1, sizeof(*mods->v));
	mods->v[mods->n].cmd = f->cmd;
	mods->v[mods->n].data = mem_dup(f->len ? f->data : (const unsigned char *)"", f->len);
	mods->v[mods->n].len = f->len;
	mods->n++;
	return 0;
}

void milter_mods_free(struct milter_mods *mods)
{
	for (size_t i = 0; i < mods->n; i++)
		free(mods->v[i].data);
	free(mods->v);
	mods->v = NULL;
	mods->n = 0;
}

void milter_apply(const struct milter *m, const struct milter_mods *mods, struct milter_msg *mm,
		  struct milter_result *res)
{
	bool leadspc = (m->protocol & MILTER_P_HDR_LEADSPC) != 0;
	struct buf body = BUF_INIT;
	bool body_set = false;
	for (size_t i = 0; i < mods->n; i++) {
		struct milter_frame f = {mods->v[i].cmd, mods->v[i].data, mods->v[i].len};
		struct milter_reply r;
		if (milter_reply_parse(&f, &r) < 0)
			continue; /* checked on receipt */
		switch (r.cmd) {
		case MILTER_R_ADDHEADER:
			milter_msg_add(mm, r.name, r.value, leadspc);
			break;
		case MILTER_R_INSHEADER:
			milter_msg_insert(mm, r.index, r.name, r.value, leadspc);
			break;
		case MILTER_R_CHGHEADER:
			milter_msg_change(mm, r.index, r.name, r.value, leadspc);
			break;
		case MILTER_R_REPLBODY:
			/* Consecutive chunks make one new body. */
			buf_append(&body, r.body, r.body_len);
			body_set = true;
			break;
		case MILTER_R_ADDRCPT:
		case MILTER_R_ADDRCPT_PAR:
		case MILTER_R_DELRCPT:
			res->rcpt = mem_realloc(res->rcpt, res->nrcpt + 1, sizeof(*res->rcpt));
			res->rcpt[res->nrcpt].add = r.cmd != MILTER_R_DELRCPT;
			memcpy(res->rcpt[res->nrcpt].addr, r.addr, sizeof(r.addr));
			res->nrcpt++;
			milter_log(LOG_INFO, "milter-action", m, "eom",
				   r.cmd == MILTER_R_DELRCPT ? "delrcpt" : "addrcpt", r.addr);
			break;
		case MILTER_R_CHGFROM:
			res->from_changed = true;
			memcpy(res->from, r.addr, sizeof(r.addr));
			milter_log(LOG_INFO, "milter-action", m, "eom", "chgfrom", r.addr);
			break;
		case MILTER_R_QUARANTINE:
			res->quarantine = true;
			/* A longer reason is cut: it is only logged (milter.h). */
			(void)snprintf(res->quarantine_reason, sizeof(res->quarantine_reason), "%s",
				       r.value);
			milter_log(LOG_NOTICE, "milter-action", m, "eom", "quarantine", r.value);
			break;
		default:
			break;
		}
	}
	if (body_set)
		milter_msg_set_body(mm, body.data ? body.data : (const unsigned char *)"", body.len);
	buf_free(&body);
}
