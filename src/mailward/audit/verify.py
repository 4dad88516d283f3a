"""Walking the chain: the first edited, deleted, reordered or missing record.

Checks, in position order: each record's hash over its stored body, and the row's
lookup copies (time, "others" owner) against the body (edited); its sequence number
against the one expected (deleted or reordered); its link to the previous record's
hash (replaced); and at the end the signed head (truncated tail or recomputed
chain).
"""

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from mailward.audit.head import HeadError, is_blank, read_head
from mailward.audit.record import (
    GENESIS_HASH,
    SELECT_COLUMNS,
    MalformedRecord,
    StoredRecord,
    from_row,
    others_owner,
    record_hash,
)
from mailward.db import Database

_CHUNK = 50_000
_END = 2**62  # past any position


@dataclass(frozen=True, slots=True)
class Problem:
    """The first thing wrong with the chain.

    kind: "edited", "deleted", "reordered", "relinked", "truncated", "head".
    """

    kind: str
    seq: int
    message: str


@dataclass(frozen=True, slots=True)
class VerifyResult:
    records: int
    last_seq: int
    head_seq: int | None
    problem: Problem | None

    @property
    def ok(self) -> bool:
        return self.problem is None


def verify_chain(
    db: Database,
    head_path: Path,
    head_key: bytes,
    progress: Callable[[int, int], None] | None = None,
) -> VerifyResult:
    """Verify the whole log against its signed head; stop at the first problem."""
    conn = db.read()
    total = int(conn.execute("SELECT count(*) FROM audit_log").fetchone()[0])
    problem, count, expected = _walk(db, 0, _END, 1, GENESIS_HASH, progress, total)
    if problem is not None:
        return VerifyResult(count, expected - 1, None, problem)
    last = expected - 1
    try:
        head = read_head(head_path, head_key)
    except HeadError as exc:
        if last == 0 and is_blank(head_path):
            return VerifyResult(0, 0, None, None)
        return VerifyResult(count, last, None, Problem("head", last, str(exc)))
    if last < head.seq:
        return VerifyResult(
            count,
            last,
            head.seq,
            Problem(
                "truncated",
                last + 1,
                f"records {last + 1}..{head.seq} are missing from the end of the log"
                f" (the signed head names record {head.seq})",
            ),
        )
    row = conn.execute("SELECT hash FROM audit_log WHERE pos = ?", (head.seq,)).fetchone()
    if row is None or bytes(row[0]) != head.hash:
        return VerifyResult(
            count,
            last,
            head.seq,
            Problem(
                "head", head.seq, f"record {head.seq} differs from the signed head: chain rewritten"
            ),
        )
    return VerifyResult(count, last, head.seq, None)


def verify_window(
    db: Database,
    head_path: Path,
    head_key: bytes,
    start_pos: int,
    end_pos: int,
    progress: Callable[[int, int], None] | None = None,
) -> Problem | None:
    """Verify the records at positions [start_pos, end_pos) and their link to the
    record before them; and that the signed head reaches at least the window's end
    (nothing after it was cut off). None: the window is intact."""
    conn = db.read()
    prev = GENESIS_HASH
    if start_pos > 1:
        row = conn.execute(
            f"SELECT {SELECT_COLUMNS} FROM audit_log WHERE pos = ?", (start_pos - 1,)
        ).fetchone()
        if row is None:
            return Problem("deleted", start_pos - 1, f"record {start_pos - 1} is missing")
        try:
            before = from_row(row)
        except MalformedRecord:
            return Problem("edited", start_pos - 1, f"record {start_pos - 1} was edited")
        if record_hash(before.body) != before.hash:
            return Problem("edited", start_pos - 1, f"record {start_pos - 1} was edited")
        prev = before.hash
    total = max(0, end_pos - start_pos)
    problem, _count, expected = _walk(db, start_pos - 1, end_pos, start_pos, prev, progress, total)
    if problem is not None:
        return problem
    if expected < end_pos:
        return Problem("deleted", expected, f"records {expected}..{end_pos - 1} are missing")
    return head_covers(head_path, head_key, end_pos)


