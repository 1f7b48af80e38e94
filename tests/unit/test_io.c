/* SPDX-License-Identifier: AGPL-3.0-or-later */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sys/io.h"
#include "base/timeutil.h"
#include "sys/tls.h"
#include "tlstest.h"

struct pair {
	int s[2];
	struct io io;
};

static int setup(void **state)
{
	struct pair *p = calloc(1, sizeof(*p));
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, p->s) < 0)
		return -1;
	io_init(&p->io, p->s[0], p->s[0], 2000);
	*state = p;
	return 0;
}

static int teardown(void **state)
{
	struct pair *p = *state;
	io_cleanup(&p->io);
	close(p->s[0]);
	if (p->s[1] >= 0)
		close(p->s[1]);
	free(p);
	return 0;
}

static void send_str(struct pair *p, const char *s)
{
	assert_int_equal(write(p->s[1], s, strlen(s)), (ssize_t)strlen(s));
}

static void test_lines(void **state)
{
	struct pair *p = *state;
	char *line;
	size_t len;
	send_str(p, "HELO a\r\nNOOP\r\n\r\n");
	assert_int_equal(io_read_line(&p->io, &line, &len, 100), 1);
	assert_string_equal(line, "HELO a");
	assert_int_equal(len, 6);
	assert_int_equal(io_read_line(&p->io, &line, &len, 100), 1);
	assert_string_equal(line, "NOOP");
	assert_int_equal(io_read_line(&p->io, &line, &len, 100), 1);
	assert_int_equal(len, 0);
}

static void test_overlong_line_refused_then_recovers(void **state)
{
	struct pair *p = *state;
	char *line;
	size_t len;
	char big[5000];
	memset(big, 'x', sizeof(big));
	assert_int_equal(write(p->s[1], big, sizeof(big)), (ssize_t)sizeof(big));
	send_str(p, "\r\nQUIT\r\n");
	assert_int_equal(io_read_line(&p->io, &line, &len, 512), -1);
	assert_int_equal(p->io.err, IO_TOOLONG);
	/* Memory stayed bounded: never more than a chunk plus the limit. */
	assert_true(p->io.in.cap <= 2 * IO_READ_CHUNK + 1024);
	assert_int_equal(io_read_line(&p->io, &line, &len, 512), 1);
	assert_string_equal(line, "QUIT");
}

static void test_exactly_max_is_accepted(void **state)
{
	struct pair *p = *state;
	char *line;
	size_t len;
	char msg[102];
	memset(msg, 'a', 100);
	memcpy(msg + 100, "\r\n", 2);
	assert_int_equal(write(p->s[1], msg, sizeof(msg)), (ssize_t)sizeof(msg));
	assert_int_equal(io_read_line(&p->io, &line, &len, 100), 1);
	assert_int_equal(len, 100);
	memset(msg, 'a', 101);
	msg[101] = '\n'; /* 101 bytes + LF: CR missing too */
	assert_int_equal(write(p->s[1], msg, sizeof(msg)), (ssize_t)sizeof(msg));
	assert_int_equal(io_read_line(&p->io, &line, &len, 100), -1);
}

static void test_missing_crlf(void **state)
{
	struct pair *p = *state;
	char *line;
	size_t len;
	send_str(p, "MAIL FROM:<a@b>\nRCPT TO:<c@d>\r\n");
	assert_int_equal(io_read_line(&p->io, &line, &len, 512), -1);
	assert_int_equal(p->io.err, IO_BARELF);
	assert_int_equal(io_read_line(&p->io, &line, &len, 512), 1);
	assert_string_equal(line, "RCPT TO:<c@d>");
}

static void test_bare_cr(void **state)
{
	struct pair *p = *state;
	char *line;
	size_t len;
	send_str(p, "DATA\rX\r\nNOOP\r\n");
	assert_int_equal(io_read_line(&p->io, &line, &len, 512), -1);
	assert_int_equal(p->io.err, IO_BARECR);
	assert_int_equal(io_read_line(&p->io, &line, &len, 512), 1);
	assert_string_equal(line, "NOOP");
}

static void test_eof_mid_line(void **state)
{
	struct pair *p = *state;
	char *line;
	size_t len;
	send_str(p, "NOOP");
	close(p->s[1]);
	p->s[1] = -1;
	assert_int_equal(io_read_line(&p->io, &line, &len, 512), 0);
	assert_int_equal(p->io.err, IO_EOF);
}

