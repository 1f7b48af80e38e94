#!/usr/bin/python3
# SPDX-License-Identifier: AGPL-3.0-or-later
"""Password guessing: 200 guesses over 25 parallel IMAP connections (reconnecting after the server's
disconnect) to an accept-loop imapd with auth_fail_delay = 2s. Argument: extra
configuration lines (default: the login penalty on with its default policy);
"auth_penalty_base = 0" turns the penalty off. Prints the elapsed time, the
passwords checked and the attempts refused unchecked.
Run: SEALMAIL_BUILD=$PWD/build /usr/bin/python3 tests/bench/authflood.py ["auth_penalty_base = 0"]"""
import sys, time, threading, re, imaplib
import os
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
from harness import Instance
conf = "auth_fail_delay = 2s\n" + (sys.argv[1].replace("\\n", "\n") if len(sys.argv) > 1 else "auth_penalty_base = 2s\n")
inst = Instance(extra_conf=conf)
inst.setup_domain(); inst.add_user("alice@example.test", "right")
port = inst.start("imapd", fork=True)
left = [200]; lock = threading.Lock()
def worker():
    while True:
        c = None
        try:
            c = imaplib.IMAP4("127.0.0.1", port)
            while True:
                with lock:
                    if left[0] == 0: return
                    left[0] -= 1
                try: c.login("alice@example.test", "guess")
                except imaplib.IMAP4.abort: break
                except imaplib.IMAP4.error: pass
                if c.state == "LOGOUT": break
        except (imaplib.IMAP4.abort, OSError, EOFError):
            pass
t0 = time.monotonic()
ts = [threading.Thread(target=worker) for _ in range(25)]
[t.start() for t in ts]; [t.join() for t in ts]
el = time.monotonic() - t0
log = inst.log_text()
print("elapsed %.1f s, checked %d, refused unchecked %d" % (el, len(re.findall(r"auth-fail .*wrong password", log)), log.count("password not checked")))
inst.cleanup()
