"""The IMAP grammar: tables of commands in, frozen values out; fuzzing."""

import contextlib
from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mailward.imap.protocol import ParseError, parse, read_tag
from mailward.imap.protocol.grammar import (
    STAR,
    Append,
    CopyTo,
    Fetch,
    FetchAtt,
    ListArgs,
    Search,
    SearchKey,
    Select,
    StatusArgs,
    Store,
    resolve,
)
from mailward.imap.protocol.mutf7 import decode_mailbox, encode_mailbox
from mailward.imap.protocol.response import number_set, string

PARSED = [
    (b"a1 NOOP", "NOOP", None),
    (b"a1 capability", "CAPABILITY", None),
    (b'a2 LOGIN alice "pass word"', "LOGIN", ("alice", "pass word")),
    (b"a2 LOGIN {5}\r\nalice {3+}\r\np w", "LOGIN", ("alice", "p w")),
    (b"a3 SELECT INBOX", "SELECT", Select("INBOX")),
    (b"a3 SELECT inbox (CONDSTORE)", "SELECT", Select("inbox", True)),
    (b'a3 EXAMINE "Sent"', "EXAMINE", Select("Sent")),
    (b"a4 CREATE Caf&AOk-", "CREATE", "Café"),
    (b"a5 RENAME a b", "RENAME", ("a", "b")),
    (b'a6 LIST "" *', "LIST", ListArgs("", "*")),
    (b'a6 LIST "" %/x', "LIST", ListArgs("", "%/x")),
    (
        b'a6 LIST (SUBSCRIBED) "" * RETURN (CHILDREN STATUS (MESSAGES))',
        "LIST",
        ListArgs("", "*", ("SUBSCRIBED",), ("CHILDREN", "STATUS MESSAGES")),
    ),
    (b"a7 STATUS INBOX (MESSAGES UNSEEN)", "STATUS", StatusArgs("INBOX", ("MESSAGES", "UNSEEN"))),
    (
        b'a8 APPEND Drafts (\\Draft) "05-Mar-2026 10:20:30 +0100" {3}\r\nabc',
        "APPEND",
        Append(
            "Drafts",
            ("\\Draft",),
            datetime(2026, 3, 5, 10, 20, 30, tzinfo=timezone(timedelta(hours=1))),
            b"abc",
        ),
    ),
    (b"a8 APPEND INBOX {2+}\r\nhi", "APPEND", Append("INBOX", (), None, b"hi")),
    (
        b"a9 FETCH 1:* (UID FLAGS)",
        "FETCH",
        Fetch(((1, STAR),), (FetchAtt("UID"), FetchAtt("FLAGS"))),
    ),
    (
        b"a9 FETCH 2,4:6 FAST",
        "FETCH",
        Fetch(
            ((2, 2), (4, 6)), (FetchAtt("FLAGS"), FetchAtt("INTERNALDATE"), FetchAtt("RFC822.SIZE"))
        ),
    ),
    (
        b"a9 UID FETCH 7 (BODY.PEEK[HEADER.FIELDS (Subject From)]<0.100>)",
        "UID FETCH",
        Fetch(((7, 7),), (FetchAtt("BODY", "HEADER.FIELDS (Subject From)", True, (0, 100)),)),
    ),
    (b"a9 FETCH 1 body[1.2.mime]", "FETCH", Fetch(((1, 1),), (FetchAtt("BODY", "1.2.MIME"),))),
    (b"a9 FETCH 1 BODY[]", "FETCH", Fetch(((1, 1),), (FetchAtt("BODY", ""),))),
    (
        b"a9 FETCH 1:* (FLAGS) (CHANGEDSINCE 12)",
        "FETCH",
        Fetch(((1, STAR),), (FetchAtt("FLAGS"),), 12),
    ),
    (
        b"b1 STORE 1:3 +FLAGS.SILENT (\\Seen $Junk)",
        "STORE",
        Store(((1, 3),), "+", True, ("\\Seen", "$Junk")),
    ),
    (b"b1 STORE 1 FLAGS \\Seen", "STORE", Store(((1, 1),), "", False, ("\\Seen",))),
    (
        b"b1 UID STORE 5 (UNCHANGEDSINCE 9) -FLAGS (\\Deleted)",
        "UID STORE",
        Store(((5, 5),), "-", False, ("\\Deleted",), 9),
    ),
    (b"b2 COPY 1:2 Archive", "COPY", CopyTo(((1, 2),), "Archive")),
    (b"b2 UID MOVE 9 Trash", "UID MOVE", CopyTo(((9, 9),), "Trash")),
    (b"b3 UID EXPUNGE 3:4", "UID EXPUNGE", ((3, 4),)),
    (b"b4 SEARCH UNSEEN", "SEARCH", Search(SearchKey("UNSEEN"))),
    (
        b'b4 SEARCH CHARSET UTF-8 FROM "a b" SINCE 1-Feb-2026',
        "SEARCH",
        Search(
            SearchKey(
                "AND", children=(SearchKey("FROM", "a b"), SearchKey("SINCE", date(2026, 2, 1)))
            ),
            "UTF-8",
        ),
    ),
    (
        b"b4 UID SEARCH OR SEEN (FLAGGED 1:5) NOT HEADER X-Spam yes",
        "UID SEARCH",
        Search(
            SearchKey(
                "AND",
                children=(
                    SearchKey(
                        "OR",
                        children=(
                            SearchKey("SEEN"),
                            SearchKey(
                                "AND", children=(SearchKey("FLAGGED"), SearchKey("SEQ", ((1, 5),)))
                            ),
                        ),
                    ),
                    SearchKey("NOT", children=(SearchKey("HEADER", ("X-Spam", "yes")),)),
                ),
            )
        ),
    ),
    (b"b5 SEARCH RETURN (MIN COUNT) ALL", "SEARCH", Search(SearchKey("ALL"), "", ("MIN", "COUNT"))),
    (b'b6 ID ("name" "mbsync" "version" NIL)', "ID", {"name": "mbsync", "version": ""}),
    (b"b6 ID NIL", "ID", {}),
    (b"b7 ENABLE CONDSTORE", "ENABLE", ("CONDSTORE",)),
    (b"b8 AUTHENTICATE PLAIN AGFsaWNlAHB3", "AUTHENTICATE", ("PLAIN", "AGFsaWNlAHB3")),
]


