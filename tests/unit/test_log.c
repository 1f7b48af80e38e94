/* SPDX-License-Identifier: AGPL-3.0-or-later */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/fmt.h"
#include "sys/log.h"

/* Run fn with fd 2 redirected to a temp file; return what it wrote. */
static char *capture(void (*fn)(void))
{
	static char out[32768];
	char path[] = "/tmp/sealmail-logtest-XXXXXX";
	int fd = mkstemp(path);
	int saved = dup(2);
	dup2(fd, 2);
	unsetenv("JOURNAL_STREAM");
	setenv("LOG_TARGET", "stderr", 1);
	log_init("test");
	fn();
	dup2(saved, 2);
	close(saved);
	lseek(fd, 0, SEEK_SET);
	ssize_t n = read(fd, out, sizeof(out) - 1);
	out[n > 0 ? n : 0] = '\0';
	close(fd);
	unlink(path);
	return out;
}

static void emit_basic(void)
{
	log_set("SESSION", "abc123");
	log_set("REMOTE", "192.0.2.1");
	log_event(LOG_INFO, "deliver", "MSGID", "<x@y>", "SIZE", "1234", NULL);
	log_set("SESSION", NULL);
	log_set("REMOTE", NULL);
}

static void test_stderr_format(void **state)
{
	char *out = capture(emit_basic);
	assert_string_equal(out, "<6>deliver SEALMAIL_SESSION=abc123 SEALMAIL_REMOTE=192.0.2.1 "
	                         "SEALMAIL_MSGID=<x@y> SEALMAIL_SIZE=1234\n");
}

static void emit_hostile(void)
{
	log_event(LOG_WARNING, "reject", "REASON", "evil\r\nSEALMAIL_EVENT=forged \"q\"", NULL);
}

static void test_escaping(void **state)
{
	char *out = capture(emit_hostile);
	/* The CRLF cannot start a forged line; quotes are escaped, and so is
	 * '=' inside a quoted value: no forged "KEY=" either. */
	assert_string_equal(out, "<4>reject SEALMAIL_REASON=\"evil\\x0d\\x0aSEALMAIL_EVENT\\x3dforged "
	                         "\\\"q\\\"\"\n");
}

/* Values a client chooses (a user name at LOGIN) that try to make a log
 * reader see another field: " SEALMAIL_REMOTE=" must appear once in each
 * line, where the real field is, and every '=' must end a key. */
static const char *const forged[] = {
    "x\" SEALMAIL_REMOTE=6.6.6.6",
    "x SEALMAIL_REMOTE=6.6.6.6",
    "SEALMAIL_REMOTE=6.6.6.6",
    "x\\\" SEALMAIL_REMOTE=6.6.6.6 \"",
    "\" SEALMAIL_REMOTE=6.6.6.6 SEALMAIL_USER=\"",
    "=",
    "\\",
};

static void emit_forged(void)
{
	log_set("REMOTE", "127.0.0.1");
	for (size_t i = 0; i < sizeof(forged) / sizeof(forged[0]); i++)
		log_event(LOG_NOTICE, "auth-fail", "USER", forged[i], "REASON", forged[i], NULL);
	log_msg(LOG_NOTICE, "%s", forged[0]);
	log_set("REMOTE", NULL);
}

/* Split a text-form line into fields the way a strict reader does: a
 * value is a run of non-blanks, or a quoted string with backslash escapes.
 * Returns the number of fields, each key checked for [A-Z0-9_]. */
