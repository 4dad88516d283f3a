"""What an IMAP server reads of a stored message: ENVELOPE, BODYSTRUCTURE, BODY[section].

The structures are those of RFC 3501 §7.4.2 / RFC 9051 §7.5.2 in wire syntax, the
sections those of §6.4.5, all computed from the raw bytes. Header values in them are
as sent: unfolded, RFC 2047 encoded-words kept, quoted strings unquoted only in
display names. Strings are quoted, or literals when they hold CR, LF, NUL or 8-bit
bytes or are longer than 1000 bytes.

Byte ranges: the email package keeps no offsets, and its feed parser runs line by
line through every body (95 ms for a 4 MB attachment), so the part tree is walked
here in the raw bytes (`_walk`), the way that parser reads them: lines end in CRLF,
LF or a bare CR; a header section runs while lines look like fields (its headerRE)
and ends after an empty line or before the first other line; a multipart's parts
lie between its delimiter lines (delimiters in a row count as one), and the line end
before a delimiter belongs to the delimiter (RFC 2046 §5.1.1). Types, boundaries and
which leaves are attachments follow the email package and `_tree` too: mirrored for
plain ASCII header values (`_raw_type`, `_raw_boundary`, `_is_attachment`), asked of
its header parser for any other. So part numbers agree with `open_message` and
attachment numbers with `attachment`; tests/mime/test_imap_parts.py holds the walk
to a tree led by `_tree.parse` (`_parsed`) on any bytes. That tree is used outright
when `_tree.parse` may cut deep nesting; should it and the raw bytes disagree on a
multipart's parts, the tree is inexact and `section` labels a part section with
every label of the message. Nesting (multipart and message/rfc822 levels together)
stops at `_tree.MAX_DEPTH`; a message/rfc822 part there is described as
application/octet-stream.

Shortcuts: `envelope` and the header sections read only the header section; only
`_parsed` runs the email package over bodies; `section(raw, "")` is `raw`.
"""

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from mailward.mime import _tree

_QUOTED_MAX = 1000  # longer strings go as literals
_MESSAGE_TYPES = ("message/rfc822", "message/global")  # RFC 9051 §6.4.5: both have subparts
_OPAQUE = (b"APPLICATION", b"OCTET-STREAM")

# The feed parser's header lines (email.feedparser.headerRE): "From ", a name of
# 0x21-0x7E without ":" (possibly empty) then ":", or a continuation; each line ends in
# CRLF, CR or LF, or at the end of what the part may read.
_HEADER_LINES = re.compile(
    rb"(?:(?:From |[\x21-\x39\x3b-\x7e]*+:|[\t ])[^\r\n]*+(?:\r\n|\r|\n|\Z))*+"
)
# One field with its continuation lines, as compat32 takes it: a name of at least one
# character; lines that are neither ("From ", continuations of nothing) are skipped.
_FIELD = re.compile(
    rb"(?<![^\r\n])([\x21-\x39\x3b-\x7e]++):"
    rb"([^\r\n]*+(?:(?:\r\n|\r|\n)[\t ][^\r\n]*+)*+)(?:\r\n|\r|\n)?"
)
# The fields ENVELOPE and BODYSTRUCTURE read.
_WANTED = frozenset(
    b"date subject from sender reply-to to cc bcc in-reply-to message-id content-type content-id"
    b" content-description content-transfer-encoding content-md5 content-disposition"
    b" content-language content-location".split()
)
_NAME = re.compile(rb"[\x21-\x7e]++")
_UNSAFE = re.compile(rb'[\x00\n\r"\\\x80-\xff]')  # in a string: escaped, or a literal
_LITERAL_ONLY = re.compile(rb"[\x00\n\r]")
_PARAMETER = re.compile(
    rb';[\t ]*([^\t =;"]++)[\t ]*=[\t ]*(?:"((?:[^"\\]|\\.)*+)"?|([^\t ;]*+))', re.S
)
_ESCAPED = re.compile(rb"\\(.)", re.S)
_NUMBER = re.compile(r"[1-9][0-9]{0,8}")
_FIELD_NAME = re.compile(r'"((?:[^"\\]|\\.)*)"|([^\s()"]+)')
_TEXTS = frozenset(["", "HEADER", "HEADER.FIELDS", "HEADER.FIELDS.NOT", "TEXT", "MIME"])


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


# The part tree, with byte offsets.


