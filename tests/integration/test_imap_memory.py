# SPDX-License-Identifier: AGPL-3.0-or-later
"""imapd: what one logged-in user can make the back allocate. FETCH items are
produced in chunks as they are sent (handlers/imapd/fetch.c), so a command
with many large items costs the back a constant, whether the client reads or
not; past its RLIMIT_AS (lib/sys/proclimit.c) a back ends without harming the
mailbox. The back's peak resident size is VmHWM in /proc/PID/status (readable
although the back is not dumpable)."""
import base64
import hashlib
import os
import re
import socket
import subprocess

import pytest

from harness import built_with_asan, proc_children, proc_descendants, proc_title, wait_until

USER = "demo@example.test"
BASE_US = 1795000000 * 1000000
MIB = 1 << 20

# What a FETCH may add to the back's peak, whatever its items: a few 64 KiB
# chunks, the message's MIME tree, SQLite's page cache filling while the
# message is read and malloc's slack. Measured: 2 MiB for both FETCHes
# below. Before items were streamed, the 100-item FETCH held every decoded
# copy (600 MB) and the 4,000-item one 130 MB.
FETCH_GROWTH_MAX = 16 * MIB

pytestmark = pytest.mark.skipif(built_with_asan(),
                                reason="ASan's allocator and shadow memory dwarf the bound")


def deliver(inst, data, ts_us):
    rcpt = inst.sealctl("user", "recipient", USER).stdout.strip()
    path = os.path.join(inst.user_dir(USER), "spool", "new", f"{ts_us}.{os.urandom(8).hex()}")
    subprocess.run(["age", "-r", rcpt, "-o", path], input=data, check=True)


class Client:
    """A raw IMAP connection: commands can be sent without reading."""

    def __init__(self, port, rcvbuf=None):
        self.s = socket.socket()
        if rcvbuf:
            # A small receive queue: the back meets a full socket early.
            self.s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.s.settimeout(60)
        self.s.connect(("127.0.0.1", port))
        self.f = self.s.makefile("rb")
        assert self.f.readline().startswith(b"* OK")

    def send(self, line):
        self.s.sendall(line + b"\r\n")

    def cmd(self, line):
        tag = line.split(b" ", 1)[0] + b" "
        self.send(line)
        out = []
        while True:
            l = self.f.readline()
            assert l, f"connection closed during {line!r}"
            out.append(l)
            if l.startswith(tag):
                return out

    def close(self):
        self.f.close()  # the file holds the socket open too
        self.s.close()


def back_pid(inst):
    """The back serving USER (its title names the user)."""
    for pid in proc_descendants(inst.procs[-1].pid):
        t = proc_title(pid)
        if t and t.startswith("imapd:") and USER in t:
            return pid
    return None


