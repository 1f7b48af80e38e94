/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* The outbound SMTP client: see smtpclient.h. */
#include "svc/smtpclient.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/fmt.h"
#include "sys/io.h"

/* RFC 5321 section 4.5.3.2: the least time a client waits at each stage. */
#define T_GREETING (5 * 60 * 1000)
#define T_MAIL     (5 * 60 * 1000)
#define T_RCPT     (5 * 60 * 1000)
#define T_DATA     (2 * 60 * 1000)
#define T_BLOCK    (3 * 60 * 1000)
#define T_END      (10 * 60 * 1000)
#define BDAT_CHUNK (1u << 20)

int smtpc_reply_feed(struct smtpc_reply *r, const char *line, size_t len)
{
	if (len < 3 || memchr(line, '\0', len) != NULL || r->lines >= SMTPC_REPLY_LINES_MAX)
		return -1;
	if (line[0] < '2' || line[0] > '5' || line[1] < '0' || line[1] > '9' || line[2] < '0' ||
	    line[2] > '9')
		return -1;
	int code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
	if (r->lines > 0 && code != r->code)
		return -1; /* RFC 5321 section 4.2.1: one code for every line */
	/* "250" alone ends a reply too (section 4.2.1 allows the text to be
	 * empty; some servers drop the space). */
	bool last = len == 3 || line[3] == ' ';
	if (len > 3 && line[3] != ' ' && line[3] != '-')
		return -1;
	if (r->lines == 0) {
		r->code = code;
		const char *t = len > 4 ? line + 4 : "";
		size_t tl = len > 4 ? len - 4 : 0;
		/* RFC 2034 section 4: class.subject.detail, class matching the code. */
		size_t i = 0;
		if (tl >= 5 && t[0] == line[0] && t[1] == '.') {
			i = 2;
			size_t d1 = 0, d2 = 0;
			while (i < tl && t[i] >= '0' && t[i] <= '9' && d1 < 3)
				i++, d1++;
			if (d1 > 0 && i < tl && t[i] == '.') {
				i++;
				while (i < tl && t[i] >= '0' && t[i] <= '9' && d2 < 3)
					i++, d2++;
			}
			if (d1 > 0 && d2 > 0 && (i == tl || t[i] == ' ')) {
				memcpy(r->enh, t, i);
				r->enh[i] = '\0';
				while (i < tl && t[i] == ' ')
					i++;
			} else {
				i = 0;
			}
		}
		size_t n = tl - i > SMTPC_TEXT_MAX ? SMTPC_TEXT_MAX : tl - i;
		for (size_t k = 0; k < n; k++) {
			unsigned char c = (unsigned char)t[i + k];
			r->text[k] = c < 0x20 || c > 0x7e ? ' ' : (char)c;
		}
		r->text[n] = '\0';
	}
	r->lines++;
	return last ? 1 : 0;
}

static bool kw_is(const char *text, const char *kw)
{
	size_t n = strlen(kw);
	return strncasecmp(text, kw, n) == 0 && (text[n] == '\0' || text[n] == ' ');
}

unsigned smtpc_ehlo_keyword(const char *text, uint64_t *size_r)
{
	static const struct {
		const char *kw;
		unsigned bit;
	} kws[] = {
	    {"PIPELINING", SMTPC_EXT_PIPELINING},
	    {"STARTTLS", SMTPC_EXT_STARTTLS},
	    {"8BITMIME", SMTPC_EXT_8BITMIME},
	    {"SMTPUTF8", SMTPC_EXT_SMTPUTF8},
	    {"CHUNKING", SMTPC_EXT_CHUNKING},
	    {"BINARYMIME", SMTPC_EXT_BINARYMIME},
	    {"DSN", SMTPC_EXT_DSN},
	};
	for (size_t i = 0; i < sizeof(kws) / sizeof(kws[0]); i++)
		if (kw_is(text, kws[i].kw))
			return kws[i].bit;
	if (kw_is(text, "SIZE")) {
		/* RFC 1870 section 4: "SIZE" [SP number]; a bad number is no limit. */
		uint64_t v = 0;
		const char *p = text + 4;
		if (*p == ' ') {
			p++;
			while (*p >= '0' && *p <= '9' && v < (UINT64_C(1) << 50))
				v = v * 10 + (uint64_t)(*p++ - '0');
			if (*p != '\0')
				v = 0;
		}
		*size_r = v;
		return SMTPC_EXT_SIZE;
	}
	return 0;
}

