"""The parent's handoff of web connections (handoff.py), in one process: real
sockets, a real socket pair per worker, the workers' receivers on an event loop."""

import asyncio
import errno
import http.client
import socket
import threading
import time
from collections.abc import Callable, Iterator

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.types import Message, Receive, Scope, Send

from mailward import handoff
from mailward.serve import _WebServer
from mailward.sockets import bind

pytestmark = pytest.mark.skipif(not handoff.possible(), reason="needs SCM_RIGHTS (Linux)")


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    sock = bind(("127.0.0.1", 0))
    assert sock is not None
    yield sock
    sock.close()


def _connect(listener: socket.socket, n: int) -> list[socket.socket]:
    return [socket.create_connection(listener.getsockname()[:2], timeout=5) for _ in range(n)]


def _accept_all(d: handoff.Dispatcher, expected: int) -> int:
    """Accept until `expected` connections were handed (they may still be in flight
    to the listener's queue when the first accept runs)."""
    handed = 0
    for _ in range(200):
        handed += d.accept()
        if handed >= expected:
            break
        time.sleep(0.005)
    return handed


def _received(end: socket.socket) -> list[socket.socket]:
    end.setblocking(False)
    out = []
    while True:
        try:
            _msg, fds, _flags, _addr = socket.recv_fds(end, 16, 16)
        except BlockingIOError:
            return out
        out += [socket.socket(fileno=fd) for fd in fds]


def test_connections_are_spread_evenly_and_stay_usable(listener: socket.socket) -> None:
    d = handoff.Dispatcher(listener, 2)
    ends = [d.channel(0), d.channel(1)]
    d.ready(0)
    d.ready(1)
    clients = _connect(listener, 10)
    got: list[list[socket.socket]] = []
    try:
        assert _accept_all(d, 10) == 10
        got = [_received(ends[0]), _received(ends[1])]
        assert [len(g) for g in got] == [5, 5]
        assert d.open_count(0) == d.open_count(1) == 5
        # What a worker received is the client's connection itself.
        peers = {c.getsockname() for c in clients}
        assert {s.getpeername() for g in got for s in g} == peers
        by_peer = {s.getpeername(): s for g in got for s in g}
        clients[3].sendall(b"ping")
        assert by_peer[clients[3].getsockname()].recv(4) == b"ping"
    finally:
        for c in [*clients, *(s for g in got for s in g), *ends]:
            c.close()
        d.close()


class _Workers:
    """`n` receivers on the running loop, with what each adopted, the clients and
    the dispatcher (each test's scenario runs inside `async with`)."""

    def __init__(
        self, listener: socket.socket, n: int, clock: Callable[[], float] | None = None
    ) -> None:
        self.listener = listener
        self.d = handoff.Dispatcher(listener, n)
        self.adopted: list[list[socket.socket]] = [[] for _ in range(n)]
        self.receivers = [handoff.Receiver(self.d.channel(i), self.d.shared, i) for i in range(n)]
        if clock is not None:  # the receivers' windows end by this clock
            for r in self.receivers:
                r.clock = clock
        self.clients: list[socket.socket] = []

    async def __aenter__(self) -> "_Workers":
        for i, r in enumerate(self.receivers):
            r.start(self.adopted[i].append)
            self.d.ready(i)
        return self

    async def hand(self, n: int) -> None:
        """`n` new clients, handed (from another thread) and adopted."""
        self.clients += _connect(self.listener, n)
        total = sum(map(len, self.adopted)) + n
        loop = asyncio.get_running_loop()
        assert await loop.run_in_executor(None, _accept_all, self.d, n) == n
        deadline = time.monotonic() + 10
        while sum(map(len, self.adopted)) < total:
            assert time.monotonic() < deadline, "handed connections not adopted"
            await asyncio.sleep(0.005)

    def counts(self) -> list[int]:
        return [len(a) for a in self.adopted]

    async def __aexit__(self, *_exc: object) -> None:
        for r in self.receivers:
            r.stop()
        for c in self.clients:
            c.close()
        for a in self.adopted:
            for s in a:
                s.close()
        self.d.close()


