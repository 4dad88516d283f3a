"""Web benchmark: the inbox page and opening a message, 1 and 50 signed-in users.

A fresh data directory with one account holding `--messages` messages (4 KB,
delivered through the door), the real service (`mailward serve`, web only) on
127.0.0.1, and `wrk` (C; Debian package `wrk`) as the client so that the client's
CPU does not come out of the server's share on 2 cores. Each wrk connection is a
separately signed-in session (its own cookie); "open a message" picks a random
message among the newest 1,000 per request. Bounded: fixed duration per run.

    python bench/web_bench.py [--messages 100000] [--seconds 10] [--users 1,50]
                              [--repeat 3] [--think 100,75,50,25] [--chart FILE.png]

The 1- and 50-user runs keep every connection busy back to back (wrk's default):
throughput at saturation, where latency is only queueing (users / throughput).
The inbox page at the largest user count runs `--repeat` times, and the median
of each figure is printed after them.
`--think` adds runs of the largest user count where each user waits (0.5 to 1.5
times) that many ms between pages: the latency at the load such users offer.
`--chart` draws p50/p99 against pages/s for those runs (needs matplotlib: the
`bench` extra).
"""

import argparse
import math
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from http.cookiejar import CookieJar
from pathlib import Path

from core_bench import open_rt
from core_bench import populate as core_populate

USER = "bench@example.test"
PASSWORD = "bench-password"  # core_bench.open_rt makes the account

LUA = """
local tokens = {%(tokens)s}
local ids = {%(ids)s}
local counter = 0
setup = function(thread) end
init = function(args) counter = 0 end
request = function()
  counter = counter + 1
  local token = tokens[(counter %% #tokens) + 1]
  local path = "%(path)s"
  if #ids > 0 and path == "MESSAGE" then
    path = "/mail/INBOX/" .. ids[math.random(#ids)]
  end
  return wrk.format("GET", path, {["Cookie"] = "mw_session=" .. token})
end
local think = %(think)d
if think > 0 then
  -- a person reading: each connection waits 0.5 to 1.5 times `think` ms between pages
  delay = function() return math.floor(think * (0.5 + math.random())) end
end
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def populate(data: Path, count: int) -> None:
    """One account with `count` 4 KB messages (core_bench's account and filler)."""
    rt = open_rt(data, audit=True)
    core_populate(rt, count)
    rt.close()


def sign_in(base: str) -> str:
    jar = CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    form = opener.open(f"{base}/login").read().decode()
    match = re.search(r'name="csrf" value="([^"]+)"', form)
    assert match is not None
    data = urllib.parse.urlencode({"address": USER, "password": PASSWORD, "csrf": match.group(1)})
    opener.open(f"{base}/login", data=data.encode()).read()
    token = next(c.value for c in jar if c.name == "mw_session")
    return str(token)


def newest_ids(base: str, token: str, pages: int = 20) -> list[str]:
    ids: list[str] = []
    url = f"{base}/mail/INBOX"
    for _ in range(pages):
        req = urllib.request.Request(url, headers={"Cookie": f"mw_session={token}"})
        html = urllib.request.urlopen(req).read().decode()
        ids += re.findall(r'href="/mail/INBOX/(m[0-9a-f]+)"', html)
        nxt = re.search(r'href="\?cursor=([^"]+)"', html)
        if not nxt:
            break
        url = f"{base}/mail/INBOX?cursor={nxt.group(1)}"
    return ids


def wrk(
    base: str, path: str, tokens: list[str], ids: list[str], users: int, seconds: int,
    think_ms: int = 0,
) -> str:  # fmt: skip
    script = LUA % {
        "tokens": ",".join(f'"{t}"' for t in tokens[:users]),
        "ids": ",".join(f'"{i}"' for i in ids),
        "path": path,
        "think": think_ms,
    }
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(script)
    # Halfway through, how the connections are spread over the server's processes
    # (printed with the figures: a skewed split sets the p99, see README).
    split: list[str] = []
    port = int(urllib.parse.urlsplit(base).port or 80)
    timer = threading.Timer(seconds / 2, lambda: split.append(spread(port)))
    if users > 1:
        timer.start()
    try:
        out = subprocess.run(
            ["wrk", "-t", "1" if users == 1 else "2", "-c", str(users), "-d", f"{seconds}s",
             "--latency", "-s", f.name, base],
            capture_output=True, text=True, check=True, timeout=seconds + 60,
        ).stdout  # fmt: skip
    finally:
        timer.cancel()
        os.unlink(f.name)
    if split and split[0]:
        out += f"\nconnections per server process: {split[0]}\n"
    return out


def spread(port: int) -> str:
    """The established connections to `port` per server process, e.g. "25/25"
    ('' without `ss`, Debian's iproute2)."""
    try:
        listing = subprocess.run(
            ["ss", "-tnpH", "state", "established", f"sport = :{port}"],
            capture_output=True, text=True, check=True, timeout=10,
        ).stdout  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return ""
    counts: dict[str, int] = {}
    for pid in re.findall(r"pid=(\d+)", listing):
        counts[pid] = counts.get(pid, 0) + 1
    return "/".join(str(n) for n in sorted(counts.values()))


def figures(out: str) -> tuple[float, float, float]:
    """(requests/s, p50 ms, p99 ms) of a wrk report."""
    unit = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}

    def ms(name: str) -> float:
        m = re.search(rf"\s{name}%\s+([\d.]+)(us|ms|s|m)\b", out)
        return float(m.group(1)) * unit[m.group(2)] if m else float("nan")

    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    return (float(rps.group(1)) if rps else 0.0), ms("50"), ms("99")


