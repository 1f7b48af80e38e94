# SPDX-License-Identifier: AGPL-3.0-or-later
"""imapd: login, capabilities, mailbox commands, SELECT, IDLE, hostile input."""
import base64
import imaplib
import os
import socket
import ssl
import subprocess
import threading
import time

import pytest

from harness import Instance, wait_until


@pytest.fixture
def imap(inst):
    inst.setup_domain()
    inst.pw = inst.add_user("demo@example.test")
    inst.port = inst.start("imapd")
    return inst


def login(inst, port=None):
    m = imaplib.IMAP4("127.0.0.1", port or inst.port, timeout=10)
    m.login("demo@example.test", inst.pw)
    return m


class Raw:
    def __init__(self, port, tls_ctx=None):
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.s = tls_ctx.wrap_socket(s, server_hostname="localhost") if tls_ctx else s
        self.f = self.s.makefile("rb")
        self.greeting = self.f.readline()

    def cmd(self, line, tag=None):
        """Send a line; return all lines up to the tagged reply."""
        self.s.sendall(line if isinstance(line, bytes) else line.encode())
        self.s.sendall(b"\r\n")
        out = []
        while True:
            l = self.f.readline()
            if not l:
                return out
            out.append(l.decode(errors="replace").rstrip("\r\n"))
            if tag is not None and l.startswith(tag.encode() + b" "):
                return out
            if tag is None:
                t = line.split(b" ")[0] if isinstance(line, bytes) else line.split(" ")[0]
                if l.startswith((t if isinstance(t, bytes) else t.encode()) + b" "):
                    return out


def test_greeting_and_capability(imap):
    r = Raw(imap.port)
    assert r.greeting.startswith(b"* OK [CAPABILITY IMAP4rev1 ")
    assert b"AUTH=PLAIN" in r.greeting and b"STARTTLS" in r.greeting
    out = r.cmd("a CAPABILITY")
    assert out[0].startswith("* CAPABILITY IMAP4rev1")
    assert out[-1] == "a OK Capability completed."


def test_login_wrong_password_then_right(imap):
    m = imaplib.IMAP4("127.0.0.1", imap.port, timeout=10)
    with pytest.raises(imaplib.IMAP4.error, match="AUTHENTICATIONFAILED"):
        m.login("demo@example.test", "wrong")
    with pytest.raises(imaplib.IMAP4.error, match="AUTHENTICATIONFAILED"):
        m.login("nobody@example.test", "x")
    typ, data = m.login("demo@example.test", imap.pw)
    assert typ == "OK" and b"CAPABILITY" in data[0]
    m.logout()


def test_three_failures_disconnect(imap):
    r = Raw(imap.port)
    for i in range(3):
        out = r.cmd(f"a{i} LOGIN demo@example.test wrong", tag=f"a{i}")
    assert out[-1].startswith("a2 NO")
    assert r.f.readline().startswith(b"* BYE")


def test_authenticate_plain_sasl_ir_and_continuation(imap):
    ir = base64.b64encode(b"\0demo@example.test\0" + imap.pw.encode()).decode()
    r = Raw(imap.port)
    out = r.cmd(f"a AUTHENTICATE PLAIN {ir}")
    assert out[-1].startswith("a OK")
    m = imaplib.IMAP4("127.0.0.1", imap.port, timeout=10)
    m.authenticate("PLAIN", lambda _: b"\0demo@example.test\0" + imap.pw.encode())
    m.logout()
    r = Raw(imap.port)
    r.s.sendall(b"b AUTHENTICATE PLAIN\r\n")
    assert r.f.readline().startswith(b"+")
    r.s.sendall(b"*\r\n")
    assert r.f.readline().startswith(b"b BAD")


def test_login_literal_password(imap):
    r = Raw(imap.port)
    pw = imap.pw.encode()
    r.s.sendall(b"a LOGIN demo@example.test {%d}\r\n" % len(pw))
    assert r.f.readline().startswith(b"+")
    r.s.sendall(pw + b"\r\n")
    assert r.f.readline().startswith(b"a OK")
    r.s.sendall(b"b LOGIN demo@example.test {%d+}\r\n%s\r\n" % (len(pw), pw))
    assert r.f.readline().startswith(b"b BAD")  # already logged in


