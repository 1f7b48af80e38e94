# SPDX-License-Identifier: AGPL-3.0-or-later
"""imapd APPEND (UIDPLUS, APPENDLIMIT, LITERAL+), COPY, MOVE, EXPUNGE and
UID EXPUNGE over a raw socket, with exact responses; a second session sees
the changes."""
import datetime
import re
import socket

import pytest

from harness import Instance, mbox_messages

USER = "demo@example.test"


class Client:
    """A minimal IMAP client: one command at a time, every response line
    returned as text (literals inlined)."""

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        self.rf = self.sock.makefile("rb")
        self.n = 0
        self.greeting = self.line()

    def line(self):
        raw = self.rf.readline()
        if not raw.endswith(b"\r\n"):
            raise EOFError(raw)
        raw = raw[:-2]
        m = re.search(rb"\{(\d+)\}$", raw)
        if m:
            data = self.rf.read(int(m.group(1)))
            return raw.decode() + "\r\n" + data.decode("utf-8", "replace") + self.line()
        return raw.decode("utf-8", "replace")

    def send(self, data):
        self.sock.sendall(data)

    def cmd(self, text):
        """Send "tag text"; return (untagged lines, tagged status text)."""
        self.n += 1
        tag = f"a{self.n}"
        self.send(tag.encode() + b" " + (text if isinstance(text, bytes) else text.encode()) +
                  b"\r\n")
        return self.until(tag)

    def until(self, tag):
        untagged = []
        while True:
            ln = self.line()
            if ln.startswith(tag + " "):
                return untagged, ln[len(tag) + 1:]
            untagged.append(ln)

    def ok(self, text):
        untagged, status = self.cmd(text)
        assert status.startswith("OK"), (text, untagged, status)
        return untagged, status

    def close(self):
        self.sock.close()


def lit(data):
    """A LITERAL+ (non-synchronising) literal."""
    return b"{%d+}\r\n" % len(data) + data


def connect(inst):
    c = Client(inst.port)
    c.ok(f"LOGIN {USER} {inst.pw}")
    return c


def append(c, data, mailbox="INBOX", flags="", date=""):
    args = mailbox
    if flags:
        args += f" ({flags})"
    if date:
        args += f' "{date}"'
    return c.cmd(f"APPEND {args} ".encode() + lit(data))


def uidvalidity(untagged):
    for ln in untagged:
        m = re.match(r"\* OK \[UIDVALIDITY (\d+)\]", ln)
        if m:
            return int(m.group(1))
    raise AssertionError(untagged)


def status_uidvalidity(c, mailbox):
    untagged, _ = c.ok(f"STATUS {mailbox} (UIDVALIDITY)")
    return int(re.search(r"UIDVALIDITY (\d+)", untagged[0]).group(1))


MSG = [b"From: a@example.org\r\nSubject: one\r\n\r\nfirst\r\n",
       b"From: b@example.org\r\nSubject: two\r\n\r\nsecond\r\n",
       b"From: c@example.org\r\nSubject: three\r\n\r\nthird\r\n",
       b"From: d@example.org\r\nSubject: four\r\n\r\nfourth\r\n",
       b"From: e@example.org\r\nSubject: five\r\n\r\nfifth\r\n"]


@pytest.fixture
def imap(inst):
    inst.setup_domain()
    inst.pw = inst.add_user(USER)
    inst.port = inst.start("imapd")
    return inst


@pytest.fixture
def small(redis, cert):
    """An instance whose APPENDLIMIT is 2000 bytes."""
    i = Instance(redis=redis, cert=cert, extra_conf="max_message_size = 2000\n")
    i.setup_domain()
    i.pw = i.add_user(USER)
    i.port = i.start("imapd")
    yield i
    i.cleanup()


# ---- APPEND -------------------------------------------------------------------

