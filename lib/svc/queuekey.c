/* SPDX-License-Identifier: AGPL-3.0-or-later */
#include "svc/queuekey.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>
#include <string.h>

#include "base/fmt.h"
#include "data/queue.h"
#include "sys/tls.h"

int queuekey_load(const struct conf *c, unsigned char sk[AGE_KEY_LEN], const char **error_r)
{
	static char why[700];
	char path[4096];
	const char *v = c->queue_key;
	const char *creds = getenv("CREDENTIALS_DIRECTORY");
	/* Under the shipped unit systemd hands the key over as the credential
	 * queue.key (read as root, wherever the unit names it): with the
	 * default setting, that copy wins over the state directory's file. */
	if (strcmp(v, QUEUEKEY_DEFAULT) == 0 && creds != NULL &&
	    fmt_name(path, sizeof(path), "%s/queue.key", creds) == 0 && access(path, R_OK) == 0)
		v = "queue.key";
	if (v[0] != '/' && strchr(v, '/') != NULL) {
		if (fmt_name(path, sizeof(path), "%s/%s", c->state_dir, v) < 0) {
			*error_r = "queue_key: path too long";
			return -1;
		}
	} else if (tls_resolve_path(v, path, sizeof(path), error_r) < 0) {
		return -1;
	}
	if (queue_seckey_load(AT_FDCWD, path, sk) < 0) {
		fmt_msg(why, sizeof(why), "queue_key %.600s: %s", path, strerror(errno));
		*error_r = why;
		return -1;
	}
	return 0;
}
