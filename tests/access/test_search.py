"""Search through the door: criteria, own mail only, bounded scans with a cursor."""

from datetime import UTC, datetime, timedelta

import pytest

import mailward.access.searching as searching
from mailward.access import SearchQuery
from mailward.audit.query import all_records
from mailward.core.errors import InvalidInput
from support import World, make_message


def subjects(page: object) -> list[str]:
    return [m.subject for m in page.items]  # type: ignore[attr-defined]


def test_criteria_match_own_mail_only(world: World) -> None:
    deliver = world.rt.system().deliver
    deliver(["alice@example.test"], make_message("Invoice 42", "Please pay by Friday",
                                                 sender="Billing <bill@shop.test>"))  # fmt: skip
    lunch = make_message("Lunch", "Pizza or sushi?", sender="bob@example.test", to="team@x.test")
    deliver(["alice@example.test"], lunch)
    deliver(["bob@example.test"], make_message("Invoice 43", "bob's own invoice"))
    alice = world.door("alice")
    assert subjects(alice.search("INBOX", SearchQuery(subject="invoice"))) == ["Invoice 42"]
    assert subjects(alice.search("INBOX", SearchQuery(sender="SHOP.test"))) == ["Invoice 42"]
    assert subjects(alice.search("INBOX", SearchQuery(recipient="team@"))) == ["Lunch"]
    assert subjects(alice.search("INBOX", SearchQuery(text="sushi"))) == ["Lunch"]
    assert subjects(alice.search("INBOX", SearchQuery(text="bob's own"))) == []
    tomorrow = datetime.now(UTC) + timedelta(days=1)
    assert subjects(alice.search("INBOX", SearchQuery(subject="n", before=tomorrow))) == [
        "Lunch", "Invoice 42"]  # fmt: skip
    assert subjects(alice.search("INBOX", SearchQuery(since=tomorrow))) == []
    with pytest.raises(InvalidInput):
        alice.search("INBOX", SearchQuery())
    searched = [r for r in all_records(world.rt.db) if r.detail == "search"]
    assert searched and all(r.owner_account == world.users["alice"].account_id for r in searched)


def test_a_scan_is_bounded_and_goes_on_with_its_cursor(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    for i in range(25):
        world.deliver("alice", f"{'needle' if i % 5 == 0 else 'hay'} {i}")
    monkeypatch.setattr(searching, "MAX_SCANNED", 7)
    alice = world.door("alice")
    seen: list[str] = []
    cursor = None
    calls = 0
    while True:
        page = alice.search("INBOX", SearchQuery(subject="needle"), limit=50, cursor=cursor)
        seen += subjects(page)
        calls += 1
        cursor = page.cursor
        if cursor is None:
            break
    assert calls >= 4  # 25 messages, at most 7 scanned per call
    assert sorted(seen) == sorted(f"needle {i}" for i in range(0, 25, 5))
