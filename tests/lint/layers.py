#!/usr/bin/python3
# SPDX-License-Identifier: AGPL-3.0-or-later
"""Include discipline of the tree (docs/ARCHITECTURE.md, "Layers").

lib/ is in layer folders, bottom up: base, sys (with sandbox/), proto, crypto,
data, svc, login. A file may include headers of its own layer and of lower
ones, never of a higher one. lib/ and sandbox/ never include a handler's
header. A handler includes lib/ headers and its own; the only header it may
take from another handler is that handler's shared engine header (the SMTP
engine of handlers/smtpd/, built into lmtpd). sandbox_int.h is private to
sandbox/.

Usage: layers.py [ROOT]   (default: the repository holding this script)
Prints one line per violation as FILE:LINE: message; exit 1 if any.
"""
import os
import re
import sys

LAYERS = ["base", "sys", "proto", "crypto", "data", "svc", "login"]
RANK = {name: i for i, name in enumerate(LAYERS)}
RANK["sandbox"] = RANK["sys"]
HANDLER_RANK = len(LAYERS)
# Engine headers one handler shares with others: (handler, header) -> users.
SHARED_ENGINES = {("smtpd", "smtp.h"): {"lmtpd", "submitd"}}
PRIVATE = {("sandbox", "sandbox_int.h")}
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"')


def owner(root, path):
    """(kind, name) of a file: ("lib", layer), ("sandbox", ...), ("handler", name)."""
    rel = os.path.relpath(path, root).split(os.sep)
    if rel[0] == "lib" and len(rel) == 3:
        return "lib", rel[1]
    if rel[0] == "lib":
        return "lib", None  # a file outside the layer folders
    if rel[0] == "sandbox":
        return "sandbox", "sandbox"
    if rel[0] == "handlers" and len(rel) == 3:
        return "handler", rel[1]
    return None, None


def rank_of(kind, name):
    if kind == "lib":
        return RANK.get(name)
    if kind == "sandbox":
        return RANK["sandbox"]
    return HANDLER_RANK


def resolve(root, src, target):
    """The file an include names, as a path under root, or None."""
    here = os.path.join(os.path.dirname(src), target)
    if os.path.isfile(here):
        return os.path.normpath(here)
    for d in ("lib", "sandbox"):
        p = os.path.join(root, d, target)
        if os.path.isfile(p):
            return os.path.normpath(p)
    return None


def check_file(root, path, errors):
    kind, name = owner(root, path)
    if kind is None:
        return
    rel = os.path.relpath(path, root)
    if kind == "lib" and name not in RANK:
        errors.append(f"{rel}:1: lib/ files live in a layer folder ({', '.join(LAYERS)})")
        return
    my_rank = rank_of(kind, name)
    with open(path, encoding="utf-8", errors="replace") as f:
        for lineno, line in enumerate(f, 1):
            m = INCLUDE.match(line)
            if not m:
                continue
            target = m.group(1)
            dep = resolve(root, path, target)
            if dep is None:
                errors.append(f"{rel}:{lineno}: \"{target}\" is not a header of this tree")
                continue
            dkind, dname = owner(root, dep)
            drel = os.path.relpath(dep, root)
            if dkind == "handler":
                if kind == "handler" and dname == name:
                    continue
                users = SHARED_ENGINES.get((dname, os.path.basename(dep)), set())
                if kind == "handler" and name in users:
                    continue
                errors.append(f"{rel}:{lineno}: includes {drel}, a header private to handlers/{dname}/")
                continue
            if (dkind, os.path.basename(dep)) in PRIVATE and kind != dkind:
                errors.append(f"{rel}:{lineno}: includes {drel}, private to {dkind}/")
                continue
            drank = rank_of(dkind, dname)
            if drank is None:
                errors.append(f"{rel}:{lineno}: includes {drel}, outside the layer folders")
            elif drank > my_rank:
                errors.append(f"{rel}:{lineno}: includes {drel}: layer {dname} is above "
                              f"{name} (order: {' -> '.join(LAYERS)})")


def main():
    root = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else
                           os.path.join(os.path.dirname(__file__), "..", ".."))
    errors = []
    count = 0
    for top in ("lib", "sandbox", "handlers"):
        for d, _, files in os.walk(os.path.join(root, top)):
            for fn in sorted(files):
                if fn.endswith((".c", ".h")):
                    count += 1
                    check_file(root, os.path.join(d, fn), errors)
    for e in errors:
        print(e)
    if errors:
        print(f"lint: {len(errors)} include(s) break the layering", file=sys.stderr)
        return 1
    print(f"lint: {count} files, includes follow the layers")
    return 0


if __name__ == "__main__":
    sys.exit(main())
