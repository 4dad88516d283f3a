"""Cursors for paged listings: (internal date, id) of the last item, opaque to clients."""

from mailward.core.errors import InvalidInput
from mailward.core.message import MessageSummary


def encode_cursor(summary: MessageSummary) -> str:
    return f"{int(summary.internal_date.timestamp() * 1_000_000)}.{summary.id}"


def decode_cursor(cursor: str) -> tuple[int, str]:
    stamp, _, item = cursor.partition(".")
    if not stamp.isdigit() or not item.isalnum():
        raise InvalidInput("invalid cursor")
    return int(stamp), item
