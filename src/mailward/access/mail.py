"""MailAccess: the one door for every read and write of mail."""

import time
from collections.abc import Iterable, Sequence
from datetime import datetime

from mailward.access._ingest import seal_message, store_sealed
from mailward.access._recording import record
from mailward.access._sealing import (
    P_RAW,
    Crossing,
    check_owner,
    open_summary,
    reseal_fields,
)
from mailward.access.services import Services
from mailward.core.access_event import Action, Outcome, Part, attachment
from mailward.core.errors import (
    Conflict,
    IntegrityError,
    InvalidInput,
    IsolationViolation,
    NotFound,
    PermissionDenied,
)
from mailward.core.flags import Flags, SystemFlag
from mailward.core.ids import MailboxId, MessageId, new_mailbox_id, new_message_id
from mailward.core.mailbox import SPECIAL_MAILBOXES, MailboxInfo, SpecialUse, validate_mailbox_name
from mailward.core.message import MessageSummary, MessageView, Page, RawMessage
from mailward.core.principal import Principal
from mailward.crypto import Sealer
from mailward.mime import attachment as mime_attachment
from mailward.mime import open_message, summarize
from mailward.store import MailboxRow, MessageRow, NewMessage

MAX_PAGE = 500
NO_FLAGS = Flags()
_PROTECTED = {name for name, _ in SPECIAL_MAILBOXES}


def _now_us() -> int:
    return time.time_ns() // 1000


def _info(row: MailboxRow) -> MailboxInfo:
    return MailboxInfo(
        owner=row.account_id,
        id=row.id,
        name=row.name,
        special_use=SpecialUse(row.special_use) if row.special_use else None,
        uidvalidity=row.uidvalidity,
        uidnext=row.uidnext,
        highest_modseq=row.highest_modseq,
        total=row.total,
        unread=row.unseen,
        subscribed=row.subscribed,
    )


def encode_cursor(summary: MessageSummary) -> str:
    return f"{int(summary.internal_date.timestamp() * 1_000_000)}.{summary.id}"


def decode_cursor(cursor: str) -> tuple[int, str]:
    stamp, _, item = cursor.partition(".")
    if not stamp.isdigit() or not item.isalnum():
        raise InvalidInput("invalid cursor")
    return int(stamp), item


