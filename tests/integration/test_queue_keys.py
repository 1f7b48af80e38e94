# SPDX-License-Identifier: AGPL-3.0-or-later
"""`sealctl init` makes the outbound queue (docs/SENDING.md): its directories and
key pair, in the age formats, so that Debian's `age` tool seals to queue.pub and
opens with queue.key; init never replaces a pair, nor makes a new one when the
key was moved out into a credential."""
import os
import stat
import subprocess


def queue_dir(inst):
    return os.path.join(inst.state, "queue")


def test_init_creates_queue_and_keys(inst):
    inst.sealctl("init")
    q = queue_dir(inst)
    for sub in ("", "tmp", "active"):
        st = os.stat(os.path.join(q, sub))
        assert stat.S_ISDIR(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o2770, sub
    assert stat.S_IMODE(os.stat(os.path.join(q, "queue.key")).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(os.path.join(q, "queue.pub")).st_mode) == 0o644
    pub = open(os.path.join(q, "queue.pub")).read()
    assert pub.startswith("age1") and pub.endswith("\n")
    key = open(os.path.join(q, "queue.key")).read()
    assert f"# public key: {pub.strip()}\n" in key
    sealed = subprocess.run(["age", "-r", pub.strip()], input=b"queued mail\r\n",
                            stdout=subprocess.PIPE, check=True).stdout
    plain = subprocess.run(["age", "-d", "-i", os.path.join(q, "queue.key")], input=sealed,
                           stdout=subprocess.PIPE, check=True).stdout
    assert plain == b"queued mail\r\n"


def test_init_keeps_the_pair(inst):
    inst.sealctl("init")
    q = queue_dir(inst)
    before = (open(os.path.join(q, "queue.pub")).read(), open(os.path.join(q, "queue.key")).read())
    inst.sealctl("init")
    after = (open(os.path.join(q, "queue.pub")).read(), open(os.path.join(q, "queue.key")).read())
    assert before == after
    # The key moved into a credential: init leaves queue.pub alone and
    # makes no key that queued would not have.
    os.rename(os.path.join(q, "queue.key"), os.path.join(inst.tmp, "credential.key"))
    inst.sealctl("init")
    assert not os.path.exists(os.path.join(q, "queue.key"))
    assert open(os.path.join(q, "queue.pub")).read() == before[0]
