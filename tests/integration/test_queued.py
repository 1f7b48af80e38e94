# SPDX-License-Identifier: AGPL-3.0-or-later
"""queued, the outbound delivery daemon, end to end: messages enqueued with the
queue's public key (build/tests/qenqueue, as submitd does), the real queued
resolving MX records from the dns-lab (NSD on loopback) and delivering to SMTP
receivers on their own 127.x.y.z:25. Postfix is not installed here, so the
receivers are a small SMTP server in this file (tests/mtalab/ has the Postfix
receiver for machines that have it)."""
import email
import os
import random
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import pytest

from harness import BUILD, Instance, built_with_asan, make_cert, proc_children, wait_until

REPO = Path(__file__).resolve().parents[2]
LAB = str(REPO / "tests" / "dnslab" / "dns-lab.sh")
NET = f"127.{random.randint(100, 199)}.{random.randint(1, 254)}"
HOSTS = {"a": 21, "b": 22, "tmp": 23, "rej": 24, "snd": 25, "tls": 26, "slow": 27,
         "chunk": 28, "exp": 29}
POSTFIX_HOSTS = {"pf": 30, "pftls": 31}  # real Postfix receivers (tests/mtalab)
MTALAB = str(REPO / "tests" / "mtalab" / "postfix-receiver.sh")


def zone():
    lines = ["$ORIGIN q.test.", "$TTL 300",
             "@ IN SOA ns1.q.test. hostmaster.q.test. 1 3600 600 86400 300",
             "@ IN NS ns1", f"ns1 IN A {NET}.53", "null IN MX 0 .",
             # fb: the first MX refuses connections (nothing listens), the second is a's.
             "fb IN MX 10 mx-dead", "fb IN MX 20 mx-a", f"mx-dead IN A {NET}.40"]
    for name, last in {**HOSTS, **POSTFIX_HOSTS}.items():
        lines += [f"{name} IN MX 10 mx-{name}", f"mx-{name} IN A {NET}.{last}"]
    return "\n".join(lines) + "\n"


class Receiver:
    """A minimal SMTP server: EHLO/HELO, optional STARTTLS, MAIL, RCPT answered
    with self.rcpt_reply, DATA; every message kept as (from, rcpts, bytes, tls)."""

    def __init__(self, addr, cert=None, data_delay=0.0, chunking=False):
        self.addr, self.cert, self.data_delay = addr, cert, data_delay
        self.chunking = chunking
        self.commands = []
        self.rcpt_reply = "250 2.1.5 ok"
        self.messages = []
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((addr, 25))
        self.sock.listen(16)
        threading.Thread(target=self.loop, daemon=True).start()

    def loop(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self.session, args=(c,), daemon=True).start()

    def session(self, c):
        try:
            self._session(c)
        except (OSError, ssl.SSLError):
            pass
        finally:
            c.close()

    def _session(self, c):
        f = c.makefile("rb")
        tls = False

        def say(s):
            c.sendall(s.encode() + b"\r\n")
        say("220 receiver ESMTP")
        mail, rcpts = None, []
        while True:
            line = f.readline(4096)
            if not line:
                return
            cmd = line.decode(errors="replace").strip()
            up = cmd.upper()
            self.commands.append(cmd)
            if up.startswith("EHLO"):
                ext = ["250-receiver", "250-PIPELINING", "250-8BITMIME", "250-SIZE 10000000"]
                if self.cert and not tls:
                    ext.append("250-STARTTLS")
                if self.chunking:
                    ext.append("250-CHUNKING")
                say("\r\n".join(ext + ["250 ENHANCEDSTATUSCODES"]))
            elif up.startswith("HELO"):
                say("250 receiver")
            elif up == "STARTTLS" and self.cert and not tls:
                say("220 2.0.0 go ahead")
                ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
                ctx.load_cert_chain(*self.cert)
                c = ctx.wrap_socket(c, server_side=True)
                f = c.makefile("rb")
                tls = True
            elif up.startswith("MAIL FROM:"):
                mail, rcpts = cmd[10:].split(" ")[0].strip("<>"), []
                say("250 2.1.0 ok")
            elif up.startswith("RCPT TO:"):
                reply = self.rcpt_reply
                if reply.startswith("250"):
                    rcpts.append(cmd[8:].split(" ")[0].strip("<>"))
                say(reply)
            elif up == "DATA":
                say("354 go on")
                data = b""
                while True:
                    line = f.readline(100000)
                    if not line:
                        return
                    if line == b".\r\n":
                        break
                    data += line[1:] if line.startswith(b"..") else line
                time.sleep(self.data_delay)
                self.messages.append((mail, rcpts, data, tls))
                say("250 2.0.0 queued")
            elif up.startswith("BDAT ") and self.chunking:
                words = up.split()
                data = f.read(int(words[1]))
                chunks = getattr(self, "_chunks", b"") + data
                if len(words) > 2 and words[2] == "LAST":
                    self._chunks = b""
                    self.messages.append((mail, rcpts, chunks, tls))
                    say("250 2.0.0 queued")
                else:
                    self._chunks = chunks
                    say("250 2.0.0 chunk")
            elif up == "RSET":
                mail, rcpts = None, []
                say("250 ok")
            elif up == "QUIT":
                say("221 bye")
                return
            else:
                say("502 5.5.2 what")

    def close(self):
        self.sock.close()


