/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* Configuration: `key = value` lines, `#` comments. Every key lives in one
 * table (conf.c); an unknown key or a bad value is an error naming
 * file:line. Trust: admin. */
#ifndef SEALMAIL_CONF_H
#define SEALMAIL_CONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CONF_DEFAULT_PATH "/etc/sealmail/sealmail.conf"
#define CONF_LINE_MAX 4096

enum conf_plaintext_auth { CONF_PLAINTEXT_NEVER, CONF_PLAINTEXT_LOOPBACK, CONF_PLAINTEXT_ALWAYS };
enum conf_milter_action { CONF_MILTER_TEMPFAIL, CONF_MILTER_ACCEPT, CONF_MILTER_REJECT };

struct conf {
	char *hostname;      /* default: gethostname() */
	char *state_dir;     /* /var/lib/sealmail */
	char *run_dir;       /* /run/sealmail */
	char *redis;         /* "" = disabled */
	char *redis_password; /* file or credential name: AUTH sealmail <it>; "" = none */
	char *tls_cert;
	char *tls_key;
	uint64_t max_message_size;
	enum conf_plaintext_auth plaintext_auth;
	uint64_t kdf_memlimit;
	uint64_t kdf_opslimit;
	uint64_t kdf_concurrency; /* 0 = number of cores */
	char *postmaster;         /* local user receiving postmaster@ of every domain */
	uint64_t max_connections; /* Accept=no: concurrent children */
	/* Accept=no: connections from one address (IPv6: one /64); 0 = none.
	 * The per-handler keys override it; 0 there = the global value. */
	uint64_t max_connections_per_source;
	uint64_t smtpd_max_connections_per_source;
	uint64_t lmtpd_max_connections_per_source;
	uint64_t submitd_max_connections_per_source;
	uint64_t imapd_max_connections_per_source;
	uint64_t pop3d_max_connections_per_source;

	uint64_t smtpd_max_recipients;
	uint64_t smtpd_timeout_ms;
	uint64_t smtpd_data_timeout_ms;
	uint64_t smtpd_command_timeout_ms; /* a command line, from its first byte */
	uint64_t smtpd_session_timeout_ms; /* the whole connection */
	uint64_t smtpd_min_data_rate;      /* bytes/s after the grace; 0: no rate */
	uint64_t smtpd_junk_command_limit; /* 0: none */
	char *smtpd_milters;
	char *lmtpd_milters;
	char *submitd_milters;

	uint64_t imapd_idle_timeout_ms;
	uint64_t imapd_login_timeout_ms; /* total, from connect to login */
	uint64_t pop3d_login_timeout_ms; /* total, from connect to login */
	uint64_t imapd_command_timeout_ms;
	uint64_t imapd_min_data_rate;
	uint64_t pop3d_command_timeout_ms;
	uint64_t imapd_max_line;
	uint64_t pop3d_timeout_ms;
	uint64_t auth_fail_delay_ms;
	uint64_t auth_penalty_base_ms;        /* 0: no shared penalty */
	uint64_t auth_penalty_max_ms;         /* a source's cap */
	uint64_t auth_penalty_account_max_ms; /* an account's cap */
	uint64_t auth_penalty_window_ms;      /* failures forgotten after */

	enum conf_milter_action milter_default_action;
	uint64_t milter_connect_timeout_ms;
	uint64_t milter_command_timeout_ms;
	uint64_t milter_content_timeout_ms;

	char *dns_resolver;     /* "system" or "IP[@PORT] ..." forwarders */
	char *dns_trust_anchor; /* DNSSEC trust anchor file; "" = no validation */
	char *dns_unbound_conf; /* tests: a libunbound configuration file */
	uint64_t dns_timeout_ms;

	char *queue_key;          /* path under state_dir, or a credential name */
	uint64_t queue_lifetime_ms;
	char *relayhost;          /* "host[:port]": every message goes there; "" = MX */
	uint64_t queued_max_children;
	uint64_t queued_connect_timeout_ms;
	uint64_t queued_retry_min_ms;
	uint64_t queued_retry_max_ms;
	uint64_t queued_smtp_timeout_cap_ms;
};

/* Defaults for every key. Caller frees with conf_free. */
struct conf *conf_new(void);
/* Path from -c, else $SEALMAIL_CONF, else the default. */
const char *conf_path(const char *flag_path);
/* Parse text (name used in errors): 0 ok; -1 with *error_r (static buffer
 * inside conf, valid until the next call) as "name:line: what". */
int conf_parse(struct conf *c, const char *name, const char *text, size_t len, const char **error_r);
/* Read and parse a file; a missing file is an error. */
int conf_load(struct conf *c, const char *path, const char **error_r);
/* Set one key from a string (same checks as the file). */
int conf_set(struct conf *c, const char *key, const char *value, const char **error_r);
void conf_free(struct conf **c);
/* The per-source connection limit of handler prog ("smtpd", "imapd"...):
 * its own key if set, else max_connections_per_source. 0: no limit. */
uint64_t conf_max_per_source(const struct conf *c, const char *prog);
/* Parse "10k", "25M", "1G" or a plain number: 1 ok, 0 bad. */
int conf_parse_size(const char *s, uint64_t *out);
/* Parse a duration "300", "300s", "5m", "1h", "250ms" into ms: 1 ok, 0 bad. */
int conf_parse_duration(const char *s, uint64_t *ms_out);

#endif
