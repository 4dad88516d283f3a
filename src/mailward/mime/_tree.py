"""Message trees: parsing with a nesting cap, and which leaf is body or attachment.

Parsing uses the email package's feed parser with a compat32-based policy: header
values stay as sent and `_headers.display` decodes them. policy.default's header
objects cost about 80 µs per address header, several times the delivery budget,
and raise on some malformed input; the structure the parser finds is the same.

A leaf is an attachment when it says so (Content-Disposition: attachment), has a
file name, or is neither text nor multipart; of the other leaves, the first
text/plain one is the text body and the first text/html one the HTML body.
message/* parts are leaves, so a forwarded message is one attachment. Leaves are
numbered in document order. summary.py and structure.py both decide with
`is_attachment` and walk with `layout`, so `Summary.has_attachments` and
`Opened.attachments` agree, and `attachment(raw, i)` serves `Opened.attachments[i-1]`.
"""

import io
import re
from dataclasses import dataclass
from email.errors import MessageError
from email.generator import BytesGenerator
from email.message import Message
from email.parser import BytesParser
from email.policy import Compat32
from typing import TYPE_CHECKING, Any

from mailward.mime._headers import decode_words, head_end, repair_8bit
from mailward.mime._text import transfer_decode

MAX_DEPTH = 50

# What the email package raises on hostile input (IndexError, AttributeError and
# AssertionError come from known parser bugs; RecursionError from deep nesting that
# slipped past the cap). UnicodeError and binascii.Error are ValueErrors.
PARSE_ERRORS = (
    MessageError,
    ValueError,
    TypeError,
    LookupError,
    IndexError,
    AttributeError,
    AssertionError,
    RecursionError,
    OverflowError,
)

_BOUNDARY_PARAM = re.compile(rb'boundary\s*=\s*(?:"([^"\r\n]*)"|([^\s;"]+))', re.I)
_DELIMITER_LINE = re.compile(rb"^--([^\r\n]*)", re.M)


class Part(Message):
    """A parsed message or body part that can hand out its body as received."""

    # Set by Message and the feed parser. Message.get_payload() is no substitute: it
    # re-decodes 8-bit bodies with the part's charset and U+FFFD, losing the bytes.
    _payload: Any

    def encoded_body(self) -> bytes:
        """The body before transfer decoding; b"" for a multipart or message/* part."""
        payload = self._payload
        if not isinstance(payload, str):
            return b""
        # The parser read the bytes as ASCII with surrogate escapes: this is lossless.
        return payload.encode("ascii", "surrogateescape")


if TYPE_CHECKING:
    _Compat32 = Compat32[Part]
else:  # Compat32 is generic only in the type stubs
    _Compat32 = Compat32


class _Policy(_Compat32):
    """compat32, with 8-bit header bytes read as UTF-8 and headers written verbatim.

    Reading: parameters (file names above all) keep their non-ASCII characters
    instead of becoming U+FFFD. Writing: a regenerated message/rfc822 part keeps its
    header lines as received rather than refolded.
    """

    def header_fetch_parse(self, name: str, value: str) -> str:
        return repair_8bit(value)

    def fold_binary(self, name: str, value: str) -> bytes:
        return f"{name}: {value}{self.linesep}".encode("ascii", "surrogateescape")


_POLICY = _Policy(message_factory=Part)
_PARSER = BytesParser(policy=_POLICY)


@dataclass(frozen=True, slots=True)
class Parsed:
    root: Part
    linesep: str
    malformed: bool


@dataclass(frozen=True, slots=True)
class Layout:
    plain: Part | None
    html: Part | None
    attachments: tuple[Part, ...]
    malformed: bool


def parse_head(head: bytes) -> Part:
    """The header section alone; an empty message if even that fails."""
    try:
        return _PARSER.parsebytes(head, headersonly=True)
    except PARSE_ERRORS:
        return Part(policy=_POLICY)


def parse(raw: bytes) -> Parsed:
    """The whole message, with multipart nesting cut at MAX_DEPTH levels."""
    end = head_end(raw)
    head = raw[:end] if end >= 0 else raw
    linesep = "\r\n" if b"\r\n" in head[:65536] else "\n"
    capped, truncated = _cap_nesting(raw, head)
    try:
        root = _PARSER.parsebytes(capped)
    except PARSE_ERRORS:
        return Parsed(parse_head(head), linesep, True)
    return Parsed(root, linesep, truncated or b"\x00" in head)


