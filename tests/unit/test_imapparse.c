/* SPDX-License-Identifier: AGPL-3.0-or-later */
#include <dlfcn.h>
#include <malloc.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "base/buf.h"
#include "proto/imapparse.h"

/* ---- a free() that looks before it frees ----
 * To prove that a password is zeroed before its memory goes back to the
 * allocator, every block freed while a needle is set is searched for it,
 * and the finds are counted. A plain build replaces free() and passes each
 * block on to the real one; a sanitizer build, whose allocator is ASan's,
 * uses ASan's free hook, which runs before a block is poisoned. */
static const char *free_needle;
static unsigned free_needle_found;

static void free_look(const void *ptr, size_t n)
{
	if (free_needle != NULL && ptr != NULL &&
	    memmem(ptr, n, free_needle, strlen(free_needle)) != NULL)
		free_needle_found++;
}

#ifdef SEALMAIL_SAN
/* From the sanitizer runtime (sanitizer/allocator_interface.h, which
 * Debian ships only with the compiler's own packages). */
int __sanitizer_install_malloc_and_free_hooks(void (*malloc_hook)(const volatile void *, size_t),
                                              void (*free_hook)(const volatile void *));
size_t __sanitizer_get_allocated_size(const volatile void *p);

static void free_hook(const volatile void *ptr)
{
	if (free_needle != NULL && ptr != NULL)
		free_look((const void *)ptr, __sanitizer_get_allocated_size((const void *)ptr));
}

static void malloc_hook(const volatile void *ptr, size_t size)
{
	(void)ptr;
	(void)size;
}

__attribute__((constructor)) static void free_hook_install(void)
{
	__sanitizer_install_malloc_and_free_hooks(malloc_hook, free_hook);
}
#else
void free(void *ptr)
{
	static void (*real_free)(void *);
	static int resolving;
	if (ptr == NULL)
		return;
	if (free_needle != NULL)
		free_look(ptr, malloc_usable_size(ptr));
	if (real_free == NULL) {
		if (resolving)
			return; /* dlsym freeing while it resolves free: leak it */
		resolving = 1;
		real_free = (void (*)(void *))dlsym(RTLD_NEXT, "free");
		resolving = 0;
	}
	real_free(ptr);
}
#endif

static void watch_frees(const char *needle)
{
	free_needle = needle;
	free_needle_found = 0;
}

/* How many freed blocks held the needle since watch_frees; stops watching. */
static unsigned watched_frees(void)
{
	free_needle = NULL;
	return free_needle_found;
}

static struct imapparse *newp(unsigned flags)
{
	struct imapparse_limits lim;
	imapparse_limits_default(&lim);
	return imapparse_new(&lim, flags);
}

static int feed(struct imapparse *p, const char *line)
{
	return imapparse_feed_line(p, line, strlen(line));
}

static const struct imapparse_cmd *ok(struct imapparse *p, const char *line)
{
	assert_int_equal(feed(p, line), 1);
	const struct imapparse_cmd *c = imapparse_command(p);
	assert_non_null(c);
	return c;
}

/* Expect -1 with the given code; returns the reason. */
static const char *bad(struct imapparse *p, const char *line, enum imapparse_err want)
{
	enum imapparse_err code;
	bool fatal = true;
	assert_int_equal(feed(p, line), -1);
	const char *why = imapparse_error(p, &code, &fatal);
	assert_non_null(why);
	assert_int_equal(code, want);
	assert_false(fatal);
	assert_null(imapparse_command(p));
	return why;
}

static int lit(struct imapparse *p, const char *data)
{
	return imapparse_feed_literal(p, (const unsigned char *)data, strlen(data), NULL);
}

/* ---- command head ---- */

static void test_simple_command(void **state)
{
	struct imapparse *p = newp(0);
	const struct imapparse_cmd *c = ok(p, "a1 NOOP");
	assert_string_equal(c->tag, "a1");
	assert_string_equal(c->name, "NOOP");
	assert_false(c->uid);
	assert_int_equal(c->count, 0);
	imapparse_free(&p);
	assert_null(p);
}

static void test_command_name_upper_cased(void **state)
{
	struct imapparse *p = newp(0);
	assert_string_equal(ok(p, "x capability")->name, "CAPABILITY");
	imapparse_free(&p);
}

static void test_uid_prefix(void **state)
{
	struct imapparse *p = newp(0);
	const struct imapparse_cmd *c = ok(p, "a UID fetch 1:* FLAGS");
	assert_true(c->uid);
	assert_string_equal(c->name, "FETCH");
	assert_int_equal(c->count, 2);
	assert_string_equal(c->args[0].str, "1:*");
	assert_true(c->args[0].flags & IMAPPARSE_ARG_WILDCARD);
	imapparse_free(&p);
}

static void test_uid_without_command(void **state)
{
	struct imapparse *p = newp(0);
	bad(p, "a UID", IMAPPARSE_ERR_SYNTAX);
	assert_string_equal(imapparse_tag(p), "a");
	imapparse_free(&p);
}

static void test_tag_only(void **state)
{
	struct imapparse *p = newp(0);
	bad(p, "a1", IMAPPARSE_ERR_SYNTAX);
	assert_string_equal(imapparse_tag(p), "a1");
	imapparse_free(&p);
}

static void test_empty_line(void **state)
{
	struct imapparse *p = newp(0);
	bad(p, "", IMAPPARSE_ERR_TAG);
	assert_null(imapparse_tag(p));
	imapparse_free(&p);
}

static void test_leading_space(void **state)
{
	struct imapparse *p = newp(0);
	bad(p, " a NOOP", IMAPPARSE_ERR_TAG);
	imapparse_free(&p);
}

static void test_bad_tags(void **state)
{
	/* tag = 1*<any ASTRING-CHAR except "+"> (RFC 3501 section 9). */
	static const char *tags[] = {"+a NOOP", "a+ NOOP", "a*b NOOP", "a%b NOOP", "a(b NOOP",
				     "a)b NOOP", "a{b NOOP", "a\"b NOOP", "a\\b NOOP",
				     "a\tb NOOP", "a\x7f NOOP", "\xc3\xa9 NOOP", "* NOOP"};
	for (size_t i = 0; i < sizeof(tags) / sizeof(tags[0]); i++) {
		struct imapparse *p = newp(0);
		bad(p, tags[i], IMAPPARSE_ERR_TAG);
		assert_null(imapparse_tag(p));
		imapparse_free(&p);
	}
}

static void test_tag_with_bracket(void **state)
{
	struct imapparse *p = newp(0);
	assert_string_equal(ok(p, "a]1 NOOP")->tag, "a]1");
	imapparse_free(&p);
}

static void test_bad_command_name(void **state)
{
	struct imapparse *p = newp(0);
	bad(p, "a NO\"OP", IMAPPARSE_ERR_SYNTAX);
	imapparse_free(&p);
}

static void test_extra_spaces_tolerated(void **state)
{
	struct imapparse *p = newp(0);
	const struct imapparse_cmd *c = ok(p, "a  LOGIN   user  pass ");
	assert_string_equal(c->name, "LOGIN");
	assert_int_equal(c->count, 2);
	assert_string_equal(c->args[1].str, "pass");
	imapparse_free(&p);
}

/* ---- token types ---- */

static void test_atom(void **state)
{
	struct imapparse *p = newp(0);
	const struct imapparse_cmd *c = ok(p, "a SELECT INBOX");
	assert_int_equal(c->args[0].type, IMAPPARSE_ATOM);
	assert_string_equal(c->args[0].str, "INBOX");
	assert_int_equal(c->args[0].len, 5);
	assert_int_equal(c->args[0].flags, 0);
	imapparse_free(&p);
}

static void test_atom_8bit_refused(void **state)
{
	struct imapparse *p = newp(IMAPPARSE_F_UTF8);
	bad(p, "a SELECT caf\xc3\xa9", IMAPPARSE_ERR_SYNTAX);
	imapparse_free(&p);
}

static void test_atom_control_refused(void **state)
{
	struct imapparse *p = newp(0);
	bad(p, "a SELECT a\x01" "b", IMAPPARSE_ERR_SYNTAX);
	imapparse_free(&p);
}

static void test_nul_in_line_refused(void **state)
{
	struct imapparse *p = newp(0);
	assert_int_equal(imapparse_feed_line(p, "a SELECT a\0b", 12), -1);
	imapparse_free(&p);
}

