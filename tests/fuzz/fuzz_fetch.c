/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* Fuzz target: the IMAP FETCH response builder (handlers/imapd/fetch.c,
 * imap_cmd_fetch) over an arbitrary message and an arbitrary fetch-att list:
 * BODYSTRUCTURE, ENVELOPE, BODY[section]<partial>, BINARY[...], BINARY.SIZE,
 * HEADER.FIELDS(.NOT), RFC822.*, CHANGEDSINCE.
 *
 * Input: one control byte (UID FETCH, CONDSTORE, flags, the message being
 * expunged or unreadable), the fetch arguments up to the first LF (what
 * follows "FETCH" on the command line: "1 (BODY[1.2]<0.10> ENVELOPE)"), and
 * the message. The session writes to a memory file; the whole output is
 * then parsed back and must be well formed: every literal's announced length
 * is the number of bytes that follow it, parentheses balance outside quoted
 * strings and literals, every response line ends in CRLF, the tagged reply
 * comes last, and BODY[] / RFC822 send the message itself.
 *
 * The handler functions fetch.c calls from other files of imapd are defined
 * here for a one-message mailbox: the message cache (msgcache.c reads the
 * store; here the message is in memory, and ENVELOPE, BODYSTRUCTURE, the
 * header and the MIME tree are derived by the same library calls
 * msgcache.c makes), the replies of back.c and the view of select.c. A read
 * outside the message aborts: fetch.c must never ask for one. With FZ_DUMP
 * set in the environment, the output goes to stderr as well
 * (fuzz_imapd.h). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz_imapd.h"
#include "proto/imapbody.h"
#include "proto/imapenv.h"
#include "proto/mime.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FZ_UID 7u

/* ---- the message cache of a one-message mailbox -------------------------- */

struct imap_msgcache {
	const unsigned char *raw;
	size_t len;
	int load_result; /* 1, 0 (expunged), -1 (store error) */
	struct imap_msginfo mi;
	struct mime_part *tree;
	struct buf envelope, bodystructure;
	size_t header_len;
};

static struct imap_msgcache fz_mc;

struct imap_msgcache *imap_msgcache_new(struct store *st, int64_t folder_id)
{
	(void)st;
	(void)folder_id;
	return &fz_mc;
}

static void fz_mc_clear(struct imap_msgcache *mc)
{
	mime_free(&mc->tree);
	buf_free(&mc->envelope);
	buf_free(&mc->bodystructure);
	mc->mi.envelope = mc->mi.bodystructure = NULL;
	mc->mi.tree = NULL;
}

void imap_msgcache_free(struct imap_msgcache **mc)
{
	if (*mc != NULL)
		fz_mc_clear(*mc);
	*mc = NULL;
}

void imap_msgcache_release(struct imap_msgcache *mc)
{
	fz_mc_clear(mc);
}

/* The root header as msgcache.c's mc_header() delimits it: up to and
 * including the first empty line (LF or CRLF), or the whole message. */
static size_t fz_header_len(const unsigned char *d, size_t len)
{
	size_t line = 0;
	while (line < len) {
		const unsigned char *nl = memchr(d + line, '\n', len - line);
		if (nl == NULL)
			break;
		size_t l = (size_t)(nl - (d + line));
		if (l == 0 || (l == 1 && d[line] == '\r'))
			return line + l + 1;
		line += l + 1;
	}
	return len;
}

int imap_msgcache_load(struct imap_msgcache *mc, uint32_t uid, unsigned need,
                       const struct imap_msginfo **mi_r)
{
	if (uid != FZ_UID)
		abort(); /* fetch.c asked for a UID outside the view */
	if (mc->load_result != 1)
		return mc->load_result;
	mc->mi.uid = uid;
	mc->mi.size = mc->len;
	mc->mi.header = mc->raw;
	mc->mi.header_len = mc->header_len;
	if ((need & (IMAP_MC_ENVELOPE | IMAP_MC_BODYSTRUCTURE | IMAP_MC_TREE)) &&
	    mc->tree == NULL) {
		struct mime_parser *p = mime_parser_init(NULL);
		/* In two pieces, as msgcache.c feeds chunks. */
		mime_parser_feed(p, mc->raw, mc->len / 2);
		mime_parser_feed(p, mc->raw + mc->len / 2, mc->len - mc->len / 2);
		mc->tree = mime_parser_finish(&p);
		if (mc->tree->msg_fields != NULL)
			imapenv_envelope(mc->tree->msg_fields, &mc->envelope);
		else
			imapenv_envelope_header(mc->raw, mc->header_len, &mc->envelope);
		imapbody_bodystructure(mc->tree, true, &mc->bodystructure);
		mc->mi.envelope = buf_cstr(&mc->envelope);
		mc->mi.bodystructure = buf_cstr(&mc->bodystructure);
		mc->mi.tree = mc->tree;
	}
	*mi_r = &mc->mi;
	return 1;
}

