"""The IMAP listener: reading commands (lines and literals) off a connection,
STARTTLS, and handing each complete command to the session.

Framing (RFC 9051 §2.2, RFC 7888): a line ending in `{n}` is followed by n bytes
of literal, after a `+` continuation for a synchronizing literal; `{n+}` is sent
without waiting. Limits: a line is at most MAX_LINE bytes, a literal at most
MAX_LITERAL (an APPEND's message up to the service's message size limit).
"""

import asyncio
import contextlib
import re
import socket

from mailward.imap.backend import ImapBackend
from mailward.imap.idle import IdleHub
from mailward.imap.protocol import read_tag
from mailward.imap.session import Session
from mailward.imap.state import TooLong

MAX_LINE = 64 * 1024
MAX_LITERAL = 64 * 1024  # in any command but APPEND
MAX_BAD = 20  # commands answered BAD before the connection is closed
_LITERAL = re.compile(rb"\{(\d{1,12})(\+?)\}$")
_APPEND = re.compile(rb"^[^ ]+ (?:UID )?APPEND ", re.IGNORECASE)


class Connection:
    """One client connection: the framing around a Session."""

    def __init__(
        self,
        backend: ImapBackend,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        hub: IdleHub,
    ) -> None:
        self.reader = reader
        self.writer = writer
        self._out: list[bytes] = []
        peer = writer.get_extra_info("peername")
        remote = str(peer[0]) if isinstance(peer, tuple) else ""
        self.session = Session(backend, self, remote, hub)

    # -- what the session uses ------------------------------------------------------

    def send(self, data: bytes) -> None:
        """Queue bytes; `flush` writes them (one write for a whole reply: 100,000
        FETCH lines written one by one cost more than making them)."""
        self._out.append(data)

    async def flush(self) -> None:
        if self._out:
            data = b"".join(self._out)
            self._out.clear()
            self.writer.write(data)
        await self.writer.drain()

    async def read_line(self, timeout_s: float | None = None) -> bytes | None:
        """One line without its CRLF (None at end of input)."""
        try:
            line = await asyncio.wait_for(self.reader.readuntil(b"\n"), timeout_s)
        except asyncio.IncompleteReadError:
            return None
        except asyncio.LimitOverrunError as exc:
            head = await self.reader.readexactly(min(exc.consumed, 100))
            await self._skip_line()
            tag = read_tag(head)
            raise TooLong(tag, _bad(tag, b"line too long")) from None
        return line.rstrip(b"\r\n")

    def pending_input(self) -> bool:
        """Bytes already read past the current command (a client that pipelined
        after STARTTLS: those must not run inside the TLS session, RFC 2595 §3.1,
        CVE-2011-0411). asyncio has no public way to ask its reader."""
        return bool(getattr(self.reader, "_buffer", b""))

    async def start_tls(self) -> None:
        await self.writer.start_tls(self.session.backend.tls)

    @property
    def tls(self) -> bool:
        return self.writer.get_extra_info("sslcontext") is not None

    # -- the loop -----------------------------------------------------------------------

    async def run(self) -> None:
        try:
            if not await self.session.greet():
                return
            bad = 0
            while not self.session.done:
                try:
                    data = await self.read_command(self.session.idle_timeout_s)
                except TooLong as exc:
                    self.send(exc.reply)
                    await self.flush()
                    bad += 1
                    if bad >= MAX_BAD:
                        break
                    continue
                if data is None:
                    break
                if not await self.session.handle(data):
                    bad += 1
                    if bad >= MAX_BAD:
                        self.send(b"* BYE too many bad commands\r\n")
                        break
                await self.flush()
        except (TimeoutError, ConnectionError, OSError):
            pass
        except asyncio.CancelledError:  # the listener is shutting down: end quietly
            pass
        finally:
            await self.session.close()
            with contextlib.suppress(Exception):
                await self.flush()
            self.writer.close()
            with contextlib.suppress(Exception):
                await self.writer.wait_closed()

    async def read_command(self, timeout_s: float | None) -> bytes | None:
        """One complete command with its literals inline, or None at end of input."""
        pieces: list[bytes] = []
        size = 0  # line bytes only: literals have their own limit
        literals = 0
        first: bytes | None = None
        while True:
            line = await self.read_line(timeout_s if first is None else 60.0)
            if line is None:
                return None
            if first is None:
                first = line
            size += len(line)
            if size > MAX_LINE:
                raise TooLong(read_tag(first), _bad(read_tag(first), b"command too long"))
            m = _LITERAL.search(line)
            if m is None:
                pieces.append(line)
                return b"".join(pieces)
            count, nonsync = int(m.group(1)), bool(m.group(2))
            limit = self.session.append_limit if _APPEND.match(first) else MAX_LITERAL
            if literals + count > limit:
                tag = read_tag(first)
                if nonsync:  # already on its way: read it off (bounded), then refuse
                    if count > 4 * limit:
                        raise ConnectionError("literal far past the limit")
                    await self._discard(count)
                    await self.read_line(60.0)
                return_reply = b"%s NO [TOOBIG] literal of %d bytes is over the limit (%d)\r\n"
                raise TooLong(tag, return_reply % ((tag or "*").encode(), count, limit))
            if not nonsync:
                self.send(b"+ Ready for literal data\r\n")
                await self.flush()
            literal = await asyncio.wait_for(self.reader.readexactly(count), 120.0)
            pieces.append(line + b"\r\n" + literal)
            literals += count

    async def _skip_line(self) -> None:
        while True:
            try:
                await self.reader.readuntil(b"\n")
                return
            except asyncio.LimitOverrunError as exc:
                await self.reader.readexactly(exc.consumed)

    async def _discard(self, count: int) -> None:
        while count > 0:
            chunk = await self.reader.read(min(count, 65536))
            if not chunk:
                raise ConnectionError("closed inside a literal")
            count -= len(chunk)


def _bad(tag: str | None, text: bytes) -> bytes:
    return b"%s BAD %s\r\n" % ((tag or "*").encode(), text)


async def start_imap(
    backend: ImapBackend, where: tuple[str, int] | socket.socket | None
) -> asyncio.Server | None:
    """Listen on an address or an already bound socket (None: IMAP is off)."""
    if where is None:
        return None

    hub = IdleHub()

    async def connected(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await Connection(backend, reader, writer, hub).run()

    if isinstance(where, socket.socket):
        return await asyncio.start_server(connected, sock=where, limit=MAX_LINE)
    return await asyncio.start_server(connected, where[0], where[1], limit=MAX_LINE)
