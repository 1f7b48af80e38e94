# SPDX-License-Identifier: AGPL-3.0-or-later
"""pop3d with poplib, fetchmail and curl; POP3 and IMAP agree."""
import base64
import imaplib
import os
import poplib
import socket
import ssl
import subprocess

import pytest

from harness import mbox_messages, proc_descendants as descendants, proc_title as title

MSGS = [
    b"From: a@example.org\r\nSubject: one\r\n\r\nfirst body\r\n.starts with a dot\r\n",
    b"From: b@example.org\r\nSubject: two\r\n\r\nsecond\r\n\r\nbody line 2\r\nline 3\r\n",
    b"From: c@example.org\r\nSubject: three\r\n\r\n" + b"x" * 998 + b"\r\n" + (b"y" * 76 + b"\r\n") * 200,
]


def seal(inst, address, data):
    import time
    rcpt = inst.sealctl("user", "recipient", address).stdout.strip()
    name = f"{int(time.time() * 1e6)}.{os.urandom(8).hex()}"
    path = os.path.join(inst.user_dir(address), "spool", "new", name)
    subprocess.run(["age", "-r", rcpt, "-o", path], input=data, check=True)


@pytest.fixture
def pop(inst):
    inst.setup_domain()
    inst.pw = inst.add_user("demo@example.test")
    for m in MSGS:
        seal(inst, "demo@example.test", m)
    inst.port = inst.start("pop3d")
    return inst


def login(inst):
    p = poplib.POP3("127.0.0.1", inst.port, timeout=10)
    p.user("demo@example.test")
    p.pass_(inst.pw)
    return p


def test_retr_byte_identical(pop):
    p = login(pop)
    assert p.stat()[0] == 3
    for i, m in enumerate(MSGS, 1):
        resp, lines, octets = p.retr(i)
        assert b"\r\n".join(lines) + b"\r\n" == m
        assert octets == len(m)  # poplib counts after removing the stuffed dots
    sizes = [int(l.split()[1]) for l in p.list()[1]]
    assert sizes == [len(m) for m in MSGS]
    p.quit()


def test_top(pop):
    p = login(pop)
    _, lines, _ = p.top(2, 1)
    assert lines == [b"From: b@example.org", b"Subject: two", b"", b"second"]
    _, lines, _ = p.top(2, 0)
    assert lines == [b"From: b@example.org", b"Subject: two", b""]
    p.quit()


def test_uidl_matches_imap(pop):
    p = login(pop)
    uidl = [l.split()[1].decode() for l in p.uidl()[1]]
    p.quit()
    m = imaplib.IMAP4("127.0.0.1", pop.start("imapd"))
    m.login("demo@example.test", pop.pw)
    typ, data = m.select("INBOX")
    uv = m.untagged_responses.get("UIDVALIDITY", [b"?"])[0].decode()
    m.logout()
    assert uidl == [f"{uv}.{u}" for u in (1, 2, 3)]


def test_dele_quit_deletes_and_imap_sees_it(pop):
    p = login(pop)
    p.dele(2)
    assert p.stat()[0] == 2
    with pytest.raises(poplib.error_proto):
        p.retr(2)
    assert p.quit().startswith(b"+OK")
    p = login(pop)
    assert p.stat()[0] == 2
    p.quit()
    msgs = mbox_messages(pop, "demo@example.test", pop.pw)
    assert [m[1] for m in msgs] == [MSGS[0], MSGS[2]]


def test_dele_then_drop_keeps(pop):
    p = login(pop)
    p.dele(1)
    p.sock.shutdown(socket.SHUT_RDWR)  # a real drop: no QUIT
    p.sock.close()
    # The dropped session's back process lets go of the maildrop lock as
    # soon as it sees the end of the connection.
    sessions = []

    def try_login():
        try:
            sessions.append(login(pop))
            return True
        except poplib.error_proto as e:
            assert b"[IN-USE]" in e.args[0]
            return False
    from harness import wait_until
    wait_until(try_login, what="maildrop lock released")
    assert sessions[0].stat()[0] == 3
    sessions[0].quit()


def test_rset_undeletes(pop):
    p = login(pop)
    p.dele(1)
    p.rset()
    p.quit()
    assert len(mbox_messages(pop, "demo@example.test", pop.pw)) == 3


def test_in_use(pop):
    p = login(pop)
    q = poplib.POP3("127.0.0.1", pop.port, timeout=10)
    q.user("demo@example.test")
    with pytest.raises(poplib.error_proto, match=r"\[IN-USE\]"):
        q.pass_(pop.pw)
    p.quit()


def test_new_mail_waits_for_next_session(pop):
    p = login(pop)
    seal(pop, "demo@example.test", b"Subject: late\r\n\r\nlate\r\n")
    assert p.stat()[0] == 3
    p.quit()
    p = login(pop)
    assert p.stat()[0] == 4
    p.quit()


