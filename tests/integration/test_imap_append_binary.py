# SPDX-License-Identifier: AGPL-3.0-or-later
"""APPEND of content an IMAP literal cannot carry. RFC 3501 section 4.3: a
literal is CHAR8, never NUL; such a message is refused with NO [CANNOT] and
nothing is stored. RFC 3516 literal8 (~{n}) is BINARY's, which imapd does not
offer: a synchronising one is refused before the client sends it, the bytes
of a non-synchronising one are read as the literal they are (never as
commands) and the command is refused with BAD."""
import socket

import pytest

MSG_NUL = b"Subject: nul\r\n\r\nab\x00cd\r\n"


@pytest.fixture
def sess(inst):
    inst.setup_domain()
    pw = inst.add_user("demo@example.test")
    port = inst.start("imapd")
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    f = s.makefile("rb")
    assert f.readline().startswith(b"* OK")
    s.sendall(f"a LOGIN demo@example.test {pw}\r\n".encode())
    assert f.readline().startswith(b"a OK")
    yield s, f
    s.close()


def tagged(f, tag):
    """Every line up to and including the tagged one."""
    lines = []
    while True:
        line = f.readline()
        assert line, lines
        lines.append(line)
        if line.startswith(tag + b" "):
            return lines


def messages(s, f):
    s.sendall(b"m STATUS INBOX (MESSAGES)\r\n")
    lines = tagged(f, b"m")
    assert lines[-1].startswith(b"m OK")
    return int(lines[0].split(b"MESSAGES ")[1].split(b")")[0])


def test_capability_has_no_binary(sess):
    s, f = sess
    s.sendall(b"c CAPABILITY\r\n")
    caps = tagged(f, b"c")[0].split()
    assert b"BINARY" not in caps


def test_nul_in_synchronising_literal_refused_with_no(sess):
    s, f = sess
    s.sendall(b"b APPEND INBOX {%d}\r\n" % len(MSG_NUL))
    assert f.readline().startswith(b"+ ")
    s.sendall(MSG_NUL + b"\r\n")
    reply = f.readline()
    assert reply.startswith(b"b NO [CANNOT] "), reply
    assert b"NUL" in reply
    assert messages(s, f) == 0


def test_nul_in_non_synchronising_literal_refused_with_no(sess):
    s, f = sess
    s.sendall(b"b APPEND INBOX (\\Seen) {%d+}\r\n" % len(MSG_NUL) + MSG_NUL + b"\r\n")
    reply = f.readline()
    assert reply.startswith(b"b NO [CANNOT] "), reply
    assert messages(s, f) == 0


def test_eight_bit_without_nul_stored(sess):
    s, f = sess
    msg = b"Subject: 8bit\r\n\r\n\xc3\xa9t\xc3\xa9 \x80\xff\r\n"
    s.sendall(b"b APPEND INBOX {%d+}\r\n" % len(msg) + msg + b"\r\n")
    assert tagged(f, b"b")[-1].startswith(b"b OK")
    s.sendall(b"c SELECT INBOX\r\nd FETCH 1 BODY.PEEK[]\r\n")
    tagged(f, b"c")
    lines = tagged(f, b"d")
    assert lines[-1].startswith(b"d OK")
    assert msg in b"".join(lines)


def test_synchronising_literal8_refused_before_sent(sess):
    s, f = sess
    s.sendall(b"b APPEND INBOX ~{%d}\r\n" % len(MSG_NUL))
    reply = f.readline()
    assert reply.startswith(b"b BAD "), reply  # no "+": the client sends nothing
    assert b"BINARY" in reply
    s.sendall(b"c NOOP\r\n")
    assert tagged(f, b"c")[-1].startswith(b"c OK")
    assert messages(s, f) == 0


def test_non_synchronising_literal8_is_not_read_as_commands(sess):
    """Its bytes (here a line that looks like a command) stay a literal."""
    s, f = sess
    body = b"Subject: x\r\n\r\nx LOGOUT\r\ny CREATE Evil\r\n\x00\r\n"
    s.sendall(b"b APPEND INBOX ~{%d+}\r\n" % len(body) + body + b"\r\n")
    reply = f.readline()
    assert reply.startswith(b"b BAD "), reply
    s.sendall(b"c NOOP\r\nd LIST \"\" Evil\r\n")
    lines = tagged(f, b"c") + tagged(f, b"d")
    assert not any(l.startswith(b"* BYE") or l.startswith(b"x ") or l.startswith(b"y ")
                   for l in lines), lines
    assert lines[-1].startswith(b"d OK")
    assert not any(b"Evil" in l for l in lines[:-1] if l.startswith(b"* LIST")), lines
    assert messages(s, f) == 0


def test_nul_in_other_commands_still_bad(sess):
    s, f = sess
    s.sendall(b"b CREATE {3+}\r\na\x00b\r\n")
    assert f.readline().startswith(b"b BAD")
    s.sendall(b"c NOOP\r\n")
    assert tagged(f, b"c")[-1].startswith(b"c OK")
