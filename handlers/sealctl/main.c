/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* sealctl: administration of domains, users and aliases (INTERFACES.md).
 * Exit codes: 0 ok, 1 refused (exists, not found, wrong password), 2 usage,
 * 3 temporary failure. Secrets come from stdin (--password-stdin, one line
 * each) or a prompt on the controlling terminal with echo off (libbsd's
 * readpassphrase), are wiped after use, and are never logged.
 * Trust: admin. */
#include <bsd/readpassphrase.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <limits.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "queuecmd.h"
#include "data/account.h"
#include "crypto/age.h"
#include "sys/conf.h"
#include "data/directory.h"
#include "data/queue.h"
#include "sys/log.h"
#include "sys/server.h"
#include "data/store.h"
#include "svc/penalty.h"

enum { EX_OK_ = 0, EX_REFUSED = 1, EX_USAGE_ = 2, EX_TEMP = 3 };

/* Longest secret plus its line end and NUL: a longer one is refused, never
 * cut (a cut password would lock the user out later). */
#define SECRET_MAX 1024

static const char usage_text[] =
    "usage: sealctl [-c FILE] COMMAND ...\n"
    "  init                                   create state dir and directory.db\n"
    "  domain add|del DOMAIN | domain list\n"
    "  user add ADDRESS [--password|--password-stdin] [--recovery]\n"
    "  user del ADDRESS | user list [DOMAIN]\n"
    "  user passwd ADDRESS [--password-stdin] (old password, new password)\n"
    "  user recover ADDRESS [--password-stdin] (recovery code, new password)\n"
    "  user reset ADDRESS --discard-mail [--password|--password-stdin]\n"
    "  user rekey ADDRESS [--password-stdin]\n"
    "  user quota ADDRESS SIZE|none           e.g. 2G, 500M; none removes it\n"
    "  user recipient ADDRESS\n"
    "  user identity ADDRESS [--password-stdin]\n"
    "  alias add SOURCE TARGET... | alias del SOURCE [TARGET] | alias list [SOURCE|DOMAIN]\n"
    "  queue list | queue show ID [--body] | queue retry [ID] | queue hold|release|delete ID\n"
    "Secrets: --password-stdin reads one line each from stdin; otherwise they are\n"
    "typed at a prompt on the terminal (without echo). user add and user reset\n"
    "generate and print a password unless --password or --password-stdin is given.\n";

static int usage(void)
{
	fputs(usage_text, stderr);
	return EX_USAGE_;
}

static struct conf *conf;
/* Where secrets come from: stdin lines (--password-stdin) or the terminal;
 * --password asks user add/reset to prompt instead of generating one. */
static bool password_stdin, password_prompt;

/* Map a directory failure to an exit code. */
static int dir_fail(struct directory *d, const char *what)
{
	enum directory_status s = directory_status(d);
	fprintf(stderr, "sealctl: %s: %s\n", what, directory_error(d));
	return s == DIRECTORY_ERR_TEMP      ? EX_TEMP
	       : s == DIRECTORY_ERR_INVALID ? EX_USAGE_
	                                    : EX_REFUSED;
}

/* Strip one trailing LF or CRLF from the line in out; 0, or -1 when the
 * line did not fit (no LF within outsz - 1 bytes) or is empty. */
static int secret_line_end(const char *what, char *out, size_t outsz)
{
	size_t n = strlen(out);
	if (n > 0 && out[n - 1] == '\n')
		out[--n] = '\0';
	else if (n == outsz - 1) {
		fprintf(stderr, "sealctl: %s too long (at most %zu bytes)\n", what, outsz - 2);
		return -1;
	}
	if (n > 0 && out[n - 1] == '\r')
		out[--n] = '\0';
	if (n == 0) {
		fprintf(stderr, "sealctl: empty %s\n", what);
		return -1;
	}
	return 0;
}

/* Prompt for one secret on the controlling terminal with echo off. The
 * terminal, not stdin, is read (readpassphrase opens /dev/tty and restores
 * its modes even on SIGINT); stdin being a terminal is only how we know an
 * administrator is there to type. 0 ok, -1 (reported). */
