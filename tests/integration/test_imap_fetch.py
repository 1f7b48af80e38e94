# SPDX-License-Identifier: AGPL-3.0-or-later
"""IMAP FETCH and STORE (RFC 3501 sections 6.4.5, 6.4.6, 7.4.2; RFC 7162) against
the real imapd, driven with imaplib. Messages reach the mailbox through the
sealed spool (sealed with the real `age` tool), so their bytes are exactly the
bytes written here, and the spool name fixes INTERNALDATE. Responses are
compared byte for byte (literals included) through imaplib's connection."""
import imaplib
import os
import re
import subprocess
import time

import pytest

from harness import wait_until as harness_wait

USER = "demo@example.test"
BASE_US = 1795000000 * 1000000  # 2026-11-18 11:06:40 UTC


# ---- the corpus -------------------------------------------------------------

def lines(b):
    return b.count(b"\n")


def multipart(boundary, parts, preamble=b"", epilogue=b""):
    """A multipart body: parts are (MIME header bytes, body bytes); a part's
    body ends before the CRLF that precedes the next boundary (RFC 2046
    section 5.1.1)."""
    out = preamble
    for hdr, body in parts:
        out += b"--" + boundary + b"\r\n" + hdr + b"\r\n" + body + b"\r\n"
    return out + b"--" + boundary + b"--\r\n" + epilogue


PLAIN_HDR = (b"Date: Tue, 03 Nov 2026 09:15:00 +0100\r\n"
             b"From: Alice Example <alice@example.org>\r\n"
             b"To: demo@example.test, \"Bob B.\" <bob@example.net>\r\n"
             b"Cc: carol@example.com\r\n"
             b"Subject: Lunch plans\r\n"
             b"X-Long: first part\r\n of a folded field\r\n"
             b"Message-ID: <plain-1@example.org>\r\n"
             b"In-Reply-To: <prev@example.org>\r\n"
             b"\r\n")
PLAIN_BODY = b"See you at noon.\r\nSecond line.\r\n"
PLAIN = PLAIN_HDR + PLAIN_BODY
PLAIN_ENV = (b'("Tue, 03 Nov 2026 09:15:00 +0100" "Lunch plans" '
             b'(("Alice Example" NIL "alice" "example.org")) '
             b'(("Alice Example" NIL "alice" "example.org")) '
             b'(("Alice Example" NIL "alice" "example.org")) '
             b'((NIL NIL "demo" "example.test")("Bob B." NIL "bob" "example.net")) '
             b'((NIL NIL "carol" "example.com")) NIL "<prev@example.org>" '
             b'"<plain-1@example.org>")')
PLAIN_BS = (b'("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" %d %d NIL NIL NIL NIL)'
            % (len(PLAIN_BODY), lines(PLAIN_BODY)))
PLAIN_BODY_NX = (b'("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" %d %d)'
                 % (len(PLAIN_BODY), lines(PLAIN_BODY)))

ALT_TXT = b"Plain version\r\nof the text"
ALT_HTML = b"<p>HTML=20version</p>"
ALT_BODY = multipart(b"alt-1", [
    (b"Content-Type: text/plain; charset=utf-8\r\n", ALT_TXT),
    (b"Content-Type: text/html; charset=utf-8\r\n"
     b"Content-Transfer-Encoding: quoted-printable\r\n", ALT_HTML),
], preamble=b"This is a multi-part message in MIME format.\r\n")
ALT = (b"From: b@example.org\r\nSubject: alternative\r\nMIME-Version: 1.0\r\n"
       b"Content-Type: multipart/alternative; boundary=\"alt-1\"\r\n\r\n" + ALT_BODY)
ALT_BS = (b'(("text" "plain" ("charset" "utf-8") NIL NIL "7bit" %d %d NIL NIL NIL NIL)'
          b'("text" "html" ("charset" "utf-8") NIL NIL "quoted-printable" %d %d NIL NIL NIL NIL)'
          b' "alternative" ("boundary" "alt-1") NIL NIL NIL)'
          % (len(ALT_TXT), lines(ALT_TXT), len(ALT_HTML), lines(ALT_HTML)))

PDF = bytes(range(256)) * 3
PDF_B64 = b"\r\n".join(__import__("base64").encodebytes(PDF).splitlines())
NEST_INNER = multipart(b"inner", [
    (b"Content-Type: text/plain\r\n", b"inner plain"),
    (b"Content-Type: text/html\r\n", b"<i>inner html</i>"),
])
NEST_ATT_HDR = (b"Content-Type: application/pdf; name=\"report.pdf\"\r\n"
                b"Content-Transfer-Encoding: base64\r\n"
                b"Content-Disposition: attachment; filename=\"report.pdf\"\r\n")
NEST_BODY = multipart(b"outer", [
    (b"Content-Type: multipart/alternative; boundary=inner\r\n", NEST_INNER),
    (NEST_ATT_HDR, PDF_B64),
])
NESTED = (b"From: c@example.org\r\nSubject: nested\r\nMIME-Version: 1.0\r\n"
          b"Content-Type: multipart/mixed; boundary=outer\r\n\r\n" + NEST_BODY)
NESTED_BS = (b'((("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 11 0 NIL NIL NIL NIL)'
             b'("text" "html" ("charset" "us-ascii") NIL NIL "7bit" 17 0 NIL NIL NIL NIL)'
             b' "alternative" ("boundary" "inner") NIL NIL NIL)'
             b'("application" "pdf" ("name" "report.pdf") NIL NIL "base64" %d NIL '
             b'("attachment" ("filename" "report.pdf")) NIL NIL)'
             b' "mixed" ("boundary" "outer") NIL NIL NIL)' % len(PDF_B64))

INNER_MSG = (b"From: inner@example.org\r\nSubject: forwarded\r\n"
             b"Date: Mon, 02 Nov 2026 08:00:00 +0000\r\n\r\nInner body\r\n")
INNER_ENV = (b'("Mon, 02 Nov 2026 08:00:00 +0000" "forwarded" '
             b'((NIL NIL "inner" "example.org")) ((NIL NIL "inner" "example.org")) '
             b'((NIL NIL "inner" "example.org")) NIL NIL NIL NIL NIL)')
FWD_NOTE = b"See the forwarded message."
FWD_BODY = multipart(b"fwd", [
    (b"Content-Type: text/plain\r\n", FWD_NOTE),
    (b"Content-Type: message/rfc822\r\n", INNER_MSG),
])
RFC822 = (b"From: d@example.org\r\nSubject: fwd\r\nMIME-Version: 1.0\r\n"
          b"Content-Type: multipart/mixed; boundary=fwd\r\n\r\n" + FWD_BODY)
RFC822_BS = (b'(("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" %d 0 NIL NIL NIL NIL)'
             b'("message" "rfc822" NIL NIL NIL "7bit" %d %s '
             b'("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 12 1 NIL NIL NIL NIL) %d '
             b'NIL NIL NIL NIL) "mixed" ("boundary" "fwd") NIL NIL NIL)'
             % (len(FWD_NOTE), len(INNER_MSG), INNER_ENV, lines(INNER_MSG)))

ENCODED = (b"From: =?ISO-8859-1?Q?Andr=E9?= <andre@example.org>\r\n"
           b"Subject: =?UTF-8?B?w6lsw6h2ZQ==?=\r\n"
           b"To: team: x@example.org, y@example.org;\r\n"
           b"\r\nbody\r\n")
