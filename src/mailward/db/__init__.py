"""The SQLite connection and migration runner shared by `store` and `audit`.

Layout: `sqlite.py` (Database: one serialised writer connection, per-thread
readers, WAL, synchronous=FULL), `migrate.py` (versioned SQL files shipped inside
packages, applied in order, each exactly once).

Invariants: a transaction opened with `Database.write()` commits durably (fsync of
the WAL) before it returns, so a mail change and the audit record describing it
land together or not at all; a unit run by `Database.try_run` is durable once its
`Committed.settle()` has returned, and nothing it made may be handed out before.
"""

from mailward.db.migrate import IncompatibleSchema, Migration, apply_migrations, load_migrations
from mailward.db.sqlite import Committed, Database

__all__ = [
    "Committed",
    "Database",
    "IncompatibleSchema",
    "Migration",
    "apply_migrations",
    "load_migrations",
]