def test_sasl_plain_and_wrong_password(pop):
    s = socket.create_connection(("127.0.0.1", pop.port), timeout=10)
    f = s.makefile("rb")
    assert f.readline().startswith(b"+OK")
    s.sendall(b"USER demo@example.test\r\nPASS wrong\r\n")
    assert f.readline() == b"+OK\r\n"
    assert f.readline().startswith(b"-ERR [AUTH]")
    ir = base64.b64encode(b"\0demo@example.test\0" + pop.pw.encode())
    s.sendall(b"AUTH PLAIN " + ir + b"\r\n")
    assert f.readline().startswith(b"+OK Logged in")
    s.sendall(b"STAT\r\nQUIT\r\n")
    assert f.readline().startswith(b"+OK 3 ")
    assert f.readline().startswith(b"+OK")
    s.close()


def test_bad_commands(pop):
    s = socket.create_connection(("127.0.0.1", pop.port), timeout=10)
    f = s.makefile("rb")
    f.readline()
    for cmd, expect in [(b"STAT", b"-ERR"), (b"PASS x", b"-ERR"), (b"BOGUS", b"-ERR"),
                        (b"A" * 5000, b"-ERR"), (b"AUTH CRAM-MD5", b"-ERR")]:
        s.sendall(cmd + b"\r\n")
        assert f.readline().startswith(expect), cmd
    s.sendall(b"USER demo@example.test\r\nPASS " + pop.pw.encode() + b"\r\n")
    f.readline()
    f.readline()
    for cmd in [b"RETR 0", b"RETR 9", b"RETR x", b"DELE", b"TOP 1", b"TOP 1 -1", b"LIST 99",
                b"USER again", b"FROB"]:
        s.sendall(cmd + b"\r\n")
        assert f.readline().startswith(b"-ERR"), cmd
    s.sendall(b"NOOP\r\nQUIT\r\n")
    assert f.readline().startswith(b"+OK")
    s.close()


def test_stls_and_implicit_tls(pop):
    ctx = ssl.create_default_context(cafile=pop.cert)
    ctx.check_hostname = False
    p = poplib.POP3("127.0.0.1", pop.port, timeout=10)
    p.stls(context=ctx)
    p.user("demo@example.test")
    p.pass_(pop.pw)
    assert p.stat()[0] == 3
    p.quit()
    tport = pop.start("pop3d", "--tls")
    p = poplib.POP3_SSL("127.0.0.1", tport, context=ctx, timeout=10)
    p.user("demo@example.test")
    p.pass_(pop.pw)
    assert p.stat()[0] == 3
    p.quit()


def test_curl_pop3(pop):
    out = subprocess.run(["curl", "-s", f"pop3://127.0.0.1:{pop.port}/1", "-u",
                          f"demo@example.test:{pop.pw}"], capture_output=True, timeout=30)
    assert out.returncode == 0
    assert out.stdout == MSGS[0]


def test_fetchmail_keep_then_delete(pop, tmp_path):
    rc = tmp_path / "fetchmailrc"
    mda_out = tmp_path / "out"
    mda_out.mkdir()
    mda = tmp_path / "mda.sh"
    mda.write_text(f"#!/bin/sh\ncat > {mda_out}/$(date +%s%N)\n")
    mda.chmod(0o755)

    def run(keep):
        rc.write_text(f"poll 127.0.0.1 service {pop.port} protocol pop3 auth password\n"
                      f"  user 'demo@example.test' password '{pop.pw}'\n"
                      f"  {'keep' if keep else 'nokeep fetchall'} sslproto '' mda '{mda}'\n")
        rc.chmod(0o600)
        return subprocess.run(["fetchmail", "-f", str(rc), "--nosyslog", "-s"],
                              capture_output=True, timeout=60,
                              env=dict(os.environ, HOME=str(tmp_path)))

    r = run(keep=True)
    assert r.returncode == 0, r.stderr
    got = sorted(p.read_bytes() for p in mda_out.iterdir())
    assert len(got) == 3
    for m in MSGS:
        assert any(m.replace(b"\r\n", b"\n") in g.replace(b"\r\n", b"\n") for g in got)
    assert len(mbox_messages(pop, "demo@example.test", pop.pw)) == 3
    r = run(keep=False)
    assert r.returncode == 0, r.stderr
    assert len(mbox_messages(pop, "demo@example.test", pop.pw)) == 0






def titles_below(pid):
    return [t for t in (title(k) for k in descendants(pid)) if t is not None]


