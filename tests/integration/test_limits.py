# SPDX-License-Identifier: AGPL-3.0-or-later
"""Nobody holds a connection slot for ever: every read has a deadline as
well as an idle timeout (a line trickled a byte at a time ends when its
deadline passes, not when the bytes stop), an SMTP session has a total and
a junk-command limit, a login has a total, and an accept loop limits the
connections of one source. The instances use deadlines of seconds, so that
each test takes a few."""
import os
import select
import socket
import time

import pytest

from harness import ROOT, Instance, proc_descendants, wait_until


@pytest.fixture
def make(redis, cert):
    made = []

    def _make(extra_conf):
        i = Instance(redis=redis, cert=cert, extra_conf=extra_conf)
        i.setup_domain()
        i.pw = i.add_user("demo@example.test")
        made.append(i)
        return i

    yield _make
    for i in made:
        i.cleanup()


def connect(port, source="127.0.0.1"):
    s = socket.socket()
    s.settimeout(10)
    s.bind((source, 0))
    s.connect(("127.0.0.1", port))
    return s


def read_line(s):
    line = b""
    while not line.endswith(b"\n"):
        c = s.recv(1)
        if not c:
            break
        line += c
    return line


def read_until(s, end):
    data = b""
    while not data.endswith(end):
        c = s.recv(65536)
        assert c, data
        data += c
    return data


def trickle(s, data, gap=0.5, limit=8.0):
    """Send data a byte every gap seconds, reading whatever comes back,
    until the server closes the connection or limit seconds pass. Returns
    (what came back, seconds from the first byte, closed). The pace is the
    attack under test, not a synchronisation."""
    got, i, t0 = b"", 0, time.monotonic()
    while time.monotonic() - t0 < limit:
        if not got and i < len(data):
            s.sendall(data[i:i + 1])
            i += 1
        r, _, _ = select.select([s], [], [], gap)
        if r:
            try:
                chunk = s.recv(4096)
            except ConnectionResetError:
                chunk = b""
            if not chunk:
                return got, time.monotonic() - t0, True
            got += chunk
    return got, time.monotonic() - t0, False


# ---- SMTP ----------------------------------------------------------------

def test_smtp_command_line_trickled(make):
    """A command line sent a byte per 0.5 s, inside the 10 s idle timeout
    every time, ends 2 s (smtpd.command_timeout) after its first byte."""
    inst = make("smtpd.timeout = 10s\nsmtpd.command_timeout = 2s\n")
    s = connect(inst.start("smtpd"))
    assert read_line(s).startswith(b"220 ")
    got, dt, closed = trickle(s, b"EHLO " + b"a" * 60 + b"\r\n")
    assert closed and got == b"421 4.4.2 mx.example.test Error: command not completed in time\r\n"
    assert 1.5 < dt < 4.0
    wait_until(lambda: "line deadline" in inst.log_text(), what="disconnect event")


def test_smtp_data_trickled(make):
    """DATA content at 2 bytes/s against smtpd.min_data_rate = 100 ends
    after the 2 s grace plus what the bytes bought (10 ms each)."""
    inst = make("smtpd.timeout = 10s\nsmtpd.data_timeout = 10s\n"
                "smtpd.command_timeout = 2s\nsmtpd.min_data_rate = 100\n")
    s = connect(inst.start("smtpd"))
    assert read_line(s).startswith(b"220 ")
    s.sendall(b"EHLO client.example\r\n")
    read_until(s, b"250 SMTPUTF8\r\n")
    s.sendall(b"MAIL FROM:<a@example.org>\r\nRCPT TO:<demo@example.test>\r\nDATA\r\n")
    assert read_until(s, b"354 End data with <CR><LF>.<CR><LF>\r\n")
    got, dt, closed = trickle(s, b"Subject: slow\r\n\r\n" + b"x" * 40)
    assert closed and got == b"421 4.4.2 mx.example.test Error: message data arriving too slowly\r\n"
    assert 1.5 < dt < 4.0
    wait_until(lambda: "transfer too slow" in inst.log_text(), what="disconnect event")


