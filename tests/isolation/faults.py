"""Store and blob faults that hand one account's rows to a query for another.

They model the "interaction error" between a mail server and a user database: a
query for account A that returns rows of account B, either honestly labelled,
relabelled as A's (a wrong join), A's row carrying B's sealed fields, or A's item
pointing at B's blob; or A's folder list holding B's folders (labelled as B's:
folder rows carry no seal, so B's folders relabelled as A's would pass unseen, a
gap named in the README). Each counts the crossings it actually produced.
"""

from dataclasses import dataclass
from typing import Any

from mailward.core.ids import AccountId
from mailward.store import FetchRow, MailStore, MessageRow

MESSAGE_FAULTS = ("foreign-row", "wrong-join", "field-swap", "blob-swap")
FAULTS = (*MESSAGE_FAULTS, "foreign-folder")
_ROW_FAULTS = ("foreign-row", "wrong-join", "field-swap")


@dataclass
class Armed:
    kind: str
    asker: AccountId
    victim: AccountId


class FaultyStore:
    def __init__(self, inner: MailStore) -> None:
        self.inner = inner
        self.armed: Armed | None = None
        self.crossings = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def _victim_rows(self, limit: int) -> list[MessageRow]:
        assert self.armed is not None
        out: list[MessageRow] = []
        for box in self.inner.mailboxes(self.armed.victim):
            out += self.inner.messages(self.armed.victim, box.id, limit)
        return out[:limit]

    def _cross(
        self, own: MessageRow | None, victim: MessageRow, asker: AccountId, mailbox_id: Any
    ) -> MessageRow:
        assert self.armed is not None
        self.crossings += 1
        if self.armed.kind == "foreign-row":
            return victim
        if self.armed.kind == "wrong-join":
            return victim._replace(account_id=asker, mailbox_id=mailbox_id)
        assert own is not None  # field-swap: our row, their sealed header fields
        return own._replace(sealed=victim.sealed)

    def _active(self, account_id: AccountId) -> bool:
        a = self.armed
        return a is not None and a.asker == account_id and a.kind in _ROW_FAULTS

    def mailboxes(self, account_id: AccountId) -> list[Any]:
        own = list(self.inner.mailboxes(account_id))
        a = self.armed
        if a is None or a.kind != "foreign-folder" or a.asker != account_id:
            return own
        theirs = list(self.inner.mailboxes(a.victim))
        self.crossings += len(theirs)
        return theirs + own  # first: a lookup that takes the first match takes theirs

    def message(self, account_id: AccountId, message_id: Any) -> MessageRow | None:
        own = self.inner.message(account_id, message_id)
        if not self._active(account_id):
            return own
        victims = self._victim_rows(1)
        if not victims or (own is None and self.armed and self.armed.kind == "field-swap"):
            return own
        return self._cross(
            own, victims[0], account_id, own.mailbox_id if own else victims[0].mailbox_id
        )

    def messages(
        self, account_id: AccountId, mailbox_id: Any, limit: int, before: Any = None
    ) -> list[MessageRow]:
        own = self.inner.messages(account_id, mailbox_id, limit, before)
        if not self._active(account_id):
            return own
        victims = self._victim_rows(limit)
        if not victims:
            return own
        if self.armed and self.armed.kind == "field-swap":
            if not own:
                return own
            return [self._cross(own[0], victims[0], account_id, mailbox_id), *own[1:]]
        return own + [self._cross(None, v, account_id, mailbox_id) for v in victims]

    def messages_by_ids(self, account_id: AccountId, message_ids: Any) -> list[MessageRow]:
        own = self.inner.messages_by_ids(account_id, message_ids)
        if not self._active(account_id):
            return own
        victims = self._victim_rows(len(message_ids) or 1)
        if not victims:
            return own
        if self.armed and self.armed.kind == "field-swap":
            if not own:
                return own
            return [self._cross(own[0], victims[0], account_id, own[0].mailbox_id), *own[1:]]
        mailbox_id = own[0].mailbox_id if own else victims[0].mailbox_id
        return own + [self._cross(None, v, account_id, mailbox_id) for v in victims]

    def fetch_rows(self, account_id: AccountId, message_ids: Any) -> list[FetchRow]:
        if not self._active(account_id):
            return list(self.inner.fetch_rows(account_id, message_ids))
        rows = self.messages_by_ids(account_id, message_ids)  # with the crossings
        return [FetchRow(r.account_id, r.id, r.mailbox_id, r.flags, r.sealed) for r in rows]


class FaultyBlobs:
    def __init__(self, inner: Any, store: MailStore) -> None:
        self.inner = inner
        self.store = store
        self.armed: Armed | None = None
        self.crossings = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def get(self, account_id: str, blob_id: str) -> bytes:
        a = self.armed
        if a is not None and a.kind == "blob-swap" and a.asker == account_id:
            for box in self.store.mailboxes(a.victim):
                rows = self.store.messages(a.victim, box.id, 1)
                if rows:
                    self.crossings += 1
                    return bytes(self.inner.get(a.victim, rows[0].id))
        return bytes(self.inner.get(account_id, blob_id))

    def get_many(self, account_id: str, blob_ids: list[str]) -> dict[str, bytes]:
        return {b: self.get(account_id, b) for b in blob_ids}
