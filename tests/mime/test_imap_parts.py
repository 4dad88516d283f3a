"""ENVELOPE, BODYSTRUCTURE and BODY[section] of raw messages (mime/imap.py)."""

import base64
import re
from itertools import takewhile

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_mime_fuzz import ANY_MESSAGE, SEEDS

from mailward.mime import (
    _imap_addresses,
    _imap_lines,
    _imap_tree,
    _tree,
    attachment,
    bodystructure,
    envelope,
    header_fields,
    open_message,
    section,
)

FUZZ = settings(
    max_examples=max(300, settings().max_examples),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def crlf(text: str) -> bytes:
    return text.replace("\n", "\r\n").encode("utf-8")


# A reader for what the functions write: one IMAP value, RFC 3501 §9 (lists,
# quoted strings, literals, NIL, numbers). Bytes left over or missing fail.
_ATOM = re.compile(rb"[^ ()\"{}\r\n]+")


def parse_imap(data: bytes) -> object:
    value, position = _value(data, 0)
    assert position == len(data), data[position:]
    return value


def _value(data: bytes, i: int) -> tuple[object, int]:
    head = data[i : i + 1]
    if head == b"(":
        items: list[object] = []
        i += 1
        while data[i : i + 1] != b")":
            assert i < len(data), "unbalanced"
            if items and data[i : i + 1] == b" ":
                i += 1
            item, i = _value(data, i)
            items.append(item)
        return items, i + 1
    if head == b'"':
        out = bytearray()
        i += 1
        while data[i : i + 1] != b'"':
            assert i < len(data) and data[i] not in b"\r\n\x00" and data[i] < 0x80
            if data[i : i + 1] == b"\\":
                assert data[i + 1 : i + 2] in (b"\\", b'"')
                i += 1
            out.append(data[i])
            i += 1
        return bytes(out), i + 1
    if head == b"{":
        close = data.index(b"}\r\n", i)
        size = int(data[i + 1 : close])
        start = close + 3
        assert start + size <= len(data)
        return data[start : start + size], start + size
    match = _ATOM.match(data, i)
    assert match is not None, data[i:]
    atom = match.group(0)
    if atom == b"NIL":
        return None, match.end()
    assert atom.isdigit(), atom
    return int(atom), match.end()


# ENVELOPE

RFC3501 = crlf("""\
Date: Wed, 17 Jul 1996 02:23:25 -0700 (PDT)
From: Terry Gray <gray@cac.washington.edu>
Subject: IMAP4rev1 WG mtg summary and minutes
To: imap@cac.washington.edu
cc: minutes@CNRI.Reston.VA.US, John Klensin <KLENSIN@MIT.EDU>
Message-Id: <B27397-0100000@cac.washington.edu>
MIME-Version: 1.0
Content-Type: TEXT/PLAIN; CHARSET=US-ASCII

Hello Joe, do you think we can meet at 3:30 tomorrow?
""")

# RFC 3501 §6.4.5's FETCH example, on one line.
RFC3501_ENVELOPE = (
    b'("Wed, 17 Jul 1996 02:23:25 -0700 (PDT)" "IMAP4rev1 WG mtg summary and minutes" '
    b'(("Terry Gray" NIL "gray" "cac.washington.edu")) '
    b'(("Terry Gray" NIL "gray" "cac.washington.edu")) '
    b'(("Terry Gray" NIL "gray" "cac.washington.edu")) '
    b'((NIL NIL "imap" "cac.washington.edu")) '
    b'((NIL NIL "minutes" "CNRI.Reston.VA.US")("John Klensin" NIL "KLENSIN" "MIT.EDU")) '
    b'NIL NIL "<B27397-0100000@cac.washington.edu>")'
)


def test_envelope_of_the_rfc_example() -> None:
    assert envelope(RFC3501) == RFC3501_ENVELOPE
    assert envelope(RFC3501.replace(b"\r\n", b"\n")) == RFC3501_ENVELOPE


def fields(*lines: str) -> bytes:
    return ("\r\n".join(lines) + "\r\n\r\nbody\r\n").encode("utf-8")


# (header lines, the ENVELOPE)
ENVELOPES = [
    # Nothing at all: every member NIL.
    ((), b"(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)"),
    (("Subject: only",), b'(NIL "only" NIL NIL NIL NIL NIL NIL NIL NIL)'),
    (("Subject:",), b'(NIL "" NIL NIL NIL NIL NIL NIL NIL NIL)'),
    # Sender and Reply-To take From when absent or empty; not when given.
    (
        ("From: a@x.test", "Sender:", "Reply-To: r@x.test"),
        b'(NIL NIL ((NIL NIL "a" "x.test")) ((NIL NIL "a" "x.test")) '
        b'((NIL NIL "r" "x.test")) NIL NIL NIL NIL NIL)',
    ),
    # Groups: start (NIL NIL name NIL), members, end (NIL NIL NIL NIL).
    (
        ("To: undisclosed-recipients:;",),
        b'(NIL NIL NIL NIL NIL ((NIL NIL "undisclosed-recipients" NIL)(NIL NIL NIL NIL)) '
        b"NIL NIL NIL NIL)",
    ),
    (
        ('Cc: Team: a@x.test, "B b" <b@y.test>;, c@z.test',),
        b'(NIL NIL NIL NIL NIL NIL ((NIL NIL "Team" NIL)(NIL NIL "a" "x.test")'
        b'("B b" NIL "b" "y.test")(NIL NIL NIL NIL)(NIL NIL "c" "z.test")) NIL NIL NIL)',
    ),
    # An unclosed group is closed at the end.
    (
        ("Bcc: Team: a@x.test",),
        b'(NIL NIL NIL NIL NIL NIL NIL ((NIL NIL "Team" NIL)(NIL NIL "a" "x.test")'
        b"(NIL NIL NIL NIL)) NIL NIL)",
    ),
    # Values are raw: encoded-words kept, folds removed, outer space trimmed.
    (
        (
            "Subject:   =?utf-8?q?Caf=C3=A9?=",
            "  tomorrow  ",
        ),
        b'(NIL "=?utf-8?q?Caf=C3=A9?=  tomorrow" NIL NIL NIL NIL NIL NIL NIL NIL)',
    ),
    (
        ("From: =?utf-8?q?Dav=C3=AFd?= <d@x.test>",),
        b'(NIL NIL (("=?utf-8?q?Dav=C3=AFd?=" NIL "d" "x.test")) '
        b'(("=?utf-8?q?Dav=C3=AFd?=" NIL "d" "x.test")) '
        b'(("=?utf-8?q?Dav=C3=AFd?=" NIL "d" "x.test")) NIL NIL NIL NIL NIL)',
    ),
    # Quoting: \ and " escaped in quoted strings.
    (
        ('Subject: say "hi" \\o/',),
        b'(NIL "say \\"hi\\" \\\\o/" NIL NIL NIL NIL NIL NIL NIL NIL)',
    ),
    # 8-bit bytes: a literal.
    (
        ("Subject: Caf\u00e9",),
        b"(NIL {5}\r\nCaf\xc3\xa9 NIL NIL NIL NIL NIL NIL NIL NIL)",
    ),
    # Display names unquoted (escapes removed), phrases' spaces collapsed, comments
    # naming a bare address, source routes, and an address without a domain.
    (
        (
            'To: "Fred \\"F\\" Foo" <f@x.test>, John  Q. Public <jqp@y.test>, '
            "a@b.test (Ann Other), <@r1.test,@r2.test:r@z.test>, nobody, <>",
        ),
        b'(NIL NIL NIL NIL NIL (("Fred \\"F\\" Foo" NIL "f" "x.test")'
        b'("John Q. Public" NIL "jqp" "y.test")("Ann Other" NIL "a" "b.test")'
        b'(NIL "@r1.test,@r2.test" "r" "z.test")(NIL NIL "nobody" "")) NIL NIL NIL NIL)',
    ),
    # In-Reply-To and Message-ID as sent; the first of repeated fields counts.
    (
        ("Message-ID: <1@x>", "In-Reply-To: <0@x> (thread)", "Message-ID: <2@x>"),
        b'(NIL NIL NIL NIL NIL NIL NIL NIL "<0@x> (thread)" "<1@x>")',
    ),
]


@pytest.mark.parametrize(("lines", "expected"), ENVELOPES)
def test_envelope(lines: tuple[str, ...], expected: bytes) -> None:
    assert envelope(fields(*lines)) == expected
    parse_imap(expected)


def test_envelope_long_value_is_a_literal() -> None:
    subject = "x" * 1001
    assert envelope(fields(f"Subject: {subject}")) == (
        b"(NIL {1001}\r\n" + subject.encode() + b" NIL NIL NIL NIL NIL NIL NIL NIL)"
    )
    assert envelope(fields(f"Subject: {'x' * 1000}")).startswith(b'(NIL "xxx')


def test_envelope_reads_only_the_header_section() -> None:
    raw = b"Subject: real\r\n\r\nSubject: not a header\r\nFrom: x@y\r\n"
    assert envelope(raw) == b'(NIL "real" NIL NIL NIL NIL NIL NIL NIL NIL)'
    # No empty line: all of it is header.
    assert envelope(b"Subject: s\r\nFrom: a@b") == (
        b'(NIL "s" ((NIL NIL "a" "b")) ((NIL NIL "a" "b")) ((NIL NIL "a" "b")) NIL NIL NIL NIL NIL)'
    )


# BODYSTRUCTURE

SMALL = crlf("""\
From: Ann <ann@example.test>
Subject: report
Content-Type: multipart/mixed; boundary="xx"

--xx
Content-Type: text/plain; charset=utf-8

Hi Bob,
see attached.
--xx
Content-Type: application/pdf; name="r.pdf"
Content-Disposition: attachment; filename="r.pdf"
Content-Transfer-Encoding: base64

JVBERi0xLjQK
--xx--
""")

PDF = b"%PDF-1.4\n" + bytes(range(256)) * 4
PDF_B64 = base64.encodebytes(PDF).decode("ascii")

NESTED = crlf(f"""\
From: Alice <alice@example.test>
To: Bob <bob@example.test>
Subject: Q2 numbers
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

<p>Numbers attached</p>
--==inner==--

--==outer==
Content-Type: application/pdf; name="Q2 report.pdf"
Content-Disposition: attachment; filename="Q2 report.pdf"
Content-Transfer-Encoding: base64
Content-Language: en, de
Content-Location: http://example.test/q2.pdf
Content-ID: <pdf@example.test>
Content-Description: The report

{PDF_B64}
--==outer==
Content-Type: image/png
Content-Disposition: inline; filename=chart.png

PNG
--==outer==--
Epilogue.
""")

INNER = crlf("""\
From: Carol <carol@example.test>
Subject: Original message
Content-Type: text/plain; charset=utf-8

The original text.
""")

FORWARDED = (
    crlf("""\
From: Alice <alice@example.test>
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

DIGEST = (
    b"Subject: digest\nContent-Type: multipart/digest; boundary=d\n\n"
    b"--d\n\nSubject: one\n\n1\n--d\nContent-Type: text/plain\n\ntwo\n--d--\n"
)


def test_bodystructure_of_a_single_text_part() -> None:
    assert bodystructure(RFC3501, extensible=False) == (
        b'("TEXT" "PLAIN" ("CHARSET" "US-ASCII") NIL NIL "7BIT" 55 1)'
    )
    assert bodystructure(RFC3501, extensible=True) == (
        b'("TEXT" "PLAIN" ("CHARSET" "US-ASCII") NIL NIL "7BIT" 55 1 NIL NIL NIL NIL)'
    )
    # No Content-Type: the RFC 2045 default. Lines end in LF here: sizes count them.
    assert bodystructure(b"Subject: x\n\nline one\nline two", extensible=False) == (
        b'("TEXT" "PLAIN" ("CHARSET" "US-ASCII") NIL NIL "7BIT" 17 2)'
    )


def test_bodystructure_of_mixed_with_an_attachment() -> None:
    assert bodystructure(SMALL, extensible=True) == (
        b'(("text" "plain" ("charset" "utf-8") NIL NIL "7BIT" 22 2 NIL NIL NIL NIL)'
        b'("application" "pdf" ("name" "r.pdf") NIL NIL "base64" 12 NIL '
        b'("attachment" ("filename" "r.pdf")) NIL NIL) "mixed" ("boundary" "xx") NIL NIL NIL)'
    )
    assert bodystructure(SMALL, extensible=False) == (
        b'(("text" "plain" ("charset" "utf-8") NIL NIL "7BIT" 22 2)'
        b'("application" "pdf" ("name" "r.pdf") NIL NIL "base64" 12) "mixed")'
    )
    # Sizes are the octets BODY[n] gives; lines its lines.
    assert section(SMALL, "1") == (b"Hi Bob,\r\nsee attached.", ("body",))
    assert section(SMALL, "2") == (b"JVBERi0xLjQK", ("attachment:1",))


def test_bodystructure_of_alternative_nested_in_mixed() -> None:
    pdf_size = len(crlf(PDF_B64))
    assert bodystructure(NESTED, extensible=True) == (
        b'((("text" "plain" ("charset" "utf-8") NIL NIL "quoted-printable" 41 1 NIL NIL NIL NIL)'
        b'("text" "html" ("charset" "utf-8") NIL NIL "7BIT" 23 1 NIL NIL NIL NIL) '
        b'"alternative" ("boundary" "==inner==") NIL NIL NIL)'
        b'("application" "pdf" ("name" "Q2 report.pdf") "<pdf@example.test>" "The report" '
        b'"base64" %d NIL ("attachment" ("filename" "Q2 report.pdf")) ("en" "de") '
        b'"http://example.test/q2.pdf")'
        b'("image" "png" NIL NIL NIL "7BIT" 3 NIL ("inline" ("filename" "chart.png")) NIL NIL) '
        b'"mixed" ("boundary" "==outer==") NIL NIL NIL)' % (pdf_size,)
    )
    # The empty line after the base64 ends it; its line end belongs to the delimiter.
    assert section(NESTED, "2")[0] == crlf(PDF_B64)


def test_bodystructure_of_a_forwarded_message() -> None:
    inner_size = len(INNER)
    assert bodystructure(FORWARDED, extensible=False) == (
        b'(("text" "plain" NIL NIL NIL "7BIT" 16 1)'
        b'("message" "rfc822" NIL NIL NIL "7BIT" %d '
        b'(NIL "Original message" (("Carol" NIL "carol" "example.test")) '
        b'(("Carol" NIL "carol" "example.test")) (("Carol" NIL "carol" "example.test")) '
        b"NIL NIL NIL NIL NIL) "
        b'("text" "plain" ("charset" "utf-8") NIL NIL "7BIT" 18 1) 5) "mixed")' % (inner_size - 2)
    )


def test_bodystructure_in_a_digest_defaults_to_message() -> None:
    assert bodystructure(DIGEST, extensible=False) == (
        b'(("MESSAGE" "RFC822" NIL NIL NIL "7BIT" 15 '
        b'(NIL "one" NIL NIL NIL NIL NIL NIL NIL NIL) ("TEXT" "PLAIN" ("CHARSET" "US-ASCII") '
        b'NIL NIL "7BIT" 1 1) 3)("text" "plain" NIL NIL NIL "7BIT" 3 1) "digest")'
    )


def test_bodystructure_sizes_match_sections() -> None:
    for raw in (SMALL, NESTED, FORWARDED, DIGEST, *SEEDS):
        check_sizes(raw, parse_imap(bodystructure(raw, extensible=True)), "")


def check_sizes(raw: bytes, body: object, number: str, *, message: bool = True) -> None:
    """Sizes and line counts are those of BODY[number] (BODY[number.1] for a message).

    `body` describes part `number` ("" for the whole message); with `message` it is
    the body of a message, whose part 1 is itself unless it is multipart.
    """
    assert isinstance(body, list)
    if isinstance(body[0], list):  # multipart: the subparts, then the subtype
        parts = list(takewhile(lambda item: isinstance(item, list), body))
        for k, part in enumerate(parts, start=1):
            check_sizes(raw, part, f"{number}.{k}" if number else str(k), message=False)
        return
    if message:
        number = f"{number}.1" if number else "1"
    data, _ = section(raw, number)
    assert body[6] == len(data)
    lines = data.count(b"\n") + (1 if data and not data.endswith(b"\n") else 0)
    kind = body[0].lower() if isinstance(body[0], bytes) else b""
    if kind == b"text":
        assert body[7] == lines
    if kind == b"message" and isinstance(body[1], bytes) and body[1].lower() == b"rfc822":
        assert body[9] == lines
        check_sizes(raw, body[8], number)


def test_deep_nesting_is_cut_without_error() -> None:
    depth = 60
    raw = b"".join(
        b"Content-Type: multipart/mixed; boundary=b%d\r\n\r\n--b%d\r\n" % (i, i)
        for i in range(depth)
    )
    raw = b"Subject: deep\r\n" + raw + b"Content-Type: text/plain\r\n\r\ndeep\r\n"
    structure = bodystructure(raw, extensible=True)
    parse_imap(structure)
    # Multipart levels 1 to 50 are followed; the 51st is one opaque part.
    assert structure.count(b') "mixed"') == 50
    assert section(raw, ".".join(["1"] * 50))[0].startswith(b"--b50")
    assert section(raw, ".".join(["1"] * 52)) == (b"", ())
    messages = b"Subject: m\r\nContent-Type: message/rfc822\r\n\r\n" * 70 + b"\r\nend\r\n"
    parse_imap(bodystructure(messages, extensible=True))
    assert section(messages, "1.1.1.TEXT")[1] == ("attachment:1",)


# BODY[section]

BODY = b"Hi Bob,\r\nsee attached."
SMALL_HEAD = (
    b"From: Ann <ann@example.test>\r\nSubject: report\r\n"
    b'Content-Type: multipart/mixed; boundary="xx"\r\n\r\n'
)

# (message, spec, bytes, labels)
SECTIONS = [
    (SMALL, "", SMALL, ("raw",)),
    (SMALL, "HEADER", SMALL_HEAD, ("headers",)),
    (SMALL, "HEADER.FIELDS (SUBJECT)", b"Subject: report\r\n\r\n", ("subject",)),
    (SMALL, 'HEADER.FIELDS ("subject" Subject)', b"Subject: report\r\n\r\n", ("subject",)),
    (
        SMALL,
        "HEADER.FIELDS (SUBJECT FROM)",
        b"From: Ann <ann@example.test>\r\nSubject: report\r\n\r\n",
        ("headers",),
    ),
    (SMALL, "HEADER.FIELDS (X-NONE)", b"\r\n", ("headers",)),
    (
        SMALL,
        "HEADER.FIELDS.NOT (FROM CONTENT-TYPE)",
        b"Subject: report\r\n\r\n",
        ("headers",),
    ),
    (SMALL, "TEXT", SMALL[len(SMALL_HEAD) :], ("body", "attachment:1")),
    (SMALL, "1", BODY, ("body",)),
    (SMALL, "1.MIME", b"Content-Type: text/plain; charset=utf-8\r\n\r\n", ("headers",)),
    (SMALL, "2", b"JVBERi0xLjQK", ("attachment:1",)),
    (SMALL, "2.MIME", SMALL[SMALL.index(b"Content-Type: app") : SMALL.index(b"JVB")], ("headers",)),
    # Sections the message does not have.
    (SMALL, "3", b"", ()),
    (SMALL, "1.1", b"", ()),
    (SMALL, "2.HEADER", b"", ()),
    (SMALL, "2.TEXT", b"", ()),
    (SMALL, "0", b"", ()),
    (SMALL, "01", b"", ()),
    (SMALL, "99999999999999999999", b"", ()),
    (SMALL, "MIME", b"", ()),
    (SMALL, "HEADER.FIELDS", b"", ()),
    (SMALL, "BOGUS", b"", ()),
    (SMALL, "1.", b"", ()),
    # A single part: part 1 is the body, its MIME header the message's.
    (RFC3501, "1", RFC3501[RFC3501.index(b"Hello") :], ("body",)),
    (RFC3501, "TEXT", RFC3501[RFC3501.index(b"Hello") :], ("body",)),
    (RFC3501, "1.MIME", RFC3501[: RFC3501.index(b"Hello")], ("headers",)),
    (RFC3501, "2", b"", ()),
    (RFC3501, "1.1", b"", ()),
    # Nested: BODY[1] of the alternative is all body; TEXT covers every part.
    (
        NESTED,
        "1",
        NESTED[
            NESTED.index(b"--==inner==\r\n") : NESTED.index(b"\r\n--==outer==\r\nContent-Type: app")
        ],
        ("body",),
    ),
    (NESTED, "1.1", b"Numbers attached =E2=80=94 see the chart.", ("body",)),
    (NESTED, "1.2", b"<p>Numbers attached</p>", ("body",)),
    (NESTED, "2", crlf(PDF_B64), ("attachment:1",)),
    (NESTED, "3", b"PNG", ("attachment:2",)),
    (
        NESTED,
        "TEXT",
        NESTED[NESTED.index(b"This is") :],
        ("body", "attachment:1", "attachment:2"),
    ),
    # A forwarded message: its parts are inside attachment 1.
    (FORWARDED, "2", INNER[:-2], ("attachment:1",)),
    (FORWARDED, "2.MIME", b"Content-Type: message/rfc822\r\n\r\n", ("headers",)),
    (FORWARDED, "2.HEADER", INNER[: INNER.index(b"The")], ("headers", "attachment:1")),
    (
        FORWARDED,
        "2.HEADER.FIELDS (SUBJECT)",
        b"Subject: Original message\r\n\r\n",
        ("subject", "attachment:1"),
    ),
    (FORWARDED, "2.TEXT", b"The original text.", ("attachment:1",)),
    (FORWARDED, "2.1", b"The original text.", ("attachment:1",)),
    (FORWARDED, "2.1.MIME", INNER[: INNER.index(b"The")], ("headers", "attachment:1")),
    (FORWARDED, "2.2", b"", ()),
    # A digest's parts are messages without a Content-Type.
    (DIGEST, "1", b"Subject: one\n\n1", ("attachment:1",)),
    (DIGEST, "1.HEADER", b"Subject: one\n\n", ("headers", "attachment:1")),
    (DIGEST, "2", b"two", ("body",)),
]


@pytest.mark.parametrize(("raw", "spec", "data", "labels"), SECTIONS)
def test_section(raw: bytes, spec: str, data: bytes, labels: tuple[str, ...]) -> None:
    assert section(raw, spec) == (data, labels)


def test_section_labels_number_attachments_as_open_message_does() -> None:
    opened = open_message(NESTED)
    assert [info.filename for info in opened.attachments] == ["Q2 report.pdf", "chart.png"]
    assert base64.b64decode(section(NESTED, "2")[0]) == attachment(NESTED, 1)[0] == PDF
    assert section(NESTED, "3")[0] == attachment(NESTED, 2)[0]


def test_section_of_a_single_part_attachment() -> None:
    raw = crlf("Subject: scan\nContent-Type: application/pdf\n\n%PDF\n")
    assert section(raw, "TEXT") == (b"%PDF\r\n", ("attachment:1",))
    assert section(raw, "1") == (b"%PDF\r\n", ("attachment:1",))
    assert section(raw, "HEADER") == (raw[:-6], ("headers",))


def test_section_of_damaged_messages() -> None:
    assert section(b"", "") == (b"", ())
    assert section(b"", "TEXT") == (b"", ())
    assert section(b"", "HEADER") == (b"", ())
    # No empty line: all header, no body.
    assert section(b"Subject: x\r\nFrom: y", "TEXT") == (b"", ())
    assert section(b"Subject: x\r\nFrom: y", "HEADER.FIELDS (FROM)") == (
        b"From: y\r\n\r\n",
        ("headers",),
    )
    # A multipart whose boundary never appears keeps its body as one part.
    raw = b"Content-Type: multipart/mixed; boundary=zz\r\n\r\nno parts\r\n"
    assert section(raw, "1") == (b"no parts\r\n", ("body",))
    assert section(raw, "2") == (b"", ())


def test_header_fields() -> None:
    assert header_fields(SMALL, ["subject"]) == b"Subject: report\r\n\r\n"
    assert header_fields(SMALL, ["From", "Content-Type"], exclude=True) == (
        b"Subject: report\r\n\r\n"
    )
    folded = b"Subject: one\r\n two\r\nTo: a@b\r\n\r\nbody"
    assert header_fields(folded, ["SUBJECT"]) == b"Subject: one\r\n two\r\n\r\n"


# Any bytes: nothing raises, the output is one IMAP value, the two trees agree.


def check_message(raw: bytes) -> None:
    assert section(raw, "") == ((raw, ("raw",)) if raw else (b"", ()))
    parse_imap(envelope(raw))
    for extensible in (True, False):
        parse_imap(bodystructure(raw, extensible=extensible))
    structure = parse_imap(bodystructure(raw, extensible=False))
    check_sizes(raw, structure, "")
    count = len(open_message(raw).attachments)
    for spec in (
        "TEXT",
        "HEADER",
        "1",
        "1.1",
        "2",
        "2.MIME",
        "1.HEADER",
        "3.TEXT",
        "HEADER.FIELDS (SUBJECT)",
    ):
        data, labels = section(raw, spec)
        assert isinstance(data, bytes) and (labels == ()) == (data == b"")
        assert data in raw or spec.startswith("HEADER.FIELDS")
        for label in labels:
            assert label in ("headers", "subject", "body") or (
                label.startswith("attachment:") and 1 <= int(label[11:]) <= count
            )
    check_trees(raw)


def check_trees(raw: bytes) -> None:
    """The raw walk gives the tree and attachment numbers the parsed tree does."""
    walked = _imap_tree._read(raw, labels=True)
    if raw.lower().count(b"boundary") > 50:
        return
    parsed = _imap_tree._parsed(raw, labels=True)
    assert parsed.exact
    pairs = [(walked.root, parsed.root)]
    while pairs:
        one, two = pairs.pop()
        assert (one.start, one.head, one.body, one.end, one.limit, one.kind, one.ctype) == (
            two.start,
            two.head,
            two.body,
            two.end,
            two.limit,
            two.kind,
            two.ctype,
        )
        assert walked.label(one) == parsed.label(two)
        assert len(one.children) == len(two.children)
        pairs.extend(zip(one.children, two.children, strict=True))


@pytest.mark.parametrize("raw", [SMALL, NESTED, FORWARDED, DIGEST, RFC3501, *SEEDS])
def test_known_messages(raw: bytes) -> None:
    check_message(raw)


@FUZZ
@given(ANY_MESSAGE)
def test_any_bytes(raw: bytes) -> None:
    check_message(raw)


# Pieces that steer mutations to where the raw walk could part from the parser:
# boundary syntax, line ends, header-section ends, nesting and defaults.
MIME_TOKENS = [
    b"\r\n",
    b"\n",
    b"\r",
    b"\r\n\r\n",
    b"\n\n",
    b"--xx",
    b"--xx--",
    b"--xx \t",
    b"--==outer==",
    b"--==inner==--",
    b"--fwd",
    b"--d",
    b"--",
    b'; boundary="xx"',
    b"; boundary=xx",
    b'; boundary="x;x"',
    b"; boundary=<xx>",
    b'; boundary=""xx""',
    b"; boundary*=xx",
    b"; boundary",
    b"; BOUNDARY=d",
    b"Content-Type: multipart/mixed; boundary=xx\r\n",
    b"Content-Type: multipart/digest; boundary=d\r\n",
    b"Content-Type: message/rfc822\r\n",
    b"Content-Type: message/global\r\n",
    b"Content-Type: text/plain; name=a.txt\r\n",
    b"Content-Type: \xc3\xa9/x\r\n",
    b"Content-Disposition: attachment\r\n",
    b"Content-Disposition: attachment; filename=\xc3\xa9\r\n",
    b"From x\r\n",
    b" fold\r\n",
    b":x\r\n",
    b"\x00",
    b"\xff",
]


@st.composite
def mime_mutated(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from([SMALL, NESTED, FORWARDED, DIGEST, *SEEDS])))
    for _ in range(draw(st.integers(1, 8))):
        position = draw(st.integers(0, len(data)))
        action = draw(st.sampled_from(["insert", "insert", "delete", "duplicate", "truncate"]))
        if action == "insert":
            data[position:position] = draw(st.sampled_from(MIME_TOKENS))
        elif action == "delete":
            del data[position : position + draw(st.integers(1, 40))]
        elif action == "duplicate":
            data[position:position] = data[position : position + draw(st.integers(1, 300))]
        else:
            del data[position:]
    return bytes(data)


@FUZZ
@given(mime_mutated())
def test_mutated_messages(raw: bytes) -> None:
    check_message(raw)


_HEADER_BYTES = st.lists(
    st.sampled_from(
        [
            b"Subject: a",
            b"From: x@y",
            b" fold",
            b"\t",
            b"\r\n",
            b"\n",
            b"\r",
            b"From ",
            b":",
            b"To",
            b"\x00",
            b"\xc3\xa9",
            b"x",
        ]
    ),
    max_size=30,
).map(b"".join)


@FUZZ
@given(_HEADER_BYTES)
def test_fields_read_in_python_as_by_the_regex(head: bytes) -> None:
    end, _ = _imap_lines._header_end(head, 0, len(head))
    lines = _imap_lines._fields(head, 0, end)
    by_regex = [(m[1].lower(), m[2], m[0]) for m in _imap_lines._FIELD.finditer(head, 0, end)]
    assert lines == by_regex
    first = {name: value for name, value, _ in reversed(by_regex) if name in _imap_lines._WANTED}
    assert _imap_lines._wanted(head, 0, end) == first


_ADDRESS_BYTES = st.lists(
    st.sampled_from(
        [
            b"a",
            b"b.c",
            b"@",
            b"<",
            b">",
            b",",
            b" ",
            b'"',
            b"Q.",
            b"=?x?q?y?=",
            b";",
            b":",
            b"(",
            b")",
            b"\\",
            b"\xc3\xa9",
            b"\t",
            b"[1]",
        ]
    ),
    max_size=20,
).map(b"".join)


@FUZZ
@given(_ADDRESS_BYTES)
def test_simple_addresses_read_as_the_full_reader_does(value: bytes) -> None:
    quick = _imap_addresses._simple_addresses(value)
    if quick is not None:
        assert quick == _imap_addresses._parsed_addresses(value)


_CONTENT_TYPE_BYTES = st.lists(
    st.sampled_from(
        [
            b"multipart/mixed",
            b"Multipart/Alternative",
            b"text/plain",
            b"application/pdf",
            b"message/rfc822",
            b"/",
            b";",
            b" ",
            b"\t",
            b"\r\n ",
            b"boundary",
            b"BOUNDARY",
            b"=",
            b'"',
            b"<",
            b">",
            b"xx",
            b"name",
            b"filename",
            b"attachment",
            b"inline",
            b"*",
            b"\\",
            b"\x1c",
            b"\xc3\xa9",
            b"\xff",
        ]
    ),
    max_size=16,
).map(b"".join)


@FUZZ
@given(_CONTENT_TYPE_BYTES, _CONTENT_TYPE_BYTES)
def test_raw_reading_mirrors_the_email_package(content_type: bytes, disposition: bytes) -> None:
    raw = b"Content-Type:" + content_type + b"\r\nContent-Disposition:" + disposition
    raw += b"\r\n\r\nbody\r\n"
    head, body = _imap_lines._header_end(raw, 0, len(raw))
    node = _imap_tree._walk(raw[:body], 0, body, body, "text/plain", 0)
    part = _tree.parse_head(raw[:body])
    value = _imap_lines._wanted(raw, 0, head).get(b"content-type")
    assert node.ctype == part.get_content_type()
    ctype = _imap_tree._raw_type(value, "text/plain")
    assert ctype is None or ctype == part.get_content_type()
    boundary = _imap_tree._raw_boundary(value)
    assert boundary is _imap_tree._UNSURE or boundary == part.get_boundary()
    node.part = None
    assert _imap_tree._is_attachment(raw, node) == _tree.is_attachment(part, node.ctype)


@pytest.mark.parametrize("raw", [SMALL, NESTED, FORWARDED, DIGEST, RFC3501, *SEEDS[:3]])
def test_leaves_are_the_parser_payloads(raw: bytes) -> None:
    """Each leaf's bytes are the body the feed parser kept for it."""
    tree = _imap_tree._parsed(raw, labels=False)
    stack = [tree.root]
    while stack:
        node = stack.pop()
        stack.extend(node.children)
        if node.kind == "leaf" and node.part is not None and not node.part.is_multipart():
            assert raw[node.body : node.end] == node.part.encoded_body()


def test_past_fifty_boundaries_the_parsed_tree_numbers_attachments() -> None:
    chain = b"".join(
        b"Content-Type: multipart/mixed; boundary=c%d\r\n\r\n--c%d\r\n" % (i, i) for i in range(60)
    )
    raw = (
        b"Subject: deep\r\nContent-Type: multipart/mixed; boundary=top\r\n\r\n--top\r\n"
        + chain
        + b"Content-Type: application/pdf\r\n\r\ndeep pdf\r\n"
        + b"--top\r\nContent-Type: application/pdf\r\n\r\ntop pdf\r\n--top--\r\n"
    )
    assert len(open_message(raw).attachments) == 1  # the deep one is past _tree's cap
    assert attachment(raw, 1)[0] == b"top pdf"
    assert section(raw, "2") == (b"top pdf", ("attachment:1",))
    assert section(raw, "1")[1] == ("body",)
    assert section(raw, "TEXT")[1] == ("body", "attachment:1")
    parse_imap(bodystructure(raw, extensible=True))