@pytest.mark.parametrize(("line", "name", "args"), PARSED)
def test_parse_table(line: bytes, name: str, args: object) -> None:
    cmd = parse(line)
    assert cmd.name == name
    assert cmd.args == args


BAD = [
    b"",
    b"NOOP",  # no tag... taken as a tag with no command
    b"a1",
    b"a1 FROB",
    b"a1 NOOP extra",
    b"a1 SELECT",
    b'a1 SELECT "open',
    b"a1 FETCH 1 (FLAGS",
    b"a1 FETCH 0 FLAGS",
    b"a1 FETCH 1 (NOPE)",
    b"a1 FETCH 1 BODY[5.FOO]",
    b"a1 FETCH 1 BINARY[1]",
    b"a1 STORE 1 FLAGS (\\Seen",
    b"a1 STORE 1 LABELS (x)",
    b"a1 SEARCH ((((",
    b"a1 SEARCH BEFORE 32-Jan-2026",
    b"a1 SEARCH NOSUCHKEY",
    b"a1 APPEND INBOX",
    b"a1 APPEND INBOX {10}\r\nshort",
    b"a1 LOGIN a",
    b"a1 CREATE &Jjo",
    b"a1 STATUS INBOX MESSAGES",
    b'a1 LOGIN "a\\x" b',
    b"a1 SEARCH " + b"(" * 60 + b"ALL" + b")" * 60,
]


@pytest.mark.parametrize("line", BAD)
def test_parse_errors(line: bytes) -> None:
    with pytest.raises(ParseError):
        parse(line)


def test_read_tag() -> None:
    assert read_tag(b"a001 NOOP") == "a001"
    assert read_tag(b"+ x") is None
    assert read_tag(b"") is None


@given(st.binary(max_size=300))
def test_parse_never_raises_anything_else(data: bytes) -> None:
    with contextlib.suppress(ParseError):
        parse(data)


@given(st.text(max_size=40))
def test_mutf7_round_trip(name: str) -> None:
    encoded = encode_mailbox(name)
    assert encoded.isascii()
    assert decode_mailbox(encoded) == name


def test_mutf7_rfc_example() -> None:
    assert encode_mailbox("~peter/mail/台北/日本語") == b"~peter/mail/&U,BTFw-/&ZeVnLIqe-"
    assert decode_mailbox(b"&U,BTFw-") == "台北"
    assert decode_mailbox(b"a&-b") == "a&b"


def test_resolve_and_number_set() -> None:
    assert resolve(((3, 1), (5, STAR)), 9) == [(1, 3), (5, 9)]
    assert resolve(((STAR, 7),), 4) == [(4, 7)]
    assert number_set([1, 2, 3, 5, 7, 8]) == b"1:3,5,7:8"
    assert number_set([]) == b""


def test_string_quotes_or_literal() -> None:
    assert string('a "b" \\c') == b'"a \\"b\\" \\\\c"'
    assert string("line\r\nbreak") == b"{11}\r\nline\r\nbreak"
    assert string("é") == b"{2}\r\n\xc3\xa9"


def test_date_in_utc() -> None:
    cmd = parse(b'a APPEND INBOX "01-Jan-2026 00:00:00 +0000" {1}\r\nx')
    assert isinstance(cmd.args, Append)
    assert cmd.args.date == datetime(2026, 1, 1, tzinfo=UTC)
