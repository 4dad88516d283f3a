from datetime import UTC, datetime, timedelta, timezone

import pytest

from mailward.mime import Summary, summarize
from mailward.mime.summary import _full_parse


def crlf(text: str) -> bytes:
    return text.replace("\n", "\r\n").encode("utf-8")


PLAIN = crlf("""\
Return-Path: <alice@example.test>
Received: from mx.example.test (mx.example.test [192.0.2.1])
\tby mail.example.test with ESMTPS id 4Xc1; Mon, 3 Jun 2024 10:00:01 +0000
From: Alice Example <alice@example.test>
To: Bob <bob@example.test>,
 carol@example.test
Cc: Dave <dave@example.test>
Subject: Lunch on
 Thursday?
Date: Mon, 3 Jun 2024 12:00:00 +0200
Message-ID: <20240603100000.4Xc1@example.test>
MIME-Version: 1.0
Content-Type: text/plain; charset=us-ascii

Hi Bob,

are we   still on for lunch on Thursday?\tThe usual place.

Alice
""")

QUOTED_PRINTABLE = crlf("""\
From: =?utf-8?q?Ren=C3=A9e_Dupont?= <renee@example.test>
To: bob@example.test
Subject: =?iso-8859-1?q?R=E9union_d=27=E9quipe?=
Date: Tue, 4 Jun 2024 09:15:00 -0400
Message-ID: <qp-1@example.test>
MIME-Version: 1.0
Content-Type: text/plain; charset="utf-8"
Content-Transfer-Encoding: quoted-printable

Bonjour =C3=A0 tous, la r=C3=A9union commence =C3=A0 10=C2=A0h. Ceci est une =
ligne coup=C3=A9e.
""")

BASE64_UTF8 = crlf("""\
From: =?UTF-8?B?0JjQstCw0L0=?= <ivan@example.test>
To: bob@example.test
Subject: =?UTF-8?B?0J/RgNC40LLQtdGC?= =?UTF-8?B?INC80LjRgCE=?=
Date: Wed, 5 Jun 2024 08:00:00 +0300
Message-ID: <b64-1@example.test>
MIME-Version: 1.0
Content-Type: text/plain; charset=UTF-8
Content-Transfer-Encoding: base64

0J/RgNC40LLQtdGCLCDQkdC+0LEhINCa0LDQuiDQtNC10LvQsD8K
""")

# One euro sign (E2 82 AC) split across two encoded-words, as some mailers do.
SPLIT_WORDS = crlf("""\
From: "Zo\u00eb" <zoe@example.test>
Subject: =?utf-8?q?Price=3A_10_=E2=82?= =?utf-8?q?=AC?= (final)
Content-Type: text/plain

ok
""")

ALTERNATIVE = crlf("""\
From: News <news@example.test>
To: bob@example.test
Subject: Weekly digest
MIME-Version: 1.0
Content-Type: multipart/alternative; boundary="alt-7f3a"

--alt-7f3a
Content-Type: text/plain; charset=utf-8

This week: three stories.
--alt-7f3a
Content-Type: text/html; charset=utf-8

<html><body><p>This week: <b>three</b> stories.</p></body></html>
--alt-7f3a--
""")

HTML_ONLY = crlf("""\
From: Shop <offers@shop.example.test>
To: bob@example.test
Subject: 20% off
Content-Type: text/html; charset=utf-8

<!DOCTYPE html>
<html><head><title>Offer</title><style>p { color: red; }</style></head>
<body><script>track()</script><p>Hello&nbsp;Bob &amp; family,</p>
<div>save &euro;20 &lt;today&gt;</div><!-- hidden --></body></html>
""")

WITH_ATTACHMENT = crlf("""\
From: alice@example.test
To: bob@example.test
Subject: The report
Content-Type: multipart/mixed; boundary=mix

--mix
Content-Type: text/plain

See attached.
--mix
Content-Type: application/pdf; name=report.pdf
Content-Disposition: attachment; filename=report.pdf
Content-Transfer-Encoding: base64

JVBERi0xLjQK
--mix--
""")

ONLY_ATTACHMENT = crlf("""\
From: scanner@example.test
Subject: Scan
Content-Type: application/pdf
Content-Transfer-Encoding: base64

JVBERi0xLjQK
""")

