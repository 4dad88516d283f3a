"""A mailward data directory with one account whose INBOX holds N small, realistic
messages, for bench/imap_bench.py --serve (usable on its own too).

The messages go in through the door (`Runtime.system().deliver`, from a few threads
so that group commit shares the WAL flushes), each sealed and audited as in
production; then 70 % of them get \\Seen through the owner's door, in batches.
The result is kept under /var/tmp/mailward-bench/imap-<N> and reused: a run works
on a copy (`run_copy`), so reading, flag changes and the audit records of one run
never reach the next. A directory is used only once its marker file exists
(written last), so an interrupted fill is never taken for a full one.

    .venv/bin/python bench/imap_populate.py [--messages 100000] [--refill]
"""

import argparse
import itertools
import json
import random
import shutil
import threading
import time
from pathlib import Path

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from mailward.config import Settings
from mailward.core.flags import Flags, SystemFlag
from mailward.core.ids import MessageId
from mailward.runtime import Runtime

CACHE_ROOT = Path("/var/tmp/mailward-bench")
USER = "bench@example.test"
PASSWORD = "bench-imap-password"  # a throwaway account on loopback
MARKER = "filled.json"
SEEN_SHARE = 0.7  # as in the peers' mailbox (populate.py: 70 % \Seen)
DELIVER_THREADS = 4
FLAG_BATCH = 1000

_WORDS = (
    "account", "agenda", "archive", "backup", "budget", "calendar", "change", "contract",
    "customer", "deadline", "delivery", "deploy", "draft", "estimate", "feature", "feedback",
    "figures", "follow-up", "handover", "invoice", "meeting", "milestone", "minutes", "network",
    "notes", "offer", "onboarding", "order", "outage", "patch", "plan", "policy", "proposal",
    "quarter", "question", "release", "reminder", "report", "request", "review", "roadmap",
    "schedule", "security", "server", "shipment", "status", "storage", "summary", "support",
    "team", "ticket", "training", "travel", "update", "vendor", "workshop",
)  # fmt: skip
_PEOPLE = (
    "Amira Haddad", "Ben Fischer", "Chloe Dubois", "Dmitri Volkov", "Elena Rossi",
    "Farid Rahimi", "Greta Lindqvist", "Hiro Tanaka", "Ines Moreau", "Jonas Weber",
    "Kavya Iyer", "Liam O'Brien", "Maya Cohen", "Noah Svensson", "Olga Nowak",
)  # fmt: skip
_DOMAINS = ("example.org", "example.net", "partner.example", "vendor.example")


def message(i: int, to: str, rng: random.Random, when_s: float) -> bytes:
    """One plain-text message of about 1.2-3 KB with the headers a delivered
    message carries (CRLF line ends, as received over SMTP)."""
    name = rng.choice(_PEOPLE)
    domain = rng.choice(_DOMAINS)
    sender = name.lower().replace(" ", ".").replace("'", "") + "@" + domain
    subject = " ".join(rng.choice(_WORDS) for _ in range(rng.randint(3, 8))).capitalize()
    date = time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime(when_s))
    head = [
        f"Return-Path: <{sender}>",
        f"Received: from mx.{domain} (mx.{domain} [198.51.100.{i % 200 + 1}])",
        f"\tby mail.example.test with ESMTPS id {i:010X}",
        f"\tfor <{to}>; {date}",
        f"From: {name} <{sender}>",
        f"To: <{to}>",
        f"Subject: {subject} ({i})",
        f"Date: {date}",
        f"Message-ID: <{i:x}.{rng.getrandbits(40):010x}@{domain}>",
        "MIME-Version: 1.0",
        "Content-Type: text/plain; charset=utf-8",
        "Content-Transfer-Encoding: 7bit",
    ]
    body = [
        " ".join(rng.choice(_WORDS) for _ in range(rng.randint(5, 12)))
        for _ in range(rng.randint(10, 32))
    ]
    return ("\r\n".join([*head, "", *body]) + "\r\n").encode()


def cache_dir(count: int) -> Path:
    name = f"imap-{count // 1000}k" if count % 1000 == 0 else f"imap-{count}"
    return CACHE_ROOT / name


def filled(count: int, refill: bool = False) -> Path:
    """The cached directory holding a filled data dir (`<dir>/data`), filled now
    if it is missing (or `refill`)."""
    target = cache_dir(count)
    if (target / MARKER).exists() and not refill:
        return target
    shutil.rmtree(target, ignore_errors=True)
    partial = target.with_name(target.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    started = time.perf_counter()
    stats = fill(partial / "data", count)
    stats["fill_s"] = round(time.perf_counter() - started, 1)
    (partial / MARKER).write_text(json.dumps(stats) + "\n")
    partial.rename(target)
    return target


def run_copy(cached: Path, where: Path) -> Path:
    """A copy of the cached data dir for one run (the cache stays as filled)."""
    data = where / "data"
    shutil.copytree(cached / "data", data)
    return data


def fill(data: Path, count: int) -> dict[str, object]:
    """Create the account and deliver `count` messages; mark 70 % \\Seen."""
    rt = Runtime.open(Settings(data=data, plaintext_login=True, fast_hashing=False))
    try:
        rt.directory.add_domain("example.test")
        rt.directory.add_user(USER, PASSWORD)
        system = rt.system()
        ids: list[MessageId | None] = [None] * count
        numbers = itertools.count()  # next() on it is atomic under the GIL
        t0_s = time.time() - 60.0 * count  # one message a minute of history
        columns = (
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("{task.fields[rate]:>6.0f} msg/s"), TimeRemainingColumn(),
        )  # fmt: skip
        with Progress(*columns) as bar:
            task = bar.add_task("deliver", total=count, rate=0.0)
            started = time.perf_counter()

            def work() -> None:
                done = 0
                while (i := next(numbers)) < count:
                    raw = message(i + 1, USER, random.Random(i), t0_s + 60.0 * i)
                    ids[i] = system.deliver([USER], raw)[USER]
                    done += 1
                    if done % 50 == 0:
                        rate = bar.tasks[task].completed / (time.perf_counter() - started)
                        bar.update(task, advance=50, rate=rate)
                bar.update(task, advance=done % 50)

            threads = [threading.Thread(target=work) for _ in range(DELIVER_THREADS)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            deliver_s = time.perf_counter() - started
            owner = rt.access(rt.logins.login(USER, PASSWORD))
            rng = random.Random(1)
            seen = [str(m) for m in ids if m is not None and rng.random() < SEEN_SHARE]
            flag_task = bar.add_task("\\Seen", total=len(seen), rate=0.0)
            started = time.perf_counter()
            for k in range(0, len(seen), FLAG_BATCH):
                batch = seen[k : k + FLAG_BATCH]
                owner.set_flags(batch, add=Flags.of(SystemFlag.SEEN))
                rate = (k + len(batch)) / (time.perf_counter() - started)
                bar.update(flag_task, advance=len(batch), rate=rate)
        return {
            "messages": count,
            "user": USER,
            "seen": len(seen),
            "deliver_msg_per_s": round(count / deliver_s),
        }
    finally:
        rt.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--messages", type=int, default=100_000)
    ap.add_argument("--refill", action="store_true", help="fill again even if cached")
    args = ap.parse_args()
    if not 1 <= args.messages <= 2_000_000:
        raise SystemExit("--messages: 1 to 2,000,000")
    target = filled(args.messages, args.refill)
    print(f"{target}: {(target / MARKER).read_text().strip()}")


if __name__ == "__main__":
    main()
