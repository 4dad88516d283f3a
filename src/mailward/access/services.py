"""What the door stands on: built once by `runtime`, shared by every MailAccess."""

from dataclasses import dataclass, field

from mailward.access._flight import KeyLocks
from mailward.access._states import StateCache
from mailward.audit import AuditLog
from mailward.crypto import Keyring
from mailward.store import BlobStore, MailStore

DEFAULT_RETENTION_S = 30 * 24 * 3600


@dataclass(slots=True)
class Services:
    """The foundation a MailAccess uses.

    Attributes:
        retention_s: how long an expunged item's tombstone (and blob) is kept.
        uid_lists: (account id, mailbox id) -> (uidnext, total, UIDs): the UID
            lists IMAP and POP3 sessions select, kept between sessions. Keyed by
            owner first, and only ever read through a door bound to that owner.
        states: the state of every message of recently used mailboxes (_states.py).
        uid_loads: one reader per mailbox of a UID list not cached: after a
            restart, a thousand clients selecting one 100,000-message mailbox at
            once read it once, not once per worker thread (each read's 100,000
            integers, freed together, left the heap fragmented: +140 MiB).
        state_loads: the same for the message states of a mailbox.
        folder_seals: folder rows whose seals the door opened and found good
            (_sealing.check_folders): (account id, folder id, name, seal).
    """

    store: MailStore
    blobs: BlobStore
    keyring: Keyring
    audit: AuditLog
    retention_s: int = DEFAULT_RETENTION_S
    uid_lists: dict[tuple[str, str], tuple[int, int, tuple[int, ...]]] = field(default_factory=dict)
    states: StateCache = field(default_factory=StateCache)
    uid_loads: KeyLocks = field(default_factory=KeyLocks)
    state_loads: KeyLocks = field(default_factory=KeyLocks)
    folder_seals: set[tuple[str, str, str, bytes]] = field(default_factory=set)