def chart(path: Path, runs: list[tuple[str, float, float, float]], users: int) -> None:
    """p50 and p99 against pages/s, one point per run of `users` users, joined in
    the order given (longest pauses first: rising offered load)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=110)
    rate = [r[1] for r in runs]
    ax.plot(rate, [r[3] for r in runs], "o-", color="#c0392b", label="p99")
    ax.plot(rate, [r[2] for r in runs], "o-", color="#2e86c1", label="p50")
    for label, x, _p50, p99 in runs:
        ax.annotate(label, (x, p99), textcoords="offset points", xytext=(4, 6), fontsize=8)
    ax.axhline(50, color="gray", linestyle="--", linewidth=1, label="target: p99 50 ms")
    ax.axvline(500, color="gray", linestyle=":", linewidth=1, label="target: 500 pages/s")
    ax.margins(x=0.12, y=0.15)
    ax.set_ylim(bottom=0)
    ax.set_xlabel("inbox pages/s (50 newest of 100,000, sealed fields opened)")
    ax.set_ylabel("latency, ms")
    ax.set_title(f"Inbox page, {users} signed-in users: latency against load")
    ax.legend(loc="upper left")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


_SPIN = """import time
t, s = time.perf_counter(), 0
for i in range(10_000_000):
    s += i
