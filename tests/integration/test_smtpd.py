# SPDX-License-Identifier: AGPL-3.0-or-later
"""smtpd (MX) and lmtpd with real clients: swaks, smtplib, raw sockets."""
import os
import re
import signal
import smtplib
import socket
import ssl
import subprocess
import threading
import time

import pytest

from harness import BUILD, Instance, free_port, mbox_messages, spool_files, wait_until

BODY = (b"From: Alice <alice@example.org>\r\nTo: demo@example.test\r\n"
        b"Subject: hello\r\nMessage-ID: <m1@example.org>\r\n\r\n"
        b"line one\r\n.leading dot\r\n\r\nend\r\n")


@pytest.fixture
def mx(inst):
    inst.setup_domain()
    inst.pw = inst.add_user("demo@example.test")
    inst.add_user("other@example.test", "other-pw")
    inst.port = inst.start("smtpd")
    return inst


class Raw:
    """A raw SMTP client on a socket, for what smtplib will not send."""

    def __init__(self, port):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.f = self.s.makefile("rb")
        self.greeting = self.line()

    def line(self):
        return self.f.readline().decode()

    def reply(self):
        lines = [self.line()]
        while len(lines[-1]) > 3 and lines[-1][3] == "-":
            lines.append(self.line())
        return lines

    def cmd(self, text):
        self.send(text + b"\r\n" if isinstance(text, bytes) else (text + "\r\n").encode())
        return self.reply()

    def send(self, data):
        self.s.sendall(data)

    def close(self):
        self.s.close()


def code(reply):
    return reply[-1][:3]


def deliver_swaks(port, to, body=BODY, extra=()):
    p = subprocess.run(["swaks", "--server", f"127.0.0.1:{port}", "--from", "alice@example.org",
                        "--to", to, "--data", "-", "--suppress-data", *extra],
                       input=body, capture_output=True, timeout=60)
    return p


def headers_and_rest(raw):
    """Split the prepended trace headers from the original message."""
    m = re.match(rb"(Return-Path: [^\r\n]*\r\nReceived: .*?\r\nDelivered-To: [^\r\n]*\r\n)",
                 raw, re.S)
    assert m, raw[:300]
    return m.group(1), raw[m.end():]


def test_swaks_delivers_byte_identical(mx):
    p = deliver_swaks(mx.port, "demo@example.test")
    assert p.returncode == 0, p.stdout
    msgs = mbox_messages(mx, "demo@example.test", mx.pw)
    assert len(msgs) == 1
    trace, rest = headers_and_rest(msgs[0][1])
    # swaks ends the data with one more CRLF of its own.
    assert rest == BODY + b"\r\n"
    assert trace.startswith(b"Return-Path: <alice@example.org>\r\n")
    assert b"Delivered-To: demo@example.test\r\n" in trace
    assert b"by mx.example.test (sealmail) with ESMTP id " in trace


def test_smtplib_delivers_to_alias_catchall_and_tag(mx):
    mx.sealctl("alias", "add", "info@example.test", "demo@example.test")
    mx.sealctl("alias", "add", "*@example.test", "other@example.test")
    with smtplib.SMTP("127.0.0.1", mx.port) as s:
        s.ehlo("client.example")
        for to in ["info@example.test", "demo+news@example.test", "anything@example.test",
                   "Demo@Example.TEST"]:
            refused = s.sendmail("alice@example.org", [to], BODY)
            assert refused == {}
    demo = mbox_messages(mx, "demo@example.test", mx.pw)
    other = mbox_messages(mx, "other@example.test", "other-pw")
    assert len(demo) == 3 and len(other) == 1
    for _, raw in demo + other:
        assert headers_and_rest(raw)[1] == BODY
    assert b"Delivered-To: other@example.test" in other[0][1]


def test_multiple_recipients_one_copy_each(mx):
    mx.sealctl("alias", "add", "both@example.test", "demo@example.test", "other@example.test")
    with smtplib.SMTP("127.0.0.1", mx.port) as s:
        s.sendmail("", ["demo@example.test", "both@example.test", "other@example.test"], BODY)
    assert len(mbox_messages(mx, "demo@example.test", mx.pw)) == 1
    assert len(mbox_messages(mx, "other@example.test", "other-pw")) == 1


