"""The system's door for incidents: undoing what someone other than an owner did
to the owner's mail (`mailward incident restore`), and naming the attachments an
incident exposed (the report says "attachment 2 (contract.pdf)").

Undoing opens no mail: flags, folders and expunged items go back as the owner's
data says they were, on the owner's behalf. Naming attachments opens the message
with its owner's key and hands out only the names. Both are recorded (actor the
system, the incident named in the detail), so the owner sees them too.
"""

import time

from mailward.access._queueing import QueuedRecipient, seal_state
from mailward.access._recording import record
from mailward.access._sealing import P_RAW, check_folders
from mailward.access.services import Services
from mailward.access.submitting import QUEUE_MAILBOX
from mailward.audit import AuditRecord
from mailward.core.access_event import Action, Outcome, Part
from mailward.core.errors import IntegrityError, PermissionDenied
from mailward.core.flags import Flags
from mailward.core.ids import AccountId, MessageId, new_queue_id
from mailward.core.principal import Principal
from mailward.mime import open_message
from mailward.store import MailboxRow, QueueRow

RESTORED = "restored"
REFUSED_FOLDER = "a folder row was not the owner's: refused and recorded"


class Restoring:
    def __init__(self, principal: Principal, services: Services) -> None:
        if not principal.is_system:
            raise PermissionDenied("only the system restores for an incident")
        self.principal = principal
        self._s = services
        self._refusals: list[AuditRecord] = []

    def write_refusals(self) -> None:
        """Record, durably, the folder rows `undo` refused. Called after each undo's
        unit whatever became of it: an undo that failed later must not take the
        evidence down with its unit."""
        refusals, self._refusals = self._refusals, []
        if refusals:
            self._s.audit.append_many(refusals)

    def undo(
        self,
        owner: AccountId,
        item: MessageId,
        action: str,
        mailbox: str,
        detail: str,
        incident: int,
    ) -> str:
        """Undo one change (`action` on `item`, recorded in `mailbox` with `detail`);
        returns "restored" or why it could not be. A folder row it refuses is
        recorded by `write_refusals`, after the unit this runs in."""
        store = self._s.store
        note = f"incident {incident}: undo {action}"
        refused: list[str] = []

        def checked(row: MailboxRow | None) -> MailboxRow | None:
            """`row` if it is the owner's; a folder row that is not is refused,
            recorded, and taken as gone."""
            if row is None:
                return None
            crossing = check_folders(self._s.keyring.sealer(owner), owner, [row])
            if crossing is None:
                return row
            self._refusals.append(
                record(
                    self.principal, crossing.owner, "", [crossing.item], [], Part.NONE,
                    Action.RESTORE, Outcome.REFUSED, f"{note}: {crossing.detail}",
                )
            )  # fmt: skip
            refused.append(crossing.item)
            return None

        def by_name(name: str) -> MailboxRow | None:
            return checked(store.mailbox_by_name(owner, name))

        if action == "expunge":
            tomb = store.tombstone(owner, item)
            if tomb is None or tomb.account_id != owner:
                return "its tombstone is gone (past retention)"
            target = by_name(mailbox) or (by_name("INBOX") if mailbox != "INBOX" else None)
            if target is None:
                return REFUSED_FOLDER if refused else "no mailbox to restore it into"
            with store.transaction():
                store.restore_tombstone(owner, item, target.id)
                self._record(owner, target.name, item, Flags.parse(tomb.flags), note)
            return f"{RESTORED} into INBOX ({REFUSED_FOLDER})" if refused else RESTORED
        row = store.message(owner, item)
        if row is None or row.account_id != owner:
            return "the message no longer exists"
        if action == "flag":
            add = Flags.of(*(f[1:] for f in detail.split() if f.startswith("+")))
            remove = Flags.of(*(f[1:] for f in detail.split() if f.startswith("-")))
            with store.transaction():  # the inverse, of the flags as they are now
                current = store.message(owner, item)
                if current is None or current.account_id != owner:
                    return "the message no longer exists"
                flags = Flags.parse(current.flags).minus(add).union(remove)
                store.set_flags(owner, item, flags.text())
                self._record(owner, mailbox, item, flags, note)
            return RESTORED
        if action in ("move", "delete"):
            moved_to = detail.removeprefix("to ").strip()
            now = checked(store.mailbox(owner, row.mailbox_id))
            if refused:
                return REFUSED_FOLDER
            if now is None or now.name != moved_to:
                return f"it has been moved since (now in {now.name if now else 'no folder'})"
            back = by_name(mailbox)
            if back is None:
                return REFUSED_FOLDER if refused else f"its folder {mailbox} no longer exists"
            with store.transaction():
                store.move_message(owner, item, back.id, None)
                self._record(owner, back.name, item, Flags.parse(row.flags), note)
            return RESTORED
        return "nothing was lost (a copy or an addition)"

    def attachment_names(
        self, owner: AccountId, items: list[MessageId], incident: int
    ) -> dict[MessageId, dict[int, str]]:
        """The attachments' names (by number) of `owner`'s messages `items`; one
        record names every message looked into. Gone or unopenable ones are left out."""
        store, out = self._s.store, {}
        sealer = self._s.keyring.sealer(owner)
        for item in items:
            row = store.message(owner, item)
            if row is None or row.account_id != owner:
                continue
            try:
                raw = sealer.open(item, P_RAW, self._s.blobs.get(owner, item))
            except (IntegrityError, OSError):
                continue
            out[item] = {a.index: a.filename for a in open_message(raw).attachments}
        if out:
            looked = record(
                self.principal, owner, "", list(out), [], Part.ATTACHMENT_NAMES, Action.READ,
                detail=f"incident {incident}: attachment names for the report",
            )  # fmt: skip
            self._s.audit.append(looked)
        return out

    def queue_notice(
        self, owner: AccountId, mail_from: str, external: str, raw: bytes, incident: int
    ) -> None:
        """Queue a notice to the owner's own outside address: sealed with the
        owner's key like the owner's own outgoing mail, relayed by the queue."""
        sealer = self._s.keyring.sealer(owner)
        queue_id, now = new_queue_id(), time.time_ns() // 1000
        with self._s.store.transaction():
            self._s.blobs.put(owner, queue_id, sealer.seal(queue_id, P_RAW, raw))
            state = seal_state(sealer, queue_id, mail_from, (QueuedRecipient(external),))
            self._s.store.enqueue(QueueRow(owner, queue_id, now, len(raw), 0, now, state))
            queued = record(
                self.principal, owner, QUEUE_MAILBOX, [queue_id], [], Part.RAW, Action.QUEUE,
                detail=f"incident {incident}: notice to the account's outside address",
            )  # fmt: skip
            self._s.audit.append(queued)

    def _record(
        self, owner: AccountId, mailbox: str, item: MessageId, flags: Flags, note: str
    ) -> None:
        change = record(
            self.principal, owner, mailbox, [item], [not flags.seen], Part.NONE, Action.RESTORE,
            detail=note,
        )  # fmt: skip
        self._s.audit.append(change)
