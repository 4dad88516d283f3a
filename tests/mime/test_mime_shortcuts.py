"""The hot path's shortcuts give exactly what the plain computations they skip give.

Each reference below is the straightforward version the shortcut replaced: `display`
without its ASCII early return, `snippet_of` decoding whole windows, `_date` through
parsedate_to_datetime alone.
"""

import base64
import binascii
from datetime import datetime
from email.utils import parsedate_to_datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mailward.mime._headers import _CONTROLS, decode_words, display, repair_8bit
from mailward.mime._text import (
    _START_BYTES,
    _cut,
    decode_text,
    html_to_text,
    known_charset,
    one_line,
    snippet_of,
    transfer_decode,
)
from mailward.mime.summary import _date

FUZZ = settings(
    max_examples=max(300, settings().max_examples),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def reference_display(value: str) -> str:
    value = repair_8bit(value).replace("\r", "").replace("\n", "")
    if "=?" in value:
        value = decode_words(value)
    return _CONTROLS.sub(" ", value).strip()


def reference_snippet(
    body: bytes, encoding: str, charset: str | None, is_html: bool
) -> tuple[str, bool]:
    window = 2048
    while True:
        whole = window >= len(body)
        data, clean_transfer = transfer_decode(body if whole else _cut(body, window), encoding)
        text, clean_charset = decode_text(data, charset)
        snippet = one_line(html_to_text(text) if is_html else text)
        if whole or len(snippet) >= 200:
            clean = clean_transfer and clean_charset if whole else known_charset(charset)
            return snippet[:200].rstrip(), clean
        window *= 4


def reference_date(value: str) -> datetime | None:
    if not value:
        return None
    try:
        return parsedate_to_datetime(value)
    except (ValueError, TypeError, IndexError, OverflowError):
        return None


@FUZZ
@given(st.text(alphabet=st.sampled_from(" \t\r\n\x00\x1b\x7f\x85\xa0e=?!~\u2028\udcc3\udca9")))
def test_display(value: str) -> None:
    assert display(value) == reference_display(value)


# Bodies long enough to cross the 2048-byte window and the first try's end, made of
# words, runs of white space, controls, BOMs and characters of one to four bytes.
WORDS = ["fox", "Caf\u00e9", "\u041f\u0440\u0438\u0432\u0435\u0442", "\u65e5\u672c\u8a9e",
         "\U0001f600", " ", "  ", "\n", "\r\n", "\t", "\n\n\n", " " * 40, "\x00", "\x01",
         "\x0b", "\u2028", "\ufeff", "<p>", "&amp;", "=", "-"]  # fmt: skip
CHARSETS = [None, "", "utf-8", "UTF-8", '"utf-8"', "us-ascii", "iso-8859-1", "utf-16",
            "utf-8-sig", "x-bogus"]  # fmt: skip
JUNK = [b"*", b"=", b"==", b"=\r\n", b"=4", b"\xff", b"\xc3", b"\r", b"\n", b"\x00", b" "]


@st.composite
def bodies(draw: st.DrawFn) -> tuple[bytes, str, str | None, bool]:
    text = "".join(draw(st.lists(st.sampled_from(WORDS), max_size=40))) * draw(st.integers(1, 300))
    charset = draw(st.sampled_from(CHARSETS))
    codec = "utf-8" if charset in (None, "", '"utf-8"', "us-ascii", "x-bogus") else charset
    data = text.encode(codec, "replace")
    encoding = draw(st.sampled_from(["", "7bit", "8bit", "base64", "quoted-printable"]))
    if encoding == "base64":
        data = base64.encodebytes(data)
        if draw(st.booleans()):
            data = data.replace(b"\n", b"\r\n")
    elif encoding == "quoted-printable":
        data = binascii.b2a_qp(data, istext=draw(st.booleans()))
    body = bytearray(data)
    for _ in range(draw(st.integers(0, 3))):
        position = draw(st.integers(0, len(body)))
        body[position:position] = draw(st.sampled_from(JUNK))
    if draw(st.integers(0, 4)) == 0:
        del body[draw(st.integers(0, len(body))) :]
    return bytes(body), encoding, charset, draw(st.integers(0, 5)) == 0


@FUZZ
@given(bodies())
def test_snippet(case: tuple[bytes, str, str | None, bool]) -> None:
    assert snippet_of(*case) == reference_snippet(*case)


@pytest.mark.parametrize(
    "body",
    [
        # A character cut where the first try stops, a BOM, white space before any text.
        ("x" * (_START_BYTES - 1) + "\u20ac" * 400).encode(),
        ("\ufeff" + "word " * 600).encode(),
        ("\n" * 300 + " " * 700 + "late " * 600).encode(),
        base64.encodebytes(("\u65e5\u672c\u8a9e " * 500).encode()),
    ],
)
def test_snippet_edges(body: bytes) -> None:
    for encoding in ("", "base64"):
        assert snippet_of(body, encoding, "utf-8", False) == reference_snippet(
            body, encoding, "utf-8", False
        )


DAYS = ["Mon, ", "Sun,", "mon, ", "Monday, ", "Xyz, ", ""]
MONTHS = ["Jan", "Feb", "jun", "June", "Dec", "Foo"]
ZONES = ["+0000", "-0000", "+0130", "-0430", "+9999", "-2400", "+1400", "GMT", "EST", "Z", ""]


@st.composite
def dates(draw: st.DrawFn) -> str:
    number = st.integers(0, 99).map(str) | st.integers(0, 9).map("0{}".format)
    parts = [
        draw(st.sampled_from(DAYS)) + draw(number),
        draw(st.sampled_from(MONTHS)),
        str(draw(st.sampled_from([1970, 2024, 99, 0, 99999, 1000]))).zfill(draw(st.integers(1, 4))),
        ":".join(draw(number) for _ in range(draw(st.integers(1, 3)))),
        draw(st.sampled_from(ZONES)),
    ]
    return draw(st.sampled_from([" ", "  "])).join(parts)


@st.composite
def canonical_dates(draw: st.DrawFn) -> str:
    """RFC 5322 dates as mailers write them, with any two digits in every field."""

    def two(usual: int) -> str:
        return f"{draw(st.integers(0, usual) | st.integers(0, 99)):02}"

    day = draw(st.sampled_from(["Mon, ", "Fri, ", ""])) + str(draw(st.integers(0, 31)))
    month = draw(st.sampled_from(["Jan", "Feb", "Jun", "Dec"]))
    year = draw(st.integers(1000, 9999))
    zone = draw(st.sampled_from("+-")) + two(14) + two(59)
    return f"{day} {month} {year} {two(23)}:{two(59)}:{two(59)} {zone}"


@FUZZ
@given(canonical_dates() | dates() | st.text(max_size=40))
def test_date(value: str) -> None:
    # repr, not ==: aware datetimes at the same instant compare equal across zones.
    assert repr(_date(value)) == repr(reference_date(value))
