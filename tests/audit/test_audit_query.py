"""Reading the log by window and by owner."""

import time

from mailward.audit.query import all_records, first_pos_at, records_between, records_for_owner
from support import World


def test_window_query_matches_a_full_scan(world: World) -> None:
    stamps = []
    for i in range(30):
        world.deliver("alice" if i % 2 else "bob", f"m{i}")
        if i % 7 == 0:
            time.sleep(0.002)
    records = list(all_records(world.rt.db))
    stamps = [r.at_us for r in records]
    assert stamps == sorted(stamps)  # time never runs backwards along the chain
    since, until = stamps[5], stamps[20]
    expected = [r.pos for r in records if since <= r.at_us < until]
    assert [r.pos for r in records_between(world.rt.db, since, until)] == expected
    assert first_pos_at(world.rt.db, 0) == records[0].pos
    assert first_pos_at(world.rt.db, stamps[-1] + 1) == records[-1].pos + 1
    assert list(records_between(world.rt.db, stamps[-1] + 1, stamps[-1] + 10)) == []


def test_records_for_owner_are_only_that_owners(world: World) -> None:
    world.deliver("alice", "a")
    world.deliver("bob", "b")
    alice = world.users["alice"].account_id
    mine = records_for_owner(world.rt.db, alice)
    assert mine and all(r.owner_account == alice for r in mine)