static int parse_fields(const char *line, const char **remote_r)
{
	int n = 0;
	const char *p = strchr(line, ' ');
	*remote_r = NULL;
	while (p != NULL && *p == ' ') {
		p++;
		const char *k = p;
		while ((*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '_')
			p++;
		assert_true(p > k && *p == '=');
		if ((size_t)(p - k) == strlen("SEALMAIL_REMOTE") &&
		    strncmp(k, "SEALMAIL_REMOTE", (size_t)(p - k)) == 0)
			*remote_r = p + 1;
		p++;
		if (*p == '"') {
			for (p++; *p != '"'; p++) {
				assert_true(*p != '\0' && *p != '\n' && *p != '=');
				if (*p == '\\')
					p++;
			}
			p++;
		} else {
			while (*p != ' ' && *p != '\n' && *p != '\0') {
				assert_true(*p != '"' && *p != '=' && *p != '\\');
				p++;
			}
		}
		n++;
	}
	assert_true(p != NULL && *p == '\n');
	return n;
}

static void test_forged_fields(void **state)
{
	char *out = capture(emit_forged);
	int lines = 0;
	for (char *line = out; *line != '\0'; lines++) {
		char *nl = strchr(line, '\n');
		assert_non_null(nl);
		const char *remote;
		int fields = parse_fields(line, &remote);
		assert_int_equal(fields, lines < 7 ? 3 : 2);
		assert_non_null(remote);
		assert_int_equal(strncmp(remote, "127.0.0.1 ", 10), 0);
		int seen = 0;
		for (const char *q = line; (q = strstr(q, "SEALMAIL_REMOTE=")) != NULL && q < nl; q++)
			seen++;
		assert_int_equal(seen, 1);
		line = nl + 1;
	}
	assert_int_equal(lines, 8);
}

static void emit_long(void)
{
	char big[1000];
	memset(big, 'A', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	log_event(LOG_INFO, "x", "REASON", big, NULL);
}

static void test_truncation(void **state)
{
	char *out = capture(emit_long);
	assert_true(strlen(out) < LOG_VALUE_MAX + 40);
	assert_non_null(strstr(out, "AAA...\n"));
}

/* Every sticky slot and more fields than an event takes, all at their
 * longest (escaping doubles each quote): the line is whole, bounded, and
 * keeps the first LOG_FIELDS_MAX fields. */
static void emit_widest(void)
{
	char big[1000], key[48]; /* whole: log_set itself cuts keys */
	memset(big, '"', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	for (int i = 0; i < 8; i++) {
		assert_int_equal(fmt_name(key, sizeof(key), "STICKY%d_%s", i,
		                          "KKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKK"),
		                 0);
		log_set(key, big);
	}
	const char *k = "FIELDFIELDFIELDFIELDFIELDFIELDFIELD";
	log_event(LOG_INFO, "wide", k, big, k, big, k, big, k, big, k, big, k, big, k, big, k, big,
	          k, big, k, big, k, big, k, big, k, big, k, big, k, big, k, big, k, big, k, big, k,
	          big, k, big, k, big, k, big, k, big, k, big, k, big, k, big, k, big, k, big, k,
	          big, k, big, k, big, k, big, k, big, k, big, k, big, k, big, k, big, NULL);
	for (int i = 0; i < 8; i++) {
		assert_int_equal(fmt_name(key, sizeof(key), "STICKY%d_%s", i,
		                          "KKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKK"),
		                 0);
		log_set(key, NULL);
	}
}

static void test_widest_event(void **state)
{
	char *out = capture(emit_widest);
	size_t n = strlen(out);
	assert_true(n > 0 && out[n - 1] == '\n');
	assert_non_null(strstr(out, "<6>wide "));
	int fields = 0;
	for (const char *p = out; (p = strstr(p, " SEALMAIL_")) != NULL; p++)
		fields++;
	assert_int_equal(fields, 8 + 32);
	assert_ptr_equal(strchr(out, '\n'), out + n - 1);
}

static void emit_debug(void)
{
	log_event(LOG_DEBUG, "noise", NULL);
	log_msg(LOG_NOTICE, "started %d", 3);
}

/* stderr counts as the journal only when JOURNAL_STREAM is exactly its
 * "DEV:INO" in decimal (systemd.exec(5)). */
static void test_journal_stream(void **state)
{
	char path[] = "/tmp/sealmail-logtest-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	struct stat st;
	assert_int_equal(fstat(fd, &st), 0);
	int saved = dup(2);
	dup2(fd, 2);
	unsetenv("LOG_TARGET");
	char good[64], bad[8][64]; /* two 20-digit numbers and three more bytes fit */
	unsigned long long dev = (unsigned long long)st.st_dev, ino = (unsigned long long)st.st_ino;
	assert_int_equal(fmt_name(good, sizeof(good), "%llu:%llu", dev, ino), 0);
	assert_int_equal(fmt_name(bad[0], sizeof(bad[0]), "+%llu:%llu", dev, ino), 0);
	assert_int_equal(fmt_name(bad[1], sizeof(bad[1]), " %llu:%llu", dev, ino), 0);
	assert_int_equal(fmt_name(bad[2], sizeof(bad[2]), "%llu:%llu ", dev, ino), 0);
	assert_int_equal(fmt_name(bad[3], sizeof(bad[3]), "%llu:%llu:1", dev, ino), 0);
	assert_int_equal(fmt_name(bad[4], sizeof(bad[4]), "%llu:+%llu", dev, ino), 0);
	assert_int_equal(fmt_name(bad[5], sizeof(bad[5]), "%llu%llu", dev, ino), 0);
	assert_int_equal(fmt_name(bad[6], sizeof(bad[6]), "%llu:%llu", dev, ino + 1), 0);
	assert_int_equal(fmt_name(bad[7], sizeof(bad[7]), "%llu:99999999999999999999999", dev), 0);
	setenv("JOURNAL_STREAM", good, 1);
	log_init("test");
	enum log_target with_good = log_target();
	enum log_target with_bad[8];
	for (int i = 0; i < 8; i++) {
		setenv("JOURNAL_STREAM", bad[i], 1);
		log_init("test");
		with_bad[i] = log_target();
	}
	unsetenv("JOURNAL_STREAM");
	dup2(saved, 2);
	close(saved);
	close(fd);
	unlink(path);
	assert_int_equal(with_good, LOG_TARGET_JOURNAL);
	for (int i = 0; i < 8; i++)
		assert_int_equal(with_bad[i], LOG_TARGET_STDERR);
}

static void test_debug_filtered_and_msg(void **state)
{
	unsetenv("SEALMAIL_DEBUG");
	char *out = capture(emit_debug);
	assert_string_equal(out, "<5>message MESSAGE=\"started 3\"\n");
}

static void test_escape_function(void **state)
{
	char out[32];
	log_escape("a\tb\\", out, sizeof(out));
	assert_string_equal(out, "a\\x09b\\\\");
	log_escape("0123456789012345678901234567890123456789", out, sizeof(out));
	assert_true(strlen(out) < sizeof(out));
	assert_non_null(strstr(out, "..."));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_stderr_format),
	    cmocka_unit_test(test_escaping),
	    cmocka_unit_test(test_forged_fields),
	    cmocka_unit_test(test_truncation),
	    cmocka_unit_test(test_widest_event),
	    cmocka_unit_test(test_debug_filtered_and_msg),
	    cmocka_unit_test(test_journal_stream),
	    cmocka_unit_test(test_escape_function),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
