"""Delegated read access: explicit, recorded, visible to the owner, revocable."""

import pytest

from mailward.audit.query import all_records
from mailward.core.errors import InvalidInput, NotFound
from support import World


def test_grant_read_and_revoke(world: World) -> None:
    shared = world.deliver("bob", "shared invoice", "pay by friday")
    private = world.deliver("bob", "private note")
    bob_door = world.door("bob")
    bob_door.create_mailbox("Invoices")
    bob_door.move([shared], "Invoices")
    bob = world.rt.delegation(world.users["bob"])
    alice = world.rt.delegation(world.users["alice"])

    grant = bob.grant("Invoices", "alice@example.test")
    assert [g.id for g in bob.given()] == [grant.id]
    assert [(g.owner_address, g.mailbox) for g in alice.received()] == [
        ("bob@example.test", "Invoices")
    ]
    page = alice.list_messages(grant.id)
    assert [m.id for m in page.items] == [shared]
    assert page.owner == world.users["bob"].account_id  # stamped with the real owner
    view = alice.get_message(grant.id, shared)
    assert view.text.strip() == "pay by friday"
    assert world.door("bob").get_summary(shared).unread  # reading for bob does not mark it

    with pytest.raises(NotFound):
        alice.get_message(grant.id, private)  # outside the granted mailbox
    with pytest.raises(NotFound):
        world.rt.delegation(world.users["carol"]).list_messages(grant.id)  # not carol's grant

    reads = [r for r in all_records(world.rt.db) if r.detail == f"grant {grant.id}"]
    assert {r.part for r in reads} >= {"list-entry", "headers", "body"}
    assert all(r.actor_account == world.users["alice"].account_id for r in reads)
    assert all(r.owner_account == world.users["bob"].account_id for r in reads)
    assert any(r.action == "grant" for r in all_records(world.rt.db))

    bob.revoke(grant.id)
    with pytest.raises(NotFound):
        alice.list_messages(grant.id)
    assert alice.received() == []
    assert bob.given()[0].revoked_at is not None
    assert any(r.action == "revoke" for r in all_records(world.rt.db))


def test_grant_validation(world: World) -> None:
    bob = world.rt.delegation(world.users["bob"])
    with pytest.raises(NotFound):
        bob.grant("Nope", "alice@example.test")
    with pytest.raises(NotFound):
        bob.grant("INBOX", "nobody@example.test")
    with pytest.raises(InvalidInput):
        bob.grant("INBOX", "bob@example.test")
    with pytest.raises(NotFound):
        world.rt.delegation(world.users["alice"]).revoke("g" + "0" * 24)
    grant = bob.grant("INBOX", "alice@example.test")
    with pytest.raises(InvalidInput, match="limit"):
        world.rt.delegation(world.users["alice"]).list_messages(grant.id, limit=10**9)
