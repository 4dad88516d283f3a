"""Persistence behind one interface: metadata backends and the blob store.

Layout: `interface.py` (MailStore and BlobStore Protocols, the contract),
`rows.py` (what the store returns; sealed fields stay ciphertext),
`sqlite/` (the embedded backend, with small blobs inline), `blobs.py` (the
filesystem blob store for large ones).

Invariants: every mail method takes account_id first and every query filters on
it; nothing is shared or de-duplicated across accounts; the store never holds a
key and never opens a sealed field.
"""

from mailward.db import Committed
from mailward.store.blobs import FsBlobStore
from mailward.store.interface import BlobStore, MailStore
from mailward.store.rows import (
    AccountRow,
    AppPasswordRow,
    FetchRow,
    GrantRow,
    IndexRow,
    LoginRow,
    MailboxRow,
    MessageRow,
    NewMessage,
    QueueRow,
    RowRef,
    SessionRow,
    TombstoneRow,
)
from mailward.store.sqlite import SqliteBlobStore, SqliteStore

__all__ = [
    "AccountRow",
    "AppPasswordRow",
    "BlobStore",
    "Committed",
    "FetchRow",
    "FsBlobStore",
    "GrantRow",
    "IndexRow",
    "LoginRow",
    "MailStore",
    "MailboxRow",
    "MessageRow",
    "NewMessage",
    "QueueRow",
    "RowRef",
    "SessionRow",
    "SqliteBlobStore",
    "SqliteStore",
    "TombstoneRow",
]
