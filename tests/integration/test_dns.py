# SPDX-License-Identifier: AGPL-3.0-or-later
"""The resolver (lib/svc/dns.c on libunbound) against a real authoritative server
with real DNSSEC: the dns-lab (tests/dnslab) serves a signed zone (answers secure),
an unsigned one (insecure) and one signed under the wrong anchor (bogus), and
build/tests/dnsq makes one lookup each through the library."""
import os
import random
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BUILD = Path(os.environ.get("SEALMAIL_BUILD", REPO / "build"))
DNSQ = str(BUILD / "tests" / "dnsq")
LAB = str(REPO / "tests" / "dnslab" / "dns-lab.sh")

TLSA_HASH = "8cb0fc6c527506a053f4f14c8464bebbd6dede2738d11468dd953d7d6a3021f1"
LONG = "x" * 255

ZONES = {
    "example.test": f"""$ORIGIN example.test.
$TTL 300
@       IN SOA ns1.example.test. hostmaster.example.test. 1 3600 600 86400 300
@       IN NS  ns1
ns1     IN A   127.0.0.53
@       IN MX  10 mx
@       IN MX  20 mx2
@       IN MX  20 mx3
@       IN MX  20 mx4
@       IN TXT "v=spf1 " "ip4:127.0.0.2 -all"
mx      IN A   127.0.0.2
mx      IN AAAA ::1
mx2     IN A   127.0.0.5
mx3     IN A   127.0.0.6
mx4     IN A   127.0.0.7
_25._tcp.mx IN TLSA 3 1 1 {TLSA_HASH}
nomx    IN A   127.0.0.9
nomx6   IN AAAA 2001:db8::9
onlytxt IN TXT "nothing else here"
nullmx  IN MX  0 .
long    IN TXT "{LONG}" "{LONG}" "{LONG}" "{LONG}"
two     IN TXT "first"
two     IN TXT "second"
weird   IN MX  10 bad\\032label.example.test.
""",
    "plain.test": """$ORIGIN plain.test.
$TTL 300
@       IN SOA ns1.plain.test. hostmaster.plain.test. 1 3600 600 86400 300
@       IN NS  ns1
ns1     IN A   127.0.0.53
@       IN MX  10 mx
mx      IN A   127.0.0.3
nomx    IN A   127.0.0.10
""",
    "bogus.test": """$ORIGIN bogus.test.
$TTL 300
@       IN SOA ns1.bogus.test. hostmaster.bogus.test. 1 3600 600 86400 300
@       IN NS  ns1
ns1     IN A   127.0.0.53
@       IN MX  10 mx
@       IN TXT "v=spf1 -all"
mx      IN A   127.0.0.4
nomx    IN A   127.0.0.11
""",
    # Reverse lookups: a range outside RFC 6303's locally served zones.
    "7.6.5.in-addr.arpa": """$ORIGIN 7.6.5.in-addr.arpa.
$TTL 300
@       IN SOA ns1.example.test. hostmaster.example.test. 1 3600 600 86400 300
@       IN NS  ns1.example.test.
8       IN PTR mx.example.test.
""",
}
MODES = {"example.test": ":signed", "plain.test": "", "bogus.test": ":bogus",
         "7.6.5.in-addr.arpa": ""}


def free_port(addr):
    """A port free for both UDP and TCP on addr."""
    for _ in range(50):
        port = random.randint(20000, 60000)
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u, socket.socket() as t:
                u.bind((addr, port))
                t.bind((addr, port))
                return port
        except OSError:
            continue
    raise RuntimeError("no free port")


def have_lab():
    return all(shutil.which(p) for p in ("nsd", "ldns-signzone", "ldns-keygen"))


@pytest.fixture(scope="module")
def lab():
    if not have_lab():
        pytest.skip("needs Debian's nsd and ldnsutils (tests/deps.sh)")
    tmp = Path(tempfile.mkdtemp(prefix="sealmail-dns-"))
    # Its own loopback address and port, so labs of parallel runs never meet.
    addr = f"127.53.{random.randint(1, 254)}.{random.randint(1, 254)}"
    port = free_port(addr)
    specs = []
    for name, text in ZONES.items():
        path = tmp / f"{name}.zone"
        path.write_text(text)
        specs.append(f"{path}{MODES[name]}")
    labdir = tmp / "lab"
    subprocess.run([LAB, "start", str(labdir), "--addr", addr, "--port", str(port)] + specs,
                   check=True, stdout=subprocess.PIPE, timeout=120)
    yield {"dir": labdir, "tmp": tmp, "addr": addr, "port": port}
    subprocess.run([LAB, "stop", str(labdir)], timeout=30)
    shutil.rmtree(tmp, ignore_errors=True)


