/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* Mailbox store: import of the sealed spool at login (DESIGN section 3). The
 * whole batch is one transaction; spool files are unlinked only after its
 * COMMIT, so a message is either in the mailbox or still in the spool. The
 * sequence, its crash analysis and why pruning is safe: docs/STORE.md,
 * "Import".
 * Trust: post-auth (the caller holds MK). Spool files were written by the MX
 * (sealmail-mx) from mail anybody can send: they are decrypted with the
 * user's sealing key, and only the leading X-Sealmail-Flags field of the
 * plaintext is parsed. */
#include "store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/mem.h"
#include "crypto/age.h"
#include "spool.h"
#include "store_int.h"
#include "sys/log.h"

/* ---- the list of spool names ---- */

struct import_name {
	int64_t us; /* delivery time from the name, microseconds */
	char name[SPOOL_NAME_MAX];
	const char *reason; /* in the list of bad files: why (static) */
};

struct import_list {
	struct import_name *v;
	size_t n, cap;
};

static int import_name_cmp(const void *a, const void *b)
{
	const struct import_name *x = a, *y = b;
	if (x->us != y->us)
		return x->us < y->us ? -1 : 1;
	return strcmp(x->name, y->name);
}

static struct import_name *import_list_next(struct import_list *l)
{
	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 32;
		l->v = mem_realloc(l->v, l->cap, sizeof(*l->v));
	}
	return &l->v[l->n];
}

/* Add a name. Callers pass names that fit: a valid spool name has at most
 * 36 bytes (spool_name_parse), and names read back from the database are
 * checked first. One that does not fit is left out, never cut: a cut name
 * would be a different file. */
static void import_list_add(struct import_list *l, const char *name, int64_t us)
{
	struct import_name *e = import_list_next(l);
	int n = snprintf(e->name, sizeof(e->name), "%s", name);
	if (n < 0 || (size_t)n >= sizeof(e->name))
		return;
	e->us = us;
	e->reason = NULL;
	l->n++;
}

/* Add a copy of an entry of another list, with a reason (NULL for none). */
static void import_list_push(struct import_list *l, const struct import_name *src,
                             const char *reason)
{
	struct import_name *e = import_list_next(l);
	*e = *src;
	e->reason = reason;
	l->n++;
}

