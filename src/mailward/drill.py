"""`mailward drill FAULT`: replay a known fault class against the real service.

1. A throw-away data directory with synthetic accounts; every message carries a
   marker unique to its account and item (`MARK-u<k>-<n>-<run>`), and each
   client's device name carries its account's marker too (login data).
2. The real service (`mailward serve --inject-fault FAULT [--no-guard]`) on a free
   loopback port, with the faulty feature's flag at 0 %.
3. Concurrent clients sign in through the real web front-end and browse; then the
   faulty variant is rolled out (its flag to 100 %) and they go on.
4. Each client checks every response it receives for other accounts' markers,
   independently of the guard: what reached it is the leak.
5. Afterwards: the guard's events, the fault's own log of every crossing it
   attempted (the ground truth), and the flag's final rollout.
"""

import http.client
import json
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from email.message import EmailMessage
from pathlib import Path
from urllib.parse import urlencode

from mailward.config import Settings
from mailward.core.faults import FAULT_FLAGS
from mailward.runtime import Runtime

DOMAIN = "drill.test"
PASSWORD = "drill-password-1"  # noqa: S105 - throw-away accounts on loopback
_MARK = re.compile(rb"MARK-u(\d+)-([\w]+)-([0-9a-f]{8})")
_LINK = re.compile(rb'href="/mail/INBOX/([^"/?]+)"')


@dataclass
class DrillResult:
    fault: str
    guard: bool
    requests: int = 0
    crossings_attempted: int = 0
    leaked_items: int = 0
    leaked_bytes: int = 0
    detect_ms: float | None = None
    contain_ms: float | None = None
    crossings_after_containment: int = 0
    trips: int = 0
    flag: str = ""
    flag_final_percent: float = 0.0
    killswitch: list[str] = field(default_factory=list)
    report_precision: float | None = None
    report_recall: float | None = None

    def as_json(self) -> str:
        return json.dumps(asdict(self), indent=2)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _message(k: int, n: int, run: str) -> bytes:
    m = EmailMessage()
    m["From"] = f"Bank <statements@bank{k}.test>"
    m["To"] = f"u{k}@{DOMAIN}"
    m["Subject"] = f"Statement MARK-u{k}-{n}-{run}"
    m.set_content(f"Account statement, private to u{k}.\nMARK-u{k}-b{n}-{run}\n")
    return m.as_bytes()


def seed(
    data: Path, users: int, messages: int, run: str, fault: str | None
) -> dict[str, tuple[int, int]]:
    """The marked accounts; returns message id -> (account k, message n)."""
    rt = Runtime.open(Settings(data=data, fast_hashing=True))
    ids: dict[str, tuple[int, int]] = {}
    try:
        rt.directory.add_domain(DOMAIN)
        system = rt.system()
        for k in range(users):
            address = f"u{k}@{DOMAIN}"
            rt.directory.add_user(address, PASSWORD)
            for n in range(messages):
                ids[system.deliver([address], _message(k, n, run))[address]] = (k, n)
        if fault is not None:
            flag = FAULT_FLAGS[fault]
            rt.switches.set_flag(flag, 0.0, "drill", "the faulty variant starts switched off")
    finally:
        rt.close()
    return ids


class Client:
    """One signed-in browser, on its own keep-alive connection."""

    def __init__(self, port: int, k: int, run: str) -> None:
        self.port, self.k, self.run = port, k, run
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        self.cookies: dict[str, str] = {}
        self.agent = f"drill-client MARK-u{k}-ua-{run}"
        self.ids: list[str] = []
        self.requests = 0
        self.leaked: set[tuple[int, int, int | str]] = set()
        self.leaked_bytes = 0

    def _send(self, method: str, path: str, body: str | None = None) -> tuple[int, bytes]:
        headers = {"User-Agent": self.agent, "Connection": "keep-alive"}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        if body is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        try:
            self.conn.request(method, path, body=body, headers=headers)
            resp = self.conn.getresponse()
            data = resp.read()
        except (OSError, http.client.HTTPException):
            self.conn.close()
            self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
            return 0, b""
        for value in resp.headers.get_all("set-cookie") or []:
            name, _, rest = value.partition("=")
            self.cookies[name.strip()] = rest.split(";", 1)[0]
        self.requests += 1
        self._check(data)
        return resp.status, data

    def _check(self, data: bytes) -> None:
        """Independently of the guard: did another account's marker arrive? Kept as
        (receiver, owner, item): item is the message number (its subject or its
        body's marker) or "ua" (the owner's device name: login data)."""
        foreign = {
            (self.k, int(u), _item(n.decode()))
            for u, n, _run in _MARK.findall(data)
            if int(u) != self.k
        }
        if foreign:
            self.leaked |= foreign
            self.leaked_bytes += len(data)

    def close(self) -> None:
        self.conn.close()

    def get(self, path: str) -> tuple[int, bytes]:
        return self._send("GET", path)

    def login(self) -> None:
        _, page = self._send("GET", "/login")
        csrf = re.search(rb'name="csrf" value="([^"]+)"', page)
        form = {"address": f"u{self.k}@{DOMAIN}", "password": PASSWORD}
        form["csrf"] = csrf.group(1).decode() if csrf else ""
        self._send("POST", "/login", urlencode(form))

    def browse(self) -> None:
        status, page = self._send("GET", "/mail/INBOX?welcome=1")
        if status == 200 and not self.ids:
            self.ids = [i.decode() for i in _LINK.findall(page)]
        if self.ids:
            self._send("GET", f"/mail/INBOX/{secrets.choice(self.ids)}")