def test_smtp_bdat_chunk_trickled(make):
    """A BDAT chunk is content too: the same minimum rate."""
    inst = make("smtpd.timeout = 10s\nsmtpd.data_timeout = 10s\n"
                "smtpd.command_timeout = 2s\nsmtpd.min_data_rate = 100\n")
    s = connect(inst.start("smtpd"))
    read_line(s)
    s.sendall(b"EHLO client.example\r\nMAIL FROM:<a@example.org>\r\n"
              b"RCPT TO:<demo@example.test>\r\n")
    read_until(s, b"250 2.1.5 Ok\r\n")
    s.sendall(b"BDAT 1000 LAST\r\n")
    got, dt, closed = trickle(s, b"Subject: slow\r\n\r\n" + b"x" * 40)
    assert closed and got == b"421 4.4.2 mx.example.test Error: message data arriving too slowly\r\n"
    assert 1.5 < dt < 4.0


def test_smtp_tls_handshake_trickled(make):
    """After STARTTLS, a handshake sent a byte at a time ends at the command
    deadline, not at the idle timeout."""
    inst = make("smtpd.timeout = 10s\nsmtpd.command_timeout = 2s\n")
    s = connect(inst.start("smtpd"))
    read_line(s)
    s.sendall(b"EHLO client.example\r\n")
    read_until(s, b"250 SMTPUTF8\r\n")
    s.sendall(b"STARTTLS\r\n")
    assert read_line(s) == b"220 2.0.0 Ready to start TLS\r\n"
    # A TLS record header announcing a 512-byte ClientHello, then its body.
    got, dt, closed = trickle(s, b"\x16\x03\x01\x02\x00" + b"\x01" * 40)
    assert closed and got == b""
    assert 1.5 < dt < 4.0


def test_smtp_data_at_the_rate_goes_through(make):
    """A message that arrives faster than the rate is not cut, however long
    it takes beyond the grace."""
    inst = make("smtpd.command_timeout = 1s\nsmtpd.min_data_rate = 1000\n")
    s = connect(inst.start("smtpd"))
    read_line(s)
    s.sendall(b"EHLO client.example\r\nMAIL FROM:<a@example.org>\r\n"
              b"RCPT TO:<demo@example.test>\r\nDATA\r\n")
    read_until(s, b"354 End data with <CR><LF>.<CR><LF>\r\n")
    # 4,000 bytes a second for 2.5 s: four times the rate, twice the grace.
    line = b"x" * 398 + b"\r\n"
    for _ in range(25):
        s.sendall(line * 10)
        time.sleep(0.1)  # the sender's pace under test
    s.sendall(b".\r\n")
    assert read_line(s).startswith(b"250 2.0.0 Ok: queued as ")


def test_smtp_session_deadline(make):
    """A NOOP every 0.5 s, each answered, until smtpd.session_timeout."""
    inst = make("smtpd.session_timeout = 3s\n")
    s = connect(inst.start("smtpd"))
    t0 = time.monotonic()
    assert read_line(s).startswith(b"220 ")
    last = b""
    while time.monotonic() - t0 < 8:
        # The client's pace under test: half a second between commands.
        r, _, _ = select.select([s], [], [], 0.5)
        if not r:
            s.sendall(b"NOOP\r\n")
        last = read_line(s)
        if not last.startswith(b"250 "):
            break
    assert last == b"421 4.4.2 mx.example.test Error: session time limit exceeded\r\n"
    assert 2.5 < time.monotonic() - t0 < 5.0
    wait_until(lambda: "session deadline" in inst.log_text(), what="disconnect event")


def test_smtp_junk_limit(make):
    """smtpd.junk_command_limit NOOPs are answered; the next gets 421 4.7.0."""
    inst = make("smtpd.junk_command_limit = 5\n")
    s = connect(inst.start("smtpd"))
    read_line(s)
    s.sendall(b"NOOP\r\nVRFY x\r\nHELP\r\nRSET\r\nEHLO client.example\r\nNOOP\r\n")
    data = read_until(s, b"\r\n421 4.7.0 mx.example.test Error: too many junk commands\r\n")
    assert data.count(b"250 2.0.0 Ok\r\n") == 2 and b"250 SMTPUTF8\r\n" in data
    assert read_line(s) == b""
    wait_until(lambda: "too many junk commands" in inst.log_text(), what="disconnect event")