def test_unknown_user_and_domain(mx):
    r = Raw(mx.port)
    r.cmd("EHLO client.example")
    r.cmd("MAIL FROM:<a@example.org>")
    rep = r.cmd("RCPT TO:<nobody@example.test>")
    assert rep[-1].startswith("550 5.1.1")
    rep = r.cmd("RCPT TO:<someone@elsewhere.example>")
    assert rep[-1].startswith("550 5.7.1")
    assert code(r.cmd("DATA")) == "554"
    r.close()
    assert spool_files(mx, "demo@example.test") == []


def test_postmaster_always_accepted(mx):
    with smtplib.SMTP("127.0.0.1", mx.port) as s:
        s.ehlo("c.example")
        s.mail("")
        assert s.rcpt("<postmaster>")[0] == 250
        assert s.rcpt("PostMaster@example.test")[0] == 250


def test_bad_syntax_and_order(mx):
    r = Raw(mx.port)
    assert r.greeting.startswith("220 mx.example.test ESMTP")
    assert code(r.cmd("MAIL FROM:<a@b.example>")) == "503"
    assert code(r.cmd("EHLO")) == "501"
    assert code(r.cmd("HELO bad_host!")) == "501"
    r.cmd("EHLO c.example")
    assert code(r.cmd("RCPT TO:<demo@example.test>")) == "503"
    assert code(r.cmd("MAIL FROM:a@b.example")) == "501"
    assert code(r.cmd("MAIL FROM:<a@b.example> FOO=BAR")) == "555"
    assert code(r.cmd("MAIL FROM:<a@b.example>")) == "250"
    assert code(r.cmd("MAIL FROM:<a@b.example>")) == "503"
    assert code(r.cmd("RCPT TO:<demo@@example.test>")) == "501"
    assert code(r.cmd("RCPT TO:<j\xc3\xb6rg@example.test>".encode("latin1"))) == "553"
    assert code(r.cmd("XYZZY")) == "500"
    assert code(r.cmd("DATA extra")) == "501"
    assert code(r.cmd("VRFY demo")) == "252"
    assert code(r.cmd("NOOP")) == "250"
    assert code(r.cmd("RSET")) == "250"
    assert code(r.cmd("STARTTLS now")) == "501"
    assert code(r.cmd("A" * 3000)) == "500"
    assert code(r.cmd("QUIT")) == "221"
    r.close()


def test_too_many_errors_disconnects(mx):
    r = Raw(mx.port)
    last = None
    for _ in range(25):
        last = r.cmd("BOGUS")
        if last[-1].startswith("421"):
            break
    assert last[-1].startswith("421 4.7.0")
    assert r.f.readline() == b""


def test_http_request_is_dropped(mx):
    r = Raw(mx.port)
    rep = r.cmd("GET / HTTP/1.1")
    assert code(rep) == "221"
    assert r.f.readline() == b""


def test_oversize(redis, cert):
    inst = Instance(redis=redis, cert=cert, extra_conf="max_message_size = 10k\n")
    try:
        inst.setup_domain()
        pw = inst.add_user("demo@example.test")
        port = inst.start("smtpd")
        r = Raw(port)
        r.cmd("EHLO c.example")
        assert code(r.cmd("MAIL FROM:<a@b.example> SIZE=20000")) == "552"
        assert code(r.cmd("MAIL FROM:<a@b.example> SIZE=2000")) == "250"
        assert code(r.cmd("RCPT TO:<demo@example.test>")) == "250"
        assert code(r.cmd("DATA")) == "354"
        r.send(b"Subject: big\r\n\r\n" + (b"x" * 998 + b"\r\n") * 20 + b".\r\n")
        rep = r.reply()
        assert rep[-1].startswith("552 5.3.4")
        # The session goes on.
        assert code(r.cmd("NOOP")) == "250"
        r.close()
        assert mbox_messages(inst, "demo@example.test", pw) == []
    finally:
        inst.cleanup()


def test_too_many_recipients(redis, cert):
    inst = Instance(redis=redis, cert=cert, extra_conf="smtpd.max_recipients = 2\n")
    try:
        inst.setup_domain()
        inst.add_user("demo@example.test")
        inst.sealctl("alias", "add", "*@example.test", "demo@example.test")
        port = inst.start("smtpd")
        r = Raw(port)
        r.cmd("EHLO c.example")
        r.cmd("MAIL FROM:<a@b.example>")
        assert code(r.cmd("RCPT TO:<a1@example.test>")) == "250"
        assert code(r.cmd("RCPT TO:<a2@example.test>")) == "250"
        rep = r.cmd("RCPT TO:<a3@example.test>")
        assert rep[-1].startswith("452 4.5.3")
        r.close()
    finally:
        inst.cleanup()


