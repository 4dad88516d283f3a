"""The door's shared machinery: binding to a principal, scoping, opening, refusing.

Every public operation of MailAccess (reading.py, changing.py) goes through these
helpers, so the rules live in one place: rows come only from queries scoped to the
principal's account, are opened only with its key, and a row that is not ours is
refused (recorded, IsolationViolation) before anything of it is returned.
"""

import time
from collections.abc import Iterable, Sequence

from mailward.access._recording import record
from mailward.access._sealing import (
    P_RAW,
    Crossing,
    check_folders,
    check_owner,
    open_summaries,
)
from mailward.access.services import Services
from mailward.audit import AuditRecord
from mailward.core.access_event import Action, Outcome, Part
from mailward.core.errors import (
    IntegrityError,
    IsolationViolation,
    NotFound,
    PermissionDenied,
)
from mailward.core.flags import Flags
from mailward.core.ids import AccountId, MailboxId, MessageId
from mailward.core.mailbox import SPECIAL_MAILBOXES, MailboxInfo, SpecialUse, validate_mailbox_name
from mailward.core.message import MessageSummary
from mailward.core.principal import Principal
from mailward.crypto import Sealer
from mailward.store import MailboxRow, MessageRow, RowRef

NO_FLAGS = Flags()
MAX_UID = 0xFFFFFFFF  # UIDs are 32-bit (RFC 9051 §2.3.1.1)
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


