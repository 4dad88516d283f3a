"""`serve --workers 2`: two processes share the listeners and one database; a
killed worker is replaced; everything acknowledged is there once; the audit chain
written by both verifies."""

import os
import re
import signal
import smtplib
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from mailward.config import Settings
from mailward.runtime import Runtime
from support import DOMAIN, PASSWORD
from workers_support import children, server_pid, wait_until


def test_two_workers_share_the_load_and_survive_a_killed_worker(tmp_path: Path) -> None:
    data = tmp_path / "data"
    rt = Runtime.open(Settings(data=data, fast_hashing=True))
    rt.directory.add_domain(DOMAIN)
    for name in ("alice", "bob"):
        rt.directory.add_user(f"{name}@{DOMAIN}", PASSWORD)
    rt.close()
    proc = subprocess.Popen(
        [sys.executable, "-m", "mailward", "serve", "--data", str(data), "--workers", "2",
         "--smtp", "127.0.0.1:0", "--submission", "off", "--web", "off"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "MAILWARD_HOSTNAME": "mx.example.test", "COLUMNS": "200"},
    )  # fmt: skip
    assert proc.stdout is not None
    out = proc.stdout
    port, lines = 0, []
    while True:
        line = out.readline()
        lines.append(line)
        if m := re.search(r"listening smtp 127\.0\.0\.1:(\d+)", line):
            port = int(m.group(1))
        if line.startswith("ready") or not line:
            break
    assert port, lines
    drained: list[str] = []
    reader = threading.Thread(target=lambda: drained.extend(out), daemon=True)
    reader.start()

    def send(n: int) -> int:
        for _ in range(50):  # a worker may be restarting: retry the connection
            try:
                with smtplib.SMTP("127.0.0.1", port, timeout=30) as c:
                    rcpt = f"{'alice' if n % 2 else 'bob'}@{DOMAIN}"
                    msg = f"Subject: w-{n}\r\nFrom: x@elsewhere.test\r\n\r\nbody {n}\r\n"
                    c.sendmail("x@elsewhere.test", [rcpt], msg.encode())
                return n
            except (OSError, smtplib.SMTPServerDisconnected):
                time.sleep(0.1)
        raise AssertionError(f"message {n} never accepted")

    try:
        with ThreadPoolExecutor(8) as pool:
            first = list(pool.map(send, range(200)))
            workers = [
                int(p) for p in subprocess.run(
                    ["pgrep", "-P", str(proc.pid)], capture_output=True, text=True
                ).stdout.split()
            ]  # fmt: skip
            assert len(workers) == 2
            os.kill(workers[1], signal.SIGKILL)
            second = list(pool.map(send, range(200, 400)))
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            alive = subprocess.run(["pgrep", "-P", str(proc.pid)], capture_output=True, text=True)
            if len(alive.stdout.split()) == 2:
                break
            time.sleep(0.2)
        assert len(alive.stdout.split()) == 2, "the killed worker was not replaced"
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(30)
        reader.join(5)
        out.close()
    assert code == 1  # it reports that a worker died
    assert any("restarting" in line for line in drained)
    assert len(first) + len(second) == 400
    rt = Runtime.open(Settings(data=data, fast_hashing=True))
    seen = []
    for name in ("alice", "bob"):
        door = rt.access(rt.logins.login(f"{name}@{DOMAIN}", PASSWORD))
        page = door.list_messages("INBOX", limit=500)
        seen += [m.subject for m in page.items]
    assert sorted(seen) == sorted(f"w-{n}" for n in range(400))  # each once
    assert rt.verify_audit().ok
    rt.close()