def test_logindisabled_without_tls(redis, cert):
    inst = Instance(redis=redis, cert=cert, extra_conf="plaintext_auth = never\n")
    try:
        inst.setup_domain()
        pw = inst.add_user("demo@example.test")
        port = inst.start("imapd")
        r = Raw(port)
        assert b"LOGINDISABLED" in r.greeting and b"AUTH=PLAIN" not in r.greeting
        out = r.cmd("a LOGIN demo@example.test " + pw)
        assert out[-1].startswith("a NO [PRIVACYREQUIRED]")
        ctx = ssl.create_default_context(cafile=inst.cert)
        ctx.check_hostname = False
        m = imaplib.IMAP4("127.0.0.1", port, timeout=10)
        m.starttls(ssl_context=ctx)
        m.login("demo@example.test", pw)
        m.logout()
    finally:
        inst.cleanup()


def test_starttls_injection_is_discarded(imap):
    r = Raw(imap.port)
    r.s.sendall(b"a STARTTLS\r\nb LOGIN demo@example.test " + imap.pw.encode() + b"\r\n")
    assert r.f.readline().startswith(b"a OK")
    ctx = ssl.create_default_context(cafile=imap.cert)
    ctx.check_hostname = False
    t = ctx.wrap_socket(r.s, server_hostname="localhost")
    f = t.makefile("rb")
    # The pipelined LOGIN was not executed: we are still not authenticated.
    t.sendall(b"c SELECT INBOX\r\n")
    assert f.readline().startswith(b"c BAD")
    t.sendall(b"d CAPABILITY\r\n")
    caps = f.readline()
    assert b"STARTTLS" not in caps
    wait_until(lambda: "SEALMAIL_DISCARDED=" in imap.log_text(), what="discard logged")


def test_implicit_tls(imap):
    port = imap.start("imapd", "--tls")
    ctx = ssl.create_default_context(cafile=imap.cert)
    ctx.check_hostname = False
    m = imaplib.IMAP4_SSL("127.0.0.1", port, ssl_context=ctx, timeout=10)
    m.login("demo@example.test", imap.pw)
    assert m.select("INBOX")[0] == "OK"
    m.logout()


def test_commands_before_login(imap):
    r = Raw(imap.port)
    assert r.cmd("a SELECT INBOX")[-1].startswith("a BAD")
    assert r.cmd("b NOOP")[-1] == "b OK NOOP completed."
    out = r.cmd('c ID ("name" "test")')
    assert out[0].startswith('* ID ("name" "sealmail"')
    assert r.cmd("d LOGOUT")[0] == "* BYE Logging out"


def test_id_enable_namespace(imap):
    r = Raw(imap.port)
    r.cmd(f"a LOGIN demo@example.test {imap.pw}")
    assert r.cmd("b NAMESPACE")[0] == '* NAMESPACE (("" "/")) NIL NIL'
    assert r.cmd("c ENABLE QRESYNC CONDSTORE X-UNKNOWN")[0] == "* ENABLED QRESYNC"
    assert r.cmd("d ENABLE CONDSTORE")[0] == "* ENABLED"
    assert r.cmd("e ID NIL")[-1] == "e OK ID completed."


def test_list_and_special_use(imap):
    m = login(imap)
    typ, data = m.list()
    assert data == [b'(\\HasNoChildren) "/" "INBOX"', b'(\\HasNoChildren \\Archive) "/" "Archive"',
                    b'(\\HasNoChildren \\Drafts) "/" "Drafts"', b'(\\HasNoChildren \\Junk) "/" "Junk"',
                    b'(\\HasNoChildren \\Sent) "/" "Sent"', b'(\\HasNoChildren \\Trash) "/" "Trash"']
    typ, data = m._simple_command("LIST", "(SPECIAL-USE)", '""', "*")
    data = m.untagged_responses.pop("LIST")
    assert len(data) == 5 and all(b"\\HasNoChildren \\" in d for d in data)
    typ, data = m.list('""', '""')
    assert data == [b'(\\Noselect) "/" ""']
    m.logout()