@pytest.fixture(scope="module")
def lab():
    if not all(shutil.which(p) for p in ("nsd", "ldns-signzone", "ldns-keygen")):
        pytest.skip("needs Debian's nsd and ldnsutils (tests/deps.sh)")
    if os.geteuid() != 0:
        pytest.skip("receivers listen on port 25")
    tmp = Path(tempfile.mkdtemp(prefix="sealmail-queued-"))
    z = tmp / "q.test.zone"
    z.write_text(zone())
    # Signed under a key the resolver does not trust: every answer is bogus.
    bz = tmp / "bogus.test.zone"
    bz.write_text("$ORIGIN bogus.test.\n$TTL 300\n"
                  "@ IN SOA ns1.bogus.test. hostmaster.bogus.test. 1 3600 600 86400 300\n"
                  f"@ IN NS ns1\nns1 IN A {NET}.53\n@ IN MX 10 mx\nmx IN A {NET}.21\n")
    labdir = tmp / "lab"
    subprocess.run([LAB, "start", str(labdir), "--addr", f"{NET}.53", "--port", "5353",
                    str(z), f"{bz}:bogus"], check=True, stdout=subprocess.PIPE, timeout=120)
    cert = make_cert(str(tmp))
    recv = {name: Receiver(f"{NET}.{last}", cert=cert if name == "tls" else None,
                           data_delay=1.5 if name == "slow" else 0.0,
                           chunking=name == "chunk")
            for name, last in HOSTS.items()}
    yield {"dir": labdir, "recv": recv, "tmp": tmp, "cert": cert}
    for r in recv.values():
        r.close()
    subprocess.run([LAB, "stop", str(labdir)], timeout=30)
    shutil.rmtree(tmp, ignore_errors=True)


class Queued:
    def __init__(self, lab, extra=""):
        conf = (f"dns_unbound_conf = {lab['dir']}/unbound.conf\ndns_trust_anchor =\n"
                "dns_timeout = 5s\nqueued.retry_min = 1s\nqueued.retry_max = 2s\n"
                "queued.connect_timeout = 2s\nqueued.smtp_timeout_cap = 10s\n" + extra)
        self.inst = Instance(extra_conf=conf)
        self.inst.sealctl("init")
        self.proc = None
        self.log = os.path.join(self.inst.tmp, "queued.log")

    def start(self):
        self.proc = subprocess.Popen([f"{BUILD}/queued"], env=self.inst.env,
                                     stdout=subprocess.DEVNULL, stderr=open(self.log, "a"))

    def enqueue(self, sender, *rcpts, body=None, utf8=False):
        msg = body or (f"From: <{sender}>\r\nTo: <{rcpts[0]}>\r\nSubject: hello\r\n"
                       f"Message-ID: <{random.random()}@q.test>\r\n\r\n"
                       ".leading dot\r\nbody\r\n").encode()
        p = subprocess.run([f"{BUILD}/tests/qenqueue", *(["-u"] if utf8 else []),
                            self.inst.state, sender, *rcpts],
                           input=msg, capture_output=True, check=True, timeout=30)
        return p.stdout.decode().strip()

    def queued_ids(self):
        active = Path(self.inst.state) / "queue" / "active"
        return sorted(p.name[:-len(".envelope")] for p in active.glob("*.envelope"))

    def log_text(self):
        p = Path(self.log)
        return p.read_text(errors="replace") if p.exists() else ""

    def stop(self):
        print(self.log_text())  # shown when the test fails
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
        self.inst.cleanup()


