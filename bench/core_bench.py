"""Core benchmark: delivery through MailAccess and the inbox page, audit on and off.

Prints, for 4 KB messages: delivered messages/s with 1, 4 and 8 delivering threads
(durable: every message's blob and row fsynced before deliver() returns), with the
audit log on and off; the latency of opening the 50 newest of a 100,000-message
INBOX (sealed fields opened, the listing recorded); and the audit overhead ratios.
Bounded: fixed message counts, a temporary data directory, no network.

    python bench/core_bench.py [--messages 6000] [--inbox 100000] [--pages 400] [--trials 5]
"""

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
from email.message import EmailMessage
from pathlib import Path

from mailward.config import Settings
from mailward.runtime import Runtime


def message(i: int, size: int = 4096) -> bytes:
    msg = EmailMessage()
    msg["From"] = f"Sender {i} <sender{i}@elsewhere.test>"
    msg["To"] = "bench@example.test"
    msg["Subject"] = f"Benchmark message number {i}"
    line = "The quick brown fox jumps over the lazy dog. " * 2 + "\n"
    msg.set_content(line * (size // len(line)))
    return msg.as_bytes()


def open_rt(root: Path, audit: bool) -> Runtime:
    rt = Runtime.open(Settings(data=root, audit=audit, fast_hashing=True))
    rt.directory.add_domain("example.test")
    rt.directory.add_user("bench@example.test", "bench-password")
    return rt


def deliver_rate(root: Path, audit: bool, count: int, threads: int) -> tuple[float, float]:
    """Messages/s delivering `count` messages from `threads` threads into a fresh
    store, and the CPU busy share (user+sys over wall time and all cores)."""
    rt = open_rt(root, audit)
    raws = [message(i) for i in range(min(count, 500))]
    system = rt.system()
    for raw in raws[:50]:  # warm caches and the first pages
        system.deliver(["bench@example.test"], raw)
    per = count // threads

    def work(k: int) -> None:
        for i in range(per):
            system.deliver(["bench@example.test"], raws[(k * per + i) % len(raws)])

    workers = [threading.Thread(target=work, args=(k,)) for k in range(threads)]
    cpu0, start = os.times(), time.perf_counter()
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    elapsed, cpu1 = time.perf_counter() - start, os.times()
    rt.close()
    busy = (cpu1.user - cpu0.user + cpu1.system - cpu0.system) / elapsed / (os.cpu_count() or 1)
    return per * threads / elapsed, busy


def baseline_maildir_rate(root: Path, count: int) -> float:
    """Baseline measured in the same run: the classic durable delivery, one Maildir
    file per message (write tmp, fsync, rename into new/, fsync the directory), no
    encryption, no index, no audit; one thread, like a local delivery agent."""
    tmp, new = root / "tmp", root / "new"
    tmp.mkdir(parents=True)
    new.mkdir()
    raws = [message(i) for i in range(min(count, 500))]
    dir_fd = os.open(new, os.O_RDONLY)
    start = time.perf_counter()
    for i in range(count):
        name = f"{i}.bench"
        fd = os.open(tmp / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.write(fd, raws[i % len(raws)])
        os.fsync(fd)
        os.close(fd)
        os.rename(tmp / name, new / name)
        os.fsync(dir_fd)
    elapsed = time.perf_counter() - start
    os.close(dir_fd)
    return count / elapsed


def populate(rt: Runtime, count: int) -> None:
    raws = [message(i) for i in range(500)]
    system = rt.system()
    done = 0
    lock = threading.Lock()

    def work() -> None:
        nonlocal done
        while True:
            with lock:
                if done >= count:
                    return
                done += 1
                i = done
            system.deliver(["bench@example.test"], raws[i % len(raws)])

    workers = [threading.Thread(target=work) for _ in range(8)]
    for w in workers:
        w.start()
    while any(w.is_alive() for w in workers):
        time.sleep(2)
        print(f"  populating: {done}/{count}", file=sys.stderr, end="\r")
    print(file=sys.stderr)


def page_latency(rt: Runtime, pages: int) -> tuple[float, float]:
    principal = rt.logins.login("bench@example.test", "bench-password")
    door = rt.access(principal)
    samples = []
    for _ in range(pages):
        start = time.perf_counter()
        page = door.list_messages("INBOX", limit=50)
        samples.append(time.perf_counter() - start)
        assert len(page.items) == 50 and page.items[0].subject
    samples.sort()
    return statistics.median(samples) * 1e3, samples[int(len(samples) * 0.99) - 1] * 1e3


def page_rate(rt: Runtime, threads: int, seconds: float) -> float:
    """Inbox pages per second with `threads` concurrent readers (own sessions)."""
    doors = [
        rt.access(rt.logins.login("bench@example.test", "bench-password")) for _ in range(threads)
    ]
    stop = time.perf_counter() + seconds
    counts = [0] * threads

    def work(k: int) -> None:
        while time.perf_counter() < stop:
            doors[k].list_messages("INBOX", limit=50)
            counts[k] += 1

    workers = [threading.Thread(target=work, args=(k,)) for k in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return sum(counts) / seconds


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--messages", type=int, default=6000)
    ap.add_argument("--inbox", type=int, default=100_000)
    ap.add_argument("--pages", type=int, default=400)
    ap.add_argument("--trials", type=int, default=5)
    ap.add_argument("--dir", default=None, help="where to put the temporary data")
    args = ap.parse_args()
    base = Path(tempfile.mkdtemp(prefix="mailward-bench-", dir=args.dir))
    try:
        print(f"cores: {os.cpu_count()}, messages: 4 KB, durable (fsync) deliveries")
        base_rate = baseline_maildir_rate(base / "maildir", min(args.messages, 3000))
        shutil.rmtree(base / "maildir")
        print(
            f"baseline, Maildir file per message with fsync (no crypto, no index, no audit), "
            f"1 thread: {base_rate:8.0f} msg/s"
        )
        rates: dict[tuple[int, bool], float] = {}
        for threads in (1, 4, 8):
            # Audit on and off alternate, so drift in the machine hits both alike.
            trials: dict[bool, list[tuple[float, float]]] = {True: [], False: []}
            for trial in range(args.trials):
                for audit in (True, False):
                    root = base / f"deliver-{threads}-{audit}-{trial}"
                    trials[audit].append(deliver_rate(root, audit, args.messages, threads))
                    shutil.rmtree(root)
            for audit in (True, False):
                runs = trials[audit]
                rate, busy = sorted(runs)[len(runs) // 2]
                rates[threads, audit] = rate
                label = "on " if audit else "off"
                print(
                    f"deliver, {threads} thread(s), audit {label}: {rate:8.0f} msg/s "
                    f"(median of {args.trials}; runs {', '.join(f'{r:.0f}' for r, _ in runs)}; "
                    f"CPU busy {busy * 100:.0f} %)"
                )
        for threads in (1, 8):
            print(
                f"mailward (audit on), {threads} thread(s) vs the Maildir baseline: "
                f"{rates[threads, True] / base_rate:.2f}x"
            )
        for threads in (1, 4, 8):
            ratio = rates[threads, False] / rates[threads, True]
            print(
                f"audit overhead on delivery, {threads} thread(s): {(ratio - 1) * 100:+.1f} %"
                f" (rate off/on = {ratio:.3f})"
            )

        rt = open_rt(base / "inbox", True)
        populate(rt, args.inbox)
        p50, p99 = page_latency(rt, args.pages)
        print(
            f"inbox page (50 newest of {args.inbox:,}), audit on : p50 {p50:.2f} ms, "
            f"p99 {p99:.2f} ms"
        )
        rt.services.audit.enabled = False
        q50, q99 = page_latency(rt, args.pages)
        print(
            f"inbox page (50 newest of {args.inbox:,}), audit off: p50 {q50:.2f} ms, "
            f"p99 {q99:.2f} ms"
        )
        print(f"audit overhead on one inbox page (latency): p50 {(p50 / q50 - 1) * 100:+.1f} %")
        rates_off = page_rate(rt, 8, 5.0)
        rt.services.audit.enabled = True
        rates_on = page_rate(rt, 8, 5.0)
        print(
            f"inbox pages/s with 8 concurrent readers: audit on {rates_on:.0f}, "
            f"off {rates_off:.0f}; overhead {(rates_off / rates_on - 1) * 100:+.1f} %"
        )
        rt.close()
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
