"""`mailward serve`: the listeners, the outbound worker and maintenance, until
SIGTERM or SIGINT; in one process, or in several worker processes on the same
listening addresses (`--workers N`: Python runs one thread at a time per process,
so a second process is what puts a second core to work).

With workers, the parent reserves the addresses and forks the workers; each
listens on a socket of its own there (SO_REUSEPORT: the kernel spreads new
connections over them). The parent restarts a worker that dies and passes
SIGTERM on. Each worker opens its own runtime (database connections, keys,
audit writer); the database's write lock, the audit chain's tip and the signed
head are shared through the files (db/sqlite.py, audit/writer.py). Worker 0
alone runs the outbound relay and maintenance.
"""

import asyncio
import contextlib
import gc
import os
import select
import signal
import socket
import time
import traceback
from collections.abc import Callable, Iterator

import anyio.to_thread
import uvicorn

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
Announce = Callable[[str], None]


async def serve(
    rt: Runtime,
    announce: Announce,
    sockets: dict[str, Listen] | None = None,
    *,
    chores: bool = True,
) -> None:
    """Run until a stop signal; `announce` gets one line per listener bound.

    `sockets`: already bound listeners (from the parent of several workers);
    `chores`: run the outbound relay and maintenance here.
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
    web = _web_server(rt, sockets.get("web"), wake)
    # Page handlers run in anyio's thread pool (40 threads by default). They are
    # CPU-bound under one interpreter lock, and 40 threads thrash it: measured with
    # bench/web_bench.py at 50 sessions, 40 threads gave 77 pages/s, 4 gave 126;
    # later, 4 gave 216-222 and 2 gave 234-241 (1 gave 298, but one slow request,
    # a long search, would then hold every other page back). More processes
    # (`--workers`), not threads, are what scale.
    anyio.to_thread.current_default_thread_limiter().total_tokens = WEB_THREADS
    _freeze_heap()  # the modules, the app, templates: ~80,000 objects
    web_task = asyncio.create_task(web.serve(sockets=[web.sock])) if web else None
    if web is not None:
        host, port = web.sock.getsockname()[:2]
        announce(f"listening web http://{host}:{port}/")
    for name, (host, port) in listeners.addresses.items():
        announce(f"listening {name} {host}:{port}")
    for name, server in mail_servers.items():
        if server is not None:
            host, port = server.sockets[0].getsockname()[:2]
            announce(f"listening {name} {host}:{port}")
    stop = asyncio.Event()
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
    """uvicorn on a socket we bound, leaving the signals to `serve`."""

    sock: socket.socket

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def _web_server(rt: Runtime, where: Listen, queued: Callable[[], None]) -> _WebServer | None:
    if not isinstance(where, socket.socket):
        return None
    config = uvicorn.Config(
        create_app(rt.web_backend(queued)),
        log_level="warning",
        access_log=False,
        lifespan="off",
        server_header=False,
        proxy_headers=False,
        http="httptools",  # C parser: h11 (pure Python) cost half the throughput
    )
    server = _WebServer(config)
    server.sock = where
    return server


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
    # worker listens on its own socket there (sockets.py).
    spread = spreads()
    sockets: dict[str, Listen] = {}
    for name, value in (
        ("web", settings.web), ("smtp", settings.smtp), ("submission", settings.submission),
        ("imap", settings.imap), ("pop3", settings.pop3),
    ):  # fmt: skip
        try:
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
    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True
        for pid in list(children):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)

    children: dict[int, int] = {}

    def spawn(index: int) -> int:
        """Fork worker `index`; returns a pipe that gets a byte once it serves."""
        ready_r, ready_w = os.pipe()
        pid = os.fork()
        if pid == 0:  # the worker
            os.close(ready_r)
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            signal.signal(signal.SIGUSR1, signal.SIG_IGN)  # until worker 0's loop takes it

            def tell(line: str) -> None:
                if line == "ready":
                    with contextlib.suppress(OSError):  # the parent stopped listening
                        os.write(ready_w, b"r")

            code = 0
            try:
                rt = Runtime.open(settings)
                try:
                    # Listening only now: connections given to this worker's socket
                    # wait for a worker that can answer them.
                    own = {
                        name: own_listener(held, spread=spread) for name, held in sockets.items()
                    }
                    asyncio.run(serve(rt, tell, own, chores=index == 0))
                finally:
                    rt.close()
            except BaseException:  # noqa: BLE001 - a worker reports by its exit code
                traceback.print_exc()
                code = 1
            os._exit(code)
        os.close(ready_w)
        children[pid] = index
        return ready_r

    def wake_relay(*_: object) -> None:
        for pid, index in list(children.items()):
            if index == 0:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGUSR1)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGUSR1, wake_relay)
    # Frozen before the workers fork: their collections then never touch what they
    # inherit, and those pages stay shared with the parent.
    _freeze_heap()
    # Ready once every worker listens (or has died: the loop below restarts it).
    for ready in [spawn(i) for i in range(workers)]:
        with contextlib.suppress(OSError):
            select.select([ready], [], [], READY_WAIT_S)
        os.close(ready)
    announce(f"ready ({workers} workers)")
    failed = 0
    while children:
        try:
            pid, status = os.wait()
        except ChildProcessError:
            break
        except InterruptedError:
            continue
        index = children.pop(pid, None)
        if index is None:
            continue
        if not stopping:
            failed += 1
            announce(f"worker {index} exited ({status}); restarting")
            time.sleep(RESTART_PAUSE_S)
            if not stopping:  # a stop in the pause: nothing would ever stop it
                os.close(spawn(index))
    for sock in sockets.values():
        if isinstance(sock, socket.socket):
            sock.close()
    return 0 if failed == 0 else 1