static void test_system_flag_atom(void **state)
{
	struct imapparse *p = newp(0);
	const struct imapparse_cmd *c = ok(p, "a STORE 1 +FLAGS (\\Seen $Junk)");
	const struct imapparse_arg *l = &c->args[2];
	assert_int_equal(l->type, IMAPPARSE_LIST);
	assert_int_equal(l->count, 2);
	assert_string_equal(l->list[0].str, "\\Seen");
	assert_true(l->list[0].flags & IMAPPARSE_ARG_BACKSLASH);
	assert_true(imapparse_arg_is_flag(&l->list[0]));
	assert_true(imapparse_arg_is_flag(&l->list[1]));
	imapparse_free(&p);
}

static void test_lone_backslash(void **state)
{
	struct imapparse *p = newp(0);
	bad(p, "a STORE 1 FLAGS (\\)", IMAPPARSE_ERR_SYNTAX);
	imapparse_free(&p);
}

static void test_backslash_inside_atom(void **state)
{
	struct imapparse *p = newp(0);
	bad(p, "a SELECT a\\b", IMAPPARSE_ERR_SYNTAX);
	imapparse_free(&p);
}

static void test_list_mailbox_wildcards(void **state)
{
	struct imapparse *p = newp(0);
	const struct imapparse_cmd *c = ok(p, "a LIST \"\" [Gmail]/%");
	assert_int_equal(c->args[0].type, IMAPPARSE_QUOTED);
	assert_int_equal(c->args[0].len, 0);
	assert_string_equal(c->args[1].str, "[Gmail]/%");
	assert_true(c->args[1].flags & IMAPPARSE_ARG_WILDCARD);
	assert_true(c->args[1].flags & IMAPPARSE_ARG_RBRACKET);
	assert_null(imapparse_arg_astring(&c->args[1]));
	assert_string_equal(imapparse_arg_list_mailbox(&c->args[1]), "[Gmail]/%");
	imapparse_free(&p);
}

static void test_astring_with_bracket(void **state)
{
	struct imapparse *p = newp(0);
	const struct imapparse_cmd *c = ok(p, "a SELECT [Gmail]/Sent");
	assert_string_equal(imapparse_arg_astring(&c->args[0]), "[Gmail]/Sent");
	imapparse_free(&p);
}

static void test_nil(void **state)
{
	struct imapparse *p = newp(0);
	const struct imapparse_cmd *c = ok(p, "a ID nil");
	const char *s = "x";
	assert_int_equal(c->args[0].type, IMAPPARSE_NIL);
	assert_string_equal(c->args[0].str, "nil");
	assert_true(imapparse_arg_nstring(&c->args[0], &s));
	assert_null(s);
	/* As an astring, NIL is the mailbox named "nil". */
	assert_string_equal(imapparse_arg_astring(&c->args[0]), "nil");
	imapparse_free(&p);
}

static void test_nil_prefix_is_atom(void **state)
{
	struct imapparse *p = newp(0);
	assert_int_equal(ok(p, "a SELECT NILS")->args[0].type, IMAPPARSE_ATOM);
	imapparse_free(&p);
}

static void test_quoted(void **state)
{
	struct imapparse *p = newp(0);
	const struct imapparse_cmd *c = ok(p, "a LOGIN \"joe user\" \"p w\"");
	assert_int_equal(c->args[0].type, IMAPPARSE_QUOTED);
	assert_string_equal(c->args[0].str, "joe user");
	assert_string_equal(imapparse_arg_string(&c->args[1]), "p w");
	imapparse_free(&p);
}

static void test_quoted_escapes(void **state)
{
	struct imapparse *p = newp(0);
	const struct imapparse_cmd *c = ok(p, "a LOGIN \"a\\\\b\\\"c\" x");
	assert_string_equal(c->args[0].str, "a\\b\"c");
	assert_int_equal(c->args[0].len, 5);
	imapparse_free(&p);
}

static void test_quoted_bad_escape(void **state)
{
	struct imapparse *p = newp(0);
	bad(p, "a LOGIN \"a\\nb\" x", IMAPPARSE_ERR_SYNTAX);
	imapparse_free(&p);
}

static void test_quoted_trailing_backslash(void **state)
{
	struct imapparse *p = newp(0);
	bad(p, "a LOGIN \"a\\", IMAPPARSE_ERR_SYNTAX);
	imapparse_free(&p);
}

static void test_quoted_unterminated(void **state)
{
	struct imapparse *p = newp(0);
	bad(p, "a LOGIN \"abc", IMAPPARSE_ERR_SYNTAX);
	imapparse_free(&p);
}

static void test_quoted_cr_refused(void **state)
{
	struct imapparse *p = newp(0);
	bad(p, "a LOGIN \"a\rb\" x", IMAPPARSE_ERR_SYNTAX);
	imapparse_free(&p);
}

static void test_quoted_8bit_refused(void **state)
{
	struct imapparse *p = newp(0);
	bad(p, "a SELECT \"caf\xc3\xa9\"", IMAPPARSE_ERR_SYNTAX);
	imapparse_free(&p);
}

static void test_quoted_utf8_with_flag(void **state)
{
	struct imapparse *p = newp(IMAPPARSE_F_UTF8);
	const struct imapparse_cmd *c = ok(p, "a SELECT \"caf\xc3\xa9\"");
	assert_string_equal(c->args[0].str, "caf\xc3\xa9");
	assert_true(c->args[0].flags & IMAPPARSE_ARG_8BIT);
	imapparse_free(&p);
}

static void test_quoted_bad_utf8_with_flag(void **state)
{
	struct imapparse *p = newp(IMAPPARSE_F_UTF8);
	bad(p, "a SELECT \"caf\xe9\"", IMAPPARSE_ERR_SYNTAX);
	imapparse_free(&p);
}

static void test_set_flags_later(void **state)
{
	/* ENABLE UTF8=ACCEPT turns it on mid-session (RFC 6855 section 3). */
	struct imapparse *p = newp(0);
	bad(p, "a SELECT \"\xc3\xa9\"", IMAPPARSE_ERR_SYNTAX);
	imapparse_set_flags(p, IMAPPARSE_F_UTF8);
	ok(p, "a SELECT \"\xc3\xa9\"");
	imapparse_free(&p);
}

static void test_quoted_then_junk(void **state)
{
	struct imapparse *p = newp(0);
	bad(p, "a LOGIN \"a\"b", IMAPPARSE_ERR_SYNTAX);
	imapparse_free(&p);
}

/* ---- lists ---- */

static void test_nested_lists(void **state)
{
	struct imapparse *p = newp(0);
	const struct imapparse_cmd *c = ok(p, "a X (a (b \"c\" ()) NIL) d");
	assert_int_equal(c->count, 2);
	const struct imapparse_arg *l = &c->args[0];
	assert_int_equal(l->type, IMAPPARSE_LIST);
	assert_int_equal(l->count, 3);
	assert_int_equal(l->list[1].type, IMAPPARSE_LIST);
	assert_int_equal(l->list[1].count, 3);
	assert_int_equal(l->list[1].list[2].type, IMAPPARSE_LIST);
	assert_int_equal(l->list[1].list[2].count, 0);
	assert_int_equal(l->list[2].type, IMAPPARSE_NIL);
	assert_string_equal(c->args[1].str, "d");
	imapparse_free(&p);
}

static void test_empty_list(void **state)
{
	struct imapparse *p = newp(0);
	const struct imapparse_cmd *c = ok(p, "a X ()");
	assert_int_equal(c->args[0].type, IMAPPARSE_LIST);
	assert_int_equal(c->args[0].count, 0);
	imapparse_free(&p);
}

static void test_depth_limit(void **state)
{
	struct imapparse_limits lim;
	imapparse_limits_default(&lim);
	lim.max_depth = 3;
	struct imapparse *p = imapparse_new(&lim, 0);
	ok(p, "a X (((a)))");
	bad(p, "a X ((((a))))", IMAPPARSE_ERR_LIMIT);
	imapparse_free(&p);
}

static void test_unbalanced_close(void **state)
{
	struct imapparse *p = newp(0);
	bad(p, "a X (a))", IMAPPARSE_ERR_SYNTAX);
	imapparse_free(&p);
}

static void test_missing_close(void **state)
{
	struct imapparse *p = newp(0);
	bad(p, "a X (a (b)", IMAPPARSE_ERR_SYNTAX);
	imapparse_free(&p);
}

static void test_lists_need_space(void **state)
{
	struct imapparse *p = newp(0);
	bad(p, "a X (a)(b)", IMAPPARSE_ERR_SYNTAX);
	imapparse_free(&p);
}

