# SPDX-License-Identifier: AGPL-3.0-or-later
"""imapd SEARCH and UID SEARCH: every search key over a small corpus, CHARSET,
NOT/OR nesting, sequence sets, MODSEQ, the full-text rules for BODY/TEXT
(handlers/imapd/search.c), exact header matching with many messages, and
hostile criteria. Optionally (SEALMAIL_SEARCH_BENCH=N) the time of SEARCH TEXT
over N generated messages."""
import base64
import os
import re
import subprocess
import time

import pytest

from harness import BUILD
from test_imap_mailbox import USER, Client, connect, lit

HTML = (b"<html><body><p>Big <b>SALE</b> today &amp; tomorrow</p>"
        b"<script>var hidden='secretscript';</script></body></html>\r\n")

# Sequence numbers 1..5 (UIDs 2..6: UID 1 is expunged first, so that UIDs
# and sequence numbers differ).
CORPUS = [
    # 1
    ("\\Seen \\Answered $Work", "15-Jan-2024 12:00:00 +0000",
     b"From: Alice Example <alice@example.org>\r\n"
     b"To: Bob <bob@example.net>\r\n"
     b"Cc: carol@example.com\r\n"
     b"Subject: Quarterly report\r\n"
     b"Date: Mon, 15 Jan 2024 09:00:00 +0100\r\n"
     b"\r\n"
     b"Please find the quarterly numbers attached.\r\nRegards, Alice\r\n"),
    # 2
    ("\\Flagged", "01-Feb-2024 12:00:00 +0000",
     b"From: =?UTF-8?Q?J=C3=B6rg_M=C3=BCller?= <joerg@example.de>\r\n"
     b"To: alice@example.org\r\n"
     b"Subject: =?ISO-8859-1?Q?Gr=FC=DFe_aus_K=F6ln?=\r\n"
     b"Date: Thu, 1 Feb 2024 23:30:00 -0500\r\n"
     b"Content-Type: text/plain; charset=iso-8859-1\r\n"
     b"Content-Transfer-Encoding: quoted-printable\r\n"
     b"\r\n"
     b"Sch=F6ne Gr=FC=DFe vom Rhein.\r\n"),
    # 3
    ("\\Deleted", "10-Feb-2024 12:00:00 +0000",
     b"From: Shop <news@shop.example>\r\n"
     b"To: alice@example.org\r\n"
     b"Bcc: dave@example.org\r\n"
     b"Subject: Newsletter\r\n"
     b"Date: Sat, 10 Feb 2024 08:00:00 +0000\r\n"
     b"Content-Type: multipart/alternative; boundary=\"alt\"\r\n"
     b"\r\n"
     b"--alt\r\nContent-Type: text/plain\r\n\r\nBig sale today\r\n"
     b"--alt\r\nContent-Type: text/html\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
     base64.encodebytes(HTML).replace(b"\n", b"\r\n") +
     b"--alt--\r\n"),
    # 4
    ("\\Draft $Later", "20-Feb-2024 12:00:00 +0000",
     b"From: carol@example.com\r\n"
     b"To: alice@example.org\r\n"
     b"Subject: Fwd: inner\r\n"
     b"Date: 20 Feb 24 10:00 GMT\r\n"
     b"Content-Type: multipart/mixed; boundary=\"mix\"\r\n"
     b"\r\n"
     b"--mix\r\nContent-Type: text/plain\r\n\r\nSee the attached message.\r\n"
     b"--mix\r\nContent-Type: message/rfc822\r\n\r\n"
     b"From: inner@example.org\r\nSubject: Inner subject\r\n\r\nnested body text\r\n"
     b"--mix\r\nContent-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n\r\n"
     b"cGRmc2VjcmV0\r\n"
     b"--mix--\r\n"),
    # 5
    ("", "01-Mar-2024 12:00:00 +0000",
     b"From: bob@example.net\r\n"
     b"Subject: a very long\r\n subject line\r\n"
     b"X-Custom: Hello-World\r\n"
     b"\r\n" + b"lorem ipsum " * 400 + b"\r\nsupercalifragilistic word.\r\n"),
]


