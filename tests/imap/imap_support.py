"""Helpers for the IMAP tests: a real IMAP front-end on 127.0.0.1 (ephemeral port)
over a real runtime, and imaplib clients logged in to it."""

import asyncio
import imaplib
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from mailward.crypto import client_context_trusting
from mailward.imap import ImapBackend, start_imap
from support import PASSWORD, World, build_world


class Wire:
    """A raw IMAP connection for what imaplib cannot send: lines out, lines in."""

    def __init__(self, address: tuple[str, int]) -> None:
        self.sock = socket.create_connection(address, timeout=5)
        self.file = self.sock.makefile("rb")
        self.greeting = self.file.readline()

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def line(self) -> bytes:
        return self.file.readline()

    def say(self, command: bytes) -> list[bytes]:
        """Send `tag ...`; every reply line up to and including the tagged one."""
        self.send(command + b"\r\n")
        tag = command.split(b" ")[0] + b" "
        out = []
        while True:
            reply = self.file.readline()
            out.append(reply)
            if not reply or reply.startswith(tag):
                return out

    def login(self, name: str = "alice") -> None:
        done = self.say(f'a LOGIN {name}@example.test "{PASSWORD}"'.encode())
        assert done[-1].startswith(b"a OK"), done

    def __enter__(self) -> "Wire":
        return self

    def __exit__(self, *_: object) -> None:
        self.file.close()
        self.sock.close()


@dataclass
class Server:
    world: World
    backend: ImapBackend
    server: asyncio.Server
    loop: asyncio.AbstractEventLoop
    thread: threading.Thread

    @property
    def address(self) -> tuple[str, int]:
        host, port = self.server.sockets[0].getsockname()[:2]
        return str(host), int(port)

    def client(self) -> imaplib.IMAP4:
        host, port = self.address
        return imaplib.IMAP4(host, port, timeout=10)

    def login(self, name: str = "alice") -> imaplib.IMAP4:
        c = self.client()
        c.login(f"{name}@example.test", PASSWORD)
        return c

    def wire(self) -> Wire:
        return Wire(self.address)

    def tls_client(self) -> imaplib.IMAP4:
        c = self.client()
        c.starttls(ssl_context=client_context_trusting(self.world.rt.settings.tls_paths[0]))
        return c

    def stop(self) -> None:
        async def close() -> None:
            self.server.close()
            others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in others:
                task.cancel()
            await asyncio.gather(*others, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(close(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()
        self.backend.pool.shutdown(wait=True)


def start_server(world: World, backend: ImapBackend | None = None) -> Server:
    backend = backend or world.rt.imap_backend()
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    server = asyncio.run_coroutine_threadsafe(start_imap(backend, ("127.0.0.1", 0)), loop).result(
        10
    )
    assert server is not None
    return Server(world, backend, server, loop, thread)


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    w = build_world(tmp_path / "data", plaintext_login=True)
    yield w
    w.rt.close()


@pytest.fixture
def server(world: World) -> Iterator[Server]:
    s = start_server(world)
    yield s
    s.stop()
