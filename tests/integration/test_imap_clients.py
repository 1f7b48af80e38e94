# SPDX-License-Identifier: AGPL-3.0-or-later
"""imapd with real mail clients: mbsync (isync) two-way sync, offlineimap,
curl imap:// URLs."""
import imaplib
import os
import subprocess
import time

import pytest

MSGS = [b"From: a@example.org\r\nTo: demo@example.test\r\nSubject: m%d\r\n"
        b"Message-ID: <m%d@example.org>\r\n\r\nbody %d\r\n" % (i, i, i) for i in range(1, 4)]


def seal(inst, data):
    rcpt = inst.sealctl("user", "recipient", "demo@example.test").stdout.strip()
    name = f"{int(time.time() * 1e6)}.{os.urandom(8).hex()}"
    path = os.path.join(inst.user_dir("demo@example.test"), "spool", "new", name)
    subprocess.run(["age", "-r", rcpt, "-o", path], input=data, check=True)


@pytest.fixture
def imap(inst):
    inst.setup_domain()
    inst.pw = inst.add_user("demo@example.test")
    for m in MSGS:
        seal(inst, m)
    inst.port = inst.start("imapd")
    return inst


def local_form(data):
    """mbsync stores LF line ends and adds its X-TUID tracking header."""
    lines = [l for l in data.replace(b"\r\n", b"\n").split(b"\n") if not l.startswith(b"X-TUID: ")]
    return b"\n".join(lines)


def maildir_files(root, folder="INBOX"):
    out = {}
    for sub in ("cur", "new"):
        d = os.path.join(root, folder, sub)
        if os.path.isdir(d):
            for f in os.listdir(d):
                out[os.path.join(d, f)] = open(os.path.join(d, f), "rb").read()
    return out


def mbsync(inst, tmp_path):
    rc = tmp_path / "mbsyncrc"
    local = tmp_path / "mail"
    local.mkdir(exist_ok=True)
    rc.write_text(f"""IMAPAccount test
Host 127.0.0.1
Port {inst.port}
User demo@example.test
Pass {inst.pw}
SSLType None
AuthMechs LOGIN

IMAPStore remote
Account test

MaildirStore local
Path {local}/
Inbox {local}/INBOX
SubFolders Verbatim

Channel sync
Far :remote:
Near :local:
Patterns *
Create Both
Expunge Both
SyncState *
""")
    p = subprocess.run(["mbsync", "-c", str(rc), "-a"], capture_output=True, text=True,
                       timeout=120)
    assert p.returncode == 0, p.stdout + p.stderr
    return local


def server_state(inst):
    m = imaplib.IMAP4("127.0.0.1", inst.port, timeout=10)
    m.login("demo@example.test", inst.pw)
    m.select("INBOX")
    typ, data = m.fetch("1:*", "(FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
    m.logout()
    out = {}
    for item in data:
        if isinstance(item, tuple):
            subj = item[1].decode().strip()
            out[subj] = item[0].decode()
    return out


def test_mbsync_two_way(imap, tmp_path):
    local = mbsync(imap, tmp_path)
    files = maildir_files(local)
    assert sorted(local_form(v) for v in files.values()) == sorted(local_form(m) for m in MSGS)
    # Local changes: m1 read, m2 deleted, a new message written locally.
    for path, data in files.items():
        d, base = os.path.split(path)
        stem = base.split(":2,")[0]
        cur = os.path.join(os.path.dirname(d), "cur")
        if local_form(data) == local_form(MSGS[0]):
            os.rename(path, os.path.join(cur, stem + ":2,S"))
        elif local_form(data) == local_form(MSGS[1]):
            os.rename(path, os.path.join(cur, stem + ":2,T"))
    new = b"From: me@example.test\r\nSubject: local\r\n\r\nwritten offline\r\n"
    with open(os.path.join(local, "INBOX", "new", "1700000000.local.x"), "wb") as f:
        f.write(new)
    os.makedirs(local / "Archive" / "cur", exist_ok=True)
    mbsync(imap, tmp_path)
    st = server_state(imap)
    assert set(st) == {"Subject: m1", "Subject: m3", "Subject: local"}
    assert "\\Seen" in st["Subject: m1"]
    assert "\\Seen" not in st["Subject: m3"]
    # A server-side change comes back down.
    m = imaplib.IMAP4("127.0.0.1", imap.port, timeout=10)
    m.login("demo@example.test", imap.pw)
    m.select("INBOX")
    typ, data = m.search(None, "SUBJECT", "m3")
    m.store(data[0].decode(), "+FLAGS", "\\Flagged")
    m.logout()
    mbsync(imap, tmp_path)
    flagged = [p for p, d in maildir_files(local).items() if local_form(d) == local_form(MSGS[2])]
    assert flagged and flagged[0].split(":2,")[1].find("F") >= 0


def test_offlineimap(imap, tmp_path):
    local = tmp_path / "mail"
    rc = tmp_path / "offlineimaprc"
    rc.write_text(f"""[general]
accounts = test
metadata = {tmp_path}/meta

[Account test]
localrepository = local
remoterepository = remote

[Repository local]
type = Maildir
localfolders = {local}

[Repository remote]
type = IMAP
remotehost = 127.0.0.1
remoteport = {imap.port}
remoteuser = demo@example.test
remotepass = {imap.pw}
ssl = no
starttls = no
""")
    p = subprocess.run(["offlineimap", "-o", "-u", "quiet", "-c", str(rc)], capture_output=True,
                       text=True, timeout=180, env=dict(os.environ, HOME=str(tmp_path)))
    assert p.returncode == 0, p.stdout + p.stderr
    got = sorted(maildir_files(local).values())
    assert len(got) == 3
    for m in MSGS:
        assert any(g.replace(b"\r\n", b"\n") == m.replace(b"\r\n", b"\n") or g == m for g in got)


def test_curl_imap(imap):
    base = f"imap://127.0.0.1:{imap.port}"
    auth = ["-u", f"demo@example.test:{imap.pw}"]
    out = subprocess.run(["curl", "-s", f"{base}/INBOX;UID=2", *auth], capture_output=True,
                         timeout=30)
    assert out.returncode == 0
    assert out.stdout == MSGS[1]
    out = subprocess.run(["curl", "-s", f"{base}/", *auth], capture_output=True, timeout=30)
    assert b'"INBOX"' in out.stdout and b"\\Sent" in out.stdout
    out = subprocess.run(["curl", "-s", f"{base}/INBOX?SUBJECT%20m3", *auth],
                         capture_output=True, timeout=30)
    assert out.stdout.strip() == b"* SEARCH 3"