uint64_t imap_msgcache_raw_size(struct imap_msgcache *mc)
{
	return mc->len;
}

int imap_msgcache_raw(struct imap_msgcache *mc, uint64_t off, void *out, size_t n)
{
	if (off > mc->len || n > mc->len - off)
		abort(); /* a range outside the message */
	if (n > 0)
		memcpy(out, mc->raw + off, n);
	return 0;
}

/* ---- the rest of the session -------------------------------------------- */

static const struct {
	unsigned bit;
	const char *name;
} fz_sysflags[] = {
    {STORE_FLAG_SEEN, "\\Seen"},       {STORE_FLAG_ANSWERED, "\\Answered"},
    {STORE_FLAG_FLAGGED, "\\Flagged"}, {STORE_FLAG_DELETED, "\\Deleted"},
    {STORE_FLAG_DRAFT, "\\Draft"},
};

/* As back.c writes a flag list. */
void imap_append_flags(struct buf *out, unsigned flags, const char *keywords, bool recent)
{
	bool first = true;
	buf_append_byte(out, '(');
	for (size_t i = 0; i < sizeof(fz_sysflags) / sizeof(fz_sysflags[0]); i++) {
		if (!(flags & fz_sysflags[i].bit))
			continue;
		buf_printf(out, "%s%s", first ? "" : " ", fz_sysflags[i].name);
		first = false;
	}
	if (recent) {
		buf_printf(out, "%s\\Recent", first ? "" : " ");
		first = false;
	}
	if (keywords != NULL && keywords[0] != '\0')
		buf_printf(out, "%s%s", first ? "" : " ", keywords);
	buf_append_byte(out, ')');
}

void imap_set_state(struct imap_sess *s, enum imap_state st)
{
	s->state = st;
}

uint32_t imap_seq_of_uid(const struct imap_sel *sel, uint32_t uid)
{
	return sel->count == 1 && sel->msgs[0].uid == uid ? 1 : 0;
}

/* As select.c resolves a set against the view. */
int imap_uidset_arg(struct imap_sess *s, const struct imapparse_arg *a, bool uid,
                    struct seqset *uids_r)
{
	struct seqset set = SEQSET_INIT;
	seqset_clear(uids_r);
	if (a->type != IMAPPARSE_ATOM || seqset_parse(&set, a->str, a->len, 100000, NULL) != 1 ||
	    seqset_resolve(&set, uid ? FZ_UID : 1, uid) == 0) {
		imap_bad(s, "Invalid message set.");
		seqset_free(&set);
		return 0;
	}
	if (seqset_contains(&set, uid ? FZ_UID : 1))
		seqset_add(uids_r, FZ_UID, FZ_UID);
	seqset_free(&set);
	return 1;
}

/* The mailbox is read-only here (EXAMINE): FETCH sets no \Seen, which
 * would be a write to the store. */
int imap_flags_apply(struct imap_sess *s, const uint32_t *uids, size_t n, enum store_flag_op op,
                     unsigned flags, const char *keywords, bool unchangedsince,
                     uint64_t unchangedsince_modseq, struct imap_flag_result **res_r)
{
	abort();
}

void imap_flag_results_free(struct imap_flag_result **res, size_t n)
{
	abort();
}

/* ---- checking the output ----------------------------------------------- */

/* A literal's announced length "{n}\r\n" or "~{n}\r\n" at p[i] (at the
 * '{'): the length, and i moved past the CRLF; -1 when it is not one. */
static long long fz_literal_len(const unsigned char *p, size_t len, size_t *i)
{
	size_t j = *i + 1;
	unsigned long long v = 0;
	if (j >= len || p[j] < '0' || p[j] > '9')
		return -1;
	while (j < len && p[j] >= '0' && p[j] <= '9' && v < (1ull << 40))
		v = v * 10 + (p[j++] - '0');
	if (j + 2 >= len || p[j] != '}' || p[j + 1] != '\r' || p[j + 2] != '\n')
		return -1;
	*i = j + 3;
	return (long long)v;
}

/* One untagged response from out[*pos]: balanced, literals complete, ends in
 * CRLF. The bytes of a BODY[] / RFC822 literal must be the message. */
