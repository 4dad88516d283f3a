"""One audit record and its canonical encoding.

Canonical encoding (version 2): the text fields
    "2", seq, at_us, actor_account, actor_session, protocol, remote, owner_account,
    mailbox, items (space-separated ids), unread, part, action, outcome, detail
joined with NUL, UTF-8 encoded, followed by NUL and the 32 raw bytes of the previous
record's hash. The field count is fixed and no field may hold NUL (`clean` replaces
any with U+FFFD before the record is hashed and stored), so the encoding is
unambiguous. The hash is SHA-256 of those bytes. (Version 1 was a JSON array; it
cost five times as much per record and nothing was ever written with it.)
"""

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

GENESIS_HASH = bytes(32)
_COLUMNS = (
    "seq, at_us, actor_account, actor_session, protocol, remote, owner_account, mailbox,"
    " items, unread, part, action, outcome, detail, prev_hash, hash"
)


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """What the caller says about one access decision.

    Attributes:
        items: every item exposed or changed (a listing names all N).
        unread: per item, whether it was unread by its owner before this access;
            empty when not applicable (e.g. a refused attempt on an unknown row).
    """

    actor_account: str
    actor_session: str
    protocol: str
    remote: str
    owner_account: str
    mailbox: str
    items: Sequence[str]
    unread: Sequence[bool]
    part: str
    action: str
    outcome: str
    detail: str = ""

    def unread_text(self) -> str:
        return "".join("1" if u else "0" for u in self.unread)


@dataclass(frozen=True, slots=True)
class StoredRecord:
    """A record as stored: with position, sequence, time and chain hashes."""

    pos: int
    seq: int
    at_us: int
    actor_account: str
    actor_session: str
    protocol: str
    remote: str
    owner_account: str
    mailbox: str
    items: tuple[str, ...]
    unread: str
    part: str
    action: str
    outcome: str
    detail: str
    prev_hash: bytes
    hash: bytes

    def unread_of(self, index: int) -> bool | None:
        return self.unread[index] == "1" if index < len(self.unread) else None


_VERSION = "2"
_FIELD_COUNT = 15


def clean(text: str) -> str:
    """A field as it may be stored: NUL (the separator) replaced by U+FFFD."""
    return text.replace("\x00", "\ufffd")


def canonical(
    seq: int,
    at_us: int,
    fields: Sequence[str],
    items: Sequence[str],
    unread: str,
    tail: Sequence[str],
    prev_hash: bytes,
) -> bytes:
    """Encode a record. `fields`: actor_account..mailbox; `tail`: part..detail.

    Raises:
        ValueError: a field holds NUL (callers store `clean` fields only).
    """
    text = "\x00".join((_VERSION, str(seq), str(at_us), *fields, " ".join(items), unread, *tail))
    if text.count("\x00") != _FIELD_COUNT - 1:
        raise ValueError("audit record field holds NUL or the field count is wrong")
    return text.encode("utf-8") + b"\x00" + prev_hash


def record_hash(
    seq: int,
    at_us: int,
    fields: Sequence[str],
    items: Sequence[str],
    unread: str,
    tail: Sequence[str],
    prev_hash: bytes,
) -> bytes:
    return hashlib.sha256(canonical(seq, at_us, fields, items, unread, tail, prev_hash)).digest()


def stored_hash(r: StoredRecord) -> bytes:
    """Recompute the hash of a stored record from its contents."""
    return record_hash(
        r.seq,
        r.at_us,
        (r.actor_account, r.actor_session, r.protocol, r.remote, r.owner_account, r.mailbox),
        r.items,
        r.unread,
        (r.part, r.action, r.outcome, r.detail),
        r.prev_hash,
    )


SELECT_COLUMNS = "pos, " + _COLUMNS


def from_row(row: Any) -> StoredRecord:
    items = str(row[9])
    return StoredRecord(
        pos=int(row[0]),
        seq=int(row[1]),
        at_us=int(row[2]),
        actor_account=str(row[3]),
        actor_session=str(row[4]),
        protocol=str(row[5]),
        remote=str(row[6]),
        owner_account=str(row[7]),
        mailbox=str(row[8]),
        items=tuple(items.split()) if items else (),
        unread=str(row[10]),
        part=str(row[11]),
        action=str(row[12]),
        outcome=str(row[13]),
        detail=str(row[14]),
        prev_hash=bytes(row[15]),
        hash=bytes(row[16]),
    )
