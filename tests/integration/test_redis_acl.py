# SPDX-License-Identifier: AGPL-3.0-or-later
"""Redis reachable only by sealmail: the harness's redis-server (the same
setup as `make run` and docs/INSTALL.md) listens on a unix socket only, with
the default user off and user sealmail limited to PUBLISH/SUBSCRIBE on
sealmail:* channels. Handlers authenticate with redis_password (a file or a
credential name) and still deliver notices; nobody else reads them."""
import os
import shutil
import socket
import subprocess
import tempfile

import pytest

from harness import Instance, Redis, proc_title, wait_until


def swaks(port, to="demo@example.test"):
    subprocess.run(["swaks", "--server", f"127.0.0.1:{port}", "--to", to,
                    "--from", "a@example.org"], capture_output=True, check=True, timeout=30)


def raw(redis, *lines):
    """Send RESP inline commands on one connection; every reply line."""
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(5)
        s.connect(redis.sock)
        f = s.makefile("rwb")
        out = []
        for line in lines:
            f.write(line.encode() + b"\r\n")
            f.flush()
            out.append(f.readline().decode().strip())
        return out


def test_no_tcp_port(redis):
    port = redis.cli("CONFIG", "GET", "port").stdout.split()
    assert port == ["port", "0"], port


def test_client_without_password_is_refused(redis):
    r = raw(redis, "PING", "SUBSCRIBE sealmail:user:0123", "PSUBSCRIBE *",
            "AUTH default x", "AUTH sealmail wrong-password")
    assert r[0].startswith("-NOAUTH"), r
    assert r[1].startswith("-NOAUTH"), r
    assert r[2].startswith("-NOAUTH"), r
    assert r[3].startswith("-WRONGPASS"), r
    assert r[4].startswith("-WRONGPASS"), r


def test_sealmail_user_only_its_channels(redis):
    pw = redis.password
    r = raw(redis, f"AUTH sealmail {pw}", "PUBLISH sealmail:user:x new", "PUBLISH other new",
            "PSUBSCRIBE *", "GET sealmail:k", "KEYS *", "CONFIG GET *", "ACL LIST",
            "SUBSCRIBE other", "DEL other", "EVAL \"return redis.call('GET',KEYS[1])\" 1 other")
    assert r[0] == "+OK", r
    assert r[1].startswith(":"), r
    for i, line in enumerate(r[2:], 2):
        assert line.startswith("-NOPERM"), (i, r)


def test_handlers_publish_and_idle_through_the_acl(redis, cert):
    """smtpd publishes "new" as user sealmail; a subscriber with the password
    sees it; an IDLE session is woken within the usual time (the IDLE tests
    of test_imap_session.py run against this same server)."""
    inst = Instance(redis=redis, cert=cert)
    try:
        inst.setup_domain()
        inst.add_user("demo@example.test")
        uid = os.path.basename(inst.user_dir("demo@example.test"))
        smtp = inst.start("smtpd")
        sub = redis.subscribe(f"sealmail:user:{uid}")
        try:
            swaks(smtp)
            lines = [sub.stdout.readline().strip() for _ in range(3)]
            assert lines == ["message", f"sealmail:user:{uid}", "new"]
        finally:
            sub.kill()
            sub.wait()
        log = inst.log_text()
        assert "redis-error" not in log, log
        assert redis.password not in log
    finally:
        inst.cleanup()


def test_credential_name_and_no_password_in_logs(redis, cert):
    """redis_password as a credential name ($CREDENTIALS_DIRECTORY, as
    LoadCredential= gives it), in an accept loop."""
    creds = tempfile.mkdtemp(prefix="sealmail-creds-")
    shutil.copy(redis.password_file, os.path.join(creds, "redis.pw"))
    inst = Instance(redis=None, cert=cert,
                    extra_conf=f"redis = unix:{redis.sock}\nredis_password = redis.pw\n")
    try:
        inst.env["CREDENTIALS_DIRECTORY"] = creds
        inst.setup_domain()
        inst.add_user("demo@example.test")
        uid = os.path.basename(inst.user_dir("demo@example.test"))
        import harness
        saved = list(harness.PASSTHROUGH_ENV)
        harness.PASSTHROUGH_ENV.append("CREDENTIALS_DIRECTORY")
        try:
            smtp = inst.start("smtpd", fork=True)
        finally:
            harness.PASSTHROUGH_ENV[:] = saved
        sub = redis.subscribe(f"sealmail:user:{uid}")
        try:
            swaks(smtp)
            lines = [sub.stdout.readline().strip() for _ in range(3)]
            assert lines == ["message", f"sealmail:user:{uid}", "new"]
        finally:
            sub.kill()
            sub.wait()
        assert redis.password not in inst.log_text()
    finally:
        inst.cleanup()
        shutil.rmtree(creds, ignore_errors=True)