/* List the spool names in newfd, sorted by arrival (timestamp, name). */
static int import_list_dir(int newfd, struct import_list *l)
{
	l->n = 0;
	/* A fresh descriptor: readdir through a dup would share (and move) the
	 * directory offset of newfd. */
	int fd = openat(newfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	DIR *d = fdopendir(fd);
	if (d == NULL) {
		close(fd);
		return -1;
	}
	struct dirent *de;
	errno = 0;
	while ((de = readdir(d)) != NULL) {
		int64_t us;
		if (spool_name_parse(de->d_name, &us))
			import_list_add(l, de->d_name, us);
		errno = 0;
	}
	int rc = errno != 0 ? -1 : 0;
	closedir(d);
	if (l->n > 1)
		qsort(l->v, l->n, sizeof(l->v[0]), import_name_cmp);
	return rc;
}

static bool import_list_has(const struct import_list *l, const char *name)
{
	struct import_name key;
	if (l->n == 0 || !spool_name_parse(name, &key.us))
		return false;
	/* A valid spool name always fits; one that did not could not be in l. */
	int n = snprintf(key.name, sizeof(key.name), "%s", name);
	if (n < 0 || (size_t)n >= sizeof(key.name))
		return false;
	return bsearch(&key, l->v, l->n, sizeof(l->v[0]), import_name_cmp) != NULL;
}

/* ---- the X-Sealmail-Flags field (docs/STORE.md) ---- */

/* The flags carried by a leading X-Sealmail-Flags field. */
struct import_flags {
	unsigned flags;
	struct store_kwset kw;
	char folder[STORE_FOLDER_NAME_MAX + 1];
};

static bool import_is_flags_field(const unsigned char *p, size_t n)
{
	size_t fl = sizeof(SPOOL_FLAGS_FIELD) - 1;
	if (n < fl + 1 || strncasecmp((const char *)p, SPOOL_FLAGS_FIELD, fl) != 0)
		return false;
	size_t i = fl;
	while (i < n && (p[i] == ' ' || p[i] == '\t')) /* RFC 5322 4.5.2 obs-optional */
		i++;
	return i < n && p[i] == ':';
}

static void import_apply_token(struct import_flags *f, const char *t, size_t n)
{
	static const struct {
		const char *name;
		unsigned bit;
	} sys[] = {
	    {"\\Seen", STORE_FLAG_SEEN},       {"\\Answered", STORE_FLAG_ANSWERED},
	    {"\\Flagged", STORE_FLAG_FLAGGED}, {"\\Deleted", STORE_FLAG_DELETED},
	    {"\\Draft", STORE_FLAG_DRAFT},
	};
	if (n > 7 && strncasecmp(t, "folder=", 7) == 0) {
		/* Longer names are ignored (routing falls back to INBOX); a
		 * shorter one always fits, the check only guards that. The copy
		 * stops early at a NUL byte, as any C string would. */
		if (n - 7 > STORE_FOLDER_NAME_MAX)
			return;
		int w = snprintf(f->folder, sizeof(f->folder), "%.*s", (int)(n - 7), t + 7);
		if (w < 0 || (size_t)w >= sizeof(f->folder))
			f->folder[0] = '\0';
		return;
	}
	if (t[0] == '\\') {
		for (size_t i = 0; i < sizeof(sys) / sizeof(sys[0]); i++)
			if (strlen(sys[i].name) == n && strncasecmp(sys[i].name, t, n) == 0)
				f->flags |= sys[i].bit;
		return; /* \Recent and unknown system flags: ignored */
	}
	int rc = store_kwset_add(&f->kw, t, n);
	if (rc < 0)
		log_event(LOG_WARNING, "spool-flag-ignored", "REASON",
		          rc == STORE_KWSET_FULL ? "too many keywords" : "invalid keyword", NULL);
}

static void import_parse_value(struct import_flags *f, const unsigned char *v, size_t n)
{
	size_t i = 0;
	while (i < n) {
		while (i < n && (v[i] == ' ' || v[i] == '\t' || v[i] == '\r' || v[i] == '\n'))
			i++;
		size_t start = i;
		while (i < n && !(v[i] == ' ' || v[i] == '\t' || v[i] == '\r' || v[i] == '\n'))
			i++;
		if (i > start)
			import_apply_token(f, (const char *)v + start, i - start);
	}
}

/* Walk the top-level header (up to the first empty line): a leading
 * X-Sealmail-Flags field is parsed and removed; later ones came from the
 * sender and are removed without effect. Returns true when something was
 * removed: *out then holds the rewritten message; else the input is used as
 * it is. */
static bool import_strip_flags(const unsigned char *p, size_t len, struct import_flags *f,
                               struct buf *out)
{
	size_t pos = 0, kept = 0; /* p[kept..pos) not yet copied */
	bool first = true, changed = false;
	buf_reset(out);
	while (pos < len) {
		/* An empty line ends the header (RFC 5322 section 2.1). */
		if (p[pos] == '\n' || (p[pos] == '\r' && pos + 1 < len && p[pos + 1] == '\n'))
			break;
		/* One field: its first line and continuation lines (SP/HTAB). */
		size_t end = pos;
		for (;;) {
			const unsigned char *nl = memchr(p + end, '\n', len - end);
			end = nl == NULL ? len : (size_t)(nl - p) + 1;
			if (end >= len || (p[end] != ' ' && p[end] != '\t'))
				break;
		}
		if (import_is_flags_field(p + pos, end - pos)) {
			if (first) {
				const unsigned char *colon = memchr(p + pos, ':', end - pos);
				import_parse_value(f, colon + 1, (size_t)(p + end - colon - 1));
			} else {
				log_event(LOG_NOTICE, "spool-flags-stripped", "REASON",
				          "X-Sealmail-Flags field not in first position", NULL);
			}
			buf_append(out, p + kept, pos - kept);
			kept = end;
			changed = true;
		}
		first = false;
		pos = end;
	}
	if (changed)
		buf_append(out, p + kept, len - kept);
	return changed;
}

/* ---- one spool file ---- */

/* Move a bad spool file aside to spool/bad. */
static void import_set_aside(int spool_dirfd, int newfd, int *badfd, const char *name,
                             const char *reason)
{
	log_event(LOG_ERR, "spool-bad", "FILE", name, "REASON", reason, NULL);
	if (*badfd < 0) {
		if (mkdirat(spool_dirfd, "bad", 0700) < 0 && errno != EEXIST)
			goto fail;
		*badfd =
		    openat(spool_dirfd, "bad", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (*badfd < 0)
			goto fail;
	}
	if (renameat(newfd, name, *badfd, name) < 0 && errno != ENOENT)
		goto fail;
	return;
fail:
	log_event(LOG_ERR, "spool-set-aside-failed", "FILE", name, "REASON", strerror(errno), NULL);
}

/* What an entry of spool/new that is not a regular file is, for the log. */
static const char *import_alien_kind(mode_t mode)
{
	if (S_ISLNK(mode))
		return "not a regular file (symbolic link)";
	if (S_ISFIFO(mode))
		return "not a regular file (FIFO)";
	if (S_ISDIR(mode))
		return "not a regular file (directory)";
	if (S_ISSOCK(mode))
		return "not a regular file (socket)";
	return "not a regular file (device)";
}

/* Remove an entry of spool/new that is neither a regular file nor a
 * directory. The MX only ever creates regular files there (O_EXCL, then a
 * rename), so such an entry holds no message: a symbolic link or FIFO was
 * planted by something else. It is unlinked (the link itself, never its
 * target) rather than moved to spool/bad because the POSTAUTH sandbox may not
 * create symbolic links, FIFOs, sockets or devices, and Landlock counts a
 * rename into another directory as such a creation (docs/SANDBOX.md): the
 * move would fail at every login, and every login would log it again. Logged
 * once, since the entry is then gone. A directory may be created there, so a
 * directory is set aside like an undecryptable file. */
static void import_remove_alien(int spool_dirfd, int newfd, int *badfd, const char *name,
                                const char *kind)
{
	if (unlinkat(newfd, name, 0) == 0 || errno == ENOENT) {
		log_event(LOG_ERR, "spool-bad", "FILE", name, "REASON", kind, "ACTION", "removed",
		          NULL);
		return;
	}
	import_set_aside(spool_dirfd, newfd, badfd, name, kind);
}

static int import_folder_id(struct store *st, const char *name, int64_t *id_r)
{
	struct store_folder f;
	int rc = store_folder_get(st, name, &f);
	if (rc == 1)
		*id_r = f.id;
	store_folder_clear(&f);
	return rc;
}

/* Decrypt one spool file into plain: 0 ok, -1 with *reason (static). Tries
 * the current sealing key, then the previous one. */
static int import_decrypt(int fd, const unsigned char *sk, const unsigned char *sk_old,
                          size_t max_size, struct buf *plain, const char **reason)
{
	*reason = "decryption failed";
	if (age_open_fd(sk, fd, plain, max_size, reason) == 0)
		return 0;
	if (sk_old == NULL)
		return -1;
	const char *reason2 = NULL;
	buf_reset(plain);
	if (lseek(fd, 0, SEEK_SET) != 0)
		return -1;
	if (age_open_fd(sk_old, fd, plain, max_size, &reason2) == 0)
		return 0;
	return -1;
}

/* ---- one run of store_import_spool ---- */

/* The state of one import, released by import_finish. */
struct import_run {
	struct store *st;
	int spool_dirfd;
	int newfd, badfd; /* spool/new; spool/bad once needed (-1 before) */
	size_t max_size;
	struct store_import_stats *stats;
	struct import_list names; /* spool/new, in arrival order */
	struct import_list done;  /* imported now or before: unlink after COMMIT */
	struct import_list bad;   /* to move to spool/bad, with their reasons */
	struct import_list alien; /* links, FIFOs...: to remove, with their kinds */
	struct buf plain, stripped, kwtext;
	unsigned char sk[STORE_SEAL_KEY_LEN], sk_old[STORE_SEAL_KEY_LEN];
	bool have_old;
	int64_t inbox_id;
	int64_t now; /* imported_at of the names recorded by this run */
};

/* Step 1, without a lock: open spool/new and list it. The usual login finds
 * it empty and no name recorded (docs/STORE.md, "Import", step 1): that costs
 * one read and takes no write lock. 1 something to do, 0 nothing, -1 error. */
static int import_look(struct import_run *r, const char **error_r)
{
	r->newfd = openat(r->spool_dirfd, "new", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (r->newfd < 0) {
		*error_r = "cannot open spool/new";
		return -1;
	}
	if (import_list_dir(r->newfd, &r->names) < 0) {
		*error_r = "cannot list spool/new";
		return -1;
	}
	if (r->names.n > 0)
		return 1;
	sqlite3_stmt *s = store_prepare(r->st, "SELECT EXISTS (SELECT 1 FROM spool_imported)");
	int any = -1;
	if (s != NULL && sqlite3_step(s) == SQLITE_ROW)
		any = sqlite3_column_int(s, 0);
	sqlite3_finalize(s);
	if (any < 0) {
		*error_r = "cannot read imported names";
		return -1;
	}
	return any != 0 ? 1 : 0;
}

/* Step 2, still without a lock: the sealing keys and INBOX. 0 / -1. */
static int import_load_keys(struct import_run *r, const char **error_r)
{
	if (store_get_seal_secret(r->st, r->sk) < 0) {
		*error_r = "no sealing key";
		return -1;
	}
	int rc = store_meta_get(r->st, STORE_META_SEAL_OLD, r->sk_old, sizeof(r->sk_old));
	if (rc < 0) {
		*error_r = "cannot read sealing key";
		return -1;
	}
	r->have_old = rc == 1;
	if (import_folder_id(r->st, "INBOX", &r->inbox_id) != 1) {
		*error_r = "no INBOX";
		return -1;
	}
	return 0;
}

/* Whether an earlier run committed this name (and crashed, or another
 * session is about to unlink it). 1 yes, 0 no, -1 error. */
static int import_recorded(struct import_run *r, const char *name, const char **error_r)
{
	sqlite3_stmt *s = store_stmt(r->st, S_IMPORTED_HAS);
	if (s == NULL) {
		*error_r = "cannot query imported names";
		return -1;
	}
	sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
	int rc = sqlite3_step(s);
	sqlite3_reset(s);
	if (rc == SQLITE_ROW)
		return 1;
	if (rc != SQLITE_DONE) {
		store_fail(r->st, "imported lookup");
		*error_r = "cannot query imported names";
		return -1;
	}
	return 0;
}

enum import_read_result {
	IMPORT_READ_OK,    /* r->plain holds the message */
	IMPORT_READ_GONE,  /* vanished: another session imported it meanwhile */
	IMPORT_READ_BAD,   /* to set aside, *reason_r says why */
	IMPORT_READ_ALIEN, /* neither a file nor a directory: to remove, *reason_r
	                    * says what */
};

/* Open and decrypt one spool file into r->plain, within r->max_size. The
 * entry is looked at before it is opened (a FIFO or device is never opened
 * when seen), then opened without following a symbolic link and without
 * blocking (a FIFO swapped in meanwhile), and checked again on the open
 * descriptor. */
static enum import_read_result import_read(struct import_run *r, const char *name,
                                           const char **reason_r)
{
	struct stat sb;
	if (fstatat(r->newfd, name, &sb, AT_SYMLINK_NOFOLLOW) < 0) {
		if (errno == ENOENT)
			return IMPORT_READ_GONE;
		*reason_r = "cannot stat";
		return IMPORT_READ_BAD;
	}
	if (!S_ISREG(sb.st_mode)) {
		*reason_r = import_alien_kind(sb.st_mode);
		return S_ISDIR(sb.st_mode) ? IMPORT_READ_BAD : IMPORT_READ_ALIEN;
	}
	int fd = openat(r->newfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT)
			return IMPORT_READ_GONE;
		if (errno == ELOOP) {
			*reason_r = import_alien_kind(S_IFLNK);
			return IMPORT_READ_ALIEN;
		}
		*reason_r = "cannot open";
		return IMPORT_READ_BAD;
	}
	const char *reason = NULL;
	buf_reset(&r->plain);
	int drc = -1;
	if (fstat(fd, &sb) < 0) {
		reason = "cannot stat";
	} else if (!S_ISREG(sb.st_mode)) {
		close(fd);
		*reason_r = import_alien_kind(sb.st_mode);
		return S_ISDIR(sb.st_mode) ? IMPORT_READ_BAD : IMPORT_READ_ALIEN;
	} else {
		drc = import_decrypt(fd, r->sk, r->have_old ? r->sk_old : NULL, r->max_size,
		                     &r->plain, &reason);
	}
	close(fd);
	if (drc < 0) {
		*reason_r = reason != NULL ? reason : "decryption failed";
		return IMPORT_READ_BAD;
	}
	return IMPORT_READ_OK;
}

/* The folder a message goes to: its folder= routing when that folder
 * exists, else INBOX. 0 / -1 (database error). */
static int import_route(struct import_run *r, const struct import_flags *fl, const char *name,
                        int64_t *folder_id_r)
{
	*folder_id_r = r->inbox_id;
	if (fl->folder[0] == '\0')
		return 0;
	int rc = import_folder_id(r->st, fl->folder, folder_id_r);
	if (rc < 0)
		return -1;
	if (rc == 0) {
		log_event(LOG_WARNING, "spool-route-unknown", "FILE", name, NULL);
		*folder_id_r = r->inbox_id;
	}
	return 0;
}

/* Record a name as imported, in the import's transaction. 0 / -1. */
static int import_record(struct import_run *r, const char *name, const char **error_r)
{
	sqlite3_stmt *s = store_stmt(r->st, S_IMPORTED_ADD);
	if (s == NULL) {
		*error_r = "cannot record imported name";
		return -1;
	}
	sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, r->now);
	if (store_step_done(r->st, s, "record imported") < 0) {
		*error_r = "cannot record imported name";
		return -1;
	}
	return 0;
}

/* Insert the decrypted message of e (r->plain): strip the flags field, apply
 * its flags, keywords and routing, and record the name. 0 / -1. */
static int import_insert(struct import_run *r, const struct import_name *e, const char **error_r)
{
	struct import_flags fl;
	memset(&fl, 0, sizeof(fl));
	bool changed =
	    import_strip_flags(r->plain.data != NULL ? r->plain.data : (const unsigned char *)"",
	                       r->plain.len, &fl, &r->stripped);
	const struct buf *msg = changed ? &r->stripped : &r->plain;
	int64_t folder_id;
	if (import_route(r, &fl, e->name, &folder_id) < 0) {
		store_kwset_free(&fl.kw);
		*error_r = "cannot look up folder";
		return -1;
	}
	store_kwset_format(&fl.kw, &r->kwtext);
	store_kwset_free(&fl.kw);
	/* INTERNALDATE: the spool name's delivery time (DESIGN 2). */
	int64_t date = e->us / 1000000;
	/* An empty message (sent so, or nothing left once the field is gone)
	 * has no buffer; the store and its text extraction get a pointer to
	 * zero bytes, never NULL (NULL + 0 is undefined in C). */
	const unsigned char *data = msg->data != NULL ? msg->data : (const unsigned char *)"";
	if (store_append_locked(r->st, folder_id, data, msg->len, date, fl.flags,
	                        buf_cstr(&r->kwtext), NULL, NULL) < 0) {
		*error_r = "cannot insert message";
		return -1;
	}
	return import_record(r, e->name, error_r);
}

/* Step 3, under the write lock: one listed file. A recorded name is only
 * queued for unlinking; a file that fails to open or decrypt is queued for
 * spool/bad and never stops the others. 0 / -1 (the run fails). */
static int import_one(struct import_run *r, const struct import_name *e, const char **error_r)
{
	int rc = import_recorded(r, e->name, error_r);
	if (rc < 0)
		return -1;
	if (rc == 1) {
		import_list_push(&r->done, e, NULL);
		r->stats->leftovers++;
		return 0;
	}
	const char *reason = NULL;
	switch (import_read(r, e->name, &reason)) {
	case IMPORT_READ_GONE:
		return 0;
	case IMPORT_READ_BAD:
		import_list_push(&r->bad, e, reason);
		return 0;
	case IMPORT_READ_ALIEN:
		import_list_push(&r->alien, e, reason);
		return 0;
	case IMPORT_READ_OK:
		break;
	}
	if (import_insert(r, e, error_r) < 0)
		return -1;
	import_list_push(&r->done, e, NULL);
	r->stats->imported++;
	return 0;
}

/* The recorded names that the listing under the lock did not show, into
 * gone. 0 / -1. */
static int import_list_gone(struct import_run *r, struct import_list *gone)
{
	sqlite3_stmt *s = store_prepare(r->st, "SELECT name FROM spool_imported");
	if (s == NULL)
		return -1;
	int rc;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		const char *n = (const char *)sqlite3_column_text(s, 0);
		if (n != NULL && !import_list_has(&r->names, n) && strlen(n) < SPOOL_NAME_MAX)
			import_list_add(gone, n, 0);
	}
	sqlite3_finalize(s);
	if (rc != SQLITE_DONE)
		return store_fail(r->st, "list imported");
	return 0;
}