@dataclass(slots=True, eq=False)
class _Node:
    """A message or body part: header [start, head), empty line, body [body, end)."""

    start: int
    head: int
    body: int
    end: int
    limit: int  # where the lines this part may read stop: a delimiter line, or the end
    ctype: str  # as Message.get_content_type gives it
    fields: dict[bytes, bytes]  # first value of the fields in _WANTED, by lower-case name
    # The email package's view of this part: the part of a full parse, or one parsed
    # from this header alone where the raw reading needed it; else None.
    part: _tree.Part | None = None
    kind: str = "leaf"  # or "multipart", or "message" (one child: the message inside)
    children: list["_Node"] = field(default_factory=list)


@dataclass(slots=True, eq=False)
class _Tree:
    root: _Node
    exact: bool = True  # False: the raw walk and the parser split some multipart apart
    attachments: dict[int, int] = field(default_factory=dict)  # id(node) -> number

    def label(self, node: _Node) -> str:
        number = self.attachments.get(id(node))
        return "body" if number is None else f"attachment:{number}"

    def every_label(self) -> tuple[str, ...]:
        return ("body", *(f"attachment:{k}" for k in range(1, len(self.attachments) + 1)))


def _read(raw: bytes, *, labels: bool) -> _Tree:
    """The message's part tree; `labels` also numbers its attachments as _tree does.

    Read from the raw bytes (`_walk`), with the email package's header parser for
    the odd header only. When `_tree.parse` may cut deep nesting (`_cap_nesting`),
    the tree follows its parse instead (`_parsed`), so part and attachment numbers
    still agree with `open_message`.
    """
    tree = _Tree(_walk(raw, 0, len(raw), len(raw), "text/plain", 0))
    compound = tree.root.ctype.startswith(("multipart/", "message/"))
    if compound and raw.lower().count(b"boundary") > _tree.MAX_DEPTH:
        return _parsed(raw, labels=labels)
    if labels:
        stack = [tree.root]  # _tree.layout's walk: multiparts opened, other parts leaves
        while stack:
            node = stack.pop()
            if node.kind == "multipart":
                stack.extend(reversed(node.children))
            elif _is_attachment(raw, node):
                tree.attachments[id(node)] = len(tree.attachments) + 1
    return tree


def _walk(raw: bytes, start: int, limit: int, end: int, default: str, depth: int) -> _Node:
    head, body = _header_end(raw, start, limit)
    fields = _wanted(raw, start, head)
    value = fields.get(b"content-type")
    node = _Node(start, head, body, max(end, body), limit, "", fields)
    ctype = _raw_type(value, default)
    if ctype is None:
        ctype = _header_part(raw, node).get_content_type()
    node.ctype = ctype
    if depth >= _tree.MAX_DEPTH:
        return node
    if ctype.startswith("multipart/"):
        boundary = _raw_boundary(value)
        if boundary is _UNSURE:
            boundary = _header_part(raw, node).get_boundary()
        if isinstance(boundary, str):
            inner = "message/rfc822" if ctype == "multipart/digest" else "text/plain"
            node.children = [
                _walk(raw, s, lim, e, inner, depth + 1)
                for s, lim, e in _spans(raw, _separator(boundary), body, limit, node.end)
            ]
            node.kind = "multipart" if node.children else "leaf"
    elif ctype in _MESSAGE_TYPES:
        node.kind = "message"
        node.children = [_walk(raw, body, limit, node.end, "text/plain", depth + 1)]
    return node


def _parsed(raw: bytes, *, labels: bool) -> _Tree:
    """The tree with the multipart structure `_tree.parse` found, and its attachments."""
    parsed = _tree.parse(raw)
    exact = [True]
    tree = _Tree(_follow(raw, 0, len(raw), len(raw), parsed.root, "text/plain", 0, exact))
    tree.exact = exact[0]
    if labels:
        numbers = {id(part): k for k, part in enumerate(_tree.layout(parsed.root).attachments, 1)}
        stack = [tree.root]
        while stack:
            node = stack.pop()
            stack.extend(node.children)
            if node.part is not None and id(node.part) in numbers:
                tree.attachments[id(node)] = numbers[id(node.part)]
    return tree