def _number(address: str) -> int | None:
    """k of a drill account u<k>@drill.test; None for anyone else."""
    local, _, domain = address.partition("@")
    return int(local[1:]) if domain == DOMAIN and local[1:].isdigit() else None


def _item(marker: str) -> int | str:
    if marker == "ua":
        return "ua"
    return int(marker.removeprefix("b"))


def wait_ready(port: int, proc: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("the service exited while starting")
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
        try:
            c.request("GET", "/healthz")
            if c.getresponse().status == 200:
                return
        except OSError:
            pass
        finally:
            c.close()
        time.sleep(0.05)
    raise RuntimeError("the service did not start in time")


def run_drill(
    fault: str,
    *,
    guard: bool = True,
    users: int = 6,
    messages: int = 4,
    seconds: float = 3.0,
    step: Callable[[str], None] = lambda text: None,
) -> DrillResult:
    """Run one drill; returns its figures. Everything stays on loopback."""
    if fault not in FAULT_FLAGS:
        raise ValueError(f"unknown fault {fault!r}")
    run = secrets.token_hex(4)
    data = Path(tempfile.mkdtemp(prefix="mailward-drill-"))
    result = DrillResult(fault, guard, flag=FAULT_FLAGS[fault])
    try:
        step(f"seeding {users} accounts with {messages} marked messages each")
        ids = seed(data, users, messages, run, fault)
        port = free_port()
        cmd = [
            sys.executable, "-m", "mailward", "--data", str(data), "serve",
            "--web", f"127.0.0.1:{port}", "--smtp", "off", "--submission", "off",
            "--imap", "off", "--pop3", "off",
            "--inject-fault", fault,
        ]  # fmt: skip
        if not guard:
            cmd.append("--no-guard")
        step("starting the service")
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # noqa: S603
        try:
            wait_ready(port, proc)
            clients = [Client(port, k, run) for k in range(users)]
            step("clients sign in and browse (the faulty variant is off)")
            for c in clients:
                c.login()
                c.browse()
            step(f"rolling out the faulty variant ({result.flag} to 100 %), browsing {seconds:g} s")
            rt_switches = Runtime.open(Settings(data=data, fast_hashing=True))
            rolled_out_us = time.time_ns() // 1000
            try:
                rt_switches.switches.set_flag(result.flag, 100.0, "drill", "faulty variant out")
            finally:
                rt_switches.close()
            stop = time.monotonic() + seconds

            def work(c: Client) -> None:
                while time.monotonic() < stop:
                    c.browse()
                    if secrets.randbelow(8) == 0:
                        c.login()

            threads = [threading.Thread(target=work, args=(c,)) for c in clients]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            for c in clients:
                c.close()
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        step("reading what happened")
        result.requests = sum(c.requests for c in clients)
        truth: set[tuple[int, int, int | str]] = set().union(*(c.leaked for c in clients))
        result.leaked_items = len(truth)
        result.leaked_bytes = sum(c.leaked_bytes for c in clients)
        _outcome(data, result)
        step("the exposure report against what the clients saw")
        _precision_recall(data, result, truth, ids, rolled_out_us)
        return result
    finally:
        shutil.rmtree(data, ignore_errors=True)


def _precision_recall(
    data: Path,
    result: DrillResult,
    truth: set[tuple[int, int, int | str]],
    ids: dict[str, tuple[int, int]],
    since_us: int,
) -> None:
    """Compare the incident report over the drill's window with what reached the
    clients, item by item: (receiver, owner, message) or (…, "ua") for login data."""
    rt = Runtime.open(Settings(data=data, fast_hashing=True))
    try:
        report = rt.incident_report(since_us, time.time_ns() // 1000 + 1)
    finally:
        rt.close()
    reported: set[tuple[int, int, int | str]] = set()
    for account in report.accounts.values():
        owner = _number(account.address)
        for e in account.exposures.values():
            receiver = _number(e.actor)
            if owner is None or receiver is None:
                continue
            if e.message_id in ids:
                reported.add((receiver, owner, ids[e.message_id][1]))
            elif not e.message_id and "logins" in e.parts:
                reported.add((receiver, owner, "ua"))
    hits = len(truth & reported)
    result.report_precision = round(hits / len(reported), 3) if reported else 1.0
    result.report_recall = round(hits / len(truth), 3) if truth else 1.0


def _outcome(data: Path, result: DrillResult) -> None:
    rt = Runtime.open(Settings(data=data, fast_hashing=True))
    try:
        crossings = rt.crossings.read()
        events = sorted(rt.guard.events(10_000), key=lambda e: e.id)
        result.crossings_attempted = len(crossings)
        trips = [e for e in events if e.kind == "trip"]
        result.trips = len(trips)
        result.flag_final_percent = rt.switches.flag(result.flag).percent
        result.killswitch = sorted(rt.switches.killswitch())
        if crossings and trips:
            first = min(c["at_us"] for c in crossings)
            result.detect_ms = (trips[0].at_us - first) / 1000
            contained = [e for e in events if e.incident == trips[0].id]
            if contained:
                done = contained[0].at_us
                result.contain_ms = (done - first) / 1000
                result.crossings_after_containment = sum(1 for c in crossings if c["at_us"] > done)
    finally:
        rt.close()
