"""Web connections accepted by the parent of several workers and handed to the
worker holding the fewest open ones (`serve --workers N`, Linux).

SO_REUSEPORT (sockets.py) spreads new connections by a hash of their addresses:
fair on average over many short connections, but web clients keep a few
connections open and busy (a browser's six, a proxy's pool), and a hash of 50 of
them split 16/34 and 22/28 between two workers in bench/web_bench.py's runs.
Each worker has one core's worth of time, so the busier one set everyone's
latency. Here the parent accepts each web connection and passes it over a
socket pair (SCM_RIGHTS) to the worker with the fewest connections open.

A worker counts the connections it has closed in a shared page (one slot per
worker, written only by that worker); the parent counts those it handed over.
The difference is what each has open. A connection counts as closed as soon as
its peer hangs up (a thread of the worker's own watches for that, so a busy event
loop does not delay it), or its transport closes it, whichever comes first. It
had been counted at a sweep of the closed sockets (each handoff, and every
`SWEEP_S`): when wrk's 50 connections closed and 50 new ones came at once, the
first worker handed one had swept and the other still counted 25 open, and the
new ones split 38/12; counted at the transport's close, they still split 13/37
whenever the next connections came before a busy worker's loop had seen the old
ones go. The busier worker sets everyone's latency. The sweep stays, for a socket
closed some other way. (A client that only half-closes, shutting down its
sending side while it waits for an answer, counts as gone from then on: this
count places new connections, it does not limit any.)

Connections that stay open stay where they were placed, and two workers are not
always equally fast: a shared host's cores can run at unequal speeds for minutes
(0.9 s against 1.3-1.4 s for the same loop, in session 13), and then the slower
worker's 25 connections set everyone's p99 (a trace inside both: p50 41 ms on
one, 66 ms on the other). So each worker publishes the median time of its
recent responses to plain requests (`WINDOW_S`; GET or HEAD over HTTP/1.1 kept
alive: no upload's pace, which a client sets, and no outlier moves it), and one
whose median is well above another's (`SHED_MARGIN`, `SHED_MIN_S`) for
`SHED_WINDOWS` windows in a row closes one such connection after its next
response (`Connection: close`) and counts it in the shared page: the parent
hands the next connection it accepts (the client's reconnection, as HTTP clients
do on such a close) to another worker. Connections move until the medians are
within the margin. That next connection need not be the reconnection (another
client's may come first), and a worker that sheds still takes its share of new
connections by count: clients that open connections often are spread by count
anyway, and this moves the ones that stay. Measured (session 14, one worker
pinned beside a busy loop taking 80 % of its core, 50 users back to back, six
rounds): p99 55.9-65.2 ms against 63.1-70.4 without, p90 44-48 against 50-55,
at up to 5 % fewer pages/s. With a 20 % margin (over means), connections also
moved on a host whose cores were even, and the p99 came out 1-3 ms worse.

Only the web listener is handed off: the mail protocols keep SO_REUSEPORT. Their
connections switch transports for STARTTLS, and the SMTP ones are short; that
would need its own measurement first.
"""

import asyncio
import contextlib
import mmap
import select
import socket
import struct
import sys
import threading
import time
from collections import deque
from collections.abc import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

SWEEP_S = 0.1
ACCEPT_PAUSE_S = 0.1  # after accept() fails for want of descriptors or memory
_BURST = 64  # connections accepted per wake-up of the parent

# Moving connections away from a slower worker (see the module's docstring).
WINDOW_S = 0.2  # a worker's median response time is taken over windows this long,
WINDOW_MIN = 20  # of at least this many responses (fewer: nothing published)
FRESH_S = 1.0  # a median published longer ago than this is not compared
SHED_MARGIN = 0.3  # a worker sheds when its median exceeds another's by this share
SHED_MIN_S = 0.003  # and by this much (a few ms apart at light load is no queue),
SHED_WINDOWS = 3  # at the end of this many windows in a row (a stall is shorter)

# The shared page, one slot per worker: connections it has closed and connections
# it has shed (written only by the worker), its median response time (seconds)
# and when that window ended (time.monotonic(), the same clock in every process).
_SLOT = struct.Struct("qqdd")
_CLOSED = struct.Struct("q")  # at the slot's start
_SHED = struct.Struct("q")  # at 8
_TIME = struct.Struct("dd")  # at 16


def possible() -> bool:
    """Whether connections can be handed between processes here (Linux)."""
    return sys.platform.startswith("linux") and hasattr(socket, "send_fds")