@pytest.fixture
def queued(lab, request):
    for r in lab["recv"].values():
        r.messages.clear()
        r.commands.clear()
        r.rcpt_reply = "250 2.1.5 ok"
    q = Queued(lab, extra=getattr(request, "param", ""))
    yield q
    q.stop()


def test_two_domains(lab, queued):
    queued.start()
    queued.enqueue("alice@snd.q.test", "bob@a.q.test", "carol@b.q.test")
    ra, rb = lab["recv"]["a"], lab["recv"]["b"]
    wait_until(lambda: ra.messages and rb.messages and not queued.queued_ids(), timeout=20,
               what="delivery to both domains and removal")
    assert ra.messages[0][:2] == ("alice@snd.q.test", ["bob@a.q.test"])
    assert rb.messages[0][:2] == ("alice@snd.q.test", ["carol@b.q.test"])
    # Dot-stuffing undone by the receiver gives the original line back.
    assert b"\r\n.leading dot\r\n" in ra.messages[0][2]
    assert not lab["recv"]["snd"].messages  # no DSN for a success


def test_451_retried_then_delivered(lab, queued):
    r = lab["recv"]["tmp"]
    r.rcpt_reply = "451 4.7.1 greylisted"
    queued.start()
    mid = queued.enqueue("alice@snd.q.test", "dave@tmp.q.test")
    wait_until(lambda: "greylisted" in queued.log_text(), timeout=20, what="first attempt")
    assert queued.queued_ids() == [mid] and not r.messages
    r.rcpt_reply = "250 2.1.5 ok"
    wait_until(lambda: r.messages and not queued.queued_ids(), timeout=20, what="retry")
    assert r.messages[0][1] == ["dave@tmp.q.test"]
    assert not lab["recv"]["snd"].messages


def dsn_of(lab):
    snd = lab["recv"]["snd"]
    wait_until(lambda: snd.messages, timeout=20, what="a DSN")
    sender, rcpts, data, _ = snd.messages[0]
    assert sender == "" and rcpts == ["alice@snd.q.test"]
    msg = email.message_from_bytes(data)
    assert msg.get_content_type() == "multipart/report"
    assert msg.get_param("report-type") == "delivery-status"
    parts = msg.get_payload()
    assert parts[1].get_content_type() == "message/delivery-status"
    return msg, parts[1].as_string()


def test_550_bounces_to_sender(lab, queued):
    lab["recv"]["rej"].rcpt_reply = "550 5.1.1 no such user"
    queued.start()
    queued.enqueue("alice@snd.q.test", "erin@rej.q.test")
    msg, status = dsn_of(lab)
    assert "Final-Recipient: rfc822; erin@rej.q.test" in status
    assert "Status: 5.1.1" in status and "Action: failed" in status
    assert "no such user" in status
    assert msg.get_payload()[2].get_content_type() == "text/rfc822-headers"
    wait_until(lambda: not queued.queued_ids(), timeout=20, what="removal")
    assert len(lab["recv"]["snd"].messages) == 1  # the DSN itself is not bounced again


def test_null_mx_bounces_5_1_10(lab, queued):
    queued.start()
    queued.enqueue("alice@snd.q.test", "frank@null.q.test")
    _, status = dsn_of(lab)
    assert "Status: 5.1.10" in status and "frank@null.q.test" in status
    wait_until(lambda: not queued.queued_ids(), timeout=20, what="removal")


def test_notify_never_and_null_sender_no_dsn(lab, queued):
    lab["recv"]["rej"].rcpt_reply = "550 5.1.1 no such user"
    queued.start()
    queued.enqueue("alice@snd.q.test", "erin@rej.q.test:never")
    queued.enqueue("", "erin@rej.q.test")
    wait_until(lambda: not queued.queued_ids(), timeout=20, what="both bounced")
    time.sleep(1)
    assert not lab["recv"]["snd"].messages


def test_starttls(lab, queued):
    queued.start()
    queued.enqueue("alice@snd.q.test", "gina@tls.q.test")
    r = lab["recv"]["tls"]
    wait_until(lambda: r.messages and not queued.queued_ids(), timeout=20, what="delivery")
    assert r.messages[0][3] is True
    assert "TLSv1." in queued.log_text()