def _follow(
    raw: bytes,
    start: int,
    limit: int,
    end: int,
    part: _tree.Part | None,
    default: str,
    depth: int,
    exact: list[bool],
) -> _Node:
    """`_walk` led by the parsed tree; exact[0] is cleared where the two disagree."""
    head, body = _header_end(raw, start, limit)
    fields = _wanted(raw, start, head)
    if part is not None:
        ctype = part.get_content_type()
    else:
        ctype = _raw_type(fields.get(b"content-type"), default, ascii_only=False) or default
    node = _Node(start, head, body, max(end, body), limit, ctype, fields, part)
    if depth >= _tree.MAX_DEPTH:
        return node
    if ctype.startswith("multipart/"):
        if part is None or not part.is_multipart():
            return node  # no first delimiter: the parser kept the body as text
        boundary = part.get_boundary()
        spans = (
            _spans(raw, _separator(boundary), body, limit, node.end) if boundary is not None else []
        )
        subparts: list[_tree.Part | None] = [
            child for child in part.get_payload() if isinstance(child, _tree.Part)
        ]
        if len(subparts) != len(spans):
            exact[0] = False
            subparts = [None] * len(spans)
        inner = "message/rfc822" if ctype == "multipart/digest" else "text/plain"
        node.children = [
            _follow(raw, s, lim, e, sub, inner, depth + 1, exact)
            for (s, lim, e), sub in zip(spans, subparts, strict=True)
        ]
        node.kind = "multipart" if node.children else "leaf"
    elif ctype in _MESSAGE_TYPES:
        message: _tree.Part | None = None
        if part is not None and part.is_multipart():
            payload = part.get_payload()
            if isinstance(payload, list) and payload and isinstance(payload[0], _tree.Part):
                message = payload[0]
        node.kind = "message"
        node.children = [
            _follow(raw, body, limit, node.end, message, "text/plain", depth + 1, exact)
        ]
    return node


def _header_part(raw: bytes, node: _Node) -> _tree.Part:
    """The node's header section parsed by the email package, as a full parse has it.

    Its default type is not set: it is asked for its type only when it has one.
    """
    if node.part is None:
        node.part = _tree.parse_head(raw[node.start : node.body])
    return node.part


def _is_attachment(raw: bytes, node: _Node) -> bool:
    """_tree.is_attachment, from the raw fields when they are plain ASCII."""
    if node.ctype.startswith("multipart/"):
        return False
    disposition = node.fields.get(b"content-disposition", b"")
    content_type = node.fields.get(b"content-type", b"")
    if (
        not disposition.isascii()
        or not content_type.isascii()
        or b"name" in disposition.lower()  # _tree.filename_of would parse the parameters
        or b"name" in content_type.lower()
    ):
        return _tree.is_attachment(_header_part(raw, node), node.ctype)
    # Message.get_content_disposition: the token before ";", lower-cased.
    if disposition.decode("ascii").partition(";")[0].strip().lower() == "attachment":
        return True
    return not node.ctype.startswith("text/")


def _raw_type(value: bytes | None, default: str, *, ascii_only: bool = True) -> str | None:
    """Message.get_content_type for a raw value; None for 8-bit values if `ascii_only`."""
    if value is None:
        return default
    if not value.isascii():
        if ascii_only:
            return None  # the policy reads 8-bit bytes as UTF-8: leave that to it
        text = value.decode("utf-8", "replace")
    else:
        text = value.decode("ascii")
    ctype = text.partition(";")[0].strip().lower()
    return ctype if ctype.count("/") == 1 else "text/plain"


class _Unsure:
    pass


_UNSURE = _Unsure()


def _raw_boundary(value: bytes | None) -> str | _Unsure | None:
    """Message.get_boundary for a raw Content-Type value, or _UNSURE.

    Mirrors email.message._parseparam (a ";" inside quotes does not split),
    Message.get_param and utils.unquote for ASCII values without backslashes or RFC
    2231 names ("*"), in linear time; other values go to the email package.
    """
    if value is None:
        return None
    if not value.isascii() or b"\\" in value or b"*" in value:
        return _UNSURE
    text = value.decode("ascii").lstrip(" \t")
    position, size = 0, len(text)
    while True:
        end = text.find(";", position)
        quotes = text.count('"', position, end if end >= 0 else size)
        while end > position and quotes % 2:
            following = text.find(";", end + 1)
            quotes += text.count('"', end, following if following >= 0 else size)
            end = following
        if end < 0:
            end = size
        name, _, found = text[position:end].partition("=")
        if name.strip().lower() == "boundary":
            # unquoted twice: by get_param and again by collapse_rfc2231_value
            return _unquote(_unquote(found.strip())).rstrip()
        if end >= size:
            return None
        position = end + 1


def _unquote(text: str) -> str:
    """email.utils.unquote for text without backslashes."""
    if len(text) > 1 and (text[0], text[-1]) in (('"', '"'), ("<", ">")):
        return text[1:-1]
    return text


def _separator(boundary: str) -> bytes:
    # The parser compares surrogate-escaped lines with the boundary the policy read
    # (8-bit bytes as UTF-8): an 8-bit boundary never matches, and b"" finds nothing.
    try:
        return b"--" + boundary.encode("ascii", "surrogateescape")
    except UnicodeEncodeError:
        return b""


