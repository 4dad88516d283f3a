"""One message opened for reading: headers, text and HTML bodies, attachments."""

from dataclasses import dataclass

from mailward.core.message import AttachmentInfo
from mailward.mime import _tree
from mailward.mime._headers import display, head_end
from mailward.mime._text import decode_text, html_to_text, readable
from mailward.mime.filenames import sanitize_filename


@dataclass(frozen=True, slots=True)
class Opened:
    """Everything a reader sees of a message.

    `headers` are all header fields in order, decoded and unfolded. `text` is the
    text/plain body, or a plain rendering of the HTML when there is no text/plain
    part. `html` is the first text/html part as sent; front-ends sanitise it.
    `attachments` are numbered from 1 in document order, the numbering `attachment`
    takes. `malformed` is set when the parser recorded defects, a part could not be
    decoded cleanly, or nesting went past 50 levels.
    """

    headers: tuple[tuple[str, str], ...]
    text: str
    html: str | None
    attachments: tuple[AttachmentInfo, ...]
    malformed: bool


def open_message(raw: bytes) -> Opened:
    """Open a message for reading. Never raises; damaged input gives `malformed=True`."""
    try:
        return _open(raw)
    except _tree.PARSE_ERRORS:
        return Opened(headers=(), text="", html=None, attachments=(), malformed=True)


def attachment(raw: bytes, index: int) -> tuple[bytes, str, str]:
    """The attachment numbered `index` (from 1, as in `Opened.attachments`).

    Returns its decoded bytes, its content type and its sanitised file name.

    Raises:
        LookupError: the message has no attachment `index`.
    """
    parsed = _tree.parse(raw)
    try:
        parts = _tree.layout(parsed.root).attachments
    except _tree.PARSE_ERRORS:
        parts = ()
    if not 1 <= index <= len(parts):
        raise LookupError(f"no attachment {index}; the message has {len(parts)}")
    part = parts[index - 1]
    data, _ = _tree.leaf_bytes(part, parsed.linesep)
    return data, part.get_content_type(), _filename(part)


def crlf_lines(raw: bytes) -> bytes:
    """The message with every line ending in CRLF (RFC 5322 §2.1): a lone LF, as
    in a message made by a program or read from a Unix file, becomes CRLF. A
    message's size is then the octets any protocol sends for it (POP3 and IMAP
    send CRLF); messages that already end their lines in CRLF come back as they were.
    """
    lf = raw.count(b"\n")
    if lf == 0 or raw.count(b"\r\n") == lf:
        return raw
    return raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def header_block(raw: bytes) -> bytes:
    """The header section as sent, up to and including the blank line that ends it.

    A message without a blank line is all header section. Lines end in CRLF or LF;
    a bare CR does not end a line here.
    """
    end = head_end(raw)
    return raw if end < 0 else raw[:end]


def _open(raw: bytes) -> Opened:
    parsed = _tree.parse(raw)
    layout = _tree.layout(parsed.root)
    malformed = parsed.malformed or layout.malformed
    headers = tuple((name, display(value)) for name, value in parsed.root.raw_items())

    text, html = "", None
    if layout.plain is not None:
        text, clean = _decoded(layout.plain)
        malformed = malformed or not clean
    if layout.html is not None:
        html, clean = _decoded(layout.html)
        malformed = malformed or not clean
        if layout.plain is None:
            text = html_to_text(html)

    attachments: list[AttachmentInfo] = []
    for index, part in enumerate(layout.attachments, start=1):
        data, clean = _tree.leaf_bytes(part, parsed.linesep)
        malformed = malformed or not clean
        attachments.append(
            AttachmentInfo(index, _filename(part), part.get_content_type(), len(data))
        )
    return Opened(headers, readable(text), html, tuple(attachments), malformed)


def _decoded(part: _tree.Part) -> tuple[str, bool]:
    data, clean_transfer = _tree.leaf_bytes(part, "\n")
    text, clean_charset = decode_text(data, _tree.charset_of(part))
    return text, clean_transfer and clean_charset


def _filename(part: _tree.Part) -> str:
    fallback = "message.eml" if part.get_content_type().startswith("message/") else "attachment"
    return sanitize_filename(_tree.filename_of(part), fallback)
