#!/usr/bin/python3
# SPDX-License-Identifier: AGPL-3.0-or-later
"""Crash-loop soak: a real instance (smtpd, lmtpd, imapd, pop3d as accept
loops, a real redis-server) under mail traffic while a killer sends SIGKILL
to a random sealmail process every 0.1-1 s: an accept loop, a front, a back
or an MX child. A killed accept loop is started again at once, as systemd
restarts it (Restart=always); everything else stays dead, as it would.

Traffic, in parallel for SOAK_SECONDS (default 300):
  - SMTP and LMTP deliveries, each with a unique Message-ID; those that got
    250 for the message are acknowledged;
  - IMAP APPENDs; those that got a tagged OK are acknowledged;
  - expunges of acknowledged messages (UID STORE +FLAGS \\Deleted, UID
    EXPUNGE); those whose UID EXPUNGE got OK are expunged; those whose
    connection died after UID EXPUNGE was sent may or may not be;
  - IMAP and POP3 logins, which import the spool.

Then, with nothing killed any more, one IMAP login per user imports what is
left, and every acknowledged, not expunged message must be in INBOX exactly
once (by Message-ID), every expunged one absent, nothing at all twice, and
spool/new and spool/bad empty. Prints the counts; exits 1 on any violation
(each one printed), 2 when the soak could not run.

DESIGN section 3: "A crash at any point loses no acknowledged message, and
our own import never duplicates one." Usage: soak.py [SECONDS]; the build
is $SEALMAIL_BUILD (default build/)."""
import collections
import imaplib
import os
import poplib
import random
import re
import signal
import smtplib
import sys
import tempfile
import threading
import time
import traceback

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "integration"))
from harness import Instance, Redis, proc_descendants, wait_until  # noqa: E402

USERS = ["soak1@example.test", "soak2@example.test"]
PASSWORD = "soak-password"
TIMEOUT = 15
MSGID_RE = re.compile(rb"<(soak-[a-z]+-\d+-\d+)@soak>")


