"""Migration 0013: the five sealed list fields of a message become one sealed value.
SQL keeps the old values aside; the runtime converts them when it starts."""

from pathlib import Path

import pytest

from mailward.access._sealing import P_SUMMARY, Crossing, list_fields, open_summary
from mailward.audit.query import all_records
from mailward.core.errors import IsolationViolation, NotFound
from mailward.core.message import MessageSummary
from mailward.db import Database, apply_migrations
from mailward.runtime import Runtime
from mailward.store import MessageRow
from support import World, build_world, open_runtime, store_db_before

_PARTS = ("subject", "from", "to", "cc", "snippet")


def _legacy(world: World) -> None:
    """Put every message and tombstone back in the form before migration 0013 (as
    the migration leaves a database made before it): five values sealed apart,
    kept aside, and no `summary`."""
    rt = world.rt
    with rt.db.write() as c:
        for table in ("messages", "tombstones"):
            for owner, item, sealed in c.execute(
                f"SELECT account_id, id, summary FROM {table}"
            ).fetchall():
                sealer = rt.keyring.sealer(owner)
                texts = sealer.open_text(item, P_SUMMARY, sealed).split("\x00")
                five = [sealer.seal_text(item, p, t) for p, t in zip(_PARTS, texts, strict=True)]
                c.execute(
                    "INSERT INTO legacy_list_fields"
                    " (tbl, account_id, id, subject, sender, recipients, cc, snippet)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (table, owner, item, *five),
                )
                c.execute(f"UPDATE {table} SET summary = NULL WHERE id = ?", (item,))


def test_rows_stored_before_are_converted_at_start_and_read_as_before(tmp_path: Path) -> None:
    world = build_world(tmp_path / "d", ("alice", "bob"))
    for i in range(7):
        world.deliver("alice", f"Statement {i}", f"body {i}", sender=f"Bank {i} <b{i}@bank.test>")
    gone = world.deliver("alice", "Expunged contract", "c")
    world.door("alice").expunge([gone])
    world.deliver("bob", "Bob's payslip", "p")
    before = world.door("alice").list_messages("INBOX").items
    _legacy(world)
    world.rt.close()

    seen: list[tuple[int, int]] = []
    rt = Runtime.open(world.rt.settings, lambda done, total: seen.append((done, total)))
    try:
        assert seen[-1] == (9, 9)
        assert rt.services.store.legacy_list_fields() == 0
        again = World(rt, world.users)
        after = again.door("alice").list_messages("INBOX").items
        assert [(m.id, m.subject, m.sender, m.to, m.cc, m.snippet) for m in after] == [
            (m.id, m.subject, m.sender, m.to, m.cc, m.snippet) for m in before
        ]
        assert again.door("alice").restore(gone).subject == "Expunged contract"
        assert [m.subject for m in again.door("bob").list_messages("INBOX").items] == [
            "Bob's payslip"
        ]
    finally:
        rt.close()
    # Once converted, a start converts nothing.
    rt = open_runtime(tmp_path / "d")
    assert rt.services.store.legacy_list_fields() == 0
    rt.close()


def test_a_legacy_row_that_does_not_open_for_its_owner_stays_refused(tmp_path: Path) -> None:
    world = build_world(tmp_path / "d", ("alice", "bob"))
    mine = world.deliver("alice", "Alice's own", "a")
    world.deliver("bob", "Bob's secret", "b")
    _legacy(world)
    with world.rt.db.write() as c:  # a store fault: bob's old sealed values under alice's row
        bobs = c.execute(
            "SELECT subject, sender, recipients, cc, snippet FROM legacy_list_fields"
            " WHERE account_id = ?",
            (world.users["bob"].account_id,),
        ).fetchone()
        c.execute(
            "UPDATE legacy_list_fields SET subject = ?, sender = ?, recipients = ?, cc = ?,"
            " snippet = ? WHERE id = ?",
            (*bobs, mine),
        )
    world.rt.close()
    rt = open_runtime(tmp_path / "d")
    try:
        assert rt.services.store.legacy_list_fields() == 0
        # Bob's old values under Alice's row stay as found, flagged: evidence.
        kept = rt.db.read().execute("SELECT id, subject FROM legacy_list_fields WHERE kept = 1")
        assert kept.fetchall() == [(mine, bobs[0])]
        refused = sum(1 for r in all_records(rt.db) if r.outcome == "refused")
        with pytest.raises(IsolationViolation):
            rt.access(world.users["alice"]).list_messages("INBOX")
        assert sum(1 for r in all_records(rt.db) if r.outcome == "refused") == refused + 1
    finally:
        rt.close()


