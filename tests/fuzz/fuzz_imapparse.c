/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* Fuzz target: the IMAP command parser fed like a connection would feed it
 * (CRLF lines, literal bytes in pieces of varying size), then every argument
 * helper, the FETCH attribute parser and the SEARCH parser on each command.
 * Each input runs twice: plain, and with UTF8=ACCEPT and literal8 on. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/imapparse.h"
#include "proto/imapsearch.h"
#include "proto/seqset.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_arg(const struct imapparse_arg *a)
{
	const char *s;
	uint32_t v32;
	uint64_t v64;
	struct imapparse_fetch f;
	const char *err = NULL;

	(void)imapparse_arg_astring(a);
	(void)imapparse_arg_string(a);
	(void)imapparse_arg_nstring(a, &s);
	(void)imapparse_arg_list_mailbox(a);
	(void)imapparse_arg_is_flag(a);
	(void)imapparse_arg_number(a, &v32);
	(void)imapparse_arg_nz_number(a, &v32);
	(void)imapparse_arg_modseq(a, true, &v64);
	if (imapparse_fetch_parse(a, &f, &err) == 1) {
		for (size_t i = 0; i < f.count; i++) {
			const struct imapparse_fetch_att *t = &f.atts[i];
			if (t->nparts > IMAPPARSE_SECTION_MAX_PARTS)
				abort();
			if (t->partial && t->length == 0)
				abort();
		}
		imapparse_fetch_free(&f);
	} else if (err == NULL || f.count != 0) {
		abort();
	}
	if (a->type == IMAPPARSE_ATOM) {
		struct seqset set = SEQSET_INIT;
		if (seqset_parse(&set, a->str, a->len, 64, NULL) == 1)
			(void)seqset_resolve(&set, 100, true);
		seqset_free(&set);
	}
	if (a->type == IMAPPARSE_LIST) {
		struct imapparse_fetch_mods fm;
		struct imapparse_store_mods sm;
		struct imapparse_select_params sp;
		(void)imapparse_fetch_modifiers(a, &fm, NULL);
		(void)imapparse_store_modifiers(a, &sm, NULL);
		if (imapparse_select_params(a, 64, &sp, NULL) == 1)
			imapparse_select_params_free(&sp);
		else if (sp.known_uids.ranges != NULL || sp.match_seqs.ranges != NULL ||
			 sp.match_uids.ranges != NULL)
			abort();
		for (size_t i = 0; i < a->count; i++)
			fuzz_arg(&a->list[i]);
	} else if (a->str == NULL || a->str[a->len] != '\0') {
		abort();
	}
}

static void fuzz_command(const struct imapparse_cmd *c)
{
	struct imapsearch_limits lim;
	struct imapsearch *s = NULL;
	const char *err = NULL;

	if (c->tag == NULL || c->name == NULL || c->tag[0] == '\0')
		abort();
	for (size_t i = 0; i < c->count; i++)
		fuzz_arg(&c->args[i]);
	imapsearch_limits_default(&lim);
	lim.max_depth = 8;
	lim.max_keys = 200;
	lim.max_ranges = 64;
	int r = imapsearch_parse(c->args, c->count, &lim, &s, &err);
	if (r == 1) {
		struct buf b = BUF_INIT;
		imapsearch_format(&s->root, &b);
		buf_free(&b);
		imapsearch_free(&s);
	} else if (s != NULL || err == NULL) {
		abort();
	}
}

static void fuzz_run(const uint8_t *data, size_t size, unsigned flags)
{
	struct imapparse_limits lim = {
		.max_line = 1024,
		.max_literal = 4096,
		.max_nonsync_literal = 512,
		.max_command = 16384,
		.max_depth = 8,
		.max_args = 256,
	};
	struct imapparse *p = imapparse_new(&lim, flags);
	size_t pos = 0;

	while (pos < size) {
		const uint8_t *eol = memchr(data + pos, '\n', size - pos);
		size_t end = eol ? (size_t)(eol - data) : size;
		size_t len = end - pos;
		if (len > 0 && data[end - 1] == '\r')
			len--;
		int r = imapparse_feed_line(p, (const char *)data + pos, len);
		pos = eol ? end + 1 : size;
		if (r == 0) {
			/* Literal bytes arrive in pieces of 1 to 8 bytes; then the
			 * command goes on in the next line. */
			struct imapparse_literal lit;
			int lr = 0;
			while (lr == 0) {
				if (!imapparse_literal(p, &lit))
					abort();
				size_t chunk = 1 + (lit.remaining % 8);
				if (chunk > size - pos)
					chunk = size - pos;
				if (chunk == 0 && lit.remaining > 0)
					goto out;
				size_t used = 0;
				lr = imapparse_feed_literal(p, data + pos, chunk, &used);
				if (used > chunk || lr == -1)
					abort();
				pos += used;
			}
			continue;
		}
		if (r == 1) {
			const struct imapparse_cmd *c = imapparse_command(p);
			if (c != NULL)
				fuzz_command(c);
		} else if (r == -1) {
			enum imapparse_err code;
			bool fatal;
			if (imapparse_error(p, &code, &fatal) == NULL || code == IMAPPARSE_ERR_NONE)
				abort();
			if (fatal)
				goto out;
		}
	}
out:
	imapparse_free(&p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_run(data, size, 0);
	fuzz_run(data, size, IMAPPARSE_F_UTF8 | IMAPPARSE_F_LITERAL8);
	return 0;
}
