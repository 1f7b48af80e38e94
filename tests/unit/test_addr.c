/* SPDX-License-Identifier: AGPL-3.0-or-later */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "base/fmt.h"
#include "proto/addr.h"

static int parse(const char *s, unsigned flags, struct addr *a)
{
	return addr_parse(s, strlen(s), flags, a);
}

static int valid(const char *s, unsigned flags)
{
	struct addr a;
	return addr_parse(s, strlen(s), flags, &a);
}

/* Normalised form of s, or "" when invalid. */
static const char *norm(const char *s, unsigned flags)
{
	static char out[ADDR_SIZE];
	if (addr_normalise(s, strlen(s), flags, out, sizeof(out)) != 1)
		out[0] = '\0';
	return out;
}

static void test_simple_split(void **state)
{
	struct addr a;
	assert_int_equal(parse("Alice.Smith@Example.ORG", 0, &a), 1);
	assert_string_equal(a.local, "Alice.Smith");
	assert_int_equal(a.local_len, 11);
	assert_string_equal(a.domain, "example.org");
	assert_int_equal(a.domain_len, 11);
	assert_false(a.quoted);
	assert_false(a.utf8);
	assert_false(a.literal);
}

static void test_lookup_lowercases_local(void **state)
{
	assert_string_equal(norm("Alice.Smith@Example.ORG", 0), "alice.smith@example.org");
}

static void test_empty_and_missing_parts(void **state)
{
	assert_int_equal(valid("", 0), 0);
	assert_int_equal(valid("@example.org", 0), 0);
	assert_int_equal(valid("user@", 0), 0);
	assert_int_equal(valid("user", 0), 0);
	assert_int_equal(valid("user@@example.org", 0), 0);
	assert_int_equal(valid("a@b@example.org", 0), 0);
	assert_int_equal(valid("\"\"@example.org", 0), 0);
}

static void test_dot_atom_dots(void **state)
{
	assert_int_equal(valid("a.b.c@example.org", 0), 1);
	assert_int_equal(valid(".a@example.org", 0), 0);
	assert_int_equal(valid("a.@example.org", 0), 0);
	assert_int_equal(valid("a..b@example.org", 0), 0);
	assert_int_equal(valid(".@example.org", 0), 0);
}

static void test_atext_specials(void **state)
{
	assert_int_equal(valid("!#$%&'*+-/=?^_`{|}~@example.org", 0), 1);
	assert_int_equal(valid("*@example.org", 0), 1);
	assert_int_equal(valid("a b@example.org", 0), 0);
	assert_int_equal(valid("a\"b@example.org", 0), 0);
	assert_int_equal(valid("a(b)@example.org", 0), 0);
	assert_int_equal(valid("a,b@example.org", 0), 0);
	assert_int_equal(valid("a\\b@example.org", 0), 0);
	assert_int_equal(valid("a[b]@example.org", 0), 0);
	assert_int_equal(valid("a:b@example.org", 0), 0);
}

static void test_embedded_nul(void **state)
{
	struct addr a;
	assert_int_equal(addr_parse("a\0b@example.org", 15, 0, &a), 0);
	assert_int_equal(addr_parse("ab@exam\0ple.org", 15, 0, &a), 0);
}

static void test_control_chars(void **state)
{
	assert_int_equal(valid("a\tb@example.org", 0), 0);
	assert_int_equal(valid("a\r\n@example.org", 0), 0);
	assert_int_equal(valid("\"a\tb\"@example.org", 0), 0);
	assert_int_equal(valid("\"a\x7f\"@example.org", 0), 0);
}

static void test_quoted_needs_quotes(void **state)
{
	struct addr a;
	char out[ADDR_SIZE];
	assert_int_equal(parse("\"john smith\"@example.org", 0, &a), 1);
	assert_string_equal(a.local, "john smith");
	assert_true(a.quoted);
	assert_int_equal(addr_format(&a, out, sizeof(out)), 0);
	assert_string_equal(out, "\"john smith\"@example.org");
}

static void test_quoted_plain_is_dot_atom(void **state)
{
	/* "john"@d is the same mailbox as john@d (RFC 5321 section 4.1.2). */
	struct addr a;
	assert_int_equal(parse("\"John\"@example.org", 0, &a), 1);
	assert_false(a.quoted);
	assert_string_equal(norm("\"John\"@example.org", 0), "john@example.org");
}

