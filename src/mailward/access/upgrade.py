"""Upgrades of stored data that need the account keys, run when the service starts
(SQL migrations cannot open sealed values: the keys are not in the database).

Migration 0013: messages and tombstones stored with their five list fields as
five sealed values (kept aside by the migration) get them sealed as one, part
"summary".
"""

from collections.abc import Callable

from mailward.access._sealing import P_SUMMARY, list_fields
from mailward.access.services import Services
from mailward.core.errors import IntegrityError, NotFound
from mailward.core.ids import AccountId, MessageId

_LEGACY_PARTS = ("subject", "from", "to", "cc", "snippet")
_BATCH = 500


def seal_list_fields_as_one(s: Services, progress: Callable[[int, int], None] | None = None) -> int:
    """Convert every row still in the old form; returns how many were converted.

    A row whose old values do not open under its owner's key (tampered with, or
    another account's) keeps one of them as its new value: that does not open as
    a "summary" either, so the row stays refused, and nothing is lost.
    """
    store = s.store
    total = store.legacy_list_fields()
    done = 0
    while batch := store.legacy_rows(_BATCH):
        store.set_sealed_fields(
            [
                (table, owner, item, _resealed(s, owner, item, old))
                for table, owner, item, old in batch
            ]
        )
        done += len(batch)
        if progress is not None:
            progress(done, total)
    return done


def _resealed(s: Services, owner: AccountId, item: MessageId, old: list[bytes]) -> bytes:
    try:
        sealer = s.keyring.sealer(owner)
        texts = [
            sealer.open_text(item, part, value)
            for part, value in zip(_LEGACY_PARTS, old, strict=True)
        ]
    except (IntegrityError, NotFound):
        return old[0]
    return sealer.seal(item, P_SUMMARY, list_fields(*texts))