def test_sigkill_loses_nothing(lab, queued):
    """SIGKILL while sessions are open: restarted, queued delivers every message;
    a message may arrive twice only if it was accepted before the kill and its
    state not saved (RFC 1047), never be lost."""
    r = lab["recv"]["slow"]
    queued.start()
    ids = [queued.enqueue("alice@snd.q.test", f"u{i}@slow.q.test") for i in range(4)]
    wait_until(lambda: len(r.messages) >= 1, timeout=20, what="the first delivery")
    queued.proc.send_signal(signal.SIGKILL)
    queued.proc.wait(timeout=10)
    before = len(r.messages)
    time.sleep(2)  # sessions the kill cut short end at the receiver
    queued.start()
    wait_until(lambda: not queued.queued_ids(), timeout=60, what="the rest after restart")
    got = [m[1][0] for m in r.messages]
    assert sorted(set(got)) == sorted(f"u{i}@slow.q.test" for i in range(4)), got
    assert len(got) - len(set(got)) <= max(0, 4 - before + 1), got
    assert len(ids) == 4


def test_bdat_when_chunking_offered(lab, queued):
    queued.start()
    queued.enqueue("alice@snd.q.test", "hank@chunk.q.test")
    r = lab["recv"]["chunk"]
    wait_until(lambda: r.messages and not queued.queued_ids(), timeout=20, what="delivery")
    assert any(c.startswith("BDAT ") and c.endswith(" LAST") for c in r.commands), r.commands
    assert not any(c == "DATA" for c in r.commands)
    # BDAT carries the message as is: no dot-stuffing.
    assert b"\r\n.leading dot\r\n" in r.messages[0][2]


def test_smtputf8_needed_and_not_offered_bounces(lab, queued):
    """RFC 6531 section 3.4: no downgrade; the receiver offers no SMTPUTF8."""
    queued.start()
    queued.enqueue("alice@snd.q.test", "ivan@a.q.test", utf8=True)
    _, status = dsn_of(lab)
    assert "Status: 5.6.7" in status and "ivan@a.q.test" in status
    assert not lab["recv"]["a"].messages
    assert not any(c.startswith("MAIL") for c in lab["recv"]["a"].commands)


@pytest.mark.parametrize("queued", ["queue_lifetime = 6s\n"], indirect=True)
def test_lifetime_expires_with_5_4_7(lab, queued):
    r = lab["recv"]["exp"]
    r.rcpt_reply = "451 4.3.0 try later"
    queued.start()
    queued.enqueue("alice@snd.q.test", "judy@exp.q.test")
    _, status = dsn_of(lab)
    assert "Status: 5.4.7" in status and "try later" in status
    attempts = sum(1 for c in r.commands if c.upper().startswith("RCPT"))
    assert attempts >= 2  # retried with back-off before expiring
    wait_until(lambda: not queued.queued_ids(), timeout=20, what="removal")


def test_sealctl_queue_list_show_hold_release_delete(lab, queued):
    r = lab["recv"]["tmp"]
    r.rcpt_reply = "451 4.7.1 greylisted"
    queued.start()
    mid = queued.enqueue("alice@snd.q.test", "dave@tmp.q.test", "erin@a.q.test")
    wait_until(lambda: lab["recv"]["a"].messages and "greylisted" in queued.log_text(),
               timeout=20, what="first attempt")
    wait_until(lambda: "tries=1  451" in queued.inst.sealctl("queue", "list").stdout,
               timeout=10, what="the state saved")
    out = queued.inst.sealctl("queue", "list").stdout
    assert mid in out and "<alice@snd.q.test>" in out
    assert "dave@tmp.q.test  pending  tries=1  451 4.7.1" in out and "greylisted" in out
    assert "erin@a.q.test  sent  tries=1" in out
    show = queued.inst.sealctl("queue", "show", mid).stdout
    assert f"id {mid}\n" in show and "from alice@snd.q.test\n" in show
    assert "sealmail-queue-state 1\n" in show and "Subject: hello" not in show
    assert "Subject: hello" in queued.inst.sealctl("queue", "show", mid, "--body").stdout
    # Held: never tried while held, even after the receiver is fixed.
    queued.inst.sealctl("queue", "hold", mid)
    assert "held" in queued.inst.sealctl("queue", "list").stdout
    r.rcpt_reply = "250 2.1.5 ok"
    time.sleep(4)  # two back-off periods
    assert not r.messages and queued.queued_ids() == [mid]
    queued.inst.sealctl("queue", "release", mid)
    wait_until(lambda: r.messages and not queued.queued_ids(), timeout=10, what="released")
    assert r.messages[0][1] == ["dave@tmp.q.test"]  # the sent recipient is not sent again
    # delete: gone without delivery.
    r.rcpt_reply = "451 4.7.1 greylisted"
    mid2 = queued.enqueue("alice@snd.q.test", "dave@tmp.q.test")
    queued.inst.sealctl("queue", "delete", mid2)
    assert queued.queued_ids() == []
    assert "queue is empty" in queued.inst.sealctl("queue", "list").stdout
    bad = queued.inst.sealctl("queue", "show", "../../etc", check=False)
    assert bad.returncode != 0