def test_create_rename_delete_hierarchy(imap):
    m = login(imap)
    assert m.create("Work/Projects/2026")[0] == "OK"
    typ, data = m.list('""', "Work*")
    assert data == [b'(\\HasChildren) "/" "Work"', b'(\\HasChildren) "/" "Work/Projects"',
                    b'(\\HasNoChildren) "/" "Work/Projects/2026"']
    assert m.create("Work")[0] == "NO"
    assert m.rename("Work", "Job")[0] == "OK"
    typ, data = m.list('""', "Job/%")
    assert data == [b'(\\HasChildren) "/" "Job/Projects"']
    assert m.rename("Job", "Job/Sub")[0] == "NO"
    assert m.delete("Job/Projects/2026")[0] == "OK"
    assert m.delete("INBOX")[0] == "NO"
    assert m.delete("Nope")[0] == "NO"
    assert m.create("Trailing/")[0] == "OK"
    assert m.list('""', "Trailing")[1] == [b'(\\HasNoChildren) "/" "Trailing"']
    m.logout()


@pytest.mark.parametrize("name", ["%", "*", "a%b", "Work/*", "x*/y"])
def test_create_and_rename_refuse_list_wildcards(imap, name):
    """LIST could not name such a mailbox on its own ("a%" also matches
    "ab"): neither CREATE nor RENAME makes one (as Dovecot refuses them)."""
    m = login(imap)
    quoted = f'"{name}"'  # imaplib sends arguments as they are
    typ, data = m.create(quoted)
    assert typ == "NO" and data[0].startswith(b"[CANNOT] Invalid mailbox name: "), data
    assert b"wildcards" in data[0]
    assert m.create("Work")[0] == "OK"
    typ, data = m.rename("Work", quoted)
    assert typ == "NO" and data[0].startswith(b"[CANNOT] "), data
    typ, data = m.list('""', "*")
    names = [ln.rsplit(b' "/" ', 1)[1] for ln in data]
    assert b'"Work"' in names
    assert not [n for n in names if b"%" in n or b"*" in n], names
    m.logout()


def test_utf7_names(imap):
    m = login(imap)
    assert m.create("&ZeVnLIqe-")[0] == "OK"  # 日本語
    assert m.list('""', "&ZeVnLIqe-")[1] == [b'(\\HasNoChildren) "/" "&ZeVnLIqe-"']
    assert m.create("&Jjo-bad&")[0] in ("NO", "BAD")
    assert m.status("&ZeVnLIqe-", "(MESSAGES)")[1] == [b'"&ZeVnLIqe-" (MESSAGES 0)']
    m.logout()


def test_subscribe_lsub(imap):
    m = login(imap)
    m.create("Lists/a")
    assert m.subscribe("Lists/a")[0] == "OK"
    assert m.unsubscribe("Drafts")[0] == "OK"
    typ, data = m.lsub('""', "*")
    assert b'() "/" "Lists/a"' in data and b'() "/" "Drafts"' not in data
    typ, data = m.lsub('""', "Lists")
    assert data == [None] or data == [] or data == [b'(\\Noselect) "/" "Lists"']
    assert m.subscribe("Missing")[0] == "NO"
    m.logout()


def test_select_and_examine_responses(imap):
    r = Raw(imap.port)
    r.cmd(f"a LOGIN demo@example.test {imap.pw}")
    out = r.cmd("b SELECT INBOX")
    assert out[0] == "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)"
    assert out[1].startswith("* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft \\*)]")
    assert "* 0 EXISTS" in out and "* 0 RECENT" in out
    assert any(l.startswith("* OK [UIDVALIDITY ") for l in out)
    assert any(l.startswith("* OK [UIDNEXT 1]") for l in out)
    assert any(l.startswith("* OK [HIGHESTMODSEQ ") for l in out)
    assert out[-1] == "b OK [READ-WRITE] Select completed."
    out = r.cmd("c EXAMINE Sent")
    assert out[-1] == "c OK [READ-ONLY] Examine completed."
    assert r.cmd("d SELECT Nope")[-1].startswith("d NO [NONEXISTENT]")
    assert r.cmd("e FETCH 1 FLAGS")[-1].startswith("e BAD")  # nothing selected now


