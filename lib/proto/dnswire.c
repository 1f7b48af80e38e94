/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* DNS RDATA and names (dnswire.h). Every read is checked against the length
 * it came with before it happens. */
#include "dnswire.h"

#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

static bool dnswire_label_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '_';
}

bool dnswire_name_ok(const char *name)
{
	size_t n = strnlen(name, DNSWIRE_NAME_MAX + 2);
	if (n > 0 && name[n - 1] == '.')
		n--;
	if (n == 0 || n > DNSWIRE_NAME_MAX)
		return false;
	size_t label = 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)name[i];
		if (c == '.') {
			if (label == 0)
				return false;
			label = 0;
		} else if (!dnswire_label_char(c) || ++label > DNSWIRE_LABEL_MAX) {
			return false;
		}
	}
	return label > 0;
}

int dnswire_name(const unsigned char *p, size_t len, char *out, size_t outsz, size_t *used_r)
{
	size_t pos = 0, o = 0;
	if (outsz < DNSWIRE_NAME_MAX + 1)
		return 0;
	for (;;) {
		if (pos >= len)
			return 0;
		size_t l = p[pos++];
		if (l == 0)
			break;
		/* 0xC0: a compression pointer (RFC 1035 4.1.4), 0x40/0x80:
		 * extended label types (RFC 6891 section 5): none belongs in
		 * decompressed RDATA. */
		if (l > DNSWIRE_LABEL_MAX || l > len - pos)
			return 0;
		/* Text: labels joined by dots; the wire form (labels, length
		 * bytes, root) is at most 255 octets, the text at most 253. */
		if (pos + l >= DNSWIRE_WIRE_MAX || o + (o ? 1 : 0) + l > DNSWIRE_NAME_MAX)
			return 0;
		if (o)
			out[o++] = '.';
		for (size_t i = 0; i < l; i++) {
			unsigned char c = p[pos + i];
			if (!dnswire_label_char(c))
				return 0;
			out[o++] = (char)(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
		}
		pos += l;
	}
	out[o] = '\0';
	*used_r = pos;
	return 1;
}

int dnswire_mx(const unsigned char *rd, size_t len, uint16_t *pref, char *host, size_t hostsz)
{
	size_t used;
	if (len < 3)
		return 0;
	*pref = (uint16_t)(rd[0] << 8 | rd[1]);
	if (dnswire_name(rd + 2, len - 2, host, hostsz, &used) != 1 || used != len - 2)
		return 0;
	return 1;
}

int dnswire_ptr(const unsigned char *rd, size_t len, char *host, size_t hostsz)
{
	size_t used;
	return dnswire_name(rd, len, host, hostsz, &used) == 1 && used == len && host[0] != '\0';
}

int dnswire_txt(const unsigned char *rd, size_t len, unsigned char *out, size_t *outlen)
{
	size_t pos = 0, o = 0;
	/* RFC 1035 3.3.14: one or more character-strings. */
	if (len == 0)
		return 0;
	while (pos < len) {
		size_t l = rd[pos++];
		if (l > len - pos)
			return 0;
		memcpy(out + o, rd + pos, l);
		o += l;
		pos += l;
	}
	/* o < len: every string cost one length byte. */
	out[o] = '\0';
	*outlen = o;
	return 1;
}

int dnswire_tlsa(const unsigned char *rd, size_t len, uint8_t *usage, uint8_t *selector,
		 uint8_t *mtype, const unsigned char **data, size_t *dlen)
{
	if (len < 4)
		return 0;
	*usage = rd[0];
	*selector = rd[1];
	*mtype = rd[2];
	*data = rd + 3;
	*dlen = len - 3;
	return 1;
}

int dnswire_reverse_name(int family, const unsigned char *addr, char *out, size_t outsz)
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0;
	if (family == AF_INET) {
		int n = snprintf(out, outsz, "%u.%u.%u.%u.in-addr.arpa", addr[3], addr[2], addr[1],
				 addr[0]);
		return n < 0 || (size_t)n >= outsz ? -1 : 0;
	}
	if (family != AF_INET6 || outsz < 16 * 4 + sizeof("ip6.arpa"))
		return -1;
	/* RFC 3596 section 2.5: nibbles, least significant first. */
	for (int i = 15; i >= 0; i--) {
		out[o++] = hex[addr[i] & 0xf];
		out[o++] = '.';
		out[o++] = hex[addr[i] >> 4];
		out[o++] = '.';
	}
	memcpy(out + o, "ip6.arpa", sizeof("ip6.arpa"));
	return 0;
}
