"""The mail pages over HTTP: sign-in, lists, messages, attachments, and the rules
every response keeps (no-store, CSP, CSRF, 404 for what is not yours)."""

import asyncio
import re
from typing import Any
from urllib.parse import unquote

import pytest
from fastapi.testclient import TestClient
from web_support import sign_in

from support import PASSWORD, World, make_message


def test_sign_in_refusals_are_identical_and_success_sets_a_safe_cookie(
    web: tuple[World, TestClient],
) -> None:
    _, client = web
    wrong = sign_in(client, "alice", "not the password")
    unknown = sign_in(client, "nobody")
    assert wrong.status_code == unknown.status_code == 401  # type: ignore[attr-defined]
    assert "invalid address, password or code" in wrong.text  # type: ignore[attr-defined]
    assert "invalid address, password or code" in unknown.text  # type: ignore[attr-defined]
    ok = sign_in(client, "alice")
    assert ok.status_code == 303 and ok.headers["location"] == "/mail/INBOX?welcome=1"  # type: ignore[attr-defined]
    cookie = ok.headers["set-cookie"]  # type: ignore[attr-defined]
    assert "mw_session=" in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie


def test_inbox_shows_own_mail_only_with_no_store_and_csp(web: tuple[World, TestClient]) -> None:
    w, client = web
    w.deliver("alice", "Quarterly statement for alice")
    w.deliver("bob", "Bob's private contract")
    sign_in(client, "alice")
    page = client.get("/mail/INBOX?welcome=1")
    assert page.status_code == 200
    assert "Quarterly statement for alice" in page.text
    assert "private contract" not in page.text
    assert page.headers["cache-control"] == "private, no-store"
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert page.headers["x-content-type-options"] == "nosniff"
    assert 'id="last-logon"' in page.text  # the banner after sign-in


def test_list_lines_escape_every_value(web: tuple[World, TestClient]) -> None:
    # The lines are built in Python (not the template): each value must be escaped.
    w, client = web
    w.rt.system().deliver(
        ["alice@example.test"],
        make_message(
            "<img src=x onerror=\"alert(1)\"> & 'quoted'",
            '<script>alert(2)</script> "body" & more',
            sender='"<b onmouseover=alert(3)>" <evil@elsewhere.test>',
        ),
    )
    w.door("alice").create_mailbox('Odd "<box>"')
    sign_in(client, "alice")
    page = client.get("/mail/INBOX")
    assert page.status_code == 200
    assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt; &amp; &#x27;quoted&#x27;" in page.text
    assert "&lt;script&gt;alert(2)&lt;/script&gt;" in page.text
    assert "&lt;b onmouseover=alert(3)&gt;" in page.text
    for raw in ("<img src=x", "<script>", "<b onmouseover"):
        assert raw not in page.text
    (m,) = w.door("alice").list_messages().items
    assert f'<a href="/mail/INBOX/{m.id}">' in page.text
    w.door("alice").move([m.id], 'Odd "<box>"')
    odd = client.get("/mail/" + 'Odd "<box>"')
    assert odd.status_code == 200
    assert f'<a href="/mail/Odd%20%22%3Cbox%3E%22/{m.id}">' in odd.text


def test_message_text_html_body_and_attachment(web: tuple[World, TestClient]) -> None:
    w, client = web
    raw = make_message(
        "With a file", "see attached", attachments=(("../../etc/passwd.pdf", b"%PDF-1.4"),)
    )
    w.rt.system().deliver(["alice@example.test"], raw)
    sign_in(client, "alice")
    (m,) = w.door("alice").list_messages().items
    page = client.get(f"/mail/INBOX/{m.id}")
    assert page.status_code == 200 and "see attached" in page.text
    link = re.search(r'href="(/mail/INBOX/[^"]+/attachments/1)"', page.text)
    assert link is not None
    part = client.get(link.group(1))
    assert part.content == b"%PDF-1.4"
    assert part.headers["content-disposition"].startswith("attachment;")
    disposition = part.headers["content-disposition"]
    sent_name = unquote(disposition.split("''", 1)[1]) if "''" in disposition else disposition
    assert "/" not in sent_name and "\\" not in sent_name and not sent_name.startswith(".")
    assert sent_name.endswith("passwd.pdf")  # the name kept, the path dropped
    assert "\r" not in part.headers["content-disposition"]
    assert part.headers["x-content-type-options"] == "nosniff"
    assert part.headers["content-type"] == "application/octet-stream"