def ids(untagged):
    """The numbers of the one "* SEARCH" response (and the MODSEQ suffix)."""
    lines = [ln for ln in untagged if ln.startswith("* SEARCH")]
    assert len(lines) == 1, untagged
    return lines[0][len("* SEARCH"):].strip()


@pytest.fixture
def corpus(inst):
    inst.setup_domain()
    inst.pw = inst.add_user(USER)
    inst.port = inst.start("imapd")
    c = connect(inst)
    c.ok(b"APPEND INBOX (\\Deleted) " + lit(b"Subject: gone\r\n\r\nx\r\n"))
    c.ok("SELECT INBOX")
    c.ok("EXPUNGE")
    c.ok("UNSELECT")
    for flags, date, msg in CORPUS:
        c.ok(f'APPEND INBOX ({flags}) "{date}" '.encode() + lit(msg))
    c.ok("SELECT INBOX")
    inst.client = c
    return inst


def search(c, criteria):
    untagged, status = c.cmd("SEARCH " + criteria if isinstance(criteria, str)
                             else b"SEARCH " + criteria)
    assert status == "OK Search completed.", (criteria, status)
    return ids(untagged)


KEYS = [
    ("ALL", "1 2 3 4 5"),
    ("SEEN", "1"), ("UNSEEN", "2 3 4 5"),
    ("ANSWERED", "1"), ("UNANSWERED", "2 3 4 5"),
    ("FLAGGED", "2"), ("UNFLAGGED", "1 3 4 5"),
    ("DELETED", "3"), ("UNDELETED", "1 2 4 5"),
    ("DRAFT", "4"), ("UNDRAFT", "1 2 3 5"),
    ("KEYWORD $Work", "1"), ("KEYWORD $work", "1"), ("KEYWORD $Later", "4"),
    ("KEYWORD $None", ""), ("UNKEYWORD $Work", "2 3 4 5"),
    # the first session to select sees every message as \Recent
    ("RECENT", "1 2 3 4 5"), ("OLD", ""), ("NEW", "2 3 4 5"),
    ("BEFORE 1-Feb-2024", "1"), ("ON 1-Feb-2024", "2"), ("SINCE 10-Feb-2024", "3 4 5"),
    ("ON 2-Feb-2024", ""),
    # SENT*: the date as written in Date: (2: 1 Feb, though 2 Feb in UTC);
    # 4 has an obsolete two-digit year; 5 has no Date: (internal date)
    ("SENTBEFORE 1-Feb-2024", "1"), ("SENTON 1-Feb-2024", "2"),
    ("SENTSINCE 20-Feb-2024", "4 5"), ("SENTON 1-Mar-2024", "5"),
    ("LARGER 4000", "5"), ("SMALLER 4000", "1 2 3 4"),
    ("FROM alice", "1"), ("FROM lice@EX", "1"), ("FROM example.org", "1"),
    ("FROM \"Alice Example <\"", "1"), ("FROM nobody", ""),
    ("TO alice", "2 3 4"), ("TO bob", "1"), ("CC carol", "1"), ("BCC dave", "3"),
    ("SUBJECT report", "1"), ("SUBJECT \"long subject\"", "5"), ("SUBJECT inner", "4"),
    ("SUBJECT \"\"", "1 2 3 4 5"),
    ("HEADER X-Custom hello", "5"), ("HEADER x-custom \"\"", "5"),
    ("HEADER X-Custom \"o-w\"", "5"), ("HEADER Message-ID \"\"", ""),
    ("HEADER Content-Type multipart", "3 4"),
    ("BODY quarterly", "1"), ("BODY \"sale today\"", "3"), ("BODY tomorrow", "3"),
    ("BODY secretscript", ""), ("BODY pdfsecret", ""), ("BODY \"nested body\"", "4"),
    ("BODY \"inner subject\"", "4"), ("BODY alice", "1"), ("BODY rhein", "2"),
    ("BODY supercali", "5"), ("BODY \" word.\"", "5"), ("BODY \"\"", "1 2 3 4 5"),
    ("BODY \"@\"", "4"), ("BODY \".\"", "1 2 4 5"),
    ("TEXT alice", "1 2 3 4"), ("TEXT \"inner subject\"", "4"), ("TEXT \"x-custom: hello\"", "5"),
    ("TEXT \"@\"", "1 2 3 4 5"),
    ("1", "1"), ("2:4", "2 3 4"), ("*", "5"), ("4:*", "4 5"), ("3:2", "2 3"),
    ("1,5", "1 5"), ("6:*", "5"), ("9", ""),
    ("UID 3:4", "2 3"), ("UID 5:*", "4 5"), ("UID *", "5"), ("UID 1", ""), ("UID 99:*", "5"),
    ("OR SEEN FLAGGED", "1 2"), ("NOT OR SEEN FLAGGED", "3 4 5"),
    ("(SEEN FROM alice)", "1"), ("(SEEN FROM bob)", ""), ("NOT NOT SEEN", "1"),
    ("OR FROM bob OR DRAFT DELETED", "3 4 5"), ("OR NOT SEEN BODY quarterly", "1 2 3 4 5"),
    ("NOT (OR (FROM alice) (OR TO bob SUBJECT nomatch))", "2 3 4 5"),
    ("UNSEEN NOT (DELETED OR DRAFT FLAGGED) SINCE 1-Jan-2024", "2 3 4 5"),
    ("UNSEEN NOT DELETED NOT DRAFT NOT FLAGGED SINCE 1-Jan-2024", "5"),
    ("OR (BODY rhein TO alice) (BODY quarterly CC carol)", "1 2"),
    ("CHARSET UTF-8 FROM alice", "1"), ("CHARSET US-ASCII SUBJECT report", "1"),
    ("CHARSET utf-8 ALL", "1 2 3 4 5"),
]