def _header_end(raw: bytes, start: int, limit: int) -> tuple[int, int]:
    """(end of the header lines, start of the body) of the part at `start`."""
    match = _HEADER_LINES.match(raw, start, limit)
    head = match.end() if match else start
    if head < limit and raw[head] == 13:
        return head, head + (2 if head + 1 < limit and raw[head + 1] == 10 else 1)
    if head < limit and raw[head] == 10:
        return head, head + 1
    return head, head  # a line that is no field starts the body; or nothing is left


def _spans(
    raw: bytes, separator: bytes, body: int, limit: int, end: int
) -> list[tuple[int, int, int]]:
    """(start, limit, end) of each part of a multipart, as the feed parser splits it."""
    spans: list[tuple[int, int, int]] = []
    found = _delimiter(raw, separator, body, limit) if separator else None
    if found is None or found[2]:
        return spans  # no first delimiter: the parser saw no parts
    while found is not None and not found[2]:
        position = found[1]
        found = _delimiter(raw, separator, position, limit)
        while found is not None and found[0] == position:  # delimiters in a row, closing too
            position = found[1]
            found = _delimiter(raw, separator, position, limit)
        if found is None:
            spans.append((position, limit, max(position, end)))
        else:
            spans.append((position, found[0], _before_line_end(raw, position, found[0])))
    return spans


def _delimiter(
    raw: bytes, separator: bytes, position: int, limit: int
) -> tuple[int, int, bool] | None:
    """The next delimiter line: (its start, the next line's start, closing?)."""
    while True:
        at = raw.find(separator, position, limit)
        if at < 0:
            return None
        if at == 0 or raw[at - 1] in (10, 13):  # at a line start
            after = at + len(separator)
            # The parser's boundaryre: "--" (closing) if the rest fits, SP/TAB, line end.
            if after + 2 <= limit and raw.startswith(b"--", after):
                line_end = _line_end(raw, after + 2, limit)
                if line_end >= 0:
                    return at, line_end, True
            line_end = _line_end(raw, after, limit)
            if line_end >= 0:
                return at, line_end, False
        position = at + 1


def _line_end(raw: bytes, position: int, limit: int) -> int:
    """Past SP/TAB and one line end at `position`: the next line's start, or -1."""
    while position < limit and raw[position] in (9, 32):
        position += 1
    if position == limit:
        return position
    if raw[position] == 10:
        return position + 1
    if raw[position] == 13:
        return position + (2 if position + 1 < limit and raw[position + 1] == 10 else 1)
    return -1


def _before_line_end(raw: bytes, start: int, at: int) -> int:
    if at > start and raw[at - 1] == 10:
        at -= 1
        if at > start and raw[at - 1] == 13:
            at -= 1
    elif at > start and raw[at - 1] == 13:
        at -= 1
    return at


def _wanted(raw: bytes, start: int, head: int) -> dict[bytes, bytes]:
    """The first value of each field in _WANTED: `_fields`, less what is not wanted."""
    section = raw[start:head]
    if section.count(b"\r") != section.count(b"\r\n"):
        return {n: v for n, v, _ in reversed(_fields(raw, start, head)) if n in _WANTED}
    fields: dict[bytes, bytes] = {}
    name: bytes | None = None
    lines: list[bytes] = []
    for line in section.split(b"\n"):
        if line[:1] in (b" ", b"\t"):
            if name is not None:
                lines.append(line)
            continue
        if name is not None:
            fields[name] = b"\n".join(lines).removesuffix(b"\r")
            name = None
        colon = line.find(b":")
        if colon > 0:  # a wanted name is a valid one: no need to check the others
            candidate = line[:colon].lower()
            if candidate in _WANTED and candidate not in fields:
                name, lines = candidate, [line[colon + 1 :]]
    if name is not None:
        fields[name] = b"\n".join(lines)
    return fields


def _fields(raw: bytes, start: int, head: int) -> list[tuple[bytes, bytes, bytes]]:
    """(lower-case name, value, lines as sent) of each field of a header section.

    The value is what follows the colon as compat32 keeps it: folds kept, the last
    line end dropped. Lines with no name and colon ("From " lines, continuations of
    nothing) belong to no field. Lines are split in Python (the regex engine costs
    tens of ns a byte here); a bare CR, which ends a line too, sends it to _FIELD.
    """
    section = raw[start:head]
    if section.count(b"\r") != section.count(b"\r\n"):
        return [(m[1].lower(), m[2], m[0]) for m in _FIELD.finditer(raw, start, head)]
    fields: list[tuple[bytes, bytes, bytes]] = []
    name: bytes | None = None
    lines: list[bytes] = []
    colon = 0
    for line in section.split(b"\n"):
        if line[:1] in (b" ", b"\t"):
            if name is not None:
                lines.append(line)
            continue
        if name is not None:
            whole = b"\n".join(lines)
            fields.append((name, whole[colon + 1 :].removesuffix(b"\r"), whole + b"\n"))
        colon = line.find(b":")
        name = line[:colon].lower() if colon > 0 and _NAME.fullmatch(line, 0, colon) else None
        lines = [line]
    if name is not None:  # the last line had no line end
        whole = b"\n".join(lines)
        fields.append((name, whole[colon + 1 :], whole))
    return fields


