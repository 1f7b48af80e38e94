/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* Mailbox store: folders (IMAP mailboxes). Lookup, listing, creation with a
 * fresh UIDVALIDITY, deletion, rename (with the INBOX special case of RFC 3501
 * section 6.3.5) and subscriptions.
 * Trust: post-auth (the caller holds MK); folder names come from the user's
 * client and are validated here. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/mem.h"
#include "base/rnd.h"
#include "store_int.h"

/* Non-zero random UIDVALIDITY (RFC 3501 section 2.3.1.1): never reused for a
 * recreated folder with overwhelming probability. */
static uint32_t store_new_uidvalidity(void)
{
	return rnd_uniform(UINT32_MAX) + 1;
}

int store_insert_folder(struct store *st, const char *name, const char *special_use,
                        bool subscribed, int64_t *id_r)
{
	sqlite3_stmt *s = store_prepare(st, "INSERT OR IGNORE INTO folders(name, uidvalidity, "
	                                    "special_use, subscribed) VALUES (?1, ?2, ?3, ?4)");
	if (s == NULL)
		return -1;
	sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, store_new_uidvalidity());
	if (special_use != NULL)
		sqlite3_bind_text(s, 3, special_use, -1, SQLITE_STATIC);
	sqlite3_bind_int(s, 4, subscribed ? 1 : 0);
	int rc = store_step_done(st, s, "insert folder");
	sqlite3_finalize(s);
	if (rc < 0)
		return -1;
	if (sqlite3_changes(st->db) == 0)
		return 0;
	if (id_r != NULL)
		*id_r = sqlite3_last_insert_rowid(st->db);
	return 1;
}

static void store_folder_from_row(sqlite3_stmt *s, struct store_folder *f)
{
	f->id = sqlite3_column_int64(s, 0);
	f->name = store_col_strdup(s, 1);
	if (f->name == NULL)
		f->name = mem_strdup("");
	f->uidvalidity = (uint32_t)sqlite3_column_int64(s, 2);
	f->uidnext = (uint32_t)sqlite3_column_int64(s, 3);
	f->highestmodseq = (uint64_t)sqlite3_column_int64(s, 4);
	f->special_use = store_col_strdup(s, 5);
	f->subscribed = sqlite3_column_int(s, 6) != 0;
}

const char *store_canonical_name(const char *name)
{
	/* RFC 3501 section 5.1: INBOX is case-insensitive. */
	return strcasecmp(name, "INBOX") == 0 ? "INBOX" : name;
}

int store_folder_get(struct store *st, const char *name, struct store_folder *f)
{
	memset(f, 0, sizeof(*f));
	sqlite3_stmt *s = store_stmt(st, S_FOLDER_BY_NAME);
	if (s == NULL)
		return -1;
	sqlite3_bind_text(s, 1, store_canonical_name(name), -1, SQLITE_STATIC);
	int rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		store_folder_from_row(s, f);
		sqlite3_reset(s);
		return 1;
	}
	sqlite3_reset(s);
	if (rc == SQLITE_DONE)
		return 0;
	return store_fail(st, "folder get");
}

int store_folder_list(struct store *st, struct store_folder **list_r, size_t *n_r)
{
	*list_r = NULL;
	*n_r = 0;
	sqlite3_stmt *s = store_prepare(st, "SELECT id, name, uidvalidity, uidnext, highestmodseq, "
	                                    "special_use, subscribed FROM folders ORDER BY name");
	if (s == NULL)
		return -1;
	struct store_folder *v = NULL;
	size_t n = 0, cap = 0;
	int rc;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		if (n == cap) {
			cap = cap ? cap * 2 : 8;
			v = mem_realloc(v, cap, sizeof(*v));
		}
		memset(&v[n], 0, sizeof(v[n]));
		store_folder_from_row(s, &v[n]);
		n++;
	}
	sqlite3_finalize(s);
	if (rc != SQLITE_DONE) {
		store_folder_list_free(&v, n);
		return store_fail(st, "folder list");
	}
	*list_r = v;
	*n_r = n;
	return 0;
}

void store_folder_clear(struct store_folder *f)
{
	free(f->name);
	free(f->special_use);
	memset(f, 0, sizeof(*f));
}

