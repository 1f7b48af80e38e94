# SPDX-License-Identifier: AGPL-3.0-or-later
"""The real handlers run confined: a forbidden system call made right after
each sandbox stage (test builds only, `make TESTHOOKS=1`) kills the process
with SIGSYS; ordinary sessions work inside the sandbox (every other
integration test runs the sandboxed handlers)."""
import imaplib
import os
import socket
import subprocess

import pytest

from harness import BUILD, Instance, wait_until

HOOKS = os.environ.get("SEALMAIL_HOOK_BUILD", BUILD + "-hooks")
SIGSYS = 31

pytestmark = pytest.mark.skipif(not os.path.exists(f"{HOOKS}/smtpd"),
                                reason="SKIPPED LOUDLY: no TESTHOOKS build (make TESTHOOKS=1)")


def hook_instance(redis, cert, stage):
    inst = Instance(redis=redis, cert=cert)
    inst.env["SEALMAIL_TEST_HOOK"] = f"forbidden-syscall:{stage}"
    inst.setup_domain()
    inst.pw = inst.add_user("demo@example.test")
    return inst


def start_hooked(inst, handler, *args, **kw):
    # Instance.start runs build/<handler>; point it at the test build.
    import harness
    saved = harness.BUILD
    harness.BUILD = HOOKS
    try:
        return inst.start(handler, *args, **kw)
    finally:
        harness.BUILD = saved


def landlock_abi():
    """The Landlock ABI the handlers use (the kernel's, capped by
    SEALMAIL_LANDLOCK_ABI)."""
    p = subprocess.run([f"{BUILD}/tests/sandboxprobe", "features"], capture_output=True,
                       text=True, check=True)
    return int(dict(kv.split("=") for kv in p.stdout.split())["landlock_abi"])


def test_smtpd_dies_with_sigsys(redis, cert):
    inst = hook_instance(redis, cert, "mx")
    try:
        port = start_hooked(inst, "smtpd")
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        assert s.recv(100) == b""  # killed before the greeting
        wait_until(lambda: f"died with code {SIGSYS}" in inst.log_text(), what="SIGSYS")
    finally:
        inst.cleanup()


def test_imapd_front_dies_with_sigsys(redis, cert):
    inst = hook_instance(redis, cert, "preauth-front")
    try:
        port = start_hooked(inst, "imapd")
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        assert s.recv(100) == b""
        wait_until(lambda: f"died with code {SIGSYS}" in inst.log_text(), what="SIGSYS")
    finally:
        inst.cleanup()


def try_login(s, f, handler, pw):
    """Send the login of demo@example.test; return the reply line that says
    whether it worked."""
    if handler == "imapd":
        s.sendall(f"a LOGIN demo@example.test {pw}\r\n".encode())
    else:
        s.sendall(f"USER demo@example.test\r\nPASS {pw}\r\n".encode())
        f.readline()
    return f.readline()


def logged_in(reply):
    return reply.startswith(b"a OK") or reply.startswith(b"+OK Logged in")


@pytest.mark.parametrize("handler", ["imapd", "pop3d"])
def test_back_confined_before_login(redis, cert, handler):
    """Authentication (a child of the back) enters its sandbox (AUTH) as soon
    as it is forked, before it reads the front's first message: the front
    still greets, and a login fails cleanly when that stage has died."""
    inst = hook_instance(redis, cert, "auth")
    try:
        port = start_hooked(inst, handler)
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        f = s.makefile("rb")
        assert f.readline().startswith(b"* OK" if handler == "imapd" else b"+OK")
        wait_until(lambda: f"SEALMAIL_SIGNAL={SIGSYS}" in inst.log_text(), what="back SIGSYS")
        assert not logged_in(try_login(s, f, handler, inst.pw))
    finally:
        inst.cleanup()


@pytest.mark.parametrize("handler", ["imapd", "pop3d"])
def test_back_dies_with_sigsys_after_login(redis, cert, handler):
    inst = hook_instance(redis, cert, "postauth")
    try:
        port = start_hooked(inst, handler)
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        f = s.makefile("rb")
        f.readline()
        # The back was killed after its sandbox: no successful login.
        assert not logged_in(try_login(s, f, handler, inst.pw))
        wait_until(lambda: f"SEALMAIL_SIGNAL={SIGSYS}" in inst.log_text(), what="back SIGSYS")
    finally:
        inst.cleanup()


