"""Reading the log: by owner (access to my mailbox), by window (reports)."""

from collections.abc import Iterator

from mailward.audit.record import SELECT_COLUMNS, StoredRecord, from_row
from mailward.db import Database


def records_for_owner(db: Database, owner: str, limit: int = 200) -> list[StoredRecord]:
    """The newest records about `owner`'s mail, newest first."""
    rows = (
        db.read()
        .execute(
            f"SELECT {SELECT_COLUMNS} FROM audit_log WHERE owner_account = ?"
            " ORDER BY pos DESC LIMIT ?",
            (owner, limit),
        )
        .fetchall()
    )
    return [from_row(r) for r in rows]


def records_between(db: Database, since_us: int, until_us: int) -> Iterator[StoredRecord]:
    """Every record with since_us <= at_us < until_us, in chain order."""
    cur = db.read().execute(
        f"SELECT {SELECT_COLUMNS} FROM audit_log WHERE at_us >= ? AND at_us < ? ORDER BY pos",
        (since_us, until_us),
    )
    for row in cur:
        yield from_row(row)


def all_records(db: Database) -> Iterator[StoredRecord]:
    for row in db.read().execute(f"SELECT {SELECT_COLUMNS} FROM audit_log ORDER BY pos"):
        yield from_row(row)