@pytest.mark.parametrize("queued", ["queued.retry_min = 1h\nqueued.retry_max = 1h\n"],
                         indirect=True)
def test_sealctl_queue_retry_now(lab, queued):
    r = lab["recv"]["tmp"]
    r.rcpt_reply = "451 4.7.1 greylisted"
    queued.start()
    mid = queued.enqueue("alice@snd.q.test", "dave@tmp.q.test")
    wait_until(lambda: "tries=1" in queued.inst.sealctl("queue", "list").stdout, timeout=20,
               what="first attempt")
    r.rcpt_reply = "250 2.1.5 ok"
    time.sleep(2)
    assert queued.queued_ids() == [mid] and not r.messages  # next try in an hour
    queued.inst.sealctl("queue", "retry", mid)
    wait_until(lambda: r.messages and not queued.queued_ids(), timeout=10, what="retry now")
    # Without an id: every message.
    r.rcpt_reply = "451 4.7.1 greylisted"
    ids = [queued.enqueue("alice@snd.q.test", f"p{i}@tmp.q.test") for i in range(2)]
    wait_until(lambda: queued.inst.sealctl("queue", "list").stdout.count("tries=1") == 2,
               timeout=20, what="first attempts")
    r.rcpt_reply = "250 2.1.5 ok"
    queued.inst.sealctl("queue", "retry")
    wait_until(lambda: len(r.messages) == 3 and not queued.queued_ids(), timeout=10,
               what="retry of all")
    assert len(ids) == 2


@pytest.fixture
def postfix(lab):
    if not shutil.which("postfix"):
        pytest.skip("needs Debian's postfix (tests/deps.sh)")
    started = []

    def start(name, *extra):
        d = lab["tmp"] / f"postfix-{name}-{len(started)}"
        d.mkdir()
        os.chmod(lab["tmp"], 0o755)
        os.chmod(d, 0o755)
        subprocess.run([MTALAB, "start", str(d), f"{NET}.{POSTFIX_HOSTS[name]}",
                        f"{name}.q.test", *(["--", *extra] if extra else [])],
                       check=True, timeout=120)
        started.append(d)
        return d
    yield start
    for d in started:
        subprocess.run([MTALAB, "stop", str(d)], timeout=60)


def postfix_mail(d):
    return sorted((d / "mail" / "all" / "new").glob("*"))


def test_postfix_receiver(lab, queued, postfix):
    d = postfix("pf")
    queued.start()
    queued.enqueue("alice@snd.q.test", "kim@pf.q.test")
    wait_until(lambda: postfix_mail(d) and not queued.queued_ids(), timeout=30,
               what="delivery to Postfix")
    text = postfix_mail(d)[0].read_text(errors="replace")
    assert "Subject: hello" in text and "\n.leading dot\n" in text


def test_postfix_451_then_starttls(lab, queued, postfix):
    """A Postfix that answers 451 at RCPT, then one (fixed) that offers STARTTLS."""
    cert, key = lab["cert"]
    d = postfix("pftls", "smtpd_recipient_restrictions = check_recipient_access static:{451 4.7.1 try again later}")
    queued.start()
    queued.enqueue("alice@snd.q.test", "lee@pftls.q.test")
    wait_until(lambda: "451" in queued.log_text(), timeout=30, what="the deferral")
    subprocess.run([MTALAB, "stop", str(d)], timeout=60)
    d = postfix("pftls", f"smtpd_tls_cert_file = {cert}", f"smtpd_tls_key_file = {key}",
                "smtpd_tls_security_level = may", "smtpd_tls_loglevel = 1")
    wait_until(lambda: postfix_mail(d) and not queued.queued_ids(), timeout=30,
               what="delivery after the fix")
    assert "TLSv1." in queued.log_text()
    assert "TLS connection established" in (d / "maillog").read_text(errors="replace")