def test_hostile_html_body_is_sanitised_and_caged(web: tuple[World, TestClient]) -> None:
    w, client = web
    html = (
        '<p onclick="steal()">Hi<script>alert(1)</script>'
        '<img src="https://tracker.example/pixel.gif">'
        '<a href="javascript:alert(2)">x</a><base href="https://evil.example/"></p>'
    )
    raw = (
        "From: x@elsewhere.test\r\nTo: alice@example.test\r\nSubject: hostile\r\n"
        "MIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\n\r\n" + html
    ).encode()
    w.rt.system().deliver(["alice@example.test"], raw)
    sign_in(client, "alice")
    (m,) = w.door("alice").list_messages().items
    page = client.get(f"/mail/INBOX/{m.id}")
    assert '<iframe class="body"' in page.text and 'sandbox="allow-popups' in page.text
    assert "alert(1)" not in page.text
    body = client.get(f"/mail/INBOX/{m.id}/body")
    for bad in ("<script", "onclick", "javascript:", "<base"):
        assert bad not in body.text
    csp = body.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "img-src data:" in csp and "script-src" not in csp


def test_another_accounts_message_and_folder_answer_404(web: tuple[World, TestClient]) -> None:
    w, client = web
    secret = w.deliver("bob", "Bob's bank statement")
    sign_in(client, "alice")
    for path in (
        f"/mail/INBOX/{secret}",
        f"/mail/INBOX/{secret}/body",
        f"/mail/INBOX/{secret}/attachments/1",
        "/mail/NoSuchFolder",
    ):
        r = client.get(path)
        assert r.status_code == 404, path
        assert "bank statement" not in r.text


def test_the_two_plain_routes_check_their_numbers_and_sign_in(
    web: tuple[World, TestClient],
) -> None:
    # The message list and a message are Starlette routes (no FastAPI parameter
    # checks): a bad number is a 400 page, signed out is the way to sign in.
    w, client = web
    mine = w.deliver("alice", "Alice own note")
    assert client.get("/mail/INBOX", follow_redirects=False).headers["location"] == "/login"
    assert client.get(f"/mail/INBOX/{mine}", follow_redirects=False).status_code == 303
    sign_in(client, "alice")
    for path in (
        "/mail/INBOX?welcome=yes",
        "/mail/INBOX?sent=1e9",
        f"/mail/INBOX/{mine}?images=<b>",
        "/mail/INBOX?welcome=99999999999999999999",
        "/mail/INBOX?welcome=\u00b2",  # a digit to str.isdigit, not to int()
        f"/mail/INBOX/{mine}?images=--1",
    ):
        r = client.get(path)
        assert r.status_code == 400, path
        assert "must be a number" in r.text and "Alice own note" not in r.text
    # GET only: a HEAD of a message page must not mark it read (nor record it).
    assert client.head(f"/mail/INBOX/{mine}").status_code == 405
    assert client.head("/mail/INBOX").status_code == 405
    assert w.door("alice").get_summary(mine).unread
    assert "Alice own note" in client.get("/mail/INBOX?welcome=0&sent=-1").text
    assert "Alice own note" in client.get(f"/mail/INBOX/{mine}?images=1").text


def test_sign_out_needs_the_csrf_token_and_ends_the_session(web: tuple[World, TestClient]) -> None:
    _, client = web
    sign_in(client, "alice")
    page = client.get("/mail/INBOX")
    assert client.post("/logout", data={"csrf": "forged"}).status_code == 400
    token = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert token is not None
    out = client.post("/logout", data={"csrf": token.group(1)}, follow_redirects=False)
    assert out.status_code == 303
    again = client.get("/mail/INBOX", follow_redirects=False)
    assert again.status_code == 303 and again.headers["location"] == "/login"


def test_search_page_and_api(web: tuple[World, TestClient]) -> None:
    w, client = web
    w.rt.system().deliver(["alice@example.test"], make_message("Tax return 2026", "the form"))
    w.rt.system().deliver(["alice@example.test"], make_message("Holiday", "tax-free shop"))
    w.rt.system().deliver(["bob@example.test"], make_message("Tax for bob", "bob's"))
    sign_in(client, "alice")
    page = client.get("/search", params={"mailbox": "INBOX", "subject": "tax"})
    assert page.status_code == 200 and "Tax return 2026" in page.text
    assert "Holiday" not in page.text.split('id="results"', 1)[1] and "Tax for bob" not in page.text
    body = client.get("/search", params={"mailbox": "INBOX", "text": "TAX-FREE"})
    assert "Holiday" in body.text.split('id="results"', 1)[1]
    bad = client.get("/search", params={"mailbox": "INBOX", "since": "yesterday"})
    assert bad.status_code == 400
    creds = {"address": "alice@example.test", "password": PASSWORD}
    token = client.post("/api/v1/session", json=creds).json()["token"]
    r = client.get("/api/v1/mailboxes/INBOX/search", params={"sender": "elsewhere"},
                   headers={"Authorization": f"Bearer {token}"})  # fmt: skip
    assert sorted(m["subject"] for m in r.json()["items"]) == ["Holiday", "Tax return 2026"]


