/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* The IMAP command table, the dispatcher and the session state, for the
 * pre-auth front and the post-auth back alike. The table says in which
 * states (RFC 3501 section 3) each command is allowed; the dispatcher checks
 * that and the UID prefix generically, runs the command's check step
 * (syntax), reports changes by other sessions where RFC 3501 section 7.4.1
 * allows it, and runs the proceed step. Trust: pre-auth in the front (every
 * client line reaches imap_dispatch), post-auth in the back. */
#include <string.h>

#include "imapd.h"
#include "sys/log.h"
#include "sys/title.h"

/* RFC 3501 section 6: 6.1 any state, 6.2 not authenticated, 6.3
 * authenticated (also valid when selected), 6.4 selected. Extensions say
 * the same of theirs: ID (RFC 2971 section 3.1) any state; ENABLE (RFC
 * 5161), NAMESPACE (RFC 2342), IDLE (RFC 2177) after login; UNSELECT (RFC
 * 3691), MOVE (RFC 6851) selected. */
static const struct imap_cmd_def imap_cmds[] = {
    /* 6.1 */
    {"CAPABILITY", IMAP_S_ANY, 0, NULL, imap_check_noargs, imap_cmd_capability},
    {"NOOP", IMAP_S_ANY, 0, NULL, imap_check_noargs, imap_cmd_noop},
    {"LOGOUT", IMAP_S_ANY, 0, NULL, imap_check_noargs, imap_cmd_logout},
    {"ID", IMAP_S_ANY, 0, NULL, imap_check_id, imap_cmd_id},
    /* 6.2: the front's; a second login is refused in so many words. */
    {"STARTTLS", IMAP_S_NOT_AUTH, 0, "STARTTLS is only allowed before login.", imap_check_starttls,
     imap_cmd_starttls},
    {"LOGIN", IMAP_S_NOT_AUTH, 0, "Already logged in.", imap_check_login, imap_cmd_login},
    {"AUTHENTICATE", IMAP_S_NOT_AUTH, 0, "Already logged in.", imap_check_authenticate,
     imap_cmd_authenticate},
    /* 6.3 */
    {"ENABLE", IMAP_S_LOGGEDIN, 0, NULL, imap_check_enable, imap_cmd_enable},
    {"NAMESPACE", IMAP_S_LOGGEDIN, 0, NULL, imap_check_noargs, imap_cmd_namespace},
    {"SELECT", IMAP_S_LOGGEDIN, IMAP_CMD_OWN_SYNC, NULL, imap_check_select, imap_cmd_select},
    {"EXAMINE", IMAP_S_LOGGEDIN, IMAP_CMD_OWN_SYNC, NULL, imap_check_select, imap_cmd_examine},
    {"CREATE", IMAP_S_LOGGEDIN, 0, NULL, NULL, imap_cmd_create},
    {"DELETE", IMAP_S_LOGGEDIN, 0, NULL, NULL, imap_cmd_delete},
    {"RENAME", IMAP_S_LOGGEDIN, 0, NULL, NULL, imap_cmd_rename},
    {"SUBSCRIBE", IMAP_S_LOGGEDIN, 0, NULL, NULL, imap_cmd_subscribe},
    {"UNSUBSCRIBE", IMAP_S_LOGGEDIN, 0, NULL, NULL, imap_cmd_unsubscribe},
    {"LIST", IMAP_S_LOGGEDIN, 0, NULL, NULL, imap_cmd_list},
    {"LSUB", IMAP_S_LOGGEDIN, 0, NULL, NULL, imap_cmd_lsub},
    {"STATUS", IMAP_S_LOGGEDIN, 0, NULL, NULL, imap_cmd_status},
    {"APPEND", IMAP_S_LOGGEDIN, 0, NULL, NULL, imap_cmd_append},
    {"IDLE", IMAP_S_LOGGEDIN, IMAP_CMD_OWN_SYNC, NULL, imap_check_noargs, imap_cmd_idle},
    /* 6.4 */
    {"CHECK", IMAP_S_SELECTED, 0, NULL, imap_check_noargs, imap_cmd_check},
    {"CLOSE", IMAP_S_SELECTED, 0, NULL, imap_check_noargs, imap_cmd_close},
    {"UNSELECT", IMAP_S_SELECTED, 0, NULL, imap_check_noargs, imap_cmd_unselect},
    {"EXPUNGE", IMAP_S_SELECTED, IMAP_CMD_UID, NULL, imap_check_expunge, imap_cmd_expunge},
    {"SEARCH", IMAP_S_SELECTED, IMAP_CMD_UID | IMAP_CMD_NO_EXPUNGE, NULL, NULL, imap_cmd_search},
    {"FETCH", IMAP_S_SELECTED, IMAP_CMD_UID | IMAP_CMD_NO_EXPUNGE, NULL, NULL, imap_cmd_fetch},
    {"STORE", IMAP_S_SELECTED, IMAP_CMD_UID | IMAP_CMD_NO_EXPUNGE, NULL, NULL, imap_cmd_store},
    {"COPY", IMAP_S_SELECTED, IMAP_CMD_UID, NULL, NULL, imap_cmd_copy},
    {"MOVE", IMAP_S_SELECTED, IMAP_CMD_UID, NULL, NULL, imap_cmd_move},
};

