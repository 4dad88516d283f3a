"""The JSON API: bearer sessions, the DESIGN paths, problem+json errors, OpenAPI,
and nothing of another account."""

from fastapi.testclient import TestClient

from support import DOMAIN, PASSWORD, World, make_message


def bearer(client: TestClient, name: str) -> dict[str, str]:
    r = client.post("/api/v1/session", json={"address": f"{name}@{DOMAIN}", "password": PASSWORD})
    assert r.status_code == 201
    return {"Authorization": f"Bearer {r.json()['token']}"}


def test_session_mailboxes_messages_raw_attachments(web: tuple[World, TestClient]) -> None:
    w, client = web
    raw = make_message("api subject", "api body", attachments=(("a.txt", b"attached bytes"),))
    w.rt.system().deliver([f"alice@{DOMAIN}"], raw)
    h = bearer(client, "alice")
    boxes = client.get("/api/v1/mailboxes", headers=h).json()
    inbox = next(b for b in boxes if b["name"] == "INBOX")
    assert inbox["total"] == 1 and inbox["unread"] == 1
    page = client.get("/api/v1/mailboxes/INBOX/messages?limit=10", headers=h)
    assert page.headers["cache-control"] == "private, no-store"
    (item,) = page.json()["items"]
    assert item["subject"] == "api subject" and item["unread"]
    m = client.get(f"/api/v1/messages/{item['id']}", headers=h).json()
    assert "api body" in m["text"] and m["attachments"][0]["filename"] == "a.txt"
    r = client.get(f"/api/v1/messages/{item['id']}/raw", headers=h)
    assert r.headers["content-type"] == "message/rfc822"
    assert r.content.endswith(raw.replace(b"\n", b"\r\n"))  # lines stored ending in CRLF
    a = client.get(f"/api/v1/messages/{item['id']}/attachments/1", headers=h)
    assert a.content == b"attached bytes"
    logins = client.get("/api/v1/account/logins", headers=h).json()
    assert logins[0]["protocol"] == "api" and logins[0]["success"]
    assert client.get("/api/v1/account/access", headers=h).json() == []
    assert client.delete("/api/v1/session", headers=h).status_code == 204
    gone = client.get("/api/v1/mailboxes", headers=h)
    assert gone.status_code == 401
    assert gone.headers["content-type"] == "application/problem+json"


def test_errors_are_problem_json_and_other_accounts_are_absent(
    web: tuple[World, TestClient],
) -> None:
    w, client = web
    bobs = w.deliver("bob", "bob's secret")
    h = bearer(client, "alice")
    for path in (
        f"/api/v1/messages/{bobs}",
        f"/api/v1/messages/{bobs}/raw",
        f"/api/v1/messages/{bobs}/attachments/1",
        "/api/v1/mailboxes/Nope/messages",
    ):
        r = client.get(path, headers=h)
        assert r.status_code == 404, path
        assert r.headers["content-type"] == "application/problem+json"
        assert "secret" not in r.text and r.json()["status"] == 404
    bad = client.post("/api/v1/session", json={"address": f"alice@{DOMAIN}", "password": "x"})
    unknown = client.post("/api/v1/session", json={"address": "who@nowhere.test", "password": "x"})
    assert bad.status_code == unknown.status_code == 401
    assert bad.json()["detail"] == unknown.json()["detail"]
    assert client.post("/api/v1/session", json={"address": 3}).status_code == 400


def test_openapi_describes_the_api(web: tuple[World, TestClient]) -> None:
    _, client = web
    spec = client.get("/api/openapi.json").json()
    for path in (
        "/api/v1/session",
        "/api/v1/mailboxes",
        "/api/v1/mailboxes/{mailbox}/messages",
        "/api/v1/messages/{message_id}",
        "/api/v1/account/access",
    ):
        assert path in spec["paths"], path
    assert not any(p.startswith("/mail") for p in spec["paths"])  # pages are not the API