def status(pid, key):
    """A /proc/PID/status field in bytes (VmHWM, VmPeak) or as text (State)."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                v = line.split(":", 1)[1].split()
                return int(v[0]) * 1024 if len(v) == 2 and v[1] == "kB" else v[0]
    raise KeyError(key)


def ended(pid):
    """The process has exited (gone, or a zombie its parent has yet to reap)."""
    try:
        return status(pid, "State") == "Z"
    except (FileNotFoundError, ProcessLookupError):
        return True


def blocked_on_client(pid, c):
    """The back sleeps and the client's receive queue stays full: it is
    waiting for the client to read (sampled until stable)."""
    import fcntl
    import termios
    import struct

    def queued():
        return struct.unpack("i", fcntl.ioctl(c.s.fileno(), termios.FIONREAD, b"\0" * 4))[0]
    last = [None, 0]

    def stable():
        q = queued()
        if status(pid, "State") == "S" and q > 0 and q == last[0]:
            last[1] += 1
        else:
            last[1] = 0
        last[0] = q
        return last[1] >= 50
    wait_until(stable, timeout=60, what="the back to block on the client")


def login(inst, port, rcvbuf=None):
    c = Client(port, rcvbuf)
    assert c.cmd(b'a LOGIN %s "%s"' % (USER.encode(), inst.pw.encode()))[-1].startswith(b"a OK")
    assert c.cmd(b"b SELECT INBOX")[-1].startswith(b"b OK")
    return c


def read_fetch(c, tag):
    """Read the responses up to the tagged one; literals as sha256 digests
    and lengths (the data is large)."""
    items = []
    while True:
        l = c.f.readline()
        assert l, "connection closed"
        if l.startswith(tag + b" "):
            return items, l
        while True:
            m = re.search(rb"~?\{(\d+)\}\r\n$", l)
            if not m:
                break
            n, h = int(m.group(1)), hashlib.sha256()
            while n > 0:
                chunk = c.f.read(min(n, 1 << 20))
                assert chunk, "connection closed in a literal"
                h.update(chunk)
                n -= len(chunk)
            items.append((int(m.group(1)), h.hexdigest()))
            l = c.f.readline()


@pytest.fixture
def imap(inst):
    inst.setup_domain()
    inst.pw = inst.add_user(USER)
    return inst


def imported(inst, port):
    """Log in once so that the spool is imported by a back of its own: the
    measured back starts from a mailbox that needs no import."""
    c = login(inst, port)
    c.cmd(b"z LOGOUT")
    c.close()


def test_hundred_binary_items_of_a_large_part_without_reading(imap):
    data = os.urandom(6 * MIB)
    body = base64.encodebytes(data).replace(b"\n", b"\r\n")  # 8 MB of base64
    deliver(imap, b"Subject: big\r\nContent-Type: application/octet-stream\r\n"
            b"Content-Transfer-Encoding: base64\r\n\r\n" + body, BASE_US)
    port = imap.start("imapd")
    imported(imap, port)
    c = login(imap, port, rcvbuf=65536)
    pid = back_pid(imap)
    before = status(pid, "VmHWM")
    c.send(b"f UID FETCH 1 (" + b" ".join([b"BINARY.PEEK[1]"] * 100) + b")")
    blocked_on_client(pid, c)
    stalled = status(pid, "VmHWM")
    assert stalled - before < FETCH_GROWTH_MAX, (before, stalled)
    # The first literal is the decoded part; then the client leaves, and the
    # back stops at the next flush instead of producing the other 99.
    head = c.f.readline()
    tilde = b"~" if b"\0" in data else b""  # a literal8 (RFC 3516 section 4.2)
    assert head == b"* 1 FETCH (UID 1 BINARY[1] %s{%d}\r\n" % (tilde, len(data)), head
    got = c.f.read(len(data))
    assert got == data
    after = status(pid, "VmHWM")
    assert after - before < FETCH_GROWTH_MAX, (before, after)
    c.close()
    wait_until(lambda: ended(pid), timeout=10, what="the back to end once its client left")


def test_four_thousand_binary_items_of_a_small_message(imap):
    msg = (b"Subject: small\r\nContent-Type: text/plain\r\n"
           b"Content-Transfer-Encoding: base64\r\n\r\n"
           + base64.encodebytes(os.urandom(15000)).replace(b"\n", b"\r\n"))
    assert 19000 < len(msg) < 21000
    deliver(imap, msg, BASE_US)
    port = imap.start("imapd")
    imported(imap, port)
    c = login(imap, port)
    pid = back_pid(imap)
    before = status(pid, "VmHWM")
    c.send(b"f FETCH 1 (" + b" ".join([b"BINARY.PEEK[]"] * 4000) + b")")
    items, tagged = read_fetch(c, b"f")
    assert tagged.startswith(b"f OK"), tagged
    assert len(items) == 4000 and len(set(items)) == 1
    after = status(pid, "VmHWM")
    assert after - before < FETCH_GROWTH_MAX, (before, after)
    c.close()


# ---- RLIMIT_AS (lib/sys/proclimit.c) ------------------------------------------

FRONT_AS = 64 * MIB                    # PROCLIMIT_FRONT_AS
BACK_AS = 128 * MIB + 6 * 50 * MIB     # PROCLIMIT_BACK_AS_FIXED + 6 x max_message_size (50M)
# Below what an APPEND of 40 MB needs (3.4 times the message), above what a
# login and a small mailbox need (about 14 MiB).
BACK_LOW_AS = 64 * MIB


def as_limit(pid):
    """Soft and hard 'Max address space' of /proc/PID/limits (None: unlimited)."""
    with open(f"/proc/{pid}/limits") as f:
        for line in f:
            if line.startswith("Max address space"):
                v = line.split()[3:5]
                return tuple(None if x == "unlimited" else int(x) for x in v)
    raise KeyError("Max address space")


def test_front_and_back_have_their_address_space_limits(imap):
    port = imap.start("imapd")
    c = Client(port)
    # One connection: the front forked the back before limiting itself; the
    # back is limited once the user is known.
    # (The launcher's readiness probe had a front too: ours is the newest.)
    front = max(p for p in proc_descendants(imap.procs[-1].pid)
                if (proc_title(p) or "").startswith("imapd: 127.0.0.1 pre-auth"))
    assert as_limit(front) == (FRONT_AS, FRONT_AS)
    assert [as_limit(p) for p in proc_children(front)] == [(None, None)]
    assert c.cmd(b'a LOGIN %s "%s"' % (USER.encode(), imap.pw.encode()))[-1].startswith(b"a OK")
    assert as_limit(back_pid(imap)) == (BACK_AS, BACK_AS)
    c.close()


def test_accept_loop_keeps_no_limit_of_its_children(imap):
    port = imap.start("imapd", fork=True)
    c = login(imap, port)
    assert as_limit(imap.procs[-1].pid) == (None, None)
    assert as_limit(back_pid(imap)) == (BACK_AS, BACK_AS)
    c.close()


def test_back_past_its_address_space_ends_and_the_mailbox_is_intact(imap):
    """Under a lower LimitAS= (kept: the limit is never raised), an APPEND
    larger than what is left makes the back's allocation fail: the process
    ends at once (no half-written transaction: SQLite commits or not), the
    front reports it, and the next session sees the mailbox as it was."""
    deliver(imap, b"Subject: first\r\n\r\nkept\r\n", BASE_US)
    port = imap.start("imapd", wrap=("prlimit", f"--as={BACK_LOW_AS}"))
    imported(imap, port)
    c = login(imap, port)
    pid = back_pid(imap)
    assert as_limit(pid) == (BACK_LOW_AS, BACK_LOW_AS)
    size = 40 * MIB
    c.send(b"p APPEND INBOX {%d}" % size)
    rest = c.f.readline()
    try:
        if rest.startswith(b"+"):
            for _ in range(size // MIB):
                c.s.sendall(b"x" * (MIB - 2) + b"\r\n")
            c.s.sendall(b"\r\n")
        rest += c.f.read()
    except (BrokenPipeError, ConnectionResetError):
        pass
    # Either a BYE or the connection simply closed: never a tagged OK.
    assert b"p OK" not in rest, rest[-200:]
    c.close()
    wait_until(lambda: ended(pid), what="the back to end")
    wait_until(lambda: "back-died" in imap.log_text(), what="the front's report")
    c = login(imap, port)
    out = c.cmd(b"f FETCH 1:* (BODY.PEEK[TEXT])")
    assert out[-1].startswith(b"f OK")
    assert b"".join(out).count(b"FETCH") == 1 and b"kept" in b"".join(out)
    c.close()
