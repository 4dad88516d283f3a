"""Guard.check: refuse, record, contain; and what --no-guard still records."""

from pathlib import Path

from mailward.audit.query import all_records
from mailward.core.principal import Protocol
from mailward.guard import Stamp
from support import World, build_world


def _world(tmp_path: Path, **settings: object) -> World:
    return build_world(tmp_path / "data", **settings)


def _page_of(w: World, name: str) -> Stamp:
    """The stamp of a real inbox page of `name` (what the door handed out)."""
    w.deliver(name, f"private to {name}")
    stamp = Stamp()
    stamp.add(w.door(name).list_messages("INBOX"), "list-entry")
    return stamp


def test_own_data_passes_and_writes_nothing(tmp_path: Path) -> None:
    w = _world(tmp_path)
    stamp = _page_of(w, "alice")
    before = len(list(all_records(w.rt.db)))
    assert w.rt.guard.check(w.users["alice"], stamp, Protocol.WEB).send
    assert len(list(all_records(w.rt.db))) == before
    assert w.rt.guard.events() == []
    w.rt.close()


def test_foreign_data_is_refused_recorded_and_the_protocol_stopped(tmp_path: Path) -> None:
    w = _world(tmp_path)
    stamp = _page_of(w, "alice")
    item = next(i for o, p, i in stamp.entries if p == "list-entry" and i)
    bob = w.users["bob"]
    verdict = w.rt.guard.check(bob, stamp, Protocol.WEB, "10.1.2.3")
    assert not verdict.send and verdict.incident is not None
    refused = [r for r in all_records(w.rt.db) if r.outcome == "refused"]
    assert len(refused) == 1
    r = refused[0]
    assert (r.actor_account, r.owner_account, r.part) == (
        bob.account_id,
        w.users["alice"].account_id,
        "list-entry",
    )
    assert item in r.items and r.actor_session == bob.session_id
    kinds = [(e.kind, e.incident) for e in reversed(w.rt.guard.events())]
    # no flag explains it: the web's kill switch, fail closed
    assert kinds == [("trip", None), ("killswitch", verdict.incident)]
    assert w.rt.switches.engaged("web") is not None
    assert w.rt.switches.engaged("api") is None
    w.rt.close()


def test_a_foreign_entry_inside_my_page_blames_the_flag_of_its_code_path(tmp_path: Path) -> None:
    w = _world(tmp_path)
    w.rt.switches.set_flag("page-cache", 100.0, "test", "rolled out")
    stamp = _page_of(w, "bob")  # bob's own page...
    alice_login = w.rt.logins.history(w.users["alice"].account_id, 1)
    stamp.add(alice_login, "logins", "last-logon")  # ...with alice's login in its banner
    stamp.flags.add("page-cache")
    assert not w.rt.guard.check(w.users["bob"], stamp, Protocol.WEB).send
    assert w.rt.switches.flag("last-logon").percent == 0.0
    assert w.rt.switches.flag("page-cache").percent == 100.0  # not blamed
    assert w.rt.switches.engaged("web") is None  # attributed: no kill switch
    w.rt.close()


def test_a_whole_foreign_reply_blames_the_layer_it_went_through(tmp_path: Path) -> None:
    w = _world(tmp_path)
    w.rt.switches.set_flag("page-cache", 100.0, "test", "rolled out")
    stamp = _page_of(w, "alice")
    stamp.add(w.rt.logins.history(w.users["alice"].account_id, 1), "logins", "last-logon")
    stamp.flags.add("page-cache")  # the response went through the page cache
    assert not w.rt.guard.check(w.users["bob"], stamp, Protocol.WEB).send
    assert w.rt.switches.flag("page-cache").percent == 0.0
    assert w.rt.switches.flag("last-logon").percent == 100.0  # not blamed
    history = w.rt.switches.flag("page-cache").history[-1]
    assert history["by"] == "guard" and "trip #" in history["why"]
    w.rt.close()


def test_a_grant_lets_the_grantee_see_the_granted_data(tmp_path: Path) -> None:
    w = _world(tmp_path)
    stamp = _page_of(w, "alice")
    w.rt.delegation(w.users["alice"]).grant("INBOX", "bob@example.test")
    assert w.rt.guard.check(w.users["bob"], stamp, Protocol.WEB).send
    assert not w.rt.guard.check(w.users["carol"], stamp, Protocol.WEB).send
    w.rt.close()


def test_without_the_guard_it_is_sent_but_recorded_and_not_contained(tmp_path: Path) -> None:
    w = _world(tmp_path, guard=False)
    stamp = _page_of(w, "alice")
    verdict = w.rt.guard.check(w.users["bob"], stamp, Protocol.API)
    assert verdict.send and verdict.incident is not None
    exposed = [r for r in all_records(w.rt.db) if "boundary" in r.detail]
    assert [(r.outcome, r.actor_account) for r in exposed] == [
        ("allowed", w.users["bob"].account_id)
    ]
    assert [e.kind for e in w.rt.guard.events()] == ["trip"]
    assert w.rt.switches.engaged("api") is None
    w.rt.close()
