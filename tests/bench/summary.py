# SPDX-License-Identifier: AGPL-3.0-or-later
"""Summary tables for `make bench`: reads the raw result lines that
tests/bench/run.sh appends (one "key=value ..." line per run) and prints
median [min-max] (n runs) per figure as Markdown tables.

    summary.py RAW_FILE [HEADER_FILE]
"""
import statistics
import sys
from collections import OrderedDict

INGEST_SERVERS = ["smtpd-fork", "smtpd-inetd", "lmtpd-fork", "chasquid", "dovecot-lmtp"]
PEERS = {"chasquid", "dovecot-lmtp"}


def parse(path):
    rows = []
    with open(path) as f:
        for line in f:
            kv = {}
            for tok in line.split():
                if "=" in tok:
                    k, v = tok.split("=", 1)
                    kv[k] = v
            if "bench" in kv:
                rows.append(kv)
    return rows


def num(v):
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


def agg(vals):
    vals = [v for v in vals if v is not None]
    if not vals:
        return None
    return statistics.median(vals), min(vals), max(vals), len(vals)


def fmt(a, digits=None):
    if a is None:
        return "–"
    med, lo, hi, n = a
    if digits is None:
        digits = 0 if med >= 100 else 1 if med >= 10 else 2
    f = f"{{:,.{digits}f}}"
    if n == 1:
        return f.format(med)
    return f"{f.format(med)} [{f.format(lo)}–{f.format(hi)}]"


def group(rows, bench, keys, metric):
    out = OrderedDict()
    for r in rows:
        # Runs that did not deliver everything are listed under Errors only.
        if r.get("bench") != bench or r.get("ok") == "0":
            continue
        k = tuple(r.get(x, "") for x in keys)
        out.setdefault(k, []).append(num(r.get(metric)))
    return {k: agg(v) for k, v in out.items()}


def table(head, lines):
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for ln in lines:
        print("| " + " | ".join(ln) + " |")
    print()


def ingest(rows):
    rate = group(rows, "ingest", ["server", "size", "conc"], "rate")
    cpu = group(rows, "ingest", ["server", "size", "conc"], "cpu_ms_per_msg")
    if not rate:
        return
    servers = [s for s in INGEST_SERVERS if any(k[0] == s for k in rate)]
    configs = []
    for k in rate:
        if (k[1], k[2]) not in configs:
            configs.append((k[1], k[2]))
    configs.sort(key=lambda c: (int(c[0]), int(c[1])))
    print("### SMTP/LMTP ingest: delivered messages/s, one message per connection\n")
    lines = []
    for size, conc in configs:
        ln = [f"{int(size) // 1024} KB, c{conc}"]
        best_peer = None
        for s in servers:
            a = rate.get((s, size, conc))
            ln.append(fmt(a))
            if s in PEERS and a is not None and (best_peer is None or a[0] > best_peer):
                best_peer = a[0]
        ours = rate.get(("smtpd-fork", size, conc))
        ln.append(f"{ours[0] / best_peer:.2f}x" if ours and best_peer else "–")
        lines.append(ln)
    table(["size, conc"] + servers + ["smtpd-fork / best peer"], lines)
    print("### Server CPU per message (ms, whole process tree, from /proc)\n")
    lines = []
    for size, conc in configs:
        lines.append([f"{int(size) // 1024} KB, c{conc}"] +
                     [fmt(cpu.get((s, size, conc)), 2) for s in servers])
    table(["size, conc"] + servers, lines)


