/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* The milter client: framing, option negotiation, reply parsing, message
 * editing, the milter list syntax, and whole sessions against a scripted
 * milter on the other end of a socketpair. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <cmocka.h>

#include "base/buf.h"
#include "sys/conf.h"
#include "svc/milter.h"

/* ---- framing --------------------------------------------------------------- */

static void test_frame_roundtrip_byte_by_byte(void **state)
{
	struct buf b = BUF_INIT;
	milter_frame_put(&b, 'H', "mx.example\0", 11);
	milter_frame_put(&b, 'Q', NULL, 0);
	assert_int_equal(b.len, 5 + 11 + 5);
	assert_memory_equal(b.data, "\0\0\0\x0cHmx.example\0\0\0\0\x01Q", b.len);
	struct milter_frame f;
	size_t used;
	/* Every prefix shorter than the first frame asks for more. */
	for (size_t n = 0; n < 16; n++)
		assert_int_equal(milter_frame_parse(b.data, n, 100, &f, &used), 0);
	assert_int_equal(milter_frame_parse(b.data, b.len, 100, &f, &used), 1);
	assert_int_equal(used, 16);
	assert_int_equal(f.cmd, 'H');
	assert_int_equal(f.len, 11);
	assert_memory_equal(f.data, "mx.example", 11);
	assert_int_equal(milter_frame_parse(b.data + used, b.len - used, 100, &f, &used), 1);
	assert_int_equal(f.cmd, 'Q');
	assert_int_equal(f.len, 0);
	buf_free(&b);
}

static void test_frame_bad_lengths(void **state)
{
	struct milter_frame f;
	size_t used;
	/* Zero: no room for the command byte. */
	assert_int_equal(milter_frame_parse((const unsigned char *)"\0\0\0\0", 4, 100, &f, &used),
			 -1);
	/* Longer than the limit: refused from the length alone. */
	assert_int_equal(milter_frame_parse((const unsigned char *)"\0\0\0\x66", 4, 100, &f, &used),
			 -1);
	assert_int_equal(milter_frame_parse((const unsigned char *)"\xff\xff\xff\xff", 4,
					    MILTER_FRAME_MAX, &f, &used),
			 -1);
	assert_int_equal(milter_frame_parse((const unsigned char *)"\0\0\0\x65", 4, 100, &f, &used),
			 0);
}

/* ---- option negotiation ---------------------------------------------------- */

static void test_optneg(void **state)
{
	struct buf b = BUF_INIT;
	milter_optneg_put(&b, 6, MILTER_F_OFFERED, MILTER_P_OFFERED);
	assert_memory_equal(b.data, "\0\0\0\x0dO\0\0\0\x06\0\0\x01\xff\0\x1f\xf7\xff", 17);
	buf_free(&b);

	static const unsigned char ok[] = "\0\0\0\x06\0\0\0\x21\0\0\0\x10"
					  "\0\0\0\x00{client_addr} j\0"
					  "\0\0\0\x05i\0";
	struct milter_frame f = {'O', ok, sizeof(ok) - 1};
	struct milter_optneg o;
	assert_int_equal(milter_optneg_parse(&f, &o), 1);
	assert_int_equal(o.version, 6);
	assert_int_equal(o.actions, 0x21);
	assert_int_equal(o.protocol, 0x10);
	assert_string_equal(o.macros[MILTER_STAGE_CONNECT], "{client_addr} j");
	assert_string_equal(o.macros[MILTER_STAGE_EOM], "i");
	assert_null(o.macros[MILTER_STAGE_HELO]);
	milter_optneg_clear(&o);

	static const struct {
		const char *d;
		size_t n;
	} bad[] = {
		{"\0\0\0\x06\0\0\0\0\0\0\0", 11},                   /* short */
		{"\0\0\0\x06\0\0\0\0\0\0\0\0\0\0\0\x07j\0", 18},    /* stage 7 */
		{"\0\0\0\x06\0\0\0\0\0\0\0\0\0\0\0\x01j", 17},      /* no NUL */
		{"\0\0\0\x06\0\0\0\0\0\0\0\0\0\0\0\x01j\0\0\0\0\x01i\0", 24}, /* twice */
		{"\0\0\0\x06\0\0\0\0\0\0\0\0\0\0", 14},             /* stray bytes */
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct milter_frame g = {'O', (const unsigned char *)bad[i].d, bad[i].n};
		assert_int_equal(milter_optneg_parse(&g, &o), -1);
	}
	struct milter_frame g = {'c', ok, sizeof(ok) - 1};
	assert_int_equal(milter_optneg_parse(&g, &o), -1);
}

/* ---- replies --------------------------------------------------------------- */

static int parse(unsigned char cmd, const char *data, size_t len, struct milter_reply *r)
{
	struct milter_frame f = {cmd, (const unsigned char *)data, len};
	return milter_reply_parse(&f, r);
}

