"""Folder rows are sealed for their owner (migration 0014): the name sealed with
the owner's key for (owner, folder id, "folder"). The door opens the seal of every
folder row it is given with the key of the account it serves, so a row that is
not that account's (relabelled, planted, renamed behind the door's back) is
refused and recorded instead of shown."""

from pathlib import Path

import pytest

from mailward.access._sealing import check_folders
from mailward.audit.query import all_records
from mailward.core.errors import IsolationViolation
from mailward.core.flags import Flags
from mailward.db import apply_migrations
from mailward.runtime import Runtime
from support import World, build_world, store_db_before


def _refused(world: World) -> list[str]:
    return [r.detail for r in all_records(world.rt.db) if r.outcome == "refused"]


def _seals(world: World) -> dict[str, bytes | None]:
    rows = world.rt.db.read().execute("SELECT name, seal FROM mailboxes").fetchall()
    return {f"{n}": s for n, s in rows}


def test_rows_stored_before_are_sealed_at_start_and_read_as_before(tmp_path: Path) -> None:
    world = build_world(tmp_path / "d", ("alice", "bob"))
    world.door("alice").create_mailbox("Projects")
    world.deliver("alice", "Lease", "l")
    with world.rt.db.write() as c:  # as migration 0014 leaves a database made before it
        c.execute("UPDATE mailboxes SET seal = NULL")
        c.execute("INSERT INTO folder_seals_pending SELECT account_id, id FROM mailboxes")
    world.rt.close()

    rt = Runtime.open(world.rt.settings)
    try:
        again = World(rt, world.users)
        assert rt.services.store.unsealed_mailboxes(10) == []
        assert rt.db.read().execute("SELECT count(*) FROM folder_seals_pending").fetchone() == (0,)
        alice = again.door("alice")
        assert {"INBOX", "Trash", "Projects"} <= {b.name for b in alice.mailboxes()}
        assert [m.subject for m in alice.list_messages("INBOX").items] == ["Lease"]
        assert _refused(again) == []
    finally:
        rt.close()


def test_migration_0014_adds_an_empty_seal_to_each_folder(tmp_path: Path) -> None:
    db, migrations = store_db_before(tmp_path / "m.db", 14, "X")
    assert [m.version for m in apply_migrations(db, migrations)] == [14]
    c = db.read()
    assert c.execute("SELECT name, seal FROM mailboxes").fetchall() == [("X", None)]
    assert c.execute("SELECT * FROM folder_seals_pending").fetchall() == [("a1", "b1")]
    db.close()


def test_a_row_without_a_seal_put_in_after_the_upgrade_stays_refused_after_a_restart(
    tmp_path: Path,
) -> None:
    # Only the rows the migration found are sealed at start: one put in since
    # without the door (a wrong join, a bug) is never taken as its label says.
    world = build_world(tmp_path / "d", ("alice", "bob"))
    with world.rt.db.write() as c:
        c.execute(
            "INSERT INTO mailboxes (account_id, id, name, uidvalidity)"
            " SELECT account_id, 'bplanted', 'Planted', 1 FROM mailboxes WHERE name = 'INBOX'"
            " AND account_id = (SELECT id FROM accounts WHERE address LIKE 'alice@%')"
        )
    world.rt.close()
    rt = Runtime.open(world.rt.settings)
    try:
        again = World(rt, world.users)
        with pytest.raises(IsolationViolation):
            again.door("alice").mailboxes()
        assert len(_refused(again)) == 1
    finally:
        rt.close()


_ALICES = (
    " WHERE name = 'Projects'"
    " AND account_id = (SELECT id FROM accounts WHERE address LIKE 'alice@%')"
)


@pytest.mark.parametrize(
    ("tamper", "detail"),
    [
        # a row put in without the door: no seal at all
        ("UPDATE mailboxes SET seal = NULL" + _ALICES, "does not open"),
        # renamed behind the door's back: the seal holds the old name
        ("UPDATE mailboxes SET name = 'Renamed'" + _ALICES, "does not match"),
        # alice's row carrying bob's seal (as bob's row relabelled as alice's would)
        (
            "UPDATE mailboxes SET seal = (SELECT seal FROM mailboxes m JOIN accounts a"
            " ON a.id = m.account_id WHERE a.address LIKE 'bob@%' AND m.name = 'Projects')"
            + _ALICES,
            "does not open",
        ),
    ],
)
def test_a_folder_row_whose_seal_is_not_ours_is_refused_and_recorded(
    tmp_path: Path, tamper: str, detail: str
) -> None:
    world = build_world(tmp_path / "d", ("alice", "bob"))
    world.door("alice").create_mailbox("Projects")
    world.door("bob").create_mailbox("Projects")
    assert "Projects" in {b.name for b in world.door("alice").mailboxes()}  # found good once
    with world.rt.db.write() as c:
        c.execute(tamper)
    alice = world.door("alice")
    with pytest.raises(IsolationViolation):
        alice.mailboxes()
    with pytest.raises(IsolationViolation):  # Trash is found in the folder list
        alice.delete([world.deliver("alice", "Note", "n")])
    assert len(_refused(world)) == 2 and all(detail in d for d in _refused(world))
    assert [b.name for b in world.door("bob").mailboxes()].count("Projects") == 1  # bob: as ever


