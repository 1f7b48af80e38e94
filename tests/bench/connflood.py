#!/usr/bin/python3
# SPDX-License-Identifier: AGPL-3.0-or-later
"""Per-source limit in the accept loop: with 900 idle SMTP sessions from
127.0.0.2-21 held open, 500 sequential sessions from 127.0.0.1 with the limit
off and at 50, and (at 50) 500 connections over the limit, each answered 421.
Run: SEALMAIL_BUILD=$PWD/build /usr/bin/python3 tests/bench/connflood.py"""
import os
import resource, socket, sys, time, tempfile
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
import test_limits as T
from harness import Instance, Redis
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 4096), hard))
tmp = tempfile.mkdtemp(); r = Redis(tmp)
for per in (0, 50):
    inst = Instance(redis=r, extra_conf=f"max_connections_per_source = {per}\n")
    inst.setup_domain()
    try:
        port, loop = T.start_loop(inst, "smtpd")
        idle = []
        for i in range(900):
            s = T.connect(port, source=f"127.0.0.{2 + i // 45}")
            idle.append(s)
        for s in idle:
            assert T.read_line(s).startswith(b"220")
        n = 500
        t0 = time.monotonic()
        for _ in range(n):
            s = T.connect(port)
            assert T.read_line(s).startswith(b"220")
            s.sendall(b"QUIT\r\n"); T.read_line(s); s.close()
        dt = time.monotonic() - t0
        t0 = time.monotonic()
        refused = 0
        if per:
            hold = [T.connect(port) for _ in range(per)]
            for s in hold: T.read_line(s)
            t0 = time.monotonic()
            for _ in range(n):
                s = T.connect(port)
                refused += T.read_line(s).startswith(b"421 4.7.0")
                s.close()
            dr = time.monotonic() - t0
            print(f"per_source={per}: {n} refusals in {dr:.2f}s ({n/dr:.0f}/s), refused={refused}")
            for s in hold: s.close()
        print(f"per_source={per}: 900 idle sessions live; {n} sequential sessions in {dt:.2f}s ({n/dt:.0f}/s)")
        for s in idle: s.close()
    finally:
        inst.cleanup()
r.stop()