def test_migration_0013_keeps_the_five_old_values_aside(tmp_path: Path) -> None:
    db, migrations = store_db_before(tmp_path / "m.db", 13, "INBOX")
    with db.write() as c:
        c.execute(
            "INSERT INTO messages (account_id, id, mailbox_id, uid, modseq, internal_us, size,"
            " subject, sender, recipients, cc, snippet) VALUES"
            " ('a1', 'm1', 'b1', 1, 1, 0, 10, x'01', x'02', x'03', x'04', x'05')"
        )
        c.execute(
            "INSERT INTO tombstones (account_id, id, mailbox_id, mailbox_name, uid, internal_us,"
            " size, flags, has_attachments, subject, sender, recipients, cc, snippet,"
            " expunged_us, expunged_by, expires_us) VALUES ('a1', 'm2', 'b1', 'INBOX', 2, 0, 10,"
            " '', 0, x'11', x'12', x'13', x'14', x'15', 0, 'a1', 9)"
        )
    assert [
        m.version for m in apply_migrations(db, [m for m in migrations if m.version <= 13])
    ] == [13]
    c = db.read()
    assert c.execute("SELECT * FROM legacy_list_fields ORDER BY tbl").fetchall() == [
        ("messages", "a1", "m1", b"\x01", b"\x02", b"\x03", b"\x04", b"\x05", 0),
        ("tombstones", "a1", "m2", b"\x11", b"\x12", b"\x13", b"\x14", b"\x15", 0),
    ]
    for table in ("messages", "tombstones"):
        columns = {r[1] for r in c.execute(f"PRAGMA table_info({table})")}
        assert "summary" in columns and not columns & {"subject", "sender", "snippet"}
        assert c.execute(f"SELECT summary FROM {table}").fetchall() == [(None,)]
    db.close()


def _row(owner: str, item: str, sealed: bytes) -> MessageRow:
    return MessageRow(owner, item, "b1", 1, 1, 0, 10, "", False, None, sealed)


def test_sealed_list_fields_bind_part_and_survive_nul_and_surrogates(tmp_path: Path) -> None:
    world = build_world(tmp_path / "d", ("alice",))
    me = world.users["alice"].account_id
    sealer = world.rt.keyring.sealer(me)
    plain = list_fields("a\x00b", "s\udcff", "t", "", "snip")
    sealed = sealer.seal("m1", P_SUMMARY, plain)
    m = open_summary(sealer, me, _row(me, "m1", sealed), "INBOX")
    assert isinstance(m, MessageSummary)
    assert [m.subject, m.sender, m.to, m.cc, m.snippet] == ["a\ufffdb", "s\udcff", "t", "", "snip"]
    # Built positionally (tuple.__new__): every field in its place, none left out.
    assert len(m) == len(MessageSummary._fields)
    assert (m.owner, m.id, m.mailbox_id, m.mailbox, m.uid, m.size, m.has_attachments) == (
        me,
        "m1",
        "b1",
        "INBOX",
        1,
        10,
        False,
    )
    assert isinstance(open_summary(sealer, me, _row(me, "m2", sealed), "INBOX"), Crossing)
    three = sealer.seal("m1", P_SUMMARY, b"only\x00three\x00fields")
    assert isinstance(open_summary(sealer, me, _row(me, "m1", three), "INBOX"), Crossing)
    world.rt.close()


def test_a_page_with_a_row_not_yet_converted_keeps_the_others_in_line(tmp_path: Path) -> None:
    # A page's sealed values come back concatenated, each row's length beside it;
    # a NULL (a row not converted yet) is left out of the concatenation.
    world = build_world(tmp_path / "d", ("alice",))
    ids = [world.deliver("alice", f"Letter {i}", "x") for i in range(3)]
    with world.rt.db.write() as c:
        c.execute("UPDATE messages SET summary = NULL WHERE id = ?", (ids[1],))
    me = world.users["alice"].account_id
    inbox = next(b for b in world.rt.services.store.mailboxes(me) if b.name == "INBOX")
    rows = {r.id: r for r in world.rt.services.store.messages(me, inbox.id, 50)}
    sealer = world.rt.keyring.sealer(me)
    assert rows[ids[1]].sealed == b""
    opened = [open_summary(sealer, me, rows[i], "INBOX") for i in (ids[0], ids[2])]
    assert [m.subject for m in opened if isinstance(m, MessageSummary)] == [
        "Letter 0",
        "Letter 2",
    ]
    world.rt.close()


def test_an_owner_whose_key_is_missing_stops_the_start_and_loses_nothing(
    tmp_path: Path,
) -> None:
    world = build_world(tmp_path / "d", ("alice", "bob"))
    mine = world.deliver("alice", "Alice's lease", "a")
    _legacy(world)
    alice = world.users["alice"].account_id
    with world.rt.db.write() as c:
        key = c.execute("SELECT * FROM data_keys WHERE owner = ?", (alice,)).fetchone()
        c.execute("DELETE FROM data_keys WHERE owner = ?", (alice,))
    world.rt.close()
    with pytest.raises(NotFound):
        open_runtime(tmp_path / "d")
    db = Database(tmp_path / "d" / "mailward.db")
    with db.write() as c:  # the key is back: the next start converts the row
        assert c.execute("SELECT count(*) FROM legacy_list_fields WHERE kept = 0").fetchone()[0]
        c.execute(f"INSERT INTO data_keys VALUES ({', '.join('?' * len(key))})", key)
    db.close()
    rt = open_runtime(tmp_path / "d")
    try:
        assert rt.services.store.legacy_list_fields() == 0
        assert [m.id for m in rt.access(world.users["alice"]).list_messages().items] == [mine]
    finally:
        rt.close()
