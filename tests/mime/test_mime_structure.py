import base64

import pytest

from mailward.core.message import AttachmentInfo
from mailward.mime import attachment, crlf_lines, header_block, open_message, summarize


def crlf(text: str) -> bytes:
    return text.replace("\n", "\r\n").encode("utf-8")


PDF = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj << /Type /Catalog >> endobj\n" * 40
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256))
PDF_B64 = base64.encodebytes(PDF).decode("ascii")
PNG_B64 = base64.encodebytes(PNG).decode("ascii")

PLAIN = crlf("""\
From: Alice Example <alice@example.test>
To: Bob <bob@example.test>
Subject: =?utf-8?q?Caf=C3=A9?= tomorrow
X-Long: first line
  second line
Content-Type: text/plain; charset=utf-8

See you at the caf\u00e9.
Alice
""")

MIXED = crlf(f"""\
From: Alice <alice@example.test>
To: Bob <bob@example.test>
Subject: Q2 numbers
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="==outer=="

This is a multi-part message in MIME format.
--==outer==
Content-Type: multipart/alternative; boundary="==inner=="

--==inner==
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: quoted-printable

Numbers attached =E2=80=94 see the chart.
--==inner==
Content-Type: text/html; charset=utf-8

<p>Numbers attached &mdash; see the <b>chart</b>.</p>
--==inner==--

--==outer==
Content-Type: application/pdf; name="Q2 report.pdf"
Content-Disposition: attachment; filename="Q2 report.pdf"
Content-Transfer-Encoding: base64

{PDF_B64}
--==outer==
Content-Type: image/png
Content-Disposition: inline; filename*=utf-8''%E2%82%AC%20chart%2F..%2Fx.png
Content-Transfer-Encoding: base64

{PNG_B64}
--==outer==--
Epilogue.
""")

INNER = crlf("""\
From: Carol <carol@example.test>
To: Alice <alice@example.test>
Subject: Original message
Content-Type: text/plain; charset=utf-8

The original text.
""")

FORWARDED = (
    crlf("""\
From: Alice <alice@example.test>
To: Bob <bob@example.test>
Subject: Fwd: Original message
Content-Type: multipart/mixed; boundary=fwd

--fwd
Content-Type: text/plain

Forwarding this.
--fwd
Content-Type: message/rfc822

""")
    + INNER
    + crlf("--fwd--\n")
)

HTML_ONLY = crlf("""\
Subject: Newsletter
Content-Type: text/html; charset=iso-8859-1
Content-Transfer-Encoding: quoted-printable

<html><head><style>h1 {}</style></head><body><h1>Caf=E9 news</h1>
<p>First&nbsp;item</p><ul><li>one</li><li>two</li></ul><script>x()</script>
<table><tr><td>a</td><td>b</td></tr></table></body></html>
""")

RELATED = crlf("""\
Subject: Inline image
Content-Type: multipart/related; boundary=rel

--rel
Content-Type: text/html

<p>Look: <img src="cid:logo"></p>
--rel
Content-Type: image/gif
Content-ID: <logo>
Content-Transfer-Encoding: base64

R0lGODlhAQABAAAAACw=
--rel--
""")


def test_plain() -> None:
    opened = open_message(PLAIN)
    assert opened.headers == (
        ("From", "Alice Example <alice@example.test>"),
        ("To", "Bob <bob@example.test>"),
        ("Subject", "Caf\u00e9 tomorrow"),
        ("X-Long", "first line  second line"),
        ("Content-Type", "text/plain; charset=utf-8"),
    )
    assert opened.text == "See you at the caf\u00e9.\nAlice\n"
    assert (opened.html, opened.attachments, opened.malformed) == (None, (), False)


def test_mixed_with_two_attachments() -> None:
    opened = open_message(MIXED)
    assert opened.text == "Numbers attached \u2014 see the chart."
    assert opened.html == "<p>Numbers attached &mdash; see the <b>chart</b>.</p>"
    assert opened.attachments == (
        AttachmentInfo(1, "Q2 report.pdf", "application/pdf", len(PDF)),
        AttachmentInfo(2, "x.png", "image/png", len(PNG)),
    )
    assert not opened.malformed
    assert attachment(MIXED, 1) == (PDF, "application/pdf", "Q2 report.pdf")
    assert attachment(MIXED, 2) == (PNG, "image/png", "x.png")
    assert summarize(MIXED).has_attachments


@pytest.mark.parametrize("index", [0, -1, 3, 10**9])
def test_missing_attachment_raises_lookup_error(index: int) -> None:
    with pytest.raises(LookupError):
        attachment(MIXED, index)


def test_no_attachments_at_all() -> None:
    with pytest.raises(LookupError):
        attachment(PLAIN, 1)
    with pytest.raises(LookupError):
        attachment(b"\x00garbage", 1)


def test_forwarded_message_is_one_attachment_with_its_bytes() -> None:
    opened = open_message(FORWARDED)
    assert opened.text == "Forwarding this."
    # RFC 2046 §5.1.1: the CRLF before a delimiter belongs to the delimiter.
    inner = INNER.removesuffix(b"\r\n")
    assert opened.attachments == (AttachmentInfo(1, "message.eml", "message/rfc822", len(inner)),)
    assert attachment(FORWARDED, 1) == (inner, "message/rfc822", "message.eml")


