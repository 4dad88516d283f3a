"""The door's view for mail programs: UID lists and message states kept between
calls stay exactly what a fresh read of the store says, through deliveries, flag
changes, moves, copies and expunges made by other doors."""

import random
import threading
import time
from pathlib import Path

import pytest

from mailward.access import syncing
from mailward.access._states import StateCache
from mailward.audit.query import all_records
from mailward.core.errors import IsolationViolation
from mailward.core.flags import Flags
from support import World, build_world


@pytest.mark.parametrize("chunk", [4, syncing.STATE_CHUNK])
def test_cached_states_follow_every_change(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, chunk: int
) -> None:
    """With chunk 4 a whole mailbox's states are read in several queries."""
    monkeypatch.setattr(syncing, "STATE_CHUNK", chunk)
    world = build_world(tmp_path / "d", ("alice", "bob"))
    rt = world.rt
    for i in range(30):
        world.deliver("alice", f"m{i}", "x")
    reader, writer = world.door("alice"), rt.access(world.users["alice"])
    rnd = random.Random(7)
    for step in range(60):
        ids = [e.id for e in writer.index("INBOX", 1, 2**32 - 1)]
        op = rnd.choice(["deliver", "flag", "move", "copy", "expunge", "nothing"])
        if op == "deliver":
            world.deliver("alice", f"new {step}", "y")
        elif op == "flag" and ids:
            writer.set_flags(rnd.sample(ids, min(3, len(ids))), add=Flags.of("\\Flagged"))
        elif op == "move" and ids:
            writer.move([rnd.choice(ids)], "Archive")
        elif op == "copy" and ids:
            writer.copy([rnd.choice(ids)], "INBOX")
        elif op == "expunge" and ids:
            writer.expunge([rnd.choice(ids)])
        cached = reader.index("INBOX", 1, 2**32 - 1)
        view = reader.open_mailbox("INBOX")
        rt.services.states = StateCache()  # a fresh read, for comparison
        rt.services.uid_lists.clear()
        fresh = reader.index("INBOX", 1, 2**32 - 1)
        assert cached == fresh, (step, op)
        account, box = world.users["alice"].account_id, view.info.id
        stored = rt.services.store.index_rows(account, box, 1, 2**32 - 1)  # one query
        assert [(e.id, e.uid, e.modseq, e.flags.text()) for e in fresh] == [
            (r.id, r.uid, r.modseq, Flags.parse(r.flags).text()) for r in stored
        ]
        assert view.uids == tuple(e.uid for e in fresh)
        lo = fresh[len(fresh) // 2].uid if fresh else 1
        assert reader.index("INBOX", lo, 2**32 - 1) == [e for e in fresh if e.uid >= lo]
        top = max((e.modseq for e in fresh), default=0)
        assert reader.index("INBOX", 1, 2**32 - 1, changed_since=top) == []
    # bob's door never sees alice's states, cached or not
    assert world.door("bob").index("INBOX", 1, 2**32 - 1) == []


def test_cache_is_bounded() -> None:
    from mailward.access._states import MailboxState

    cache = StateCache(max_messages=10)
    for k in range(5):
        cache.put(("a", str(k)), MailboxState(1, 1, 1, 4, (1, 2, 3, 4), (None,) * 4))  # type: ignore[arg-type]
    assert cache.get(("a", "0")) is None and cache.get(("a", "4")) is not None
    assert sum(len(s.entries) for s in cache._states.values()) <= 10


def _cache_rows(world: World) -> list[tuple[str, str, str, bytes]]:
    return (
        world.rt.db.read()
        .execute("SELECT account_id, id, part, sealed FROM message_cache ORDER BY id, part")
        .fetchall()
    )


def test_envelope_and_structure_are_kept_sealed_and_served_from_the_cache(
    tmp_path: Path,
) -> None:
    world = build_world(tmp_path / "d", ("alice", "bob"))
    ids = [world.deliver("alice", f"Cached subject {i}", "body") for i in range(3)]
    door = world.door("alice")
    items = ["ENVELOPE", "BODYSTRUCTURE"]
    first = door.fetch(ids, items)
    rows = _cache_rows(world)
    assert len(rows) == 6  # two parts of three messages, kept at the first fetch
    assert all(b"Cached subject" not in bytes(r[3]) for r in rows)  # sealed
    # Later fetches open the kept values, not the raw message: the blobs may go.
    for i in ids:
        world.rt.services.blobs.delete(world.users["alice"].account_id, i)
    again = door.fetch(ids, items)
    assert [f.data for f in again] == [f.data for f in first]
    assert [f.parts for f in again] == [f.parts for f in first] == [("headers", "structure")] * 3
    door.expunge(ids[:1])  # dropped with its message
    assert {r[1] for r in _cache_rows(world)} == set(ids[1:])


def test_a_cached_part_of_another_account_under_our_row_is_refused(tmp_path: Path) -> None:
    world = build_world(tmp_path / "d", ("alice", "bob"))
    mine = world.deliver("alice", "alice subject", "a")
    theirs = world.deliver("bob", "bob subject", "b")
    world.door("alice").fetch([mine], ["ENVELOPE"])
    world.door("bob").fetch([theirs], ["ENVELOPE"])
    with world.rt.db.write() as c:  # a store fault: bob's sealed envelope under alice's row
        (bobs,) = c.execute("SELECT sealed FROM message_cache WHERE id = ?", (theirs,)).fetchone()
        c.execute("UPDATE message_cache SET sealed = ? WHERE id = ?", (bobs, mine))
    refused = sum(1 for r in all_records(world.rt.db) if r.outcome == "refused")
    with pytest.raises(IsolationViolation):
        world.door("alice").fetch([mine], ["ENVELOPE"])
    assert sum(1 for r in all_records(world.rt.db) if r.outcome == "refused") == refused + 1


def test_sessions_selecting_a_cold_mailbox_at_once_read_its_uids_once(tmp_path: Path) -> None:
    world = build_world(tmp_path / "d", ("alice",))
    for i in range(5):
        world.deliver("alice", f"m{i}", "x")
    store = world.rt.services.store
    reads: list[int] = []
    real = store.mailbox_uids
    gate = threading.Barrier(8)

    def counted(*args: object, **kw: object) -> list[int]:
        reads.append(1)
        time.sleep(0.2)  # a slow read: the other sessions arrive meanwhile
        return real(*args, **kw)  # type: ignore[arg-type]

    store.mailbox_uids = counted  # type: ignore[method-assign]
    doors = [world.door("alice") for _ in range(8)]
    views: list[tuple[int, ...]] = []

    def select(k: int) -> None:
        gate.wait()
        views.append(doors[k].open_mailbox("INBOX").uids)

    threads = [threading.Thread(target=select, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(reads) == 1  # one read; the seven others waited and took its list
    assert len(views) == 8 and all(v is views[0] for v in views) and len(views[0]) == 5
    assert len(world.rt.services.uid_loads) == 0  # no lock left behind
