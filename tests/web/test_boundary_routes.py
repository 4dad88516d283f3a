"""Every route that carries mail or account data goes through the boundary: with
the door cross-wired (alice's requests served from bob's mailbox, a fault the door
itself cannot see), each answer is stopped before a byte of bob's data leaves,
recorded as refused, and the kill switch of its protocol engages (no flag explains
it)."""

from typing import Any

import pytest
from fastapi.testclient import TestClient
from web_support import sign_in

from mailward.audit.query import all_records
from support import World, make_message

MARK = "bob-private-7f3a"


def _routes(msg: str) -> list[str]:
    return [
        "/mail/INBOX",
        f"/mail/INBOX/{msg}",
        f"/mail/INBOX/{msg}/body",
        f"/mail/INBOX/{msg}/attachments/1",
        f"/compose?reply={msg}",
        f"/search?subject={MARK}",
        "/api/v1/mailboxes",
        "/api/v1/mailboxes/INBOX/messages",
        f"/api/v1/mailboxes/INBOX/search?subject={MARK}",
        f"/api/v1/messages/{msg}",
        f"/api/v1/messages/{msg}/raw",
        f"/api/v1/messages/{msg}/attachments/1",
    ]


@pytest.mark.parametrize("index", range(12))
def test_a_cross_wired_door_is_stopped_on_every_route(
    web: tuple[World, TestClient], index: int
) -> None:
    w, client = web
    raw = make_message(f"Statement {MARK}", f"body {MARK}", attachments=(("s.pdf", MARK.encode()),))
    w.rt.system().deliver(["bob@example.test"], raw)
    (msg,) = w.door("bob").list_messages().items
    sign_in(client, "alice")
    backend: Any = client.app.state.backend  # type: ignore[attr-defined]
    real = backend.door
    backend.door = lambda p: real(w.users["bob"])  # the fault: every door is bob's
    path = _routes(msg.id)[index]
    before = len(list(all_records(w.rt.db)))
    r = client.get(path)
    assert r.status_code == 500, path
    assert MARK.encode() not in r.content and msg.id.encode() not in r.content
    refused = [
        rec for rec in list(all_records(w.rt.db))[before:]
        if rec.outcome == "refused" and "boundary" in rec.detail
    ]  # fmt: skip
    assert refused and all(rec.actor_account == w.users["alice"].account_id for rec in refused)
    assert all(rec.owner_account == w.users["bob"].account_id for rec in refused)
    scope = "api" if path.startswith("/api/") else "web"
    assert w.rt.switches.engaged(scope) is not None
    backend.door = real


def test_a_folder_page_stamps_its_folders_as_folders_and_its_messages_as_list_entries(
    web: tuple[World, TestClient],
) -> None:
    from mailward.guard import Stamp
    from mailward.web.boundary import witness

    w, _client = web
    w.deliver("alice", "Hello")
    door = w.door("alice")

    class _Request:  # what witness() reads of a request: its state
        class state:
            pass

    request = _Request()
    pending = witness(request, door).mailbox_view_deferred(  # type: ignore[arg-type]
        "INBOX", open_up_to=1 << 20, folders_up_to=1000
    )
    view = pending.complete()
    stamp: Stamp = request.state.stamp  # type: ignore[attr-defined]
    folder_ids = {f.id for f in view.folders}
    message_ids = {m.id for m in view.page.items}
    parts = {item: part for _owner, part, item in stamp.entries}
    assert {parts[i] for i in folder_ids} == {"-"}
    assert {parts[i] for i in message_ids} == {"list-entry"}
