# SPDX-License-Identifier: AGPL-3.0-or-later
"""submitd (RFC 6409): AUTH PLAIN/LOGIN with SASL-IR over 465 and over 587
after STARTTLS, plaintext AUTH policy, the login penalty, sender ownership
(MAIL FROM and header From:), Message-ID/Date added, local recipients in the
sealed spool and readable over IMAP, remote ones in the sealed queue (opened
with `age` and the queue identity), in both unit modes."""
import base64
import email
import imaplib
import os
import smtplib
import socket
import ssl
import subprocess

import pytest

from harness import (BUILD, PASSTHROUGH_ENV, Instance, can_connect, free_port, mbox_messages,
                     wait_until)

ALICE, BOB, PW = "alice@example.test", "bob@example.test", "alice-pw"


def tls_ctx():
    c = ssl.create_default_context()
    c.check_hostname = False
    c.verify_mode = ssl.CERT_NONE
    return c


def prepare(inst):
    inst.setup_domain()
    inst.add_user(ALICE, PW)
    inst.add_user(BOB, "bob-pw")
    inst.sealctl("alias", "add", "sales@example.test", ALICE)
    inst.sealctl("alias", "add", "team@example.test", BOB)


def start_lmtpd(inst):
    """lmtpd on <run_dir>/lmtp, where submitd hands it the local copies."""
    return inst.start("lmtpd", unix=os.path.join(inst.run_dir, "lmtp"))


def start_fork(inst, fdname):
    """submitd as Accept=no with the listening socket named as the unit
    names it (FileDescriptorName=submitd or submissions: implicit TLS)."""
    port = free_port()
    log = open(os.path.join(inst.tmp, f"submitd-{len(inst.procs)}.log"), "w")
    cmd = ["systemd-socket-activate", "-l", f"127.0.0.1:{port}", f"--fdname={fdname}"]
    for e in PASSTHROUGH_ENV:
        cmd += ["-E", e]
    p = subprocess.Popen(cmd + [f"{BUILD}/submitd"], env=inst.env, stdout=subprocess.DEVNULL,
                         stderr=log)
    inst.procs.append(p)
    inst.logs.append(log.name)
    wait_until(lambda: can_connect(port), what=f"submitd on {port}")
    return port


@pytest.fixture(params=["inetd", "fork"])
def sub(request, inst):
    prepare(inst)
    start_lmtpd(inst)
    if request.param == "fork":
        inst.p587 = start_fork(inst, "submitd")
        inst.p465 = start_fork(inst, "submissions")
    else:
        inst.p587 = inst.start("submitd")
        inst.p465 = inst.start("submitd", "--tls")
    return inst


def smtp587(inst, **kw):
    s = smtplib.SMTP("127.0.0.1", inst.p587, timeout=30, **kw)
    s.ehlo("client.example")
    s.starttls(context=tls_ctx())
    s.ehlo("client.example")
    return s


def smtp465(inst, source=None):
    s = smtplib.SMTP_SSL("127.0.0.1", inst.p465, timeout=30, context=tls_ctx(),
                         source_address=(source, 0) if source else None)
    s.ehlo("client.example")
    return s


def msg(frm=ALICE, to="carol@remote.example", extra=b"", body=b"hello there\r\n"):
    return (f"From: Alice <{frm}>\r\nTo: {to}\r\nSubject: test\r\n".encode() + extra +
            b"\r\n" + body)


def queue_messages(inst):
    """[(envelope text, message bytes)] of every queued message."""
    q = os.path.join(inst.state, "queue")
    key = os.path.join(q, "queue.key")
    out = []
    active = os.path.join(q, "active")
    for name in sorted(os.listdir(active)):
        if not name.endswith(".envelope"):
            continue
        qid = name[:-len(".envelope")]
        env = subprocess.run(["age", "-d", "-i", key, os.path.join(active, name)],
                             stdout=subprocess.PIPE, check=True).stdout.decode()
        body = subprocess.run(["age", "-d", "-i", key, os.path.join(active, qid + ".message")],
                              stdout=subprocess.PIPE, check=True).stdout
        out.append((env, body))
    return out


def b64(s):
    return base64.b64encode(s.encode()).decode()


def raw(sock_file, line):
    sock_file.write(line.encode() + b"\r\n")
    sock_file.flush()


