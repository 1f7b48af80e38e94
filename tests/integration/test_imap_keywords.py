# SPDX-License-Identifier: AGPL-3.0-or-later
"""STORE and APPEND keyword lists: duplicates collapse (case-insensitively,
keeping the case of the first use) in time that grows as n log n, so a
client cannot make the back spend seconds on one long list."""
import socket
import time

import pytest

from harness import Instance


def session(inst):
    inst.setup_domain()
    pw = inst.add_user("demo@example.test")
    s = socket.create_connection(("127.0.0.1", inst.start("imapd")), timeout=30)
    f = s.makefile("rb")
    f.readline()
    msg = b"Subject: x\r\n\r\nhi\r\n"
    s.sendall(f"a LOGIN demo@example.test {pw}\r\n".encode() +
              b"b APPEND INBOX {%d+}\r\n" % len(msg) + msg + b"\r\nc SELECT INBOX\r\n")
    tagged(f, b"c")
    return s, f


def tagged(f, tag):
    lines = []
    while True:
        line = f.readline()
        assert line, lines
        lines.append(line)
        if line.startswith(tag + b" "):
            return lines


def timed_store(s, f, kws):
    t = time.monotonic()
    s.sendall(f"d STORE 1 +FLAGS ({' '.join(kws)})\r\n".encode())
    lines = tagged(f, b"d")
    return lines, time.monotonic() - t


def test_5000_keywords_refused_promptly(inst):
    s, f = session(inst)
    lines, took = timed_store(s, f, [f"k{i}" for i in range(5000)])
    assert lines[-1].startswith(b"d NO [LIMIT]"), lines[-1]
    assert took < 0.25, took  # 0.45 s here with the quadratic check, 0.01 s now


def test_80000_keywords_refused_promptly(cert):
    """With a long line allowed (imapd.max_line), the list is as long as
    the parser takes arguments: the answer stays prompt."""
    inst = Instance(cert=cert, extra_conf="imapd.max_line = 16M\n")
    try:
        s, f = session(inst)
        kws = [f"kw{i:06d}" + "x" * 40 for i in range(80000)]
        lines, took = timed_store(s, f, kws)
        assert lines[-1].startswith(b"d NO [LIMIT]"), lines[-1]
        assert took < 2.0, took  # minutes with the quadratic check
    finally:
        inst.cleanup()


def test_duplicates_collapse_to_first_case(inst):
    s, f = session(inst)
    many = ["Work", "$Label1", "work", "WORK", "$label1", "Other", "\\Seen", "other"] * 500
    lines, _ = timed_store(s, f, many)
    assert lines[-1].startswith(b"d OK"), lines[-1]
    fetch = [l for l in lines if b"FETCH" in l][0]
    flags = fetch.split(b"FLAGS (")[1].split(b")")[0].split()
    assert sorted(flags) == sorted([b"\\Seen", b"\\Recent", b"Work", b"$Label1", b"Other"]), fetch