static void test_quoted_pairs(void **state)
{
	struct addr a;
	char out[ADDR_SIZE];
	assert_int_equal(parse("\"a\\\"b\\\\c\\d\"@example.org", 0, &a), 1);
	assert_string_equal(a.local, "a\"b\\cd");
	assert_true(a.quoted);
	assert_int_equal(addr_format(&a, out, sizeof(out)), 0);
	/* Only '"' and '\' keep their backslash in the canonical form. */
	assert_string_equal(out, "\"a\\\"b\\\\cd\"@example.org");
}

static void test_quoted_at_sign(void **state)
{
	struct addr a;
	assert_int_equal(parse("\"a@b\"@example.org", 0, &a), 1);
	assert_string_equal(a.local, "a@b");
	assert_string_equal(a.domain, "example.org");
}

static void test_quoted_malformed(void **state)
{
	assert_int_equal(valid("\"abc@example.org", 0), 0);
	assert_int_equal(valid("\"abc\"x@example.org", 0), 0);
	assert_int_equal(valid("\"abc\\\"@example.org", 0), 0);
	assert_int_equal(valid("x\"abc\"@example.org", 0), 0);
	assert_int_equal(valid("\"a\\\x01\"@example.org", 0), 0);
}

static void test_local_length_limit(void **state)
{
	char s[200];
	memset(s, 'a', 64);
	memcpy(s + 64, "@example.org", 13);
	assert_int_equal(valid(s, 0), 1);
	memset(s, 'a', 65);
	memcpy(s + 65, "@example.org", 13);
	assert_int_equal(valid(s, 0), 0);
}

static void test_quoted_length_counts_quotes(void **state)
{
	/* RFC 5321 section 4.5.3.1.1 counts the local part as sent. */
	char s[200];
	s[0] = '"';
	memset(s + 1, 'a', 62);
	memcpy(s + 63, "\"@example.org", 14);
	assert_int_equal(valid(s, 0), 1); /* 64 octets with the quotes */
	memset(s + 1, 'a', 63);
	memcpy(s + 64, "\"@example.org", 14);
	assert_int_equal(valid(s, 0), 0); /* 65 */
}

static void build_domain(char *out, size_t labels, size_t label_len)
{
	size_t o = 0;
	for (size_t i = 0; i < labels; i++) {
		if (i > 0)
			out[o++] = '.';
		memset(out + o, 'a', label_len);
		o += label_len;
	}
	out[o] = '\0';
}

static void test_label_length_limit(void **state)
{
	char d[300], s[400];
	build_domain(d, 2, 63);
	assert_int_equal(fmt_name(s, sizeof(s), "u@%s", d), 0);
	assert_int_equal(valid(s, 0), 1);
	build_domain(d, 2, 64);
	assert_int_equal(fmt_name(s, sizeof(s), "u@%s", d), 0);
	assert_int_equal(valid(s, 0), 0);
}

static void test_domain_length_limit(void **state)
{
	char d[300], out[300];
	/* 4 labels of 63 plus 3 dots = 255 octets: a valid domain name. */
	build_domain(d, 4, 63);
	assert_int_equal(strlen(d), 255);
	assert_int_equal(addr_domain_normalise(d, strlen(d), 0, out, sizeof(out)), 1);
	build_domain(d, 4, 63);
	d[255] = 'a'; /* 256 */
	d[256] = '\0';
	assert_int_equal(addr_domain_normalise(d, strlen(d), 0, out, sizeof(out)), 0);
}

static void test_path_length_limit(void **state)
{
	/* The whole mailbox is at most 254 octets (a 256-octet path). */
	char s[400], d[300];
	build_domain(d, 4, 46); /* 187 octets */
	char local[65];
	memset(local, 'b', 64);
	local[64] = '\0';
	assert_int_equal(fmt_name(s, sizeof(s), "%s@%s", local, d), 0); /* 64 + 1 + 187 = 252 */
	assert_int_equal(strlen(s), 252);
	assert_int_equal(valid(s, 0), 1);
	build_domain(d, 4, 47); /* 191: 256 in all */
	assert_int_equal(fmt_name(s, sizeof(s), "%s@%s", local, d), 0);
	assert_int_equal(valid(s, 0), 0);
	assert_int_equal(ADDR_MAX, 254);
}

static void test_domain_syntax(void **state)
{
	assert_int_equal(valid("u@localhost", 0), 1);
	assert_int_equal(valid("u@a-b.example", 0), 1);
	assert_int_equal(valid("u@1a.example", 0), 1);
	assert_int_equal(valid("u@-a.example", 0), 0);
	assert_int_equal(valid("u@a-.example", 0), 0);
	assert_int_equal(valid("u@a..example", 0), 0);
	assert_int_equal(valid("u@.example", 0), 0);
	assert_int_equal(valid("u@example.", 0), 0);
	assert_int_equal(valid("u@exa_mple.org", 0), 0);
	assert_int_equal(valid("u@exa mple.org", 0), 0);
}

