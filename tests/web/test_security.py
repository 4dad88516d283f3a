"""The Security page: sessions (sign out another and see it rejected), login
history, access to my mailbox by others, password change."""

import re

import pytest
from fastapi.testclient import TestClient
from web_support import sign_in

from mailward.core.errors import AuthError
from mailward.core.principal import Protocol
from mailward.web import create_app
from support import DOMAIN, PASSWORD, World


def csrf_of(client: TestClient) -> str:
    m = re.search(r'name="csrf" value="([^"]+)"', client.get("/security").text)
    assert m is not None
    return m.group(1)


def test_sign_out_another_session_and_it_is_rejected(web: tuple[World, TestClient]) -> None:
    w, laptop = web
    sign_in(laptop, "alice")
    with TestClient(create_app(w.rt.web_backend())) as phone:
        sign_in(phone, "alice")
        assert phone.get("/mail/INBOX", follow_redirects=False).status_code == 200
        page = laptop.get("/security").text
        ids = re.findall(r"/security/sessions/(s[0-9a-f]+)/revoke", page)
        assert len(ids) == 2 and "(this one)" in page
        me = w.rt.sessions.resolve(laptop.cookies["mw_session"], remote="", protocol=Protocol.WEB)
        (other,) = [i for i in ids if i != me.session_id]
        r = laptop.post(f"/security/sessions/{other}/revoke", data={"csrf": csrf_of(laptop)})
        assert r.status_code == 200 and "That session is signed out." in r.text
        rejected = phone.get("/mail/INBOX", follow_redirects=False)
        assert rejected.status_code == 303 and rejected.headers["location"] == "/login"
    assert laptop.get("/mail/INBOX", follow_redirects=False).status_code == 200


def test_history_and_access_by_others(web: tuple[World, TestClient]) -> None:
    w, client = web
    w.deliver("alice", "shared note")
    grant = w.rt.delegation(w.users["alice"]).grant("INBOX", f"bob@{DOMAIN}")
    w.rt.delegation(w.users["bob"]).list_messages(grant.id)
    sign_in(client, "alice", "a wrong password")
    sign_in(client, "alice")
    page = client.get("/security").text
    assert "failed: bad-password" in page
    accesses = page.split('id="accesses"', 1)[1].split("</table>", 1)[0]
    assert f"bob@{DOMAIN}" in accesses and "list" in accesses
    assert "alice@" not in accesses  # her own reads are not "others"


def test_password_change_ends_other_sessions(web: tuple[World, TestClient]) -> None:
    w, client = web
    sign_in(client, "alice")
    with TestClient(create_app(w.rt.web_backend())) as other:
        sign_in(other, "alice")
        token = csrf_of(client)
        bad = client.post("/security/password", data={"csrf": token, "current": "nope",
                                                      "new": "a new long password"})  # fmt: skip
        assert bad.status_code == 400 and "current password is not right" in bad.text
        assert client.get("/mail/INBOX", follow_redirects=False).status_code == 200
        short = client.post("/security/password", data={"csrf": token, "current": PASSWORD,
                                                        "new": "short"})  # fmt: skip
        assert short.status_code == 400
        ok = client.post("/security/password", data={"csrf": token, "current": PASSWORD,
                                                     "new": "a new long password"})  # fmt: skip
        assert ok.status_code == 200 and "Password changed" in ok.text
        assert other.get("/mail/INBOX", follow_redirects=False).status_code == 303
    assert sign_in(client, "alice").status_code == 401  # type: ignore[attr-defined]
    assert sign_in(client, "alice", "a new long password").status_code == 303  # type: ignore[attr-defined]


def test_a_sign_in_from_a_new_device_mails_the_owner(web: tuple[World, TestClient]) -> None:
    w, client = web
    client.headers["user-agent"] = "Firefox on the laptop"
    sign_in(client, "alice")  # build_world already signed in once (pytest, CLI)
    alerts = [m for m in w.door("alice").list_messages().items if "New sign-in" in m.subject]
    assert len(alerts) == 1
    text = w.door("alice").get_message(alerts[0].id).text
    assert "Firefox on the laptop" in text and "/security" in text
    sign_in(client, "alice")  # the same device again: no second alert
    alerts = [m for m in w.door("alice").list_messages().items if "New sign-in" in m.subject]
    assert len(alerts) == 1


