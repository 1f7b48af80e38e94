# SPDX-License-Identifier: AGPL-3.0-or-later
"""Every TLS port of an instance, scanned with testssl.sh (Debian's
/usr/bin/testssl): IMAPS, POP3S and submissions (implicit TLS), IMAP
STARTTLS, POP3 STLS, SMTP STARTTLS (smtpd) and submission STARTTLS (submitd). The house policy is docs/SECURITY.md's: Mozilla's
"intermediate" configuration (TLS 1.2 and 1.3 only; in TLS 1.2 only ECDHE
with an AEAD cipher), no renegotiation, no known vulnerability.

testssl judges each finding with a severity (OK, INFO, LOW, MEDIUM, HIGH,
CRITICAL, WARN for a scan that could not run a check); any LOW or worse
fails, except the findings on the certificate, which is the test's own
(self-signed, 30 days, no revocation information). The seven scans run at
once: each mostly waits on its handshakes. One port gets every check but
the per-cipher list and the client simulations (which judge nothing), the
others protocols, cipher categories, renegotiation and vulnerabilities,
which is where a port could differ (STARTTLS code paths, smtpd's own
context)."""
import json
import os
import re
import shutil
import subprocess
import tempfile
import time

import pytest

from harness import Instance

TESTSSL = shutil.which("testssl") or shutil.which("testssl.sh")
pytestmark = pytest.mark.skipif(TESTSSL is None,
                                 reason="testssl.sh is not installed (Debian package testssl.sh)")

USER = "demo@example.test"
COMMON = ["--quiet", "--color", "0", "--warnings", "off", "--nodns", "none",
          "--connect-timeout", "10", "--openssl-timeout", "10"]
BASIC = ["-p", "-s", "-R", "-U"]
FULL = ["-p", "-s", "-f", "-P", "-S", "-R", "-U"]
# testssl's pauses are made for servers across the Internet. On loopback:
# 20 ms after a send and 50 ms before a read (not 100 and 200), and 2 s,
# not 5, for the HTTP service probe, which a mail server never answers
# (testssl then gives up and tests it as a generic TLS service).
TUNING = dict(os.environ, USLEEP_SND="0.02", USLEEP_REC="0.05", HEADER_MAXSLEEP="2")
# name: (handler, its flags, testssl's --starttls protocol or None, checks)
PORTS = {
    "imaps": ("imapd", ["--tls"], None, FULL),
    "imap-starttls": ("imapd", [], "imap", BASIC),
    "pop3s": ("pop3d", ["--tls"], None, BASIC),
    "pop3-stls": ("pop3d", [], "pop3", BASIC),
    "smtp-starttls": ("smtpd", [], "smtp", BASIC),
    "submissions": ("submitd", ["--tls"], None, BASIC),
    "submission-starttls": ("submitd", [], "smtp", BASIC),
}
# Findings on the test's certificate, not on the server's configuration.
CERT_FINDING = re.compile(r"^(cert_|DNS_CAArecord$|OCSP_stapling$|certificate_transparency$)")
BAD_SEVERITY = {"LOW", "MEDIUM", "HIGH", "CRITICAL", "WARN"}
# What must have been checked, and how it must have come out.
REQUIRED = {
    "SSLv2": "not offered", "SSLv3": "not offered", "TLS1": "not offered",
    "TLS1_1": "not offered", "TLS1_2": "offered", "TLS1_3": "offered",
    "cipherlist_NULL": "not offered", "cipherlist_aNULL": "not offered",
    "cipherlist_EXPORT": "not offered", "cipherlist_LOW": "not offered",
    "cipherlist_3DES_IDEA": "not offered", "cipherlist_AVERAGE": "not offered",
    "secure_client_renego": "not vulnerable", "heartbleed": "not vulnerable",
    "CCS": "not vulnerable", "CRIME_TLS": "not vulnerable", "POODLE_SSL": "not vulnerable",
    "SWEET32": "not vulnerable", "FREAK": "not vulnerable", "LUCKY13": "not vulnerable",
    "RC4": "not vulnerable", "ROBOT": "not vulnerable", "BEAST": "not vulnerable",
}


@pytest.fixture(scope="module")
def scans(redis, cert):
    inst = Instance(redis=redis, cert=cert)
    out = tempfile.mkdtemp(prefix="sealmail-testssl-")
    try:
        inst.setup_domain()
        inst.add_user(USER)
        procs = {}
        start = time.monotonic()
        for name, (handler, flags, starttls, checks) in PORTS.items():
            port = inst.start(handler, *flags)
            cmd = [TESTSSL, *COMMON, *checks, "--jsonfile", os.path.join(out, f"{name}.json")]
            if starttls:
                cmd += ["--starttls", starttls]
            procs[name] = subprocess.Popen([*cmd, f"127.0.0.1:{port}"], stdout=subprocess.PIPE,
                                           stderr=subprocess.STDOUT, text=True, env=TUNING)
        results = {}
        for name, p in procs.items():
            text = p.communicate(timeout=170)[0]
            try:
                with open(os.path.join(out, f"{name}.json")) as f:
                    results[name] = (json.load(f), text)
            except (OSError, ValueError):
                results[name] = ([], text)
        took = {n: next((f["finding"] for f in r[0] if f["id"] == "scanTime"), "?")
                for n, r in results.items()}
        print(f"testssl: {len(PORTS)} scans in {time.monotonic() - start:.0f} s: {took}")
        yield results
    finally:
        inst.cleanup()
        shutil.rmtree(out, ignore_errors=True)


@pytest.mark.parametrize("name", list(PORTS))
def test_no_weak_finding(scans, name):
    findings, text = scans[name]
    assert findings, f"testssl wrote no findings:\n{text}"
    bad = [f"{f['id']} ({f['severity']}): {f['finding']}" for f in findings
           if f.get("severity") in BAD_SEVERITY and not CERT_FINDING.match(f["id"])]
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize("name", list(PORTS))
def test_required_checks_passed(scans, name):
    """Each check ran (a missing id would be a scan that did not) and came
    out as the policy says."""
    findings, text = scans[name]
    by_id = {f["id"]: f["finding"] for f in findings}
    wrong = {k: by_id.get(k) for k, want in REQUIRED.items()
             if not (by_id.get(k) or "").startswith(want)}
    # "offered (OK)" starts with "offered"; "not offered" must not pass as it.
    assert not wrong, f"{wrong}\n{text[-3000:]}"