struct sess {
	struct io io;
	const struct smtpc_opts *o;
	unsigned ext;
	uint64_t size_max;
	struct smtpc_result *res;
};

static int tmo(const struct sess *s, int ms)
{
	return s->o->timeout_cap_ms > 0 && s->o->timeout_cap_ms < ms ? s->o->timeout_cap_ms : ms;
}

/* Read one reply within ms; on EHLO replies, collect the extensions. 1 ok,
 * -1 with res->error (the connection is then unusable). */
static int read_reply(struct sess *s, int ms, struct smtpc_reply *r, bool ehlo)
{
	memset(r, 0, sizeof(*r));
	io_set_idle(&s->io, tmo(s, ms));
	io_set_line_deadline(&s->io, tmo(s, ms));
	for (;;) {
		char *line;
		size_t len;
		int rc = io_read_line(&s->io, &line, &len, SMTPC_LINE_MAX);
		if (rc <= 0) {
			fmt_msg(s->res->error, sizeof(s->res->error), "reading a reply: %s",
			        rc == 0 ? "connection closed" : io_strerror(s->io.err));
			return -1;
		}
		int f = smtpc_reply_feed(r, line, len);
		if (f < 0) {
			fmt_msg(s->res->error, sizeof(s->res->error), "malformed reply");
			return -1;
		}
		if (ehlo && r->code == 250 && r->lines > 1 && len > 4)
			s->ext |= smtpc_ehlo_keyword(line + 4, &s->size_max);
		if (f == 1)
			return 1;
	}
}

static int send_flush(struct sess *s, int ms)
{
	io_set_idle(&s->io, tmo(s, ms));
	if (io_flush(&s->io) < 0) {
		fmt_msg(s->res->error, sizeof(s->res->error), "sending: %s",
		        io_strerror(s->io.err));
		return -1;
	}
	return 0;
}

static void reply_error(struct sess *s, const char *stage, const struct smtpc_reply *r)
{
	fmt_msg(s->res->error, sizeof(s->res->error), "%s: %d %s%s%s", stage, r->code, r->enh,
	        r->enh[0] ? " " : "", r->text);
}

static int connect_to(const struct sockaddr *addr, socklen_t addrlen, int ms, char *err,
                      size_t errsz)
{
	int fd = socket(addr->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		fmt_msg(err, errsz, "socket: %s", strerror(errno));
		return -1;
	}
	if (connect(fd, addr, addrlen) < 0 && errno != EINPROGRESS) {
		fmt_msg(err, errsz, "connect: %s", strerror(errno));
		close(fd);
		return -1;
	}
	struct pollfd p = {.fd = fd, .events = POLLOUT};
	int pr;
	do
		pr = poll(&p, 1, ms);
	while (pr < 0 && errno == EINTR);
	int soerr = 0;
	socklen_t sl = sizeof(soerr);
	if (pr == 0) {
		fmt_msg(err, errsz, "connect: timed out");
		close(fd);
		return -1;
	}
	if (pr < 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0 || soerr != 0) {
		fmt_msg(err, errsz, "connect: %s", strerror(pr < 0 ? errno : soerr));
		close(fd);
		return -1;
	}
	return fd;
}