# Sections.


def _parse_spec(spec: str) -> tuple[tuple[int, ...], str, frozenset[bytes]] | None:
    text, bracket, rest = spec.strip().partition("(")
    names: frozenset[bytes] = frozenset()
    if bracket:
        found = _FIELD_NAME.findall(rest.rstrip().removesuffix(")"))
        names = frozenset(
            (quoted or bare).encode("utf-8", "surrogateescape").lower() for quoted, bare in found
        )
    pieces = text.strip().split(".") if text.strip() else []
    if "" in pieces:
        return None
    numbers: list[int] = []
    while pieces and pieces[0].isdigit():
        if not _NUMBER.fullmatch(pieces[0]):
            return None  # 0, a leading zero, or more parts than any message has
        numbers.append(int(pieces.pop(0)))
    kind = ".".join(pieces).upper()
    if kind not in _TEXTS or (kind == "MIME" and not numbers):
        return None
    if kind.startswith("HEADER.FIELDS") != bool(names):
        return None
    return tuple(numbers), kind, names


def _numbered(
    raw: bytes, tree: _Tree, numbers: tuple[int, ...], text: str, names: frozenset[bytes]
) -> tuple[bytes, tuple[str, ...]]:
    chain = _resolve(tree.root, numbers)
    if chain is None:
        return b"", ()
    node = chain[-1]
    if numbers and text == "":
        data, labels = raw[node.body : node.end], _body_labels(tree, chain)
    elif text == "MIME":
        data = raw[node.start : node.body]
        labels = _header_labels(tree, "headers", chain[:-1], nested=True)
    else:  # HEADER..., TEXT: of the message, or of the one inside a message/rfc822 part
        if numbers:
            if node.kind != "message":
                return b"", ()
            node = node.children[0]
            chain = [*chain, node]
        if text == "TEXT":
            data, labels = raw[node.body : node.end], _body_labels(tree, chain)
        else:
            data = _header_section(raw, node.start, node.head, node.body, text, names)
            label = _header_label(text, names)
            labels = _header_labels(tree, label, chain[:-1], nested=bool(numbers))
    return data, labels if data else ()


def _resolve(root: _Node, numbers: Iterable[int]) -> list[_Node] | None:
    """The nodes from the root down to part `numbers` (RFC 3501 §6.4.5), or None."""
    chain = [root]
    entity: _Node | None = root  # what the next number counts in
    for number in numbers:
        if entity is None:
            return None
        if entity is not chain[-1]:
            chain.append(entity)
        if entity.kind == "multipart":
            if number > len(entity.children):
                return None
            part = entity.children[number - 1]
        elif number == 1:
            part = entity  # a message that is not multipart has a part 1: its body
        else:
            return None
        if part is not chain[-1]:
            chain.append(part)
        if part.kind == "message":
            entity = part.children[0]  # a message/rfc822 part's parts are its message's
        else:
            entity = part if part.kind == "multipart" else None
    return chain


def _body_labels(tree: _Tree, chain: list[_Node]) -> tuple[str, ...]:
    if not tree.exact:
        return tree.every_label()
    # _tree.layout does not descend into message/* parts: all inside is that part.
    for node in chain:
        if node.kind == "message":
            return (tree.label(node),)
    labels: list[str] = []
    stack = [chain[-1]]
    while stack:
        node = stack.pop()
        if node.kind == "multipart":
            stack.extend(reversed(node.children))
        elif (label := tree.label(node)) not in labels:
            labels.append(label)
    return tuple(labels)


def _header_labels(tree: _Tree, label: str, above: list[_Node], *, nested: bool) -> tuple[str, ...]:
    if not tree.exact and nested:
        return (label, *tree.every_label()[1:])
    for node in above:
        if node.kind == "message":
            return (label, tree.label(node))
    return (label,)


def _header_label(text: str, names: frozenset[bytes]) -> str:
    return "subject" if text == "HEADER.FIELDS" and names == {b"subject"} else "headers"


def _header_section(
    raw: bytes, start: int, head: int, body: int, text: str, names: frozenset[bytes]
) -> bytes:
    if text == "HEADER":
        return raw[start:body]
    return _filter_fields(raw, start, head, body, names, text == "HEADER.FIELDS.NOT")


