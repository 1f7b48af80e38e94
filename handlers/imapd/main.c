/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* imapd: IMAP4rev1 on the encrypted store. Two processes per connection
 * (lib/login/loginmain.c): the pre-auth front (front.c) and the back that
 * authenticates and serves the session (auth.c, back.c). */
#include "imapd.h"
#include "login/login.h"

int main(int argc, char **argv)
{
	static const struct login_handler h = {"imapd", imapd_front, imapd_back};
	return login_main(argc, argv, &h);
}