class Door:
    """Base of MailAccess: state and helpers; no public operations."""

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

    def _foreign_folder(self, rows: Sequence[MailboxRow]) -> Crossing | None:
        """The first folder row among `rows` that is not the principal's (its
        owner column, then its seal opened with our key): wherever the door reads
        folder rows, it checks every one it was given."""
        return check_folders(self._user(), self._me, rows, self._s.folder_seals)

    def _checked(self, row: MailboxRow, action: Action) -> MailboxRow:
        crossing = self._foreign_folder([row])
        if crossing is not None:
            raise self._refuse(crossing, Part.NONE, action)
        self._names[row.id] = row.name
        return row

    def _mailbox(self, name: str, action: Action = Action.LIST) -> MailboxRow:
        """The principal's mailbox `name`; a row that is not ours is refused
        (and recorded) for `action`."""
        row, crossing = self._looked_up(name)
        if crossing is not None:
            raise self._refuse(crossing, Part.NONE, action)
        return row

    def _looked_up(self, name: str) -> tuple[MailboxRow, Crossing | None]:
        """As `_mailbox`, with reads only: the row, and the crossing to refuse if
        it is not ours (for a caller that records refusals later, off an event
        loop)."""
        self._user()
        name = validate_mailbox_name(name)
        row = self._s.store.mailbox_by_name(self._me, name)
        if row is None:
            raise NotFound(f"no mailbox {name}")
        crossing = self._foreign_folder([row])
        if crossing is None:
            self._names[row.id] = row.name
        return row, crossing

    def _folder(self, mailbox_id: MailboxId, action: Action) -> MailboxRow | None:
        """As `_mailbox`, by id; None if there is no such mailbox of ours."""
        row = self._s.store.mailbox(self._me, mailbox_id)
        return self._checked(row, action) if row is not None else None

    def _inbox_of(self, address: str) -> tuple[AccountId, MailboxRow]:
        """The account of a local address and its INBOX, for delivery. The INBOX
        row's owner column and seal are checked with that account's key: a wrong
        join must not file one account's mail in another's INBOX (refused and
        recorded). NotFound if the address has no mailbox."""
        target = self._s.store.delivery_target(address)
        if target is None:
            raise NotFound(f"no mailbox for {address}")
        account, inbox = target
        crossing = check_folders(self._s.keyring.sealer(account.id), account.id, [inbox])
        if crossing is not None:
            raise self._refuse(crossing, Part.NONE, Action.DELIVER)
        return account.id, inbox

    def _special(self, use: SpecialUse, action: Action) -> MailboxRow:
        """The principal's mailbox for `use` (Trash, Sent). Every row the store
        returns is checked, not only the one taken: a folder row of another
        account is refused (and recorded) for `action`, as the folder list is."""
        rows = self._s.store.mailboxes(self._me)
        crossing = self._foreign_folder(rows)
        if crossing is not None:
            raise self._refuse(crossing, Part.NONE, action)
        found = next((row for row in rows if row.special_use == use.value), None)
        if found is None:
            raise NotFound(f"no {use.value} mailbox")
        self._names[found.id] = found.name
        return found

    def _name_of(self, mailbox_id: MailboxId, action: Action = Action.LIST) -> str:
        """A mailbox's name, for records and summaries (a row read for it is
        checked as `_mailbox`'s, and refused for `action`, the one under way)."""
        name = self._names.get(mailbox_id)
        if name is None:
            row = self._folder(mailbox_id, action)
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
        return self._summaries([row], part, action)[0]

    def _summaries(
        self, rows: Sequence[MessageRow], part: str, action: Action
    ) -> list[MessageSummary]:
        opened = open_summaries(self._user(), self._me, rows, lambda m: self._name_of(m, action))
        if isinstance(opened, Crossing):
            raise self._refuse(opened, part, action)
        return opened

    def _row(self, message_id: MessageId | str, part: str, action: Action) -> MessageRow:
        self._user()
        if not message_id.isalnum():
            raise NotFound("no such message")
        row = self._s.store.message(self._me, MessageId(message_id))
        if row is None:
            self._record_foreign(MessageId(message_id), part, action)
            raise NotFound("no such message")
        crossing = check_owner(row.account_id, self._me, row.id)
        if crossing is not None:
            raise self._refuse(crossing, part, action)
        return row

    def _current(self, row: RowRef) -> MessageRow | None:
        """Inside a unit (the write lock held): the message as it is now, for a
        change worked out from its flags. Another client may have changed them
        since `row` was read, and a change worked out from `row`'s would undo
        theirs. None if it is gone meanwhile (or the store answers with a row
        that is not it)."""
        now = self._s.store.message(self._me, row.id)
        if now is None or now.account_id != self._me or now.id != row.id:
            return None
        return now

    def _record_foreign(self, item: MessageId, part: str, action: Action) -> None:
        """An id that is not ours: if it is someone else's, the attempt is evidence
        (a refused record under the real owner); the caller gets NotFound either
        way, exactly as for an id that never existed."""
        owner = self._s.store.message_owner(item)
        if owner is not None and owner != self._me:
            self._s.audit.append(
                record(
                    self.principal,
                    owner,
                    "",
                    [item],
                    [],
                    part,
                    action,
                    Outcome.REFUSED,
                    "asked for another account's item",
                )
            )

    def _raw(self, row: MessageRow, part: str, action: Action) -> bytes:
        return self._open_raw(row, self._s.blobs.get(self._me, row.id), part, action)

    def _open_raw(self, row: RowRef, sealed: bytes | None, part: str, action: Action) -> bytes:
        """Open a message's sealed bytes (read already: `sealed`) with our key."""
        if sealed is None:
            raise NotFound(f"the body of {row.id} is missing")
        try:
            return self._user().open(row.id, P_RAW, sealed)
        except IntegrityError as exc:
            raise self._refuse(Crossing(row.account_id, row.id, str(exc)), part, action) from None

    def _item(
        self, message_id: str, part: str, action: Action
    ) -> tuple[MessageRow, MessageSummary]:
        """The principal's row for `message_id`, opened (or refused)."""
        row = self._row(message_id, part, action)
        return row, self._summary(row, part, action)

    def _exposed(
        self, summary: MessageSummary, part: str, action: Action, detail: str = ""
    ) -> AuditRecord:
        """The record of one of the principal's items exposed (as it was before)."""
        return record(
            self.principal,
            self._me,
            summary.mailbox,
            [summary.id],
            [summary.unread],
            part,
            action,
            detail=detail,
        )

    def _changed(
        self, row: RowRef, action: Action, detail: str = "", part: str = Part.NONE
    ) -> AuditRecord:
        """The record of a change to one of the principal's items (unread as before)."""
        return record(
            self.principal,
            self._me,
            self._name_of(row.mailbox_id, action),
            [row.id],
            [not Flags.parse(row.flags).seen],
            part,
            action,
            detail=detail,
        )

    def _rows(self, ids: Iterable[str], part: str, action: Action) -> list[MessageRow]:
        rows = [self._row(i, part, action) for i in dict.fromkeys(ids)]
        for row in rows:  # open each: a row that does not open for us is not ours
            self._summary(row, part, action)
        return rows

    def _move_rows(
        self, rows: list[MessageRow], target: MailboxRow, action: Action, *, origin: bool
    ) -> list[MessageSummary]:
        out: list[MessageSummary] = []
        with self._s.store.transaction():
            for row in rows:
                change = self._changed(row, action, f"to {target.name}")
                moved = self._s.store.move_message(
                    self._me, row.id, target.id, row.mailbox_id if origin else None
                )
                self._s.audit.append(change)
                out.append(self._summary(moved, Part.NONE, action))
        return out
