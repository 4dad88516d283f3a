"""Changing and writing mail over HTTP: flags, delete/restore, move, folders,
empty Trash; compose, reply with an attachment the recipient downloads, drafts,
size limit, CSRF."""

import html
import re

from fastapi.testclient import TestClient
from web_support import sign_in

from mailward.web import create_app
from support import DOMAIN, World


def csrf_of(client: TestClient, path: str = "/mail/INBOX") -> str:
    m = re.search(r'name="csrf" value="([^"]+)"', client.get(path).text)
    assert m is not None
    return m.group(1)


def subjects(w: World, name: str, box: str = "INBOX") -> list[str]:
    return [m.subject for m in w.door(name).list_messages(box).items]


def test_flags_delete_restore_move_and_folders(web: tuple[World, TestClient]) -> None:
    w, client = web
    a = w.deliver("alice", "first")
    b = w.deliver("alice", "second")
    sign_in(client, "alice")
    token = csrf_of(client)
    act = client.post("/mail/INBOX/actions", data={"csrf": token, "action": "flag", "ids": [a, b]})
    assert act.status_code == 200  # followed the redirect back to the list
    assert all(m.flags.flagged for m in w.door("alice").list_messages().items)
    client.post("/mail/INBOX/actions", data={"csrf": token, "action": "read", "ids": [a]})
    assert not w.door("alice").get_summary(a).unread
    client.post("/mail/INBOX/actions", data={"csrf": token, "action": "delete", "ids": [a]})
    assert subjects(w, "alice") == ["second"] and subjects(w, "alice", "Trash") == ["first"]
    client.post("/mail/Trash/actions", data={"csrf": token, "action": "restore", "ids": [a]})
    assert sorted(subjects(w, "alice")) == ["first", "second"]
    client.post("/folders", data={"csrf": token, "op": "create", "name": "Bank"})
    client.post("/mail/INBOX/actions", data={"csrf": token, "action": "move", "ids": [b],
                                             "target": "Bank"})  # fmt: skip
    assert subjects(w, "alice", "Bank") == ["second"]
    client.post("/mail/INBOX/actions", data={"csrf": token, "action": "delete", "ids": [a]})
    client.post("/folders", data={"csrf": token, "op": "empty", "name": "Trash"})
    assert subjects(w, "alice", "Trash") == []
    back = w.door("alice").restore(a)  # an emptied Trash is still restorable (tombstone)
    assert back.subject == "first" and "first" in subjects(w, "alice", back.mailbox)
    # Deleting a folder that still holds mail puts the mail in Trash, not nowhere.
    client.post("/folders", data={"csrf": token, "op": "delete", "name": "Bank"})
    assert "Bank" not in [f.name for f in w.door("alice").mailboxes()]
    assert "second" in subjects(w, "alice", "Trash")


def test_changes_need_the_csrf_token(web: tuple[World, TestClient]) -> None:
    w, client = web
    a = w.deliver("alice", "keep me")
    sign_in(client, "alice")
    r = client.post("/mail/INBOX/actions", data={"action": "delete", "ids": [a]})
    assert r.status_code == 400
    r = client.post("/compose", data={"to": f"bob@{DOMAIN}", "subject": "x", "body": "y"})
    assert r.status_code == 400
    assert subjects(w, "alice") == ["keep me"] and subjects(w, "bob") == []


def test_actions_on_another_accounts_message_change_nothing(web: tuple[World, TestClient]) -> None:
    w, client = web
    theirs = w.deliver("bob", "bob's")
    sign_in(client, "alice")
    token = csrf_of(client)
    r = client.post(
        "/mail/INBOX/actions", data={"csrf": token, "action": "delete", "ids": [theirs]}
    )
    assert r.status_code == 404
    assert subjects(w, "bob") == ["bob's"]


def test_reply_with_an_attachment_that_the_recipient_downloads(
    web: tuple[World, TestClient],
) -> None:
    w, alice = web
    raw_original = (
        f"From: Bob <bob@{DOMAIN}>\r\nTo: alice@{DOMAIN}\r\nSubject: Lunch on Friday?\r\n"
        "Message-ID: <lunch-1@example.test>\r\n\r\nShall we?\r\n"
    ).encode()
    original = w.rt.system().deliver([f"alice@{DOMAIN}"], raw_original)[f"alice@{DOMAIN}"]
    sign_in(alice, "alice")
    form = alice.get(f"/compose?reply={original}").text
    assert f"bob@{DOMAIN}" in form and "Re: Lunch on Friday?" in form
    fields = {k: html.unescape(v) for k, v in re.findall(r'name="(\w+)" value="([^"]*)"', form)}
    sent = alice.post(
        "/compose",
        data={**fields, "to": f"bob@{DOMAIN}", "subject": "Re: Lunch on Friday?",
              "body": "Yes! Menu attached.", "action": "send"},
        files=[("attachments", ("menu.pdf", b"%PDF-1.4 menu", "application/pdf"))],
    )  # fmt: skip
    assert sent.status_code == 200 and "Message sent." in sent.text
    assert subjects(w, "alice", "Sent") == ["Re: Lunch on Friday?"]
    with TestClient(create_app(w.rt.web_backend())) as bob:
        sign_in(bob, "bob")
        (m,) = [x for x in w.door("bob").list_messages().items if x.subject.startswith("Re:")]
        page = bob.get(f"/mail/INBOX/{m.id}")
        assert "Menu attached" in page.text and "menu.pdf" in page.text
        part = bob.get(f"/mail/INBOX/{m.id}/attachments/1")
        assert part.content == b"%PDF-1.4 menu"
    raw = w.door("bob").get_raw(m.id).data
    assert b"In-Reply-To: <lunch-1@example.test>" in raw


def test_draft_and_size_limit(web: tuple[World, TestClient]) -> None:
    w, client = web
    sign_in(client, "alice")
    token = csrf_of(client)
    r = client.post("/compose", data={"csrf": token, "to": f"bob@{DOMAIN}", "subject": "later",
                                      "body": "draft text", "action": "draft"})  # fmt: skip
    assert r.status_code == 200 and subjects(w, "alice", "Drafts") == ["later"]
    client.app.state.backend.max_message_bytes = 10_000  # type: ignore[attr-defined]
    r = client.post(
        "/compose",
        data={"csrf": token, "to": f"bob@{DOMAIN}", "subject": "big", "body": "x"},
        files=[("attachments", ("big.bin", b"\0" * 20_000, "application/octet-stream"))],
    )
    assert r.status_code == 400 and "larger than" in r.text
    assert subjects(w, "bob") == [] and "big" not in subjects(w, "alice", "Sent")
