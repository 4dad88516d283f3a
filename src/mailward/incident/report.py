"""The exposure report of a window of the audit log: who saw or changed whose mail.

Read from the log alone (no mail is opened): every record in the window whose
actor is not the item's owner — the owner's own reads and the service's own work
(deliveries, the outbound queue) are not exposures. The chain is verified over the
window first; a broken chain is reported, never skipped.

- exposures (list, read, download; outcome allowed), per owner account, one entry
  per item and actor: the parts seen (list entry, headers, body, raw, attachment:N,
  login data), when first, by which session, protocol and address, and whether
  the item was still unread by its owner at that moment;
- changes by others (flag, move, copy, delete, expunge, restore, append), each
  with whether `restore` can undo it;
- refused attempts (what the door or the guard stopped), apart;
- totals by category and by actor, and a per-minute timeline.
"""

from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from mailward.audit import StoredRecord, verify_window
from mailward.audit.fastcheck import PARALLEL_FROM, start_checks
from mailward.audit.query import first_pos_at
from mailward.audit.record import SELECT_COLUMNS, MalformedRecord, from_row
from mailward.audit.verify import head_covers
from mailward.db import Database

EXPOSING = frozenset({"list", "read", "download"})
CHANGING = frozenset({"flag", "move", "copy", "delete", "expunge", "restore", "append"})
SERVICE_WORK = frozenset({"deliver", "relay", "queue"})
BODY_PARTS = frozenset({"body", "raw"})
_CHUNK = 20_000
MINUTE_US = 60_000_000
CHECK_WORKERS = 2


def category_of(parts: set[str]) -> str:
    """The worst a set of parts exposed: attachments > bodies > subjects only."""
    if any(p.startswith("attachment:") for p in parts):
        return "attachments"
    if parts & BODY_PARTS:
        return "bodies"
    return "subjects only"


@dataclass(slots=True)
class Exposure:
    message_id: str  # "" for account data (e.g. login history)
    mailbox: str
    parts: set[str]
    actor_id: str
    actor: str
    session: str
    protocol: str
    remote: str
    at_us: int
    unread_at_exposure: bool | None
    accesses: int = 1
    delegated: bool = False


@dataclass(frozen=True, slots=True)
class Change:
    message_id: str
    mailbox: str
    action: str
    actor_id: str
    actor: str
    protocol: str
    at_us: int
    detail: str
    restorable: bool


@dataclass(frozen=True, slots=True)
class Refusal:
    owner_id: str
    owner: str
    actor_id: str
    actor: str
    protocol: str
    remote: str
    at_us: int
    part: str
    action: str
    items: tuple[str, ...]
    detail: str


@dataclass(slots=True)
class AccountReport:
    account_id: str
    address: str
    exposures: dict[tuple[str, str], Exposure] = field(default_factory=dict)
    changes: list[Change] = field(default_factory=list)

    @property
    def category(self) -> str:
        parts: set[str] = set()
        for e in self.exposures.values():
            parts |= e.parts
        return category_of(parts) if parts else "changed only"


@dataclass(slots=True)
class Report:
    since_us: int
    until_us: int
    first_pos: int
    end_pos: int
    chain_verified: bool
    chain_problem: str
    incident: int | None = None
    accounts: dict[str, AccountReport] = field(default_factory=dict)
    refused: list[Refusal] = field(default_factory=list)
    records_in_window: int = 0

    def totals(self) -> dict[str, int]:
        t = {"subjects only": 0, "bodies": 0, "attachments": 0, "changed": 0, "deleted": 0}
        for a in self.accounts.values():
            if a.exposures:
                t[a.category] += 1
            t["changed"] += sum(1 for c in a.changes if c.action not in ("delete", "expunge"))
            t["deleted"] += sum(1 for c in a.changes if c.action in ("delete", "expunge"))
        t["affected accounts"] = len(self.accounts)
        t["exposed items"] = sum(
            1 for a in self.accounts.values() for (m, _), _e in a.exposures.items() if m
        )
        t["refused attempts"] = len(self.refused)
        return t

    def by_actor(self) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = defaultdict(lambda: {"accounts": 0, "items": 0})
        for a in self.accounts.values():
            actors = {e.actor for e in a.exposures.values()} | {c.actor for c in a.changes}
            for actor in actors:
                out[actor]["accounts"] += 1
            for e in a.exposures.values():
                out[e.actor]["items"] += 1 if e.message_id else 0
        return dict(out)

    def timeline(self) -> list[tuple[int, int, int]]:
        """Per minute from the first exposure: (minute start µs, items exposed in it,
        accounts affected so far)."""
        first_seen: dict[str, int] = {}
        per_minute: dict[int, int] = defaultdict(int)
        for a in self.accounts.values():
            for e in a.exposures.values():
                minute = e.at_us - e.at_us % MINUTE_US
                per_minute[minute] += 1
                first_seen[a.account_id] = min(first_seen.get(a.account_id, e.at_us), e.at_us)
        if not per_minute:
            return []
        start, end = min(per_minute), max(per_minute)
        firsts = sorted(first_seen.values())
        out, i = [], 0
        for minute in range(start, end + MINUTE_US, MINUTE_US):
            while i < len(firsts) and firsts[i] < minute + MINUTE_US:
                i += 1
            out.append((minute, per_minute.get(minute, 0), i))
        return out


