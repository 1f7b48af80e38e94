# SPDX-License-Identifier: AGPL-3.0-or-later
"""Time large IMAP commands on a filled mailbox (FETCH and SEARCH).

    imapbench.py LABEL PORT plain|tls USER PASSWORD CMD...

Logs in, SELECTs INBOX (timed too: the first SELECT after a fill builds
whatever the server caches), then runs each CMD (e.g.
"UID FETCH 1:* (UID BODY.PEEK[HEADER])") and prints one line per command:

    bench=imapcmd server=LABEL cmd=<first two words> ms=… responses=… bytes=… exists=…

Literals are skipped by their announced length, so the client does little
work per byte; responses counts untagged lines. With BENCH_ROOT_PID set, each
line also has cpu_ms: the CPU time the server's process tree under that pid
spent during the command. 127.0.0.1 only.
"""
import os
import re
import socket
import ssl
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import proctree  # noqa: E402

LIT = re.compile(rb"\{(\d+)\}\r\n$")


class Client:
    def __init__(self, port, tls):
        s = socket.create_connection(("127.0.0.1", port), timeout=600)
        if tls:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            s = ctx.wrap_socket(s)
        self.s, self.f = s, s.makefile("rb", buffering=1 << 16)
        self.n = 0
        self.f.readline()

    def run(self, text):
        """(ok, untagged count, bytes, untagged lines kept when short)."""
        self.n += 1
        tag = f"t{self.n}".encode()
        self.s.sendall(tag + b" " + text.encode() + b"\r\n")
        count = size = 0
        keep = []
        while True:
            ln = self.f.readline()
            if not ln:
                raise EOFError("connection closed")
            size += len(ln)
            untagged = ln.startswith(b"*")
            m = LIT.search(ln)
            while m:
                data = self.f.read(int(m.group(1)))
                size += len(data)
                ln = self.f.readline()
                size += len(ln)
                m = LIT.search(ln)
            if ln.startswith(tag + b" "):
                return ln.startswith(tag + b" OK"), count, size, keep
            if untagged:
                count += 1
                if len(keep) < 20:
                    keep.append(ln)


ROOT = int(os.environ.get("BENCH_ROOT_PID", "0"))


def cpu():
    return proctree.cpu_seconds(ROOT) if ROOT else 0.0


def main():
    if len(sys.argv) < 7:
        sys.exit(__doc__)
    label, port, mode, user, pw = sys.argv[1:6]
    c = Client(int(port), mode == "tls")
    ok, _, _, _ = c.run(f'LOGIN {user} "{pw}"')
    if not ok:
        sys.exit("login failed")
    c0, t = cpu(), time.monotonic()
    ok, _, _, keep = c.run("SELECT INBOX")
    ms = (time.monotonic() - t) * 1e3
    cpu_ms = (cpu() - c0) * 1e3
    exists = 0
    for ln in keep:
        m = re.match(rb"\* (\d+) EXISTS", ln)
        if m:
            exists = int(m.group(1))
    print(f"bench=imapcmd server={label} cmd=SELECT ms={ms:.1f} ok={int(ok)} exists={exists}"
          + (f" cpu_ms={cpu_ms:.0f}" if ROOT else ""))
    for cmd in sys.argv[6:]:
        c0, t = cpu(), time.monotonic()
        ok, count, size, keep = c.run(cmd)
        ms = (time.monotonic() - t) * 1e3
        cpu_ms = (cpu() - c0) * 1e3
        name = "_".join(cmd.split()[:2]) + ("_" + cmd.split()[-1] if "SEARCH" in cmd else "")
        name = re.sub(r"[^A-Za-z0-9_]", "", name)
        hits = 0
        if "SEARCH" in cmd:
            for ln in keep:
                if ln.startswith(b"* SEARCH"):
                    hits = len(ln.split()) - 2
        print(f"bench=imapcmd server={label} cmd={name} ms={ms:.1f} ok={int(ok)} "
              f"responses={count} bytes={size} hits={hits} exists={exists}"
              + (f" cpu_ms={cpu_ms:.0f}" if ROOT else ""))
    c.run("LOGOUT")


if __name__ == "__main__":
    main()