def test_append_appenduid_flags_and_date(imap):
    c = connect(imap)
    untagged, status = append(c, MSG[0], flags="\\Seen $Foo", date="15-Jan-2024 10:00:00 +0100")
    uv = status_uidvalidity(c, "INBOX")
    assert untagged == []
    assert status == f"OK [APPENDUID {uv} 1] Append completed."
    _, status = append(c, MSG[1])
    assert status == f"OK [APPENDUID {uv} 2] Append completed."
    c.ok("SELECT INBOX")
    untagged, _ = c.ok("FETCH 1 (FLAGS INTERNALDATE RFC822.SIZE)")
    m = re.match(r'\* 1 FETCH \(FLAGS \((.*)\) INTERNALDATE "(.*)" RFC822\.SIZE (\d+)\)',
                 untagged[0])
    assert m, untagged
    assert set(m.group(1).split()) == {"\\Seen", "$Foo", "\\Recent"}
    when = datetime.datetime.strptime(m.group(2).strip(), "%d-%b-%Y %H:%M:%S %z")
    assert when.timestamp() == datetime.datetime(2024, 1, 15, 9, 0,
                                                 tzinfo=datetime.timezone.utc).timestamp()
    assert int(m.group(3)) == len(MSG[0])


def test_append_date_with_space_padded_day(imap):
    c = connect(imap)
    _, status = append(c, MSG[0], date=" 5-Feb-2024 23:59:60 -0800")
    assert status.startswith("OK [APPENDUID ")
    c.ok("SELECT INBOX")
    untagged, _ = c.ok("FETCH 1 INTERNALDATE")
    when = re.search(r'INTERNALDATE "(.*)"', untagged[0]).group(1).strip()
    # 23:59:60 is a leap second: one past 23:59:59
    assert datetime.datetime.strptime(when, "%d-%b-%Y %H:%M:%S %z").timestamp() == \
        datetime.datetime(2024, 2, 6, 8, 0, 0, tzinfo=datetime.timezone.utc).timestamp()


def test_append_stores_bytes_exactly_bare_lf(imap):
    c = connect(imap)
    data = b"From: x@example.org\nSubject: bare LF\n\nline one\nline two\r\nmixed\rend"
    _, status = append(c, data)
    assert status.startswith("OK [APPENDUID ")
    c.close()
    assert mbox_messages(imap, USER, imap.pw) == [(1, data)]


def test_append_trycreate(imap):
    c = connect(imap)
    assert append(c, MSG[0], mailbox="Nope") == ([], "NO [TRYCREATE] Mailbox doesn't exist.")
    c.ok("CREATE Nope")
    assert append(c, MSG[0], mailbox="Nope")[1].startswith("OK [APPENDUID ")


def test_append_into_selected_mailbox_reports_exists(imap):
    c = connect(imap)
    c.ok("SELECT INBOX")
    untagged, status = append(c, MSG[0])
    assert untagged == ["* 1 EXISTS", "* 1 RECENT"]
    assert status.startswith("OK [APPENDUID ")
    untagged, _ = c.ok("FETCH 1 FLAGS")
    assert untagged == ["* 1 FETCH (FLAGS (\\Recent))"]


def test_append_seen_by_other_session(imap):
    a, b = connect(imap), connect(imap)
    b.ok("SELECT INBOX")
    append(a, MSG[0])
    untagged, _ = b.ok("NOOP")
    assert untagged == ["* 1 EXISTS", "* 1 RECENT"]


@pytest.mark.parametrize("date", ["31-Feb-2024 10:00:00 +0000", "1-Jan-2024 24:00:00 +0000",
                                  "1-Jan-2024 10:00 +0000", "2024-01-01 10:00:00 +0000",
                                  "1-Jan-2024 10:00:00 0000", "1-Foo-2024 10:00:00 +0000"])
def test_append_bad_date_is_bad(imap, date):
    c = connect(imap)
    assert append(c, MSG[0], date=date) == ([], "BAD Invalid date-time.")
    c.ok("NOOP")


def test_append_recent_flag_is_bad(imap):
    c = connect(imap)
    untagged, status = append(c, MSG[0], flags="\\Recent")
    assert status.startswith("BAD ")
    c.ok("NOOP")


def test_append_empty_message_refused(imap):
    c = connect(imap)
    assert append(c, b"") == ([], "NO Cannot append an empty message.")


def test_append_missing_message_is_bad(imap):
    c = connect(imap)
    _, status = c.cmd("APPEND INBOX (\\Seen)")
    assert status.startswith("BAD ")
    c.ok("NOOP")


def test_append_at_limit_accepted(small):
    c = connect(small)
    data = b"Subject: x\r\n\r\n" + b"y" * (2000 - 16) + b"\r\n"
    assert len(data) == 2000
    assert append(c, data)[1].startswith("OK [APPENDUID ")