static void test_atom_then_paren(void **state)
{
	struct imapparse *p = newp(0);
	bad(p, "a X a(b)", IMAPPARSE_ERR_SYNTAX);
	imapparse_free(&p);
}

static void test_arg_limit(void **state)
{
	struct imapparse_limits lim;
	imapparse_limits_default(&lim);
	lim.max_args = 4;
	struct imapparse *p = imapparse_new(&lim, 0);
	ok(p, "a X (a b) c");
	bad(p, "a X (a b) c d", IMAPPARSE_ERR_LIMIT);
	imapparse_free(&p);
}

static void test_line_limit(void **state)
{
	struct imapparse_limits lim;
	imapparse_limits_default(&lim);
	lim.max_line = 10;
	struct imapparse *p = imapparse_new(&lim, 0);
	ok(p, "a X 123456");
	bad(p, "a X 1234567", IMAPPARSE_ERR_TOOBIG);
	imapparse_free(&p);
}

/* ---- fetch attribute tokens ---- */

static void test_section_is_one_token(void **state)
{
	struct imapparse *p = newp(0);
	const struct imapparse_cmd *c =
		ok(p, "a FETCH 1 (FLAGS BODY.PEEK[HEADER.FIELDS (From \"To\")]<0.100> UID)");
	const struct imapparse_arg *l = &c->args[1];
	assert_int_equal(l->count, 3);
	assert_int_equal(l->list[1].type, IMAPPARSE_ATOM);
	assert_string_equal(l->list[1].str, "BODY.PEEK[HEADER.FIELDS (From \"To\")]<0.100>");
	assert_true(l->list[1].flags & IMAPPARSE_ARG_SECTION);
	imapparse_free(&p);
}

static void test_section_unterminated(void **state)
{
	struct imapparse *p = newp(0);
	bad(p, "a FETCH 1 BODY[HEADER.FIELDS (A)", IMAPPARSE_ERR_SYNTAX);
	imapparse_free(&p);
}

static void test_section_with_literal_refused(void **state)
{
	struct imapparse *p = newp(0);
	bad(p, "a FETCH 1 BODY[HEADER.FIELDS {4}", IMAPPARSE_ERR_SYNTAX);
	imapparse_free(&p);
}

static void test_section_bracket_in_field_list(void **state)
{
	/* ']' is an ASTRING-CHAR inside the header list. */
	struct imapparse *p = newp(0);
	const struct imapparse_cmd *c = ok(p, "a FETCH 1 BODY[HEADER.FIELDS (A])] X");
	assert_string_equal(c->args[1].str, "BODY[HEADER.FIELDS (A])]");
	assert_string_equal(c->args[2].str, "X");
	imapparse_free(&p);
}

/* ---- literals ---- */

static void test_sync_literal(void **state)
{
	struct imapparse *p = newp(0);
	struct imapparse_literal l;
	assert_int_equal(feed(p, "a LOGIN {5}"), 0);
	assert_true(imapparse_literal(p, &l));
	assert_true(l.sync);
	assert_false(l.literal8);
	assert_int_equal(l.size, 5);
	assert_int_equal(l.remaining, 5);
	assert_string_equal(imapparse_tag(p), "a");
	assert_int_equal(lit(p, "alice"), 1);
	assert_false(imapparse_literal(p, &l));
	assert_int_equal(feed(p, " {6}"), 0);
	assert_int_equal(lit(p, "se cr\"t"), 1); /* 6 of 7 bytes taken */
	const struct imapparse_cmd *c = ok(p, "");
	assert_int_equal(c->count, 2);
	assert_int_equal(c->args[0].type, IMAPPARSE_LITERAL);
	assert_string_equal(c->args[0].str, "alice");
	assert_string_equal(c->args[1].str, "se cr\"");
	assert_false(c->args[0].flags & IMAPPARSE_ARG_NONSYNC);
	imapparse_free(&p);
}

static void test_nonsync_literal(void **state)
{
	struct imapparse *p = newp(0);
	struct imapparse_literal l;
	assert_int_equal(feed(p, "a LOGIN {5+}"), 0);
	assert_true(imapparse_literal(p, &l));
	assert_false(l.sync);
	assert_int_equal(lit(p, "alice"), 1);
	const struct imapparse_cmd *c = ok(p, " pw");
	assert_true(c->args[0].flags & IMAPPARSE_ARG_NONSYNC);
	assert_string_equal(c->args[1].str, "pw");
	imapparse_free(&p);
}

static void test_literal_one_byte_at_a_time(void **state)
{
	struct imapparse *p = newp(0);
	const char *data = "a\r\nb\0c";
	struct imapparse_literal l;
	assert_int_equal(feed(p, "a APPEND box ~{6}"), -1); /* literal8 off */
	imapparse_set_flags(p, IMAPPARSE_F_LITERAL8);
	assert_int_equal(feed(p, "a APPEND box ~{6}"), 0);
	assert_true(imapparse_literal(p, &l));
	assert_true(l.literal8);
	for (size_t i = 0; i < 6; i++) {
		size_t used = 9;
		assert_true(imapparse_literal(p, &l));
		assert_int_equal(l.remaining, 6 - i);
		int r = imapparse_feed_literal(p, (const unsigned char *)data + i, 1, &used);
		assert_int_equal(used, 1);
		assert_int_equal(r, i == 5 ? 1 : 0);
	}
	const struct imapparse_cmd *c = ok(p, "");
	assert_int_equal(c->args[1].len, 6);
	assert_memory_equal(c->args[1].str, data, 6);
	assert_true(c->args[1].flags & IMAPPARSE_ARG_LITERAL8);
	assert_true(c->args[1].flags & IMAPPARSE_ARG_NUL);
	assert_null(imapparse_arg_string(&c->args[1]));
	imapparse_free(&p);
}

/* Drive the parser the way a server does over a byte stream: CRLF lines,
 * literal bytes handed over one at a time. Returns the commands seen. */
static int drive(struct imapparse *p, const char *stream, size_t n, const char **names)
{
	size_t pos = 0;
	int done = 0;
	while (pos < n) {
		const char *eol = memchr(stream + pos, '\n', n - pos);
		assert_non_null(eol);
		size_t len = (size_t)(eol - stream) - pos;
		assert_true(len > 0 && stream[pos + len - 1] == '\r');
		int r = imapparse_feed_line(p, stream + pos, len - 1);
		pos += len + 1;
		if (r == 0) {
			struct imapparse_literal l;
			int lr = 0;
			while (imapparse_literal(p, &l) && l.remaining > 0) {
				assert_true(pos < n);
				lr = imapparse_feed_literal(p, (const unsigned char *)stream + pos, 1,
							    NULL);
				pos++;
			}
			if (l.size == 0)
				lr = imapparse_feed_literal(p, NULL, 0, NULL);
			assert_int_equal(lr, 1);
			continue;
		}
		assert_int_equal(r, 1);
		assert_string_equal(imapparse_command(p)->name, names[done]);
		done++;
	}
	return done;
}

static void test_stream_one_byte_at_a_time(void **state)
{
	static const char stream[] = "a1 LOGIN {5+}\r\nalice {8}\r\nse\r\ncret\r\n"
				     "a2 APPEND INBOX (\\Seen) {0}\r\n\r\n"
				     "a3 SELECT \"x\" (CONDSTORE)\r\n";
	static const char *names[] = {"LOGIN", "APPEND", "SELECT"};
	struct imapparse *p = newp(0);
	assert_int_equal(drive(p, stream, sizeof(stream) - 1, names), 3);
	imapparse_free(&p);
}

static void test_literal_holding_crlf_and_command_text(void **state)
{
	/* Bytes inside a literal are data, never a command. */
	struct imapparse *p = newp(0);
	static const char stream[] = "a1 APPEND INBOX {16}\r\nx\r\nb2 LOGOUT\r\nyy\r\n";
	static const char *names[] = {"APPEND"};
	assert_int_equal(drive(p, stream, sizeof(stream) - 1, names), 1);
	const struct imapparse_cmd *c = imapparse_command(p);
	assert_int_equal(c->args[1].len, 16);
	assert_memory_equal(c->args[1].str, "x\r\nb2 LOGOUT\r\nyy", 16);
	imapparse_free(&p);
}

static void test_literal_overfeed_reports_used(void **state)
{
	struct imapparse *p = newp(0);
	size_t used = 0;
	assert_int_equal(feed(p, "a LOGIN {3}"), 0);
	assert_int_equal(imapparse_feed_literal(p, (const unsigned char *)"joe pw", 6, &used), 1);
	assert_int_equal(used, 3);
	assert_string_equal(ok(p, " pw")->args[0].str, "joe");
	imapparse_free(&p);
}