/* Step 4, under the write lock: prune recorded names whose files are gone,
 * keeping the table at the size of one batch. Why that is safe:
 * docs/STORE.md, "Why pruning is safe". 0 / -1. */
static int import_prune(struct import_run *r, const char **error_r)
{
	struct import_list gone = {0};
	int ret = -1;
	if (import_list_gone(r, &gone) < 0) {
		*error_r = "cannot list imported names";
		goto out;
	}
	/* Another session may have unlinked these files without having
	 * flushed spool/new yet: flush it before forgetting the names, or
	 * a crash could bring back files whose names we no longer know. */
	if (gone.n > 0 && fsync(r->newfd) < 0) {
		*error_r = "cannot sync spool/new";
		goto out;
	}
	sqlite3_stmt *s =
	    gone.n > 0 ? store_prepare(r->st, "DELETE FROM spool_imported WHERE name = ?1") : NULL;
	for (size_t i = 0; i < gone.n && s != NULL; i++) {
		sqlite3_reset(s);
		sqlite3_bind_text(s, 1, gone.v[i].name, -1, SQLITE_STATIC);
		if (store_step_done(r->st, s, "prune imported") < 0)
			break;
		r->stats->pruned++;
	}
	sqlite3_finalize(s);
	if (r->stats->pruned != gone.n) {
		*error_r = "cannot prune imported names";
		goto out;
	}
	ret = 0;
out:
	free(gone.v);
	return ret;
}

