/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* The DNS resolver on libunbound (dns.h). Queries run on libunbound's worker
 * thread (ub_ctx_async 1: a thread, not the forked helper process it would
 * use otherwise) and are waited for with poll() on ub_fd() up to the
 * deadline; what has not answered by then is cancelled. Record data is
 * parsed by proto/dnswire only. Trust: answers come from the network. */
#include "dns.h"

#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unbound.h>
#include <unistd.h>

#include "base/fmt.h"
#include "base/mem.h"
#include "base/rnd.h"
#include "base/timeutil.h"

/* RFC 1035 3.2.2, RFC 3596, RFC 6698 section 7.1. */
enum { DNS_T_A = 1, DNS_T_PTR = 12, DNS_T_MX = 15, DNS_T_TXT = 16, DNS_T_AAAA = 28,
       DNS_T_TLSA = 52 };
enum { DNS_CLASS_IN = 1, DNS_RCODE_NXDOMAIN = 3 };

struct dns {
	struct ub_ctx *ctx;
	uint64_t timeout_ms;
};

static char dns_err[256];

const char *dns_status_name(enum dns_status s)
{
	switch (s) {
	case DNS_OK:
		return "ok";
	case DNS_NODATA:
		return "nodata";
	case DNS_NXDOMAIN:
		return "nxdomain";
	case DNS_TEMPFAIL:
		return "tempfail";
	case DNS_BOGUS:
		return "bogus";
	case DNS_BADNAME:
		return "badname";
	}
	return "?";
}

static const char *dns_fail(const char *what, const char *detail)
{
	fmt_msg(dns_err, sizeof(dns_err), "%s: %s", what, detail);
	return dns_err;
}

/* One forwarder "IP" or "IP@PORT": checked here, since libunbound accepts
 * names it then cannot use, and only reports them at the first query. */
static bool dns_forwarder_ok(const char *s)
{
	char ip[INET6_ADDRSTRLEN + 1];
	const char *at = strchr(s, '@');
	size_t n = at ? (size_t)(at - s) : strlen(s);
	unsigned char tmp[16];
	if (n == 0 || n >= sizeof(ip))
		return false;
	memcpy(ip, s, n);
	ip[n] = '\0';
	if (inet_pton(AF_INET, ip, tmp) != 1 && inet_pton(AF_INET6, ip, tmp) != 1)
		return false;
	if (at == NULL)
		return true;
	unsigned long port = 0;
	const char *p = at + 1;
	if (*p == '\0' || strlen(p) > 5)
		return false;
	for (; *p; p++) {
		if (*p < '0' || *p > '9')
			return false;
		port = port * 10 + (unsigned long)(*p - '0');
	}
	return port >= 1 && port <= 65535;
}

static int dns_set_resolver(struct ub_ctx *ctx, const char *spec, const char **error_r)
{
	int rc;
	if (strcmp(spec, "system") == 0) {
		rc = ub_ctx_resolvconf(ctx, "/etc/resolv.conf");
		if (rc != 0) {
			*error_r = dns_fail("dns_resolver = system: /etc/resolv.conf", ub_strerror(rc));
			return -1;
		}
	} else {
		char *copy = mem_strdup(spec), *save = NULL;
		size_t count = 0;
		for (char *t = strtok_r(copy, " ,", &save); t; t = strtok_r(NULL, " ,", &save)) {
			if (!dns_forwarder_ok(t) || (rc = ub_ctx_set_fwd(ctx, t)) != 0) {
				*error_r = dns_fail("dns_resolver: expected system or IP[@PORT] ...", t);
				free(copy);
				return -1;
			}
			count++;
		}
		free(copy);
		if (count == 0) {
			*error_r = dns_fail("dns_resolver", "empty");
			return -1;
		}
	}
	/* Forwarders are chosen by the administrator, and a local caching
	 * resolver (127.0.0.53, unbound on ::1) is the common case; libunbound
	 * refuses loopback servers unless told. */
	ub_ctx_set_option(ctx, "do-not-query-localhost:", "no");
	return 0;
}

