# SPDX-License-Identifier: AGPL-3.0-or-later
"""The shared login penalty (lib/svc/penalty.h) through real imapd and pop3d:
guessing over many connections runs no faster than over one, failures over
one protocol slow the other, in both unit modes, with Redis and with the host
table when Redis is down; a success clears its source; another source is
slowed only through the account, and never refused; Redis keys name nobody.

Delays are shortened by the configuration (auth_penalty_*), and the source
addresses are 127.0.0.0/8 addresses bound by the client (all loopback)."""
import imaplib
import os
import poplib
import re
import shutil
import socket
import stat
import subprocess
import tempfile
import threading
import time

import pytest

from harness import Instance, Redis, can_connect, free_port, wait_until

USER, PW = "alice@example.test", "right-pw"


class IMAP(imaplib.IMAP4):
    """imaplib from a chosen source address."""

    def __init__(self, port, src):
        self._src = src
        super().__init__("127.0.0.1", port, timeout=60)

    def _create_socket(self, timeout):
        return socket.create_connection((self.host, self.port), timeout,
                                        source_address=(self._src, 0))


class POP3(poplib.POP3):
    def __init__(self, port, src):
        self._src = src
        super().__init__("127.0.0.1", port, timeout=60)

    def _create_socket(self, timeout):
        return socket.create_connection((self.host, self.port), timeout,
                                        source_address=(self._src, 0))


def imap_login(port, src, user, pw):
    """(ok, seconds the LOGIN took)."""
    c = IMAP(port, src)
    t0 = time.monotonic()
    try:
        c.login(user, pw)
        ok = True
    except imaplib.IMAP4.error:
        ok = False
    took = time.monotonic() - t0
    try:
        c.logout()
    except (imaplib.IMAP4.error, OSError, EOFError):
        pass
    return ok, took


def pop3_fail(port, src, user):
    c = POP3(port, src)
    c.user(user)
    with pytest.raises(poplib.error_proto):
        c.pass_("wrong-pw")
    c.quit()


def make(redis, conf, users=(USER,)):
    inst = Instance(redis=redis, extra_conf=conf)
    inst.setup_domain()
    for u in users:
        inst.add_user(u, PW)
    return inst


def penalty_conf(base="1s", mx="4s", account_max="2s"):
    return (f"auth_penalty_base = {base}\nauth_penalty_max = {mx}\n"
            f"auth_penalty_account_max = {account_max}\nauth_penalty_window = 60s\n")


@pytest.fixture
def dead_redis():
    """A Redis that was configured and is now stopped."""
    tmp = tempfile.mkdtemp(prefix="sealmail-redis-dead-")
    r = Redis(tmp)
    r.stop()
    yield r
    shutil.rmtree(tmp, ignore_errors=True)


def checked_failures(inst):
    return len(re.findall(r"auth-fail .*wrong password", inst.log_text()))


def max_checks(n, elapsed, base, cap):
    """The most password checks the policy lets one source make in elapsed
    seconds over n connections: the attempts that began before any failure
    was recorded (one per connection), the turns while the step is still
    below the cap (a turn further off than the cap is refused unchecked, so
    at most cap/step + 1 are reserved at each step), then one per cap."""
    checks, step = n, base
    while step < cap:
        checks += int(cap / step) + 1
        step *= 2
    return checks + 1 + elapsed / cap