EIGHT_BIT_HEADERS = (
    b"From: J\xc3\xbcrgen <juergen@example.test>\r\n"
    b"Subject: Gr\xc3\xbc\xc3\x9fe \xff\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n\r\n"
    b"Sch\xc3\xb6ne Gr\xc3\xbc\xc3\x9fe\r\n"
)

LF_ONLY = b"Subject: unix\nFrom: a@example.test\n\nline one\nline two\n"


def summary(**fields: object) -> Summary:
    base: dict[str, object] = {
        "subject": "",
        "sender": "",
        "to": "",
        "cc": "",
        "date": None,
        "message_id": "",
        "snippet": "",
        "has_attachments": False,
        "malformed": False,
    }
    return Summary(**(base | fields))  # type: ignore[arg-type]


EXPECTED = {
    "plain": summary(
        subject="Lunch on Thursday?",
        sender="Alice Example <alice@example.test>",
        to="Bob <bob@example.test>, carol@example.test",
        cc="Dave <dave@example.test>",
        date=datetime(2024, 6, 3, 12, 0, tzinfo=timezone(timedelta(hours=2))),
        message_id="<20240603100000.4Xc1@example.test>",
        snippet="Hi Bob, are we still on for lunch on Thursday? The usual place. Alice",
    ),
    "quoted-printable": summary(
        subject="R\u00e9union d'\u00e9quipe",
        sender="Ren\u00e9e Dupont <renee@example.test>",
        to="bob@example.test",
        date=datetime(2024, 6, 4, 9, 15, tzinfo=timezone(timedelta(hours=-4))),
        message_id="<qp-1@example.test>",
        snippet="Bonjour \u00e0 tous, la r\u00e9union commence \u00e0 10 h."
        " Ceci est une ligne coup\u00e9e.",
    ),
    "base64": summary(
        subject="\u041f\u0440\u0438\u0432\u0435\u0442 \u043c\u0438\u0440!",
        sender="\u0418\u0432\u0430\u043d <ivan@example.test>",
        to="bob@example.test",
        date=datetime(2024, 6, 5, 8, 0, tzinfo=timezone(timedelta(hours=3))),
        message_id="<b64-1@example.test>",
        snippet="\u041f\u0440\u0438\u0432\u0435\u0442, \u0411\u043e\u0431!"
        " \u041a\u0430\u043a \u0434\u0435\u043b\u0430?",
    ),
    "split words": summary(
        subject="Price: 10 \u20ac (final)",
        sender='"Zo\u00eb" <zoe@example.test>',
        snippet="ok",
    ),
    "alternative": summary(
        subject="Weekly digest",
        sender="News <news@example.test>",
        to="bob@example.test",
        snippet="This week: three stories.",
    ),
    "html only": summary(
        subject="20% off",
        sender="Shop <offers@shop.example.test>",
        to="bob@example.test",
        snippet="Hello Bob & family, save \u20ac20 <today>",
    ),
    "attachment": summary(
        subject="The report",
        sender="alice@example.test",
        to="bob@example.test",
        snippet="See attached.",
        has_attachments=True,
    ),
    "only attachment": summary(subject="Scan", sender="scanner@example.test", has_attachments=True),
    "8-bit headers": summary(
        subject="Gr\u00fc\u00dfe \ufffd",
        sender="J\u00fcrgen <juergen@example.test>",
        snippet="Sch\u00f6ne Gr\u00fc\u00dfe",
    ),
    "lf only": summary(subject="unix", sender="a@example.test", snippet="line one line two"),
}

MESSAGES = {
    "plain": PLAIN,
    "quoted-printable": QUOTED_PRINTABLE,
    "base64": BASE64_UTF8,
    "split words": SPLIT_WORDS,
    "alternative": ALTERNATIVE,
    "html only": HTML_ONLY,
    "attachment": WITH_ATTACHMENT,
    "only attachment": ONLY_ATTACHMENT,
    "8-bit headers": EIGHT_BIT_HEADERS,
    "lf only": LF_ONLY,
}


@pytest.mark.parametrize("name", list(EXPECTED))
def test_summary(name: str) -> None:
    assert summarize(MESSAGES[name]) == EXPECTED[name]


@pytest.mark.parametrize("name", list(EXPECTED))
def test_fast_path_agrees_with_the_full_parse(name: str) -> None:
    assert summarize(MESSAGES[name]) == _full_parse(MESSAGES[name])


