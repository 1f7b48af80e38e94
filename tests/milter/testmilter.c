/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* A test milter written with Debian's libmilter, for
 * tests/integration/test_milter.py. The action at end of message is chosen
 * per message by its header "X-Test-Action: a,b,c" (see eom below); the
 * envelope stages react to magic addresses and HELO names. Every callback
 * appends one line to the event log (-l FILE) so tests can check the order
 * of events (SMFIC_ABORT after RSET, for instance).
 *     testmilter -p inet:PORT@127.0.0.1 [-l FILE] [-c reject|tempfail]
 * Build: cc -o testmilter testmilter.c -lmilter -lpthread
 * Trust: test code. */
#include <libmilter/mfapi.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

static FILE *event_log;
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static const char *connect_verdict; /* -c */

struct priv {
	unsigned id; /* connection number, first in every event line */
	char action[512];
	char macros[2048];
	char helo[256];
	char subject[512];
	char subject_raw_seen;
	size_t body_bytes;
	unsigned headers;
};

static void event(SMFICTX *ctx, const char *fmt, const char *arg)
{
	struct priv *p = smfi_getpriv(ctx);
	if (event_log == NULL)
		return;
	pthread_mutex_lock(&log_lock);
	fprintf(event_log, "%u ", p ? p->id : 0);
	fprintf(event_log, fmt, arg ? arg : "");
	fputc('\n', event_log);
	fflush(event_log);
	pthread_mutex_unlock(&log_lock);
}

static struct priv *get(SMFICTX *ctx)
{
	struct priv *p = smfi_getpriv(ctx);
	static unsigned next_id;
	if (p == NULL) {
		p = calloc(1, sizeof(*p));
		pthread_mutex_lock(&log_lock);
		p->id = ++next_id;
		pthread_mutex_unlock(&log_lock);
		smfi_setpriv(ctx, p);
	}
	return p;
}

static void note_macro(SMFICTX *ctx, struct priv *p, const char *name)
{
	const char *v = smfi_getsymval(ctx, (char *)name);
	size_t n = strlen(p->macros);
	snprintf(p->macros + n, sizeof(p->macros) - n, "%s%s=%s", n ? " " : "", name,
		 v ? v : "(unset)");
}

static sfsistat cb_connect(SMFICTX *ctx, char *host, _SOCK_ADDR *addr)
{
	struct priv *p = get(ctx);
	p->macros[0] = '\0';
	event(ctx, "connect %s", host);
	note_macro(ctx, p, "j");
	note_macro(ctx, p, "{daemon_name}");
	note_macro(ctx, p, "{client_addr}");
	note_macro(ctx, p, "{client_name}");
	note_macro(ctx, p, "_");
	size_t n = strlen(p->macros);
	snprintf(p->macros + n, sizeof(p->macros) - n, " host=%s family=%d", host,
		 addr ? addr->sa_family : -1);
	if (connect_verdict != NULL && strcmp(connect_verdict, "reject") == 0) {
		smfi_setreply(ctx, "550", "5.7.1", "Connection refused by test milter");
		return SMFIS_REJECT;
	}
	if (connect_verdict != NULL && strcmp(connect_verdict, "tempfail") == 0)
		return SMFIS_TEMPFAIL;
	return SMFIS_CONTINUE;
}

static sfsistat cb_helo(SMFICTX *ctx, char *helo)
{
	struct priv *p = get(ctx);
	event(ctx, "helo %s", helo);
	snprintf(p->helo, sizeof(p->helo), "%s", helo);
	if (strcmp(helo, "reject.example") == 0) {
		smfi_setreply(ctx, "550", "5.7.1", "HELO refused by test milter");
		return SMFIS_REJECT;
	}
	return SMFIS_CONTINUE;
}

