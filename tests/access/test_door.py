"""MailAccess end to end on a real store: every operation, its audit record, and a
second account that must see nothing."""

from typing import Any

import pytest

from mailward.access import Pending, complete_together
from mailward.audit.query import all_records
from mailward.core.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from mailward.core.flags import Flags
from mailward.core.message import FolderPage
from support import World, make_message


def records(w: World, action: str | None = None) -> list:  # type: ignore[type-arg]
    return [r for r in all_records(w.rt.db) if action is None or r.action == action]


def test_deliver_list_and_read_are_recorded_per_item(world: World) -> None:
    ids = [world.deliver("alice", f"hello {i}", f"body {i}") for i in range(3)]
    alice = world.door("alice")
    page = alice.list_messages("INBOX")
    assert [m.subject for m in page.items] == ["hello 2", "hello 1", "hello 0"]
    assert all(m.owner == world.users["alice"].account_id for m in page.items)
    listed = records(world, "list")[-1]
    assert set(listed.items) == set(ids) and listed.unread == "111"
    assert listed.actor_session == world.users["alice"].session_id

    view = alice.get_message(ids[0])
    assert view.text.strip() == "body 0" and view.summary.unread
    reads = [r for r in records(world, "read") if r.items == (ids[0],)]
    assert {r.part for r in reads} == {"headers", "body"}
    assert all(r.unread == "1" for r in reads)
    assert alice.get_summary(ids[0]).flags.seen  # reading marked it \Seen
    again = alice.get_message(ids[0])
    assert not again.summary.unread
    assert records(world, "read")[-1].unread == "0"


def test_paging_walks_every_message_once(world: World) -> None:
    ids = {world.deliver("alice", f"m{i}") for i in range(7)}
    seen: list[str] = []
    cursor = None
    while True:
        page = world.door("alice").list_messages(limit=3, cursor=cursor)
        seen += [m.id for m in page.items]
        if page.cursor is None:
            break
        cursor = page.cursor
    assert sorted(seen) == sorted(ids) and len(seen) == 7
    with pytest.raises(InvalidInput):
        world.door("alice").list_messages(cursor="garbage!")


def test_another_accounts_id_answers_like_a_missing_one(world: World) -> None:
    bob_item = world.deliver("bob", "bob's secret")
    alice = world.door("alice")
    for call in (alice.get_message, alice.get_raw, alice.get_summary, alice.get_headers):
        with pytest.raises(NotFound, match="no such message"):
            call(bob_item)
    with pytest.raises(NotFound, match="no such message"):
        alice.get_message("m" + "0" * 32)
    with pytest.raises(NotFound):
        alice.set_flags([bob_item], add=Flags.of("\\Flagged"))
    with pytest.raises(NotFound):
        alice.restore(bob_item)
    assert world.door("bob").get_summary(bob_item).subject == "bob's secret"


def test_flags_move_copy_delete_restore_expunge(world: World) -> None:
    item = world.deliver("alice", "to be moved")
    alice = world.door("alice")
    (flagged,) = alice.set_flags([item], add=Flags.of("\\Flagged", "$Important"))
    assert "\\Flagged" in flagged.flags and "$Important" in flagged.flags
    uid_before = flagged.uid
    (moved,) = alice.move([item], "Archive")
    assert moved.mailbox == "Archive" and moved.id == item
    (copy,) = alice.copy([item], "INBOX")
    assert copy.id != item and copy.subject == "to be moved"
    assert alice.get_raw(copy.id).data == alice.get_raw(item).data
    (deleted,) = alice.delete([item])
    assert deleted.mailbox == "Trash"
    restored = alice.restore(item)
    assert restored.mailbox == "Archive" and restored.uid != uid_before
    assert alice.expunge([item]) == 1
    with pytest.raises(NotFound):
        alice.get_summary(item)
    back = alice.restore(item)  # from the tombstone
    assert back.mailbox == "Archive" and back.subject == "to be moved"
    assert alice.get_raw(item).data.startswith(b"From:") or b"Subject: to be moved" in (
        alice.get_raw(item).data
    )
    actions = [r.action for r in records(world) if item in r.items]
    for expected in ("deliver", "flag", "move", "copy", "delete", "restore", "expunge"):
        assert expected in actions
    assert world.door("bob").list_messages("Archive").items == []


def test_expunge_mailbox_only_takes_deleted(world: World) -> None:
    keep = world.deliver("alice", "keep")
    drop = world.deliver("alice", "drop")
    alice = world.door("alice")
    alice.set_flags([drop], add=Flags.of("\\Deleted"))
    assert alice.expunge_mailbox("INBOX") == 1
    assert [m.id for m in alice.list_messages().items] == [keep]