void store_folder_list_free(struct store_folder **list, size_t n)
{
	if (*list == NULL)
		return;
	for (size_t i = 0; i < n; i++)
		store_folder_clear(&(*list)[i]);
	free(*list);
	*list = NULL;
}

/* Valid UTF-8 (RFC 3629) without C0 or C1 controls. */
static bool store_folder_name_utf8(const unsigned char *p)
{
	while (*p != '\0') {
		unsigned char c = *p;
		size_t more;
		uint32_t cp;
		if (c < 0x80) {
			if (c < 0x20 || c == 0x7f)
				return false;
			p++;
			continue;
		} else if ((c & 0xe0) == 0xc0) {
			more = 1;
			cp = c & 0x1f;
		} else if ((c & 0xf0) == 0xe0) {
			more = 2;
			cp = c & 0x0f;
		} else if ((c & 0xf8) == 0xf0) {
			more = 3;
			cp = c & 0x07;
		} else {
			return false;
		}
		p++;
		for (size_t i = 0; i < more; i++, p++) {
			if ((*p & 0xc0) != 0x80)
				return false;
			cp = (cp << 6) | (*p & 0x3f);
		}
		/* Overlong forms, surrogates, beyond U+10FFFF, C1 controls. */
		if ((more == 1 && cp < 0x80) || (more == 2 && cp < 0x800) ||
		    (more == 3 && cp < 0x10000) || (cp >= 0xd800 && cp <= 0xdfff) ||
		    cp > 0x10ffff || (cp >= 0x80 && cp < 0xa0))
			return false;
	}
	return true;
}

/* Folder names: valid UTF-8 without controls, no empty level (no leading,
 * trailing or doubled '/'), bounded, and without the LIST wildcards '%' and
 * '*'. RFC 3501 section 5.1 does not forbid those two, but a folder named
 * with them cannot be listed on its own (LIST "" "a%" also matches "ab"),
 * so, as Dovecot does, none is created; folders that already have such a
 * name (made by an older version) still load, list and can be renamed away,
 * because only creation and rename targets are checked. */
bool store_folder_name_valid(const char *name, const char **why_r)
{
	const char *dummy;
	size_t n = strlen(name);
	if (why_r == NULL)
		why_r = &dummy;
	if (n == 0 || n > STORE_FOLDER_NAME_MAX) {
		*why_r = "empty or too long";
		return false;
	}
	if (name[0] == '/' || name[n - 1] == '/' || strstr(name, "//") != NULL) {
		*why_r = "empty hierarchy level";
		return false;
	}
	if (strpbrk(name, "%*") != NULL) {
		*why_r = "the LIST wildcards % and * are not allowed";
		return false;
	}
	if (!store_folder_name_utf8((const unsigned char *)name)) {
		*why_r = "invalid UTF-8 or control character";
		return false;
	}
	return true;
}

int store_folder_create(struct store *st, const char *name, const char *special_use, int64_t *id_r)
{
	name = store_canonical_name(name);
	if (!store_folder_name_valid(name, NULL))
		return store_fail_msg(st, "invalid folder name");
	if (store_begin(st) < 0)
		return -1;
	int rc = store_insert_folder(st, name, special_use, false, id_r);
	if (rc < 0) {
		store_rollback(st);
		return -1;
	}
	if (store_commit(st) < 0)
		return -1;
	return rc;
}