static void test_reply_shapes(void **state)
{
	struct milter_reply r;
	assert_int_equal(parse('c', "", 0, &r), 1);
	assert_int_equal(parse('a', "x", 1, &r), -1); /* verdicts carry no data */
	assert_int_equal(parse('Z', "", 0, &r), -1);
	assert_int_equal(parse('h', "X-A\0v\0", 6, &r), 1);
	assert_string_equal(r.name, "X-A");
	assert_string_equal(r.value, "v");
	assert_int_equal(parse('h', "X A\0v\0", 6, &r), -1);  /* space in name */
	assert_int_equal(parse('h', "X:A\0v\0", 6, &r), -1);  /* colon in name */
	assert_int_equal(parse('h', "\0v\0", 3, &r), -1);     /* empty name */
	assert_int_equal(parse('h', "X-A\0v", 5, &r), -1);    /* no final NUL */
	assert_int_equal(parse('h', "X-A\0v\0w\0", 8, &r), -1); /* one string too many */
	assert_int_equal(parse('m', "\0\0\0\x02Subject\0\0", 13, &r), 1);
	assert_int_equal(r.index, 2);
	assert_string_equal(r.value, "");
	assert_int_equal(parse('i', "\0\0\0", 3, &r), -1);
	assert_int_equal(parse('+', "<a@b.example>\0", 14, &r), 1);
	assert_string_equal(r.addr, "a@b.example");
	assert_int_equal(parse('-', "a@b.example\0", 12, &r), 1);
	assert_string_equal(r.addr, "a@b.example");
	assert_int_equal(parse('+', "<>\0", 3, &r), -1);
	assert_int_equal(parse('+', "<a b@c>\0", 8, &r), -1);
	assert_int_equal(parse('+', "a\r\n@c\0", 6, &r), -1);
	assert_int_equal(parse('e', "<>\0", 3, &r), 1); /* null sender */
	assert_string_equal(r.addr, "");
	assert_int_equal(parse('2', "<a@b>\0NOTIFY=NEVER\0", 19, &r), 1);
	assert_int_equal(r.nargs, 1);
	assert_int_equal(parse('q', "spam\0", 5, &r), 1);
	assert_string_equal(r.value, "spam");
	assert_int_equal(parse('b', "any\0bytes", 9, &r), 1);
	assert_int_equal(r.body_len, 9);
	char big[400];
	memset(big, 'a', sizeof(big));
	big[0] = '<';
	big[sizeof(big) - 2] = '>';
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(parse('+', big, sizeof(big), &r), -1); /* longer than a path */
}

static int text(const char *in, char *out)
{
	return milter_reply_text((const unsigned char *)in, strlen(in) + 1, out, MILTER_REPLY_MAX);
}