def test_append_toobig_sync_literal_refused_before_data(small):
    c = connect(small)
    c.send(b"t1 APPEND INBOX {2001}\r\n")
    # no "+" continuation: the tagged NO comes at once
    assert c.line() == "t1 NO [TOOBIG] Message too large (APPENDLIMIT 2000)."
    c.ok("NOOP")
    untagged, _ = c.ok("STATUS INBOX (MESSAGES)")
    assert untagged == ['* STATUS "INBOX" (MESSAGES 0)']


def test_append_toobig_nonsync_literal_discarded(small):
    c = connect(small)
    # the literal's bytes look like commands: none may run
    c.send(b"t1 APPEND INBOX (\\Seen) {3000+}\r\n" + b"NOOP\r\n" * 500 + b"\r\n" +
           b"t2 NOOP\r\n")
    assert c.line() == "t1 NO [TOOBIG] Message too large (APPENDLIMIT 2000)."
    assert c.line() == "t2 OK NOOP completed."


def test_append_huge_nonsync_literal_ends_session(small):
    c = connect(small)
    c.send(b"t1 APPEND INBOX {100000+}\r\n")
    assert c.line() == "t1 BAD [TOOBIG] Literal too large"
    with pytest.raises(EOFError):
        c.line()


def test_append_capability_advertises_limit(small):
    c = connect(small)
    untagged, _ = c.ok("CAPABILITY")
    assert "APPENDLIMIT=2000" in untagged[0].split()


# ---- COPY / MOVE ------------------------------------------------------------------

# ---- limits answer NO [LIMIT] (RFC 5530 section 3) ----------------------------

KEYWORDS_MAX = 64  # STORE_KEYWORDS_MAX, lib/data/store.h


def keywords(n, first=0):
    return " ".join(f"k{i}" for i in range(first, first + n))


def test_store_too_many_keywords_is_limit(imap):
    c = connect(imap)
    append(c, MSG[0])
    c.ok("SELECT INBOX")
    for n in (KEYWORDS_MAX + 1, 5000):
        for item in ("+FLAGS", "FLAGS", "-FLAGS", "+FLAGS.SILENT"):
            untagged, status = c.cmd(f"STORE 1 {item} (\\Seen {keywords(n)})")
            assert status.startswith("NO [LIMIT] "), (item, n, status)
            assert untagged == []
    untagged, _ = c.ok("FETCH 1 FLAGS")
    assert untagged == ["* 1 FETCH (FLAGS (\\Recent))"]
    # The maximum fits; one more on the message is the same limit.
    c.ok(f"STORE 1 FLAGS.SILENT ({keywords(KEYWORDS_MAX)})")
    _, status = c.cmd("STORE 1 +FLAGS (extra)")
    assert status == f"NO [LIMIT] Too many keywords: a message carries at most {KEYWORDS_MAX}."
    untagged, _ = c.ok("FETCH 1 FLAGS")
    assert len(re.search(r"FLAGS \((.*)\)", untagged[0]).group(1).split()) == KEYWORDS_MAX + 1
    _, status = append(c, MSG[1], flags=keywords(5000))
    assert status.startswith("NO [LIMIT] "), status
    assert c.cmd("NOOP")[1] == "OK NOOP completed."
    c.close()


def fill(c, n=3, flags=None):
    for i in range(n):
        append(c, MSG[i], flags=(flags[i] if flags else ""))


def test_copy_copyuid_and_metadata(imap):
    c = connect(imap)
    fill(c, 3, flags=["\\Seen", "\\Flagged $X", ""])
    uvt = status_uidvalidity(c, "Trash")
    c.ok("SELECT INBOX")
    assert c.cmd("COPY 2 Trash") == ([], f"OK [COPYUID {uvt} 2 1] Copy completed.")
    assert c.cmd("COPY 1,3 Trash") == ([], f"OK [COPYUID {uvt} 1,3 2:3] Copy completed.")
    assert c.cmd("UID COPY 1:* Trash") == ([], f"OK [COPYUID {uvt} 1:3 4:6] Copy completed.")
    c.ok("SELECT Trash")
    untagged, _ = c.ok("FETCH 1:3 (FLAGS RFC822.SIZE)")
    assert [re.sub(r" ?\\Recent", "", ln) for ln in untagged] == [
        f"* 1 FETCH (FLAGS (\\Flagged $X) RFC822.SIZE {len(MSG[1])})",
        f"* 2 FETCH (FLAGS (\\Seen) RFC822.SIZE {len(MSG[0])})",
        f"* 3 FETCH (FLAGS () RFC822.SIZE {len(MSG[2])})",
    ]
    c.close()
    got = dict(mbox_messages(imap, USER, imap.pw, "Trash"))
    assert [got[u] for u in range(1, 7)] == [MSG[1], MSG[0], MSG[2], MSG[0], MSG[1], MSG[2]]


