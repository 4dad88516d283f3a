"""`mailward serve`: the listeners, the outbound worker and maintenance, until
SIGTERM or SIGINT; in one process, or in several worker processes on the same
listening addresses (`--workers N`: Python runs one thread at a time per process,
so a second process is what puts a second core to work).

With workers, the parent reserves the addresses and forks the workers; each
listens on a socket of its own there (SO_REUSEPORT: the kernel spreads new
connections over them), except on the web's: there the parent accepts and hands
each connection to the worker with the fewest open (handoff.py). The parent
restarts a worker that dies and passes SIGTERM on. Each worker opens its own
runtime (database connections, keys, audit writer); the database's write lock,
the audit chain's tip and the signed head are shared through the files
(db/sqlite.py, audit/writer.py). Worker 0 alone runs the outbound relay and
maintenance.
"""

import asyncio
import contextlib
import ctypes
import gc
import os
import selectors
import signal
import socket
import sys
import time
import traceback
from collections.abc import Callable, Iterator
from functools import partial

import anyio.to_thread
import uvicorn
from starlette.types import ASGIApp

from mailward import handoff
from mailward.config import Settings, listen_address
from mailward.core.errors import Conflict
from mailward.imap import start_imap
from mailward.pop3 import start_pop3
from mailward.runtime import Runtime
from mailward.smtp import start_listeners
from mailward.smtp.server import Listen
from mailward.sockets import bind, own_listener, reserve, spreads
from mailward.web import create_app

PURGE_EVERY_S = 60.0
WEB_THREADS = 2
RESTART_PAUSE_S = 1.0
READY_WAIT_S = 60.0  # for each worker to start serving, before "ready" is announced
_HELD_SIGNALS = {signal.SIGTERM, signal.SIGINT, signal.SIGUSR1, signal.SIGCHLD}
Announce = Callable[[str], None]


async def serve(
    rt: Runtime,
    announce: Announce,
    sockets: dict[str, Listen] | None = None,
    *,
    chores: bool = True,
    handed: handoff.Receiver | None = None,
) -> None:
    """Run until a stop signal; `announce` gets one line per listener bound.

    `sockets`: already bound listeners (from the parent of several workers);
    `chores`: run the outbound relay and maintenance here; `handed`: the web's
    connections come from the parent through it (and not from a socket of ours).
    """
    relay = rt.relay()
    # With workers, only worker 0 relays: the others ask the parent to wake it.
    wake = relay.wake if chores else _wake_relay_via_parent
    backend = rt.smtp_backend(queued=wake)
    if sockets is None:
        sockets = {
            "web": bind(listen_address(rt.settings.web)),
            "smtp": listen_address(rt.settings.smtp),
            "submission": listen_address(rt.settings.submission),
            "imap": listen_address(rt.settings.imap),
            "pop3": listen_address(rt.settings.pop3),
        }
    listeners = await start_listeners(backend, sockets["smtp"], sockets["submission"])
    imap_backend, pop3_backend = rt.imap_backend(), rt.pop3_backend()
    mail_servers = {
        "imap": await start_imap(imap_backend, sockets.get("imap")),
        "pop3": await start_pop3(pop3_backend, sockets.get("pop3")),
    }
    web = _web_server(rt, sockets.get("web"), wake, handed)
    # Page handlers run in anyio's thread pool (40 threads by default). They are
    # CPU-bound under one interpreter lock, and 40 threads thrash it: measured with
    # bench/web_bench.py at 50 sessions, 40 threads gave 77 pages/s, 4 gave 126;
    # later, 4 gave 216-222 and 2 gave 234-241 (1 gave 298, but one slow request,
    # a long search, would then hold every other page back). More processes
    # (`--workers`), not threads, are what scale.
    anyio.to_thread.current_default_thread_limiter().total_tokens = WEB_THREADS
    _freeze_heap()  # the modules, the app, templates: ~80,000 objects
    stop = asyncio.Event()
    web_task = None
    if web is not None:
        web_task = asyncio.create_task(web.serve(sockets=[web.sock] if web.sock else []))
        # The web server ends only when told to, unless it failed (its error is
        # raised below, and the worker exits with it).
        web_task.add_done_callback(lambda _task: stop.set())
    if web is not None and web.sock is not None:
        host, port = web.sock.getsockname()[:2]
        announce(f"listening web http://{host}:{port}/")
    for name, (host, port) in listeners.addresses.items():
        announce(f"listening {name} {host}:{port}")
    for name, server in mail_servers.items():
        if server is not None:
            host, port = server.sockets[0].getsockname()[:2]
            announce(f"listening {name} {host}:{port}")
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    if chores:
        # The wake first, then the relay's first pass: a message another worker
        # queues in between is either in that pass or wakes the next one (the other
        # way round, its wake could hit the SIG_IGN a worker starts with).
        loop.add_signal_handler(signal.SIGUSR1, relay.wake)
        relay.start()
    announce("ready")
    try:
        while not stop.is_set():
            if chores:
                await loop.run_in_executor(backend.pool, rt.purge_expired)
            try:
                await asyncio.wait_for(stop.wait(), PURGE_EVERY_S)
            except TimeoutError:
                continue
    finally:
        if web is not None and web_task is not None:
            web.should_exit = True
            await web_task
        listeners.close()
        await listeners.wait_closed()
        for server in mail_servers.values():
            if server is not None:
                server.close()
        imap_backend.pool.shutdown(wait=False, cancel_futures=True)
        pop3_backend.pool.shutdown(wait=False, cancel_futures=True)
        relay.stop()
        backend.pool.shutdown(wait=True)


