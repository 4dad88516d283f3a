"""What an IMAP server reads of a stored message: ENVELOPE, BODYSTRUCTURE, BODY[section].

The structures are those of RFC 3501 §7.4.2 / RFC 9051 §7.5.2 in wire syntax, the
sections those of §6.4.5, all computed from the raw bytes. Header values in them are
as sent: unfolded, RFC 2047 encoded-words kept, quoted strings unquoted only in
display names. Strings are quoted, or literals when they hold CR, LF, NUL or 8-bit
bytes or are longer than 1000 bytes.

Byte ranges: the email package keeps no offsets, and its feed parser runs line by
line through every body (95 ms for a 4 MB attachment), so the part tree is walked
in the raw bytes (`_imap_tree._walk`, over `_imap_lines`), the way that parser reads
them: lines end in CRLF, LF or a bare CR; a header section runs while lines look like
fields (its headerRE) and ends after an empty line or before the first other line; a
multipart's parts lie between its delimiter lines (delimiters in a row count as one),
and the line end before a delimiter belongs to the delimiter (RFC 2046 §5.1.1).
Types, boundaries and which leaves are attachments follow the email package and
`_tree` too: mirrored for plain ASCII header values (`_raw_type`, `_raw_boundary`,
`_is_attachment`), asked of its header parser for any other. So part numbers agree
with `open_message` and attachment numbers with `attachment`;
tests/mime/test_imap_parts.py holds the walk to a tree led by `_tree.parse`
(`_parsed`) on any bytes. That tree is used outright
when `_tree.parse` may cut deep nesting; should it and the raw bytes disagree on a
multipart's parts, the tree is inexact and `section` labels a part section with
every label of the message. Nesting (multipart and message/rfc822 levels together)
stops at `_tree.MAX_DEPTH`; a message/rfc822 part there is described as
application/octet-stream.

Shortcuts: `envelope` and the header sections read only the header section; only
`_parsed` runs the email package over bodies; `section(raw, "")` is `raw`.
"""

from collections.abc import Sequence

from mailward.mime import _tree
from mailward.mime._imap_lines import _header_end, _wanted
from mailward.mime._imap_sections import (
    _filter_fields,
    _header_label,
    _header_section,
    _numbered,
    _parse_spec,
)
from mailward.mime._imap_structure import _envelope, _structure
from mailward.mime._imap_tree import _Node, _read


def envelope(raw: bytes) -> bytes:
    """The ENVELOPE of a message (RFC 3501 §7.4.2), read from its header section only.

    Absent fields are NIL; Sender and Reply-To default to From when absent or empty.
    Address lists keep group syntax; an address without "@" gets host "" (NIL would
    mark a group). Never raises.
    """
    head, _ = _header_end(raw, 0, len(raw))
    return _envelope(_wanted(raw, 0, head))


def bodystructure(raw: bytes, *, extensible: bool) -> bytes:
    """BODYSTRUCTURE (`extensible`) or BODY (RFC 3501 §7.4.2, RFC 9051 §7.5.2).

    Sizes are octets of each body as sent; lines count line ends, plus a last line
    without one. A part without Content-Type is "TEXT" "PLAIN" ("CHARSET" "US-ASCII"),
    or "MESSAGE" "RFC822" in a multipart/digest (RFC 2046 §5.1.5). Extension data is
    Content-MD5, disposition, language and location, NIL when absent. Never raises.
    """
    try:
        root = _read(raw, labels=False).root
    except _tree.PARSE_ERRORS:  # the email package failed on a header: one opaque part
        head, body = _header_end(raw, 0, len(raw))
        root = _Node(0, head, body, len(raw), len(raw), "application/octet-stream", {})
    out: list[bytes] = []
    _structure(raw, root, extensible, out)
    return b"".join(out)


def section(raw: bytes, spec: str) -> tuple[bytes, tuple[str, ...]]:
    """The bytes of BODY[spec] (RFC 3501 §6.4.5) and the audit labels of what they expose.

    `spec` is what stands between the brackets. Bytes are exactly as sent; header
    sections end with their empty line (CRLF when the message has none). A section
    the message does not have, or a spec that does not parse, gives (b"", ()).
    Labels: "raw" (the whole message); "subject" (HEADER.FIELDS (SUBJECT) alone);
    "headers" (any other header section), plus the attachment's label when the header
    lies inside a message/rfc822 attachment; "attachment:K" for each attachment the
    section covers or lies in (K as in `attachment`) and "body" for any other part.
    Empty bytes have no labels. Never raises.
    """
    if not spec:
        return raw, ("raw",) if raw else ()
    request = _parse_spec(spec)
    if request is None:
        return b"", ()
    numbers, text, names = request
    if not numbers and not text:
        return raw, ("raw",) if raw else ()
    if not numbers and text != "TEXT":  # the message's own header: no tree needed
        head, body = _header_end(raw, 0, len(raw))
        data = _header_section(raw, 0, head, body, text, names)
        return data, (_header_label(text, names),) if data else ()
    try:
        tree = _read(raw, labels=True)
        return _numbered(raw, tree, numbers, text, names)
    except _tree.PARSE_ERRORS:
        return b"", ()


def header_fields(raw: bytes, names: Sequence[str], *, exclude: bool = False) -> bytes:
    """BODY[HEADER.FIELDS (names)], or with `exclude` BODY[HEADER.FIELDS.NOT (names)].

    The message's header fields whose names are (or, with `exclude`, are not) among
    `names`, compared without case, in their order and as sent with their folds,
    then the empty line that ends the header section.
    """
    head, body = _header_end(raw, 0, len(raw))
    wanted = frozenset(name.encode("utf-8", "surrogateescape").lower() for name in names)
    return _filter_fields(raw, 0, head, body, wanted, exclude)