def test_a_submission_on_any_worker_wakes_the_relay(tmp_path: Path) -> None:
    """Only worker 0 relays; a submission on worker 1 reaches the smarthost at once
    (its wake goes through the parent), not at the relay's next 30-second pass."""
    from aiosmtpd.controller import Controller
    from smtp_support import Sink

    from mailward.crypto import client_context_trusting

    data = tmp_path / "data"
    rt = Runtime.open(Settings(data=data, fast_hashing=True))
    rt.directory.add_domain(DOMAIN)
    rt.directory.add_user(f"alice@{DOMAIN}", PASSWORD)
    rt.close()
    sink = Sink()
    import socket as socketlib

    with socketlib.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        sink_port = probe.getsockname()[1]
    controller = Controller(sink, hostname="127.0.0.1", port=sink_port)
    controller.start()
    proc = subprocess.Popen(
        [sys.executable, "-m", "mailward", "serve", "--data", str(data), "--workers", "2",
         "--smtp", "off", "--submission", "127.0.0.1:0", "--web", "off"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "MAILWARD_HOSTNAME": "mx.example.test",
             "MAILWARD_SMARTHOST": f"127.0.0.1:{sink_port}", "COLUMNS": "200"},
    )  # fmt: skip
    assert proc.stdout is not None
    out = proc.stdout
    port = 0
    while True:
        line = out.readline()
        if m := re.search(r"listening submission 127\.0\.0\.1:(\d+)", line):
            port = int(m.group(1))
        if line.startswith("ready") or not line:
            break
    threading.Thread(target=lambda: list(out), daemon=True).start()
    try:
        tls = client_context_trusting(data / "tls" / "cert.pem")
        workers = children(proc.pid)
        assert len(workers) == 2
        first = f"From: alice@{DOMAIN}\r\nSubject: first\r\n\r\nx\r\n".encode()
        with smtplib.SMTP("127.0.0.1", port, timeout=30) as c:  # both workers up
            c.starttls(context=tls)
            c.login(f"alice@{DOMAIN}", PASSWORD)
            c.sendmail(f"alice@{DOMAIN}", ["far@foreign.test"], first)
        assert wait_until(lambda: len(sink.received) == 1)
        sink.received.clear()
        # Worker 0 relays. Stopped (SIGSTOP), it cannot accept: a connection the
        # kernel gives to its listening socket waits, one given to worker 1's is
        # greeted (each worker listens on its own socket, SO_REUSEPORT); worker 1's
        # wake can only reach the relay through the parent. The wake waits as a
        # pending signal until worker 0 continues; then each message must reach
        # the smarthost within 5 s (the relay's own pass: every 30 s).
        for n in range(3):
            # Worker 0 must not be stopped inside a write (it would hold the writers'
            # lock): only once it is up and idle, the previous message relayed.
            wait_until(lambda n=n: len(sink.received) >= n)  # type: ignore[misc]
            time.sleep(0.5)
            os.kill(workers[0], signal.SIGSTOP)
            try:
                with _greeted(port) as c:
                    assert server_pid(c.sock.getsockname()[1], port, workers) == workers[1]
                    c.starttls(context=tls)
                    c.login(f"alice@{DOMAIN}", PASSWORD)
                    msg = (
                        f"From: alice@{DOMAIN}\r\nTo: far@foreign.test\r\nSubject: out {n}"
                        "\r\n\r\nx\r\n"
                    )
                    c.sendmail(f"alice@{DOMAIN}", ["far@foreign.test"], msg.encode())
            finally:
                os.kill(workers[0], signal.SIGCONT)
            assert wait_until(lambda n=n: len(sink.received) == n + 1), (  # type: ignore[misc]
                f"message {n} was not relayed at once"
            )
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
        out.close()
        controller.stop()


def _refused(proc: subprocess.Popen[str]) -> str:
    """The output of a serve that must stop at once, failing; stopped if it runs."""
    try:
        out, _ = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
        raise AssertionError(f"serve ran instead of refusing: {out}") from None
    assert proc.returncode != 0, out
    return out


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _greeted(port: int) -> smtplib.SMTP:
    """A connection some running worker accepted and greeted: with one worker
    stopped, those the kernel hands to its socket get no greeting and are dropped."""
    for _ in range(40):
        try:
            c = smtplib.SMTP("127.0.0.1", port, timeout=1)
        except (OSError, smtplib.SMTPException):
            continue
        assert c.sock is not None
        c.sock.settimeout(30)
        c.timeout = 30
        return c
    raise AssertionError("no worker greeted in 40 connections")


