"""The list-entry view of a message, computed once at delivery.

`summarize` runs on the delivery hot path. A single-part message is read from its
header section alone, and its body is decoded here from a prefix just long enough
for the snippet; only multipart messages (and messages whose header section is
damaged) go through a full parse. The header section of a plain message is read by
`_fasthead.scan`; one it declines goes to the email package's header parser
(`_single_part_email`). All paths give the same result for the same message:
tests/mime/test_mime_fuzz.py and tests/mime/test_mime_fasthead.py hold them to it,
and tests/mime/test_mime_shortcuts.py the shortcuts in _date, display and snippet_of.
"""

import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from email.utils import parsedate_to_datetime

from mailward.mime import _fasthead, _tree
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
# RFC 5322 §3.3 date-time as nearly every mailer writes it. _date builds from it the
# value parsedate_to_datetime would (same fields, same zone, the same errors) in two
# thirds of the time; any other form goes to parsedate_to_datetime.
_CANONICAL_DATE = re.compile(
    r"(?:(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), )?([0-9]{1,2}) "
    r"(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) ([1-9][0-9]{3}) "
    r"([0-9]{2}):([0-9]{2}):([0-9]{2}) ([+-])([0-9]{2})([0-9]{2})"
)
_MONTHS = {
    "Jan": 1, "Feb": 2, "Mar": 3, "Apr": 4, "May": 5, "Jun": 6,
    "Jul": 7, "Aug": 8, "Sep": 9, "Oct": 10, "Nov": 11, "Dec": 12,
}  # fmt: skip
# Every zone a date may name at a quarter hour, built once: timezone() and timedelta()
# cost as much as the rest of _date. The others are built as parsedate_to_datetime does.
_ZONES = {
    offset_s: timezone(timedelta(seconds=offset_s)) for offset_s in range(-86400 + 900, 86400, 900)
}
_UNREADABLE = Summary("", "", "", "", None, "", "", has_attachments=False, malformed=True)


def summarize(raw: bytes) -> Summary:
    """Summarise a message. Never raises; damaged input gives `malformed=True`."""
    try:
        quick = _single_part(raw)
        if quick is None:
            quick = _single_part_email(raw)
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
    """The fast path, or None when `_fasthead.scan` declines the header section."""
    head = _fasthead.scan(raw)
    if head is None:
        return None
    snippet, clean = "", True
    if not head.attached and head.content_type in ("text/plain", "text/html"):
        snippet, clean = snippet_of(
            raw[head.body_start :],
            head.transfer_encoding,
            head.charset,
            is_html=head.content_type == "text/html",
        )
    # scan declines a NUL in the header section, so only the body can be malformed.
    return _from_fields(head.fields, snippet, has_attachments=head.attached, malformed=not clean)


def _single_part_email(raw: bytes) -> Summary | None:
    """The fast path through the email package's header parser, or None for a full parse."""
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
    return _from_fields(fields, snippet, has_attachments=has_attachments, malformed=malformed)


def _from_fields(
    fields: dict[str, list[str]], snippet: str, *, has_attachments: bool, malformed: bool
) -> Summary:
    """The Summary from field values as compat32 stores them, keyed by lower-case name."""
    subject = fields.get("subject")
    sender = fields.get("from")
    date = fields.get("date")
    message_id = fields.get("message-id")
    return Summary(
        subject=display(subject[0]) if subject else "",
        sender=display(sender[0]) if sender else "",
        to=_joined(fields.get("to")),
        cc=_joined(fields.get("cc")),
        date=_date(display(date[0])) if date else None,
        message_id=display(message_id[0]) if message_id else "",
        snippet=snippet,
        has_attachments=has_attachments,
        malformed=malformed,
    )


def _joined(values: list[str] | None) -> str:
    # Two To: fields break RFC 5322 §3.6 but happen; keep every recipient.
    if not values:
        return ""
    if len(values) == 1:
        return display(values[0])
    return ", ".join(value for value in map(display, values) if value)


def _date(value: str) -> datetime | None:
    if not value:
        return None
    try:
        canonical = _CANONICAL_DATE.fullmatch(value)
        if canonical is None:
            return parsedate_to_datetime(value)
        day, month, year, hour, minute, second, sign, zone_h, zone_m = canonical.groups()
        moment = (int(year), _MONTHS[month], int(day), int(hour), int(minute), int(second))
        offset_s = int(zone_h) * 3600 + int(zone_m) * 60
        if sign == "-":
            if offset_s == 0:  # RFC 5322 §3.3: -0000 means the zone is unknown
                return datetime(*moment)
            offset_s = -offset_s
        zone = _ZONES.get(offset_s) or timezone(timedelta(seconds=offset_s))
        return datetime(*moment, tzinfo=zone)
    except (ValueError, TypeError, IndexError, OverflowError):
        return None
