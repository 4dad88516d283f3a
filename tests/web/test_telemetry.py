"""FastAPI's own OpenTelemetry stays off: with tracing, metrics and log providers
configured in the process (as an operator's auto-instrumentation would), a
signed-in user's search (its terms in the query) and message list record nothing
through them."""

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from opentelemetry import _logs, metrics, trace
from web_support import sign_in

from support import World


class _Asked:
    """A provider of each kind that notes every time FastAPI asks it for a tracer,
    meter or logger (and hands out the API's no-op one)."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    def get_tracer(self, *args: Any, **kw: Any) -> trace.Tracer:
        self.asked.append("tracer")
        return trace.NoOpTracer()

    def get_meter(self, *args: Any, **kw: Any) -> metrics.Meter:
        self.asked.append("meter")
        return metrics.NoOpMeter("probe")

    def get_logger(self, *args: Any, **kw: Any) -> _logs.Logger:
        self.asked.append("logger")
        return _logs.NoOpLogger("probe")


@pytest.fixture
def providers(monkeypatch: pytest.MonkeyPatch) -> Iterator[_Asked]:
    probe = _Asked()
    monkeypatch.setattr(trace, "get_tracer_provider", lambda: probe)
    monkeypatch.setattr(metrics, "get_meter_provider", lambda: probe)
    monkeypatch.setattr(_logs, "get_logger_provider", lambda: probe)
    yield probe


def test_the_probe_sees_fastapis_telemetry_when_it_is_on(providers: _Asked) -> None:
    # The check below can fail: a plain FastAPI app does ask these providers.
    plain = FastAPI()

    @plain.get("/search")
    def search(q: str = "") -> str:
        return q

    with TestClient(plain) as client:
        assert client.get("/search", params={"q": "divorce lawyer"}).status_code == 200
    assert providers.asked


def test_the_service_gives_its_requests_to_no_provider(
    web: tuple[World, TestClient], providers: _Asked
) -> None:
    w, client = web
    w.deliver("alice", "Lawyer's letter", "about the divorce")
    sign_in(client, "alice")
    assert client.get("/mail/INBOX").status_code == 200
    found = client.get("/search", params={"text": "divorce"})
    assert found.status_code == 200 and "Lawyer" in found.text
    assert client.get("/mail/INBOX/m" + "0" * 38).status_code == 404
    assert providers.asked == []