def write_conf(tmp, **keys):
    conf = {"state_dir": str(tmp), "dns_trust_anchor": "", "dns_timeout": "5s"}
    conf.update(keys)
    path = Path(tempfile.mkstemp(dir=tmp, suffix=".conf")[1])
    path.write_text("".join(f"{k} = {v}\n" for k, v in conf.items()))
    return str(path)


@pytest.fixture(scope="module")
def conf(lab):
    return write_conf(lab["tmp"], dns_unbound_conf=lab["dir"] / "unbound.conf")


def dnsq(conf, qtype, name, check=True):
    r = subprocess.run([DNSQ, "-c", conf, qtype, name], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=60)
    if not check:
        return r
    assert r.returncode == 0, r.stderr.decode()
    lines = r.stdout.decode().splitlines()
    head = dict(kv.split("=", 1) for kv in lines[0].split())
    rrs = [line for line in lines[1:] if not line.startswith("why ")]
    why = [line[4:] for line in lines[1:] if line.startswith("why ")]
    return head, rrs, why[0] if why else ""


def test_mx_secure_sorted_with_ties_shuffled(conf):
    orders = set()
    for _ in range(12):
        head, rrs, _ = dnsq(conf, "mx", "example.test")
        assert head["status"] == "ok" and head["secure"] == "1", head
        assert head["null_mx"] == "0" and head["implicit_mx"] == "0"
        assert rrs[0] == "mx 10 mx.example.test"
        assert sorted(rrs[1:]) == ["mx 20 mx2.example.test", "mx 20 mx3.example.test",
                                   "mx 20 mx4.example.test"]
        orders.add(tuple(rrs[1:]))
    # RFC 5321 5.1: equal preferences in random order (3! orders; 12 draws
    # give a single one with probability 6 * (1/6)^12).
    assert len(orders) > 1


def test_mx_insecure_zone(conf):
    head, rrs, _ = dnsq(conf, "mx", "plain.test")
    assert head["status"] == "ok" and head["secure"] == "0"
    assert rrs == ["mx 10 mx.plain.test"]


@pytest.mark.parametrize("qtype,name", [("mx", "bogus.test"), ("txt", "bogus.test"),
                                        ("a", "mx.bogus.test"),
                                        ("mx", "nomx.bogus.test"),
                                        ("mx", "does-not-exist.bogus.test")])
def test_bogus_is_a_failure_never_no_record(conf, qtype, name):
    head, rrs, why = dnsq(conf, qtype, name)
    assert head["status"] == "bogus", head
    assert head["secure"] == "0" and rrs == [] and why


def test_null_mx(conf):
    head, rrs, _ = dnsq(conf, "mx", "nullmx.example.test")
    assert head["status"] == "ok" and head["null_mx"] == "1" and head["n"] == "0"
    assert head["secure"] == "1"


def test_no_mx_falls_back_to_address(conf):
    for name in ("nomx.example.test", "nomx6.example.test"):
        head, rrs, _ = dnsq(conf, "mx", name)
        assert head["status"] == "ok" and head["implicit_mx"] == "1", head
        assert head["secure"] == "1"
        assert rrs == [f"mx 0 {name}"]
    head, rrs, _ = dnsq(conf, "mx", "NoMx.Plain.Test.")
    assert head["status"] == "ok" and head["implicit_mx"] == "1" and head["secure"] == "0"
    assert rrs == ["mx 0 nomx.plain.test"]


def test_no_mx_no_address_is_nodata(conf):
    head, rrs, _ = dnsq(conf, "mx", "onlytxt.example.test")
    assert head["status"] == "nodata" and head["secure"] == "1" and rrs == []


def test_nxdomain_is_not_implicit_mx(conf):
    head, rrs, _ = dnsq(conf, "mx", "nothing.example.test")
    # Authenticated denial (NSEC): secure.
    assert head["status"] == "nxdomain" and head["secure"] == "1" and rrs == []


def test_addresses(conf):
    head, rrs, _ = dnsq(conf, "addr", "mx.example.test")
    assert head["status"] == "ok" and head["secure"] == "1"
    assert rrs == ["aaaa ::1", "a 127.0.0.2"]
    head, rrs, _ = dnsq(conf, "a", "mx.example.test")
    assert rrs == ["a 127.0.0.2"]
    head, rrs, _ = dnsq(conf, "aaaa", "mx2.example.test")
    assert head["status"] == "nodata" and rrs == []
    # One family answering is enough for an address list.
    head, rrs, _ = dnsq(conf, "addr", "mx2.example.test")
    assert head["status"] == "ok" and rrs == ["a 127.0.0.5"]