class Dispatcher:
    """In the parent: accepts on `listener` and hands each connection over.

    Call `channel(index)` before forking worker `index` (the worker's end of a new
    pair), `ready(index)` once it serves, `gone(index)` when it has died.
    """

    def __init__(self, listener: socket.socket, workers: int) -> None:
        self.listener = listener
        self.shared = mmap.mmap(-1, _SLOT.size * workers)  # shared with the workers
        self._sent = [0] * workers
        self._redirected = [0] * workers  # of each worker's sheds, those placed elsewhere
        self._ends: dict[int, socket.socket] = {}  # the parent's end, per worker
        self._ready: set[int] = set()
        self._turn = 0  # where ties start, so that equal workers take turns
        self.paused_until = 0.0  # monotonic: no accepting before (see `accept`)
        self._held: deque[socket.socket] = deque()  # accepted, not yet handed

    def channel(self, index: int) -> socket.socket:
        """A new pair for worker `index` (about to be forked); returns its end."""
        self.gone(index)
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        ours.setblocking(False)  # a stalled worker must not stall the parent
        self._ends[index] = ours
        self._sent[index] = self._redirected[index] = 0
        _SLOT.pack_into(self.shared, index * _SLOT.size, 0, 0, 0.0, 0.0)
        return theirs

    def ready(self, index: int) -> None:
        if index in self._ends:
            self._ready.add(index)

    def serving(self) -> bool:
        """Whether some worker takes connections now."""
        return bool(self._ready)

    def gone(self, index: int) -> None:
        self._ready.discard(index)
        end = self._ends.pop(index, None)
        if end is not None:
            end.close()
            _TIME.pack_into(self.shared, index * _SLOT.size + 16, 0.0, 0.0)  # not compared

    def open_count(self, index: int) -> int:
        """Connections handed to worker `index` that it has not closed yet."""
        closed: int = _CLOSED.unpack_from(self.shared, index * _SLOT.size)[0]
        return self._sent[index] - closed

    def _shed_pending(self, index: int) -> int:
        """Connections worker `index` has shed whose places are still owed elsewhere."""
        shed: int = _SHED.unpack_from(self.shared, index * _SLOT.size + 8)[0]
        return shed - self._redirected[index]

    def accept(self) -> int:
        """Accept what is waiting (up to a burst) and hand it over; returns how many.

        A connection no worker can take now (every pair full: stalled workers) is
        held, not closed, and handed by a later `flush`; accepting pauses
        meanwhile. Out of descriptors or memory, the connection stays queued and
        accepting pauses too. Either way for `ACCEPT_PAUSE_S` (`paused_until`):
        the listener stays readable, and accepting at once again would spin."""
        handed = self.flush()
        for _ in range(_BURST):
            if self._held:
                break
            try:
                conn, _addr = self.listener.accept()
            except (BlockingIOError, InterruptedError):
                break
            except ConnectionError:  # reset by the client before it was accepted
                continue
            except OSError:  # EMFILE, ENFILE, ENOBUFS, ENOMEM
                self.paused_until = time.monotonic() + ACCEPT_PAUSE_S
                break
            self._held.append(conn)
            handed += self.flush()
        return handed

    def flush(self) -> int:
        """Hand over the connections held; returns how many went."""
        handed = 0
        while self._held:
            if not self._hand(self._held[0]):
                self.paused_until = time.monotonic() + ACCEPT_PAUSE_S
                break
            self._held.popleft().close()  # the worker holds its own descriptor now
            handed += 1
        return handed

    def _hand(self, conn: socket.socket) -> bool:
        n = len(self._sent)
        order = sorted(self._ready, key=lambda i: (self.open_count(i), (i - self._turn) % n))
        # A worker that shed a connection (it is slower) takes the next one last,
        # so that the client's reconnection lands elsewhere.
        shedder = next((i for i in order if self._shed_pending(i) > 0), None)
        if shedder is not None and len(order) > 1:
            self._redirected[shedder] += 1
            order.remove(shedder)
            order.append(shedder)
        for index in order:
            try:
                socket.send_fds(self._ends[index], [b"c"], [conn.fileno()])
            except OSError:  # its queue is full (stalled) or it has just died: the next
                continue
            self._sent[index] += 1
            self._turn = (index + 1) % n
            return True
        return False

    def leave(self) -> None:
        """In a new worker: close the parent's listener and ends (a worker that
        held the parent's end of another's pair would keep that pair from ever
        reporting the parent gone). The shared page stays."""
        self.listener.close()
        for end in self._ends.values():
            end.close()
        self._ends.clear()
        self._ready.clear()
        while self._held:
            self._held.popleft().close()

    def close(self) -> None:
        for index in list(self._ends):
            self.gone(index)
        while self._held:
            self._held.popleft().close()
        self.shared.close()