def test_status_items(imap):
    m = login(imap)
    typ, data = m.status("INBOX", "(MESSAGES RECENT UIDNEXT UIDVALIDITY UNSEEN HIGHESTMODSEQ)")
    assert typ == "OK"
    assert data[0].startswith(b'"INBOX" (MESSAGES 0 RECENT 0 UIDNEXT 1 UIDVALIDITY ')
    with pytest.raises(imaplib.IMAP4.error, match="STATUS"):
        m.status("INBOX", "(BOGUS)")
    m.logout()


def deliver(inst, smtp_port, to="demo@example.test", subject="hi"):
    subprocess.run(["swaks", "--server", f"127.0.0.1:{smtp_port}", "--to", to,
                    "--header", f"Subject: {subject}", "--from", "a@example.org"],
                   capture_output=True, check=True, timeout=30)


def test_new_mail_shows_on_noop(imap):
    smtp = imap.start("smtpd")
    m = login(imap)
    m.select("INBOX")
    m.untagged_responses.clear()
    deliver(imap, smtp)
    m.noop()
    assert m.untagged_responses.get("EXISTS") == [b"1"]
    assert m.untagged_responses.get("RECENT") == [b"1"]
    m.logout()
    m = login(imap)
    typ, data = m.select("INBOX")
    assert data == [b"1"]
    assert m.untagged_responses.get("RECENT") == [b"0"]  # claimed by the first session
    m.logout()


def idle_until_exists(port, pw, deliver_fn):
    r = Raw(port)
    r.cmd(f"a LOGIN demo@example.test {pw}")
    r.cmd("b SELECT INBOX")
    r.s.sendall(b"c IDLE\r\n")
    assert r.f.readline().startswith(b"+ ")
    t0 = time.monotonic()
    deliver_fn()
    t_delivered = time.monotonic()
    line = r.f.readline()
    t1 = time.monotonic()
    r.s.sendall(b"DONE\r\n")
    rest = []
    while True:
        l = r.f.readline()
        rest.append(l)
        if l.startswith(b"c "):
            break
    return line, t1 - t_delivered, rest


def test_idle_reports_delivery_within_a_second(imap):
    smtp = imap.start("smtpd")
    line, delay, rest = idle_until_exists(imap.port, imap.pw, lambda: deliver(imap, smtp))
    assert line == b"* 1 EXISTS\r\n"
    assert delay < 1.0, delay
    assert rest[-1].startswith(b"c OK")


def test_idle_without_redis_uses_inotify(redis, cert):
    inst = Instance(redis=None, cert=cert)
    try:
        inst.setup_domain()
        pw = inst.add_user("demo@example.test")
        port = inst.start("imapd")
        smtp = inst.start("smtpd")
        line, delay, _ = idle_until_exists(port, pw, lambda: deliver(inst, smtp))
        assert line == b"* 1 EXISTS\r\n"
        assert delay < 1.0, delay
    finally:
        inst.cleanup()


def test_two_sessions_see_expunge_and_create(imap):
    smtp = imap.start("smtpd")
    deliver(imap, smtp)
    a, b = login(imap), login(imap)
    a.select("INBOX")
    b.select("INBOX")
    a.create("FromA")
    assert b.list('""', "FromA")[1] == [b'(\\HasNoChildren) "/" "FromA"']
    a.logout()
    b.logout()


