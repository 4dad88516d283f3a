"""Appending to the log inside the caller's write transaction."""

import contextlib
import sqlite3
import time
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path

from mailward.audit.head import Head, HeadError, HeadPublisher, read_head
from mailward.audit.record import (
    GENESIS_HASH,
    SELECT_COLUMNS,
    AuditRecord,
    MalformedRecord,
    chain_hash,
    chained,
    clean,
    encode_fields,
    from_row,
    others_owner,
)
from mailward.db import Database, apply_migrations, load_migrations

# Deliveries and owners' own reads, most of the log, leave others_owner NULL: not
# bound at all (the sqlite3 module looks for an adapter for None, as for bytes).
_INSERT = "INSERT INTO audit_log (pos, at_us, body, hash) VALUES (?, ?, ?, ?)"
_INSERT_OTHERS = (
    "INSERT INTO audit_log (pos, at_us, others_owner, body, hash) VALUES (?, ?, ?, ?, ?)"
)

# A record ready for the chain: its encoded fields, and the owner when someone
# else acted (record.others_owner).
Prepared = tuple[bytes, str | None]


def encode_record(r: AuditRecord) -> Prepared:
    """Encode what a record holds apart from its place in the chain, before the
    writer's turn (which then only numbers, links and hashes). NUL in any field
    from outside (a client's string) is stored replaced."""
    flags = r.unread_text()
    items = " ".join(r.items)
    try:
        fields = encode_fields(r[:6], items, flags, r[8:])
    except ValueError:
        fields = encode_fields(
            tuple(map(clean, r[:6])), clean(items), flags, tuple(map(clean, r[8:]))
        )
    return fields, others_owner(r.owner_account, r.actor_account, r.action)


def encode_one(
    actor: str,
    session: str,
    protocol: str,
    remote: str,
    owner: str,
    mailbox: str,
    item: str,
    unread: bool,
    part: str,
    action: str,
) -> Prepared:
    """`encode_record` of an allowed record about one item, without detail (a
    delivery's, an append's), in one format instead of through an AuditRecord:
    the same bytes (a test compares them) for a path taken once per delivery."""
    text = (
        f"{actor}\x00{session}\x00{protocol}\x00{remote}\x00{owner}\x00{mailbox}"
        f"\x00{item}\x00{'1' if unread else '0'}\x00{part}\x00{action}\x00allowed\x00"
    )
    if text.count("\x00") != _ONE_SEPARATORS:  # a field holds NUL: the general path
        return encode_record(
            AuditRecord(
                actor,
                session,
                protocol,
                remote,
                owner,
                mailbox,
                (item,),
                (unread,),
                part,
                action,
                "allowed",
            )
        )
    return text.encode(), others_owner(owner, actor, action)


_ONE_SEPARATORS = 11  # between the 12 fields encode_fields joins


