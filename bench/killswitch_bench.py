"""How fast the kill switch stops the web, and how fast service returns.

The real service (`mailward serve`, web and MX) on loopback with marked accounts
from the drill's seeding; `--clients` signed-in clients loop over the inbox page
on keep-alive connections. Each round engages the `web` scope from this process
(as `mailward killswitch engage` does: the state file), keeps the clients going,
releases it, and records every response's status and end time. Printed per round
and as medians: the last 200 that ended after the engage (a request already past
the boundary when it was thrown), the first 503, and the first 200 after the
release; the same for SMTP (`smtp-in`): the first 421 answer to a RCPT after the
engage. Bounded: `--rounds` rounds of about two seconds.

    python bench/killswitch_bench.py [--clients 8] [--rounds 10]
"""

import argparse
import secrets
import shutil
import signal
import smtplib
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from mailward.config import Settings
from mailward.drill import DOMAIN, Client, free_port, seed, wait_ready
from mailward.guard import Switches


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=10)
    args = ap.parse_args()
    data = Path(tempfile.mkdtemp(prefix="mailward-killswitch-"))
    run = secrets.token_hex(4)
    seed(data, args.clients, 20, run, None)
    web, mx = free_port(), free_port()
    cmd = [sys.executable, "-m", "mailward", "--data", str(data), "serve", "--web",
           f"127.0.0.1:{web}", "--smtp", f"127.0.0.1:{mx}", "--submission", "off",
           "--imap", "off", "--pop3", "off"]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    switches = Switches(Settings(data=data).data / "guard.json")
    try:
        wait_ready(web, proc)
        clients = [Client(web, k, run) for k in range(args.clients)]
        for c in clients:
            c.login()
        log: list[tuple[float, int]] = []
        lock = threading.Lock()
        stop = threading.Event()

        def work(c: Client) -> None:
            while not stop.is_set():
                status, _ = c.get("/mail/INBOX")
                with lock:
                    log.append((time.time(), status))

        threads = [threading.Thread(target=work, args=(c,)) for c in clients]
        for t in threads:
            t.start()
        rows = []
        for _ in range(args.rounds):
            time.sleep(0.5)
            with lock:
                log.clear()
            t0 = time.time()
            switches.engage("web", "bench", "kill switch bench")
            smtp_ms = _first_smtp_refusal(mx, switches)
            time.sleep(0.7)
            t1 = time.time()
            switches.release("web")
            switches.release("smtp-in")
            time.sleep(0.5)
            with lock:
                seen = list(log)
            last_ok = max((t - t0 for t, s in seen if s == 200 and t0 < t < t1), default=0.0)
            first_503 = min((t - t0 for t, s in seen if s == 503 and t > t0), default=float("nan"))
            back = min((t - t1 for t, s in seen if s == 200 and t > t1), default=float("nan"))
            rows.append((last_ok * 1e3, first_503 * 1e3, back * 1e3, smtp_ms))
            print(f"round: last 200 after engage {last_ok * 1e3:6.1f} ms, first 503"
                  f" {first_503 * 1e3:6.1f} ms, first 200 after release {back * 1e3:6.1f} ms,"
                  f" SMTP 421 {smtp_ms:6.1f} ms")  # fmt: skip
        stop.set()
        for t in threads:
            t.join()
        for c in clients:
            c.close()
        cols = list(zip(*rows, strict=True))
        print(f"clients {args.clients}, rounds {args.rounds}; medians (max):")
        names = ("last 200 that ended after the engage", "first 503 after the engage",
                 "first 200 after the release", "first SMTP 421 after the engage")  # fmt: skip
        for name, col in zip(names, cols, strict=True):
            print(f"  {name}: {statistics.median(col):.1f} ms ({max(col):.1f} ms)")
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(15)
        shutil.rmtree(data, ignore_errors=True)


def _first_smtp_refusal(port: int, switches: Switches) -> float:
    """Engage smtp-in with a transaction open; ms until a RCPT is answered 421."""
    s = smtplib.SMTP("127.0.0.1", port, timeout=5)
    try:
        s.ehlo()
        s.mail("bench@elsewhere.test")
        t0 = time.time()
        switches.engage("smtp-in", "bench", "kill switch bench")
        while True:
            code, _ = s.rcpt(f"u0@{DOMAIN}")
            if code == 421:
                return (time.time() - t0) * 1e3
            if time.time() - t0 > 5:
                return float("nan")
    finally:
        s.close()


if __name__ == "__main__":
    main()