static void test_numeric_tld_refused(void **state)
{
	assert_int_equal(valid("u@1.2.3.4", 0), 0);
	assert_int_equal(valid("u@example.123", 0), 0);
	assert_int_equal(valid("u@123.example", 0), 1);
}

static void test_a_labels(void **state)
{
	assert_string_equal(norm("u@XN--Bcher-KVA.Example", 0), "u@xn--bcher-kva.example");
}

static void test_address_literals(void **state)
{
	struct addr a;
	assert_int_equal(valid("u@[192.0.2.1]", 0), 0);
	assert_int_equal(parse("u@[192.0.2.1]", ADDR_LITERAL, &a), 1);
	assert_true(a.literal);
	assert_int_equal(parse("u@[IPv6:2001:DB8::1]", ADDR_LITERAL, &a), 1);
	assert_string_equal(a.domain, "[ipv6:2001:db8::1]");
	assert_int_equal(valid("u@[192.0.2.256]", ADDR_LITERAL), 0);
	assert_int_equal(valid("u@[2001:db8::1]", ADDR_LITERAL), 0);
	assert_int_equal(valid("u@[IPv6:192.0.2.1x]", ADDR_LITERAL), 0);
	assert_int_equal(valid("u@[192.0.2.1", ADDR_LITERAL), 0);
	assert_int_equal(valid("u@[]", ADDR_LITERAL), 0);
	assert_int_equal(valid("u@[x:y]", ADDR_LITERAL), 0);
}

static void test_utf8_needs_flag(void **state)
{
	struct addr a;
	const char *s = "j\xc3\xb6rg@b\xc3\xbc"
	                "cher.example";
	assert_int_equal(valid(s, 0), 0);
	assert_int_equal(parse(s, ADDR_UTF8, &a), 1);
	assert_true(a.utf8);
	assert_string_equal(a.local, "j\xc3\xb6rg");
	assert_string_equal(a.domain, "b\xc3\xbc"
	                              "cher.example");
}

static void test_utf8_malformed(void **state)
{
	/* overlong '/' */
	assert_int_equal(valid("a\xc0\xaf@example.org", ADDR_UTF8), 0);
	/* a lone continuation octet */
	assert_int_equal(valid("a\x80@example.org", ADDR_UTF8), 0);
	/* a truncated sequence */
	assert_int_equal(valid("a\xe2\x82@example.org", ADDR_UTF8), 0);
	/* a UTF-16 surrogate (U+D800) */
	assert_int_equal(valid("a\xed\xa0\x80@example.org", ADDR_UTF8), 0);
	/* above U+10FFFF */
	assert_int_equal(valid("a\xf4\x90\x80\x80@example.org", ADDR_UTF8), 0);
	/* U+10FFFF itself is well-formed */
	assert_int_equal(valid("a\xf4\x8f\xbf\xbf@example.org", ADDR_UTF8), 1);
	assert_int_equal(valid("u@\xe2\x82.example", ADDR_UTF8), 0);
}

static void test_utf8_quoted(void **state)
{
	struct addr a;
	assert_int_equal(parse("\"a \xc3\xa9\"@example.org", ADDR_UTF8, &a), 1);
	assert_true(a.quoted);
	assert_int_equal(valid("\"a \xc3\xa9\"@example.org", 0), 0);
}

static void test_utf8_lowercase_ascii_only(void **state)
{
	/* U+00C9 stays as it is: no Unicode case folding. */
	assert_string_equal(norm("\xc3\x89Ric@EXAMPLE.org", ADDR_UTF8), "\xc3\x89ric@example.org");
}

static void test_tag_detection(void **state)
{
	struct addr a;
	assert_int_equal(parse("user+tag@example.org", 0, &a), 1);
	assert_string_equal(addr_tag(&a), "tag");
	assert_true(addr_strip_tag(&a));
	assert_string_equal(a.local, "user");
	assert_int_equal(a.local_len, 4);
	assert_false(addr_strip_tag(&a));
}

static void test_tag_first_separator(void **state)
{
	struct addr a;
	assert_int_equal(parse("user+a+b@example.org", 0, &a), 1);
	assert_string_equal(addr_tag(&a), "a+b");
	assert_true(addr_strip_tag(&a));
	assert_string_equal(a.local, "user");
}

static void test_tag_empty(void **state)
{
	struct addr a;
	assert_int_equal(parse("user+@example.org", 0, &a), 1);
	assert_string_equal(addr_tag(&a), "");
	assert_true(addr_strip_tag(&a));
	assert_string_equal(a.local, "user");
}