def _filter_fields(
    raw: bytes, start: int, head: int, body: int, names: frozenset[bytes], exclude: bool
) -> bytes:
    out: list[bytes] = []
    for name, _, lines in _fields(raw, start, head):
        if (name in names) != exclude:
            out.append(lines if lines.endswith((b"\n", b"\r")) else lines + b"\r\n")
    out.append(raw[head:body] or b"\r\n")  # RFC 3501 §6.4.5: the empty line is included
    return b"".join(out)


# BODYSTRUCTURE and ENVELOPE.


def _structure(raw: bytes, node: _Node, extensible: bool, out: list[bytes]) -> None:
    fields = node.fields
    out.append(b"(")
    if node.kind == "multipart":
        for child in node.children:
            _structure(raw, child, extensible, out)
        _, subtype, params = _media(node)
        out += [b" ", _string(subtype)]
        if extensible:
            out += [b" ", _params(params), b" ", _disposition(fields), b" "]
            out += [_language(fields), b" ", _nfield(fields, b"content-location")]
        out.append(b")")
        return
    maintype, subtype, params = _media(node)
    encoding = _unfold(fields.get(b"content-transfer-encoding", b"")) or b"7BIT"
    out += [_string(maintype), b" ", _string(subtype), b" ", _params(params), b" "]
    out += [_nfield(fields, b"content-id"), b" ", _nfield(fields, b"content-description")]
    out += [b" ", _string(encoding), b" ", b"%d" % (node.end - node.body)]
    if node.kind == "message":
        message = node.children[0]
        out += [b" ", _envelope(message.fields), b" "]
        _structure(raw, message, extensible, out)
        out += [b" ", b"%d" % _lines(raw, node.body, node.end)]
    elif maintype.lower() == b"text":
        out += [b" ", b"%d" % _lines(raw, node.body, node.end)]
    if extensible:
        out += [b" ", _nfield(fields, b"content-md5"), b" ", _disposition(fields), b" "]
        out += [_language(fields), b" ", _nfield(fields, b"content-location")]
    out.append(b")")


def _media(node: _Node) -> tuple[bytes, bytes, list[tuple[bytes, bytes]]]:
    """Type and subtype as sent when they are what the parser read, and parameters."""
    maintype, _, subtype = node.ctype.partition("/")
    main, sub = maintype.strip().encode(), subtype.strip().encode()
    if node.kind == "leaf" and node.ctype in _MESSAGE_TYPES:
        return (*_OPAQUE, [])  # past the nesting cap: no envelope or body to give
    value = node.fields.get(b"content-type")
    params: list[tuple[bytes, bytes]] = []
    if value is not None:
        mime, params = _split_params(_unfold(value))
        sent_main, slash, sent_sub = mime.partition(b"/")
        sent_main, sent_sub = sent_main.strip(), sent_sub.strip()
        if slash and sent_main.lower() == main and sent_sub.lower() == sub:
            return sent_main, sent_sub, params
    # No usable Content-Type: the default, RFC 2045 §5.2 (RFC 2046 §5.1.5 in a digest).
    if node.ctype == "text/plain" and not any(k.lower() == b"charset" for k, _ in params):
        params = [(b"CHARSET", b"US-ASCII"), *params]
    return main.upper(), sub.upper(), params


def _split_params(value: bytes) -> tuple[bytes, list[tuple[bytes, bytes]]]:
    token, semicolon, _ = value.partition(b";")
    params: list[tuple[bytes, bytes]] = []
    if semicolon:
        for match in _PARAMETER.finditer(value, len(token)):
            name, quoted, bare = match.groups()
            params.append((name, _ESCAPED.sub(rb"\1", quoted) if quoted is not None else bare))
    return token.strip(), params


def _params(params: list[tuple[bytes, bytes]]) -> bytes:
    if not params:
        return b"NIL"
    return b"(" + b" ".join(_string(name) + b" " + _string(value) for name, value in params) + b")"


def _disposition(fields: dict[bytes, bytes]) -> bytes:
    value = fields.get(b"content-disposition")
    if value is None:
        return b"NIL"
    token, params = _split_params(_unfold(value))
    return b"(" + _string(token) + b" " + _params(params) + b")" if token else b"NIL"


def _language(fields: dict[bytes, bytes]) -> bytes:
    tags = [tag.strip() for tag in _unfold(fields.get(b"content-language", b"")).split(b",")]
    tags = [tag for tag in tags if tag]
    if len(tags) < 2:
        return _nstring(tags[0] if tags else None)
    return b"(" + b" ".join(_string(tag) for tag in tags) + b")"


def _lines(raw: bytes, start: int, end: int) -> int:
    count = raw.count(b"\n", start, end)
    return count + 1 if end > start and raw[end - 1] != 10 else count