def layout(root: Part) -> Layout:
    """Walk the leaves in document order, descending at most MAX_DEPTH levels."""
    plain: Part | None = None
    html: Part | None = None
    attachments: list[Part] = []
    malformed = False
    stack: list[tuple[Part, int]] = [(root, 0)]
    while stack:
        part, depth = stack.pop()
        malformed = malformed or bool(part.defects)
        content_type = part.get_content_type()
        if content_type.startswith("multipart/") and part.is_multipart():
            if depth >= MAX_DEPTH:
                malformed = True
                continue
            children = [child for child in part.get_payload() if isinstance(child, Part)]
            stack.extend((child, depth + 1) for child in reversed(children))
        elif is_attachment(part, content_type):
            attachments.append(part)
        elif content_type == "text/plain" and plain is None:
            plain = part
        elif content_type == "text/html" and html is None:
            html = part
    return Layout(plain, html, tuple(attachments), malformed)


def is_attachment(part: Part, content_type: str) -> bool:
    if content_type.startswith("multipart/"):
        return False
    if part.get_content_disposition() == "attachment" or filename_of(part) is not None:
        return True
    return not content_type.startswith("text/")


def filename_of(part: Part) -> str | None:
    """The part's file name as sent (RFC 2231 or, leniently, RFC 2047), or None."""
    # Cheap test first: get_filename parses both headers' parameters on every call.
    disposition = part.get("content-disposition") or ""
    content_type = part.get("content-type") or ""
    if "name" not in disposition.lower() and "name" not in content_type.lower():
        return None
    try:
        name = part.get_filename()
    except PARSE_ERRORS:
        return None
    if name is None:
        return None
    if "=?" in name:
        name = decode_words(name)
    return name.strip() or None


def charset_of(part: Part) -> str | None:
    try:
        return part.get_content_charset()
    except PARSE_ERRORS:
        return None


def transfer_encoding(part: Part) -> str:
    value = part.get("content-transfer-encoding") or ""
    return value.split(";", 1)[0].strip().lower()


def leaf_bytes(part: Part, linesep: str) -> tuple[bytes, bool]:
    """The part's body decoded; a message/* part regenerated from its tree."""
    if part.is_multipart():
        return _regenerated_body(part, linesep)
    return transfer_decode(part.encoded_body(), transfer_encoding(part))


def _regenerated_body(part: Part, linesep: str) -> tuple[bytes, bool]:
    # The parser keeps no byte offsets, so an embedded message is written out again;
    # the verbatim policy keeps its header lines as they came.
    buffer = io.BytesIO()
    policy = _POLICY.clone(linesep=linesep)
    try:
        BytesGenerator(buffer, mangle_from_=False, policy=policy).flatten(part, linesep=linesep)
    except PARSE_ERRORS:
        return b"", False
    whole = buffer.getvalue()
    end = head_end(whole)
    return (whole[end:], True) if end >= 0 else (b"", False)


def _cap_nesting(raw: bytes, head: bytes) -> tuple[bytes, bool]:
    """Drop the content of multiparts nested deeper than MAX_DEPTH levels.

    The feed parser checks each line against every open boundary and recurses once
    per level: deep nesting costs O(lines * depth) and ends in RecursionError near
    450 levels. Each level needs a boundary parameter of its own, so a message
    declaring at most MAX_DEPTH of them passes without a scan. Otherwise each
    section from a delimiter that would open level MAX_DEPTH + 1 up to the next
    delimiter of an open level is cut; what lies around it still parses.
    """
    if raw.lower().count(b"boundary") <= MAX_DEPTH:  # ten times faster than the regex
        return raw, False
    declared = _BOUNDARY_PARAM.findall(raw)
    if len(declared) <= MAX_DEPTH:
        return raw, False
    if not parse_head(head).get_content_type().startswith(("multipart/", "message/")):
        return raw, False  # the parser reads a single part's body as text, whatever it holds
    boundaries = {(quoted or bare).rstrip() for quoted, bare in declared}
    open_boundaries: list[bytes] = []
    kept: list[bytes] = []
    position, cut_from = 0, -1
    for delimiter in _DELIMITER_LINE.finditer(raw):
        boundary, closing = delimiter.group(1).rstrip(b" \t\r"), False
        if boundary not in boundaries:
            if not (boundary.endswith(b"--") and boundary[:-2] in boundaries):
                continue
            boundary, closing = boundary[:-2], True
        if boundary in open_boundaries:
            if cut_from >= 0:
                kept.append(raw[position:cut_from])
                position, cut_from = delimiter.start(), -1
            # RFC 2046 §5.1.2: an outer delimiter also ends every part opened inside.
            del open_boundaries[open_boundaries.index(boundary) + (0 if closing else 1) :]
        elif cut_from < 0 and not closing:
            if len(open_boundaries) < MAX_DEPTH:
                open_boundaries.append(boundary)
            else:
                cut_from = delimiter.start()
    if cut_from >= 0:
        kept.append(raw[position:cut_from])
        position = len(raw)
    if not kept:
        return raw, False
    kept.append(raw[position:])
    return b"".join(kept), True
