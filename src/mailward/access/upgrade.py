"""Upgrades of stored data that need the account keys, run when the service starts
(SQL migrations cannot open sealed values: the keys are not in the database).

Migration 0013: messages and tombstones stored with their five list fields as
five sealed values (kept aside by the migration) get them sealed as one, part
"summary".

Migration 0014: the folder rows stored before it (it lists them) get a seal.
"""

import logging
from collections.abc import Callable

from mailward.access._sealing import P_SUMMARY, list_fields, seal_folder
from mailward.access.services import Services
from mailward.core.errors import IntegrityError
from mailward.core.ids import AccountId, MailboxId, MessageId
from mailward.crypto import Sealer

_LEGACY_PARTS = ("subject", "from", "to", "cc", "snippet")
_BATCH = 500
_log = logging.getLogger(__name__)


def seal_list_fields_as_one(s: Services, progress: Callable[[int, int], None] | None = None) -> int:
    """Convert every row still in the old form; returns how many were converted.

    A row whose old values do not open under its owner's key (tampered with, or
    another account's) gets one of them as its new value, which does not open as
    a "summary" either, so the row stays refused; its five old values stay in
    `legacy_list_fields`, flagged, as found. An owner whose key cannot be had
    stops the start (NotFound, IntegrityError): nothing is converted under a
    doubt about the key.
    """
    store = s.store
    total = store.legacy_list_fields()
    done = 0
    while batch := store.legacy_rows(_BATCH):
        converted = []
        for table, owner, item, old in batch:
            sealed = _resealed(s.keyring.sealer(owner), item, old)
            if sealed is None:
                _log.warning("%s %s of %s: old list fields do not open; kept", table, item, owner)
            converted.append((table, owner, item, sealed or old[0], sealed is None))
        store.set_sealed_fields(converted)
        done += len(batch)
        if progress is not None:
            progress(done, total)
    return done


def seal_folders(s: Services) -> int:
    """Seal each folder row stored before migration 0014 (the migration listed
    them) with its owner's key; returns how many were sealed. Before 0014 nothing
    but the row's owner column said whose a folder was, so that column is taken
    as found. A row with no seal stored since is no such row: it stays refused.
    An owner whose key cannot be had stops the start, as for
    `seal_list_fields_as_one`."""
    done, seen = 0, set[tuple[AccountId, MailboxId, str]]()
    while batch := s.store.unsealed_mailboxes(_BATCH):
        if seen.issuperset(batch):  # the last pass sealed none of them: the next start
            break
        seen.update(batch)
        s.store.set_mailbox_seals(
            [
                (owner, box, name, seal_folder(s.keyring.sealer(owner), box, name))
                for owner, box, name in batch
            ]
        )
        done += len(batch)
    if done:
        _log.info("sealed %d folder rows (migration 0014)", done)
    return done


def _resealed(sealer: Sealer, item: MessageId, old: list[bytes]) -> bytes | None:
    try:
        texts = [
            sealer.open_text(item, part, value)
            for part, value in zip(_LEGACY_PARTS, old, strict=True)
        ]
    except IntegrityError:
        return None
    return sealer.seal(item, P_SUMMARY, list_fields(*texts))
