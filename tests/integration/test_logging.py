# SPDX-License-Identifier: AGPL-3.0-or-later
"""Logging: the same field names on stderr and in a private journald."""
import json
import os
import shutil
import subprocess

import pytest

from harness import BUILD, ROOT

EXPECTED = {
    "SEALMAIL_EVENT": "deliver",
    "SEALMAIL_SESSION": "0123456789abcdef",
    "SEALMAIL_REMOTE": "192.0.2.7",
    "SEALMAIL_MSGID": "<m1@example.test>",
    "SEALMAIL_SIZE": "42",
    "SEALMAIL_REASON": "a b",
}


def test_stderr_fields():
    env = dict(os.environ, LOG_TARGET="stderr")
    env.pop("JOURNAL_STREAM", None)
    p = subprocess.run([f"{BUILD}/tests/logemit", "deliver", "<m1@example.test>"],
                       env=env, capture_output=True, text=True, check=True)
    line = p.stderr.strip()
    assert line.startswith("<6>deliver ")
    for key, value in EXPECTED.items():
        if key == "SEALMAIL_EVENT":
            continue
        shown = f'"{value}"' if " " in value else value
        assert f"{key}={shown}" in line


def test_journald_fields():
    if os.geteuid() != 0 or not shutil.which("unshare") or \
            not os.path.exists("/lib/systemd/systemd-journald"):
        pytest.skip("SKIPPED LOUDLY: needs root, unshare and systemd-journald")
    script = (f"LOG_TARGET=journal {BUILD}/tests/logemit deliver '<m1@example.test>' && "
              "journalctl --sync 2>/dev/null; "
              "journalctl -o json --no-pager SEALMAIL_EVENT=deliver")
    p = subprocess.run([f"{ROOT}/tests/tools/with-journald.sh", "sh", "-c", script],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    entries = [json.loads(l) for l in p.stdout.splitlines() if l.startswith("{")]
    assert len(entries) == 1, p.stdout
    e = entries[0]
    for key, value in EXPECTED.items():
        assert e.get(key) == value, (key, e.get(key))
    assert e["SYSLOG_IDENTIFIER"] == "sealmail-logemit"
    assert e["PRIORITY"] == "6"


FORGED_MSGID = '<a" SEALMAIL_REMOTE=6.6.6.6 b=c@x>'


def test_stderr_value_cannot_forge_a_field():
    """A value the client chose is quoted with '"', '\\' and '=' escaped:
    the text form shows SEALMAIL_REMOTE once, the real one."""
    env = dict(os.environ, LOG_TARGET="stderr")
    env.pop("JOURNAL_STREAM", None)
    p = subprocess.run([f"{BUILD}/tests/logemit", "deliver", FORGED_MSGID],
                       env=env, capture_output=True, text=True, check=True)
    line = p.stderr.strip()
    assert line.count("SEALMAIL_REMOTE=") == 1
    assert " SEALMAIL_REMOTE=192.0.2.7 " in line
    assert 'SEALMAIL_MSGID="<a\\" SEALMAIL_REMOTE\\x3d6.6.6.6 b\\x3dc@x>"' in line
    assert line.count("=") == len(EXPECTED) - 1


def test_journald_value_unchanged():
    """In the journal the field is its own: escaped as before, '=' kept."""
    if os.geteuid() != 0 or not shutil.which("unshare") or \
            not os.path.exists("/lib/systemd/systemd-journald"):
        pytest.skip("SKIPPED LOUDLY: needs root, unshare and systemd-journald")
    script = (f"LOG_TARGET=journal {BUILD}/tests/logemit deliver '{FORGED_MSGID}' && "
              "journalctl --sync 2>/dev/null; "
              "journalctl -o json --no-pager SEALMAIL_EVENT=deliver")
    p = subprocess.run([f"{ROOT}/tests/tools/with-journald.sh", "sh", "-c", script],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    entries = [json.loads(l) for l in p.stdout.splitlines() if l.startswith("{")]
    assert len(entries) == 1, p.stdout
    assert entries[0]["SEALMAIL_MSGID"] == '<a\\" SEALMAIL_REMOTE=6.6.6.6 b=c@x>'
    assert entries[0]["SEALMAIL_REMOTE"] == "192.0.2.7"
    assert entries[0]["MESSAGE"].count("SEALMAIL_REMOTE=") == 1
