"""Sealing a new message for its owner, and opening rows for the principal served.

`open_row` is where a cross-wired row is caught: the owner column is compared with
the account served, then every sealed field is opened with the served account's
key and owner-bound associated data, so even a row whose owner column lies (a
wrong join) fails authentication instead of decrypting.
"""

from dataclasses import dataclass
from datetime import UTC, datetime

from mailward.core.errors import IntegrityError
from mailward.core.flags import Flags
from mailward.core.ids import AccountId, MessageId
from mailward.core.message import MessageSummary
from mailward.crypto import Sealer
from mailward.mime import Summary
from mailward.store import MessageRow, RowRef, SealedFields

# Part names bound into the associated data of each sealed value.
P_SUBJECT, P_FROM, P_TO, P_CC, P_SNIPPET, P_RAW = "subject", "from", "to", "cc", "snippet", "raw"


def seal_fields(sealer: Sealer, item: MessageId, s: Summary) -> SealedFields:
    return SealedFields(
        subject=sealer.seal_text(item, P_SUBJECT, s.subject),
        sender=sealer.seal_text(item, P_FROM, s.sender),
        to=sealer.seal_text(item, P_TO, s.to),
        cc=sealer.seal_text(item, P_CC, s.cc),
        snippet=sealer.seal_text(item, P_SNIPPET, s.snippet),
    )


def reseal_fields(
    source: Sealer, item: MessageId, f: SealedFields, target: Sealer, new_item: MessageId
) -> SealedFields:
    """Open under (source, item) and seal under (target, new_item): copies get their own."""

    def move(part: str, value: bytes) -> bytes:
        return target.seal(new_item, part, source.open(item, part, value))

    return SealedFields(
        move(P_SUBJECT, f.subject),
        move(P_FROM, f.sender),
        move(P_TO, f.to),
        move(P_CC, f.cc),
        move(P_SNIPPET, f.snippet),
    )


@dataclass(frozen=True, slots=True)
class Crossing:
    """Why a row may not be handed to the principal."""

    owner: str
    item: str
    detail: str


def check_owner(row_owner: str, served: AccountId, item: str) -> Crossing | None:
    if row_owner != served:
        return Crossing(row_owner, item, "row belongs to another account")
    return None


def check_sealed(sealer: Sealer, served: AccountId, row: RowRef, subject: bytes) -> Crossing | None:
    """The owner column, then one sealed field of the row (its `subject`) opened:
    the cheap form of `open_summary`'s checks, for paths that hand out no list
    fields (IMAP and POP3 fetches). A row whose sealed fields are another
    account's fails here, not only when they are shown."""
    crossing = check_owner(row.account_id, served, row.id)
    if crossing is not None:
        return crossing
    try:
        sealer.open_text(row.id, P_SUBJECT, subject)
    except IntegrityError as exc:
        return Crossing(row.account_id, row.id, f"sealed field does not open: {exc}")
    return None


def open_summary(
    sealer: Sealer, served: AccountId, row: MessageRow, mailbox_name: str
) -> MessageSummary | Crossing:
    """Open a row's sealed fields for `served`, or say why it must be refused."""
    crossing = check_owner(row.account_id, served, row.id)
    if crossing is not None:
        return crossing
    s = row.sealed
    try:
        subject = sealer.open_text(row.id, P_SUBJECT, s.subject)
        sender = sealer.open_text(row.id, P_FROM, s.sender)
        to = sealer.open_text(row.id, P_TO, s.to)
        cc = sealer.open_text(row.id, P_CC, s.cc)
        snippet = sealer.open_text(row.id, P_SNIPPET, s.snippet)
    except IntegrityError as exc:
        return Crossing(row.account_id, row.id, f"sealed field does not open: {exc}")
    return MessageSummary(
        owner=served,
        id=row.id,
        mailbox_id=row.mailbox_id,
        mailbox=mailbox_name,
        uid=row.uid,
        modseq=row.modseq,
        internal_date=datetime.fromtimestamp(row.internal_us / 1e6, UTC),
        size=row.size,
        flags=Flags.parse(row.flags),
        subject=subject,
        sender=sender,
        to=to,
        cc=cc,
        snippet=snippet,
        has_attachments=row.has_attachments,
    )