static sfsistat cb_envfrom(SMFICTX *ctx, char **argv)
{
	struct priv *p = get(ctx);
	event(ctx, "envfrom %s", argv[0]);
	for (int i = 1; argv[i] != NULL; i++)
		event(ctx, "envfrom-arg %s", argv[i]);
	p->action[0] = '\0';
	p->subject[0] = '\0';
	p->subject_raw_seen = 0;
	p->body_bytes = 0;
	p->headers = 0;
	/* keep the connect macros, add the MAIL ones */
	char *cut = strstr(p->macros, " i=");
	if (cut != NULL)
		*cut = '\0';
	note_macro(ctx, p, "i");
	note_macro(ctx, p, "{mail_addr}");
	note_macro(ctx, p, "{auth_authen}");
	if (strstr(argv[0], "reject-sender") != NULL) {
		smfi_setreply(ctx, "553", "5.7.1", "Sender refused by test milter");
		return SMFIS_REJECT;
	}
	if (strstr(argv[0], "tempfail-sender") != NULL)
		return SMFIS_TEMPFAIL;
	if (strstr(argv[0], "discard-sender") != NULL)
		return SMFIS_DISCARD;
	return SMFIS_CONTINUE;
}

static sfsistat cb_envrcpt(SMFICTX *ctx, char **argv)
{
	struct priv *p = get(ctx);
	event(ctx, "envrcpt %s", argv[0]);
	note_macro(ctx, p, "{rcpt_addr}");
	if (strstr(argv[0], "reject-me") != NULL) {
		smfi_setreply(ctx, "550", "5.1.1", "Recipient refused by test milter");
		return SMFIS_REJECT;
	}
	if (strstr(argv[0], "tempfail-me") != NULL) {
		smfi_setreply(ctx, "451", "4.7.1", "Recipient deferred by test milter");
		return SMFIS_TEMPFAIL;
	}
	if (strstr(argv[0], "multi-me") != NULL) {
		smfi_setmlreply(ctx, "550", "5.7.1", "first line", "second line", NULL);
		return SMFIS_REJECT;
	}
	return SMFIS_CONTINUE;
}

static sfsistat cb_data(SMFICTX *ctx)
{
	event(ctx, "data", NULL);
	return SMFIS_CONTINUE;
}

static sfsistat cb_header(SMFICTX *ctx, char *name, char *value)
{
	struct priv *p = get(ctx);
	event(ctx, "header %s", name);
	p->headers++;
	if (strcasecmp(name, "X-Test-Action") == 0)
		snprintf(p->action, sizeof(p->action), "%s", value);
	if (strcasecmp(name, "Subject") == 0 && !p->subject_raw_seen) {
		snprintf(p->subject, sizeof(p->subject), "%s", value);
		p->subject_raw_seen = 1;
	}
	return SMFIS_CONTINUE;
}

static sfsistat cb_eoh(SMFICTX *ctx)
{
	event(ctx, "eoh", NULL);
	return SMFIS_CONTINUE;
}

static sfsistat cb_body(SMFICTX *ctx, unsigned char *chunk, size_t len)
{
	struct priv *p = get(ctx);
	char n[32];
	snprintf(n, sizeof(n), "%zu", len);
	event(ctx, "body %s", n);
	p->body_bytes += len;
	return SMFIS_CONTINUE;
}

static bool has(const char *list, const char *word)
{
	size_t wl = strlen(word);
	for (const char *s = list; *s != '\0';) {
		while (*s == ' ' || *s == ',')
			s++;
		size_t l = strcspn(s, " ,");
		if (l == wl && strncmp(s, word, l) == 0)
			return true;
		s += l;
	}
	return false;
}