def test_many_recipients_in_connections_of_100(lab, queued):
    """RFC 5321 section 4.5.3.1.8: 100 recipients per transaction; 250 at one
    domain go in three, every report line read back (pipelined RCPTs)."""
    rcpts = [f"r{i}@a.q.test" for i in range(250)]
    queued.start()
    queued.enqueue("alice@snd.q.test", *rcpts)
    r = lab["recv"]["a"]
    wait_until(lambda: len(r.messages) == 3 and not queued.queued_ids(), timeout=30,
               what="three transactions")
    assert sorted(len(m[1]) for m in r.messages) == [50, 100, 100]
    assert sorted(a for m in r.messages for a in m[1]) == sorted(rcpts)


BECH32 = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"


def age_secret_key(path):
    """The 32 raw bytes of an age-keygen identity file (bech32, BIP 173)."""
    line = next(l for l in Path(path).read_text().splitlines()
                if l.startswith("AGE-SECRET-KEY-1"))
    data = [BECH32.index(c) for c in line.lower().rsplit("1", 1)[1][:-6]]
    acc, bits, out = 0, 0, bytearray()
    for v in data:
        acc, bits = (acc << 5) | v, bits + 5
        if bits >= 8:
            bits -= 8
            out.append((acc >> bits) & 0xff)
    assert len(out) == 32
    return bytes(out)


def memory_holds(pid, needle):
    """Whether any readable mapping of pid contains needle."""
    with open(f"/proc/{pid}/maps") as maps, open(f"/proc/{pid}/mem", "rb", 0) as mem:
        for line in maps:
            addr, perms = line.split()[:2]
            if not perms.startswith("r"):
                continue
            lo, hi = (int(x, 16) for x in addr.split("-"))
            # In chunks that overlap by the needle's length.
            for at in range(lo, hi, 1 << 24):
                try:
                    mem.seek(at)
                    if needle in mem.read(min(hi - at, (1 << 24) + len(needle))):
                        return True
                except (OSError, ValueError, OverflowError):
                    break
    return False


def test_delivery_child_holds_no_queue_key(lab, queued):
    """The child that talks to a remote MX never has the queue's secret key in
    its memory (docs/SENDING.md section 5); queued itself does (the control)."""
    if built_with_asan():
        pytest.skip("ASan maps terabytes of shadow memory: too much to search")
    key = age_secret_key(Path(queued.inst.state) / "queue" / "queue.key")
    queued.start()
    queued.enqueue("alice@snd.q.test", "mo@slow.q.test")  # the receiver waits 1.5 s after DATA
    wait_until(lambda: proc_children(queued.proc.pid), timeout=20, what="a delivery child")
    child = proc_children(queued.proc.pid)[0]
    assert not memory_holds(child, key)
    assert memory_holds(queued.proc.pid, key)
    wait_until(lambda: not queued.queued_ids(), timeout=20, what="delivery")


def test_next_mx_when_the_first_refuses(lab, queued):
    queued.start()
    queued.enqueue("alice@snd.q.test", "nina@fb.q.test")
    r = lab["recv"]["a"]
    wait_until(lambda: r.messages and not queued.queued_ids(), timeout=20, what="delivery")
    assert r.messages[0][1] == ["nina@fb.q.test"]


def test_no_such_domain_bounces_5_1_2(lab, queued):
    queued.start()
    queued.enqueue("alice@snd.q.test", "otto@nosuch.q.test")
    _, status = dsn_of(lab)
    assert "Status: 5.1.2" in status and "otto@nosuch.q.test" in status


def test_bogus_mx_defers_never_bounces(lab, queued):
    """RFC 7672 section 2.1.1: a DNSSEC-bogus answer is a temporary failure of
    the destination, never "no such domain"."""
    queued.start()
    mid = queued.enqueue("alice@snd.q.test", "pat@bogus.test")
    wait_until(lambda: "tries=1" in queued.inst.sealctl("queue", "list").stdout, timeout=20,
               what="the first attempt")
    out = queued.inst.sealctl("queue", "list").stdout
    assert "pat@bogus.test  pending  tries=1  451 4.4.3" in out and "bogus" in out
    assert queued.queued_ids() == [mid]
    assert not lab["recv"]["a"].messages and not lab["recv"]["snd"].messages
