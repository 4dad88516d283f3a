"""Sending mail as the principal: local delivery, the Sent copy and the outbound
queue, as one durable unit (SMTP submission and the web's compose share it)."""

from collections.abc import Sequence
from dataclasses import dataclass
from email.parser import BytesHeaderParser
from email.policy import compat32
from email.utils import getaddresses

from mailward.access._door import Door, _now_us
from mailward.access._ingest import seal_message, store_sealed
from mailward.access._queueing import QueuedRecipient, seal_state
from mailward.access._recording import record
from mailward.access._sealing import P_RAW
from mailward.core.access_event import Action, Part
from mailward.core.errors import InvalidInput, PermissionDenied
from mailward.core.flags import Flags
from mailward.core.ids import AccountId, MessageId, QueueId, new_queue_id
from mailward.core.mailbox import SpecialUse
from mailward.core.message import MessageSummary
from mailward.mime import summarize
from mailward.store import QueueRow

QUEUE_MAILBOX = "(outbound queue)"  # the audit record's mailbox for queued mail


@dataclass(frozen=True, slots=True)
class Submitted:
    """What a submission stored: local deliveries, the Sent copy, the queue entry."""

    owner: AccountId
    delivered: dict[str, MessageId]
    sent: MessageSummary
    queued: QueueId | None
    foreign: tuple[str, ...]


def domain_of(address: str) -> str:
    return address.rpartition("@")[2].lower()


def header_senders(raw: bytes) -> list[str]:
    """The addresses in the message's From: fields (lower-cased)."""
    headers = BytesHeaderParser(policy=compat32).parsebytes(raw)
    values = [str(v) for v in headers.get_all("From", [])]
    return [addr.lower() for _name, addr in getaddresses(values) if addr]


class Submitting(Door):
    """MailAccess operations for mail the principal sends."""

    def check_sender(self, mail_from: str) -> None:
        """The envelope sender must be the principal's own address.

        Raises:
            PermissionDenied: it is not (RFC 6409 §6.1: the MSA may enforce this).
        """
        self._user()
        if mail_from.lower() != self.principal.address.lower():
            raise PermissionDenied(f"sender {mail_from} is not {self.principal.address}")

    def is_local(self, address: str) -> bool:
        """Whether mail for `address` stays in this service (its domain is ours)."""
        return self._s.store.domain_id(domain_of(address)) is not None

    def recipient_exists(self, address: str) -> bool:
        """Whether a local address has a live account (the MX answers 550 5.1.1
        otherwise, as every mail server does)."""
        return self._s.store.delivery_target(address.lower()) is not None

    def submit(self, mail_from: str, recipients: Sequence[str], raw: bytes) -> Submitted:
        """Send `raw` from the principal to `recipients`.

        Local recipients get their copy in their INBOX (each sealed with their own
        key), the principal gets a copy in Sent, foreign recipients go to the
        outbound queue; all of it commits together or not at all.

        Raises:
            PermissionDenied: the envelope sender or a From: address is not the
                principal's (RFC 6409 §8.1 lets an MSA refuse that).
            InvalidInput: no recipients, or no From: field.
            NotFound: a recipient in a local domain has no account.
        """
        sealer = self._user()
        self.check_sender(mail_from)
        if not recipients:
            raise InvalidInput("no recipients")
        senders = header_senders(raw)
        if not senders:
            raise InvalidInput("the message has no From: field")
        mine = self.principal.address.lower()
        if any(s != mine for s in senders):
            raise PermissionDenied(f"From: must be {self.principal.address}")
        local, foreign = [], []
        for rcpt in dict.fromkeys(r.lower() for r in recipients):
            if not self.is_local(rcpt):
                foreign.append(rcpt)
                continue
            local.append((rcpt, self._inbox_of(rcpt)))
        summary = summarize(raw)
        deliveries = [
            seal_message(account_id, self._s.keyring.sealer(account_id), inbox, raw, summary)
            for _rcpt, (account_id, inbox) in local
        ]
        sent_box = self._special(SpecialUse.SENT, Action.APPEND)
        sent = seal_message(self._me, sealer, sent_box, raw, summary)
        queue_id = new_queue_id() if foreign else None
        stamp = _now_us()

        def unit() -> MessageSummary:
            if deliveries:
                # Local delivery of a submission is the sender's act, on its session.
                store_sealed(self._s, deliveries, Flags(), stamp, self.principal, Action.DELIVER)
            (sent_row,) = store_sealed(
                self._s, [sent], Flags.parse("\\Seen"), stamp, self.principal, Action.APPEND
            )
            if queue_id is not None:
                self._enqueue(queue_id, mail_from, tuple(foreign), raw, stamp)
            return self._summary(sent_row, Part.NONE, Action.APPEND)

        try:
            sent_summary = self._s.store.atomically(unit)
        except BaseException:
            if queue_id is not None:
                self._s.blobs.delete(self._me, queue_id)
            raise
        return Submitted(
            self._me,
            {rcpt: m.item for (rcpt, _t), m in zip(local, deliveries, strict=True)},
            sent_summary,
            queue_id,
            tuple(foreign),
        )

    def _enqueue(
        self, queue_id: QueueId, mail_from: str, foreign: tuple[str, ...], raw: bytes, now_us: int
    ) -> None:
        sealer = self._user()
        self._s.blobs.put(self._me, queue_id, sealer.seal(queue_id, P_RAW, raw))
        state = seal_state(sealer, queue_id, mail_from, tuple(QueuedRecipient(a) for a in foreign))
        self._s.store.enqueue(QueueRow(self._me, queue_id, now_us, len(raw), 0, now_us, state))
        self._s.audit.append(
            record(self.principal, self._me, QUEUE_MAILBOX, [queue_id], [], Part.RAW, Action.QUEUE)
        )


__all__ = ["QUEUE_MAILBOX", "Submitted", "Submitting", "header_senders"]
