"""Helpers for the SMTP tests: a real SMTP front-end on 127.0.0.1 (ephemeral
ports) over a real runtime, and a loopback smarthost that records what it is given."""

import asyncio
import smtplib
import socket
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from mailward.crypto import client_context_trusting
from mailward.smtp import SmtpBackend, SmtpListeners, start_listeners
from support import World, build_world

HOSTNAME = "mx.example.test"


@dataclass
class Server:
    world: World
    backend: SmtpBackend
    listeners: SmtpListeners
    loop: asyncio.AbstractEventLoop
    thread: threading.Thread
    queued: threading.Event

    @property
    def mx(self) -> tuple[str, int]:
        return self.listeners.addresses["smtp"]

    @property
    def submission(self) -> tuple[str, int]:
        return self.listeners.addresses["submission"]

    def tls(self) -> ssl.SSLContext:
        return client_context_trusting(self.world.rt.settings.tls_paths[0])

    def client(self, which: str = "smtp") -> smtplib.SMTP:
        host, port = self.listeners.addresses[which]
        return smtplib.SMTP(host, port, local_hostname="client.test", timeout=10)

    def login(self, address: str, password: str) -> smtplib.SMTP:
        c = self.client("submission")
        try:
            c.starttls(context=self.tls())
            c.login(address, password)
        except BaseException:
            c.close()
            raise
        return c

    def stop(self) -> None:
        async def close() -> None:
            self.listeners.close()
            await self.listeners.wait_closed()

        asyncio.run_coroutine_threadsafe(close(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()
        self.backend.pool.shutdown(wait=True)


def start_server(world: World) -> Server:
    queued = threading.Event()
    backend = world.rt.smtp_backend(queued=queued.set)
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    listeners = asyncio.run_coroutine_threadsafe(
        start_listeners(backend, ("127.0.0.1", 0), ("127.0.0.1", 0)), loop
    ).result(10)
    return Server(world, backend, listeners, loop, thread, queued)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    w = build_world(tmp_path / "data", hostname=HOSTNAME, max_message_bytes=64 * 1024)
    s = start_server(w)
    yield s
    s.stop()
    w.rt.close()


@dataclass
class Sink:
    """A loopback smarthost: records each message; `replies` scripts the answer to
    the next transactions' DATA (e.g. "451 4.3.0 try later"), then 250."""

    received: list[tuple[str, list[str], bytes]] = field(default_factory=list)
    replies: list[str] = field(default_factory=list)
    rcpt_replies: dict[str, str] = field(default_factory=dict)

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        if address in self.rcpt_replies:
            return self.rcpt_replies[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.replies:
            return self.replies.pop(0)
        self.received.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        return "250 2.0.0 queued by the sink"


@pytest.fixture
def smarthost() -> Iterator[tuple[Sink, tuple[str, int]]]:
    sink = Sink()
    with socket.socket() as probe:  # aiosmtpd's Controller needs a port it can dial
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    yield sink, ("127.0.0.1", port)
    controller.stop()
