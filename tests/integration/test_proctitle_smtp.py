# SPDX-License-Identifier: AGPL-3.0-or-later
"""Process titles of smtpd and lmtpd: what ps shows of a live session
("smtpd: 127.0.0.1 DATA") follows its state, and an accept loop says
"smtpd: accepting". Read from /proc/PID/cmdline of the real processes,
found as children of the launcher (systemd-socket-activate), polled with a
deadline."""
import os
import socket

import pytest

from harness import proc_children as children, proc_title as title, wait_until






def session_pid(parent, prog, timeout=10.0):
    """The one child of parent whose title starts with "<prog>:"."""
    found = []

    def look():
        found[:] = [p for p in children(parent) if (title(p) or "").startswith(prog + ":")]
        return len(found) == 1
    wait_until(look, timeout=timeout, what=f"{prog} session process")
    return found[0]


def wait_title(pid, want):
    got = []

    def look():
        got[:] = [title(pid)]
        return got[0] == want
    try:
        wait_until(look, what=f"title {want!r}")
    except TimeoutError:
        raise AssertionError(f"title {got[0]!r}, expected {want!r}")


class Client:
    def __init__(self, sock):
        self.s = sock
        self.f = sock.makefile("rb")
        self.greeting = self.f.readline()

    def cmd(self, line, end="\r\n"):
        self.s.sendall((line + end).encode())
        lines = [self.f.readline()]
        while lines[-1][3:4] == b"-":
            lines.append(self.f.readline())
        return lines[-1].decode()

    def close(self):
        self.s.close()


@pytest.fixture
def users(inst):
    inst.setup_domain()
    inst.add_user("demo@example.test")
    return inst


def walk_states(c, pid, prog, peer, hello):
    wait_title(pid, f"{prog}: {peer} INIT")
    assert c.cmd(f"{hello} client.example.org").startswith("250")
    wait_title(pid, f"{prog}: {peer} READY")
    assert c.cmd("MAIL FROM:<a@example.org>").startswith("250")
    wait_title(pid, f"{prog}: {peer} MAIL")
    assert c.cmd("RCPT TO:<demo@example.test>").startswith("250")
    wait_title(pid, f"{prog}: {peer} RCPT")
    assert c.cmd("DATA").startswith("354")
    wait_title(pid, f"{prog}: {peer} DATA")
    assert c.cmd("Subject: t\r\n\r\nbody\r\n.").startswith("250")
    wait_title(pid, f"{prog}: {peer} READY")


def test_smtpd_session_title_follows_state(users):
    inst = users
    port = inst.start("smtpd")
    c = Client(socket.create_connection(("127.0.0.1", port), timeout=10))
    try:
        assert c.greeting.startswith(b"220")
        pid = session_pid(inst.procs[-1].pid, "smtpd")
        walk_states(c, pid, "smtpd", "127.0.0.1", "EHLO")
        # BDAT (RFC 3030): the state of a chunk sequence.
        assert c.cmd("MAIL FROM:<a@example.org>").startswith("250")
        assert c.cmd("RCPT TO:<demo@example.test>").startswith("250")
        assert c.cmd("BDAT 4\r\nab\r\n", end="").startswith("250")
        wait_title(pid, "smtpd: 127.0.0.1 BDAT")
        assert c.cmd("QUIT").startswith("221")
    finally:
        c.close()


def test_lmtpd_session_title(users):
    inst = users
    path = inst.start("lmtpd", unix=os.path.join(inst.run_dir, "lmtp"))
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(10)
    s.connect(path)
    c = Client(s)
    try:
        assert c.greeting.startswith(b"220")
        pid = session_pid(inst.procs[-1].pid, "lmtpd")
        peer = title(pid).split()[1]
        walk_states(c, pid, "lmtpd", peer, "LHLO")
    finally:
        c.close()


def test_accept_loop_and_child_titles(users):
    inst = users
    port = inst.start("smtpd", fork=True)
    loop = inst.procs[-1].pid  # the launcher execs the handler
    wait_title(loop, "smtpd: accepting")
    c = Client(socket.create_connection(("127.0.0.1", port), timeout=10))
    try:
        assert c.greeting.startswith(b"220")
        pid = session_pid(loop, "smtpd")
        walk_states(c, pid, "smtpd", "127.0.0.1", "EHLO")
        assert title(loop) == "smtpd: accepting"
    finally:
        c.close()