def login(rows):
    rate = group(rows, "login", ["server", "scheme", "mode", "conc"], "logins_per_s")
    lat = group(rows, "login", ["server", "scheme", "mode", "conc"], "lat_median_ms")
    cpu = group(rows, "login", ["server", "scheme", "mode", "conc"], "cpu_ms_per_login")
    if not rate:
        return
    cols = [("plain", "1"), ("plain", "8"), ("tls", "1"), ("tls", "8")]
    names = []
    for k in rate:
        if (k[0], k[1]) not in names:
            names.append((k[0], k[1]))
    print("### IMAP LOGIN+LOGOUT per second (median latency in ms)\n")
    lines = []
    for srv, scheme in names:
        ln = [f"{srv} {scheme}"]
        for mode, conc in cols:
            a = rate.get((srv, scheme, mode, conc))
            l = lat.get((srv, scheme, mode, conc))
            ln.append(fmt(a) + (f" ({l[0]:.0f} ms)" if a and l else ""))
        lines.append(ln)
    table(["server, scheme"] + [f"{m} c{c}" for m, c in cols], lines)
    print("### Server CPU per login (ms, whole process tree)\n")
    lines = []
    for srv, scheme in names:
        lines.append([f"{srv} {scheme}"] +
                     [fmt(cpu.get((srv, scheme, m, c)), 1) for m, c in cols])
    table(["server, scheme"] + [f"{m} c{c}" for m, c in cols], lines)


def steps(rows):
    keys = ["directory", "kdf", "aead", "open", "close"]
    data = OrderedDict()
    for r in rows:
        if r.get("bench") != "loginsteps":
            continue
        data.setdefault((r.get("scheme"), r.get("kind")), []).append(r)
    if not data:
        return
    print("### Login steps in the back process, ms wall / ms CPU "
          "(cold = first login in a fresh process, warm = median of the next 10)\n")
    lines = []
    for (scheme, kind), rs in data.items():
        ln = [scheme, kind]
        for suffix in ("_ms", "_cpu_ms"):
            tot = agg([sum(num(r.get(k + suffix)) or 0 for k in keys) for r in rs])
            ln.append(fmt(tot, 2))
        for k in keys:
            w = agg([num(r.get(k + "_ms")) for r in rs])
            c = agg([num(r.get(k + "_cpu_ms")) for r in rs])
            ln.append(f"{w[0]:.2f} / {c[0]:.2f}" if w and c else "–")
        lines.append(ln)
    table(["user KDF", "round", "total wall", "total CPU", "directory", "KDF",
           "unwrap (AEAD)", "open+import", "close"], lines)


def simple(rows, bench, title, keys, metrics):
    data = OrderedDict()
    for r in rows:
        if r.get("bench") != bench:
            continue
        data.setdefault(tuple(r.get(k, "") for k in keys), []).append(r)
    if not data:
        return
    print(f"### {title}\n")
    lines = []
    for k, rs in data.items():
        lines.append(list(k) + [fmt(agg([num(r.get(m)) for r in rs])) for m in metrics])
    table(keys + metrics, lines)


def main():
    rows = parse(sys.argv[1])
    if len(sys.argv) > 2:
        with open(sys.argv[2]) as f:
            print(f.read())
    ingest(rows)
    login(rows)
    steps(rows)
    simple(rows, "store", "Store (tests/tools/storebench, 10 KB messages)", ["name"],
           ["value"])
    simple(rows, "import", "Import at login of spool files delivered by smtpd", ["size", "n"],
           ["open_ms", "msgs_per_s"])
    simple(rows, "idlemem", "Memory per idle IMAP connection (logged in, IDLE)",
           ["server", "mode", "n"], ["pss_kb_per_conn", "rss_kb_per_conn", "procs_per_conn",
                                     "extra_rss_kb_per_conn"])
    simple(rows, "imapcmd", "Large IMAP commands", ["server", "cmd", "exists"],
           ["ms", "cpu_ms", "responses", "hits"])
    simple(rows, "profile", "Where smtpd (accept+fork) spends its CPU, 1 KB c10 "
           "(perf, inclusive % of its samples)", ["server", "sym"], ["pct"])
    simple(rows, "section", "Wall time per section (s)", ["name"], ["secs"])
    loads = OrderedDict()
    for r in rows:
        if r.get("bench") not in ("section", "error") and num(r.get("load1")) is not None:
            loads.setdefault(r["bench"], []).append(num(r["load1"]))
    if loads:
        print("### Host load (1-minute load average when each result was written; 2 vCPUs)\n")
        table(["benchmark", "load1"], [[k, fmt(agg(v), 1)] for k, v in loads.items()])
    fails = [r for r in rows if r.get("bench") == "error"]
    if fails:
        print("### Errors\n")
        for r in fails:
            print("- " + " ".join(f"{k}={v}" for k, v in r.items()))


if __name__ == "__main__":
    main()
