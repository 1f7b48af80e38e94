/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* The milter list (milter.h): Postfix's smtpd_milters syntax, endpoints and
 * per-milter settings. Trust: admin configuration. */
#include "milter_int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

static char milter_errbuf[256];

static int milter_spec_error(const char **error_r, const char *what, const char *item)
{
	/* Never cut: the longest what is under 80 bytes and item is bounded;
	 * and the text is only shown to the admin. */
	(void)snprintf(milter_errbuf, sizeof(milter_errbuf), "milters: %s: %.100s", what, item);
	*error_r = milter_errbuf;
	return -1;
}

int milter_endpoint_split(const char *ep, char *host, size_t hostsz, uint16_t *port_r,
			  bool *is_unix)
{
	if (strncmp(ep, "unix:", 5) == 0) {
		*is_unix = true;
		struct sockaddr_un sun;
		if (ep[5] != '/' || strlen(ep + 5) >= sizeof(sun.sun_path) ||
		    (size_t)snprintf(host, hostsz, "%s", ep + 5) >= hostsz)
			return -1;
		return 0;
	}
	*is_unix = false;
	if (strncmp(ep, "inet:", 5) != 0)
		return -1;
	const char *h = ep + 5, *colon;
	size_t hl;
	if (h[0] == '[') {
		const char *rb = strchr(h, ']');
		if (rb == NULL || rb[1] != ':')
			return -1;
		h++;
		hl = (size_t)(rb - h);
		colon = rb + 1;
	} else {
		colon = strrchr(h, ':');
		if (colon == NULL)
			return -1;
		hl = (size_t)(colon - h);
		if (memchr(h, ':', hl) != NULL)
			return -1; /* IPv6 needs brackets */
	}
	if (hl == 0 || hl >= hostsz)
		return -1;
	memcpy(host, h, hl);
	host[hl] = '\0';
	/* Numeric addresses only: the handler connects from inside its
	 * sandbox, where the resolver (files, sockets) is out of reach. */
	unsigned char bin[sizeof(struct in6_addr)];
	if (inet_pton(ep[5] == '[' ? AF_INET6 : AF_INET, host, bin) != 1)
		return -1;
	char *end;
	errno = 0;
	unsigned long p = strtoul(colon + 1, &end, 10);
	if (colon[1] < '0' || colon[1] > '9' || *end != '\0' || errno != 0 || p == 0 || p > 65535)
		return -1;
	*port_r = (uint16_t)p;
	return 0;
}

/* Split s at commas and white space; tokens written NUL-terminated into
 * work, pointers into toks. Braces are their own tokens. */
static int milter_tokens(const char *s, char *work, size_t worksz, char **toks, size_t maxt,
			 size_t *n_r)
{
	size_t n = 0, w = 0;
	const char *p = s;
	while (*p != '\0') {
		while (*p == ' ' || *p == '\t' || *p == ',' || *p == '\n' || *p == '\r')
			p++;
		if (*p == '\0')
			break;
		if (n == maxt)
			return -1;
		size_t len = 1;
		if (*p != '{' && *p != '}') {
			len = strcspn(p, " \t,\r\n{}");
			/* "key = value" inside braces: keep '=' with its neighbours */
			while (p[len] == ' ' || p[len] == '\t') {
				size_t sp = len + strspn(p + len, " \t");
				if (p[sp] != '=' && p[len - 1] != '=')
					break;
				len = sp + (p[sp] == '=' ? 1 : 0);
				len += strspn(p + len, " \t");
				len += strcspn(p + len, " \t,\r\n{}");
			}
		}
		if (w + len + 1 > worksz)
			return -1;
		toks[n++] = work + w;
		for (size_t i = 0; i < len; i++)
			if (p[i] != ' ' && p[i] != '\t')
				work[w++] = p[i];
		work[w++] = '\0';
		p += len;
	}
	*n_r = n;
	return 0;
}

