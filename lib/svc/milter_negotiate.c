/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* Option negotiation with a milter (SMFIC_OPTNEG) and what it decides: the
 * protocol steps and actions it takes, and the macros sent before each
 * command (its own lists, else Postfix's defaults). Trust: the milter's
 * answer is untrusted; what it did not offer is ignored. */
#include "milter_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"
#include "base/timeutil.h"
#include "sys/log.h"

/* Macro names as sent, by enum milter_macro. */
static const char *const milter_macro_names[MM_COUNT] = {
	"j",		 "{daemon_name}",  "{daemon_addr}", "v",	  "_",
	"{client_addr}", "{client_port}",  "{client_name}", "{tls_version}", "{cipher}",
	"i",		 "{mail_addr}",	   "{auth_authen}", "{rcpt_addr}",   "{rcpt_mailer}",
};

/* What is sent before each command unless the milter chose its own list
 * (Postfix's milter_*_macros defaults, minus what has no value here). */
static const enum milter_macro milter_default_macros[MILTER_STAGE_COUNT][8] = {
	[MILTER_STAGE_CONNECT] = {MM_J, MM_UNDERSCORE, MM_DAEMON_NAME, MM_DAEMON_ADDR, MM_V,
				  MM_CLIENT_ADDR, MM_CLIENT_PORT, MM_CLIENT_NAME},
	[MILTER_STAGE_HELO] = {MM_TLS_VERSION, MM_CIPHER, MM_COUNT},
	[MILTER_STAGE_ENVFROM] = {MM_I, MM_MAIL_ADDR, MM_AUTH_AUTHEN, MM_COUNT},
	[MILTER_STAGE_ENVRCPT] = {MM_RCPT_ADDR, MM_RCPT_MAILER, MM_COUNT},
	[MILTER_STAGE_DATA] = {MM_I, MM_COUNT},
	[MILTER_STAGE_EOM] = {MM_I, MM_COUNT},
	[MILTER_STAGE_EOH] = {MM_I, MM_COUNT},
};

void milter_set(struct milters *ms, enum milter_macro k, const char *v)
{
	free(ms->mv[k]);
	ms->mv[k] = v != NULL ? mem_strdup(v) : NULL;
}

static bool milter_name_in(const char *list, const char *name)
{
	/* "j" and "{j}" are the same macro (libmilter smfi_getsymval). */
	char alt[8] = "";
	size_t nl = strlen(name);
	if (nl == 1) {
		alt[0] = '{';
		alt[1] = name[0];
		alt[2] = '}';
		alt[3] = '\0';
	} else if (nl == 3 && name[0] == '{' && name[2] == '}') {
		alt[0] = name[1];
		alt[1] = '\0';
	}
	const char *p = list;
	while (*p != '\0') {
		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		size_t l = strcspn(p, " \t,");
		if (l == 0)
			break;
		if ((l == nl && memcmp(p, name, l) == 0) ||
		    (alt[0] != '\0' && l == strlen(alt) && memcmp(p, alt, l) == 0))
			return true;
		p += l;
	}
	return false;
}

/* SMFIC_MACRO for the stage, if there is anything to send. */
void milter_put_macros(const struct milters *ms, const struct milter *m,
		       const struct milter_event *ev, struct buf *out)
{
	if (ev->stage < 0)
		return;
	struct buf d = BUF_INIT;
	buf_append_byte(&d, ev->cmd);
	const char *list = m->macros[ev->stage];
	for (size_t k = 0; k < MM_COUNT; k++) {
		bool want = false;
		if (list != NULL) {
			want = milter_name_in(list, milter_macro_names[k]);
		} else {
			for (size_t j = 0; j < 8; j++) {
				enum milter_macro dm = milter_default_macros[ev->stage][j];
				if (dm == MM_COUNT)
					break;
				if ((size_t)dm == k)
					want = true;
			}
		}
		if (!want || ms->mv[k] == NULL)
			continue;
		buf_append(&d, milter_macro_names[k], strlen(milter_macro_names[k]) + 1);
		buf_append(&d, ms->mv[k], strlen(ms->mv[k]) + 1);
	}
	if (d.len > 1 && d.len <= MILTER_CHUNK_MAX)
		milter_frame_put(out, MILTER_CMD_MACRO, d.data, d.len);
	buf_free(&d);
}

/* What we offer: every action, and every step but SMFIP_RCPT_REJ (see
 * milterproto.h); what the milter takes of it is its own business. */
int milter_negotiate(struct milter *m, const char **why)
{
	static char reason[120];
	struct buf out = BUF_INIT;
	int64_t deadline = timeutil_mono_ms() + (int64_t)m->spec.connect_timeout_ms;
	milter_optneg_put(&out, MILTER_VERSION, MILTER_F_OFFERED, MILTER_P_OFFERED);
	int rc = milter_write(m, &out, deadline, why);
	buf_free(&out);
	if (rc < 0)
		return -1;
	struct milter_frame f;
	int64_t left = deadline - timeutil_mono_ms();
	if (milter_read(m, left > 0 ? left : 1, &f, why) < 0)
		return -1;
	struct milter_optneg o;
	if (milter_optneg_parse(&f, &o) < 0) {
		*why = "protocol violation: bad option negotiation";
		return -1;
	}
	/* Versions 2 to 6 share this framing; a milter speaking a version we
	 * do not know is refused, as libmilter refuses one from the MTA. */
	if (o.version < 2 || o.version > MILTER_VERSION) {
		/* The longest text is far shorter than reason: never cut. */
		(void)snprintf(reason, sizeof(reason), "unsupported protocol version %u",
			       (unsigned)o.version);
		*why = reason;
		milter_optneg_clear(&o);
		return -1;
	}
	if ((o.actions & ~MILTER_F_OFFERED) != 0 || (o.protocol & ~MILTER_P_OFFERED) != 0) {
		/* Postfix logs and ignores what it did not offer; so do we. */
		(void)snprintf(reason, sizeof(reason),
			       "actions 0x%x protocol 0x%x not offered, ignored",
			       (unsigned)(o.actions & ~MILTER_F_OFFERED),
			       (unsigned)(o.protocol & ~MILTER_P_OFFERED));
		milter_log(LOG_NOTICE, "milter-negotiate", m, "connect", NULL, reason);
	}
	m->actions = o.actions & MILTER_F_OFFERED;
	m->protocol = o.protocol & MILTER_P_OFFERED;
	/* Macro lists are honoured whenever the milter sent them (with or
	 * without SMFIF_SETSYMLIST among its actions): it asked for them. */
	for (size_t i = 0; i < MILTER_STAGE_COUNT; i++) {
		free(m->macros[i]);
		m->macros[i] = o.macros[i];
		o.macros[i] = NULL;
	}
	return 0;
}