def test_smtp_junk_count_restarts_after_a_message(make):
    inst = make("smtpd.junk_command_limit = 3\n")
    s = connect(inst.start("smtpd"))
    read_line(s)
    s.sendall(b"EHLO client.example\r\nNOOP\r\nNOOP\r\nMAIL FROM:<a@example.org>\r\n"
              b"RCPT TO:<demo@example.test>\r\nDATA\r\n")
    read_until(s, b"354 End data with <CR><LF>.<CR><LF>\r\n")
    s.sendall(b"Subject: hi\r\n\r\nbody\r\n.\r\nNOOP\r\nNOOP\r\nNOOP\r\nQUIT\r\n")
    data = read_until(s, b"closing connection\r\n")
    assert b"Ok: queued as" in data and data.count(b"250 2.0.0 Ok\r\n") == 3
    assert b"421" not in data


# ---- IMAP and POP3 -------------------------------------------------------

def test_imap_prelogin_total(make):
    """imapd.login_timeout is the whole time before login: a client that
    sends a byte per 0.5 s (never idle for long) is out after it."""
    inst = make("imapd.login_timeout = 3s\n")
    s = connect(inst.start("imapd"))
    t0 = time.monotonic()
    assert read_line(s).startswith(b"* OK")
    got, _, closed = trickle(s, b"a LOGIN demo@example.test " + b"p" * 40 + b"\r\n")
    assert closed and got == b"* BYE Login time limit exceeded.\r\n"
    assert 2.5 < time.monotonic() - t0 < 5.0
    wait_until(lambda: "session deadline" in inst.log_text(), what="disconnect event")


def test_imap_command_line_after_login(make):
    """Logged in, a session may idle for half an hour (RFC 3501 section
    5.4), but a command line must arrive within imapd.command_timeout."""
    inst = make("imapd.command_timeout = 2s\n")
    s = connect(inst.start("imapd"))
    read_line(s)
    s.sendall(f"a LOGIN demo@example.test {inst.pw}\r\n".encode())
    assert b"a OK" in read_until(s, b"Logged in\r\n")
    got, dt, closed = trickle(s, b"b SELECT " + b"x" * 40 + b"\r\n")
    assert closed and got == b"* BYE Command line not completed in time.\r\n"
    assert 1.5 < dt < 4.0


def test_imap_literal_trickled_after_login(make):
    """An APPEND literal at 2 bytes/s against imapd.min_data_rate ends."""
    inst = make("imapd.command_timeout = 2s\nimapd.min_data_rate = 100\n")
    s = connect(inst.start("imapd"))
    read_line(s)
    s.sendall(f"a LOGIN demo@example.test {inst.pw}\r\n".encode())
    read_until(s, b"Logged in\r\n")
    s.sendall(b"b APPEND INBOX {200}\r\n")
    assert read_line(s).startswith(b"+ ")
    got, dt, closed = trickle(s, b"Subject: slow\r\n\r\n" + b"y" * 100)
    assert closed and got == b"* BYE Literal data arriving too slowly.\r\n"
    assert 1.5 < dt < 4.0


def test_pop3_prelogin_total(make):
    inst = make("pop3d.login_timeout = 3s\n")
    s = connect(inst.start("pop3d"))
    t0 = time.monotonic()
    assert read_line(s).startswith(b"+OK")
    got, _, closed = trickle(s, b"USER demo@example.test" + b"u" * 40 + b"\r\n")
    assert closed and got == b"-ERR Login time limit exceeded.\r\n"
    assert 2.5 < time.monotonic() - t0 < 5.0


def test_pop3_command_line_after_login(make):
    inst = make("pop3d.command_timeout = 2s\n")
    s = connect(inst.start("pop3d"))
    read_line(s)
    s.sendall(f"USER demo@example.test\r\nPASS {inst.pw}\r\n".encode())
    assert read_line(s).startswith(b"+OK")
    assert read_line(s).startswith(b"+OK")
    got, dt, closed = trickle(s, b"LIST " + b"1" * 40 + b"\r\n")
    assert closed and got == b"-ERR Command line not completed in time.\r\n"
    assert 1.5 < dt < 4.0


# ---- the accept loop's per-source limit ----------------------------------

def start_loop(inst, handler):
    """An accept loop, once the sessions of the readiness probes (which
    count against 127.0.0.1) are gone: (port, loop pid). A line read on a
    connection of our own shows that the loop has accepted the harness's
    earlier probe too; an exited child stays listed until it is reaped."""
    port = inst.start(handler, fork=True)
    loop = inst.procs[-1].pid
    with connect(port) as s:
        assert read_line(s)
    wait_until(lambda: proc_descendants(loop) == [], what="the probes' sessions gone")
    return port, loop