def test_copy_trycreate(imap):
    c = connect(imap)
    fill(c, 1)
    c.ok("SELECT INBOX")
    assert c.cmd("COPY 1 Nope") == ([], "NO [TRYCREATE] Mailbox doesn't exist.")


def test_uid_copy_of_nothing(imap):
    c = connect(imap)
    fill(c, 1)
    c.ok("SELECT INBOX")
    assert c.cmd("UID COPY 7:9 Trash") == ([], "OK No messages found.")


def test_copy_bad_sequence_is_bad(imap):
    c = connect(imap)
    fill(c, 1)
    c.ok("SELECT INBOX")
    assert c.cmd("COPY 5 Trash")[1].startswith("BAD ")
    assert c.cmd("COPY x Trash")[1].startswith("BAD ")
    c.ok("NOOP")


def test_copy_into_selected_mailbox(imap):
    c = connect(imap)
    fill(c, 2)
    untagged, _ = c.ok("SELECT INBOX")
    uv = uidvalidity(untagged)
    untagged, status = c.cmd("COPY 1:2 INBOX")
    assert untagged == ["* 4 EXISTS", "* 4 RECENT"]
    assert status == f"OK [COPYUID {uv} 1:2 3:4] Copy completed."


def test_copy_requires_selected(imap):
    c = connect(imap)
    assert c.cmd("COPY 1 Trash") == ([], "BAD No mailbox selected.")


def test_move_copyuid_before_expunge(imap):
    c = connect(imap)
    fill(c, 5)
    uva = status_uidvalidity(c, "Archive")
    c.ok("SELECT INBOX")
    untagged, status = c.cmd("MOVE 2:3,5 Archive")
    assert untagged == [f"* OK [COPYUID {uva} 2:3,5 1:3] Moved UIDs.",
                        "* 5 EXPUNGE", "* 3 EXPUNGE", "* 2 EXPUNGE"]
    assert status == "OK Move completed."
    untagged, _ = c.ok("FETCH 1:* UID")
    assert untagged == ["* 1 FETCH (UID 1)", "* 2 FETCH (UID 4)"]
    c.close()
    assert mbox_messages(imap, USER, imap.pw, "Archive") == [(1, MSG[1]), (2, MSG[2]), (3, MSG[4])]


def test_uid_move_with_qresync_reports_vanished(imap):
    c = connect(imap)
    fill(c, 4)
    uvt = status_uidvalidity(c, "Trash")
    c.ok("ENABLE QRESYNC")
    c.ok("SELECT INBOX")
    untagged, status = c.cmd("UID MOVE 2,4 Trash")
    assert untagged == [f"* OK [COPYUID {uvt} 2,4 1:2] Moved UIDs.", "* VANISHED 2,4"]
    assert status == "OK Move completed."


def test_move_seen_by_other_session(imap):
    a, b = connect(imap), connect(imap)
    fill(a, 3)
    a.ok("SELECT INBOX")
    b.ok("SELECT INBOX")
    a.ok("MOVE 2 Trash")
    untagged, _ = b.ok("NOOP")
    assert untagged == ["* 2 EXPUNGE"]


def test_move_in_examine_refused(imap):
    c = connect(imap)
    fill(c, 2)
    c.ok("EXAMINE INBOX")
    assert c.cmd("MOVE 1 Trash") == ([], "NO [READ-ONLY] Mailbox is read-only.")
    c.ok("SELECT INBOX")
    untagged, _ = c.ok("FETCH 1:* UID")
    assert len(untagged) == 2


def test_move_trycreate(imap):
    c = connect(imap)
    fill(c, 1)
    c.ok("SELECT INBOX")
    assert c.cmd("MOVE 1 Nope") == ([], "NO [TRYCREATE] Mailbox doesn't exist.")
    untagged, _ = c.ok("FETCH 1 UID")
    assert untagged == ["* 1 FETCH (UID 1)"]


