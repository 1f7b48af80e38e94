/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* Fuzz target: IMAP SEARCH, parsing (lib/proto/imapsearch.c) and evaluation
 * (handlers/imapd/search.c, imap_cmd_search) of an arbitrary search program
 * against an arbitrary message in a real mailbox (SQLCipher, with its
 * full-text index).
 *
 * The mailbox is made once per process in a temporary directory: INBOX with
 * FZ_BACKGROUND small messages (more than search.c's SRCH_DIRECT_MAX, so
 * that header keys take the FTS path too). Each input appends one more
 * message inside a transaction that is rolled back afterwards, so every
 * input sees the same mailbox and nothing reaches the disk.
 *
 * Input: two control bytes (UID SEARCH, the new message's flags, keywords,
 * \Recent and INTERNALDATE), the search program up to the first LF (what
 * follows "SEARCH"), and the message. Checks: one tagged reply; "* SEARCH"
 * lists ascending numbers inside the view; and when the program is
 * accepted, "NOT (program)" selects exactly the other messages. With
 * FZ_DUMP set the output goes to stderr too (fuzz_imapd.h). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "fuzz_imapd.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FZ_BACKGROUND 70
#define FZ_VIEW_MAX   (FZ_BACKGROUND + 1)

static struct store *fz_st;
static int64_t fz_inbox;
static char fz_dir[256];
static struct imap_msg fz_msgs[FZ_VIEW_MAX];
static size_t fz_nbg; /* background messages in the view */

static void fz_cleanup(void)
{
	char p[300];
	store_close(&fz_st);
	static const char *const files[] = {"mailbox.db", "mailbox.db-wal", "mailbox.db-shm",
	                                    "mailbox.db-journal"};
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++)
		if (snprintf(p, sizeof(p), "%s/%s", fz_dir, files[i]) < (int)sizeof(p))
			unlink(p);
	rmdir(fz_dir);
}

static void fz_background(void)
{
	static const char *const from[] = {"Alice Example <alice@example.com>", "bob@example.org",
	                                   "=?utf-8?q?Caf=C3=A9?= <cafe@example.net>"};
	static const char *const subj[] = {"quarterly report", "Re: lunch", "Invoice 2024-17",
	                                   "hello world"};
	for (size_t i = 0; i < FZ_BACKGROUND; i++) {
		struct buf m = BUF_INIT;
		buf_printf(&m,
		           "From: %s\r\nTo: user%zu@example.com\r\nSubject: %s %zu\r\n"
		           "Date: %zu Mar 2024 10:00:00 +0000\r\nMessage-ID: <%zu@bg>\r\n\r\n"
		           "Body %zu with the quick brown fox.\r\n",
		           from[i % 3], i, subj[i % 4], i, 1 + i % 28, i, i);
		uint32_t uid;
		if (store_append(fz_st, fz_inbox, m.data, m.len, 1700000000 + (int64_t)i * 86400,
		                 (unsigned)i & STORE_FLAGS_ALL, i % 5 == 0 ? "$Label1" : NULL, &uid,
		                 NULL) < 0)
			abort();
		fz_msgs[fz_nbg++] = (struct imap_msg){.uid = uid, .recent = i % 7 == 0};
		buf_free(&m);
	}
}

static void fz_init(void)
{
	/* A file system in memory when there is one: every input commits
	 * (fsync) and the disk would set the pace. */
	const char *tmp = getenv("TMPDIR");
	if (tmp == NULL && access("/dev/shm", W_OK) == 0)
		tmp = "/dev/shm";
	const char *err = NULL;
	unsigned char mk[STORE_KEY_LEN], sk[STORE_SEAL_KEY_LEN];
	char db[300];
	int n =
	    snprintf(fz_dir, sizeof(fz_dir), "%s/fuzz_search.XXXXXX", tmp != NULL ? tmp : "/tmp");
	if (n < 0 || (size_t)n >= sizeof(fz_dir) || mkdtemp(fz_dir) == NULL)
		abort();
	n = snprintf(db, sizeof(db), "%s/mailbox.db", fz_dir);
	if (n < 0 || (size_t)n >= sizeof(db))
		abort();
	memset(mk, 0x11, sizeof(mk));
	memset(sk, 0x22, sizeof(sk));
	fz_st = store_create(db, mk, sk, &err);
	if (fz_st == NULL)
		abort();
	atexit(fz_cleanup);
	struct store_folder f;
	if (store_folder_get(fz_st, "INBOX", &f) != 1)
		abort();
	fz_inbox = f.id;
	store_folder_clear(&f);
	fz_background();
}

/* Run "a [UID ]SEARCH <prog>" and check its output; the result goes to
 * res[] (by position in the view). Returns the tagged reply kind. */
