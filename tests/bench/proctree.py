# SPDX-License-Identifier: AGPL-3.0-or-later
"""Process-tree accounting for the benchmarks (Linux /proc only).

    proctree.py cpu PID    CPU seconds used by PID and all its descendants,
                           live or already reaped (utime+stime+cutime+cstime
                           of every live process in the tree: a reaped
                           child's time is in its parent's cutime/cstime, so
                           nothing is counted twice)
    proctree.py mem PID    rss_kb=… pss_kb=… procs=… summed over the tree
                           from /proc/<pid>/smaps_rollup
"""
import os
import sys

TICK = os.sysconf("SC_CLK_TCK")


def _stat(pid):
    with open(f"/proc/{pid}/stat") as f:
        s = f.read()
    # comm may hold spaces and parentheses: split after the last ')'.
    comm = s[s.index("(") + 1:s.rindex(")")]
    rest = s[s.rindex(")") + 2:].split()
    return comm, rest


def tree(root):
    """[(pid, comm, fields after comm)] for root and all its descendants."""
    children, info = {}, {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            comm, rest = _stat(d)
        except (OSError, ValueError):
            continue
        pid, ppid = int(d), int(rest[1])
        info[pid] = (comm, rest)
        children.setdefault(ppid, []).append(pid)
    out, todo = [], [root]
    while todo:
        p = todo.pop()
        if p in info:
            out.append((p, info[p][0], info[p][1]))
            todo.extend(children.get(p, []))
    return out


def cpu_seconds(root):
    total = 0
    for _, _, rest in tree(root):
        # fields 14-17 of stat (utime stime cutime cstime) are rest[11:15]
        total += sum(int(x) for x in rest[11:15])
    return total / TICK


def mem(pid):
    """(rss_kb, pss_kb) of one process, or None if it is gone."""
    rss = pss = 0
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Rss:"):
                    rss = int(line.split()[1])
                elif line.startswith("Pss:"):
                    pss = int(line.split()[1])
    except OSError:
        return None
    return rss, pss


def tree_mem(root):
    """{pid: (comm, rss_kb, pss_kb)} over the tree."""
    out = {}
    for pid, comm, _ in tree(root):
        m = mem(pid)
        if m is not None:
            out[pid] = (comm, m[0], m[1])
    return out


def main():
    if len(sys.argv) != 3 or sys.argv[1] not in ("cpu", "mem"):
        sys.exit("usage: proctree.py cpu|mem PID")
    root = int(sys.argv[2])
    if sys.argv[1] == "cpu":
        print(f"{cpu_seconds(root):.2f}")
    else:
        m = tree_mem(root)
        print(f"rss_kb={sum(v[1] for v in m.values())} pss_kb={sum(v[2] for v in m.values())}"
              f" procs={len(m)}")


if __name__ == "__main__":
    main()
