# SPDX-License-Identifier: AGPL-3.0-or-later
"""The shipped fail2ban filter (etc/fail2ban/filter.d/sealmail.conf), run by
Debian's fail2ban-regex over what real failed IMAP and POP3 logins logged:
as text on stderr, and as the journal shows it. User names chosen to forge a
SEALMAIL_REMOTE field must never get their address banned."""
import imaplib
import os
import poplib
import shutil
import socket
import subprocess
import sys
import tempfile

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import BUILD, ROOT, Instance  # noqa: E402

FILTER = os.path.join(ROOT, "etc", "fail2ban", "filter.d", "sealmail.conf")
FORGED = "6.6.6.6"

# IMAP quoted strings (RFC 3501 section 4.3: \" and \\ inside).
IMAP_FORGED_USERS = [
    r'"x\" SEALMAIL_REMOTE=6.6.6.6"',
    r'"x\" SEALMAIL_REMOTE=6.6.6.6 SEALMAIL_USER=\"y"',
    r'"x\\\" SEALMAIL_REMOTE=6.6.6.6 \\"',
    r'"SEALMAIL_REMOTE=6.6.6.6"',
]
# POP3 USER takes the rest of the line.
POP3_FORGED_USERS = [
    'x" SEALMAIL_REMOTE=6.6.6.6',
    'y SEALMAIL_REMOTE=6.6.6.6',
    'auth-fail SEALMAIL_REMOTE=6.6.6.6',
]


