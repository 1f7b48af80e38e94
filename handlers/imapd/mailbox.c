/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* Mailbox commands (RFC 3501 sections 6.3.3-6.3.10): CREATE, DELETE,
 * RENAME, SUBSCRIBE, UNSUBSCRIBE, LIST, LSUB, STATUS; SPECIAL-USE (RFC 6154)
 * and CHILDREN (RFC 3348) attributes; the LIST-EXTENDED (RFC 5258) selection
 * and return options that SPECIAL-USE clients send. One namespace, "/" as
 * hierarchy separator; names travel in modified UTF-7. Trust: post-auth. */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "imapd.h"
#include "sys/log.h"
#include "base/mem.h"
#include "proto/mutf7.h"

/* ---- wildcard matching (RFC 3501 section 6.3.8) ---------------------------- */

/* '*' matches any run of characters, '%' any run without the delimiter.
 * Iterative with one backtrack point per wildcard kind: linear enough for
 * mailbox names and immune to pathological patterns (bounded length). */
static bool mbox_match(const char *pat, const char *name)
{
	if (*pat == '\0')
		return *name == '\0';
	if (*pat == '*') {
		for (const char *n = name;; n++) {
			if (mbox_match(pat + 1, n))
				return true;
			if (*n == '\0')
				return false;
		}
	}
	if (*pat == '%') {
		for (const char *n = name;; n++) {
			if (mbox_match(pat + 1, n))
				return true;
			if (*n == '\0' || *n == IMAPD_DELIM)
				return false;
		}
	}
	/* INBOX matches case-insensitively (RFC 3501 section 5.1). */
	if (*pat == *name)
		return mbox_match(pat + 1, name + 1);
	return false;
}

static bool mbox_pattern_match(const char *pat, const char *name)
{
	if (strncasecmp(name, "INBOX", 5) == 0 && (name[5] == '\0' || name[5] == IMAPD_DELIM) &&
	    strncasecmp(pat, "INBOX", 5) == 0) {
		/* compare the INBOX prefix case-insensitively */
		return mbox_match(pat + 5, name + 5);
	}
	return mbox_match(pat, name);
}

/* ---- LIST / LSUB ---------------------------------------------------------- */

struct mbox_entry {
	char *name;
	const char *special_use;
	bool exists, subscribed, children, subscribed_children;
};

static int mbox_cmp(const void *a, const void *b)
{
	const struct mbox_entry *x = a, *y = b;
	/* INBOX first, then byte order. */
	bool xi = strcmp(x->name, "INBOX") == 0, yi = strcmp(y->name, "INBOX") == 0;
	if (xi != yi)
		return xi ? -1 : 1;
	return strcmp(x->name, y->name);
}

static struct mbox_entry *mbox_find(struct mbox_entry *e, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(e[i].name, name) == 0)
			return &e[i];
	return NULL;
}

/* Every folder plus the hierarchy levels above them that do not exist. */
static struct mbox_entry *mbox_tree(struct imap_sess *s, size_t *n_r, struct store_folder **fl,
                                    size_t *nfl)
{
	if (store_folder_list(s->st, fl, nfl) < 0)
		return NULL;
	size_t cap = *nfl * 2 + 4, n = 0;
	struct mbox_entry *e = mem_array(cap, sizeof(*e));
	for (size_t i = 0; i < *nfl; i++) {
		struct store_folder *f = &(*fl)[i];
		struct mbox_entry *x = mbox_find(e, n, f->name);
		if (x == NULL) {
			if (n == cap) {
				cap *= 2;
				e = mem_realloc(e, cap, sizeof(*e));
			}
			x = &e[n++];
			memset(x, 0, sizeof(*x));
			x->name = mem_strdup(f->name);
		}
		x->exists = true;
		x->subscribed = f->subscribed;
		x->special_use = f->special_use;
		/* Ancestors. */
		char *copy = mem_strdup(f->name);
		for (char *sl = strrchr(copy, IMAPD_DELIM); sl != NULL;
		     sl = strrchr(copy, IMAPD_DELIM)) {
			*sl = '\0';
			struct mbox_entry *p = mbox_find(e, n, copy);
			if (p == NULL) {
				if (n == cap) {
					cap *= 2;
					e = mem_realloc(e, cap, sizeof(*e));
				}
				p = &e[n++];
				memset(p, 0, sizeof(*p));
				p->name = mem_strdup(copy);
			}
			p->children = true;
			if (f->subscribed)
				p->subscribed_children = true;
		}
		free(copy);
	}
	qsort(e, n, sizeof(*e), mbox_cmp);
	*n_r = n;
	return e;
}

