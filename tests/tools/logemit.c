/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* Emits one structured log event, for the logging integration test:
 *   logemit EVENT MSGID */
#include <stdio.h>

#include "sys/log.h"

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: logemit EVENT MSGID\n");
		return 2;
	}
	log_init("sealmail-logemit");
	log_set("SESSION", "0123456789abcdef");
	log_set("REMOTE", "192.0.2.7");
	log_event(LOG_INFO, argv[1], "MSGID", argv[2], "SIZE", "42", "REASON", "a b", NULL);
	return 0;
}
