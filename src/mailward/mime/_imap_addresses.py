"""RFC 5322 §3.4 address lists for ENVELOPE, read leniently: addresses and groups.

Each address is (name, source route, mailbox, host) as RFC 3501 §7.4.2 lists them;
a group is a start entry (mailbox = its name) and an end entry of four NILs. The
common forms are read with one regex per address (`_simple_addresses`); anything else
is tokenised and parsed (`_parsed_addresses`). What must stay true: both readings
give the same result wherever the fast one answers (tests/mime/test_imap_parts.py);
display names are unquoted, comments nest, and no input raises.
"""

import re

from mailward.mime._imap_strings import _ESCAPED, _unfold

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
