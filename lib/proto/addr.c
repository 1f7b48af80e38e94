/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* Email address syntax (RFC 5321 section 4.1.2, RFC 6531 section 3.3).
 * Trust: pre-auth input; every length is bounded before it is copied. */
#include "addr.h"

#include <arpa/inet.h>
#include <string.h>
#include <strings.h>

/* RFC 5322 section 3.2.3 atext, as used by RFC 5321 Atom. */
static bool addr_atext(unsigned char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
		return true;
	return c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL;
}

static bool addr_letdig(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

static unsigned char addr_lower(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') ? (unsigned char)(c - 'A' + 'a') : c;
}

/* Length (2-4) of the well-formed non-ASCII UTF-8 sequence at p (n octets
 * available), or 0. RFC 3629 section 4 gives the exact octet ranges. */
static size_t addr_utf8_seq(const unsigned char *p, size_t n)
{
	unsigned char c = p[0];
	size_t len;
	unsigned char lo = 0x80, hi = 0xbf; /* allowed range of the second octet */
	if (c >= 0xc2 && c <= 0xdf) {
		len = 2;
	} else if (c >= 0xe0 && c <= 0xef) {
		len = 3;
		if (c == 0xe0)
			lo = 0xa0; /* no overlong forms */
		else if (c == 0xed)
			hi = 0x9f; /* no UTF-16 surrogates */
	} else if (c >= 0xf0 && c <= 0xf4) {
		len = 4;
		if (c == 0xf0)
			lo = 0x90; /* no overlong forms */
		else if (c == 0xf4)
			hi = 0x8f; /* nothing above U+10FFFF */
	} else {
		return 0;
	}
	if (n < len || p[1] < lo || p[1] > hi)
		return 0;
	for (size_t i = 2; i < len; i++)
		if (p[i] < 0x80 || p[i] > 0xbf)
			return 0;
	return len;
}

bool addr_utf8_valid(const unsigned char *s, size_t len)
{
	size_t i = 0;
	while (i < len) {
		if (s[i] < 0x80) {
			i++;
			continue;
		}
		size_t l = addr_utf8_seq(s + i, len - i);
		if (l == 0)
			return false;
		i += l;
	}
	return true;
}

/* RFC 5321 Dot-string = Atom *("." Atom); with RFC 6531 atext also takes
 * UTF8-non-ascii. */
static bool addr_dot_string(const unsigned char *p, size_t n, bool utf8_ok)
{
	if (n == 0 || p[0] == '.' || p[n - 1] == '.')
		return false;
	size_t i = 0;
	while (i < n) {
		unsigned char c = p[i];
		if (c == '.') {
			if (p[i + 1] == '.') /* i + 1 < n: p[n - 1] is not '.' */
				return false;
			i++;
		} else if (c < 0x80) {
			if (!addr_atext(c))
				return false;
			i++;
		} else {
			size_t l = utf8_ok ? addr_utf8_seq(p + i, n - i) : 0;
			if (l == 0)
				return false;
			i += l;
		}
	}
	return true;
}

/* RFC 5321 Domain = sub-domain *("." sub-domain), sub-domain = Let-dig
 * [Ldh-str]; RFC 6531 adds U-label. Labels are limited by RFC 1035 section
 * 2.3.4. A top-level label of digits only is refused (RFC 3696 section 2):
 * "1.2.3.4" is an address, not a domain. */
static bool addr_domain_syntax(const unsigned char *p, size_t n, bool utf8_ok)
{
	if (n == 0 || n > ADDR_DOMAIN_MAX)
		return false;
	size_t i = 0;
	bool label_digits = true;
	while (i <= n) {
		size_t start = i;
		bool last_hyphen = false;
		label_digits = true;
		while (i < n && p[i] != '.') {
			unsigned char c = p[i];
			if (c < 0x80) {
				if (c == '-') {
					if (i == start)
						return false;
				} else if (!addr_letdig(c)) {
					return false;
				}
				if (!(c >= '0' && c <= '9'))
					label_digits = false;
				last_hyphen = c == '-';
				i++;
			} else {
				size_t l = utf8_ok ? addr_utf8_seq(p + i, n - i) : 0;
				if (l == 0)
					return false;
				label_digits = false;
				last_hyphen = false;
				i += l;
			}
		}
		if (i == start || i - start > ADDR_LABEL_MAX || last_hyphen)
			return false;
		if (i == n)
			break;
		i++; /* the dot; a trailing dot leaves an empty label, refused above */
	}
	return !label_digits;
}

/* RFC 5321 section 4.1.3 address literals: IPv4 or "IPv6:" forms. The
 * General-address-literal form has no registered tags we could deliver to. */
static bool addr_literal_syntax(const char *p, size_t n)
{
	char tmp[64];
	if (n < 3 || p[0] != '[' || p[n - 1] != ']' || n - 2 >= sizeof(tmp))
		return false;
	memcpy(tmp, p + 1, n - 2);
	tmp[n - 2] = '\0';
	unsigned char bin[16];
	if (strncasecmp(tmp, "IPv6:", 5) == 0)
		return inet_pton(AF_INET6, tmp + 5, bin) == 1;
	return inet_pton(AF_INET, tmp, bin) == 1;
}

/* Decode the quoted-string at s (s[0] == '"') into a->local. Returns the
 * number of octets consumed including both quotes, or 0 when malformed. */
static size_t addr_parse_quoted(const unsigned char *s, size_t len, bool utf8_ok, struct addr *a)
{
	size_t i = 1, o = 0;
	while (i < len && i < ADDR_LOCAL_MAX) {
		unsigned char c = s[i];
		if (c == '"') {
			a->local[o] = '\0';
			a->local_len = o;
			return i + 1;
		}
		size_t l = 1;
		if (c == '\\') {
			/* quoted-pairSMTP = %d92 %d32-126 */
			if (i + 1 >= len || s[i + 1] < 32 || s[i + 1] > 126)
				return 0;
			i++;
			c = s[i];
		} else if (c >= 0x80) {
			l = utf8_ok ? addr_utf8_seq(s + i, len - i) : 0;
			if (l == 0)
				return 0;
		} else if (c < 32 || c > 126) {
			/* qtextSMTP = %d32-33 / %d35-91 / %d93-126; '"' and '\' handled above */
			return 0;
		}
		/* Room must remain for the closing quote within ADDR_LOCAL_MAX;
		 * this also bounds o + l below sizeof(a->local). */
		if (i + l >= ADDR_LOCAL_MAX)
			return 0;
		memcpy(a->local + o, s + i, l);
		o += l;
		i += l;
	}
	return 0; /* unterminated, or longer than ADDR_LOCAL_MAX with its quotes */
}

int addr_parse(const char *str, size_t len, unsigned flags, struct addr *a)
{
	const unsigned char *s = (const unsigned char *)str;
	bool utf8_ok = (flags & ADDR_UTF8) != 0;
	memset(a, 0, sizeof(*a));
	if (len == 0 || len > ADDR_MAX || memchr(s, '\0', len) != NULL)
		return 0;

	size_t at;
	if (s[0] == '"') {
		at = addr_parse_quoted(s, len, utf8_ok, a);
		if (at == 0 || at >= len || s[at] != '@' || a->local_len == 0)
			return 0;
		/* A quoted form that is a plain dot-atom is the same mailbox. */
		a->quoted =
			!addr_dot_string((const unsigned char *)a->local, a->local_len, utf8_ok);
	} else {
		const unsigned char *p = memchr(s, '@', len);
		if (p == NULL)
			return 0;
		at = (size_t)(p - s);
		if (at > ADDR_LOCAL_MAX || !addr_dot_string(s, at, utf8_ok))
			return 0;
		memcpy(a->local, s, at);
		a->local[at] = '\0';
		a->local_len = at;
	}

	const char *dom = str + at + 1;
	size_t dlen = len - at - 1;
	if (dlen == 0 || dlen > ADDR_DOMAIN_MAX)
		return 0;
	if (dom[0] == '[') {
		if (!(flags & ADDR_LITERAL) || !addr_literal_syntax(dom, dlen))
			return 0;
		a->literal = true;
	} else if (!addr_domain_syntax((const unsigned char *)dom, dlen, utf8_ok)) {
		return 0;
	}
	for (size_t i = 0; i < dlen; i++)
		a->domain[i] = (char)addr_lower((unsigned char)dom[i]);
	a->domain[dlen] = '\0';
	a->domain_len = dlen;

	for (size_t i = 0; i < len; i++) {
		if (s[i] >= 0x80) {
			a->utf8 = true;
			break;
		}
	}
	return 1;
}

int addr_domain_normalise(const char *s, size_t len, unsigned flags, char *out, size_t outsz)
{
	if (memchr(s, '\0', len) != NULL ||
	    !addr_domain_syntax((const unsigned char *)s, len, (flags & ADDR_UTF8) != 0))
		return 0;
	if (outsz <= len)
		return -1;
	for (size_t i = 0; i < len; i++)
		out[i] = (char)addr_lower((unsigned char)s[i]);
	out[len] = '\0';
	return 1;
}

void addr_lower_local(struct addr *a)
{
	for (size_t i = 0; i < a->local_len; i++)
		a->local[i] = (char)addr_lower((unsigned char)a->local[i]);
}

int addr_format(const struct addr *a, char *out, size_t outsz)
{
	size_t o = 0;
#define ADDR_PUT(c)                                                                                \
	do {                                                                                       \
		if (o + 1 >= outsz)                                                                \
			return -1;                                                                 \
		out[o++] = (c);                                                                    \
	} while (0)
	if (outsz == 0)
		return -1;
	if (a->quoted)
		ADDR_PUT('"');
	for (size_t i = 0; i < a->local_len; i++) {
		if (a->quoted && (a->local[i] == '"' || a->local[i] == '\\'))
			ADDR_PUT('\\');
		ADDR_PUT(a->local[i]);
	}
	if (a->quoted)
		ADDR_PUT('"');
	ADDR_PUT('@');
	for (size_t i = 0; i < a->domain_len; i++)
		ADDR_PUT(a->domain[i]);
#undef ADDR_PUT
	out[o] = '\0';
	return 0;
}

int addr_normalise(const char *s, size_t len, unsigned flags, char *out, size_t outsz)
{
	struct addr a;
	if (addr_parse(s, len, flags, &a) != 1)
		return 0;
	addr_lower_local(&a);
	return addr_format(&a, out, outsz) == 0 ? 1 : -1;
}

const char *addr_tag(const struct addr *a)
{
	if (a->quoted)
		return NULL;
	const char *sep = memchr(a->local, ADDR_TAG_SEP, a->local_len);
	if (sep == NULL || sep == a->local)
		return NULL;
	/* "a.+tag" is a valid dot-atom but its base "a." is not: no tag. */
	if (!addr_dot_string((const unsigned char *)a->local, (size_t)(sep - a->local), a->utf8))
		return NULL;
	return sep + 1;
}

bool addr_strip_tag(struct addr *a)
{
	const char *tag = addr_tag(a);
	if (tag == NULL)
		return false;
	a->local_len = (size_t)(tag - 1 - a->local);
	a->local[a->local_len] = '\0';
	return true;
}

bool addr_is_postmaster(const struct addr *a)
{
	return a->local_len == 10 && strncasecmp(a->local, "postmaster", 10) == 0;
}
