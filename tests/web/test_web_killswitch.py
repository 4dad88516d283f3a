"""The kill switch stops new and in-flight web requests (a maintenance page, nothing
of the page sent) and the service returns after release with nothing lost."""

import threading
from typing import Any

from fastapi.testclient import TestClient
from web_support import sign_in

from support import World


class _HeldDoor:
    """A door whose listing waits until the test lets it go (a request in flight)."""

    def __init__(self, door: Any, entered: threading.Event, go: threading.Event) -> None:
        self._door, self._entered, self._go = door, entered, go

    def __getattr__(self, name: str) -> Any:
        return getattr(self._door, name)

    def list_messages(self, *args: Any, **kwargs: Any) -> Any:
        page = self._door.list_messages(*args, **kwargs)
        self._entered.set()
        assert self._go.wait(10)
        return page

    def mailbox_view_deferred(self, *args: Any, **kwargs: Any) -> Any:
        def held(page: Any) -> None:  # off the event loop, once the listing is recorded
            self._entered.set()
            assert self._go.wait(10)

        return self._door.mailbox_view_deferred(*args, **kwargs).then(held)


def test_engaged_web_scope_stops_new_and_in_flight_requests(
    web: tuple[World, TestClient],
) -> None:
    w, client = web
    w.deliver("alice", "quarterly statement")
    sign_in(client, "alice")
    backend = client.app.state.backend  # type: ignore[attr-defined]
    real_door = backend.door
    entered, go = threading.Event(), threading.Event()
    backend.door = lambda p: _HeldDoor(real_door(p), entered, go)
    result: dict[str, Any] = {}
    flight = threading.Thread(target=lambda: result.update(r=client.get("/mail/INBOX")))
    flight.start()
    assert entered.wait(10)  # the page is built, not yet sent
    w.rt.switches.engage("web", "test", "drill")
    go.set()
    flight.join(10)
    stopped = result["r"]
    assert stopped.status_code == 503 and "Back soon" in stopped.text
    assert "quarterly statement" not in stopped.text
    assert stopped.headers["retry-after"] == "60"
    backend.door = real_door

    fresh = client.get("/mail/INBOX")  # a new request while engaged
    assert fresh.status_code == 503 and "quarterly statement" not in fresh.text
    api = client.get("/api/v1/mailboxes")  # another scope keeps running
    assert api.status_code == 200

    w.rt.switches.engage("api", "test", "drill")
    problem = client.get("/api/v1/mailboxes")
    assert problem.status_code == 503
    assert problem.headers["content-type"] == "application/problem+json"

    w.rt.switches.release("web")
    w.rt.switches.release("api")
    back = client.get("/mail/INBOX")
    assert back.status_code == 200 and "quarterly statement" in back.text  # nothing lost


def test_all_scope_stops_every_route_but_static_files(web: tuple[World, TestClient]) -> None:
    w, client = web
    w.rt.switches.engage("all", "test", "drill")
    assert client.get("/login").status_code == 503
    assert client.get("/static/style.css").status_code == 200
    w.rt.switches.release("all")
    assert client.get("/login").status_code == 200