def test_search_keys(corpus):
    c = corpus.client
    failed = []
    for criteria, want in KEYS:
        got = search(c, criteria)
        if got != want:
            failed.append((criteria, got, want))
    assert failed == []


@pytest.mark.parametrize("key,needle,want", [
    ("FROM", "jörg", "2"), ("FROM", "MÜLLER", "2"), ("SUBJECT", "grüße", "2"),
    ("SUBJECT", "GRÜSSE", ""), ("SUBJECT", "GRÜßE AUS", "2"), ("BODY", "schöne", "2"),
    ("TEXT", "köln", "2"), ("TEXT", "KÖLN", "2"),
])
def test_search_utf8_literal(corpus, key, needle, want):
    c = corpus.client
    assert search(c, f"CHARSET UTF-8 {key} ".encode() + lit(needle.encode())) == want


def test_uid_search(corpus):
    c = corpus.client
    for criteria, want in [("SEEN", "2"), ("ALL", "2 3 4 5 6"), ("UID 3:*", "3 4 5 6"),
                           ("*", "6"), ("2:3", "3 4"), ("NOT UID 2:5", "6"),
                           ("FROM alice", "2"), ("KEYWORD $none", "")]:
        untagged, status = c.cmd("UID SEARCH " + criteria)
        assert status == "OK Search completed."
        assert ids(untagged) == want, criteria


def test_search_empty_result_line(corpus):
    assert corpus.client.cmd("SEARCH KEYWORD $None") == (["* SEARCH"], "OK Search completed.")


def test_second_session_sees_no_recent(corpus):
    c2 = connect(corpus)
    c2.ok("SELECT INBOX")
    assert search(c2, "RECENT") == ""
    assert search(c2, "OLD") == "1 2 3 4 5"
    assert search(c2, "NEW") == ""


def modseqs(c):
    untagged, _ = c.ok("FETCH 1:* (MODSEQ)")
    return [int(re.search(r"MODSEQ \((\d+)\)", ln).group(1)) for ln in untagged
            if " FETCH " in ln]