int store_folder_delete(struct store *st, int64_t folder_id)
{
	/* The IMAP server's per-folder meta row (its \Recent state). */
	char key[64];
	int n = snprintf(key, sizeof(key), "imap.recent.%lld", (long long)folder_id);
	if (n < 0 || (size_t)n >= sizeof(key))
		return store_fail_msg(st, "folder meta key too long");
	if (store_begin(st) < 0)
		return -1;
	sqlite3_stmt *s =
	    store_prepare(st, "DELETE FROM folders WHERE id = ?1 AND name != 'INBOX'");
	if (s == NULL)
		goto fail;
	sqlite3_bind_int64(s, 1, folder_id);
	int rc = sqlite3_step(s);
	int changed = sqlite3_changes(st->db);
	sqlite3_finalize(s);
	if (rc != SQLITE_DONE) {
		store_fail(st, "delete folder");
		goto fail;
	}
	if (changed == 0) {
		store_fail_msg(st, "no such folder (or INBOX)");
		goto fail;
	}
	s = store_prepare(st, "DELETE FROM meta WHERE key = ?1");
	if (s == NULL)
		goto fail;
	sqlite3_bind_text(s, 1, key, -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	sqlite3_finalize(s);
	if (rc != SQLITE_DONE) {
		store_fail(st, "delete folder meta");
		goto fail;
	}
	return store_commit(st);
fail:
	store_rollback(st);
	return -1;
}

/* Move every message of INBOX into the fresh folder to_id under the same
 * UIDs, recording them as expunged from INBOX. */
static int store_move_inbox(struct store *st, int64_t inbox_id, int64_t to_id)
{
	uint64_t modseq;
	if (store_bump_modseq(st, inbox_id, &modseq) < 0)
		return -1;
	static const char *const sql[] = {
	    "INSERT OR REPLACE INTO expunged(folder_id, uid, modseq) SELECT ?1, uid, ?3 "
	    "FROM messages WHERE folder_id = ?1",
	    "UPDATE messages SET folder_id = ?2 WHERE folder_id = ?1",
	    "UPDATE folders SET uidnext = (SELECT uidnext FROM folders WHERE id = ?1), "
	    "highestmodseq = ?3 WHERE id = ?2",
	};
	for (size_t i = 0; i < sizeof(sql) / sizeof(sql[0]); i++) {
		sqlite3_stmt *s = store_prepare(st, sql[i]);
		if (s == NULL)
			return -1;
		sqlite3_bind_int64(s, 1, inbox_id);
		sqlite3_bind_int64(s, 2, to_id);
		sqlite3_bind_int64(s, 3, (int64_t)modseq);
		int rc = sqlite3_step(s);
		sqlite3_finalize(s);
		if (rc != SQLITE_DONE)
			return store_fail(st, "move INBOX");
	}
	return 0;
}

int store_folder_rename(struct store *st, const char *from, const char *to)
{
	struct store_folder f, t;
	from = store_canonical_name(from);
	to = store_canonical_name(to);
	if (!store_folder_name_valid(to, NULL) || strcmp(to, "INBOX") == 0)
		return store_fail_msg(st, "invalid folder name");
	if (store_begin(st) < 0)
		return -1;
	int r = store_folder_get(st, to, &t);
	if (r != 0) {
		if (r == 1)
			store_folder_clear(&t);
		store_rollback(st);
		return r < 0 ? -1 : store_fail_msg(st, "target folder exists");
	}
	r = store_folder_get(st, from, &f);
	if (r != 1) {
		store_rollback(st);
		return r < 0 ? -1 : store_fail_msg(st, "no such folder");
	}
	if (strcmp(from, "INBOX") == 0) {
		int64_t to_id;
		if (store_insert_folder(st, to, NULL, false, &to_id) < 0 ||
		    store_move_inbox(st, f.id, to_id) < 0)
			goto fail;
	} else {
		/* The folder itself and its descendants ("from/..."). */
		sqlite3_stmt *s = store_prepare(
		    st, "UPDATE folders SET name = ?2 || substr(name, length(?1) + 1) "
		        "WHERE name = ?1 OR substr(name, 1, length(?1) + 1) = ?1 || '/'");
		if (s == NULL)
			goto fail;
		sqlite3_bind_text(s, 1, from, -1, SQLITE_STATIC);
		sqlite3_bind_text(s, 2, to, -1, SQLITE_STATIC);
		int rc = sqlite3_step(s);
		sqlite3_finalize(s);
		if (rc != SQLITE_DONE) {
			store_fail(st, "rename folder");
			goto fail;
		}
	}
	store_folder_clear(&f);
	return store_commit(st);
fail:
	store_folder_clear(&f);
	store_rollback(st);
	return -1;
}

int store_folder_subscribe(struct store *st, const char *name, bool on)
{
	sqlite3_stmt *s = store_prepare(st, "UPDATE folders SET subscribed = ?2 WHERE name = ?1");
	if (s == NULL)
		return -1;
	sqlite3_bind_text(s, 1, store_canonical_name(name), -1, SQLITE_STATIC);
	sqlite3_bind_int(s, 2, on ? 1 : 0);
	int rc = sqlite3_step(s);
	int changed = sqlite3_changes(st->db);
	sqlite3_finalize(s);
	if (rc != SQLITE_DONE)
		return store_fail(st, "subscribe");
	return changed > 0 ? 1 : 0;
}
