/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* Resolving a destination: relayhost, else MX (RFC 5321 section 5.1) and
 * each exchange's addresses in preference order. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/fmt.h"
#include "queued.h"

static void fail(struct qd_dest *d, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void fail(struct qd_dest *d, int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	d->fail_code = code;
	fmt_vmsg(d->fail, sizeof(d->fail), fmt, ap);
	va_end(ap);
}

/* Append the addresses of host (an IP literal or a name) on port. */
static enum dns_status add_host(struct qd *q, const char *host, uint16_t port, struct qd_dest *d)
{
	struct sockaddr_in v4 = {.sin_family = AF_INET, .sin_port = htons(port)};
	struct sockaddr_in6 v6 = {.sin6_family = AF_INET6, .sin6_port = htons(port)};
	if (d->naddr >= QD_ADDR_MAX)
		return DNS_OK;
	size_t k = d->naddr;
	if (inet_pton(AF_INET, host, &v4.sin_addr) == 1) {
		memcpy(&d->addr[k], &v4, sizeof(v4));
		d->addrlen[k] = sizeof(v4);
	} else if (inet_pton(AF_INET6, host, &v6.sin6_addr) == 1) {
		memcpy(&d->addr[k], &v6, sizeof(v6));
		d->addrlen[k] = sizeof(v6);
	} else {
		struct dns_answer a;
		enum dns_status st = dns_addr(q->dns, host, AF_UNSPEC, &a);
		for (size_t i = 0; st == DNS_OK && i < a.n && d->naddr < QD_ADDR_MAX; i++) {
			k = d->naddr++;
			snprintf(d->host[k], sizeof(d->host[k]), "%s", host);
			if (a.rr[i].family == AF_INET) {
				memcpy(&v4.sin_addr, a.rr[i].addr, 4);
				memcpy(&d->addr[k], &v4, sizeof(v4));
				d->addrlen[k] = sizeof(v4);
			} else {
				memcpy(&v6.sin6_addr, a.rr[i].addr, 16);
				memcpy(&d->addr[k], &v6, sizeof(v6));
				d->addrlen[k] = sizeof(v6);
			}
		}
		dns_answer_clear(&a);
		return st;
	}
	snprintf(d->host[k], sizeof(d->host[k]), "%s", host);
	d->naddr++;
	return DNS_OK;
}

static void resolve_relay(struct qd *q, struct qd_dest *d)
{
	char host[256];
	uint16_t port = 25;
	const char *r = q->conf->relayhost;
	const char *colon = strrchr(r, ':');
	/* "host:port", "[v6]:port", "host" */
	if (r[0] == '[') {
		const char *end = strchr(r, ']');
		if (end == NULL || (size_t)(end - r - 1) >= sizeof(host)) {
			fail(d, 451, "451 4.3.5 bad relayhost %s", r);
			return;
		}
		memcpy(host, r + 1, (size_t)(end - r - 1));
		host[end - r - 1] = '\0';
		colon = end[1] == ':' ? end + 1 : NULL;
	} else {
		size_t n = colon != NULL ? (size_t)(colon - r) : strlen(r);
		if (n >= sizeof(host)) {
			fail(d, 451, "451 4.3.5 bad relayhost %s", r);
			return;
		}
		memcpy(host, r, n);
		host[n] = '\0';
	}
	if (colon != NULL) {
		long p = strtol(colon + 1, NULL, 10);
		if (p <= 0 || p > 65535) {
			fail(d, 451, "451 4.3.5 bad relayhost port in %s", r);
			return;
		}
		port = (uint16_t)p;
	}
	enum dns_status st = add_host(q, host, port, d);
	if (d->naddr == 0)
		fail(d, 451, "451 4.4.3 relayhost %s has no usable address", dns_status_name(st));
}

void qd_resolve(struct qd *q, const char *domain, struct qd_dest *d)
{
	memset(d, 0, sizeof(*d));
	if (q->conf->relayhost[0] != '\0') {
		resolve_relay(q, d);
		return;
	}
	if (q->dns == NULL) {
		fail(d, 451, "451 4.4.3 no resolver (%s)", "dns_new failed");
		return;
	}
	struct dns_answer a;
	enum dns_status st = dns_mx(q->dns, domain, &a);
	if (st == DNS_OK && a.null_mx) {
		/* RFC 7505 section 3: the domain accepts no mail. */
		fail(d, 550, "550 5.1.10 %s publishes a null MX (RFC 7505): it accepts no mail",
		     domain);
	} else if (st == DNS_NXDOMAIN || st == DNS_NODATA || st == DNS_BADNAME) {
		fail(d, 550, "550 5.1.2 no mail exchanger for %s", domain);
	} else if (st != DNS_OK) {
		/* TEMPFAIL and BOGUS: retry later (RFC 7672 section 2.1.1). */
		d->fail_code = 451;
		fmt_msg(d->fail, sizeof(d->fail), "451 4.4.3 MX lookup for %s: %s %s", domain,
		        dns_status_name(st), a.why);
	} else {
		enum dns_status last = DNS_OK;
		for (size_t i = 0; i < a.n && d->naddr < QD_ADDR_MAX; i++)
			last = add_host(q, a.rr[i].name, 25, d);
		if (d->naddr == 0) {
			d->fail_code = 451;
			fmt_msg(d->fail, sizeof(d->fail),
			        "451 4.4.3 no address for the MX of %s (%s)", domain,
			        dns_status_name(last));
		}
	}
	dns_answer_clear(&a);
}
