# SPDX-License-Identifier: AGPL-3.0-or-later
"""sealctl, the key hierarchy and the encrypted store, driven from outside."""
import hashlib
import os
import subprocess

from harness import BUILD, mbox, mbox_messages, spool_files

MSG = (b"From: a@example.org\r\nTo: demo@example.test\r\nSubject: the quick brown fox\r\n"
       b"Message-ID: <known-plaintext-1@example.org>\r\n\r\n"
       b"UNIQUE-PLAINTEXT-MARKER-7f3a9c jumps over the lazy dog\r\n")


def spool_name():
    import time
    return f"{int(time.time() * 1e6)}.{os.urandom(8).hex()}"


def age_seal_into_spool(inst, address, data):
    """Seal data with the real `age` tool to the user's recipient and drop it
    into spool/new, as the MX would."""
    rcpt = inst.sealctl("user", "recipient", address).stdout.strip()
    assert rcpt.startswith("age1")
    path = os.path.join(inst.user_dir(address), "spool", "new", spool_name())
    subprocess.run(["age", "-r", rcpt, "-o", path], input=data, check=True)
    return path


def tree_digest(path):
    h = hashlib.sha256()
    for root, dirs, files in sorted(os.walk(path)):
        dirs.sort()
        for f in sorted(files):
            p = os.path.join(root, f)
            h.update(p.encode())
            with open(p, "rb") as fh:
                h.update(fh.read())
    return h.hexdigest()


def test_init_is_idempotent(inst):
    inst.sealctl("init")
    inst.sealctl("init")
    assert os.path.exists(os.path.join(inst.state, "directory.db"))


def test_domain_commands(inst):
    inst.setup_domain()
    assert inst.sealctl("domain", "list").stdout.split() == ["example.test"]
    assert inst.sealctl("domain", "add", "example.test", check=False).returncode == 1
    assert inst.sealctl("domain", "add", "not a domain", check=False).returncode in (1, 2)
    inst.add_user("u@example.test")
    assert inst.sealctl("domain", "del", "example.test", check=False).returncode == 1
    inst.sealctl("user", "del", "u@example.test")
    inst.sealctl("domain", "del", "example.test")
    assert inst.sealctl("domain", "list").stdout.strip() == ""


def test_usage_errors_exit_2(inst):
    inst.setup_domain()
    assert inst.sealctl("frobnicate", check=False).returncode == 2
    assert inst.sealctl("user", check=False).returncode == 2
    assert inst.sealctl("user", "reset", "demo@example.test", check=False).returncode == 2


def test_user_add_generated_password_and_recovery(inst):
    inst.setup_domain()
    p = inst.sealctl("user", "add", "gen@example.test", "--recovery")
    lines = dict(l.split(": ", 1) for l in p.stdout.splitlines())
    assert len(lines["password"]) >= 16
    assert len(lines["recovery-code"].replace("-", "")) >= 26
    assert mbox(inst, "gen@example.test", lines["password"], "folders").returncode == 0
    assert inst.sealctl("user", "add", "gen@example.test", "--password-stdin", input="x\n",
                        check=False).returncode == 1
    assert inst.sealctl("user", "add", "x@nothosted.test", "--password-stdin", input="x\n",
                        check=False).returncode == 1


def test_standard_folders(inst):
    inst.setup_domain()
    pw = inst.add_user("demo@example.test")
    folders = dict(l.split() for l in mbox(inst, "demo@example.test", pw, "folders")
                   .stdout.decode().splitlines())
    assert folders["INBOX"] == "-"
    for name, use in [("Drafts", "\\Drafts"), ("Sent", "\\Sent"), ("Junk", "\\Junk"),
                      ("Trash", "\\Trash"), ("Archive", "\\Archive")]:
        assert folders[name] == use


def test_age_tool_file_imports(inst):
    inst.setup_domain()
    pw = inst.add_user("demo@example.test")
    age_seal_into_spool(inst, "demo@example.test", MSG)
    msgs = mbox_messages(inst, "demo@example.test", pw)
    assert [m[1] for m in msgs] == [MSG]
    assert spool_files(inst, "demo@example.test") == []


def test_identity_opens_spool_with_age_tool(inst, tmp_path):
    inst.setup_domain()
    pw = inst.add_user("demo@example.test")
    ident = inst.sealctl("user", "identity", "demo@example.test", "--password-stdin",
                         input=pw + "\n").stdout.strip()
    assert ident.startswith("AGE-SECRET-KEY-1")
    # Seal with our code (agetool) to the recipient, open with the age tool.
    rcpt = inst.sealctl("user", "recipient", "demo@example.test").stdout.strip()
    sealed = subprocess.run([f"{BUILD}/tests/agetool", "seal", rcpt], input=MSG,
                            capture_output=True, check=True).stdout
    (tmp_path / "id").write_text(ident + "\n")
    out = subprocess.run(["age", "-d", "-i", str(tmp_path / "id")], input=sealed,
                         capture_output=True, check=True).stdout
    assert out == MSG


def test_wrong_password_fails_cleanly(inst):
    inst.setup_domain()
    pw = inst.add_user("demo@example.test")
    age_seal_into_spool(inst, "demo@example.test", MSG)
    before = tree_digest(inst.state)
    p = inst.sealctl("user", "identity", "demo@example.test", "--password-stdin",
                     input="wrong\n", check=False)
    assert p.returncode == 1
    assert "AGE-SECRET-KEY" not in p.stdout
    assert mbox(inst, "demo@example.test", "wrong", "list", check=False).returncode == 1
    assert inst.sealctl("user", "passwd", "demo@example.test", "--password-stdin",
                        input="wrong\nnew\n", check=False).returncode == 1
    assert tree_digest(inst.state) == before
    assert len(mbox_messages(inst, "demo@example.test", pw)) == 1


