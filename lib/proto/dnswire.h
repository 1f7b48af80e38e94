/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* DNS record data in wire format (RFC 1035 sections 3.1 and 3.3, RFC 3596,
 * RFC 6698 section 2.1) and DNS names as text. Pure: no I/O, no globals, no
 * logging. The resolver (svc/dns) hands these functions the RDATA that
 * libunbound parsed and decompressed; they check every length against its
 * bound, accept no compression pointers, and accept only host-name
 * characters in names, so a hostile answer cannot put a dot, a space or a
 * control character into a name we later print or connect to.
 * Trust: data from the network (possibly DNSSEC-validated). */
#ifndef SEALMAIL_DNSWIRE_H
#define SEALMAIL_DNSWIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* RFC 1035 section 2.3.4: labels of at most 63 octets, names of at most 255
 * octets in wire form, which is 253 characters as text without the final dot. */
#define DNSWIRE_LABEL_MAX 63
#define DNSWIRE_NAME_MAX 253
#define DNSWIRE_WIRE_MAX 255

/* A name as text that we may query: 1 to DNSWIRE_NAME_MAX characters, an
 * optional final dot, labels of 1 to 63 letters, digits, '-' or '_' (the
 * last for _25._tcp.host and _dmarc). No IDN: callers pass A-labels. */
bool dnswire_name_ok(const char *name);

/* Decode the uncompressed wire name at p[0..len) into out (lower case, no
 * final dot; the root is ""). 1 with *used_r = bytes consumed; 0 when it is
 * malformed, too long, compressed, or holds a character dnswire_name_ok
 * refuses. outsz must be at least DNSWIRE_NAME_MAX + 1. */
int dnswire_name(const unsigned char *p, size_t len, char *out, size_t outsz, size_t *used_r);

/* MX (RFC 1035 3.3.9): preference and exchange; the whole RDATA must be
 * used. 1 ok, 0 malformed. *host is "" for the root (RFC 7505 null MX). */
int dnswire_mx(const unsigned char *rd, size_t len, uint16_t *pref, char *host, size_t hostsz);
/* PTR (RFC 1035 3.3.12) or any RDATA that is exactly one name. */
int dnswire_ptr(const unsigned char *rd, size_t len, char *host, size_t hostsz);
/* TXT (RFC 1035 3.3.14): the character-strings of one record concatenated
 * (RFC 7208 section 3.3, RFC 6376 section 3.6.2.2) into out[0..*outlen),
 * NUL-terminated (the data itself may hold NULs). out must hold len bytes:
 * the text is never longer than the RDATA. 1 ok, 0 malformed. */
int dnswire_txt(const unsigned char *rd, size_t len, unsigned char *out, size_t *outlen);
/* TLSA (RFC 6698 section 2.1): usage, selector, matching type and the
 * association data (pointing into rd). 1 ok, 0 malformed (no data). */
int dnswire_tlsa(const unsigned char *rd, size_t len, uint8_t *usage, uint8_t *selector,
		 uint8_t *mtype, const unsigned char **data, size_t *dlen);

/* The reverse-lookup name of an address (RFC 1035 3.5, RFC 3596 2.5):
 * family AF_INET (4 bytes) or AF_INET6 (16 bytes). 0, or -1 when out is
 * too small or the family unknown. */
int dnswire_reverse_name(int family, const unsigned char *addr, char *out, size_t outsz);

#endif
