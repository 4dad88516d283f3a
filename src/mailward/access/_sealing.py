"""Sealing a new message for its owner, and opening rows for the principal served.

`open_summary` is where a cross-wired row is caught: the owner column is compared
with the account served, then the sealed list fields are opened with the served
account's key and owner-bound associated data, so even a row whose owner column
lies (a wrong join) fails authentication instead of decrypting.

A message's five list fields (subject, from, to, cc, snippet) are sealed together
as one value, part "summary": a page of 50 opens 50 values, not 250 (each opening
costs the AES-GCM set-up, and each value its own hex in the page's query).
"""

from dataclasses import dataclass
from datetime import UTC, datetime

from mailward.core.errors import IntegrityError
from mailward.core.flags import Flags
from mailward.core.ids import AccountId, MessageId
from mailward.core.message import MessageSummary
from mailward.crypto import Sealer
from mailward.mime import Summary
from mailward.store import MessageRow, RowRef

# Part names bound into the associated data of each sealed value.
P_SUMMARY, P_RAW = "summary", "raw"
_SEP = "\x00"  # never in a header field (RFC 5322 §2.2); replaced if a malformed one has it


def list_fields(subject: str, sender: str, to: str, cc: str, snippet: str) -> bytes:
    """The plaintext of a message's sealed list fields."""
    fields = (subject, sender, to, cc, snippet)
    text = _SEP.join(f.replace(_SEP, "\ufffd") for f in fields)
    return text.encode("utf-8", "surrogatepass")


def opened_fields(sealer: Sealer, item: str, sealed: bytes) -> list[str]:
    """[subject, sender, to, cc, snippet] of a message of `sealer`'s owner.

    Raises:
        IntegrityError: the value is not this owner's for `item`, or was tampered with.
    """
    fields = sealer.open_text(item, P_SUMMARY, sealed).split(_SEP)
    if len(fields) != 5:
        raise IntegrityError(f"sealed list fields of {item} are malformed")
    return fields


def seal_fields(sealer: Sealer, item: MessageId, s: Summary) -> bytes:
    plain = list_fields(s.subject, s.sender, s.to, s.cc, s.snippet)
    return sealer.seal(item, P_SUMMARY, plain)


def reseal_fields(
    source: Sealer, item: MessageId, sealed: bytes, target: Sealer, new_item: MessageId
) -> bytes:
    """Open under (source, item) and seal under (target, new_item): copies get their own."""
    return target.seal(new_item, P_SUMMARY, source.open(item, P_SUMMARY, sealed))


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


def check_sealed(sealer: Sealer, served: AccountId, row: RowRef, sealed: bytes) -> Crossing | None:
    """The owner column, then the row's sealed list fields opened: `open_summary`'s
    checks for paths that hand out no list fields (IMAP and POP3 fetches). A row
    whose sealed fields are another account's fails here, not only when shown."""
    crossing = check_owner(row.account_id, served, row.id)
    if crossing is not None:
        return crossing
    try:
        sealer.open(row.id, P_SUMMARY, sealed)
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
    try:
        subject, sender, to, cc, snippet = opened_fields(sealer, row.id, row.sealed)
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