@pytest.mark.parametrize("data", [
    b"Subject: x\r\n\r\nbare\nLF\r\n.\r\n",
    b"Subject: x\r\n\r\nbare\rCR\r\n.\r\n",
    # SMTP smuggling: a fake end of data followed by a second transaction.
    b"Subject: x\r\n\r\nhi\r\n\n.\r\nMAIL FROM:<evil@example.org>\r\nRCPT TO:<other@example.test>"
    b"\r\nDATA\r\nSubject: smuggled\r\n\r\n.\r\n",
    b"Subject: x\r\n\r\nhi\n.\r\nMAIL FROM:<evil@example.org>\r\nRCPT TO:<other@example.test>"
    b"\r\nDATA\r\nSubject: smuggled\r\n\r\n.\r\n",
    b"Subject: x\r\n\r\nhi\r\n.\nMAIL FROM:<evil@example.org>\r\nRCPT TO:<other@example.test>"
    b"\r\nDATA\r\nSubject: smuggled\r\n\r\n.\r\n",
    b"Subject: x\r\n\r\nhi\r.\rMAIL FROM:<evil@example.org>\r\nRCPT TO:<other@example.test>"
    b"\r\nDATA\r\nSubject: smuggled\r\n\r\n.\r\n",
])
def test_bare_lf_cr_and_smuggling_rejected(mx, data):
    r = Raw(mx.port)
    r.cmd("EHLO c.example")
    r.cmd("MAIL FROM:<a@example.org>")
    r.cmd("RCPT TO:<demo@example.test>")
    assert code(r.cmd("DATA")) == "354"
    r.send(data)
    rep = r.reply()
    assert rep[-1].startswith("554 5.6.0"), rep
    assert code(r.cmd("NOOP")) == "250"
    assert code(r.cmd("QUIT")) == "221"
    r.close()
    assert spool_files(mx, "demo@example.test") == []
    assert spool_files(mx, "other@example.test") == []


def test_sequence_replies_exact(mx):
    """The full text of each refusal, and which check answers first: the
    state for MAIL and RCPT, the syntax for DATA and STARTTLS, the BDAT
    sequence before anything else (RFC 3030 section 2)."""
    r = Raw(mx.port)
    assert r.cmd("MAIL FROM:bad") == ["503 5.5.1 Error: send HELO/EHLO first\r\n"]
    assert r.cmd("RCPT TO:bad") == ["503 5.5.1 Error: need MAIL command\r\n"]
    assert r.cmd("DATA x") == ["501 5.5.4 Syntax: DATA takes no argument\r\n"]
    assert r.cmd("DATA") == ["503 5.5.1 Error: need RCPT command\r\n"]
    assert r.cmd("STARTTLS x") == ["501 5.5.4 Syntax: STARTTLS\r\n"]
    assert r.cmd("STARTTLS") == ["503 5.5.1 Error: send EHLO first\r\n"]
    assert r.cmd("LHLO c.example") == ["500 5.5.1 Unknown command\r\n"]
    assert r.cmd("AUTH PLAIN") == ["503 5.5.1 Error: authentication not enabled\r\n"]
    assert r.cmd("EXPN staff") == ["502 5.5.1 Error: EXPN disabled\r\n"]
    assert r.cmd("HELP") == ["214 2.0.0 See https://www.rfc-editor.org/rfc/rfc5321\r\n"]
    assert r.cmd(b"NO\0OP") == ["500 5.5.2 Error: NUL byte in command\r\n"]
    assert r.cmd("HELO c.example") == ["250 mx.example.test\r\n"]
    assert r.cmd("MAIL FROM:<a@example.org> SIZE=10") == \
        ["555 5.5.4 MAIL parameters need EHLO\r\n"]
    assert r.cmd("MAIL FROM:<a@example.org>") == ["250 2.1.0 Ok\r\n"]
    assert r.cmd("MAIL FROM:bad") == ["503 5.5.1 Error: nested MAIL command\r\n"]
    assert r.cmd("DATA") == ["554 5.5.1 Error: no valid recipients\r\n"]
    assert r.cmd("QUIT") == ["221 2.0.0 mx.example.test closing connection\r\n"]
    r.close()
    # A new session: the errors above count toward the limit of 20.
    r = Raw(mx.port)
    assert r.cmd("EHLO c.example")[-1] == "250 SMTPUTF8\r\n"
    assert r.cmd("MAIL FROM:<a@example.org>") == ["250 2.1.0 Ok\r\n"]
    assert r.cmd("RCPT TO:<demo@example.test>") == ["250 2.1.5 Ok\r\n"]
    r.send(b"BDAT 3\r\nabc")
    assert r.reply() == ["250 2.0.0 3 octets received\r\n"]
    for line in ("DATA x", "MAIL FROM:bad", "RCPT TO:<demo@example.test>", "EHLO c.example",
                 "STARTTLS", "VRFY demo", "HELP", "AUTH PLAIN"):
        assert r.cmd(line) == ["503 5.5.1 Error: BDAT sequence in progress\r\n"], line
    assert r.cmd("NOOP") == ["250 2.0.0 Ok\r\n"]
    assert r.cmd("RSET") == ["250 2.0.0 Ok\r\n"]
    r.send(b"BDAT 2 LAST\r\nab")
    assert r.reply() == ["503 5.5.1 Error: need RCPT command\r\n"]
    assert r.cmd("QUIT") == ["221 2.0.0 mx.example.test closing connection\r\n"]
    r.close()


