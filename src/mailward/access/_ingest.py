"""Bringing a new message in: seal it for its owner, then store blob, row and audit
record as one unit of work (durable together, or not at all)."""

from dataclasses import dataclass

from mailward.access._sealing import P_RAW, seal_fields
from mailward.access.services import Services
from mailward.audit import Prepared, encode_one
from mailward.core.access_event import Action, Part
from mailward.core.errors import InvalidInput
from mailward.core.flags import Flags
from mailward.core.ids import AccountId, MessageId, new_message_id
from mailward.core.principal import Principal
from mailward.crypto import Sealer
from mailward.mime import Summary, crlf_lines
from mailward.store import MailboxRow, MessageRow, NewMessage

MAX_MESSAGE_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class SealedMessage:
    """A new message sealed for `owner`, not yet stored."""

    owner: AccountId
    box: MailboxRow
    item: MessageId
    fields: bytes  # the list fields, sealed as one value
    raw: bytes  # sealed
    size: int
    has_attachments: bool


def seal_message(
    owner: AccountId, sealer: Sealer, box: MailboxRow, raw: bytes, summary: Summary
) -> SealedMessage:
    """Give a new message its id and seal its body and private fields (CPU only).
    Lines are stored ending in CRLF, as every protocol sends them."""
    raw = crlf_lines(raw)
    if len(raw) > MAX_MESSAGE_BYTES:
        raise InvalidInput(f"message larger than {MAX_MESSAGE_BYTES} bytes")
    item = new_message_id()
    return SealedMessage(
        owner,
        box,
        item,
        seal_fields(sealer, item, summary),
        sealer.seal(item, P_RAW, raw),
        len(raw),
        summary.has_attachments,
    )


def store_sealed(
    s: Services,
    messages: list[SealedMessage],
    flags: Flags,
    stamp_us: int,
    principal: Principal,
    action: Action,
) -> list[MessageRow]:
    """Store blobs, rows and audit records of `messages` in one durable unit."""

    # Large blobs are files, fsynced now, before the unit: in parallel with other
    # callers, not inside the writer's turn. A crash before the commit leaves an
    # orphan file (no row names it), never a row without its body.
    apart = {m.item for m in messages if not s.blobs.joins_transaction(len(m.raw))}
    # The records are encoded here, outside the writer's turn (and not built at all
    # when the log is off).
    unread = not flags.seen
    p = principal
    ready: list[Prepared | None] = (
        [
            encode_one(
                p.account_id,
                p.session_id,
                p.protocol,
                p.remote,
                m.owner,
                m.box.name,
                m.item,
                unread,
                Part.NONE,
                action,
            )
            for m in messages
        ]
        if s.audit.enabled
        else [None] * len(messages)
    )

    def unit() -> list[MessageRow]:
        rows: list[MessageRow] = []
        for m, prepared in zip(messages, ready, strict=True):
            if m.item not in apart:
                s.blobs.put(m.owner, m.item, m.raw)
            new = NewMessage(
                m.item, m.box.id, stamp_us, m.size, flags.text(), m.has_attachments, m.fields
            )
            rows.append(s.store.insert_message(m.owner, new))
            s.audit.append_prepared(prepared)
        return rows

    try:
        for m in messages:
            if m.item in apart:
                s.blobs.put(m.owner, m.item, m.raw)
        return s.store.atomically(unit)
    except BaseException:
        for m in messages:  # a large blob may have reached the filesystem already
            s.blobs.delete(m.owner, m.item)
        raise