def test_a_worker_that_closed_its_connections_gets_the_next_ones(
    listener: socket.socket, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The least-open choice, with the count a real Receiver keeps: current as
    soon as a connection is closed, not at the next sweep (none runs here)."""
    monkeypatch.setattr(handoff, "SWEEP_S", 3600.0)

    async def scenario() -> tuple[list[int], list[int]]:
        async with _Workers(listener, 2) as w:
            await w.hand(8)
            first = w.counts()
            for s in w.adopted[1]:  # worker 1 is done with all of its connections
                s.close()
            assert w.d.open_count(1) == 0 and w.d.open_count(0) == 4
            await w.hand(4)
            return first, w.counts()

    first, after = asyncio.run(scenario())
    assert first == [4, 4]
    assert after == [4, 8]  # all four new ones went to the worker with none open


def test_connections_replaced_all_at_once_split_evenly(
    listener: socket.socket, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A client that closes all of its connections and opens as many again (wrk
    from one run to the next) finds them split evenly again. With closes counted
    at sweeps, the first worker handed a new one swept and the other did not: the
    replacements of 50 went 38/12 (here they would go 6/2)."""
    monkeypatch.setattr(handoff, "SWEEP_S", 3600.0)

    async def scenario() -> list[int]:
        async with _Workers(listener, 2) as w:
            await w.hand(8)
            assert w.counts() == [4, 4]
            for c in w.clients:
                c.close()
            for a in w.adopted:  # each worker closes its side, as a transport does
                for s in a:
                    s.close()
                a.clear()
            # The first new one reaches its worker (which swept there, in the
            # old count) before the other seven arrive, together.
            await w.hand(1)
            w.clients += _connect(listener, 7)
            # Handed from this thread: no receiver runs (nor sweeps) meanwhile, as
            # in a worker whose loop is busy.
            assert _accept_all(w.d, 7) == 7
            deadline = time.monotonic() + 10
            while sum(w.counts()) < 8:
                assert time.monotonic() < deadline, "handed connections not adopted"
                await asyncio.sleep(0.005)
            return w.counts()

    assert asyncio.run(scenario()) == [4, 4]


def test_a_hang_up_is_counted_while_the_worker_is_busy(
    listener: socket.socket, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Clients that hang up are counted gone by the worker's watcher thread while
    its loop is blocked (nothing closed, nothing swept), and only once when the
    worker then closes them."""
    monkeypatch.setattr(handoff, "SWEEP_S", 3600.0)

    async def scenario() -> tuple[int, int, int]:
        async with _Workers(listener, 1) as w:
            await w.hand(4)
            before = w.d.open_count(0)
            w.clients[0].close()
            w.clients[1].close()
            # The loop blocked, as by a long turn: only the watcher can count.
            deadline = time.monotonic() + 10
            while w.d.open_count(0) != 2 and time.monotonic() < deadline:
                time.sleep(0.01)
            during = w.d.open_count(0)
            for s in w.adopted[0]:  # the worker's side closes all four
                s.close()
            return before, during, w.d.open_count(0)

    assert asyncio.run(scenario()) == (4, 2, 0)


def test_a_connection_no_worker_can_take_is_held_until_one_can(
    listener: socket.socket,
) -> None:
    """No worker takes it (none serving yet, or every pair full): the parent holds
    the connection, pauses accepting, and hands it over once one can."""
    d = handoff.Dispatcher(listener, 2)
    end = d.channel(0)  # forked, not serving yet
    (client,) = _connect(listener, 1)
    got: list[socket.socket] = []
    try:
        for _ in range(200):  # until the connection has been accepted
            d.accept()
            if d.paused_until:
                break
            time.sleep(0.005)
        assert d.paused_until > 0 and d.open_count(0) == 0
        client.settimeout(0.2)
        with pytest.raises(TimeoutError):
            client.recv(1)  # held open, not closed
        assert d.flush() == 0  # still no one to take it
        d.ready(0)
        assert d.flush() == 1 and d.open_count(0) == 1
        got = _received(end)
        assert [s.getpeername() for s in got] == [client.getsockname()]
    finally:
        for s in [client, end, *got]:
            s.close()
        d.close()


def test_a_receiver_stops_when_the_parent_is_gone(listener: socket.socket) -> None:
    async def scenario() -> bool:
        d = handoff.Dispatcher(listener, 1)
        end = d.channel(0)
        r = handoff.Receiver(end, d.shared, 0)
        r.start(lambda s: s.close())
        d.gone(0)  # the parent's end closes: EOF for the worker
        for _ in range(100):
            await asyncio.sleep(0.01)
            if end.fileno() == -1:
                break
        d.close()
        return end.fileno() == -1

    assert asyncio.run(scenario())


class _OutOfDescriptors(socket.socket):
    """A listening socket whose accept() fails as it does at the descriptor limit."""

    def accept(self) -> tuple[socket.socket, object]:
        raise OSError(errno.EMFILE, "Too many open files")


def test_out_of_descriptors_pauses_accepting_instead_of_spinning() -> None:
    sock = _OutOfDescriptors(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    d = handoff.Dispatcher(sock, 1)
    end = d.channel(0)
    d.ready(0)
    try:
        before = time.monotonic()
        assert d.paused_until == 0.0
        assert d.accept() == 0
        assert before + handoff.ACCEPT_PAUSE_S <= d.paused_until <= time.monotonic() + 1
    finally:
        end.close()
        d.close()
        sock.close()


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> _Clock:
    """The clock the receivers' windows end by (moved by hand); no sweeps run."""
    monkeypatch.setattr(handoff, "SWEEP_S", 3600.0)
    return _Clock()


def _windows(
    receivers: list[handoff.Receiver], clock: _Clock, times_ms: list[float], windows: int
) -> list[bool]:
    """A first window, then `windows` more, in which worker i answers every
    response in times_ms[i] ms (the last worker first: each window's first
    response publishes the one before, and worker 0 compares it with the
    others'); whether worker 0 would shed, asked (as the middleware asks) at the
    start of a response, in each of the `windows`."""
    shed = []
    for n in range(windows + 1):
        if n:
            clock.now += handoff.WINDOW_S
        for _ in range(handoff.WINDOW_MIN):
            for r, ms in reversed(list(zip(receivers, times_ms, strict=True))):
                r.answered(ms / 1000)
        if n:
            shed.append(receivers[0].shed_now())
    return shed


def test_a_worker_slower_for_several_windows_sheds_a_connection_and_the_next_goes_elsewhere(
    listener: socket.socket, clock: _Clock
) -> None:
    """Worker 0 answers in 30 ms, worker 1 in 20 (a slower core): after
    SHED_WINDOWS windows in a row worker 0 sheds one connection, and the
    parent hands the next one accepted (the client's reconnection) to worker 1
    although worker 0 then has fewer open; the one after goes by count again."""

    async def scenario() -> tuple[list[bool], list[int], list[int]]:
        async with _Workers(listener, 2, clock) as w:
            await w.hand(4)
            shed = _windows(w.receivers, clock, [30.0, 20.0], handoff.SHED_WINDOWS + 1)
            w.adopted[0].pop().close()  # as uvicorn closes it after that response
            await w.hand(1)
            moved = w.counts()
            await w.hand(1)
            return shed, moved, w.counts()

    shed, moved, after = asyncio.run(scenario())
    assert shed == [False] * (handoff.SHED_WINDOWS - 1) + [True, False]
    assert moved == [1, 3]  # to worker 1, with 3 open against worker 0's 1
    assert after == [2, 3]


@pytest.mark.parametrize(
    ("times_ms", "stale"),
    [
        ([23.0, 20.0], False),  # within SHED_MARGIN: no queue worth a reconnection
        ([4.0, 2.0], False),  # twice as slow, but 2 ms apart: light load
        ([30.0, 20.0], True),  # the other's mean is no longer published (it died)
    ],
)
def test_no_shedding_within_the_margin_at_light_load_or_beside_a_silent_worker(
    listener: socket.socket,
    clock: _Clock,
    times_ms: list[float],
    stale: bool,
) -> None:

    async def scenario() -> list[bool]:
        async with _Workers(listener, 2, clock) as w:
            await w.hand(4)
            answering = w.receivers
            if stale:
                _windows(answering, clock, times_ms, 1)
                clock.now += handoff.FRESH_S
                answering, times_ms[1:] = answering[:1], []  # worker 1 answers no more
            return _windows(answering, clock, times_ms, 3 * handoff.SHED_WINDOWS)

    assert not any(asyncio.run(scenario()))


def test_a_worker_with_one_connection_does_not_shed_it_nor_later_once_even(
    listener: socket.socket, clock: _Clock
) -> None:

    async def scenario() -> list[bool]:
        async with _Workers(listener, 2, clock) as w:
            await w.hand(2)
            assert w.counts() == [1, 1]
            shed = _windows(w.receivers, clock, [40.0, 20.0], 3 * handoff.SHED_WINDOWS)
            assert w.d._shed_pending(0) == 0
            # Even again, then a second connection: the shed it could not make
            # while slower is not made now.
            _windows(w.receivers, clock, [20.0, 20.0], 2)
            await w.hand(2)
            assert w.counts() == [2, 2]
            return [*shed, w.receivers[0].shed_now()]

    assert not any(asyncio.run(scenario()))


def test_a_shed_connection_is_closed_by_uvicorn_and_its_reconnection_goes_to_the_other(
    listener: socket.socket, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The whole way, in one process: a real uvicorn serving handed connections
    through `Balancing` (as a worker does) answers GETs in ~10 ms while worker 1
    answers in 1 ms; a response then carries `Connection: close`, uvicorn closes
    that connection after it, and the parent hands the client's next connection
    to worker 1 although worker 0 has fewer open (2 against 3)."""
    monkeypatch.setattr(handoff, "WINDOW_S", 0.05)
    monkeypatch.setattr(handoff, "WINDOW_MIN", 1)
    monkeypatch.setattr(handoff, "SHED_WINDOWS", 2)

    async def slow(request: Request) -> PlainTextResponse:
        await asyncio.sleep(0.01)
        return PlainTextResponse("ok")

    d = handoff.Dispatcher(listener, 2)
    worker = handoff.Receiver(d.channel(0), d.shared, 0)
    other_end = d.channel(1)
    other = handoff.Receiver(other_end, d.shared, 1)  # only publishes its mean here
    config = uvicorn.Config(
        handoff.Balancing(Starlette(routes=[Route("/", slow)]), worker),
        log_level="warning", lifespan="off", http="httptools",
    )  # fmt: skip
    server = _WebServer(config)
    server.sock, server.handed, server._adopting = None, worker, set()
    thread = threading.Thread(target=asyncio.run, args=(server.serve(sockets=[]),), daemon=True)
    thread.start()
    clients: list[socket.socket] = []
    got: list[socket.socket] = []
    try:
        deadline = time.monotonic() + 10
        while not server.started:
            assert time.monotonic() < deadline, "server did not start"
            time.sleep(0.01)
        d.ready(0)  # worker 1 not yet: these three go to worker 0
        clients = _connect(listener, 3)
        assert _accept_all(d, 3) == 3
        d.ready(1)  # and the next three to worker 1, which has none
        clients += _connect(listener, 3)
        assert _accept_all(d, 3) == 3
        got = _received(other_end)
        assert d.open_count(0) == d.open_count(1) == len(got) == 3
        port = listener.getsockname()[1]
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.sock = clients[0]
        peer = clients[0].dup()  # http.client closes its own on `Connection: close`
        clients.append(peer)
        closed_after = 0
        for n in range(1, 200):
            other.answered(0.001)
            conn.request("GET", "/")
            response = conn.getresponse()
            assert response.read() == b"ok"
            if response.getheader("connection") == "close":
                closed_after = n
                break
        assert closed_after, "worker 0 never shed a connection"
        assert peer.recv(1) == b""  # closed by the server after that response
        assert d.open_count(0) == 2 and d.open_count(1) == 3
        clients.append(socket.create_connection(("127.0.0.1", port), timeout=5))
        assert _accept_all(d, 1) == 1
        moved = _received(other_end)
        got += moved
        assert [s.getpeername() for s in moved] == [clients[-1].getsockname()]
        assert d.open_count(0) == 2 and d.open_count(1) == 4
    finally:
        server.should_exit = True
        thread.join(10)
        assert not thread.is_alive(), "server did not stop"
        other.stop()
        for s in [*clients, *got]:
            s.close()
        d.close()


def test_only_plain_requests_are_timed_or_shed(listener: socket.socket, clock: _Clock) -> None:
    """A POST (its body's pace is the client's, and closing over unread input
    resets the connection), a GET with a body, HTTP/1.0 and a request that
    closes its connection itself are neither timed nor shed; a kept-alive GET
    is both."""

    async def ok(scope: Scope, receive: Receive, send: Send) -> None:
        clock.now += 0.005
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    def request(
        method: str, version: str = "1.1", headers: list[tuple[bytes, bytes]] | None = None
    ) -> Scope:
        return {"type": "http", "method": method, "http_version": version,
                "headers": headers or [], "path": "/"}  # fmt: skip

    async def call(app: handoff.Balancing, scope: Scope) -> list[Message]:
        sent: list[Message] = []

        async def send(message: Message) -> None:
            sent.append(message)

        async def receive() -> Message:
            return {"type": "http.request", "body": b"", "more_body": False}

        await app(scope, receive, send)
        return sent

    async def scenario() -> tuple[list[bool], int, bool]:
        async with _Workers(listener, 2, clock) as w:
            await w.hand(4)
            # One window short of a shed: worker 0 slower in all but the last.
            _windows(w.receivers, clock, [30.0, 20.0], handoff.SHED_WINDOWS - 1)
            app = handoff.Balancing(ok, w.receivers[0])
            pending = len(w.receivers[0]._window)
            closes = []
            for scope in (
                request("POST"),
                request("GET", "1.0"),
                request("GET", headers=[(b"connection", b"Close")]),
                request("GET", headers=[(b"content-length", b"5")]),  # a body, unread
            ):
                sent = await call(app, scope)
                closes.append((b"connection", b"close") in sent[0]["headers"])
            untimed = len(w.receivers[0]._window) - pending
            clock.now += handoff.WINDOW_S  # the last window ends: worker 1's, then 0's
            w.receivers[1].answered(0.02)
            w.receivers[0].answered(0.03)
            sent = await call(app, request("GET"))
            return closes, untimed, (b"connection", b"close") in sent[0]["headers"]

    closes, untimed, shed = asyncio.run(scenario())
    assert closes == [False] * 4 and untimed == 0
    assert shed