class _WebServer(uvicorn.Server):
    """uvicorn on a socket we bound, or on the connections the parent hands over
    (`handed`), leaving the signals to `serve`."""

    sock: socket.socket | None = None
    handed: handoff.Receiver | None = None
    _adopting: set["asyncio.Task[object]"]

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.handed is not None and self.started:
            self.handed.start(self._adopt)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        if self.handed is not None:
            self.handed.stop()
            if self._adopting:  # connections adopted last get shut down like the rest
                await asyncio.wait(set(self._adopting))
        await super().shutdown(sockets)

    def _adopt(self, sock: socket.socket) -> None:
        """Serve a connection the parent accepted, as uvicorn serves its own."""
        config, state, app_state = self.config, self.server_state, self.lifespan.state

        def protocol() -> asyncio.Protocol:
            return config.http_protocol_class(  # type: ignore[call-arg]
                config=config, server_state=state, app_state=app_state
            )

        sock.setblocking(False)
        loop = asyncio.get_running_loop()
        task = loop.create_task(loop.connect_accepted_socket(protocol, sock))
        self._adopting.add(task)
        task.add_done_callback(partial(_adopted, self._adopting, sock))


def _adopted(
    adopting: set["asyncio.Task[object]"], sock: socket.socket, task: "asyncio.Task[object]"
) -> None:
    adopting.discard(task)
    if task.cancelled() or task.exception() is not None:
        sock.close()  # e.g. reset by the client before it was served


def _web_server(
    rt: Runtime, where: Listen, queued: Callable[[], None], handed: handoff.Receiver | None = None
) -> _WebServer | None:
    if not isinstance(where, socket.socket) and handed is None:
        return None
    app: ASGIApp = create_app(rt.web_backend(queued))
    if handed is not None:
        app = handoff.Balancing(app, handed)
    config = uvicorn.Config(
        app,
        log_level="warning",
        access_log=False,
        lifespan="off",
        server_header=False,
        proxy_headers=False,
        http="httptools",  # C parser: h11 (pure Python) cost half the throughput
    )
    server = _WebServer(config)
    server.sock = where if isinstance(where, socket.socket) else None
    server.handed = handed
    server._adopting = set()
    return server


def _stop_with(parent: int) -> None:
    """In a new worker: have the kernel send it SIGTERM when the parent dies
    (Linux's PR_SET_PDEATHSIG), so that no worker outlives its supervisor,
    unsupervised, holding the ports (and, with the web handed off, no longer given
    any web connection)."""
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:  # it died before the request took effect
        os.kill(os.getpid(), signal.SIGTERM)


_PR_SET_PDEATHSIG = 1  # linux/prctl.h


def _wake_relay_via_parent() -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(os.getppid(), signal.SIGUSR1)


def _freeze_heap() -> None:
    """Move every object that exists now, which lives as long as the process, out
    of the collector's way (gc.freeze). Every full collection walked them all, 40
    ms during which no request moved: the web pages' p99."""
    gc.collect()
    gc.freeze()