def test_smtp_per_source_limit(make):
    """Three idle connections from 127.0.0.1 fill its share: the fourth gets
    421 4.7.0 at once, 127.0.0.2 is still served, and once the idle ones
    close 127.0.0.1 is served again."""
    inst = make("max_connections_per_source = 3\n")
    port, loop = start_loop(inst, "smtpd")
    idle = [connect(port) for _ in range(3)]
    for s in idle:
        assert read_line(s).startswith(b"220 ")
    event = "limit SEALMAIL_REMOTE=127.0.0.1 "
    events = inst.log_text().count(event)  # the probes may have had theirs
    t0 = time.monotonic()
    over = connect(port)
    assert read_line(over) == \
        b"421 4.7.0 mx.example.test Error: too many connections from your address\r\n"
    assert read_line(over) == b""
    assert time.monotonic() - t0 < 2
    other = connect(port, source="127.0.0.2")
    assert read_line(other).startswith(b"220 ")
    other.sendall(b"EHLO client.example\r\n")
    assert read_until(other, b"250 SMTPUTF8\r\n")
    wait_until(lambda: inst.log_text().count(event) == events + 1, what="limit event")
    for s in idle:
        s.close()
    wait_until(lambda: len(proc_descendants(loop)) == 1, what="idle sessions gone")
    again = connect(port)
    assert read_line(again).startswith(b"220 ")
    for s in (over, other, again):
        s.close()


def test_smtp_per_source_limit_handlers_own_key(make):
    """smtpd.max_connections_per_source overrides the global key."""
    inst = make("max_connections_per_source = 1\nsmtpd.max_connections_per_source = 2\n")
    port, _ = start_loop(inst, "smtpd")
    a, b = connect(port), connect(port)
    assert read_line(a).startswith(b"220 ") and read_line(b).startswith(b"220 ")
    c = connect(port)
    assert read_line(c).startswith(b"421 4.7.0 ")
    for s in (a, b, c):
        s.close()


@pytest.mark.parametrize("handler,ok,busy", [
    ("imapd", b"* OK", b"* BYE [UNAVAILABLE] Too many connections from your address.\r\n"),
    ("pop3d", b"+OK", b"-ERR [SYS/TEMP] Too many connections from your address.\r\n"),
])
def test_login_per_source_limit(make, handler, ok, busy):
    inst = make("max_connections_per_source = 1\n")
    port, _ = start_loop(inst, handler)
    first = connect(port)
    assert read_line(first).startswith(ok)
    second = connect(port)
    assert read_line(second) == busy
    assert read_line(second) == b""
    third = connect(port, source="127.0.0.2")
    assert read_line(third).startswith(ok)
    for s in (first, second, third):
        s.close()


def test_login_back_keeps_counting(make):
    """A plaintext IMAP client's socket passes from its front to its back
    at login: the connection still counts against its source."""
    inst = make("max_connections_per_source = 1\n")
    port, loop = start_loop(inst, "imapd")
    s = connect(port)
    read_line(s)
    s.sendall(f"a LOGIN demo@example.test {inst.pw}\r\n".encode())
    read_until(s, b"Logged in\r\n")
    wait_until(lambda: len(proc_descendants(loop)) == 1, what="the back alone")
    over = connect(port)
    assert read_line(over).startswith(b"* BYE [UNAVAILABLE]")
    s.sendall(b"b LOGOUT\r\n")
    read_until(s, b"b OK Logout completed.\r\n")
    s.close()
    wait_until(lambda: proc_descendants(loop) == [], what="the back gone")
    again = connect(port)
    assert read_line(again).startswith(b"* OK")
    again.close()
    over.close()


def test_accept_yes_units_limit_per_source():
    """The Accept=yes socket units carry the same per-source default as the
    configuration (max_connections_per_source = 50), and a MaxConnections=."""
    units = os.path.join(ROOT, "units")
    checked = 0
    for name in sorted(os.listdir(units)):
        if not name.endswith(".socket"):
            continue
        with open(os.path.join(units, name)) as f:
            text = f.read()
        if "Accept=yes" not in text:
            continue
        assert "MaxConnections=" in text, name
        if "ListenStream=/" in text:
            continue  # a unix socket: local clients, no source address
        assert "MaxConnectionsPerSource=50\n" in text, name
        checked += 1
    assert checked >= 6
