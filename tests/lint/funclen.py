#!/usr/bin/python3
# SPDX-License-Identifier: AGPL-3.0-or-later
"""No function of lib/, sandbox/ or handlers/ runs over FUNC_MAX lines unless
the comment just above it gives the reason, starting a sentence with
"Long:". Functions are found as clang-format lays them out: a line "{" at
column 0 opens one, "}" at column 0 closes it, and the signature is the
lines before the "{" back to one starting at column 0.

Usage: funclen.py [ROOT]. One line per offender (FILE:LINE: ...); exit 1 if any."""
import os
import re
import sys

FUNC_MAX = 120


def offenders(path, rel):
    lines = open(path, encoding="utf-8", errors="replace").read().split("\n")
    out = []
    for i, line in enumerate(lines):
        if line != "{":
            continue
        start = i - 1
        while start > 0 and not re.match(r"[A-Za-z_]", lines[start]):
            start -= 1
        end = i
        while end < len(lines) and lines[end] != "}":
            end += 1
        length = end - start + 1
        if length <= FUNC_MAX:
            continue
        # The comment block right above the signature.
        k, comment = start - 1, []
        while k >= 0 and (lines[k].startswith("/*") or lines[k].startswith(" *")):
            comment.append(lines[k])
            k -= 1
        if "Long:" not in " ".join(comment):
            out.append(f"{rel}:{start + 1}: {length} lines (over {FUNC_MAX}); split it or "
                       "say why above it (\"Long: ...\")")
    return out


def main():
    root = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else
                           os.path.join(os.path.dirname(__file__), "..", ".."))
    errors = []
    for top in ("lib", "sandbox", "handlers"):
        for d, _, files in os.walk(os.path.join(root, top)):
            for fn in sorted(files):
                if fn.endswith(".c"):
                    p = os.path.join(d, fn)
                    errors += offenders(p, os.path.relpath(p, root))
    for e in errors:
        print(e)
    if errors:
        print(f"lint: {len(errors)} function(s) too long", file=sys.stderr)
        return 1
    print(f"lint: no function over {FUNC_MAX} lines without a reason")
    return 0


if __name__ == "__main__":
    sys.exit(main())
