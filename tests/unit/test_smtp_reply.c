/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* The SMTP engine's reply catalogue (handlers/smtpd/smtp_reply.c, compiled
 * in here: the engine is not part of libsealmail): every reply has a text of
 * the right shape, and the replies with variable parts keep their bytes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <ctype.h>
#include <string.h>

#include "../../handlers/smtpd/smtp_reply.c"

/* smtp_session.c's, for the greeting. */
bool smtp_session_lmtp(const struct smtp_sess *s)
{
	return s->srv->mode == SMTP_MODE_LMTP;
}

/* RFC 5321 section 4.2: three digits and a space; RFC 3463 section 2: an
 * enhanced code "class.subject.detail" whose class is the reply's first
 * digit, in every 2yz, 4yz and 5yz reply (RFC 2034 section 4). */
static void test_every_reply_well_formed(void **state)
{
	for (int id = SMTP_R_NONE; id < SMTP_R_COUNT; id++) {
		const char *t = smtp_reply_texts[id];
		assert_non_null(t);
		assert_ptr_equal(smtp_reply_text((enum smtp_reply_id)id), t);
		assert_true(isdigit((unsigned char)t[0]) && isdigit((unsigned char)t[1]) &&
		            isdigit((unsigned char)t[2]) && t[3] == ' ');
		assert_true(strchr("2345", t[0]) != NULL);
		if (t[0] == '3')
			continue; /* 354: no enhanced code */
		assert_int_equal(t[4], t[0]);
		assert_int_equal(t[5], '.');
		const char *p = t + 6;
		size_t n = strspn(p, "0123456789");
		assert_true(n >= 1 && n <= 3 && p[n] == '.');
		p += n + 1;
		n = strspn(p, "0123456789");
		assert_true(n >= 1 && n <= 3 && p[n] == ' ');
	}
	assert_string_equal(smtp_reply_text(SMTP_R_COUNT), smtp_reply_texts[SMTP_R_NONE]);
}

struct fixture {
	struct conf conf;
	struct smtp_server srv;
	struct smtp_sess s;
};

static void fixture_init(struct fixture *f, enum smtp_mode mode)
{
	memset(f, 0, sizeof(*f));
	static char host[] = "mx.example.test";
	f->conf.hostname = host;
	f->conf.max_message_size = 1000;
	f->srv.mode = mode;
	f->srv.conf = &f->conf;
	f->s.srv = &f->srv;
	io_init(&f->s.io, -1, -1, 0);
	memcpy(f->s.queue_id, "0123456789abcdef", 17);
}

static void assert_out(struct fixture *f, const char *want)
{
	assert_int_equal(f->s.io.out.len, strlen(want));
	assert_memory_equal(f->s.io.out.data, want, strlen(want));
	f->s.io.out.len = 0;
}