static void test_empty_literal(void **state)
{
	struct imapparse *p = newp(0);
	assert_int_equal(feed(p, "a LOGIN {0}"), 0);
	assert_int_equal(imapparse_feed_literal(p, NULL, 0, NULL), 1);
	const struct imapparse_cmd *c = ok(p, " x");
	assert_int_equal(c->args[0].len, 0);
	assert_string_equal(c->args[0].str, "");
	imapparse_free(&p);
}

static void test_literal_in_list(void **state)
{
	struct imapparse *p = newp(0);
	assert_int_equal(feed(p, "a X (a {2}"), 0);
	assert_int_equal(lit(p, "bc"), 1);
	const struct imapparse_cmd *c = ok(p, ") d");
	assert_int_equal(c->args[0].count, 2);
	assert_string_equal(c->args[0].list[1].str, "bc");
	assert_string_equal(c->args[1].str, "d");
	imapparse_free(&p);
}

static void test_literal_binary_8bit(void **state)
{
	struct imapparse *p = newp(0);
	assert_int_equal(feed(p, "a APPEND box {3}"), 0);
	assert_int_equal(lit(p, "\xff\xfe\n"), 1);
	const struct imapparse_cmd *c = ok(p, "");
	assert_true(c->args[1].flags & IMAPPARSE_ARG_8BIT);
	imapparse_free(&p);
}

static void test_literal_nul_fails_at_end(void **state)
{
	/* {n} literals are CHAR8 (no NUL): the rest of the command is still
	 * consumed so that its lines are not taken as new commands. */
	struct imapparse *p = newp(0);
	assert_int_equal(feed(p, "a RENAME {3}"), 0);
	assert_int_equal(imapparse_feed_literal(p, (const unsigned char *)"a\0b", 3, NULL), 1);
	bad(p, " x", IMAPPARSE_ERR_SYNTAX);
	imapparse_free(&p);
}

static void test_literal_nul_fails_before_next_sync(void **state)
{
	struct imapparse *p = newp(0);
	assert_int_equal(feed(p, "a RENAME {1}"), 0);
	assert_int_equal(imapparse_feed_literal(p, (const unsigned char *)"\0", 1, NULL), 1);
	bad(p, " {5}", IMAPPARSE_ERR_SYNTAX);
	imapparse_free(&p);
}

/* APPEND's literals with NUL reach the command, flagged: it answers NO for
 * the message (well-formed, not storable as sent) rather than BAD. */
static void test_append_literal_nul_flagged(void **state)
{
	struct imapparse *p = newp(0);
	assert_int_equal(feed(p, "a APPEND box {3}"), 0);
	assert_int_equal(imapparse_feed_literal(p, (const unsigned char *)"a\0b", 3, NULL), 1);
	const struct imapparse_cmd *c = ok(p, "");
	assert_int_equal(c->count, 2);
	assert_true(c->args[1].flags & IMAPPARSE_ARG_NUL);
	assert_false(c->args[1].flags & IMAPPARSE_ARG_LITERAL8);
	assert_memory_equal(c->args[1].str, "a\0b", 3);
	imapparse_free(&p);
}

/* Without IMAPPARSE_F_LITERAL8 a ~{n} literal is a syntax error, refused
 * before a synchronising one is sent; the bytes of a non-synchronising one
 * are still read as a literal (never as commands), and the command fails at
 * its end. */
static void test_literal8_without_binary(void **state)
{
	struct imapparse *p = newp(0);
	bad(p, "a APPEND box ~{6}", IMAPPARSE_ERR_SYNTAX);
	imapparse_free(&p);
	p = newp(0);
	assert_int_equal(feed(p, "a APPEND box ~{13+}"), 0);
	struct imapparse_literal l;
	assert_true(imapparse_literal(p, &l));
	assert_int_equal(l.remaining, 13);
	assert_int_equal(
	    imapparse_feed_literal(p, (const unsigned char *)"x LOGOUT\r\n\0ab", 13, NULL), 1);
	bad(p, "", IMAPPARSE_ERR_SYNTAX);
	imapparse_free(&p);
}

static void test_literal_not_at_end(void **state)
{
	struct imapparse *p = newp(0);
	bad(p, "a LOGIN {3}abc", IMAPPARSE_ERR_SYNTAX);
	imapparse_free(&p);
}

static void test_literal_bad_announcements(void **state)
{
	static const char *lines[] = {"a LOGIN {}", "a LOGIN {x}", "a LOGIN {5", "a LOGIN {-1}",
				      "a LOGIN {5++}", "a LOGIN { 5}"};
	for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
		struct imapparse *p = newp(0);
		bad(p, lines[i], IMAPPARSE_ERR_SYNTAX);
		imapparse_free(&p);
	}
}

static void test_literal_size_limit(void **state)
{
	struct imapparse_limits lim;
	imapparse_limits_default(&lim);
	lim.max_literal = 100;
	struct imapparse *p = imapparse_new(&lim, 0);
	assert_int_equal(feed(p, "a APPEND box {100}"), 0);
	imapparse_reset(p);
	/* A refused synchronising literal never arrives: not fatal. */
	bad(p, "a APPEND box {101}", IMAPPARSE_ERR_TOOBIG);
	imapparse_free(&p);
}

static void test_literal_size_overflow(void **state)
{
	struct imapparse *p = newp(0);
	bad(p, "a APPEND box {99999999999999999999999999}", IMAPPARSE_ERR_TOOBIG);
	imapparse_free(&p);
}

static void test_literal_minus_limit_is_fatal(void **state)
{
	/* RFC 7888 section 5: LITERAL- allows {n+} up to 4096 octets. */
	struct imapparse_limits lim;
	imapparse_limits_default(&lim);
	lim.max_nonsync_literal = IMAPPARSE_LITERAL_MINUS_MAX;
	struct imapparse *p = imapparse_new(&lim, 0);
	enum imapparse_err code;
	bool fatal = false;
	assert_int_equal(feed(p, "a APPEND box {4096+}"), 0);
	imapparse_reset(p);
	assert_int_equal(feed(p, "a APPEND box {4097+}"), -1);
	imapparse_error(p, &code, &fatal);
	assert_int_equal(code, IMAPPARSE_ERR_TOOBIG);
	assert_true(fatal);
	/* The synchronising form of the same size is fine. */
	assert_int_equal(feed(p, "a APPEND box {4097}"), 0);
	imapparse_free(&p);
}

static void test_nonsync_disabled(void **state)
{
	struct imapparse_limits lim;
	imapparse_limits_default(&lim);
	lim.max_nonsync_literal = 0;
	struct imapparse *p = imapparse_new(&lim, 0);
	bool fatal = false;
	assert_int_equal(feed(p, "a LOGIN {1+}"), -1);
	imapparse_error(p, NULL, &fatal);
	assert_true(fatal);
	imapparse_free(&p);
}

static void test_error_before_nonsync_is_fatal(void **state)
{
	struct imapparse *p = newp(0);
	bool fatal = false;
	assert_int_equal(feed(p, "a APPEND \"box {5+}"), -1);
	imapparse_error(p, NULL, &fatal);
	assert_true(fatal);
	imapparse_free(&p);
}

static void test_command_size_limit(void **state)
{
	struct imapparse_limits lim;
	imapparse_limits_default(&lim);
	lim.max_command = 40;
	struct imapparse *p = imapparse_new(&lim, 0);
	assert_int_equal(feed(p, "a APPEND box {10}"), 0); /* 17 + 2 + 10 */
	assert_int_equal(lit(p, "0123456789"), 1);
	bad(p, " {10}", IMAPPARSE_ERR_TOOBIG);             /* + 7 + 10 > 40 */
	imapparse_free(&p);
}

static void test_missing_space_after_literal(void **state)
{
	struct imapparse *p = newp(0);
	assert_int_equal(feed(p, "a LOGIN {1}"), 0);
	assert_int_equal(lit(p, "x"), 1);
	bad(p, "y", IMAPPARSE_ERR_SYNTAX);
	assert_string_equal(imapparse_tag(p), "a");
	imapparse_free(&p);
}

static void test_line_while_literal_due(void **state)
{
	struct imapparse *p = newp(0);
	assert_int_equal(feed(p, "a LOGIN {1}"), 0);
	bad(p, "b NOOP", IMAPPARSE_ERR_USAGE);
	imapparse_free(&p);
}

static void test_literal_when_none_due(void **state)
{
	struct imapparse *p = newp(0);
	enum imapparse_err code;
	assert_int_equal(lit(p, "x"), -1);
	imapparse_error(p, &code, NULL);
	assert_int_equal(code, IMAPPARSE_ERR_USAGE);
	imapparse_free(&p);
}

