"""The `mailward` command as an operator and a user run it (real subprocesses)."""

import os
import re
import socket
import subprocess
import sys
from pathlib import Path

from support import make_message


def run(
    data: Path, *args: str, stdin: bytes = b"", ok: bool = True
) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [sys.executable, "-m", "mailward", "--data", str(data), *args],
        input=stdin.decode(),
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "COLUMNS": "200"},
    )
    if ok:
        assert proc.returncode == 0, proc.stderr
    return proc


def test_admin_and_user_workflow(tmp_path: Path) -> None:
    data = tmp_path / "data"
    run(data, "domain", "add", "example.test")
    run(data, "user", "add", "alice@example.test", "--password-stdin", stdin=b"alice-secret-1\n")
    run(data, "user", "add", "bob@example.test", "--password-stdin", stdin=b"bob-secret-22\n")
    assert "alice@example.test" in run(data, "user", "list").stdout
    bad = run(
        data,
        "user",
        "add",
        "carol@nowhere.test",
        "--password-stdin",
        stdin=b"whatever-123\n",
        ok=False,
    )
    assert bad.returncode == 1 and "not a local domain" in bad.stderr

    raw = make_message("Invoice 42", "Please pay.", to="alice@example.test")
    out = run(data, "deliver", "alice@example.test", stdin=raw).stdout
    item = re.search(r"as (m[0-9a-f]+)", out).group(1)  # type: ignore[union-attr]

    def mail(*args: str, password: bytes = b"alice-secret-1\n") -> str:
        return run(
            data, "mail", "--user", "alice@example.test", "--password-stdin", *args, stdin=password
        ).stdout

    assert "Invoice 42" in mail("list")
    assert "Please pay." in mail("read", item)
    mail("flag", item, "+\\Flagged")
    assert "\\Flagged" in mail("list")
    mail("move", item, "--to", "Archive")
    assert "Invoice 42" in mail("list", "Archive")
    mail("delete", item)
    assert "Invoice 42" in mail("list", "Trash")
    assert "restored to Archive" in mail("restore", item)
    bob = run(
        data,
        "mail",
        "--user",
        "bob@example.test",
        "--password-stdin",
        "read",
        item,
        stdin=b"bob-secret-22\n",
        ok=False,
    )
    assert bob.returncode == 1 and "no such message" in bob.stderr
    wrong = run(
        data,
        "mail",
        "--user",
        "alice@example.test",
        "--password-stdin",
        "list",
        stdin=b"nope-nope\n",
        ok=False,
    )
    assert wrong.returncode == 1 and "invalid address, password or code" in wrong.stderr

    assert "intact" in run(data, "audit", "verify").stdout
    assert "rotated" in run(data, "keys", "rotate").stdout
    assert "Invoice 42" in mail("list", "Archive")
    assert "intact" in run(data, "audit", "verify").stdout


def test_serve_demo_prints_logins_and_stops_cleanly(tmp_path: Path) -> None:
    import signal
    import time

    data = tmp_path / "demo"
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        smtp_port = probe.getsockname()[1]
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mailward",
            "serve",
            "--data",
            str(data),
            "--demo",
            "--smtp",
            f"127.0.0.1:{smtp_port}",
            "--submission",
            "127.0.0.1:0",
            "--web",
            "127.0.0.1:0",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
    )
    try:
        deadline = time.monotonic() + 60
        seen = ""
        assert proc.stdout is not None
        while "ready" not in seen and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            seen += line
        assert "alice@example.test" in seen and "alice-demo-pass" in seen
        assert "listening smtp 127.0.0.1:" in seen and "listening submission 127.0.0.1:" in seen
        assert "listening web http://127.0.0.1:" in seen
        # The hints name the addresses given, not the defaults
        assert f"swaks --server 127.0.0.1:{smtp_port} " in seen and ":2525" not in seen
        assert "Web mail: http://127.0.0.1:0/" not in seen  # a port chosen at start
        proc.send_signal(signal.SIGTERM)
        rest, _ = proc.communicate(timeout=10)
        assert proc.returncode == 0 and "stopped" in rest
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    out = run(
        data,
        "mail",
        "--user",
        "alice@example.test",
        "--password-stdin",
        "list",
        stdin=b"alice-demo-pass\n",
    ).stdout
    assert "Quarterly statement" in out and "Lunch on Friday?" in out
    assert "intact" in run(data, "audit", "verify").stdout
