/* SPDX-License-Identifier: AGPL-3.0-or-later */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "base/buf.h"
#include "proto/smtpparse.h"

static void test_command_split(void **state)
{
	struct smtp_command c;
	const char *l = "ehlo client.example";
	assert_int_equal(smtpparse_command(l, strlen(l), &c), 1);
	assert_int_equal(c.cmd, SMTP_CMD_EHLO);
	assert_string_equal(c.arg, "client.example");
	assert_int_equal(smtpparse_command("QUIT", 4, &c), 1);
	assert_string_equal(c.arg, "");
	assert_int_equal(smtpparse_command("XYZZY a", 7, &c), 0);
	assert_int_equal(c.cmd, SMTP_CMD_UNKNOWN);
	assert_int_equal(smtpparse_command("GET / HTTP/1.0", 14, &c), 1);
	assert_int_equal(c.cmd, SMTP_CMD_HTTP);
	assert_int_equal(smtpparse_command("QUITX", 5, &c), 0);
}

static void test_mail_from(void **state)
{
	struct smtp_path p;
	struct smtp_mail_params mp;
	const char *r = NULL;
	assert_int_equal(smtpparse_mail("FROM:<a.b@example.org> SIZE=1000 BODY=8BITMIME", &p, &mp, &r), 1);
	assert_string_equal(p.addr, "a.b@example.org");
	assert_true(mp.size_set);
	assert_int_equal(mp.size, 1000);
	assert_int_equal(mp.body, SMTP_BODY_8BITMIME);
	assert_int_equal(smtpparse_mail("from: <>", &p, &mp, &r), 1);
	assert_true(p.null);
	assert_int_equal(smtpparse_mail("FROM:<@relay.example:u@example.org>", &p, &mp, &r), 1);
	assert_string_equal(p.addr, "u@example.org");
	assert_int_equal(smtpparse_mail("FROM:<\"a b\"@example.org> RET=HDRS ENVID=x+2By", &p, &mp, &r), 1);
	assert_string_equal(p.local, "\"a b\"");
	assert_string_equal(mp.envid, "x+y");
}

static void test_mail_errors(void **state)
{
	struct smtp_path p;
	struct smtp_mail_params mp;
	const char *r = NULL;
	assert_int_equal(smtpparse_mail("FROM:a@b", &p, &mp, &r), -1);
	assert_memory_equal(r, "501", 3);
	assert_int_equal(smtpparse_mail("TO:<a@b>", &p, &mp, &r), -1);
	assert_int_equal(smtpparse_mail("FROM:<a@b> FOO=1", &p, &mp, &r), -1);
	assert_memory_equal(r, "555", 3);
	assert_int_equal(smtpparse_mail("FROM:<a@b> SIZE=x", &p, &mp, &r), -1);
	assert_int_equal(smtpparse_mail("FROM:<a..b@c>", &p, &mp, &r), -1);
	assert_int_equal(smtpparse_mail("FROM:<.a@c>", &p, &mp, &r), -1);
	assert_int_equal(smtpparse_mail("FROM:<a@-c>", &p, &mp, &r), -1);
	assert_int_equal(smtpparse_mail("FROM:<a@c", &p, &mp, &r), -1);
	assert_int_equal(smtpparse_mail("FROM:<a@c>junk", &p, &mp, &r), -1);
	assert_int_equal(smtpparse_mail("FROM:<j\xc3\xb6rg@example.org>", &p, &mp, &r), -1);
	assert_memory_equal(r, "553 5.6.7", 9);
	assert_int_equal(smtpparse_mail("FROM:<j\xc3\xb6rg@example.org> SMTPUTF8", &p, &mp, &r), 1);
	assert_true(p.utf8);
	char big[400];
	memset(big, 'a', sizeof(big));
	memcpy(big, "FROM:<", 6);
	memcpy(big + 300, "@b.c>", 6);
	assert_int_equal(smtpparse_mail(big, &p, &mp, &r), -1);
}

static void test_rcpt(void **state)
{
	struct smtp_path p;
	struct smtp_rcpt_params rp;
	const char *r = NULL;
	assert_int_equal(smtpparse_rcpt("TO:<User+tag@Example.TEST> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;u+40x", &p, &rp, &r), 1);
	assert_string_equal(p.addr, "User+tag@Example.TEST");
	assert_int_equal(rp.notify, SMTP_NOTIFY_SUCCESS | SMTP_NOTIFY_FAILURE);
	assert_string_equal(rp.orcpt, "rfc822;u@x");
	assert_int_equal(smtpparse_rcpt("TO:<Postmaster>", &p, &rp, &r), 1);
	assert_true(p.domainless);
	assert_int_equal(smtpparse_rcpt("TO:<>", &p, &rp, &r), -1);
	assert_int_equal(smtpparse_rcpt("TO:<bob>", &p, &rp, &r), -1);
	assert_int_equal(smtpparse_rcpt("TO:<a@b> NOTIFY=NEVER,DELAY", &p, &rp, &r), -1);
	assert_int_equal(smtpparse_rcpt("TO:<a@[192.0.2.1]>", &p, &rp, &r), 1);
}