/* Steps 2 to 5: under the write lock, list spool/new again, import each
 * file, prune, and COMMIT. 0 committed, -1 with *error_r (rolled back). */
static int import_batch(struct import_run *r, const char **error_r)
{
	if (store_begin(r->st) < 0) {
		*error_r = "cannot lock mailbox";
		return -1;
	}
	/* List again under the write lock: every name in spool_imported was
	 * committed before this listing, so a recorded name that is not listed
	 * now is gone for good and can be pruned (see docs/STORE.md). */
	if (import_list_dir(r->newfd, &r->names) < 0) {
		*error_r = "cannot list spool/new";
		goto fail;
	}
	r->now = (int64_t)time(NULL);
	for (size_t i = 0; i < r->names.n; i++)
		if (import_one(r, &r->names.v[i], error_r) < 0)
			goto fail;
	if (import_prune(r, error_r) < 0)
		goto fail;
	/* synchronous=FULL: when COMMIT returns, messages and names are on
	 * disk; only now may the spool files go. */
	if (store_commit(r->st) < 0) {
		*error_r = "cannot commit import";
		return -1;
	}
	return 0;
fail:
	store_rollback(r->st);
	return -1;
}

/* Step 6, after the COMMIT: unlink the imported and already-imported files.
 * A failure leaves a recorded leftover that the next run unlinks. */