def serve_workers(settings: Settings, workers: int, announce: Announce) -> int:
    """Bind, fork `workers` processes, supervise them until SIGTERM/SIGINT.

    The caller must have opened (migrated) and closed the runtime once before:
    workers start together and must not race to create the schema.
    """
    # The parent reserves each address (a port of 0 becomes a real one); each
    # worker listens on its own socket there (sockets.py), except on the web's,
    # where the parent accepts and hands each connection over (handoff.py).
    spread, handing = spreads(), handoff.possible()
    sockets: dict[str, Listen] = {}
    for name, value in (
        ("web", settings.web), ("smtp", settings.smtp), ("submission", settings.submission),
        ("imap", settings.imap), ("pop3", settings.pop3),
    ):  # fmt: skip
        try:
            if name == "web" and handing:
                sockets[name] = bind(listen_address(value))
            else:
                sockets[name] = reserve(listen_address(value), spread=spread)
        except OSError as exc:
            for held in sockets.values():
                if isinstance(held, socket.socket):
                    held.close()
            raise Conflict(f"{name}: cannot listen on {value}: {exc.strerror or exc}") from exc
    for name, sock in sockets.items():
        if isinstance(sock, socket.socket):
            host, port = sock.getsockname()[:2]
            where = f"http://{host}:{port}/" if name == "web" else f"{host}:{port}"
            announce(f"listening {name} {where}")
    web = sockets.get("web")
    dispatcher = (
        handoff.Dispatcher(web, workers) if handing and isinstance(web, socket.socket) else None
    )
    return _Supervisor(settings, workers, announce, sockets, spread, dispatcher).run()


