# SPDX-License-Identifier: AGPL-3.0-or-later
"""The login handlers given a listening socket (Accept=no units): the loop
accepts and forks one front per connection, and forks the back only when
the front first needs it (the first login attempt), so a connection that
never logs in is one process. The same sessions as under inetd work."""
import imaplib
import os
import poplib
import select
import smtplib
import socket

import pytest

from harness import (BUILD, Instance, built_with_asan, proc_children as children,
                     proc_descendants as descendants, wait_until)

HOOKS = os.environ.get("SEALMAIL_HOOK_BUILD", BUILD + "-hooks")
SIGSYS = 31



@pytest.fixture
def users(inst):
    inst.setup_domain()
    inst.pw = inst.add_user("demo@example.test")
    inst.pw2 = inst.add_user("other@example.test")
    return inst


def deliver(inst, rcpt, subject):
    port = inst.start("smtpd", fork=True)
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as s:
        s.sendmail("a@example.org", [rcpt], f"Subject: {subject}\r\n\r\nbody\r\n")


def test_imapd_sessions(users):
    inst = users
    deliver(inst, "demo@example.test", "hello")
    port = inst.start("imapd", fork=True)
    m = imaplib.IMAP4("127.0.0.1", port, timeout=10)
    # A wrong password, then the right one: the same back answers both.
    with pytest.raises(imaplib.IMAP4.error):
        m.login("demo@example.test", "wrong")
    m.login("demo@example.test", inst.pw)
    m2 = imaplib.IMAP4("127.0.0.1", port, timeout=10)
    m2.login("other@example.test", inst.pw2)
    assert m.select("INBOX") == ("OK", [b"1"])
    typ, data = m.fetch("1", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
    assert b"Subject: hello" in data[0][1]
    assert m2.select("INBOX") == ("OK", [b"0"])
    m2.logout()
    m.logout()


def test_pop3d_session(users):
    inst = users
    deliver(inst, "demo@example.test", "pop")
    port = inst.start("pop3d", fork=True)
    p = poplib.POP3("127.0.0.1", port, timeout=10)
    p.user("demo@example.test")
    p.pass_(inst.pw)
    assert p.stat()[0] == 1
    assert b"Subject: pop" in b"\r\n".join(p.retr(1)[1])
    p.quit()


def test_one_process_until_login(users):
    inst = users
    port = inst.start("imapd", fork=True)
    loop = inst.procs[-1].pid
    m = imaplib.IMAP4("127.0.0.1", port, timeout=10)
    assert m.capability()[0] == "OK"
    wait_until(lambda: len(descendants(loop)) == 1, what="one front, no back")
    front = descendants(loop)[0]
    m.login("demo@example.test", inst.pw)
    # Plaintext: the front handed the socket to the back (a child of the
    # loop, not of the front) and left.
    wait_until(lambda: len(descendants(loop)) == 1 and front not in descendants(loop),
               what="the back alone")
    assert m.select("INBOX")[0] == "OK"
    m.logout()
    wait_until(lambda: descendants(loop) == [], what="both gone")


def tls_session(inst, cert):
    """An imapd accept loop and a logged-in STARTTLS session: (loop pid, client)."""
    import ssl
    port = inst.start("imapd", fork=True)
    loop = inst.procs[-1].pid
    ctx = ssl.create_default_context(cafile=cert[0])
    m = imaplib.IMAP4("127.0.0.1", port, timeout=10)
    m.starttls(ssl_context=ctx)
    m.login("demo@example.test", inst.pw)
    return loop, m


def test_tls_front_stays_and_relays(users, cert):
    """With TLS the front keeps the session's keys and relays: two processes."""
    loop, m = tls_session(users, cert)
    assert len(descendants(loop)) == 2 and len(children(loop)) == 2
    assert m.select("INBOX")[0] == "OK"
    m.logout()
    wait_until(lambda: descendants(loop) == [], what="both gone")


def private_dirty_kb(pid):
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            if line.startswith("Private_Dirty:"):
                return int(line.split()[1])
    raise AssertionError("no Private_Dirty")


def test_tls_front_gives_back_memory_when_quiet(users, cert):
    """After a second without traffic the relaying front frees its buffers
    and heap pages; the session goes on unchanged afterwards."""
    import time
    if built_with_asan():
        pytest.skip("ASan's allocator holds freed memory in quarantine")
    deliver(users, "demo@example.test", "before the quiet spell")
    loop, m = tls_session(users, cert)
    assert m.select("INBOX") == ("OK", [b"1"])
    # The front is the child of the loop that holds the client socket's
    # TLS session: the one of the two that is not the back (which has the
    # mailbox open).
    kids = children(loop)
    assert len(kids) == 2
    front = [k for k in kids if not any(
        "mailbox.db" in os.readlink(f"/proc/{k}/fd/{fd}")
        for fd in os.listdir(f"/proc/{k}/fd"))]
    assert len(front) == 1
    busy = private_dirty_kb(front[0])
    time.sleep(1.6)  # the quiet spell under test, not a synchronisation
    assert private_dirty_kb(front[0]) < busy
    typ, data = m.fetch("1", "(BODY[])")
    assert typ == "OK" and b"before the quiet spell" in data[0][1]
    m.noop()
    m.logout()
    wait_until(lambda: descendants(loop) == [], what="both gone")


def test_loop_runs_without_the_thread_cache(users):
    """An accept loop execs itself once with glibc's tcache off (its
    children then copy fewer of its heap pages) and keeps its name."""
    inst = users
    port = inst.start("imapd", fork=True)
    loop = inst.procs[-1].pid
    m = imaplib.IMAP4("127.0.0.1", port, timeout=10)  # the loop is running now
    with open(f"/proc/{loop}/environ", "rb") as f:
        env = dict(kv.split(b"=", 1) for kv in f.read().split(b"\0") if b"=" in kv)
    assert b"glibc.malloc.tcache_count=0" in env[b"GLIBC_TUNABLES"]
    with open(f"/proc/{loop}/comm") as f:
        assert f.read().strip() == "imapd"
    m.login("demo@example.test", inst.pw)
    m.logout()


def test_pipelined_after_login_survive_the_handover(users):
    inst = users
    deliver(inst, "demo@example.test", "piped")
    for fork in (True, False):
        port = inst.start("imapd", fork=fork)
        with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
            f = s.makefile("rb")
            f.readline()
            s.sendall(f"a LOGIN demo@example.test {inst.pw}\r\nb SELECT INBOX\r\n"
                      "c FETCH 1 (BODY.PEEK[HEADER.FIELDS (SUBJECT)])\r\nd LOGOUT\r\n".encode())
            data = b""
            while not data.endswith(b"d OK Logout completed.\r\n"):
                chunk = s.recv(65536)
                assert chunk, data
                data += chunk
            assert b"a OK" in data and b"b OK [READ-WRITE]" in data
            assert b"Subject: piped" in data


def test_trivial_sessions_leave_nothing(users):
    inst = users
    port = inst.start("imapd", fork=True)
    loop = inst.procs[-1].pid
    for _ in range(50):
        with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
            f = s.makefile("rb")
            assert f.readline().startswith(b"* OK")
            s.sendall(b"a LOGOUT\r\n")
            assert f.readline().startswith(b"* BYE")
    wait_until(lambda: descendants(loop) == [], what="every front reaped")
    # The loop still logs in after that.
    m = imaplib.IMAP4("127.0.0.1", port, timeout=10)
    m.login("demo@example.test", inst.pw)
    m.logout()


def test_no_back_when_the_limit_is_reached(users):
    """max_connections counts fronts and backs: a front whose back cannot be
    forked answers a temporary failure and the session goes on."""
    inst = users
    with open(inst.conf, "a") as f:
        f.write("max_connections = 1\n")
    port = inst.start("imapd", fork=True)
    m = imaplib.IMAP4("127.0.0.1", port, timeout=10)
    with pytest.raises(imaplib.IMAP4.error, match="UNAVAILABLE"):
        m.login("demo@example.test", inst.pw)
    assert m.noop()[0] == "OK"
    m.logout()


@pytest.mark.skipif(not os.path.exists(f"{HOOKS}/imapd"),
                    reason="SKIPPED LOUDLY: no TESTHOOKS build (make TESTHOOKS=1)")
def test_loop_logs_a_killed_back(redis, cert):
    import harness
    inst = Instance(redis=redis, cert=cert)
    inst.env["SEALMAIL_TEST_HOOK"] = "forbidden-syscall:postauth"
    saved = harness.BUILD
    try:
        inst.setup_domain()
        pw = inst.add_user("demo@example.test")
        harness.BUILD = HOOKS
        port = inst.start("imapd", fork=True)
        m = imaplib.IMAP4("127.0.0.1", port, timeout=10)
        with pytest.raises((imaplib.IMAP4.error, imaplib.IMAP4.abort, OSError)):
            m.login("demo@example.test", pw)
        wait_until(lambda: "back-died" in inst.log_text() and
                   f"SEALMAIL_SIGNAL={SIGSYS}" in inst.log_text(), what="back-died")
        # The loop goes on serving.
        with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
            assert s.makefile("rb").readline().startswith(b"* OK")
    finally:
        harness.BUILD = saved
        inst.cleanup()


def rcpt_code(port, rcpt):
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as s:
        s.ehlo("client.test")
        s.mail("a@example.org")
        return s.rcpt(rcpt)[0]


@pytest.mark.parametrize("handler", ["smtpd", "lmtpd"])
def test_mx_loop_sees_directory_changes_at_once(users, handler):
    """The accept loop's children resolve recipients in an in-memory copy
    of the directory that the loop renews before a fork whenever the file
    changed: a user or alias added or removed a moment ago counts for the
    next connection."""
    inst = users
    if handler == "smtpd":
        port = inst.start("smtpd", fork=True)
    else:
        port = inst.start("lmtpd", unix=os.path.join(inst.tmp, "lmtp.sock"), fork=True)

    def code(rcpt):
        if handler == "smtpd":
            return rcpt_code(port, rcpt)
        s = smtplib.LMTP(port, timeout=10)
        try:
            s.ehlo("client.test")
            s.mail("a@example.org")
            return s.rcpt(rcpt)[0]
        finally:
            s.close()

    assert code("new@example.test") == 550
    inst.add_user("new@example.test")
    assert code("new@example.test") == 250
    inst.sealctl("alias", "add", "sales@example.test", "new@example.test")
    assert code("sales@example.test") == 250
    inst.sealctl("user", "del", "new@example.test")
    assert code("new@example.test") == 550
    inst.sealctl("alias", "del", "sales@example.test")
    assert code("sales@example.test") == 550
    assert code("demo@example.test") == 250


def test_many_sessions_before_login(users):
    """Each session that has not logged in yet holds a control socket in the
    accept loop: the loop raises its descriptor limit to the hard limit, so
    that max_connections such sessions fit even under a soft limit of 1,024."""
    import resource
    import shutil
    if not shutil.which("prlimit"):
        pytest.skip("SKIPPED LOUDLY: no prlimit (util-linux)")
    inst = users
    with open(inst.conf, "a") as f:
        # All from 127.0.0.1: without the per-source limit (test_limits.py).
        f.write("max_connections = 1500\nmax_connections_per_source = 0\n")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard < 2400:
        pytest.skip("SKIPPED LOUDLY: the test client needs 2,400 descriptors")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, 2400), hard))
    port = inst.start("imapd", fork=True, wrap=("prlimit", "--nofile=1024:4096"))
    socks = []
    try:
        for _ in range(1100):
            socks.append(socket.create_connection(("127.0.0.1", port), timeout=20))
        greeted = sum(1 for s in socks if s.makefile("rb").readline().startswith(b"* OK"))
        assert greeted == len(socks)
        m = imaplib.IMAP4("127.0.0.1", port, timeout=20)
        m.login("demo@example.test", inst.pw)
        m.logout()
    finally:
        for s in socks:
            s.close()
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def redis_connections(redis):
    out = redis.cli("INFO", "stats").stdout
    for line in out.splitlines():
        if line.startswith("total_connections_received:"):
            return int(line.split(":")[1])
    raise AssertionError(out)


