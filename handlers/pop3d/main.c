/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* pop3d: POP3 on the encrypted store. Two processes per connection
 * (lib/login/loginmain.c): the pre-auth front (front.c) and the back that
 * authenticates and serves the session (session.c). */
#include "login/login.h"
#include "pop3d.h"

int main(int argc, char **argv)
{
	static const struct login_handler h = {"pop3d", pop3d_front, pop3d_back};
	return login_main(argc, argv, &h);
}
