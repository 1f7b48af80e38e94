# SPDX-License-Identifier: AGPL-3.0-or-later
"""Copy a mailbox out of an IMAP server into a maildir, so that a peer
(Dovecot) can be measured on exactly the same messages.

    tomaildir.py PORT USER PASSWORD MAILDIR

Fetches every message of INBOX (UID FETCH 1:* BODY.PEEK[]) from 127.0.0.1
and writes MAILDIR/cur/<n>.bench:2,S files (MAILDIR/new and tmp are made
too). Prints the number of messages written.
"""
import os
import re
import socket
import sys

LIT = re.compile(rb"\{(\d+)\}\r\n$")


def main():
    if len(sys.argv) != 5:
        sys.exit(__doc__)
    port, user, pw, md = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
    for sub in ("cur", "new", "tmp"):
        os.makedirs(os.path.join(md, sub), exist_ok=True)
    s = socket.create_connection(("127.0.0.1", port), timeout=600)
    f = s.makefile("rb", buffering=1 << 16)
    f.readline()

    def run(tag, cmd, on_literal=None):
        s.sendall(f"{tag} {cmd}\r\n".encode())
        while True:
            ln = f.readline()
            if not ln:
                raise EOFError("connection closed")
            m = LIT.search(ln)
            while m:
                data = f.read(int(m.group(1)))
                if on_literal:
                    on_literal(data)
                ln = f.readline()
                m = LIT.search(ln)
            if ln.startswith(tag.encode() + b" "):
                if not ln.startswith(tag.encode() + b" OK"):
                    sys.exit(f"{cmd.split()[0]} failed: {ln!r}")
                return

    count = [0]

    def save(data):
        count[0] += 1
        with open(os.path.join(md, "cur", f"{count[0]}.bench:2,S"), "wb") as out:
            out.write(data)

    run("a", f'LOGIN {user} "{pw}"')
    run("b", "EXAMINE INBOX")
    run("c", "UID FETCH 1:* (BODY.PEEK[])", save)
    run("d", "LOGOUT")
    print(count[0])


if __name__ == "__main__":
    main()
