"""Where things lie in a raw message: header sections, header fields, multipart delimiters.

Offsets into the raw bytes, found the way the email package's feed parser reads them
(lines end in CRLF, LF or a bare CR; a header section runs while lines look like
fields and ends after an empty line or before the first other line; a multipart's
parts lie between its delimiter lines, delimiters in a row counting as one, and the
line end before a delimiter belongs to it, RFC 2046 §5.1.1), so that `_imap_tree`
numbers parts as `open_message` does. Field values are kept as sent, folds and all.
Linear in the input; never raises.
"""

import re

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
    """The first value of each field in _WANTED: `_fields`, less what is not wanted.
    (ENVELOPE and BODYSTRUCTURE are now worked out once per message and kept, so
    this no longer needs a scanner of its own.)"""
    return {n: v for n, v, _ in reversed(_fields(raw, start, head)) if n in _WANTED}


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
