"""The MailStore contract, run against every backend (SQLite today).

Each test names the rule it holds a backend to; a PostgreSQL backend joins the
`store` fixture's parameters when it lands.
"""

from collections.abc import Iterator
from pathlib import Path

import pytest

from mailward.core.errors import Conflict, NotFound
from mailward.core.ids import (
    AccountId,
    DomainId,
    MailboxId,
    new_account_id,
    new_mailbox_id,
    new_message_id,
)
from mailward.db import Database
from mailward.store import AccountRow, MailStore, NewMessage, SqliteStore

SEALED = b"sealed list fields"


@pytest.fixture(params=["sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[MailStore]:
    db = Database(tmp_path / "store.db")
    yield SqliteStore(db)
    db.close()


def _account(store: MailStore, address: str) -> tuple[AccountId, MailboxId]:
    if store.domain_id("example.test") is None:
        store.add_domain(DomainId("d1"), "example.test")
    account = new_account_id()
    store.add_account(AccountRow(account, address, DomainId("d1"), "h", 0, False))
    inbox = new_mailbox_id()
    store.create_mailbox(account, inbox, "INBOX", None, b"")
    return account, inbox


def _new(store: MailStore, account: AccountId, box: MailboxId, at_us: int, flags: str = ""):  # type: ignore[no-untyped-def]
    return store.insert_message(
        account, NewMessage(new_message_id(), box, at_us, 100, flags, False, SEALED)
    )


def test_uids_ascend_and_modseq_grows(store: MailStore) -> None:
    a, inbox = _account(store, "a@example.test")
    rows = [_new(store, a, inbox, t) for t in (3, 1, 2)]
    assert [r.uid for r in rows] == [1, 2, 3]  # RFC 9051 §2.3.1.1, whatever the date
    assert rows[0].modseq < rows[1].modseq < rows[2].modseq
    flagged = store.set_flags(a, rows[0].id, "\\Seen")
    assert flagged.modseq > rows[2].modseq and flagged.uid == 1
    box = store.mailbox(a, inbox)
    assert box is not None and box.uidnext == 4 and box.highest_modseq >= flagged.modseq


def test_listing_is_newest_first_and_pages_without_gaps(store: MailStore) -> None:
    a, inbox = _account(store, "a@example.test")
    ids = [_new(store, a, inbox, t).id for t in range(10)]
    first = store.messages(a, inbox, 4)
    assert [r.id for r in first] == ids[::-1][:4]
    after = store.messages(a, inbox, 100, (first[-1].internal_us, first[-1].id))
    assert [r.id for r in first + after] == ids[::-1]


def test_every_query_is_scoped_to_its_account(store: MailStore) -> None:
    a, a_inbox = _account(store, "a@example.test")
    b, _ = _account(store, "b@example.test")
    item = _new(store, a, a_inbox, 1).id
    assert store.message(b, item) is None
    assert store.messages(b, a_inbox, 10) == []
    assert store.mailbox(b, a_inbox) is None
    with pytest.raises(NotFound):
        store.set_flags(b, item, "\\Seen")
    with pytest.raises(NotFound):
        store.expunge_message(b, item, "x", 10)
    assert store.message(a, item) is not None


def test_move_expunge_and_restore(store: MailStore) -> None:
    a, inbox = _account(store, "a@example.test")
    archive = new_mailbox_id()
    store.create_mailbox(a, archive, "Archive", "\\Archive", b"")
    row = _new(store, a, inbox, 5, "\\Flagged")
    moved = store.move_message(a, row.id, archive, inbox)
    assert (moved.mailbox_id, moved.uid, moved.origin_mailbox_id) == (archive, 1, inbox)
    tomb = store.expunge_message(a, row.id, a, retention_us=1_000)
    assert store.message(a, row.id) is None
    assert tomb.mailbox_name == "Archive" and tomb.flags == "\\Flagged"
    assert store.expired_tombstones(tomb.expires_us) == [(a, row.id)]
    back = store.restore_tombstone(a, row.id, archive)
    assert back.id == row.id and back.uid == 2 and back.sealed == SEALED
    assert store.tombstone(a, row.id) is None


def test_names_are_unique_per_account_and_non_empty_boxes_stay(store: MailStore) -> None:
    a, inbox = _account(store, "a@example.test")
    b, _ = _account(store, "b@example.test")
    store.create_mailbox(a, new_mailbox_id(), "Work", None, b"")
    store.create_mailbox(b, new_mailbox_id(), "Work", None, b"")  # another account: fine
    with pytest.raises(Conflict):
        store.create_mailbox(a, new_mailbox_id(), "Work", None, b"")
    _new(store, a, inbox, 1)
    with pytest.raises(Conflict):
        store.delete_mailbox(a, inbox)
    with pytest.raises(Conflict):
        store.add_account(
            AccountRow(new_account_id(), "a@example.test", DomainId("d1"), "h", 0, False)
        )


def test_counts_and_delivery_target(store: MailStore) -> None:
    a, inbox = _account(store, "a@example.test")
    _new(store, a, inbox, 1)
    _new(store, a, inbox, 2, "\\Seen")
    (box,) = [m for m in store.mailboxes(a) if m.name == "INBOX"]
    assert (box.total, box.unseen) == (2, 1)
    target = store.delivery_target("a@example.test")
    assert target is not None and target[0].id == a and target[1].id == inbox
    assert store.delivery_target("nobody@example.test") is None


def test_uid_lists_states_and_batches_are_scoped(store: MailStore) -> None:
    a, inbox = _account(store, "a@example.test")
    b, b_inbox = _account(store, "b@example.test")
    rows = [_new(store, a, inbox, t) for t in range(5)]
    theirs = _new(store, b, b_inbox, 1)
    assert store.mailbox_uids(a, inbox) == [1, 2, 3, 4, 5]
    assert store.mailbox_uids(b, inbox) == []
    assert store.mailbox_uids(a, inbox, 4) == [4, 5]
    flagged = store.set_flags(a, rows[1].id, "\\Flagged")
    state = store.index_rows(a, inbox, 2, 4)
    assert [r.uid for r in state] == [2, 3, 4] and state[0].flags == "\\Flagged"
    assert [r.uid for r in store.index_rows(a, inbox, 1, 5, rows[-1].modseq)] == [2]
    assert flagged.modseq > rows[-1].modseq
    assert store.index_rows(b, inbox, 1, 5) == []
    assert [r.uid for r in store.index_rows(a, inbox, 1, 5, limit=2)] == [1, 2]  # first by UID
    assert [r.uid for r in store.index_rows(a, inbox, 3, 5, limit=-1)] == [3, 4, 5]  # -1: all
    changed = store.index_rows(a, inbox, 1, 5, rows[0].modseq, limit=2)
    assert [r.uid for r in changed] == [2, 3]  # the limit counts rows changed since
    got = store.messages_by_ids(a, [rows[0].id, theirs.id, rows[3].id])
    assert sorted(r.id for r in got) == sorted([rows[0].id, rows[3].id])
    assert store.messages_by_ids(b, [rows[0].id]) == []
    light = store.fetch_rows(a, [rows[0].id, theirs.id, rows[3].id])
    assert sorted((r.id, r.mailbox_id, r.flags, r.sealed) for r in light) == sorted(
        (r.id, r.mailbox_id, r.flags, r.sealed) for r in got
    )
    assert {r.account_id for r in light} == {a} and store.fetch_rows(b, [rows[0].id]) == []
    box = store.mailbox_by_name(a, "INBOX")
    assert box is not None and box.total == 5  # counts come with the row
