"""Appending to the log inside the caller's write transaction."""

import os
import time
from collections.abc import Sequence
from pathlib import Path

from mailward.audit.head import Head, HeadError, read_head, write_head
from mailward.audit.record import GENESIS_HASH, AuditRecord, record_hash
from mailward.db import Database, apply_migrations, load_migrations

# The head file is replaced after every commit; it is fsynced at most this often
# (and at close). After a power loss it may lag the log, never lead it.
HEAD_SYNC_INTERVAL_S = 1.0


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
        self._pending: Head | None = None
        self._last_sync = 0.0
        self.broken: str | None = None
        count = db.read().execute("SELECT count(*) FROM audit_log").fetchone()[0]
        self._started_empty = count == 0 and not head_path.exists()

    def append(self, record: AuditRecord) -> int:
        """Append one record; returns its seq (0 when disabled)."""
        return self.append_many((record,))[-1] if self.enabled else 0

    def append_many(self, records: Sequence[AuditRecord]) -> list[int]:
        """Append records in order, in the current transaction; returns their seqs."""
        if not self.enabled or not records:
            return [0] * len(records)
        seqs: list[int] = []
        with self.db.write() as conn:
            row = conn.execute(
                "SELECT seq, hash FROM audit_log ORDER BY pos DESC LIMIT 1"
            ).fetchone()
            seq, prev = (int(row[0]), bytes(row[1])) if row else (0, GENESIS_HASH)
            at_us = time.time_ns() // 1000
            for r in records:
                seq += 1
                unread = r.unread_text()
                fields = (
                    r.actor_account,
                    r.actor_session,
                    r.protocol,
                    r.remote,
                    r.owner_account,
                    r.mailbox,
                )
                tail = (r.part, r.action, r.outcome, r.detail)
                digest = record_hash(seq, at_us, fields, r.items, unread, tail, prev)
                conn.execute(
                    "INSERT INTO audit_log (pos, seq, at_us, actor_account, actor_session,"
                    " protocol, remote, owner_account, mailbox, items, unread, part, action,"
                    " outcome, detail, prev_hash, hash)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (seq, seq, at_us, *fields, " ".join(r.items), unread, *tail, prev, digest),
                )
                prev = digest
                seqs.append(seq)
            self._pending = Head(seq, prev, at_us)
            self.db.on_commit(self._publish_head)
        return seqs

    def _publish_head(self) -> None:
        """Advance the signed head, but only along the chain it already signs.

        If the record the current head names is gone or different, the log was
        truncated or rewritten: the head is left as it is (it is the evidence) and
        `broken` says why; `mailward audit verify` reports it.
        """
        head, self._pending = self._pending, None
        if head is None:
            return
        problem = self._head_problem()
        if problem is not None:
            self.broken = problem
            return
        now = time.monotonic()
        sync = now - self._last_sync >= HEAD_SYNC_INTERVAL_S
        write_head(self.head_path, self.head_key, head, sync=sync)
        if sync:
            self._last_sync = now

    def _head_problem(self) -> str | None:
        try:
            current = read_head(self.head_path, self.head_key)
        except HeadError as exc:
            if self.head_path.exists():
                return str(exc)
            # No head yet: only a log that started empty may begin one.
            return None if self._started_empty else str(exc)
        row = (
            self.db.read()
            .execute("SELECT seq, hash FROM audit_log WHERE pos = ?", (current.seq,))
            .fetchone()
        )
        if row is None or row[0] != current.seq or bytes(row[1]) != current.hash:
            return f"record {current.seq} named by the signed head is missing or changed"
        return None

    def close(self) -> None:
        """Fsync the head file."""
        if self.head_path.exists():
            fd = os.open(self.head_path, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