/* Greeting, EHLO (HELO if refused), STARTTLS and EHLO again. 0 or -1. */
static int open_session(struct sess *s)
{
	struct smtpc_reply r;
	if (read_reply(s, T_GREETING, &r, false) < 0)
		return -1;
	if (r.code != 220) {
		reply_error(s, "greeting", &r);
		return -1;
	}
	for (int round = 0; round < 2; round++) {
		s->ext = 0;
		s->size_max = 0;
		io_printf(&s->io, "EHLO %s\r\n", s->o->helo);
		if (send_flush(s, T_MAIL) < 0 || read_reply(s, T_MAIL, &r, true) < 0)
			return -1;
		if (r.code != 250 && round == 0) {
			/* RFC 5321 section 3.2: fall back to HELO. */
			io_printf(&s->io, "HELO %s\r\n", s->o->helo);
			if (send_flush(s, T_MAIL) < 0 || read_reply(s, T_MAIL, &r, false) < 0)
				return -1;
			if (r.code != 250) {
				reply_error(s, "HELO", &r);
				return -1;
			}
			return 0;
		}
		if (r.code != 250) {
			reply_error(s, "EHLO", &r);
			return -1;
		}
		if (round == 1 || s->o->tls == NULL || !(s->ext & SMTPC_EXT_STARTTLS))
			return 0;
		io_puts(&s->io, "STARTTLS\r\n");
		if (send_flush(s, T_MAIL) < 0 || read_reply(s, T_MAIL, &r, false) < 0)
			return -1;
		if (r.code != 220)
			return 0; /* opportunistic: go on in plaintext (RFC 3207 section 4) */
		if (io_pending(&s->io) > 0) {
			fmt_msg(s->res->error, sizeof(s->res->error),
			        "data after the STARTTLS reply");
			return -1; /* a response-injection attempt (CVE-2011-0411 class) */
		}
		io_set_line_deadline(&s->io, tmo(s, T_MAIL));
		if (io_starttls_client(&s->io, s->o->tls, s->o->sni) < 0) {
			s->res->tls_failed = true;
			fmt_msg(s->res->error, sizeof(s->res->error), "TLS handshake failed: %s",
			        io_strerror(s->io.err));
			return -1;
		}
		s->res->tls = true;
		io_tls_desc(&s->io, s->res->tls_desc, sizeof(s->res->tls_desc));
	}
	return 0;
}

/* The message with every line ending in CRLF (a bare LF gets its CR; RFC
 * 5321 section 2.3.8), ending in CRLF: what SIZE counts and BDAT sends. */
static void normalize(const struct smtpc_msg *m, struct buf *out)
{
	buf_reserve(out, m->len + m->len / 32 + 2);
	size_t start = 0;
	for (size_t i = 0; i < m->len; i++) {
		if (m->data[i] != '\n')
			continue;
		size_t end = i > start && m->data[i - 1] == '\r' ? i - 1 : i;
		buf_append(out, m->data + start, end - start);
		buf_append(out, "\r\n", 2);
		start = i + 1;
	}
	if (start < m->len) {
		buf_append(out, m->data + start, m->len - start);
		buf_append(out, "\r\n", 2);
	}
}

/* RFC 3461 section 4: xtext, "+HH" for '+', '=' and anything outside
 * 33..126. */
static void put_xtext(struct io *io, const char *s)
{
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;
		if (c < 33 || c > 126 || c == '+' || c == '=')
			io_printf(io, "+%02X", c);
		else
			io_write(io, s, 1);
	}
}

static void set_all(struct smtpc_result *res, size_t n, bool only_accepted, int code,
                    const char *enh, const char *text)
{
	for (size_t i = 0; i < n; i++) {
		struct smtpc_reply *r = &res->rcpt[i];
		if (only_accepted ? r->code / 100 != 2 : r->code != 0)
			continue;
		r->code = code;
		fmt_msg(r->enh, sizeof(r->enh), "%s", enh);
		fmt_msg(r->text, sizeof(r->text), "%s", text);
	}
}

static void copy_all(struct smtpc_result *res, size_t n, bool only_accepted,
                     const struct smtpc_reply *rep)
{
	for (size_t i = 0; i < n; i++)
		if (only_accepted ? res->rcpt[i].code / 100 == 2 : true)
			res->rcpt[i] = *rep;
}

static void send_mail(struct sess *s, const struct smtpc_msg *m, size_t size)
{
	io_printf(&s->io, "MAIL FROM:<%s>", m->from);
	if (s->ext & SMTPC_EXT_SIZE)
		io_printf(&s->io, " SIZE=%zu", size);
	if (m->body == SMTP_BODY_8BITMIME && (s->ext & SMTPC_EXT_8BITMIME))
		io_puts(&s->io, " BODY=8BITMIME");
	else if (m->body == SMTP_BODY_BINARYMIME)
		io_puts(&s->io, " BODY=BINARYMIME");
	if (m->smtputf8)
		io_puts(&s->io, " SMTPUTF8");
	if (s->ext & SMTPC_EXT_DSN) {
		if (m->ret != SMTP_RET_UNSET)
			io_puts(&s->io, m->ret == SMTP_RET_FULL ? " RET=FULL" : " RET=HDRS");
		if (m->envid != NULL && m->envid[0] != '\0') {
			io_puts(&s->io, " ENVID=");
			put_xtext(&s->io, m->envid);
		}
	}
	io_puts(&s->io, "\r\n");
}

