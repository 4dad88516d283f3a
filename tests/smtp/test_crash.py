"""SIGKILL during a stream of deliveries: every message that got 250 is present
exactly once, and whatever did not is either absent or whole (never half-visible)."""

import os
import random
import re
import signal
import smtplib
import subprocess
import sys
import threading
import time
from pathlib import Path

from mailward.config import Settings
from mailward.runtime import Runtime
from support import DOMAIN, PASSWORD

TOTAL = 2000
CLIENTS = 6


def start_server(data: Path) -> tuple[subprocess.Popen[str], int]:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mailward",
            "serve",
            "--data",
            str(data),
            "--smtp",
            "127.0.0.1:0",
            "--submission",
            "off",
            "--web",
            "off",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "MAILWARD_HOSTNAME": "mx.example.test", "COLUMNS": "200"},
    )
    assert proc.stdout is not None
    port = 0
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        match = re.search(r"listening smtp 127\.0\.0\.1:(\d+)", line)
        if match:
            port = int(match.group(1))
        if line.strip() == "ready":
            break
    assert port, "server did not start"
    out = proc.stdout

    def drain() -> None:
        with out:
            out.read()

    threading.Thread(target=drain, daemon=True).start()
    return proc, port


def message(n: int) -> bytes:
    return (
        f"From: sender@elsewhere.test\r\nTo: alice@{DOMAIN}\r\nSubject: crash-{n:05d}\r\n"
        f"Message-ID: <crash-{n}@elsewhere.test>\r\n\r\n" + f"body of message {n} " * 40 + "\r\n"
    ).encode()


def test_sigkill_mid_stream_loses_and_duplicates_nothing_acknowledged(tmp_path: Path) -> None:
    data = tmp_path / "data"
    rt = Runtime.open(Settings(data=data, fast_hashing=True))
    rt.directory.add_domain(DOMAIN)
    rt.directory.add_user(f"alice@{DOMAIN}", PASSWORD)
    rt.close()

    acked: set[int] = set()
    attempted: set[int] = set()
    lock = threading.Lock()
    counter = iter(range(TOTAL))
    port_box = {"port": 0}
    up = threading.Event()

    def client() -> None:
        while True:
            with lock:
                n = next(counter, None)
            if n is None:
                return
            up.wait(60)
            try:
                with smtplib.SMTP("127.0.0.1", port_box["port"], timeout=30) as c:
                    with lock:
                        attempted.add(n)
                    c.sendmail("sender@elsewhere.test", [f"alice@{DOMAIN}"], message(n))
                with lock:
                    acked.add(n)
            except (OSError, smtplib.SMTPException):
                continue  # the server died under us: this one is not acknowledged

    proc, port_box["port"] = start_server(data)
    up.set()
    threads = [threading.Thread(target=client) for _ in range(CLIENTS)]
    for t in threads:
        t.start()
    # Kill at a random moment once the stream is flowing.
    kill_after = random.randint(200, 1200)
    while len(acked) < kill_after and any(t.is_alive() for t in threads):
        time.sleep(0.005)
    up.clear()
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    killed_at = len(acked)
    first = proc
    proc, port_box["port"] = start_server(data)
    up.set()
    for t in threads:
        t.join(300)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(30) == 0
    for p in (first, proc):
        if p.stdout is not None:
            p.stdout.close()

    assert killed_at < TOTAL and len(acked) > killed_at
    rt = Runtime.open(Settings(data=data, fast_hashing=True))
    alice = rt.logins.login(f"alice@{DOMAIN}", PASSWORD)
    door = rt.access(alice)
    seen: dict[int, int] = {}
    cursor = None
    while True:
        page = door.list_messages("INBOX", limit=500, cursor=cursor)
        for m in page.items:
            n = int(m.subject.removeprefix("crash-"))
            seen[n] = seen.get(n, 0) + 1
            raw = door.get_raw(m.id).data  # whole: opens, and is byte-for-byte what was sent
            assert raw.endswith(message(n)), f"message {n} is not whole"
        cursor = page.cursor
        if cursor is None:
            break
    twice = [n for n, count in seen.items() if count != 1]
    assert not twice, f"stored more than once: {twice[:10]}"
    missing = sorted(acked - seen.keys())
    assert not missing, f"acknowledged but missing: {missing[:10]}"
    extra = seen.keys() - acked
    assert extra <= attempted  # stored without a 250: only messages in flight at the kill
    assert len(extra) <= CLIENTS
    assert rt.verify_audit().ok  # the evidence survived the kill too
    rt.close()