class Receiver:
    """In worker `index`: takes the connections the parent hands over, gives each
    to `adopt`, and keeps the count of those closed since; times the worker's
    responses (`answered`) and says when to shed a connection (`shed_now`)."""

    def __init__(self, end: socket.socket, shared: mmap.mmap, index: int) -> None:
        self._end = end
        self._shared = shared
        self._offset = index * _SLOT.size
        self._others = [i * _SLOT.size for i in range(len(shared) // _SLOT.size) if i != index]
        # This worker's response times in the current window (loop only), its sheds.
        self._window_end = 0.0
        self._window: list[float] = []
        self._slower = 0  # windows in a row that ended well above another worker's
        self._shed_due = False
        self._sheds = 0
        self.clock = time.monotonic  # the same clock in every process (tests set theirs)
        # What the loop, the close of a socket and the hang-up watcher share.
        # Reentrant: a leaked transport collected while the lock is held (the
        # collector runs in whichever thread allocates) closes its socket there.
        self._lock = threading.RLock()
        self._open: set[socket.socket] = set()
        self._by_fd: dict[int, socket.socket] = {}
        self._closed = 0
        self._adopt: Callable[[socket.socket], None] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._hangups = select.epoll()
        self._wake_r, self._wake_w = socket.socketpair()
        self._hangups.register(self._wake_r.fileno(), select.EPOLLIN)
        self._watcher: threading.Thread | None = None
        self._stopped = False

    def start(self, adopt: Callable[[socket.socket], None]) -> None:
        """Begin taking connections, on the running loop."""
        self._adopt = adopt
        self._end.setblocking(False)
        loop = asyncio.get_running_loop()
        loop.add_reader(self._end.fileno(), self._take)
        self._timer = loop.call_later(SWEEP_S, self._tick)
        self._watcher = threading.Thread(target=self._watch, name="mailward-hangups", daemon=True)
        self._watcher.start()

    def stop(self) -> None:
        """Take no more (those the parent sends meanwhile are closed with the pair)."""
        if self._stopped:
            return
        with contextlib.suppress(Exception):
            asyncio.get_running_loop().remove_reader(self._end.fileno())
        if self._timer is not None:
            self._timer.cancel()
        self._end.close()
        with self._lock:
            self._stopped = True
        self._wake_w.close()  # the watcher wakes, and leaves
        if self._watcher is not None:
            self._watcher.join()
        self._hangups.close()
        self._wake_r.close()

    def _take(self) -> None:
        assert self._adopt is not None
        while True:
            try:
                msg, fds, _flags, _addr = socket.recv_fds(self._end, 16, 16)
            except (BlockingIOError, InterruptedError):
                break
            except OSError:
                self.stop()
                return
            if not msg and not fds:  # the parent is gone
                self.stop()
                return
            # One byte a connection. A connection whose descriptor did not arrive
            # (this process out of descriptors: MSG_CTRUNC) counts as closed.
            if len(msg) > len(fds):
                with self._lock:
                    self._closed += len(msg) - len(fds)
                    self._publish()
            for fd in fds:
                sock = _Handed(fileno=fd)
                sock.on_close = self._lost
                with self._lock:
                    self._open.add(sock)
                    self._by_fd[fd] = sock
                    # Reported once (ONESHOT): a peer's FIN, or a reset (HUP, ERR).
                    # Unwatched if epoll has no room: counted at its close then.
                    with contextlib.suppress(OSError):
                        self._hangups.register(fd, select.EPOLLRDHUP | select.EPOLLONESHOT)
                try:
                    self._adopt(sock)
                except Exception:  # noqa: BLE001 - one connection lost, not the worker
                    sock.close()
        self._sweep()

    def _tick(self) -> None:
        self._sweep()
        self._timer = asyncio.get_running_loop().call_later(SWEEP_S, self._tick)

    def _lost(self, sock: socket.socket) -> None:
        """`sock` is being closed (its descriptor still open): counted, if its
        hang-up was not, and no longer watched."""
        fd = sock.fileno()
        with self._lock:
            self._gone(sock)
            if self._by_fd.get(fd) is sock:
                del self._by_fd[fd]
                if not self._stopped:
                    with contextlib.suppress(OSError):
                        self._hangups.unregister(fd)

    def _gone(self, sock: socket.socket) -> None:
        """One fewer open, in the shared page now (once per connection; lock held)."""
        if sock in self._open:
            self._open.discard(sock)
            self._closed += 1
            self._publish()

    def _publish(self) -> None:
        _CLOSED.pack_into(self._shared, self._offset, self._closed)

    # -- moving connections away from a slower worker (the event loop's) ---------------

    def answered(self, seconds: float) -> None:
        """One response took `seconds`, from the request to its last byte handed to
        the transport. When the window ends its median is published and compared."""
        now = self.clock()
        if now >= self._window_end:
            if len(self._window) >= WINDOW_MIN:
                median = sorted(self._window)[len(self._window) // 2]
                _TIME.pack_into(self._shared, self._offset + 16, median, now)
                self._compare(median, now)
            self._window_end = now + WINDOW_S
            self._window = []
        self._window.append(seconds)

    def _compare(self, mine: float, now: float) -> None:
        faster = [m for m in (self._median(o, now) for o in self._others) if m is not None]
        best = min(faster, default=mine)
        if mine > best * (1 + SHED_MARGIN) and mine - best > SHED_MIN_S:
            self._slower += 1
        else:
            self._slower = 0
            self._shed_due = False  # a shed not made yet is no longer wanted
        if self._slower >= SHED_WINDOWS:
            self._slower = 0
            self._shed_due = True

    def shed_now(self) -> bool:
        """Whether the response being started should close its connection so that
        the client reconnects to a faster worker; counted in the shared page (the
        parent then places the next connection elsewhere) when it should."""
        if not self._shed_due or len(self._open) < 2:
            return False
        self._shed_due = False
        self._sheds += 1
        _SHED.pack_into(self._shared, self._offset + 8, self._sheds)
        return True

    def _median(self, offset: int, now: float) -> float | None:
        median, at = _TIME.unpack_from(self._shared, offset + 16)
        return float(median) if now - at <= FRESH_S else None

    def _watch(self) -> None:
        """The watcher thread: counts a connection closed when its peer hangs up,
        while the worker's loop may be busy for tens of ms before it notices."""
        wake = self._wake_r.fileno()
        while True:
            events = self._hangups.poll()
            with self._lock:
                if self._stopped:
                    return
                for fd, _event in events:
                    sock = self._by_fd.get(fd)
                    # The descriptor may have been closed and reused since the
                    # event: the socket it names now is asked again.
                    if fd != wake and sock is not None and _hung_up(fd):
                        self._gone(sock)

    def _sweep(self) -> None:
        """Count the handed connections whose sockets have been closed since."""
        with self._lock:
            for sock in [s for s in list(self._open) if s.fileno() == -1]:
                self._gone(sock)
            for fd, sock in list(self._by_fd.items()):
                if sock.fileno() == -1 and self._by_fd.get(fd) is sock:
                    del self._by_fd[fd]


class Balancing:
    """ASGI middleware of a worker whose connections are handed to it: times each
    response to a plain request (`_plain`) for the receiver's window and, when
    the receiver says so, closes that response's connection after it
    (`Connection: close`). Other requests pass untouched: an upload's time is
    the client's pace, and a response sent before a request's body was read
    could be lost to the reset that closing over unread input sends."""

    def __init__(self, app: ASGIApp, receiver: Receiver) -> None:
        self.app = app
        self.receiver = receiver

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not _plain(scope):
            await self.app(scope, receive, send)
            return
        receiver = self.receiver
        start = receiver.clock()

        async def timed(message: Message) -> None:
            if message["type"] == "http.response.start" and receiver.shed_now():
                headers = [*message.get("headers", ()), (b"connection", b"close")]
                message = {**message, "headers": headers}
            await send(message)
            if message["type"] == "http.response.body" and not message.get("more_body"):
                receiver.answered(receiver.clock() - start)

        await self.app(scope, receive, timed)


def _plain(scope: Scope) -> bool:
    """GET or HEAD over HTTP/1.1 with no body, its connection to be kept alive."""
    if scope["method"] not in ("GET", "HEAD") or scope["http_version"] != "1.1":
        return False
    for name, value in scope["headers"]:
        if name == b"connection" and b"close" in value.lower():
            return False
        if name == b"transfer-encoding" or (name == b"content-length" and value.strip() != b"0"):
            return False
    return True


def _hung_up(fd: int) -> bool:
    """Whether the peer of socket `fd` has hung up (FIN or reset), now."""
    probe = select.poll()
    probe.register(fd, select.POLLRDHUP)
    return any(
        event & (select.POLLRDHUP | select.POLLHUP | select.POLLERR) for _fd, event in probe.poll(0)
    )


class _Handed(socket.socket):
    """A handed connection's socket, which reports its first close (`on_close`)
    before the descriptor goes: the receiver's count is current at once."""

    __slots__ = ("on_close",)

    on_close: Callable[[socket.socket], None] | None

    def close(self) -> None:
        report, self.on_close = getattr(self, "on_close", None), None
        try:
            if report is not None and self.fileno() != -1:
                report(self)
        finally:
            super().close()