static const struct imap_cmd_def *imap_cmd_find(const char *name)
{
	/* A linear scan of 30 short names: cheaper than anything that would
	 * need building, and the parser already upper-cased the name. */
	for (size_t i = 0; i < sizeof(imap_cmds) / sizeof(imap_cmds[0]); i++)
		if (strcmp(imap_cmds[i].name, name) == 0)
			return &imap_cmds[i];
	return NULL;
}

/* The BAD text for a command unknown here (or not usable in this state). */
static const char *imap_unknown(const struct imap_sess *s)
{
	return s->state == IMAP_ST_NOT_AUTH ? "Command unknown or not allowed before login."
	                                    : "Unknown command.";
}

int imap_dispatch(struct imap_sess *s, const struct imapparse_cmd *c)
{
	s->cmd = c;
	/* UID commands exist only in the selected state (RFC 3501 6.4.8). */
	if (s->state == IMAP_ST_NOT_AUTH && c->uid) {
		imap_bad(s, "Log in first.");
		return 0;
	}
	const struct imap_cmd_def *d = imap_cmd_find(c->name);
	if (d == NULL) {
		imap_bad(s, "%s", imap_unknown(s));
		return 0;
	}
	bool allowed = (d->states & IMAP_S(s->state)) != 0;
	if (!allowed && d->refused != NULL) {
		imap_bad(s, "%s", d->refused);
		return 0;
	}
	if (c->uid && !(d->flags & IMAP_CMD_UID)) {
		imap_bad(s, "%s", imap_unknown(s));
		return 0;
	}
	if (!allowed) {
		if (s->state == IMAP_ST_AUTH && (d->states & IMAP_S_SELECTED))
			imap_bad(s, "No mailbox selected.");
		else
			imap_bad(s, "%s", imap_unknown(s));
		return 0;
	}
	if (d->check != NULL && d->check(s, c) < 0)
		return 0;
	/* Changes by other sessions are reported before the command's own
	 * output (and so before its tagged reply); UID FETCH/STORE/SEARCH may
	 * report expunges, their plain forms may not (RFC 3501 7.4.1). */
	if (s->sel != NULL && !(d->flags & IMAP_CMD_OWN_SYNC))
		imap_sync(s, !(d->flags & IMAP_CMD_NO_EXPUNGE) || c->uid);
	return d->proceed(s, c->args, c->count);
}

int imap_check_noargs(struct imap_sess *s, const struct imapparse_cmd *c)
{
	if (c->count == 0)
		return 0;
	imap_bad(s, "Syntax: %s", c->name);
	return -1;
}

int imap_strcpy(char *dst, size_t size, const char *src)
{
	size_t n = strlen(src);
	if (n >= size) {
		dst[0] = '\0';
		return -1;
	}
	memcpy(dst, src, n + 1);
	return 0;
}

static const char *const imap_state_names[] = {
    [IMAP_ST_NOT_AUTH] = "pre-auth", [IMAP_ST_AUTH] = "AUTH",     [IMAP_ST_SELECTED] = "SELECTED",
    [IMAP_ST_IDLE] = "IDLE",         [IMAP_ST_LOGOUT] = "LOGOUT",
};

const char *imap_state_name(enum imap_state st)
{
	return (unsigned)st < sizeof(imap_state_names) / sizeof(imap_state_names[0])
	           ? imap_state_names[st]
	           : "?";
}

void imap_title(struct imap_sess *s)
{
	/* What ps shows (lib/sys/title.h): the front "203.0.113.5 pre-auth
	 * TLS", the back "alice@example.org 203.0.113.5 SELECTED INBOX". */
	const char *tls = io_is_tls(&s->io) ? " TLS" : "";
	if (s->front)
		title_set("%s %s%s", s->remote,
		          s->state == IMAP_ST_NOT_AUTH ? "pre-auth"
		          : s->state == IMAP_ST_AUTH   ? "relay"
		                                       : imap_state_name(s->state),
		          tls);
	else if (s->state == IMAP_ST_SELECTED && s->sel != NULL)
		title_set("%s %s SELECTED %s", s->user, s->remote, s->sel->name);
	else
		title_set("%s %s %s", s->user, s->remote, imap_state_name(s->state));
}

void imap_set_state(struct imap_sess *s, enum imap_state st)
{
	if (s->state == st && st != IMAP_ST_SELECTED)
		return;
	s->state = st;
	log_event(LOG_DEBUG, "imap-state", "STATE", imap_state_name(st), NULL);
	imap_title(s);
}