def _window_records(db: Database, start: int, end: int) -> Iterator[StoredRecord]:
    """The records of others' doings (the `others_owner` column is set) in the
    window; the owner's own and the deliveries are skipped by SQLite."""
    conn, after = db.read(), start - 1
    while True:
        rows = conn.execute(
            f"SELECT {SELECT_COLUMNS} FROM audit_log WHERE pos > ? AND pos < ?"
            " AND others_owner IS NOT NULL ORDER BY pos LIMIT ?",
            (after, end, _CHUNK),
        ).fetchall()
        if not rows:
            return
        for row in rows:
            try:
                yield from_row(row)
            except MalformedRecord:
                continue  # the chain check has named it; the report says the chain broke
        after = int(rows[-1][0])


def build_report(
    db: Database,
    head_path: Path,
    head_key: bytes,
    since_us: int,
    until_us: int,
    addresses: dict[str, str],
    restorable: Callable[[str, str, str], bool],
    progress: Callable[[str, int, int], None] = lambda step, done, total: None,
) -> Report:
    """The report over [since_us, until_us). `addresses`: account id -> address;
    `restorable(owner, item, action)`: can that change be undone now?"""
    start, end = first_pos_at(db, since_us), first_pos_at(db, until_us)
    checks = None
    if end - start >= PARALLEL_FROM:  # other processes check the chain meanwhile
        progress("verifying the chain (2 processes)", 0, 1)
        checks = start_checks(db.path, max(1, start - 1), end, CHECK_WORKERS)
        problem = None
    else:
        problem = verify_window(
            db, head_path, head_key, start, end, lambda d, t: progress("verifying the chain", d, t)
        )
    report = Report(since_us, until_us, start, end, True, "")
    report.records_in_window = max(0, end - start)

    def name(account: str) -> str:
        if not account:
            return "signed out"
        return addresses.get(account, account)

    done = 0
    for r in _window_records(db, start, end):
        done += 1
        if done % 10_000 == 0:
            progress("reading the window", r.pos - start, end - start)
        if r.action in SERVICE_WORK or r.actor_account == r.owner_account:
            continue
        if r.action == "restore" and r.actor_account == "system":
            continue  # an incident restore putting things back: not a change to report
        if r.outcome != "allowed":
            refusal = Refusal(
                r.owner_account, name(r.owner_account), r.actor_account, name(r.actor_account),
                r.protocol, r.remote, r.at_us, r.part, r.action, r.items, r.detail,
            )  # fmt: skip
            report.refused.append(refusal)
            continue
        owner = report.accounts.get(r.owner_account)
        if owner is None:
            owner = AccountReport(r.owner_account, name(r.owner_account))
            report.accounts[r.owner_account] = owner
        if r.action in EXPOSING:
            _expose(owner, r, name(r.actor_account))
        elif r.action in CHANGING:
            for item in r.items:
                change = Change(
                    item, r.mailbox, r.action, r.actor_account, name(r.actor_account),
                    r.protocol, r.at_us, r.detail, restorable(r.owner_account, item, r.action),
                )  # fmt: skip
                owner.changes.append(change)
    progress("reading the window", end - start, end - start)
    if checks is not None:
        broken = [b for b in (f.result() for f in checks) if b is not None]
        problem = (
            verify_window(db, head_path, head_key, min(broken), end)  # name the first break
            if broken
            else head_covers(head_path, head_key, end)
        )
        progress("verifying the chain (2 processes)", 1, 1)
    if problem is not None:
        report.chain_verified, report.chain_problem = False, problem.message
    return report


def _expose(owner: AccountReport, r: StoredRecord, actor: str) -> None:
    delegated = "read to" in r.detail or r.detail.startswith("grant ")
    for index, item in enumerate(r.items or ("",)):
        key = (item, r.actor_account)
        seen = owner.exposures.get(key)
        if seen is None:
            owner.exposures[key] = Exposure(
                item, r.mailbox, {r.part}, r.actor_account, actor, r.actor_session, r.protocol,
                r.remote, r.at_us, r.unread_of(index) if item else None, 1, delegated,
            )  # fmt: skip
        else:
            seen.parts.add(r.part)
            seen.accesses += 1