static void import_unlink_done(struct import_run *r)
{
	for (size_t i = 0; i < r->done.n; i++) {
		if (unlinkat(r->newfd, r->done.v[i].name, 0) < 0 && errno != ENOENT)
			log_event(LOG_ERR, "spool-unlink-failed", "FILE", r->done.v[i].name,
			          "REASON", strerror(errno), NULL);
	}
	if (r->stats->imported > 0) {
		char cnt[32];
		int n = snprintf(cnt, sizeof(cnt), "%zu", r->stats->imported);
		if (n > 0 && (size_t)n < sizeof(cnt)) /* always: a size_t has 20 digits */
			log_event(LOG_INFO, "import", "COUNT", cnt, NULL);
	}
}

/* Last, whether or not the run committed: set the bad files aside (an
 * undecryptable file never blocks the others), flush the spool directories,
 * and release everything, wiping keys and plaintext. */
static void import_finish(struct import_run *r)
{
	for (size_t i = 0; i < r->bad.n; i++)
		import_set_aside(r->spool_dirfd, r->newfd, &r->badfd, r->bad.v[i].name,
		                 r->bad.v[i].reason);
	for (size_t i = 0; i < r->alien.n; i++)
		import_remove_alien(r->spool_dirfd, r->newfd, &r->badfd, r->alien.v[i].name,
		                    r->alien.v[i].reason);
	r->stats->bad = r->bad.n;
	r->stats->removed = r->alien.n;
	if (r->badfd >= 0) {
		fsync(r->badfd);
		close(r->badfd);
	}
	/* Make the unlinks and moves durable. Not needed for correctness
	 * (a resurrected file is a recorded leftover), but keeps the spool from
	 * re-growing after a crash. */
	if (r->newfd >= 0) {
		if ((r->done.n > 0 || r->bad.n > 0 || r->alien.n > 0) && fsync(r->newfd) < 0)
			log_event(LOG_WARNING, "spool-fsync-failed", "REASON", strerror(errno),
			          NULL);
		close(r->newfd);
	}
	sodium_memzero(r->sk, sizeof(r->sk));
	sodium_memzero(r->sk_old, sizeof(r->sk_old));
	buf_wipe(&r->plain);
	buf_wipe(&r->stripped);
	buf_free(&r->kwtext);
	free(r->names.v);
	free(r->done.v);
	free(r->bad.v);
	free(r->alien.v);
}