def test_search_modseq(corpus):
    c = corpus.client
    ms = modseqs(c)
    assert ms == sorted(ms)
    assert search(c, "MODSEQ 1") == f"1 2 3 4 5 (MODSEQ {ms[4]})"
    assert search(c, f"MODSEQ {ms[2]}") == f"3 4 5 (MODSEQ {ms[4]})"
    assert search(c, f"MODSEQ {ms[4] + 1}") == ""
    assert search(c, f"MODSEQ \"/flags/\\\\draft\" all {ms[3]}") == f"4 5 (MODSEQ {ms[4]})"
    assert search(c, f"MODSEQ {ms[1]} SEEN") == ""
    assert search(c, f"OR MODSEQ {ms[4]} SEEN") == f"1 5 (MODSEQ {ms[4]})"
    # a flag change gives message 1 the highest mod-sequence
    c.ok("STORE 1 +FLAGS (\\Flagged)")
    ms2 = modseqs(c)
    assert search(c, f"MODSEQ {ms[4] + 1}") == f"1 (MODSEQ {ms2[0]})"
    untagged, _ = c.ok(f"UID SEARCH MODSEQ {ms[4] + 1}")
    assert ids(untagged) == f"2 (MODSEQ {ms2[0]})"


def test_search_modseq_enables_condstore(corpus):
    c = connect(corpus)
    c.ok("SELECT INBOX")
    c.ok("SEARCH MODSEQ 1")
    untagged, _ = c.ok("STORE 1 +FLAGS (\\Flagged)")
    assert re.fullmatch(r"\* 1 FETCH \(UID 2 FLAGS \(.*\) MODSEQ \(\d+\)\)|"
                        r"\* 1 FETCH \(FLAGS \(.*\) UID 2 MODSEQ \(\d+\)\)|"
                        r"\* 1 FETCH \(FLAGS \(.*\) MODSEQ \(\d+\)\)", untagged[-1]), untagged


def test_search_bad_charset(corpus):
    c = corpus.client
    assert c.cmd("SEARCH CHARSET ISO-8859-1 SUBJECT x") == \
        ([], "NO [BADCHARSET (UTF-8 US-ASCII)] Unsupported charset.")
    c.ok("NOOP")


@pytest.mark.parametrize("criteria", [
    "BEFORE 31-Feb-2024", "SINCE 2024-01-01", "ON 1-Foo-2024", "SENTON 32-Jan-2024",
    "FOOBAR", "SEEN FOOBAR", "OR SEEN", "NOT", "LARGER -1", "LARGER x", "SMALLER",
    "UID 0", "UID 1:x", "0", "KEYWORD", "HEADER", "HEADER X", "MODSEQ x", "MODSEQ -1",
    "(SEEN", "SEEN)", "()", "CHARSET", "CHARSET US-ASCII SUBJECT {4+}\r\n\xe4\xe4\xe4\xe4",
    "NOT " * 200 + "ALL", "(" * 40 + "ALL" + ")" * 40, "OR " * 100 + "ALL " * 101,
])
def test_search_hostile_is_bad_and_session_goes_on(corpus, criteria):
    c = corpus.client
    untagged, status = c.cmd(b"SEARCH " + criteria.encode("latin-1"))
    assert status.startswith("BAD "), (criteria, status)
    assert untagged == []
    assert c.cmd("NOOP") == ([], "OK NOOP completed.")
    assert search(c, "SEEN") == "1"


def test_search_without_criteria_is_bad(corpus):
    assert corpus.client.cmd("SEARCH")[1].startswith("BAD ")


def test_search_requires_selected(corpus):
    c = connect(corpus)
    assert c.cmd("SEARCH ALL") == ([], "BAD No mailbox selected.")


def test_search_sees_other_sessions_changes(corpus):
    c = corpus.client
    other = connect(corpus)
    other.ok(b"APPEND INBOX (\\Seen) " + lit(b"From: zed@example.org\r\n\r\nlate arrival\r\n"))
    untagged, status = c.cmd("SEARCH BODY arrival")
    assert untagged == ["* 6 EXISTS", "* 6 RECENT", "* SEARCH 6"]
    assert status == "OK Search completed."


# ---- many messages: the index decides BODY/TEXT, header keys stay exact ---------

