# SPDX-License-Identifier: AGPL-3.0-or-later
"""The shipped units (units/, written by units/gen-units.sh) bound memory and
processes: every service has MemoryMax= and TasksMax=, and an accept-and-fork
service goes on when the kernel's OOM killer ends one of its processes
(docs/SECURITY.md, "Memory limits")."""
import glob
import os
import subprocess

from harness import ROOT

UNITS = os.path.join(ROOT, "units")


def settings(path):
    out = {}
    with open(path) as f:
        for line in f:
            if "=" in line and not line.startswith("#"):
                k, v = line.rstrip("\n").split("=", 1)
                out.setdefault(k, []).append(v)
    return out


def services():
    found = sorted(glob.glob(os.path.join(UNITS, "sealmail-*.service")))
    assert found
    return found


def test_units_are_generated_from_the_script():
    p = subprocess.run([os.path.join(UNITS, "gen-units.sh"), "--check"], capture_output=True,
                       text=True)
    assert p.returncode == 0, p.stdout + p.stderr


def test_every_service_has_memory_and_task_ceilings():
    for path in services():
        s = settings(path)
        name = os.path.basename(path)
        assert len(s.get("MemoryMax", [])) == 1, name
        assert len(s.get("TasksMax", [])) == 1, name
        assert s["MemoryMax"][0][-1] in "MG" and int(s["MemoryMax"][0][:-1]) > 0, name
        per_conn = name.endswith("@.service")
        if per_conn:
            # A front and a back at the most.
            assert int(s["TasksMax"][0]) >= 2, name
            assert "OOMPolicy" not in s, name
        else:
            # The loop and max_connections (1000) connections.
            assert int(s["TasksMax"][0]) > 1000, name
            assert s.get("OOMPolicy") == ["continue"], name