static sfsistat cb_eom(SMFICTX *ctx)
{
	struct priv *p = get(ctx);
	const char *a = p->action;
	event(ctx, "eom %s", a);
	if (has(a, "progress")) {
		/* Longer than the MTA's content timeout in total, but each gap is
		 * shorter: SMFIR_PROGRESS must keep the MTA waiting. */
		for (int i = 0; i < 5; i++) {
			usleep(400000);
			smfi_progress(ctx);
		}
	}
	if (has(a, "macros")) {
		char m[2400];
		snprintf(m, sizeof(m), "%s helo=%s", p->macros, p->helo);
		smfi_addheader(ctx, "X-Test-Macros", m);
	}
	if (has(a, "seen")) {
		char v[600];
		snprintf(v, sizeof(v), "[%s]", p->subject);
		smfi_addheader(ctx, "X-Test-Seen-Subject", v);
		snprintf(v, sizeof(v), "%zu headers=%u", p->body_bytes, p->headers);
		smfi_addheader(ctx, "X-Test-Body-Size", v);
	}
	if (has(a, "addheader"))
		smfi_addheader(ctx, "X-Test-Added", "added by testmilter");
	if (has(a, "addfolded"))
		smfi_addheader(ctx, "X-Test-Folded", "line one\n\tline two");
	if (has(a, "insheader"))
		smfi_insheader(ctx, 0, "X-Test-Inserted", "at the top");
	if (has(a, "chgheader"))
		smfi_chgheader(ctx, "Subject", 1, "changed by testmilter");
	if (has(a, "delheader"))
		smfi_chgheader(ctx, "X-Delete-Me", 1, NULL);
	if (has(a, "replbody")) {
		static unsigned char nb[] = "replaced body\nsecond line\n";
		smfi_replacebody(ctx, nb, sizeof(nb) - 1);
	}
	if (has(a, "addrcpt"))
		smfi_addrcpt(ctx, "<other@example.test>");
	if (has(a, "addrcpt-par"))
		smfi_addrcpt_par(ctx, "<other@example.test>", "NOTIFY=NEVER");
	if (has(a, "delrcpt"))
		smfi_delrcpt(ctx, "<demo@example.test>");
	if (has(a, "chgfrom"))
		smfi_chgfrom(ctx, "<changed@example.org>", NULL);
	if (has(a, "quarantine"))
		smfi_quarantine(ctx, "test quarantine");
	if (has(a, "reject")) {
		smfi_setreply(ctx, "554", "5.7.1", "Message refused by test milter: 100%% spam");
		return SMFIS_REJECT;
	}
	if (has(a, "reject-plain"))
		return SMFIS_REJECT;
	if (has(a, "tempfail"))
		return SMFIS_TEMPFAIL;
	if (has(a, "shutdown")) {
		smfi_setreply(ctx, "421", "4.7.0", "Closing by test milter");
		return SMFIS_TEMPFAIL;
	}
	if (has(a, "discard"))
		return SMFIS_DISCARD;
	if (has(a, "accept"))
		return SMFIS_ACCEPT;
	return SMFIS_CONTINUE;
}

static sfsistat cb_abort(SMFICTX *ctx)
{
	event(ctx, "abort", NULL);
	return SMFIS_CONTINUE;
}

static sfsistat cb_close(SMFICTX *ctx)
{
	event(ctx, "close", NULL);
	free(smfi_getpriv(ctx));
	smfi_setpriv(ctx, NULL);
	return SMFIS_CONTINUE;
}

int main(int argc, char **argv)
{
	const char *conn = NULL, *logfile = NULL;
	int o;
	while ((o = getopt(argc, argv, "p:l:c:")) != -1) {
		if (o == 'p')
			conn = optarg;
		else if (o == 'l')
			logfile = optarg;
		else if (o == 'c')
			connect_verdict = optarg;
		else
			return 2;
	}
	if (conn == NULL)
		return 2;
	if (logfile != NULL && (event_log = fopen(logfile, "a")) == NULL)
		return 1;
	struct smfiDesc desc = {
		.xxfi_name = "sealmail-testmilter",
		.xxfi_version = SMFI_VERSION,
		.xxfi_flags = SMFIF_ADDHDRS | SMFIF_CHGHDRS | SMFIF_CHGBODY | SMFIF_ADDRCPT |
			      SMFIF_ADDRCPT_PAR | SMFIF_DELRCPT | SMFIF_QUARANTINE | SMFIF_CHGFROM,
		.xxfi_connect = cb_connect,
		.xxfi_helo = cb_helo,
		.xxfi_envfrom = cb_envfrom,
		.xxfi_envrcpt = cb_envrcpt,
		.xxfi_header = cb_header,
		.xxfi_eoh = cb_eoh,
		.xxfi_body = cb_body,
		.xxfi_eom = cb_eom,
		.xxfi_abort = cb_abort,
		.xxfi_close = cb_close,
		.xxfi_data = cb_data,
	};
	if (smfi_setconn((char *)conn) == MI_FAILURE || smfi_register(desc) == MI_FAILURE)
		return 1;
	return smfi_main() == MI_SUCCESS ? 0 : 1;
}