static void mbox_tree_free(struct mbox_entry *e, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(e[i].name);
	free(e);
}

#define LIST_SEL_SUBSCRIBED     0x1u
#define LIST_SEL_SPECIAL_USE    0x2u
#define LIST_SEL_RECURSIVEMATCH 0x4u
#define LIST_RET_SUBSCRIBED     0x10u
#define LIST_RET_CHILDREN       0x20u
#define LIST_RET_SPECIAL_USE    0x40u

static int list_options(struct imap_sess *s, const struct imapparse_arg *a, bool ret,
                        unsigned *opts)
{
	if (a->type != IMAPPARSE_LIST) {
		imap_bad(s, "Invalid LIST options.");
		return -1;
	}
	for (size_t i = 0; i < a->count; i++) {
		const struct imapparse_arg *o = &a->list[i];
		if (imapparse_arg_is_atom(o, "SUBSCRIBED"))
			*opts |= ret ? LIST_RET_SUBSCRIBED : LIST_SEL_SUBSCRIBED;
		else if (imapparse_arg_is_atom(o, "SPECIAL-USE"))
			*opts |= ret ? LIST_RET_SPECIAL_USE : LIST_SEL_SPECIAL_USE;
		else if (!ret && imapparse_arg_is_atom(o, "RECURSIVEMATCH"))
			*opts |= LIST_SEL_RECURSIVEMATCH;
		else if (!ret && imapparse_arg_is_atom(o, "REMOTE"))
			continue;
		else if (ret && imapparse_arg_is_atom(o, "CHILDREN"))
			*opts |= LIST_RET_CHILDREN;
		else {
			imap_bad(s, "Unsupported LIST option.");
			return -1;
		}
	}
	/* RFC 5258 section 3: RECURSIVEMATCH needs another selection option. */
	if ((*opts & LIST_SEL_RECURSIVEMATCH) &&
	    !(*opts & (LIST_SEL_SUBSCRIBED | LIST_SEL_SPECIAL_USE))) {
		imap_bad(s, "RECURSIVEMATCH needs another selection option.");
		return -1;
	}
	return 0;
}

static void list_reply(struct imap_sess *s, const char *cmd, const struct mbox_entry *e,
                       unsigned opts, bool lsub)
{
	struct buf line = BUF_INIT;
	bool first = true;
#define ATTR(x)                                                                                    \
	do {                                                                                       \
		if (!first)                                                                        \
			buf_append_byte(&line, ' ');                                               \
		buf_append_str(&line, x);                                                          \
		first = false;                                                                     \
	} while (0)
	buf_printf(&line, "%s (", cmd);
	if (!e->exists)
		ATTR(lsub ? "\\Noselect"
		          : ((opts & LIST_SEL_SUBSCRIBED) ? "\\NonExistent" : "\\Noselect"));
	if (!lsub) {
		if (e->children)
			ATTR("\\HasChildren");
		else
			ATTR("\\HasNoChildren");
		if (e->subscribed && (opts & (LIST_SEL_SUBSCRIBED | LIST_RET_SUBSCRIBED)))
			ATTR("\\Subscribed");
		if (e->special_use != NULL)
			ATTR(e->special_use);
	}
#undef ATTR
	buf_printf(&line, ") \"%c\" ", IMAPD_DELIM);
	imap_append_mailbox(&line, e->name);
	if ((opts & LIST_SEL_RECURSIVEMATCH) && !e->subscribed && e->subscribed_children)
		buf_append_str(&line, " (\"CHILDINFO\" (\"SUBSCRIBED\"))");
	imap_untagged(s, "%s", buf_cstr(&line));
	buf_free(&line);
}

