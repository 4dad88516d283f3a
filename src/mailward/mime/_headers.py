"""Header text: where the header section ends, and header values made displayable.

`display` turns a stored header value into one clean line: 8-bit bytes read as
UTF-8, folds removed, encoded-words decoded, no control characters left. Nothing
here raises, whatever the input.
"""

import binascii
import re

from mailward.mime._text import base64_lenient, decode_text

# RFC 2047 §2: encoded-word = "=?" charset "?" encoding "?" encoded-text "?=", where
# charset and encoded-text are printable ASCII without "?" or space. We accept words
# anywhere (inside quoted strings and glued to other text, as real mailers send them).
_ENCODED_WORD = re.compile(r"=\?([!->@-~]+)\?([bBqQ])\?([!->@-~]*)\?=")
# Line breaks and other controls cannot survive in a one-line value; a decoded
# encoded-word may carry them (=0D=0A).
_CONTROLS = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def head_end(raw: bytes) -> int:
    """Offset just past the blank line that ends the header section, or -1.

    RFC 5322 §2.1: the header section ends at the first empty line. Lines end in
    CRLF or, leniently, in a bare LF.
    """
    if raw.startswith(b"\n"):
        return 1
    if raw.startswith(b"\r\n"):
        return 2
    crlf = raw.find(b"\n\r\n")
    lf = raw.find(b"\n\n", 0, crlf if crlf >= 0 else len(raw))
    if lf >= 0:
        return lf + 2
    return crlf + 3 if crlf >= 0 else -1


def repair_8bit(value: str) -> str:
    """Read bytes the parser kept as surrogate escapes as UTF-8 (RFC 6532 §3.2)."""
    if value.isascii():
        return value
    try:
        return value.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    except UnicodeError:
        return value.encode("utf-8", "replace").decode("utf-8", "replace")


def display(value: str) -> str:
    """One header value as a single displayable line (RFC 5322 §2.2.3 unfolding)."""
    if value.isascii() and value.isprintable() and "=?" not in value:
        return value.strip()  # the common case, where every step below changes nothing
    value = repair_8bit(value).replace("\r", "").replace("\n", "")
    if "=?" in value:
        value = decode_words(value)
    return _CONTROLS.sub(" ", value).strip()


def decode_words(value: str) -> str:
    """Decode RFC 2047 encoded-words; text between them is kept as it is.

    Whitespace between two adjacent encoded-words is dropped (RFC 2047 §6.2), and the
    bytes of adjacent words in one charset are decoded together, so a character
    split across two words (as some mailers do) survives.
    """
    out: list[str] = []
    pending = bytearray()
    pending_charset = ""
    position = 0
    after_word = False
    for match in _ENCODED_WORD.finditer(value):
        gap = value[position : match.start()]
        charset = match.group(1).split("*", 1)[0].lower()  # RFC 2231 §5: drop language
        joined = after_word and (not gap or gap.isspace())
        if pending and not (joined and charset == pending_charset):
            out.append(decode_text(bytes(pending), pending_charset)[0])
            pending.clear()
        if not joined:
            out.append(gap)
        pending += _word_bytes(match.group(2), match.group(3))
        pending_charset = charset
        position = match.end()
        after_word = True
    if pending:
        out.append(decode_text(bytes(pending), pending_charset)[0])
    out.append(value[position:])
    return "".join(out)


def _word_bytes(encoding: str, text: str) -> bytes:
    data = text.encode("ascii")
    if encoding in "bB":
        return base64_lenient(data)[0]
    # RFC 2047 §4.2: "_" is a space; the rest is quoted-printable.
    return binascii.a2b_qp(data, header=True)
