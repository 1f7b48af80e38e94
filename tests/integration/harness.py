# SPDX-License-Identifier: AGPL-3.0-or-later
"""Shared pieces of the integration tests: where the binaries are, a private
redis-server, a throw-away sealmail instance (state dir, config, TLS
certificate, directory) and handlers started exactly as INTERFACES.md shows:
systemd-socket-activate --inetd -a -l 127.0.0.1:PORT -E SEALMAIL_CONF ..."""
import hashlib
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get("SEALMAIL_BUILD", os.path.join(ROOT, "build"))


def built_with_asan():
    """True for a sanitizer build (make SAN=1): its allocator is ASan's."""
    try:
        with open(os.path.join(BUILD, "imapd"), "rb") as f:
            return b"__asan_init" in f.read()
    except OSError:
        return False


PASSTHROUGH_ENV = ["SEALMAIL_CONF", "LOG_TARGET", "ASAN_OPTIONS", "UBSAN_OPTIONS",
                   "SEALMAIL_DEBUG", "SEALMAIL_TEST_HOOK", "SEALMAIL_LANDLOCK_ABI"]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(pred, timeout=10.0, what="condition"):
    """Poll pred() until true: readiness polling, not synchronisation by sleep."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.01)
    raise TimeoutError(f"timed out waiting for {what}")


def proc_children(pid):
    """The pids whose parent is pid (from /proc/PID/task/*/children)."""
    out = []
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except FileNotFoundError:
        return out
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/children") as f:
                out += [int(x) for x in f.read().split()]
        except FileNotFoundError:
            pass
    return out


def proc_descendants(pid):
    """Every process below pid (an accept loop's fronts and backs)."""
    out = []
    for k in proc_children(pid):
        out += [k] + proc_descendants(k)
    return out


def proc_title(pid):
    """What ps shows for pid: /proc/PID/cmdline up to its first NUL, or None
    when it has exited. libbsd ends a title that fills the original command
    line exactly with a space (so the kernel reads it whole); not ours."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            raw = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return raw.split(b"\0", 1)[0].decode(errors="replace").rstrip(" ")


def can_connect(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


def can_connect_unix(path):
    try:
        with socket.socket(socket.AF_UNIX) as s:
            s.settimeout(0.2)
            s.connect(path)
            return True
    except OSError:
        return False


def redis_acl(password, admin_password=None):
    """An ACL file as docs/INSTALL.md sets one up: the default user off, user
    sealmail allowed PUBLISH and SUBSCRIBE on sealmail:* channels and the
    login penalty's commands on sealmail:* keys only
    (hashed password: the file holds no secret); for tests an admin."""
    h = hashlib.sha256(password.encode()).hexdigest()
    lines = ["user default off resetchannels resetkeys -@all",
             f"user sealmail on #{h} resetchannels &sealmail:* resetkeys ~sealmail:* "
             "-@all +publish +subscribe +unsubscribe +ping +eval +evalsha +del +time +hmget +hget +hset +hincrby +pexpire"]
    if admin_password:
        a = hashlib.sha256(admin_password.encode()).hexdigest()
        lines.append(f"user admin on #{a} allchannels allkeys +@all")
    return "\n".join(lines) + "\n"


class Redis:
    """A private redis-server on a unix socket only, with sealmail's ACL:
    .password_file is what redis_password names; cli() runs as an admin
    user (INFO and the like), subscribe() as user sealmail."""

    def __init__(self, tmp):
        self.sock = os.path.join(tmp, "redis.sock")
        self.password = secrets.token_hex(24)
        self.admin_password = secrets.token_hex(24)
        self.password_file = os.path.join(tmp, "redis-password")
        with open(os.open(self.password_file, os.O_WRONLY | os.O_CREAT, 0o600), "w") as f:
            f.write(self.password + "\n")
        acl = os.path.join(tmp, "users.acl")
        with open(acl, "w") as f:
            f.write(redis_acl(self.password, self.admin_password))
        self.proc = subprocess.Popen(
            ["redis-server", "--port", "0", "--unixsocket", self.sock, "--unixsocketperm", "770",
             "--aclfile", acl, "--save", "", "--appendonly", "no", "--dir", tmp],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_until(lambda: os.path.exists(self.sock), what="redis socket")

    def conf(self):
        """The configuration lines that point sealmail at this server."""
        return f"redis = unix:{self.sock}\nredis_password = {self.password_file}\n"

    def cli_args(self, user="admin"):
        pw = self.admin_password if user == "admin" else self.password
        return ["redis-cli", "-s", self.sock, "--user", user, "--pass", pw, "--no-auth-warning"]

    def subscribe(self, channel):
        """A redis-cli SUBSCRIBE (as user sealmail) whose confirmation has
        been read: each message then comes as three lines on .stdout (kill
        it when done)."""
        sub = subprocess.Popen([*self.cli_args("sealmail"), "SUBSCRIBE", channel],
                               stdout=subprocess.PIPE, text=True)
        for _ in range(3):
            sub.stdout.readline()
        return sub

    def cli(self, *args, **kw):
        return subprocess.run([*self.cli_args(), *args], capture_output=True,
                              text=True, **kw)

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=10)


def make_cert(tmp):
    cert, key = os.path.join(tmp, "cert.pem"), os.path.join(tmp, "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
                    "-days", "30", "-keyout", key, "-out", cert],
                   check=True, capture_output=True)
    return cert, key


class Instance:
    """One sealmail installation in a temp dir, with its own config."""

    def __init__(self, redis=None, extra_conf="", cert=None):
        self.tmp = tempfile.mkdtemp(prefix="sealmail-it-")
        self.state = os.path.join(self.tmp, "state")
        self.run_dir = os.path.join(self.tmp, "run")
        os.makedirs(self.run_dir)
        self.redis = redis
        self.cert, self.key = cert if cert else make_cert(self.tmp)
        self.conf = os.path.join(self.tmp, "sealmail.conf")
        self.procs = []
        self.logs = []
        with open(self.conf, "w") as f:
            f.write(f"hostname = mx.example.test\nstate_dir = {self.state}\n"
                    f"run_dir = {self.run_dir}\ntls_cert = {self.cert}\ntls_key = {self.key}\n"
                    # Tests lower the KDF: correctness does not need its cost.
                    "kdf_memlimit = 64k\nkdf_opslimit = 1\nauth_fail_delay = 0\n"
                    # and turn the shared login penalty off (test_auth_penalty.py
                    # turns it on).
                    "auth_penalty_base = 0\n")
            if redis:
                f.write(redis.conf())
            f.write(extra_conf)
        self.env = dict(os.environ, SEALMAIL_CONF=self.conf, LOG_TARGET="stderr")
        self.env.pop("JOURNAL_STREAM", None)

    def sealctl(self, *args, input=None, check=True):
        p = subprocess.run([f"{BUILD}/sealctl", *args], input=input, capture_output=True,
                           text=True, env=self.env, timeout=60)
        if check and p.returncode != 0:
            raise AssertionError(f"sealctl {' '.join(args)} -> {p.returncode}: {p.stderr}")
        return p

    def setup_domain(self, domain="example.test"):
        self.sealctl("init")
        self.sealctl("domain", "add", domain)

    def add_user(self, address, password="secret-pw"):
        self.sealctl("user", "add", address, "--password-stdin", input=password + "\n")
        return password

    def user_dir(self, address):
        out = self.sealctl("user", "list").stdout
        for line in out.splitlines():
            parts = line.split()
            if parts and parts[0] == address:
                for p in parts[1:]:
                    if p.startswith("id="):
                        return os.path.join(self.state, "users", p[3:])
        raise KeyError(address)

    def start(self, handler, *args, port=None, unix=None, fork=False, wrap=()):
        """Start handler under systemd-socket-activate --inetd (one process
        per connection, as Accept=yes), or with fork=True given the listening
        socket (as Accept=no: it accepts and forks); return the port (or the
        unix socket path). With fork=True, self.procs[-1].pid is the handler.
        wrap: a command to run it under (e.g. prlimit with its options)."""
        listen = unix if unix else f"127.0.0.1:{port or free_port()}"
        log = open(os.path.join(self.tmp, f"{handler}-{len(self.procs)}.log"), "w")
        cmd = [*wrap, "systemd-socket-activate", "-l", listen] if fork else \
            [*wrap, "systemd-socket-activate", "--inetd", "-a", "-l", listen]
        for e in PASSTHROUGH_ENV:
            cmd += ["-E", e]
        cmd += [f"{BUILD}/{handler}", *args]
        p = subprocess.Popen(cmd, env=self.env, stdout=subprocess.DEVNULL, stderr=log)
        self.procs.append(p)
        self.logs.append(log.name)
        if unix:
            # The path appears at bind(); connections work only after listen().
            wait_until(lambda: can_connect_unix(unix), what=f"{handler} socket")
            return unix
        port = int(listen.rsplit(":", 1)[1])
        wait_until(lambda: can_connect(port), what=f"{handler} on {port}")
        return port

    def log_text(self):
        out = []
        for name in self.logs:
            with open(name, errors="replace") as f:
                out.append(f.read())
        return "\n".join(out)

    def stop(self):
        for p in self.procs:
            p.terminate()
        for p in self.procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
        self.procs = []

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)


def mbox(inst, address, password, *args, check=True):
    """Read a mailbox the way a login does (tests/tools/mboxdump)."""
    p = subprocess.run([f"{BUILD}/tests/mboxdump", address, *args],
                       input=(password + "\n").encode(),
                       capture_output=True, env=inst.env, timeout=60)
    if check and p.returncode != 0:
        raise AssertionError(f"mboxdump {args} -> {p.returncode}: {p.stderr!r}")
    return p


def mbox_messages(inst, address, password, folder="INBOX"):
    """[(uid, raw bytes)] of a folder."""
    out = mbox(inst, address, password, "list", folder).stdout.decode()
    result = []
    for line in out.splitlines():
        uid = line.split()[0]
        raw = mbox(inst, address, password, "get", folder, uid).stdout
        result.append((int(uid), raw))
    return result


def spool_files(inst, address, sub="new"):
    d = os.path.join(inst.user_dir(address), "spool", sub)
    return sorted(os.path.join(d, f) for f in os.listdir(d)) if os.path.isdir(d) else []