def reply(f):
    """The last line of one (multi-line) reply."""
    while True:
        line = f.readline().decode()
        assert line, "connection closed"
        if line[3:4] != "-":
            return line.rstrip("\r\n")


def tls_session(inst):
    s = socket.create_connection(("127.0.0.1", inst.p465), timeout=30)
    t = tls_ctx().wrap_socket(s)
    f = t.makefile("rwb")
    assert reply(f).startswith("220 ")
    raw(f, "EHLO client.example")
    assert reply(f).startswith("250 ")
    return t, f


# ---- authentication -------------------------------------------------------

def test_auth_plain_login_over_465_and_587(sub):
    for make in (smtp465, smtp587):
        for mech in ("PLAIN", "LOGIN"):
            s = make(sub)
            assert "PLAIN" in s.esmtp_features["auth"] and "LOGIN" in s.esmtp_features["auth"]
            s.user, s.password = ALICE, PW
            code, text = s.auth(mech, getattr(s, "auth_" + mech.lower()), initial_response_ok=False)
            assert code == 235 and text.startswith(b"2.7.0")
            s.sendmail(ALICE, [BOB], msg(to=BOB))
            s.quit()
    assert len(mbox_messages(sub, BOB, "bob-pw")) == 4


def test_sasl_ir_and_login_initial_response(sub):
    t, f = tls_session(sub)
    raw(f, "AUTH PLAIN " + b64(f"\0{ALICE}\0{PW}"))
    assert reply(f).startswith("235 2.7.0")
    raw(f, "AUTH PLAIN " + b64(f"\0{ALICE}\0{PW}"))
    assert reply(f).startswith("503 5.5.1")
    raw(f, "QUIT")
    assert reply(f).startswith("221")
    t.close()
    t, f = tls_session(sub)
    raw(f, "AUTH LOGIN " + b64(ALICE))
    assert reply(f) == "334 UGFzc3dvcmQ6"
    raw(f, b64(PW))
    assert reply(f).startswith("235 2.7.0")
    t.close()


def test_wrong_password_535_and_cancel(sub):
    t, f = tls_session(sub)
    raw(f, "AUTH PLAIN " + b64(f"\0{ALICE}\0wrong"))
    assert reply(f).startswith("535 5.7.8")
    raw(f, "AUTH PLAIN")
    assert reply(f).startswith("334")
    raw(f, "*")
    assert reply(f).startswith("501")
    raw(f, "AUTH CRAM-MD5")
    assert reply(f).startswith("504")
    raw(f, "AUTH PLAIN " + b64(f"\0{ALICE}\0{PW}"))
    assert reply(f).startswith("235")
    t.close()
    assert "auth-fail" in sub.log_text()


def test_mail_before_auth_530(sub):
    t, f = tls_session(sub)
    for cmd in (f"MAIL FROM:<{ALICE}>", f"RCPT TO:<{BOB}>", "DATA", "VRFY x"):
        raw(f, cmd)
        assert reply(f).startswith("530 5.7.0"), cmd
    raw(f, "NOOP")
    assert reply(f).startswith("250")
    raw(f, "RSET")
    assert reply(f).startswith("250")
    raw(f, "QUIT")
    assert reply(f).startswith("221")
    t.close()


def test_auth_needs_ehlo_first(sub):
    s = socket.create_connection(("127.0.0.1", sub.p465), timeout=30)
    t = tls_ctx().wrap_socket(s)
    f = t.makefile("rwb")
    assert reply(f).startswith("220 ")
    raw(f, "AUTH PLAIN " + b64(f"\0{ALICE}\0{PW}"))
    assert reply(f).startswith("503 5.5.1")
    t.close()


def test_plaintext_auth_loopback_allowed_without_tls(sub):
    # plaintext_auth = loopback (the default): 127.0.0.0/8 may log in in clear.
    s = smtplib.SMTP("127.0.0.1", sub.p587, timeout=30, source_address=("127.0.0.2", 0))
    s.ehlo("client.example")
    assert "auth" in s.esmtp_features
    s.login(ALICE, PW)
    s.sendmail(ALICE, [BOB], msg(to=BOB))
    s.quit()
    assert len(mbox_messages(sub, BOB, "bob-pw")) == 1


@pytest.fixture
def never(redis, cert):
    i = Instance(redis=redis, cert=cert, extra_conf="plaintext_auth = never\n")
    prepare(i)
    start_lmtpd(i)
    i.p587 = i.start("submitd")
    i.p465 = i.start("submitd", "--tls")
    yield i
    i.cleanup()


