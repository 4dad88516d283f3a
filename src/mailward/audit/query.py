"""Reading the log: by owner (access to my mailbox), by window (reports)."""

from collections.abc import Iterator

from mailward.audit.record import SELECT_COLUMNS, StoredRecord, from_row
from mailward.db import Database


def accesses_by_others(
    db: Database, owner: str, limit: int = 200, before_pos: int | None = None
) -> list[StoredRecord]:
    """What anyone other than `owner` did with `owner`'s mail (allowed or refused),
    deliveries excepted; newest first, `limit` records before `before_pos`.

    Served by the partial index on `others_owner`.
    """
    rows = (
        db.read()
        .execute(
            f"SELECT {SELECT_COLUMNS} FROM audit_log WHERE others_owner = ? AND pos < ?"
            " ORDER BY pos DESC LIMIT ?",
            (owner, before_pos if before_pos is not None else 2**62, limit),
        )
        .fetchall()
    )
    return [from_row(r) for r in rows]


def first_pos_at(db: Database, at_us: int) -> int:
    """The first position whose record is at or after `at_us` (binary search: the
    writer keeps at_us non-decreasing along pos). Past the end: last pos + 1."""
    conn = db.read()
    # Two single-aggregate queries: SQLite answers each from the b-tree's edge (one
    # query with both, or wrapped in coalesce, scans the whole log).
    first = conn.execute("SELECT min(pos) FROM audit_log").fetchone()[0]
    last = conn.execute("SELECT max(pos) FROM audit_log").fetchone()[0]
    lo, hi = (1, 1) if first is None else (int(first), int(last) + 1)
    while lo < hi:
        mid = (lo + hi) // 2
        row = conn.execute(
            "SELECT pos, at_us FROM audit_log WHERE pos >= ? ORDER BY pos LIMIT 1", (mid,)
        ).fetchone()
        if row is None or row[1] >= at_us:
            hi = mid
        else:
            lo = int(row[0]) + 1
    return int(lo)


def records_between(db: Database, since_us: int, until_us: int) -> Iterator[StoredRecord]:
    """Every record with since_us <= at_us < until_us, in chain order."""
    start, end = first_pos_at(db, since_us), first_pos_at(db, until_us)
    cur = db.read().execute(
        f"SELECT {SELECT_COLUMNS} FROM audit_log WHERE pos >= ? AND pos < ? ORDER BY pos",
        (start, end),
    )
    for row in cur:
        yield from_row(row)


def all_records(db: Database) -> Iterator[StoredRecord]:
    for row in db.read().execute(f"SELECT {SELECT_COLUMNS} FROM audit_log ORDER BY pos"):
        yield from_row(row)