static int list_common(struct imap_sess *s, const struct imapparse_arg *args, size_t n, bool lsub)
{
	unsigned opts = 0;
	size_t i = 0;
	const char *cmd = lsub ? "LSUB" : "LIST";
	if (!lsub && n > 0 && args[0].type == IMAPPARSE_LIST) {
		if (list_options(s, &args[0], false, &opts) < 0)
			return 0;
		i = 1;
	}
	if (n < i + 2) {
		imap_bad(s, "Syntax: %s reference mailbox", cmd);
		return 0;
	}
	const char *ref = imapparse_arg_astring(&args[i]);
	const struct imapparse_arg *pats = &args[i + 1];
	size_t npats = 1;
	if (!lsub && pats->type == IMAPPARSE_LIST) {
		npats = pats->count;
		pats = pats->list;
	}
	size_t j = i + 2;
	if (!lsub && j < n) {
		if (!imapparse_arg_is_atom(&args[j], "RETURN") || j + 2 != n) {
			imap_bad(s,
			         "Syntax: LIST [(options)] reference mailbox [RETURN (options)]");
			return 0;
		}
		if (list_options(s, &args[j + 1], true, &opts) < 0)
			return 0;
	} else if (j != n) {
		imap_bad(s, "Syntax: %s reference mailbox", cmd);
		return 0;
	}
	if (ref == NULL) {
		imap_bad(s, "Invalid reference.");
		return 0;
	}
	struct buf uref = BUF_INIT;
	const char *err;
	if (mutf7_to_utf8(ref, strlen(ref), &uref, &err) != 1) {
		imap_bad(s, "Invalid reference: %s", err);
		buf_free(&uref);
		return 0;
	}
	struct store_folder *fl = NULL;
	size_t nfl = 0, ne = 0;
	struct mbox_entry *e = NULL;
	bool listed_any = false;
	for (size_t p = 0; p < npats; p++) {
		const char *pat = imapparse_arg_list_mailbox(&pats[p]);
		if (pat == NULL) {
			imap_bad(s, "Invalid mailbox pattern.");
			goto out;
		}
		struct buf upat = BUF_INIT;
		if (mutf7_to_utf8(pat, strlen(pat), &upat, &err) != 1) {
			buf_free(&upat);
			continue; /* matches nothing */
		}
		if (upat.len == 0 && !lsub) {
			/* RFC 3501: LIST "" "" asks for the delimiter. */
			imap_untagged(s, "LIST (\\Noselect) \"%c\" \"\"", IMAPD_DELIM);
			buf_free(&upat);
			listed_any = true;
			continue;
		}
		struct buf full = BUF_INIT;
		buf_append(&full, uref.data ? uref.data : (const unsigned char *)"", uref.len);
		buf_append(&full, upat.data ? upat.data : (const unsigned char *)"", upat.len);
		buf_free(&upat);
		if (e == NULL)
			e = mbox_tree(s, &ne, &fl, &nfl);
		if (e == NULL) {
			buf_free(&full);
			imap_no(s, "[SERVERBUG] Internal error.");
			goto out;
		}
		for (size_t k = 0; k < ne; k++) {
			bool sel_sub = lsub || (opts & LIST_SEL_SUBSCRIBED);
			if (!mbox_pattern_match(buf_cstr(&full), e[k].name))
				continue;
			if (sel_sub && !e[k].subscribed &&
			    !((opts & LIST_SEL_RECURSIVEMATCH) && e[k].subscribed_children) &&
			    !(lsub && e[k].subscribed_children && strchr(buf_cstr(&full), '%')))
				continue;
			if ((opts & LIST_SEL_SPECIAL_USE) && e[k].special_use == NULL)
				continue;
			list_reply(s, cmd, &e[k], opts, lsub);
			listed_any = true;
		}
		buf_free(&full);
	}
	(void)listed_any;
	imap_ok(s, "%s completed.", lsub ? "Lsub" : "List");
out:
	if (e != NULL)
		mbox_tree_free(e, ne);
	if (fl != NULL)
		store_folder_list_free(&fl, nfl);
	buf_free(&uref);
	return 0;
}

int imap_cmd_list(struct imap_sess *s, const struct imapparse_arg *args, size_t n)
{
	return list_common(s, args, n, false);
}

int imap_cmd_lsub(struct imap_sess *s, const struct imapparse_arg *args, size_t n)
{
	return list_common(s, args, n, true);
}

/* ---- CREATE / DELETE / RENAME / (UN)SUBSCRIBE ----------------------------- */