def test_plaintext_auth_never_538(never):
    s = socket.create_connection(("127.0.0.1", never.p587), timeout=30)
    f = s.makefile("rwb")
    assert reply(f).startswith("220 ")
    raw(f, "EHLO client.example")
    lines = []
    while True:
        line = f.readline().decode().rstrip("\r\n")
        lines.append(line)
        if line[3:4] != "-":
            break
    assert "250-STARTTLS" in lines and not any("AUTH" in l for l in lines)
    raw(f, "AUTH PLAIN " + b64(f"\0{ALICE}\0{PW}"))
    assert reply(f).startswith("538 5.7.11")
    s.close()
    # Over TLS the same login works.
    s = smtp587(never)
    s.login(ALICE, PW)
    s.quit()


def test_penalty_applies(redis, cert):
    i = Instance(redis=redis, cert=cert, extra_conf="auth_penalty_base = 1s\n")
    try:
        prepare(i)
        start_lmtpd(i)
        i.p465 = i.start("submitd", "--tls")
        import time
        t, f = tls_session(i)
        for _ in range(2):
            raw(f, "AUTH PLAIN " + b64(f"\0{ALICE}\0wrong"))
            assert reply(f).startswith("535")
        t0 = time.monotonic()
        raw(f, "AUTH PLAIN " + b64(f"\0{ALICE}\0{PW}"))
        r = reply(f)
        assert time.monotonic() - t0 >= 0.9, "no penalty delay before the third attempt"
        assert r.startswith("235") or r.startswith("535")
        t.close()
        wait_until(lambda: "auth-penalty" in i.log_text(), what="auth-penalty event")
    finally:
        i.cleanup()


# ---- sender policy --------------------------------------------------------

def authed(inst, source=None):
    s = smtp465(inst, source)
    s.login(ALICE, PW)
    return s


def test_foreign_mail_from_refused(sub):
    s = authed(sub)
    code, text = s.mail(BOB)
    assert code == 550 and text.startswith(b"5.7.1") and b"not owned" in text
    code, text = s.mail("someone@elsewhere.example")
    assert code == 550 and text.startswith(b"5.7.1")
    code, text = s.mail("<>")
    assert code == 550 and text.startswith(b"5.7.1")
    s.quit()


def test_foreign_header_from_refused(sub):
    s = authed(sub)
    with pytest.raises(smtplib.SMTPDataError) as e:
        s.sendmail(ALICE, [BOB], msg(frm=BOB, to=BOB))
    assert e.value.smtp_code == 550 and e.value.smtp_error.startswith(b"5.7.1")
    with pytest.raises(smtplib.SMTPDataError) as e:
        s.sendmail(ALICE, [BOB], b"Subject: no from\r\n\r\nbody\r\n")
    assert e.value.smtp_code == 550
    s.quit()
    assert mbox_messages(sub, BOB, "bob-pw") == []


def test_alias_sender_allowed(sub):
    s = authed(sub)
    s.sendmail("sales@example.test", [BOB], msg(frm="sales@example.test", to=BOB))
    # An alias of another user is not alice's.
    code, _ = s.mail("team@example.test")
    assert code == 550
    s.quit()
    assert len(mbox_messages(sub, BOB, "bob-pw")) == 1


# ---- routing --------------------------------------------------------------

def test_local_delivery_sealed_with_added_fields(sub):
    s = authed(sub, source="127.0.0.2")
    s.sendmail(ALICE, [BOB], msg(to=BOB, body=b"local body\r\n"))
    s.quit()
    # Sealed in the spool: age files, not the plaintext.
    d = os.path.join(sub.user_dir(BOB), "spool", "new")
    for name in os.listdir(d) if os.path.isdir(d) else []:
        assert b"local body" not in open(os.path.join(d, name), "rb").read()
    imap = imaplib.IMAP4("127.0.0.1", sub.start("imapd"), timeout=30)
    imap.login(BOB, "bob-pw")
    imap.select("INBOX")
    typ, data = imap.fetch("1", "(BODY.PEEK[])")
    m = email.message_from_bytes(data[0][1])
    imap.logout()
    assert m["Message-ID"] and m["Message-ID"].endswith("@mx.example.test>")
    assert m["Date"]
    assert m["From"] == f"Alice <{ALICE}>"
    rcv = m.get_all("Received")
    assert any("with ESMTPSA" in r for r in rcv)
    # The client's address is not sent on (lmtpd's own hop names the
    # local socket only).
    assert not any("127.0.0.2" in r for r in rcv), rcv
    assert m["Return-Path"] == f"<{ALICE}>"
    assert b"local body" in data[0][1]


