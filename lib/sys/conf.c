/* SPDX-License-Identifier: AGPL-3.0-or-later */
#include "conf.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/fmt.h"
#include "base/mem.h"

enum conf_type { CONF_STR, CONF_SIZE, CONF_UINT, CONF_DURATION, CONF_PLAINTEXT, CONF_MILTER_ACTION };

struct conf_key {
	const char *name;
	enum conf_type type;
	size_t offset;
	const char *def; /* NULL: no default (empty / computed) */
	uint64_t min, max;
};

#define K(name, type, field, def, min, max) {name, type, offsetof(struct conf, field), def, min, max}

/* The one table of every configuration key. Keep etc/sealmail.conf in step. */
static const struct conf_key conf_keys[] = {
	K("hostname", CONF_STR, hostname, NULL, 0, 0),
	K("state_dir", CONF_STR, state_dir, "/var/lib/sealmail", 0, 0),
	K("run_dir", CONF_STR, run_dir, "/run/sealmail", 0, 0),
	K("redis", CONF_STR, redis, "", 0, 0),
	K("redis_password", CONF_STR, redis_password, "", 0, 0),
	K("tls_cert", CONF_STR, tls_cert, "", 0, 0),
	K("tls_key", CONF_STR, tls_key, "", 0, 0),
	K("max_message_size", CONF_SIZE, max_message_size, "50M", 1024, (uint64_t)1 << 32),
	K("plaintext_auth", CONF_PLAINTEXT, plaintext_auth, "loopback", 0, 0),
	K("kdf_memlimit", CONF_SIZE, kdf_memlimit, "32M", 8192, (uint64_t)4 << 30),
	K("kdf_opslimit", CONF_UINT, kdf_opslimit, "2", 1, 100),
	K("kdf_concurrency", CONF_UINT, kdf_concurrency, "0", 0, 1024),
	K("postmaster", CONF_STR, postmaster, "", 0, 0),
	K("max_connections", CONF_UINT, max_connections, "1000", 1, 1000000),
	/* As Postfix's smtpd_client_connection_count_limit (docs/SECURITY.md). */
	K("max_connections_per_source", CONF_UINT, max_connections_per_source, "50", 0, 1000000),
	K("smtpd.max_connections_per_source", CONF_UINT, smtpd_max_connections_per_source, NULL, 0, 1000000),
	K("lmtpd.max_connections_per_source", CONF_UINT, lmtpd_max_connections_per_source, NULL, 0, 1000000),
	K("submitd.max_connections_per_source", CONF_UINT, submitd_max_connections_per_source, NULL, 0, 1000000),
	K("imapd.max_connections_per_source", CONF_UINT, imapd_max_connections_per_source, NULL, 0, 1000000),
	K("pop3d.max_connections_per_source", CONF_UINT, pop3d_max_connections_per_source, NULL, 0, 1000000),
	/* RFC 5321 section 4.5.3.1.8: at least 100 recipients must be accepted. */
	K("smtpd.max_recipients", CONF_UINT, smtpd_max_recipients, "100", 1, 100000),
	/* RFC 5321 section 4.5.3.2.7: server timeout of at least 5 minutes. */
	K("smtpd.timeout", CONF_DURATION, smtpd_timeout_ms, "5m", 1000, 3600000),
	K("smtpd.data_timeout", CONF_DURATION, smtpd_data_timeout_ms, "10m", 1000, 3600000),
	/* A command line from its first byte, and the grace of DATA/BDAT content
	 * (Postfix's smtpd_per_request_deadline with smtpd_timeout). */
	K("smtpd.command_timeout", CONF_DURATION, smtpd_command_timeout_ms, "5m", 1000, 3600000),
	K("smtpd.session_timeout", CONF_DURATION, smtpd_session_timeout_ms, "1h", 1000, 86400000),
	/* Postfix's smtpd_min_data_rate (bytes/s); 0: no rate. */
	K("smtpd.min_data_rate", CONF_UINT, smtpd_min_data_rate, "500", 0, (uint64_t)1 << 32),
	/* Postfix's smtpd_junk_command_limit; 0: no limit. */
	K("smtpd.junk_command_limit", CONF_UINT, smtpd_junk_command_limit, "100", 0, 1000000),
	K("smtpd.milters", CONF_STR, smtpd_milters, "", 0, 0),
	K("lmtpd.milters", CONF_STR, lmtpd_milters, "", 0, 0),
	K("submitd.milters", CONF_STR, submitd_milters, "", 0, 0),
	/* RFC 3501 section 5.4: autologout timer of at least 30 minutes. */
	K("imapd.idle_timeout", CONF_DURATION, imapd_idle_timeout_ms, "30m", 1000, 86400000),
	/* Totals: from connect to a successful login. */
	K("imapd.login_timeout", CONF_DURATION, imapd_login_timeout_ms, "60s", 1000, 3600000),
	K("pop3d.login_timeout", CONF_DURATION, pop3d_login_timeout_ms, "60s", 1000, 3600000),
	K("imapd.command_timeout", CONF_DURATION, imapd_command_timeout_ms, "5m", 1000, 3600000),
	K("imapd.min_data_rate", CONF_UINT, imapd_min_data_rate, "500", 0, (uint64_t)1 << 32),
	K("pop3d.command_timeout", CONF_DURATION, pop3d_command_timeout_ms, "5m", 1000, 3600000),
	K("imapd.max_line", CONF_SIZE, imapd_max_line, "64k", 1024, 16 << 20),
	/* RFC 1939 section 3: inactivity autologout of at least 10 minutes. */
	K("pop3d.timeout", CONF_DURATION, pop3d_timeout_ms, "10m", 1000, 86400000),
	K("auth_fail_delay", CONF_DURATION, auth_fail_delay_ms, "2s", 0, 60000),
	/* The shared login penalty (lib/svc/penalty.h): Dovecot's auth_penalty
	 * starts at 2 s and stops doubling at 15 s; base 0 turns it off. */
	K("auth_penalty_base", CONF_DURATION, auth_penalty_base_ms, "2s", 0, 60000),
	K("auth_penalty_max", CONF_DURATION, auth_penalty_max_ms, "15s", 0, 60000),
	K("auth_penalty_account_max", CONF_DURATION, auth_penalty_account_max_ms, "5s", 0, 60000),
	K("auth_penalty_window", CONF_DURATION, auth_penalty_window_ms, "15m", 1000, 86400000),
	K("milter_default_action", CONF_MILTER_ACTION, milter_default_action, "tempfail", 0, 0),
	K("milter_connect_timeout", CONF_DURATION, milter_connect_timeout_ms, "30s", 1, 3600000),
	K("milter_command_timeout", CONF_DURATION, milter_command_timeout_ms, "30s", 1, 3600000),
	K("milter_content_timeout", CONF_DURATION, milter_content_timeout_ms, "300s", 1, 3600000),
	/* The resolver of lib/svc/dns.c (DESIGN section 8). The root anchor
	 * comes with Debian's dns-root-data. */
	K("dns_resolver", CONF_STR, dns_resolver, "system", 0, 0),
	K("dns_trust_anchor", CONF_STR, dns_trust_anchor, "/usr/share/dns/root.key", 0, 0),
	K("dns_unbound_conf", CONF_STR, dns_unbound_conf, "", 0, 0),
	K("dns_timeout", CONF_DURATION, dns_timeout_ms, "10s", 100, 300000),
	/* queued (docs/SENDING.md section 3). queue_key: a path (relative to
	 * state_dir when it holds a '/'), or a credential name. */
	K("queue_key", CONF_STR, queue_key, "queue/queue.key", 0, 0),
	/* RFC 5321 section 4.5.4.1: give up after at least 4-5 days. */
	K("queue_lifetime", CONF_DURATION, queue_lifetime_ms, "5d", 1000, 30ull * 86400000),
	K("relayhost", CONF_STR, relayhost, "", 0, 0),
	K("queued.max_children", CONF_UINT, queued_max_children, "10", 1, 1000),
	K("queued.connect_timeout", CONF_DURATION, queued_connect_timeout_ms, "30s", 100, 300000),
	/* RFC 5321 section 4.5.4.1: at least 30 minutes between tries; 5 min
	 * doubling is what Postfix does for the first ones. */
	K("queued.retry_min", CONF_DURATION, queued_retry_min_ms, "5m", 100, 86400000),
	K("queued.retry_max", CONF_DURATION, queued_retry_max_ms, "4h", 100, 86400000),
	/* Tests: caps every wait of the SMTP client (0: RFC 5321's times). */
	K("queued.smtp_timeout_cap", CONF_DURATION, queued_smtp_timeout_cap_ms, "0", 0, 3600000),
};

