# SPDX-License-Identifier: AGPL-3.0-or-later
"""sealctl, the key hierarchy and the encrypted store, driven from outside."""
import hashlib
import os
import pty
import select
import subprocess
import termios
import time

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


# ---- secrets typed at a terminal (a real pseudo-terminal; readpassphrase) ----

class Tty:
    """sealctl on a fresh pseudo-terminal that is its controlling terminal
    and its stdin, stdout and stderr, as when an administrator types."""

    def __init__(self, inst, *args):
        self.pid, self.fd = pty.fork()
        if self.pid == 0:
            try:
                os.execve(f"{BUILD}/sealctl", ["sealctl", *args], inst.env)
            finally:
                os._exit(127)
        self.out = b""
        self.status = None

    def _read(self, timeout):
        r, _, _ = select.select([self.fd], [], [], timeout)
        if not r:
            return False
        try:
            data = os.read(self.fd, 4096)
        except OSError:  # EIO: the terminal's other side has closed
            data = b""
        if not data:
            return None
        self.out += data
        return True

    def expect(self, text, timeout=30):
        """Wait until the output (all of it so far) holds text."""
        deadline = time.monotonic() + timeout
        while text.encode() not in self.out:
            left = deadline - time.monotonic()
            if left <= 0 or not self._read(left):
                raise AssertionError(f"no {text!r} in {self.out!r}")
        return self.out

    def type(self, line):
        os.write(self.fd, line.encode() + b"\r")

    def echo_on(self):
        return bool(termios.tcgetattr(self.fd)[3] & termios.ECHO)

    def wait(self, timeout=60):
        """The exit status, with everything the program wrote read first."""
        deadline = time.monotonic() + timeout
        while self._read(max(0.0, deadline - time.monotonic())):
            pass
        _, st = os.waitpid(self.pid, 0)
        self.status = os.waitstatus_to_exitcode(st)
        os.close(self.fd)
        return self.status


def test_user_add_password_prompt_without_echo(inst):
    inst.setup_domain()
    t = Tty(inst, "user", "add", "t@example.test", "--password")
    t.expect("Password for t@example.test: ")
    assert not t.echo_on()
    t.type("typed-secret-1")
    t.expect("Retype the password for t@example.test: ")
    t.type("typed-secret-1")
    assert t.wait() == 0, t.out
    assert b"typed-secret-1" not in t.out
    assert b"password:" not in t.out  # nothing generated, nothing printed
    assert mbox(inst, "t@example.test", "typed-secret-1", "folders").returncode == 0


def test_prompt_restores_echo(inst):
    inst.setup_domain()
    pw = inst.add_user("demo@example.test")
    t = Tty(inst, "user", "identity", "demo@example.test")
    t.expect("Password for demo@example.test: ")
    assert not t.echo_on()
    t.type(pw)
    # The identity is printed after the prompt has put the terminal back.
    t.expect("AGE-SECRET-KEY-1")
    assert t.echo_on()
    assert t.wait() == 0
    assert pw.encode() not in t.out


def test_user_add_retyped_password_must_match(inst):
    inst.setup_domain()
    t = Tty(inst, "user", "add", "t@example.test", "--password")
    t.expect("Password for t@example.test: ")
    t.type("first-try")
    t.expect("Retype the password")
    t.type("second-try")
    assert t.wait() == 2
    assert b"do not match" in t.out
    assert "t@example.test" not in inst.sealctl("user", "list").stdout


def test_passwd_prompts_on_terminal(inst):
    inst.setup_domain()
    pw = inst.add_user("demo@example.test")
    age_seal_into_spool(inst, "demo@example.test", MSG)
    t = Tty(inst, "user", "passwd", "demo@example.test")
    t.expect("Current password for demo@example.test: ")
    t.type(pw)
    t.expect("New password for demo@example.test: ")
    t.type("brand-new-pw")
    t.expect("Retype the password for demo@example.test: ")
    t.type("brand-new-pw")
    assert t.wait() == 0, t.out
    assert pw.encode() not in t.out and b"brand-new-pw" not in t.out
    assert [m[1] for m in mbox_messages(inst, "demo@example.test", "brand-new-pw")] == [MSG]
    assert mbox(inst, "demo@example.test", pw, "list", check=False).returncode == 1


def test_wrong_password_at_prompt_is_refused(inst):
    inst.setup_domain()
    inst.add_user("demo@example.test")
    t = Tty(inst, "user", "rekey", "demo@example.test")
    t.expect("Password for demo@example.test: ")
    t.type("not-the-password")
    assert t.wait() == 1
    assert b"wrong password" in t.out and b"not-the-password" not in t.out


def test_recover_prompts_on_terminal(inst):
    inst.setup_domain()
    p = inst.sealctl("user", "add", "r@example.test", "--password-stdin", "--recovery",
                     input="first-pw\n")
    code = p.stdout.split("recovery-code: ")[1].strip()
    t = Tty(inst, "user", "recover", "r@example.test")
    t.expect("Recovery code for r@example.test: ")
    t.type(code)
    t.expect("New password for r@example.test: ")
    t.type("second-pw")
    t.expect("Retype the password")
    t.type("second-pw")
    assert t.wait() == 0, t.out
    assert code.encode() not in t.out
    assert mbox(inst, "r@example.test", "second-pw", "folders").returncode == 0


def test_reset_password_prompt(inst):
    inst.setup_domain()
    inst.add_user("demo@example.test")
    t = Tty(inst, "user", "reset", "demo@example.test", "--discard-mail", "--password")
    t.expect("New password for demo@example.test: ")
    t.type("after-reset")
    t.expect("Retype the password for demo@example.test: ")
    t.type("after-reset")
    assert t.wait() == 0, t.out
    assert b"after-reset" not in t.out and b"password:" not in t.out
    assert mbox_messages(inst, "demo@example.test", "after-reset") == []


def test_password_flags_without_terminal(inst):
    inst.setup_domain()
    # Not a terminal: no prompt, no hang; the way out is named.
    p = inst.sealctl("user", "add", "t@example.test", "--password", input="x\n", check=False)
    assert p.returncode == 2 and "--password-stdin" in p.stderr
    p = inst.sealctl("user", "identity", "t@example.test", input="x\n", check=False)
    assert p.returncode == 2 and "--password-stdin" in p.stderr
    # --password asks for a prompt; with --password-stdin or where nothing is
    # generated it is a usage error.
    for args in (["user", "add", "t@example.test", "--password", "--password-stdin"],
                 ["user", "passwd", "t@example.test", "--password"]):
        assert inst.sealctl(*args, input="x\n", check=False).returncode == 2
    assert "t@example.test" not in inst.sealctl("user", "list").stdout


def test_overlong_password_is_refused_not_cut(inst):
    inst.setup_domain()
    long_pw = "p" * 1100
    p = inst.sealctl("user", "add", "t@example.test", "--password-stdin",
                     input=long_pw + "\n", check=False)
    assert p.returncode == 2 and "too long" in p.stderr
    t = Tty(inst, "user", "add", "t@example.test", "--password")
    t.expect("Password for t@example.test: ")
    # A canonical-mode line holds at most 4095 bytes; 1100 fit.
    t.type(long_pw)
    assert t.wait() == 2
    assert b"too long" in t.out
    assert "t@example.test" not in inst.sealctl("user", "list").stdout
