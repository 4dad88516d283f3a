"""The list-entry view of a message, computed once at delivery.

`summarize` runs on the delivery hot path. A single-part message is read from its
header section alone, and its body is decoded here from a prefix just long enough
for the snippet; only multipart messages (and messages whose header section is
damaged) go through a full parse. Both paths give the same result for the same
message; tests/mime/test_mime_fuzz.py holds them to it.
"""

import re
from dataclasses import dataclass
from datetime import datetime
from email.utils import parsedate_to_datetime

from mailward.mime import _tree
from mailward.mime._headers import display, head_end
from mailward.mime._text import snippet_of


@dataclass(frozen=True, slots=True)
class Summary:
    """Decoded header fields, a one-line snippet of the body, and two flags.

    `sender`, `to` and `cc` are the decoded field values as sent, not re-formatted
    addresses; repeated To or Cc fields are joined with ", ". `date` is None when
    absent or unreadable, and naive when the zone is -0000 (RFC 5322 §3.3: unknown).
    `malformed` is set when the parser recorded defects in the structure, a header
    field holds a NUL, or the snippet's part could not be decoded cleanly (bad
    base64, unknown charset). Attachments are not decoded here, so damage inside
    them shows only in `Opened.malformed`.
    """

    subject: str
    sender: str
    to: str
    cc: str
    date: datetime | None
    message_id: str
    snippet: str
    has_attachments: bool
    malformed: bool


# A shortcut past the header parse for messages the fast path would hand on anyway;
# the parsed Content-Type below decides the rest.
_COMPOUND_TYPE = re.compile(rb"^content-type:\s*(?:multipart|message)/", re.I | re.M)
_SUMMARY_FIELDS = frozenset(["subject", "from", "to", "cc", "date", "message-id"])
_UNREADABLE = Summary("", "", "", "", None, "", "", has_attachments=False, malformed=True)


def summarize(raw: bytes) -> Summary:
    """Summarise a message. Never raises; damaged input gives `malformed=True`."""
    try:
        quick = _single_part(raw)
    except _tree.PARSE_ERRORS:
        quick = None
    if quick is not None:
        return quick
    try:
        return _full_parse(raw)
    except _tree.PARSE_ERRORS:
        return _UNREADABLE


def _full_parse(raw: bytes) -> Summary:
    """`summarize` through the full parse, whatever the message's shape (tests compare)."""
    parsed = _tree.parse(raw)
    layout = _tree.layout(parsed.root)
    # Not `plain or html`: a Message with no header fields is falsy (len() counts fields).
    body = layout.plain if layout.plain is not None else layout.html
    snippet, clean = "", True
    if body is not None:
        snippet, clean = snippet_of(
            body.encoded_body(),
            _tree.transfer_encoding(body),
            _tree.charset_of(body),
            is_html=body is not layout.plain,
        )
    return _summary(
        parsed.root,
        snippet,
        has_attachments=bool(layout.attachments),
        malformed=parsed.malformed or layout.malformed or not clean,
    )


def _single_part(raw: bytes) -> Summary | None:
    """The fast path, or None when the message needs the full parse."""
    end = head_end(raw)
    if end < 0 or _COMPOUND_TYPE.search(raw, 0, end):
        return None
    head = _tree.parse_head(raw[:end])
    # A defect or a body start the parser found before our blank line (a bare-CR
    # line end, a line that is no header) means it reads the message differently.
    if head.defects or head.encoded_body():
        return None
    content_type = head.get_content_type()
    if content_type.startswith(("multipart/", "message/")):
        return None
    attached = _tree.is_attachment(head, content_type)
    snippet, clean = "", True
    if not attached and content_type in ("text/plain", "text/html"):
        snippet, clean = snippet_of(
            raw[end:],
            _tree.transfer_encoding(head),
            _tree.charset_of(head),
            is_html=content_type == "text/html",
        )
    malformed = not clean or b"\x00" in raw[:end]  # RFC 5322 §2.2: no NUL in a field
    return _summary(head, snippet, has_attachments=attached, malformed=malformed)


def _summary(head: _tree.Part, snippet: str, *, has_attachments: bool, malformed: bool) -> Summary:
    # One pass over the fields: Message.get scans every header on each call.
    fields: dict[str, list[str]] = {}
    for name, value in head.raw_items():
        if name.lower() in _SUMMARY_FIELDS:
            fields.setdefault(name.lower(), []).append(value)

    def first(name: str) -> str:
        values = fields.get(name)
        return display(values[0]) if values else ""

    def joined(name: str) -> str:
        # Two To: fields break RFC 5322 §3.6 but happen; keep every recipient.
        values = (display(value) for value in fields.get(name, ()))
        return ", ".join(value for value in values if value)

    return Summary(
        subject=first("subject"),
        sender=first("from"),
        to=joined("to"),
        cc=joined("cc"),
        date=_date(first("date")),
        message_id=first("message-id"),
        snippet=snippet,
        has_attachments=has_attachments,
        malformed=malformed,
    )


def _date(value: str) -> datetime | None:
    if not value:
        return None
    try:
        return parsedate_to_datetime(value)
    except (ValueError, TypeError, IndexError, OverflowError):
        return None
