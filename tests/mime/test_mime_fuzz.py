"""Any bytes at all: nothing raises, results are well typed, the views agree."""

from datetime import datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mailward.core.message import AttachmentInfo
from mailward.mime import Opened, Summary, attachment, header_block, open_message, summarize
from mailward.mime.summary import _full_parse

# The "ci" profile in tests/conftest.py asks for fewer examples; these parsers are
# cheap, so run at least 300 and more under HYPOTHESIS_PROFILE=fuzz.
FUZZ = settings(
    max_examples=max(300, settings().max_examples),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def crlf(text: str) -> bytes:
    return text.replace("\n", "\r\n").encode("utf-8")


SEEDS = [
    crlf(
        "From: Alice <alice@example.test>\nTo: bob@example.test\n"
        "Subject: =?utf-8?q?Caf=C3=A9?=\nDate: Mon, 3 Jun 2024 10:00:00 +0000\n"
        "Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: quoted-printable\n"
        "\nCaf=C3=A9 at noon?=\n See you.\n"
    ),
    crlf(
        "Subject: b64\nContent-Type: text/html; charset=iso-8859-1\n"
        "Content-Transfer-Encoding: base64\n\nPHA+Q2Fm6SAmYW1wOyB0aGU8L3A+\n"
    ),
    crlf(
        'Subject: mixed\nContent-Type: multipart/mixed; boundary="b1"\n\npreamble\n'
        "--b1\nContent-Type: multipart/alternative; boundary=b2\n\n"
        "--b2\nContent-Type: text/plain\n\nplain\n"
        "--b2\nContent-Type: text/html\n\n<p>html</p>\n--b2--\n"
        '--b1\nContent-Type: application/pdf; name="a.pdf"\n'
        "Content-Disposition: attachment; filename*=utf-8''%E2%82%AC.pdf\n"
        "Content-Transfer-Encoding: base64\n\nJVBERi0xLjQK\n"
        "--b1\nContent-Type: message/rfc822\n\n"
        "Subject: inner\nContent-Type: text/plain\n\ninner body\n"
        "--b1\nContent-Type: image/png\n\n\x89PNG\x00\n--b1--\nepilogue\n"
    ),
    b"Subject: digest\nContent-Type: multipart/digest; boundary=d\n\n--d\n\nSubject: one\n\n1\n"
    b"--d\n\nSubject: two\n\n2\n--d--\n",
    b"From: J\xc3\xbcrgen <j@example.test>\nSubject: \xff\xfe raw\n\nbody \xe9\n",
]

# Pieces that steer mutations toward the interesting corners of the grammar.
TOKENS = [
    b"\r\n",
    b"\n",
    b"\r",
    b"\x00",
    b"\r\n\r\n",
    b"--b1",
    b"--b1--",
    b"--b2",
    b"=?utf-8?b?",
    b"?=",
    b"=?x-bogus?q?=FF?=",
    b"; charset=",
    b"; boundary=",
    b"Content-Type: multipart/mixed; boundary=b1\r\n",
    b"Content-Type: message/rfc822\r\n\r\n",
    b"Content-Transfer-Encoding: base64\r\n",
    b"Content-Disposition: attachment; filename=",
    b"filename*0*=utf-8''%E2",
    b"<script>",
    b"<!--",
    b"&#x110000;",
    b"=\r\n",
    b" \t",
    b"\xc3",
    b"\xff",
]


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 8))):
        position = draw(st.integers(0, len(data)))
        action = draw(st.sampled_from(["insert", "delete", "replace", "duplicate", "truncate"]))
        if action == "insert":
            piece = draw(st.one_of(st.sampled_from(TOKENS), st.binary(max_size=8)))
            data[position:position] = piece
        elif action == "delete":
            del data[position : position + draw(st.integers(1, 40))]
        elif action == "replace" and position < len(data):
            data[position] = draw(st.integers(0, 255))
        elif action == "duplicate":
            data[position:position] = data[position : position + draw(st.integers(1, 200))]
        elif action == "truncate":
            del data[position:]
    return bytes(data)


ANY_MESSAGE = st.one_of(
    st.binary(max_size=600),
    mutated(),
    st.lists(st.sampled_from([*TOKENS, b"x", b"Subject: ", b"To: "]), max_size=40).map(b"".join),
)


def check_summary(result: Summary) -> None:
    assert isinstance(result, Summary)
    for value in (result.subject, result.sender, result.to, result.cc, result.message_id):
        assert isinstance(value, str)
        assert "\r" not in value and "\n" not in value
    assert result.date is None or isinstance(result.date, datetime)
    assert isinstance(result.snippet, str) and len(result.snippet) <= 200
    assert "\n" not in result.snippet
    assert isinstance(result.has_attachments, bool) and isinstance(result.malformed, bool)


def check_opened(opened: Opened) -> None:
    assert isinstance(opened, Opened)
    for name, value in opened.headers:
        assert isinstance(name, str) and isinstance(value, str)
        assert "\r" not in value and "\n" not in value
    assert isinstance(opened.text, str) and "\x00" not in opened.text
    assert opened.html is None or isinstance(opened.html, str)
    assert isinstance(opened.malformed, bool)
    for number, info in enumerate(opened.attachments, start=1):
        assert isinstance(info, AttachmentInfo) and info.index == number
        assert info.filename and info.filename not in (".", "..")
        assert "/" not in info.filename and "\\" not in info.filename


@FUZZ
@given(ANY_MESSAGE)
def test_nothing_raises_and_the_views_agree(raw: bytes) -> None:
    summary = summarize(raw)
    check_summary(summary)
    assert summary == _full_parse(raw)

    opened = open_message(raw)
    check_opened(opened)
    assert summary.has_attachments == bool(opened.attachments)
    subjects = [value for name, value in opened.headers if name.lower() == "subject"]
    assert summary.subject == (subjects[0] if subjects else "")

    for info in opened.attachments:
        data, content_type, filename = attachment(raw, info.index)
        assert (len(data), content_type, filename) == (info.size, info.content_type, info.filename)
    for missing in (0, len(opened.attachments) + 1):
        with pytest.raises(LookupError):
            attachment(raw, missing)

    head = header_block(raw)
    assert raw.startswith(head)


@FUZZ
@given(st.binary(min_size=1, max_size=4000))
def test_random_bodies_under_real_headers(body: bytes) -> None:
    for seed in SEEDS:
        raw = header_block(seed) + body
        check_summary(summarize(raw))
        assert summarize(raw) == _full_parse(raw)
        check_opened(open_message(raw))