def test_modseq_and_uid_grow(world: World) -> None:
    a = world.deliver("alice", "a")
    b = world.deliver("alice", "b")
    alice = world.door("alice")
    sa, sb = alice.get_summary(a), alice.get_summary(b)
    assert sb.uid > sa.uid and sb.modseq > sa.modseq
    (flagged,) = alice.set_flags([a], add=Flags.of("\\Answered"))
    assert flagged.modseq > sb.modseq
    inbox = next(b for b in alice.mailboxes() if b.name == "INBOX")
    assert inbox.highest_modseq >= flagged.modseq and inbox.uidnext == sb.uid + 1


def test_mailboxes_created_with_account_and_user_folders(world: World) -> None:
    alice = world.door("alice")
    names = {b.name for b in alice.mailboxes()}
    assert {"INBOX", "Sent", "Drafts", "Trash", "Junk", "Archive"} <= names
    alice.create_mailbox("Projects/2026")
    alice.rename_mailbox("Projects/2026", "Projects/Done")
    assert "Projects/Done" in {b.name for b in alice.mailboxes()}
    with pytest.raises(Conflict):
        alice.create_mailbox("Projects/Done")
    with pytest.raises(Conflict):
        alice.delete_mailbox("INBOX")
    with pytest.raises(InvalidInput):
        alice.create_mailbox("bad\x00name")
    alice.delete_mailbox("Projects/Done")
    assert "Projects/Done" not in {b.name for b in alice.mailboxes()}
    assert "Projects/Done" not in {b.name for b in world.door("bob").mailboxes()}


def test_append_and_attachments(world: World) -> None:
    alice = world.door("alice")
    raw = make_message(
        "with files",
        "see attached",
        attachments=(("a.pdf", b"%PDF one"), ("../../etc/passwd", b"two")),
    )
    m = alice.append("Drafts", raw, Flags.of("\\Draft", "\\Seen"))
    assert m.has_attachments and m.flags.seen
    view = alice.get_message(m.id)
    assert view.attachments[0].filename == "a.pdf"
    assert "/" not in view.attachments[1].filename
    second = alice.get_attachment(m.id, 2)
    assert second.data == b"two"
    assert records(world, "download")[-1].part == "attachment:2"
    with pytest.raises(NotFound):
        alice.get_attachment(m.id, 3)


def test_system_delivers_but_cannot_read_and_users_cannot_deliver(world: World) -> None:
    item = world.deliver("alice", "x")
    with pytest.raises(PermissionDenied):
        world.rt.system().get_message(item)
    with pytest.raises(PermissionDenied):
        world.door("alice").deliver(["bob@example.test"], b"Subject: x\r\n\r\nx")


def test_multi_recipient_delivery_seals_separately(world: World) -> None:
    raw = make_message("for both", "shared body")
    ids = world.rt.system().deliver(["alice@example.test", "bob@example.test"], raw)
    a, b = ids["alice@example.test"], ids["bob@example.test"]
    assert a != b
    blobs = world.rt.services.blobs
    alice_id = world.users["alice"].account_id
    bob_id = world.users["bob"].account_id
    assert blobs.get(alice_id, a) != blobs.get(bob_id, b)
    stored = raw.replace(b"\n", b"\r\n")  # lines stored ending in CRLF
    assert world.door("alice").get_raw(a).data == world.door("bob").get_raw(b).data == stored


def test_unknown_recipient_stores_nothing(world: World) -> None:
    with pytest.raises(NotFound):
        world.rt.system().deliver(
            ["alice@example.test", "nobody@example.test"], b"Subject: x\r\n\r\n"
        )
    assert world.door("alice").list_messages().items == []


def test_malformed_message_is_stored_raw_and_shown_best_effort(world: World) -> None:
    raw = (
        b"Subject: =?bogus?Q?broken?=\r\nContent-Type: multipart/mixed; boundary=zz\r\n\r\n"
        b"--zz\r\nContent-Transfer-Encoding: base64\r\n\r\n@@@not base64\x00\r\n"
    )
    ids = world.rt.system().deliver(["alice@example.test"], raw)
    alice = world.door("alice")
    item = ids["alice@example.test"]
    assert alice.get_raw(item).data == raw
    view = alice.get_message(item)
    assert view.owner == world.users["alice"].account_id


def test_tombstones_expire_after_retention(world: World) -> None:
    import time

    item = world.deliver("alice", "short-lived")
    alice = world.door("alice")
    alice.expunge([item])
    assert world.rt.purge_expired() == 0  # still inside the retention window
    later = time.time() + world.rt.services.retention_s + 60
    assert world.rt.purge_expired(now_s=later) == 1
    with pytest.raises(NotFound):
        alice.restore(item)
    owner = world.users["alice"].account_id
    assert not world.rt.services.blobs.exists(owner, item)