def test_parallel_guessing_is_serialized(redis):
    """N connections guessing at once, with the production per-connection
    delay (auth_fail_delay = 2s): after the first burst, the checks of one
    source are turns at least a step apart however many connections there
    are. Without the shared penalty every guess is checked: 25 connections
    made 200 guesses in 18 s, N times the rate of one."""
    base, cap = 0.2, 0.8
    inst = make(redis, penalty_conf(base="200ms", mx="800ms", account_max="400ms") +
                "auth_fail_delay = 2s\n")
    try:
        port = inst.start("imapd")
        n, per = 20, 3

        def attacker(i):
            try:
                c = IMAP(port, "127.0.0.1")
                for k in range(per):
                    try:
                        c.login(USER, f"guess-{i}-{k}")
                    except imaplib.IMAP4.error:
                        pass
            except (imaplib.IMAP4.abort, OSError, EOFError):
                pass

        t0 = time.monotonic()
        threads = [threading.Thread(target=attacker, args=(i,)) for i in range(n)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        elapsed = time.monotonic() - t0
        checked = checked_failures(inst)
        refused = inst.log_text().count("password not checked")
        assert checked + refused == n * per, (checked, refused)
        assert checked <= max_checks(n, elapsed, base, cap), (checked, refused, elapsed)
        assert "auth-penalty" in inst.log_text()
    finally:
        inst.cleanup()


@pytest.mark.parametrize("store", ["redis", "redis-down", "none"])
@pytest.mark.parametrize("fork", [False, True], ids=["inetd", "accept-loop"])
def test_pop3_failures_slow_imap(redis, dead_redis, store, fork):
    """Two failed POP3 logins slow the next IMAP login from the same
    address: the penalty is shared by the handlers, through Redis or, when
    it is down or absent, through the host table."""
    r = {"redis": redis, "redis-down": dead_redis, "none": None}[store]
    inst = make(r, penalty_conf(base="1s", mx="4s"))
    try:
        pop = inst.start("pop3d", fork=fork)
        imap = inst.start("imapd", fork=fork)
        pop3_fail(pop, "127.0.0.1", USER)
        pop3_fail(pop, "127.0.0.1", USER)
        t0 = time.monotonic()
        ok, took = imap_login(imap, "127.0.0.1", USER, PW)
        # The second failure waited its turn (1 s) and set the next one 2 s
        # after itself.
        assert ok
        assert took >= 1.5, took
        assert time.monotonic() - t0 < 10
        log = inst.log_text()
        want = "redis" if store == "redis" else "local"
        assert re.search(rf"auth-penalty .*STORE={want}", log), log
    finally:
        inst.cleanup()


def test_success_clears_source(redis):
    users = (USER, "bob@example.test", "carol@example.test")
    inst = make(redis, penalty_conf(base="1s", mx="4s"), users=users)
    try:
        port = inst.start("imapd")
        assert imap_login(port, "127.0.0.3", USER, "wrong")[0] is False
        ok, took = imap_login(port, "127.0.0.3", "bob@example.test", PW)
        assert ok and took >= 0.5, took  # the source's turn
        # Bob's success cleared the source; carol's account has no failures.
        ok, took = imap_login(port, "127.0.0.3", "carol@example.test", PW)
        assert ok and took < 0.5, took
    finally:
        inst.cleanup()


def test_other_source_slowed_only_by_account(redis):
    """Failures on alice from several sources: another source logs in as
    bob at once, and as alice after at most the account's cap (a delay,
    never a refusal), even while the account is under attack."""
    users = (USER, "bob@example.test")
    inst = make(redis, penalty_conf(base="250ms", mx="4s", account_max="1s"), users=users)
    try:
        port = inst.start("imapd")
        srcs = [f"127.0.0.{10 + i}" for i in range(6)]
        threads = [threading.Thread(target=imap_login, args=(port, s, USER, "wrong"))
                   for s in srcs]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        ok, took = imap_login(port, "127.0.0.5", "bob@example.test", PW)
        assert ok and took < 0.5, took
        ok, took = imap_login(port, "127.0.0.5", USER, PW)
        assert ok, "the account's penalty must never refuse"
        assert 0.3 <= took < 1.0 + 1.5, took
        # The account is still penalised; a guesser from a fresh source on
        # it is slowed, but also only by the account's cap.
        ok, took = imap_login(port, "127.0.0.6", USER, "wrong")
        assert not ok and took >= 0.3, took
    finally:
        inst.cleanup()


def test_redis_keys_name_nobody(redis):
    inst = make(redis, penalty_conf(base="200ms", mx="1s"))
    try:
        port = inst.start("imapd")
        imap_login(port, "127.0.0.7", USER, "wrong")
        keys = redis.cli("--scan", "--pattern", "sealmail:pen:*").stdout.split()
        assert keys
        for k in keys:
            assert re.fullmatch(r"sealmail:pen:[0-9a-f]{64}", k), k
        dump = " ".join(keys + [redis.cli("HGETALL", k).stdout for k in keys])
        for clear in ("127.0.0", "alice", "example"):
            assert clear not in dump
        key = os.path.join(inst.state, "auth_penalty.key")
        st = os.stat(key)
        assert st.st_size == 32 and stat.S_IMODE(st.st_mode) == 0o600
    finally:
        inst.cleanup()


def test_host_table_names_nobody(redis):
    inst = make(None, penalty_conf(base="200ms", mx="1s"))
    try:
        port = inst.start("pop3d")
        pop3_fail(port, "127.0.0.8", USER)
        with open(os.path.join(inst.run_dir, "auth_penalty.tab"), "rb") as f:
            data = f.read()
        assert data.strip(b"\0")
        for clear in (b"127.0.0", b"alice", b"example"):
            assert clear not in data
    finally:
        inst.cleanup()


def test_sealctl_init_makes_penalty_key(redis):
    inst = Instance(redis=redis)
    try:
        inst.setup_domain()
        key = os.path.join(inst.state, "auth_penalty.key")
        with open(key, "rb") as f:
            first = f.read()
        assert len(first) == 32
        assert stat.S_IMODE(os.stat(key).st_mode) == 0o600
        # Re-running init keeps it (the keys in Redis stay valid); an old
        # install without one gets it from init.
        inst.sealctl("init")
        with open(key, "rb") as f:
            assert f.read() == first
        os.unlink(key)
        inst.sealctl("init")
        assert os.path.getsize(key) == 32
    finally:
        inst.cleanup()


@pytest.fixture
def tcp_redis():
    """A redis-server on a loopback TCP port (the Landlock ABI >= 4 network
    rules then matter)."""
    tmp = tempfile.mkdtemp(prefix="sealmail-redis-tcp-")
    port = free_port()
    p = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1",
                          "--save", "", "--appendonly", "no", "--dir", tmp],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_until(lambda: can_connect(port), what="redis on TCP")
    yield port
    p.terminate()
    p.wait(timeout=10)
    shutil.rmtree(tmp, ignore_errors=True)