def _envelope(fields: dict[bytes, bytes]) -> bytes:
    sender = _address_field(fields, b"from")
    return b"".join(
        [
            b"(",
            _nfield(fields, b"date"),
            b" ",
            _nfield(fields, b"subject"),
            b" ",
            sender,
            b" ",
            _address_field(fields, b"sender", sender),  # RFC 3501 §7.4.2: default From
            b" ",
            _address_field(fields, b"reply-to", sender),
            b" ",
            _address_field(fields, b"to"),
            b" ",
            _address_field(fields, b"cc"),
            b" ",
            _address_field(fields, b"bcc"),
            b" ",
            _nfield(fields, b"in-reply-to"),
            b" ",
            _nfield(fields, b"message-id"),
            b")",
        ]
    )


def _address_field(fields: dict[bytes, bytes], name: bytes, default: bytes = b"NIL") -> bytes:
    value = fields.get(name)
    if value is None:
        return default
    addresses = _addresses(_unfold(value))
    if not addresses:
        return default
    return b"(" + b"".join(b"(" + b" ".join(map(_nstring, a)) + b")" for a in addresses) + b")"


# RFC 5322 §3.4 address lists, leniently: tokens, then addresses and groups.

_Address = tuple[bytes | None, bytes | None, bytes | None, bytes | None]
# Kinds are the group numbers of _TOKEN, less one; "(" is read by _comment_end.
_SPACE, _QUOTED, _LITERAL, _SPECIAL, _ATOM, _COMMENT = range(6)
_TOKEN = re.compile(
    rb'([\t\n\r ]++)|("(?:[^"\\]|\\.)*+(?:"|\\?\Z))|(\[(?:[^\]\\]|\\.)*+(?:\]|\\?\Z))'
    rb'|([<>@,;:.])|([^\t\n\r "(<>@,;:.\[]++)',
    re.S,
)
_COMMENT_MARK = re.compile(rb"[()\\]")
# The forms nearly all mail uses, each read as _parsed_addresses reads it: addr@host,
# "Name" <addr@host>, Name Words <addr@host>, <addr@host>; then "," or the end. An
# atom here is a subset of _TOKEN's (no controls, specials, quotes or brackets).
_WORD = rb"(?:[^\x00-\x20\x7f\"(),.:;<>@\[\\\]]|\.)++"
_SIMPLE_ADDRESS = re.compile(
    rb'[\t ]*+(?:"([^"\\\r\n]*+)"[\t ]*+<(%s)@(%s)>'
    rb"|(%s(?:[\t ]++%s)*+)?[\t ]*+<(%s)@(%s)>"
    rb"|(%s)@(%s))[\t ]*+(?:,|\Z)" % ((_WORD,) * 8)
)
_SPACES = re.compile(rb"[\t ]++")


def _tokens(value: bytes) -> list[tuple[int, bytes]]:
    tokens: list[tuple[int, bytes]] = []
    position, size = 0, len(value)
    while position < size:
        if value[position] == 40:  # "(": comments nest (RFC 5322 §3.2.2)
            end = _comment_end(value, position)
            tokens.append((_COMMENT, value[position + 1 : end - 1]))
            position = end
            continue
        match = _TOKEN.match(value, position)
        if match is None or match.lastindex is None or match.end() == position:
            break
        kind = match.lastindex - 1
        tokens.append((kind, match.group(0)))
        position = match.end()
    return tokens


def _comment_end(value: bytes, position: int) -> int:
    depth = 0
    while (mark := _COMMENT_MARK.search(value, position)) is not None:
        position = mark.end()
        char = value[mark.start()]
        if char == 92:  # backslash: the next byte is quoted
            position += 1
        elif char == 40:
            depth += 1
        else:
            depth -= 1
            if depth == 0:
                return position
    return len(value) + 1  # unclosed: the comment runs to the end


def _addresses(value: bytes) -> list[_Address]:
    return _simple_addresses(value) or _parsed_addresses(value)


def _simple_addresses(value: bytes) -> list[_Address] | None:
    """The list read with one regex per address when every one is a common form."""
    out: list[_Address] = []
    position = 0
    while position < len(value):
        match = _SIMPLE_ADDRESS.match(value, position)
        if match is None:
            return None
        quoted, local, domain, phrase, local2, domain2, local3, domain3 = match.groups()
        if local is not None:
            out.append((quoted or None, None, local, domain))
        elif local2 is not None:
            name = _SPACES.sub(b" ", phrase) if phrase else None
            out.append((name, None, local2, domain2))
        else:
            out.append((None, None, local3, domain3))
        position = match.end()
    return out or None


