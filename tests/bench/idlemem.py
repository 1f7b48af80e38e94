# SPDX-License-Identifier: AGPL-3.0-or-later
"""Memory per idle IMAP connection (logged in, INBOX selected, in IDLE).

    idlemem.py LABEL PORT plain|tls USERFMT PASSWORD N ROOT_PID [EXTRA_PID...]

Opens N connections one after the other (user i of USERFMT for the i-th, so
per-user connection limits do not interfere), each: greeting, [TLS], LOGIN,
SELECT INBOX, IDLE (waits for the "+" continuation). Then sums RSS and PSS
(/proc/<pid>/smaps_rollup) over the server's whole process tree under
ROOT_PID, before and after, and prints one line:

    bench=idlemem server=LABEL mode=… n=… pss_kb_per_conn=… rss_kb_per_conn=…
      procs_per_conn=… pss_kb_per_proc_<comm>=… extra_rss_kb_per_conn=…

PSS shares each page among the processes mapping it, so the PSS delta over
the tree is the memory N connections really add; RSS per connection counts
shared library pages again in every process (an upper bound). EXTRA_PID
(e.g. redis-server) is reported as a separate RSS delta. Connections talk
only to 127.0.0.1 and are closed (DONE, LOGOUT) before exiting.
"""
import os
import socket
import ssl
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import proctree  # noqa: E402


class Conn:
    def __init__(self, port, tls):
        s = socket.create_connection(("127.0.0.1", port), timeout=30)
        if tls:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            s = ctx.wrap_socket(s)
        self.s = s
        self.f = s.makefile("rb")

    def line(self):
        ln = self.f.readline()
        if not ln:
            raise EOFError("server closed the connection")
        return ln

    def cmd(self, tag, text):
        self.s.sendall(f"{tag} {text}\r\n".encode())
        while True:
            ln = self.line()
            if ln.startswith(tag.encode() + b" "):
                if not ln.startswith(tag.encode() + b" OK"):
                    raise RuntimeError(f"{text.split()[0]}: {ln!r}")
                return

    def idle(self):
        self.s.sendall(b"i IDLE\r\n")
        while True:
            ln = self.line()
            if ln.startswith(b"+"):
                return
            if ln.startswith(b"i "):
                raise RuntimeError(f"IDLE: {ln!r}")

    def close(self):
        try:
            self.s.sendall(b"DONE\r\n")
            self.cmd("z", "LOGOUT")
        except (OSError, EOFError, RuntimeError):
            pass
        self.s.close()


def settle(root, want):
    """Wait until the tree has at least want processes and stops changing."""
    deadline = time.monotonic() + 20
    last = -1
    while time.monotonic() < deadline:
        n = len(proctree.tree(root))
        if n >= want and n == last:
            return
        last = n
        time.sleep(0.5)


def main():
    if len(sys.argv) < 8:
        sys.exit(__doc__)
    label, port, mode, fmt, pw, n, root = sys.argv[1:8]
    port, n, root = int(port), int(n), int(root)
    extra = [int(p) for p in sys.argv[8:]]
    settle(root, 0)
    before = proctree.tree_mem(root)
    extra_before = sum((proctree.mem(p) or (0, 0))[0] for p in extra)
    conns = []
    try:
        for i in range(1, n + 1):
            c = Conn(port, mode == "tls")
            if not c.line().startswith(b"* OK"):
                raise RuntimeError("no greeting")
            c.cmd("a", f'LOGIN {fmt % i} "{pw}"')
            c.cmd("b", "SELECT INBOX")
            c.idle()
            conns.append(c)
        settle(root, len(before))
        time.sleep(1)
        after = proctree.tree_mem(root)
        extra_after = sum((proctree.mem(p) or (0, 0))[0] for p in extra)
    finally:
        for c in conns:
            c.close()
    d_rss = sum(v[1] for v in after.values()) - sum(v[1] for v in before.values())
    d_pss = sum(v[2] for v in after.values()) - sum(v[2] for v in before.values())
    new = {p: v for p, v in after.items() if p not in before}
    per_comm = {}
    for comm, rss, pss in new.values():
        per_comm.setdefault(comm, []).append((rss, pss))
    parts = [f"bench=idlemem server={label} mode={mode} n={n}",
             f"pss_kb_per_conn={d_pss / n:.0f}", f"rss_kb_per_conn={d_rss / n:.0f}",
             f"procs_per_conn={len(new) / n:.2f}"]
    for comm, v in sorted(per_comm.items()):
        key = comm.replace(" ", "_").replace("=", "_")
        parts.append(f"pss_kb_per_proc_{key}={sum(x[1] for x in v) / len(v):.0f}")
        parts.append(f"rss_kb_per_proc_{key}={sum(x[0] for x in v) / len(v):.0f}")
    if extra:
        parts.append(f"extra_rss_kb_per_conn={(extra_after - extra_before) / n:.1f}")
    print(" ".join(parts))


if __name__ == "__main__":
    main()