def test_unknown_user_is_refused_like_wrong_password(inst):
    inst.setup_domain()
    p = inst.sealctl("user", "identity", "nobody@example.test", "--password-stdin",
                     input="x\n", check=False)
    assert p.returncode == 1


def test_password_change_keeps_mail(inst):
    inst.setup_domain()
    pw = inst.add_user("demo@example.test")
    age_seal_into_spool(inst, "demo@example.test", MSG)
    assert len(mbox_messages(inst, "demo@example.test", pw)) == 1
    age_seal_into_spool(inst, "demo@example.test", MSG + b"second\r\n")
    inst.sealctl("user", "passwd", "demo@example.test", "--password-stdin",
                 input=f"{pw}\nnew-password\n")
    assert mbox(inst, "demo@example.test", pw, "list", check=False).returncode == 1
    msgs = mbox_messages(inst, "demo@example.test", "new-password")
    assert [m[1] for m in msgs] == [MSG, MSG + b"second\r\n"]


def test_recovery_code_resets_password(inst):
    inst.setup_domain()
    p = inst.sealctl("user", "add", "r@example.test", "--password-stdin", "--recovery",
                     input="first-pw\n")
    code = p.stdout.split("recovery-code: ")[1].strip()
    age_seal_into_spool(inst, "r@example.test", MSG)
    assert inst.sealctl("user", "recover", "r@example.test", "--password-stdin",
                        input="AAAAA-AAAAA\nx\n", check=False).returncode == 1
    # Typed sloppily: lower case, spaces instead of dashes.
    typed = code.lower().replace("-", " ")
    inst.sealctl("user", "recover", "r@example.test", "--password-stdin",
                 input=f"{typed}\nsecond-pw\n")
    assert [m[1] for m in mbox_messages(inst, "r@example.test", "second-pw")] == [MSG]
    assert mbox(inst, "r@example.test", "first-pw", "list", check=False).returncode == 1


def test_reset_discards_mail(inst):
    inst.setup_domain()
    pw = inst.add_user("demo@example.test")
    age_seal_into_spool(inst, "demo@example.test", MSG)
    mbox_messages(inst, "demo@example.test", pw)
    old_rcpt = inst.sealctl("user", "recipient", "demo@example.test").stdout
    inst.sealctl("user", "reset", "demo@example.test", "--discard-mail", "--password-stdin",
                 input="fresh-pw\n")
    assert mbox_messages(inst, "demo@example.test", "fresh-pw") == []
    assert inst.sealctl("user", "recipient", "demo@example.test").stdout != old_rcpt


def test_rekey_keeps_mail_and_changes_keys(inst):
    inst.setup_domain()
    pw = inst.add_user("demo@example.test")
    age_seal_into_spool(inst, "demo@example.test", MSG)
    mbox_messages(inst, "demo@example.test", pw)
    age_seal_into_spool(inst, "demo@example.test", MSG + b"spooled\r\n")
    rcpt = inst.sealctl("user", "recipient", "demo@example.test").stdout
    inst.sealctl("user", "rekey", "demo@example.test", "--password-stdin", input=pw + "\n")
    assert inst.sealctl("user", "recipient", "demo@example.test").stdout != rcpt
    assert [m[1] for m in mbox_messages(inst, "demo@example.test", pw)] == \
        [MSG, MSG + b"spooled\r\n"]
    age_seal_into_spool(inst, "demo@example.test", b"Subject: after\r\n\r\nx\r\n")
    assert len(mbox_messages(inst, "demo@example.test", pw)) == 3


def test_mailbox_file_holds_no_plaintext(inst):
    inst.setup_domain()
    pw = inst.add_user("demo@example.test")
    age_seal_into_spool(inst, "demo@example.test", MSG)
    assert len(mbox_messages(inst, "demo@example.test", pw)) == 1
    udir = inst.user_dir("demo@example.test")
    for root, _, files in os.walk(udir):
        for f in files:
            with open(os.path.join(root, f), "rb") as fh:
                data = fh.read()
            for needle in (b"UNIQUE-PLAINTEXT-MARKER", b"quick brown fox", b"known-plaintext-1",
                           b"SQLite format 3", pw.encode()):
                assert needle not in data, (f, needle)
    with open(os.path.join(inst.state, "directory.db"), "rb") as fh:
        assert pw.encode() not in fh.read()


def test_alias_commands(inst):
    inst.setup_domain()
    inst.add_user("demo@example.test")
    inst.sealctl("alias", "add", "info@example.test", "demo@example.test")
    inst.sealctl("alias", "add", "*@example.test", "demo@example.test")
    out = inst.sealctl("alias", "list").stdout
    assert "info@example.test demo@example.test" in out
    assert "*@example.test demo@example.test" in out
    p = inst.sealctl("alias", "add", "fwd@example.test", "someone@elsewhere.example", check=False)
    assert p.returncode == 1 and "outbound" in p.stderr
    p = inst.sealctl("alias", "add", "hook@example.test", "https://example.org/hook", check=False)
    assert p.returncode == 1
    assert "fwd@" not in inst.sealctl("alias", "list").stdout
    inst.sealctl("alias", "del", "info@example.test")
    assert "info@" not in inst.sealctl("alias", "list").stdout