def _serve_imap(data: Path, imap: str, pop3: str = "off") -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "mailward", "serve", "--data", str(data), "--workers", "2",
         "--smtp", "off", "--submission", "off", "--web", "off", "--pop3", pop3,
         "--imap", imap],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={**os.environ, "COLUMNS": "200"},
    )  # fmt: skip


def test_workers_share_new_connections(tmp_path: Path) -> None:
    """Each worker listens on its own socket (SO_REUSEPORT): 40 connections opened
    together land on both workers, where one shared socket gave the first worker
    to wake nearly all of them (49 of 50 measured). "ready" comes once both
    listen: none of the 40, opened right after it, is refused. The port stays
    theirs: another server, a second serve, or a second listener of one
    configuration on it is refused."""
    data = tmp_path / "data"
    Runtime.open(Settings(data=data, fast_hashing=True)).close()
    proc = _serve_imap(data, "127.0.0.1:0")
    assert proc.stdout is not None
    port = 0
    while True:
        line = proc.stdout.readline()
        if m := re.search(r"listening imap 127\.0\.0\.1:(\d+)", line):
            port = int(m.group(1))
        if line.startswith("ready") or not line:
            break
    drain = threading.Thread(target=lambda: list(proc.stdout or ()), daemon=True)
    drain.start()
    conns: list[socket.socket] = []
    try:
        workers = children(proc.pid)
        assert len(workers) == 2 and port
        for _ in range(40):
            c = socket.create_connection(("127.0.0.1", port), timeout=30)
            conns.append(c)
        for c in conns:  # greeted: accepted by a worker
            assert c.recv(100).startswith(b"* OK")
        held = [server_pid(c.getsockname()[1], port, workers) for c in conns]
        counts = sorted(held.count(w) for w in workers)
        assert counts[0] >= 8, counts  # binomial(40, 1/2): either below 8 once in 24,000
        with socket.socket() as outsider:  # a plain server (SO_REUSEADDR) on the port
            outsider.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            with pytest.raises(OSError):
                outsider.bind(("127.0.0.1", port))
        out = _refused(_serve_imap(tmp_path / "other", f"127.0.0.1:{port}"))
        assert "imap: cannot listen on" in out, out
        free = _free_port()
        out = _refused(_serve_imap(tmp_path / "other", f"127.0.0.1:{free}", f"127.0.0.1:{free}"))
        assert "pop3: cannot listen on" in out, out
    finally:
        for c in conns:
            c.close()
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
        drain.join(10)
        proc.stdout.close()


def test_a_stop_during_a_workers_restart_ends_every_process(tmp_path: Path) -> None:
    """SIGTERM in the pause before a killed worker is replaced: the parent must not
    fork the replacement after all (nothing would stop it, and the parent would
    wait for it for ever)."""
    data = tmp_path / "data"
    Runtime.open(Settings(data=data, fast_hashing=True)).close()
    proc = _serve_imap(data, "127.0.0.1:0")
    assert proc.stdout is not None
    lines = []
    for line in proc.stdout:
        lines.append(line)
        if line.startswith("ready"):
            break
    workers = children(proc.pid)
    assert len(workers) == 2, lines
    os.kill(workers[1], signal.SIGKILL)
    for line in proc.stdout:
        lines.append(line)
        if "restarting" in line:
            break
    proc.send_signal(signal.SIGTERM)  # inside the pause (RESTART_PAUSE_S, 1 s)
    try:
        code = proc.wait(15)
    except subprocess.TimeoutExpired:
        for pid in children(proc.pid):
            os.kill(pid, signal.SIGKILL)
        proc.kill()
        proc.wait(5)
        raise AssertionError(f"serve did not stop: {lines}") from None
    finally:
        proc.stdout.close()
    assert code == 1  # a worker had died
    assert not Path(f"/proc/{workers[0]}").exists()