static void test_tag_not_at_start(void **state)
{
	struct addr a;
	assert_int_equal(parse("+tag@example.org", 0, &a), 1);
	assert_null(addr_tag(&a));
	assert_false(addr_strip_tag(&a));
}

static void test_tag_base_must_be_dot_atom(void **state)
{
	struct addr a;
	assert_int_equal(parse("a.+tag@example.org", 0, &a), 1);
	assert_null(addr_tag(&a));
}

static void test_tag_quoted_has_none(void **state)
{
	struct addr a;
	assert_int_equal(parse("\"a b+tag\"@example.org", 0, &a), 1);
	assert_null(addr_tag(&a));
}

static void test_postmaster(void **state)
{
	struct addr a;
	assert_int_equal(parse("PostMaster@example.org", 0, &a), 1);
	assert_true(addr_is_postmaster(&a));
	assert_int_equal(parse("postmasters@example.org", 0, &a), 1);
	assert_false(addr_is_postmaster(&a));
}

static void test_format_small_buffer(void **state)
{
	struct addr a;
	char out[8];
	assert_int_equal(parse("user@example.org", 0, &a), 1);
	assert_int_equal(addr_format(&a, out, sizeof(out)), -1);
	assert_int_equal(addr_format(&a, out, 0), -1);
	assert_int_equal(addr_normalise("user@example.org", 16, 0, out, sizeof(out)), -1);
}

static void test_domain_normalise(void **state)
{
	char out[ADDR_DOMAIN_MAX + 1], small[4];
	assert_int_equal(addr_domain_normalise("Mail.Example.ORG", 16, 0, out, sizeof(out)), 1);
	assert_string_equal(out, "mail.example.org");
	assert_int_equal(addr_domain_normalise("Mail.Example.ORG", 16, 0, small, sizeof(small)),
	                 -1);
	assert_int_equal(addr_domain_normalise("bad_domain", 10, 0, out, sizeof(out)), 0);
	assert_int_equal(addr_domain_normalise("[192.0.2.1]", 11, ADDR_LITERAL, out, sizeof(out)),
	                 0);
}

static void test_utf8_valid(void **state)
{
	assert_true(addr_utf8_valid((const unsigned char *)"plain", 5));
	assert_true(addr_utf8_valid((const unsigned char *)"\xe2\x82\xac", 3));
	assert_false(addr_utf8_valid((const unsigned char *)"\xe0\x80\x80", 3));
	assert_false(addr_utf8_valid((const unsigned char *)"\xff", 1));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_simple_split),
	    cmocka_unit_test(test_lookup_lowercases_local),
	    cmocka_unit_test(test_empty_and_missing_parts),
	    cmocka_unit_test(test_dot_atom_dots),
	    cmocka_unit_test(test_atext_specials),
	    cmocka_unit_test(test_embedded_nul),
	    cmocka_unit_test(test_control_chars),
	    cmocka_unit_test(test_quoted_needs_quotes),
	    cmocka_unit_test(test_quoted_plain_is_dot_atom),
	    cmocka_unit_test(test_quoted_pairs),
	    cmocka_unit_test(test_quoted_at_sign),
	    cmocka_unit_test(test_quoted_malformed),
	    cmocka_unit_test(test_local_length_limit),
	    cmocka_unit_test(test_quoted_length_counts_quotes),
	    cmocka_unit_test(test_label_length_limit),
	    cmocka_unit_test(test_domain_length_limit),
	    cmocka_unit_test(test_path_length_limit),
	    cmocka_unit_test(test_domain_syntax),
	    cmocka_unit_test(test_numeric_tld_refused),
	    cmocka_unit_test(test_a_labels),
	    cmocka_unit_test(test_address_literals),
	    cmocka_unit_test(test_utf8_needs_flag),
	    cmocka_unit_test(test_utf8_malformed),
	    cmocka_unit_test(test_utf8_quoted),
	    cmocka_unit_test(test_utf8_lowercase_ascii_only),
	    cmocka_unit_test(test_tag_detection),
	    cmocka_unit_test(test_tag_first_separator),
	    cmocka_unit_test(test_tag_empty),
	    cmocka_unit_test(test_tag_not_at_start),
	    cmocka_unit_test(test_tag_base_must_be_dot_atom),
	    cmocka_unit_test(test_tag_quoted_has_none),
	    cmocka_unit_test(test_postmaster),
	    cmocka_unit_test(test_format_small_buffer),
	    cmocka_unit_test(test_domain_normalise),
	    cmocka_unit_test(test_utf8_valid),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
