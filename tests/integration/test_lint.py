# SPDX-License-Identifier: AGPL-3.0-or-later
"""`make lint` (tests/lint/layers.py): the tree passes, and a copy of it with
one include that breaks the layering fails, naming the file and line."""
import os
import shutil
import subprocess
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
LINT = os.path.join(ROOT, "tests", "lint", "layers.py")


def copy_tree(tmp_path):
    for d in ("lib", "sandbox", "handlers"):
        shutil.copytree(os.path.join(ROOT, d), tmp_path / d)
    return tmp_path


def lint(root):
    return subprocess.run([sys.executable, LINT, str(root)], capture_output=True, text=True)


def add_include(path, header):
    text = path.read_text()
    first = text.index("#include")
    path.write_text(text[:first] + f'#include "{header}"\n' + text[first:])


def test_tree_follows_layers():
    r = lint(ROOT)
    assert r.returncode == 0, r.stdout + r.stderr


def test_make_lint_target():
    r = subprocess.run(["make", "-s", "--no-print-directory", "lint"], cwd=ROOT,
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "includes follow the layers" in r.stdout


def test_lower_layer_including_higher_fails(tmp_path):
    root = copy_tree(tmp_path)
    add_include(root / "lib" / "base" / "buf.c", "svc/notify.h")
    r = lint(root)
    assert r.returncode == 1
    assert "lib/base/buf.c:" in r.stdout and "layer svc is above base" in r.stdout


def test_bare_name_of_higher_layer_fails(tmp_path):
    root = copy_tree(tmp_path)
    add_include(root / "lib" / "proto" / "addr.c", "data/store.h")
    r = lint(root)
    assert r.returncode == 1 and "lib/proto/addr.c:" in r.stdout


def test_lib_including_handler_header_fails(tmp_path):
    root = copy_tree(tmp_path)
    add_include(root / "lib" / "login" / "login.c", "../../handlers/imapd/imapd.h")
    r = lint(root)
    assert r.returncode == 1 and "private to handlers/imapd/" in r.stdout


def test_handler_including_other_handlers_private_header_fails(tmp_path):
    root = copy_tree(tmp_path)
    add_include(root / "handlers" / "pop3d" / "front.c", "../imapd/imapd.h")
    r = lint(root)
    assert r.returncode == 1 and "handlers/pop3d/front.c:" in r.stdout


def test_sandbox_internals_stay_in_sandbox(tmp_path):
    root = copy_tree(tmp_path)
    add_include(root / "lib" / "sys" / "conn.c", "sandbox_int.h")
    r = lint(root)
    assert r.returncode == 1 and "private to sandbox/" in r.stdout


def test_file_outside_layer_folders_fails(tmp_path):
    root = copy_tree(tmp_path)
    (root / "lib" / "stray.c").write_text('#include "base/buf.h"\n')
    r = lint(root)
    assert r.returncode == 1 and "lib/stray.c" in r.stdout


FUNCLEN = os.path.join(ROOT, "tests", "lint", "funclen.py")


def long_function(lines, comment=""):
    body = "".join(f"\tx += {i};\n" for i in range(lines))
    return f"{comment}static int f(int x)\n{{\n{body}\treturn x;\n}}\n"


def test_long_function_fails(tmp_path):
    root = copy_tree(tmp_path)
    (root / "lib" / "base" / "long.c").write_text(long_function(130))
    r = subprocess.run([sys.executable, FUNCLEN, str(root)], capture_output=True, text=True)
    assert r.returncode == 1 and "lib/base/long.c:1:" in r.stdout


def test_long_function_with_reason_passes(tmp_path):
    root = copy_tree(tmp_path)
    (root / "lib" / "base" / "long.c").write_text(
        long_function(130, "/* A table of cases. Long: one case per line reads best. */\n"))
    r = subprocess.run([sys.executable, FUNCLEN, str(root)], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout
