"""How long the exposure report takes, and that its cost follows the window, not
the log's size.

Builds an audit log of `--total` records with a bulk path for the benchmark only
(records encoded, hashed and chained exactly as the writer does, inserted many to
a transaction, the signed head written at the end: `audit verify` passes on it),
with a window of `--window` records in its middle in which someone other than
the owners reached `--accounts` accounts: each affected account had a message list
of 50 items seen (the old incident), three bodies read, an attachment downloaded,
and one in three a message moved or deleted; a few thousand refused attempts; the
rest of the window and of the log are deliveries and owners reading their own
mail. Then times `Runtime.incident_report` over the window (the chain check
included), median of `--repeat`, and the same for a log that is the window alone.

    python bench/incident_bench.py [--total 20000000] [--window 2000000] [--accounts 50000]
"""

import argparse
import hashlib
import os
import random
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

from rich.progress import Progress

from mailward.audit.head import Head, HeadFile
from mailward.audit.record import encode, others_owner
from mailward.config import Settings
from mailward.incident import write_csv, write_html, write_json
from mailward.runtime import AUDIT_HEAD_KEY, Runtime

LIST_ITEMS = 50
OWNERS = 200_000  # accounts in the service
ACTORS = 2_000  # accounts on the far side of the crossing
_INSERT = "INSERT INTO audit_log (pos, at_us, others_owner, body, hash) VALUES (?, ?, ?, ?, ?)"


def _acct(i: int) -> str:
    return f"a{i:024x}"


def _item(i: int) -> str:
    return f"m{i:024x}"


class Writer:
    """Appends chained records in bulk (benchmark only)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn, self.seq, self.prev, self.rows = conn, 0, bytes(32), []
        self.at_us = 1_700_000_000_000_000

    def add(self, actor: str, protocol: str, owner: str, mailbox: str, items: list[str],
            unread: str, part: str, action: str, outcome: str = "allowed") -> None:  # fmt: skip
        self.seq += 1
        self.at_us += 137  # about 7,300 records a second
        fields = (actor, "s" + actor[1:9], protocol, "10.0.0.1", owner, mailbox)
        tail = (part, action, outcome, "")
        body = encode(self.seq, self.at_us, fields, " ".join(items), unread, tail, self.prev)
        digest = hashlib.sha256(body).digest()
        self.rows.append((self.seq, self.at_us, others_owner(owner, actor, action), body, digest))
        self.prev = digest
        if len(self.rows) >= 100_000:
            self.flush()

    def flush(self) -> None:
        self.conn.executemany(_INSERT, self.rows)
        self.conn.commit()
        self.rows = []


def _background(w: Writer, rnd: random.Random) -> None:
    """A delivery or an owner reading their own mail."""
    owner = _acct(rnd.randrange(OWNERS))
    r = rnd.random()
    if r < 0.6:
        w.add("system", "smtp", owner, "INBOX", [_item(w.seq)], "1", "-", "deliver")
    elif r < 0.8:
        items = [_item(rnd.randrange(10**9)) for _ in range(LIST_ITEMS)]
        w.add(owner, "web", owner, "INBOX", items, "0" * LIST_ITEMS, "list-entry", "list")
    else:
        w.add(owner, "web", owner, "INBOX", [_item(rnd.randrange(10**9))], "0", "body", "read")


def _crossing(w: Writer, rnd: random.Random, k: int) -> int:
    """What the fault did to affected account k; returns records written."""
    owner, actor = _acct(OWNERS + k), _acct(OWNERS * 2 + rnd.randrange(ACTORS))
    items = [_item(10**10 + k * 100 + i) for i in range(LIST_ITEMS)]
    unread = "".join(rnd.choice("01") for _ in items)
    w.add(actor, "web", owner, "INBOX", items, unread, "list-entry", "list")
    for i in range(3):
        w.add(actor, "web", owner, "INBOX", [items[i]], unread[i], "body", "read")
    w.add(actor, "web", owner, "INBOX", [items[3]], unread[3], "attachment:1", "download")
    n = 5
    if k % 3 == 0:
        w.add(actor, "web", owner, "INBOX", [items[4]], "0", "-", rnd.choice(["move", "delete"]))
        n += 1
    if k % 20 == 0:
        w.add(actor, "web", owner, "INBOX", [items[5]], "", "body", "read", "refused")
        n += 1
    return n


def build(data: Path, total: int, window: int, accounts: int) -> tuple[int, int]:
    """The log; returns the window's (since_us, until_us)."""
    rt = Runtime.open(Settings(data=data, fast_hashing=True))
    key, head_path = rt.keyring.service_key(AUDIT_HEAD_KEY), rt.head_path
    rt.close()
    conn = sqlite3.connect(data / "mailward.db")
    conn.execute("PRAGMA synchronous=OFF")
    w, rnd = Writer(conn), random.Random(7)
    before = (total - window) // 2
    crossing_records = accounts * 5 + accounts // 3 + accounts // 20
    with Progress(transient=True) as bar:
        task = bar.add_task(f"building a log of {total:,} records", total=total)
        for _ in range(before):
            _background(w, rnd)
            if w.seq % 100_000 == 0:
                bar.update(task, completed=w.seq)
        since = w.at_us + 1
        start = w.seq
        spread = max(1, (window - crossing_records) // max(1, accounts))
        k = 0
        while w.seq - start < window:
            if k < accounts:
                _crossing(w, rnd, k)
                k += 1
                for _ in range(spread):
                    if w.seq - start < window:
                        _background(w, rnd)
            else:
                _background(w, rnd)
            if w.seq % 100_000 == 0:
                bar.update(task, completed=w.seq)
        until = w.at_us + 1
        while w.seq < total:
            _background(w, rnd)
            if w.seq % 100_000 == 0:
                bar.update(task, completed=w.seq)
        w.flush()
    conn.close()
    head = HeadFile(head_path)
    head.advance(key, Head(w.seq, w.prev, w.at_us))
    head.close()  # (syncs the mapping)
    return since, until


def measure(data: Path, since: int, until: int, repeat: int, out: Path) -> tuple[float, float]:
    """Median seconds of the report built (chain check included) over `repeat`
    runs, and the seconds to write its JSON, CSV and HTML once."""
    built = []
    rt = Runtime.open(Settings(data=data, fast_hashing=True))
    try:
        for _ in range(repeat):
            t = time.perf_counter()
            report = rt.incident_report(since, until)
            built.append(time.perf_counter() - t)
            assert report.chain_verified, report.chain_problem
        t = time.perf_counter()
        write_json(report, out / "report.json")
        write_csv(report, out / "report.csv")
        write_html(report, out / "report.html")
        written = time.perf_counter() - t
        totals = report.totals()
    finally:
        rt.close()
    print(f"    {totals['affected accounts']:,} affected accounts, {totals['exposed items']:,}"
          f" exposed items, {totals['refused attempts']:,} refused; window"
          f" {report.records_in_window:,} records; runs: "
          + ", ".join(f"{b:.2f} s" for b in built))  # fmt: skip
    return statistics.median(built), written


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--total", type=int, default=20_000_000)
    ap.add_argument("--window", type=int, default=2_000_000)
    ap.add_argument("--accounts", type=int, default=50_000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--dir", default=None)
    args = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="mailward-incident-", dir=args.dir))
    try:
        results = {}
        for total in dict.fromkeys((args.total, args.window)):  # once if they are equal
            data = root / f"log-{total}"
            t = time.perf_counter()
            since, until = build(data, total, args.window, args.accounts)
            size = (data / "mailward.db").stat().st_size
            print(f"log of {total:,} records built in {time.perf_counter() - t:.0f} s"
                  f" ({size / 2**30:.1f} GiB)")  # fmt: skip
            out = root / f"out-{total}"
            out.mkdir(exist_ok=True)
            results[total] = measure(data, since, until, args.repeat, out)
            b, wr = results[total]
            print(
                f"  report over the window: {b:.2f} s (median); writing JSON, CSV, HTML: {wr:.1f} s"
            )
            shutil.rmtree(data)
        big, small = results[args.total][0], results[args.window][0]
        print(f"window of {args.window:,} in a log of {args.total:,}: {big:.2f} s; in a log of"
              f" {args.window:,}: {small:.2f} s; ratio {big / small:.2f}")  # fmt: skip
        print(f"cores: {os.cpu_count()}, python {sys.version.split()[0]}")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
