/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* Test helper: log in as a user the way a login handler does (KDF, unwrap,
 * open mailbox.db, import the spool) and print the mailbox.
 *   mboxdump ADDRESS list [FOLDER]        one line per message: UID FLAGS KEYWORDS SIZE
 *   mboxdump ADDRESS get FOLDER UID       the raw message on stdout
 *   mboxdump ADDRESS folders              one line per folder: NAME SPECIAL-USE
 * The password is the first line of stdin. Config from $SEALMAIL_CONF.
 * Exit: 0 ok, 1 wrong password / not found, 3 error. */
#include <bsd/stdlib.h>
#include <limits.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "data/account.h"
#include "sys/conf.h"
#include "sys/log.h"
#include "data/store.h"

int main(int argc, char **argv)
{
	if (argc < 3)
		return 2;
	log_init("mboxdump");
	if (sodium_init() < 0)
		return 3;
	struct conf *c = conf_new();
	const char *err;
	if (conf_load(c, conf_path(NULL), &err) < 0) {
		fprintf(stderr, "%s\n", err);
		return 3;
	}
	struct directory *d;
	if (directory_open(c->state_dir, DIRECTORY_READ, &d, &err) < 0) {
		fprintf(stderr, "%s\n", err);
		return 3;
	}
	char pw[1024];
	if (fgets(pw, sizeof(pw), stdin) == NULL)
		return 2;
	pw[strcspn(pw, "\r\n")] = '\0';
	struct directory_user u;
	unsigned char mk[KEYWRAP_MK_LEN];
	int r = account_unlock(d, c, NULL, argv[1], KEYWRAP_PASSWORD, pw, strlen(pw), &u, mk, &err);
	if (r != 1) {
		fprintf(stderr, "unlock: %s\n", err);
		return r == 0 ? 1 : 3;
	}
	struct store_import_stats stats;
	struct store *st = account_open_mailbox(c, u.id, mk, &stats, &err);
	sodium_memzero(mk, sizeof(mk));
	if (st == NULL) {
		fprintf(stderr, "open: %s\n", err);
		return 3;
	}
	int rc = 0;
	if (strcmp(argv[2], "folders") == 0) {
		struct store_folder *f;
		size_t n;
		if (store_folder_list(st, &f, &n) < 0)
			return 3;
		for (size_t i = 0; i < n; i++)
			printf("%s %s\n", f[i].name, f[i].special_use ? f[i].special_use : "-");
		store_folder_list_free(&f, n);
	} else if (strcmp(argv[2], "list") == 0 || strcmp(argv[2], "get") == 0) {
		struct store_folder f;
		if (store_folder_get(st, argc > 3 ? argv[3] : "INBOX", &f) != 1)
			return 1;
		if (strcmp(argv[2], "get") == 0) {
			struct buf b = BUF_INIT;
			const char *errstr = "missing";
			uint32_t uid =
			    argc < 5 ? 0 : (uint32_t)strtonum(argv[4], 1, UINT32_MAX, &errstr);
			if (argc < 5 || errstr != NULL || store_fetch_raw(st, f.id, uid, &b) != 1)
				rc = 1;
			else if (fwrite(b.data, 1, b.len, stdout) != b.len)
				rc = 3;
			buf_free(&b);
		} else {
			uint32_t *uids;
			size_t n;
			if (store_uids(st, f.id, &uids, &n) < 0)
				return 3;
			for (size_t i = 0; i < n; i++) {
				struct store_msg m;
				if (store_message_get(st, f.id, uids[i], &m) != 1)
					continue;
				printf("%u %u %s %llu\n", m.uid, m.flags,
				       m.keywords[0] ? m.keywords : "-",
				       (unsigned long long)m.size);
				store_msg_clear(&m);
			}
			free(uids);
		}
		store_folder_clear(&f);
	} else {
		rc = 2;
	}
	store_close(&st);
	directory_user_clear(&u);
	directory_close(&d);
	conf_free(&c);
	return rc;
}