class Soak:
    def __init__(self, seconds):
        self.seconds = seconds
        self.lock = threading.Lock()
        self.stop_traffic = threading.Event()
        self.stop_killing = threading.Event()
        self.serial = 0
        self.owner = {}            # msgid -> user, every message ever attempted
        self.acked = set()         # 250 / tagged OK
        self.expunged = set()      # UID EXPUNGE answered OK
        self.maybe_expunged = set()  # UID EXPUNGE sent, no answer
        self.in_expunge = set()
        self.count = collections.Counter()
        self.kills = collections.Counter()
        self.restarts = collections.Counter()
        self.loops = {}            # handler -> (Popen, address)
        self.errors = []

    # ---- the instance ----

    def start(self):
        self.redis_tmp = tempfile.mkdtemp(prefix="sealmail-soak-redis-")
        self.redis = Redis(self.redis_tmp)
        self.inst = Instance(redis=self.redis)
        self.inst.setup_domain()
        for u in USERS:
            self.inst.add_user(u, PASSWORD)
        for h in ("smtpd", "lmtpd", "imapd", "pop3d"):
            self.start_loop(h)

    def start_loop(self, handler):
        if handler == "lmtpd":
            path = os.path.join(self.inst.run_dir, "lmtp.sock")
            if os.path.exists(path):
                os.unlink(path)  # the dead loop's socket file
            addr = self.inst.start("lmtpd", unix=path, fork=True)
        else:
            addr = self.inst.start(handler, fork=True)  # a fresh port
        with self.lock:
            self.loops[handler] = (self.inst.procs[-1], addr)

    def addr(self, handler):
        with self.lock:
            return self.loops[handler][1]

    def supervise(self):
        """Restart a dead accept loop, as systemd does."""
        while not self.stop_traffic.is_set() or not self.all_loops_up():
            for h in list(self.loops):
                p = self.loops[h][0]
                if p.poll() is not None:
                    try:
                        self.start_loop(h)
                        self.restarts[h] += 1
                    except Exception as e:  # noqa: BLE001
                        self.errors.append(f"cannot restart {h}: {e}")
                        return
            time.sleep(0.02)

    def all_loops_up(self):
        return all(p.poll() is None for p, _ in self.loops.values())

    def kill(self):
        rnd = random.Random()
        while not self.stop_killing.is_set():
            self.stop_killing.wait(rnd.uniform(0.1, 1.0))
            if self.stop_killing.is_set():
                break
            with self.lock:
                loops = [(h, p.pid) for h, (p, _) in self.loops.items() if p.poll() is None]
            children = [(h, c) for h, pid in loops for c in proc_descendants(pid)]
            if children and (not loops or rnd.random() < 0.7):
                h, pid = rnd.choice(children)
                kind = f"{h} child"
            elif loops:
                h, pid = rnd.choice(loops)
                kind = f"{h} loop"
            else:
                continue
            try:
                os.kill(pid, signal.SIGKILL)
                self.kills[kind] += 1
            except ProcessLookupError:
                pass

    # ---- traffic ----

    def pause(self):
        """After a failure (a loop being restarted refuses connections):
        do not spin."""
        self.stop_traffic.wait(0.05)

    def new_msgid(self, kind, user):
        with self.lock:
            self.serial += 1
            mid = f"soak-{kind}-{self.serial}-{os.getpid()}"
            self.owner[mid] = user
        return mid

    @staticmethod
    def message(mid, user):
        return (f"From: sender@example.org\r\nTo: {user}\r\nSubject: soak {mid}\r\n"
                f"Message-ID: <{mid}@soak>\r\n\r\nbody of {mid}\r\n").encode()

    def deliver(self, proto):
        rnd = random.Random()
        while not self.stop_traffic.is_set():
            user = rnd.choice(USERS)
            mid = self.new_msgid(proto, user)
            try:
                if proto == "smtp":
                    s = smtplib.SMTP("127.0.0.1", self.addr("smtpd"), timeout=TIMEOUT)
                else:
                    s = smtplib.LMTP(self.addr("lmtpd"), timeout=TIMEOUT)
                try:
                    # sendmail raises unless the message got 250 (for LMTP:
                    # for its one recipient).
                    s.sendmail("sender@example.org", [user], self.message(mid, user))
                finally:
                    try:
                        s.close()
                    except OSError:
                        pass
            except (OSError, smtplib.SMTPException):
                self.count[f"{proto} failed"] += 1
                self.pause()
                continue
            with self.lock:
                self.acked.add(mid)
            self.count[f"{proto} acknowledged"] += 1

    def imap(self, user):
        m = imaplib.IMAP4("127.0.0.1", self.addr("imapd"), timeout=TIMEOUT)
        try:
            m.login(user, PASSWORD)
        except BaseException:
            m.shutdown()
            raise
        return m

    def append(self):
        rnd = random.Random()
        while not self.stop_traffic.is_set():
            user = rnd.choice(USERS)
            mid = self.new_msgid("append", user)
            try:
                m = self.imap(user)
                try:
                    typ, _ = m.append("INBOX", None, None, self.message(mid, user))
                finally:
                    m.shutdown()
            except (OSError, imaplib.IMAP4.error, EOFError):
                self.count["append failed"] += 1
                self.pause()
                continue
            if typ == "OK":
                with self.lock:
                    self.acked.add(mid)
                self.count["append acknowledged"] += 1
            else:
                self.count["append refused"] += 1

    def expunge(self):
        rnd = random.Random()
        while not self.stop_traffic.is_set():
            with self.lock:
                cand = sorted(self.acked - self.expunged - self.maybe_expunged - self.in_expunge)
                mid = rnd.choice(cand) if cand else None
                if mid:
                    self.in_expunge.add(mid)
            if mid is None:
                self.stop_traffic.wait(0.05)
                continue
            try:
                self.expunge_one(mid)
            finally:
                with self.lock:
                    self.in_expunge.discard(mid)

    def expunge_one(self, mid):
        sent = False
        try:
            m = self.imap(self.owner[mid])
            try:
                m.select("INBOX")
                typ, data = m.uid("SEARCH", "HEADER", "Message-ID", f"<{mid}@soak>")
                uids = data[0].split() if typ == "OK" and data and data[0] else []
                if len(uids) != 1:
                    # Not imported yet (the login's import failed) or more
                    # than once: the final check decides.
                    self.count["expunge: not found once"] += 1
                    return
                uid = uids[0].decode()
                typ, _ = m.uid("STORE", uid, "+FLAGS.SILENT", "(\\Deleted)")
                if typ != "OK":
                    return
                sent = True
                # UID EXPUNGE (RFC 4315 section 2.1): only this message,
                # never another session's \\Deleted one. imaplib does not
                # know it as a UID command.
                typ, _ = m._simple_command("UID", "EXPUNGE", uid)
            finally:
                m.shutdown()
        except (OSError, imaplib.IMAP4.error, EOFError):
            self.count["expunge failed"] += 1
            if sent:
                with self.lock:
                    self.maybe_expunged.add(mid)
            return
        with self.lock:
            if typ == "OK":
                self.expunged.add(mid)
            else:
                self.maybe_expunged.add(mid)
        self.count["expunge acknowledged" if typ == "OK" else "expunge refused"] += 1

    def logins(self):
        rnd = random.Random()
        while not self.stop_traffic.is_set():
            user = rnd.choice(USERS)
            try:
                if rnd.random() < 0.5:
                    m = self.imap(user)
                    try:
                        m.select("INBOX")
                    finally:
                        m.shutdown()
                    self.count["imap login"] += 1
                else:
                    p = poplib.POP3("127.0.0.1", self.addr("pop3d"), timeout=TIMEOUT)
                    try:
                        p.user(user)
                        p.pass_(PASSWORD)
                        p.stat()
                        p.quit()
                    finally:
                        p.close()
                    self.count["pop3 login"] += 1
            except (OSError, imaplib.IMAP4.error, poplib.error_proto, EOFError):
                self.count["login failed"] += 1
                self.pause()

    # ---- the run and the verdict ----

    def run(self):
        workers = [threading.Thread(target=self.guard, args=(f,), daemon=True) for f in
                   (lambda: self.deliver("smtp"), lambda: self.deliver("smtp"),
                    lambda: self.deliver("lmtp"), self.append, self.expunge, self.logins)]
        sup = threading.Thread(target=self.guard, args=(self.supervise,), daemon=True)
        killer = threading.Thread(target=self.guard, args=(self.kill,), daemon=True)
        sup.start()
        for w in workers:
            w.start()
        killer.start()
        time.sleep(self.seconds)  # the soak's duration, not synchronisation
        self.stop_killing.set()
        killer.join()
        self.stop_traffic.set()
        for w in workers:
            w.join(timeout=4 * TIMEOUT)
            if w.is_alive():
                self.errors.append("a traffic thread did not stop")
        sup.join(timeout=30)
        wait_until(self.all_loops_up, timeout=30, what="every accept loop up")

    def guard(self, fn):
        try:
            fn()
        except Exception:  # noqa: BLE001
            self.errors.append(traceback.format_exc())

    def mailbox_ids(self, user):
        m = self.imap(user)
        try:
            typ, data = m.select("INBOX")
            if typ != "OK":
                raise RuntimeError(f"SELECT INBOX for {user}: {data}")
            n = int(data[0])
            found = collections.Counter()
            if n:
                typ, data = m.fetch("1:*", "(BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])")
                for item in data:
                    if isinstance(item, tuple):
                        for mid in MSGID_RE.findall(item[1]):
                            found[mid.decode()] += 1
            return n, found
        finally:
            m.logout()

    def verdict(self):
        violations = list(self.errors)
        present = collections.Counter()
        total = 0
        for u in USERS:
            n, found = self.mailbox_ids(u)
            total += n
            if sum(found.values()) != n:
                violations.append(f"{u}: {n} messages but {sum(found.values())} soak Message-IDs")
            for mid, c in found.items():
                if self.owner.get(mid) != u:
                    violations.append(f"{mid}: in the mailbox of {u}, sent to {self.owner.get(mid)}")
                present[mid] += c
            for sub in ("new", "bad"):
                d = os.path.join(self.inst.user_dir(u), "spool", sub)
                left = os.listdir(d) if os.path.isdir(d) else []
                if left:
                    violations.append(f"{u}: spool/{sub} not empty after a login: {left[:5]}")
        must = self.acked - self.expunged - self.maybe_expunged
        lost = sorted(m for m in must if present[m] == 0)
        dups = sorted(m for m, c in present.items() if c > 1)
        back = sorted(m for m in self.expunged if present[m] > 0)
        for m in lost:
            violations.append(f"LOST: {m} was acknowledged and never expunged")
        for m in dups:
            violations.append(f"DUPLICATE: {m} is there {present[m]} times")
        for m in back:
            violations.append(f"RESURRECTED: {m} was expunged (OK) and is there")
        unacked_present = sum(1 for m in present if m not in self.acked)
        print(f"soak: {self.seconds} s, {sum(self.kills.values())} kills "
              f"({', '.join(f'{k} {v}' for k, v in sorted(self.kills.items()))}), "
              f"{sum(self.restarts.values())} loop restarts "
              f"({', '.join(f'{k} {v}' for k, v in sorted(self.restarts.items()))})")
        print("soak: traffic: " + ", ".join(f"{k} {v}" for k, v in sorted(self.count.items())))
        print(f"soak: acknowledged {len(self.acked)}, expunged {len(self.expunged)}, "
              f"expunge unanswered {len(self.maybe_expunged)}, must be present {len(must)}, "
              f"present {total} (of them not acknowledged {unacked_present}), "
              f"lost {len(lost)}, duplicated {len(dups)}, resurrected {len(back)}")
        for v in violations[:50]:
            print(f"soak: VIOLATION: {v}")
        if not violations:
            print("soak: OK")
        return 1 if violations else 0

    def cleanup(self):
        self.stop_killing.set()
        self.stop_traffic.set()
        self.inst.cleanup()
        self.redis.stop()
        import shutil
        shutil.rmtree(self.redis_tmp, ignore_errors=True)


def main():
    seconds = int(sys.argv[1]) if len(sys.argv) > 1 else int(os.environ.get("SOAK_SECONDS", "300"))
    soak = Soak(seconds)
    try:
        soak.start()
    except Exception:  # noqa: BLE001
        traceback.print_exc()
        return 2
    try:
        soak.run()
        return soak.verdict()
    except Exception:  # noqa: BLE001
        traceback.print_exc()
        return 2
    finally:
        if os.environ.get("SOAK_KEEP"):
            soak.inst.stop()
            soak.redis.stop()
            print(f"soak: instance kept in {soak.inst.tmp}")
        else:
            soak.cleanup()


if __name__ == "__main__":
    sys.exit(main())
