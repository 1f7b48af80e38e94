# SPDX-License-Identifier: AGPL-3.0-or-later
"""imapd, pop3d, submitd: the TLS private key is in the front's memory only.

The back parses every command of a logged-in user and the accept loop forks
every process: neither may ever have held the key (DESIGN section 4). The
handler opens the key file before its sandbox and only a front loads it,
after its back was forked; the accept loop checks it in a child at start-up.
Memory is read from /proc/PID/mem (as root) while a TLS session is live;
the front must hold the key (the probe works), the others must not, freed
heap included."""
import imaplib
import os
import poplib
import smtplib
import re
import ssl
import subprocess

import pytest

from harness import (BUILD, built_with_asan, can_connect, free_port, proc_descendants,
                     proc_title, wait_until)

# ASan's shadow mappings are terabytes of address space: a scan of them
# would not end, and its quarantine keeps copies this code never sees.
pytestmark = pytest.mark.skipif(built_with_asan(), reason="ASan keeps its own copies of memory")

USER = "demo@example.test"


def key_needles(keyfile):
    """The private scalar (EC) or first prime (RSA) of keyfile, as OpenSSL
    prints it, in both byte orders: big-endian as in the file's DER,
    little-endian as in a BIGNUM's words on x86_64."""
    text = subprocess.run(["openssl", "pkey", "-in", keyfile, "-noout", "-text"],
                          check=True, capture_output=True, text=True).stdout
    m = re.search(r"^(?:priv|prime1):\n((?:\s+[0-9a-f:]+\n)+)", text, re.M)
    assert m, text
    raw = bytes.fromhex(re.sub(r"[\s:]", "", m.group(1))).lstrip(b"\0")
    assert len(raw) >= 28
    return raw, raw[::-1]


def memory_holds(pid, needles):
    """True when a writable mapping of pid holds one of needles."""
    try:
        maps = open(f"/proc/{pid}/maps").read().splitlines()
        mem = open(f"/proc/{pid}/mem", "rb", buffering=0)
    except PermissionError:
        pytest.skip("reading another process's memory needs CAP_SYS_PTRACE")
    with mem:
        for line in maps:
            m = re.match(r"([0-9a-f]+)-([0-9a-f]+) rw", line)
            if not m:
                continue
            start, end = int(m.group(1), 16), int(m.group(2), 16)
            try:
                mem.seek(start)
                data = mem.read(end - start)
            except OSError:
                continue
            if any(n in data for n in needles):
                return True
    return False


def client_ctx():
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


@pytest.fixture
def users(inst):
    inst.setup_domain()
    inst.pw = inst.add_user(USER)
    inst.needles = key_needles(inst.key)
    return inst


def front_and_back(root, prog):
    """(front, back) below root while a session is logged in: the front's
    title says it relays (or does TLS), the back's does not."""
    procs = [p for p in proc_descendants(root)
             if (proc_title(p) or "").startswith(f"{prog}:")]
    front = [p for p in procs if USER not in (proc_title(p) or USER) and
             re.search(r" (TLS|relay)", proc_title(p))]
    # imapd's and pop3d's back name the user; submitd's names its state.
    back = [p for p in procs if p not in front]
    assert len(back) == 1 and len(front) == 1, [proc_title(p) for p in procs]
    return front[0], back[0]


def login_tls(prog, port, pw, starttls):
    """A logged-in TLS session (implicit TLS, or STARTTLS/STLS)."""
    if prog == "imapd":
        if starttls:
            c = imaplib.IMAP4("127.0.0.1", port, timeout=10)
            c.starttls(ssl_context=client_ctx())
        else:
            c = imaplib.IMAP4_SSL("127.0.0.1", port, ssl_context=client_ctx(), timeout=10)
        c.login(USER, pw)
        assert c.noop()[0] == "OK"
        return c.logout
    if prog == "submitd":
        if starttls:
            c = smtplib.SMTP("127.0.0.1", port, timeout=10)
            c.starttls(context=client_ctx())
        else:
            c = smtplib.SMTP_SSL("127.0.0.1", port, context=client_ctx(), timeout=10)
        c.login(USER, pw)
        assert c.noop()[0] == 250
        return c.quit
    if starttls:
        c = poplib.POP3("127.0.0.1", port, timeout=10)
        c.stls(context=client_ctx())
    else:
        c = poplib.POP3_SSL("127.0.0.1", port, context=client_ctx(), timeout=10)
    c.user(USER)
    c.pass_(pw)
    assert c.noop().startswith(b"+OK")
    return c.quit


@pytest.mark.parametrize("prog", ["imapd", "pop3d", "submitd"])
def test_inetd_back_lacks_key(users, prog):
    """One connection on fd 0/1 (--tls): the front forks the back before it
    loads the key."""
    port = users.start(prog, "--tls")
    done = login_tls(prog, port, users.pw, starttls=False)
    try:
        front, back = front_and_back(users.procs[-1].pid, prog)
        assert memory_holds(front, users.needles), "the probe finds the key in the front"
        assert not memory_holds(back, users.needles), "the back holds the TLS key"
    finally:
        done()


@pytest.mark.parametrize("prog", ["imapd", "pop3d", "submitd"])
def test_accept_loop_and_back_lack_key(users, prog):
    """Accept=no: the loop forks fronts and backs and loads the key never;
    each front loads it for its own connection (here after STARTTLS)."""
    port = users.start(prog, fork=True)
    loop = users.procs[-1].pid
    done = login_tls(prog, port, users.pw, starttls=True)
    try:
        front, back = front_and_back(loop, prog)
        assert memory_holds(front, users.needles), "the probe finds the key in the front"
        assert not memory_holds(back, users.needles), "the back holds the TLS key"
        assert not memory_holds(loop, users.needles), "the accept loop holds the TLS key"
    finally:
        done()


@pytest.mark.parametrize("algorithm", [["EC", "-pkeyopt", "ec_paramgen_curve:P-256"],
                                       ["RSA", "-pkeyopt", "rsa_keygen_bits:2048"]])
def test_accept_loop_checks_key_at_start(users, algorithm):
    """The loop never loads the key itself, yet a key that does not match
    the certificate stops it at start-up, not at the first handshake: one
    of the certificate's type, and one of another type (which OpenSSL
    would file beside the certificate without a word)."""
    other = os.path.join(users.tmp, "other-key.pem")
    subprocess.run(["openssl", "genpkey", "-algorithm", *algorithm, "-out", other],
                   check=True, capture_output=True)
    with open(users.conf) as f:
        conf = f.read().replace(f"tls_key = {users.key}", f"tls_key = {other}")
    with open(users.conf, "w") as f:
        f.write(conf)
    port = free_port()
    p = subprocess.Popen(["systemd-socket-activate", "-l", f"127.0.0.1:{port}",
                          "-E", "SEALMAIL_CONF", "-E", "LOG_TARGET", f"{BUILD}/imapd"],
                         env=users.env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                         text=True)
    try:
        # systemd-socket-activate starts it on the first connection
        wait_until(lambda: can_connect(port), what="the listening socket")
        err = p.communicate(timeout=30)[1]
    finally:
        p.kill()
    assert p.returncode == 1, err
    assert "TLS: key" in err, err
