"""Stamps: collected from what the door hands out, carried as one header value."""

from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from mailward.guard import Stamp
from support import PASSWORD, build_world

_word = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-:@", min_size=1, max_size=12)
_entry = st.tuples(_word, _word, st.one_of(st.just(""), _word))


@given(st.sets(_entry, max_size=30), st.sets(_word, max_size=3))
def test_encoding_round_trips(entries: set[tuple[str, str, str]], flags: set[str]) -> None:
    stamp = Stamp(set(entries), set(flags))
    text = stamp.encode()
    assert Stamp.decode(text) == stamp
    assert Stamp.owners_in(text) == stamp.owners()


def test_a_page_names_every_item_and_its_owner(tmp_path: Path) -> None:
    w = build_world(tmp_path / "data")
    for i in range(3):
        w.deliver("alice", f"subject {i}")
    page = w.door("alice").list_messages("INBOX")
    alice = w.users["alice"].account_id
    w.rt.logins.login("alice@example.test", PASSWORD, remote="10.0.0.9", client="pytest")
    stamp = Stamp()
    stamp.add(page, "list-entry")
    stamp.add(w.rt.logins.since_last_login(alice), "logins", "last-logon")
    items = {(o, p, i) for o, p, i in stamp.entries if p == "list-entry" and i}
    assert items == {(alice, "list-entry", m.id) for m in page.items}
    assert (alice, "list-entry", "") in stamp.entries  # the page itself
    assert any(p == "logins@last-logon" for _o, p, _i in stamp.entries)
    assert stamp.owners() == {alice}
    w.rt.close()