struct dns *dns_new(const struct conf *c, const char **error_r)
{
	struct ub_ctx *ctx = ub_ctx_create();
	if (ctx == NULL) {
		*error_r = "dns: cannot create a libunbound context";
		return NULL;
	}
	int rc;
	if (c->dns_unbound_conf[0] != '\0' && (rc = ub_ctx_config(ctx, c->dns_unbound_conf)) != 0) {
		*error_r = dns_fail(c->dns_unbound_conf, ub_strerror(rc));
		goto fail;
	}
	if ((rc = ub_ctx_async(ctx, 1)) != 0) {
		*error_r = dns_fail("dns: threads", ub_strerror(rc));
		goto fail;
	}
	if (dns_set_resolver(ctx, c->dns_resolver, error_r) < 0)
		goto fail;
	if (c->dns_trust_anchor[0] != '\0') {
		/* libunbound reads the file only at the first query: check now. */
		if (access(c->dns_trust_anchor, R_OK) != 0) {
			*error_r = dns_fail(c->dns_trust_anchor, strerror(errno));
			goto fail;
		}
		if ((rc = ub_ctx_add_ta_file(ctx, c->dns_trust_anchor)) != 0) {
			*error_r = dns_fail(c->dns_trust_anchor, ub_strerror(rc));
			goto fail;
		}
	}
	struct dns *d = mem_zalloc(sizeof(*d));
	d->ctx = ctx;
	d->timeout_ms = c->dns_timeout_ms;
	return d;
fail:
	ub_ctx_delete(ctx);
	return NULL;
}

void dns_free(struct dns **dp)
{
	struct dns *d = *dp;
	if (d == NULL)
		return;
	ub_ctx_delete(d->ctx);
	free(d);
	*dp = NULL;
}

/* One query of a group asked in parallel. */
struct dns_q {
	int type;
	bool done;
	int err; /* libunbound error, or UB_NOERROR */
	bool timeout;
	int id;
	struct ub_result *res;
};

static void dns_cb(void *arg, int err, struct ub_result *res)
{
	struct dns_q *q = arg;
	q->done = true;
	q->err = err;
	q->res = res;
}

/* Ask every query of q for name and wait for all of them, at most the
 * configured timeout in total. */
static void dns_run(struct dns *d, const char *name, struct dns_q *q, size_t n)
{
	size_t pending = 0;
	for (size_t i = 0; i < n; i++) {
		q[i].done = false;
		q[i].res = NULL;
		q[i].timeout = false;
		q[i].err = ub_resolve_async(d->ctx, name, q[i].type, DNS_CLASS_IN, &q[i], dns_cb,
					    &q[i].id);
		if (q[i].err != 0)
			q[i].done = true;
		else
			pending++;
	}
	int64_t deadline = timeutil_mono_ms() + (int64_t)d->timeout_ms;
	while (pending > 0) {
		int64_t left = deadline - timeutil_mono_ms();
		if (left <= 0)
			break;
		struct pollfd pfd = {ub_fd(d->ctx), POLLIN, 0};
		int pr = poll(&pfd, 1, (int)(left > 60000 ? 60000 : left));
		if (pr < 0 && errno != EINTR)
			break;
		if (pr > 0 && ub_process(d->ctx) != 0)
			break;
		pending = 0;
		for (size_t i = 0; i < n; i++)
			pending += !q[i].done;
	}
	for (size_t i = 0; i < n; i++) {
		if (!q[i].done) {
			ub_cancel(d->ctx, q[i].id);
			q[i].done = true;
			q[i].timeout = true;
		}
	}
}

static void dns_why(struct dns_answer *a, const char *text)
{
	size_t n = 0;
	for (; text && text[n] && n < sizeof(a->why) - 1; n++) {
		unsigned char c = (unsigned char)text[n];
		a->why[n] = (c < 0x20 || c >= 0x7f) ? '?' : (char)c;
	}
	a->why[n] = '\0';
}

/* The status of one finished query. */
static enum dns_status dns_classify(const struct dns_q *q, struct dns_answer *a)
{
	if (q->timeout) {
		dns_why(a, "timeout");
		return DNS_TEMPFAIL;
	}
	if (q->err != 0 || q->res == NULL) {
		dns_why(a, ub_strerror(q->err));
		return DNS_TEMPFAIL;
	}
	const struct ub_result *r = q->res;
	/* Bogus first: libunbound reports it as SERVFAIL without data, which
	 * must never read as "no such record" (a forged denial). */
	if (r->bogus) {
		dns_why(a, r->why_bogus ? r->why_bogus : "DNSSEC validation failed");
		return DNS_BOGUS;
	}
	if (r->nxdomain || r->rcode == DNS_RCODE_NXDOMAIN)
		return DNS_NXDOMAIN;
	if (r->rcode != 0) {
		char t[32];
		fmt_msg(t, sizeof(t), "rcode %d", r->rcode);
		dns_why(a, t);
		return DNS_TEMPFAIL;
	}
	return r->havedata ? DNS_OK : DNS_NODATA;
}