static void send_rcpt(struct sess *s, const struct smtpc_msg *m, size_t i)
{
	io_printf(&s->io, "RCPT TO:<%s>", m->rcpt[i]);
	unsigned nt = m->notify != NULL ? m->notify[i] : 0;
	if ((s->ext & SMTPC_EXT_DSN) && nt != 0) {
		if (nt & SMTP_NOTIFY_NEVER)
			io_puts(&s->io, " NOTIFY=NEVER");
		else
			io_printf(
			    &s->io, " NOTIFY=%s%s%s%s%s", nt & SMTP_NOTIFY_SUCCESS ? "SUCCESS" : "",
			    (nt & SMTP_NOTIFY_SUCCESS) && (nt & ~SMTP_NOTIFY_SUCCESS) ? "," : "",
			    nt & SMTP_NOTIFY_FAILURE ? "FAILURE" : "",
			    (nt & SMTP_NOTIFY_FAILURE) && (nt & SMTP_NOTIFY_DELAY) ? "," : "",
			    nt & SMTP_NOTIFY_DELAY ? "DELAY" : "");
	}
	if ((s->ext & SMTPC_EXT_DSN) && m->orcpt != NULL && m->orcpt[i][0] != '\0') {
		/* ORCPT=addr-type;xtext (RFC 3461 section 4.2): the type as is. */
		const char *semi = strchr(m->orcpt[i], ';');
		if (semi != NULL) {
			io_printf(&s->io, " ORCPT=%.*s;", (int)(semi - m->orcpt[i]), m->orcpt[i]);
			put_xtext(&s->io, semi + 1);
		}
	}
	io_puts(&s->io, "\r\n");
}

/* MAIL and the RCPTs: in batches of 100 with PIPELINING (RFC 2920 section
 * 3.1; bounded so that neither side blocks writing while the other does),
 * else one at a time. 1 when some recipient was accepted, 0 when none
 * (each has its reply), -1 connection lost. */
static int envelope(struct sess *s, const struct smtpc_msg *m, size_t size)
{
	struct smtpc_reply r;
	size_t batch = (s->ext & SMTPC_EXT_PIPELINING) ? 100 : 1;
	send_mail(s, m, size);
	size_t next = 0, sent = 0;
	if (batch > 1)
		for (; sent < m->nrcpt && sent < batch; sent++)
			send_rcpt(s, m, sent);
	if (send_flush(s, T_MAIL) < 0 || read_reply(s, T_MAIL, &r, false) < 0)
		return -1;
	bool mail_ok = r.code == 250;
	if (!mail_ok)
		copy_all(s->res, m->nrcpt, false, &r);
	bool any = false;
	while (next < m->nrcpt) {
		if (sent == next) {
			if (!mail_ok)
				break;
			for (size_t k = 0; k < batch && sent < m->nrcpt; k++)
				send_rcpt(s, m, sent++);
		}
		if (send_flush(s, T_RCPT) < 0)
			return -1;
		for (; next < sent; next++) {
			if (read_reply(s, T_RCPT, &r, false) < 0)
				return -1;
			if (mail_ok) {
				s->res->rcpt[next] = r;
				any = any || r.code / 100 == 2;
			}
		}
	}
	return any ? 1 : 0;
}

/* DATA with dot-stuffing (RFC 5321 section 4.5.2). 0 with the reply, -1. */
static int send_data(struct sess *s, const struct buf *msg, struct smtpc_reply *r)
{
	io_puts(&s->io, "DATA\r\n");
	if (send_flush(s, T_DATA) < 0 || read_reply(s, T_DATA, r, false) < 0)
		return -1;
	if (r->code != 354)
		return 0;
	io_set_idle(&s->io, tmo(s, T_BLOCK));
	size_t start = 0;
	while (start < msg->len) {
		const unsigned char *nl = memchr(msg->data + start, '\n', msg->len - start);
		size_t end = nl != NULL ? (size_t)(nl - msg->data) + 1 : msg->len;
		if (msg->data[start] == '.')
			io_write(&s->io, ".", 1);
		io_write(&s->io, msg->data + start, end - start);
		if (s->io.write_failed)
			break;
		start = end;
	}
	io_puts(&s->io, ".\r\n");
	if (send_flush(s, T_BLOCK) < 0)
		return -1;
	return read_reply(s, T_END, r, false) < 0 ? -1 : 0;
}

