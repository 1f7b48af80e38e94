/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* dnsq: one lookup through lib/svc/dns, for the integration tests.
 *     dnsq -c CONF mx|a|aaaa|addr|txt|tlsa|ptr NAME
 * Prints "status=<s> secure=<0|1> null_mx=<0|1> implicit_mx=<0|1> n=<n>"
 * then one line per record: "mx PREF HOST", "a ADDR", "aaaa ADDR",
 * "txt HEX", "tlsa U S M HEX", "ptr NAME"; "why TEXT" when there is one.
 * Exit 0 when the lookup ran (whatever its status), 2 on usage, 3 when the
 * configuration is unusable. */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "svc/dns.h"
#include "sys/conf.h"

static void hex(const unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		printf("%02x", p[i]);
}

static void print_rr(const char *type, const struct dns_rr *rr)
{
	char ip[INET6_ADDRSTRLEN];
	if (strcmp(type, "mx") == 0) {
		printf("mx %u %s\n", rr->pref, rr->name);
	} else if (strcmp(type, "ptr") == 0) {
		printf("ptr %s\n", rr->name);
	} else if (strcmp(type, "txt") == 0) {
		printf("txt ");
		hex(rr->data, rr->len);
		printf("\n");
	} else if (strcmp(type, "tlsa") == 0) {
		printf("tlsa %u %u %u ", rr->usage, rr->selector, rr->mtype);
		hex(rr->data, rr->len);
		printf("\n");
	} else if (inet_ntop(rr->family, rr->addr, ip, sizeof(ip)) != NULL) {
		printf("%s %s\n", rr->family == AF_INET ? "a" : "aaaa", ip);
	}
}

int main(int argc, char **argv)
{
	if (argc != 5 || strcmp(argv[1], "-c") != 0) {
		fprintf(stderr, "usage: dnsq -c CONF mx|a|aaaa|addr|txt|tlsa|ptr NAME\n");
		return 2;
	}
	const char *type = argv[3], *name = argv[4], *err;
	struct conf *c = conf_new();
	if (conf_load(c, argv[2], &err) < 0) {
		fprintf(stderr, "dnsq: %s\n", err);
		conf_free(&c);
		return 3;
	}
	struct dns *d = dns_new(c, &err);
	if (d == NULL || dns_warm(d) < 0) {
		fprintf(stderr, "dnsq: %s\n", d == NULL ? err : "cannot start the resolver");
		dns_free(&d);
		conf_free(&c);
		return 3;
	}
	struct dns_answer a;
	unsigned char addr[16];
	if (strcmp(type, "mx") == 0)
		dns_mx(d, name, &a);
	else if (strcmp(type, "a") == 0)
		dns_addr(d, name, AF_INET, &a);
	else if (strcmp(type, "aaaa") == 0)
		dns_addr(d, name, AF_INET6, &a);
	else if (strcmp(type, "addr") == 0)
		dns_addr(d, name, AF_UNSPEC, &a);
	else if (strcmp(type, "txt") == 0)
		dns_txt(d, name, &a);
	else if (strcmp(type, "tlsa") == 0)
		dns_tlsa(d, name, &a);
	else if (strcmp(type, "ptr") == 0 && inet_pton(AF_INET, name, addr) == 1)
		dns_ptr(d, AF_INET, addr, &a);
	else if (strcmp(type, "ptr") == 0 && inet_pton(AF_INET6, name, addr) == 1)
		dns_ptr(d, AF_INET6, addr, &a);
	else {
		fprintf(stderr, "dnsq: unknown type or address\n");
		dns_free(&d);
		conf_free(&c);
		return 2;
	}
	printf("status=%s secure=%d null_mx=%d implicit_mx=%d n=%zu\n", dns_status_name(a.status),
	       a.secure, a.null_mx, a.implicit_mx, a.n);
	for (size_t i = 0; i < a.n; i++)
		print_rr(type, &a.rr[i]);
	if (a.why[0])
		printf("why %s\n", a.why);
	dns_answer_clear(&a);
	dns_free(&d);
	conf_free(&c);
	return 0;
}