def imap_raw_login(port, user_quoted, password='"wrong"'):
    """LOGIN with a user name written as the test wants it; the reply line."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
        f = s.makefile("rwb")
        f.readline()
        f.write(f"a LOGIN {user_quoted} {password}\r\n".encode())
        f.flush()
        line = f.readline()
        f.write(b"b LOGOUT\r\n")
        f.flush()
        return line


def failed_logins(imap_port, pop3_port):
    """Fail to log in over IMAP and POP3; the number of failures. Each
    auth-fail event is logged before the client gets its answer."""
    n = 0
    c = imaplib.IMAP4("127.0.0.1", imap_port)
    with pytest.raises(imaplib.IMAP4.error):
        c.login("alice@example.test", "wrong")
    c.logout()
    n += 1
    for u in IMAP_FORGED_USERS:
        line = imap_raw_login(imap_port, u)
        assert line.startswith(b"a NO"), line
        n += 1
    for u in ["alice@example.test", *POP3_FORGED_USERS]:
        p = poplib.POP3("127.0.0.1", pop3_port, timeout=30)
        p.user(u)
        with pytest.raises(poplib.error_proto):
            p.pass_("wrong")
        p.quit()
        n += 1
    return n


def filter_dir(tmp):
    """The filter as `make install` puts it, beside Debian's common.conf."""
    dest = os.path.join(tmp, "dest")
    # What `make install` runs (without its dependency on `all`, which
    # would build the default build directory).
    env = dict(os.environ, B=BUILD, DESTDIR=dest, PREFIX="/usr", HANDLERS="sealctl")
    p = subprocess.run([os.path.join(ROOT, "units", "install.sh")], cwd=ROOT, env=env,
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    d = os.path.join(dest, "etc", "fail2ban", "filter.d")
    with open(os.path.join(d, "sealmail.conf")) as a, open(FILTER) as b:
        assert a.read() == b.read()
    shutil.copy("/etc/fail2ban/filter.d/common.conf", d)
    return os.path.join(d, "sealmail.conf")


# What an administrator might write without reading the filter above: the
# last "SEALMAIL_REMOTE=" of the line. The text form must make even this
# one safe (every '=' inside a value is escaped).
NAIVE_FILTER = "[Definition]\nfailregex = auth-fail .* SEALMAIL_REMOTE=<ADDR>\n"


def naive_filter(tmp):
    path = os.path.join(tmp, "naive.conf")
    with open(path, "w") as f:
        f.write(NAIVE_FILTER)
    return path


def banned_addresses(log, filt, *opts):
    p = subprocess.run(["fail2ban-regex", *opts, "-o", "ip", log, filt],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    return p.stdout.split()


def need_fail2ban():
    if not shutil.which("fail2ban-regex") or \
            not os.path.exists("/etc/fail2ban/filter.d/common.conf"):
        pytest.fail("fail2ban-regex is not installed (tests/deps.sh installs fail2ban)")


def test_text_form_bans_only_the_client():
    need_fail2ban()
    inst = Instance()
    try:
        inst.setup_domain()
        inst.add_user("alice@example.test")
        n = failed_logins(inst.start("imapd"), inst.start("pop3d"))
        log = os.path.join(inst.tmp, "all.log")
        with open(log, "w") as f:
            f.write(inst.log_text())
        text = inst.log_text()
        assert text.count(">auth-fail ") == n
        # Handlers' stderr carries no time stamp: the jail says {NONE}.
        ips = banned_addresses(log, filter_dir(inst.tmp), "--datepattern", "{NONE}")
        assert ips == ["127.0.0.1"] * n, ips
        ips = banned_addresses(log, naive_filter(inst.tmp), "--datepattern", "{NONE}")
        assert ips == ["127.0.0.1"] * n, ips
        assert FORGED not in ips
    finally:
        inst.cleanup()


def have_python_systemd():
    p = subprocess.run([sys.executable, "-c", "import systemd.journal"], capture_output=True)
    return p.returncode == 0


def journal_run(out):
    """Inside tests/tools/with-journald.sh: real handlers logging to the
    private journal, then what the journal shows of the auth-fail events
    (journalctl -o short: the line fail2ban's journal backend builds,
    "host ident[pid]: MESSAGE", behind a date) into out, and the JSON
    entries into out.json."""
    inst = Instance()
    try:
        inst.env["LOG_TARGET"] = "journal"
        inst.setup_domain()
        inst.add_user("alice@example.test")
        n = failed_logins(inst.start("imapd"), inst.start("pop3d"))
    finally:
        inst.cleanup()
    subprocess.run(["journalctl", "--sync"], check=False)
    match = ["SEALMAIL_EVENT=auth-fail"]  # the filter's journalmatch
    for fmt, path in (("short", out), ("json", out + ".json")):
        with open(path, "w") as f:
            subprocess.run(["journalctl", "--no-pager", "-o", fmt, *match], stdout=f, check=True)
    if have_python_systemd():
        # fail2ban's own journal backend, with the filter's journalmatch.
        filt = filter_dir(tempfile.mkdtemp(prefix="sealmail-f2b-j-"))
        p = subprocess.run(["fail2ban-regex", "-o", "ip", "systemd-journal", filt],
                           capture_output=True, text=True, timeout=120)
        with open(out + ".backend", "w") as f:
            f.write(p.stdout if p.returncode == 0 else f"rc={p.returncode} {p.stderr}")
    print(n)


def test_journal_form_bans_only_the_client():
    need_fail2ban()
    if os.geteuid() != 0 or not shutil.which("unshare") or \
            not os.path.exists("/lib/systemd/systemd-journald"):
        pytest.skip("SKIPPED LOUDLY: needs root, unshare and systemd-journald")
    tmp = tempfile.mkdtemp(prefix="sealmail-f2b-")
    try:
        out = os.path.join(tmp, "journal.log")
        p = subprocess.run([f"{ROOT}/tests/tools/with-journald.sh", sys.executable,
                            os.path.abspath(__file__), "journal", out],
                           capture_output=True, text=True, timeout=300)
        assert p.returncode == 0, p.stderr
        n = int(p.stdout.split()[-1])
        import json
        with open(out + ".json") as f:
            entries = [json.loads(l) for l in f if l.startswith("{")]
        assert len(entries) == n
        assert all(e["SEALMAIL_REMOTE"] == "127.0.0.1" for e in entries)
        assert {e["SYSLOG_IDENTIFIER"] for e in entries} == {"sealmail-imapd", "sealmail-pop3d"}
        ips = banned_addresses(out, filter_dir(tmp))
        assert ips == ["127.0.0.1"] * n, ips
        assert banned_addresses(out, naive_filter(tmp)) == ["127.0.0.1"] * n
        if have_python_systemd():
            with open(out + ".backend") as f:
                assert f.read().split() == ["127.0.0.1"] * n
        else:
            print("SKIPPED LOUDLY: fail2ban's systemd backend needs python3-systemd "
                  "(tests/deps.sh); checked on journalctl's text of the same entries")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__" and len(sys.argv) == 3 and sys.argv[1] == "journal":
    journal_run(sys.argv[2])
