"""SMTP ingest: delivered messages/s through the MX listener, loopback, bounded.

For each message size and session count: a fresh data directory with one
account, the real service (`mailward serve`) on 127.0.0.1, and Postfix's
`smtp-source` (C; a Python client would take CPU from the server on 2 cores)
sending one message per connection. Our 250 is answered only once the message is
durable (group commit: one fsync covers every message that arrived meanwhile),
sealed and audited; after the run the count is checked through MailAccess. CPU
busy share is read from /proc/stat (both cores, client included); steal (time the
host gave to someone else) is shown apart, as this machine is shared.

In the same run, one peer row for the ratio: the bare aiosmtpd server of
../shared/bench/peers (append to one file, fsync per message), same client.

    python bench/smtp_ingest.py [--sizes 4096,102400] [--counts 20000,2000]
        [--sessions 1,10,50] [--workers N] [--no-peer]
"""

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from mailward.config import Settings
from mailward.runtime import Runtime

ROOT = Path(__file__).resolve().parents[1]
PEER_SERVER = ROOT.parent / "shared" / "bench" / "peers" / "smtp_ceiling_server.py"
USER = "bench@example.test"


def cpu() -> tuple[int, int, int]:
    """(busy, steal, total) jiffies over all CPUs."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    idle, steal = v[3] + v[4], v[7] if len(v) > 7 else 0
    total = sum(v[:8])
    return total - idle - steal, steal, total


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                s.recv(100)
                return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"nothing listening on 127.0.0.1:{port}")


def smtp_source(port: int, count: int, size: int, sessions: int) -> dict[str, float]:
    """Run smtp-source; returns elapsed seconds and CPU shares."""
    c0, t0 = cpu(), time.perf_counter()
    subprocess.run(
        [
            "smtp-source", "-s", str(sessions), "-l", str(size), "-m", str(count),
            "-f", "sender@elsewhere.test", "-t", USER, "-M", "bench.local",
            f"127.0.0.1:{port}",
        ],
        check=True,
        timeout=1800,
    )  # fmt: skip
    elapsed, c1 = time.perf_counter() - t0, cpu()
    total = max(c1[2] - c0[2], 1)
    return {
        "seconds": elapsed,
        "rate": count / elapsed,
        "busy": (c1[0] - c0[0]) / total,
        "steal": (c1[1] - c0[1]) / total,
    }


def run_mailward(
    base: Path, size: int, count: int, sessions: int, workers: int
) -> dict[str, float]:
    data = base / f"mw-{size}-{sessions}"
    rt = Runtime.open(Settings(data=data))
    rt.directory.add_domain("example.test")
    rt.directory.add_user(USER, "bench-password")
    rt.close()
    port = free_port()
    cmd = [sys.executable, "-m", "mailward", "serve", "--data", str(data)]
    cmd += [
        "--smtp",
        f"127.0.0.1:{port}",
        "--submission",
        "off",
        "--web",
        "off",
        "--imap",
        "off",
        "--pop3",
        "off",
    ]
    if workers > 1:
        cmd += ["--workers", str(workers)]
    env = {**os.environ, "MAILWARD_HOSTNAME": "mx.example.test"}
    server = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    try:
        wait_port(port)
        result = smtp_source(port, count, size, sessions)
        rt = Runtime.open(Settings(data=data))  # count what is visible through the door
        door = rt.access(rt.logins.login(USER, "bench-password"))
        inbox = next(b for b in door.mailboxes() if b.name == "INBOX")
        result["visible"] = inbox.total
        rt.close()
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(60)
        shutil.rmtree(data, ignore_errors=True)
    return result


def run_peer(base: Path, size: int, count: int, sessions: int) -> dict[str, float] | None:
    if not PEER_SERVER.exists():
        return None
    port = free_port()
    out = base / "peer"
    cmd = [sys.executable, str(PEER_SERVER), "--port", str(port), "--store", "append"]
    server = subprocess.Popen(
        [*cmd, "--fsync", "--out", str(out)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        wait_port(port)
        return smtp_source(port, count, size, sessions)
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(30)
        shutil.rmtree(out, ignore_errors=True)


def line(label: str, r: dict[str, float]) -> str:
    visible = f", visible {int(r['visible'])}" if "visible" in r else ""
    return (
        f"{label:44} {r['rate']:7.0f} msg/s  ({r['seconds']:6.1f} s{visible};"
        f" CPU busy {r['busy'] * 100:3.0f} %, steal {r['steal'] * 100:3.0f} %)"
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="4096,102400")
    ap.add_argument("--counts", default="20000,2000", help="messages per run, one per size")
    ap.add_argument("--sessions", default="1,10,50")
    ap.add_argument("--workers", type=int, default=1, help="mailward serve --workers")
    ap.add_argument("--no-peer", action="store_true")
    ap.add_argument("--json", default=str(ROOT / "bench" / "out" / "smtp_ingest.jsonl"))
    args = ap.parse_args()
    if shutil.which("smtp-source") is None:
        raise SystemExit("smtp-source not found: apt-get install postfix (only the client is used)")
    sizes = [int(x) for x in args.sizes.split(",")]
    counts = [int(x) for x in args.counts.split(",")]
    sessions = [int(x) for x in args.sessions.split(",")]
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    base = Path(tempfile.mkdtemp(prefix="mailward-smtp-bench-"))
    print(f"cores: {os.cpu_count()}; client: smtp-source, one message per connection")
    try:
        with open(args.json, "a") as log:
            for size, count in zip(sizes, counts, strict=True):
                top = max(sessions)
                peer = None if args.no_peer else run_peer(base, size, count, top)
                if peer is not None:
                    print(line(f"peer aiosmtpd append+fsync {size // 1024} KB c={top}", peer))
                for c in sessions:
                    r = run_mailward(base, size, count, c, args.workers)
                    label = f"mailward {size // 1024} KB c={c}" + (
                        f" workers={args.workers}" if args.workers > 1 else ""
                    )
                    ratio = f"  = {r['rate'] / peer['rate']:.2f}x peer" if peer and c == top else ""
                    print(line(label, r) + ratio)
                    if r["visible"] != count:
                        print(f"  !! {count} sent, {int(r['visible'])} visible")
                    log.write(json.dumps({"size": size, "sessions": c, **r, "peer": peer}) + "\n")
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