static int fz_search(struct imap_sess *s, bool uid, const char *prog, size_t plen,
                     uint8_t res[FZ_VIEW_MAX])
{
	struct imapparse_limits lim;
	struct buf line = BUF_INIT;
	imapparse_limits_default(&lim);
	buf_printf(&line, "a %sSEARCH ", uid ? "UID " : "");
	buf_append(&line, prog, plen);
	struct imapparse *p = imapparse_new(&lim, 0);
	fz_io_open(s);
	if (imapparse_feed_line(p, (const char *)line.data, line.len) == 1) {
		s->cmd = imapparse_command(p);
		if (imap_cmd_search(s, s->cmd->args, s->cmd->count) != 0)
			abort();
		if (fz_tagged == 0)
			abort();
	}
	imapparse_free(&p);
	buf_free(&line);
	size_t olen;
	unsigned char *out = fz_io_take(s, &olen);
	memset(res, 0, FZ_VIEW_MAX);
	const struct imap_sel *sel = s->sel;
	char *c = (char *)out;
	if (strncmp(c, "* OK [HIGHESTMODSEQ ", 20) == 0)
		c = strchr(c, '\n') + 1;
	if (fz_tagged == 'O') {
		if (strncmp(c, "* SEARCH", 8) != 0)
			abort();
		c += 8;
		unsigned long last = 0;
		while (*c == ' ' && c[1] >= '0' && c[1] <= '9') {
			unsigned long v = strtoul(c + 1, &c, 10);
			size_t i = 0;
			if (v <= last)
				abort(); /* not ascending */
			last = v;
			if (uid)
				while (i < sel->count && sel->msgs[i].uid != v)
					i++;
			else
				i = v - 1;
			if (i >= sel->count)
				abort(); /* outside the view */
			res[i] = 1;
		}
		if (*c == ' ' && strncmp(c, " (MODSEQ ", 9) == 0)
			c = strchr(c, ')') + 1;
		if (strncmp(c, "\r\na OK ", 7) != 0)
			abort();
	}
	free(out);
	return fz_tagged;
}

static const char *const fz_keywords[4] = {NULL, "$Forwarded", "$Label1 Junk", "NonJunk"};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (fz_st == NULL)
		fz_init();
	if (size < 2)
		return 0;
	unsigned c0 = data[0], c1 = data[1];
	const uint8_t *nl = memchr(data + 2, '\n', size - 2);
	size_t plen = nl ? (size_t)(nl - (data + 2)) : size - 2;
	const uint8_t *msg = nl ? nl + 1 : data + size;
	size_t msglen = (size_t)(data + size - msg);
	const char *prog = (const char *)data + 2;
	if (plen > 2000)
		return 0;

	if (store_begin(fz_st) < 0)
		abort();
	uint32_t uid;
	uint64_t modseq;
	struct imap_sel sel = {.folder_id = fz_inbox, .msgs = fz_msgs, .count = fz_nbg};
	if (store_append(fz_st, fz_inbox, msg, msglen, (int64_t)c1 * 86400 * 211,
	                 (c0 >> 1) & STORE_FLAGS_ALL, fz_keywords[(c0 >> 6) & 3], &uid,
	                 &modseq) == 0) {
		fz_msgs[fz_nbg] = (struct imap_msg){.uid = uid, .recent = (c1 & 1) != 0};
		sel.count++;
	}
	sel.uidnext = sel.msgs[sel.count - 1].uid + 1;
	sel.modseq_seen = modseq;
	struct imap_sess s;
	memset(&s, 0, sizeof(s));
	s.st = fz_st;
	s.sel = &sel;
	s.state = IMAP_ST_SELECTED;
	s.condstore = (c1 & 2) != 0;

	uint8_t res[FZ_VIEW_MAX], inv[FZ_VIEW_MAX];
	bool uidcmd = (c0 & 1) != 0;
	bool charset = plen >= 7 && strncasecmp(prog, "CHARSET", 7) == 0;
	if (fz_search(&s, uidcmd, prog, plen, res) == 'O' && !charset) {
		struct buf neg = BUF_INIT;
		buf_append_str(&neg, "NOT (");
		buf_append(&neg, prog, plen);
		buf_append_byte(&neg, ')');
		/* Deeper by one: may hit the nesting limit (BAD) or be parsed
		 * differently when the program is not a list of keys. */
		if (fz_search(&s, uidcmd, (const char *)neg.data, neg.len, inv) == 'O')
			for (size_t i = 0; i < sel.count; i++)
				if (res[i] == inv[i])
					abort();
		buf_free(&neg);
	}
	if (store_rollback(fz_st) < 0)
		abort();
	return 0;
}
