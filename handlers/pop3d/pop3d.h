/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* pop3d: POP3 (RFC 1939) with CAPA/RESP-CODES/AUTH-RESP-CODE (RFC 2449,
 * RFC 3206), SASL PLAIN (RFC 5034), STLS (RFC 2595), UTF8 (RFC 6856), on
 * the encrypted store. POP3 sees INBOX only. Two processes per connection
 * like imapd: front.c is the pre-auth front, session.c the back after
 * login. Each has one command table (keyword, states where allowed, check
 * and proceed steps) and one function that changes its state. */
#ifndef SEALMAIL_POP3D_H
#define SEALMAIL_POP3D_H

#include <openssl/ssl.h>

#include "proto/pop3parse.h"
#include "sys/conf.h"
#include "sys/conn.h"

/* The longest line read at all: credentials lines (POP3_SECRET_LINE_MAX)
 * are the longest the parser accepts; commands stop at 255 octets (RFC
 * 2449 section 4), which the parser enforces. */
#define POP3_LINE_MAX POP3_SECRET_LINE_MAX

/* RFC 1939 section 3: the states of a POP3 session. The front serves
 * AUTHORIZATION; the back waits in AUTHORIZATION for the front's
 * credentials, then serves TRANSACTION and UPDATE. */
enum pop3_state { POP3_AUTHORIZATION, POP3_TRANSACTION, POP3_UPDATE };
#define POP3_IN(s) (1u << (s))

/* The capabilities both processes announce (RFC 2449 section 6); the
 * front adds USER, SASL and STLS as they apply. */
#define POP3_CAPA_COMMON                                                                           \
	"TOP\r\nUIDL\r\nRESP-CODES\r\nAUTH-RESP-CODE\r\nPIPELINING\r\nUTF8\r\n"                    \
	"IMPLEMENTATION sealmail\r\n"

struct login_ctx;
struct io;

int pop3d_front(struct login_ctx *ctx);
int pop3d_back(int fd, void *arg);
/* After a read that ended with IO_TIMEOUT: "-ERR" naming the limit that
 * passed, flushed, and a "disconnect" event with it (session.c). */
void pop3d_timeout_err(struct io *io);

#endif
