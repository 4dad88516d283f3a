"""What the door remembers of each selected mailbox between calls: the state of
every message (UID, modseq, flags, size, date, id; never content), so that a
mail program asking for the flags of all 100,000 messages of its INBOX again
costs the changes since last time, not 100,000 rows.

Keyed by (owner account, mailbox): an entry is only ever read through a door
bound to its owner, and every entry carries its owner like everything the door
hands out. Whether an entry is current is decided from the mailbox row (its
UIDVALIDITY, highest modseq, UIDNEXT and count), which every change moves.
Bounded by the number of messages held; the least recently used go first.
"""

import threading
from collections import OrderedDict
from dataclasses import dataclass

from mailward.core.message import IndexEntry

MAX_CACHED_MESSAGES = 1_000_000


@dataclass(frozen=True, slots=True)
class MailboxState:
    uidvalidity: int
    highest_modseq: int  # of the mailbox row read before the messages were
    uidnext: int
    total: int
    uids: tuple[int, ...]  # ascending, one per entry
    entries: tuple[IndexEntry, ...]

    def current(self, uidvalidity: int, highest_modseq: int, uidnext: int, total: int) -> bool:
        return (self.uidvalidity, self.highest_modseq, self.uidnext, self.total) == (
            uidvalidity, highest_modseq, uidnext, total,
        )  # fmt: skip


class StateCache:
    def __init__(self, max_messages: int = MAX_CACHED_MESSAGES) -> None:
        self.max_messages = max_messages
        self._lock = threading.Lock()
        self._states: OrderedDict[tuple[str, str], MailboxState] = OrderedDict()
        self._held = 0

    def get(self, key: tuple[str, str]) -> MailboxState | None:
        with self._lock:
            state = self._states.get(key)
            if state is not None:
                self._states.move_to_end(key)
            return state

    def put(self, key: tuple[str, str], state: MailboxState) -> None:
        with self._lock:
            old = self._states.pop(key, None)
            if old is not None:
                self._held -= len(old.entries)
            if len(state.entries) > self.max_messages:
                return
            self._states[key] = state
            self._held += len(state.entries)
            while self._held > self.max_messages:
                _key, dropped = self._states.popitem(last=False)
                self._held -= len(dropped.entries)