def test_move_within_selected_mailbox(imap):
    c = connect(imap)
    fill(c, 2)
    untagged, _ = c.ok("SELECT INBOX")
    uv = uidvalidity(untagged)
    untagged, status = c.cmd("MOVE 1 INBOX")
    assert untagged == [f"* OK [COPYUID {uv} 1 3] Moved UIDs.", "* 1 EXPUNGE",
                        "* 2 EXISTS", "* 2 RECENT"]
    assert status == "OK Move completed."


# ---- EXPUNGE -----------------------------------------------------------------------

def test_expunge_deleted_messages(imap):
    c = connect(imap)
    fill(c, 5, flags=["", "\\Deleted", "", "\\Deleted \\Seen", ""])
    c.ok("SELECT INBOX")
    untagged, status = c.cmd("EXPUNGE")
    assert untagged == ["* 4 EXPUNGE", "* 2 EXPUNGE"]
    assert status == "OK Expunge completed."
    untagged, _ = c.ok("FETCH 1:* UID")
    assert untagged == ["* 1 FETCH (UID 1)", "* 2 FETCH (UID 3)", "* 3 FETCH (UID 5)"]
    assert c.cmd("EXPUNGE") == ([], "OK Expunge completed.")


def test_expunge_with_qresync_reports_vanished(imap):
    c = connect(imap)
    fill(c, 3, flags=["\\Deleted", "", "\\Deleted"])
    c.ok("ENABLE QRESYNC")
    c.ok("SELECT INBOX")
    assert c.cmd("EXPUNGE") == (["* VANISHED 1,3"], "OK Expunge completed.")


def test_uid_expunge_only_deleted_in_set(imap):
    c = connect(imap)
    fill(c, 5, flags=["\\Deleted", "\\Deleted", "", "\\Deleted", "\\Deleted"])
    c.ok("SELECT INBOX")
    untagged, status = c.cmd("UID EXPUNGE 2:4")
    assert untagged == ["* 4 EXPUNGE", "* 2 EXPUNGE"]
    assert status == "OK Expunge completed."
    untagged, _ = c.ok("UID FETCH 1:* UID")
    assert untagged == ["* 1 FETCH (UID 1)", "* 2 FETCH (UID 3)", "* 3 FETCH (UID 5)"]


def test_uid_expunge_needs_a_set(imap):
    c = connect(imap)
    c.ok("SELECT INBOX")
    assert c.cmd("UID EXPUNGE") == ([], "BAD Syntax: UID EXPUNGE uid-set")
    assert c.cmd("EXPUNGE 1") == ([], "BAD Syntax: EXPUNGE")
    c.ok("NOOP")


def test_expunge_seen_by_other_session_on_noop(imap):
    a, b = connect(imap), connect(imap)
    fill(a, 3, flags=["", "\\Deleted", ""])
    a.ok("SELECT INBOX")
    b.ok("SELECT INBOX")
    a.ok("EXPUNGE")
    untagged, _ = b.ok("NOOP")
    assert untagged == ["* 2 EXPUNGE"]
    untagged, _ = b.ok("FETCH 1:* UID")
    assert untagged == ["* 1 FETCH (UID 1)", "* 2 FETCH (UID 3)"]


def test_expunge_not_reported_during_fetch_of_other_session(imap):
    """RFC 3501 section 7.4.1: no EXPUNGE during FETCH; it waits for NOOP."""
    a, b = connect(imap), connect(imap)
    fill(a, 2, flags=["\\Deleted", ""])
    a.ok("SELECT INBOX")
    b.ok("SELECT INBOX")
    a.ok("EXPUNGE")
    untagged, _ = b.ok("FETCH 2 UID")
    assert untagged == ["* 2 FETCH (UID 2)"]
    untagged, _ = b.ok("NOOP")
    assert untagged == ["* 1 EXPUNGE"]


def test_expunge_in_examine_refused(imap):
    c = connect(imap)
    fill(c, 1, flags=["\\Deleted"])
    c.ok("EXAMINE INBOX")
    assert c.cmd("EXPUNGE") == ([], "NO [READ-ONLY] Mailbox is read-only.")
    c.ok("SELECT INBOX")
    untagged, _ = c.ok("FETCH 1 UID")
    assert untagged == ["* 1 FETCH (UID 1)"]
