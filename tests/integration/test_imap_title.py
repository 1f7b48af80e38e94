# SPDX-License-Identifier: AGPL-3.0-or-later
"""imapd: process titles (what ps shows) of the live front and back.

The front shows "imapd: <remote> pre-auth" (with " TLS" once TLS is on), the
back "imapd: <user> <remote> <state>" with the mailbox when one is selected.
Every title is set before the reply that follows the change is sent, so a
test reads /proc right after that reply, without waiting. The titles need
title_init() in main() (the login skeleton calls it)."""
import socket
import ssl

import pytest

from harness import proc_descendants as descendants, proc_title

USER = "demo@example.test"


@pytest.fixture
def imap(inst):
    inst.setup_domain()
    inst.pw = inst.add_user(USER)
    inst.port = inst.start("imapd")
    return inst






def titles(inst):
    """The titles of the imapd processes under this test's launcher."""
    out = []
    for pid in descendants(inst.procs[-1].pid):
        text = proc_title(pid)
        if text is not None and text.startswith("imapd:"):
            out.append(text)
    return out


class Client:
    def __init__(self, port):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.f = self.s.makefile("rb")
        self.greeting = self.f.readline()

    def starttls(self):
        self.cmd("t STARTTLS")
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        self.s = ctx.wrap_socket(self.s, server_hostname="localhost")
        self.f = self.s.makefile("rb")

    def send(self, line):
        self.s.sendall(line.encode() + b"\r\n")

    def cmd(self, line):
        """Send a line; return the lines up to its tagged reply."""
        tag = line.split(" ", 1)[0].encode() + b" "
        self.send(line)
        out = []
        while True:
            l = self.f.readline()
            assert l, f"connection closed during {line!r}"
            out.append(l.decode(errors="replace").rstrip("\r\n"))
            if l.startswith(tag):
                return out

    def close(self):
        self.s.close()


def test_front_title_pre_auth(imap):
    c = Client(imap.port)
    assert c.greeting.startswith(b"* OK")
    assert "imapd: 127.0.0.1 pre-auth" in titles(imap)
    c.close()


def test_front_title_after_starttls(imap):
    c = Client(imap.port)
    c.starttls()
    # The reply to a command inside TLS comes after the title changed.
    assert c.cmd("n NOOP")[-1] == "n OK NOOP completed."
    assert "imapd: 127.0.0.1 pre-auth TLS" in titles(imap)
    c.close()


def test_back_title_after_login(imap):
    c = Client(imap.port)
    out = c.cmd(f"a LOGIN {USER} {imap.pw}")
    assert out[-1].startswith("a OK")
    assert f"imapd: {USER} 127.0.0.1 AUTH" in titles(imap)
    c.close()


def test_back_title_selected_and_idle(imap):
    c = Client(imap.port)
    c.starttls()
    assert c.cmd(f"a LOGIN {USER} {imap.pw}")[-1].startswith("a OK")
    assert c.cmd("b SELECT INBOX")[-1].startswith("b OK")
    now = titles(imap)
    assert f"imapd: {USER} 127.0.0.1 SELECTED INBOX" in now
    # The front relays TLS after the login.
    assert "imapd: 127.0.0.1 relay TLS" in now
    c.send("c IDLE")
    assert c.f.readline().startswith(b"+ ")
    assert f"imapd: {USER} 127.0.0.1 IDLE" in titles(imap)
    c.send("DONE")
    assert c.f.readline().startswith(b"c OK")
    assert f"imapd: {USER} 127.0.0.1 SELECTED INBOX" in titles(imap)
    assert c.cmd("d UNSELECT")[-1].startswith("d OK")
    assert f"imapd: {USER} 127.0.0.1 AUTH" in titles(imap)
    c.close()


def test_title_shows_no_control_bytes(imap):
    """A mailbox name is the client's text: what ps shows is printable."""
    c = Client(imap.port)
    assert c.cmd(f"a LOGIN {USER} {imap.pw}")[-1].startswith("a OK")
    assert c.cmd('b CREATE "caf&AOk-"')[-1].startswith("b OK")
    assert c.cmd('s SELECT "caf&AOk-"')[-1].startswith("s OK")
    now = [t for t in titles(imap) if USER in t]
    assert now == [f"imapd: {USER} 127.0.0.1 SELECTED caf??"]
    c.close()