def test_existing_message_id_kept(sub):
    s = authed(sub)
    s.sendmail(ALICE, [BOB], msg(to=BOB, extra=b"Message-ID: <mine@client.example>\r\n"
                                 b"Date: Mon, 7 Dec 2026 10:00:00 +0000\r\n"))
    s.quit()
    (_, raw_msg), = mbox_messages(sub, BOB, "bob-pw")
    m = email.message_from_bytes(raw_msg)
    assert m.get_all("Message-ID") == ["<mine@client.example>"]
    assert m.get_all("Date") == ["Mon, 7 Dec 2026 10:00:00 +0000"]


def test_remote_recipients_queued_in_one_envelope(sub):
    s = authed(sub)
    s.ehlo("client.example")
    s.mail(ALICE, ["BODY=8BITMIME", "RET=HDRS", "ENVID=QQ+2B1"])
    assert s.rcpt("carol@remote.example", ["NOTIFY=FAILURE,DELAY",
                                           "ORCPT=rfc822;carol+2Bx@remote.example"])[0] == 250
    assert s.rcpt("dave@other.example")[0] == 250
    assert s.rcpt(BOB)[0] == 250
    code, text = s.data(msg(to="carol@remote.example", body="caf\u00e9\r\n".encode()))
    assert code == 250
    s.quit()
    q = queue_messages(sub)
    assert len(q) == 1
    env, body = q[0]
    lines = env.splitlines()
    assert lines[0] == "sealmail-queue-envelope 1"
    assert "handler submitd" in lines and f"user {ALICE}" in lines and f"from {ALICE}" in lines
    assert "envid QQ+2B1" in lines and "ret hdrs" in lines and "body 8bitmime" in lines
    assert "rcpt failure,delay rfc822;carol+2Bx@remote.example carol@remote.example" in lines
    assert "rcpt - - dave@other.example" in lines
    assert not any(BOB in l for l in lines if l.startswith("rcpt"))
    assert lines[-1] == "end"
    m = email.message_from_bytes(body)
    assert m["Message-ID"] and m["Date"] and "ESMTPSA" in m["Received"]
    assert "caf\u00e9".encode() in body
    assert "Return-Path" not in m
    # The local recipient got its copy at once.
    assert len(mbox_messages(sub, BOB, "bob-pw")) == 1
    log = sub.log_text()
    assert "queue" in log and "deliver" in log


def test_remote_only_and_bdat(sub):
    s = authed(sub)
    s.ehlo("client.example")
    assert "chunking" in s.esmtp_features
    s.mail(ALICE)
    s.rcpt("carol@remote.example")
    data = msg()
    s.send(f"BDAT {len(data)} LAST\r\n".encode() + data)
    code, _ = s.getreply()
    assert code == 250
    s.quit()
    (env, body), = queue_messages(sub)
    assert "rcpt - - carol@remote.example" in env.splitlines()
    assert body.endswith(b"hello there\r\n")


def test_unknown_local_recipient_refused(sub):
    s = authed(sub)
    s.mail(ALICE)
    code, text = s.rcpt("nobody@example.test")
    assert code == 550 and text.startswith(b"5.1.1")
    s.quit()