def test_remote_images_only_when_the_reader_asks(web: tuple[World, TestClient]) -> None:
    w, client = web
    raw = (
        b"From: x@elsewhere.test\r\nTo: alice@example.test\r\nSubject: pictures\r\n"
        b"MIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
        b'<p>Look <img src="https://images.example/cat.png" alt="cat"></p>'
        b"<script>alert(1)</script>"
    )
    w.rt.system().deliver(["alice@example.test"], raw)
    sign_in(client, "alice")
    (m,) = w.door("alice").list_messages().items
    page = client.get(f"/mail/INBOX/{m.id}")
    assert 'id="remote-images"' in page.text
    plain = client.get(f"/mail/INBOX/{m.id}/body")
    assert "images.example" not in plain.text
    assert "https:" not in plain.headers["content-security-policy"]
    chosen = client.get(f"/mail/INBOX/{m.id}/body?images=1")
    assert 'src="https://images.example/cat.png"' in chosen.text
    assert "img-src data: https:" in chosen.headers["content-security-policy"]
    assert (
        "<script" not in chosen.text
        and "script-src" not in chosen.headers["content-security-policy"]
    )
    shown = client.get(f"/mail/INBOX/{m.id}?images=1")
    assert 'id="remote-images"' not in shown.text and "/body?images=1" in shown.text


