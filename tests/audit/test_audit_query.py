"""Reading the log by window and by owner."""

import time

from mailward.audit.query import accesses_by_others, all_records, first_pos_at, records_between
from support import DOMAIN, World


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


def test_accesses_by_others_list_only_other_actors_on_that_owners_mail(world: World) -> None:
    import sqlite3

    world.deliver("alice", "a")
    world.deliver("bob", "b")
    world.door("alice").list_messages()  # the owner's own read: not listed
    grant = world.rt.delegation(world.users["alice"]).grant("INBOX", f"bob@{DOMAIN}")
    world.rt.delegation(world.users["bob"]).list_messages(grant.id)
    alice = world.users["alice"].account_id
    bob = world.users["bob"].account_id
    others = accesses_by_others(world.rt.db, alice)
    assert any(r.actor_account == bob and r.action == "list" for r in others)
    assert all(r.owner_account == alice and r.actor_account != alice for r in others)
    assert all(r.action != "deliver" for r in others)
    plan = (
        sqlite3.connect(world.rt.db.path)
        .execute(
            "EXPLAIN QUERY PLAN SELECT pos FROM audit_log WHERE others_owner = ? AND pos < ?"
            " ORDER BY pos DESC LIMIT 5",
            (alice, 2**62),
        )
        .fetchall()
    )
    assert "audit_by_others" in str(plan)
    newest = others[0].pos
    assert all(r.pos < newest for r in accesses_by_others(world.rt.db, alice, before_pos=newest))