def test_pipelining_and_bdat(mx):
    r = Raw(mx.port)
    r.cmd("EHLO c.example")
    msg = BODY
    r.send(b"MAIL FROM:<a@example.org>\r\nRCPT TO:<demo@example.test>\r\n"
           b"BDAT %d\r\n%sBDAT 0 LAST\r\n" % (len(msg[:20]), msg[:20]))
    assert code(r.reply()) == "250"
    assert code(r.reply()) == "250"
    assert code(r.reply()) == "250"
    r.send(b"BDAT %d LAST\r\n%s" % (len(msg[20:]), msg[20:]))
    # the "BDAT 0 LAST" reply... order: chunk1 250, then BDAT 0 LAST delivers
    rep = r.reply()
    assert code(rep) == "250", rep
    rep2 = r.reply()
    assert code(rep2) == "503", rep2  # second LAST without a transaction
    r.close()
    msgs = mbox_messages(mx, "demo@example.test", mx.pw)
    assert len(msgs) == 1
    assert headers_and_rest(msgs[0][1])[1] == msg[:20]


def test_bdat_whole_message(mx):
    r = Raw(mx.port)
    r.cmd("EHLO c.example")
    r.cmd("MAIL FROM:<a@example.org> BODY=8BITMIME")
    r.cmd("RCPT TO:<demo@example.test>")
    half = len(BODY) // 2
    r.send(b"BDAT %d\r\n%s" % (half, BODY[:half]))
    assert code(r.reply()) == "250"
    r.send(b"BDAT %d LAST\r\n%s" % (len(BODY) - half, BODY[half:]))
    assert code(r.reply()) == "250"
    r.close()
    msgs = mbox_messages(mx, "demo@example.test", mx.pw)
    assert headers_and_rest(msgs[0][1])[1] == BODY


def test_starttls_and_pipelined_injection_discarded(mx):
    with smtplib.SMTP("127.0.0.1", mx.port) as s:
        s.ehlo("c.example")
        assert s.has_extn("starttls")
        ctx = ssl.create_default_context(cafile=mx.cert)
        ctx.check_hostname = False
        s.starttls(context=ctx)
        s.ehlo("c.example")
        assert not s.has_extn("starttls")
        s.sendmail("alice@example.org", ["demo@example.test"], BODY)
    msgs = mbox_messages(mx, "demo@example.test", mx.pw)
    assert b"with ESMTPS id" in msgs[0][1]
    assert b"TLSv1.3" in msgs[0][1]
    # The injection: a command pipelined after STARTTLS in plaintext.
    r = Raw(mx.port)
    r.cmd("EHLO c.example")
    r.send(b"STARTTLS\r\nMAIL FROM:<evil@example.org>\r\n")
    assert r.line().startswith("220")
    ctx = ssl.create_default_context(cafile=mx.cert)
    ctx.check_hostname = False
    tls = ctx.wrap_socket(r.s, server_hostname="localhost")
    f = tls.makefile("rb")
    tls.sendall(b"EHLO c.example\r\n")
    while True:
        l = f.readline()
        if l[3:4] == b" ":
            break
    # Had the MAIL been executed, this would be "503 nested MAIL".
    tls.sendall(b"MAIL FROM:<good@example.org>\r\n")
    assert f.readline().startswith(b"250")
    tls.close()
    wait_until(lambda: "SEALMAIL_DISCARDED=" in mx.log_text(), what="discard logged")