static void test_idle_timeout(void **state)
{
	struct pair *p = *state;
	char *line;
	size_t len;
	io_set_idle(&p->io, 150);
	int64_t t0 = timeutil_mono_ms();
	assert_int_equal(io_read_line(&p->io, &line, &len, 512), -1);
	assert_int_equal(p->io.err, IO_TIMEOUT);
	int64_t dt = timeutil_mono_ms() - t0;
	assert_true(dt >= 140 && dt < 2000);
}

static void test_total_deadline(void **state)
{
	struct pair *p = *state;
	char *line;
	size_t len;
	/* A slow client that sends a byte now and then never hits the idle
	 * timeout; the total deadline still ends the read. */
	pid_t pid = fork();
	if (pid == 0) {
		for (int i = 0; i < 40; i++) {
			if (write(p->s[1], "x", 1) != 1)
				_exit(0);
			usleep(20000);
		}
		_exit(0);
	}
	io_set_idle(&p->io, 1000);
	io_set_deadline(&p->io, 200);
	int64_t t0 = timeutil_mono_ms();
	assert_int_equal(io_read_line(&p->io, &line, &len, 4096), -1);
	assert_int_equal(p->io.err, IO_TIMEOUT);
	assert_true(timeutil_mono_ms() - t0 < 700);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

/* A child that writes one byte every gap_us, n times, on fd. */
static pid_t trickle(int fd, int n, useconds_t gap_us)
{
	pid_t pid = fork();
	if (pid == 0) {
		for (int i = 0; i < n; i++) {
			if (write(fd, "x", 1) != 1)
				_exit(0);
			usleep(gap_us);
		}
		_exit(0);
	}
	return pid;
}

static void test_line_deadline(void **state)
{
	struct pair *p = *state;
	char *line;
	size_t len;
	/* A line trickled a byte every 20 ms never trips the idle timeout;
	 * its deadline, counted from its first byte, ends it. */
	io_set_idle(&p->io, 1000);
	io_set_line_deadline(&p->io, 200);
	int64_t t0 = timeutil_mono_ms();
	pid_t pid = trickle(p->s[1], 100, 20000);
	assert_int_equal(io_read_line(&p->io, &line, &len, 4096), -1);
	assert_int_equal(p->io.err, IO_TIMEOUT);
	assert_int_equal(p->io.expired, IO_LIMIT_LINE);
	int64_t dt = timeutil_mono_ms() - t0;
	assert_true(dt >= 190 && dt < 700);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

static void test_line_deadline_starts_with_the_line(void **state)
{
	struct pair *p = *state;
	char *line;
	size_t len;
	/* Silence before a line is the idle timeout's, not the deadline's: a
	 * line sent whole after 300 ms of silence passes a 200 ms deadline. */
	io_set_idle(&p->io, 1000);
	io_set_line_deadline(&p->io, 200);
	pid_t pid = fork();
	if (pid == 0) {
		usleep(300000);
		_exit(write(p->s[1], "NOOP\r\n", 6) == 6 ? 0 : 1);
	}
	assert_int_equal(io_read_line(&p->io, &line, &len, 512), 1);
	assert_string_equal(line, "NOOP");
	waitpid(pid, NULL, 0);
	/* Every line gets a deadline of its own. */
	send_str(p, "NO");
	usleep(100000);
	send_str(p, "OP\r\n");
	assert_int_equal(io_read_line(&p->io, &line, &len, 512), 1);
}

static void test_idle_is_named(void **state)
{
	struct pair *p = *state;
	char *line;
	size_t len;
	io_set_idle(&p->io, 100);
	io_set_line_deadline(&p->io, 1000);
	io_set_deadline(&p->io, 5000);
	assert_int_equal(io_read_line(&p->io, &line, &len, 512), -1);
	assert_int_equal(p->io.expired, IO_LIMIT_IDLE);
	io_set_idle(&p->io, 1000);
	io_set_deadline(&p->io, 100);
	assert_int_equal(io_read_line(&p->io, &line, &len, 512), -1);
	assert_int_equal(p->io.expired, IO_LIMIT_TOTAL);
}

static void test_transfer_min_rate(void **state)
{
	struct pair *p = *state;
	unsigned char *b;
	/* 50 bytes/s after a 100 ms grace: a byte every 50 ms (20 bytes/s)
	 * falls behind and ends; the idle timeout never would. */
	io_set_idle(&p->io, 1000);
	io_transfer_begin(&p->io, 100, 50);
	int64_t t0 = timeutil_mono_ms();
	pid_t pid = trickle(p->s[1], 100, 50000);
	ssize_t n;
	while ((n = io_peek(&p->io, &b)) > 0)
		io_consume(&p->io, (size_t)n);
	assert_int_equal(n, -1);
	assert_int_equal(p->io.err, IO_TIMEOUT);
	assert_int_equal(p->io.expired, IO_LIMIT_TRANSFER);
	assert_true(timeutil_mono_ms() - t0 < 1500);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	/* Fast enough, it goes on: 1,000 bytes at once buy 20 s. */
	io_transfer_begin(&p->io, 100, 50);
	char big[1000];
	memset(big, 'y', sizeof(big));
	assert_int_equal(write(p->s[1], big, sizeof(big)), (ssize_t)sizeof(big));
	assert_int_equal(io_read_exact(&p->io, big, sizeof(big)), 1);
	usleep(200000);
	assert_int_equal(write(p->s[1], "z", 1), 1);
	assert_int_equal(io_read_exact(&p->io, big, 1), 1);
	io_transfer_end(&p->io);
}

static void test_one_byte_at_a_time(void **state)
{
	struct pair *p = *state;
	char *line;
	size_t len;
	const char *msg = "EHLO client.example\r\nQUIT\r\n";
	pid_t pid = fork();
	if (pid == 0) {
		for (size_t i = 0; msg[i]; i++) {
			if (write(p->s[1], msg + i, 1) != 1)
				_exit(1);
			usleep(1000);
		}
		_exit(0);
	}
	assert_int_equal(io_read_line(&p->io, &line, &len, 512), 1);
	assert_string_equal(line, "EHLO client.example");
	assert_int_equal(io_read_line(&p->io, &line, &len, 512), 1);
	assert_string_equal(line, "QUIT");
	waitpid(pid, NULL, 0);
}

static void test_read_exact_and_write(void **state)
{
	struct pair *p = *state;
	char *line;
	size_t len;
	unsigned char data[10];
	send_str(p, "LIT\r\n0123456789TAIL\r\n");
	assert_int_equal(io_read_line(&p->io, &line, &len, 512), 1);
	assert_int_equal(io_read_exact(&p->io, data, 10), 1);
	assert_memory_equal(data, "0123456789", 10);
	assert_int_equal(io_read_line(&p->io, &line, &len, 512), 1);
	assert_string_equal(line, "TAIL");
	io_printf(&p->io, "%d %s\r\n", 250, "ok");
	assert_int_equal(io_flush(&p->io), 0);
	char got[16] = {0};
	assert_int_equal(read(p->s[1], got, sizeof(got)), 8);
	assert_string_equal(got, "250 ok\r\n");
}

/* STARTTLS: the client pipelines a command after STARTTLS in plaintext
 * (CVE-2011-0411 class); the server must discard it and read only what
 * came through TLS. */
static void test_starttls_discards_pipelined_plaintext(void **state)
{
	struct pair *p = *state;
	char dir[] = "/tmp/sealmail-iotest-XXXXXX", cert[256], key[256];
	assert_non_null(mkdtemp(dir));
	assert_int_equal(tlstest_make_cert(dir, cert, sizeof(cert), key, sizeof(key)), 0);
	const char *err = NULL;
	SSL_CTX *sctx = tls_server_ctx(cert, key, &err);
	assert_non_null(sctx);
	pid_t pid = fork();
	if (pid == 0) {
		/* client */
		struct io c;
		char *l;
		size_t n;
		io_init(&c, p->s[1], p->s[1], 5000);
		const char *inject = "STARTTLS\r\nMAIL FROM:<evil@example>\r\n";
		if (write(p->s[1], inject, strlen(inject)) != (ssize_t)strlen(inject))
			_exit(10);
		if (io_read_line(&c, &l, &n, 512) != 1 || strcmp(l, "220 go ahead") != 0)
			_exit(11);
		SSL_CTX *cctx = tls_client_ctx(0, &err);
		if (io_starttls_client(&c, cctx, "localhost") < 0)
			_exit(12);
		io_puts(&c, "NOOP\r\n");
		if (io_flush(&c) < 0)
			_exit(13);
		if (io_read_line(&c, &l, &n, 512) != 1 || strcmp(l, "250 NOOP over TLS") != 0)
			_exit(14);
		io_cleanup(&c);
		_exit(0);
	}
	char *line;
	size_t len, discarded = 0;
	assert_int_equal(io_read_line(&p->io, &line, &len, 512), 1);
	assert_string_equal(line, "STARTTLS");
	io_puts(&p->io, "220 go ahead\r\n");
	assert_int_equal(io_flush(&p->io), 0);
	assert_int_equal(io_starttls(&p->io, sctx, &discarded), 0);
	assert_int_equal(discarded, strlen("MAIL FROM:<evil@example>\r\n"));
	assert_true(io_is_tls(&p->io));
	assert_int_equal(io_read_line(&p->io, &line, &len, 512), 1);
	assert_string_equal(line, "NOOP");
	io_puts(&p->io, "250 NOOP over TLS\r\n");
	assert_int_equal(io_flush(&p->io), 0);
	char desc[128];
	assert_non_null(strstr(io_tls_desc(&p->io, desc, sizeof(desc)), "TLS"));
	int status;
	waitpid(pid, &status, 0);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	SSL_CTX_free(sctx);
	unlink(cert);
	unlink(key);
	rmdir(dir);
}

/* A client that speaks plaintext where TLS is expected gets a TLS error,
 * not a hang. */
static void test_tls_garbage_handshake(void **state)
{
	struct pair *p = *state;
	char dir[] = "/tmp/sealmail-iotest-XXXXXX", cert[256], key[256];
	assert_non_null(mkdtemp(dir));
	assert_int_equal(tlstest_make_cert(dir, cert, sizeof(cert), key, sizeof(key)), 0);
	const char *err = NULL;
	SSL_CTX *sctx = tls_server_ctx(cert, key, &err);
	assert_non_null(sctx);
	send_str(p, "EHLO not-tls\r\nMAIL FROM:<x@y>\r\n");
	assert_int_equal(io_starttls(&p->io, sctx, NULL), -1);
	assert_true(p->io.err == IO_TLSERR || p->io.err == IO_EOF);
	SSL_CTX_free(sctx);
	unlink(cert);
	unlink(key);
	rmdir(dir);
}

static void test_tls_ctx_errors(void **state)
{
	const char *err = NULL;
	assert_null(tls_server_ctx("/nonexistent/cert.pem", "/nonexistent/key.pem", &err));
	assert_non_null(strstr(err, "/nonexistent/cert.pem"));
	unsetenv("CREDENTIALS_DIRECTORY");
	assert_null(tls_server_ctx("tls.crt", "tls.key", &err));
	assert_non_null(strstr(err, "CREDENTIALS_DIRECTORY"));
	char path[256];
	setenv("CREDENTIALS_DIRECTORY", "/run/credentials/x", 1);
	assert_int_equal(tls_resolve_path("tls.key", path, sizeof(path), &err), 0);
	assert_string_equal(path, "/run/credentials/x/tls.key");
	assert_int_equal(tls_resolve_path("../etc/shadow", path, sizeof(path), &err), -1);
}

/* A peer that never reads: the queue stays bounded (each write beyond 64
 * KiB waits for the peer), and once a flush fails write_failed tells a
 * long writer to stop. */
static void test_write_to_a_peer_that_never_reads(void **state)
{
	struct pair *p = *state;
	static unsigned char chunk[16384];
	io_set_idle(&p->io, 100);
	assert_false(p->io.write_failed);
	for (int i = 0; i < 256 && !p->io.write_failed; i++) {
		io_write(&p->io, chunk, sizeof(chunk));
		assert_true(p->io.out.len < 65536 + sizeof(chunk));
	}
	assert_true(p->io.write_failed);
	assert_int_equal(p->io.err, IO_TIMEOUT);
	assert_int_equal(p->io.out.len, 0);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_lines, setup, teardown),
		cmocka_unit_test_setup_teardown(test_overlong_line_refused_then_recovers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_exactly_max_is_accepted, setup, teardown),
		cmocka_unit_test_setup_teardown(test_missing_crlf, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bare_cr, setup, teardown),
		cmocka_unit_test_setup_teardown(test_eof_mid_line, setup, teardown),
		cmocka_unit_test_setup_teardown(test_idle_timeout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_total_deadline, setup, teardown),
		cmocka_unit_test_setup_teardown(test_line_deadline, setup, teardown),
		cmocka_unit_test_setup_teardown(test_line_deadline_starts_with_the_line, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_idle_is_named, setup, teardown),
		cmocka_unit_test_setup_teardown(test_transfer_min_rate, setup, teardown),
		cmocka_unit_test_setup_teardown(test_one_byte_at_a_time, setup, teardown),
		cmocka_unit_test_setup_teardown(test_read_exact_and_write, setup, teardown),
		cmocka_unit_test_setup_teardown(test_starttls_discards_pipelined_plaintext, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_tls_garbage_handshake, setup, teardown),
		cmocka_unit_test(test_tls_ctx_errors),
		cmocka_unit_test_setup_teardown(test_write_to_a_peer_that_never_reads, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