@pytest.mark.parametrize("abi", [None, "2"], ids=["abi-inherited", "abi-2"])
@pytest.mark.parametrize("fork", [False, True], ids=["inetd", "accept-loop"])
@pytest.mark.parametrize("stage", ["auth", "postauth"])
@pytest.mark.parametrize("handler", ["imapd", "pop3d"])
def test_login_stages_leave_other_mailboxes_alone(redis, cert, handler, stage, fork, abi):
    """Authentication (which handles the user names and passwords of anyone)
    and the session after login can neither open another user's mailbox for
    writing, nor create or unlink files in that user's directory: Landlock
    refuses with EACCES. A real login still works, per connection and in an
    accept loop, at the kernel's Landlock ABI and at Debian 12's (2)."""
    need = 2 if abi is None else int(abi)
    if landlock_abi() < need:
        pytest.skip(f"Landlock ABI {landlock_abi()} < {need}")
    inst = Instance(redis=redis, cert=cert)
    try:
        inst.setup_domain()
        pw = inst.add_user("demo@example.test")
        inst.add_user("other@example.test")
        other = inst.user_dir("other@example.test")
        with open(f"{other}/mailbox.db", "rb") as fh:
            before = fh.read()
        inst.env["SEALMAIL_TEST_HOOK"] = f"files:{stage}:{other}"
        if abi is not None:
            inst.env["SEALMAIL_LANDLOCK_ABI"] = abi
        port = start_hooked(inst, handler, fork=fork)
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        f = s.makefile("rb")
        f.readline()
        # Authentication has no unlink at all: seccomp kills it there, after
        # Landlock refused the opens; the session after login has unlink,
        # and Landlock refuses it.
        killed = stage == "auth"
        assert logged_in(try_login(s, f, handler, pw)) != killed
        s.sendall(b"b LOGOUT\r\n" if handler == "imapd" else b"QUIT\r\n")
        if killed:
            wait_until(lambda: f"SEALMAIL_STAGE=auth SEALMAIL_SIGNAL={SIGSYS}" in
                       inst.log_text(), what="authentication killed at unlink")
        log = inst.log_text()
        for what, name in (("open-rw", "mailbox.db"), ("create", "planted"),
                           ("unlink", "mailbox.db"))[:2 if killed else 3]:
            assert f"sandbox test hook: {what} {other}/{name}: EACCES" in log, log
        assert "sandbox test hook: unlink" not in log or not killed
        assert "fatal" not in log
        assert not os.path.exists(f"{other}/planted")
        with open(f"{other}/mailbox.db", "rb") as fh:
            assert fh.read() == before
    finally:
        inst.cleanup()


def test_without_hook_the_same_build_works(redis, cert):
    inst = Instance(redis=redis, cert=cert)
    try:
        inst.setup_domain()
        pw = inst.add_user("demo@example.test")
        port = start_hooked(inst, "imapd")
        m = imaplib.IMAP4("127.0.0.1", port, timeout=10)
        m.login("demo@example.test", pw)
        assert m.select("INBOX")[0] == "OK"
        m.logout()
    finally:
        inst.cleanup()


def test_login_handlers_with_redis_over_tcp(redis, cert, tmp_path):
    """Redis given as host:port: the back may connect to that port (Landlock
    TCP rules), the pre-auth front gets no port at all."""
    port = __import__("harness").free_port()
    r = __import__("subprocess").Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no", "--dir", str(tmp_path)],
        stdout=__import__("subprocess").DEVNULL)
    inst = Instance(redis=None, cert=cert, extra_conf=f"redis = 127.0.0.1:{port}\n")
    try:
        wait_until(lambda: __import__("harness").can_connect(port), what="redis tcp")
        inst.setup_domain()
        pw = inst.add_user("demo@example.test")
        m = imaplib.IMAP4("127.0.0.1", inst.start("imapd"), timeout=10)
        m.login("demo@example.test", pw)
        m.select("INBOX")
        m.create("X")  # publishes a change through Redis
        m.logout()
        assert "fatal" not in inst.log_text()
    finally:
        inst.cleanup()
        r.terminate()
        r.wait()