def test_redis_subscriber_sees_new(mx, redis):
    uid = os.path.basename(mx.user_dir("demo@example.test"))
    sub = redis.subscribe(f"sealmail:user:{uid}")
    try:
        deliver_swaks(mx.port, "demo@example.test")
        lines = [sub.stdout.readline().strip() for _ in range(3)]
        assert lines == ["message", f"sealmail:user:{uid}", "new"]
    finally:
        sub.kill()
        sub.wait()


def test_delivery_without_redis(redis, cert):
    inst = Instance(redis=None, cert=cert,
                    extra_conf="redis = unix:/nonexistent/redis.sock\n")
    try:
        inst.setup_domain()
        pw = inst.add_user("demo@example.test")
        port = inst.start("smtpd")
        assert deliver_swaks(port, "demo@example.test").returncode == 0
        assert len(mbox_messages(inst, "demo@example.test", pw)) == 1
    finally:
        inst.cleanup()


def test_structured_log_per_message(mx):
    deliver_swaks(mx.port, "demo@example.test")
    log = mx.log_text()
    line = [l for l in log.splitlines() if l.startswith("<6>deliver ")][0]
    for field in ("SEALMAIL_SESSION=", "SEALMAIL_QUEUEID=", "SEALMAIL_MSGID=<m1@example.org>",
                  f"SEALMAIL_SIZE={len(BODY) + 2}", "SEALMAIL_RECIPIENTS=1", "SEALMAIL_TLS=no"):
        assert field in line, (field, line)
    r = Raw(mx.port)
    r.cmd("EHLO c.example")
    r.cmd("MAIL FROM:<a@example.org>")
    r.cmd("RCPT TO:<nobody@example.test>")
    r.close()
    wait_until(lambda: "SEALMAIL_RCPT=nobody@example.test" in mx.log_text(), what="reject log")