/* A name no new folder may take (store_folder_name_valid): '%' and '*',
 * which LIST could not name unambiguously (RFC 3501 section 6.3.8), and
 * what the store refuses anyway. Answers NO [CANNOT] (RFC 5530 section 3:
 * the request can never succeed) and returns true; false when the name is
 * fine. Existing folders are not checked: they stay usable. */
static bool mbox_name_refused(struct imap_sess *s, const char *name)
{
	const char *why;
	if (store_folder_name_valid(name, &why))
		return false;
	imap_no(s, "[CANNOT] Invalid mailbox name: %s.", why);
	return true;
}

static const char *const special_uses[] = {"\\All",  "\\Archive", "\\Drafts", "\\Flagged",
                                           "\\Junk", "\\Sent",    "\\Trash"};

int imap_cmd_create(struct imap_sess *s, const struct imapparse_arg *args, size_t n)
{
	struct buf name = BUF_INIT;
	const char *use = NULL;
	if (n < 1 || n > 2) {
		imap_bad(s, "Syntax: CREATE mailbox [(USE (attributes))]");
		return 0;
	}
	/* RFC 3501 section 6.3.3: a trailing delimiter only declares intent. */
	struct imapparse_arg a = args[0];
	char *trimmed = NULL;
	if (a.str != NULL && a.len > 1 && a.str[a.len - 1] == IMAPD_DELIM) {
		trimmed = mem_strndup(a.str, a.len - 1);
		a.str = trimmed;
		a.len--;
	}
	int r = imap_mailbox_arg(s, &a, &name);
	free(trimmed);
	if (r < 0)
		goto out;
	if (n == 2) {
		/* RFC 6154 section 5.2: CREATE name (USE (\Sent)). */
		const struct imapparse_arg *p = &args[1];
		if (p->type != IMAPPARSE_LIST || p->count != 2 ||
		    !imapparse_arg_is_atom(&p->list[0], "USE") ||
		    p->list[1].type != IMAPPARSE_LIST || p->list[1].count > 1) {
			imap_bad(s, "Syntax: CREATE mailbox (USE (attribute))");
			goto out;
		}
		if (p->list[1].count == 1) {
			for (size_t i = 0; i < sizeof(special_uses) / sizeof(special_uses[0]); i++)
				if (strcasecmp(p->list[1].list[0].str ? p->list[1].list[0].str : "",
				               special_uses[i]) == 0)
					use = special_uses[i];
			if (use == NULL || strcmp(use, "\\All") == 0 ||
			    strcmp(use, "\\Flagged") == 0) {
				imap_no(s, "[USEATTR] Unsupported special-use attribute.");
				goto out;
			}
		}
	}
	if (strcmp(buf_cstr(&name), "INBOX") == 0) {
		imap_no(s, "[ALREADYEXISTS] Mailbox already exists.");
		goto out;
	}
	if (mbox_name_refused(s, buf_cstr(&name)))
		goto out;
	struct store_folder f;
	r = store_folder_get(s->st, buf_cstr(&name), &f);
	if (r == 1) {
		store_folder_clear(&f);
		imap_no(s, "[ALREADYEXISTS] Mailbox already exists.");
		goto out;
	}
	/* Create missing superior levels too (RFC 3501 section 6.3.3). */
	if (store_begin(s->st) < 0)
		goto fail;
	char *copy = mem_strdup(buf_cstr(&name));
	for (char *sl = strchr(copy, IMAPD_DELIM); sl != NULL; sl = strchr(sl + 1, IMAPD_DELIM)) {
		*sl = '\0';
		if (store_folder_get(s->st, copy, &f) == 1)
			store_folder_clear(&f);
		else if (store_folder_create(s->st, copy, NULL, NULL) < 0) {
			*sl = IMAPD_DELIM;
			free(copy);
			store_rollback(s->st);
			goto fail;
		}
		*sl = IMAPD_DELIM;
	}
	free(copy);
	if (store_folder_create(s->st, buf_cstr(&name), use, NULL) < 0 || store_commit(s->st) < 0) {
		store_rollback(s->st);
		goto fail;
	}
	imap_publish_change(s, 0);
	imap_ok(s, "Create completed.");
	goto out;
fail:
	imap_no(s, "[SERVERBUG] Cannot create mailbox: %s", store_error(s->st));
out:
	buf_free(&name);
	return 0;
}

