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
from typing import NamedTuple

from mailward.audit import verify_window
from mailward.audit.fastcheck import PARALLEL_FROM, Checks, check_slice
from mailward.audit.query import first_pos_at
from mailward.audit.verify import head_covers
from mailward.db import Database

EXPOSING = frozenset({"list", "read", "download"})
CHANGING = frozenset({"flag", "move", "copy", "delete", "expunge", "restore", "append"})
SERVICE_WORK = frozenset({"deliver", "relay", "queue"})
BODY_PARTS = frozenset({"body", "raw"})
_CHUNK = 20_000
_FIELDS = 15
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


class Event(NamedTuple):
    """One record of someone else reaching the account's mail: every item it named
    (kept as the record's text; split when the items are counted or written)."""

    actor_id: str
    actor: str
    session: str
    protocol: str
    remote: str
    at_us: int
    part: str
    items_text: str
    unread: str  # per item, "1" unread before this access
    mailbox: str
    delegated: bool

    @property
    def items(self) -> tuple[str, ...]:
        return tuple(self.items_text.split()) if self.items_text else ()


@dataclass(slots=True)
class AccountReport:
    """Kept as the records say (one event per record: cheap to build however many
    items a listing named); `exposures` folds them per item and actor on demand."""

    account_id: str
    address: str
    events: list[Event] = field(default_factory=list)
    changes: list[Change] = field(default_factory=list)
    _exposures: dict[tuple[str, str], Exposure] | None = None

    @property
    def exposures(self) -> dict[tuple[str, str], Exposure]:
        if self._exposures is None:
            out: dict[tuple[str, str], Exposure] = {}
            for e in self.events:
                for index, item in enumerate(e.items or ("",)):
                    key = (item, e.actor_id)
                    seen = out.get(key)
                    if seen is None:
                        unread = _unread(e.unread, index) if item else None
                        out[key] = Exposure(
                            item, e.mailbox, {e.part}, e.actor_id, e.actor, e.session,
                            e.protocol, e.remote, e.at_us, unread, 1, e.delegated,
                        )  # fmt: skip
                    else:
                        seen.parts.add(e.part)
                        seen.accesses += 1
            self._exposures = out
        return self._exposures

    def parts(self) -> set[str]:
        return {e.part for e in self.events}

    def exposed_items(self) -> int:
        """Distinct (item, actor) pairs: messages someone else reached."""
        pairs: set[tuple[str, str]] = set()
        for e in self.events:
            pairs.update(zip(e.items, [e.actor_id] * len(e.items), strict=True))
        return len(pairs)

    @property
    def category(self) -> str:
        parts = self.parts()
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
    # (owner, message) -> {attachment number: file name}, once looked up
    attachment_names: dict[tuple[str, str], dict[int, str]] = field(default_factory=dict)

    def attachment_label(self, owner: str, item: str, part: str) -> str:
        """ "attachment:2 (contract.pdf)" when the name is known, else the part."""
        if not part.startswith("attachment:"):
            return part
        name = self.attachment_names.get((owner, item), {}).get(int(part.split(":")[1]))
        return f"{part} ({name})" if name else part

    def attachments_exposed(self) -> dict[str, list[str]]:
        """owner -> the messages whose attachments someone else downloaded."""
        out: dict[str, list[str]] = {}
        for a in self.accounts.values():
            items = {i for e in a.events if e.part.startswith("attachment:") for i in e.items}
            if items:
                out[a.account_id] = sorted(items)
        return out

    def totals(self) -> dict[str, int]:
        t = {"subjects only": 0, "bodies": 0, "attachments": 0, "changed": 0, "deleted": 0}
        for a in self.accounts.values():
            if a.events:
                t[a.category] += 1
            t["changed"] += sum(1 for c in a.changes if c.action not in ("delete", "expunge"))
            t["deleted"] += sum(1 for c in a.changes if c.action in ("delete", "expunge"))
        t["affected accounts"] = len(self.accounts)
        t["exposed items"] = sum(a.exposed_items() for a in self.accounts.values())
        t["refused attempts"] = len(self.refused)
        return t

    def by_actor(self) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = defaultdict(lambda: {"accounts": 0, "items": 0})
        for a in self.accounts.values():
            items: dict[str, set[str]] = defaultdict(set)
            for e in a.events:
                items[e.actor].update(e.items)
            for c in a.changes:
                items.setdefault(c.actor, set())
            for actor, seen in items.items():
                out[actor]["accounts"] += 1
                out[actor]["items"] += len(seen)
        return dict(out)

    def timeline(self) -> list[tuple[int, int, int]]:
        """Per minute from the first exposure: (minute start µs, items first reached
        in it (per actor), accounts affected so far)."""
        first_seen: dict[str, int] = {}
        per_minute: dict[int, int] = defaultdict(int)
        for a in self.accounts.values():
            seen: dict[str, set[str]] = defaultdict(set)  # actor -> items reached so far
            for e in a.events:  # in log order, which is time order
                minute = e.at_us - e.at_us % MINUTE_US
                new = set(e.items) - seen[e.actor_id] if e.items else {""}
                seen[e.actor_id].update(e.items)
                per_minute[minute] += len(new)
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


