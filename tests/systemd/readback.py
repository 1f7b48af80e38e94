#!/usr/bin/python3
# SPDX-License-Identifier: AGPL-3.0-or-later
"""Reads a mailbox back over IMAP or POP3 with the Python standard library
clients and checks that every expected Subject: is there. Used inside the
real-systemd test container (tests/systemd/inside.sh).

    readback.py imap|pop3|submission HOST PORT plain|starttls|tls USER PASSWORD [SUBJECT...]
    readback.py send HOST PORT starttls|tls USER PASSWORD SUBJECT [RCPT...]
    readback.py loginrate HOST PORT plain|tls USER PASSWORD SECS CONC

The password may be given as "-" to read it from stdin (first line).
Exit: 0 all found, 1 something missing or refused, 2 usage. For
"submission" it only checks the greeting, EHLO and TLS (no mail is sent);
"send" logs in and sends one message from USER to USER and every RCPT (exit 0
when every recipient got 250).
"loginrate" runs CONC threads of IMAP connect + LOGIN + LOGOUT for SECS
seconds and prints "logins=N errors=E secs=S logins_per_s=R".
"""
import imaplib
import threading
import time
import poplib
import smtplib
import ssl
import sys
from email.parser import BytesHeaderParser

TIMEOUT = 20


def tls_context():
    # The container's certificate is self-signed, made minutes ago.
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def subject_of(raw):
    return str(BytesHeaderParser().parsebytes(raw).get("Subject", ""))


def imap_subjects(host, port, how, user, password):
    if how == "tls":
        c = imaplib.IMAP4_SSL(host, port, ssl_context=tls_context(), timeout=TIMEOUT)
    else:
        c = imaplib.IMAP4(host, port, timeout=TIMEOUT)
        if how == "starttls":
            c.starttls(ssl_context=tls_context())
    c.login(user, password)
    typ, data = c.select("INBOX", readonly=True)
    if typ != "OK":
        raise RuntimeError("SELECT INBOX failed")
    subjects = []
    if int(data[0]) > 0:
        typ, msg = c.fetch("1:*", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
        if typ != "OK":
            raise RuntimeError(f"FETCH failed: {msg}")
        for part in msg:
            if isinstance(part, tuple):
                subjects.append(subject_of(part[1]))
    c.logout()
    return subjects


def pop3_subjects(host, port, how, user, password):
    if how == "tls":
        c = poplib.POP3_SSL(host, port, context=tls_context(), timeout=TIMEOUT)
    else:
        c = poplib.POP3(host, port, timeout=TIMEOUT)
        if how == "starttls":
            c.stls(context=tls_context())
    c.user(user)
    c.pass_(password)
    count, _ = c.stat()
    subjects = []
    for i in range(1, count + 1):
        _, lines, _ = c.top(i, 0)
        subjects.append(subject_of(b"\r\n".join(lines) + b"\r\n\r\n"))
    c.quit()
    return subjects


def submission_check(host, port, how):
    if how == "tls":
        c = smtplib.SMTP_SSL(host, port, context=tls_context(), timeout=TIMEOUT)
    else:
        c = smtplib.SMTP(host, port, timeout=TIMEOUT)
    code, _ = c.ehlo("client.example.test")
    if code != 250:
        raise RuntimeError(f"EHLO answered {code}")
    if how == "starttls":
        c.starttls(context=tls_context())
        code, _ = c.ehlo("client.example.test")
        if code != 250:
            raise RuntimeError(f"EHLO after STARTTLS answered {code}")
    c.quit()


def login_rate(host, port, how, user, password, secs, conc):
    counts = {"ok": 0, "err": 0}
    lock = threading.Lock()
    deadline = time.monotonic() + secs

    def worker():
        while time.monotonic() < deadline:
            try:
                if how == "tls":
                    c = imaplib.IMAP4_SSL(host, port, ssl_context=tls_context(), timeout=TIMEOUT)
                else:
                    c = imaplib.IMAP4(host, port, timeout=TIMEOUT)
                c.login(user, password)
                c.logout()
                key = "ok"
            except (OSError, imaplib.IMAP4.error):
                key = "err"
            with lock:
                counts[key] += 1

    start = time.monotonic()
    threads = [threading.Thread(target=worker) for _ in range(conc)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    el = time.monotonic() - start
    print(f"logins={counts['ok']} errors={counts['err']} secs={el:.2f} "
          f"logins_per_s={counts['ok'] / el:.1f}")
    return 0 if counts["ok"] > 0 else 1


def submission_send(host, port, how, user, password, subject, rcpts):
    if how == "tls":
        c = smtplib.SMTP_SSL(host, port, context=tls_context(), timeout=TIMEOUT)
    else:
        c = smtplib.SMTP(host, port, timeout=TIMEOUT)
        c.starttls(context=tls_context())
    c.login(user, password)
    msg = (f"From: <{user}>\r\nTo: <{user}>\r\nSubject: {subject}\r\n\r\n"
           "Sent through submission.\r\n")
    refused = c.sendmail(user, [user] + rcpts, msg)
    c.quit()
    if refused:
        raise RuntimeError(f"refused: {refused}")


def main(argv):
    if len(argv) < 7 or argv[1] not in ("imap", "pop3", "submission", "send", "loginrate"):
        print(__doc__, file=sys.stderr)
        return 2
    proto, host, port, how, user, password = argv[1:7]
    if password == "-":
        password = sys.stdin.readline().rstrip("\r\n")
    if proto == "loginrate":
        if len(argv) != 9:
            print(__doc__, file=sys.stderr)
            return 2
        return login_rate(host, int(port), how, user, password, float(argv[7]), int(argv[8]))
    want = argv[7:]
    try:
        if proto == "send":
            if not want:
                print(__doc__, file=sys.stderr)
                return 2
            submission_send(host, int(port), how, user, password, want[0], want[1:])
            print(f"{proto} {how} on {port}: {want[0]} accepted for {1 + len(want) - 1} recipient(s)")
            return 0
        if proto == "submission":
            submission_check(host, int(port), how)
            print(f"{proto} {how} on {port}: greeting and EHLO ok")
            return 0
        if proto == "imap":
            got = imap_subjects(host, int(port), how, user, password)
        else:
            got = pop3_subjects(host, int(port), how, user, password)
    except (OSError, imaplib.IMAP4.error, poplib.error_proto, smtplib.SMTPException,
            RuntimeError) as e:
        print(f"{proto} {how} on {port}: {type(e).__name__}: {e}")
        return 1
    missing = [s for s in want if s not in got]
    print(f"{proto} {how} on {port}: {len(got)} messages; missing: {missing or 'none'}")
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
