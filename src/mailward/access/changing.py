"""Changing mail: flags, move, copy, delete, expunge, restore, append, deliver.

Each change and its audit record commit together in one unit of work.
"""

from collections.abc import Iterable, Sequence
from datetime import datetime

from mailward.access._door import _PROTECTED, NO_FLAGS, Door, _info, _now_us
from mailward.access._ingest import seal_message, store_sealed
from mailward.access._recording import record
from mailward.access._sealing import (
    P_RAW,
    Crossing,
    check_owner,
    reseal_fields,
    seal_folder,
)
from mailward.core.access_event import Action, Part
from mailward.core.errors import (
    Conflict,
    LimitReached,
    NotFound,
    PermissionDenied,
)
from mailward.core.flags import Flags, SystemFlag
from mailward.core.ids import MessageId, new_mailbox_id, new_message_id
from mailward.core.mailbox import MAX_MAILBOXES, MailboxInfo, SpecialUse, validate_mailbox_name
from mailward.core.message import MessageSummary
from mailward.mime import summarize
from mailward.store import MailboxRow, NewMessage

# Messages moved per unit when a whole mailbox moves (RENAME INBOX, DELETE).
MOVE_CHUNK = 500


class Changing(Door):
    # -- mailboxes ---------------------------------------------------------------------

    def create_mailbox(self, name: str) -> MailboxInfo:
        """A user folder; at most MAX_MAILBOXES per account (Conflict beyond)."""
        self._user()
        return _info(self._new_folder(validate_mailbox_name(name)))

    def _new_folder(self, name: str) -> MailboxRow:
        """Made, then counted, in one unit: a name that exists is refused as such
        first, and a folder past MAX_MAILBOXES is rolled back with the unit."""
        box_id = new_mailbox_id()
        seal = seal_folder(self._user(), box_id, name)
        with self._s.store.transaction():
            row = self._s.store.create_mailbox(self._me, box_id, name, None, seal)
            if self._s.store.mailbox_count(self._me) > MAX_MAILBOXES:
                raise LimitReached(f"at most {MAX_MAILBOXES} folders per account")
        return row

    def rename_mailbox(self, name: str, new_name: str) -> None:
        """Rename a mailbox and every mailbox below it (RFC 3501 §6.3.5), in one unit.

        Renaming INBOX moves all its messages into a new mailbox of that name and
        leaves INBOX, empty, in place (RFC 3501 §6.3.5).
        """
        row = self._mailbox(name, Action.MOVE)
        new_name = validate_mailbox_name(new_name)
        if row.name == "INBOX":
            target = self._new_folder(new_name)
            self._move_all(row, target, Action.MOVE, origin=False)
            return
        if row.name in _PROTECTED:
            raise Conflict(f"{row.name} cannot be renamed")
        if new_name == row.name or new_name.startswith(row.name + "/"):
            raise Conflict("a mailbox cannot be renamed to itself or below itself")
        prefix = row.name + "/"
        crossing: Crossing | None = None
        below: list[tuple[MailboxRow, str]] = []
        with self._s.store.transaction():  # the mailboxes below, as they are in this unit
            boxes = self._s.store.mailboxes(self._me)
            crossing = self._foreign_folder(boxes)
            if crossing is None:
                below = [
                    (b, validate_mailbox_name(new_name + b.name[len(row.name) :]))
                    for b in boxes
                    if b.name.startswith(prefix)
                ]
                sealer = self._user()
                for box, renamed in [(row, new_name), *below]:  # each sealed with its new name
                    seal = seal_folder(sealer, box.id, renamed)
                    self._s.store.rename_mailbox(self._me, box.id, renamed, seal)
        if crossing is not None:  # refused (and recorded) outside the unit, renaming nothing
            raise self._refuse(crossing, Part.NONE, Action.MOVE)
        self._names.pop(row.id, None)
        for b, _ in below:
            self._names.pop(b.id, None)

    def _move_all(
        self, box: MailboxRow, target: MailboxRow, action: Action, *, origin: bool
    ) -> None:
        """Move the messages `box` holds now to `target`, MOVE_CHUNK to a unit:
        the writer (and every other process's) is never held for a whole large
        mailbox. A message gone or moved meanwhile is left alone."""
        ids = self._s.store.message_ids(self._me, box.id)
        for start in range(0, len(ids), MOVE_CHUNK):
            with self._s.store.transaction():
                still = self._s.store.fetch_rows(self._me, ids[start : start + MOVE_CHUNK])
                chunk = [r.id for r in still if r.mailbox_id == box.id]
                self._move_rows(self._rows(chunk, Part.NONE, action), target, action, origin=origin)

    def subscribe(self, name: str, on: bool = True) -> None:
        """Add the mailbox to (or take it off) the subscription list."""
        row = self._mailbox(name)
        self._s.store.set_subscribed(self._me, row.id, on)

    def delete_mailbox(self, name: str) -> None:
        """Delete a user folder; the messages in it go to Trash first (restorable,
        each recorded as deleted). Special mailboxes stay; folders below it stay
        (RFC 3501 §6.3.4)."""
        row = self._mailbox(name, Action.DELETE)
        if row.name in _PROTECTED:
            raise Conflict(f"{row.name} cannot be deleted")
        trash = self._special(SpecialUse.TRASH, Action.DELETE)
        self._move_all(row, trash, Action.DELETE, origin=True)
        with self._s.store.transaction():  # what arrived meanwhile goes to Trash too
            late = self._s.store.message_ids(self._me, row.id)
            if late:
                rows = self._rows(late, Part.NONE, Action.DELETE)
                self._move_rows(rows, trash, Action.DELETE, origin=True)
            self._s.store.delete_mailbox(self._me, row.id)
        self._names.pop(row.id, None)

    # -- changing ----------------------------------------------------------------------

    def set_flags(
        self, ids: Iterable[str], add: Flags = NO_FLAGS, remove: Flags = NO_FLAGS
    ) -> list[MessageSummary]:
        """Add and remove flags on messages; returns the updated summaries."""
        rows = self._rows(ids, Part.FLAGS, Action.FLAG)
        detail = " ".join([f"+{f}" for f in add] + [f"-{f}" for f in remove])
        out: list[MessageSummary] = []
        with self._s.store.transaction():
            for read in rows:
                row = self._current(read)  # flags as they are now, not as read
                if row is None:
                    continue
                after = Flags.parse(row.flags).union(add).minus(remove)
                change = self._changed(row, Action.FLAG, detail, Part.FLAGS)
                updated = self._s.store.set_flags(self._me, row.id, after.text())
                self._s.audit.append(change)
                out.append(self._summary(updated, Part.FLAGS, Action.FLAG))
        return out

    def move(self, ids: Iterable[str], mailbox: str) -> list[MessageSummary]:
        """Move messages to another of the principal's mailboxes (new UIDs, same ids)."""
        target = self._mailbox(mailbox, Action.MOVE)
        rows = self._rows(ids, Part.NONE, Action.MOVE)
        return self._move_rows(rows, target, Action.MOVE, origin=False)

    def delete(self, ids: Iterable[str]) -> list[MessageSummary]:
        """Delete = move to Trash, remembering where from (restore puts it back)."""
        trash = self._special(SpecialUse.TRASH, Action.DELETE)
        rows = [r for r in self._rows(ids, Part.NONE, Action.DELETE) if r.mailbox_id != trash.id]
        return self._move_rows(rows, trash, Action.DELETE, origin=True)

    def copy(self, ids: Iterable[str], mailbox: str) -> list[MessageSummary]:
        """Copy messages: each copy is a new item, sealed anew under its own id.
        All copies commit together or none does (RFC 3501 §6.4.7)."""
        target = self._mailbox(mailbox, Action.COPY)
        rows = self._rows(ids, Part.RAW, Action.COPY)
        sealer = self._user()
        blobs = self._s.blobs
        prepared = []
        for row in rows:  # the sealing, CPU only, before the unit
            raw = self._raw(row, Part.RAW, Action.COPY)
            new_id = new_message_id()
            fields = reseal_fields(sealer, row.id, row.sealed, sealer, new_id)
            prepared.append((row, new_id, fields, sealer.seal(new_id, P_RAW, raw)))
        for _row, new_id, _fields, blob in prepared:
            # Large bodies are files, fsynced now, outside the unit (as in _ingest.py):
            # a failure leaves an orphan file, never a row without its body.
            if not blobs.joins_transaction(len(blob)):
                blobs.put(self._me, new_id, blob)
        made = []
        with self._s.store.transaction():
            for row, new_id, fields, blob in prepared:
                if blobs.joins_transaction(len(blob)):
                    blobs.put(self._me, new_id, blob)
                made.append(
                    self._s.store.insert_message(
                        self._me,
                        NewMessage(
                            new_id, target.id, row.internal_us, row.size, row.flags,
                            row.has_attachments, fields,
                        ),
                    )
                )  # fmt: skip
                self._s.audit.append(
                    self._changed(row, Action.COPY, f"to {target.name} as {new_id}", Part.RAW)
                )
        return [self._summary(new, Part.NONE, Action.COPY) for new in made]

    def expunge(self, ids: Iterable[str]) -> int:
        """Remove messages for good, leaving sealed tombstones for the retention window."""
        rows = self._rows(ids, Part.NONE, Action.EXPUNGE)
        retention_us = self._s.retention_s * 1_000_000
        with self._s.store.transaction():
            for row in rows:
                change = self._changed(row, Action.EXPUNGE)
                self._s.store.expunge_message(
                    self._me, row.id, self.principal.account_id, retention_us
                )
                self._s.audit.append(change)
        return len(rows)

    def expunge_mailbox(self, mailbox: str, *, only_deleted: bool = True) -> int:
        """Expunge a mailbox's \\Deleted messages (RFC 9051 §6.4.3), or all (empty Trash)."""
        box = self._mailbox(mailbox, Action.EXPUNGE)
        ids = self._s.store.message_ids(self._me, box.id)
        if only_deleted:
            ids = [
                i
                for i in ids
                if (row := self._s.store.message(self._me, i)) is not None
                and SystemFlag.DELETED.value in row.flags.split()
            ]
        return self.expunge(ids)

    def restore(self, message_id: str) -> MessageSummary:
        """Undo a delete (back to where it came from) or an expunge (from its tombstone)."""
        self._user()
        if not message_id.isalnum():
            raise NotFound("no such message")
        item = MessageId(message_id)
        row = self._s.store.message(self._me, item)
        if row is not None:
            self._summary(row, Part.NONE, Action.RESTORE)
            origin = (
                self._folder(row.origin_mailbox_id, Action.RESTORE)
                if (row.origin_mailbox_id)
                else None
            )
            target = origin or self._mailbox("INBOX", Action.RESTORE)
            if target.id == row.mailbox_id:
                raise Conflict("message is not deleted")
            return self._move_rows([row], target, Action.RESTORE, origin=False)[0]
        tomb = self._s.store.tombstone(self._me, item)
        if tomb is None:
            raise NotFound("no such message")
        crossing = check_owner(tomb.account_id, self._me, tomb.id)
        if crossing is not None:
            raise self._refuse(crossing, Part.NONE, Action.RESTORE)
        target = self._folder(tomb.mailbox_id, Action.RESTORE) or self._mailbox(
            "INBOX", Action.RESTORE
        )
        with self._s.store.transaction():
            restored = self._s.store.restore_tombstone(self._me, item, target.id)
            self._s.audit.append(
                record(
                    self.principal,
                    self._me,
                    target.name,
                    [item],
                    [not Flags.parse(tomb.flags).seen],
                    Part.NONE,
                    Action.RESTORE,
                    detail="from tombstone",
                )
            )
        self._names[target.id] = target.name
        return self._summary(restored, Part.NONE, Action.RESTORE)

    def append(
        self,
        mailbox: str,
        raw: bytes,
        flags: Flags = NO_FLAGS,
        internal_date: datetime | None = None,
    ) -> MessageSummary:
        """Store a message the principal supplies (IMAP APPEND, Sent copy, draft)."""
        box = self._mailbox(mailbox, Action.APPEND)
        stamp = int(internal_date.timestamp() * 1_000_000) if internal_date else _now_us()
        sealed = seal_message(self._me, self._user(), box, raw, summarize(raw))
        (item,) = store_sealed(self._s, [sealed], flags, stamp, self.principal, Action.APPEND)
        return self._summary(item, Part.NONE, Action.APPEND)

    def deliver(self, recipients: Sequence[str], raw: bytes) -> dict[str, MessageId]:
        """Deliver one message into each recipient's INBOX (system principal only).

        Each recipient gets its own item sealed with its own key; all commit together.

        Raises:
            PermissionDenied: the principal is not the system.
            NotFound: a recipient address has no account (nothing is stored then).
        """
        if not self.principal.is_system:
            raise PermissionDenied("only the system principal delivers mail")
        targets = []
        for address in dict.fromkeys(recipients):
            account_id, inbox = self._inbox_of(address.lower())
            targets.append((address, account_id, inbox))
        summary = summarize(raw)
        sealed = [
            seal_message(account_id, self._s.keyring.sealer(account_id), inbox, raw, summary)
            for _address, account_id, inbox in targets
        ]
        store_sealed(self._s, sealed, NO_FLAGS, _now_us(), self.principal, Action.DELIVER)
        return {address: m.item for (address, _a, _i), m in zip(targets, sealed, strict=True)}