def test_enrol_totp_and_sign_in_with_a_code(web: tuple[World, TestClient]) -> None:
    import time

    import pyotp

    w, client = web
    sign_in(client, "alice")
    started = client.post("/security/2fa/start", data={"csrf": csrf_of(client)})
    secret = re.search(r'id="totp-secret">([A-Z2-7]+)<', started.text)
    assert secret is not None and 'src="data:image/svg+xml;base64,' in started.text
    token = re.search(r'name="csrf" value="([^"]+)"', started.text).group(1)  # type: ignore[union-attr]
    done = client.post("/security/2fa/confirm",
                       data={"csrf": token, "code": pyotp.TOTP(secret.group(1)).now()})  # fmt: skip
    assert done.status_code == 200 and len(re.findall(r"<li><code>", done.text)) == 10
    assert 'id="two-factor-on"' in client.get("/security").text
    with TestClient(create_app(w.rt.web_backend())) as other:
        assert sign_in(other, "alice").status_code == 401  # type: ignore[attr-defined]
        totp = pyotp.TOTP(secret.group(1))
        code = totp.at(time.time() + totp.interval)
        form = other.get("/login").text
        csrf = re.search(r'name="csrf" value="([^"]+)"', form).group(1)  # type: ignore[union-attr]
        fields = {"address": f"alice@{DOMAIN}", "password": PASSWORD, "code": code, "csrf": csrf}
        ok = other.post("/login", data=fields, follow_redirects=False)
        assert ok.status_code == 303
    recovery = re.findall(r"<li><code>([^<]+)</code>", done.text)[0]
    with TestClient(create_app(w.rt.web_backend())) as third:  # the field DESIGN.md names
        code = recovery  # the time codes near now are used up (replay guard)
        form = third.get("/login").text
        csrf = re.search(r'name="csrf" value="([^"]+)"', form).group(1)  # type: ignore[union-attr]
        fields = {"address": f"alice@{DOMAIN}", "password": PASSWORD, "totp": code, "csrf": csrf}
        assert third.post("/login", data=fields, follow_redirects=False).status_code == 303


def test_app_password_made_shown_once_and_revoked(web: tuple[World, TestClient]) -> None:
    w, client = web
    sign_in(client, "alice")
    made = client.post("/security/app-passwords", data={"csrf": csrf_of(client),
                                                         "name": "Laptop mail"})  # fmt: skip
    assert made.status_code == 200 and made.headers["cache-control"] == "private, no-store"
    secret = re.search(r'id="app-password-secret">([a-z2-7-]+)<', made.text)
    assert secret is not None
    alice = w.users["alice"]
    assert w.rt.logins.login(alice.address, secret.group(1), protocol=Protocol.IMAP)
    page = client.get("/security").text
    assert "Laptop mail" in page and secret.group(1) not in page  # never shown again
    revoke = re.search(r'action="(/security/app-passwords/[0-9a-f]+/revoke)"', page)
    assert revoke is not None
    client.post(revoke.group(1), data={"csrf": csrf_of(client)})
    assert "Laptop mail" not in client.get("/security").text
    with pytest.raises(AuthError):
        w.rt.logins.login(alice.address, secret.group(1), protocol=Protocol.IMAP)
    no_csrf = client.post("/security/app-passwords", data={"name": "x"})
    assert no_csrf.status_code == 400


@pytest.mark.parametrize("path", ["/mail/INBOX", "/api/v1/mailboxes"])
def test_a_request_writes_last_seen_when_due_and_only_then(
    web: tuple[World, TestClient], monkeypatch: pytest.MonkeyPatch, path: str
) -> None:
    """Pages and the API resolve the session on the event loop; the last-seen
    write they owe every TOUCH_EVERY_S still happens (in the thread pool)."""
    from mailward.auth import sessions as sessions_module

    w, client = web
    sign_in(client, "alice")
    token = client.cookies["mw_session"]
    store, digest = w.rt.services.store, w.rt.sessions._hash(token)

    def last_seen() -> int:
        row = store.session_by_token_hash(digest)
        assert row is not None
        return row.last_seen_us

    before = last_seen()
    assert client.get(path).status_code == 200
    assert last_seen() == before  # not due yet: nothing written
    monkeypatch.setattr(sessions_module, "TOUCH_EVERY_S", 0.0)
    assert client.get(path).status_code == 200
    assert last_seen() > before


def test_the_sessions_list_shows_the_most_recent_and_counts_the_rest(
    web: tuple[World, TestClient], monkeypatch: pytest.MonkeyPatch
) -> None:
    from mailward.web import security

    monkeypatch.setattr(security, "SESSIONS_SHOWN", 3)
    w, client = web
    sign_in(client, "alice")
    for i in range(4):  # signed in from a script since: all used more recently
        p = w.rt.logins.login(f"alice@{DOMAIN}", PASSWORD, protocol=Protocol.WEB, remote="10.0.0.9")
        w.rt.sessions.create(p, f"script {i}")
    page = client.get("/security").text
    listed = re.findall(r"/security/sessions/(s[0-9a-f]+)/revoke", page)
    assert len(listed) == 3 and "(this one)" in page  # the asking session, always
    assert len(re.findall(r"script [0-3]<", page)) == 2
    assert "and 2 more, used less recently" in page
    r = client.post("/security/sessions/revoke-others", data={"csrf": csrf_of(client)})
    assert "All your other sessions are signed out." in r.text
    assert len(re.findall(r"/security/sessions/(s[0-9a-f]+)/revoke", r.text)) == 1
    assert 'id="sessions-more"' not in r.text  # every other one ended, listed or not