@pytest.fixture
def many(inst):
    inst.setup_domain()
    inst.pw = inst.add_user(USER)
    inst.port = inst.start("imapd")
    c = connect(inst)
    # pipelined LITERAL+ appends, then the replies
    batch = b""
    for i in range(1, 81):
        body = b"filler number %d, nothing else here\r\n" % i
        if i == 42:
            body = b"Greetings from Helsinki, the supercalifragilistic city.\r\nhello world\r\n"
        msg = b"From: Alice %d <alice%d@example.org>\r\nSubject: item %d\r\n\r\n" % (i, i, i) + body
        batch += b"p%d APPEND INBOX " % i + lit(msg) + b"\r\n"
    c.send(batch)
    for i in range(1, 81):
        _, status = c.until("p%d" % i)
        assert status.startswith("OK [APPENDUID ")
    c.ok("SELECT INBOX")
    inst.client = c
    return inst


@pytest.mark.parametrize("criteria,want", [
    # one word: a word that begins with it
    ("BODY supercali", "42"), ("BODY califragilistic", ""), ("BODY HELSINKI", "42"),
    ("BODY helsink", "42"), ("TEXT alice42", "42"), ("TEXT lice42", ""),
    # several words: a substring whose first word begins a word
    ("BODY \"from helsinki\"", "42"), ("BODY \"m helsinki\"", ""),
    ("BODY \" helsinki, the\"", "42"), ("BODY \"helsinki the\"", ""),
    ("BODY \"hello w\"", "42"), ("BODY \"llo world\"", ""),
    ("BODY \"i,\"", ""), ("BODY \"helsinki,\"", "42"),
    # no word, or one short word at the end: an exact scan
    ("BODY \"ld\"", "42"), ("BODY \", t\"", "42"), ("BODY \"@\"", ""),
    # header keys are exact substrings with many messages too
    ("FROM lice42", "42"), ("FROM \"lice4@example\"", "4"), ("FROM \"e4@\"", "4"),
    ("FROM \"ce 7 <\"", "7"), ("FROM \"4 <alice4@example.o\"", "4"),
    ("SUBJECT \"m 80\"", "80"), ("SUBJECT \"tem 8\"", "8 80"),
])
def test_many_messages_text_rules(many, criteria, want):
    assert search(many.client, criteria) == want


def test_many_messages_common_word_everywhere(many):
    c = many.client
    assert search(c, "BODY filler") == " ".join(str(i) for i in range(1, 81) if i != 42)
    assert search(c, "TEXT item") == " ".join(str(i) for i in range(1, 81))
    assert search(c, "NOT BODY filler") == "42"


# ---- timing over a big mailbox (opt-in) --------------------------------------------

@pytest.mark.skipif(not os.environ.get("SEALMAIL_SEARCH_BENCH"),
                    reason="set SEALMAIL_SEARCH_BENCH=N to time SEARCH over N messages")
def test_search_text_bench(inst):
    n = int(os.environ["SEALMAIL_SEARCH_BENCH"])
    inst.setup_domain()
    pw = inst.add_user(USER)
    t = time.monotonic()
    p = subprocess.run([f"{BUILD}/tests/mboxfill", USER, str(n)], input=(pw + "\n").encode(),
                       capture_output=True, env=inst.env, timeout=7200)
    assert p.returncode == 0, p.stderr
    print(f"\nfill: {p.stdout.decode().strip()} ({time.monotonic() - t:.1f} s wall)")
    inst.pw = pw
    inst.port = inst.start("imapd")
    c = connect(inst)
    c.ok("SELECT INBOX")
    for criteria in ["TEXT zanzibarquux", "TEXT zanzibarquux", "BODY zanzibarquux",
                     "TEXT \"code word is\"", "TEXT \"word is\"", "TEXT the", "TEXT \"@\"",
                     "FROM ka", "SUBJECT invoice", "UNSEEN", "ALL"]:
        t = time.monotonic()
        got = search(c, criteria)
        dt = time.monotonic() - t
        print(f"SEARCH {criteria}: {len(got.split())} hits in {dt * 1000:.1f} ms")
    assert search(c, "TEXT zanzibarquux") == " ".join(str(i) for i in range(1000, n + 1, 1000))
