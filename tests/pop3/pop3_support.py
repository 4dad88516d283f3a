"""Helpers for the POP3 tests: a real POP3 front-end on 127.0.0.1 (an ephemeral
port) over a real runtime, poplib clients, and `Wire`, a raw line client for
transcripts of what poplib will not send."""

import asyncio
import dataclasses
import poplib
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from mailward.crypto import client_context_trusting
from mailward.pop3 import Pop3Backend, start_pop3
from support import DOMAIN, PASSWORD, World, build_world

HOSTNAME = "pop.example.test"


def address(name: str) -> str:
    return f"{name}@{DOMAIN}"


class Wire:
    """A raw POP3 client: lines out, lines in, nothing interpreted."""

    def __init__(self, where: tuple[str, int]) -> None:
        self.sock = socket.create_connection(where, timeout=10)
        self.file = self.sock.makefile("rb")
        self.greeting = self.line()

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def line(self) -> str:
        raw = self.file.readline(100_000)
        assert raw, "the server closed the connection"
        return raw.decode("utf-8", "replace").rstrip("\r\n")

    def lines(self) -> list[str]:
        """The rest of a multi-line reply, without the terminating "."."""
        out: list[str] = []
        while (line := self.line()) != ".":
            out.append(line)
        return out

    def transact(self, status: str, command: str | bytes) -> str:
        """Send one command; the reply must start with `status`; return it."""
        self.send((command.encode() if isinstance(command, str) else command) + b"\r\n")
        reply = self.line()
        assert reply.startswith(status), f"{command!r}: {reply!r}"
        return reply

    def login(self, name: str, password: str = PASSWORD) -> None:
        self.transact("+OK", f"USER {address(name)}")
        self.transact("+OK", f"PASS {password}")

    def closed(self) -> bool:
        """Whether the server has closed the connection (after what was read)."""
        return self.file.read() == b""

    def starttls(self, context: ssl.SSLContext) -> None:
        self.file.close()
        self.sock = context.wrap_socket(self.sock, server_hostname="localhost")
        self.file = self.sock.makefile("rb")

    def close(self) -> None:
        self.file.close()
        self.sock.close()

    def __enter__(self) -> "Wire":
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


@dataclass
class Server:
    world: World
    backend: Pop3Backend
    server: asyncio.Server
    loop: asyncio.AbstractEventLoop
    thread: threading.Thread
    opened: list[poplib.POP3 | Wire] = dataclasses.field(default_factory=list)

    @property
    def address(self) -> tuple[str, int]:
        host, port = self.server.sockets[0].getsockname()[:2]
        return host, port

    def tls(self) -> ssl.SSLContext:
        return client_context_trusting(self.world.rt.settings.tls_paths[0])

    def client(self) -> poplib.POP3:
        c = poplib.POP3(*self.address, timeout=10)
        self.opened.append(c)
        return c

    def login(self, name: str, password: str = PASSWORD) -> poplib.POP3:
        c = self.client()
        try:
            c.user(address(name))
            c.pass_(password)
        except BaseException:
            c.close()
            raise
        return c

    def wire(self) -> Wire:
        w = Wire(self.address)
        self.opened.append(w)
        return w

    def login_when_free(self, name: str, timeout_s: float = 5.0) -> poplib.POP3:
        """Log in as soon as no other session holds the maildrop (a dropped
        connection releases it once the server has seen the drop)."""
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                return self.login(name)
            except poplib.error_proto as e:
                if b"[IN-USE]" not in e.args[0] or time.monotonic() > deadline:
                    raise
                time.sleep(0.02)

    def stop(self) -> None:
        for client in self.opened:  # those a failed test left open (closing twice is fine)
            client.close()

        async def close() -> None:
            self.server.close()
            await self.server.wait_closed()
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await asyncio.sleep(0)  # let the transports finish closing

        asyncio.run_coroutine_threadsafe(close(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()
        self.backend.pool.shutdown(wait=True)


def start_server(world: World, idle_timeout_s: float = 600.0, **changes: Any) -> Server:
    """A POP3 listener over the world's runtime; `changes` replace fields of the
    runtime's backend (e.g. `check=`)."""
    backend = dataclasses.replace(world.rt.pop3_backend(), **changes)
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    server = asyncio.run_coroutine_threadsafe(
        start_pop3(backend, ("127.0.0.1", 0), idle_timeout_s=idle_timeout_s), loop
    ).result(10)
    assert server is not None
    return Server(world, backend, server, loop, thread)


def _world(tmp_path: Path, plaintext_login: bool) -> World:
    return build_world(tmp_path / "data", hostname=HOSTNAME, plaintext_login=plaintext_login)


@pytest.fixture
def pop3(tmp_path: Path) -> Iterator[Server]:
    """A POP3 server that takes USER/PASS in the clear from loopback clients."""
    w = _world(tmp_path, plaintext_login=True)
    s = start_server(w)
    yield s
    s.stop()
    w.rt.close()


@pytest.fixture
def pop3_tls(tmp_path: Path) -> Iterator[Server]:
    """A POP3 server that takes passwords only after STLS."""
    w = _world(tmp_path, plaintext_login=False)
    s = start_server(w)
    yield s
    s.stop()
    w.rt.close()


@pytest.fixture
def pop3_with(tmp_path: Path) -> Iterator[Callable[..., Server]]:
    """Start a POP3 server with changed backend fields or idle timeout."""
    w = _world(tmp_path, plaintext_login=True)
    started: list[Server] = []

    def start(**changes: Any) -> Server:
        started.append(start_server(w, **changes))
        return started[-1]

    yield start
    for s in started:
        s.stop()
    w.rt.close()
