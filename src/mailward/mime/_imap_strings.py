"""IMAP wire strings (RFC 3501 §9): quoted strings, literals, NIL, and unfolded values.

`_string` quotes a value, escaping `"` and backslash, and sends it as a literal
instead when it holds CR, LF, NUL or 8-bit bytes or is longer than `_QUOTED_MAX`
bytes, so any bytes at all come out as one valid IMAP string; `_nstring` and
`_nfield` give NIL for what is absent. `_unfold` drops the line ends of a folded
header value and nothing else; `_ESCAPED` undoes a quoted-pair. Pure, never raises.
"""

import re

_QUOTED_MAX = 1000  # longer strings go as literals
_UNSAFE = re.compile(rb'[\x00\n\r"\\\x80-\xff]')  # in a string: escaped, or a literal
_LITERAL_ONLY = re.compile(rb"[\x00\n\r]")
_ESCAPED = re.compile(rb"\\(.)", re.S)


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