static int milter_spec_option(struct milter_spec *sp, const char *kv, const char **error_r)
{
	const char *eq = strchr(kv, '=');
	if (eq == NULL)
		return milter_spec_error(error_r, "expected key=value", kv);
	size_t kl = (size_t)(eq - kv);
	const char *v = eq + 1;
	uint64_t *dur = NULL;
	if (kl == 15 && strncmp(kv, "connect_timeout", kl) == 0)
		dur = &sp->connect_timeout_ms;
	else if (kl == 15 && strncmp(kv, "command_timeout", kl) == 0)
		dur = &sp->command_timeout_ms;
	else if (kl == 15 && strncmp(kv, "content_timeout", kl) == 0)
		dur = &sp->content_timeout_ms;
	if (dur != NULL) {
		uint64_t ms;
		if (!conf_parse_duration(v, &ms) || ms == 0 || ms > 3600000)
			return milter_spec_error(error_r, "bad duration", kv);
		*dur = ms;
		return 0;
	}
	if (kl == 14 && strncmp(kv, "default_action", kl) == 0) {
		if (strcmp(v, "tempfail") == 0)
			sp->default_action = CONF_MILTER_TEMPFAIL;
		else if (strcmp(v, "accept") == 0)
			sp->default_action = CONF_MILTER_ACCEPT;
		else if (strcmp(v, "reject") == 0)
			sp->default_action = CONF_MILTER_REJECT;
		else
			return milter_spec_error(error_r, "default_action must be tempfail, accept or reject",
						 kv);
		return 0;
	}
	return milter_spec_error(error_r, "unknown setting", kv);
}

static int milter_spec_endpoint(struct milter_spec *sp, const struct conf *c, const char *ep,
				const char **error_r)
{
	char host[MILTER_ENDPOINT_MAX];
	uint16_t port;
	bool is_unix;
	memset(sp, 0, sizeof(*sp));
	if (strlen(ep) >= sizeof(sp->endpoint) ||
	    milter_endpoint_split(ep, host, sizeof(host), &port, &is_unix) < 0)
		return milter_spec_error(error_r,
					 "expected inet:IPv4:port, inet:[IPv6]:port or unix:/path", ep);
	memcpy(sp->endpoint, ep, strlen(ep) + 1); /* its length was checked above */
	sp->default_action = c->milter_default_action;
	sp->connect_timeout_ms = c->milter_connect_timeout_ms;
	sp->command_timeout_ms = c->milter_command_timeout_ms;
	sp->content_timeout_ms = c->milter_content_timeout_ms;
	return 0;
}

int milter_spec_parse(const char *text, const struct conf *c, struct milter_spec *specs,
		      size_t max, size_t *n_r, const char **error_r)
{
	char work[CONF_LINE_MAX + 64];
	char *toks[MILTER_LIST_MAX * 8];
	size_t nt, n = 0;
	*n_r = 0;
	if (text == NULL)
		return 0;
	if (milter_tokens(text, work, sizeof(work), toks, sizeof(toks) / sizeof(toks[0]), &nt) < 0)
		return milter_spec_error(error_r, "list too long", text);
	for (size_t i = 0; i < nt; i++) {
		if (strcmp(toks[i], "}") == 0)
			return milter_spec_error(error_r, "unbalanced }", text);
		if (n == max)
			return milter_spec_error(error_r, "too many milters", text);
		if (strcmp(toks[i], "{") != 0) {
			if (milter_spec_endpoint(&specs[n], c, toks[i], error_r) < 0)
				return -1;
			n++;
			continue;
		}
		if (++i >= nt || strcmp(toks[i], "}") == 0 || strcmp(toks[i], "{") == 0)
			return milter_spec_error(error_r, "empty { }", text);
		if (milter_spec_endpoint(&specs[n], c, toks[i], error_r) < 0)
			return -1;
		for (i++; i < nt && strcmp(toks[i], "}") != 0; i++) {
			if (strcmp(toks[i], "{") == 0)
				return milter_spec_error(error_r, "nested {", text);
			if (milter_spec_option(&specs[n], toks[i], error_r) < 0)
				return -1;
		}
		if (i >= nt)
			return milter_spec_error(error_r, "missing }", text);
		n++;
	}
	*n_r = n;
	return 0;
}

size_t milter_tcp_ports(const char *text, const struct conf *c, uint16_t *ports, size_t max)
{
	struct milter_spec specs[MILTER_LIST_MAX];
	size_t n, np = 0;
	const char *err;
	if (milter_spec_parse(text, c, specs, MILTER_LIST_MAX, &n, &err) < 0)
		return 0;
	for (size_t i = 0; i < n && np < max; i++) {
		char host[MILTER_ENDPOINT_MAX];
		uint16_t port;
		bool is_unix;
		if (milter_endpoint_split(specs[i].endpoint, host, sizeof(host), &port, &is_unix) == 0 &&
		    !is_unix)
			ports[np++] = port;
	}
	return np;
}