def _unread(flags: str, index: int) -> bool | None:
    return flags[index] == "1" if index < len(flags) else None


def _others_rows(db: Database, start: int, end: int) -> Iterator[list[str]]:
    """The fields of each record of others' doings in the window (the `others_owner`
    copy is set: the owners' own and the deliveries are skipped by SQLite; the
    chain check holds the copy to its record). Parsed straight from the body: a
    malformed one is skipped here and named by the chain check."""
    conn, after = db.read(), start - 1
    while True:
        rows = conn.execute(
            "SELECT pos, CAST(body AS BLOB) FROM audit_log WHERE pos > ? AND pos < ?"
            " AND others_owner IS NOT NULL ORDER BY pos LIMIT ?",
            (after, end, _CHUNK),
        ).fetchall()
        if not rows:
            return
        for _pos, body in rows:
            try:
                fields = body[:-33].decode("utf-8").split("\x00")
            except UnicodeDecodeError:
                continue
            if len(fields) == _FIELDS:
                yield fields
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
    broken: list[int] = []
    if end - start >= PARALLEL_FROM:  # other processes check the chain meanwhile
        progress("verifying the chain (2 processes)", 0, 1)
        checks = Checks(db.path, max(1, start - 1), end, CHECK_WORKERS, slices=12)
    else:
        first = check_slice(str(db.path), max(1, start - 1), end)
        broken = [] if first is None else [first]
    report = Report(since_us, until_us, start, end, True, "")
    report.records_in_window = max(0, end - start)

    names: dict[str, str] = {"": "signed out"}

    def name(account: str) -> str:
        known = names.get(account)
        if known is None:
            known = names[account] = addresses.get(account, account)
        return known

    for n, f in enumerate(_others_rows(db, start, end)):
        if n % 50_000 == 0:
            progress("reading the window", n, n + 1)
        (_v, _seq, at, actor_id, session, protocol, remote, owner_id, mailbox, items_text,
         unread, part, action, outcome, detail) = f  # fmt: skip
        if action in SERVICE_WORK or actor_id == owner_id:
            continue
        if actor_id == "system" and detail.startswith("incident "):
            continue  # the incident tools' own work (restores, naming attachments)
        at_us = int(at)
        if outcome != "allowed":
            items = tuple(items_text.split()) if items_text else ()
            refusal = Refusal(
                owner_id, name(owner_id), actor_id, name(actor_id), protocol, remote, at_us,
                part, action, items, detail,
            )  # fmt: skip
            report.refused.append(refusal)
            continue
        owner = report.accounts.get(owner_id)
        if owner is None:
            owner = AccountReport(owner_id, name(owner_id))
            report.accounts[owner_id] = owner
        if action in EXPOSING:
            delegated = "read to" in detail or detail.startswith("grant ")
            event = Event(
                actor_id, name(actor_id), session, protocol, remote, at_us, part, items_text,
                unread, mailbox, delegated,
            )  # fmt: skip
            owner.events.append(event)
            owner._exposures = None
        elif action in CHANGING:
            for item in items_text.split():
                change = Change(
                    item, mailbox, action, actor_id, name(actor_id), protocol, at_us, detail,
                    restorable(owner_id, item, action),
                )  # fmt: skip
                owner.changes.append(change)
    progress("reading the window", end - start, end - start)
    if checks is not None:
        try:
            first = checks.result()
            broken = [] if first is None else [first]
        except Exception:  # noqa: BLE001 - a worker that died: walk the window here instead
            broken = [start]
        progress("verifying the chain (2 processes)", 1, 1)
    problem = (
        verify_window(db, head_path, head_key, min(broken), end)  # names the first break
        if broken
        else head_covers(head_path, head_key, end)
    )
    if problem is not None:
        report.chain_verified, report.chain_problem = False, problem.message
    return report