/* BDAT in chunks of BDAT_CHUNK (RFC 3030 section 2), a reply read after
 * each. 0 with the last reply, -1. */
static int send_bdat(struct sess *s, const struct buf *msg, struct smtpc_reply *r)
{
	size_t off = 0;
	do {
		size_t n = msg->len - off > BDAT_CHUNK ? BDAT_CHUNK : msg->len - off;
		bool last = off + n == msg->len;
		io_printf(&s->io, "BDAT %zu%s\r\n", n, last ? " LAST" : "");
		io_write(&s->io, msg->data + off, n);
		if (send_flush(s, T_BLOCK) < 0 ||
		    read_reply(s, last ? T_END : T_BLOCK, r, false) < 0)
			return -1;
		if (r->code != 250)
			return 0;
		off += n;
	} while (off < msg->len);
	return 0;
}

/* Refuse before MAIL what this server cannot take. true when refused. */
static bool refuse_early(struct sess *s, const struct smtpc_msg *m, size_t size)
{
	if (m->smtputf8 && !(s->ext & SMTPC_EXT_SMTPUTF8)) {
		/* RFC 6531 section 3.4: never downgrade; the message bounces. */
		set_all(s->res, m->nrcpt, false, 553, "5.6.7",
		        "the message needs SMTPUTF8 and the server does not offer it");
		return true;
	}
	if (m->body == SMTP_BODY_BINARYMIME &&
	    (s->ext & (SMTPC_EXT_BINARYMIME | SMTPC_EXT_CHUNKING)) !=
	        (SMTPC_EXT_BINARYMIME | SMTPC_EXT_CHUNKING)) {
		set_all(s->res, m->nrcpt, false, 554, "5.6.3",
		        "binary content and the server offers no BINARYMIME (RFC 3030)");
		return true;
	}
	if (s->size_max > 0 && size > s->size_max) {
		/* RFC 1870 section 6.1: the server announced it would refuse. */
		set_all(s->res, m->nrcpt, false, 552, "5.3.4",
		        "message larger than the server's SIZE limit");
		return true;
	}
	return false;
}

static int transaction(struct sess *s, const struct smtpc_msg *m)
{
	struct buf msg = BUF_INIT;
	normalize(m, &msg);
	int rc = 0;
	if (refuse_early(s, m, msg.len))
		goto out;
	int e = envelope(s, m, msg.len);
	if (e < 0) {
		/* Lost after MAIL: who had no outcome gets a temporary one. */
		set_all(s->res, m->nrcpt, true, 451, "4.4.2", s->res->error);
		set_all(s->res, m->nrcpt, false, 451, "4.4.2", s->res->error);
		goto out;
	}
	if (e == 0)
		goto quit;
	struct smtpc_reply r;
	int d = (s->ext & SMTPC_EXT_CHUNKING) ? send_bdat(s, &msg, &r) : send_data(s, &msg, &r);
	if (d < 0) {
		set_all(s->res, m->nrcpt, true, 451, "4.4.2", s->res->error);
		goto out;
	}
	if (r.code != 250)
		copy_all(s->res, m->nrcpt, true, &r);
	else
		for (size_t i = 0; i < m->nrcpt; i++)
			if (s->res->rcpt[i].code / 100 == 2)
				s->res->rcpt[i] = r;
quit:
	io_puts(&s->io, "QUIT\r\n");
	if (send_flush(s, 5000) == 0)
		(void)read_reply(s, 5000, &r, false);
	s->res->error[0] = '\0';
out:
	buf_free(&msg);
	return rc;
}

int smtpc_deliver(const struct sockaddr *addr, socklen_t addrlen, const struct smtpc_opts *opts,
                  const struct smtpc_msg *msg, struct smtpc_result *res)
{
	int fd =
	    connect_to(addr, addrlen, opts->connect_timeout_ms, res->error, sizeof(res->error));
	if (fd < 0)
		return -1;
	res->connected = true;
	struct sess s = {.o = opts, .res = res};
	io_init(&s.io, fd, fd, tmo(&s, T_GREETING));
	int rc = -1;
	if (open_session(&s) == 0)
		rc = transaction(&s, msg);
	io_cleanup(&s.io);
	close(fd);
	return rc;
}
