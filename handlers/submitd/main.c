/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* submitd: message submission (RFC 6409). Two processes per connection
 * (DESIGN section 4): the pre-login front (front.c) and the back that
 * authenticates and runs the transaction (back.c). main() is the order of
 * start-up. Trust: admin (flags, configuration) until the sandbox. */
#include "login/login.h"
#include "svc/confine.h"
#include "sys/server.h"
#include "sys/title.h"
#include "sys/tunables.h"
#include "submitd.h"

int main(int argc, char **argv)
{
	/* RFC 5321 section 3.8: 421 and close; 4.7.0 as smtpd's. */
	static const struct login_handler h = {
	    "submitd", submitd_front, submitd_back,
	    "421 4.7.0 Error: too many connections from your address\r\n"};
	struct login_run run = {.h = &h};

	title_init(argc, argv, h.prog); /* before any fork: fronts and backs set titles */
	tunables_reexec(argv);          /* an accept loop: once, with glibc's tunables */
	server_flags(argc, argv, h.prog, &run.args);
	server_log(h.prog);                         /* log */
	run.ctx.conf = server_conf_load(&run.args); /* config */
	confine_want_queue();                       /* the back enqueues: queue/ in its rules */
	login_open(&run);                           /* open: TLS key, state_dir */
	login_warm(&run);                           /* warm: OpenSSL, SQLite, KDF pages */
	int rc = login_serve(&run);                 /* sandbox, then serve */
	login_close(&run);                          /* exit */
	return rc;
}