def _walk(
    db: Database,
    after: int,
    end: int,
    expected: int,
    prev: bytes,
    progress: Callable[[int, int], None] | None,
    total: int,
) -> tuple[Problem | None, int, int]:
    """Check the records at positions after < pos < end in order, the first
    expected to be record `expected` linking to `prev`. Returns the first problem
    (or None), the records read, and the record expected next."""
    conn, count = db.read(), 0
    while True:
        rows = conn.execute(
            f"SELECT {SELECT_COLUMNS} FROM audit_log WHERE pos > ? AND pos < ? ORDER BY pos"
            " LIMIT ?",
            (after, end, _CHUNK),
        ).fetchall()
        if not rows:
            return None, count, expected
        for row in rows:
            count += 1
            try:
                r = from_row(row)
            except MalformedRecord as exc:
                reason = f"the record at position {row[0]} was edited (body malformed: {exc})"
                return Problem("edited", expected, reason), count, expected
            edited = _edited(row, r)
            if edited is not None:
                return Problem("edited", expected, edited), count, expected
            if r.seq != expected:
                return Problem(*_sequence_problem(db, r.seq, r.pos, expected)), count, expected
            if r.prev_hash != prev:
                relinked = (
                    f"record {r.seq} does not link to record {r.seq - 1}:"
                    " a record before it was replaced"
                )
                return Problem("relinked", r.seq, relinked), count, expected
            prev, expected = r.hash, r.seq + 1
        after = int(rows[-1][0])
        if progress is not None:
            progress(count, total)


def head_covers(head_path: Path, head_key: bytes, end_pos: int) -> Problem | None:
    """Does the signed head reach at least record end_pos - 1 (nothing cut off)?"""
    try:
        head = read_head(head_path, head_key)
    except HeadError as exc:
        if end_pos <= 1 and is_blank(head_path):
            return None
        return Problem("head", end_pos - 1, str(exc))
    if head.seq < end_pos - 1:
        return Problem(
            "head", head.seq, f"the signed head names record {head.seq}, before the window's end"
        )
    return None


def _edited(row: tuple[int, int, bytes | None, bytes, bytes], r: StoredRecord) -> str | None:
    """Why the (well-formed) row is not what was appended, or None."""
    if record_hash(r.body) != r.hash:
        return f"record {r.seq} was edited"
    stored_owner = None if row[2] is None else bytes(row[2]).decode("utf-8", "replace")
    expected_owner = others_owner(r.owner_account, r.actor_account, r.action)
    if row[1] != r.at_us or stored_owner != expected_owner:
        return f"record {r.seq} was edited (its lookup columns differ from its body)"
    return None


def _sequence_problem(db: Database, seq: int, pos: int, expected: int) -> tuple[str, int, str]:
    if seq < expected:
        return (
            "reordered",
            seq,
            f"record {seq} appears at position {pos}, after record {expected - 1}",
        )
    later = _position_of(db, expected, pos)
    if later is not None:
        return (
            "reordered",
            expected,
            f"record {expected} appears at position {later}, after record {seq}",
        )
    missing = f"record {expected}" if seq == expected + 1 else f"records {expected}..{seq - 1}"
    return "deleted", expected, f"{missing} deleted (record {seq} follows record {expected - 1})"


def _position_of(db: Database, seq: int, after: int) -> int | None:
    """Where record `seq` lies after position `after` (a scan: failures only)."""
    for row in db.read().execute(
        f"SELECT {SELECT_COLUMNS} FROM audit_log WHERE pos > ? ORDER BY pos", (after,)
    ):
        try:
            if from_row(row).seq == seq:
                return int(row[0])
        except MalformedRecord:
            continue
    return None