def test_mx_loop_publishes_for_its_children(users, redis):
    """The children of the MX accept loop hand the ids of users to notify to
    the loop, which publishes them on its one Redis connection: ten
    deliveries, every one seen by a subscriber, cost Redis one connection,
    not ten."""
    inst = users
    port = inst.start("smtpd", fork=True)
    uid = os.path.basename(inst.user_dir("demo@example.test"))
    sub = redis.subscribe(f"sealmail:user:{uid}")
    try:
        before = redis_connections(redis)
        for i in range(10):
            with smtp_session(port) as s:
                s.sendmail("a@example.org", ["demo@example.test"], f"Subject: {i}\r\n\r\nx\r\n")
        got = [[sub.stdout.readline().strip() for _ in range(3)] for _ in range(10)]
        assert all(g == ["message", f"sealmail:user:{uid}", "new"] for g in got), got
        assert redis_connections(redis) - before <= 2  # the loop's (and redis-cli INFO's)
    finally:
        sub.kill()
        sub.wait()


def test_mx_loop_publishes_for_every_user_of_a_message(users, redis):
    """A message to two users: the child hands the loop both ids at once,
    and the loop publishes on both channels (in one round trip)."""
    inst = users
    port = inst.start("smtpd", fork=True)
    subs = {}
    for rcpt in ("demo@example.test", "other@example.test"):
        uid = os.path.basename(inst.user_dir(rcpt))
        subs[uid] = redis.subscribe(f"sealmail:user:{uid}")
    try:
        with smtp_session(port) as s:
            s.sendmail("a@example.org", ["demo@example.test", "other@example.test"],
                       "Subject: both\r\n\r\nx\r\n")
        for uid, sub in subs.items():
            ready, _, _ = select.select([sub.stdout], [], [], 10)
            assert ready, f"no notice for {uid}"
            got = [sub.stdout.readline().strip() for _ in range(3)]
            assert got == ["message", f"sealmail:user:{uid}", "new"], got
    finally:
        for sub in subs.values():
            sub.kill()
            sub.wait()


def smtp_session(port):
    return smtplib.SMTP("127.0.0.1", port, timeout=10)


def test_mx_loop_delivers_without_redis(redis, cert):
    inst = Instance(redis=None, cert=cert, extra_conf="redis = unix:/nonexistent/redis.sock\n")
    try:
        inst.setup_domain()
        inst.add_user("demo@example.test")
        port = inst.start("smtpd", fork=True)
        for i in range(3):
            with smtp_session(port) as s:
                s.sendmail("a@example.org", ["demo@example.test"], f"Subject: {i}\r\n\r\nx\r\n")
        spool = os.path.join(inst.user_dir("demo@example.test"), "spool", "new")
        assert len(os.listdir(spool)) == 3
    finally:
        inst.cleanup()