def test_a_rename_seals_each_folder_with_its_new_name(tmp_path: Path) -> None:
    world = build_world(tmp_path / "d", ("alice",))
    alice = world.door("alice")
    alice.create_mailbox("Projects")
    alice.create_mailbox("Projects/2026")
    before = _seals(world)
    alice.rename_mailbox("Projects", "Done")
    after = _seals(world)
    assert {"Done", "Done/2026"} <= set(after) and "Projects" not in after
    assert after["Done"] != before["Projects"] and after["Done/2026"] != before["Projects/2026"]
    me = world.users["alice"].account_id
    sealer = world.rt.keyring.sealer(me)
    assert check_folders(sealer, me, world.rt.services.store.mailboxes(me)) is None
    # INBOX renamed: its mail goes to a new folder, sealed like any other
    world.deliver("alice", "Old letter", "o")
    alice.rename_mailbox("INBOX", "Old mail")
    assert [m.subject for m in alice.list_messages("Old mail").items] == ["Old letter"]
    assert _refused(world) == []


def test_mail_is_not_filed_in_an_inbox_whose_seal_is_another_accounts(tmp_path: Path) -> None:
    world = build_world(tmp_path / "d", ("alice", "bob"))
    with world.rt.db.write() as c:  # alice's INBOX row carries bob's INBOX seal
        c.execute(
            "UPDATE mailboxes SET seal = (SELECT m.seal FROM mailboxes m JOIN accounts a"
            " ON a.id = m.account_id WHERE a.address LIKE 'bob@%' AND m.name = 'INBOX')"
            + _ALICES.replace("Projects", "INBOX")
        )
    system = world.rt.system()
    alice = world.users["alice"]
    with pytest.raises(IsolationViolation):
        system.deliver([alice.address], b"Subject: for alice\r\n\r\nhello\r\n")
    assert len(_refused(world)) == 1 and "does not open" in _refused(world)[0]
    assert world.rt.db.read().execute("SELECT count(*) FROM messages").fetchone() == (0,)
    with pytest.raises(IsolationViolation):  # and alice's door will not show it either
        world.door("alice").list_messages("INBOX")


def test_the_webs_two_step_list_records_a_refused_folder_at_completion(tmp_path: Path) -> None:
    # The first step runs on the web's event loop: reads and CPU only. A folder
    # row that is not ours is refused, and recorded, by the second.
    world = build_world(tmp_path / "d", ("alice", "bob"))
    world.deliver("alice", "Lease", "l")
    with world.rt.db.write() as c:  # alice's INBOX row carrying bob's INBOX seal
        c.execute(
            "UPDATE mailboxes SET seal = (SELECT m.seal FROM mailboxes m JOIN accounts a"
            " ON a.id = m.account_id WHERE a.address LIKE 'bob@%' AND m.name = 'INBOX')"
            + _ALICES.replace("Projects", "INBOX")
        )
    pending = world.door("alice").mailbox_view_deferred(
        "INBOX", open_up_to=1 << 30, folders_up_to=1000
    )
    assert not pending.opened and _refused(world) == []
    with pytest.raises(IsolationViolation):
        pending.complete()
    assert len(_refused(world)) == 1


def test_mail_sent_to_a_local_address_is_not_filed_in_an_inbox_not_theirs(
    tmp_path: Path,
) -> None:
    world = build_world(tmp_path / "d", ("alice", "bob"))
    with world.rt.db.write() as c:  # bob's INBOX row carrying alice's INBOX seal
        c.execute(
            "UPDATE mailboxes SET seal = (SELECT m.seal FROM mailboxes m JOIN accounts a"
            " ON a.id = m.account_id WHERE a.address LIKE 'alice@%' AND m.name = 'INBOX')"
            " WHERE name = 'INBOX'"
            " AND account_id = (SELECT id FROM accounts WHERE address LIKE 'bob@%')"
        )
    alice, bob = world.users["alice"].address, world.users["bob"].address
    raw = f"From: {alice}\r\nTo: {bob}\r\nSubject: Contract\r\n\r\nsigned\r\n".encode()
    with pytest.raises(IsolationViolation):
        world.door("alice").submit(alice, [bob], raw)
    assert len(_refused(world)) == 1 and "does not open" in _refused(world)[0]
    # nothing of it stored: not in bob's INBOX, not in alice's Sent
    assert world.rt.db.read().execute("SELECT count(*) FROM messages").fetchone() == (0,)


def test_a_refused_folder_row_met_while_reading_or_flagging_is_recorded_under_that_action(
    tmp_path: Path,
) -> None:
    """The folder of a message being read or flagged is looked up for its name;
    a row there that is not the owner's is refused under the action under way
    (it had been recorded as a listing)."""
    world = build_world(tmp_path / "d", ("alice", "bob"))
    message = world.deliver("alice", "Lease", "l")
    with world.rt.db.write() as c:
        c.execute("UPDATE mailboxes SET seal = NULL" + _ALICES.replace("Projects", "INBOX"))
    with pytest.raises(IsolationViolation):
        world.door("alice").get_message(message)
    with pytest.raises(IsolationViolation):
        world.door("alice").set_flags([message], add=Flags.of("\\Flagged"))
    refused = [r for r in all_records(world.rt.db) if r.outcome == "refused"]
    assert [r.action for r in refused] == ["read", "flag"]
    assert all("does not open" in r.detail for r in refused)