#define CONF_NKEYS (sizeof(conf_keys) / sizeof(conf_keys[0]))

static char conf_error[512];

int conf_parse_size(const char *s, uint64_t *out)
{
	char *end;
	if (!isdigit((unsigned char)*s))
		return 0;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno != 0)
		return 0;
	uint64_t mult = 1;
	switch (*end) {
	case '\0':
		break;
	case 'k':
	case 'K':
		mult = 1024;
		end++;
		break;
	case 'm':
	case 'M':
		mult = 1024 * 1024;
		end++;
		break;
	case 'g':
	case 'G':
		mult = 1024ULL * 1024 * 1024;
		end++;
		break;
	default:
		return 0;
	}
	if (*end != '\0')
		return 0;
	uint64_t r;
	if (__builtin_mul_overflow((uint64_t)v, mult, &r))
		return 0;
	*out = r;
	return 1;
}

int conf_parse_duration(const char *s, uint64_t *ms_out)
{
	char *end;
	if (!isdigit((unsigned char)*s))
		return 0;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno != 0)
		return 0;
	uint64_t mult;
	if (strcmp(end, "") == 0 || strcmp(end, "s") == 0)
		mult = 1000;
	else if (strcmp(end, "ms") == 0)
		mult = 1;
	else if (strcmp(end, "m") == 0)
		mult = 60000;
	else if (strcmp(end, "h") == 0)
		mult = 3600000;
	else if (strcmp(end, "d") == 0)
		mult = 86400000;
	else
		return 0;
	uint64_t r;
	if (__builtin_mul_overflow((uint64_t)v, mult, &r))
		return 0;
	*ms_out = r;
	return 1;
}

