# SPDX-License-Identifier: AGPL-3.0-or-later
"""Milters (Sendmail milter protocol 6) on smtpd and lmtpd: a test milter
written with Debian's libmilter (tests/milter/testmilter.c) exercising every
action, Debian's opendkim signing and verifying, and small Python fake milters
that are down, never answer, or send garbage. Stored messages are checked
byte for byte through tests/tools/mboxdump."""
import os
import re
import shutil
import smtplib
import socket
import struct
import subprocess
import tempfile
import threading
import time

import pytest

from harness import (BUILD, ROOT, Instance, can_connect, free_port, mbox, mbox_messages,
                     spool_files, wait_until)

SRC = os.path.join(ROOT, "tests", "milter", "testmilter.c")
FROM = "alice@example.org"


def message(action=None, extra=b""):
    h = b"From: Alice <alice@example.org>\r\nTo: demo@example.test\r\nSubject: hello\r\n"
    if action:
        h += b"X-Test-Action: " + action.encode() + b"\r\n"
    h += extra + b"Message-ID: <m1@example.org>\r\n"
    return h + b"\r\nline one\r\n.leading dot\r\n\r\nend\r\n"


def split_trace(raw):
    """(trace headers we prepended, the message as the sender sent it)."""
    m = re.match(rb"(Return-Path: [^\r\n]*\r\nReceived: .*?\r\nDelivered-To: [^\r\n]*\r\n)",
                 raw, re.S)
    assert m, raw[:300]
    return m.group(1), raw[m.end():]


# ---- the libmilter test milter ---------------------------------------------

@pytest.fixture(scope="session")
def testmilter_bin():
    out = os.path.join(BUILD, "tests", "testmilter")
    if not os.path.exists(out) or os.path.getmtime(out) < os.path.getmtime(SRC):
        os.makedirs(os.path.dirname(out), exist_ok=True)
        subprocess.run(["cc", "-O1", "-Wall", "-o", out, SRC, "-lmilter", "-lpthread"],
                       check=True)
    return out


