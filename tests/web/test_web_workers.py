"""`serve --workers 2` on the web listener: the parent accepts and hands each
connection to the worker with the fewest open (handoff.py). Kept-alive
connections split exactly; a worker that closed its connections takes the next
ones; a killed worker's share goes to the other until it is back."""

import os
import re
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from mailward import handoff
from mailward.config import Settings
from mailward.runtime import Runtime
from workers_support import children, server_pid, wait_until

pytestmark = pytest.mark.skipif(not handoff.possible(), reason="needs SCM_RIGHTS (Linux)")


def _serve_web(data: Path) -> tuple[subprocess.Popen[str], int]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "mailward", "serve", "--data", str(data), "--workers", "2",
         "--smtp", "off", "--submission", "off", "--imap", "off", "--pop3", "off",
         "--web", "127.0.0.1:0"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={**os.environ, "COLUMNS": "200"},
    )  # fmt: skip
    assert proc.stdout is not None
    port, lines = 0, []
    while True:
        line = proc.stdout.readline()
        lines.append(line)
        if m := re.search(r"listening web http://127\.0\.0\.1:(\d+)/", line):
            port = int(m.group(1))
        if line.startswith("ready") or not line:
            break
    assert port and lines[-1].startswith("ready"), lines
    return proc, port


def _kept_alive(port: int) -> socket.socket:
    """A connection that has had one answer (so some worker serves it) and stays open."""
    c = socket.create_connection(("127.0.0.1", port), timeout=30)
    c.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
    answer = b""
    while b"\r\n\r\n" not in answer:
        chunk = c.recv(4096)
        assert chunk, "closed before answering"
        answer += chunk
    assert answer.startswith(b"HTTP/1.1 200"), answer
    return c


def test_web_connections_go_to_the_worker_with_the_fewest_open(tmp_path: Path) -> None:
    data = tmp_path / "data"
    Runtime.open(Settings(data=data, fast_hashing=True)).close()
    proc, port = _serve_web(data)
    drain = threading.Thread(target=lambda: list(proc.stdout or ()), daemon=True)
    drain.start()
    conns: list[socket.socket] = []

    def holder(c: socket.socket, workers: list[int]) -> int:
        return server_pid(c.getsockname()[1], port, workers)

    try:
        workers = children(proc.pid)
        assert len(workers) == 2
        # Each one's worker is looked up at once: uvicorn closes a connection idle
        # for 5 s.
        held: list[int] = []
        for _ in range(40):
            conns.append(_kept_alive(port))
            held.append(holder(conns[-1], workers))
        assert sorted(held.count(w) for w in workers) == [20, 20]  # exactly, not by hash
        # The parent keeps none of them: it handed each over.
        with pytest.raises(AssertionError, match="no worker holds"):
            holder(conns[0], [proc.pid])

        # Worker 0's clients leave; the next ten connections all go to worker 0.
        for c, w in zip(conns, held, strict=True):
            if w == workers[0]:
                c.close()
        conns = [c for c, w in zip(conns, held, strict=True) if w != workers[0]]
        # A closed socket is counted before its descriptor goes: no sweep waited for.
        assert wait_until(lambda: _open_in(workers[0], port) == 0)
        fresh = []
        for _ in range(10):
            conns.append(_kept_alive(port))
            fresh.append(holder(conns[-1], workers))
        assert fresh == [workers[0]] * 10

        # A killed worker's share goes to the other; its replacement takes the next.
        os.kill(workers[1], signal.SIGKILL)
        assert wait_until(lambda: workers[1] not in children(proc.pid))  # reaped
        during = []
        for _ in range(4):
            conns.append(_kept_alive(port))
            during.append(holder(conns[-1], children(proc.pid)))
        assert during == [workers[0]] * 4
        assert wait_until(lambda: bool(set(children(proc.pid)) - set(workers)), 20)
        replacement = next(p for p in children(proc.pid) if p not in workers)

        def served_by_replacement() -> bool:
            c = _kept_alive(port)
            conns.append(c)
            return holder(c, [workers[0], replacement]) == replacement

        assert wait_until(served_by_replacement, 20)
    finally:
        for c in conns:
            c.close()
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(30)
        drain.join(10)
        assert proc.stdout is not None
        proc.stdout.close()
    assert code == 1  # a worker had died


def _open_in(pid: int, port: int) -> int:
    """Connections to `port` (in any state) whose sockets process `pid` holds."""
    inodes = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        f = line.split()
        if int(f[1].split(":")[1], 16) == port and f[9] != "0":
            inodes.add(f"socket:[{f[9]}]")
    held = 0
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            held += os.readlink(f"/proc/{pid}/fd/{fd}") in inodes
        except OSError:
            continue
    return held


def test_while_no_worker_serves_connections_wait_for_one(tmp_path: Path) -> None:
    """Both workers killed: a connection made meanwhile waits (in the listener's
    queue: the parent accepts only while a worker serves) and is answered by a
    replacement."""
    data = tmp_path / "data"
    Runtime.open(Settings(data=data, fast_hashing=True)).close()
    proc, port = _serve_web(data)
    drain = threading.Thread(target=lambda: list(proc.stdout or ()), daemon=True)
    drain.start()
    try:
        workers = children(proc.pid)
        for pid in workers:
            os.kill(pid, signal.SIGKILL)
        assert wait_until(lambda: not set(children(proc.pid)) & set(workers))
        # Made while no worker serves, it must not be refused or closed unanswered
        # (_kept_alive fails on either) but wait for a replacement.
        c = _kept_alive(port)
        c.close()
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
        drain.join(10)
        assert proc.stdout is not None
        proc.stdout.close()


def test_workers_stop_when_their_parent_dies(tmp_path: Path) -> None:
    """A parent killed outright (no chance to pass a stop on): its workers stop
    too (PR_SET_PDEATHSIG), not left running unsupervised on the ports."""
    data = tmp_path / "data"
    Runtime.open(Settings(data=data, fast_hashing=True)).close()
    proc, port = _serve_web(data)
    drain = threading.Thread(target=lambda: list(proc.stdout or ()), daemon=True)
    drain.start()
    workers = children(proc.pid)
    assert len(workers) == 2
    _kept_alive(port).close()  # serving
    proc.kill()
    proc.wait(10)

    def ended(pid: int) -> bool:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except FileNotFoundError:
            return True
        return state == "Z"  # exited, not yet reaped by whoever adopted it

    try:
        assert wait_until(lambda: all(ended(w) for w in workers), 20)
    finally:
        for w in workers:
            if not ended(w):
                os.kill(w, signal.SIGKILL)
        drain.join(10)
        assert proc.stdout is not None
        proc.stdout.close()
