"""Helpers for the web tests: the web front-end over a real runtime, in-process
(httpx TestClient) and on a real loopback socket (uvicorn in a thread) for Chromium."""

import re
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from fastapi.testclient import TestClient

from mailward.core.principal import Protocol
from mailward.web import create_app
from support import DOMAIN, PASSWORD, World, build_world


def sign_in(client: TestClient, name: str, password: str = PASSWORD) -> object:
    form = client.get("/login").text
    csrf = re.search(r'name="csrf" value="([^"]+)"', form)
    assert csrf is not None
    return client.post(
        "/login",
        data={"address": f"{name}@{DOMAIN}", "password": password, "csrf": csrf.group(1)},
        follow_redirects=False,
    )


@pytest.fixture
def web(tmp_path: Path) -> Iterator[tuple[World, TestClient]]:
    w = build_world(tmp_path / "data")
    for name in w.users:  # known device: TestClient's own address and user agent
        w.rt.logins.login(f"{name}@{DOMAIN}", PASSWORD, remote="testclient",
                          protocol=Protocol.WEB, client="testclient")  # fmt: skip
    with TestClient(create_app(w.rt.web_backend())) as client:
        yield w, client
    w.rt.close()


@pytest.fixture
def live(tmp_path: Path) -> Iterator[tuple[World, str]]:
    """The app served by uvicorn on 127.0.0.1 (an ephemeral port)."""
    w = build_world(tmp_path / "data")
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(create_app(w.rt.web_backend()), log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    yield w, f"http://127.0.0.1:{sock.getsockname()[1]}"
    server.should_exit = True
    thread.join(10)
    sock.close()
    w.rt.close()