class _Supervisor:
    """The parent of the workers: forks them, restarts one that dies, passes the
    stop on, and (with a dispatcher) accepts the web's connections and hands them
    over. One thread, waiting in select: on the web listener, on each starting
    worker's ready pipe, and on the signals (through their wake-up pipe)."""

    def __init__(
        self,
        settings: Settings,
        workers: int,
        announce: Announce,
        sockets: dict[str, Listen],
        spread: bool,
        dispatcher: handoff.Dispatcher | None,
    ) -> None:
        self.settings = settings
        self.workers = workers
        self.announce = announce
        self.sockets = sockets
        self.spread = spread
        self.dispatcher = dispatcher
        self.children: dict[int, int] = {}  # pid -> worker index
        self.starting: dict[int, tuple[int, int]] = {}  # ready pipe -> (index, pid)
        self.restarts: dict[int, float] = {}  # worker index -> when to fork it again
        self.signalled: set[int] = set()  # pids sent SIGTERM
        self.stopping = False
        self.failed = 0
        self.selector = selectors.DefaultSelector()
        self.wake_r, self.wake_w = os.pipe()

    def run(self) -> int:
        for fd in (self.wake_r, self.wake_w):
            os.set_blocking(fd, False)
        signal.set_wakeup_fd(self.wake_w)
        signal.signal(signal.SIGTERM, self._stop)
        signal.signal(signal.SIGINT, self._stop)
        signal.signal(signal.SIGUSR1, self._wake_relay)
        signal.signal(signal.SIGCHLD, lambda *_: None)  # only to wake the select
        self.selector.register(self.wake_r, selectors.EVENT_READ)
        # Frozen before the workers fork: their collections then never touch what they
        # inherit, and those pages stay shared with the parent.
        _freeze_heap()
        for index in range(self.workers):
            if not self.stopping:
                self._spawn(index)
        # "ready" once every worker serves (or has died: it is restarted).
        deadline = time.monotonic() + READY_WAIT_S
        announced = False
        try:
            while self.children or (self.restarts and not self.stopping):
                if self.stopping:
                    self._terminate()
                ready = not self.starting or time.monotonic() >= deadline
                if not announced and not self.stopping and ready:
                    self.announce(f"ready ({self.workers} workers)")
                    announced = True
                for key, _events in self.selector.select(self._timeout(announced, deadline)):
                    self._event(key.fd)
                self._reap()
                self._restart_due()
                self._accept_while_served()
        finally:
            self._terminate()
            self._close()
        return 0 if self.failed == 0 else 1

    def _timeout(self, announced: bool, deadline: float) -> float | None:
        due = list(self.restarts.values()) + ([] if announced else [deadline])
        if self.dispatcher is not None and self.dispatcher.paused_until > time.monotonic():
            due.append(self.dispatcher.paused_until)
        return max(0.0, min(due) - time.monotonic()) if due else None

    def _event(self, fd: int) -> None:
        if fd == self.wake_r:
            with contextlib.suppress(OSError):
                while os.read(self.wake_r, 512):
                    pass
        elif self.dispatcher is not None and fd == self.dispatcher.listener.fileno():
            if not self.stopping:
                self.dispatcher.accept()
        elif fd in self.starting:  # a byte (it serves) or EOF (it died first)
            index, pid = self.starting.pop(fd)
            self.selector.unregister(fd)
            with contextlib.suppress(OSError):
                serves = os.read(fd, 1) and self.children.get(pid) == index
                if serves and self.dispatcher is not None:
                    self.dispatcher.ready(index)
            os.close(fd)

    def _spawn(self, index: int) -> None:
        ready_r, ready_w = os.pipe()
        channel = self.dispatcher.channel(index) if self.dispatcher is not None else None
        # The signals wait until the new worker is known (a stop in between must
        # reach it) and until the worker has dropped the parent's handlers.
        held = signal.pthread_sigmask(signal.SIG_BLOCK, _HELD_SIGNALS)
        parent = os.getpid()
        try:
            pid = os.fork()
            if pid == 0:  # the worker: never returns from here
                code = 1
                try:
                    os.close(ready_r)
                    self._leave_parent()
                    _stop_with(parent)
                    signal.pthread_sigmask(signal.SIG_SETMASK, held)
                    code = self._work(index, ready_w, channel)
                finally:
                    os._exit(code)
            self.children[pid] = index
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, held)
        os.close(ready_w)
        if channel is not None:
            channel.close()
        self.starting[ready_r] = (index, pid)
        self.selector.register(ready_r, selectors.EVENT_READ)

    def _leave_parent(self) -> None:
        """In a new worker: drop what only the parent uses (signals, select, the web
        listener, the other workers' pairs and pipes)."""
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        signal.signal(signal.SIGUSR1, signal.SIG_IGN)  # until worker 0's loop takes it
        self.selector.close()  # (closes the descriptor; the parent's set is untouched)
        for fd in [self.wake_r, self.wake_w, *self.starting]:
            os.close(fd)
        if self.dispatcher is not None:
            self.dispatcher.leave()

    def _work(self, index: int, ready_w: int, channel: socket.socket | None) -> int:
        def tell(line: str) -> None:
            if line == "ready":
                with contextlib.suppress(OSError):  # the parent stopped listening
                    os.write(ready_w, b"r")

        try:
            rt = Runtime.open(self.settings)
            try:
                # Listening only now: connections given to this worker's socket
                # wait for a worker that can answer them.
                own: dict[str, Listen] = {
                    name: own_listener(held, spread=self.spread)
                    for name, held in self.sockets.items()
                    if not (name == "web" and self.dispatcher is not None)
                }
                handed = None
                if self.dispatcher is not None and channel is not None:
                    handed = handoff.Receiver(channel, self.dispatcher.shared, index)
                asyncio.run(serve(rt, tell, own, chores=index == 0, handed=handed))
            finally:
                rt.close()
        except BaseException:  # noqa: BLE001 - a worker reports by its exit code
            traceback.print_exc()
            return 1
        return 0

    def _reap(self) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            index = self.children.pop(pid, None)
            if index is None:
                continue
            if self.dispatcher is not None:
                self.dispatcher.gone(index)
            if not self.stopping:
                self.failed += 1
                self.announce(f"worker {index} exited ({status}); restarting")
                self.restarts[index] = time.monotonic() + RESTART_PAUSE_S

    def _restart_due(self) -> None:
        now = time.monotonic()
        for index, due in list(self.restarts.items()):
            if due <= now:
                del self.restarts[index]
                if not self.stopping:  # a stop in the pause: nothing would ever stop it
                    self._spawn(index)

    def _stop(self, *_: object) -> None:
        self.stopping = True  # the loop, woken by the signal's byte, does the rest

    def _terminate(self) -> None:
        """SIGTERM to every worker not yet sent one; no more restarts."""
        self.restarts.clear()
        for pid in list(self.children):
            if pid not in self.signalled:
                self.signalled.add(pid)
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGTERM)

    def _accept_while_served(self) -> None:
        """Accept web connections only while some worker serves: while none does
        (all restarting), they wait in the listener's queue, not closed; after a
        stop, they are left to be refused."""
        d = self.dispatcher
        if d is None:
            return
        due = time.monotonic() >= d.paused_until
        if due and not self.stopping:
            d.flush()  # what the workers could not take before
        wanted = d.serving() and not self.stopping and due
        watched = d.listener in self.selector.get_map()
        if wanted and not watched:
            self.selector.register(d.listener, selectors.EVENT_READ)
        elif watched and not wanted:
            self.selector.unregister(d.listener)

    def _wake_relay(self, *_: object) -> None:
        for pid, index in list(self.children.items()):
            if index == 0:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGUSR1)

    def _close(self) -> None:
        for pid in list(self.children):  # only after a failure in the loop itself
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)
        signal.set_wakeup_fd(-1)
        for fd in self.starting:
            os.close(fd)
        self.starting.clear()
        self.selector.close()
        os.close(self.wake_r)
        os.close(self.wake_w)
        if self.dispatcher is not None:
            self.dispatcher.close()
        for sock in self.sockets.values():
            if isinstance(sock, socket.socket):
                sock.close()
