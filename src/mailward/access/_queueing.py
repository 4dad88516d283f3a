"""The outbound queue's sealed state: envelope sender, recipients and outcomes.

A queue entry belongs to its sender: the message and this state are sealed with
the sender's key, bound to the queue id (`P_RAW`, `P_STATE`).
"""

import json
from dataclasses import dataclass, replace
from enum import StrEnum

from mailward.core.errors import IntegrityError
from mailward.core.ids import AccountId, QueueId
from mailward.crypto import Sealer
from mailward.store import QueueRow

P_STATE = "queue-state"


class RecipientStatus(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class QueuedRecipient:
    """One recipient of a queued message and what happened to it so far.

    Attributes:
        detail: the last reply or error for it (e.g. "550 5.1.1 no such user").
        enhanced: its RFC 3463 status once known (e.g. "5.1.1").
    """

    address: str
    status: RecipientStatus = RecipientStatus.PENDING
    detail: str = ""
    enhanced: str = ""


@dataclass(frozen=True, slots=True)
class QueuedMail:
    """An outbound queue entry, opened (stamped with its owner, the sender)."""

    owner: AccountId
    id: QueueId
    created_us: int
    size: int
    attempts: int
    next_attempt_us: int
    mail_from: str
    recipients: tuple[QueuedRecipient, ...]

    @property
    def pending(self) -> list[str]:
        return [r.address for r in self.recipients if r.status == RecipientStatus.PENDING]

    def with_recipients(self, recipients: tuple[QueuedRecipient, ...]) -> "QueuedMail":
        return replace(self, recipients=recipients)


def seal_state(
    sealer: Sealer, queue_id: QueueId, mail_from: str, rcpts: tuple[QueuedRecipient, ...]
) -> bytes:
    doc = {
        "from": mail_from,
        "rcpts": [[r.address, r.status.value, r.detail, r.enhanced] for r in rcpts],
    }
    return sealer.seal(queue_id, P_STATE, json.dumps(doc, separators=(",", ":")).encode())


def open_queued(sealer: Sealer, row: QueueRow) -> QueuedMail:
    """Raises: IntegrityError if the state does not open for (owner, id)."""
    doc = json.loads(sealer.open(row.id, P_STATE, row.state))
    try:
        rcpts = tuple(
            QueuedRecipient(str(a), RecipientStatus(s), str(d), str(e))
            for a, s, d, e in doc["rcpts"]
        )
        mail_from = str(doc["from"])
    except (KeyError, ValueError, TypeError) as exc:
        raise IntegrityError(f"queue entry {row.id}: malformed state") from exc
    return QueuedMail(
        row.account_id,
        row.id,
        row.created_us,
        row.size,
        row.attempts,
        row.next_attempt_us,
        mail_from,
        rcpts,
    )