def test_html_only_is_rendered_as_text() -> None:
    opened = open_message(HTML_ONLY)
    assert opened.html is not None and opened.html.startswith("<html><head><style>")
    assert opened.text == "Caf\u00e9 news\n\nFirst item\n\none\ntwo\n\na b"
    assert not opened.malformed


def test_inline_image_counts_as_attachment() -> None:
    opened = open_message(RELATED)
    assert opened.text == "Look:"
    assert opened.attachments == (AttachmentInfo(1, "attachment", "image/gif", 14),)


def test_text_part_with_a_filename_is_an_attachment() -> None:
    raw = crlf(
        "Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/plain\n\nbody\n"
        "--b\nContent-Type: text/plain; name=notes.txt\n\nnotes\n--b--\n"
    )
    opened = open_message(raw)
    assert opened.text == "body"
    assert opened.attachments == (AttachmentInfo(1, "notes.txt", "text/plain", 5),)


MALFORMED = {
    "missing closing boundary": crlf(
        "Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/plain\n\nhello\n"
        "--b\nContent-Type: application/zip\nContent-Transfer-Encoding: base64\n\nUEsDBA==\n"
    ),
    "bad base64 attachment": crlf(
        "Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/plain\n\nhello\n"
        "--b\nContent-Type: application/zip\nContent-Transfer-Encoding: base64\n\nUEsD*BA=\n--b--\n"
    ),
    "bogus charset": crlf("Content-Type: text/plain; charset=klingon-8\n\nhello"),
    "no blank line": crlf("Subject: x\nhello"),
    "nul bytes": b"Subject: x\r\n\r\nhel\x00lo",
    "no boundary parameter": crlf("Content-Type: multipart/mixed\n\n--b\n\nhello\n--b--\n"),
}

MALFORMED_TEXT = {
    "missing closing boundary": "hello",
    "bad base64 attachment": "hello",
    "bogus charset": "hello",
    "no blank line": "hello",
    "nul bytes": "hel\ufffdlo",
    "no boundary parameter": "",
}


@pytest.mark.parametrize("name", list(MALFORMED))
def test_malformed_is_flagged_and_shown_best_effort(name: str) -> None:
    opened = open_message(MALFORMED[name])
    assert opened.malformed
    assert opened.text.strip() == MALFORMED_TEXT[name]


def test_malformed_attachments_are_still_served() -> None:
    opened = open_message(MALFORMED["bad base64 attachment"])
    assert opened.attachments == (AttachmentInfo(1, "attachment", "application/zip", 4),)
    assert attachment(MALFORMED["bad base64 attachment"], 1)[0] == b"PK\x03\x04"


def test_deep_nesting_is_cut_at_50_levels() -> None:
    raw = b"Content-Type: text/plain\r\n\r\ndeepest\r\n"
    for level in range(200):
        b = b"b%d" % level
        raw = (
            b"Content-Type: multipart/mixed; boundary=" + b + b"\r\n\r\n--" + b + b"\r\n" + raw
            + b"\r\n--" + b + b"\r\nContent-Type: application/x-level\r\n\r\n" + b
            + b"\r\n--" + b + b"--\r\n"
        )  # fmt: skip
    opened = open_message(raw)
    assert opened.malformed
    assert len(opened.attachments) == 50
    assert attachment(raw, 1)[0] == b"b150"
    assert attachment(raw, 50)[0] == b"b199"
    assert summarize(raw).has_attachments


def test_deep_message_rfc822_chain_does_not_raise() -> None:
    raw = b"Content-Type: text/plain\r\n\r\nhi\r\n"
    for _ in range(3000):
        raw = b"Content-Type: message/rfc822\r\n\r\n" + raw
    opened = open_message(raw)
    assert len(opened.attachments) == 1
    assert opened.malformed
    assert attachment(raw, 1)[1] == "message/rfc822"


def test_nesting_cap_leaves_single_part_bodies_alone() -> None:
    body = "".join(f"Content-Type: multipart/mixed; boundary=b{i}\n--b{i}\n" for i in range(60))
    raw = crlf("Content-Type: text/plain\n\n" + body)
    assert open_message(raw).text == body


HEADER_BLOCKS = [
    (b"Subject: a\r\n\r\nbody\r\n\r\nmore", b"Subject: a\r\n\r\n"),
    (b"Subject: a\n\nbody", b"Subject: a\n\n"),
    (b"Subject: a\r\nX: b\n\nbody", b"Subject: a\r\nX: b\n\n"),
    (b"\r\nbody", b"\r\n"),
    (b"\nbody", b"\n"),
    (b"Subject: no body", b"Subject: no body"),
    (b"", b""),
    (b"Subject: a\r\n", b"Subject: a\r\n"),
]


@pytest.mark.parametrize(("raw", "expected"), HEADER_BLOCKS)
def test_header_block(raw: bytes, expected: bytes) -> None:
    assert header_block(raw) == expected


def test_crlf_lines_ends_every_line_in_crlf_and_keeps_crlf_mail_as_it_is() -> None:
    assert crlf_lines(b"a\nb\r\nc\n") == b"a\r\nb\r\nc\r\n"
    same = b"Subject: x\r\n\r\nbody\r\n"
    assert crlf_lines(same) is same
    assert crlf_lines(b"no line end") == b"no line end"
    assert crlf_lines(b"") == b""
