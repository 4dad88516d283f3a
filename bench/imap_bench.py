"""IMAP and POP3 benchmark over loopback, bounded, that runs unchanged against any
server (mailward, Dovecot, ...).

    # a running server
    .venv/bin/python bench/imap_bench.py --port 10143 --pop3-port 10110 \\
        --user mdbox1@example.test --password benchpass --pid "$(cat /run/dovecot/master.pid)"
    # mailward on a cached 100,000-message INBOX (bench/imap_populate.py), started here
    .venv/bin/python bench/imap_bench.py --serve

Phases (`--phases`, in this order), one line of figures each, and one JSON line
each with `--json FILE`; p50/p99 are medians over `--runs`, shown as
median [min..max]:

    select      50 x (connect, LOGIN, SELECT, LOGOUT): SELECT in a fresh session
    flags       UID FETCH 1:* (UID FLAGS): seconds (median of 3), lines = EXISTS?
    page        200 x FETCH <newest 50> (UID FLAGS ENVELOPE) in one session
    bodies      FETCH <random seq> BODY.PEEK[] for 1,000 random messages
    concurrent  --clients sessions for --duration s, each looping connect, LOGIN,
                SELECT, page, one random body, LOGOUT; over 2 forked client processes
    idle        --idle connections in IDLE held 10 s; the server's RSS (VmRSS summed
                over --pid and its descendants) before and with them (needs --pid)
    pop3        USER/PASS, STAT, RETR 1..1,000 (with --pop3-port)

The IMAP client is our own asyncio one (imaplib costs more client CPU than some of
these servers spend): it reads whole buffers, counts untagged lines in bulk where
a stretch holds no literal and no tagged line, reads literals by their count, and
checks each tagged reply is OK. Only loopback targets; duration, clients, idle
connections and runs are capped, every wait has a timeout.
"""

import argparse
import asyncio
import contextlib
import ipaddress
import json
import math
import multiprocessing as mp
import os
import poplib
import random
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection as Pipe
from pathlib import Path
from typing import Any

PHASES = ("select", "flags", "page", "bodies", "concurrent", "idle", "pop3")
MAX_DURATION_S = 600
MAX_CLIENTS = 500
MAX_IDLE = 5000
MAX_RUNS = 20
COMMAND_TIMEOUT_S = 60.0  # one command, UID FETCH 1:* included
CONNECT_TIMEOUT_S = 15.0
READ_BYTES = 256 * 1024
PAGE = 50
SELECTS = 50
PAGES = 200
BODIES = 1000
POP3_RETRS = 1000
IDLE_HOLD_S = 10.0
IDLE_OPENING = 50  # connections being opened (or closed) at once
IDLE_OPEN_LIMIT_S = 300.0  # for opening them all; later ones count as not opened
IDLE_CLOSE_LIMIT_S = 120.0
CLIENT_PROCS = 2
_EXISTS = re.compile(rb"^\* (\d+) EXISTS", re.MULTILINE)


# -- the IMAP client ---------------------------------------------------------------------


class ImapError(Exception):
    """A tagged reply that is not OK, a refused greeting, or a broken response."""


@dataclass(slots=True)
class Reply:
    status: str  # OK, NO or BAD
    text: str  # the rest of the tagged line
    untagged: int  # untagged responses (a line with its literals counts once)
    size_bytes: int  # everything received for the command, literals included
    lines: list[bytes]  # untagged responses, only with keep=True


