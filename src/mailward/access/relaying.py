"""The outbound queue's door, for the system: what is due, the message to hand to
the smarthost (recorded), outcomes, and the end of an entry (with its bounce).

The system reads no mailbox, but it must read a queued message to relay it: a
queue entry is opened with its sender's key, bound to the entry's id, and every
opening of the message is recorded (action `relay`, part `raw`) before the bytes
are returned, like any other exposure.
"""

import time
from dataclasses import dataclass

from mailward.access._ingest import seal_message, store_sealed
from mailward.access._queueing import (
    QueuedMail,
    QueuedRecipient,
    open_queued,
    seal_state,
)
from mailward.access._recording import record
from mailward.access._sealing import P_RAW, Crossing, check_folders
from mailward.access.services import Services
from mailward.access.submitting import QUEUE_MAILBOX
from mailward.core.access_event import Action, Outcome, Part
from mailward.core.errors import IntegrityError, NotFound, PermissionDenied
from mailward.core.flags import Flags
from mailward.core.ids import AccountId, QueueId
from mailward.core.principal import Principal
from mailward.mime import summarize
from mailward.store import QueueRow

# A bounce whose INBOX row is refused is tried again this much later.
BOUNCE_RETRY_S = 3600


@dataclass(frozen=True, slots=True)
class Unopenable:
    """A queue entry whose state does not open (damaged or cross-wired)."""

    owner: AccountId
    id: QueueId
    reason: str


class Relaying:
    """The system's door to the outbound queue."""

    def __init__(self, principal: Principal, services: Services) -> None:
        if not principal.is_system:
            raise PermissionDenied("only the system relays queued mail")
        self.principal = principal
        self._s = services

    def _open(self, row: QueueRow) -> QueuedMail | Unopenable:
        try:
            return open_queued(self._s.keyring.sealer(row.account_id), row)
        except IntegrityError as exc:
            self._s.audit.append(
                record(
                    self.principal,
                    row.account_id,
                    QUEUE_MAILBOX,
                    [row.id],
                    [],
                    Part.ENVELOPE,
                    Action.READ,
                    Outcome.REFUSED,
                    str(exc),
                )
            )
            return Unopenable(row.account_id, row.id, str(exc))

    def due(self, now_us: int, limit: int = 100) -> list[QueuedMail | Unopenable]:
        """Entries due for an attempt, oldest first."""
        return [self._open(r) for r in self._s.store.due_queue(now_us, limit)]

    def entries(self) -> list[QueuedMail | Unopenable]:
        """Every entry (operator view; opening the envelopes is recorded)."""
        out = []
        for row in self._s.store.all_queued():
            opened = self._open(row)
            if isinstance(opened, QueuedMail):
                self._s.audit.append(
                    record(
                        self.principal,
                        row.account_id,
                        QUEUE_MAILBOX,
                        [row.id],
                        [],
                        Part.ENVELOPE,
                        Action.READ,
                    )
                )
            out.append(opened)
        return out

    def message(self, q: QueuedMail) -> bytes:
        """The queued message, to hand to the smarthost (recorded first)."""
        sealed = self._s.blobs.get(q.owner, q.id)
        raw = self._s.keyring.sealer(q.owner).open(q.id, P_RAW, sealed)
        self._s.audit.append(
            record(
                self.principal,
                q.owner,
                QUEUE_MAILBOX,
                [q.id],
                [],
                Part.RAW,
                Action.RELAY,
                detail=f"to {len(q.pending)} recipient(s)",
            )
        )
        return raw

    def update(self, q: QueuedMail, attempts: int, next_attempt_us: int) -> None:
        """Store the outcome of an attempt (q's recipients as they are now)."""
        sealer = self._s.keyring.sealer(q.owner)
        state = seal_state(sealer, q.id, q.mail_from, q.recipients)
        self._s.store.update_queued(q.owner, q.id, attempts, next_attempt_us, state)

    def finish(self, q: QueuedMail, bounce: bytes | None) -> bool:
        """Remove the entry; deliver `bounce` (a DSN) into the sender's INBOX in the
        same unit, so the sender is told exactly once. False if the INBOX row is
        not the sender's (its owner column or seal): the bounce is not filed, the
        refusal is recorded, and the entry stays, to be tried again after
        BOUNCE_RETRY_S."""

        def unit() -> Crossing | None:
            inbox = self._s.store.mailbox_by_name(q.owner, "INBOX")
            if bounce is not None and inbox is not None:
                sealer = self._s.keyring.sealer(q.owner)
                crossing = check_folders(sealer, q.owner, [inbox])
                if crossing is not None:
                    return crossing
                sealed = seal_message(q.owner, sealer, inbox, bounce, summarize(bounce))
                store_sealed(self._s, [sealed], Flags(), _now_us(), self.principal, Action.DELIVER)
            self._s.store.dequeue(q.owner, q.id)
            return None

        crossing = self._s.store.atomically(unit)
        if crossing is not None:
            self._s.audit.append(
                record(
                    self.principal,
                    crossing.owner,
                    "INBOX",
                    [crossing.item],
                    [],
                    Part.NONE,
                    Action.DELIVER,
                    Outcome.REFUSED,
                    f"bounce of {q.id}: {crossing.detail}",
                )
            )
            self.update(q, q.attempts, _now_us() + BOUNCE_RETRY_S * 1_000_000)
            return False
        self._s.blobs.delete(q.owner, q.id)
        return True

    def delete(self, owner: AccountId, queue_id: QueueId) -> None:
        """Drop an entry without sending or bouncing it (operator)."""
        if self._s.store.queued(owner, queue_id) is None:
            raise NotFound(f"no queue entry {queue_id}")
        self._s.store.dequeue(owner, queue_id)
        self._s.blobs.delete(owner, queue_id)

    def flush(self, now_us: int) -> int:
        """Make every entry due now."""
        return self._s.store.reschedule_all(now_us)


def _now_us() -> int:
    return time.time_ns() // 1000


__all__ = ["QueuedMail", "QueuedRecipient", "Relaying", "Unopenable"]