static void test_formatted_replies(void **state)
{
	struct fixture f;
	fixture_init(&f, SMTP_MODE_MX);
	smtp_reply_greeting(&f.s);
	assert_out(&f, "220 mx.example.test ESMTP sealmail\r\n");
	smtp_reply_helo(&f.s);
	assert_out(&f, "250 mx.example.test\r\n");
	f.s.esmtp = true;
	smtp_reply_helo(&f.s);
	assert_out(&f, "250-mx.example.test\r\n250-PIPELINING\r\n250-SIZE 1000\r\n"
	               "250-ENHANCEDSTATUSCODES\r\n250-8BITMIME\r\n250-DSN\r\n"
	               "250-CHUNKING\r\n250 SMTPUTF8\r\n");
	smtp_reply_queued(&f.s);
	assert_out(&f, "250 2.0.0 Ok: queued as 0123456789abcdef\r\n");
	smtp_reply_chunk(&f.s, 42);
	assert_out(&f, "250 2.0.0 42 octets received\r\n");
	smtp_reply_quit(&f.s);
	assert_out(&f, "221 2.0.0 mx.example.test closing connection\r\n");
	smtp_reply_timeout(&f.s);
	assert_out(&f, "421 4.4.2 mx.example.test Error: timeout exceeded\r\n");
	smtp_reply_limit(&f.s, IO_LIMIT_IDLE);
	assert_out(&f, "421 4.4.2 mx.example.test Error: timeout exceeded\r\n");
	smtp_reply_limit(&f.s, IO_LIMIT_LINE);
	assert_out(&f, "421 4.4.2 mx.example.test Error: command not completed in time\r\n");
	smtp_reply_limit(&f.s, IO_LIMIT_TRANSFER);
	assert_out(&f, "421 4.4.2 mx.example.test Error: message data arriving too slowly\r\n");
	smtp_reply_limit(&f.s, IO_LIMIT_TOTAL);
	assert_out(&f, "421 4.4.2 mx.example.test Error: session time limit exceeded\r\n");
	smtp_reply_junk(&f.s);
	assert_out(&f, "421 4.7.0 mx.example.test Error: too many junk commands\r\n");
	char busy[320];
	assert_string_equal(smtp_reply_busy(&f.conf, busy, sizeof(busy)),
	                    "421 4.7.0 mx.example.test Error: too many connections from your "
	                    "address\r\n");
	/* Too small for the host name: the code and a shorter text still go. */
	assert_string_equal(smtp_reply_busy(&f.conf, busy, 48),
	                    "421 4.7.0 Error: too many connections\r\n");
	smtp_reply(&f.s, SMTP_R_OK);
	assert_out(&f, "250 2.0.0 Ok\r\n");
	io_cleanup(&f.s.io);
}

static void test_lmtp_replies(void **state)
{
	struct fixture f;
	fixture_init(&f, SMTP_MODE_LMTP);
	smtp_reply_greeting(&f.s);
	assert_out(&f, "220 mx.example.test LMTP sealmail\r\n");
	smtp_reply_lmtp_ok(&f.s, "a@example.test", true);
	assert_out(&f, "250 2.0.0 <a@example.test> 0123456789abcdef Saved\r\n");
	smtp_reply_lmtp_ok(&f.s, "a@example.test", false);
	assert_out(&f, "250 2.0.0 <a@example.test> 0123456789abcdef Ok\r\n");
	smtp_reply_lmtp_fail(&f.s, "a@example.test", "452 4.2.2 Mailbox full");
	assert_out(&f, "452 <a@example.test> 4.2.2 Mailbox full\r\n");
	io_cleanup(&f.s.io);
}

/* The refusal of a whole message: one line in SMTP; in LMTP one per
 * accepted recipient (RFC 2033 section 4.2), or the client waits forever. */
static void test_refuse_message(void **state)
{
	struct fixture f;
	struct smtp_rcpt rcpts[2];
	memset(rcpts, 0, sizeof(rcpts));
	memcpy(rcpts[0].addr, "a@example.test", 15);
	memcpy(rcpts[1].addr, "b@example.test", 15);
	fixture_init(&f, SMTP_MODE_MX);
	f.s.rcpts = rcpts;
	f.s.nrcpts = 2;
	smtp_reply_refuse_message(&f.s, SMTP_R_NUL_IN_MSG, "data");
	assert_out(&f, "554 5.6.0 Message contains a NUL byte (RFC 5322 section 3.5)\r\n");
	io_cleanup(&f.s.io);
	fixture_init(&f, SMTP_MODE_LMTP);
	f.s.rcpts = rcpts;
	f.s.nrcpts = 2;
	smtp_reply_refuse_message(&f.s, SMTP_R_NUL_IN_MSG, "data");
	assert_out(&f, "554 <a@example.test> 5.6.0 Message contains a NUL byte (RFC 5322 section "
	               "3.5)\r\n554 <b@example.test> 5.6.0 Message contains a NUL byte (RFC 5322 "
	               "section 3.5)\r\n");
	io_cleanup(&f.s.io);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_every_reply_well_formed),
	    cmocka_unit_test(test_formatted_replies),
	    cmocka_unit_test(test_lmtp_replies),
	    cmocka_unit_test(test_refuse_message),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
