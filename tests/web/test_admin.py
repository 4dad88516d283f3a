"""The containment page: operators only; engage and release the kill switch and
switch flags from the browser; it stays reachable while the web is stopped."""

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from web_support import sign_in

from mailward.web import create_app
from support import World, build_world


@pytest.fixture
def ops(tmp_path: Path) -> Iterator[tuple[World, TestClient]]:
    w = build_world(tmp_path / "data", admins=("carol@example.test",))
    with TestClient(create_app(w.rt.web_backend())) as client:
        yield w, client
    w.rt.close()


def _csrf(page: str) -> str:
    m = re.search(r'name="csrf" value="([^"]+)"', page)
    assert m is not None
    return m.group(1)


def test_only_operators_see_it(ops: tuple[World, TestClient]) -> None:
    w, client = ops
    sign_in(client, "alice")
    assert client.get("/admin").status_code == 404
    assert (
        client.post("/admin/killswitch", data={"scope": "all", "action": "engage"}).status_code
        == 404
    )
    assert w.rt.switches.engaged("web") is None


def test_engage_from_the_page_and_release_while_the_web_is_stopped(
    ops: tuple[World, TestClient],
) -> None:
    w, client = ops
    w.deliver("carol", "still here")
    sign_in(client, "carol")
    page = client.get("/admin")
    assert page.status_code == 200 and 'id="killswitch-off"' in page.text
    done = client.post(
        "/admin/killswitch",
        data={"scope": "web", "action": "engage", "reason": "checking", "csrf": _csrf(page.text)},
    )
    assert done.status_code == 200 and "stopped: web" in done.text  # followed to /admin
    entry = w.rt.switches.engaged("web")
    assert entry is not None and entry["by"] == "web:carol@example.test"
    assert client.get("/mail/INBOX").status_code == 503
    page = client.get("/admin")
    assert page.status_code == 200 and "checking" in page.text
    client.post("/admin/killswitch", data={"scope": "web", "action": "release",
                                           "csrf": _csrf(page.text)})  # fmt: skip
    assert w.rt.switches.engaged("web") is None
    assert "still here" in client.get("/mail/INBOX").text


def test_flags_from_the_page(ops: tuple[World, TestClient]) -> None:
    w, client = ops
    sign_in(client, "carol")
    page = client.get("/admin")
    assert "last-logon" in page.text
    client.post("/admin/flags", data={"name": "last-logon", "action": "off",
                                      "csrf": _csrf(page.text)})  # fmt: skip
    f = w.rt.switches.flag("last-logon")
    assert f.percent == 0.0 and f.history[-1]["by"] == "web:carol@example.test"
    without_csrf = client.post("/admin/flags", data={"name": "last-logon", "action": "rollout"})
    assert without_csrf.status_code == 400 and w.rt.switches.flag("last-logon").percent == 0.0
    welcome = client.get("/mail/INBOX?welcome=1")  # the feature is off: no banner
    assert welcome.status_code == 200 and 'id="last-logon"' not in welcome.text