static struct dns_rr *dns_add_rr(struct dns_answer *a)
{
	if (a->n >= DNS_RR_MAX)
		return NULL;
	if ((a->n & (a->n + 1)) == 0 || a->rr == NULL) /* grow at 0, 1, 3, 7, … */
		a->rr = mem_realloc(a->rr, a->n * 2 + 2, sizeof(*a->rr));
	struct dns_rr *rr = &a->rr[a->n++];
	memset(rr, 0, sizeof(*rr));
	return rr;
}

/* Parse one RDATA of type t into a new record: 1 ok, 0 malformed. */
static int dns_parse_rr(struct dns_answer *a, int t, const unsigned char *rd, size_t len)
{
	struct dns_rr *rr = dns_add_rr(a);
	if (rr == NULL)
		return 1; /* more than DNS_RR_MAX: the rest is ignored */
	const unsigned char *data;
	switch (t) {
	case DNS_T_A:
	case DNS_T_AAAA:
		if (len != (t == DNS_T_A ? 4u : 16u))
			return 0;
		rr->family = t == DNS_T_A ? AF_INET : AF_INET6;
		memcpy(rr->addr, rd, len);
		return 1;
	case DNS_T_MX:
		return dnswire_mx(rd, len, &rr->pref, rr->name, sizeof(rr->name));
	case DNS_T_PTR:
		return dnswire_ptr(rd, len, rr->name, sizeof(rr->name));
	case DNS_T_TXT:
		rr->data = mem_alloc(len + 1);
		return dnswire_txt(rd, len, rr->data, &rr->len);
	case DNS_T_TLSA:
		if (dnswire_tlsa(rd, len, &rr->usage, &rr->selector, &rr->mtype, &data, &rr->len) != 1)
			return 0;
		rr->data = mem_dup(data, rr->len);
		return 1;
	}
	return 0;
}

/* Fold finished queries into a: records of those that answered, the
 * worst status otherwise (bogus over tempfail over nodata over nxdomain),
 * secure only when every one was. */
static enum dns_status dns_collect(struct dns_q *q, size_t n, struct dns_answer *a)
{
	bool any_ok = false, bogus = false, temp = false, nodata = false, secure = true;
	for (size_t i = 0; i < n; i++) {
		enum dns_status s = dns_classify(&q[i], a);
		bogus |= s == DNS_BOGUS;
		temp |= s == DNS_TEMPFAIL;
		nodata |= s == DNS_NODATA;
		if (s == DNS_OK || s == DNS_NODATA || s == DNS_NXDOMAIN)
			secure &= q[i].res->secure != 0;
		if (s != DNS_OK || bogus)
			continue;
		any_ok = true;
		const struct ub_result *r = q[i].res;
		for (size_t k = 0; r->data[k] != NULL; k++) {
			if (r->len[k] < 0 ||
			    dns_parse_rr(a, q[i].type, (const unsigned char *)r->data[k],
					 (size_t)r->len[k]) != 1) {
				dns_why(a, "malformed record in answer");
				temp = true;
				any_ok = false;
				break;
			}
		}
	}
	for (size_t i = 0; i < n; i++)
		ub_resolve_free(q[i].res);
	a->secure = secure;
	if (bogus)
		a->status = DNS_BOGUS;
	else if (any_ok)
		a->status = DNS_OK;
	else if (temp)
		a->status = DNS_TEMPFAIL;
	else
		a->status = nodata ? DNS_NODATA : DNS_NXDOMAIN;
	if (a->status != DNS_OK) {
		for (size_t i = 0; i < a->n; i++)
			free(a->rr[i].data);
		a->n = 0;
		a->secure = a->secure && (a->status == DNS_NODATA || a->status == DNS_NXDOMAIN);
	} else {
		a->why[0] = '\0';
	}
	return a->status;
}

static enum dns_status dns_lookup(struct dns *d, const char *name, const int *types, size_t n,
				  struct dns_answer *a)
{
	struct dns_q q[2];
	memset(a, 0, sizeof(*a));
	if (!dnswire_name_ok(name)) {
		a->status = DNS_BADNAME;
		return a->status;
	}
	for (size_t i = 0; i < n; i++)
		q[i].type = types[i];
	dns_run(d, name, q, n);
	return dns_collect(q, n, a);
}

int dns_warm(struct dns *d)
{
	/* localhost is one of libunbound's default local zones: answered
	 * without the network, after the context read its files. */
	struct dns_q q = {.type = DNS_T_A};
	dns_run(d, "localhost.", &q, 1);
	int rc = q.err == 0 && !q.timeout ? 0 : -1;
	ub_resolve_free(q.res);
	return rc;
}