static void test_tag_and_name_not_literals(void **state)
{
	struct imapparse *p = newp(0);
	bad(p, "a {5}", IMAPPARSE_ERR_SYNTAX);
	imapparse_free(&p);
}

/* ---- parser reuse ---- */

static void test_next_command_after_done(void **state)
{
	struct imapparse *p = newp(0);
	ok(p, "a NOOP");
	const struct imapparse_cmd *c = ok(p, "b SELECT x");
	assert_string_equal(c->tag, "b");
	assert_int_equal(c->count, 1);
	imapparse_free(&p);
}

static void test_next_command_after_error(void **state)
{
	struct imapparse *p = newp(0);
	bad(p, "a X (", IMAPPARSE_ERR_SYNTAX);
	assert_string_equal(ok(p, "b NOOP")->tag, "b");
	imapparse_free(&p);
}

static void test_reset_drops_literal(void **state)
{
	struct imapparse *p = newp(0);
	assert_int_equal(feed(p, "a APPEND box {10}"), 0);
	imapparse_reset(p);
	assert_string_equal(ok(p, "b NOOP")->tag, "b");
	imapparse_free(&p);
}

/* ---- argument helpers ---- */

static void test_number_helpers(void **state)
{
	struct imapparse *p = newp(0);
	const struct imapparse_cmd *c =
		ok(p, "a X 0 007 4294967295 4294967296 x 9223372036854775807");
	uint32_t v;
	uint64_t m;
	assert_int_equal(imapparse_arg_number(&c->args[0], &v), 1);
	assert_int_equal(v, 0);
	assert_int_equal(imapparse_arg_nz_number(&c->args[0], &v), 0);
	assert_int_equal(imapparse_arg_number(&c->args[1], &v), 1);
	assert_int_equal(v, 7);
	assert_int_equal(imapparse_arg_nz_number(&c->args[1], &v), 0);
	assert_int_equal(imapparse_arg_nz_number(&c->args[2], &v), 1);
	assert_int_equal(v, UINT32_MAX);
	assert_int_equal(imapparse_arg_number(&c->args[3], &v), 0);
	assert_int_equal(imapparse_arg_number(&c->args[4], &v), 0);
	assert_int_equal(imapparse_arg_modseq(&c->args[5], false, &m), 1);
	assert_int_equal(m, INT64_MAX);
	assert_int_equal(imapparse_arg_modseq(&c->args[0], false, &m), 0);
	assert_int_equal(imapparse_arg_modseq(&c->args[0], true, &m), 1);
	imapparse_free(&p);
}

static void test_modseq_too_large(void **state)
{
	struct imapparse *p = newp(0);
	const struct imapparse_cmd *c = ok(p, "a X 9223372036854775808");
	uint64_t m;
	assert_int_equal(imapparse_arg_modseq(&c->args[0], true, &m), 0);
	imapparse_free(&p);
}

static void test_is_atom_helper(void **state)
{
	struct imapparse *p = newp(0);
	const struct imapparse_cmd *c = ok(p, "a X changedsince \"CHANGEDSINCE\"");
	assert_true(imapparse_arg_is_atom(&c->args[0], "CHANGEDSINCE"));
	assert_false(imapparse_arg_is_atom(&c->args[1], "CHANGEDSINCE"));
	imapparse_free(&p);
}

/* ---- FETCH attributes ---- */

static struct imapparse_fetch fetch_ok(const char *items)
{
	struct imapparse *p = newp(0);
	struct imapparse_fetch f;
	const char *err = NULL;
	char line[512];
	snprintf(line, sizeof(line), "a FETCH 1 %s", items);
	const struct imapparse_cmd *c = ok(p, line);
	assert_int_equal(c->count, 2);
	int r = imapparse_fetch_parse(&c->args[1], &f, &err);
	if (r != 1)
		fail_msg("%s: %s", items, err);
	imapparse_free(&p);
	return f;
}

static void fetch_bad(const char *items)
{
	struct imapparse *p = newp(0);
	struct imapparse_fetch f;
	const char *err = NULL;
	char line[512];
	snprintf(line, sizeof(line), "a FETCH 1 %s", items);
	assert_int_equal(feed(p, line), 1);
	const struct imapparse_cmd *c = imapparse_command(p);
	if (imapparse_fetch_parse(&c->args[1], &f, &err) != 0)
		fail_msg("accepted: %s", items);
	assert_non_null(err);
	assert_int_equal(f.count, 0);
	assert_null(f.atts);
	imapparse_free(&p);
}

static void test_fetch_macro_all(void **state)
{
	struct imapparse_fetch f = fetch_ok("ALL");
	assert_int_equal(f.count, 4);
	assert_int_equal(f.atts[0].kind, IMAPPARSE_FETCH_FLAGS);
	assert_int_equal(f.atts[1].kind, IMAPPARSE_FETCH_INTERNALDATE);
	assert_int_equal(f.atts[2].kind, IMAPPARSE_FETCH_RFC822_SIZE);
	assert_int_equal(f.atts[3].kind, IMAPPARSE_FETCH_ENVELOPE);
	imapparse_fetch_free(&f);
}

static void test_fetch_macro_fast(void **state)
{
	struct imapparse_fetch f = fetch_ok("fast");
	assert_int_equal(f.count, 3);
	assert_int_equal(f.atts[2].kind, IMAPPARSE_FETCH_RFC822_SIZE);
	imapparse_fetch_free(&f);
}

static void test_fetch_macro_full(void **state)
{
	struct imapparse_fetch f = fetch_ok("FULL");
	assert_int_equal(f.count, 5);
	assert_int_equal(f.atts[4].kind, IMAPPARSE_FETCH_BODY);
	imapparse_fetch_free(&f);
}

static void test_fetch_macro_in_list_refused(void **state)
{
	fetch_bad("(ALL)");
}

static void test_fetch_simple_items(void **state)
{
	struct imapparse_fetch f =
		fetch_ok("(ENVELOPE FLAGS INTERNALDATE RFC822 RFC822.HEADER "
			 "RFC822.SIZE RFC822.TEXT BODY BODYSTRUCTURE UID MODSEQ)");
	static const enum imapparse_fetch_kind want[] = {
		IMAPPARSE_FETCH_ENVELOPE,     IMAPPARSE_FETCH_FLAGS,
		IMAPPARSE_FETCH_INTERNALDATE, IMAPPARSE_FETCH_RFC822,
		IMAPPARSE_FETCH_RFC822_HEADER, IMAPPARSE_FETCH_RFC822_SIZE,
		IMAPPARSE_FETCH_RFC822_TEXT,  IMAPPARSE_FETCH_BODY,
		IMAPPARSE_FETCH_BODYSTRUCTURE, IMAPPARSE_FETCH_UID,
		IMAPPARSE_FETCH_MODSEQ,
	};
	assert_int_equal(f.count, sizeof(want) / sizeof(want[0]));
	for (size_t i = 0; i < f.count; i++) {
		assert_int_equal(f.atts[i].kind, want[i]);
		assert_null(f.atts[i].section);
	}
	imapparse_fetch_free(&f);
}

static void test_fetch_single_att(void **state)
{
	struct imapparse_fetch f = fetch_ok("uid");
	assert_int_equal(f.count, 1);
	assert_int_equal(f.atts[0].kind, IMAPPARSE_FETCH_UID);
	imapparse_fetch_free(&f);
}

static void test_fetch_body_whole(void **state)
{
	struct imapparse_fetch f = fetch_ok("BODY[]");
	const struct imapparse_fetch_att *a = &f.atts[0];
	assert_int_equal(a->kind, IMAPPARSE_FETCH_BODY_SECTION);
	assert_false(a->peek);
	assert_int_equal(a->nparts, 0);
	assert_int_equal(a->text, IMAPPARSE_SECTION_NONE);
	assert_false(a->partial);
	assert_string_equal(a->section, "");
	imapparse_fetch_free(&f);
}

static void test_fetch_peek_part_mime(void **state)
{
	struct imapparse_fetch f = fetch_ok("BODY.PEEK[1.2.MIME]");
	const struct imapparse_fetch_att *a = &f.atts[0];
	assert_int_equal(a->kind, IMAPPARSE_FETCH_BODY_SECTION);
	assert_true(a->peek);
	assert_int_equal(a->nparts, 2);
	assert_int_equal(a->parts[0], 1);
	assert_int_equal(a->parts[1], 2);
	assert_int_equal(a->text, IMAPPARSE_SECTION_MIME);
	assert_string_equal(a->section, "1.2.MIME");
	imapparse_fetch_free(&f);
}

