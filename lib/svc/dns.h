/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* The one DNS resolver (DESIGN sections 8 and 9): libunbound, validating
 * DNSSEC with the configured trust anchor, one context per process, every
 * query bounded by dns_timeout. Results are typed and carry their DNSSEC
 * status; a bogus answer is its own status, never "no record".
 *
 * Configuration (lib/sys/conf.c): dns_resolver = system (the nameservers of
 * /etc/resolv.conf as forwarders) or a list of IP[@PORT] forwarders;
 * dns_trust_anchor = a file of DS/DNSKEY records ("" disables validation:
 * nothing is then secure); dns_unbound_conf = a libunbound configuration
 * file read first (for tests: the dns-lab's stub zones and anchors);
 * dns_timeout = the longest one query (or one parallel group) may take.
 *
 * Process rules: create and dns_warm the context before entering a sandbox
 * (it reads resolv.conf and the anchor, and starts libunbound's worker
 * thread); never use a context across fork(). Answers are parsed through
 * proto/dnswire (lengths checked, names restricted to host-name characters).
 * Trust: answers come from the network; secure ones are DNSSEC-validated. */
#ifndef SEALMAIL_DNS_H
#define SEALMAIL_DNS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/dnswire.h"
#include "sys/conf.h"

enum dns_status {
	DNS_OK = 0,       /* records found (or a null MX, see below) */
	DNS_NODATA,       /* the name exists, no record of that type */
	DNS_NXDOMAIN,     /* the name does not exist */
	DNS_TEMPFAIL,     /* timeout, SERVFAIL, network error, malformed answer: retry later */
	DNS_BOGUS,        /* DNSSEC validation failed: a failure, never "no record" */
	DNS_BADNAME,      /* the name asked for is not a valid host name */
};

/* Records kept per answer at most (a 64 KiB answer holds fewer usable ones). */
#define DNS_RR_MAX 256

struct dns_rr {
	int family;             /* A/AAAA: AF_INET or AF_INET6 */
	unsigned char addr[16];
	uint16_t pref;          /* MX preference */
	char name[DNSWIRE_NAME_MAX + 1]; /* MX exchange, PTR name; lower case */
	uint8_t usage, selector, mtype;  /* TLSA (RFC 6698 section 2.1) */
	unsigned char *data;    /* TXT text (NUL-terminated; may hold NULs) or TLSA data; owned */
	size_t len;
};

struct dns_answer {
	enum dns_status status;
	/* Every answer this result was built from validated (DNSSEC). Meaningful
	 * for DNS_OK, DNS_NODATA and DNS_NXDOMAIN (authenticated denial). */
	bool secure;
	bool null_mx;     /* RFC 7505: the domain accepts no mail (status DNS_OK, n 0) */
	bool implicit_mx; /* RFC 5321 section 5.1: no MX RRset; rr[0] is the domain */
	size_t n;
	struct dns_rr *rr;
	char why[160];    /* for logs when TEMPFAIL or BOGUS; printable ASCII */
};

struct dns;

/* A context from the configuration: NULL with *error_r (static) when the
 * configuration is unusable (bad forwarder, missing anchor or conf file). */
struct dns *dns_new(const struct conf *c, const char **error_r);
/* Read the files and start libunbound's worker before a sandbox: 0, or -1. */
int dns_warm(struct dns *d);
void dns_free(struct dns **d);

/* Every lookup fills *a (release with dns_answer_clear) and returns its
 * status. */
/* MX of a mail domain, sorted by preference, equal preferences in random
 * order (RFC 5321 section 5.1). With no MX RRset but an A or AAAA record,
 * the implicit MX (implicit_mx, one rr naming the domain, preference 0);
 * with neither, DNS_NODATA. A single MX "0 ." is the null MX (RFC 7505). */
enum dns_status dns_mx(struct dns *d, const char *domain, struct dns_answer *a);
/* Addresses: family AF_INET, AF_INET6 or AF_UNSPEC (both, asked in
 * parallel; IPv6 first). */
enum dns_status dns_addr(struct dns *d, const char *name, int family, struct dns_answer *a);
/* TXT records, each record's strings concatenated. */
enum dns_status dns_txt(struct dns *d, const char *name, struct dns_answer *a);
/* TLSA records of an owner name such as "_25._tcp.mx.example.org". */
enum dns_status dns_tlsa(struct dns *d, const char *name, struct dns_answer *a);
/* PTR names of an address (4 or 16 bytes for AF_INET/AF_INET6). */
enum dns_status dns_ptr(struct dns *d, int family, const unsigned char *addr, struct dns_answer *a);

void dns_answer_clear(struct dns_answer *a);
const char *dns_status_name(enum dns_status s); /* "ok", "nodata", … (static) */

#endif