int imap_cmd_delete(struct imap_sess *s, const struct imapparse_arg *args, size_t n)
{
	struct buf name = BUF_INIT;
	if (n != 1) {
		imap_bad(s, "Syntax: DELETE mailbox");
		return 0;
	}
	if (imap_mailbox_arg(s, &args[0], &name) < 0)
		goto out;
	if (strcmp(buf_cstr(&name), "INBOX") == 0) {
		imap_no(s, "[CANNOT] INBOX can't be deleted.");
		goto out;
	}
	struct store_folder f;
	int r = store_folder_get(s->st, buf_cstr(&name), &f);
	if (r != 1) {
		imap_no(s, r == 0 ? "[NONEXISTENT] Mailbox doesn't exist."
		                  : "[SERVERBUG] Internal error.");
		goto out;
	}
	if (s->sel != NULL && s->sel->folder_id == f.id) {
		imap_sel_free(&s->sel);
		imap_set_state(s, IMAP_ST_AUTH);
		if (s->qresync)
			imap_untagged(s, "OK [CLOSED] Mailbox deleted.");
	}
	if (store_folder_delete(s->st, f.id) < 0) {
		imap_no(s, "[SERVERBUG] Cannot delete mailbox: %s", store_error(s->st));
	} else {
		imap_publish_change(s, 0);
		imap_ok(s, "Delete completed.");
	}
	store_folder_clear(&f);
out:
	buf_free(&name);
	return 0;
}

int imap_cmd_rename(struct imap_sess *s, const struct imapparse_arg *args, size_t n)
{
	struct buf from = BUF_INIT, to = BUF_INIT;
	if (n != 2) {
		imap_bad(s, "Syntax: RENAME old new");
		return 0;
	}
	if (imap_mailbox_arg(s, &args[0], &from) < 0 || imap_mailbox_arg(s, &args[1], &to) < 0)
		goto out;
	if (strcmp(buf_cstr(&to), "INBOX") != 0 && mbox_name_refused(s, buf_cstr(&to)))
		goto out;
	struct store_folder f;
	int r = store_folder_get(s->st, buf_cstr(&to), &f);
	if (r == 1 || strcmp(buf_cstr(&to), "INBOX") == 0) {
		if (r == 1)
			store_folder_clear(&f);
		imap_no(s, "[ALREADYEXISTS] Target mailbox already exists.");
		goto out;
	}
	size_t fl = from.len;
	if (to.len > fl && strncmp(buf_cstr(&to), buf_cstr(&from), fl) == 0 &&
	    to.data[fl] == IMAPD_DELIM) {
		imap_no(s, "[CANNOT] Can't rename a mailbox under itself.");
		goto out;
	}
	r = store_folder_get(s->st, buf_cstr(&from), &f);
	if (r != 1) {
		imap_no(s, r == 0 ? "[NONEXISTENT] Mailbox doesn't exist."
		                  : "[SERVERBUG] Internal error.");
		goto out;
	}
	store_folder_clear(&f);
	if (store_folder_rename(s->st, buf_cstr(&from), buf_cstr(&to)) < 0) {
		imap_no(s, "[SERVERBUG] Cannot rename: %s", store_error(s->st));
		goto out;
	}
	imap_publish_change(s, 0);
	imap_ok(s, "Rename completed.");
out:
	buf_free(&from);
	buf_free(&to);
	return 0;
}

static int subscribe_common(struct imap_sess *s, const struct imapparse_arg *args, size_t n,
                            bool on)
{
	struct buf name = BUF_INIT;
	if (n != 1) {
		imap_bad(s, "Syntax: %s mailbox", on ? "SUBSCRIBE" : "UNSUBSCRIBE");
		return 0;
	}
	if (imap_mailbox_arg(s, &args[0], &name) < 0)
		goto out;
	int r = store_folder_subscribe(s->st, buf_cstr(&name), on);
	if (r < 0)
		imap_no(s, "[SERVERBUG] Internal error.");
	else if (r == 0)
		imap_no(s, "[NONEXISTENT] Mailbox doesn't exist.");
	else
		imap_ok(s, "%s completed.", on ? "Subscribe" : "Unsubscribe");
out:
	buf_free(&name);
	return 0;
}

