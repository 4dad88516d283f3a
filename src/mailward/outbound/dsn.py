"""Delivery status notifications (RFC 3464) for recipients the queue gave up on.

Pure: bytes and values in, the DSN's bytes out; no sockets, no store, no clock unless
`now` is left out. The queue sends the result with a null envelope sender, and never
builds one for a message whose own envelope sender is null (see `is_bounce`).
"""

import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email import policy as email_policy
from email.message import EmailMessage, Message, MIMEPart
from email.utils import format_datetime

__all__ = ["RecipientFailure", "build_dsn", "is_bounce"]

SUBJECT = "Undelivered Mail Returned to Sender"

# RFC 3463 §2: class "." subject "." detail; a failed recipient is class 4 or 5.
_FAILED_STATUS = re.compile(r"[45]\.[0-9]{1,3}\.[0-9]{1,3}")
# RFC 3464 §2.3.6 / §2.3.5: "diagnostic-type ; text" and "mta-name-type ; name".
_TYPED = re.compile(r"[A-Za-z][A-Za-z0-9-]*[ \t]*;")
# RFC 5322 §2.2 field-name, with the obsolete white space before ":" (§4.5).
_FIELD_START = re.compile(rb"[\x21-\x39\x3b-\x7e]+[ \t]*:")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_MAX_HEADERS_BYTES = 64 * 1024  # a bounce carries the header block, never a flood of it
_RFC5322_LINE_BYTES = 998  # RFC 5322 §2.1.1
_MAX_FIELD_CHARS = 900  # keeps "Diagnostic-Code: " + value within one 998-byte line

# CRLF line endings. Folding only past 998 bytes: the generator applies one policy to
# every part, and folding a long ASCII token at 78 would turn it into RFC 2047 encoded
# words, where the report's readers expect plain ASCII tokens (RFC 6533, Abstract: the
# machine-readable portions of RFC 3464 are ASCII).
_POLICY = email_policy.SMTP.clone(max_line_length=_RFC5322_LINE_BYTES)
_PART_POLICY = email_policy.SMTP  # parts' bodies are encoded with lines of at most 78


@dataclass(frozen=True, slots=True)
class RecipientFailure:
    """One recipient the message could not be delivered to."""

    recipient: str  # the original recipient address
    status: str  # RFC 3463 enhanced status, e.g. "5.1.1" or "4.4.7"
    diagnostic: str  # e.g. "smtp; 550 5.1.1 no such user" (RFC 3464 §2.3.6 Diagnostic-Code)
    remote_mta: str = ""  # e.g. "dns; smarthost.example" ("" = omit)
    last_attempt: datetime | None = None


def is_bounce(envelope_from: str) -> bool:
    """True for the null reverse-path, to which no DSN may ever be sent.

    RFC 3464 §2 and RFC 5321 §4.5.5: a DSN goes out with a null sender and no DSN
    is sent about a message whose sender is null, so bounces cannot loop.
    """
    return envelope_from.strip() in ("", "<>")


def build_dsn(
    *,
    reporting_mta: str,
    envelope_from: str,
    original: bytes,
    failures: Sequence[RecipientFailure],
    arrival: datetime,
    now: datetime | None = None,
) -> bytes:
    """Build the multipart/report (RFC 6522) telling `envelope_from` about `failures`.

    Args:
        reporting_mta: this host's DNS name, for Reporting-MTA and the From address.
        envelope_from: the original envelope sender; the DSN is addressed to it.
        original: the original message; only its header block is returned.
        failures: at least one recipient that failed.
        arrival: when the original message arrived (timezone-aware).
        now: the DSN's Date (timezone-aware); the current time if omitted.

    Returns:
        The complete message with CRLF line endings: a text/plain explanation, a
        message/delivery-status report, and text/rfc822-headers holding the original
        header block (its body is never sent back).

    Raises:
        ValueError: `envelope_from` is null (RFC 5321 §4.5.5), `failures` is empty,
            `reporting_mta` is blank, or a date is naive. A status that is not a
            4.x.x/5.x.x code is reported as 5.0.0.
    """
    if is_bounce(envelope_from):
        raise ValueError("no DSN is sent for a message with a null sender (RFC 5321 §4.5.5)")
    if not failures:
        raise ValueError("a DSN needs at least one failed recipient (RFC 3464 §2.1)")
    mta = _one_line(reporting_mta).encode("ascii", "replace").decode("ascii")
    if not mta:
        raise ValueError("reporting_mta is blank")
    sender = _one_line(envelope_from).removeprefix("<").removesuffix(">")
    date = _date(now if now is not None else datetime.now(UTC), "now")

    policy = _POLICY if sender.isascii() else _POLICY.clone(utf8=True)  # RFC 6531
    report = EmailMessage(policy=policy)
    report["From"] = f"Mail Delivery System <MAILER-DAEMON@{mta}>"
    report["To"] = sender
    report["Date"] = date
    report["Message-ID"] = f"<{uuid.uuid4().hex}.dsn@{mta}>"
    report["Subject"] = SUBJECT
    report["Auto-Submitted"] = "auto-replied"  # RFC 3834 §5
    report["MIME-Version"] = "1.0"
    # RFC 6522 §3: human-readable part, then the machine-readable report, then the
    # original's headers.
    report["Content-Type"] = "multipart/report; report-type=delivery-status"
    report.set_payload(
        [
            _explanation(mta, failures),
            _delivery_status(mta, _date(arrival, "arrival"), failures),
            _original_headers(original),
        ]
    )
    return report.as_bytes()


