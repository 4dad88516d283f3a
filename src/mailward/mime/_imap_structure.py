"""BODYSTRUCTURE and ENVELOPE (RFC 3501 §7.4.2, RFC 9051 §7.5.2) in wire syntax.

Built from an `_imap_tree` node's fields and offsets: media type and subtype as sent
when they agree with what the parser read, parameters, disposition, language and
location, body sizes in octets and line counts, and for message/rfc822 parts the
envelope and structure of the message inside. Values are as sent (unfolded, RFC 2047
encoded-words kept) and go out through `_imap_strings`, so any input gives valid
IMAP syntax. Never raises.
"""

import re

from mailward.mime._imap_addresses import _addresses
from mailward.mime._imap_strings import _ESCAPED, _nfield, _nstring, _string, _unfold
from mailward.mime._imap_tree import _MESSAGE_TYPES, _Node

_OPAQUE = (b"APPLICATION", b"OCTET-STREAM")
_PARAMETER = re.compile(
    rb';[\t ]*([^\t =;"]++)[\t ]*=[\t ]*(?:"((?:[^"\\]|\\.)*+)"?|([^\t ;]*+))', re.S
)


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
