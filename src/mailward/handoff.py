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

SWEEP_S = 0.1
ACCEPT_PAUSE_S = 0.1  # after accept() fails for want of descriptors or memory
_SLOT = struct.Struct("q")
_BURST = 64  # connections accepted per wake-up of the parent


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
        self.closed = mmap.mmap(-1, _SLOT.size * workers)  # shared with the workers
        self._sent = [0] * workers
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
        self._sent[index] = 0
        _SLOT.pack_into(self.closed, index * _SLOT.size, 0)
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

    def open_count(self, index: int) -> int:
        """Connections handed to worker `index` that it has not closed yet."""
        closed: int = _SLOT.unpack_from(self.closed, index * _SLOT.size)[0]
        return self._sent[index] - closed

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
        self.closed.close()


class Receiver:
    """In worker `index`: takes the connections the parent hands over, gives each
    to `adopt`, and keeps the count of those closed since."""

    def __init__(self, end: socket.socket, closed: mmap.mmap, index: int) -> None:
        self._end = end
        self._closed_map = closed
        self._offset = index * _SLOT.size
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
        _SLOT.pack_into(self._closed_map, self._offset, self._closed)

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
