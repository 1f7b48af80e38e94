# SPDX-License-Identifier: AGPL-3.0-or-later
"""age interoperability: files sealed by lib/age (through build/tests/agetool)
open with Debian's `age` tool, files made by `age` open with agetool, and key
strings pass both ways between agetool and `age-keygen`. The `age` tool is the
independent check of the format (DESIGN section 2)."""
import os
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
BUILD = Path(os.environ.get("SEALMAIL_BUILD", REPO / "build"))
AGETOOL = str(BUILD / "tests" / "agetool")
AGE = "/usr/bin/age"
AGE_KEYGEN = "/usr/bin/age-keygen"
SIZES = [0, 100, 65536, 200000]


def run(args, data=b"", check=True):
    return subprocess.run(args, input=data, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          check=check, timeout=60)


def agetool_keygen():
    lines = run([AGETOOL, "keygen"]).stdout.decode().splitlines()
    assert len(lines) == 2
    identity, recipient = lines
    assert identity.startswith("AGE-SECRET-KEY-1")
    assert recipient.startswith("age1")
    return identity, recipient


def age_keygen(tmp_path):
    """Returns (identity file, identity, recipient) from age-keygen."""
    key_file = tmp_path / "age-key.txt"
    run([AGE_KEYGEN, "-o", str(key_file)])
    identity = recipient = None
    for line in key_file.read_text().splitlines():
        if line.startswith("# public key: "):
            recipient = line[len("# public key: "):]
        elif line.startswith("AGE-SECRET-KEY-1"):
            identity = line
    assert identity and recipient
    return key_file, identity, recipient


def payload(size):
    return os.urandom(size)


def test_agetool_sealed_opens_with_age(tmp_path):
    identity, recipient = agetool_keygen()
    id_file = tmp_path / "id.txt"
    id_file.write_text(identity + "\n")
    for size in SIZES:
        plain = payload(size)
        sealed = run([AGETOOL, "seal", recipient], plain).stdout
        assert sealed.startswith(b"age-encryption.org/v1\n-> X25519 ")
        out = run([AGE, "-d", "-i", str(id_file)], sealed).stdout
        assert out == plain, f"size {size}"


def test_age_sealed_opens_with_agetool(tmp_path):
    identity, recipient = agetool_keygen()
    for size in SIZES:
        plain = payload(size)
        sealed = run([AGE, "-r", recipient], plain).stdout
        out = run([AGETOOL, "open", identity], sealed).stdout
        assert out == plain, f"size {size}"


def test_age_keygen_keys_work_with_agetool(tmp_path):
    key_file, identity, recipient = age_keygen(tmp_path)
    # Same recipient derived from the identity on both sides.
    assert run([AGETOOL, "pubkey", identity]).stdout.decode().strip() == recipient
    for size in SIZES:
        plain = payload(size)
        sealed = run([AGETOOL, "seal", recipient], plain).stdout
        assert run([AGE, "-d", "-i", str(key_file)], sealed).stdout == plain
        sealed = run([AGE, "-r", recipient], plain).stdout
        assert run([AGETOOL, "open", identity], sealed).stdout == plain


def test_agetool_keys_work_with_age_keygen(tmp_path):
    identity, recipient = agetool_keygen()
    id_file = tmp_path / "id.txt"
    id_file.write_text(identity + "\n")
    # age-keygen -y derives the recipient from our identity string.
    assert run([AGE_KEYGEN, "-y", str(id_file)]).stdout.decode().strip() == recipient


def test_wrong_identity_fails_both_ways(tmp_path):
    identity, recipient = agetool_keygen()
    other_identity, _ = agetool_keygen()
    other_file = tmp_path / "other.txt"
    other_file.write_text(other_identity + "\n")
    sealed = run([AGETOOL, "seal", recipient], b"secret").stdout
    r = run([AGE, "-d", "-i", str(other_file)], sealed, check=False)
    assert r.returncode != 0 and r.stdout == b""
    sealed = run([AGE, "-r", recipient], b"secret").stdout
    r = run([AGETOOL, "open", other_identity], sealed, check=False)
    assert r.returncode == 1 and r.stdout == b""
    assert b"no matching stanza" in r.stderr


def test_truncated_age_file_fails_in_agetool(tmp_path):
    identity, recipient = agetool_keygen()
    sealed = run([AGE, "-r", recipient], payload(200000)).stdout
    # Cut exactly after the first full chunk (65536 + 16 bytes of payload).
    header_end = sealed.index(b"\n---") + 1
    header_end = sealed.index(b"\n", header_end) + 1
    cut = header_end + 16 + 65536 + 16
    r = run([AGETOOL, "open", identity], sealed[:cut], check=False)
    assert r.returncode == 1
    assert b"truncated" in r.stderr


def test_malformed_keys_refused():
    identity, recipient = agetool_keygen()
    assert run([AGETOOL, "seal", recipient.upper()], b"", check=False).returncode == 1
    assert run([AGETOOL, "open", identity.lower()], b"", check=False).returncode == 1
    assert run([AGETOOL, "seal", identity], b"", check=False).returncode == 1
    assert run([AGETOOL, "open", recipient], b"", check=False).returncode == 1