int imap_cmd_subscribe(struct imap_sess *s, const struct imapparse_arg *args, size_t n)
{
	return subscribe_common(s, args, n, true);
}

int imap_cmd_unsubscribe(struct imap_sess *s, const struct imapparse_arg *args, size_t n)
{
	return subscribe_common(s, args, n, false);
}

/* ---- STATUS (RFC 3501 section 6.3.10, RFC 7162 section 3.1.6) ---------- */

int imap_cmd_status(struct imap_sess *s, const struct imapparse_arg *args, size_t n)
{
	struct buf name = BUF_INIT, out = BUF_INIT;
	if (n != 2 || args[1].type != IMAPPARSE_LIST || args[1].count == 0) {
		imap_bad(s, "Syntax: STATUS mailbox (items)");
		return 0;
	}
	if (imap_mailbox_arg(s, &args[0], &name) < 0)
		goto out;
	imap_import_spool(s);
	struct store_folder f;
	int r = store_folder_get(s->st, buf_cstr(&name), &f);
	if (r != 1) {
		imap_no(s, r == 0 ? "[NONEXISTENT] Mailbox doesn't exist."
		                  : "[SERVERBUG] Internal error.");
		goto out;
	}
	uint64_t count = 0, unseen = 0, recent = 0;
	store_message_count(s->st, f.id, &count, &unseen);
	{
		char key[64];
		sqlite3_stmt *q;
		/* 12 bytes and 20 digits at most: a cut key would count
		 * another folder's messages, so it counts none. */
		int k = snprintf(key, sizeof(key), "imap.recent.%lld", (long long)f.id);
		bool key_ok = k >= 0 && (size_t)k < sizeof(key);
		if (key_ok &&
		    sqlite3_prepare_v2(
		        store_db(s->st),
		        "SELECT count(*) FROM messages WHERE folder_id = ?1 AND uid >= "
		        "coalesce((SELECT CAST(value AS INTEGER) FROM meta WHERE key = ?2), 1)",
		        -1, &q, NULL) == SQLITE_OK) {
			sqlite3_bind_int64(q, 1, f.id);
			sqlite3_bind_text(q, 2, key, -1, SQLITE_STATIC);
			if (sqlite3_step(q) == SQLITE_ROW)
				recent = (uint64_t)sqlite3_column_int64(q, 0);
			sqlite3_finalize(q);
		}
	}
	for (size_t i = 0; i < args[1].count; i++) {
		const struct imapparse_arg *it = &args[1].list[i];
		if (out.len)
			buf_append_byte(&out, ' ');
		if (imapparse_arg_is_atom(it, "MESSAGES"))
			buf_printf(&out, "MESSAGES %llu", (unsigned long long)count);
		else if (imapparse_arg_is_atom(it, "RECENT"))
			buf_printf(&out, "RECENT %llu", (unsigned long long)recent);
		else if (imapparse_arg_is_atom(it, "UIDNEXT"))
			buf_printf(&out, "UIDNEXT %u", f.uidnext);
		else if (imapparse_arg_is_atom(it, "UIDVALIDITY"))
			buf_printf(&out, "UIDVALIDITY %u", f.uidvalidity);
		else if (imapparse_arg_is_atom(it, "UNSEEN"))
			buf_printf(&out, "UNSEEN %llu", (unsigned long long)unseen);
		else if (imapparse_arg_is_atom(it, "HIGHESTMODSEQ")) {
			buf_printf(&out, "HIGHESTMODSEQ %llu", (unsigned long long)f.highestmodseq);
			s->condstore =
			    true; /* RFC 7162 section 3.1: a CONDSTORE-enabling command */
		} else {
			imap_bad(s, "Unknown STATUS item.");
			store_folder_clear(&f);
			goto out;
		}
	}
	{
		struct buf line = BUF_INIT;
		buf_append_str(&line, "STATUS ");
		imap_append_mailbox(&line, f.name);
		imap_untagged(s, "%s (%s)", buf_cstr(&line), buf_cstr(&out));
		buf_free(&line);
	}
	imap_ok(s, "Status completed.");
	store_folder_clear(&f);
out:
	buf_free(&name);
	buf_free(&out);
	return 0;
}
