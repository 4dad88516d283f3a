"""The parent's handoff of web connections (handoff.py), in one process: real
sockets, a real socket pair per worker, the workers' receivers on an event loop."""

import asyncio
import errno
import socket
import time
from collections.abc import Iterator

import pytest

from mailward import handoff
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

    def __init__(self, listener: socket.socket, n: int) -> None:
        self.listener = listener
        self.d = handoff.Dispatcher(listener, n)
        self.adopted: list[list[socket.socket]] = [[] for _ in range(n)]
        self.receivers = [handoff.Receiver(self.d.channel(i), self.d.closed, i) for i in range(n)]
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
        r = handoff.Receiver(end, d.closed, 0)
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