@pytest.mark.parametrize("fork", [True, False], ids=["accept-loop", "inetd"])
def test_process_titles(pop, fork):
    """The front names its peer before login, the back the user and the
    state after it; the accept loop keeps its command line."""
    port = pop.start("pop3d", fork=fork)
    top = pop.procs[-1].pid
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    f = s.makefile("rb")
    assert f.readline().startswith(b"+OK")  # the front set its title before this
    assert "pop3d: 127.0.0.1 pre-auth" in titles_below(top)
    s.sendall(b"USER demo@example.test\r\nPASS " + pop.pw.encode() + b"\r\n")
    assert f.readline() == b"+OK\r\n"
    assert f.readline().startswith(b"+OK Logged in")  # sent after TRANSACTION was set
    assert "pop3d: demo@example.test 127.0.0.1 TRANSACTION" in titles_below(top)
    s.sendall(b"QUIT\r\n")
    assert f.readline().startswith(b"+OK")
    s.close()
    if fork:  # the loop that accepted us sets no title of its own
        assert title(top).endswith("/pop3d")


def test_process_title_of_a_tls_front(pop):
    """Over TLS the front stays to relay, and says so."""
    ctx = ssl.create_default_context(cafile=pop.cert)
    ctx.check_hostname = False
    port = pop.start("pop3d", fork=True)
    top = pop.procs[-1].pid
    p = poplib.POP3("127.0.0.1", port, timeout=10)
    p.stls(context=ctx)
    p.user("demo@example.test")
    p.pass_(pop.pw)  # the answer came through the front's relay
    got = titles_below(top)
    assert "pop3d: 127.0.0.1 relay" in got
    assert "pop3d: demo@example.test 127.0.0.1 TRANSACTION" in got
    p.quit()


def test_login_timeout_is_pop3ds_own(redis, cert):
    """pop3d.login_timeout, not imapd's key, bounds the silence before
    login (here 1 s against imapd's hour)."""
    from harness import Instance
    inst = Instance(redis=redis, cert=cert,
                    extra_conf="pop3d.login_timeout = 1s\nimapd.login_timeout = 1h\n")
    try:
        inst.setup_domain()
        port = inst.start("pop3d")
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        f = s.makefile("rb")
        assert f.readline().startswith(b"+OK")
        assert f.readline() == b"-ERR Disconnected for inactivity.\r\n"
        assert f.readline() == b""
        s.close()
    finally:
        inst.cleanup()


def test_command_grammar_replies(pop):
    """Replies of the command table: arguments per RFC 1939, numbers as
    strict decimals, lines over RFC 2449's 255 octets refused."""
    s = socket.create_connection(("127.0.0.1", pop.port), timeout=10)
    f = s.makefile("rb")
    f.readline()
    for cmd, expect in [(b"NOOP", b"-ERR Not logged in.\r\n"),
                        (b"STAT", b"-ERR Unknown command or not allowed before login.\r\n"),
                        (b"USER", b"-ERR Syntax: USER name\r\n"),
                        (b"CAPA x", b"-ERR Syntax: CAPA\r\n"),
                        (b"NOOP " + b"x" * 300, b"-ERR Line too long.\r\n"),
                        (b"APOP a b", b"-ERR APOP not supported.\r\n")]:
        s.sendall(cmd + b"\r\n")
        assert f.readline() == expect, cmd
    s.sendall(b"user demo@example.test\r\npass " + pop.pw.encode() + b"\r\n")
    assert f.readline() == b"+OK\r\n"
    assert f.readline().startswith(b"+OK Logged in")
    for cmd, expect in [(b"RETR 0", b"-ERR Invalid message number.\r\n"),
                        (b"RETR 01", b"-ERR Invalid message number.\r\n"),
                        (b"RETR 18446744073709551616", b"-ERR Invalid message number.\r\n"),
                        (b"RETR 4", b"-ERR No such message.\r\n"),
                        (b"TOP 1 -1", b"-ERR Syntax: TOP msg n\r\n"),
                        (b"TOP 1", b"-ERR Syntax: TOP msg n\r\n"),
                        (b"STAT x", b"-ERR Syntax: STAT\r\n"),
                        (b"UTF8", b"-ERR Unknown command.\r\n"),
                        (b"PASS x", b"-ERR Already logged in.\r\n"),
                        (b"LIST 2 ", b"+OK 2 " + str(len(MSGS[1])).encode() + b"\r\n"),
                        (b"DELE 2", b"+OK Marked to be deleted.\r\n"),
                        (b"DELE 2", b"-ERR Message is deleted.\r\n"),
                        (b"STAT " * 60, b"-ERR Bad command line.\r\n")]:
        s.sendall(cmd + b"\r\n")
        assert f.readline() == expect, cmd
    s.sendall(b"RSET\r\nQUIT\r\n")
    assert f.readline() == b"+OK\r\n"
    assert f.readline() == b"+OK Logging out, 0 messages deleted.\r\n"
    s.close()