def test_times_are_shown_to_the_minute_in_utc() -> None:
    """The list's dates come from a per-minute cache: the same text as formatting
    each one, at minute edges and before 1970 too."""
    from datetime import UTC, datetime, timedelta

    from mailward.web.pages import _when

    edges = [
        datetime(2026, 11, 28, 2, 59, 59, 999_999, tzinfo=UTC),
        datetime(2026, 11, 28, 3, 0, tzinfo=UTC),
        datetime(1969, 12, 31, 23, 59, 30, tzinfo=UTC),
        datetime(1970, 1, 1, tzinfo=UTC),
    ]
    for value in edges + [edges[0] + timedelta(seconds=k * 7.5) for k in range(20)]:
        shown = value.strftime("%Y-%m-%d %H:%M UTC")
        assert _when(value) == shown
        stamp = value - datetime(1970, 1, 1, tzinfo=UTC)
        assert _when(us=stamp // timedelta(microseconds=1)) == shown
    naive = datetime(2026, 1, 2, 3, 4, 5)
    assert _when(naive) == "2026-01-02 03:04 UTC"


def _where_rendered(
    monkeypatch: pytest.MonkeyPatch, renderer: str = "_mailbox_response"
) -> list[str]:
    """Where each message list (or, with "_message_page", each message) is
    rendered from now on: "loop" or "pool"."""
    from mailward.web import pages

    seen: list[str] = []
    real = getattr(pages, renderer)

    def spy(*args: Any, **kwargs: Any) -> Any:
        response = real(*args, **kwargs)  # (a render that fails is not counted)
        try:
            asyncio.get_running_loop()
            seen.append("loop")
        except RuntimeError:
            seen.append("pool")
        return response

    monkeypatch.setattr(pages, renderer, spy)
    return seen


def test_a_list_too_large_for_the_event_loop_is_built_in_the_pool_and_recorded(
    web: tuple[World, TestClient], monkeypatch: pytest.MonkeyPatch
) -> None:
    # A page's sealed list fields over pages._LOOP_BYTES, or more folders than
    # pages._LOOP_FOLDERS: read, opened and rendered in the thread pool instead of
    # on the event loop; the page is the same, and the listing recorded either way.
    from mailward.audit.query import all_records
    from mailward.web import pages

    w, client = web
    sign_in(client, "alice")
    seen = _where_rendered(monkeypatch)

    def listings() -> int:
        return sum(1 for r in all_records(w.rt.db) if r.action == "list")

    w.deliver("alice", "Short note")
    before = listings()
    assert "Short note" in client.get("/mail/INBOX").text
    assert seen == ["loop"] and listings() == before + 1

    long_to = ", ".join(f"reader{i}@example.test" for i in range(12_000))  # ~280 KB
    address = w.users["alice"].address
    big = w.rt.system().deliver([address], make_message("Long list", "body", to=long_to))[address]
    page = client.get("/mail/INBOX")
    assert page.status_code == 200 and "Long list" in page.text and "Short note" in page.text
    assert seen == ["loop", "pool"] and listings() == before + 2
    assert big in [r for r in all_records(w.rt.db) if r.action == "list"][-1].items

    monkeypatch.setattr(pages, "_LOOP_BYTES", 1 << 30)
    monkeypatch.setattr(pages, "_LOOP_FOLDERS", 3)  # alice has the six standard folders
    assert "Long list" in client.get("/mail/INBOX").text
    assert seen == ["loop", "pool", "pool"] and listings() == before + 3


def test_an_inbox_page_whose_listing_cannot_be_recorded_is_not_sent(
    web: tuple[World, TestClient], monkeypatch: pytest.MonkeyPatch
) -> None:
    w, client = web
    w.deliver("alice", "Private statement")
    sign_in(client, "alice")
    seen = _where_rendered(monkeypatch)
    audit = w.rt.services.audit

    def broken(record: object) -> int:
        raise OSError("disk full")

    monkeypatch.setattr(audit, "append", broken)
    client_500 = TestClient(client.app, raise_server_exceptions=False)
    client_500.cookies = client.cookies
    page = client_500.get("/mail/INBOX")
    assert seen == ["loop"]  # rendered on the loop, then held for the record
    assert page.status_code == 500 and "Private statement" not in page.text


def test_a_nul_in_a_list_value_cannot_shift_another_lines_values() -> None:
    # The page's values are escaped in one call joined by NUL; the sealed list
    # fields never hold one, but if one did it must stay within its own line.
    from datetime import UTC, datetime

    from mailward.core.flags import Flags
    from mailward.core.message import MessageSummary
    from mailward.web.pages import _rows_html

    def summary(i: int, subject: str) -> MessageSummary:
        return MessageSummary(
            "acct", f"id{i}", "box", "INBOX", i, i, datetime.fromtimestamp(0, UTC), 1,  # type: ignore[arg-type]
            Flags.parse(""), subject, f"sender{i}", "", "", f"snippet{i}", False,
        )  # fmt: skip

    html = str(_rows_html("INBOX", [summary(0, "a\x00<b>"), summary(1, "second")]))
    first, second = html.split("</tr>")[:2]
    assert "a\ufffd&lt;b&gt;" in first and "sender0" in first and "snippet0" in first
    assert "second" in second and "sender1" in second and "snippet1" in second


def test_a_message_is_opened_on_the_event_loop_when_small_and_in_the_pool_when_large(
    web: tuple[World, TestClient], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Either way: the same page, its headers and body recorded, marked read; and
    # another account's message answers 404 with a refused record under its owner.
    from mailward.audit.query import all_records
    from mailward.web import pages

    w, client = web
    sign_in(client, "alice")
    seen = _where_rendered(monkeypatch, "_message_page")

    def reads(item: str) -> list[str]:
        return [r.part for r in all_records(w.rt.db) if item in r.items and r.action == "read"]

    small = w.deliver("alice", "Short note", "the note's text")
    page = client.get(f"/mail/INBOX/{small}")
    assert page.status_code == 200 and "the note&#39;s text" in page.text
    assert seen == ["loop"] and reads(small) == ["headers", "body"]
    assert "\\Seen" in w.door("alice").get_summary(small).flags

    monkeypatch.setattr(pages, "_LOOP_MESSAGE_BYTES", 10)
    large = w.deliver("alice", "Longer note", "more text")
    page = client.get(f"/mail/INBOX/{large}")
    assert page.status_code == 200 and "more text" in page.text
    assert seen == ["loop", "pool"] and reads(large) == ["headers", "body"]
    assert "\\Seen" in w.door("alice").get_summary(large).flags

    monkeypatch.setattr(pages, "_LOOP_MESSAGE_BYTES", 1 << 30)
    bobs = w.deliver("bob", "Bob's payslip", "salary")
    refused = sum(1 for r in all_records(w.rt.db) if r.outcome == "refused")
    page = client.get(f"/mail/INBOX/{bobs}")
    assert page.status_code == 404 and "salary" not in page.text
    after = [r for r in all_records(w.rt.db) if r.outcome == "refused"]
    assert len(after) == refused + 1 and after[-1].owner_account == w.users["bob"].account_id