class Imap:
    """One IMAP connection. Responses are read into one buffer; `_pos` is always at
    the start of a response line."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer
        self._buf = bytearray()
        self._pos = 0
        self._tags = 0
        self.greeting = b""

    @classmethod
    async def connect(cls, host: str, port: int) -> "Imap":
        async with asyncio.timeout(CONNECT_TIMEOUT_S):
            reader, writer = await asyncio.open_connection(host, port, limit=READ_BYTES)
            cli = cls(reader, writer)
            start, end = await cli._response_line()
            cli.greeting = bytes(cli._buf[start:end])
        if not cli.greeting.startswith((b"* OK", b"* PREAUTH")):
            cli.close()
            raise ImapError(f"greeting: {cli.greeting[:200]!r}")
        return cli

    def close(self) -> None:
        self._writer.close()

    def _send(self, text: str) -> bytes:
        self._tags += 1
        tag = b"A%04d" % self._tags
        self._writer.write(tag + b" " + text.encode() + b"\r\n")
        return tag

    async def command(self, text: str, *, keep: bool = False, check: bool = True) -> Reply:
        """Send one command, read its whole response; ImapError unless OK (`check`)."""
        async with asyncio.timeout(COMMAND_TIMEOUT_S):
            reply = await self._response(self._send(text), keep)
        if check and reply.status != "OK":
            name = " ".join(text.split(" ", 2)[: 2 if text.startswith("UID ") else 1])
            raise ImapError(f"{name}: {reply.status} {reply.text[:200]}")
        return reply

    async def login(self, user: str, password: str) -> None:
        await self.command(f"LOGIN {quote(user)} {quote(password)}")

    async def select(self, mailbox: str) -> int:
        """SELECT; returns EXISTS."""
        reply = await self.command(f"SELECT {quote(mailbox)}", keep=True)
        found = _EXISTS.search(b"\n".join(reply.lines))
        if found is None:
            raise ImapError("SELECT without EXISTS")
        return int(found.group(1))

    async def logout(self) -> None:
        with contextlib.suppress(ConnectionError):
            await self.command("LOGOUT")
        self.close()

    async def idle(self) -> bytes:
        """Start IDLE (RFC 2177); returns its tag once the server sent `+`."""
        async with asyncio.timeout(COMMAND_TIMEOUT_S):
            tag = self._send("IDLE")
            while True:
                start, end = await self._response_line()
                line = self._buf[start:end]
                if line.startswith(b"+"):
                    return tag
                if line.startswith(tag + b" "):
                    raise ImapError(f"IDLE: {bytes(line[:200])!r}")

    async def done(self, tag: bytes) -> None:
        """End IDLE: DONE, then the IDLE command's tagged OK."""
        self._writer.write(b"DONE\r\n")
        async with asyncio.timeout(COMMAND_TIMEOUT_S):
            reply = await self._response(tag, keep=False)
        if reply.status != "OK":
            raise ImapError(f"IDLE: {reply.status} {reply.text[:200]}")

    # -- reading -----------------------------------------------------------------------

    async def _fill(self) -> None:
        data = await self._reader.read(READ_BYTES)
        if not data:
            raise ConnectionError("connection closed by the server")
        self._buf += data

    def _compact(self) -> None:
        if self._pos > READ_BYTES:
            del self._buf[: self._pos]
            self._pos = 0

    async def _response_line(self) -> tuple[int, int]:
        """The next response line with its literals: [start, end) in the buffer,
        valid until the next read. A literal `{n}` is taken by its count."""
        self._compact()
        buf = self._buf
        start = p = self._pos
        while True:
            nl = buf.find(b"\n", p)
            while nl < 0:
                await self._fill()
                nl = buf.find(b"\n", p)
            if nl - 2 >= p and buf[nl - 2] == 0x7D:  # "}\r\n": a literal follows
                opening = buf.rfind(b"{", p, nl)
                digits = buf[opening + 1 : nl - 2] if opening >= 0 else b""
                if digits.isdigit():
                    p = nl + 1 + int(digits)
                    while len(buf) < p:
                        await self._fill()
                    continue
            self._pos = nl + 1
            return start, nl + 1

    async def _response(self, tag: bytes, keep: bool) -> Reply:
        buf = self._buf
        tagged = tag + b" "
        after_newline = b"\n" + tagged
        untagged = 0
        size = 0
        lines: list[bytes] = []
        while True:
            pos = self._pos
            end = buf.rfind(b"\n", pos) + 1
            if not keep and end > pos:
                # Whole lines before the first literal and before the tagged line are
                # counted in one go (each part of the buffer is scanned once).
                stop = end
                literal = buf.find(b"}\r\n", pos, end)
                if literal >= 0:
                    stop = buf.rfind(b"\n", pos, literal) + 1 or pos
                if buf.startswith(tagged, pos):
                    stop = pos
                else:
                    at = buf.find(after_newline, pos, stop)
                    if at >= 0:
                        stop = at + 1
                if stop > pos:
                    untagged += buf.count(b"\n* ", pos, stop) + buf.startswith(b"* ", pos)
                    size += stop - pos
                    self._pos = stop
                    if stop == end:
                        self._compact()
                        await self._fill()
                    continue
            start, stop = await self._response_line()
            size += stop - start
            if buf.startswith(b"* ", start):
                untagged += 1
                if keep:
                    lines.append(bytes(buf[start:stop]))
            elif buf.startswith(tagged, start):
                status, _, text = bytes(buf[start + len(tagged) : stop]).decode().partition(" ")
                return Reply(status.upper(), text.strip(), untagged, size, lines)
            elif buf.startswith(b"+", start):
                raise ImapError(f"unexpected continuation: {bytes(buf[start:stop])[:200]!r}")


def quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


# -- figures ------------------------------------------------------------------------------


def pct(samples: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..1)."""
    if not samples:
        return math.nan
    ordered = sorted(samples)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def spread(values: Sequence[float], digits: int = 2) -> str:
    """median [min..max] (just the value for one run)."""
    good = [v for v in values if not math.isnan(v)]
    if not good:
        return "-"
    med = statistics.median(good)
    if len(good) == 1:
        return f"{med:.{digits}f}"
    return f"{med:.{digits}f} [{min(good):.{digits}f}..{max(good):.{digits}f}]"


def cpu_times() -> tuple[int, int]:
    """(busy, total) jiffies of the whole machine, from /proc/stat."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:9]]
    idle = fields[3] + fields[4]  # idle + iowait
    return sum(fields) - idle, sum(fields)


@dataclass(frozen=True, slots=True)
class Usage:
    """A server's process tree at one moment: VmRSS and Pss summed over the
    process and all its descendants, their number, and their CPU time so far.

    RSS counts pages shared between processes once per process (Dovecot's
    processes share their code); PSS splits shared pages among them."""

    rss_kib: int
    pss_kib: int
    procs: int
    cpu_s: float


def usage(pid: int) -> Usage:
    stats: dict[int, list[str]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    stat = f.read()
            except OSError:
                continue
            stats[int(entry)] = stat[stat.rindex(")") + 2 :].split()  # from field 3, state
    family = {pid}
    grew = True
    while grew:
        more = {p for p, fields in stats.items() if int(fields[1]) in family} - family
        family |= more
        grew = bool(more)
    rss = pss = 0
    ticks = 0
    for p in family:
        with contextlib.suppress(OSError):
            rss += _field_kib(f"/proc/{p}/status", "VmRSS:")
            pss += _field_kib(f"/proc/{p}/smaps_rollup", "Pss:")
        fields = stats.get(p)
        if fields is not None:  # utime stime cutime cstime (fields 14-17)
            ticks += sum(int(x) for x in fields[11:15])
    return Usage(rss, pss, len(family), ticks / os.sysconf("SC_CLK_TCK"))


def _field_kib(path: str, key: str) -> int:
    with open(path) as f:
        for line in f:
            if line.startswith(key):
                return int(line.split()[1])
    return 0


# -- the phases ---------------------------------------------------------------------------


@dataclass(slots=True)
class Target:
    host: str
    port: int
    user: str
    password: str
    mailbox: str
    pop3_port: int | None = None
    pid: int | None = None


@dataclass(slots=True)
class Result:
    """One phase: a line of figures and what goes into the JSON line."""

    phase: str
    line: str
    figures: dict[str, Any] = field(default_factory=dict)


async def session(t: Target) -> tuple[Imap, int]:
    cli = await Imap.connect(t.host, t.port)
    try:
        await cli.login(t.user, t.password)
        exists = await cli.select(t.mailbox)
    except BaseException:
        cli.close()
        raise
    return cli, exists


def page_command(exists: int) -> str:
    return f"FETCH {max(1, exists - PAGE + 1)}:{exists} (UID FLAGS ENVELOPE)"


async def run_select(t: Target) -> dict[str, Any]:
    samples_ms: list[float] = []
    exists = 0
    for _ in range(SELECTS):
        cli = await Imap.connect(t.host, t.port)
        await cli.login(t.user, t.password)
        started = time.perf_counter()
        exists = await cli.select(t.mailbox)
        samples_ms.append((time.perf_counter() - started) * 1000)
        await cli.logout()
    return {
        "p50_ms": pct(samples_ms, 0.5), "p99_ms": pct(samples_ms, 0.99),
        "first_ms": samples_ms[0], "exists": exists,
    }  # fmt: skip


def phase_select(t: Target, runs: int) -> Result:
    per = [asyncio.run(run_select(t)) for _ in range(runs)]
    line = (
        f"SELECT in a fresh session ({SELECTS}x): p50 {spread([r['p50_ms'] for r in per])} ms"
        f"  p99 {spread([r['p99_ms'] for r in per])} ms  (first of run 1: "
        f"{per[0]['first_ms']:.2f} ms; EXISTS {per[-1]['exists']:,})"
    )
    return Result("select", line, {"runs": per})


async def run_flags(t: Target) -> dict[str, Any]:
    cli, exists = await session(t)
    times_s: list[float] = []
    lines = 0
    size = 0
    for _ in range(3):
        started = time.perf_counter()
        reply = await cli.command("UID FETCH 1:* (UID FLAGS)")
        times_s.append(time.perf_counter() - started)
        lines, size = reply.untagged, reply.size_bytes
    await cli.logout()
    return {"s": statistics.median(times_s), "lines": lines, "exists": exists, "bytes": size}


def phase_flags(t: Target, runs: int) -> Result:
    per = [asyncio.run(run_flags(t)) for _ in range(runs)]
    match = all(r["lines"] == r["exists"] for r in per)
    line = (
        f"UID FETCH 1:* (UID FLAGS): {spread([r['s'] for r in per], 4)} s (median of 3);"
        f" lines {per[-1]['lines']:,} {'=' if match else '!='} EXISTS {per[-1]['exists']:,}"
        f"; {per[-1]['bytes'] / 1e6:.1f} MB"
    )
    return Result("flags", line, {"runs": per, "lines_match_exists": match})


async def run_page(t: Target) -> dict[str, Any]:
    cli, exists = await session(t)
    command = page_command(exists)
    samples_ms: list[float] = []
    short = 0
    for _ in range(PAGES):
        started = time.perf_counter()
        reply = await cli.command(command)
        samples_ms.append((time.perf_counter() - started) * 1000)
        short += reply.untagged != min(PAGE, exists)
    await cli.logout()
    return {"p50_ms": pct(samples_ms, 0.5), "p99_ms": pct(samples_ms, 0.99), "short": short}


def phase_page(t: Target, runs: int) -> Result:
    per = [asyncio.run(run_page(t)) for _ in range(runs)]
    short = sum(r["short"] for r in per)
    line = (
        f"FETCH newest {PAGE} (UID FLAGS ENVELOPE), {PAGES}x: p50 "
        f"{spread([r['p50_ms'] for r in per])} ms  p99 {spread([r['p99_ms'] for r in per])} ms"
        + (f"  ({short} replies without {PAGE} lines)" if short else "")
    )
    return Result("page", line, {"runs": per})


async def run_bodies(t: Target, seed: int) -> dict[str, Any]:
    cli, exists = await session(t)
    rng = random.Random(seed)
    samples_ms: list[float] = []
    size = 0
    started = time.perf_counter()
    for _ in range(BODIES):
        one = time.perf_counter()
        reply = await cli.command(f"FETCH {rng.randint(1, exists)} BODY.PEEK[]")
        samples_ms.append((time.perf_counter() - one) * 1000)
        if reply.untagged != 1:
            raise ImapError(f"BODY.PEEK[]: {reply.untagged} untagged responses, not 1")
        size += reply.size_bytes
    total_s = time.perf_counter() - started
    await cli.logout()
    return {
        "p50_ms": pct(samples_ms, 0.5), "p99_ms": pct(samples_ms, 0.99), "total_s": total_s,
        "mb_per_s": size / total_s / 1e6,
    }  # fmt: skip


def phase_bodies(t: Target, runs: int) -> Result:
    per = [asyncio.run(run_bodies(t, seed=run)) for run in range(runs)]
    line = (
        f"FETCH <random> BODY.PEEK[], {BODIES}x: p50 {spread([r['p50_ms'] for r in per], 3)} ms"
        f"  p99 {spread([r['p99_ms'] for r in per], 3)} ms  total "
        f"{spread([r['total_s'] for r in per], 3)} s  {spread([r['mb_per_s'] for r in per], 2)}"
        " MB/s"
    )
    return Result("bodies", line, {"runs": per})


STEPS = ("connect", "login", "select", "page", "body", "logout")


async def loop_clients(
    t: Target, clients: int, start_s: float, end_s: float, seed: int
) -> dict[str, Any]:
    """`clients` sessions looping from `start_s` to `end_s` (time.monotonic, the
    same clock in every process); a loop counts when it ended by `end_s`."""
    loops_ms: list[float] = []
    steps_ms: dict[str, list[float]] = {s: [] for s in STEPS}
    errors: dict[str, int] = {}

    async def client(k: int) -> None:
        rng = random.Random(seed * 1000 + k)
        await asyncio.sleep(max(0.0, start_s - time.monotonic()))
        while time.monotonic() < end_s:
            marks = [time.perf_counter()]
            try:
                cli = await Imap.connect(t.host, t.port)
                marks.append(time.perf_counter())
                try:
                    await cli.login(t.user, t.password)
                    marks.append(time.perf_counter())
                    exists = await cli.select(t.mailbox)
                    marks.append(time.perf_counter())
                    await cli.command(page_command(exists))
                    marks.append(time.perf_counter())
                    await cli.command(f"FETCH {rng.randint(1, exists)} BODY.PEEK[]")
                    marks.append(time.perf_counter())
                    await cli.command("LOGOUT")
                    marks.append(time.perf_counter())
                finally:
                    cli.close()
            except (OSError, ImapError, TimeoutError, ValueError) as exc:
                what = f"{type(exc).__name__}: {exc}"[:160]
                errors[what] = errors.get(what, 0) + 1
                await asyncio.sleep(0.05)  # a refusing server is not hammered
                continue
            if time.monotonic() <= end_s:
                loops_ms.append((marks[-1] - marks[0]) * 1000)
                for name, a, b in zip(STEPS, marks, marks[1:], strict=False):
                    steps_ms[name].append((b - a) * 1000)

    await asyncio.gather(*(client(k) for k in range(clients)))
    return {"loops_ms": loops_ms, "steps_ms": steps_ms, "errors": errors}


def _client_process(t: Target, clients: int, start_s: float, end_s: float, seed: int,
                    out: Pipe) -> None:  # fmt: skip
    result = asyncio.run(loop_clients(t, clients, start_s, end_s, seed))
    result["cpu_s"] = sum(os.times()[:2])
    out.send(result)
    out.close()


def run_concurrent(t: Target, clients: int, duration_s: float, seed: int) -> dict[str, Any]:
    procs = min(CLIENT_PROCS, clients)
    start_s = time.monotonic() + 0.5
    end_s = start_s + duration_s
    ctx = mp.get_context("fork")
    workers = []
    for k in range(procs):
        share = clients // procs + (k < clients % procs)
        receive, send = ctx.Pipe(duplex=False)
        proc = ctx.Process(target=_client_process, args=(t, share, start_s, end_s, seed * 10 + k,
                                                         send))  # fmt: skip
        proc.start()
        send.close()
        workers.append((proc, receive))
    time.sleep(max(0.0, start_s - time.monotonic()))
    busy0, total0 = cpu_times()
    time.sleep(max(0.0, end_s - time.monotonic()))
    busy1, total1 = cpu_times()
    results = []
    for proc, receive in workers:
        if receive.poll(COMMAND_TIMEOUT_S + CONNECT_TIMEOUT_S + 10):
            results.append(receive.recv())
        proc.join(10)
        if proc.is_alive():
            proc.kill()
    if len(results) != procs:
        raise ImapError("a client process gave no result")
    loops_ms = [x for r in results for x in r["loops_ms"]]
    errors: dict[str, int] = {}
    for r in results:
        for what, n in r["errors"].items():
            errors[what] = errors.get(what, 0) + n
    return {
        "loops_per_s": len(loops_ms) / duration_s,
        "loops": len(loops_ms),
        "p50_ms": pct(loops_ms, 0.5),
        "p99_ms": pct(loops_ms, 0.99),
        "step_p50_ms": {s: pct([x for r in results for x in r["steps_ms"][s]], 0.5) for s in STEPS},
        "errors": sum(errors.values()),
        "error_kinds": dict(sorted(errors.items(), key=lambda kv: -kv[1])[:5]),
        "cpu_busy_pct": 100.0 * (busy1 - busy0) / max(1, total1 - total0),
        "client_cpu_s": sum(r["cpu_s"] for r in results),
    }


def phase_concurrent(t: Target, runs: int, clients: int, duration_s: float) -> Result:
    per = [run_concurrent(t, clients, duration_s, seed=run) for run in range(runs)]
    steps = " / ".join(
        spread([statistics.median([r["step_p50_ms"][s] for r in per])]) for s in STEPS
    )
    errors = sum(r["errors"] for r in per)
    line = (
        f"{clients} clients x {duration_s:g} s, {min(CLIENT_PROCS, clients)} client processes:"
        f" {spread([r['loops_per_s'] for r in per], 1)} loops/s  loop p50"
        f" {spread([r['p50_ms'] for r in per], 1)} ms  p99 {spread([r['p99_ms'] for r in per], 1)}"
        f" ms  errors {errors}  CPU busy {spread([r['cpu_busy_pct'] for r in per], 0)} %"
        f"  client CPU {spread([r['client_cpu_s'] for r in per], 1)} s"
        f"\n{'':12}step p50 ms, {' / '.join(STEPS)}: {steps}"
    )
    if errors:
        kinds: dict[str, int] = {}
        for r in per:
            for what, n in r["error_kinds"].items():
                kinds[what] = kinds.get(what, 0) + n
        line += "".join(f"\n{'':12}{n}x {what}" for what, n in kinds.items())
    return Result("concurrent", line, {"clients": clients, "duration_s": duration_s,
                                       "runs": per})  # fmt: skip


async def run_idle(t: Target, count: int, pid: int) -> dict[str, Any]:
    before = usage(pid)
    opening = asyncio.Semaphore(IDLE_OPENING)
    errors: dict[str, int] = {}

    def failed(what: str, exc: Exception) -> None:
        text = f"{what}{type(exc).__name__}: {exc}"[:160]
        errors[text] = errors.get(text, 0) + 1

    open_by = asyncio.get_running_loop().time() + IDLE_OPEN_LIMIT_S

    async def open_one() -> tuple[Imap, bytes] | None:
        cli: Imap | None = None
        try:
            async with opening, asyncio.timeout_at(open_by):
                cli, _exists = await session(t)
                return cli, await cli.idle()
        except (OSError, ImapError, TimeoutError) as exc:
            if cli is not None:
                cli.close()
            failed("" if cli is None else "IDLE ", exc)
            return None

    started = time.perf_counter()
    opened = [c for c in await asyncio.gather(*(open_one() for _ in range(count))) if c]
    open_s = time.perf_counter() - started
    at_open = usage(pid)
    await asyncio.sleep(IDLE_HOLD_S)
    held = usage(pid)
    ended = 0
    close_by = asyncio.get_running_loop().time() + IDLE_CLOSE_LIMIT_S

    async def close_one(cli: Imap, tag: bytes) -> None:
        nonlocal ended
        try:
            async with opening, asyncio.timeout_at(close_by):
                await cli.done(tag)
                await cli.logout()
                ended += 1
        except (OSError, ImapError, TimeoutError) as exc:
            failed("DONE/LOGOUT ", exc)
        finally:
            cli.close()

    await asyncio.gather(*(close_one(cli, tag) for cli, tag in opened))
    await asyncio.sleep(1.0)
    after = usage(pid)
    rss_with = max(at_open.rss_kib, held.rss_kib)
    pss_with = max(at_open.pss_kib, held.pss_kib)
    n = max(1, len(opened))
    return {
        "asked": count, "opened": len(opened), "open_s": open_s, "ended_ok": ended,
        "errors": errors,
        "rss_before_kib": before.rss_kib, "rss_with_kib": rss_with, "rss_after_kib": after.rss_kib,
        "pss_before_kib": before.pss_kib, "pss_with_kib": pss_with,
        "procs_before": before.procs, "procs_with": max(at_open.procs, held.procs),
        "rss_per_conn_kib": (rss_with - before.rss_kib) / n,
        "pss_per_conn_kib": (pss_with - before.pss_kib) / n,
        "hold_cpu_pct": 100.0 * (held.cpu_s - at_open.cpu_s) / IDLE_HOLD_S,
    }  # fmt: skip


def phase_idle(t: Target, count: int) -> Result:
    if t.pid is None:
        return Result("idle", "skipped: needs --pid (the server's process for its RSS)")
    raise_fd_limit(count + 200)
    r = asyncio.run(run_idle(t, count, t.pid))
    mib = 1024.0
    line = (
        f"{r['opened']:,} of {count:,} connections in IDLE (opened in {r['open_s']:.1f} s,"
        f" held {IDLE_HOLD_S:g} s, {r['ended_ok']:,} ended with DONE/LOGOUT): server RSS"
        f" {r['rss_before_kib'] / mib:.1f} -> {r['rss_with_kib'] / mib:.1f} MiB"
        f" ({r['rss_per_conn_kib']:.0f} KiB/connection)"
        f"\n{'':12}PSS {r['pss_before_kib'] / mib:.1f} -> {r['pss_with_kib'] / mib:.1f} MiB"
        f" ({r['pss_per_conn_kib']:.0f} KiB/connection); processes {r['procs_before']} ->"
        f" {r['procs_with']}; server CPU while held {r['hold_cpu_pct']:.0f} % of a core;"
        f" RSS after: {r['rss_after_kib'] / mib:.1f} MiB"
    )
    line += "".join(f"\n{'':12}{n}x {what}" for what, n in r["errors"].items())
    return Result("idle", line, r)


def run_pop3(t: Target) -> dict[str, Any]:
    assert t.pop3_port is not None
    started = time.perf_counter()
    pop = poplib.POP3(t.host, t.pop3_port, timeout=COMMAND_TIMEOUT_S)
    pop.user(t.user)
    pop.pass_(t.password)
    login_ms = (time.perf_counter() - started) * 1000
    started = time.perf_counter()
    count, _size = pop.stat()
    stat_ms = (time.perf_counter() - started) * 1000
    samples_ms: list[float] = []
    size = 0
    started = time.perf_counter()
    for n in range(1, min(POP3_RETRS, count) + 1):
        one = time.perf_counter()
        _resp, _lines, octets = pop.retr(n)
        samples_ms.append((time.perf_counter() - one) * 1000)
        size += octets
    total_s = time.perf_counter() - started
    pop.quit()
    return {
        "login_ms": login_ms, "stat_ms": stat_ms, "messages": count, "retr": len(samples_ms),
        "retr_s": total_s, "msg_per_s": len(samples_ms) / total_s, "mb_per_s": size / total_s / 1e6,
        "p50_ms": pct(samples_ms, 0.5), "p99_ms": pct(samples_ms, 0.99),
    }  # fmt: skip


def phase_pop3(t: Target, runs: int) -> Result:
    if t.pop3_port is None:
        return Result("pop3", "skipped: no --pop3-port")
    per = [run_pop3(t) for _ in range(runs)]
    line = (
        f"login (connect, USER, PASS) {spread([r['login_ms'] for r in per], 1)} ms  STAT"
        f" {spread([r['stat_ms'] for r in per], 1)} ms ({per[-1]['messages']:,} messages)"
        f"\n{'':12}RETR 1..{per[-1]['retr']:,}: {spread([r['msg_per_s'] for r in per], 0)} msg/s"
        f"  {spread([r['mb_per_s'] for r in per], 1)} MB/s  p50"
        f" {spread([r['p50_ms'] for r in per], 3)} ms  p99 {spread([r['p99_ms'] for r in per], 3)}"
        " ms"
    )
    return Result("pop3", line, {"runs": per})


def raise_fd_limit(wanted: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < wanted:
        new = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))


def run_phases(t: Target, args: argparse.Namespace) -> None:
    table: dict[str, Callable[[], Result]] = {
        "select": lambda: phase_select(t, args.runs),
        "flags": lambda: phase_flags(t, args.runs),
        "page": lambda: phase_page(t, args.runs),
        "bodies": lambda: phase_bodies(t, args.runs),
        "concurrent": lambda: phase_concurrent(t, args.runs, args.clients, args.duration),
        "idle": lambda: phase_idle(t, args.idle),
        "pop3": lambda: phase_pop3(t, args.runs),
    }
    # This machine is shared: what else was running shows in how busy it was just before.
    busy0, total0 = cpu_times()
    time.sleep(1.0)
    busy1, total1 = cpu_times()
    busy_before_pct = round(100.0 * (busy1 - busy0) / max(1, total1 - total0), 1)
    print(f"# {args.label or 'imap_bench'}: IMAP {t.host}:{t.port} user {t.user} mailbox"
          f" {t.mailbox}, POP3 {t.pop3_port or '-'}, server pid {t.pid or '-'}, {args.runs} runs,"
          f" {os.cpu_count()} cores, machine {busy_before_pct} % busy before the start",
          flush=True)  # fmt: skip
    for name in PHASES:
        if name not in args.phases:
            continue
        started = time.perf_counter()
        try:
            result = table[name]()
        except (OSError, ImapError, TimeoutError, ValueError, poplib.error_proto) as exc:
            result = Result(name, f"FAILED: {type(exc).__name__}: {exc}", {"error": str(exc)})
        print(f"{name:11} {result.line}", flush=True)
        if args.json:
            record = {
                "label": args.label, "phase": name, "server": f"{t.host}:{t.port}",
                "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "elapsed_s": round(time.perf_counter() - started, 1),
                "busy_before_pct": busy_before_pct, **result.figures,
            }  # fmt: skip
            with open(args.json, "a") as f:
                f.write(json.dumps(record) + "\n")


# -- --serve: mailward on the cached mailbox -------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def serve_and_run(args: argparse.Namespace) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import imap_populate

    cached = imap_populate.filled(args.messages, args.refill)
    print(f"# mailbox: {cached} {(cached / imap_populate.MARKER).read_text().strip()}")
    imap_populate.CACHE_ROOT.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="run-", dir=imap_populate.CACHE_ROOT))
    try:
        data = imap_populate.run_copy(cached, work)
        imap_port, pop3_port = free_port(), free_port()
        cmd = [sys.executable, "-m", "mailward", "--data", str(data), "serve", "--web", "off",
               "--smtp", "off", "--submission", "off", "--imap", f"127.0.0.1:{imap_port}",
               "--pop3", f"127.0.0.1:{pop3_port}", "--workers", str(args.workers)]  # fmt: skip
        env = {**os.environ, "MAILWARD_PLAINTEXT_LOGIN": "1"}
        server = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
        output = ServerOutput(server, imap_populate.CACHE_ROOT / "serve-last.log")
        try:
            output.wait_ready()
            target = Target(
                "127.0.0.1", imap_port, args.user or imap_populate.USER,
                args.password or imap_populate.PASSWORD, args.mailbox, pop3_port, server.pid,
            )  # fmt: skip
            if not args.label:
                args.label = f"mailward serve --workers {args.workers}"
            run_phases(target, args)
        finally:
            server.send_signal(signal.SIGTERM)
            try:
                server.wait(60)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
            print(output.summary(), flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)


_EXCEPTION_LINE = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception|Exit|Interrupt)\b.*")
SHOWN_EXCEPTIONS = 10  # distinct exception lines echoed as they come


class ServerOutput:
    """The server's output, read in a thread: every line goes to `log_path`; the
    last line of each traceback is counted and echoed the first time it is seen."""

    def __init__(self, server: subprocess.Popen[bytes], log_path: Path) -> None:
        self.log_path = log_path
        self.ready = threading.Event()
        self.head: list[str] = []  # until "ready"
        self.exceptions: dict[str, int] = {}
        self._server = server
        threading.Thread(target=self._drain, daemon=True).start()

    def _drain(self) -> None:
        assert self._server.stdout is not None
        with open(self.log_path, "w") as log:
            for raw in self._server.stdout:
                text = raw.decode(errors="replace").rstrip()
                log.write(text + "\n")
                if not self.ready.is_set():
                    self.head.append(text)
                    if text.startswith("ready"):
                        log.flush()
                        self.ready.set()
                elif _EXCEPTION_LINE.match(text):
                    seen = self.exceptions.get(text, 0)
                    self.exceptions[text] = seen + 1
                    if not seen and len(self.exceptions) <= SHOWN_EXCEPTIONS:
                        print(f"  server: {text}", file=sys.stderr, flush=True)

    def wait_ready(self, timeout_s: float = 120.0) -> None:
        deadline = time.monotonic() + timeout_s
        while not self.ready.wait(0.2):
            if self._server.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("server did not get ready:\n" + "\n".join(self.head[-30:]))

    def summary(self) -> str:
        count = sum(self.exceptions.values())
        return (
            f"# server output: {self.log_path}; {count} tracebacks"
            f" ({len(self.exceptions)} distinct)"
        )


