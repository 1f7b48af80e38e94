# SPDX-License-Identifier: AGPL-3.0-or-later
"""A short run of the crash-loop soak (tests/soak/soak.py, `make soak`), so
that the program keeps working: deliveries, APPENDs, expunges and logins
while processes are SIGKILLed, then every acknowledged message exactly once."""
import os
import re
import subprocess
import sys

from harness import BUILD, ROOT


def test_soak_smoke():
    p = subprocess.run([sys.executable, os.path.join(ROOT, "tests", "soak", "soak.py"), "20"],
                       env=dict(os.environ, SEALMAIL_BUILD=BUILD), capture_output=True,
                       text=True, timeout=300)
    out = p.stdout + p.stderr
    assert p.returncode == 0, out
    assert "soak: OK" in out
    kills = int(re.search(r"soak: 20 s, (\d+) kills", out).group(1))
    acked = int(re.search(r"soak: acknowledged (\d+),", out).group(1))
    assert kills > 0 and acked > 0, out
