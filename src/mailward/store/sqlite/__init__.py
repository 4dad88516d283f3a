"""The SQLite backend: WAL, synchronous=FULL, migrations in `migrations/`."""

from mailward.store.sqlite.blobs import SqliteBlobStore
from mailward.store.sqlite.store import SqliteStore

__all__ = ["SqliteBlobStore", "SqliteStore"]
