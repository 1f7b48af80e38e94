/* SPDX-License-Identifier: AGPL-3.0-or-later */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "sys/conf.h"

static void test_defaults(void **state)
{
	struct conf *c = conf_new();
	assert_string_equal(c->state_dir, "/var/lib/sealmail");
	assert_int_equal(c->plaintext_auth, CONF_PLAINTEXT_LOOPBACK);
	assert_int_equal(c->smtpd_max_recipients, 100);
	assert_int_equal(c->imapd_idle_timeout_ms, 30 * 60 * 1000);
	assert_int_equal(c->max_message_size, 50 * 1024 * 1024);
	conf_free(&c);
	assert_null(c);
}

static void test_parse_ok(void **state)
{
	struct conf *c = conf_new();
	const char *err = NULL;
	const char *text = "# comment\n\nhostname = mx.example.test\n  redis=unix:/run/r.sock  \r\n"
			   "max_message_size = 10M\nsmtpd.timeout = 90s\nplaintext_auth = never\n"
			   "milter_default_action = accept\nsmtpd.max_recipients = 5";
	assert_int_equal(conf_parse(c, "t.conf", text, strlen(text), &err), 0);
	assert_string_equal(c->hostname, "mx.example.test");
	assert_string_equal(c->redis, "unix:/run/r.sock");
	assert_int_equal(c->max_message_size, 10 * 1024 * 1024);
	assert_int_equal(c->smtpd_timeout_ms, 90000);
	assert_int_equal(c->plaintext_auth, CONF_PLAINTEXT_NEVER);
	assert_int_equal(c->milter_default_action, CONF_MILTER_ACCEPT);
	assert_int_equal(c->smtpd_max_recipients, 5);
	conf_free(&c);
}

static void test_limits(void **state)
{
	struct conf *c = conf_new();
	const char *err = NULL;
	assert_int_equal(c->max_connections_per_source, 50);
	assert_int_equal(c->smtpd_junk_command_limit, 100);
	assert_int_equal(c->smtpd_command_timeout_ms, 5 * 60 * 1000);
	assert_int_equal(c->smtpd_session_timeout_ms, 60 * 60 * 1000);
	assert_int_equal(c->smtpd_min_data_rate, 500);
	assert_int_equal(conf_max_per_source(c, "smtpd"), 50);
	const char *text = "max_connections_per_source = 20\nimapd.max_connections_per_source = 64\n";
	assert_int_equal(conf_parse(c, "t.conf", text, strlen(text), &err), 0);
	/* A handler's own key wins; without one, the global key counts. */
	assert_int_equal(conf_max_per_source(c, "imapd"), 64);
	assert_int_equal(conf_max_per_source(c, "pop3d"), 20);
	assert_int_equal(conf_max_per_source(c, "smtpd"), 20);
	assert_int_equal(conf_max_per_source(c, NULL), 20);
	conf_free(&c);
}

static void test_unknown_key_names_line(void **state)
{
	struct conf *c = conf_new();
	const char *err = NULL;
	const char *text = "hostname = a\n\nno_such_key = 1\n";
	assert_int_equal(conf_parse(c, "x.conf", text, strlen(text), &err), -1);
	assert_non_null(strstr(err, "x.conf:3:"));
	assert_non_null(strstr(err, "no_such_key"));
	conf_free(&c);
}

static void test_bad_values(void **state)
{
	static const char *bad[] = {
		"max_message_size = lots\n", "max_message_size = 10X\n", "smtpd.timeout = -1\n",
		"plaintext_auth = sometimes\n", "smtpd.max_recipients = 0\n", "kdf_opslimit = 2k\n",
		"hostname\n", "max_message_size = 99999999999999999999999\n",
		"milter_default_action = maybe\n",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct conf *c = conf_new();
		const char *err = NULL;
		assert_int_equal(conf_parse(c, "b.conf", bad[i], strlen(bad[i]), &err), -1);
		assert_non_null(strstr(err, "b.conf:1:"));
		conf_free(&c);
	}
}

static void test_long_line(void **state)
{
	struct conf *c = conf_new();
	const char *err = NULL;
	char text[CONF_LINE_MAX + 20];
	memset(text, 'a', sizeof(text));
	assert_int_equal(conf_parse(c, "l.conf", text, sizeof(text), &err), -1);
	assert_non_null(strstr(err, "l.conf:1: line too long"));
	conf_free(&c);
}

static void test_sizes_and_durations(void **state)
{
	uint64_t v;
	assert_int_equal(conf_parse_size("512k", &v), 1);
	assert_int_equal(v, 512 * 1024);
	assert_int_equal(conf_parse_size("", &v), 0);
	assert_int_equal(conf_parse_size("1G", &v), 1);
	assert_int_equal(conf_parse_duration("250ms", &v), 1);
	assert_int_equal(v, 250);
	assert_int_equal(conf_parse_duration("2h", &v), 1);
	assert_int_equal(v, 7200000);
	assert_int_equal(conf_parse_duration("5d", &v), 1);
	assert_int_equal(v, 5ull * 86400000);
	assert_int_equal(conf_parse_duration("5 m", &v), 0);
}

static void test_missing_file(void **state)
{
	struct conf *c = conf_new();
	const char *err = NULL;
	assert_int_equal(conf_load(c, "/nonexistent/sealmail.conf", &err), -1);
	assert_non_null(strstr(err, "/nonexistent/sealmail.conf"));
	conf_free(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_parse_ok),
		cmocka_unit_test(test_unknown_key_names_line),
		cmocka_unit_test(test_bad_values),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_long_line),
		cmocka_unit_test(test_sizes_and_durations),
		cmocka_unit_test(test_missing_file),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
