/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* imapd: IMAP4rev1 on the encrypted store. Two processes per connection (DESIGN
 * section 4): the pre-auth front (front.c) and the back that authenticates
 * and serves the session (auth.c, back.c). main() is the order of start-up.
 * Trust: admin (flags, configuration) until the sandbox. */
#include "imapd.h"
#include "login/login.h"
#include "sys/server.h"
#include "sys/title.h"
#include "sys/tunables.h"

int main(int argc, char **argv)
{
	/* RFC 5530 section 3: UNAVAILABLE, try again later. */
	static const struct login_handler h = {
	    "imapd", imapd_front, imapd_back,
	    "* BYE [UNAVAILABLE] Too many connections from your address.\r\n"};
	struct login_run run = {.h = &h};

	title_init(argc, argv, h.prog); /* before any fork: fronts and backs set titles */
	tunables_reexec(argv);          /* an accept loop: once, with glibc's tunables */
	server_flags(argc, argv, h.prog, &run.args);
	server_log(h.prog);                         /* log */
	run.ctx.conf = server_conf_load(&run.args); /* config (imapd.login_timeout...) */
	login_open(&run);                           /* open: TLS key, state_dir */
	login_warm(&run);                           /* warm: OpenSSL, SQLite, KDF pages */
	int rc = login_serve(&run);                 /* sandbox, then serve */
	login_close(&run);                          /* exit */
	return rc;
}