def test_accept_fork_mode(inst):
    """Accept=no: the handler gets a listening socket and forks per connection."""
    inst.setup_domain()
    pw = inst.add_user("demo@example.test")
    port = free_port()
    p = subprocess.Popen(["systemd-socket-activate", "-l", f"127.0.0.1:{port}", "-E",
                          "SEALMAIL_CONF", "-E", "LOG_TARGET", f"{BUILD}/smtpd"],
                         env=inst.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    inst.procs.append(p)
    from harness import can_connect
    wait_until(lambda: can_connect(port), what="fork-mode smtpd")
    results = []

    def one():
        results.append(deliver_swaks(port, "demo@example.test").returncode)

    threads = [threading.Thread(target=one) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [0] * 8
    assert len(mbox_messages(inst, "demo@example.test", pw)) == 8


def test_kill_during_data_never_half_delivers(mx, tmp_path):
    """SIGKILL the handler at varying moments around the end of DATA: every
    acknowledged message is present and complete, nothing is half there."""
    ident = mx.sealctl("user", "identity", "demo@example.test", "--password-stdin",
                       input=mx.pw + "\n").stdout.strip()
    (tmp_path / "id").write_text(ident + "\n")
    big = b"Subject: big\r\n\r\n" + (b"y" * 76 + b"\r\n") * 20000 + b"THE-END\r\n"
    acked = 0
    for i in range(12):
        r = Raw(mx.port)
        r.cmd("EHLO c.example")
        r.cmd("MAIL FROM:<a@example.org>")
        r.cmd("RCPT TO:<demo@example.test>")
        r.cmd("DATA")
        r.send(big + b".\r\n")
        time.sleep(i * 0.004)
        out = subprocess.run(["pkill", "-9", "-f", f"{BUILD}/smtpd", "-P",
                              str(mx.procs[0].pid)], capture_output=True)
        try:
            rep = r.f.readline()
        except ConnectionResetError:
            rep = b""  # killed with our data unread: the kernel answers RST
        if rep.startswith(b"250"):
            acked += 1
        r.close()
    files = spool_files(mx, "demo@example.test")
    assert len(files) >= acked
    for f in files:
        out = subprocess.run(["age", "-d", "-i", str(tmp_path / "id"), f], capture_output=True)
        assert out.returncode == 0, out.stderr
        assert out.stdout.endswith(b"THE-END\r\n")


def test_lmtp_two_recipients_two_replies(inst):
    inst.setup_domain()
    pw = inst.add_user("demo@example.test")
    inst.add_user("other@example.test", "other-pw")
    sock = inst.start("lmtpd", unix=os.path.join(inst.run_dir, "lmtp"))
    p = subprocess.run(["swaks", "--protocol", "LMTP", "--socket", sock, "--from",
                        "alice@example.org", "--to", "demo@example.test,other@example.test",
                        "--data", "-"], input=BODY, capture_output=True, timeout=60)
    assert p.returncode == 0, p.stdout
    out = p.stdout.decode()
    assert len(re.findall(r"<~\s+250 2\.0\.0 <(demo|other)@example.test>", out)) == 2 or \
        len(re.findall(r"250 2\.0\.0 <(demo|other)@example\.test>", out)) == 2, out
    assert len(mbox_messages(inst, "demo@example.test", pw)) == 1
    raw = mbox_messages(inst, "other@example.test", "other-pw")[0][1]
    assert b"with LMTP id" in raw


def test_lmtp_per_recipient_results(inst):
    inst.setup_domain()
    inst.add_user("demo@example.test")
    sock = inst.start("lmtpd", unix=os.path.join(inst.run_dir, "lmtp"))
    s = socket.socket(socket.AF_UNIX)
    s.connect(sock)
    f = s.makefile("rb")
    assert f.readline().startswith(b"220 ")
    s.sendall(b"EHLO x\r\n")
    assert f.readline().startswith(b"500")
    s.sendall(b"LHLO x\r\n")
    while f.readline()[3:4] != b" ":
        pass
    s.sendall(b"MAIL FROM:<a@example.org>\r\nRCPT TO:<demo@example.test>\r\n"
              b"RCPT TO:<nobody@example.test>\r\nRCPT TO:<demo+x@example.test>\r\nDATA\r\n")
    assert f.readline().startswith(b"250")
    assert f.readline().startswith(b"250")
    assert f.readline().startswith(b"550 5.1.1")
    assert f.readline().startswith(b"250")
    assert f.readline().startswith(b"354")
    s.sendall(BODY + b".\r\n")
    r1, r2 = f.readline(), f.readline()
    assert r1.startswith(b"250 2.0.0 <demo@example.test>"), r1
    assert r2.startswith(b"250 2.0.0 <demo+x@example.test>"), r2
    s.close()


def test_quota_enforced_at_rcpt(mx):
    # The quota counts the mailbox file and the spool: leave room for one
    # 70 KB message beyond what the empty mailbox takes.
    udir = mx.user_dir("demo@example.test")
    used = sum(os.path.getsize(os.path.join(udir, f)) for f in os.listdir(udir)
               if f.startswith("mailbox.db"))
    quota = used + 60 * 1024
    mx.sealctl("user", "quota", "demo@example.test", str(quota))
    assert f"quota={quota}" in mx.sealctl("user", "list").stdout
    big = b"Subject: big\r\n\r\n" + (b"z" * 998 + b"\r\n") * 70
    with smtplib.SMTP("127.0.0.1", mx.port) as s:
        s.sendmail("a@example.org", ["demo@example.test"], big)
        # The mailbox + spool now hold more than the quota: temporary refusal.
        s.mail("a@example.org")
        code_, msg = s.rcpt("demo@example.test")
        assert code_ == 452 and msg.startswith(b"4.2.2")
        assert s.rcpt("other@example.test")[0] == 250
    mx.sealctl("user", "quota", "demo@example.test", "none")
    with smtplib.SMTP("127.0.0.1", mx.port) as s:
        assert s.sendmail("a@example.org", ["demo@example.test"], BODY) == {}
    assert mx.sealctl("user", "quota", "demo@example.test", "lots", check=False).returncode == 2


# ---- NUL bytes: content only of BINARYMIME (RFC 3030), which is not offered --

NUL_BODY = (b"From: Alice <alice@example.org>\r\nTo: demo@example.test\r\n"
            b"Subject: nul\r\n\r\nbefore\0after\r\n")
NUL_REPLY = b"5.6.0 Message contains a NUL byte (RFC 5322 section 3.5)"


def test_nul_in_data_refused(mx):
    with smtplib.SMTP("127.0.0.1", mx.port, timeout=10) as s:
        with pytest.raises(smtplib.SMTPDataError) as e:
            s.sendmail("alice@example.org", ["demo@example.test"], NUL_BODY)
        assert (e.value.smtp_code, e.value.smtp_error) == (554, NUL_REPLY)
        # The session goes on: the next message is taken.
        assert s.sendmail("alice@example.org", ["demo@example.test"], BODY) == {}
    msgs = mbox_messages(mx, "demo@example.test", mx.pw)
    assert len(msgs) == 1
    assert headers_and_rest(msgs[0][1])[1] == BODY


def test_nul_in_bdat_refused(mx):
    r = Raw(mx.port)
    r.cmd("EHLO c.example")
    assert code(r.cmd("MAIL FROM:<a@example.org> BODY=BINARYMIME")) == "501"
    r.cmd("MAIL FROM:<a@example.org> BODY=8BITMIME")
    r.cmd("RCPT TO:<demo@example.test>")
    r.send(b"BDAT 10\r\n" + NUL_BODY[:10])
    assert code(r.reply()) == "250"
    rest = NUL_BODY[10:]
    r.send(b"BDAT %d LAST\r\n%s" % (len(rest), rest))
    assert r.reply() == ["554 " + NUL_REPLY.decode() + "\r\n"]
    assert code(r.cmd("NOOP")) == "250"
    r.close()
    assert spool_files(mx, "demo@example.test") == []


def lmtp_session(sock_path, rcpts):
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(10)
    s.connect(sock_path)
    f = s.makefile("rb")
    assert f.readline().startswith(b"220 ")
    s.sendall(b"LHLO x\r\n")
    while f.readline()[3:4] != b" ":
        pass
    s.sendall(b"MAIL FROM:<a@example.org>\r\n" +
              b"".join(b"RCPT TO:<%s>\r\n" % r.encode() for r in rcpts))
    for _ in range(1 + len(rcpts)):  # MAIL, then each RCPT
        assert f.readline().startswith(b"250")
    return s, f


@pytest.mark.parametrize("body,reply", [
    (NUL_BODY, NUL_REPLY),
    (b"Subject: x\r\n\r\nbare\nLF\r\n", b"5.6.0 Message contains bare CR or LF"),
])
def test_lmtp_refusal_one_reply_per_recipient(inst, body, reply):
    """A refused message gets as many replies as accepted recipients (RFC
    2033 section 4.2), through DATA and through BDAT LAST."""
    inst.setup_domain()
    pw = inst.add_user("demo@example.test")
    inst.add_user("other@example.test", "other-pw")
    sock = inst.start("lmtpd", unix=os.path.join(inst.run_dir, "lmtp"))
    rcpts = ["demo@example.test", "other@example.test"]
    for bdat in (False, True):
        s, f = lmtp_session(sock, rcpts)
        if bdat:
            s.sendall(b"BDAT %d LAST\r\n%s" % (len(body), body))
        else:
            s.sendall(b"DATA\r\n")
            assert f.readline().startswith(b"354")
            s.sendall(body + b".\r\n")
        for r in rcpts:
            line = f.readline()
            assert line.startswith(b"554 <%s> " % r.encode() + reply), line
        s.sendall(b"NOOP\r\n")
        assert f.readline().startswith(b"250"), "one reply too many"
        s.close()
    with smtplib.LMTP(sock, timeout=10) as c:
        if body == NUL_BODY:
            with pytest.raises(smtplib.SMTPDataError) as e:
                c.sendmail("alice@example.org", ["demo@example.test"], body)
            assert e.value.smtp_code == 554
            assert e.value.smtp_error == b"<demo@example.test> " + NUL_REPLY
        assert c.sendmail("alice@example.org", ["demo@example.test"], BODY) == {}
    assert len(mbox_messages(inst, "demo@example.test", pw)) == 1
    assert spool_files(inst, "other@example.test") == []