uint64_t conf_max_per_source(const struct conf *c, const char *prog)
{
	static const struct {
		const char *prog;
		size_t offset;
	} own[] = {
	    {"smtpd", offsetof(struct conf, smtpd_max_connections_per_source)},
	    {"lmtpd", offsetof(struct conf, lmtpd_max_connections_per_source)},
	    {"submitd", offsetof(struct conf, submitd_max_connections_per_source)},
	    {"imapd", offsetof(struct conf, imapd_max_connections_per_source)},
	    {"pop3d", offsetof(struct conf, pop3d_max_connections_per_source)},
	};
	for (size_t i = 0; prog != NULL && i < sizeof(own) / sizeof(own[0]); i++) {
		uint64_t v = *(const uint64_t *)((const char *)c + own[i].offset);
		if (strcmp(own[i].prog, prog) == 0 && v > 0)
			return v;
	}
	return c->max_connections_per_source;
}

static const struct conf_key *conf_find(const char *key)
{
	for (size_t i = 0; i < CONF_NKEYS; i++)
		if (strcmp(conf_keys[i].name, key) == 0)
			return &conf_keys[i];
	return NULL;
}

static int conf_apply(struct conf *c, const struct conf_key *k, const char *value, const char **what_r)
{
	void *field = (char *)c + k->offset;
	uint64_t v;
	switch (k->type) {
	case CONF_STR:
		free(*(char **)field);
		*(char **)field = mem_strdup(value);
		return 0;
	case CONF_SIZE:
		if (!conf_parse_size(value, &v)) {
			*what_r = "expected a size such as 1048576, 512k, 25M or 1G";
			return -1;
		}
		break;
	case CONF_UINT:
		if (!conf_parse_size(value, &v) || !isdigit((unsigned char)value[strlen(value) - 1])) {
			*what_r = "expected a non-negative integer";
			return -1;
		}
		break;
	case CONF_DURATION:
		if (!conf_parse_duration(value, &v)) {
			*what_r = "expected a duration such as 30, 30s, 250ms, 5m or 1h";
			return -1;
		}
		break;
	case CONF_PLAINTEXT:
		if (strcmp(value, "never") == 0)
			*(enum conf_plaintext_auth *)field = CONF_PLAINTEXT_NEVER;
		else if (strcmp(value, "loopback") == 0)
			*(enum conf_plaintext_auth *)field = CONF_PLAINTEXT_LOOPBACK;
		else if (strcmp(value, "always") == 0)
			*(enum conf_plaintext_auth *)field = CONF_PLAINTEXT_ALWAYS;
		else {
			*what_r = "expected never, loopback or always";
			return -1;
		}
		return 0;
	case CONF_MILTER_ACTION:
		if (strcmp(value, "tempfail") == 0)
			*(enum conf_milter_action *)field = CONF_MILTER_TEMPFAIL;
		else if (strcmp(value, "accept") == 0)
			*(enum conf_milter_action *)field = CONF_MILTER_ACCEPT;
		else if (strcmp(value, "reject") == 0)
			*(enum conf_milter_action *)field = CONF_MILTER_REJECT;
		else {
			*what_r = "expected tempfail, accept or reject";
			return -1;
		}
		return 0;
	}
	if (v < k->min || (k->max != 0 && v > k->max)) {
		*what_r = "value out of range";
		return -1;
	}
	*(uint64_t *)field = v;
	return 0;
}

