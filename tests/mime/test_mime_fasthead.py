"""The header scanner: the plain cases it reads, the odd ones it declines, and never a
result the email-package path would not give."""

import email.utils
from email.message import EmailMessage

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mailward.mime import _fasthead, _tree, summarize
from mailward.mime.summary import Summary, _full_parse, _single_part, _single_part_email

FUZZ = settings(
    max_examples=max(300, settings().max_examples),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

FOX = "The quick brown fox jumps over the lazy dog.\n"


def built(cte: str | None = None, charset: str = "utf-8", subject: str = "Lunch?") -> bytes:
    message = EmailMessage()
    message["Received"] = (
        "from mx.example.test (mx.example.test [192.0.2.1]) by mail.example.test"
        " with ESMTPS id 4Xc1; Mon, 3 Jun 2024 10:00:01 +0000"
    )
    message["X-Spam-Score"] = "0.1"
    message["From"] = "Alice Example <alice@example.test>"
    message["To"] = "Bob <bob@example.test>, carol@example.test"
    message["Cc"] = "Dave <dave@example.test>"
    message["Subject"] = subject
    message["Date"] = "Mon, 3 Jun 2024 12:00:00 +0200"
    message["Message-ID"] = email.utils.make_msgid(domain="example.test")
    body = FOX * 90 if charset == "us-ascii" else "Caf\u00e9 " + FOX * 90
    if cte is None:
        message.set_content(body, charset=charset)
    else:
        message.set_content(body, charset=charset, cte=cte)
    return message.as_bytes()


def crlf(text: str) -> bytes:
    return text.replace("\n", "\r\n").encode("utf-8")


TAKEN = {
    "7bit ascii": built(charset="us-ascii"),
    "8bit": built(cte="8bit", subject="R\u00e9union d'\u00e9quipe"),
    "quoted-printable": built(cte="quoted-printable"),
    "base64": built(cte="base64"),
    "crlf": built(cte="base64").replace(b"\n", b"\r\n"),
    "no content-type": crlf("From: a@example.test\nSubject: hi\n\nhello"),
    "html": crlf("Content-Type: text/html; charset=utf-8\n\n<p>Hi</p>"),
    "other text": crlf("Content-Type: text/calendar; method=REQUEST\n\nBEGIN:VCALENDAR"),
    "folded": crlf(
        "Subject: one\n two\nTo: a,\n\tb\nContent-Type: text/plain;\n charset=utf-8\n\nx"
    ),
    "quoted charset": crlf('Content-Type: TEXT/Plain; Format=flowed; CHARSET = "ISO-8859-1"\n\nx'),
    "inline": crlf("Content-Type: text/plain\nContent-Disposition: inline\n\nx"),
    "attachment": crlf("Content-Type: text/plain\nContent-Disposition: attachment\n\nx"),
    "8-bit values": b"From: J\xc3\xbcrgen <j@example.test>\r\nSubject: \xff\r\n\r\nx",
    "empty values": crlf("Subject:\nTo: \nCc:\t\n  \n\nx"),
    "no header": b"\r\nbody",
    "body opens with an empty line": crlf("Subject: s\n\n\nbody"),
}

DECLINED = {
    "no blank line": crlf("Subject: s\nthis line is no header\n"),
    "headers only": crlf("Subject: s\n"),
    # head_end reads the CRLF line as the end: the old path hands this to the full parse.
    "empty LF line, then an empty CRLF line": b"Subject: s\r\n\n\r\nbody",
    "continuation first": crlf(" folded\nSubject: s\n\nx"),
    "mbox From line": crlf("From alice@example.test Mon Jun  3 10:00:00 2024\nSubject: s\n\nx"),
    "empty name": crlf(": value\nSubject: s\n\nx"),
    "space before colon": crlf("Subject : s\n\nx"),
    "8-bit name": b"X-\xe9: y\r\nSubject: s\r\n\r\nx",
    "nul": b"Subject: n\x00ul\r\n\r\nx",
    "vertical tab": b"Subject: a\x0bb\r\n\r\nx",
    "bare cr": b"Subject: a\rb\r\n\r\nx",
    "two content-types": crlf("Content-Type: text/plain\nContent-Type: text/html\n\nx"),
    "multipart": crlf("Content-Type: multipart/mixed; boundary=b\n\n--b\n\nx\n--b--\n"),
    "message": crlf("Content-Type: message/rfc822\n\nSubject: inner\n\nx"),
    "application": crlf("Content-Type: application/pdf\n\n%PDF"),
    "rfc 2231": crlf("Content-Type: text/plain; charset*=utf-8''utf-8\n\nx"),
    "comment": crlf("Content-Type: text/plain; charset=utf-8 (plain)\n\nx"),
    "file name": crlf("Content-Type: text/plain; name=notes.txt\n\nx"),
    "bare parameter": crlf("Content-Type: text/plain; flowed\n\nx"),
    "trailing semicolon": crlf("Content-Type: text/plain;\n\nx"),
    "backslash": crlf('Content-Type: text/plain; charset="utf\\-8"\n\nx'),
    "no subtype": crlf("Content-Type: text\n\nx"),
    "8-bit type": b"Content-Type: text/plain; charset=\xc3\xa9\r\n\r\nx",
    "disposition file name": crlf("Content-Disposition: attachment; filename=a.txt\n\nx"),
    "two dispositions": crlf("Content-Disposition: inline\nContent-Disposition: inline\n\nx"),
}


@pytest.mark.parametrize("name", list(TAKEN))
def test_plain_messages_take_the_scanner(name: str) -> None:
    raw = TAKEN[name]
    assert _fasthead.scan(raw) is not None
    assert _single_part(raw) == _single_part_email(raw) == _full_parse(raw)


@pytest.mark.parametrize("name", list(DECLINED))
def test_odd_messages_are_declined(name: str) -> None:
    raw = DECLINED[name]
    assert _fasthead.scan(raw) is None
    assert summarize(raw) == _full_parse(raw)


def test_scanner_reads_what_the_email_package_stores() -> None:
    head = _fasthead.scan(TAKEN["folded"])
    assert head is not None
    assert head.fields["subject"] == ["one\r\n two"]
    assert head.fields["to"] == ["a,\r\n\tb"]
    assert (head.content_type, head.charset, head.transfer_encoding) == ("text/plain", "utf-8", "")
    quoted = _fasthead.scan(TAKEN["quoted charset"])
    assert quoted is not None and quoted.charset == "iso-8859-1"
    assert _fasthead.scan(TAKEN["empty values"]) == (
        len(TAKEN["empty values"]) - 1,
        {"subject": [""], "to": [""], "cc": ["\r\n  "]},
        "text/plain",
        None,
        "",
        False,
    )


# Generated header sections: real field names in any case and order, values with
# encoded-words, 8-bit bytes and controls, folds anywhere, mixed line ends, and now
# and then a line the scanner must refuse.
NAMES = [
    "Subject", "SUBJECT", "From", "from", "To", "TO", "Cc", "cc", "Date", "Message-ID",
    "content-type", "Content-Transfer-Encoding", "Content-Disposition",
    "MIME-Version", "Received", "X-Mailer", "Reply-To", "Bcc", "X-Date", "Ccc",
]  # fmt: skip
CORE = ["From", "To", "Subject", "Date", "Message-ID", "Content-Type", "Content-Transfer-Encoding"]
TEXT = [
    "Lunch on Thursday?", "=?utf-8?q?Caf=C3=A9?=", "=?UTF-8?B?0J/RgNC40LLQtdGC?= =?UTF-8?B?IQ==?=",
    "=?iso-8859-1?q?R=E9union?=", "=?x-bogus?q?=FF?=", "Alice <alice@example.test>",
    '"Zo\u00eb" <zoe@example.test>, bob@example.test', "", "  ", "(comment) x", "a\tb",
    "<id@example.test>", "Mon, 3 Jun 2024 10:00:00 +0000",
]  # fmt: skip
DATES = [
    "Mon, 3 Jun 2024 10:00:00 +0000", "3 Jun 2024 10:00:00 -0000", "yesterday", "",
    "Fri, 31 Feb 2024 10:00:00 +0200", "Tue, 4 Jun 2024 09:15:00 -0430",
    "Wed, 5 Jun 2024 25:61:00 +9999", "Mon, 3 Jun 24 10:00 GMT",
    "Sun, 3 Jun 0099 10:00:00 +0000", "Thu, 06 Jun 2024 23:59:59 +1400",
    "Sat,  8 Jun 2024 08:00:00 +0100 (CET)", "mon, 3 jun 2024 10:00:00 +0000",
]  # fmt: skip
TYPES = [
    "text/plain", "text/plain; charset=utf-8", 'text/plain; charset="UTF-8"',
    "TEXT/HTML; CHARSET=iso-8859-1", "text/plain; format=flowed; charset=us-ascii",
    'text/plain; charset=""', "text/plain;\r\n charset=utf-8", "text/plain; charset=utf-8 (c)",
    "text/plain; charset*=utf-8''x", "text/plain; name=a.txt", "text/calendar; method=REQUEST",
    "multipart/mixed; boundary=b", "message/rfc822", "application/pdf", "text/plain;", "text",
    "text/plain; charset=x-bogus", "text/plain; charset=utf-8; charset=latin-1",
    'text/plain; Charset = "utf-8" ', 'text/plain; charset="<utf-8>"', "text / plain",
    "text/plain; charset=utf-16", "text/plain; charsetx=latin-1; charset=utf-8", "garbage",
]  # fmt: skip
ENCODINGS = ["7bit", "8bit", "base64", "BASE64", " quoted-printable ", "quoted-printable; x",
             "binary", "x-uuencode", "", "base\r\n 64"]  # fmt: skip
DISPOSITIONS = ["inline", "attachment", "INLINE; foo=bar", "attachment; filename=a.txt", "bogus"]
ODD_LINES = [b"From alice Mon Jun 3\n", b" continued\n", b": no name\n", b"no colon\n",
             b"Sub ject: x\n", b"X-\xe9: y\n", b"X: a\x00b\n", b"X: a\rb\n", b"X: \x1c\n",
             b"X: \x0c\n"]  # fmt: skip
EXTRA = [b"\xc3\xa9", b"\xff", b"\x7f", b"\xc2\x85", b"=?", b"?=", b" ", b"\t", b";", b'"']
BODIES = [
    b"",
    b"hello\n",
    b"\r\nhello\r\n",
    b"\n\nhello",
    (FOX * 80).encode(),
    ("Caf\u00e9 " * 600).encode(),
    b"PHA+Q2Fm6SAmYW1wOyB0aGU8L3A+\n" * 120,
    b"Caf=C3=A9 =\n" * 300,
    bytes(range(256)) * 12,
]


def value_for(name: str) -> st.SearchStrategy[str]:
    lower = name.lower()
    if lower == "content-type":  # half of them from the first, plain, few
        return st.one_of(st.sampled_from(TYPES[:5]), st.sampled_from(TYPES))
    if lower == "content-transfer-encoding":
        return st.sampled_from(ENCODINGS)
    if lower == "content-disposition":
        return st.sampled_from(DISPOSITIONS)
    if lower == "date":
        return st.sampled_from(DATES)
    return st.sampled_from(TEXT)


@st.composite
def header_sections(draw: st.DrawFn) -> bytes:
    eol = draw(st.sampled_from([b"\r\n", b"\n"]))
    lines: list[bytes] = []
    core = [name for name in CORE if draw(st.integers(0, 3))]  # each kept 3 times in 4
    names = draw(st.permutations(core + draw(st.lists(st.sampled_from(NAMES), max_size=6))))
    for name in names:
        value = bytearray(draw(value_for(name)).encode("utf-8"))
        if draw(st.integers(0, 7)) == 0:
            position = draw(st.integers(0, len(value)))
            value[position:position] = draw(st.sampled_from(EXTRA))
        for _ in range(draw(st.integers(0, 2))):  # a fold anywhere, even mid-word
            fold = draw(st.sampled_from([b"\r\n ", b"\n\t", b"\r\n\t ", b"\n  "]))
            position = draw(st.integers(0, len(value)))
            value[position:position] = fold
        space = draw(st.sampled_from([b" ", b"", b"  ", b"\t", b" \t "]))
        lines.append(name.encode() + b":" + space + bytes(value) + eol)
    if draw(st.integers(0, 7)) == 0:
        odd = draw(st.sampled_from(ODD_LINES)).replace(b"\n", eol)
        lines.insert(draw(st.integers(0, len(lines))), odd)
    if draw(st.integers(0, 9)) == 0:  # a line end of the other kind
        lines.append(b"X-Other: y" + (b"\n" if eol == b"\r\n" else b"\r\n"))
    blank = draw(st.sampled_from([eol, eol, eol, eol, b"\n", b""]))
    return b"".join(lines) + blank + draw(st.sampled_from(BODIES))


def old_fast_path(raw: bytes) -> Summary | None:
    try:
        return _single_part_email(raw)
    except _tree.PARSE_ERRORS:
        return None


@FUZZ
@given(header_sections())
def test_scanner_agrees_with_the_email_package_or_declines(raw: bytes) -> None:
    new = _single_part(raw)
    assert new is None or new == old_fast_path(raw)
    assert summarize(raw) == _full_parse(raw)


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    """A plain message with a few bytes of its header section changed."""
    data = bytearray(draw(st.sampled_from(list(TAKEN.values()))))
    for _ in range(draw(st.integers(1, 4))):
        position = draw(st.integers(0, min(len(data), 600)))
        if draw(st.booleans()):
            data[position:position] = draw(st.binary(max_size=3))
        else:
            del data[position : position + draw(st.integers(1, 3))]
    return bytes(data)


@FUZZ
@given(mutated())
def test_scanner_agrees_on_damaged_sections(raw: bytes) -> None:
    new = _single_part(raw)
    assert new is None or new == old_fast_path(raw)


def test_generated_sections_mostly_take_the_scanner() -> None:
    # Guards the test above against a generator that only produces declined input.
    # Derandomized: the same 200 examples every run, so the share cannot flake.
    taken = 0

    @settings(max_examples=200, deadline=None, database=None, derandomize=True)
    @given(header_sections())
    def count(raw: bytes) -> None:
        nonlocal taken
        taken += _fasthead.scan(raw) is not None

    count()
    assert taken >= 40
