/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* smtpd: the MX (port 25). Receives mail for hosted domains, seals it to
 * each recipient's public key and spools it; no AUTH. Trust: pre-auth. */
#include "smtp.h"

int main(int argc, char **argv)
{
	return smtp_main(argc, argv, "smtpd", SMTP_MODE_MX);
}