static void test_fetch_fields_not_partial(void **state)
{
	struct imapparse_fetch f = fetch_ok("BODY[HEADER.FIELDS.NOT (Received)]<10.20>");
	const struct imapparse_fetch_att *a = &f.atts[0];
	assert_false(a->peek);
	assert_int_equal(a->text, IMAPPARSE_SECTION_HEADER_FIELDS_NOT);
	assert_int_equal(a->nfields, 1);
	assert_string_equal(a->fields[0], "Received");
	assert_true(a->partial);
	assert_int_equal(a->origin, 10);
	assert_int_equal(a->length, 20);
	assert_string_equal(a->section, "HEADER.FIELDS.NOT (Received)");
	imapparse_fetch_free(&f);
}

static void test_fetch_fields_several(void **state)
{
	struct imapparse_fetch f =
		fetch_ok("(BODY.PEEK[HEADER.FIELDS (From To \"X-Odd(\" Subject)])");
	const struct imapparse_fetch_att *a = &f.atts[0];
	assert_int_equal(a->text, IMAPPARSE_SECTION_HEADER_FIELDS);
	assert_int_equal(a->nfields, 4);
	assert_string_equal(a->fields[2], "X-Odd(");
	assert_string_equal(a->section, "HEADER.FIELDS (From To \"X-Odd(\" Subject)");
	imapparse_fetch_free(&f);
}

static void test_fetch_part_header_fields(void **state)
{
	struct imapparse_fetch f = fetch_ok("body[3.header.fields (date)]");
	const struct imapparse_fetch_att *a = &f.atts[0];
	assert_int_equal(a->nparts, 1);
	assert_int_equal(a->parts[0], 3);
	assert_string_equal(a->section, "3.HEADER.FIELDS (date)");
	imapparse_fetch_free(&f);
}

static void test_fetch_header_text_parts(void **state)
{
	struct imapparse_fetch f = fetch_ok("(BODY[HEADER] BODY[TEXT] BODY[4.1.2] BODY[2.TEXT])");
	assert_int_equal(f.count, 4);
	assert_int_equal(f.atts[0].text, IMAPPARSE_SECTION_HEADER);
	assert_int_equal(f.atts[1].text, IMAPPARSE_SECTION_TEXT);
	assert_int_equal(f.atts[2].text, IMAPPARSE_SECTION_NONE);
	assert_int_equal(f.atts[2].nparts, 3);
	assert_string_equal(f.atts[2].section, "4.1.2");
	assert_int_equal(f.atts[3].text, IMAPPARSE_SECTION_TEXT);
	assert_string_equal(f.atts[3].section, "2.TEXT");
	imapparse_fetch_free(&f);
}

static void test_fetch_partial_max(void **state)
{
	struct imapparse_fetch f = fetch_ok("BODY[]<4294967295.4294967295>");
	assert_int_equal(f.atts[0].origin, UINT32_MAX);
	assert_int_equal(f.atts[0].length, UINT32_MAX);
	imapparse_fetch_free(&f);
}

static void test_fetch_binary(void **state)
{
	struct imapparse_fetch f = fetch_ok("(BINARY.PEEK[1]<0.5> BINARY[] BINARY.SIZE[2.3])");
	assert_int_equal(f.atts[0].kind, IMAPPARSE_FETCH_BINARY);
	assert_true(f.atts[0].peek);
	assert_true(f.atts[0].partial);
	assert_int_equal(f.atts[1].kind, IMAPPARSE_FETCH_BINARY);
	assert_false(f.atts[1].peek);
	assert_int_equal(f.atts[2].kind, IMAPPARSE_FETCH_BINARY_SIZE);
	assert_string_equal(f.atts[2].section, "2.3");
	imapparse_fetch_free(&f);
}

static void test_fetch_invalid_forms(void **state)
{
	static const char *items[] = {
		"BODY[MIME]",                     /* MIME needs a part */
		"BODY[0]",                        /* nz-number */
		"BODY[01]",
		"BODY[1.]",
		"BODY[.1]",
		"BODY[1..2]",
		"BODY[4294967296]",
		"BODY[HEADER.FIELDS ()]",         /* header-list needs a name */
		"BODY[HEADER.FIELDS]",
		"BODY[HEADER.FIELDS (A) x]",
		"BODY[HEADER.FIELDS (A:B)]",      /* not a field name */
		"BODY[HEADER x]",
		"BODY[TEXTS]",
		"BODY[]<0.0>",                    /* length is nz-number */
		"BODY[]<1.2.3>",
		"BODY[]<.5>",
		"BODY[]<5>",
		"BODY[]<0.5",
		"BODY[]x",
		"BODY[]<0.4294967296>",
		"BODY.PEEK",
		"BINARY",
		"BINARY[1.TEXT]",                 /* RFC 3516: parts only */
		"BINARY.SIZE[1]<0.1>",
		"RFC822.PEEK",
		"ENVELOPE[]",
		"XYZZY",
		"()",
		"(FLAGS \"UID\")",
		"(FLAGS (UID))",
		"\"FLAGS\"",
		"BODY[1][2]",
	};
	for (size_t i = 0; i < sizeof(items) / sizeof(items[0]); i++)
		fetch_bad(items[i]);
}

static void test_fetch_part_depth_limit(void **state)
{
	char items[512];
	size_t n = 0;
	n += (size_t)snprintf(items + n, sizeof(items) - n, "BODY[");
	for (int i = 0; i <= IMAPPARSE_SECTION_MAX_PARTS; i++)
		n += (size_t)snprintf(items + n, sizeof(items) - n, "%s1", i ? "." : "");
	snprintf(items + n, sizeof(items) - n, "]");
	fetch_bad(items);
}

/* ---- CONDSTORE / QRESYNC ---- */

static void test_fetch_modifiers(void **state)
{
	struct imapparse *p = newp(0);
	struct imapparse_fetch_mods m;
	const char *err = NULL;
	const struct imapparse_cmd *c =
		ok(p, "a UID FETCH 1:* (FLAGS) (CHANGEDSINCE 12345 VANISHED)");
	assert_int_equal(imapparse_fetch_modifiers(&c->args[2], &m, &err), 1);
	assert_true(m.changedsince);
	assert_int_equal(m.modseq, 12345);
	assert_true(m.vanished);
	imapparse_free(&p);
}

static void test_fetch_modifiers_invalid(void **state)
{
	static const char *bad[] = {
		"a FETCH 1 FLAGS (VANISHED)",                      /* needs CHANGEDSINCE */
		"a FETCH 1 FLAGS (CHANGEDSINCE)",
		"a FETCH 1 FLAGS (CHANGEDSINCE x)",
		"a FETCH 1 FLAGS (CHANGEDSINCE 1 CHANGEDSINCE 2)",
		"a FETCH 1 FLAGS (CHANGEDSINCE 1 VANISHED VANISHED)",
		"a FETCH 1 FLAGS (CHANGEDSINCE 9223372036854775808)",
		"a FETCH 1 FLAGS (FOO)",
		"a FETCH 1 FLAGS ()",
		"a FETCH 1 FLAGS CHANGEDSINCE",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct imapparse *p = newp(0);
		struct imapparse_fetch_mods m;
		const char *err = NULL;
		const struct imapparse_cmd *c = ok(p, bad[i]);
		assert_int_equal(imapparse_fetch_modifiers(&c->args[2], &m, &err), 0);
		assert_non_null(err);
		imapparse_free(&p);
	}
}

static void test_store_modifiers(void **state)
{
	struct imapparse *p = newp(0);
	struct imapparse_store_mods m;
	const char *err = NULL;
	const struct imapparse_cmd *c =
		ok(p, "a STORE 1 (UNCHANGEDSINCE 0) +FLAGS.SILENT (\\Seen)");
	assert_int_equal(imapparse_store_modifiers(&c->args[1], &m, &err), 1);
	assert_true(m.unchangedsince);
	assert_int_equal(m.modseq, 0);
	imapparse_free(&p);
}

static void test_store_modifiers_invalid(void **state)
{
	static const char *bad[] = {"a X (UNCHANGEDSINCE)", "a X (UNCHANGEDSINCE -1)",
				    "a X (UNCHANGEDSINCE 1 UNCHANGEDSINCE 2)", "a X (FOO 1)",
				    "a X ()"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct imapparse *p = newp(0);
		struct imapparse_store_mods m;
		const struct imapparse_cmd *c = ok(p, bad[i]);
		assert_int_equal(imapparse_store_modifiers(&c->args[0], &m, NULL), 0);
		imapparse_free(&p);
	}
}

