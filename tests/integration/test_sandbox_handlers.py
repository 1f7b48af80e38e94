# SPDX-License-Identifier: AGPL-3.0-or-later
"""The real handlers run confined: a forbidden system call made right after
each sandbox stage (test builds only, `make TESTHOOKS=1`) kills the process
with SIGSYS; ordinary sessions work inside the sandbox (every other
integration test runs the sandboxed handlers)."""
import imaplib
import os
import socket

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


def start_hooked(inst, handler, *args):
    # Instance.start runs build/<handler>; point it at the test build.
    import harness
    saved = harness.BUILD
    harness.BUILD = HOOKS
    try:
        return inst.start(handler, *args)
    finally:
        harness.BUILD = saved


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
    """The back enters its pre-login sandbox (AUTH) as soon as it is forked,
    before it reads the front's first message: the front still greets, and
    a login fails cleanly when the back has died."""
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