static void test_reply_text(void **state)
{
	char out[MILTER_REPLY_MAX];
	assert_int_equal(text("550 5.7.1 Go away", out), 1);
	assert_string_equal(out, "550 5.7.1 Go away");
	assert_int_equal(text("550 Go away", out), 1);
	assert_string_equal(out, "550 5.7.1 Go away");
	assert_int_equal(text("451 5.1.1 wrong class", out), 1);
	assert_string_equal(out, "451 4.1.1 wrong class");
	assert_int_equal(text("550 ", out), 1);
	assert_string_equal(out, "550 5.7.1");
	assert_int_equal(text("550 5.7.1", out), 1);
	assert_string_equal(out, "550 5.7.1");
	assert_int_equal(text("554 5.7.1 100%% spam", out), 1);
	assert_string_equal(out, "554 5.7.1 100% spam");
	assert_int_equal(text("550 5.7.1 tab\there", out), 1);
	assert_string_equal(out, "550 5.7.1 tab here");
	/* smfi_setmlreply */
	assert_int_equal(text("550-5.7.1 one\r\n550-5.7.1 two\r\n550 5.7.1 three", out), 1);
	assert_string_equal(out, "550-5.7.1 one\r\n550-5.7.1 two\r\n550 5.7.1 three");
	/* separators repaired */
	assert_int_equal(text("550 one\r\n550-two", out), 1);
	assert_string_equal(out, "550-5.7.1 one\r\n550 5.7.1 two");
	static const char *bad[] = {
		"250 2.0.0 fine",        "650 x",          "55 x",        "5x0 x",
		"550-a\r\n551 b",        "550 a\nb",       "550 a\rb",    "550 a\r\n",
		"550x",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(text(bad[i], out), -1);
	assert_int_equal(milter_reply_text((const unsigned char *)"550 a", 5, out, sizeof(out)), -1);
	/* A long line is cut to fit an SMTP reply line (RFC 5321 4.5.3.1.5). */
	char lng[1200] = "550 5.7.1 ";
	memset(lng + 10, 'x', sizeof(lng) - 11);
	lng[sizeof(lng) - 1] = '\0';
	assert_int_equal(text(lng, out), 1);
	assert_int_equal(strlen(out), MILTER_REPLY_LINE_MAX);
}

/* ---- message editing --------------------------------------------------------- */

static void render(const struct milter_msg *m, struct buf *b)
{
	buf_reset(b);
	milter_msg_render(m, b);
	buf_cstr(b);
}

static void test_msg_identity(void **state)
{
	static const char *msgs[] = {
		"From: a\r\nSubject: x\r\n\tfolded\r\n\r\nbody\r\n",
		"Subject : obs space\r\n\r\n",
		"From: a\r\n",
		"From: a",
		"not a header line\r\nFrom: a\r\n\r\nx",
		"\r\nno header at all\r\n",
		"",
		"From: a\nTo: b\n\nLF only\n",
	};
	struct buf b = BUF_INIT;
	for (size_t i = 0; i < sizeof(msgs) / sizeof(msgs[0]); i++) {
		struct milter_msg m;
		milter_msg_init(&m, (const unsigned char *)msgs[i], strlen(msgs[i]));
		render(&m, &b);
		assert_int_equal(b.len, strlen(msgs[i]));
		assert_memory_equal(b.data, msgs[i], b.len);
		assert_false(m.changed);
		milter_msg_clear(&m);
	}
	buf_free(&b);
}

static void test_msg_values(void **state)
{
	const char *s = "Subject:  two spaces\r\nX-F: a\r\n\tb\r\nEmpty:\r\n\r\nbody";
	struct milter_msg m;
	struct buf v = BUF_INIT;
	milter_msg_init(&m, (const unsigned char *)s, strlen(s));
	assert_int_equal(m.nf, 3);
	milter_msg_value(&m, 0, false, &v);
	assert_string_equal((char *)v.data, "two spaces");
	milter_msg_value(&m, 0, true, &v);
	assert_string_equal((char *)v.data, "  two spaces");
	milter_msg_value(&m, 1, false, &v);
	assert_string_equal((char *)v.data, "a\n\tb"); /* folds reach milters as LF */
	milter_msg_value(&m, 2, false, &v);
	assert_string_equal(buf_cstr(&v), "");
	size_t bl;
	const unsigned char *body = milter_msg_body(&m, &bl);
	assert_int_equal(bl, 4);
	assert_memory_equal(body, "body", 4);
	/* The first line that is neither a field nor a continuation starts the
	 * body (no separator). */
	const char *t = "A: 1\r\nnot a field\r\nB: 2\r\n";
	milter_msg_clear(&m);
	milter_msg_init(&m, (const unsigned char *)t, strlen(t));
	assert_int_equal(m.nf, 1);
	body = milter_msg_body(&m, &bl);
	assert_int_equal(bl, strlen(t) - 6);
	milter_msg_clear(&m);
	buf_free(&v);
}

static void test_msg_edits(void **state)
{
	const char *s = "From: a\r\nSubject: one\r\nX-Tag: 1\r\nSubject: two\r\nX-Tag: 2\r\n\r\nbody\r\n";
	struct milter_msg m;
	struct buf b = BUF_INIT;
	milter_msg_init(&m, (const unsigned char *)s, strlen(s));
	milter_msg_add(&m, "X-Added", "v", false);
	milter_msg_insert(&m, 0, "X-Top", "t", false);
	milter_msg_insert(&m, 99, "X-End", "e", false);
	milter_msg_change(&m, 2, "subject", "second", false); /* any case, 1-based, name kept */
	milter_msg_change(&m, 0, "X-Tag", "", false);          /* 0 = 1: delete the first */
	milter_msg_change(&m, 5, "X-Tag", "", false);          /* none: nothing */
	milter_msg_change(&m, 1, "X-Missing", "new", false);   /* none: added */
	milter_msg_add(&m, "X-Lead", " kept as is", true);     /* SMFIP_HDR_LEADSPC */
	milter_msg_add(&m, "X-Fold", "a\nb\r\n\tc\n", false);  /* line break without WSP */
	render(&m, &b);
	assert_string_equal((char *)b.data, "X-Top: t\r\nFrom: a\r\nSubject: one\r\n"
					     "Subject: second\r\nX-Tag: 2\r\nX-Added: v\r\n"
					     "X-End: e\r\nX-Missing: new\r\nX-Lead: kept as is\r\n"
					     "X-Fold: a\r\n b\r\n\tc\r\n\r\nbody\r\n");
	assert_true(m.changed);
	milter_msg_clear(&m);

	/* A message that is only a header without a final line ending. */
	const char *h = "From: a";
	milter_msg_init(&m, (const unsigned char *)h, strlen(h));
	milter_msg_add(&m, "X-B", "b", false);
	render(&m, &b);
	assert_string_equal((char *)b.data, "From: a\r\nX-B: b\r\n");
	milter_msg_set_body(&m, (const unsigned char *)"x\ny\rz\r\n", 7);
	render(&m, &b);
	assert_string_equal((char *)b.data, "From: a\r\nX-B: b\r\n\r\nx\r\ny\r\nz\r\n");
	milter_msg_clear(&m);

	/* An empty value with only a bare CR stays on one line. */
	milter_msg_init(&m, (const unsigned char *)"\r\n", 2);
	milter_msg_add(&m, "X-CR", "a\rb", false);
	render(&m, &b);
	assert_string_equal((char *)b.data, "X-CR: a b\r\n\r\n");
	milter_msg_clear(&m);
	buf_free(&b);
}

/* ---- the milter list ----------------------------------------------------------- */

static void test_spec(void **state)
{
	struct conf *c = conf_new();
	struct milter_spec sp[MILTER_LIST_MAX];
	size_t n;
	const char *err = NULL;
	c->milter_default_action = CONF_MILTER_TEMPFAIL;
	assert_int_equal(milter_spec_parse("", c, sp, MILTER_LIST_MAX, &n, &err), 0);
	assert_int_equal(n, 0);
	assert_int_equal(milter_spec_parse("inet:127.0.0.1:8891, unix:/run/m.sock\tinet:[::1]:25",
					   c, sp, MILTER_LIST_MAX, &n, &err),
			 0);
	assert_int_equal(n, 3);
	assert_string_equal(sp[1].endpoint, "unix:/run/m.sock");
	assert_int_equal(sp[0].command_timeout_ms, c->milter_command_timeout_ms);
	assert_int_equal(milter_spec_parse("{ inet:10.0.0.1:1, default_action = accept, "
					   "command_timeout=2s,content_timeout =5m } inet:10.0.0.2:2",
					   c, sp, MILTER_LIST_MAX, &n, &err),
			 0);
	assert_int_equal(n, 2);
	assert_int_equal(sp[0].default_action, CONF_MILTER_ACCEPT);
	assert_int_equal(sp[0].command_timeout_ms, 2000);
	assert_int_equal(sp[0].content_timeout_ms, 300000);
	assert_int_equal(sp[1].default_action, CONF_MILTER_TEMPFAIL);
	static const char *bad[] = {
		"inet:10.0.0.1",      "inet:10.0.0.1:0", "inet:10.0.0.1:70000", "inet:::1:25",
		"inet:localhost:25",  "inet:[10.0.0.1]:25", "inet:[localhost]:25",
		"unix:relative",      "tcp:10.0.0.1:1",  "{ inet:10.0.0.1:1", "inet:10.0.0.1:1 }",
		"{ }",                "{ inet:10.0.0.1:1, x=1 }",
		"{ inet:10.0.0.1:1, default_action=maybe }",
		"{ inet:10.0.0.1:1, command_timeout=0 }",
		"{ inet:10.0.0.1:1 { inet:10.0.0.1:2 } }",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err = NULL;
		assert_int_equal(milter_spec_parse(bad[i], c, sp, MILTER_LIST_MAX, &n, &err), -1);
		assert_non_null(err);
	}
	uint16_t ports[4];
	assert_int_equal(milter_tcp_ports("inet:10.0.0.1:10 unix:/x { inet:[::1]:11, default_action=accept }",
					  c, ports, 4),
			 2);
	assert_int_equal(ports[0], 10);
	assert_int_equal(ports[1], 11);
	conf_free(&c);
}

/* ---- sessions against a scripted milter -------------------------------------------- */

/* The milter side: reads packets, logs their commands, answers through
 * a script function. */
struct peer {
	int fd;
	int lfd; /* a listening socket to accept fd from (peer_accept_main) */
	pthread_t th;
	/* returns false to stop serving */
	bool (*script)(struct peer *p, unsigned char cmd, const unsigned char *d, size_t n);
	struct buf log;   /* one letter per command received */
	struct buf macros; /* the last SMFIC_MACRO, NULs as '|' */
	struct buf all_macros; /* every SMFIC_MACRO, each ending with '#' */
	struct buf connect, header_values, body;
	uint32_t actions, protocol;
	const char *symlist; /* connect-stage macro list, or NULL */
	uint32_t version;    /* in the SMFIC_OPTNEG reply; 0: 6 */
	int chunks;
	int mode;
};

static void peer_send(struct peer *p, unsigned char cmd, const void *d, size_t n)
{
	struct buf b = BUF_INIT;
	milter_frame_put(&b, cmd, d, n);
	/* No cmocka assertion in this thread: a short write shows up as a
	 * failure on the MTA side. */
	ssize_t w = send(p->fd, b.data, b.len, MSG_NOSIGNAL);
	(void)w;
	buf_free(&b);
}

/* A packet whose data is a string literal (its final NUL not counted:
 * literals spell their NULs out). */
#define SEND(p, cmd, lit) peer_send((p), (cmd), (lit), sizeof(lit) - 1)

static bool peer_optneg(struct peer *p, unsigned char cmd)
{
	if (cmd != 'O')
		return false;
	unsigned char d[64];
	uint32_t v[3] = {p->version ? p->version : 6, p->actions, p->protocol};
	for (int i = 0; i < 3; i++) {
		d[4 * i] = (unsigned char)(v[i] >> 24);
		d[4 * i + 1] = (unsigned char)(v[i] >> 16);
		d[4 * i + 2] = (unsigned char)(v[i] >> 8);
		d[4 * i + 3] = (unsigned char)v[i];
	}
	size_t n = 12;
	if (p->symlist != NULL) {
		memset(d + 12, 0, 4); /* SMFIM_CONNECT */
		memcpy(d + 16, p->symlist, strlen(p->symlist) + 1);
		n = 16 + strlen(p->symlist) + 1;
	}
	peer_send(p, 'O', d, n);
	return true;
}

static void *peer_main(void *arg)
{
	struct peer *p = arg;
	struct buf in = BUF_INIT;
	for (;;) {
		struct milter_frame f;
		size_t used;
		int r = milter_frame_parse(in.data, in.len, MILTER_FRAME_MAX, &f, &used);
		if (r == 1) {
			buf_append_byte(&p->log, f.cmd);
			if (f.cmd == 'D') {
				buf_reset(&p->macros);
				for (size_t i = 0; i < f.len; i++)
					buf_append_byte(&p->macros, f.data[i] ? f.data[i] : '|');
				buf_append(&p->all_macros, p->macros.data, p->macros.len);
				buf_append_byte(&p->all_macros, '#');
			} else if (f.cmd == 'C') {
				buf_append(&p->connect, f.data, f.len);
			} else if (f.cmd == 'L') {
				const char *v = (const char *)f.data + strlen((const char *)f.data) + 1;
				buf_append_str(&p->header_values, v);
				buf_append_byte(&p->header_values, '|');
			} else if (f.cmd == 'B') {
				buf_append(&p->body, f.data, f.len);
			}
			bool go = f.cmd == 'O' ? peer_optneg(p, f.cmd)
					       : (f.cmd == 'D' || f.cmd == 'A' || f.cmd == 'Q' ||
						  p->script(p, f.cmd, f.data, f.len));
			buf_consume(&in, used);
			if (!go || f.cmd == 'Q')
				break;
			continue;
		}
		unsigned char tmp[70000];
		ssize_t n = read(p->fd, tmp, sizeof(tmp));
		if (n <= 0)
			break;
		buf_append(&in, tmp, (size_t)n);
	}
	buf_free(&in);
	close(p->fd);
	return NULL;
}

static struct milters *start(struct peer *p, struct conf *c, const char *extra)
{
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	char spec[200];
	snprintf(spec, sizeof(spec), "{ inet:127.0.0.1:9%s }", extra ? extra : "");
	const char *err;
	struct milters *ms = milters_new(spec, c, &err);
	assert_non_null(ms);
	milters_set_fd(ms, 0, sv[0]);
	p->fd = sv[1];
	assert_int_equal(pthread_create(&p->th, NULL, peer_main, p), 0);
	return ms;
}

static void finish(struct peer *p, struct milters **ms)
{
	milters_free(ms);
	assert_null(*ms);
	pthread_join(p->th, NULL);
}

static void peer_clear(struct peer *p)
{
	buf_free(&p->log);
	buf_free(&p->macros);
	buf_free(&p->all_macros);
	buf_free(&p->connect);
	buf_free(&p->header_values);
	buf_free(&p->body);
}

static const struct milter_client client = {
	.daemon_name = "smtpd",
	.hostname = "mx.example.test",
	.client_addr = "192.0.2.1",
	.client_port = "2525",
};

static bool script_continue(struct peer *p, unsigned char cmd, const unsigned char *d, size_t n)
{
	peer_send(p, 'c', NULL, 0);
	return true;
}

static void test_session_negotiation_macros_connect(void **state)
{
	struct conf *c = conf_new();
	struct peer p = {.script = script_continue, .symlist = "{client_addr} j"};
	struct milters *ms = start(&p, c, NULL);
	struct milter_answer a;
	assert_int_equal(milters_connect(ms, &client, &a), MILTER_CONTINUE);
	assert_int_equal(milters_helo(ms, "client.example", NULL, NULL, &a), MILTER_CONTINUE);
	finish(&p, &ms);
	assert_string_equal(buf_cstr(&p.log), "ODCHQ");
	/* Only the macros the milter asked for; none for HELO without TLS. */
	assert_string_equal(buf_cstr(&p.macros), "Cj|mx.example.test|{client_addr}|192.0.2.1|");
	assert_int_equal(p.connect.len, 12 + 1 + 2 + 10);
	assert_memory_equal(p.connect.data, "[192.0.2.1]\0" "4\x09\xdd" "192.0.2.1\0", p.connect.len);
	peer_clear(&p);
	conf_free(&c);
}

/* Answers RCPT only (the milter asked for no reply to CONNECT and HELO). */
static bool script_nr(struct peer *p, unsigned char cmd, const unsigned char *d, size_t n)
{
	if (cmd == 'R')
		peer_send(p, 'c', NULL, 0);
	return true;
}

static void test_session_default_macros_and_no_reply_flags(void **state)
{
	struct conf *c = conf_new();
	/* No reply for CONNECT and HELO, no MAIL at all: the MTA must not wait
	 * for replies that never come (the command timeout is long, so waiting
	 * would show as a slow test and a wrong event log). */
	struct peer p = {.script = script_nr,
			 .protocol = MILTER_P_NR_CONN | MILTER_P_NR_HELO | MILTER_P_NOMAIL};
	struct milters *ms = start(&p, c, ", command_timeout=60s");
	struct milter_answer a;
	assert_int_equal(milters_connect(ms, &client, &a), MILTER_CONTINUE);
	assert_int_equal(milters_helo(ms, "h", "TLSv1.3", "TLS_AES_128_GCM_SHA256", &a),
			 MILTER_CONTINUE);
	assert_int_equal(milters_mail(ms, "a@b.example", "SIZE=10 BODY=8BITMIME", "q1", NULL, &a),
			 MILTER_CONTINUE);
	assert_int_equal(milters_rcpt(ms, "d@e.example", "", &a), MILTER_CONTINUE);
	finish(&p, &ms);
	/* D C D H (no reply) ... no M ... D R (reply) Q */
	assert_string_equal(buf_cstr(&p.log), "ODCDHDRQ");
	assert_string_equal(buf_cstr(&p.all_macros),
			    "Cj|mx.example.test|{daemon_name}|smtpd|v|sealmail " SEALMAIL_VERSION
			    "|_|unknown [192.0.2.1]|{client_addr}|192.0.2.1|"
			    "{client_port}|2525|{client_name}|unknown|#"
			    "H{tls_version}|TLSv1.3|{cipher}|TLS_AES_128_GCM_SHA256|#"
			    "R{rcpt_addr}|d@e.example|{rcpt_mailer}|local|#");
	peer_clear(&p);
	conf_free(&c);
}

static bool script_rcpt(struct peer *p, unsigned char cmd, const unsigned char *d, size_t n)
{
	if (cmd == 'R' && strstr((const char *)d, "bad") != NULL) {
		peer_send(p, 'p', NULL, 0); /* progress first */
		SEND(p, 'y', "550 5.1.1 No such user\0");
		return true;
	}
	if (cmd == 'M' && n > 14 && memcmp(d, "<a@b.example>\0SIZE=10\0", 22) != 0)
		return false; /* wrong arguments: hang up, the test fails */
	peer_send(p, 'c', NULL, 0);
	return true;
}

static void test_session_rcpt_reply_and_abort(void **state)
{
	struct conf *c = conf_new();
	struct peer p = {.script = script_rcpt};
	struct milters *ms = start(&p, c, NULL);
	struct milter_answer a;
	milters_connect(ms, &client, &a);
	assert_int_equal(milters_mail(ms, "a@b.example", "SIZE=10", "q1", NULL, &a),
			 MILTER_CONTINUE);
	assert_int_equal(milters_rcpt(ms, "bad@b.example", "", &a), MILTER_REJECT);
	assert_string_equal(a.reply, "550 5.1.1 No such user");
	assert_int_equal(milters_rcpt(ms, "good@b.example", "", &a), MILTER_CONTINUE);
	milters_abort(ms);
	milters_abort(ms); /* once is enough */
	finish(&p, &ms);
	assert_string_equal(buf_cstr(&p.log), "ODCDMDRDRAQ");
	peer_clear(&p);
	conf_free(&c);
}

static bool script_silent(struct peer *p, unsigned char cmd, const unsigned char *d, size_t n)
{
	return true; /* never answers */
}

static void test_session_timeout_default_action(void **state)
{
	struct conf *c = conf_new();
	c->milter_default_action = CONF_MILTER_TEMPFAIL;
	struct peer p = {.script = script_silent};
	struct milters *ms = start(&p, c, ", command_timeout=200ms");
	struct milter_answer a;
	/* The connect event times out: tempfail, remembered for MAIL. */
	assert_int_equal(milters_connect(ms, &client, &a), MILTER_REJECT);
	assert_string_equal(a.reply, "451 4.7.1 Service unavailable - try again later");
	assert_int_equal(milters_helo(ms, "h", NULL, NULL, &a), MILTER_REJECT);
	assert_int_equal(milters_mail(ms, "a@b", "", "q", NULL, &a), MILTER_REJECT);
	struct milter_result res;
	assert_int_equal(milters_message(ms, (const unsigned char *)"A: b\r\n\r\nx", 9, &res),
			 MILTER_REJECT);
	assert_false(res.changed);
	milter_result_clear(&res);
	finish(&p, &ms);
	assert_string_equal(buf_cstr(&p.log), "ODC"); /* nothing after the failure */
	peer_clear(&p);
	conf_free(&c);
}

static void test_session_timeout_accept(void **state)
{
	struct conf *c = conf_new();
	struct peer p = {.script = script_silent};
	struct milters *ms = start(&p, c, ", command_timeout=100ms, default_action=accept");
	struct milter_answer a;
	assert_int_equal(milters_connect(ms, &client, &a), MILTER_CONTINUE);
	assert_int_equal(milters_mail(ms, "a@b", "", "q", NULL, &a), MILTER_CONTINUE);
	finish(&p, &ms);
	peer_clear(&p);
	conf_free(&c);
}

/* End of message: every kind of modification, then continue. */
static bool script_edit(struct peer *p, unsigned char cmd, const unsigned char *d, size_t n)
{
	if (cmd == 'B' && p->mode == 1 && p->chunks++ == 0) {
		peer_send(p, 's', NULL, 0); /* enough body */
		return true;
	}
	if (cmd != 'E') {
		bool noreply = (cmd == 'L' && (p->protocol & MILTER_P_NR_HDR)) ||
			       (cmd == 'B' && (p->protocol & MILTER_P_NR_BODY));
		if (!noreply)
			peer_send(p, 'c', NULL, 0);
		return true;
	}
	SEND(p, 'h', "X-Added\0one\0");
	SEND(p, 'i', "\0\0\0\0X-First\0top\0");
	SEND(p, 'm', "\0\0\0\x01Subject\0new subject\0");
	SEND(p, 'm', "\0\0\0\x01X-Drop\0\0");
	SEND(p, 'b', "new ");
	SEND(p, 'b', "body\n");
	SEND(p, '+', "<added@example.test>\0");
	SEND(p, '-', "<gone@example.test>\0");
	SEND(p, 'e', "<>\0");
	SEND(p, 'q', "looks bad\0");
	peer_send(p, 'p', NULL, 0);
	peer_send(p, 'a', NULL, 0);
	return true;
}

static void test_session_message_edits(void **state)
{
	struct conf *c = conf_new();
	struct peer p = {.script = script_edit, .actions = MILTER_F_OFFERED,
			 .protocol = MILTER_P_HDR_LEADSPC | MILTER_P_NR_HDR};
	struct milters *ms = start(&p, c, NULL);
	struct milter_answer a;
	milters_connect(ms, &client, &a);
	milters_mail(ms, "a@b.example", "", "q1", NULL, &a);
	milters_rcpt(ms, "gone@example.test", "", &a);
	assert_int_equal(milters_data(ms, &a), MILTER_CONTINUE);
	const char *msg = "Subject: old\r\nX-Drop: x\r\nTo:  t\r\n\r\nold body\r\n";
	struct milter_result res;
	assert_int_equal(milters_message(ms, (const unsigned char *)msg, strlen(msg), &res),
			 MILTER_CONTINUE);
	assert_true(res.changed);
	/* With SMFIP_HDR_LEADSPC values keep their spaces both ways. */
	assert_string_equal(buf_cstr(&res.msg), "X-First:top\r\nSubject:new subject\r\nTo:  t\r\n"
						"X-Added:one\r\n\r\nnew body\r\n");
	assert_string_equal(buf_cstr(&p.header_values), " old| x|  t|");
	assert_true(res.quarantine);
	assert_string_equal(res.quarantine_reason, "looks bad");
	assert_true(res.from_changed);
	assert_string_equal(res.from, "");
	assert_int_equal(res.nrcpt, 2);
	assert_true(res.rcpt[0].add);
	assert_string_equal(res.rcpt[0].addr, "added@example.test");
	assert_false(res.rcpt[1].add);
	assert_string_equal(res.rcpt[1].addr, "gone@example.test");
	milter_result_clear(&res);
	finish(&p, &ms);
	/* No reply was read for headers (NR_HDR); DATA, 3 headers, EOH, body, EOM. */
	assert_string_equal(buf_cstr(&p.log), "ODCDMDRDTLLLDNBDEQ");
	assert_string_equal(buf_cstr(&p.body), "old body\r\n");
	peer_clear(&p);
	conf_free(&c);
}

static void test_session_skip_body(void **state)
{
	struct conf *c = conf_new();
	struct peer p = {.script = script_edit, .actions = MILTER_F_OFFERED, .mode = 1};
	struct milters *ms = start(&p, c, NULL);
	struct milter_answer a;
	milters_connect(ms, &client, &a);
	milters_mail(ms, "a@b.example", "", "q1", NULL, &a);
	struct buf msg = BUF_INIT;
	buf_append_str(&msg, "Subject: s\r\n\r\n");
	for (int i = 0; i < 3000; i++)
		buf_append_str(&msg, "0123456789012345678901234567890123456789012345678\r\n");
	struct milter_result res;
	assert_int_equal(milters_message(ms, msg.data, msg.len, &res), MILTER_CONTINUE);
	milter_result_clear(&res);
	finish(&p, &ms);
	/* One body chunk of 65535 bytes, SMFIR_SKIP, then end of message. */
	assert_string_equal(buf_cstr(&p.log), "ODCDMLDNBDEQ");
	assert_int_equal(p.body.len, MILTER_CHUNK_MAX);
	buf_free(&msg);
	peer_clear(&p);
	conf_free(&c);
}

/* Modifications, then garbage: none of them may reach the message. */
static bool script_garbage(struct peer *p, unsigned char cmd, const unsigned char *d, size_t n)
{
	if (cmd != 'E') {
		peer_send(p, 'c', NULL, 0);
		return true;
	}
	SEND(p, 'h', "X-Half\0done\0");
	if (p->mode == 0) {
		ssize_t w = send(p->fd, "\0\0\0\0", 4, MSG_NOSIGNAL); /* length 0 */
		(void)w;
	}
	else if (p->mode == 1)
		SEND(p, 'h', "Bad Name\0v\0");
	else
		peer_send(p, 'c', NULL, 0); /* but SMFIF_ADDHDRS was never negotiated */
	return true;
}

static void test_session_garbage_keeps_message_intact(void **state)
{
	for (int mode = 0; mode < 3; mode++) {
		struct conf *c = conf_new();
		struct peer p = {.script = script_garbage, .mode = mode,
				 .actions = mode == 2 ? 0 : MILTER_F_ADDHDRS};
		struct milters *ms = start(&p, c, ", default_action=accept");
		struct milter_answer a;
		milters_connect(ms, &client, &a);
		milters_mail(ms, "a@b.example", "", "q1", NULL, &a);
		const char *msg = "Subject: s\r\n\r\nbody\r\n";
		struct milter_result res;
		assert_int_equal(milters_message(ms, (const unsigned char *)msg, strlen(msg), &res),
				 MILTER_CONTINUE);
		assert_false(res.changed);
		assert_int_equal(res.nrcpt, 0);
		milter_result_clear(&res);
		/* Failed with accept: out of the way for the next message. */
		assert_int_equal(milters_mail(ms, "a@b.example", "", "q2", NULL, &a),
				 MILTER_CONTINUE);
		finish(&p, &ms);
		peer_clear(&p);
		conf_free(&c);
	}
}

static bool script_verdict(struct peer *p, unsigned char cmd, const unsigned char *d, size_t n)
{
	static const char *const v[] = {"r", "t", "d", "4"};
	if (cmd == 'E' || (cmd == 'L' && p->mode >= 4)) {
		peer_send(p, (unsigned char)v[p->mode % 4][0], NULL, 0);
		return true;
	}
	peer_send(p, 'c', NULL, 0);
	return true;
}

static void test_session_end_of_message_verdicts(void **state)
{
	static const enum milter_verdict want[] = {MILTER_REJECT, MILTER_REJECT, MILTER_DISCARD,
						   MILTER_SHUTDOWN};
	static const char *reply[] = {"550 5.7.1 Command rejected",
				      "451 4.7.1 Service unavailable - try again later", "",
				      "421 4.7.0 Server closing connection"};
	for (int mode = 0; mode < 8; mode++) {
		struct conf *c = conf_new();
		struct peer p = {.script = script_verdict, .mode = mode};
		struct milters *ms = start(&p, c, NULL);
		struct milter_answer a;
		milters_connect(ms, &client, &a);
		milters_mail(ms, "a@b.example", "", "q1", NULL, &a);
		const char *msg = "Subject: s\r\n\r\nbody\r\n";
		struct milter_result res;
		assert_int_equal(milters_message(ms, (const unsigned char *)msg, strlen(msg), &res),
				 want[mode % 4]);
		assert_string_equal(res.answer.reply, reply[mode % 4]);
		milter_result_clear(&res);
		finish(&p, &ms);
		peer_clear(&p);
		conf_free(&c);
	}
}

/* The milter list's limits: a unix socket path must fit sun_path, and
 * error texts stay bounded however long the item. */
static void test_spec_limits(void **state)
{
	struct conf *c = conf_new();
	struct milter_spec sp[MILTER_LIST_MAX];
	size_t n;
	const char *err = NULL;
	struct sockaddr_un sun;
	char text[400];
	char path[sizeof(sun.sun_path) + 1];
	memset(path, 'p', sizeof(path));
	path[0] = '/';
	path[sizeof(sun.sun_path) - 1] = '\0'; /* the longest that fits */
	snprintf(text, sizeof(text), "unix:%s", path);
	assert_int_equal(milter_spec_parse(text, c, sp, MILTER_LIST_MAX, &n, &err), 0);
	assert_int_equal(n, 1);
	assert_string_equal(sp[0].endpoint, text);
	path[sizeof(sun.sun_path) - 1] = 'p';
	path[sizeof(sun.sun_path)] = '\0'; /* one more */
	snprintf(text, sizeof(text), "unix:%s", path);
	assert_int_equal(milter_spec_parse(text, c, sp, MILTER_LIST_MAX, &n, &err), -1);
	assert_non_null(err);
	assert_true(strlen(err) < 256);
	assert_int_equal(strncmp(err, "milters: ", 9), 0);
	uint16_t ports[4];
	assert_int_equal(milter_tcp_ports(text, c, ports, 4), 0);
	assert_int_equal(milter_tcp_ports("inet:10.0.0.1:1 inet:10.0.0.1:2 inet:10.0.0.1:3", c,
					  ports, 2),
			 2);
	assert_int_equal(ports[1], 2);
	/* More milters than MILTER_LIST_MAX is a mistake. */
	struct buf more = BUF_INIT;
	for (int i = 0; i <= MILTER_LIST_MAX; i++)
		buf_append_str(&more, "inet:10.0.0.1:9 ");
	assert_int_equal(milter_spec_parse(buf_cstr(&more), c, sp, MILTER_LIST_MAX, &n, &err), -1);
	buf_free(&more);
	conf_free(&c);
}

/* Negotiation: a milter speaking a protocol version we do not know is a
 * failed milter; actions and steps we did not offer are ignored. */
static void test_session_negotiation_version_and_unoffered(void **state)
{
	for (int mode = 0; mode < 2; mode++) {
		struct conf *c = conf_new();
		struct peer p = {.script = script_continue,
				 .version = mode == 0 ? 7 : 6,
				 .actions = mode == 0 ? 0 : MILTER_F_ADDHDRS | 0x4000u,
				 .protocol = mode == 0 ? 0 : MILTER_P_RCPT_REJ | 0x800000u};
		struct milters *ms = start(&p, c, NULL);
		struct milter_answer a;
		enum milter_verdict v = milters_connect(ms, &client, &a);
		if (mode == 0) {
			assert_int_equal(v, MILTER_REJECT);
			assert_string_equal(a.reply, "451 4.7.1 Service unavailable - try again later");
		} else {
			assert_int_equal(v, MILTER_CONTINUE);
			assert_int_equal(milters_helo(ms, "client.example", NULL, NULL, &a),
					 MILTER_CONTINUE);
		}
		finish(&p, &ms);
		/* Refused: closed after the negotiation, no QUIT. */
		assert_string_equal(buf_cstr(&p.log), mode == 0 ? "O" : "ODCHQ");
		peer_clear(&p);
		conf_free(&c);
	}
}

/* SMFIC_CONNECT carries the client's name when there is one, "[addr]" when
 * there is none or it is too long to be a DNS name; ${_} has it whole. */
static void test_session_connect_client_name(void **state)
{
	char longname[301];
	memset(longname, 'n', 300);
	longname[300] = '\0';
	const char *names[] = {"client.example.test", longname};
	for (int i = 0; i < 2; i++) {
		struct conf *c = conf_new();
		struct peer p = {.script = script_continue};
		struct milters *ms = start(&p, c, NULL);
		struct milter_client cl = client;
		cl.client_name = names[i];
		struct milter_answer a;
		assert_int_equal(milters_connect(ms, &cl, &a), MILTER_CONTINUE);
		finish(&p, &ms);
		const char *host = i == 0 ? names[0] : "[192.0.2.1]";
		assert_true(p.connect.len > strlen(host));
		assert_string_equal((const char *)p.connect.data, host);
		struct buf want = BUF_INIT;
		buf_append_str(&want, "|_|");
		buf_append_str(&want, names[i]);
		buf_append_str(&want, " [192.0.2.1]|");
		buf_append_byte(&p.all_macros, '\0');
		assert_non_null(strstr((const char *)p.all_macros.data, buf_cstr(&want)));
		buf_free(&want);
		peer_clear(&p);
		conf_free(&c);
	}
}

static void *peer_accept_main(void *arg)
{
	struct peer *p = arg;
	p->fd = accept4(p->lfd, NULL, NULL, SOCK_CLOEXEC);
	close(p->lfd);
	if (p->fd < 0)
		return NULL;
	return peer_main(p);
}

/* The milter's own endpoint, not a socket handed over: connect to a unix
 * socket and to TCP on the loopback (a non-blocking connect). */
static void test_session_dial(void **state)
{
	char dir[] = "/tmp/sealmail-milter-XXXXXX";
	assert_non_null(mkdtemp(dir));
	for (int mode = 0; mode < 2; mode++) {
		struct conf *c = conf_new();
		struct peer p = {.script = script_continue};
		char spec[200];
		if (mode == 0) {
			struct sockaddr_un sun = {.sun_family = AF_UNIX};
			snprintf(sun.sun_path, sizeof(sun.sun_path), "%s/m.sock", dir);
			p.lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
			assert_int_equal(bind(p.lfd, (struct sockaddr *)&sun, sizeof(sun)), 0);
			snprintf(spec, sizeof(spec), "unix:%s", sun.sun_path);
		} else {
			struct sockaddr_in sin = {.sin_family = AF_INET};
			socklen_t sl = sizeof(sin);
			sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
			p.lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
			assert_int_equal(bind(p.lfd, (struct sockaddr *)&sin, sizeof(sin)), 0);
			assert_int_equal(getsockname(p.lfd, (struct sockaddr *)&sin, &sl), 0);
			snprintf(spec, sizeof(spec), "inet:127.0.0.1:%u", (unsigned)ntohs(sin.sin_port));
		}
		assert_int_equal(listen(p.lfd, 1), 0);
		assert_int_equal(pthread_create(&p.th, NULL, peer_accept_main, &p), 0);
		const char *err;
		struct milters *ms = milters_new(spec, c, &err);
		assert_non_null(ms);
		struct milter_answer a;
		assert_int_equal(milters_connect(ms, &client, &a), MILTER_CONTINUE);
		assert_int_equal(milters_helo(ms, "client.example", NULL, NULL, &a), MILTER_CONTINUE);
		finish(&p, &ms);
		assert_string_equal(buf_cstr(&p.log), "ODCHQ");
		peer_clear(&p);
		conf_free(&c);
	}
	char sock[64];
	snprintf(sock, sizeof(sock), "%s/m.sock", dir);
	unlink(sock);
	rmdir(dir);
}

static void test_session_unreachable(void **state)
{
	struct conf *c = conf_new();
	c->milter_default_action = CONF_MILTER_REJECT;
	const char *err;
	struct milters *ms = milters_new("unix:/nonexistent/milter.sock", c, &err);
	assert_non_null(ms);
	struct milter_answer a;
	assert_int_equal(milters_connect(ms, &client, &a), MILTER_REJECT);
	assert_string_equal(a.reply, "550 5.7.1 Command rejected");
	milters_free(&ms);
	assert_null(milters_new("", c, &err));
	assert_null(err);
	assert_null(milters_new("bogus", c, &err));
	assert_non_null(err);
	conf_free(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_frame_roundtrip_byte_by_byte),
		cmocka_unit_test(test_frame_bad_lengths),
		cmocka_unit_test(test_optneg),
		cmocka_unit_test(test_reply_shapes),
		cmocka_unit_test(test_reply_text),
		cmocka_unit_test(test_msg_identity),
		cmocka_unit_test(test_msg_values),
		cmocka_unit_test(test_msg_edits),
		cmocka_unit_test(test_spec),
		cmocka_unit_test(test_spec_limits),
		cmocka_unit_test(test_session_negotiation_macros_connect),
		cmocka_unit_test(test_session_default_macros_and_no_reply_flags),
		cmocka_unit_test(test_session_rcpt_reply_and_abort),
		cmocka_unit_test(test_session_timeout_default_action),
		cmocka_unit_test(test_session_timeout_accept),
		cmocka_unit_test(test_session_message_edits),
		cmocka_unit_test(test_session_skip_body),
		cmocka_unit_test(test_session_garbage_keeps_message_intact),
		cmocka_unit_test(test_session_end_of_message_verdicts),
		cmocka_unit_test(test_session_negotiation_version_and_unoffered),
		cmocka_unit_test(test_session_connect_client_name),
		cmocka_unit_test(test_session_dial),
		cmocka_unit_test(test_session_unreachable),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