class AuditLog:
    """The writer. `append` joins the current write transaction (or opens one).

    With `enabled=False` nothing is recorded: for benchmarks measuring the log's cost.
    """

    def __init__(self, db: Database, head_path: Path, head_key: bytes, *, enabled: bool = True):
        self.db = db
        self.head_path = head_path
        self.head_key = head_key
        self.enabled = enabled
        apply_migrations(db, load_migrations("audit", "mailward.audit.migrations"))
        self.broken: str | None = None
        # Whether the log is empty, without counting it: count(*) reads every
        # page of the log (and kept up to 64 MiB of it in the connection's cache).
        empty = db.read().execute("SELECT 1 FROM audit_log LIMIT 1").fetchone() is None
        # The last head known to be signed: the file's at start, then each one we
        # write. Every later commit checks the log still holds that record.
        self._signed: Head | None = None
        self._cached_tip: tuple[int, Head] | None = None  # (epoch, tip)
        self._checked_epoch = -1  # the epoch in which the signed head's record was seen
        with contextlib.suppress(HeadError):
            self._signed = read_head(head_path, head_key)
        # Only an empty log with no signed head may start a new head.
        self._started_empty = empty and self._signed is None
        self._publisher = HeadPublisher(head_path, head_key, self._head_written)
        self._prepare = self._prepare_head  # one bound method: on_commit looks it up

    def append(self, record: AuditRecord) -> int:
        """Append one record; returns its seq (0 when disabled)."""
        if not self.enabled:
            return 0
        # Encoded here: outside the writer's turn when not already in a unit.
        return self.db.run(partial(self._append, (encode_record(record),)))

    def append_many(self, records: Sequence[AuditRecord]) -> list[int]:
        """Append records in order, in the current transaction; returns their seqs."""
        if not self.enabled or not records:
            return [0] * len(records)
        last = self.db.run(partial(self._append, [encode_record(r) for r in records]))
        return list(range(last - len(records) + 1, last + 1))

    def append_prepared(self, ready: Prepared | None) -> int:
        """Append a record `encode_record` or `encode_one` returned, or nothing for
        None (the log is off); returns its seq (0 when nothing). Inside a unit of
        work, encoding the record before the unit keeps the writer's turn shorter."""
        if ready is None:
            return 0
        conn = self.db.unit_connection()
        if conn is not None:  # (what db.run does in a unit, without its two calls)
            return self._append((ready,), conn)
        return self.db.run(partial(self._append, (ready,)))

    def _append(self, records: Sequence[Prepared], conn: sqlite3.Connection) -> int:
        """Insert `records` after the tip; returns the last one's seq. (Per record,
        not executemany: nearly every call appends one.)"""
        cached = self._cached_tip  # (the check of _tip, here: one call fewer)
        if cached is not None and cached[0] == self.db.epoch:
            seq, prev, last_us = cached[1]
        else:
            seq, prev, last_us = self._tip(conn)
        # Time never runs backwards along the chain, so a window is a range of pos.
        at_us = max(time.time_ns() // 1000, last_us)
        for fields, other in records:
            seq += 1
            body = chained(seq, at_us, fields, prev)
            prev = chain_hash(body)
            if other is None:
                conn.execute(_INSERT, (seq, at_us, body, bytearray(prev)))
            else:
                conn.execute(_INSERT_OTHERS, (seq, at_us, other, body, bytearray(prev)))
        # (tuple.__new__: a named tuple's own __new__ is a Python function)
        self._cached_tip = (self.db.epoch, tuple.__new__(Head, (seq, prev, at_us)))
        self.db.on_commit(self._prepare)
        return seq

    def _tip(self, conn: sqlite3.Connection) -> Head:
        """(seq, hash, at_us) of the last record; cached within one epoch (in which
        only this writer's own committed units changed the database)."""
        cached = self._cached_tip
        if cached is not None and cached[0] == self.db.epoch:
            return cached[1]
        row = conn.execute(
            f"SELECT {SELECT_COLUMNS} FROM audit_log ORDER BY pos DESC LIMIT 1"
        ).fetchone()
        if row is None:
            return Head(0, GENESIS_HASH, 0)
        try:
            last = from_row(row)
        except MalformedRecord:  # tampered with: keep appending (evidence), say so
            self.broken = f"the last record (position {row[0]}) is malformed"
            return Head(int(row[0]), bytes(row[4]), int(row[1]))
        return Head(last.seq, last.hash, last.at_us)

    def _prepare_head(self, conn: sqlite3.Connection) -> Callable[[], None] | None:
        """Inside the committing transaction: the new tip, and whether the log still
        holds the record the last signed head names; returns what to run once the
        commit is durable (writing the new head), or None.

        If that record is gone or different, the log was truncated or rewritten:
        the head is left as it is (it is the evidence) and `broken` says why;
        `mailward audit verify` reports it.
        """
        head = self._tip(conn)
        if head.seq == 0 or self.broken is not None:
            return None
        signed = self._signed
        if signed is None:
            if not self._started_empty:
                self.broken = f"signed head {self.head_path} is missing or invalid"
                return None
        elif self._checked_epoch != self.db.epoch:
            # Only another connection can remove or change a record (this one is
            # refused by the triggers), and that changes the epoch.
            check = conn.execute(
                "SELECT hash FROM audit_log WHERE pos = ?", (signed.seq,)
            ).fetchone()
            if check is None or bytes(check[0]) != signed.hash:
                self.broken = f"record {signed.seq} named by the signed head is missing or changed"
                return None
            self._checked_epoch = self.db.epoch
        return partial(self._publisher.offer, head)  # (no Python frame: after every commit)

    def _head_written(self, head: Head) -> None:
        if self._signed is None or head.seq > self._signed.seq:
            self._signed = head

    def flush_head(self) -> None:
        """Sign and write the newest durable head now (it otherwise lags by a few
        milliseconds)."""
        self._publisher.flush()

    def close(self) -> None:
        """Write the last head, fsync and close the head file."""
        self._publisher.close()