ENCODED_ENV = (b'(NIL "=?UTF-8?B?w6lsw6h2ZQ==?=" '
               b'(("=?ISO-8859-1?Q?Andr=E9?=" NIL "andre" "example.org")) '
               b'(("=?ISO-8859-1?Q?Andr=E9?=" NIL "andre" "example.org")) '
               b'(("=?ISO-8859-1?Q?Andr=E9?=" NIL "andre" "example.org")) '
               b'((NIL NIL "team" NIL)(NIL NIL "x" "example.org")(NIL NIL "y" "example.org")'
               b'(NIL NIL NIL NIL)) NIL NIL NIL NIL)')

# Malformed: the closing boundary never comes, so the last part runs to the
# end of the message (RFC 2046 section 5.1.1 fallback, as Dovecot reads it).
BROKEN_LAST = b"unterminated part\r\nstill going\r\n"
BROKEN = (b"From: e@example.org\r\nSubject: broken\r\nMIME-Version: 1.0\r\n"
          b"Content-Type: multipart/mixed; boundary=zz\r\n\r\n"
          b"--zz\r\nContent-Type: text/plain\r\n\r\nfirst\r\n"
          b"--zz\r\nContent-Type: text/plain\r\n\r\n" + BROKEN_LAST)

QUOTE = (b"From: f@example.org\r\nSubject: say \"hi\"\r\n\r\nx\x00y\r\n")

CORPUS = [PLAIN, ALT, NESTED, RFC822, ENCODED, BROKEN, QUOTE]
(N_PLAIN, N_ALT, N_NESTED, N_RFC822, N_ENCODED, N_BROKEN, N_QUOTE) = range(1, 8)


# ---- plumbing --------------------------------------------------------------

def deliver(inst, data, ts_us):
    """Seal data with the real age tool into spool/new, as the MX does; the
    spool name's timestamp becomes INTERNALDATE."""
    rcpt = inst.sealctl("user", "recipient", USER).stdout.strip()
    path = os.path.join(inst.user_dir(USER), "spool", "new", f"{ts_us}.{os.urandom(8).hex()}")
    subprocess.run(["age", "-r", rcpt, "-o", path], input=data, check=True)


class Session:
    """imaplib for connecting and logging in; commands and their responses
    byte for byte through imaplib's own send/readline/read."""

    def __init__(self, port, password):
        self.c = imaplib.IMAP4("127.0.0.1", port)
        self.c.login(USER, password)
        self.n = 0

    def cmd(self, line):
        """Send one command; return (untagged responses with their literals,
        tagged line), both as bytes without the final CRLF of the tagged."""
        self.n += 1
        tag = b"T%d" % self.n
        self.c.send(tag + b" " + (line.encode() if isinstance(line, str) else line) + b"\r\n")
        untagged = []
        while True:
            resp = self.c.readline()
            while True:
                m = re.search(rb"\{(\d+)\}\r\n$", resp)
                if not m:
                    break
                resp += self.c.read(int(m.group(1)))
                resp += self.c.readline()
            if resp.startswith(tag + b" "):
                return untagged, resp[len(tag) + 1:].rstrip(b"\r\n")
            untagged.append(resp)

    def ok(self, line):
        untagged, tagged = self.cmd(line)
        assert tagged.startswith(b"OK"), (line, untagged, tagged)
        return untagged

    def close(self):
        try:
            self.c.logout()
        except Exception:
            pass


def descendants(pid):
    """PIDs of the processes below pid (the handlers a listener spawned)."""
    found, todo = [], [pid]
    while todo:
        p = todo.pop()
        try:
            for t in os.listdir("/proc/%d/task" % p):
                with open("/proc/%d/task/%s/children" % (p, t)) as f:
                    kids = [int(c) for c in f.read().split()]
                found += kids
                todo += kids
        except OSError:
            pass
    return found


def sanitizer_reports(inst):
    """Under `make SAN=1` the handlers report to their log: any report is a
    failure of the test that caused it. The handlers of logged-out sessions
    are let finish first: LeakSanitizer reports at exit."""
    harness_wait(lambda: not any(descendants(p.pid) for p in inst.procs), timeout=30,
                 what="handlers to exit")
    inst.stop()
    log = inst.log_text()
    return [log[max(0, log.index(m) - 200):][:2000]
            for m in ("runtime error:", "AddressSanitizer", "LeakSanitizer") if m in log]


@pytest.fixture
def fresh(inst):
    """An instance for one test, checked for sanitizer reports afterwards."""
    yield inst
    reports = sanitizer_reports(inst)
    assert not reports, reports[0]


@pytest.fixture
def mbx(inst):
    """An instance with the corpus in INBOX and imapd started."""
    inst.setup_domain()
    inst.password = inst.add_user(USER)
    for i, m in enumerate(CORPUS):
        deliver(inst, m, BASE_US + i * 1000000)
    inst.port = inst.start("imapd")
    inst.sessions = []

    def session(select="SELECT INBOX"):
        s = Session(inst.port, inst.password)
        inst.sessions.append(s)
        s.select_resp = s.ok(select) if select else []
        return s
    inst.session = session
    yield inst
    for s in inst.sessions:
        s.close()
    reports = sanitizer_reports(inst)
    assert not reports, reports[0]