def test_hostile_input(imap):
    r = Raw(imap.port)
    r.cmd(f"a LOGIN demo@example.test {imap.pw}")
    assert r.cmd("b SELECT")[-1].startswith("b BAD")
    assert r.cmd("c LIST")[-1].startswith("c BAD")
    assert r.cmd("d " + "(" * 200 + ")" * 200)[-1].startswith("d BAD")
    r.s.sendall(b"e NOOP " + b"x" * 70000 + b"\r\n")
    assert r.f.readline().startswith(b"* BAD [TOOBIG]")
    assert r.cmd("f XYZZY")[-1].startswith("f BAD")
    assert r.cmd("g UID NOOP")[-1].startswith("g BAD")
    assert r.cmd("+ NOOP", tag="*")[-1].startswith("* BAD")
    assert r.cmd('h CREATE "a\\"b/"')[-1].startswith("h ")
    assert r.cmd("i STATUS INBOX MESSAGES")[-1].startswith("i BAD")
    assert r.cmd("j NOOP")[-1] == "j OK NOOP completed."


def test_literal_too_big_refused(imap):
    r = Raw(imap.port)
    r.cmd(f"a LOGIN demo@example.test {imap.pw}")
    r.s.sendall(b"b CREATE {99999999999}\r\n")
    line = r.f.readline()
    assert line.startswith(b"b BAD") or line.startswith(b"b NO") or line.startswith(b"* BAD")
    assert r.cmd("c NOOP")[-1] == "c OK NOOP completed."


# ---- the spool at login --------------------------------------------------------

def spool_dir(inst, sub):
    return os.path.join(inst.user_dir("demo@example.test"), "spool", sub)


def test_spool_links_and_fifos_removed_and_logged_once(imap):
    """Symbolic links and FIFOs planted in spool/new under spool names hold no
    message. The login's sandbox may not move them to spool/bad (Landlock
    counts that as creating a link or FIFO there): they are removed, one log
    line each, and the next login has nothing left to say."""
    new = spool_dir(imap, "new")
    n = 200
    for i in range(n):
        name = os.path.join(new, "%d.%016x" % (1700000000000000 + i, i))
        if i % 2:
            os.symlink("/etc/passwd" if i % 4 == 1 else "/nonexistent", name)
        else:
            os.mkfifo(name, 0o600)
    m = login(imap)
    assert m.select("INBOX") == ("OK", [b"0"])
    m.logout()
    assert os.listdir(new) == []
    bad = spool_dir(imap, "bad")
    assert not os.path.isdir(bad) or os.listdir(bad) == []
    lines = [ln for ln in imap.log_text().splitlines() if "spool-" in ln]
    assert len(lines) == n, lines[:4]
    assert all("spool-bad " in ln and "ACTION=removed" in ln for ln in lines), lines[:4]
    m = login(imap)
    m.logout()
    assert len([ln for ln in imap.log_text().splitlines() if "spool-" in ln]) == n


def test_login_removes_old_partial_tmp_files(imap):
    """A delivery killed before its rename leaves a partial file in spool/tmp
    that was never acknowledged: the login removes it once it is older than a
    day (SPOOL_TMP_MAX_AGE_S), and leaves a fresh one (a delivery that may
    still be in progress) alone."""
    tmp = spool_dir(imap, "tmp")
    old = os.path.join(tmp, "1600000000000000.00000000000000aa")
    fresh = os.path.join(tmp, "%d.00000000000000bb" % int(time.time() * 1e6))
    for path in (old, fresh):
        with open(path, "wb") as f:
            f.write(b"age-encryption.org/v1\n-> X25519 partial")
    day = 24 * 3600
    os.utime(old, (time.time() - day - 120, time.time() - day - 120))
    almost = os.path.join(tmp, "1600000000000001.00000000000000cc")
    with open(almost, "wb") as f:
        f.write(b"partial")
    os.utime(almost, (time.time() - day + 600, time.time() - day + 600))
    m = login(imap)
    m.logout()
    assert sorted(os.listdir(tmp)) == sorted([os.path.basename(fresh), os.path.basename(almost)])
    assert "spool-tmp-removed" in imap.log_text()
    assert os.path.basename(old) in imap.log_text()