static void test_select_condstore(void **state)
{
	struct imapparse *p = newp(0);
	struct imapparse_select_params sp;
	const struct imapparse_cmd *c = ok(p, "a SELECT INBOX (CONDSTORE)");
	assert_int_equal(imapparse_select_params(&c->args[1], 100, &sp, NULL), 1);
	assert_true(sp.condstore);
	assert_false(sp.qresync);
	imapparse_select_params_free(&sp);
	imapparse_free(&p);
}

static void test_select_qresync_full(void **state)
{
	/* RFC 7162 section 3.2.5.2 example. */
	struct imapparse *p = newp(0);
	struct imapparse_select_params sp;
	struct buf b = BUF_INIT;
	const struct imapparse_cmd *c =
		ok(p, "A02 SELECT INBOX (QRESYNC (67890007 20050715194045000 41,43:211,214:541 "
		      "(1,3:5 41,43:45)))");
	assert_int_equal(imapparse_select_params(&c->args[1], 100, &sp, NULL), 1);
	assert_true(sp.qresync);
	assert_int_equal(sp.uidvalidity, 67890007);
	assert_int_equal(sp.modseq, 20050715194045000ull);
	seqset_format(&sp.known_uids, &b);
	assert_string_equal(buf_cstr(&b), "41,43:211,214:541");
	assert_int_equal(sp.match_seqs.count, 2);
	assert_int_equal(sp.match_uids.count, 2);
	buf_free(&b);
	imapparse_select_params_free(&sp);
	imapparse_free(&p);
}

static void test_select_qresync_minimal(void **state)
{
	struct imapparse *p = newp(0);
	struct imapparse_select_params sp;
	const struct imapparse_cmd *c = ok(p, "a EXAMINE x (QRESYNC (1 2) CONDSTORE)");
	assert_int_equal(imapparse_select_params(&c->args[1], 100, &sp, NULL), 1);
	assert_true(sp.qresync);
	assert_true(sp.condstore);
	assert_int_equal(sp.known_uids.count, 0);
	assert_int_equal(sp.match_seqs.count, 0);
	imapparse_select_params_free(&sp);
	imapparse_free(&p);
}

static void test_select_qresync_match_data_only(void **state)
{
	struct imapparse *p = newp(0);
	struct imapparse_select_params sp;
	const struct imapparse_cmd *c = ok(p, "a SELECT x (QRESYNC (1 2 (1:2 7:8)))");
	assert_int_equal(imapparse_select_params(&c->args[1], 100, &sp, NULL), 1);
	assert_int_equal(sp.known_uids.count, 0);
	assert_int_equal(sp.match_seqs.count, 1);
	imapparse_select_params_free(&sp);
	imapparse_free(&p);
}

static void test_select_params_invalid(void **state)
{
	static const char *bad[] = {
		"a SELECT x (QRESYNC)",
		"a SELECT x (QRESYNC ())",
		"a SELECT x (QRESYNC (0 2))",           /* uidvalidity is nz-number */
		"a SELECT x (QRESYNC (1 0))",           /* mod-sequence-value >= 1 */
		"a SELECT x (QRESYNC (1 2 1:*))",       /* no '*' in known-uids */
		"a SELECT x (QRESYNC (1 2 1 (1)))",
		"a SELECT x (QRESYNC (1 2 1 (1 2) 3))",
		"a SELECT x (QRESYNC (1 2 (1 *)))",
		"a SELECT x (QRESYNC (1 2) QRESYNC (1 2))",
		"a SELECT x (CONDSTORE CONDSTORE)",
		"a SELECT x (FOO)",
		"a SELECT x ()",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct imapparse *p = newp(0);
		struct imapparse_select_params sp;
		const char *err = NULL;
		const struct imapparse_cmd *c = ok(p, bad[i]);
		if (imapparse_select_params(&c->args[1], 100, &sp, &err) != 0)
			fail_msg("accepted: %s", bad[i]);
		assert_non_null(err);
		assert_int_equal(sp.known_uids.count, 0);
		assert_null(sp.known_uids.ranges);
		imapparse_free(&p);
	}
}

static void test_select_params_range_limit(void **state)
{
	struct imapparse *p = newp(0);
	struct imapparse_select_params sp;
	const struct imapparse_cmd *c = ok(p, "a SELECT x (QRESYNC (1 2 1,3,5))");
	assert_int_equal(imapparse_select_params(&c->args[1], 2, &sp, NULL), 0);
	imapparse_free(&p);
}

static void test_extension_shapes_tokenize(void **state)
{
	/* SPECIAL-USE (RFC 6154), LIST-EXTENDED, ID (RFC 2971), ENABLE
	 * (RFC 5161), MOVE (RFC 6851) and APPEND with flags and date. */
	static const char *lines[] = {
		"a CREATE Drafts (USE (\\Drafts))",
		"a LIST (SPECIAL-USE) \"\" * RETURN (SPECIAL-USE CHILDREN)",
		"a ID (\"name\" \"x\" \"version\" NIL)",
		"a ENABLE CONDSTORE QRESYNC UTF8=ACCEPT",
		"a UID MOVE 1:5 Archive",
		"a STATUS INBOX (MESSAGES UIDNEXT HIGHESTMODSEQ APPENDLIMIT)",
		"a UID EXPUNGE 3:5",
	};
	for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
		struct imapparse *p = newp(0);
		ok(p, lines[i]);
		imapparse_free(&p);
	}
}

/* ---- secrets are wiped before they are freed ---- */

#define SECRET "hunter2-Secret"

static void test_login_quoted_password_wiped(void **state)
{
	struct imapparse *p = newp(0);
	watch_frees(SECRET);
	const struct imapparse_cmd *c = ok(p, "a LOGIN alice \"hunter2-\\\\Secret\"");
	assert_string_equal(c->args[1].str, "hunter2-\\Secret");
	imapparse_reset(p);
	/* The escaped form never matches; the needle is the plain one. */
	watch_frees("hunter2-");
	c = ok(p, "b LOGIN alice \"" SECRET "\"");
	assert_string_equal(c->args[1].str, SECRET);
	/* The next command frees LOGIN's arguments. */
	ok(p, "c NOOP");
	assert_int_equal(watched_frees(), 0);
	imapparse_free(&p);
}

static void test_login_atom_password_wiped_on_free(void **state)
{
	struct imapparse *p = newp(0);
	watch_frees(SECRET);
	ok(p, "a LOGIN alice " SECRET);
	imapparse_free(&p);
	assert_int_equal(watched_frees(), 0);
}

static void test_login_literal_password_wiped(void **state)
{
	struct imapparse *p = newp(0);
	watch_frees(SECRET);
	assert_int_equal(feed(p, "a LOGIN alice {14}"), 0);
	/* One byte at a time: the literal buffer must never grow and move. */
	for (size_t i = 0; i < strlen(SECRET); i++) {
		size_t used;
		int r = imapparse_feed_literal(p, (const unsigned char *)SECRET + i, 1, &used);
		assert_int_equal(used, 1);
		assert_int_equal(r, i + 1 == strlen(SECRET) ? 1 : 0);
	}
	const struct imapparse_cmd *c = ok(p, "");
	assert_int_equal(c->args[1].type, IMAPPARSE_LITERAL);
	assert_string_equal(c->args[1].str, SECRET);
	imapparse_reset(p);
	assert_int_equal(watched_frees(), 0);
	imapparse_free(&p);
}

static void test_login_long_literal_password_wiped(void **state)
{
	/* Longer than any first allocation, fed in pieces: still one block. */
	char pw[1025];
	for (size_t i = 0; i < sizeof(pw) - 1; i++)
		pw[i] = (char)('a' + i % 26);
	memcpy(pw + 500, SECRET, strlen(SECRET));
	pw[sizeof(pw) - 1] = '\0';
	struct imapparse *p = newp(0);
	watch_frees(SECRET);
	assert_int_equal(feed(p, "a LOGIN alice {1024+}"), 0);
	for (size_t off = 0; off < 1024; off += 100) {
		size_t n = 1024 - off < 100 ? 1024 - off : 100;
		imapparse_feed_literal(p, (const unsigned char *)pw + off, n, NULL);
	}
	const struct imapparse_cmd *c = ok(p, "");
	assert_int_equal(c->args[1].len, 1024);
	imapparse_free(&p);
	assert_int_equal(watched_frees(), 0);
}