def idate(i):
    t = time.localtime(BASE_US // 1000000 + i)
    off = t.tm_gmtoff // 60
    sign = "-" if off < 0 else "+"
    off = abs(off)
    return time.strftime("%d-%b-%Y %H:%M:%S", t) + " %s%02d%02d" % (sign, off // 60, off % 60)


def fetch1(s, line):
    """The single untagged response of a FETCH expected to return one."""
    untagged = s.ok(line)
    assert len(untagged) == 1, untagged
    return untagged[0]


def lit(b):
    return b"{%d}\r\n" % len(b) + b


# ---- simple items ----------------------------------------------------------

def test_flags_internaldate_size_uid(mbx):
    s = mbx.session()
    got = fetch1(s, "FETCH 1 (FLAGS INTERNALDATE RFC822.SIZE UID)")
    assert got == (b'* 1 FETCH (FLAGS (\\Recent) INTERNALDATE "%s" RFC822.SIZE %d UID 1)\r\n'
                   % (idate(0).encode(), len(PLAIN)))


def test_internaldate_of_each_message_follows_the_spool_name(mbx):
    s = mbx.session()
    untagged = s.ok("FETCH 1:* INTERNALDATE")
    assert untagged == [b'* %d FETCH (INTERNALDATE "%s")\r\n' % (i + 1, idate(i).encode())
                        for i in range(len(CORPUS))]


def test_envelope_plain(mbx):
    s = mbx.session()
    assert fetch1(s, "FETCH 1 ENVELOPE") == b"* 1 FETCH (ENVELOPE %s)\r\n" % PLAIN_ENV


def test_envelope_keeps_encoded_words_and_groups(mbx):
    s = mbx.session()
    assert fetch1(s, "FETCH %d ENVELOPE" % N_ENCODED) == \
        b"* %d FETCH (ENVELOPE %s)\r\n" % (N_ENCODED, ENCODED_ENV)


def test_envelope_with_a_quote_is_sent_as_a_literal(mbx):
    s = mbx.session()
    got = fetch1(s, "FETCH %d ENVELOPE" % N_QUOTE)
    assert got.startswith(b'* %d FETCH (ENVELOPE (NIL {8}\r\nsay "hi" ((NIL NIL "f"' % N_QUOTE)


def test_bodystructure_plain(mbx):
    s = mbx.session()
    assert fetch1(s, "FETCH 1 BODYSTRUCTURE") == b"* 1 FETCH (BODYSTRUCTURE %s)\r\n" % PLAIN_BS


def test_body_without_section_is_the_non_extensible_form(mbx):
    s = mbx.session()
    assert fetch1(s, "FETCH 1 BODY") == b"* 1 FETCH (BODY %s)\r\n" % PLAIN_BODY_NX


def test_bodystructure_alternative(mbx):
    s = mbx.session()
    assert fetch1(s, "FETCH %d BODYSTRUCTURE" % N_ALT) == \
        b"* %d FETCH (BODYSTRUCTURE %s)\r\n" % (N_ALT, ALT_BS)


def test_bodystructure_nested_with_attachment(mbx):
    s = mbx.session()
    assert fetch1(s, "FETCH %d BODYSTRUCTURE" % N_NESTED) == \
        b"* %d FETCH (BODYSTRUCTURE %s)\r\n" % (N_NESTED, NESTED_BS)


def test_bodystructure_message_rfc822(mbx):
    s = mbx.session()
    assert fetch1(s, "FETCH %d BODYSTRUCTURE" % N_RFC822) == \
        b"* %d FETCH (BODYSTRUCTURE %s)\r\n" % (N_RFC822, RFC822_BS)


def test_bodystructure_is_stable_across_sessions(mbx):
    """The second session reads what the first one cached."""
    s = mbx.session()
    first = s.ok("FETCH 1:* (BODYSTRUCTURE ENVELOPE BODY)")
    s.close()
    s2 = mbx.session()
    assert s2.ok("FETCH 1:* (BODYSTRUCTURE ENVELOPE BODY)") == first


def test_macros_all_fast_full(mbx):
    s = mbx.session()
    head = b'* 1 FETCH (FLAGS (\\Recent) INTERNALDATE "%s" RFC822.SIZE %d' % (
        idate(0).encode(), len(PLAIN))
    assert fetch1(s, "FETCH 1 FAST") == head + b")\r\n"
    assert fetch1(s, "FETCH 1 ALL") == head + b" ENVELOPE %s)\r\n" % PLAIN_ENV
    assert fetch1(s, "FETCH 1 FULL") == head + b" ENVELOPE %s BODY %s)\r\n" % (
        PLAIN_ENV, PLAIN_BODY_NX)


def test_uid_fetch_always_includes_uid(mbx):
    s = mbx.session()
    assert fetch1(s, "UID FETCH 2 RFC822.SIZE") == b"* 2 FETCH (UID 2 RFC822.SIZE %d)\r\n" % len(ALT)


def test_duplicate_items_are_sent_once(mbx):
    s = mbx.session()
    assert fetch1(s, "FETCH 1 (UID UID RFC822.SIZE UID)") == \
        b"* 1 FETCH (UID 1 RFC822.SIZE %d)\r\n" % len(PLAIN)


# ---- bodies and sections ---------------------------------------------------

def test_rfc822_is_the_exact_message_and_sets_seen(mbx):
    s = mbx.session()
    assert fetch1(s, "FETCH 1 RFC822") == \
        b"* 1 FETCH (RFC822 %s FLAGS (\\Seen \\Recent))\r\n" % lit(PLAIN)


def test_rfc822_header_and_text(mbx):
    s = mbx.session()
    assert fetch1(s, "FETCH 1 (RFC822.HEADER)") == b"* 1 FETCH (RFC822.HEADER %s)\r\n" % lit(PLAIN_HDR)
    assert fetch1(s, "FETCH 1 (RFC822.TEXT)") == \
        b"* 1 FETCH (RFC822.TEXT %s FLAGS (\\Seen \\Recent))\r\n" % lit(PLAIN_BODY)


def test_body_peek_whole_header_text(mbx):
    s = mbx.session()
    assert fetch1(s, "FETCH 1 (BODY.PEEK[] BODY.PEEK[HEADER] BODY.PEEK[TEXT])") == (
        b"* 1 FETCH (BODY[] %s BODY[HEADER] %s BODY[TEXT] %s)\r\n"
        % (lit(PLAIN), lit(PLAIN_HDR), lit(PLAIN_BODY)))


def test_header_fields_keep_folding_and_end_with_empty_line(mbx):
    s = mbx.session()
    want = b"Subject: Lunch plans\r\nX-Long: first part\r\n of a folded field\r\n\r\n"
    assert fetch1(s, "FETCH 1 BODY.PEEK[HEADER.FIELDS (x-long SUBJECT)]") == (
        b"* 1 FETCH (BODY[HEADER.FIELDS (x-long SUBJECT)] %s)\r\n" % lit(want))


def test_header_fields_not(mbx):
    s = mbx.session()
    want = b"".join(l + b"\r\n" for l in PLAIN_HDR.split(b"\r\n")
                    if l and not l.startswith((b"X-Long", b" of", b"Date", b"Cc", b"Message")))
    want += b"\r\n"
    assert fetch1(s, "FETCH 1 BODY.PEEK[HEADER.FIELDS.NOT (X-Long Date cc Message-ID)]") == (
        b"* 1 FETCH (BODY[HEADER.FIELDS.NOT (X-Long Date cc Message-ID)] %s)\r\n" % lit(want))


def test_header_fields_without_match_is_the_empty_line(mbx):
    s = mbx.session()
    assert fetch1(s, "FETCH 1 BODY.PEEK[HEADER.FIELDS (X-None)]") == \
        b"* 1 FETCH (BODY[HEADER.FIELDS (X-None)] {2}\r\n\r\n)\r\n"


def test_part_one_of_a_single_part_message_is_its_body(mbx):
    s = mbx.session()
    assert fetch1(s, "FETCH 1 (BODY.PEEK[1] BODY.PEEK[1.MIME])") == (
        b"* 1 FETCH (BODY[1] %s BODY[1.MIME] %s)\r\n" % (lit(PLAIN_BODY), lit(PLAIN_HDR)))


def test_parts_of_alternative(mbx):
    s = mbx.session()
    assert fetch1(s, "FETCH %d (BODY.PEEK[1] BODY.PEEK[2] BODY.PEEK[2.MIME])" % N_ALT) == (
        b"* %d FETCH (BODY[1] %s BODY[2] %s BODY[2.MIME] %s)\r\n" % (
            N_ALT, lit(ALT_TXT), lit(ALT_HTML),
            lit(b"Content-Type: text/html; charset=utf-8\r\n"
                b"Content-Transfer-Encoding: quoted-printable\r\n\r\n")))


def test_root_text_of_multipart_includes_preamble_and_boundaries(mbx):
    s = mbx.session()
    assert fetch1(s, "FETCH %d BODY.PEEK[TEXT]" % N_ALT) == \
        b"* %d FETCH (BODY[TEXT] %s)\r\n" % (N_ALT, lit(ALT_BODY))


def test_nested_part_numbers(mbx):
    s = mbx.session()
    assert fetch1(s, "FETCH %d (BODY.PEEK[1.1] BODY.PEEK[1.2] BODY.PEEK[1] BODY.PEEK[2])"
                  % N_NESTED) == (
        b"* %d FETCH (BODY[1.1] %s BODY[1.2] %s BODY[1] %s BODY[2] %s)\r\n"
        % (N_NESTED, lit(b"inner plain"), lit(b"<i>inner html</i>"), lit(NEST_INNER),
           lit(PDF_B64)))


def test_message_rfc822_part_header_text_and_inner_part(mbx):
    s = mbx.session()
    ihdr, ibody = INNER_MSG.split(b"\r\n\r\n", 1)
    ihdr += b"\r\n\r\n"
    got = fetch1(s, "FETCH %d (BODY.PEEK[2] BODY.PEEK[2.HEADER] BODY.PEEK[2.TEXT] "
                 "BODY.PEEK[2.1] BODY.PEEK[2.HEADER.FIELDS (Subject)] BODY.PEEK[2.MIME])"
                 % N_RFC822)
    assert got == (
        b"* %d FETCH (BODY[2] %s BODY[2.HEADER] %s BODY[2.TEXT] %s BODY[2.1] %s "
        b"BODY[2.HEADER.FIELDS (Subject)] %s BODY[2.MIME] %s)\r\n"
        % (N_RFC822, lit(INNER_MSG), lit(ihdr), lit(ibody), lit(ibody),
           lit(b"Subject: forwarded\r\n\r\n"), lit(b"Content-Type: message/rfc822\r\n\r\n")))


def test_header_of_a_part_that_is_not_a_message_is_empty(mbx):
    s = mbx.session()
    assert fetch1(s, "FETCH %d (BODY.PEEK[1.HEADER] BODY.PEEK[1.TEXT])" % N_RFC822) == \
        b"* %d FETCH (BODY[1.HEADER] {0}\r\n BODY[1.TEXT] {0}\r\n)\r\n" % N_RFC822


def test_nonexistent_part_is_empty_as_dovecot_answers(mbx):
    s = mbx.session()
    assert fetch1(s, "FETCH %d (BODY.PEEK[3] BODY.PEEK[2.5] BODY.PEEK[9.MIME])" % N_ALT) == (
        b"* %d FETCH (BODY[3] {0}\r\n BODY[2.5] {0}\r\n BODY[9.MIME] {0}\r\n)\r\n" % N_ALT)


def test_malformed_multipart_last_part_runs_to_the_end(mbx):
    s = mbx.session()
    got = fetch1(s, "FETCH %d (BODY.PEEK[1] BODY.PEEK[2])" % N_BROKEN)
    assert got == b"* %d FETCH (BODY[1] %s BODY[2] %s)\r\n" % (
        N_BROKEN, lit(b"first"), lit(BROKEN_LAST))
    untagged = s.ok("FETCH %d (BODYSTRUCTURE ENVELOPE BODY)" % N_BROKEN)
    assert len(untagged) == 1 and untagged[0].startswith(b"* %d FETCH (BODYSTRUCTURE ((" % N_BROKEN)


def test_nul_in_a_literal_becomes_0x80(mbx):
    s = mbx.session()
    assert fetch1(s, "FETCH %d BODY.PEEK[TEXT]" % N_QUOTE) == \
        b"* %d FETCH (BODY[TEXT] {5}\r\nx\x80y\r\n)\r\n" % N_QUOTE


def test_binary_decodes_base64(mbx):
    s = mbx.session()
    assert fetch1(s, "FETCH %d (BINARY.PEEK[2] BINARY.SIZE[2])" % N_NESTED) == (
        b"* %d FETCH (BINARY[2] ~{%d}\r\n%s BINARY.SIZE[2] %d)\r\n"
        % (N_NESTED, len(PDF), PDF, len(PDF)))


def test_binary_decodes_quoted_printable(mbx):
    s = mbx.session()
    assert fetch1(s, "FETCH %d BINARY.PEEK[2]" % N_ALT) == \
        b"* %d FETCH (BINARY[2] {19}\r\n<p>HTML version</p>)\r\n" % N_ALT


def test_binary_partial_is_a_literal8_only_when_its_window_holds_nul(mbx):
    """The PDF part decodes to bytes with NUL at 0, 256 and 512: a window is
    a literal8 (RFC 3516 section 4.2) exactly when it holds a NUL, also when
    NULs lie on both sides of it and none inside."""
    s = mbx.session()
    for origin, length in ((1, 100), (1, 300), (300, 200), (250, 10), (513, 10000), (0, 1)):
        part = PDF[origin:origin + length]
        tilde = b"~" if b"\0" in part else b""
        assert fetch1(s, "FETCH %d BINARY.PEEK[2]<%d.%d>" % (N_NESTED, origin, length)) == (
            b"* %d FETCH (BINARY[2]<%d> %s{%d}\r\n%s)\r\n"
            % (N_NESTED, origin, tilde, len(part), part))


def test_binary_repeated_items_give_the_same_bytes(mbx):
    s = mbx.session()
    one = b"BINARY[2] ~{%d}\r\n%s" % (len(PDF), PDF)
    assert fetch1(s, "FETCH %d (BINARY.PEEK[2] BINARY.SIZE[2] BINARY.PEEK[2] BINARY.PEEK[2]<5.3>)"
                  % N_NESTED) == (b"* %d FETCH (%s BINARY.SIZE[2] %d %s BINARY[2]<5> {3}\r\n%s)\r\n"
                                  % (N_NESTED, one, len(PDF), one, PDF[5:8]))


def test_binary_of_the_whole_message_is_its_header_and_decoded_body(fresh):
    """BINARY[] (RFC 3516 section 4.2): the header as it is and the body
    decoded; bodies larger than a chunk, decoded piece by piece, give the
    bytes a one-shot decoder gives."""
    import base64
    fresh.setup_domain()
    pw = fresh.add_user(USER)
    data = bytes((i * 7 + (i >> 9)) & 0xFF for i in range(300000))
    hdr64 = (b"Subject: b64\r\nContent-Type: application/octet-stream\r\n"
             b"Content-Transfer-Encoding: base64\r\n\r\n")
    deliver(fresh, hdr64 + base64.encodebytes(data).replace(b"\n", b"\r\n"), BASE_US)
    qp_line = b"line=3D" + b"x" * 60 + b"=\r\n"
    hdrqp = (b"Subject: qp\r\nContent-Type: text/plain\r\n"
             b"Content-Transfer-Encoding: quoted-printable\r\n\r\n")
    deliver(fresh, hdrqp + qp_line * 3000 + b"end\r\n", BASE_US + 1000000)
    s = Session(fresh.start("imapd"), pw)
    try:
        s.ok("EXAMINE INBOX")
        got = fetch1(s, "FETCH 1 (BINARY.PEEK[] BINARY.PEEK[]<70000.5>)")
        whole = hdr64 + data
        assert got == b"* 1 FETCH (BINARY[] ~{%d}\r\n%s BINARY[]<70000> %s)\r\n" % (
            len(whole), whole, lit(whole[70000:70005]) if b"\0" not in whole[70000:70005]
            else b"~" + lit(whole[70000:70005]))
        want = (b"line=" + b"x" * 60) * 3000 + b"end\r\n"
        assert fetch1(s, "FETCH 2 (BINARY.SIZE[1] BINARY.PEEK[1])") == (
            b"* 2 FETCH (BINARY.SIZE[1] %d BINARY[1] %s)\r\n" % (len(want), lit(want)))
    finally:
        s.close()


def test_binary_quoted_printable_soft_breaks_and_trailing_space(fresh):
    fresh.setup_domain()
    pw = fresh.add_user(USER)
    body = b"caf=C3=A9 au lait   \r\nsoft=\r\nbreak =3D done=\r\n"
    deliver(fresh, b"Subject: qp\r\nContent-Type: text/plain; charset=utf-8\r\n"
            b"Content-Transfer-Encoding: quoted-printable\r\n\r\n" + body, BASE_US)
    s = Session(fresh.start("imapd"), pw)
    try:
        s.ok("EXAMINE INBOX")
        want = "café au lait\r\nsoftbreak = done".encode()
        assert fetch1(s, "FETCH 1 (BINARY.SIZE[1] BINARY.PEEK[1] BINARY.PEEK[1]<3.4>)") == (
            b"* 1 FETCH (BINARY.SIZE[1] %d BINARY[1] %s BINARY[1]<3> %s)\r\n"
            % (len(want), lit(want), lit(want[3:7])))
    finally:
        s.close()


def test_binary_unknown_encoding_is_refused(fresh):
    fresh.setup_domain()
    pw = fresh.add_user(USER)
    deliver(fresh, b"Subject: x\r\nContent-Transfer-Encoding: x-uuencode\r\n\r\nbegin\r\n",
            BASE_US)
    s = Session(fresh.start("imapd"), pw)
    try:
        s.ok("EXAMINE INBOX")
        untagged, tagged = s.cmd("FETCH 1 BINARY.PEEK[1]")
        assert untagged == [] and tagged.startswith(b"NO [UNKNOWN-CTE]")
        assert fetch1(s, "FETCH 1 BODY.PEEK[1]") == b"* 1 FETCH (BODY[1] {7}\r\nbegin\r\n)\r\n"
    finally:
        s.close()


# ---- partial fetches -------------------------------------------------------

def test_partial_names_the_origin(mbx):
    s = mbx.session()
    assert fetch1(s, "FETCH 1 BODY.PEEK[]<6.10>") == b"* 1 FETCH (BODY[]<6> %s)\r\n" % lit(PLAIN[6:16])


def test_partial_of_a_part_and_of_header_fields(mbx):
    s = mbx.session()
    hf = b"Subject: Lunch plans\r\n\r\n"
    assert fetch1(s, "FETCH 1 (BODY.PEEK[1]<4.5> BODY.PEEK[HEADER.FIELDS (Subject)]<9.100>)") == (
        b"* 1 FETCH (BODY[1]<4> %s BODY[HEADER.FIELDS (Subject)]<9> %s)\r\n"
        % (lit(PLAIN_BODY[4:9]), lit(hf[9:])))


def test_partial_past_the_end_is_empty(mbx):
    s = mbx.session()
    assert fetch1(s, "FETCH 1 BODY.PEEK[TEXT]<4294967295.4294967295>") == \
        b"* 1 FETCH (BODY[TEXT]<4294967295> {0}\r\n)\r\n"


def test_partial_longer_than_the_rest(mbx):
    s = mbx.session()
    assert fetch1(s, "FETCH 1 BODY.PEEK[]<%d.1000>" % (len(PLAIN) - 3)) == \
        b"* 1 FETCH (BODY[]<%d> %s)\r\n" % (len(PLAIN) - 3, lit(PLAIN[-3:]))


# ---- \Seen -----------------------------------------------------------------

def test_peek_does_not_set_seen(mbx):
    s = mbx.session()
    s.ok("FETCH 1 (BODY.PEEK[] BODY.PEEK[1] BINARY.PEEK[1] RFC822.HEADER)")
    assert fetch1(s, "FETCH 1 FLAGS") == b"* 1 FETCH (FLAGS (\\Recent))\r\n"


def test_body_section_sets_seen_once(mbx):
    s = mbx.session()
    assert fetch1(s, "FETCH 2 BODY[1]") == \
        b"* 2 FETCH (BODY[1] %s FLAGS (\\Seen \\Recent))\r\n" % lit(ALT_TXT)
    # Already seen: no FLAGS the second time.
    assert fetch1(s, "FETCH 2 BODY[1]") == b"* 2 FETCH (BODY[1] %s)\r\n" % lit(ALT_TXT)


def test_seen_with_condstore_carries_uid_and_modseq(mbx):
    s = mbx.session("SELECT INBOX (CONDSTORE)")
    got = fetch1(s, "FETCH 1 BODY[HEADER.FIELDS (Subject)]")
    m = re.fullmatch(rb"\* 1 FETCH \(BODY\[HEADER.FIELDS \(Subject\)\] \{24\}\r\n"
                     rb"Subject: Lunch plans\r\n\r\n FLAGS \(\\Seen \\Recent\) UID 1 "
                     rb"MODSEQ \((\d+)\)\)\r\n", got)
    assert m, got
    assert fetch1(s, "FETCH 1 MODSEQ") == b"* 1 FETCH (MODSEQ (%s))\r\n" % m.group(1)


def test_examine_never_sets_seen(mbx):
    s = mbx.session("EXAMINE INBOX")
    assert fetch1(s, "FETCH 1 (BODY[] RFC822.TEXT)") == (
        b"* 1 FETCH (BODY[] %s RFC822.TEXT %s)\r\n" % (lit(PLAIN), lit(PLAIN_BODY)))
    assert b"\\Seen" not in fetch1(s, "FETCH 1 FLAGS")


def test_implicit_seen_is_seen_by_another_session(mbx):
    a = mbx.session()
    b = mbx.session()
    a.ok("FETCH 3 RFC822.TEXT")
    assert b.ok("NOOP") == [b"* 3 FETCH (FLAGS (\\Seen))\r\n"]


# ---- CONDSTORE / QRESYNC ---------------------------------------------------

def highestmodseq(untagged):
    for u in untagged:
        m = re.search(rb"\[HIGHESTMODSEQ (\d+)\]", u)
        if m:
            return int(m.group(1))
    raise AssertionError(untagged)


def test_fetch_modseq_enables_condstore_and_reports_highestmodseq(mbx):
    s = mbx.session()
    untagged = s.ok("FETCH 1 (MODSEQ)")
    assert re.fullmatch(rb"\* OK \[HIGHESTMODSEQ \d+\] Highest\r\n", untagged[0]), untagged
    assert re.fullmatch(rb"\* 1 FETCH \(MODSEQ \(\d+\)\)\r\n", untagged[1]), untagged
    # From now on FLAGS travel with MODSEQ.
    assert re.fullmatch(rb"\* 1 FETCH \(FLAGS \(\\Recent\) MODSEQ \(\d+\)\)\r\n",
                        fetch1(s, "FETCH 1 FLAGS"))


def test_changedsince_returns_only_changed_messages(mbx):
    s = mbx.session("SELECT INBOX (CONDSTORE)")
    hms = highestmodseq(s.select_resp)
    s.ok("STORE 2,4 +FLAGS.SILENT (\\Flagged)")
    untagged = s.ok("FETCH 1:* (FLAGS) (CHANGEDSINCE %d)" % hms)
    assert [re.sub(rb"MODSEQ \(\d+\)", b"MODSEQ (m)", u) for u in untagged] == [
        b"* 2 FETCH (FLAGS (\\Flagged \\Recent) MODSEQ (m))\r\n",
        b"* 4 FETCH (FLAGS (\\Flagged \\Recent) MODSEQ (m))\r\n"]


def test_changedsince_alone_enables_condstore(mbx):
    s = mbx.session()
    untagged = s.ok("UID FETCH 1:* (FLAGS) (CHANGEDSINCE 1)")
    assert untagged[0].startswith(b"* OK [HIGHESTMODSEQ ")
    assert len(untagged) == 1 + len(CORPUS)
    assert all(re.fullmatch(rb"\* \d FETCH \(UID \d FLAGS \(\\Recent\) MODSEQ \(\d+\)\)\r\n", u)
               for u in untagged[1:]), untagged


def test_uid_fetch_vanished_reports_expunged_uids_first(mbx):
    a = mbx.session("SELECT INBOX (CONDSTORE)")
    hms = highestmodseq(a.select_resp)
    a.ok("STORE 2,3 +FLAGS.SILENT (\\Deleted)")
    a.ok("CLOSE")
    b = mbx.session(None)
    b.ok("ENABLE QRESYNC")
    b.ok("SELECT INBOX")
    untagged = b.ok("UID FETCH 1:* (FLAGS) (CHANGEDSINCE %d VANISHED)" % hms)
    assert untagged[0] == b"* VANISHED (EARLIER) 2:3\r\n"
    assert len(untagged) == 1  # nothing else changed since hms


def test_vanished_needs_uid_fetch_and_qresync(mbx):
    s = mbx.session()
    assert s.cmd("UID FETCH 1:* FLAGS (CHANGEDSINCE 1 VANISHED)")[1].startswith(b"BAD")
    s.ok("ENABLE QRESYNC")
    assert s.cmd("FETCH 1:* FLAGS (CHANGEDSINCE 1 VANISHED)")[1].startswith(b"BAD")
    assert s.cmd("UID FETCH 1:* FLAGS (VANISHED)")[1].startswith(b"BAD")
    s.ok("NOOP")


# ---- STORE -----------------------------------------------------------------

def test_store_replace_add_remove(mbx):
    s = mbx.session()
    assert s.ok("STORE 1 FLAGS (\\Answered \\Draft)") == \
        [b"* 1 FETCH (FLAGS (\\Answered \\Draft \\Recent))\r\n"]
    assert s.ok("STORE 1 +FLAGS (\\Flagged)") == \
        [b"* 1 FETCH (FLAGS (\\Answered \\Flagged \\Draft \\Recent))\r\n"]
    assert s.ok("STORE 1 -FLAGS (\\Answered \\Draft)") == \
        [b"* 1 FETCH (FLAGS (\\Flagged \\Recent))\r\n"]
    assert s.ok("STORE 1 FLAGS ()") == [b"* 1 FETCH (FLAGS (\\Recent))\r\n"]


def test_store_flags_without_parentheses(mbx):
    s = mbx.session()
    assert s.ok("STORE 1 +FLAGS \\Seen \\Deleted") == \
        [b"* 1 FETCH (FLAGS (\\Deleted \\Seen \\Recent))\r\n"]


def test_store_silent_sends_nothing(mbx):
    s = mbx.session()
    assert s.ok("STORE 1:3 +FLAGS.SILENT (\\Seen)") == []
    assert s.ok("FETCH 1:3 FLAGS") == [b"* %d FETCH (FLAGS (\\Seen \\Recent))\r\n" % i
                                       for i in (1, 2, 3)]


def test_uid_store_includes_uid(mbx):
    s = mbx.session()
    assert s.ok("UID STORE 2:3 +FLAGS (\\Flagged)") == [
        b"* 2 FETCH (UID 2 FLAGS (\\Flagged \\Recent))\r\n",
        b"* 3 FETCH (UID 3 FLAGS (\\Flagged \\Recent))\r\n"]


def test_store_keywords(mbx):
    s = mbx.session()
    assert s.ok("STORE 1 +FLAGS ($Label1 Work $label1)") == \
        [b"* 1 FETCH (FLAGS (\\Recent $Label1 Work))\r\n"]
    assert s.ok("STORE 1 -FLAGS (WORK)") == [b"* 1 FETCH (FLAGS (\\Recent $Label1))\r\n"]


def test_store_recent_is_refused(mbx):
    s = mbx.session()
    assert s.cmd("STORE 1 +FLAGS (\\Recent)")[1].startswith(b"BAD")
    assert s.cmd("STORE 1 +FLAGS (\\Bogus)")[1].startswith(b"BAD")
    assert fetch1(s, "FETCH 1 FLAGS") == b"* 1 FETCH (FLAGS (\\Recent))\r\n"


def test_store_in_read_only_mailbox(mbx):
    s = mbx.session("EXAMINE INBOX")
    untagged, tagged = s.cmd("STORE 1 +FLAGS (\\Seen)")
    assert (untagged, tagged) == ([], b"NO [READ-ONLY] Mailbox is read-only.")


def test_store_unchangedsince_conflict_reports_modified(mbx):
    s = mbx.session("SELECT INBOX (CONDSTORE)")
    ms = {}
    for u in s.ok("FETCH 1:3 MODSEQ"):
        m = re.match(rb"\* (\d) FETCH \(MODSEQ \((\d+)\)\)", u)
        ms[int(m.group(1))] = int(m.group(2))
    s.ok("STORE 2 +FLAGS.SILENT (\\Answered)")  # 2 now changed after ms[2]
    untagged, tagged = s.cmd("STORE 1:3 (UNCHANGEDSINCE %d) +FLAGS (\\Flagged)" % max(ms.values()))
    assert tagged == b"OK [MODIFIED 2] Conditional STORE failed."
    assert [re.sub(rb"MODSEQ \(\d+\)", b"MODSEQ (m)", u) for u in untagged] == [
        b"* 1 FETCH (UID 1 FLAGS (\\Flagged \\Recent) MODSEQ (m))\r\n",
        b"* 3 FETCH (UID 3 FLAGS (\\Flagged \\Recent) MODSEQ (m))\r\n"]
    assert fetch1(s, "FETCH 2 FLAGS").startswith(b"* 2 FETCH (FLAGS (\\Answered \\Recent)")


def test_uid_store_unchangedsince_zero_fails_for_every_message(mbx):
    s = mbx.session()
    untagged, tagged = s.cmd("UID STORE 1,3:4 (UNCHANGEDSINCE 0) +FLAGS (\\Seen)")
    assert untagged[0].startswith(b"* OK [HIGHESTMODSEQ ")
    assert untagged[1:] == [] and tagged == b"OK [MODIFIED 1,3:4] Conditional STORE failed."


def test_store_silent_with_condstore_still_reports_modseq(mbx):
    s = mbx.session("SELECT INBOX (CONDSTORE)")
    untagged = s.ok("UID STORE 4,6 +FLAGS.SILENT (\\Deleted)")
    assert [re.sub(rb"MODSEQ \(\d+\)", b"MODSEQ (m)", u) for u in untagged] == [
        b"* 4 FETCH (UID 4 MODSEQ (m))\r\n", b"* 6 FETCH (UID 6 MODSEQ (m))\r\n"]


def test_two_sessions_see_each_others_flag_changes(mbx):
    a = mbx.session()
    b = mbx.session()
    a.ok("STORE 2 +FLAGS.SILENT (\\Flagged $Important)")
    assert b.ok("NOOP") == [b"* 2 FETCH (FLAGS (\\Flagged $Important))\r\n"]
    b.ok("STORE 2 -FLAGS.SILENT (\\Flagged)")
    assert a.ok("NOOP") == [b"* 2 FETCH (FLAGS (\\Recent $Important))\r\n"]


def test_idle_session_hears_a_store_at_once(mbx):
    """The STORE is published on Redis; an IDLE session reports it without
    waiting for its periodic check."""
    a = mbx.session()
    b = mbx.session()
    b.c.send(b"I1 IDLE\r\n")
    assert b.c.readline() == b"+ idling\r\n"
    t0 = time.monotonic()
    a.ok("STORE 5 +FLAGS.SILENT (\\Answered)")
    b.c.sock.settimeout(10)
    assert b.c.readline() == b"* 5 FETCH (FLAGS (\\Answered))\r\n"
    assert time.monotonic() - t0 < 5
    b.c.send(b"DONE\r\n")
    assert b.c.readline().startswith(b"I1 OK")


def test_own_store_is_not_reported_again(mbx):
    s = mbx.session()
    assert s.ok("STORE 1 +FLAGS (\\Flagged)") == [b"* 1 FETCH (FLAGS (\\Flagged \\Recent))\r\n"]
    assert s.ok("NOOP") == []
    s.ok("FETCH 2 BODY[1]")  # implicit \Seen: reported by the FETCH itself
    assert s.ok("NOOP") == []


def test_fetch_of_message_expunged_by_another_session(mbx):
    a = mbx.session()
    b = mbx.session()
    b.ok("STORE 2 +FLAGS.SILENT (\\Deleted)")
    b.ok("CLOSE")  # expunges 2
    untagged, tagged = a.cmd("FETCH 1:3 (UID RFC822.SIZE)")
    # FETCH may not send EXPUNGE (RFC 3501 section 7.4.1): 2 stays numbered.
    assert untagged == [b"* 1 FETCH (UID 1 RFC822.SIZE %d)\r\n" % len(PLAIN),
                        b"* 3 FETCH (UID 3 RFC822.SIZE %d)\r\n" % len(NESTED)]
    assert tagged == b"OK [EXPUNGEISSUED] Some messages were already expunged."
    untagged, tagged = a.cmd("STORE 2 +FLAGS (\\Seen)")
    assert untagged == [] and tagged == b"OK [EXPUNGEISSUED] Some messages were already expunged."
    assert a.ok("NOOP") == [b"* 2 EXPUNGE\r\n"]
    assert fetch1(a, "FETCH 2 UID") == b"* 2 FETCH (UID 3)\r\n"


# ---- hostile input ---------------------------------------------------------

@pytest.mark.parametrize("line", [
    "FETCH 1 BODY[0]",
    "FETCH 1 BODY[1.0]",
    "FETCH 1 BODY[01]",
    "FETCH 1 BODY[1.2.]",
    "FETCH 1 BODY[MIME]",
    "FETCH 1 BODY[TEXT.MIME]",
    "FETCH 1 BODY[HEADER.FIELDS ()]",
    "FETCH 1 BODY[HEADER.FIELDS]",
    "FETCH 1 BODY[HEADER.FIELDS (a:b)]",
    "FETCH 1 BODY[]<1.0>",
    "FETCH 1 BODY[]<4294967296.1>",
    "FETCH 1 BODY[]<1>",
    "FETCH 1 BODY[",
    "FETCH 1 BINARY[HEADER]",
    "FETCH 1 BINARY.SIZE[1]<0.1>",
    "FETCH 1 (FLAGS ALL)",
    "FETCH 1 NOTANITEM",
    "FETCH 1 ()",
    "FETCH 0 FLAGS",
    "FETCH 1:x FLAGS",
    "FETCH 99 FLAGS",
    "FETCH 1,,2 FLAGS",
    "FETCH * FLAGS (CHANGEDSINCE)",
    "FETCH 1 FLAGS (CHANGEDSINCE -1)",
    "FETCH 1 FLAGS (NOSUCHMODIFIER 1)",
    "FETCH 1",
    "FETCH",
    "STORE 1 FLAGS",
    "STORE 1 XFLAGS (\\Seen)",
    "STORE 1 +FLAGS ((\\Seen))",
    "STORE 1 (UNCHANGEDSINCE x) FLAGS ()",
    "STORE 0 FLAGS ()",
    "STORE 1 FLAGS (\\Seen) (\\Deleted)",
])
def test_hostile_input_gets_bad_and_the_session_goes_on(mbx, line):
    s = mbx.session()
    untagged, tagged = s.cmd(line)
    assert tagged.startswith(b"BAD"), (line, untagged, tagged)
    assert not any(b"FETCH" in u for u in untagged)
    assert fetch1(s, "FETCH 1 FLAGS") == b"* 1 FETCH (FLAGS (\\Recent))\r\n"


def test_fetch_without_selected_mailbox(mbx):
    s = mbx.session(None)
    assert s.cmd("FETCH 1 FLAGS")[1].startswith(b"BAD")
    assert s.cmd("UID STORE 1 FLAGS ()")[1].startswith(b"BAD")


def test_uid_fetch_of_missing_uids_is_empty(mbx):
    s = mbx.session()
    assert s.ok("UID FETCH 100:200 FLAGS") == []
    assert s.ok("UID FETCH 4294967295 FLAGS") == []


# ---- large messages --------------------------------------------------------

def test_large_message_sections_and_partial(fresh):
    """A 3 MB message (no tree cache is kept for it): header fields, a part,
    a partial range deep inside, and the whole message, streamed."""
    fresh.setup_domain()
    pw = fresh.add_user(USER)
    blob = (b"0123456789abcdef" * 64 + b"\r\n") * 3000
    msg = multipart(b"big", [(b"Content-Type: text/plain\r\n", b"small part"),
                             (b"Content-Type: application/octet-stream\r\n", blob)])
    msg = (b"From: big@example.org\r\nSubject: big one\r\n"
           b"Content-Type: multipart/mixed; boundary=big\r\n\r\n" + msg)
    deliver(fresh, msg, BASE_US)
    port = fresh.start("imapd")
    s = Session(port, pw)
    try:
        s.ok("SELECT INBOX")
        assert fetch1(s, "FETCH 1 BODY.PEEK[HEADER.FIELDS (Subject)]") == \
            b"* 1 FETCH (BODY[HEADER.FIELDS (Subject)] %s)\r\n" % lit(b"Subject: big one\r\n\r\n")
        for _ in range(2):  # parsed each time: no tree cache for big bodies
            assert fetch1(s, "FETCH 1 (BODY.PEEK[1] BODY.PEEK[2]<2000000.20>)") == (
                b"* 1 FETCH (BODY[1] %s BODY[2]<2000000> %s)\r\n"
                % (lit(b"small part"), lit(blob[2000000:2000020])))
        assert fetch1(s, "FETCH 1 BODY.PEEK[]") == b"* 1 FETCH (BODY[] %s)\r\n" % lit(msg)
        assert fetch1(s, "FETCH 1 RFC822.SIZE") == b"* 1 FETCH (RFC822.SIZE %d)\r\n" % len(msg)
    finally:
        s.close()


def test_mid_size_message_parts_from_the_tree_cache(fresh):
    """A 200 KB message: the first part fetch parses and stores the tree,
    later sessions answer from it with the same bytes."""
    fresh.setup_domain()
    pw = fresh.add_user(USER)
    blob = (b"abcdefghij" * 100 + b"\r\n") * 200
    msg = multipart(b"mid", [(b"Content-Type: text/plain\r\n", b"text part"),
                             (b"Content-Type: application/octet-stream\r\n", blob)])
    msg = b"Subject: mid\r\nContent-Type: multipart/mixed; boundary=mid\r\n\r\n" + msg
    deliver(fresh, msg, BASE_US)
    fresh.env["SEALMAIL_DEBUG"] = "1"
    port = fresh.start("imapd")
    want = b"* 1 FETCH (BODY[1] %s BODY[2]<100000> %s BODY[2.MIME] %s BODY %s)\r\n" % (
        lit(b"text part"), lit(blob[100000:100100]),
        lit(b"Content-Type: application/octet-stream\r\n\r\n"),
        b'(("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 9 0)'
        b'("application" "octet-stream" NIL NIL NIL "7bit" %d) "mixed")' % len(blob))
    for _ in range(3):
        s = Session(port, pw)
        try:
            s.ok("EXAMINE INBOX")
            assert fetch1(s, "FETCH 1 (BODY.PEEK[1] BODY.PEEK[2]<100000.100> "
                          "BODY.PEEK[2.MIME] BODY)") == want
        finally:
            s.close()
    # Written once, by the first session (the logout above is synchronous
    # for the client, the log line may trail it).
    harness_wait(lambda: ">cache-write " in fresh.log_text(), what="cache-write event")
    assert len(re.findall(r">cache-write SEALMAIL_SESSION=\w+ .*SEALMAIL_COUNT=1\n",
                          fresh.log_text())) == 1


# ---- the shared MIME corpus (tests/data/mime) ------------------------------

CORPUS_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                          "data", "mime")
CORPUS_FILES = sorted(f[:-4] for f in os.listdir(CORPUS_DIR) if f.endswith(".eml"))


def unescape(v):
    return re.sub(rb"\\(.)", lambda m: {b"r": b"\r", b"n": b"\n", b"\\": b"\\"}[m.group(1)], v)


@pytest.fixture(scope="module")
def corpus(redis, cert):
    """One mailbox holding every corpus message, in file order (UID = index
    + 1); read-only sessions only, so the tests can share it."""
    from harness import Instance
    inst = Instance(redis=redis, cert=cert)
    inst.setup_domain()
    pw = inst.add_user(USER)
    for i, name in enumerate(CORPUS_FILES):
        with open(os.path.join(CORPUS_DIR, name + ".eml"), "rb") as f:
            deliver(inst, f.read(), BASE_US + i * 1000000)
    port = inst.start("imapd")
    s = Session(port, pw)
    s.ok("EXAMINE INBOX")
    yield s
    s.close()
    reports = sanitizer_reports(inst)
    inst.cleanup()
    assert not reports, reports[0]


@pytest.mark.parametrize("name", CORPUS_FILES)
def test_corpus_message(corpus, name):
    """BODY, BODYSTRUCTURE, ENVELOPE, every listed section (an absent one is
    empty), and HEADER / TEXT / n.MIME at the offsets the corpus lists."""
    uid = CORPUS_FILES.index(name) + 1
    with open(os.path.join(CORPUS_DIR, name + ".eml"), "rb") as f:
        raw = f.read()
    with open(os.path.join(CORPUS_DIR, name + ".expected"), "rb") as f:
        expected = [l.rstrip(b"\n") for l in f if l.strip() and not l.startswith(b"#")]
    s = corpus
    for line in expected:
        key, _, value = line.partition(b" ")
        value = unescape(value)
        if key in (b"BODY", b"BODYSTRUCTURE", b"ENVELOPE"):
            assert fetch1(s, b"UID FETCH %d %s" % (uid, key)) == \
                b"* %d FETCH (UID %d %s %s)\r\n" % (uid, uid, key, value)
        elif key in (b"SECTION", b"NOSECTION", b"MSGHEADER"):
            sec, _, data = value.partition(b" ")
            if key == b"MSGHEADER":
                sec += b".HEADER"
            if key == b"NOSECTION":
                data = b""
            assert fetch1(s, b"UID FETCH %d BODY.PEEK[%s]" % (uid, sec)) == \
                b"* %d FETCH (UID %d BODY[%s] %s)\r\n" % (uid, uid, sec, lit(data))
        elif key == b"PART":
            part, hoff, hsize, boff, bsize = value.split()[:5]
            hoff, hsize, boff, bsize = int(hoff), int(hsize), int(boff), int(bsize)
            if part == b"root":
                items = [(b"HEADER", raw[hoff:hoff + hsize]), (b"TEXT", raw[boff:boff + bsize])]
            elif re.fullmatch(rb"[0-9.]+", part):
                items = [(part + b".MIME", raw[hoff:hoff + hsize])]
            else:
                continue
            for sec, data in items:
                assert fetch1(s, b"UID FETCH %d BODY.PEEK[%s]" % (uid, sec)) == \
                    b"* %d FETCH (UID %d BODY[%s] %s)\r\n" % (uid, uid, sec, lit(data))
        else:
            raise AssertionError(b"unknown corpus line " + line)


# ---- throughput (opt-in: SEALMAIL_BENCH=N messages) --------------------------

def bench_fetch(sock, tag, line):
    """Send one command and read until its tagged reply: (seconds, bytes)."""
    t0 = time.perf_counter()
    sock.sendall(tag + b" " + line + b"\r\n")
    total = 0
    end = b"\r\n" + tag + b" "
    tail = b"\r\n"
    while True:
        chunk = sock.recv(1 << 20)
        assert chunk, "connection closed"
        total += len(chunk)
        window = tail + chunk
        i = window.find(end)
        if i >= 0:
            rest = window[i + len(end):]
            while b"\r\n" not in rest:
                rest += sock.recv(4096)
            assert rest.startswith(b"OK"), rest
            return time.perf_counter() - t0, total
        tail = window[-(len(end) + 2):]


def proc_tree_cpu(pid):
    """CPU seconds (user + system) of pid's descendants: the imapd front and
    back processes under systemd-socket-activate."""
    total = 0.0
    todo = [pid]
    while todo:
        p = todo.pop()
        try:
            for t in os.listdir("/proc/%d/task" % p):
                with open("/proc/%d/task/%s/children" % (p, t)) as f:
                    todo += [int(c) for c in f.read().split()]
            if p != pid:
                with open("/proc/%d/stat" % p) as f:
                    st = f.read().rsplit(")", 1)[1].split()
                total += (int(st[11]) + int(st[12])) / os.sysconf("SC_CLK_TCK")
        except OSError:
            pass
    return total


@pytest.mark.skipif(not os.environ.get("SEALMAIL_BENCH"),
                    reason="benchmark: set SEALMAIL_BENCH to a message count")
def test_bench_header_fetch(fresh, capsys):
    """UID FETCH 1:* (BODY.PEEK[HEADER.FIELDS (From Subject Date)] FLAGS) over
    N messages delivered by smtpd; the first run in a fresh session, the
    second right after it, a third in a new session (new process)."""
    import random
    import smtplib
    n = int(os.environ["SEALMAIL_BENCH"])
    fresh.setup_domain()
    pw = fresh.add_user(USER)
    smtp_port = fresh.start("smtpd")
    rnd = random.Random(7)
    words = [("w%d" % i) * rnd.randint(1, 3) for i in range(3000)]
    t0 = time.perf_counter()
    with smtplib.SMTP("127.0.0.1", smtp_port) as smtp:
        for i in range(n):
            body = "\r\n".join(" ".join(rnd.choice(words) for _ in range(12))
                               for _ in range(rnd.randint(20, 80)))
            msg = ("From: Sender %d <sender%d@example.org>\r\nTo: %s\r\n"
                   "Subject: message number %d about %s\r\n"
                   "Date: Mon, 23 Nov 2026 10:%02d:%02d +0000\r\n"
                   "Message-ID: <bench-%d@example.org>\r\nMIME-Version: 1.0\r\n"
                   "Content-Type: text/plain; charset=us-ascii\r\n\r\n%s\r\n"
                   % (i % 97, i % 97, USER, i, rnd.choice(words), i // 60 % 60, i % 60,
                      i, body))
            smtp.sendmail("sender@example.org", [USER], msg.encode())
    t_deliver = time.perf_counter() - t0
    port = fresh.start("imapd")
    results = []
    for session in range(2):
        c = imaplib.IMAP4("127.0.0.1", port)
        c.login(USER, pw)
        t0 = time.perf_counter()
        c.select("INBOX")
        t_select = time.perf_counter() - t0
        runs = 2 if session == 0 else 1
        for r in range(runs):
            cpu0 = proc_tree_cpu(fresh.procs[-1].pid)
            secs, nbytes = bench_fetch(c.sock, b"B%d" % r,
                                       b"UID FETCH 1:* (BODY.PEEK[HEADER.FIELDS "
                                       b"(From Subject Date)] FLAGS)")
            cpu = proc_tree_cpu(fresh.procs[-1].pid) - cpu0
            results.append((session, r, secs, nbytes, t_select, cpu))
        c.logout()
    with capsys.disabled():
        print("\n%d messages delivered by smtpd in %.1f s" % (n, t_deliver))
        for session, r, secs, nbytes, t_select, cpu in results:
            print("session %d run %d: %.3f s, %.0f messages/s, %.1f MB, imapd CPU %.2f s "
                  "(SELECT %.2f s)" % (session + 1, r + 1, secs, n / secs, nbytes / 1e6, cpu,
                                       t_select))
