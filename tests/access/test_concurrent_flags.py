"""Two clients changing one message's flags at once (say a phone over IMAP and the
web page): each change is worked out from the flags as they are inside its own
unit, so neither is lost."""

from pathlib import Path

import pytest

from mailward.core.flags import Flags
from support import World, build_world

NO_FLAGS = Flags()


def _meanwhile(
    world: World,
    monkeypatch: pytest.MonkeyPatch,
    item: str,
    add: Flags = NO_FLAGS,
    remove: Flags = NO_FLAGS,
) -> None:
    """Another client's flag change on `item`, made once just before the next unit
    begins: after the door has read the message, before it writes."""
    store = world.rt.services.store
    begin = store.transaction
    other = world.door("alice")
    pending = [lambda: other.set_flags([item], add=add, remove=remove)]

    def transaction(*args: object, **kw: object) -> object:
        if pending:
            pending.pop()()
        return begin(*args, **kw)

    monkeypatch.setattr(store, "transaction", transaction)


@pytest.fixture
def mail(tmp_path: Path) -> tuple[World, str]:
    """alice's world, and a message of hers."""
    world = build_world(tmp_path / "d", ("alice",))
    return world, world.deliver("alice", "Invoice", "x")


def _flags(world: World, item: str) -> set[str]:
    return set(world.door("alice").get_summary(item).flags)


def test_flags_set_by_two_clients_at_once_are_both_kept(
    mail: tuple[World, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    world, item = mail
    _meanwhile(world, monkeypatch, item, add=Flags.of("\\Answered"))
    world.door("alice").set_flags([item], add=Flags.of("\\Flagged"))
    assert {"\\Answered", "\\Flagged"} <= _flags(world, item)


def test_a_flag_removed_meanwhile_stays_removed(
    mail: tuple[World, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    world, item = mail
    world.door("alice").set_flags([item], add=Flags.of("\\Flagged"))
    _meanwhile(world, monkeypatch, item, remove=Flags.of("\\Flagged"))
    world.door("alice").set_flags([item], add=Flags.of("\\Answered"))
    flags = _flags(world, item)
    assert "\\Answered" in flags and "\\Flagged" not in flags


def test_opening_a_message_keeps_a_flag_set_meanwhile(
    mail: tuple[World, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    world, item = mail
    _meanwhile(world, monkeypatch, item, add=Flags.of("\\Flagged"))
    world.door("alice").get_message(item)  # marks it read
    assert {"\\Seen", "\\Flagged"} <= _flags(world, item)


def test_an_imap_fetch_that_marks_read_keeps_a_flag_set_meanwhile(
    mail: tuple[World, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    world, item = mail
    _meanwhile(world, monkeypatch, item, add=Flags.of("\\Flagged"))
    (fetched,) = world.door("alice").fetch([item], ["SECTION:"], set_seen=True)  # BODY[]
    assert {"\\Seen", "\\Flagged"} <= set(fetched.flags or ())
    assert {"\\Seen", "\\Flagged"} <= _flags(world, item)


def test_the_webs_two_step_message_page_keeps_a_flag_set_meanwhile(
    mail: tuple[World, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    world, item = mail
    pending = world.door("alice").message_view_deferred(item, open_up_to=1 << 20, folders_up_to=99)
    assert pending.opened and "\\Seen" not in _flags(world, item)  # read at the call only
    _meanwhile(world, monkeypatch, item, add=Flags.of("\\Flagged"))
    pending.complete()  # records the reading and marks it read
    assert {"\\Seen", "\\Flagged"} <= _flags(world, item)
