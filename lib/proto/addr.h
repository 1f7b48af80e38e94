/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* Email address helpers: split local@domain, check RFC 5321 syntax and
 * limits, canonical text for lookups, +tag detection. Pure: no I/O, no
 * globals, no logging. Trust: pre-auth (parses what SMTP clients send).
 *
 * Local parts are compared case-insensitively (ASCII only), as Postfix and
 * Dovecot do for virtual users, although RFC 5321 section 2.4 lets the
 * receiving host treat them as case-sensitive. Domains are case-insensitive
 * (RFC 5321 section 2.4). Non-ASCII (RFC 6531) octets are kept as they are:
 * no Unicode case folding and no U-label to A-label conversion. */
#ifndef SEALMAIL_ADDR_H
#define SEALMAIL_ADDR_H

#include <stdbool.h>
#include <stddef.h>

/* RFC 5321 section 4.5.3.1.1: maximum local-part length, in octets. */
#define ADDR_LOCAL_MAX 64
/* RFC 5321 section 4.5.3.1.2: maximum domain length, in octets. */
#define ADDR_DOMAIN_MAX 255
/* RFC 5321 section 4.5.3.1.3: maximum reverse-path or forward-path length,
 * in octets, including the "<" and ">" punctuation. */
#define ADDR_PATH_MAX 256
/* A mailbox is the path without its angle brackets. */
#define ADDR_MAX (ADDR_PATH_MAX - 2)
/* Buffer size for any address text this module produces (with the NUL). */
#define ADDR_SIZE (ADDR_MAX + 1)
/* RFC 1035 section 2.3.4: a label is at most 63 octets. */
#define ADDR_LABEL_MAX 63
/* Sub-address separator: user+tag@domain is delivered to user@domain
 * (Postfix recipient_delimiter, Dovecot recipient_delimiter default). */
#define ADDR_TAG_SEP '+'

/* addr_parse flags. */
enum {
	/* RFC 6531 section 3.3: UTF-8 in the local part and U-labels in the
	 * domain (only when the client announced SMTPUTF8). */
	ADDR_UTF8 = 1 << 0,
	/* RFC 5321 section 4.1.3: address literals "[192.0.2.1]" and
	 * "[IPv6:2001:db8::1]" as the domain. */
	ADDR_LITERAL = 1 << 1,
};

struct addr {
	/* Local part with quoting removed (quoted-pairs decoded); never
	 * contains NUL. Lower-cased only by addr_lower_local(). */
	char local[ADDR_LOCAL_MAX + 1];
	size_t local_len;
	/* Domain, ASCII letters lower-cased; an address literal keeps its
	 * brackets. */
	char domain[ADDR_DOMAIN_MAX + 1];
	size_t domain_len;
	bool quoted;  /* local is not a dot-atom: it must be written as a quoted-string */
	bool utf8;    /* non-ASCII octets present: needs SMTPUTF8 (RFC 6531) */
	bool literal; /* domain is an address literal */
};

/* Parse the mailbox s (len octets, no angle brackets, no NUL required) into
 * a. 1: valid; 0: invalid (syntax, a limit exceeded, UTF-8 or a literal
 * without its flag). a is undefined on 0. */
int addr_parse(const char *s, size_t len, unsigned flags, struct addr *a);

/* Validate and normalise a domain name (no literal): ASCII lower-cased,
 * written with its NUL into out (outsz >= ADDR_DOMAIN_MAX + 1 always
 * suffices). 1: valid; 0: invalid; -1: out too small. Accepts A-labels
 * ("xn--…") as ordinary LDH labels and, with ADDR_UTF8, U-labels. */
int addr_domain_normalise(const char *s, size_t len, unsigned flags, char *out, size_t outsz);

/* Lower-case the ASCII letters of a->local in place (lookup form). */
void addr_lower_local(struct addr *a);

/* Write a as "local@domain" into out, quoting the local part only when it
 * is not a dot-atom (RFC 5321 section 4.1.2 prefers the dot-atom form).
 * Returns 0, or -1 when out is too small (ADDR_SIZE always suffices). */
int addr_format(const struct addr *a, char *out, size_t outsz);

/* The lookup key: parse, lower-case the local part, format. 1: written to
 * out; 0: invalid address; -1: out too small. */
int addr_normalise(const char *s, size_t len, unsigned flags, char *out, size_t outsz);

/* If a's local part has a tag ("user+tag"), return a pointer into a->local
 * to the tag (after the separator; may be ""), else NULL. A separator at
 * the start ("+x") is not a tag: the base would be empty. Quoted local
 * parts have no tags. */
const char *addr_tag(const struct addr *a);

/* Remove the tag in place ("user+tag" -> "user"). true if one was removed. */
bool addr_strip_tag(struct addr *a);

/* true when the local part is "postmaster" in any case (RFC 5321 section
 * 4.5.1: every domain accepting mail must accept it). */
bool addr_is_postmaster(const struct addr *a);

/* true for a well-formed UTF-8 sequence of len octets (RFC 3629 section 4:
 * no overlong forms, no surrogates, nothing above U+10FFFF). */
bool addr_utf8_valid(const unsigned char *s, size_t len);

#endif