static void test_login_literal_cut_short_wiped(void **state)
{
	/* The client goes away in the middle of the password. */
	struct imapparse *p = newp(0);
	watch_frees("hunter2");
	assert_int_equal(feed(p, "a LOGIN alice {14}"), 0);
	assert_int_equal(lit(p, "hunter2"), 0);
	imapparse_free(&p);
	assert_int_equal(watched_frees(), 0);
}

static void test_login_error_after_password_wiped(void **state)
{
	/* A syntax error after the password: the command fails, and the
	 * password is still wiped. */
	struct imapparse *p = newp(0);
	watch_frees(SECRET);
	assert_int_equal(feed(p, "a LOGIN alice \"" SECRET "\" ("), -1);
	imapparse_reset(p);
	assert_int_equal(watched_frees(), 0);
	imapparse_free(&p);
}

static void test_authenticate_initial_response_wiped(void **state)
{
	/* base64("\0alice\0hunter2-Secret") */
	static const char ir[] = "AGFsaWNlAGh1bnRlcjItU2VjcmV0";
	struct imapparse *p = newp(0);
	watch_frees(ir);
	const struct imapparse_cmd *c = ok(p, "a AUTHENTICATE PLAIN AGFsaWNlAGh1bnRlcjItU2VjcmV0");
	assert_string_equal(c->args[1].str, ir);
	imapparse_free(&p);
	assert_int_equal(watched_frees(), 0);
}

static void test_uid_login_wiped(void **state)
{
	struct imapparse *p = newp(0);
	watch_frees(SECRET);
	ok(p, "a uid login alice " SECRET);
	imapparse_free(&p);
	assert_int_equal(watched_frees(), 0);
}

static void test_other_commands_not_wiped(void **state)
{
	/* The check above can fail: an ordinary command's arguments are freed
	 * as they are (no cost for APPEND literals), and the needle is seen. */
	struct imapparse *p = newp(0);
	watch_frees(SECRET);
	ok(p, "a SELECT " SECRET);
	imapparse_free(&p);
	assert_true(watched_frees() >= 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_simple_command),
		cmocka_unit_test(test_command_name_upper_cased),
		cmocka_unit_test(test_uid_prefix),
		cmocka_unit_test(test_uid_without_command),
		cmocka_unit_test(test_tag_only),
		cmocka_unit_test(test_empty_line),
		cmocka_unit_test(test_leading_space),
		cmocka_unit_test(test_bad_tags),
		cmocka_unit_test(test_tag_with_bracket),
		cmocka_unit_test(test_bad_command_name),
		cmocka_unit_test(test_extra_spaces_tolerated),
		cmocka_unit_test(test_atom),
		cmocka_unit_test(test_atom_8bit_refused),
		cmocka_unit_test(test_atom_control_refused),
		cmocka_unit_test(test_nul_in_line_refused),
		cmocka_unit_test(test_system_flag_atom),
		cmocka_unit_test(test_lone_backslash),
		cmocka_unit_test(test_backslash_inside_atom),
		cmocka_unit_test(test_list_mailbox_wildcards),
		cmocka_unit_test(test_astring_with_bracket),
		cmocka_unit_test(test_nil),
		cmocka_unit_test(test_nil_prefix_is_atom),
		cmocka_unit_test(test_quoted),
		cmocka_unit_test(test_quoted_escapes),
		cmocka_unit_test(test_quoted_bad_escape),
		cmocka_unit_test(test_quoted_trailing_backslash),
		cmocka_unit_test(test_quoted_unterminated),
		cmocka_unit_test(test_quoted_cr_refused),
		cmocka_unit_test(test_quoted_8bit_refused),
		cmocka_unit_test(test_quoted_utf8_with_flag),
		cmocka_unit_test(test_quoted_bad_utf8_with_flag),
		cmocka_unit_test(test_set_flags_later),
		cmocka_unit_test(test_quoted_then_junk),
		cmocka_unit_test(test_nested_lists),
		cmocka_unit_test(test_empty_list),
		cmocka_unit_test(test_depth_limit),
		cmocka_unit_test(test_unbalanced_close),
		cmocka_unit_test(test_missing_close),
		cmocka_unit_test(test_lists_need_space),
		cmocka_unit_test(test_atom_then_paren),
		cmocka_unit_test(test_arg_limit),
		cmocka_unit_test(test_line_limit),
		cmocka_unit_test(test_section_is_one_token),
		cmocka_unit_test(test_section_unterminated),
		cmocka_unit_test(test_section_with_literal_refused),
		cmocka_unit_test(test_section_bracket_in_field_list),
		cmocka_unit_test(test_sync_literal),
		cmocka_unit_test(test_nonsync_literal),
		cmocka_unit_test(test_literal_one_byte_at_a_time),
		cmocka_unit_test(test_stream_one_byte_at_a_time),
		cmocka_unit_test(test_literal_holding_crlf_and_command_text),
		cmocka_unit_test(test_literal_overfeed_reports_used),
		cmocka_unit_test(test_empty_literal),
		cmocka_unit_test(test_literal_in_list),
		cmocka_unit_test(test_literal_binary_8bit),
		cmocka_unit_test(test_literal_nul_fails_at_end),
		cmocka_unit_test(test_literal_nul_fails_before_next_sync),
		cmocka_unit_test(test_append_literal_nul_flagged),
		cmocka_unit_test(test_literal8_without_binary),
		cmocka_unit_test(test_literal_not_at_end),
		cmocka_unit_test(test_literal_bad_announcements),
		cmocka_unit_test(test_literal_size_limit),
		cmocka_unit_test(test_literal_size_overflow),
		cmocka_unit_test(test_literal_minus_limit_is_fatal),
		cmocka_unit_test(test_nonsync_disabled),
		cmocka_unit_test(test_error_before_nonsync_is_fatal),
		cmocka_unit_test(test_command_size_limit),
		cmocka_unit_test(test_missing_space_after_literal),
		cmocka_unit_test(test_line_while_literal_due),
		cmocka_unit_test(test_literal_when_none_due),
		cmocka_unit_test(test_tag_and_name_not_literals),
		cmocka_unit_test(test_next_command_after_done),
		cmocka_unit_test(test_next_command_after_error),
		cmocka_unit_test(test_reset_drops_literal),
		cmocka_unit_test(test_number_helpers),
		cmocka_unit_test(test_modseq_too_large),
		cmocka_unit_test(test_is_atom_helper),
		cmocka_unit_test(test_fetch_macro_all),
		cmocka_unit_test(test_fetch_macro_fast),
		cmocka_unit_test(test_fetch_macro_full),
		cmocka_unit_test(test_fetch_macro_in_list_refused),
		cmocka_unit_test(test_fetch_simple_items),
		cmocka_unit_test(test_fetch_single_att),
		cmocka_unit_test(test_fetch_body_whole),
		cmocka_unit_test(test_fetch_peek_part_mime),
		cmocka_unit_test(test_fetch_fields_not_partial),
		cmocka_unit_test(test_fetch_fields_several),
		cmocka_unit_test(test_fetch_part_header_fields),
		cmocka_unit_test(test_fetch_header_text_parts),
		cmocka_unit_test(test_fetch_partial_max),
		cmocka_unit_test(test_fetch_binary),
		cmocka_unit_test(test_fetch_invalid_forms),
		cmocka_unit_test(test_fetch_part_depth_limit),
		cmocka_unit_test(test_fetch_modifiers),
		cmocka_unit_test(test_fetch_modifiers_invalid),
		cmocka_unit_test(test_store_modifiers),
		cmocka_unit_test(test_store_modifiers_invalid),
		cmocka_unit_test(test_select_condstore),
		cmocka_unit_test(test_select_qresync_full),
		cmocka_unit_test(test_select_qresync_minimal),
		cmocka_unit_test(test_select_qresync_match_data_only),
		cmocka_unit_test(test_select_params_invalid),
		cmocka_unit_test(test_select_params_range_limit),
		cmocka_unit_test(test_extension_shapes_tokenize),
		cmocka_unit_test(test_login_quoted_password_wiped),
		cmocka_unit_test(test_login_atom_password_wiped_on_free),
		cmocka_unit_test(test_login_literal_password_wiped),
		cmocka_unit_test(test_login_long_literal_password_wiped),
		cmocka_unit_test(test_login_literal_cut_short_wiped),
		cmocka_unit_test(test_login_error_after_password_wiped),
		cmocka_unit_test(test_authenticate_initial_response_wiped),
		cmocka_unit_test(test_uid_login_wiped),
		cmocka_unit_test(test_other_commands_not_wiped),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
