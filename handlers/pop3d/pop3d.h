/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* pop3d: POP3 (RFC 1939) with CAPA/RESP-CODES/AUTH-RESP-CODE (RFC 2449,
 * RFC 3206), SASL PLAIN (RFC 5034), STLS (RFC 2595), UTF8 (RFC 6856), on
 * the encrypted store. POP3 sees INBOX only. Two processes per connection
 * like imapd: front.c is the pre-auth front, session.c the back after
 * login. */
#ifndef SEALMAIL_POP3D_H
#define SEALMAIL_POP3D_H

#include <openssl/ssl.h>

#include "sys/conf.h"
#include "sys/conn.h"

/* RFC 2449 section 4: command lines up to 255 octets; SASL initial
 * responses (RFC 5034) are longer, so allow more. */
#define POP3_LINE_MAX 2048

struct login_ctx;

int pop3d_front(struct login_ctx *ctx);
int pop3d_back(int fd, void *arg);

#endif
