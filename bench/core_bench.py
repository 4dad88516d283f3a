"""Core benchmark: delivery through MailAccess and the inbox page, audit on and off.

Prints, for 4 KB messages: delivered messages/s with 1, 4 and 8 delivering threads
(durable: every message's blob and row fsynced before deliver() returns), with the
audit log on and off; the latency of opening the 50 newest of a 100,000-message
INBOX (sealed fields opened, the listing recorded); and the audit overhead ratios.
Bounded: fixed message counts, a temporary data directory, no network.

    python bench/core_bench.py [--rounds 30] [--chunk 200] [--inbox 100000] [--pages 400]
"""

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from email import policy
from email.message import EmailMessage
from pathlib import Path

from mailward.access import MailAccess
from mailward.config import Settings
from mailward.runtime import Runtime


def message(i: int, size: int = 4096) -> bytes:
    msg = EmailMessage()
    msg["From"] = f"Sender {i} <sender{i}@elsewhere.test>"
    msg["To"] = "bench@example.test"
    msg["Subject"] = f"Benchmark message number {i}"
    line = "The quick brown fox jumps over the lazy dog. " * 2 + "\n"
    msg.set_content(line * (size // len(line)))
    return msg.as_bytes(policy=policy.SMTP)  # CRLF line ends, as mail arrives over SMTP


def open_rt(root: Path, audit: bool) -> Runtime:
    rt = Runtime.open(Settings(data=root, audit=audit, fast_hashing=True))
    rt.directory.add_domain("example.test")
    rt.directory.add_user("bench@example.test", "bench-password")
    return rt


def deliver_interleaved(
    base: Path, threads: int, rounds: int, chunk: int
) -> dict[bool, tuple[float, float, list[float]]]:
    """Messages/s delivering from `threads` threads into two stores open side by
    side, audit on and audit off, alternating in rounds of `chunk` messages.

    This machine's CPU speed drifts by tens of percent over seconds (a shared
    host); rounds a fraction of a second long, alternated, expose both stores to
    the same drift. Returns, per setting: total rate, CPU busy share (user+sys
    over wall time and all cores), and each round's rate.
    """
    rts = {audit: open_rt(base / f"deliver-{threads}-{audit}", audit) for audit in (True, False)}
    raws = [message(i) for i in range(500)]
    for rt in rts.values():
        for raw in raws[:50]:  # warm caches and the first pages
            rt.system().deliver(["bench@example.test"], raw)
    per = chunk // threads
    spent = {True: 0.0, False: 0.0}
    cpu = {True: 0.0, False: 0.0}
    per_round: dict[bool, list[float]] = {True: [], False: []}
    for r in range(rounds):
        for audit in (True, False) if r % 2 == 0 else (False, True):
            system = rts[audit].system()

            def work(k: int, system: MailAccess = system, r: int = r) -> None:
                for i in range(per):
                    system.deliver(["bench@example.test"], raws[(r * chunk + k * per + i) % 500])

            workers = [threading.Thread(target=work, args=(k,)) for k in range(threads)]
            cpu0, start = os.times(), time.perf_counter()
            for w in workers:
                w.start()
            for w in workers:
                w.join()
            elapsed, cpu1 = time.perf_counter() - start, os.times()
            spent[audit] += elapsed
            cpu[audit] += cpu1.user - cpu0.user + cpu1.system - cpu0.system
            per_round[audit].append(per * threads / elapsed)
    for rt in rts.values():
        rt.close()
    total = per * threads * rounds
    cores = os.cpu_count() or 1
    return {
        audit: (total / spent[audit], cpu[audit] / spent[audit] / cores, per_round[audit])
        for audit in (True, False)
    }


def instructions_per_delivery(audit: bool, count: int = 400) -> float | None:
    """User-space instructions per delivery (one thread) counted by callgrind:
    repeatable where wall time is not. None without valgrind."""
    if shutil.which("valgrind") is None:
        return None
    totals = []
    for n in (0, count):
        out = subprocess.run(
            [
                "valgrind",
                "--tool=callgrind",
                "--callgrind-out-file=/dev/null",
                sys.executable,
                __file__,
                "--child-deliver",
                "on" if audit else "off",
                str(n),
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stderr
        match = re.search(r"refs:\s+([\d,]+)", out)
        if match is None:
            return None
        totals.append(int(match.group(1).replace(",", "")))
    return (totals[1] - totals[0]) / count


def child_deliver(audit: bool, count: int) -> None:
    """Deliver `count` messages on one thread (run under callgrind).

    Valgrind runs the program about 50 times slower, but the signed head is
    written at most every 20 ms (and 100 ms after the last commit): unscaled,
    callgrind would charge a head write to every delivery where the service
    writes one per few dozen. The timers are stretched by the same factor.
    """
    from mailward.audit import head

    defaults = head.HeadPublisher.__init__.__kwdefaults__
    defaults["interval_s"] *= 50
    defaults["trail_s"] *= 50
    base = Path(tempfile.mkdtemp(prefix="mailward-bench-"))
    try:
        rt = open_rt(base, audit)
        raws = [message(i) for i in range(100)]
        system = rt.system()
        for raw in raws[:20]:
            system.deliver(["bench@example.test"], raw)
        for i in range(count):
            system.deliver(["bench@example.test"], raws[i % 100])
        rt.close()
    finally:
        shutil.rmtree(base, ignore_errors=True)


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


def page_latency(rt: Runtime, pages: int) -> dict[bool, tuple[float, float]]:
    """p50/p99 ms of the inbox page with the audit on and off, sample by sample
    alternating (the same drift for both)."""
    principal = rt.logins.login("bench@example.test", "bench-password")
    door = rt.access(principal)
    samples: dict[bool, list[float]] = {True: [], False: []}
    for i in range(2 * pages):
        audit = i % 2 == 0
        rt.services.audit.enabled = audit
        start = time.perf_counter()
        page = door.list_messages("INBOX", limit=50)
        samples[audit].append(time.perf_counter() - start)
        assert len(page.items) == 50 and page.items[0].subject
    rt.services.audit.enabled = True
    out = {}
    for audit, xs in samples.items():
        xs.sort()
        out[audit] = (statistics.median(xs) * 1e3, xs[int(len(xs) * 0.99) - 1] * 1e3)
    return out


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
    ap.add_argument("--rounds", type=int, default=30, help="alternating rounds per setting")
    ap.add_argument("--chunk", type=int, default=200, help="messages per round")
    ap.add_argument("--inbox", type=int, default=100_000)
    ap.add_argument("--pages", type=int, default=400)
    ap.add_argument("--no-instructions", action="store_true", help="skip the callgrind count")
    ap.add_argument("--dir", default=None, help="where to put the temporary data")
    ap.add_argument("--child-deliver", nargs=2, metavar=("AUDIT", "N"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child_deliver:
        child_deliver(args.child_deliver[0] == "on", int(args.child_deliver[1]))
        return
    base = Path(tempfile.mkdtemp(prefix="mailward-bench-", dir=args.dir))
    try:
        print(f"cores: {os.cpu_count()}, messages: 4 KB, durable (fsync) deliveries")
        base_rate = baseline_maildir_rate(base / "maildir", 3000)
        shutil.rmtree(base / "maildir")
        print(
            f"baseline, Maildir file per message with fsync (no crypto, no index, no audit), "
            f"1 thread: {base_rate:8.0f} msg/s"
        )
        rates: dict[tuple[int, bool], float] = {}
        paired_overheads: dict[int, list[float]] = {}
        for threads in (1, 4, 8):
            result = deliver_interleaved(base, threads, args.rounds, args.chunk)
            # Round r of one setting ran right beside round r of the other: their
            # ratio is the overhead under (nearly) the same machine speed.
            paired_overheads[threads] = [
                (off / on - 1) * 100
                for on, off in zip(result[True][2], result[False][2], strict=True)
            ]
            for audit in (True, False):
                rate, busy, rounds = result[audit]
                rates[threads, audit] = rate
                rounds = sorted(rounds)
                print(
                    f"deliver, {threads} thread(s), audit {'on ' if audit else 'off'}: "
                    f"{rate:8.0f} msg/s ({args.rounds} alternating rounds of {args.chunk};"
                    f" round rates p10 {rounds[len(rounds) // 10]:.0f}"
                    f" p50 {rounds[len(rounds) // 2]:.0f}"
                    f" p90 {rounds[len(rounds) * 9 // 10]:.0f}; CPU busy {busy * 100:.0f} %)"
                )
        for threads in (1, 8):
            print(
                f"mailward (audit on), {threads} thread(s) vs the Maildir baseline: "
                f"{rates[threads, True] / base_rate:.2f}x"
            )
        for threads in (1, 4, 8):
            ratio = rates[threads, False] / rates[threads, True]
            paired = paired_overheads[threads]
            q1, q2, q3 = statistics.quantiles(paired, n=4)
            print(
                f"audit overhead on delivery, {threads} thread(s): {q2:+.1f} % median of"
                f" {len(paired)} paired rounds (quartiles {q1:+.1f} / {q3:+.1f} %);"
                f" total rates off/on {(ratio - 1) * 100:+.1f} %"
            )
        if not args.no_instructions:
            on, off = instructions_per_delivery(True), instructions_per_delivery(False)
            if on is not None and off is not None:
                print(
                    f"instructions per delivery (callgrind, 1 thread): audit on {on / 1e3:.0f}k,"
                    f" off {off / 1e3:.0f}k; overhead {(on / off - 1) * 100:+.1f} %"
                )

        rt = open_rt(base / "inbox", True)
        populate(rt, args.inbox)
        lat = page_latency(rt, args.pages)
        for audit in (True, False):
            p50, p99 = lat[audit]
            print(
                f"inbox page (50 newest of {args.inbox:,}), audit {'on ' if audit else 'off'}:"
                f" p50 {p50:.2f} ms, p99 {p99:.2f} ms"
            )
        print(
            "audit overhead on one inbox page (latency): "
            f"p50 {(lat[True][0] / lat[False][0] - 1) * 100:+.1f} %"
        )
        slices: dict[bool, list[float]] = {True: [], False: []}
        for i in range(10):  # half-second slices, alternating
            rt.services.audit.enabled = i % 2 == 0
            slices[i % 2 == 0].append(page_rate(rt, 8, 0.5))
        rt.services.audit.enabled = True
        rates_on, rates_off = statistics.mean(slices[True]), statistics.mean(slices[False])
        print(
            f"inbox pages/s with 8 concurrent readers: audit on {rates_on:.0f}, "
            f"off {rates_off:.0f}; overhead {(rates_off / rates_on - 1) * 100:+.1f} %"
        )
        rt.close()
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