/* The sequence of docs/STORE.md, "Import": look, load keys, import in one
 * transaction, and unlink only after its COMMIT. */
int store_import_spool(struct store *st, int spool_dirfd, size_t max_size,
                       struct store_import_stats *stats, const char **error_r)
{
	const char *dummy;
	struct store_import_stats local;
	if (error_r == NULL)
		error_r = &dummy;
	if (stats == NULL)
		stats = &local;
	memset(stats, 0, sizeof(*stats));
	if (st->depth > 0) {
		/* The COMMIT must be durable before any unlink. */
		*error_r = "import inside a transaction";
		store_fail_msg(st, *error_r);
		return -1;
	}
	struct import_run r = {
	    .st = st,
	    .spool_dirfd = spool_dirfd,
	    .newfd = -1,
	    .badfd = -1,
	    .max_size = max_size,
	    .stats = stats,
	    .plain = BUF_INIT,
	    .stripped = BUF_INIT,
	    .kwtext = BUF_INIT,
	};
	int ret = import_look(&r, error_r);
	if (ret > 0) {
		ret = import_load_keys(&r, error_r) < 0 || import_batch(&r, error_r) < 0 ? -1 : 0;
		if (ret == 0)
			import_unlink_done(&r);
	}
	import_finish(&r);
	return ret;
}