static void test_bdat_and_helo(void **state)
{
	uint64_t n;
	bool last;
	const char *r;
	assert_int_equal(smtpparse_bdat("100 LAST", &n, &last, &r), 1);
	assert_int_equal(n, 100);
	assert_true(last);
	assert_int_equal(smtpparse_bdat("0", &n, &last, &r), 1);
	assert_false(last);
	assert_int_equal(smtpparse_bdat("-1", &n, &last, &r), -1);
	assert_int_equal(smtpparse_bdat("5 FIRST", &n, &last, &r), -1);
	assert_int_equal(smtpparse_bdat("99999999999999999999999", &n, &last, &r), -1);
	assert_true(smtpparse_helo_ok("mail.example.org"));
	assert_true(smtpparse_helo_ok("[192.0.2.1]"));
	assert_true(smtpparse_helo_ok("localhost"));
	assert_false(smtpparse_helo_ok(""));
	assert_false(smtpparse_helo_ok("a b"));
	assert_false(smtpparse_helo_ok("bad_host!"));
}

static size_t feed_all(struct smtp_data *d, const char *in, struct buf *out, bool bytewise)
{
	size_t used = 0, n = strlen(in);
	while (used < n && !d->done) {
		size_t k = bytewise ? 1 : n - used;
		used += smtp_data_feed(d, (const unsigned char *)in + used, k, out);
	}
	return used;
}

static void test_data_dot_stuffing(void **state)
{
	for (int bytewise = 0; bytewise < 2; bytewise++) {
		struct smtp_data d;
		struct buf out = BUF_INIT;
		smtp_data_init(&d, 1000);
		const char *in = "Subject: x\r\n\r\n..leading dot\r\n.\r\nQUIT\r\n";
		size_t used = feed_all(&d, in, &out, bytewise);
		assert_true(d.done);
		assert_string_equal(buf_cstr(&out), "Subject: x\r\n\r\n.leading dot\r\n");
		assert_string_equal(in + used, "QUIT\r\n");
		assert_false(d.bare_lf || d.bare_cr);
		buf_free(&out);
	}
}

/* The SMTP smuggling variants: none of them ends the data, each marks the
 * message invalid; only the real CRLF.CRLF ends it. */
static void test_data_smuggling(void **state)
{
	static const char *cases[] = {
		"a\r\n\n.\r\nMAIL FROM:<x@y>\r\n.\r\n", "a\n.\r\nMAIL FROM:<x@y>\r\n.\r\n",
		"a\r\n.\nMAIL FROM:<x@y>\r\n.\r\n",     "a\r.\rMAIL FROM:<x@y>\r\n.\r\n",
		"a\r\n.\rMAIL FROM:<x@y>\r\n.\r\n",     "a\n.\nMAIL FROM:<x@y>\r\n.\r\n",
		"a\r\r\n.\r\n",
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct smtp_data d;
		struct buf out = BUF_INIT;
		smtp_data_init(&d, 1000);
		size_t used = feed_all(&d, cases[i], &out, false);
		assert_true(d.done);
		assert_int_equal(used, strlen(cases[i]));
		assert_true(d.bare_lf || d.bare_cr);
		buf_free(&out);
	}
}

static void test_data_size_limit(void **state)
{
	struct smtp_data d;
	struct buf out = BUF_INIT;
	smtp_data_init(&d, 10);
	feed_all(&d, "0123456789ABCDEF\r\n.\r\n", &out, false);
	assert_true(d.done);
	assert_true(d.total > d.max);
	assert_true(out.len <= 10);
	buf_free(&out);
}

static void test_data_clean(void **state)
{
	assert_true(smtp_data_clean((const unsigned char *)"a\r\nb\r\n", 6));
	assert_false(smtp_data_clean((const unsigned char *)"a\nb\r\n", 5));
	assert_false(smtp_data_clean((const unsigned char *)"a\rb\r\n", 5));
	assert_false(smtp_data_clean((const unsigned char *)"a\r", 2));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_command_split),	 cmocka_unit_test(test_mail_from),
		cmocka_unit_test(test_mail_errors),	 cmocka_unit_test(test_rcpt),
		cmocka_unit_test(test_bdat_and_helo),	 cmocka_unit_test(test_data_dot_stuffing),
		cmocka_unit_test(test_data_smuggling),	 cmocka_unit_test(test_data_size_limit),
		cmocka_unit_test(test_data_clean),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