static void fz_check_response(const unsigned char *p, size_t len, size_t *pos,
                              const unsigned char *msg, size_t msglen)
{
	size_t i = *pos;
	long depth = 0;
	bool quoted = false;
	while (i < len) {
		unsigned char ch = p[i];
		if (quoted) {
			if (ch == '\\') {
				if (i + 1 >= len || (p[i + 1] != '"' && p[i + 1] != '\\'))
					abort();
				i += 2;
				continue;
			}
			if (ch == '\r' || ch == '\n')
				abort(); /* a quoted string cannot hold a line end */
			if (ch == '"')
				quoted = false;
			i++;
			continue;
		}
		if (ch == '"') {
			quoted = true;
			i++;
		} else if (ch == '(') {
			depth++;
			i++;
		} else if (ch == ')') {
			if (--depth < 0)
				abort();
			i++;
		} else if (ch == '{' || (ch == '~' && i + 1 < len && p[i + 1] == '{')) {
			size_t at = i + (ch == '~');
			bool whole = at >= 7 && (memcmp(p + at - 7, "BODY[] ", 7) == 0 ||
			                         memcmp(p + at - 7, "RFC822 ", 7) == 0);
			long long n = fz_literal_len(p, len, &at);
			if (n < 0)
				abort();
			if ((unsigned long long)n > len - at)
				abort(); /* announced more than was sent */
			if (whole) {
				if ((size_t)n != msglen)
					abort();
				for (size_t k = 0; k < msglen; k++)
					if (p[at + k] != (msg[k] == 0 ? 0x80 : msg[k]))
						abort();
			} else if (ch == '{' && memchr(p + at, 0, (size_t)n) != NULL) {
				abort(); /* NUL only in a literal8 */
			}
			i = at + (size_t)n;
		} else if (ch == '\r') {
			if (i + 1 >= len || p[i + 1] != '\n' || depth != 0)
				abort();
			*pos = i + 2;
			return;
		} else if (ch == '\n' || ch == 0) {
			abort();
		} else {
			i++;
		}
	}
	abort(); /* no CRLF at the end */
}

static void fz_check_output(const unsigned char *p, size_t len, const unsigned char *msg,
                            size_t msglen)
{
	size_t pos = 0;
	while (pos < len && p[pos] == '*')
		fz_check_response(p, len, &pos, msg, msglen);
	if (fz_tagged == 0) {
		/* Only when the session ended (BYE after a store error). */
		if (pos != len)
			abort();
		return;
	}
	if (len - pos < 5 || memcmp(p + pos, "a ", 2) != 0 || p[len - 1] != '\n' ||
	    memchr(p + pos, '\n', len - pos) != p + len - 1)
		abort();
}

/* ---- the target ----------------------------------------------------------- */

static const char *const fz_keywords[4] = {"", "$Forwarded", "$Label1 Junk", "NonJunk"};

static void fz_run(const uint8_t *data, size_t size, struct imap_sess *s, const char *line,
                   size_t linelen)
{
	struct imapparse_limits lim;
	imapparse_limits_default(&lim);
	struct imapparse *p = imapparse_new(&lim, IMAPPARSE_F_LITERAL8);
	if (imapparse_feed_line(p, line, linelen) == 1) {
		const struct imapparse_cmd *c = imapparse_command(p);
		s->cmd = c;
		if (imap_cmd_fetch(s, c->args, c->count) < 0 && s->state != IMAP_ST_LOGOUT)
			abort();
	}
	imapparse_free(&p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	unsigned ctl = data[0];
	const uint8_t *nl = memchr(data + 1, '\n', size - 1);
	size_t alen = nl ? (size_t)(nl - (data + 1)) : size - 1;
	const uint8_t *msg = nl ? nl + 1 : data + size;
	size_t msglen = (size_t)(data + size - msg);
	if (alen > 4000)
		return 0;

	struct buf line = BUF_INIT;
	buf_printf(&line, "a %sFETCH ", (ctl & 1) ? "UID " : "");
	buf_append(&line, data + 1, alen);

	struct imap_msg view = {.uid = FZ_UID, .recent = (ctl & 4) != 0};
	struct imap_sel sel = {
	    .folder_id = 1, .readonly = true, .uidnext = FZ_UID + 1, .msgs = &view, .count = 1};
	struct imap_sess s;
	memset(&s, 0, sizeof(s));
	s.sel = &sel;
	s.state = IMAP_ST_SELECTED;
	s.condstore = (ctl & 2) != 0;
	/* No QRESYNC: VANISHED (EARLIER) reads the expunged table of a store. */
	s.qresync = false;
	fz_io_open(&s);

	memset(&fz_mc, 0, sizeof(fz_mc));
	fz_mc.raw = msg;
	fz_mc.len = msglen;
	fz_mc.header_len = fz_header_len(msg, msglen);
	fz_mc.load_result = (ctl & 0xc0) == 0xc0 ? -1 : (ctl & 0xc0) == 0x80 ? 0 : 1;
	fz_mc.mi.flags = (ctl >> 3) & STORE_FLAGS_ALL;
	fz_mc.mi.keywords = fz_keywords[(ctl >> 4) & 3];
	fz_mc.mi.modseq = ctl;
	fz_mc.mi.internaldate = (int64_t)ctl * 86400 * 97;

	fz_run(data, size, &s, (const char *)line.data, line.len);
	fz_mc_clear(&fz_mc);
	size_t olen;
	unsigned char *out = fz_io_take(&s, &olen);
	fz_check_output(out, olen, msg, msglen);
	free(out);
	buf_free(&line);
	return 0;
}