def test_snippet_is_capped_at_200_characters() -> None:
    raw = crlf("Subject: long\n\n" + "word " * 10_000)
    snippet = summarize(raw).snippet
    assert len(snippet) <= 200
    assert snippet == ("word " * 40).strip()


def test_snippet_of_a_huge_body_reads_only_a_prefix() -> None:
    raw = crlf("Subject: big\nContent-Transfer-Encoding: base64\n\n") + b"aGVsbG8g\r\n" * 2_000_000
    assert summarize(raw).snippet.startswith("hello hello")


def test_snippet_skips_leading_whitespace_and_html_head() -> None:
    style = "<style>" + "p{}" * 20_000 + "</style>"
    raw = crlf(f"Content-Type: text/html\n\n<html><head>{style}</head><body>\n\n  Hi</body>")
    assert summarize(raw).snippet == "Hi"


def test_header_values_never_hold_line_breaks() -> None:
    raw = crlf("Subject: =?utf-8?q?one=0D=0Atwo=00three?=\nFrom: a\n\tb\n\nx")
    result = summarize(raw)
    assert result.subject == "one  two three"
    assert result.sender == "a\tb".replace("\t", " ")


def test_repeated_recipient_fields_are_joined() -> None:
    raw = crlf("To: a@example.test\nTo: b@example.test\nCc: \nCc: c@example.test\n\nx")
    result = summarize(raw)
    assert (result.to, result.cc) == ("a@example.test, b@example.test", "c@example.test")


def test_date_without_zone_and_bad_date() -> None:
    naive = summarize(crlf("Date: Mon, 3 Jun 2024 10:00:00 -0000\n\nx")).date
    assert naive == datetime(2024, 6, 3, 10, 0)
    assert summarize(crlf("Date: Mon, 3 Jun 2024 10:00:00 +0000\n\nx")).date == datetime(
        2024, 6, 3, 10, 0, tzinfo=UTC
    )
    for bad in ("yesterday", "Mon, 99 Foo 2024 99:99:99", "Mon, 3 Jun 99999 10:00:00 +0000"):
        assert summarize(crlf(f"Date: {bad}\n\nx")).date is None


MALFORMED = {
    "missing closing boundary": crlf(
        "Subject: cut\nContent-Type: multipart/mixed; boundary=b\n\n--b\n"
        "Content-Type: text/plain\n\nfirst part, never closed\n"
    ),
    "bad base64": crlf("Subject: b64\nContent-Transfer-Encoding: base64\n\naGVsbG8*!gd29ybGQ\n"),
    "bogus charset": crlf("Subject: cs\nContent-Type: text/plain; charset=x-no-such-thing\n\nhi"),
    "no blank line": crlf("Subject: no gap\nthis line is no header\nnor this one\n"),
    "nul bytes": b"Subject: n\x00ul\r\nFrom: x\r\n\r\nbo\x00dy\r\n",
    "undecodable utf-8": b"Content-Type: text/plain; charset=utf-8\r\n\r\ncaf\xe9\r\n",
    "continuation first": crlf(" folded\nSubject: s\n\nbody"),
}

MALFORMED_SNIPPETS = {
    "missing closing boundary": "first part, never closed",
    "bad base64": "hello world",
    "bogus charset": "hi",
    "no blank line": "this line is no header nor this one",
    "nul bytes": "body",
    "undecodable utf-8": "caf\ufffd",
    "continuation first": "body",
}


@pytest.mark.parametrize("name", list(MALFORMED))
def test_malformed(name: str) -> None:
    result = summarize(MALFORMED[name])
    assert result.malformed, name
    assert result.snippet == MALFORMED_SNIPPETS[name]


def test_nul_bytes_in_headers_become_spaces() -> None:
    assert summarize(MALFORMED["nul bytes"]).subject == "n ul"


@pytest.mark.parametrize("raw", [b"", b"\r\n", b"\x00" * 100, b"\xff\xfe garbage", b"--x--\r\n"])
def test_garbage_gives_an_empty_summary(raw: bytes) -> None:
    result = summarize(raw)
    assert (result.subject, result.sender, result.date, result.has_attachments) == (
        "",
        "",
        None,
        False,
    )