def test_copy_commits_all_or_nothing(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    """RFC 3501 §6.4.7: a COPY that fails part way leaves the target as it was."""
    ids = [world.deliver("alice", f"c{i}", "x") for i in range(3)]
    alice = world.door("alice")
    store = world.rt.services.store
    real = store.insert_message
    calls = {"n": 0}

    def failing_on_the_second(*args: object, **kw: object):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        if calls["n"] == 2:
            raise OSError("disk full")
        return real(*args, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(store, "insert_message", failing_on_the_second)
    with pytest.raises(OSError):
        alice.copy(ids, "Archive")
    monkeypatch.undo()
    assert alice.list_messages("Archive").items == []
    assert [m.subject for m in alice.copy(ids, "Archive")] == ["c0", "c1", "c2"]


def _view(world: World, name: str, **kw: int) -> "Pending[FolderPage]":
    limits = {"open_up_to": 1 << 20, "folders_up_to": 1000} | kw
    return world.door(name).mailbox_view_deferred("INBOX", **limits)


def test_a_deferred_listing_hands_out_nothing_before_its_record_is_written(world: World) -> None:
    ids = [world.deliver("alice", f"statement {i}") for i in range(3)]
    before = len(records(world, "list"))
    pending = _view(world, "alice")
    assert pending.opened
    shaped = pending.shaped(lambda view: [m.subject for m in view.page.items])
    assert len(records(world, "list")) == before  # read and opened, not yet recorded
    assert shaped.complete() == ["statement 2", "statement 1", "statement 0"]
    listed = records(world, "list")
    assert len(listed) == before + 1 and set(listed[-1].items) == set(ids)
    assert listed[-1].unread == "111"


def test_a_deferred_listing_too_large_for_the_call_is_read_at_completion(world: World) -> None:
    world.deliver("alice", "contract")
    for kw in ({"open_up_to": 10}, {"folders_up_to": 3}):  # the page's bytes, the folders
        before = len(records(world))
        pending = _view(world, "alice", **kw)
        assert not pending.opened
        shaped = pending.shaped(lambda view: ([m.subject for m in view.page.items], view.folders))
        assert len(records(world)) == before  # nothing recorded yet
        subjects, folders = shaped.complete()
        assert subjects == ["contract"] and "INBOX" in {f.name for f in folders}
        assert len(records(world)) == before + 1 and records(world)[-1].action == "list"


def test_a_deferred_listing_of_an_empty_folder_records_nothing(world: World) -> None:
    before = len(records(world))
    view = (
        world.door("alice")
        .mailbox_view_deferred("Junk", open_up_to=1 << 20, folders_up_to=1000)
        .complete()
    )
    assert view.page.items == [] and len(records(world)) == before


def test_an_account_has_at_most_max_mailboxes_folders(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mailward.access import changing

    alice = world.door("alice")
    have = len(alice.mailboxes())
    monkeypatch.setattr(changing, "MAX_MAILBOXES", have + 2)
    alice.create_mailbox("one")
    alice.create_mailbox("two")
    with pytest.raises(Conflict, match="at most"):
        alice.create_mailbox("three")
    with pytest.raises(Conflict, match="at most"):
        alice.rename_mailbox("INBOX", "Old mail")  # renaming INBOX makes a folder too
    assert len(alice.mailboxes()) == have + 2


def test_listings_completed_together_share_one_commit_in_order(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    a = world.deliver("alice", "payslip")
    b = world.deliver("bob", "lease")
    db = world.rt.db
    outer: list[int] = []
    run = db.run

    def counted(fn: Any) -> Any:
        if db.unit_connection() is None:  # a unit of its own, not one joined
            outer.append(1)
        return run(fn)

    before = len(records(world, "list"))
    pendings = [_view(world, "alice"), _view(world, "bob")]
    assert all(p.opened for p in pendings)
    monkeypatch.setattr(db, "run", counted)
    views = complete_together(pendings)
    monkeypatch.undo()
    assert len(outer) == 1  # both records in one unit of work: one commit, one flush
    assert [[m.id for m in v.page.items] for v in views] == [[a], [b]]  # type: ignore[union-attr]
    listed = records(world, "list")[before:]
    assert [r.items for r in listed] == [(a,), (b,)]


def test_a_listing_completed_together_but_not_opened_is_completed_alone(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    world.deliver("alice", "passport scan")
    before = len(records(world, "list"))
    large = _view(world, "alice", open_up_to=-1)
    assert not large.opened

    def shared(fns: Any) -> Any:
        raise AssertionError("a listing that may refuse shared a unit")

    monkeypatch.setattr(world.rt.services.store, "each_atomically", shared)
    (view,) = complete_together([large])
    monkeypatch.undo()
    assert not isinstance(view, Exception)
    assert [m.subject for m in view.page.items] == ["passport scan"]
    assert len(records(world, "list")) == before + 1