def _parsed_addresses(value: bytes) -> list[_Address]:
    tokens = _tokens(value)
    out: list[_Address] = []
    in_group = False
    i, count = 0, len(tokens)
    while i < count:
        words: list[tuple[int, bytes]] = []
        angle: tuple[bytes | None, bytes, bytes] | None = None
        comment: bytes | None = None
        while i < count:
            kind, text = tokens[i]
            if kind == _SPECIAL and text in (b",", b";"):
                break
            if kind == _SPECIAL and text == b":" and not in_group and angle is None:
                out.append((None, None, _phrase(words), None))  # RFC 3501: start of group
                in_group, words = True, []
            elif kind == _SPECIAL and text == b"<" and angle is None:
                angle, i = _angle(tokens, i + 1)
                continue
            elif kind == _COMMENT:
                comment = comment if comment is not None else text
            elif angle is None:
                words.append((kind, text))
            i += 1
        address = _address(words, angle, comment)
        if address is not None:
            out.append(address)
        if i < count and tokens[i][1] == b";" and in_group:
            out.append((None, None, None, None))  # end of group
            in_group = False
        i += 1
    if in_group:
        out.append((None, None, None, None))
    return out


def _angle(
    tokens: list[tuple[int, bytes]], i: int
) -> tuple[tuple[bytes | None, bytes, bytes], int]:
    """The inside of <...>: (source route, local part, domain), and where it ends."""
    route: bytes | None = None
    inner: list[tuple[int, bytes]] = []
    in_route = False
    while i < len(tokens):
        kind, text = tokens[i]
        i += 1
        if kind in (_SPACE, _COMMENT):
            continue
        if kind == _SPECIAL:
            if text == b">":
                break
            if text in (b",", b";") and not in_route:
                i -= 1
                break
            if text == b"@" and not inner and route is None:
                in_route = True  # RFC 5322 §4.4 obs-route: "@a,@b:" before the address
            elif text == b":" and in_route:
                route, inner, in_route = _joined(inner), [], False
                continue
        inner.append((kind, text))
    mailbox, host = _addr_spec(inner)
    return (route, mailbox, host), i


def _address(
    words: list[tuple[int, bytes]],
    angle: tuple[bytes | None, bytes, bytes] | None,
    comment: bytes | None,
) -> _Address | None:
    name = _phrase(words) if angle is not None else b""
    if not name and comment is not None:
        name = _unfold(comment).strip()  # "addr (Name)": the comment names the mailbox
    if angle is not None:
        route, mailbox, host = angle
    else:
        words = [(kind, text) for kind, text in words if kind != _SPACE]
        if not words:
            return None
        route, (mailbox, host) = None, _addr_spec(words)
    if not (name or mailbox or host):
        return None
    return name or None, route, mailbox, host


def _addr_spec(tokens: list[tuple[int, bytes]]) -> tuple[bytes, bytes]:
    for index, (kind, text) in enumerate(tokens):
        if kind == _SPECIAL and text == b"@":
            return _joined(tokens[:index]), _joined(tokens[index + 1 :])
    return _joined(tokens), b""


def _joined(tokens: list[tuple[int, bytes]]) -> bytes:
    return b"".join(text for kind, text in tokens if kind not in (_SPACE, _COMMENT))


def _phrase(words: list[tuple[int, bytes]]) -> bytes:
    """A display name: words unquoted, each run of space and comments one space."""
    out: list[bytes] = []
    space = False
    for kind, text in words:
        if kind in (_SPACE, _COMMENT):
            space = bool(out)
            continue
        if space:
            out.append(b" ")
            space = False
        if kind == _QUOTED:
            text = _ESCAPED.sub(rb"\1", text[1:-1] if text.endswith(b'"') else text[1:])
        out.append(text)
    return b"".join(out)


# Wire syntax, RFC 3501 §9: string = quoted / literal; nstring = string / nil.


def _unfold(value: bytes) -> bytes:
    return value.replace(b"\r", b"").replace(b"\n", b"").strip(b"\t ")


def _nfield(fields: dict[bytes, bytes], name: bytes) -> bytes:
    value = fields.get(name)
    return b"NIL" if value is None else _string(_unfold(value))


def _nstring(value: bytes | None) -> bytes:
    return b"NIL" if value is None else _string(value)


def _string(value: bytes) -> bytes:
    if len(value) <= _QUOTED_MAX and _UNSAFE.search(value) is None:
        return b'"' + value + b'"'
    if len(value) > _QUOTED_MAX or not value.isascii() or _LITERAL_ONLY.search(value):
        return b"{%d}\r\n%b" % (len(value), value)
    return b'"' + value.replace(b"\\", b"\\\\").replace(b'"', b'\\"') + b'"'
