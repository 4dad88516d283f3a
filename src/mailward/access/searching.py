"""Searching the principal's own mail, with no index outside sealed storage.

There is no plaintext search index (it would be a copy of every subject and body
outside the per-account seal). A search opens the principal's messages, newest
first, and matches in memory: the sealed list fields (from, to, cc, subject) and,
when asked, the body text. Each call scans at most `MAX_SCANNED` messages and
returns a cursor to go on from, so no request can make the server read a whole
large mailbox at once. Matches are recorded like any listing.
"""

from dataclasses import dataclass
from datetime import datetime

from mailward.access._door import Door
from mailward.access._paging import checked_limit, decode_cursor, encode_cursor
from mailward.access._recording import listed
from mailward.access._sealing import P_RAW
from mailward.core.access_event import Action, Part
from mailward.core.errors import InvalidInput
from mailward.core.message import MessageSummary, Page
from mailward.mime import open_message

MAX_SCANNED = 5_000
_BATCH = 200


def _max_scanned() -> int:
    return MAX_SCANNED  # read at call time (tests lower it)


@dataclass(frozen=True, slots=True)
class SearchQuery:
    """Every given criterion must match (case-insensitive substrings; dates UTC)."""

    sender: str = ""
    recipient: str = ""  # To or Cc
    subject: str = ""
    text: str = ""  # the body text
    since: datetime | None = None
    before: datetime | None = None

    @property
    def empty(self) -> bool:
        return not (self.sender or self.recipient or self.subject or self.text
                    or self.since or self.before)  # fmt: skip


class Searching(Door):
    """MailAccess: search."""

    def search(
        self, mailbox: str, query: SearchQuery, limit: int = 50, cursor: str | None = None
    ) -> Page[MessageSummary]:
        """Matches newest first. The page's cursor continues the scan (also when a
        page is not full: the scan stopped at MAX_SCANNED); None when all was seen.
        """
        limit = checked_limit(limit)
        if query.empty:
            raise InvalidInput("give at least one search term")
        for value in (query.sender, query.recipient, query.subject, query.text):
            if len(value) > 500:
                raise InvalidInput("search terms are at most 500 characters")
        box = self._mailbox(mailbox)
        before = decode_cursor(cursor) if cursor else None
        found: list[MessageSummary] = []
        scanned = 0
        last: MessageSummary | None = None
        exhausted = False
        while len(found) < limit and scanned < _max_scanned():
            rows = self._s.store.messages(self._me, box.id, _BATCH, before)
            if not rows:
                exhausted = True
                break
            for row in rows:
                scanned += 1
                summary = self._summary(row, Part.LIST_ENTRY, Action.LIST)
                last = summary
                if self._matches(summary, query):
                    found.append(summary)
                    if len(found) == limit:
                        break
                if scanned >= _max_scanned():
                    break
            before = decode_cursor(encode_cursor(last)) if last else None
            if len(rows) < _BATCH and len(found) < limit and scanned < _max_scanned():
                exhausted = True
                break
        if found:
            self._s.audit.append(listed(self.principal, self._me, box.name, found, detail="search"))
        next_cursor = None if exhausted or last is None else encode_cursor(last)
        return Page(self._me, found, next_cursor)

    def _matches(self, s: MessageSummary, q: SearchQuery) -> bool:
        if q.since and s.internal_date < q.since:
            return False
        if q.before and s.internal_date >= q.before:
            return False
        if q.sender and q.sender.lower() not in s.sender.lower():
            return False
        if q.recipient and q.recipient.lower() not in f"{s.to} {s.cc}".lower():
            return False
        if q.subject and q.subject.lower() not in s.subject.lower():
            return False
        if q.text:
            raw = self._user().open(s.id, P_RAW, self._s.blobs.get(self._me, s.id))
            if q.text.lower() not in open_message(raw).text.lower():
                return False
        return True
