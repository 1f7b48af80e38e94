/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* Fuzz target: what the login back and front parse from the other side or
 * the client: the credentials frame (login_decode, with its invariants and
 * an encode/decode round trip) and SASL PLAIN (login_sasl_plain). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/buf.h"
#include "login/login.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_roundtrip(const struct login_creds *c)
{
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
		return;
	struct login_creds back;
	if (login_send(sv[0], c->user, strlen(c->user), c->secret, strlen(c->secret), c->tag,
	               c->flags) == 0) {
		if (login_recv(sv[1], 1000, &back) != 1 || strcmp(back.user, c->user) != 0 ||
		    strcmp(back.secret, c->secret) != 0 || strcmp(back.tag, c->tag) != 0 ||
		    back.flags != c->flags)
			abort();
	}
	close(sv[0]);
	close(sv[1]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct login_creds c;
	if (size <= LOGIN_MSG_MAX && login_decode(data, size, &c) == 1) {
		/* Decoded fields are NUL-terminated within their bounds and hold
		 * no NUL (the back compares them as C strings). */
		if (strlen(c.user) > LOGIN_USER_MAX || strlen(c.secret) > LOGIN_SECRET_MAX ||
		    strlen(c.tag) > LOGIN_TAG_MAX || c.flags > 0xff)
			abort();
		fuzz_roundtrip(&c);
	}
	struct buf raw = BUF_INIT;
	const char *user, *pw;
	size_t ulen, plen;
	if (login_sasl_plain((const char *)data, size, &raw, &user, &ulen, &pw, &plen) ==
	    LOGIN_PLAIN_OK) {
		const char *end = (const char *)raw.data + raw.len;
		if (user + ulen > end || pw + plen != end || memchr(user, '\0', ulen) != NULL)
			abort();
	}
	buf_wipe(&raw);
	return 0;
}
