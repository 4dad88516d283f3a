"""The header section of a plain single-part message, read without the email package.

`scan` serves `summary._single_part`, the delivery hot path. It answers only for
messages the email-package path (`summary._single_part_email`) reads in one obvious
way, and gives exactly what that path would take from the parsed header; for
anything else it returns None and the caller falls back to that path.

Accepted: a header section, up to the first empty line, where every line is either
a field (a name of printable ASCII without ":", then ":") or a continuation (it
begins with a space or tab), lines end in CRLF or LF, and no byte is a control
character other than TAB (8-bit bytes are fine). Content-Type, if present once, is
`text/<subtype>` with `name=token` or `name="text"` parameters only; a single
Content-Disposition is read when it names no file.

Declined (None): no empty line; a line that is neither field nor continuation
(including a first-line continuation, an mbox "From " line, an empty or 8-bit
field name, a space before the colon); a NUL or other control byte, a bare CR;
an empty LF line followed by an empty CRLF line (head_end ends the section after
the second); two Content-Type or two Content-Disposition fields; a Content-Type
that is not text/*, is not ASCII, holds a comment, an RFC 2231 parameter (`*`), a
quoted string with `\\` or `;`, a parameter without "=", an empty parameter (a
trailing ";"), or any "name" (a file name makes the part an attachment through
`_tree.filename_of`); a Content-Disposition mentioning "name". A decline costs the
fallback a few µs more.
"""

import re
from typing import NamedTuple

from mailward.mime._headers import repair_8bit

# RFC 5322 §2.2 / §2.2.3, as the feed parser reads it (its headerRE): a field line is
# a name of bytes 0x21-0x7E but ":", then ":"; a continuation starts with SP or TAB.
# Control bytes are refused because the parser (and str.splitlines) may read some of
# them as line ends; CR is allowed only before LF. Every line has one reading, so
# the match is linear and ends just past the first empty line, as head_end does.
_SECTION = re.compile(
    rb"(?:[\x21-\x39\x3b-\x7e]++:[\t\x20-\xff]*+\r?\n(?:[ \t][\t\x20-\xff]*+\r?\n)*+)*+\r?\n"
)
# Searched in "\n" + section: after _SECTION, a line starting with a name is a field.
# The value is compat32's (header_source_parse): SP/TAB after the colon skipped, folds
# kept, CR/LF stripped at the end (the final LF is left to start the next match).
_WANTED = re.compile(
    r"\n(subject|from|to|cc|date|message-id|content-type|content-transfer-encoding"
    r"|content-disposition):[ \t]*+([^\n]*+(?:\n[ \t][^\n]*+)*+)",
    re.I | re.ASCII,
)

# A bare RFC 2045 §5.1 token, less "*" (RFC 2231 §3-4 marks extended parameters with it).
_BARE = r"[!#$%&'+\-.0-9A-Z^_`a-z{|}~]+"
_SPACE = r"[ \t\r\n]*"  # a fold stays in a compat32 value as CRLF or LF and SP/TAB
# A quoted string without "\", ";" or a line end: the email package unquotes exactly
# these by stripping the quotes (utils.unquote, message._parseparam).
_QUOTED = r'"[ !#-:<-\[\]-~]*"'
_VALUE = rf"{_SPACE}={_SPACE}(?:{_BARE}|{_QUOTED}){_SPACE}"
_CHARSET = rf";{_SPACE}(?i:charset){_SPACE}={_SPACE}(?:({_BARE})|({_QUOTED})){_SPACE}"
_NOT_CHARSET = rf";{_SPACE}(?!(?i:charset){_SPACE}=){_BARE}{_VALUE}"
_ANY = rf";{_SPACE}{_BARE}{_VALUE}"
# text/<subtype>, then parameters; group 2 or 3 is the first charset (Message.get_param
# takes the first match, names compared without case).
_CONTENT_TYPE = re.compile(
    rf"{_SPACE}((?i:text)/{_BARE}){_SPACE}(?:{_NOT_CHARSET})*(?:{_CHARSET}(?:{_ANY})*)?",
    re.ASCII,
)


class Head(NamedTuple):
    """What the summary needs of a header section (a tuple: built on every delivery)."""

    body_start: int
    # Field values as compat32 stores them: ASCII with surrogate escapes, folds kept,
    # leading SP/TAB and trailing CR/LF stripped. Keys are lower-case names.
    fields: dict[str, list[str]]
    content_type: str
    charset: str | None
    transfer_encoding: str
    attached: bool


def scan(raw: bytes) -> Head | None:
    """The message's header section read the simple way, or None to fall back."""
    section = _SECTION.match(raw)
    if section is None:
        return None
    body_start = section.end()
    if body_start > 1 and raw.startswith(b"\n\n\r\n", body_start - 2):
        return None  # head_end takes the CRLF line after an empty LF line for the end
    text = raw[:body_start].decode("ascii", "surrogateescape")  # as BytesParser reads it
    fields: dict[str, list[str]] = {}
    for name, value in _WANTED.findall("\n" + text):
        fields.setdefault(name.lower(), []).append(value.rstrip("\r\n"))

    content_type, charset = "text/plain", None  # RFC 2045 §5.2 default
    types = fields.get("content-type")
    if types is not None:
        if len(types) > 1:
            return None
        parsed = _content_type(types[0])
        if parsed is None:
            return None
        content_type, charset = parsed

    # Message.get_content_disposition, as _tree.is_attachment asks it.
    attached = False
    dispositions = fields.get("content-disposition")
    if dispositions is not None:
        if len(dispositions) > 1:
            return None
        disposition = repair_8bit(dispositions[0])
        if "name" in disposition.lower():
            return None
        attached = disposition.partition(";")[0].strip().lower() == "attachment"

    # _tree.transfer_encoding on the first field, as Message.get returns it.
    encodings = fields.get("content-transfer-encoding")
    encoding = repair_8bit(encodings[0]).split(";", 1)[0].strip().lower() if encodings else ""
    return Head(body_start, fields, content_type, charset, encoding, attached)


def _content_type(value: str) -> tuple[str, str | None] | None:
    """(type, charset) as get_content_type and get_content_charset give them, or None."""
    # A "name" anywhere sends _tree.filename_of to the parameter parser: leave it to it.
    if "name" in value.lower():
        return None
    match = _CONTENT_TYPE.fullmatch(value)
    if match is None:
        return None
    token, quoted = match.group(2, 3)
    if token is not None:
        return match.group(1).lower(), token.lower()
    if quoted is not None:
        return match.group(1).lower(), quoted[1:-1].lower()
    return match.group(1).lower(), None
