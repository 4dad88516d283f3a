"""The POP3 listener: one `_Connection` per client, which frames lines, writes
replies, upgrades to TLS on STLS, and times out idle clients; what each line
means is the session's business (session.py).

An asyncio.Protocol rather than streams, for two reasons that must stay true:
the input buffered after STLS is thrown away before the handshake (RFC 2595 §4:
nothing sent in the clear may count as sent under TLS, CVE-2011-0411), and the
input buffered is bounded (an overlong line is skipped, not stored).
"""

import asyncio
import enum
import logging
import socket
import ssl

from mailward.pop3 import replies
from mailward.pop3.backend import Pop3Backend
from mailward.pop3.protocol import MAX_LINE_BYTES, err, ok
from mailward.pop3.session import After, Maildrops, Session

IDLE_TIMEOUT_S = 600.0  # RFC 1939 §3: an autologout timer of at least 10 minutes
TLS_HANDSHAKE_TIMEOUT_S = 30.0
MAX_BUFFERED_BYTES = 64 * 1024  # input waiting to be read: past this, stop reading
MAX_SKIPPED_BYTES = 64 * 1024  # one overlong line: past this, the client is closed

log = logging.getLogger("mailward.pop3")


class _Framing(enum.Enum):
    TOO_LONG = "too long"  # an overlong line, skipped: answer it and go on
    FLOOD = "flood"  # a "line" that does not end: close


class _Connection(asyncio.Protocol):
    """One client connection; `_run` is its session loop."""

    def __init__(self, backend: Pop3Backend, maildrops: Maildrops, idle_timeout_s: float):
        self._backend = backend
        self._maildrops = maildrops
        self._idle_s = idle_timeout_s
        self._loop = asyncio.get_running_loop()
        self._transport: asyncio.Transport | None = None
        self._buffer = bytearray()
        self._skipping = 0  # bytes of an overlong line skipped so far
        self._eof = False
        self._reading_paused = False
        self._data_waiter: asyncio.Future[None] | None = None
        self._writable = asyncio.Event()
        self._writable.set()
        self._task: asyncio.Task[None] | None = None

    # -- asyncio.Protocol ---------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        self._task = self._loop.create_task(self._run())

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        if len(self._buffer) > MAX_BUFFERED_BYTES and not self._reading_paused:
            assert self._transport is not None
            self._transport.pause_reading()
            self._reading_paused = True
        self._wake()

    def eof_received(self) -> bool:
        self._eof = True
        self._wake()
        return False  # close our side too

    def connection_lost(self, exc: Exception | None) -> None:
        self._eof = True
        self._wake()
        self._writable.set()  # a writer waiting finds the connection gone

    def pause_writing(self) -> None:
        self._writable.clear()

    def resume_writing(self) -> None:
        self._writable.set()

    # -- lines in, replies out ------------------------------------------------------------

    def _wake(self) -> None:
        waiter, self._data_waiter = self._data_waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _resume_reading(self) -> None:
        if self._reading_paused and len(self._buffer) <= MAX_BUFFERED_BYTES:
            assert self._transport is not None
            self._reading_paused = False
            self._transport.resume_reading()

    async def _read_line(self) -> bytes | _Framing | None:
        """The next line, with its LF; None once the client is gone."""
        while True:
            end = self._buffer.find(b"\n")
            if end >= 0:
                line = bytes(self._buffer[: end + 1])
                del self._buffer[: end + 1]
                self._resume_reading()
                skipped, self._skipping = self._skipping, 0
                if skipped or len(line) > MAX_LINE_BYTES:
                    return _Framing.TOO_LONG
                return line
            if len(self._buffer) > MAX_LINE_BYTES:
                # Not a line of ours: skip it up to its end, without keeping it.
                self._skipping += len(self._buffer)
                self._buffer.clear()
                self._resume_reading()
                if self._skipping > MAX_SKIPPED_BYTES:
                    return _Framing.FLOOD
            if self._eof:
                return None
            self._data_waiter = self._loop.create_future()
            await self._data_waiter

    async def _send(self, data: bytes) -> bool:
        """Write; wait while the client is not reading. False: it is gone."""
        transport = self._transport
        if transport is None or transport.is_closing():
            return False
        transport.write(data)
        if not self._writable.is_set():
            await asyncio.wait_for(self._writable.wait(), self._idle_s)
        return not transport.is_closing()

    async def _start_tls(self) -> bool:
        assert self._transport is not None
        # RFC 2595 §4: whatever the client sent after STLS came in the clear.
        self._buffer.clear()
        self._resume_reading()
        try:
            upgraded = await self._loop.start_tls(
                self._transport,
                self,
                self._backend.tls,
                server_side=True,
                ssl_handshake_timeout=TLS_HANDSHAKE_TIMEOUT_S,
            )
        except (OSError, ssl.SSLError, TimeoutError, ConnectionError):
            return False
        if upgraded is None:
            return False
        assert isinstance(upgraded, asyncio.Transport)
        self._transport = upgraded
        return True

    # -- the session loop ------------------------------------------------------------------

    async def _run(self) -> None:
        session: Session | None = None
        try:
            peer = self._transport.get_extra_info("peername") if self._transport else None
            remote = str(peer[0]) if isinstance(peer, tuple) and peer else ""
            if self._backend.stopped():  # the kill switch, at connect
                await self._send(err(replies.STOPPED))
                return
            session = Session(self._backend, self._maildrops, remote)
            await self._serve(session)
        except (TimeoutError, ConnectionError):
            pass  # a client that stopped reading, or went away
        except asyncio.CancelledError:
            # The server is stopping: no TLS goodbye that could wait on the client.
            if self._transport is not None:
                self._transport.abort()
            raise
        except Exception:
            log.exception("pop3: connection failed")
        finally:
            if session is not None:
                session.close()
            if self._transport is not None:
                self._transport.close()

    async def _serve(self, session: Session) -> None:
        if not await self._send(ok(f"{self._backend.hostname} POP3 ready")):
            return
        while True:
            try:
                line = await asyncio.wait_for(self._read_line(), self._idle_s)
            except TimeoutError:
                await self._send(err(replies.IDLE))
                return
            if line is None:
                return  # gone without QUIT: nothing changes (RFC 1939 §6)
            if line is _Framing.FLOOD:
                await self._send(err(replies.LINE_TOO_LONG))
                return
            if line is _Framing.TOO_LONG:
                reply = session.refuse(replies.LINE_TOO_LONG)
            else:
                reply = await session.line(line)
            if not await self._send(reply.data) or reply.after is After.CLOSE:
                return
            if reply.after is After.STARTTLS:
                if not await self._start_tls():
                    return
                session.tls_started()


async def start_pop3(
    backend: Pop3Backend,
    where: tuple[str, int] | socket.socket | None,
    *,
    idle_timeout_s: float = IDLE_TIMEOUT_S,
) -> asyncio.Server | None:
    """Listen for POP3 clients on an address or an already bound socket (bound
    by the parent of several workers); None: POP3 is off."""
    if where is None:
        return None
    loop = asyncio.get_running_loop()
    maildrops = Maildrops(backend.lock_dir)

    def connection() -> _Connection:
        return _Connection(backend, maildrops, idle_timeout_s)

    if isinstance(where, socket.socket):
        return await loop.create_server(connection, sock=where)
    host, port = where
    return await loop.create_server(connection, host, port)