void dns_answer_clear(struct dns_answer *a)
{
	for (size_t i = 0; i < a->n; i++)
		free(a->rr[i].data);
	free(a->rr);
	memset(a, 0, sizeof(*a));
}

static int dns_mx_cmp(const void *x, const void *y)
{
	const struct dns_rr *a = x, *b = y;
	return (int)a->pref - (int)b->pref;
}

/* Sort by preference, then shuffle each run of equal preference (RFC 5321
 * section 5.1: the sender MUST randomise among equal preferences). */
static void dns_mx_order(struct dns_answer *a)
{
	qsort(a->rr, a->n, sizeof(*a->rr), dns_mx_cmp);
	for (size_t s = 0; s < a->n;) {
		size_t e = s + 1;
		while (e < a->n && a->rr[e].pref == a->rr[s].pref)
			e++;
		for (size_t i = e - 1; i > s; i--) {
			size_t j = s + rnd_uniform((uint32_t)(i - s + 1));
			struct dns_rr t = a->rr[i];
			a->rr[i] = a->rr[j];
			a->rr[j] = t;
		}
		s = e;
	}
}

/* RFC 7505: MX records whose exchange is the root are no mail host. All of
 * them: the null MX. Some: dropped (RFC 7505 section 3 forbids the mix;
 * the others still name hosts). */
static void dns_mx_null(struct dns_answer *a)
{
	size_t k = 0;
	for (size_t i = 0; i < a->n; i++)
		if (a->rr[i].name[0] != '\0')
			a->rr[k++] = a->rr[i];
	a->null_mx = k == 0;
	a->n = k;
}

enum dns_status dns_mx(struct dns *d, const char *domain, struct dns_answer *a)
{
	static const int mx[] = {DNS_T_MX};
	static const int addr[] = {DNS_T_AAAA, DNS_T_A};
	enum dns_status s = dns_lookup(d, domain, mx, 1, a);
	if (s == DNS_OK) {
		dns_mx_null(a);
		dns_mx_order(a);
		return s;
	}
	if (s != DNS_NODATA)
		return s;
	/* RFC 5321 section 5.1: no MX RRset at all, so the domain itself is
	 * the implicit MX, if it has an address. */
	bool mx_secure = a->secure;
	struct dns_answer b;
	s = dns_lookup(d, domain, addr, 2, &b);
	if (s == DNS_OK) {
		dns_answer_clear(a);
		struct dns_rr *rr = dns_add_rr(a);
		size_t n = strlen(domain);
		if (n > 0 && domain[n - 1] == '.')
			n--;
		for (size_t i = 0; i < n; i++) /* dnswire_name_ok checked it */
			rr->name[i] = (char)(domain[i] >= 'A' && domain[i] <= 'Z' ? domain[i] + 32 : domain[i]);
		rr->name[n] = '\0';
		a->implicit_mx = true;
		a->status = DNS_OK;
		a->secure = mx_secure && b.secure;
	} else {
		a->status = s;
		a->secure = mx_secure && b.secure;
		memcpy(a->why, b.why, sizeof(a->why));
	}
	dns_answer_clear(&b);
	return a->status;
}

enum dns_status dns_addr(struct dns *d, const char *name, int family, struct dns_answer *a)
{
	static const int both[] = {DNS_T_AAAA, DNS_T_A};
	static const int v4[] = {DNS_T_A};
	if (family == AF_INET6)
		return dns_lookup(d, name, both, 1, a);
	if (family == AF_INET)
		return dns_lookup(d, name, v4, 1, a);
	return dns_lookup(d, name, both, 2, a);
}

enum dns_status dns_txt(struct dns *d, const char *name, struct dns_answer *a)
{
	static const int t[] = {DNS_T_TXT};
	return dns_lookup(d, name, t, 1, a);
}

enum dns_status dns_tlsa(struct dns *d, const char *name, struct dns_answer *a)
{
	static const int t[] = {DNS_T_TLSA};
	return dns_lookup(d, name, t, 1, a);
}

enum dns_status dns_ptr(struct dns *d, int family, const unsigned char *addr, struct dns_answer *a)
{
	static const int t[] = {DNS_T_PTR};
	char name[80];
	if (dnswire_reverse_name(family, addr, name, sizeof(name)) < 0) {
		memset(a, 0, sizeof(*a));
		a->status = DNS_BADNAME;
		return a->status;
	}
	return dns_lookup(d, name, t, 1, a);
}