print(time.perf_counter() - t)"""


def core_speeds() -> str:
    """The same pure-Python loop on every core at once, each pinned to its core:
    its time per core, e.g. "290/420 ms". A shared host's cores can run at
    unequal speeds (their other tenants); a worker on a slow core then serves its
    connections slowly, and they set the p99 (README, session 13)."""
    cores = sorted(os.sched_getaffinity(0))
    runs = []
    for core in cores:
        child = subprocess.Popen(
            [sys.executable, "-c", _SPIN], stdout=subprocess.PIPE, text=True,
            preexec_fn=lambda c=core: os.sched_setaffinity(0, {c}),
        )  # fmt: skip
        runs.append(child)
    times = [float(child.communicate(timeout=120)[0]) * 1000 for child in runs]
    return "/".join(f"{t:.0f}" for t in times) + " ms"


def floor_ms(out: str, users: int) -> str:
    """Little's law: with every user asking again the moment a page arrives, the
    mean latency is users / throughput, whatever the order of service."""
    rate = figures(out)[0]
    return f"  (mean {users} / rate = {1000 * users / rate:.1f} ms)" if rate and users > 1 else ""


def median_line(runs: list[tuple[float, float, float]]) -> str:
    """The median of each figure over several runs, e.g. of three 10 s runs: one
    run's p99 rests on its slowest 1 % (a few hundred pages), which a stall of the
    shared host can fill on its own."""
    rate, p50, p99 = (statistics.median(r[i] for r in runs) for i in range(3))
    return f"{rate:8.0f} req/s  p50 {p50:.2f}ms  p99 {p99:.2f}ms"


def summary(out: str) -> str:
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    p50 = re.search(r"\s50%\s+([\d.]+\w+)", out)
    p99 = re.search(r"\s99%\s+([\d.]+\w+)", out)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    split = re.search(r"connections per server process: (\S+)", out)
    return (
        f"{float(rps.group(1)) if rps else 0:8.0f} req/s  p50 {p50.group(1) if p50 else '?':>8}"
        f"  p99 {p99.group(1) if p99 else '?':>8}"
        + (f"  NON-2xx: {errors.group(1)}" if errors else "")
        + (f"  (connections {split.group(1)})" if split else "")
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--messages", type=int, default=100_000)
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--users", default="1,50")
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument(
        "--repeat",
        type=int,
        default=3,
        help="runs of the inbox page at the largest user count, back to back (median printed)",
    )
    ap.add_argument(
        "--think",
        default="100,75,50,25",
        help="ms a user waits between pages (comma list; '' for none)",
    )
    ap.add_argument("--chart", type=Path, help="PNG of latency against load (50 users)")
    args = ap.parse_args()
    if args.repeat < 1:
        ap.error("--repeat must be at least 1")
    if shutil.which("wrk") is None:
        raise SystemExit("wrk not found: apt-get install wrk")
    users = [int(u) for u in args.users.split(",")]
    base_dir = Path(tempfile.mkdtemp(prefix="mailward-web-bench-"))
    data = base_dir / "data"
    try:
        populate(data, args.messages)
        port = free_port()
        cmd = [sys.executable, "-m", "mailward", "serve", "--data", str(data),
               "--web", f"127.0.0.1:{port}", "--smtp", "off", "--submission", "off",
               "--imap", "off", "--pop3", "off"]  # fmt: skip
        if args.workers > 1:
            cmd += ["--workers", str(args.workers)]
        server = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        base = f"http://127.0.0.1:{port}"
        try:
            for _ in range(300):
                try:
                    urllib.request.urlopen(f"{base}/healthz").read()
                    break
                except OSError:
                    time.sleep(0.1)
            tokens = [sign_in(base) for _ in range(max(users))]
            ids = newest_ids(base, tokens[0])
            print(f"cores: {os.cpu_count()}; mailbox: {args.messages:,} messages; client: wrk;"
                  f" {args.seconds} s per run; serve --workers {args.workers}")  # fmt: skip
            print(f"core speeds (a 10M-step Python loop on each core at once): {core_speeds()}")
            saturated: list[tuple[str, float, float, float]] = []
            for n in users:
                runs = args.repeat if n == max(users) and n > 1 else 1
                inbox = []
                for _ in range(runs):
                    out = wrk(base, "/mail/INBOX", tokens, [], n, args.seconds)
                    line = f"{summary(out)}{floor_ms(out, n)}"
                    print(f"inbox page (50 newest), {n:2} user(s): {line}")
                    run = figures(out)
                    if run[0] > 0 and not math.isnan(run[2]):  # wrk reported figures
                        inbox.append(run)
                if len(inbox) > 1:
                    print(f"  median of {len(inbox)} runs: {median_line(inbox)}")
                if n == max(users) and inbox:
                    # The chart's point is one whole run: the one whose p99 is the median.
                    label = "no pause" + (", the run of median p99" if len(inbox) > 1 else "")
                    saturated.append((label, *sorted(inbox, key=lambda r: r[2])[len(inbox) // 2]))
                out = wrk(base, "MESSAGE", tokens, ids, n, args.seconds)
                print(f"open a message,         {n:2} user(s): {summary(out)}")
            # Above, every user asks again the moment a page arrives (no one reads):
            # the server's capacity, and latency = users / throughput. Below, each
            # user pauses between pages, as people do: latency at an offered load.
            curve: list[tuple[str, float, float, float]] = []
            for think in sorted((int(t) for t in args.think.split(",") if t), reverse=True):
                n = max(users)
                out = wrk(base, "/mail/INBOX", tokens, [], n, args.seconds, think)
                print(f"inbox page, {n} users, ~{think} ms between a user's pages: {summary(out)}")
                curve.append((f"~{think} ms pauses", *figures(out)))
            if args.chart is not None:
                chart(args.chart, curve + saturated, max(users))
                print(f"chart: {args.chart}")
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(60)
    finally:
        shutil.rmtree(base_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
