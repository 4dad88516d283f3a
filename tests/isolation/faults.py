"""Store and blob faults that hand one account's rows to a query for another.

They model the "interaction error" between a mail server and a user database: a
query for account A that returns rows of account B, either honestly labelled,
relabelled as A's (a wrong join), A's row carrying B's sealed fields, or A's item
pointing at B's blob; or A's folder lookups answered with B's folders, labelled
as B's or relabelled as A's (caught by the folder rows' seals). Each counts the
crossings it actually produced.
"""

from dataclasses import dataclass, replace
from typing import Any

from mailward.core.ids import AccountId
from mailward.store import FetchRow, MailStore, MessageRow

MESSAGE_FAULTS = ("foreign-row", "wrong-join", "field-swap", "blob-swap")
FOLDER_FAULTS = ("foreign-folder", "relabelled-folder")
FAULTS = (*MESSAGE_FAULTS, *FOLDER_FAULTS)
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

    def _folder_fault(self, account_id: AccountId, *kinds: str) -> Armed | None:
        a = self.armed
        return a if a is not None and a.asker == account_id and a.kind in kinds else None

    def mailboxes(self, account_id: AccountId) -> list[Any]:
        own = list(self.inner.mailboxes(account_id))
        a = self._folder_fault(account_id, *FOLDER_FAULTS)
        if a is None:
            return own
        theirs = list(self.inner.mailboxes(a.victim))
        self.crossings += len(theirs)
        if a.kind == "relabelled-folder":  # a wrong join: their rows, our account id
            theirs = [replace(b, account_id=account_id) for b in theirs]
        return theirs + own  # first: a lookup that takes the first match takes theirs

    def _relabelled(self, account_id: AccountId, name: str, own: Any) -> Any:
        """The victim's folder of that name in place of ours, labelled as ours."""
        a = self._folder_fault(account_id, "relabelled-folder")
        theirs = self.inner.mailbox_by_name(a.victim, name) if a is not None else None
        if theirs is None:
            return own
        self.crossings += 1
        return replace(theirs, account_id=account_id)

    def mailbox_by_name(self, account_id: AccountId, name: str) -> Any:
        return self._relabelled(account_id, name, self.inner.mailbox_by_name(account_id, name))

    def mailbox(self, account_id: AccountId, mailbox_id: Any) -> Any:
        own = self.inner.mailbox(account_id, mailbox_id)
        return own if own is None else self._relabelled(account_id, own.name, own)

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