class MailAccess:
    """The one door. Bound to one Principal at construction; no method takes an account.

    Every item and part handed out is recorded in the audit log (durably) before it
    is returned; sealed data is opened only with the served principal's own key, so
    a row of another account reached through any fault raises IsolationViolation,
    writes a refused record, and returns nothing.
    """

    def __init__(self, principal: Principal, services: Services) -> None:
        self.principal = principal
        self._s = services
        self._me = principal.account_id
        self._sealer: Sealer | None = None
        if not principal.is_system:
            if services.store.account(principal.account_id) is None:
                raise PermissionDenied("unknown principal")
            self._sealer = services.keyring.sealer(principal.account_id)
        self._names: dict[MailboxId, str] = {}

    # -- helpers -----------------------------------------------------------------------

    def _user(self) -> Sealer:
        if self._sealer is None:
            raise PermissionDenied("the system principal may deliver mail, not read it")
        return self._sealer

    def _mailbox(self, name: str) -> MailboxRow:
        self._user()
        try:
            name = validate_mailbox_name(name)
        except ValueError as exc:
            raise InvalidInput(str(exc)) from None
        row = self._s.store.mailbox_by_name(self._me, name)
        if row is None:
            raise NotFound(f"no mailbox {name}")
        self._names[row.id] = row.name
        return row

    def _special(self, use: SpecialUse) -> MailboxRow:
        for row in self._s.store.mailboxes(self._me):
            if row.special_use == use.value:
                self._names[row.id] = row.name
                return row
        raise NotFound(f"no {use.value} mailbox")

    def _name_of(self, mailbox_id: MailboxId) -> str:
        name = self._names.get(mailbox_id)
        if name is None:
            row = self._s.store.mailbox(self._me, mailbox_id)
            name = row.name if row else ""
            self._names[mailbox_id] = name
        return name

    def _refuse(self, crossing: Crossing, part: str, action: Action) -> IsolationViolation:
        """Record a refused access durably and return the error to raise."""
        self._s.audit.append(
            record(
                self.principal,
                crossing.owner,
                "",
                [crossing.item],
                [],
                part,
                action,
                Outcome.REFUSED,
                crossing.detail,
            )
        )
        return IsolationViolation(self._me, crossing.owner, crossing.item, crossing.detail)

    def _summary(self, row: MessageRow, part: str, action: Action) -> MessageSummary:
        opened = open_summary(self._user(), self._me, row, self._name_of(row.mailbox_id))
        if isinstance(opened, Crossing):
            raise self._refuse(opened, part, action)
        return opened

    def _row(self, message_id: MessageId | str, part: str, action: Action) -> MessageRow:
        self._user()
        if not message_id.isalnum():
            raise NotFound("no such message")
        row = self._s.store.message(self._me, MessageId(message_id))
        if row is None:
            raise NotFound("no such message")
        crossing = check_owner(row.account_id, self._me, row.id)
        if crossing is not None:
            raise self._refuse(crossing, part, action)
        return row

    def _raw(self, row: MessageRow, part: str, action: Action) -> bytes:
        try:
            sealed = self._s.blobs.get(self._me, row.id)
            return self._user().open(row.id, P_RAW, sealed)
        except IntegrityError as exc:
            raise self._refuse(Crossing(row.account_id, row.id, str(exc)), part, action) from None

    # -- mailboxes ---------------------------------------------------------------------

    def mailboxes(self) -> list[MailboxInfo]:
        """The principal's mailboxes with total and unread counts."""
        self._user()
        rows = self._s.store.mailboxes(self._me)
        for row in rows:
            if row.account_id != self._me:
                raise self._refuse(
                    Crossing(row.account_id, row.id, "mailbox of another account"),
                    Part.NONE,
                    Action.LIST,
                )
            self._names[row.id] = row.name
        return [_info(r) for r in rows]

    def create_mailbox(self, name: str) -> MailboxInfo:
        self._user()
        try:
            name = validate_mailbox_name(name)
        except ValueError as exc:
            raise InvalidInput(str(exc)) from None
        return _info(self._s.store.create_mailbox(self._me, new_mailbox_id(), name, None))

    def rename_mailbox(self, name: str, new_name: str) -> None:
        row = self._mailbox(name)
        if row.name in _PROTECTED:
            raise Conflict(f"{row.name} cannot be renamed")
        try:
            new_name = validate_mailbox_name(new_name)
        except ValueError as exc:
            raise InvalidInput(str(exc)) from None
        self._s.store.rename_mailbox(self._me, row.id, new_name)
        self._names.pop(row.id, None)

    def delete_mailbox(self, name: str) -> None:
        """Delete an empty user folder. Special mailboxes stay."""
        row = self._mailbox(name)
        if row.name in _PROTECTED:
            raise Conflict(f"{row.name} cannot be deleted")
        self._s.store.delete_mailbox(self._me, row.id)

    # -- reading -----------------------------------------------------------------------

    def list_messages(
        self, mailbox: str = "INBOX", limit: int = 50, cursor: str | None = None
    ) -> Page[MessageSummary]:
        """A page of summaries, newest first. Records each listed item (part list-entry)."""
        if not 1 <= limit <= MAX_PAGE:
            raise InvalidInput(f"limit must be 1..{MAX_PAGE}")
        box = self._mailbox(mailbox)
        before = decode_cursor(cursor) if cursor else None
        rows = self._s.store.messages(self._me, box.id, limit, before)
        items = [self._summary(r, Part.LIST_ENTRY, Action.LIST) for r in rows]
        if items:
            self._s.audit.append(
                record(
                    self.principal,
                    self._me,
                    box.name,
                    [m.id for m in items],
                    [m.unread for m in items],
                    Part.LIST_ENTRY,
                    Action.LIST,
                )
            )
        next_cursor = encode_cursor(items[-1]) if len(items) == limit else None
        return Page(self._me, items, next_cursor)

    def get_summary(self, message_id: str) -> MessageSummary:
        """One list entry (subject, from, to, snippet, flags)."""
        row = self._row(message_id, Part.LIST_ENTRY, Action.READ)
        summary = self._summary(row, Part.LIST_ENTRY, Action.READ)
        self._s.audit.append(
            record(
                self.principal,
                self._me,
                summary.mailbox,
                [row.id],
                [summary.unread],
                Part.LIST_ENTRY,
                Action.READ,
            )
        )
        return summary

    def get_message(self, message_id: str, *, mark_seen: bool = True) -> MessageView:
        """Open a message: headers, text and HTML bodies, attachment list.

        Records the headers and body as exposed (with whether the item was unread),
        and, with `mark_seen`, sets \\Seen in the same transaction.
        """
        row = self._row(message_id, Part.BODY, Action.READ)
        summary = self._summary(row, Part.BODY, Action.READ)
        opened = open_message(self._raw(row, Part.BODY, Action.READ))
        unread = summary.unread
        with self._s.store.transaction():
            self._s.audit.append_many(
                [
                    record(
                        self.principal,
                        self._me,
                        summary.mailbox,
                        [row.id],
                        [unread],
                        part,
                        Action.READ,
                    )
                    for part in (Part.HEADERS, Part.BODY)
                ]
            )
            if mark_seen and unread:
                flags = summary.flags.union(Flags.of(SystemFlag.SEEN))
                self._s.store.set_flags(self._me, row.id, flags.text())
                self._s.audit.append(
                    record(
                        self.principal,
                        self._me,
                        summary.mailbox,
                        [row.id],
                        [unread],
                        Part.FLAGS,
                        Action.FLAG,
                        detail="+\\Seen (read)",
                    )
                )
        return MessageView(
            owner=self._me,
            summary=summary,
            headers=opened.headers,
            text=opened.text,
            html=opened.html,
            attachments=opened.attachments,
            malformed=opened.malformed,
        )

    def get_headers(self, message_id: str) -> Sequence[tuple[str, str]]:
        row = self._row(message_id, Part.HEADERS, Action.READ)
        summary = self._summary(row, Part.HEADERS, Action.READ)
        headers = open_message(self._raw(row, Part.HEADERS, Action.READ)).headers
        self._s.audit.append(
            record(
                self.principal,
                self._me,
                summary.mailbox,
                [row.id],
                [summary.unread],
                Part.HEADERS,
                Action.READ,
            )
        )
        return headers

    def get_raw(self, message_id: str) -> RawMessage:
        """The message exactly as received (part raw, action download)."""
        row = self._row(message_id, Part.RAW, Action.DOWNLOAD)
        summary = self._summary(row, Part.RAW, Action.DOWNLOAD)
        data = self._raw(row, Part.RAW, Action.DOWNLOAD)
        self._s.audit.append(
            record(
                self.principal,
                self._me,
                summary.mailbox,
                [row.id],
                [summary.unread],
                Part.RAW,
                Action.DOWNLOAD,
            )
        )
        return RawMessage(self._me, row.id, data)

    def get_attachment(self, message_id: str, index: int) -> RawMessage:
        """The decoded bytes of attachment `index` (1-based), with type and safe filename."""
        part = attachment(index) if index >= 1 else Part.NONE
        row = self._row(message_id, part, Action.DOWNLOAD)
        summary = self._summary(row, part, Action.DOWNLOAD)
        raw = self._raw(row, part, Action.DOWNLOAD)
        try:
            data, ctype, filename = mime_attachment(raw, index)
        except LookupError:
            raise NotFound(f"no attachment {index}") from None
        self._s.audit.append(
            record(
                self.principal,
                self._me,
                summary.mailbox,
                [row.id],
                [summary.unread],
                part,
                Action.DOWNLOAD,
            )
        )
        return RawMessage(self._me, row.id, data, ctype, filename)

    # -- changing ----------------------------------------------------------------------

    def _rows(self, ids: Iterable[str], part: str, action: Action) -> list[MessageRow]:
        rows = [self._row(i, part, action) for i in dict.fromkeys(ids)]
        for row in rows:  # open each: a row that does not open for us is not ours
            self._summary(row, part, action)
        return rows

    def set_flags(
        self, ids: Iterable[str], add: Flags = NO_FLAGS, remove: Flags = NO_FLAGS
    ) -> list[MessageSummary]:
        """Add and remove flags on messages; returns the updated summaries."""
        rows = self._rows(ids, Part.FLAGS, Action.FLAG)
        detail = " ".join([f"+{f}" for f in add] + [f"-{f}" for f in remove])
        out: list[MessageSummary] = []
        with self._s.store.transaction():
            for row in rows:
                before = Flags.parse(row.flags)
                after = before.union(add).minus(remove)
                updated = self._s.store.set_flags(self._me, row.id, after.text())
                self._s.audit.append(
                    record(
                        self.principal,
                        self._me,
                        self._name_of(row.mailbox_id),
                        [row.id],
                        [not before.seen],
                        Part.FLAGS,
                        Action.FLAG,
                        detail=detail,
                    )
                )
                out.append(self._summary(updated, Part.FLAGS, Action.FLAG))
        return out

    def move(self, ids: Iterable[str], mailbox: str) -> list[MessageSummary]:
        """Move messages to another of the principal's mailboxes (new UIDs, same ids)."""
        target = self._mailbox(mailbox)
        rows = self._rows(ids, Part.NONE, Action.MOVE)
        return self._move_rows(rows, target, Action.MOVE, origin=False)

    def _move_rows(
        self, rows: list[MessageRow], target: MailboxRow, action: Action, *, origin: bool
    ) -> list[MessageSummary]:
        out: list[MessageSummary] = []
        with self._s.store.transaction():
            for row in rows:
                source = self._name_of(row.mailbox_id)
                moved = self._s.store.move_message(
                    self._me, row.id, target.id, row.mailbox_id if origin else None
                )
                self._s.audit.append(
                    record(
                        self.principal,
                        self._me,
                        source,
                        [row.id],
                        [not Flags.parse(row.flags).seen],
                        Part.NONE,
                        action,
                        detail=f"to {target.name}",
                    )
                )
                out.append(self._summary(moved, Part.NONE, action))
        return out

    def delete(self, ids: Iterable[str]) -> list[MessageSummary]:
        """Delete = move to Trash, remembering where from (restore puts it back)."""
        trash = self._special(SpecialUse.TRASH)
        rows = [r for r in self._rows(ids, Part.NONE, Action.DELETE) if r.mailbox_id != trash.id]
        return self._move_rows(rows, trash, Action.DELETE, origin=True)

    def copy(self, ids: Iterable[str], mailbox: str) -> list[MessageSummary]:
        """Copy messages: each copy is a new item, sealed anew under its own id."""
        target = self._mailbox(mailbox)
        rows = self._rows(ids, Part.RAW, Action.COPY)
        sealer = self._user()
        out: list[MessageSummary] = []
        for row in rows:
            raw = self._raw(row, Part.RAW, Action.COPY)
            new_id = new_message_id()
            sealed = reseal_fields(sealer, row.id, row.sealed, sealer, new_id)
            with self._s.store.transaction():
                self._s.blobs.put(self._me, new_id, sealer.seal(new_id, P_RAW, raw))
                new = self._s.store.insert_message(
                    self._me,
                    NewMessage(
                        new_id,
                        target.id,
                        row.internal_us,
                        row.size,
                        row.flags,
                        row.has_attachments,
                        sealed,
                    ),
                )
                self._s.audit.append(
                    record(
                        self.principal,
                        self._me,
                        self._name_of(row.mailbox_id),
                        [row.id],
                        [not Flags.parse(row.flags).seen],
                        Part.RAW,
                        Action.COPY,
                        detail=f"to {target.name} as {new_id}",
                    )
                )
            out.append(self._summary(new, Part.NONE, Action.COPY))
        return out

    def expunge(self, ids: Iterable[str]) -> int:
        """Remove messages for good, leaving sealed tombstones for the retention window."""
        rows = self._rows(ids, Part.NONE, Action.EXPUNGE)
        retention_us = self._s.retention_s * 1_000_000
        with self._s.store.transaction():
            for row in rows:
                source = self._name_of(row.mailbox_id)
                self._s.store.expunge_message(
                    self._me, row.id, self.principal.account_id, retention_us
                )
                self._s.audit.append(
                    record(
                        self.principal,
                        self._me,
                        source,
                        [row.id],
                        [not Flags.parse(row.flags).seen],
                        Part.NONE,
                        Action.EXPUNGE,
                    )
                )
        return len(rows)

    def expunge_mailbox(self, mailbox: str, *, only_deleted: bool = True) -> int:
        """Expunge a mailbox's \\Deleted messages (RFC 9051 §6.4.3), or all (empty Trash)."""
        box = self._mailbox(mailbox)
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
                self._s.store.mailbox(self._me, row.origin_mailbox_id)
                if (row.origin_mailbox_id)
                else None
            )
            target = origin or self._mailbox("INBOX")
            if target.id == row.mailbox_id:
                raise Conflict("message is not deleted")
            return self._move_rows([row], target, Action.RESTORE, origin=False)[0]
        tomb = self._s.store.tombstone(self._me, item)
        if tomb is None:
            raise NotFound("no such message")
        crossing = check_owner(tomb.account_id, self._me, tomb.id)
        if crossing is not None:
            raise self._refuse(crossing, Part.NONE, Action.RESTORE)
        target = self._s.store.mailbox(self._me, tomb.mailbox_id) or self._mailbox("INBOX")
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
        box = self._mailbox(mailbox)
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
            account = self._s.store.account_by_address(address.lower())
            if account is None or account.disabled:
                raise NotFound(f"no mailbox for {address}")
            inbox = self._s.store.mailbox_by_name(account.id, "INBOX")
            if inbox is None or inbox.account_id != account.id:
                raise NotFound(f"no INBOX for {address}")
            targets.append((address, account.id, inbox))
        summary = summarize(raw)
        sealed = [
            seal_message(account_id, self._s.keyring.sealer(account_id), inbox, raw, summary)
            for _address, account_id, inbox in targets
        ]
        store_sealed(self._s, sealed, NO_FLAGS, _now_us(), self.principal, Action.DELIVER)
        return {address: m.item for (address, _a, _i), m in zip(targets, sealed, strict=True)}