def _explanation(mta: str, failures: Sequence[RecipientFailure]) -> MIMEPart:
    lines = [
        f"This is the mail system at host {mta}.",
        "",
        "Your message could not be delivered to one or more recipients.",
        "Its headers are attached below; the text of the message is not.",
        "",
    ]
    for failure in failures:
        lines.append(f"<{_one_line(failure.recipient)}>: {_one_line(failure.diagnostic)}")
    part = MIMEPart(policy=_PART_POLICY)
    part.set_content("\n".join(lines) + "\n", charset="utf-8")
    part["Content-Description"] = "Notification"
    return part


def _delivery_status(mta: str, arrival: str, failures: Sequence[RecipientFailure]) -> MIMEPart:
    # RFC 3464 §2.2: the per-message fields, then one block per recipient (§2.3),
    # each block a header-like group; the generator separates them with blank lines.
    per_message = Message(policy=_POLICY)
    per_message["Reporting-MTA"] = f"dns; {mta}"  # RFC 3464 §2.2.2
    per_message["Arrival-Date"] = arrival  # RFC 3464 §2.2.5
    blocks: list[Message | str] = [per_message]  # the type set_payload accepts
    for failure in failures:
        status = failure.status.strip()
        if not _FAILED_STATUS.fullmatch(status):
            # Statuses come from remote replies ("550 2.1.5 ..." happens); a bad one
            # must not cost the sender the bounce. RFC 3463 §3.1: 5.0.0 other.
            status = "5.0.0"
        block = Message(policy=_POLICY)
        block["Final-Recipient"] = _address_field(failure.recipient)  # RFC 3464 §2.3.2
        block["Action"] = "failed"  # RFC 3464 §2.3.3
        block["Status"] = status  # RFC 3464 §2.3.4
        if remote := _typed(failure.remote_mta, "dns"):
            block["Remote-MTA"] = remote  # RFC 3464 §2.3.5
        if diagnostic := _typed(failure.diagnostic, "X-Mailward"):
            block["Diagnostic-Code"] = diagnostic  # RFC 3464 §2.3.6
        if failure.last_attempt is not None:
            block["Last-Attempt-Date"] = _date(failure.last_attempt, "last_attempt")  # §2.3.7
        blocks.append(block)
    part = MIMEPart(policy=_POLICY)
    part["Content-Type"] = "message/delivery-status"
    part["Content-Description"] = "Delivery report"
    part.set_payload(blocks)
    return part


def _original_headers(original: bytes) -> MIMEPart:
    text = _header_block(original)
    part = MIMEPart(policy=_PART_POLICY)
    # RFC 6522 §4 / RFC 3462: text/rfc822-headers. Header lines may be 8-bit (RFC 6532)
    # or longer than a 7bit line allows; quoted-printable carries those intact.
    plain = text.isascii() and all(len(line) <= _RFC5322_LINE_BYTES for line in text.splitlines())
    if plain:
        part.set_content(text, subtype="rfc822-headers", charset="us-ascii", cte="7bit")
    else:
        part.set_content(text, subtype="rfc822-headers", charset="utf-8", cte="quoted-printable")
    part["Content-Description"] = "Undelivered message headers"
    return part


def _header_block(original: bytes) -> str:
    """The original's header section, best effort: fields up to the first line that
    is blank or is neither a field nor a continuation (RFC 5322 §2.1, §2.2)."""
    lines: list[bytes] = []
    field_start = 0
    size_bytes = 0
    for line in original.splitlines():
        if line[:1] in (b" ", b"\t"):
            if not lines:
                break
        elif _FIELD_START.match(line):
            field_start = len(lines)
        else:
            break  # the blank separator, or the body of a message that has none
        size_bytes += len(line) + 2
        if size_bytes > _MAX_HEADERS_BYTES:
            del lines[field_start:]  # drop the field cut in half
            break
        lines.append(line)
    decoded = (line.decode("utf-8", "replace") for line in lines)
    return "".join(_CONTROL.sub("?", line.replace("\t", " ")) + "\n" for line in decoded)


def _address_field(address: str) -> str:
    clean = _one_line(address).removeprefix("<").removesuffix(">")
    if clean.isascii():
        return f"rfc822; {clean}"[:_MAX_FIELD_CHARS]
    # RFC 6533 §3: a non-ASCII address in message/delivery-status is "utf-8" typed
    # and written as utf-8-addr-xtext.
    xtext = "".join(
        ch if "\x21" <= ch <= "\x7e" and ch not in "+=\\" else f"\\x{{{ord(ch):X}}}" for ch in clean
    )
    return f"utf-8; {xtext}"[:_MAX_FIELD_CHARS]


def _typed(value: str, default_type: str) -> str:
    clean = _one_line(value).encode("ascii", "replace").decode("ascii")
    if not clean:
        return ""
    typed = clean if _TYPED.match(clean) else f"{default_type}; {clean}"
    return typed[:_MAX_FIELD_CHARS]


def _one_line(value: str) -> str:
    # CR, LF and every other control character become spaces, so a recipient or a
    # remote server's reply can never start a header or end a header block.
    return " ".join(_CONTROL.sub(" ", value).split())


def _date(value: datetime, name: str) -> str:
    if value.tzinfo is None:
        raise ValueError(f"{name} must be timezone-aware")
    return format_datetime(value)  # RFC 5322 §3.3