@pytest.mark.parametrize("conf", ["none", "wrong", "missing"])
def test_delivery_without_a_usable_password(redis, cert, tmp_path, conf):
    """Without the right password Redis refuses sealmail too: logged (never
    the password), and mail is still delivered (DESIGN section 3)."""
    extra = f"redis = unix:{redis.sock}\n"
    if conf == "wrong":
        (tmp_path / "pw").write_text("not-the-password\n")
        extra += f"redis_password = {tmp_path}/pw\n"
    elif conf == "missing":
        extra += f"redis_password = {tmp_path}/absent\n"
    inst = Instance(redis=None, cert=cert, extra_conf=extra)
    try:
        inst.setup_domain()
        inst.add_user("demo@example.test")
        smtp = inst.start("smtpd")
        swaks(smtp)
        new = os.path.join(inst.user_dir("demo@example.test"), "spool", "new")
        assert len(os.listdir(new)) == 1
        wait_until(lambda: "redis-error" in inst.log_text(), what="redis-error logged")
        log = inst.log_text()
        assert "not-the-password" not in log
        assert redis.password not in log
    finally:
        inst.cleanup()


def test_redis_password_file_rules(cert, tmp_path):
    """One non-empty line of at most 512 bytes; a trailing LF or CRLF is not
    part of it. The password is checked against a real server."""
    tmp = tempfile.mkdtemp(prefix="sealmail-redis-")
    r = Redis(tmp)
    try:
        for content, good in ((r.password, True), (r.password + "\r\n", True),
                              (r.password + "\n\n", False), ("", False),
                              (r.password + "\nx", False), ("x" * 513, False)):
            (tmp_path / "pw").write_text(content)
            inst = Instance(redis=None, cert=cert,
                            extra_conf=f"redis = unix:{r.sock}\nredis_password = {tmp_path}/pw\n")
            try:
                inst.setup_domain()
                inst.add_user("demo@example.test")
                uid = os.path.basename(inst.user_dir("demo@example.test"))
                sub = r.subscribe(f"sealmail:user:{uid}")
                try:
                    swaks(inst.start("smtpd"))
                    if good:
                        assert sub.stdout.readline().strip() == "message"
                    else:
                        wait_until(lambda: "redis-error" in inst.log_text(), what="refused")
                finally:
                    sub.kill()
                    sub.wait()
            finally:
                inst.cleanup()
    finally:
        r.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def test_pre_auth_front_holds_no_redis_password(redis, cert):
    """An accept loop reads redis_password before its sandbox; the pre-auth
    front it forks wipes its copy at once (it never talks to Redis)."""
    from harness import built_with_asan
    from test_imap_secrets import memory_holds
    if built_with_asan():
        pytest.skip("ASan keeps its own copies of freed memory")
    inst = Instance(redis=redis, cert=cert)
    try:
        inst.setup_domain()
        inst.add_user("demo@example.test")
        port = inst.start("imapd", fork=True)
        loop = inst.procs[-1].pid
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        assert s.makefile("rb").readline().startswith(b"* OK")
        kids = []
        for d in os.listdir("/proc"):
            try:
                with open(f"/proc/{d}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                # The front; not a short-lived helper the loop has not
                # reaped yet (state Z) or one without a session title.
                if (int(fields[1]) == loop and fields[0] != "Z" and
                        "127.0.0.1" in (proc_title(int(d)) or "")):
                    kids.append(int(d))
            except (OSError, ValueError):
                continue
        assert len(kids) == 1, [(k, proc_title(k)) for k in kids]
        needle = redis.password.encode()
        assert memory_holds(loop, needle)  # the check can see it
        assert not memory_holds(kids[0], needle)
        s.close()
    finally:
        inst.cleanup()