static int prompt_secret(const char *what, const char *address, char *out, size_t outsz)
{
	if (!isatty(0)) {
		fprintf(stderr, "sealctl: stdin is not a terminal: use --password-stdin\n");
		return -1;
	}
	char prompt[600];
	int up = toupper((unsigned char)what[0]);
	int pn = snprintf(prompt, sizeof(prompt), "%c%s for %s: ", up, what + 1, address);
	/* An address too long for the prompt: ask without it (what is one of
	 * our short labels, so this one fits). */
	if (pn < 0 || (size_t)pn >= sizeof(prompt))
		snprintf(prompt, sizeof(prompt), "%c%s: ", up, what + 1);
	if (readpassphrase(prompt, out, outsz, RPP_REQUIRE_TTY) == NULL) {
		fprintf(stderr, "sealctl: cannot read %s from the terminal: %s\n", what,
		        strerror(errno));
		return -1;
	}
	/* readpassphrase drops the line end and silently discards what does not
	 * fit: a secret that fills the buffer may have been cut, so refuse it. */
	size_t n = strlen(out);
	if (n >= outsz - 1) {
		fprintf(stderr, "sealctl: %s too long (at most %zu bytes)\n", what, outsz - 2);
		return -1;
	}
	if (n == 0) {
		fprintf(stderr, "sealctl: empty %s\n", what);
		return -1;
	}
	return 0;
}

/* Read one secret about address: a stdin line with --password-stdin, else a
 * no-echo prompt on the terminal. 0 ok, -1 (reported; out wiped). */
static int read_secret(const char *what, const char *address, char *out, size_t outsz)
{
	int r;
	if (password_stdin) {
		if (fgets(out, (int)outsz, stdin) == NULL) {
			fprintf(stderr, "sealctl: expected %s on stdin\n", what);
			r = -1;
		} else {
			r = secret_line_end(what, out, outsz);
		}
	} else {
		r = prompt_secret(what, address, out, outsz);
	}
	if (r < 0)
		sodium_memzero(out, outsz);
	return r;
}

/* A new password: as read_secret, and typed twice when prompted (an unseen
 * typo would lock the mailbox). 0 ok, -1 (reported; out wiped). */
static int read_new_secret(const char *what, const char *address, char *out, size_t outsz)
{
	if (read_secret(what, address, out, outsz) < 0)
		return -1;
	if (password_stdin)
		return 0;
	char again[SECRET_MAX];
	int r = prompt_secret("retype the password", address, again, sizeof(again));
	size_t n = strlen(out);
	if (r == 0 && (strlen(again) != n || sodium_memcmp(out, again, n) != 0)) {
		fprintf(stderr, "sealctl: the passwords do not match\n");
		r = -1;
	}
	sodium_memzero(again, sizeof(again));
	if (r < 0)
		sodium_memzero(out, outsz);
	return r;
}

/* A generated password: 20 characters from an unambiguous alphabet. */
static void make_password(char *out, size_t outsz)
{
	static const char alpha[] = "abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
	size_t n = outsz - 1 < 20 ? outsz - 1 : 20;
	for (size_t i = 0; i < n; i++)
		out[i] = alpha[randombytes_uniform(sizeof(alpha) - 1)];
	out[n] = '\0';
}

static int open_dir(enum directory_mode mode, struct directory **d)
{
	const char *err;
	if (directory_open(conf->state_dir, mode, d, &err) < 0) {
		fprintf(stderr, "sealctl: %s\n", err);
		if (mode != DIRECTORY_INIT)
			fprintf(stderr, "sealctl: run 'sealctl init' first\n");
		return -1;
	}
	return 0;
}

/* A path below the state directory into out; 0, or -1 with errno
 * ENAMETOOLONG when it does not fit (never a cut path). */
static int state_path(char *out, size_t outsz, const char *name, const char *suffix)
{
	int n = snprintf(out, outsz, "%s/%s%s", conf->state_dir, name, suffix);
	if (n < 0 || (size_t)n >= outsz) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return 0;
}