@pytest.mark.parametrize("abi", [None, "2"], ids=["kernel-abi", "abi2"])
def test_tcp_redis_in_accept_loop(tcp_redis, abi):
    """Redis over TCP from the accept loop's children, whose Landlock layer
    (ABI >= 4) allows only the configured ports; and with the ABI capped to
    Debian 12's stock kernel."""
    inst = make(None, penalty_conf(base="1s", mx="4s") + f"redis = 127.0.0.1:{tcp_redis}\n")
    try:
        if abi:
            inst.env["SEALMAIL_LANDLOCK_ABI"] = abi
        pop = inst.start("pop3d", fork=True)
        imap = inst.start("imapd", fork=True)
        pop3_fail(pop, "127.0.0.1", USER)
        ok, took = imap_login(imap, "127.0.0.1", USER, PW)
        assert ok and took >= 0.5, took
        log = inst.log_text()
        assert re.search(r"auth-penalty .*STORE=redis", log), log
        assert "auth-penalty-error" not in log
    finally:
        inst.cleanup()


@pytest.mark.parametrize("fork", [False, True], ids=["inetd", "accept-loop"])
def test_missing_key(redis, fork):
    """An install from before the penalty key: a handler serving one
    connection makes it on first use; an accept loop started without it
    uses the host table (and says so) until init is re-run."""
    inst = make(redis, penalty_conf(base="1s", mx="4s"))
    try:
        key = os.path.join(inst.state, "auth_penalty.key")
        os.unlink(key)
        pop = inst.start("pop3d", fork=fork)
        imap = inst.start("imapd", fork=fork)
        pop3_fail(pop, "127.0.0.1", USER)
        ok, took = imap_login(imap, "127.0.0.1", USER, PW)
        assert ok and took >= 0.5, took
        log = inst.log_text()
        if fork:
            assert not os.path.exists(key)
            assert "auth-penalty-error" in log
            assert re.search(r"auth-penalty .*STORE=local", log), log
        else:
            assert os.path.getsize(key) == 32
            assert stat.S_IMODE(os.stat(key).st_mode) == 0o600
            assert re.search(r"auth-penalty .*STORE=redis", log), log
    finally:
        inst.cleanup()
