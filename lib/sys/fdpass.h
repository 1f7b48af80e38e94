/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* Passing one descriptor with a few bytes over a unix socket (SCM_RIGHTS):
 * the accept loop hands a front its back's socketpair end; a login front
 * hands its back the client socket. Trust: any (the receiver checks that at
 * most one descriptor came, and closes any it did not ask for). */
#ifndef SEALMAIL_FDPASS_H
#define SEALMAIL_FDPASS_H

#include <stddef.h>
#include <sys/types.h>

/* Send n bytes (1 <= n, all in one message) and, if fd >= 0, fd with them.
 * Does not block when the peer's buffer has room. 0 ok, -1 errno set. */
int fdpass_send(int sock, const void *p, size_t n, int fd);
/* Wait up to timeout_ms for one message, then receive up to n bytes of it
 * and the descriptor that came with it (*fd_r, close-on-exec; -1 if none or
 * if the message carried anything else). Returns the byte count (0: peer
 * closed), or -1 (errno set; ETIMEDOUT when nothing came). */
ssize_t fdpass_recv(int sock, void *p, size_t n, int *fd_r, int timeout_ms);

#endif
