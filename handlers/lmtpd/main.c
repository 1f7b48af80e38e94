/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* lmtpd: LMTP (RFC 2033) for Postfix and other MTAs, normally on the unix
 * socket /run/sealmail/lmtp; one reply per recipient. Trust: local MTA. */
#include "../smtpd/smtp.h"

int main(int argc, char **argv)
{
	return smtp_main(argc, argv, "lmtpd", SMTP_MODE_LMTP);
}