class LibMilter:
    def __init__(self, binary, tmp, *args, unix=None):
        self.port = free_port()
        self.log = os.path.join(tmp, f"milter-{self.port}.log")
        open(self.log, "w").close()
        conn = f"unix:{unix}" if unix else f"inet:{self.port}@127.0.0.1"
        self.proc = subprocess.Popen([binary, "-p", conn, "-l", self.log, *args],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if unix:
            wait_until(lambda: os.path.exists(unix), what="test milter socket")
        else:
            wait_until(lambda: can_connect(self.port), what="test milter")

    def all_events(self):
        """[(connection number, event)], in order."""
        out = []
        with open(self.log) as f:
            for line in f:
                n, _, ev = line.rstrip("\n").partition(" ")
                out.append((int(n), ev))
        return out

    def events(self):
        """The events of the SMTP sessions that said HELO (readiness probes
        of the harness connect and leave), session after session."""
        evs = self.all_events()
        ids = []
        for n, ev in evs:
            if ev.startswith("helo ") and n not in ids:
                ids.append(n)
        return [ev for i in ids for n, ev in evs if n == i]

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def make_mx(redis, cert, conf, handler="smtpd"):
    inst = Instance(redis=redis, cert=cert, extra_conf=conf)
    inst.setup_domain()
    inst.pw = inst.add_user("demo@example.test")
    inst.add_user("other@example.test", "other-pw")
    if handler == "smtpd":
        inst.port = inst.start("smtpd")
    else:
        inst.sock = inst.start("lmtpd", unix=os.path.join(inst.run_dir, "lmtp"))
    return inst


@pytest.fixture
def milter_env(redis, cert, testmilter_bin):
    """Start test milters and instances; clean both up."""
    tmp = tempfile.mkdtemp(prefix="sealmail-milter-")
    made = {"milters": [], "insts": []}

    def milter(*args, unix=None):
        m = LibMilter(testmilter_bin, tmp, *args, unix=unix)
        made["milters"].append(m)
        return m

    def mx(conf, handler="smtpd"):
        i = make_mx(redis, cert, conf, handler)
        made["insts"].append(i)
        return i
    yield milter, mx
    reports = []
    for i in made["insts"]:
        i.stop()
        log = i.log_text()
        # Under `make SAN=1` the handlers report to their log; any report fails.
        for marker in ("runtime error:", "AddressSanitizer", "LeakSanitizer"):
            if marker in log:
                reports.append(log[log.index(marker) - 200:][:2000])
        i.cleanup()
    for m in made["milters"]:
        m.stop()
    shutil.rmtree(tmp, ignore_errors=True)
    assert not reports, reports[0]


@pytest.fixture
def one(milter_env):
    """One test milter on smtpd; short timeouts so failures show fast."""
    milter, mx = milter_env
    m = milter()
    inst = mx(f"smtpd.milters = inet:127.0.0.1:{m.port}\nmilter_content_timeout = 1s\n"
              "milter_command_timeout = 5s\n")
    inst.milter = m
    return inst


def send(inst, msg, to=("demo@example.test",), sender=FROM):
    with smtplib.SMTP("127.0.0.1", inst.port, timeout=30) as s:
        s.ehlo("client.example")
        return s.sendmail(sender, list(to), msg)


def stored(inst, address="demo@example.test", password=None, folder="INBOX"):
    pw = password or (inst.pw if address == "demo@example.test" else "other-pw")
    return mbox_messages(inst, address, pw, folder)


def only_message(inst, **kw):
    msgs = stored(inst, **kw)
    assert len(msgs) == 1, msgs
    return msgs[0][1]


class Raw:
    def __init__(self, port=None, unix=None):
        if unix:
            self.s = socket.socket(socket.AF_UNIX)
            self.s.connect(unix)
        else:
            self.s = socket.create_connection(("127.0.0.1", port), timeout=30)
        self.f = self.s.makefile("rb")
        self.greeting = self.reply()

    def reply(self):
        lines = [self.f.readline().decode()]
        while len(lines[-1]) > 3 and lines[-1][3] == "-":
            lines.append(self.f.readline().decode())
        return lines

    def cmd(self, text):
        self.s.sendall(text.encode() + b"\r\n")
        return self.reply()

    def close(self):
        self.s.close()


# ---- every action of the libmilter test milter -------------------------------

def test_continue_keeps_message_byte_for_byte_and_event_order(one):
    msg = message()
    assert send(one, msg) == {}
    trace, rest = split_trace(only_message(one))
    assert rest == msg
    ev = one.milter.events()
    # ESMTP parameters reach the milter as the client wrote them.
    assert f"envfrom-arg size={len(msg)}" in ev
    order = [e.split()[0] for e in ev if not e.startswith("envfrom-arg")]
    assert order[:5] == ["connect", "helo", "envfrom", "envrcpt", "data"], ev
    assert order[5:9] == ["header"] * 4
    assert order[9:] [:3] == ["eoh", "body", "eom"], ev
    assert "connect [127.0.0.1]" in ev and "helo client.example" in ev
    assert "envfrom <alice@example.org>" in ev and "envrcpt <demo@example.test>" in ev
    body_len = len(msg.split(b"\r\n\r\n", 1)[1])
    assert f"body {body_len}" in ev


def test_macros(one):
    send(one, message("macros"))
    raw = only_message(one)
    m = re.search(rb"X-Test-Macros: ([^\r\n]*)\r\n", raw)
    assert m, raw
    macros = dict(kv.split("=", 1) for kv in re.findall(r"\S+=[^ ]*(?: \[[^\]]*\])?",
                                                          m.group(1).decode()))
    assert macros["j"] == "mx.example.test"
    assert macros["{daemon_name}"] == "smtpd"
    assert macros["{client_addr}"] == "127.0.0.1"
    assert macros["{client_name}"] == "unknown"
    assert macros["_"] == "unknown [127.0.0.1]"
    assert macros["{mail_addr}"] == "alice@example.org"
    # No AUTH on the MX: the macro is absent, not empty (milters such as
    # milter-greylist take any value as "authenticated").
    assert macros["{auth_authen}"] == "(unset)"
    assert macros["{rcpt_addr}"] == "demo@example.test"
    assert macros["helo"] == "client.example"
    assert macros["host"] == "[127.0.0.1]" and macros["family"] == "2"
    queue_id = re.search(rb"with ESMTP id ([0-9a-f]+)", raw).group(1).decode()
    assert macros["i"] == queue_id


def test_header_edits_applied_in_place_byte_for_byte(one):
    msg = message("addheader,addfolded,insheader,chgheader,delheader",
                  extra=b"X-Delete-Me: yes\r\n")
    send(one, msg)
    trace, rest = split_trace(only_message(one))
    expected = (b"X-Test-Inserted: at the top\r\n"
                b"From: Alice <alice@example.org>\r\nTo: demo@example.test\r\n"
                b"Subject: changed by testmilter\r\n"
                b"X-Test-Action: addheader,addfolded,insheader,chgheader,delheader\r\n"
                b"Message-ID: <m1@example.org>\r\n"
                b"X-Test-Added: added by testmilter\r\n"
                b"X-Test-Folded: line one\r\n\tline two\r\n"
                b"\r\nline one\r\n.leading dot\r\n\r\nend\r\n")
    assert rest == expected
    # Our trace headers stay first, untouched by the milter's index 0.
    assert trace.startswith(b"Return-Path: <alice@example.org>\r\nReceived: from client.example")


def test_milter_sees_values_without_leading_space_and_the_whole_body(one):
    msg = message("seen")
    send(one, msg)
    raw = only_message(one)
    assert b"X-Test-Seen-Subject: [hello]\r\n" in raw
    body_len = len(msg.split(b"\r\n\r\n", 1)[1])
    assert f"X-Test-Body-Size: {body_len} headers=5\r\n".encode() in raw


def test_large_body_in_chunks(one):
    body = (b"y" * 998 + b"\r\n") * 200  # 200 kB: four SMFIC_BODY chunks
    msg = b"Subject: big\r\nX-Test-Action: seen\r\n\r\n" + body
    send(one, msg)
    raw = only_message(one)
    assert raw.endswith(body)
    assert f"X-Test-Body-Size: {len(body)} headers=2\r\n".encode() in raw
    sizes = [int(e.split()[1]) for e in one.milter.events() if e.startswith("body ")]
    assert sizes == [65535, 65535, 65535, len(body) - 3 * 65535]


def test_reject_with_the_milters_reply(one):
    with pytest.raises(smtplib.SMTPDataError) as e:
        send(one, message("reject"))
    assert e.value.smtp_code == 554
    # "%%" from libmilter's printf-style convention arrives as "%".
    assert e.value.smtp_error == b"5.7.1 Message refused by test milter: 100% spam"
    assert stored(one) == []
    assert spool_files(one, "demo@example.test") == []


def test_reject_and_tempfail_without_text(one):
    with pytest.raises(smtplib.SMTPDataError) as e:
        send(one, message("reject-plain"))
    assert (e.value.smtp_code, e.value.smtp_error) == (550, b"5.7.1 Command rejected")
    with pytest.raises(smtplib.SMTPDataError) as e:
        send(one, message("tempfail"))
    assert e.value.smtp_code == 451 and e.value.smtp_error.startswith(b"4.7.1")
    assert stored(one) == []


def test_discard_accepts_and_drops(one):
    assert send(one, message("discard")) == {}
    assert stored(one) == []
    assert spool_files(one, "demo@example.test") == []
    assert "discard" in one.log_text()


def test_quarantine_goes_to_junk_with_keyword(one):
    msg = message("quarantine")
    assert send(one, msg) == {}
    assert stored(one) == []
    listing = mbox(one, "demo@example.test", one.pw, "list", "Junk").stdout.decode()
    assert "$Quarantined" in listing, listing
    raw = only_message(one, folder="Junk")
    assert split_trace(raw)[1] == msg  # the flags field was stripped on import
    assert "test quarantine" in one.log_text()


def test_replace_body_with_crlf_line_endings(one):
    msg = message("replbody")
    send(one, msg)
    trace, rest = split_trace(only_message(one))
    head = msg.split(b"\r\n\r\n", 1)[0]
    assert rest == head + b"\r\n\r\nreplaced body\r\nsecond line\r\n"


def test_add_recipient(one):
    send(one, message("addrcpt"))
    assert len(stored(one)) == 1
    raw = only_message(one, address="other@example.test")
    assert b"Delivered-To: other@example.test\r\n" in raw


def test_add_recipient_with_parameters(one):
    send(one, message("addrcpt-par"))
    assert len(stored(one, address="other@example.test")) == 1


def test_delete_recipient(one):
    assert send(one, message("delrcpt"), to=["demo@example.test", "other@example.test"]) == {}
    assert stored(one) == []
    assert len(stored(one, address="other@example.test")) == 1
    # The only recipient deleted: accepted, delivered nowhere.
    assert send(one, message("delrcpt")) == {}
    assert stored(one) == []


def test_change_sender_changes_return_path(one):
    send(one, message("chgfrom"))
    trace, _ = split_trace(only_message(one))
    assert trace.startswith(b"Return-Path: <changed@example.org>\r\n")


def test_accept_delivers_intact(one):
    msg = message("accept")
    send(one, msg)
    assert split_trace(only_message(one))[1] == msg


def test_progress_extends_the_timeout(one):
    # The milter works 2 s at end of message with milter_content_timeout = 1s,
    # sending SMFIR_PROGRESS every 0.4 s.
    msg = message("progress,addheader")
    send(one, msg)
    assert b"X-Test-Added: added by testmilter\r\n" in only_message(one)


def test_shutdown_421_closes_the_connection(one):
    r = Raw(one.port)
    r.cmd("EHLO client.example")
    r.cmd("MAIL FROM:<alice@example.org>")
    r.cmd("RCPT TO:<demo@example.test>")
    assert r.cmd("DATA")[0].startswith("354")
    r.s.sendall(message("shutdown") + b".\r\n")
    assert r.reply()[-1].startswith("421 4.7.0 Closing by test milter")
    assert r.f.readline() == b""
    assert stored(one) == []


def test_per_recipient_replies_at_rcpt(one):
    for a in ["reject-me", "tempfail-me", "multi-me"]:
        one.sealctl("alias", "add", f"{a}@example.test", "other@example.test")
    r = Raw(one.port)
    r.cmd("EHLO client.example")
    assert r.cmd("MAIL FROM:<alice@example.org>")[-1].startswith("250")
    assert r.cmd("RCPT TO:<reject-me@example.test>") == [
        "550 5.1.1 Recipient refused by test milter\r\n"]
    assert r.cmd("RCPT TO:<tempfail-me@example.test>")[-1].startswith(
        "451 4.7.1 Recipient deferred by test milter")
    assert r.cmd("RCPT TO:<multi-me@example.test>") == [
        "550-5.7.1 first line\r\n", "550 5.7.1 second line\r\n"]
    # Our own refusal comes first; the milter never hears of it.
    assert r.cmd("RCPT TO:<nobody@example.test>")[-1].startswith("550 5.1.1 Error")
    assert r.cmd("RCPT TO:<demo@example.test>")[-1].startswith("250")
    assert r.cmd("DATA")[0].startswith("354")
    r.s.sendall(message() + b".\r\n")
    assert r.reply()[-1].startswith("250")
    r.cmd("QUIT")
    assert len(stored(one)) == 1
    assert stored(one, address="other@example.test") == []
    assert not any("nobody" in e for e in one.milter.events())


def test_helo_and_sender_refusals(one):
    r = Raw(one.port)
    assert r.cmd("EHLO reject.example") == ["550 5.7.1 HELO refused by test milter\r\n"]
    assert r.cmd("EHLO client.example")[-1].startswith("250")
    assert r.cmd("MAIL FROM:<reject-sender@example.org>") == [
        "553 5.7.1 Sender refused by test milter\r\n"]
    assert r.cmd("MAIL FROM:<tempfail-sender@example.org>")[-1].startswith("451 4.7.1")
    # A discard at MAIL: the transaction goes on and the message is dropped.
    assert r.cmd("MAIL FROM:<discard-sender@example.org>")[-1].startswith("250")
    assert r.cmd("RCPT TO:<demo@example.test>")[-1].startswith("250")
    assert r.cmd("DATA")[0].startswith("354")
    r.s.sendall(message() + b".\r\n")
    assert r.reply()[-1].startswith("250")
    r.cmd("QUIT")
    assert stored(one) == []


def test_rset_aborts_the_milter_transaction(one):
    r = Raw(one.port)
    r.cmd("EHLO client.example")
    r.cmd("MAIL FROM:<alice@example.org>")
    r.cmd("RCPT TO:<demo@example.test>")
    assert r.cmd("RSET")[-1].startswith("250")
    r.cmd("QUIT")
    r.close()
    wait_until(lambda: "close" in one.milter.events(), what="milter close")
    ev = [e.split()[0] for e in one.milter.events()]
    assert ev == ["connect", "helo", "envfrom", "envrcpt", "abort", "close"], ev


def test_bdat_goes_through_the_milter(one):
    r = Raw(one.port)
    r.cmd("EHLO client.example")
    r.cmd("MAIL FROM:<alice@example.org>")
    r.cmd("RCPT TO:<demo@example.test>")
    msg = message("addheader")
    half = len(msg) // 2
    r.s.sendall(f"BDAT {half}\r\n".encode() + msg[:half])
    assert r.reply()[-1].startswith("250")
    r.s.sendall(f"BDAT {len(msg) - half} LAST\r\n".encode() + msg[half:])
    assert r.reply()[-1].startswith("250")
    r.cmd("QUIT")
    assert split_trace(only_message(one))[1] == msg.replace(
        b"\r\n\r\nline one", b"\r\nX-Test-Added: added by testmilter\r\n\r\nline one")


def test_connect_refusal_refuses_every_transaction(milter_env):
    milter, mx = milter_env
    m = milter("-c", "reject")
    inst = mx(f"smtpd.milters = inet:127.0.0.1:{m.port}\n")
    r = Raw(inst.port)
    assert r.greeting[0].startswith("220 ")
    assert r.cmd("EHLO client.example")[-1].startswith("250")
    assert r.cmd("MAIL FROM:<alice@example.org>") == [
        "550 5.7.1 Connection refused by test milter\r\n"]
    assert r.cmd("MAIL FROM:<alice@example.org>")[-1].startswith("550 5.7.1")
    r.cmd("QUIT")


def test_milter_on_a_unix_socket(milter_env, tmp_path):
    milter, mx = milter_env
    path = str(tmp_path / "milter.sock")
    milter(unix=path)
    inst = mx(f"smtpd.milters = unix:{path}\n")
    send(inst, message("addheader"))
    assert b"X-Test-Added: added by testmilter\r\n" in only_message(inst)


def test_two_milters_in_order_each_sees_the_previous_edits(milter_env):
    milter, mx = milter_env
    m1, m2 = milter(), milter()
    inst = mx(f"smtpd.milters = inet:127.0.0.1:{m1.port}, inet:127.0.0.1:{m2.port}\n")
    send(inst, message("seen,addheader"))
    raw = only_message(inst)
    sizes = re.findall(rb"X-Test-Body-Size: \d+ headers=(\d+)\r\n", raw)
    # The second milter saw the three fields the first one added.
    assert [int(x) for x in sizes] == [5, 8]
    assert raw.count(b"X-Test-Added: added by testmilter\r\n") == 2


def test_first_refusal_wins_and_later_milters_are_not_asked(milter_env):
    milter, mx = milter_env
    m1, m2 = milter(), milter()
    inst = mx(f"smtpd.milters = inet:127.0.0.1:{m1.port} inet:127.0.0.1:{m2.port}\n")
    with pytest.raises(smtplib.SMTPDataError):
        send(inst, message("reject"))
    assert any(e.startswith("eom") for e in m1.events())
    assert not any(e.startswith("eom") for e in m2.events())


def test_lmtpd_with_a_milter(milter_env):
    milter, mx = milter_env
    m = milter()
    inst = mx(f"lmtpd.milters = inet:127.0.0.1:{m.port}\n", handler="lmtpd")
    r = Raw(unix=inst.sock)
    assert r.cmd("LHLO client.example")[-1].startswith("250")
    r.cmd("MAIL FROM:<alice@example.org>")
    r.cmd("RCPT TO:<demo@example.test>")
    r.cmd("RCPT TO:<other@example.test>")
    assert r.cmd("DATA")[0].startswith("354")
    msg = message("addheader")
    r.s.sendall(msg + b".\r\n")
    assert r.reply()[0].startswith("250 2.0.0 <demo@example.test>")
    assert r.reply()[0].startswith("250 2.0.0 <other@example.test>")
    # A refusal at end of message: one reply per recipient (RFC 2033 4.2).
    r.cmd("MAIL FROM:<alice@example.org>")
    r.cmd("RCPT TO:<demo@example.test>")
    r.cmd("RCPT TO:<other@example.test>")
    assert r.cmd("DATA")[0].startswith("354")
    r.s.sendall(message("reject") + b".\r\n")
    assert r.reply()[0].startswith("554 5.7.1 Message refused")
    assert r.reply()[0].startswith("554 5.7.1 Message refused")
    r.cmd("QUIT")
    for addr in ["demo@example.test", "other@example.test"]:
        raw = only_message(inst, address=addr)
        assert b"X-Test-Added: added by testmilter\r\n" in raw
        assert b"with LMTP id" in raw
    assert any(e.startswith("connect localhost") for e in m.events())


# ---- default action: down, silent, garbage ------------------------------------

class FakeMilter:
    """A milter in Python misbehaving on purpose.
    silent: accepts connections, never answers anything;
    garbage-optneg: answers option negotiation with an HTTP response;
    hang-eom: negotiates and continues, then never answers end of message;
    garbage-eom: adds a header, then sends a packet with an absurd length;
    undeclared: adds a header without having negotiated SMFIF_ADDHDRS."""

    def __init__(self, mode):
        self.mode = mode
        self.ls = socket.socket()
        self.ls.bind(("127.0.0.1", 0))
        self.ls.listen(16)
        self.port = self.ls.getsockname()[1]
        self.conns = []
        threading.Thread(target=self.accept_loop, daemon=True).start()

    def accept_loop(self):
        while True:
            try:
                c, _ = self.ls.accept()
            except OSError:
                return
            self.conns.append(c)
            threading.Thread(target=self.serve, args=(c,), daemon=True).start()

    @staticmethod
    def frame(cmd, data=b""):
        return struct.pack(">I", len(data) + 1) + cmd + data

    def serve(self, c):
        f = c.makefile("rb")
        try:
            while True:
                hdr = f.read(4)
                if len(hdr) < 4:
                    return
                data = f.read(struct.unpack(">I", hdr)[0])
                cmd, data = data[:1], data[1:]
                if self.mode == "silent":
                    continue
                if cmd == b"O":
                    if self.mode == "garbage-optneg":
                        c.sendall(b"HTTP/1.1 400 Bad Request\r\n\r\n")
                        continue
                    actions = 0 if self.mode == "undeclared" else 0x01
                    c.sendall(self.frame(b"O", struct.pack(">III", 6, actions, 0)))
                elif cmd in (b"D", b"A"):
                    continue
                elif cmd == b"Q":
                    return
                elif cmd == b"E":
                    if self.mode == "hang-eom":
                        continue
                    c.sendall(self.frame(b"h", b"X-Fake\0yes\0"))
                    if self.mode == "garbage-eom":
                        c.sendall(b"\xff\xff\xff\xffjunk")
                    else:
                        c.sendall(self.frame(b"c"))
                else:
                    c.sendall(self.frame(b"c"))
        except OSError:
            return

    def close(self):
        self.ls.close()
        for c in self.conns:
            try:
                c.close()
            except OSError:
                pass


@pytest.fixture
def fake(request):
    made = []

    def start(mode):
        fm = FakeMilter(mode)
        made.append(fm)
        return fm
    yield start
    for fm in made:
        fm.close()


def closed_port():
    return free_port()  # bound then released: nothing listens there


@pytest.mark.parametrize("action,code", [("tempfail", "451 4.7.1"), ("reject", "550 5.7.1")])
def test_milter_down_default_refuses(milter_env, action, code):
    _, mx = milter_env
    inst = mx(f"smtpd.milters = inet:127.0.0.1:{closed_port()}\n"
              f"milter_default_action = {action}\n")
    r = Raw(inst.port)
    # Every event gets the default action, HELO included (as Postfix).
    assert r.cmd("EHLO client.example")[-1].startswith(code)
    assert r.cmd("HELO client.example")[-1].startswith(code)
    assert r.cmd("QUIT")[-1].startswith("221")
    assert "milter-error" in inst.log_text()
    assert stored(inst) == []


def test_milter_down_default_accept_delivers_intact(milter_env):
    _, mx = milter_env
    inst = mx(f"smtpd.milters = inet:127.0.0.1:{closed_port()}\n"
              "milter_default_action = accept\n")
    msg = message("addheader")
    assert send(inst, msg) == {}
    assert split_trace(only_message(inst))[1] == msg


def test_per_milter_default_action_override(milter_env):
    milter, mx = milter_env
    m = milter()
    inst = mx(f"smtpd.milters = {{ inet:127.0.0.1:{closed_port()}, default_action = accept }}"
              f" inet:127.0.0.1:{m.port}\nmilter_default_action = tempfail\n")
    msg = message("addheader")
    send(inst, msg)
    assert b"X-Test-Added" in only_message(inst)


def test_unix_socket_milter_missing(milter_env, tmp_path):
    _, mx = milter_env
    inst = mx(f"smtpd.milters = unix:{tmp_path}/nothing.sock\n")
    r = Raw(inst.port)
    assert r.cmd("EHLO client.example")[-1].startswith("451 4.7.1")
    r.cmd("QUIT")


@pytest.mark.parametrize("action", ["tempfail", "accept"])
def test_silent_milter_times_out(milter_env, fake, action):
    _, mx = milter_env
    fm = fake("silent")
    inst = mx(f"smtpd.milters = inet:127.0.0.1:{fm.port}\nmilter_connect_timeout = 1s\n"
              f"milter_default_action = {action}\n")
    t0 = time.monotonic()
    r = Raw(inst.port)
    rep = r.cmd("EHLO client.example")
    assert time.monotonic() - t0 < 10
    if action == "tempfail":
        assert rep[-1].startswith("451 4.7.1")
        r.cmd("QUIT")
        assert stored(inst) == []
    else:
        assert rep[-1].startswith("250")
        r.cmd("QUIT")
        msg = message()
        assert send(inst, msg) == {}
        assert split_trace(only_message(inst))[1] == msg
    assert "timeout" in inst.log_text()


@pytest.mark.parametrize("action", ["tempfail", "accept"])
def test_milter_hanging_at_end_of_message(milter_env, fake, action):
    _, mx = milter_env
    fm = fake("hang-eom")
    inst = mx(f"smtpd.milters = inet:127.0.0.1:{fm.port}\nmilter_content_timeout = 1s\n"
              f"milter_default_action = {action}\n")
    msg = message()
    if action == "tempfail":
        with pytest.raises(smtplib.SMTPDataError) as e:
            send(inst, msg)
        assert e.value.smtp_code == 451
        assert stored(inst) == []
    else:
        assert send(inst, msg) == {}
        assert split_trace(only_message(inst))[1] == msg


@pytest.mark.parametrize("mode", ["garbage-optneg", "garbage-eom", "undeclared"])
def test_garbage_never_corrupts_the_message(milter_env, fake, mode):
    _, mx = milter_env
    fm = fake(mode)
    inst = mx(f"smtpd.milters = inet:127.0.0.1:{fm.port}\nmilter_default_action = accept\n")
    msg = message()
    assert send(inst, msg) == {}
    # The header the milter sent before its garbage is not applied.
    assert split_trace(only_message(inst))[1] == msg
    assert "protocol violation" in inst.log_text()


def test_garbage_with_tempfail_refuses(milter_env, fake):
    _, mx = milter_env
    fm = fake("garbage-eom")
    inst = mx(f"smtpd.milters = inet:127.0.0.1:{fm.port}\n")
    with pytest.raises(smtplib.SMTPDataError) as e:
        send(inst, message())
    assert e.value.smtp_code == 451
    assert stored(inst) == []


def test_well_behaved_fake_adds_its_header(milter_env, fake):
    # The control for the garbage cases: the same fake, behaving.
    _, mx = milter_env
    fm = fake("good")
    inst = mx(f"smtpd.milters = inet:127.0.0.1:{fm.port}\n")
    send(inst, message())
    assert b"\r\nX-Fake: yes\r\n\r\nline one" in only_message(inst)


@pytest.mark.parametrize("bad", ["inet:nowhere", "inet:localhost:8891", "{ inet:127.0.0.1:1",
                                 "{ inet:127.0.0.1:1, default_action = maybe }"])
def test_bad_milter_list_is_a_startup_error(redis, cert, bad):
    # Host names too: they could not be resolved inside the sandbox.
    inst = Instance(redis=redis, cert=cert, extra_conf=f"smtpd.milters = {bad}\n")
    try:
        inst.setup_domain()
        p = subprocess.run([f"{BUILD}/smtpd"], env=inst.env, capture_output=True, timeout=30,
                           stdin=subprocess.DEVNULL)
        assert p.returncode == 1
        assert b"milters: " in p.stderr
    finally:
        inst.cleanup()


# ---- opendkim ---------------------------------------------------------------------

class OpenDKIM:
    def __init__(self, tmp, mode, keydir, extra=""):
        self.port = free_port()
        self.conf = os.path.join(tmp, f"opendkim-{mode}-{self.port}.conf")
        with open(self.conf, "w") as f:
            f.write(f"Mode {mode}\nSocket inet:{self.port}@127.0.0.1\nBackground no\n"
                    f"PidFile {tmp}/opendkim-{self.port}.pid\n"
                    "Syslog no\nRequireSafeKeys no\nCanonicalization relaxed/simple\n"
                    f"Domain example.org\nSelector test\nKeyFile {keydir}/test.private\n"
                    f"TestPublicKeys {keydir}/keys\n" + extra)
        self.log = open(os.path.join(tmp, f"opendkim-{self.port}.log"), "w")
        self.proc = subprocess.Popen(["opendkim", "-f", "-x", self.conf],
                                     stdout=self.log, stderr=subprocess.STDOUT)
        wait_until(lambda: can_connect(self.port) or self.proc.poll() is not None,
                   what="opendkim")
        assert self.proc.poll() is None, open(self.log.name).read()

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


@pytest.fixture
def dkim(tmp_path):
    if shutil.which("opendkim") is None or shutil.which("opendkim-genkey") is None:
        pytest.fail("opendkim and opendkim-tools are required (tests/deps.sh installs them)")
    keydir = tmp_path / "keys"
    keydir.mkdir()
    subprocess.run(["opendkim-genkey", "-b", "2048", "-D", str(keydir), "-d", "example.org",
                    "-s", "test"], check=True)
    # The public key as DNS would serve it, for TestPublicKeys.
    txt = (keydir / "test.txt").read_text()
    record = "".join(re.findall(r'"([^"]*)"', txt))
    (keydir / "keys").write_text(f"test._domainkey.example.org {record}\n")
    os.chmod(keydir / "test.private", 0o600)
    made = []

    def start(mode, extra=""):
        d = OpenDKIM(str(tmp_path), mode, str(keydir), extra)
        made.append(d)
        return d
    yield start
    for d in made:
        d.stop()


# opendkim verifies only mail from hosts outside InternalHosts (127.0.0.1 by
# default); the verifier is told that loopback is outside.
VERIFY_EXTERNAL = "InternalHosts 192.0.2.1\n"


def dkim_message():
    return (b"From: Alice <alice@example.org>\r\nTo: demo@example.test\r\n"
            b"Subject: signed\r\nDate: Mon, 23 Nov 2026 11:16:53 +0000\r\n"
            b"Message-ID: <dkim1@example.org>\r\n\r\nHello,\r\n\r\nthis is signed.\r\n")


def test_opendkim_signs(milter_env, dkim):
    _, mx = milter_env
    signer = dkim("s")
    inst = mx(f"smtpd.milters = inet:127.0.0.1:{signer.port}\n")
    msg = dkim_message()
    send(inst, msg)
    trace, rest = split_trace(only_message(inst))
    assert rest.startswith(b"DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/simple; d=example.org;")
    sig, tail = rest.split(b"\r\nFrom: ", 1)
    assert b" s=test;" in sig and b"\r\n\t" in sig  # folded with CRLF
    assert b"From: " + tail == msg  # the rest is untouched


def test_opendkim_sign_then_verify_passes(milter_env, dkim):
    # Signer then verifier: the second milter sees the signature the first
    # one added, and the stored bytes are the ones that were verified.
    _, mx = milter_env
    signer = dkim("s")
    verifier = dkim("v", VERIFY_EXTERNAL)
    inst = mx(f"smtpd.milters = inet:127.0.0.1:{signer.port}, inet:127.0.0.1:{verifier.port}\n")
    send(inst, dkim_message())
    raw = only_message(inst)
    ar = re.search(rb"Authentication-Results: ([^\r\n]*(?:\r\n[ \t][^\r\n]*)*)", raw)
    assert ar, raw
    assert ar.group(1).startswith(b"mx.example.test;")  # the {j} macro
    assert b"dkim=pass" in ar.group(1), ar.group(1)
    assert b"DKIM-Signature: " in raw


def test_opendkim_verify_reports_a_broken_signature(milter_env, dkim):
    # Sign on one instance, alter the body, verify on another.
    _, mx = milter_env
    signer = dkim("s")
    a = mx(f"smtpd.milters = inet:127.0.0.1:{signer.port}\n")
    send(a, dkim_message())
    signed = split_trace(only_message(a))[1]
    tampered = signed.replace(b"this is signed.", b"this is changed.")
    verifier = dkim("v", VERIFY_EXTERNAL)
    b = mx(f"smtpd.milters = inet:127.0.0.1:{verifier.port}\n")
    send(b, tampered)
    raw = only_message(b)
    assert re.search(rb"Authentication-Results: mx\.example\.test;\s+dkim=fail", raw), raw


@pytest.mark.parametrize("action,check", [
    ("addheader", lambda rest: b"X-Test-Added: added by testmilter\r\n" in rest),
    ("chgheader", lambda rest: b"Subject: changed by testmilter\r\n" in rest),
    ("quarantine", None),
    ("reject", None),
])
def test_actions_through_swaks(one, action, check):
    """The same milter actions driven by swaks, a real SMTP client."""
    p = subprocess.run(["swaks", "--server", f"127.0.0.1:{one.port}", "--from", FROM,
                        "--to", "demo@example.test", "--helo", "client.example",
                        "--header", f"X-Test-Action: {action}", "--header", "Subject: hello"],
                       capture_output=True, timeout=60)
    out = p.stdout.decode(errors="replace")
    if action == "reject":
        assert p.returncode != 0 and re.search(r"<\*\* +5\d\d", out), out
        assert stored(one) == []
        return
    assert p.returncode == 0, out
    if action == "quarantine":
        assert stored(one) == []
        junk = mbox(one, "demo@example.test", one.pw, "list", "Junk").stdout.decode()
        assert "$Quarantined" in junk
        return
    _, rest = split_trace(only_message(one))
    assert check(rest), rest[:400]


# ---- LMTP: one reply per accepted recipient at end of message ----------------

LMTP_RCPTS = ["demo@example.test", "other@example.test", "demo+tag@example.test"]


def lmtp_transaction(inst, body, rcpts=LMTP_RCPTS, bdat=False):
    """MAIL, the RCPTs, the message (DATA or BDAT LAST); the replies that
    follow it, one per accepted RCPT, read one by one; then what a NOOP
    gets (None if the server closed the connection)."""
    r = Raw(unix=inst.sock)
    assert r.cmd("LHLO client.example")[-1].startswith("250")
    assert r.cmd("MAIL FROM:<alice@example.org>")[0].startswith("250")
    for a in rcpts:
        assert r.cmd(f"RCPT TO:<{a}>")[0].startswith("250"), a
    if bdat:
        r.s.sendall(b"BDAT %d LAST\r\n" % len(body) + body)
    else:
        assert r.cmd("DATA")[0].startswith("354")
        r.s.sendall(body + b".\r\n")
    replies = [r.reply() for _ in rcpts]
    try:
        r.s.sendall(b"NOOP\r\n")
        after = r.f.readline().decode() or None
    except OSError:  # closed after a 421
        after = None
    r.close()
    return replies, after


@pytest.mark.parametrize("bdat", [False, True], ids=["data", "bdat"])
@pytest.mark.parametrize("action,code", [("reject", "554"), ("reject-plain", "5"),
                                         ("tempfail", "4"), ("discard", "250"),
                                         ("shutdown", "421")])
def test_lmtp_milter_end_of_message_one_reply_per_rcpt(milter_env, action, code, bdat):
    """RFC 2033 section 4.2: after the message an LMTP client reads one reply
    per accepted recipient; a milter's refusal at end of message answers each
    of them, and nothing more follows (the next reply is the NOOP's, or the
    connection closes after a 421)."""
    milter, mx = milter_env
    m = milter()
    inst = mx(f"lmtpd.milters = inet:127.0.0.1:{m.port}\n", handler="lmtpd")
    replies, after = lmtp_transaction(inst, message(action), bdat=bdat)
    for rep in replies:
        assert len(rep) >= 1 and rep[0][:len(code)] == code, replies
    if action == "shutdown":
        assert after is None or after.startswith("421"), after
    else:
        assert after is not None and after.startswith("250"), (replies, after)
    assert stored(inst) == []


@pytest.mark.parametrize("action", ["tempfail", "reject"])
def test_lmtp_milter_down_at_end_of_message(milter_env, fake, action):
    """A milter that never answers end of message: the default action answers
    every recipient once."""
    _, mx = milter_env
    fm = fake("hang-eom")
    inst = mx(f"lmtpd.milters = inet:127.0.0.1:{fm.port}\nmilter_content_timeout = 1s\n"
              f"milter_default_action = {action}\n", handler="lmtpd")
    replies, after = lmtp_transaction(inst, message())
    want = "4" if action == "tempfail" else "5"
    for rep in replies:
        assert rep[0].startswith(want), replies
    assert after is not None and after.startswith("250"), (replies, after)
    assert stored(inst) == []


def test_lmtp_milter_refusal_answers_only_accepted_rcpts(milter_env):
    """Recipients refused at RCPT get no reply after the message: two of four
    accepted, two replies to the milter's refusal, then the NOOP's."""
    milter, mx = milter_env
    m = milter()
    inst = mx(f"lmtpd.milters = inet:127.0.0.1:{m.port}\n", handler="lmtpd")
    r = Raw(unix=inst.sock)
    assert r.cmd("LHLO client.example")[-1].startswith("250")
    r.cmd("MAIL FROM:<alice@example.org>")
    codes = [r.cmd(f"RCPT TO:<{a}>")[0][:3] for a in
             ("demo@example.test", "nobody@example.test", "other@example.test",
              "reject-me@example.test")]
    assert codes[0] == codes[2] == "250" and codes[1][0] == codes[3][0] == "5", codes
    assert r.cmd("DATA")[0].startswith("354")
    r.s.sendall(message("reject") + b".\r\n")
    assert r.reply()[0].startswith("554 5.7.1 Message refused")
    assert r.reply()[0].startswith("554 5.7.1 Message refused")
    assert r.cmd("NOOP")[0].startswith("250")
    r.close()
