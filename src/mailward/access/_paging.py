"""Cursors for paged listings: (internal date, id) of the last item, opaque to clients."""

from mailward.core.errors import InvalidInput
from mailward.core.ids import AccountId
from mailward.core.message import MessageSummary, Page

MAX_PAGE = 500


def encode_cursor(summary: MessageSummary) -> str:
    return f"{int(summary.internal_date.timestamp() * 1_000_000)}.{summary.id}"


def decode_cursor(cursor: str) -> tuple[int, str]:
    stamp, _, item = cursor.partition(".")
    if not stamp.isdigit() or not item.isalnum():
        raise InvalidInput("invalid cursor")
    return int(stamp), item


def checked_limit(limit: int) -> int:
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidInput(f"limit must be 1..{MAX_PAGE}")
    return limit


def page_of(owner: AccountId, items: list[MessageSummary], limit: int) -> Page[MessageSummary]:
    """A page; it carries a cursor when it is full (there may be more)."""
    return Page(owner, items, encode_cursor(items[-1]) if len(items) == limit else None)