static int mkdir_p(const char *path, mode_t mode)
{
	char tmp[PATH_MAX];
	int tn = snprintf(tmp, sizeof(tmp), "%s", path);
	if (tn < 0 || (size_t)tn >= sizeof(tmp)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	for (char *p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(tmp, 0755) < 0 && errno != EEXIST)
			return -1;
		*p = '/';
	}
	if (mkdir(tmp, mode) < 0 && errno != EEXIST)
		return -1;
	return 0;
}

/* The outbound queue's directories and key pair (docs/SENDING.md). The
 * secret key goes to queued's user (sealmail-queue) when that user exists;
 * in production it then moves into a credential, and a queue.pub without
 * queue.key is left alone. 0, or -1 (reported). */
static int init_queue(void)
{
	int sfd = open(conf->state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int qfd = -1, made = -1;
	if (sfd >= 0 && queue_create_dirs(sfd) == 0 &&
	    (qfd = openat(sfd, "queue", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) >= 0)
		made = queue_keys_create(qfd);
	int e = errno;
	if (qfd >= 0)
		close(qfd);
	if (sfd >= 0)
		close(sfd);
	if (made < 0) {
		fprintf(stderr, "sealctl: %s/queue: %s\n", conf->state_dir, strerror(e));
		return -1;
	}
	static const char *const sub[] = {"", "/tmp", "/active", "/" QUEUE_PUB_FILE};
	char p[PATH_MAX];
	for (size_t i = 0; i < sizeof(sub) / sizeof(sub[0]); i++)
		if (state_path(p, sizeof(p), "queue", sub[i]) == 0)
			account_chown(p, true);
	struct passwd *pw = getpwnam("sealmail-queue");
	if (pw == NULL)
		pw = getpwnam("sealmail");
	if (made == 1 && geteuid() == 0 && pw != NULL &&
	    state_path(p, sizeof(p), "queue/", QUEUE_KEY_FILE) == 0 &&
	    chown(p, pw->pw_uid, pw->pw_gid) < 0)
		fprintf(stderr, "sealctl: %s: %s\n", p, strerror(errno));
	return 0;
}

static int cmd_init(void)
{
	char users[PATH_MAX];
	if (state_path(users, sizeof(users), "users", "") < 0 ||
	    mkdir_p(conf->state_dir, 0750) < 0 || mkdir_p(users, 0750) < 0) {
		fprintf(stderr, "sealctl: %s/users: %s\n", conf->state_dir, strerror(errno));
		return EX_TEMP;
	}
	chmod(conf->state_dir, 0750);
	chmod(users, 0750);
	account_chown(conf->state_dir, false);
	account_chown(users, true);
	struct directory *d;
	if (open_dir(DIRECTORY_INIT, &d) < 0)
		return EX_TEMP;
	char db[PATH_MAX];
	static const char *const sfx[] = {"", "-wal", "-shm"};
	for (int i = 0; i < 3; i++) {
		/* A name too long for a path names no file SQLite could have made. */
		if (state_path(db, sizeof(db), DIRECTORY_FILE, sfx[i]) == 0 &&
		    access(db, F_OK) == 0) {
			chmod(db, 0644); /* no secrets inside; the services read it */
			account_chown(db, false);
		}
	}
	/* The key that names login penalties in Redis (lib/svc/penalty.h):
	 * made here for new installs and by re-running init on old ones. */
	char key[PATH_MAX];
	int sfd = open(conf->state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (sfd < 0 || penalty_key_ensure(sfd) < 0 ||
	    state_path(key, sizeof(key), PENALTY_KEY_FILE, "") < 0) {
		fprintf(stderr, "sealctl: %s/%s: %s\n", conf->state_dir, PENALTY_KEY_FILE,
		        strerror(errno));
		if (sfd >= 0)
			close(sfd);
		directory_close(&d);
		return EX_TEMP;
	}
	close(sfd);
	chmod(key, 0600); /* the login handlers' user only */
	account_chown(key, false);
	if (init_queue() < 0) {
		directory_close(&d);
		return EX_TEMP;
	}
	printf("initialised %s (schema %d)\n", conf->state_dir, directory_schema_version(d));
	directory_close(&d);
	return EX_OK_;
}

static int cmd_domain(int argc, char **argv)
{
	struct directory *d;
	if (argc < 1)
		return usage();
	bool list = strcmp(argv[0], "list") == 0;
	if ((list && argc != 1) || (!list && argc != 2))
		return usage();
	if (open_dir(list ? DIRECTORY_READ : DIRECTORY_WRITE, &d) < 0)
		return EX_TEMP;
	int rc = EX_OK_;
	if (list) {
		char **names;
		size_t n;
		if (directory_domain_list(d, &names, &n) < 0)
			rc = dir_fail(d, "domain list");
		else {
			for (size_t i = 0; i < n; i++)
				printf("%s\n", names[i]);
			directory_strv_free(&names, n);
		}
	} else if (strcmp(argv[0], "add") == 0) {
		if (directory_domain_add(d, argv[1]) < 0)
			rc = dir_fail(d, argv[1]);
	} else if (strcmp(argv[0], "del") == 0) {
		if (directory_domain_del(d, argv[1]) < 0)
			rc = dir_fail(d, argv[1]);
	} else {
		rc = usage();
	}
	directory_close(&d);
	return rc;
}

static int status_exit(enum directory_status s)
{
	switch (s) {
	case DIRECTORY_OK:
		return EX_OK_;
	case DIRECTORY_ERR_TEMP:
		return EX_TEMP;
	case DIRECTORY_ERR_INVALID:
		return EX_USAGE_;
	default:
		return EX_REFUSED;
	}
}

static int user_add(struct directory *d, const char *address, bool recovery)
{
	char pw[SECRET_MAX], code[KEYWRAP_RECOVERY_SIZE];
	bool generated = !password_stdin && !password_prompt;
	if (generated)
		make_password(pw, sizeof(pw));
	else if (read_new_secret("password", address, pw, sizeof(pw)) < 0)
		return EX_USAGE_;
	enum directory_status st;
	const char *err;
	int rc = account_create(d, conf, address, pw, strlen(pw), recovery ? code : NULL,
	                        sizeof(code), &st, &err);
	if (rc < 0) {
		fprintf(stderr, "sealctl: %s: %s\n", address, err);
		sodium_memzero(pw, sizeof(pw));
		return status_exit(st);
	}
	if (generated)
		printf("password: %s\n", pw);
	if (recovery) {
		printf("recovery-code: %s\n", code);
		fprintf(stderr, "sealctl: the recovery code is shown only now; keep it safe\n");
	}
	sodium_memzero(pw, sizeof(pw));
	sodium_memzero(code, sizeof(code));
	return EX_OK_;
}

static int user_list(struct directory *d, const char *domain)
{
	struct directory_user *u;
	size_t n;
	if (directory_user_list(d, domain, &u, &n) < 0)
		return dir_fail(d, "user list");
	for (size_t i = 0; i < n; i++) {
		char when[32], quota[32];
		struct tm tm;
		time_t t = (time_t)u[i].created;
		gmtime_r(&t, &tm);
		strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
		/* 20 digits at most: quota always fits. */
		if (u[i].quota_bytes)
			snprintf(quota, sizeof(quota), "%llu",
			         (unsigned long long)u[i].quota_bytes);
		else
			snprintf(quota, sizeof(quota), "none");
		printf("%s id=%s quota=%s recovery=%s created=%s\n", u[i].address, u[i].id, quota,
		       u[i].recovery_blob.len ? "yes" : "no", when);
	}
	directory_user_list_free(&u, n);
	return EX_OK_;
}

/* Unlock address with secret (a password or a recovery code). */
static int unlock(struct directory *d, const char *address, enum keywrap_kind kind,
                  const char *secret, struct directory_user *u, unsigned char mk[KEYWRAP_MK_LEN])
{
	const char *err;
	int r = account_unlock(d, conf, NULL, address, kind, secret, strlen(secret), u, mk, &err);
	if (r == 1)
		return EX_OK_;
	if (r == 0) {
		fprintf(stderr, "sealctl: %s: wrong %s or no such user\n", address,
		        kind == KEYWRAP_RECOVERY ? "recovery code" : "password");
		return EX_REFUSED;
	}
	fprintf(stderr, "sealctl: %s: %s\n", address, err);
	return EX_TEMP;
}

static int user_secret_cmd(struct directory *d, const char *sub, const char *address)
{
	struct directory_user u;
	unsigned char mk[KEYWRAP_MK_LEN];
	char first[SECRET_MAX], pw[SECRET_MAX], code[KEYWRAP_RECOVERY_SIZE];
	const char *err = "";
	enum keywrap_kind kind = strcmp(sub, "recover") == 0 ? KEYWRAP_RECOVERY : KEYWRAP_PASSWORD;
	const char *what = kind == KEYWRAP_RECOVERY     ? "recovery code"
	                   : strcmp(sub, "passwd") == 0 ? "current password"
	                                                : "password";
	if (read_secret(what, address, first, sizeof(first)) < 0)
		return EX_USAGE_;
	int rc = unlock(d, address, kind, first, &u, mk);
	if (rc != EX_OK_) {
		sodium_memzero(first, sizeof(first));
		return rc;
	}
	pw[0] = '\0';
	rc = EX_TEMP;
	if (strcmp(sub, "identity") == 0) {
		struct store *st = account_open_mailbox(conf, u.id, mk, NULL, &err);
		unsigned char sk[AGE_KEY_LEN];
		char ident[AGE_IDENTITY_MAX];
		if (st != NULL && store_get_seal_secret(st, sk) == 0 &&
		    age_identity_encode(sk, ident, sizeof(ident)) == 0) {
			printf("%s\n", ident);
			sodium_memzero(ident, sizeof(ident));
			rc = EX_OK_;
		} else if (st != NULL) {
			err = store_error(st);
		}
		sodium_memzero(sk, sizeof(sk));
		store_close(&st);
	} else if (strcmp(sub, "passwd") == 0 || strcmp(sub, "recover") == 0) {
		if (read_new_secret("new password", address, pw, sizeof(pw)) < 0)
			rc = EX_USAGE_;
		else if (account_set_password(d, conf, &u, mk, pw, strlen(pw), &err) == 0)
			rc = EX_OK_;
	} else if (strcmp(sub, "rekey") == 0) {
		bool newcode;
		/* The same password wraps the new key. */
		if (account_rekey(d, conf, &u, mk, first, strlen(first), code, sizeof(code),
		                  &newcode, &err) == 0) {
			if (newcode)
				printf("recovery-code: %s\n", code);
			rc = EX_OK_;
		}
	}
	if (rc == EX_TEMP)
		fprintf(stderr, "sealctl: %s: %s\n", address, err);
	sodium_memzero(mk, sizeof(mk));
	sodium_memzero(first, sizeof(first));
	sodium_memzero(pw, sizeof(pw));
	sodium_memzero(code, sizeof(code));
	directory_user_clear(&u);
	return rc;
}

static int cmd_user(int argc, char **argv)
{
	bool recovery = false, discard = false;
	int n = 0;
	char *pos[3] = {NULL, NULL, NULL};
	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--password-stdin") == 0)
			password_stdin = true;
		else if (strcmp(argv[i], "--password") == 0)
			password_prompt = true;
		else if (strcmp(argv[i], "--recovery") == 0)
			recovery = true;
		else if (strcmp(argv[i], "--discard-mail") == 0)
			discard = true;
		else if (argv[i][0] == '-')
			return usage();
		else if (n < 3)
			pos[n++] = argv[i];
		else
			return usage();
	}
	if (n < 1)
		return usage();
	const char *sub = pos[0], *address = pos[1];
	bool is_list = strcmp(sub, "list") == 0, is_quota = strcmp(sub, "quota") == 0;
	if ((is_list && n > 2) || (is_quota && n != 3) || (!is_list && !is_quota && n != 2))
		return usage();
	if (recovery && strcmp(sub, "add") != 0)
		return usage();
	/* --password: prompt instead of generating; only where one is generated. */
	if (password_prompt &&
	    (password_stdin || (strcmp(sub, "add") != 0 && strcmp(sub, "reset") != 0)))
		return usage();
	if (discard != (strcmp(sub, "reset") == 0)) {
		if (!discard)
			fprintf(stderr, "sealctl: reset destroys all mail: add --discard-mail\n");
		return usage();
	}
	struct directory *d;
	bool write = !is_list && strcmp(sub, "recipient") != 0 && strcmp(sub, "identity") != 0;
	if (open_dir(write ? DIRECTORY_WRITE : DIRECTORY_READ, &d) < 0)
		return EX_TEMP;
	int rc;
	if (strcmp(sub, "add") == 0) {
		rc = user_add(d, address, recovery);
	} else if (is_list) {
		rc = user_list(d, address);
	} else if (strcmp(sub, "del") == 0) {
		enum directory_status st;
		const char *err;
		rc = account_delete(d, conf, address, &st, &err) == 0 ? EX_OK_ : status_exit(st);
		if (rc != EX_OK_)
			fprintf(stderr, "sealctl: %s: %s\n", address, err);
	} else if (is_quota) {
		struct directory_user u;
		uint64_t q = 0;
		if (strcmp(pos[2], "none") != 0 && (!conf_parse_size(pos[2], &q) || q == 0)) {
			fprintf(stderr,
			        "sealctl: %s: expected a size such as 500M or 2G, or none\n",
			        pos[2]);
			rc = EX_USAGE_;
		} else {
			int g = directory_user_get(d, address, &u);
			if (g == 1) {
				u.quota_bytes = q;
				rc = directory_user_update(d, &u, DIRECTORY_SET_QUOTA) == 0
				         ? EX_OK_
				         : dir_fail(d, address);
				directory_user_clear(&u);
			} else {
				fprintf(stderr, "sealctl: %s: %s\n", address,
				        g == 0 ? "no such user" : directory_error(d));
				rc = g == 0 ? EX_REFUSED : EX_TEMP;
			}
		}
	} else if (strcmp(sub, "recipient") == 0) {
		struct directory_user u;
		char r[AGE_RECIPIENT_MAX];
		int g = directory_user_get(d, address, &u);
		if (g == 1 && age_recipient_encode(u.seal_pk, r, sizeof(r)) == 0) {
			printf("%s\n", r);
			rc = EX_OK_;
		} else {
			fprintf(stderr, "sealctl: %s: %s\n", address,
			        g == 0 ? "no such user" : directory_error(d));
			rc = g == 0 ? EX_REFUSED : EX_TEMP;
		}
		if (g == 1)
			directory_user_clear(&u);
	} else if (strcmp(sub, "reset") == 0) {
		char pw[SECRET_MAX];
		const char *err;
		bool generated = !password_stdin && !password_prompt;
		if (generated)
			make_password(pw, sizeof(pw));
		if (!generated && read_new_secret("new password", address, pw, sizeof(pw)) < 0) {
			rc = EX_USAGE_;
		} else if (account_reset(d, conf, address, pw, strlen(pw), &err) < 0) {
			fprintf(stderr, "sealctl: %s: %s\n", address, err);
			rc = strcmp(err, "no such user") == 0 ? EX_REFUSED : EX_TEMP;
		} else {
			if (generated)
				printf("password: %s\n", pw);
			rc = EX_OK_;
		}
		sodium_memzero(pw, sizeof(pw));
	} else if (strcmp(sub, "passwd") == 0 || strcmp(sub, "recover") == 0 ||
	           strcmp(sub, "rekey") == 0 || strcmp(sub, "identity") == 0) {
		rc = user_secret_cmd(d, sub, address);
	} else {
		rc = usage();
	}
	directory_close(&d);
	return rc;
}

static int cmd_alias(int argc, char **argv)
{
	struct directory *d;
	if (argc < 1)
		return usage();
	const char *sub = argv[0];
	bool list = strcmp(sub, "list") == 0;
	if ((list && argc > 2) || (strcmp(sub, "add") == 0 && argc < 3) ||
	    (strcmp(sub, "del") == 0 && (argc < 2 || argc > 3)))
		return usage();
	if (open_dir(list ? DIRECTORY_READ : DIRECTORY_WRITE, &d) < 0)
		return EX_TEMP;
	int rc = EX_OK_;
	if (list) {
		struct directory_alias *a;
		size_t n;
		if (directory_alias_list(d, argc == 2 ? argv[1] : NULL, &a, &n) < 0) {
			rc = dir_fail(d, "alias list");
		} else {
			for (size_t i = 0; i < n; i++)
				printf("%s %s\n", a[i].source, a[i].target);
			directory_alias_list_free(&a, n);
		}
	} else if (strcmp(sub, "add") == 0) {
		if (directory_begin(d) < 0) {
			rc = dir_fail(d, "alias add");
		} else {
			for (int i = 2; i < argc && rc == EX_OK_; i++) {
				enum directory_target_kind kind;
				if (directory_alias_add(d, argv[1], argv[i], &kind) < 0) {
					rc = dir_fail(d, argv[i]);
				} else if (kind != DIRECTORY_TARGET_LOCAL) {
					/* Forwarding needs the outbound queue. */
					fprintf(stderr,
					        "sealctl: %s: external addresses and URLs cannot "
					        "be alias "
					        "targets until outbound delivery is available\n",
					        argv[i]);
					rc = EX_REFUSED;
				}
			}
			if (rc == EX_OK_ && directory_commit(d) < 0)
				rc = dir_fail(d, "alias add");
			else if (rc != EX_OK_)
				directory_rollback(d);
		}
	} else if (strcmp(sub, "del") == 0) {
		if (directory_alias_del(d, argv[1], argc == 3 ? argv[2] : NULL) < 0)
			rc = dir_fail(d, argv[1]);
	} else {
		rc = usage();
	}
	directory_close(&d);
	return rc;
}

int main(int argc, char **argv)
{
	const char *conf_flag = NULL;
	int i = 1;
	if (i + 1 < argc && strcmp(argv[i], "-c") == 0) {
		conf_flag = argv[i + 1];
		i += 2;
	}
	if (i < argc && (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)) {
		fputs(usage_text, stdout);
		return EX_OK_;
	}
	if (i >= argc)
		return usage();
	umask(077);
	log_init("sealctl");
	server_no_core();
	if (sodium_init() < 0)
		return EX_TEMP;
	conf = conf_new();
	const char *err;
	const char *path = conf_path(conf_flag);
	if (conf_load(conf, path, &err) < 0 &&
	    !(conf_flag == NULL && access(path, F_OK) != 0 && getenv("SEALMAIL_CONF") == NULL)) {
		fprintf(stderr, "sealctl: %s\n", err);
		return EX_TEMP;
	}
	const char *cmd = argv[i];
	int rc;
	if (strcmp(cmd, "init") == 0 && argc == i + 1)
		rc = cmd_init();
	else if (strcmp(cmd, "domain") == 0)
		rc = cmd_domain(argc - i - 1, argv + i + 1);
	else if (strcmp(cmd, "user") == 0)
		rc = cmd_user(argc - i - 1, argv + i + 1);
	else if (strcmp(cmd, "alias") == 0)
		rc = cmd_alias(argc - i - 1, argv + i + 1);
	else if (strcmp(cmd, "queue") == 0) {
		rc = sealctl_queue(conf, argc - i - 1, argv + i + 1);
		if (rc < 0)
			rc = usage();
	}
	else
		rc = usage();
	conf_free(&conf);
	return rc;
}