# -- arguments -------------------------------------------------------------------------


def loopback(host: str) -> bool:
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except socket.gaierror:
        return False
    return bool(infos) and all(ipaddress.ip_address(i[4][0]).is_loopback for i in infos)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, help="IMAP port (without --serve)")
    ap.add_argument("--user", help="login name (--serve: the cached account's)")
    ap.add_argument("--password")
    ap.add_argument("--pop3-port", type=int)
    ap.add_argument("--mailbox", default="INBOX")
    ap.add_argument("--phases", default=",".join(PHASES), help=f"of {','.join(PHASES)}")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--clients", type=int, default=20)
    ap.add_argument("--duration", type=float, default=30.0, help="seconds per concurrent run")
    ap.add_argument("--idle", type=int, default=1000, help="connections held in IDLE")
    ap.add_argument("--pid", type=int, help="the server's process (RSS of it and its children)")
    ap.add_argument("--json", help="append one JSON line per phase to this file")
    ap.add_argument("--label", default="")
    ap.add_argument("--serve", action="store_true", help="start mailward on a cached mailbox")
    ap.add_argument("--messages", type=int, default=100_000, help="--serve: INBOX size")
    ap.add_argument("--workers", type=int, default=1, help="--serve: serve --workers")
    ap.add_argument("--refill", action="store_true", help="--serve: fill the mailbox again")
    args = ap.parse_args(argv)
    args.phases = [p.strip() for p in args.phases.split(",") if p.strip()]
    unknown = set(args.phases) - set(PHASES)
    if unknown:
        ap.error(f"unknown phases {sorted(unknown)}; known: {','.join(PHASES)}")
    if not loopback(args.host):
        ap.error(f"refusing {args.host!r}: only loopback targets")
    if args.serve == (args.port is not None):
        ap.error("give either --port (a running server) or --serve")
    if not args.serve and (args.user is None or args.password is None):
        ap.error("--user and --password are needed with --port")
    if not 0 < args.duration <= MAX_DURATION_S:
        ap.error(f"--duration: up to {MAX_DURATION_S} s")
    if not 1 <= args.clients <= MAX_CLIENTS:
        ap.error(f"--clients: 1 to {MAX_CLIENTS}")
    if not 1 <= args.idle <= MAX_IDLE:
        ap.error(f"--idle: 1 to {MAX_IDLE}")
    if not 1 <= args.runs <= MAX_RUNS:
        ap.error(f"--runs: 1 to {MAX_RUNS}")
    if not 1 <= args.workers <= 8:
        ap.error("--workers: 1 to 8")
    return args


def _interrupt(*_: object) -> None:
    raise KeyboardInterrupt


def main() -> None:
    args = parse_args()
    if args.serve:
        # SIGTERM unwinds like Ctrl-C, so the server is stopped and the copy removed.
        signal.signal(signal.SIGTERM, _interrupt)
        serve_and_run(args)
        return
    target = Target(args.host, args.port, args.user, args.password, args.mailbox,
                    args.pop3_port, args.pid)  # fmt: skip
    run_phases(target, args)


if __name__ == "__main__":
    main()