@pytest.mark.parametrize("fork", [False, True], ids=["inetd", "accept-loop"])
@pytest.mark.parametrize("stage,outcome", [("auth", "SIGSYS"), ("postauth", "ok")])
def test_only_the_session_connects_to_redis(cert, tmp_path, stage, outcome, fork):
    """Redis over TCP: the session after login may connect to its port
    (Landlock ABI >= 4), authentication connects nowhere: it has no socket
    call at all (killed), whatever Landlock would say."""
    import harness
    if landlock_abi() < 4:
        pytest.skip(f"Landlock ABI {landlock_abi()} < 4: no TCP rules")
    port = harness.free_port()
    r = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save",
                          "", "--appendonly", "no", "--dir", str(tmp_path)],
                         stdout=subprocess.DEVNULL)
    inst = Instance(redis=None, cert=cert, extra_conf=f"redis = 127.0.0.1:{port}\n")
    try:
        wait_until(lambda: harness.can_connect(port), what="redis tcp")
        inst.setup_domain()
        pw = inst.add_user("demo@example.test")
        inst.env["SEALMAIL_TEST_HOOK"] = f"tcp:{stage}:{port}"
        m = imaplib.IMAP4("127.0.0.1", start_hooked(inst, "imapd", fork=fork), timeout=10)
        if outcome == "SIGSYS":
            with pytest.raises(imaplib.IMAP4.error):
                m.login("demo@example.test", pw)
            wait_until(lambda: f"SEALMAIL_STAGE=auth SEALMAIL_SIGNAL={SIGSYS}" in
                       inst.log_text(), what="authentication killed at socket()")
            assert "sandbox test hook: tcp" not in inst.log_text()
        else:
            m.login("demo@example.test", pw)
            m.logout()
            assert f"sandbox test hook: tcp {port}: {outcome}" in inst.log_text()
    finally:
        inst.cleanup()
        r.terminate()
        r.wait()


@pytest.mark.parametrize("fork", [False, True], ids=["inetd", "accept-loop"])
@pytest.mark.parametrize("handler", ["imapd", "pop3d"])
def test_session_learns_nothing_of_another_user(redis, cert, handler, fork):
    """After login the real back can neither list users/ (the other ids) nor
    another user's spool/new, nor open that user's mailbox.db; a watch on
    that spool (which Landlock would not stop) kills it."""
    if landlock_abi() < 2:
        pytest.skip(f"Landlock ABI {landlock_abi()} < 2")
    inst = Instance(redis=redis, cert=cert)
    try:
        inst.setup_domain()
        pw = inst.add_user("demo@example.test")
        inst.add_user("other@example.test")
        other = inst.user_dir("other@example.test")
        inst.env["SEALMAIL_TEST_HOOK"] = f"peek:postauth:{other}"
        port = start_hooked(inst, handler, fork=fork)
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        f = s.makefile("rb")
        f.readline()
        assert not logged_in(try_login(s, f, handler, pw))
        wait_until(lambda: f"SEALMAIL_SIGNAL={SIGSYS}" in inst.log_text(), what="back SIGSYS")
        log = inst.log_text()
        users = os.path.dirname(other)
        for what, path in (("listdir", users), ("listdir", f"{other}/spool/new"),
                           ("open-ro", f"{other}/mailbox.db")):
            assert f"sandbox test hook: {what} {path}: EACCES" in log, log
        assert "sandbox test hook: inotify" not in log
    finally:
        inst.cleanup()


@pytest.mark.parametrize("fork", [False, True], ids=["inetd", "accept-loop"])
def test_idle_without_redis_watches_set_before_the_sandbox(cert, fork):
    """Without Redis, IDLE wakes on inotify watches set before the post-login
    sandbox; they serve every IDLE of the session."""
    import time
    inst = Instance(redis=None, cert=cert)
    try:
        inst.setup_domain()
        pw = inst.add_user("demo@example.test")
        port = inst.start("imapd", fork=fork)
        smtp = inst.start("smtpd")
        s = socket.create_connection(("127.0.0.1", port), timeout=20)
        f = s.makefile("rb")
        f.readline()
        s.sendall(f"a LOGIN demo@example.test {pw}\r\nb SELECT INBOX\r\n".encode())
        while not f.readline().startswith(b"b OK"):
            pass
        for n in (1, 2):
            s.sendall(f"i{n} IDLE\r\n".encode())
            assert f.readline().startswith(b"+ ")
            subprocess.run(["swaks", "--server", f"127.0.0.1:{smtp}", "--to",
                            "demo@example.test", "--from", "a@example.net", "--silent", "2"],
                           check=True, timeout=30)
            t0 = time.monotonic()
            line = f.readline()
            assert line == f"* {n} EXISTS\r\n".encode(), line
            assert time.monotonic() - t0 < 1.0
            s.sendall(b"DONE\r\n")
            while not (l := f.readline()).startswith(f"i{n} ".encode()):
                pass
            assert l.startswith(f"i{n} OK".encode())
        assert "fatal" not in inst.log_text()
    finally:
        inst.cleanup()
