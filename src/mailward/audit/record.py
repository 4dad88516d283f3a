"""One audit record, its canonical encoding, and how it is stored.

Canonical encoding (version 2), the *body*: the text fields
    "2", seq, at_us, actor_account, actor_session, protocol, remote, owner_account,
    mailbox, items (space-separated ids), unread, part, action, outcome, detail
joined with NUL, UTF-8 encoded, followed by NUL and the 32 raw bytes of the previous
record's hash. The field count is fixed and no field may hold NUL (`clean` replaces
any with U+FFFD before the record is hashed and stored), so the encoding is
unambiguous. A record's hash is SHA-256 of its body.

The body is stored as it was hashed, in one column: verifying is hashing what is
stored, and appending binds two values instead of fifteen (the row's width was
two thirds of the log's cost per record). Beside it the row keeps copies that the
database needs for lookups: `at_us` (time windows) and `others_owner` (the owner,
only for what someone other than the owner did: the "access to my mailbox" index).
`verify` checks the copies against the body.
"""

import hashlib
import importlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

GENESIS_HASH = bytes(32)
_VERSION = "2"
_FIELD_COUNT = 15
_HASH_BYTES = 32
# As bytes whatever their stored type: a tampered row (text where a blob was, bytes
# that are not UTF-8) must be reported by verify, not crash the reader.
SELECT_COLUMNS = "pos, at_us, CAST(others_owner AS BLOB), CAST(body AS BLOB), CAST(hash AS BLOB)"


class AuditRecord(NamedTuple):
    """What the caller says about one access decision (a tuple: one is built for
    every delivery and every read, where a frozen dataclass cost 8 µs).

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
        unread = self.unread
        if len(unread) == 1:  # a delivery, a change to one message: most records
            return "1" if unread[0] else "0"
        return "".join(["1" if u else "0" for u in unread])


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
    body: bytes  # the canonical encoding, as stored and hashed

    def unread_of(self, index: int) -> bool | None:
        return self.unread[index] == "1" if index < len(self.unread) else None


def clean(text: str) -> str:
    """A field as it may be stored: NUL (the separator) replaced by U+FFFD."""
    return text.replace("\x00", "\ufffd")


def encode_fields(fields: Sequence[str], items: str, unread: str, tail: Sequence[str]) -> bytes:
    """The body's fields after seq and time (`fields`: actor_account..mailbox;
    `items`: the ids space-separated; `tail`: part..detail), UTF-8 encoded: the part
    of a record that does not depend on its place in the chain, so it can be
    encoded before the writer's turn.

    Raises:
        ValueError: a field holds NUL (callers store `clean` fields only).
    """
    text = "\x00".join((*fields, items, unread, *tail))
    if text.count("\x00") != _FIELD_COUNT - 4:
        raise ValueError("audit record field holds NUL or the field count is wrong")
    return text.encode("utf-8")


# The body: version, seq and time, the encoded fields, NUL, the previous hash.
_CHAINED = bytearray(_VERSION.encode() + b"\x00%d\x00%d\x00%b\x00%b")


def chained(seq: int, at_us: int, fields: bytes, prev_hash: bytes) -> bytearray:
    """The body of a record from its encoded fields and its place in the chain.

    A bytearray: the sqlite3 module binds one as a BLOB directly, where for
    `bytes` it first looks for an adapter (raising and clearing an AttributeError
    inside, about 0.3 µs a value).
    """
    # typeshed types bytearray % as bytes; it returns a bytearray (no cast(): a
    # call, on every append)
    return _CHAINED % (seq, at_us, fields, prev_hash)  # type: ignore[return-value]


def encode(
    seq: int,
    at_us: int,
    fields: Sequence[str],
    items: str,
    unread: str,
    tail: Sequence[str],
    prev_hash: bytes,
) -> bytes:
    """The body of a record (see `encode_fields` for the arguments).

    Raises:
        ValueError: a field holds NUL.
    """
    return bytes(chained(seq, at_us, encode_fields(fields, items, unread, tail), prev_hash))


def record_hash(body: bytes | bytearray) -> bytes:
    """SHA-256 of a body through OpenSSL: the faster one for many in a row
    (verify walks the whole log)."""
    return hashlib.sha256(body).digest()


def _builtin_sha256() -> Callable[[bytes | bytearray], "hashlib._Hash"]:
    """CPython's own SHA-256 (`_sha2` from 3.12, `_sha256` before), else OpenSSL's.

    The writer hashes one record between a delivery's sealing and its row insert,
    with the CPU's caches full of other work. There OpenSSL's digest path (context
    allocation, provider lookup, locks) cost about 11 µs a record in place, where
    a loop of hashes takes 0.4 µs; CPython's smaller code took about 5 µs.
    The digest is the same (tests compare the two).
    """
    for name in ("_sha2", "_sha256"):
        try:
            return importlib.import_module(name).sha256  # type: ignore[no-any-return]
        except (ImportError, AttributeError):
            continue
    return hashlib.sha256


_sha256_builtin = _builtin_sha256()


def chain_hash(body: bytes | bytearray) -> bytes:
    """SHA-256 of one body as the writer appends it (see `_builtin_sha256`)."""
    return _sha256_builtin(body).digest()


def others_owner(owner: str, actor: str, action: str) -> str | None:
    """The owner, when the record is about someone else touching the owner's mail
    (not a delivery); else None. Stored to index "access to my mailbox"."""
    return owner if actor != owner and action != "deliver" else None


class MalformedRecord(ValueError):
    """A stored body that is not a canonical encoding."""


def decode(pos: int, body: bytes, digest: bytes) -> StoredRecord:
    """Parse a stored body.

    Raises:
        MalformedRecord: not a version-2 encoding with the right number of fields.
    """
    if len(body) < _HASH_BYTES + 1 or body[-_HASH_BYTES - 1] != 0:
        raise MalformedRecord("body too short or not NUL before the previous hash")
    try:
        parts = body[: -_HASH_BYTES - 1].decode("utf-8").split("\x00")
    except UnicodeDecodeError as exc:
        raise MalformedRecord("body is not UTF-8") from exc
    if len(parts) != _FIELD_COUNT or parts[0] != _VERSION:
        raise MalformedRecord("wrong version or field count")
    try:
        seq, at_us = int(parts[1]), int(parts[2])
    except ValueError as exc:
        raise MalformedRecord("seq or time is not a number") from exc
    return StoredRecord(
        pos=pos,
        seq=seq,
        at_us=at_us,
        actor_account=parts[3],
        actor_session=parts[4],
        protocol=parts[5],
        remote=parts[6],
        owner_account=parts[7],
        mailbox=parts[8],
        items=tuple(parts[9].split()) if parts[9] else (),
        unread=parts[10],
        part=parts[11],
        action=parts[12],
        outcome=parts[13],
        detail=parts[14],
        prev_hash=body[-_HASH_BYTES:],
        hash=digest,
        body=body,
    )


def from_row(row: tuple[int, int, bytes | None, bytes, bytes]) -> StoredRecord:
    """A row selected with SELECT_COLUMNS."""
    return decode(row[0], row[3], row[4])
