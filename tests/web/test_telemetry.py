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
from opentelemetry._logs import _internal as logs_internal
from opentelemetry.metrics import _internal as metrics_internal
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
    # Where FastAPI asks, and where the API's own helpers (get_logger, ...) do.
    for module, name in (
        (trace, "get_tracer_provider"),
        (metrics, "get_meter_provider"),
        (metrics_internal, "get_meter_provider"),
        (_logs, "get_logger_provider"),
        (logs_internal, "get_logger_provider"),
    ):
        monkeypatch.setattr(module, name, lambda: probe)
    yield probe


def test_the_probe_sees_fastapis_telemetry_when_it_is_on(providers: _Asked) -> None:
    # The checks below can fail: a plain FastAPI app asks each of these providers
    # (the logger for a request that fails validation).
    plain = FastAPI()

    @plain.get("/search")
    def search(q: str = "", page: int = 0) -> str:
        return q

    with TestClient(plain) as client:
        assert client.get("/search", params={"q": "divorce lawyer"}).status_code == 200
        assert client.get("/search", params={"page": "not a number"}).status_code == 422
    assert {"tracer", "meter", "logger"} <= set(providers.asked)


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
    bad = client.get("/api/v1/mailboxes/INBOX/messages", params={"limit": "not a number"})
    assert bad.status_code == 400  # failed validation: problem+json
    assert providers.asked == []
