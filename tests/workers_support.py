"""Looking at the processes of `serve --workers N` from a test."""

import os
import time
from collections.abc import Callable
from pathlib import Path


def children(pid: int) -> list[int]:
    """A process's children, oldest first (worker 0 is the first forked)."""
    text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    return sorted(int(c) for c in text.split())


def server_pid(client_port: int, server_port: int, pids: list[int]) -> int:
    """Which of `pids` holds the server side of the loopback connection from
    `client_port` (its socket's inode from /proc/net/tcp, then the process's fds)."""
    inode = ""
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        f = line.split()
        local, remote = f[1], f[2]
        if (
            int(local.split(":")[1], 16) == server_port
            and int(remote.split(":")[1], 16) == client_port
        ):
            inode = f[9]
    assert inode, "connection not found in /proc/net/tcp"
    for pid in pids:
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except FileNotFoundError:  # it has exited
            continue
        for fd in fds:
            try:
                if os.readlink(f"/proc/{pid}/fd/{fd}") == f"socket:[{inode}]":
                    return pid
            except OSError:
                continue
    raise AssertionError("no worker holds the connection")


def wait_until(done: Callable[[], bool], seconds: float = 5.0) -> bool:
    deadline = time.monotonic() + seconds
    while not done():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True
