/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* lmtpd: LMTP (RFC 2033) for Postfix and other MTAs, normally on the unix
 * socket /run/sealmail/lmtp; one reply per recipient. Trust: local MTA. */
#include "../smtpd/smtp.h"
#include "sys/server.h"
#include "sys/title.h"
#include "sys/tunables.h"

int main(int argc, char **argv)
{
	struct server_args args;
	struct smtp_server srv;
	title_init(argc, argv, "lmtpd"); /* ps: "lmtpd: <peer> <state>" */
	tunables_reexec(argv);          /* an accept loop: once, with glibc's tunables */
	server_flags(argc, argv, "lmtpd", &args);
	smtp_config(&srv, &args, "lmtpd", SMTP_MODE_LMTP); /* log, config */
	smtp_open(&srv);           /* TLS key, users dir, state_dir; directory.db: see smtp_open */
	server_warm();             /* warm: OpenSSL config, time zone, SQLite, libsodium */
	smtp_sandbox(&srv);        /* MX profile (a loop: ACCEPT, and MX in each child) */
	int rc = smtp_serve(&srv); /* the connection, or the accept loop */
	smtp_close(&srv);          /* exit */
	return rc;
}
