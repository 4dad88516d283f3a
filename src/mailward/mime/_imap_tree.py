"""The part tree of a raw message with byte offsets, as the email package would split it.

`_read` walks the raw bytes (`_walk`, using `_imap_lines`), asking the email
package's header parser only for header values that are not plain ASCII, and follows
a full `_tree.parse` instead (`_parsed`, `_follow`) when that parse may cut deep
nesting. What must stay true: types, boundaries and which leaves are attachments
agree with `_tree` (mirrored in `_raw_type`, `_raw_boundary`, `_is_attachment`), so
part numbers agree with `open_message` and attachment numbers with `attachment`
(tests/mime/test_imap_parts.py checks this on any bytes); `_Tree.exact` is cleared
wherever the raw walk and the parser split a multipart differently; nesting stops at
`_tree.MAX_DEPTH`.
"""

from dataclasses import dataclass, field

from mailward.mime import _tree
from mailward.mime._imap_lines import _header_end, _spans, _wanted

_MESSAGE_TYPES = ("message/rfc822", "message/global")  # RFC 9051 §6.4.5: both have subparts


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