def test_txt_strings_concatenated_per_record(conf):
    head, rrs, _ = dnsq(conf, "txt", "example.test")
    assert head["status"] == "ok" and head["secure"] == "1"
    assert rrs == ["txt " + b"v=spf1 ip4:127.0.0.2 -all".hex()]
    head, rrs, _ = dnsq(conf, "txt", "two.example.test")
    assert sorted(rrs) == sorted(["txt " + b"first".hex(), "txt " + b"second".hex()])
    head, rrs, _ = dnsq(conf, "txt", "long.example.test")
    assert rrs == ["txt " + (LONG * 4).encode().hex()]


def test_tlsa(conf):
    head, rrs, _ = dnsq(conf, "tlsa", "_25._tcp.mx.example.test")
    assert head["status"] == "ok" and head["secure"] == "1"
    assert rrs == [f"tlsa 3 1 1 {TLSA_HASH}"]


def test_ptr(conf):
    head, rrs, _ = dnsq(conf, "ptr", "5.6.7.8")
    assert head["status"] == "ok" and head["secure"] == "0"
    assert rrs == ["ptr mx.example.test"]
    head, rrs, _ = dnsq(conf, "ptr", "5.6.7.9")
    assert head["status"] == "nxdomain"


def test_hostile_name_in_answer_is_refused(conf):
    # An exchange with a space in a label: never passed on as a host name.
    head, rrs, why = dnsq(conf, "mx", "weird.example.test")
    assert head["status"] == "tempfail" and rrs == [] and "malformed" in why


@pytest.mark.parametrize("name", ["a..b", "-" * 64 + ".test", "x" * 254, "a b.test", "",
                                  "exa\\mple.test", "a.test..", "\u00e9.test"])
def test_bad_query_names(conf, name):
    head, rrs, _ = dnsq(conf, "mx", name)
    assert head["status"] == "badname"


def test_forwarder_and_trust_anchor_keys(lab):
    """dns_resolver = IP@PORT and dns_trust_anchor = FILE, no lab configuration
    besides lifting unbound's default zone for test. (RFC 6761)."""
    extra = lab["tmp"] / "nodefault.conf"
    extra.write_text('server:\n    local-zone: "test." nodefault\n')
    conf = write_conf(lab["tmp"], dns_resolver=f"{lab['addr']}@{lab['port']}",
                      dns_trust_anchor=lab["dir"] / "example.test.anchor",
                      dns_unbound_conf=extra)
    head, rrs, _ = dnsq(conf, "mx", "example.test")
    assert head["status"] == "ok" and head["secure"] == "1"
    assert rrs[0] == "mx 10 mx.example.test"
    head, rrs, _ = dnsq(conf, "mx", "plain.test")
    # Under an anchor for example.test only, plain.test has no chain: insecure.
    assert head["status"] == "ok" and head["secure"] == "0"


def test_timeout_is_bounded(lab):
    """A forwarder that never answers: tempfail within dns_timeout."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as hole, socket.socket() as thole:
        hole.bind(("127.0.0.1", 0))
        port = hole.getsockname()[1]
        try:
            thole.bind(("127.0.0.1", port))
            thole.listen(1)
        except OSError:
            pass
        conf = write_conf(lab["tmp"], dns_resolver=f"127.0.0.1@{port}", dns_timeout="700ms")
        start = time.monotonic()
        head, rrs, why = dnsq(conf, "mx", "example.org")
        took = time.monotonic() - start
    assert head["status"] == "tempfail" and why == "timeout"
    assert took < 5, took


@pytest.mark.parametrize("keys", [{"dns_resolver": "resolver.example"},
                                  {"dns_resolver": "127.0.0.1@70000"},
                                  {"dns_resolver": ","},
                                  {"dns_trust_anchor": "/nonexistent/root.key"},
                                  {"dns_unbound_conf": "/nonexistent/unbound.conf"}])
def test_bad_configuration_refused(lab, keys):
    conf = write_conf(lab["tmp"], **keys)
    r = dnsq(conf, "mx", "example.test", check=False)
    assert r.returncode == 3, r.stdout
    assert r.stderr


def test_bad_timeout_refused(lab):
    conf = write_conf(lab["tmp"], dns_timeout="10ms")
    r = dnsq(conf, "mx", "example.test", check=False)
    assert r.returncode == 3 and b"dns_timeout" in r.stderr