struct conf *conf_new(void)
{
	struct conf *c = mem_zalloc(sizeof(*c));
	const char *what;
	for (size_t i = 0; i < CONF_NKEYS; i++) {
		if (conf_keys[i].def == NULL)
			continue;
		if (conf_apply(c, &conf_keys[i], conf_keys[i].def, &what) < 0)
			abort(); /* a bad default is a programming error */
	}
	char host[256];
	if (gethostname(host, sizeof(host)) < 0 || host[0] == '\0')
		memcpy(host, "localhost", sizeof("localhost"));
	host[sizeof(host) - 1] = '\0';
	c->hostname = mem_strdup(host);
	return c;
}

const char *conf_path(const char *flag_path)
{
	if (flag_path != NULL)
		return flag_path;
	const char *env = getenv("SEALMAIL_CONF");
	if (env != NULL && env[0] != '\0')
		return env;
	return CONF_DEFAULT_PATH;
}

int conf_set(struct conf *c, const char *key, const char *value, const char **error_r)
{
	const struct conf_key *k = conf_find(key);
	const char *what = NULL;
	if (k == NULL) {
		fmt_msg(conf_error, sizeof(conf_error), "unknown key '%.100s'", key);
		*error_r = conf_error;
		return -1;
	}
	if (conf_apply(c, k, value, &what) < 0) {
		fmt_msg(conf_error, sizeof(conf_error), "%s: %s", key, what);
		*error_r = conf_error;
		return -1;
	}
	return 0;
}

static char *conf_trim(char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	size_t n = strlen(s);
	while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r'))
		s[--n] = '\0';
	return s;
}

int conf_parse(struct conf *c, const char *name, const char *text, size_t len, const char **error_r)
{
	size_t pos = 0;
	unsigned lineno = 0;
	while (pos < len) {
		lineno++;
		const char *nl = memchr(text + pos, '\n', len - pos);
		size_t ll = nl ? (size_t)(nl - (text + pos)) : len - pos;
		if (ll >= CONF_LINE_MAX) {
			fmt_msg(conf_error, sizeof(conf_error), "%s:%u: line too long", name, lineno);
			*error_r = conf_error;
			return -1;
		}
		char line[CONF_LINE_MAX];
		memcpy(line, text + pos, ll);
		line[ll] = '\0';
		pos += ll + (nl ? 1 : 0);
		if (memchr(line, '\0', ll) != NULL) {
			fmt_msg(conf_error, sizeof(conf_error), "%s:%u: NUL byte", name, lineno);
			*error_r = conf_error;
			return -1;
		}
		char *s = conf_trim(line);
		if (*s == '\0' || *s == '#')
			continue;
		char *eq = strchr(s, '=');
		if (eq == NULL) {
			fmt_msg(conf_error, sizeof(conf_error), "%s:%u: expected 'key = value'", name,
				 lineno);
			*error_r = conf_error;
			return -1;
		}
		*eq = '\0';
		char *key = conf_trim(s);
		char *value = conf_trim(eq + 1);
		const char *what;
		if (conf_set(c, key, value, &what) < 0) {
			/* what may point into conf_error itself: copy it first. A
			 * long message is cut visibly (fmt_msg); it is only shown. */
			char tmp[sizeof(conf_error)];
			fmt_msg(tmp, sizeof(tmp), "%s", what);
			fmt_msg(conf_error, sizeof(conf_error), "%s:%u: %s", name, lineno, tmp);
			*error_r = conf_error;
			return -1;
		}
	}
	return 0;
}

int conf_load(struct conf *c, const char *path, const char **error_r)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		fmt_msg(conf_error, sizeof(conf_error), "%s: %s", path, strerror(errno));
		*error_r = conf_error;
		return -1;
	}
	struct buf b = BUF_INIT;
	unsigned char chunk[4096];
	for (;;) {
		ssize_t r = read(fd, chunk, sizeof(chunk));
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			fmt_msg(conf_error, sizeof(conf_error), "%s: %s", path, strerror(errno));
			close(fd);
			buf_free(&b);
			*error_r = conf_error;
			return -1;
		}
		if (r == 0)
			break;
		buf_append(&b, chunk, (size_t)r);
		if (b.len > (1 << 20)) {
			fmt_msg(conf_error, sizeof(conf_error), "%s: file too large", path);
			close(fd);
			buf_free(&b);
			*error_r = conf_error;
			return -1;
		}
	}
	close(fd);
	int rc = conf_parse(c, path, (const char *)b.data, b.len, error_r);
	buf_free(&b);
	return rc;
}

void conf_free(struct conf **cp)
{
	struct conf *c = *cp;
	if (c == NULL)
		return;
	for (size_t i = 0; i < CONF_NKEYS; i++)
		if (conf_keys[i].type == CONF_STR)
			free(*(char **)((char *)c + conf_keys[i].offset));
	free(c);
	*cp = NULL;
}
