"""Writing IMAP response pieces (RFC 9051 §7): strings, flag lists, dates, UID sets."""

from collections.abc import Iterable
from datetime import UTC, datetime

from mailward.imap.protocol.mutf7 import encode_mailbox

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def string(value: str | bytes) -> bytes:
    """A quoted string, or a literal when the value cannot be quoted."""
    data = value.encode("utf-8") if isinstance(value, str) else value
    if len(data) < 1000 and data.isascii() and b"\r" not in data and b"\n" not in data:
        return b'"' + data.replace(b"\\", b"\\\\").replace(b'"', b'\\"') + b'"'
    return b"{%d}\r\n%s" % (len(data), data)


def mailbox(name: str) -> bytes:
    return string(encode_mailbox(name))


def flag_list(flags: Iterable[str]) -> bytes:
    return b"(" + " ".join(flags).encode("ascii", "replace") + b")"


def internal_date(at_us: int) -> bytes:
    """RFC 9051 §9 date-time, in UTC."""
    t = datetime.fromtimestamp(at_us / 1_000_000, UTC)
    return b'"%02d-%s-%04d %02d:%02d:%02d +0000"' % (
        t.day, _MONTHS[t.month - 1].encode(), t.year, t.hour, t.minute, t.second,
    )  # fmt: skip


def number_set(numbers: Iterable[int]) -> bytes:
    """Ascending runs as a sequence set: 1,2,3,5 -> 1:3,5 (order kept)."""
    out: list[str] = []
    start = prev = -2
    for n in numbers:
        if n == prev + 1:
            prev = n
            continue
        if start >= 0:
            out.append(f"{start}" if start == prev else f"{start}:{prev}")
        start = prev = n
    if start >= 0:
        out.append(f"{start}" if start == prev else f"{start}:{prev}")
    return ",".join(out).encode("ascii")