def test_swaks_submission(sub):
    if subprocess.run(["which", "swaks"], capture_output=True).returncode != 0:
        pytest.skip("swaks not installed")
    # Plaintext on loopback (plaintext_auth = loopback): Debian's swaks needs
    # Net::SSLeay for STARTTLS, which is not a dependency.
    p = subprocess.run(["swaks", "--server", f"127.0.0.1:{sub.p587}",
                        "--auth", "LOGIN", "--auth-user", ALICE, "--auth-password", PW,
                        "--from", ALICE, "--to", BOB, "--header", f"From: {ALICE}",
                        "--helo", "client.example"], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "235 2.7.0" in p.stdout
    assert len(mbox_messages(sub, BOB, "bob-pw")) == 1


# ---- sandbox --------------------------------------------------------------

HOOKS = os.environ.get("SEALMAIL_HOOK_BUILD", os.path.join(os.path.dirname(BUILD), "build-hooks"))


def landlock_abi():
    p = subprocess.run([f"{BUILD}/tests/sandboxprobe", "features"], capture_output=True,
                       text=True, check=True)
    return int(dict(kv.split("=") for kv in p.stdout.split())["landlock_abi"])


@pytest.mark.parametrize("fork", [False, True])
@pytest.mark.parametrize("target", ["active", "other-user"])
def test_back_cannot_remove_queued_mail_nor_touch_mailboxes(redis, cert, fork, target):
    """The back after login (SANDBOX_SUBMIT: directory.db and the queue) may
    add queued mail but neither overwrite nor unlink a file in queue/active,
    and can neither open, create nor unlink anything in a user's directory
    (it runs as the user owning every mailbox.db); a real submission, local
    copy included, still goes."""
    if not os.path.exists(f"{HOOKS}/submitd"):
        pytest.skip("no test-hook build (make TESTHOOKS=1)")
    if landlock_abi() < 2:
        pytest.skip("Landlock ABI < 2")
    import harness
    i = Instance(redis=redis, cert=cert)
    try:
        prepare(i)
        start_lmtpd(i)
        if target == "active":
            d = os.path.join(i.state, "queue", "active")
            with open(os.path.join(d, "mailbox.db"), "wb") as fh:
                fh.write(b"queued before")
        else:
            d = i.user_dir(BOB)
        with open(os.path.join(d, "mailbox.db"), "rb") as fh:
            before = fh.read()
        i.env["SEALMAIL_TEST_HOOK"] = f"files:submit:{d}"
        saved, harness.BUILD = harness.BUILD, HOOKS
        try:
            i.p465 = i.start("submitd", "--tls", fork=fork) if not fork else None
            if fork:
                harness_build = harness.BUILD
                globals()["BUILD"], old = harness_build, BUILD
                try:
                    i.p465 = start_fork(i, "submissions")
                finally:
                    globals()["BUILD"] = old
        finally:
            harness.BUILD = saved
        s = authed(i)
        s.sendmail(ALICE, ["carol@remote.example"], msg())
        s.quit()
        wait_until(lambda: "sandbox test hook: unlink" in i.log_text(), what="hook output")
        log = i.log_text()
        assert f"sandbox test hook: open-rw {d}/mailbox.db: EACCES" in log, log
        assert f"sandbox test hook: unlink {d}/mailbox.db: EACCES" in log, log
        if target == "other-user":
            # No right under users/ at all (local copies go through lmtpd).
            assert f"sandbox test hook: create {d}/planted: EACCES" in log, log
            assert not os.path.exists(f"{d}/planted")
        with open(os.path.join(d, "mailbox.db"), "rb") as fh:
            assert fh.read() == before
        assert len(queue_messages(i)) == 1
    finally:
        i.cleanup()


def test_no_250_without_local_delivery(redis, cert):
    """Without lmtpd the local copy cannot be made: the client gets a
    temporary failure, and the remote copy of the same message is not
    queued either (the 250 comes only when every copy is on disk)."""
    i = Instance(redis=redis, cert=cert)
    try:
        prepare(i)
        i.p465 = i.start("submitd", "--tls")
        s = authed(i)
        s.mail(ALICE)
        s.rcpt(BOB)
        s.rcpt("carol@remote.example")
        code, text = s.data(msg())
        assert code == 451 and text.startswith(b"4.3.0")
        s.quit()
        assert queue_messages(i) == []
        assert os.listdir(os.path.join(i.state, "queue", "tmp")) == []
        assert "lmtp-error" in i.log_text()
    finally:
        i.cleanup()


@pytest.mark.parametrize("value,ok", [
    (f'"Doe, Alice <bob@example.test>" <{ALICE}>', True),
    (f"{ALICE} (Alice, <bob@example.test>)", True),
    (f"Alice <{ALICE}>, Sales <sales@example.test>", True),
    (f"Alice <{ALICE}>, Bob <{BOB}>", False),
    (f"<{BOB}>", False),
    (f'"{ALICE}" <{BOB}>', False),
    (f"Alice\r\n <{ALICE}>", True),
    ("undisclosed-recipients:;", False),
])
def test_header_from_forms(redis, cert, value, ok):
    """Display names, quoted strings, comments, folding and lists in the
    header From: only the addresses count, and every one must be owned."""
    i = Instance(redis=redis, cert=cert)
    try:
        prepare(i)
        start_lmtpd(i)
        i.p465 = i.start("submitd", "--tls")
        s = authed(i)
        data = f"From: {value}\r\nTo: {BOB}\r\nSubject: x\r\n\r\nbody\r\n".encode()
        if ok:
            s.sendmail(ALICE, [BOB], data)
        else:
            with pytest.raises(smtplib.SMTPDataError) as e:
                s.sendmail(ALICE, [BOB], data)
            assert e.value.smtp_code == 550 and e.value.smtp_error.startswith(b"5.7.1")
        s.quit()
    finally:
        i.cleanup()


def test_large_message_local_and_remote(redis, cert):
    """A message of most of max_message_size goes to a local user and to the
    queue under the back's memory limit (proclimit) and sandbox, intact."""
    i = Instance(redis=redis, cert=cert, extra_conf="max_message_size = 4M\n")
    try:
        prepare(i)
        start_lmtpd(i)
        i.p465 = i.start("submitd", "--tls")
        s = authed(i)
        body = b"".join(b"%07d " % n + b"x" * 70 + b"\r\n" for n in range(45000))
        body += b".leading dot\r\n"
        s.sendmail(ALICE, [BOB, "carol@remote.example"], msg(to=BOB, body=body))
        s.quit()
        (_, local), = mbox_messages(i, BOB, "bob-pw")
        (_, queued), = queue_messages(i)
        assert local.endswith(body) and queued.endswith(body)
    finally:
        i.cleanup()


def test_no_250_when_the_queue_cannot_commit(redis, cert):
    """The queue's commit (rename into active/) fails: 451, and the files
    prepared in tmp/ are gone; a 250 is given only after the commit."""
    import shutil
    i = Instance(redis=redis, cert=cert)
    try:
        prepare(i)
        start_lmtpd(i)
        shutil.rmtree(os.path.join(i.state, "queue", "active"))
        i.p465 = i.start("submitd", "--tls")
        s = authed(i)
        s.mail(ALICE)
        assert s.rcpt("carol@remote.example")[0] == 250
        code, text = s.data(msg())
        assert code == 451 and text.startswith(b"4.3.0")
        s.quit()
        assert os.listdir(os.path.join(i.state, "queue", "tmp")) == []
    finally:
        i.cleanup()


def test_commands_pipelined_after_auth_reach_the_back(sub):
    """Commands sent in the same write as AUTH are answered by the back
    after 235 (the front passes on what it had buffered), over TLS and on a
    plaintext loopback connection (handed over)."""
    pipelined = ("AUTH PLAIN " + b64(f"\0{ALICE}\0{PW}") + f"\r\nMAIL FROM:<{ALICE}>\r\n"
                 f"RCPT TO:<{BOB}>\r\nDATA\r\n").encode()
    t, f = tls_session(sub)
    t.sendall(pipelined)
    assert [reply(f)[:3] for _ in range(4)] == ["235", "250", "250", "354"]
    t.sendall(msg(to=BOB) + b".\r\nQUIT\r\n")
    assert reply(f).startswith("250 2.0.0")
    t.close()
    s = socket.create_connection(("127.0.0.1", sub.p587), timeout=30)
    f = s.makefile("rwb")
    assert reply(f).startswith("220 ")
    s.sendall(b"EHLO client.example\r\n" + pipelined)
    assert [reply(f)[:3] for _ in range(5)] == ["250", "235", "250", "250", "354"]
    s.sendall(msg(to=BOB) + b".\r\nQUIT\r\n")
    assert reply(f).startswith("250 2.0.0")
    s.close()
    assert len(mbox_messages(sub, BOB, "bob-pw")) == 2


def test_overlong_sasl_response_answered(sub):
    """A SASL response longer than any credentials gets 500 5.5.6 (RFC 4954
    section 4), for PLAIN and LOGIN alike, and the session goes on."""
    for mech in ("PLAIN", "LOGIN"):
        t, f = tls_session(sub)
        raw(f, "AUTH " + mech)
        assert reply(f).startswith("334")
        raw(f, "QUFB" * 2000)
        assert reply(f).startswith("500 5.5.6")
        raw(f, "AUTH PLAIN " + b64(f"\0{ALICE}\0{PW}"))
        assert reply(f).startswith("235")
        t.close()
