"""The response-boundary guard: a response may carry only its principal's data.

`Guard.check` compares a response's stamp with the principal of the request it is
about to answer (and the grants that principal holds). A response carrying any
other account's data is a *trip*:

1. it is refused (replaced by an error; nothing of it is sent) — unless the guard
   runs with `refuse=False` (`serve --no-guard`, for drills), which stops refusing
   but never stops recording;
2. an audit record per foreign owner and part names what was stopped (refused) or
   what left (allowed, with --no-guard), to which principal; and a `trip` row in
   `guard_events` is the incident;
3. containment: the flag the trip is attributed to is rolled back to 0 %; a trip
   no flag explains engages the kill switch of the protocol (fail closed). Both
   are rows in `guard_events` naming the trip.

Attribution: a response holding some of the principal's own data was made for
the principal, so the foreign entries came from inside it: the flags of the code
paths that produced them (`part@flag`). A response holding none of the
principal's data was made for someone else and reached the wrong request on its
way out: the flagged layers it went through (`Stamp.flags`).
"""

import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass

from mailward.audit import AuditLog, AuditRecord
from mailward.core.access_event import Action, Outcome
from mailward.core.principal import Principal, Protocol
from mailward.db import Database, apply_migrations, load_migrations
from mailward.guard.stamp import Stamp
from mailward.guard.switches import Switches

PROTOCOL_SCOPE = {
    Protocol.WEB: "web",
    Protocol.API: "api",
    Protocol.IMAP: "imap",
    Protocol.POP3: "pop3",
    Protocol.SMTP: "smtp-in",
    Protocol.SUBMISSION: "submission",
}


@dataclass(frozen=True, slots=True)
class Verdict:
    send: bool  # False: replace the response, send nothing of it
    incident: int | None = None  # the trip's id in guard_events


@dataclass(frozen=True, slots=True)
class _Trip:
    """Who a tripped response was for, and whose data it carried."""

    protocol: Protocol
    me: str  # the principal's account ('' = signed out)
    session: str
    remote: str
    owners: str  # the other accounts, space-separated


@dataclass(frozen=True, slots=True)
class GuardEvent:
    id: int
    at_us: int
    kind: str
    protocol: str
    principal: str
    owners: tuple[str, ...]
    flags: tuple[str, ...]
    refused: bool
    incident: int | None
    detail: str


def attribute(me: str, stamp: Stamp, foreign: set[str]) -> list[str]:
    """The flags a trip is blamed on (see the module text); [] = none."""
    if me and me in stamp.owners():
        inner = {t.partition("@")[2] for o, t, _ in stamp.entries if o in foreign}
        return sorted(f for f in inner if f)
    return sorted(stamp.flags)


class Guard:
    def __init__(
        self,
        db: Database,
        audit: AuditLog,
        switches: Switches,
        *,
        refuse: bool = True,
        granted: Callable[[str, str], bool] = lambda reader, owner: False,
        opened: Callable[[int, int], None] = lambda trip, since_us: None,
    ) -> None:
        apply_migrations(db, load_migrations("guard", "mailward.guard.migrations"))
        self.db = db
        self.audit = audit
        self.switches = switches
        self.refuse = refuse
        self.granted = granted
        self.opened = opened

    def foreign(self, principal: Principal | None, stamp: Stamp) -> set[str]:
        """The owners in `stamp` whose data `principal` may not receive."""
        me = principal.account_id if principal is not None else ""
        return {o for o in stamp.owners() if o != me and not (me and self.granted(me, o))}

    def check(
        self, principal: Principal | None, stamp: Stamp, protocol: Protocol, remote: str = ""
    ) -> Verdict:
        """May this response go to `principal`? (None: a signed-out request.)"""
        if not stamp.entries:
            return Verdict(True)
        foreign = self.foreign(principal, stamp)
        if not foreign:
            return Verdict(True)
        return self._trip(principal, stamp, foreign, protocol, remote)

    def _trip(
        self,
        principal: Principal | None,
        stamp: Stamp,
        foreign: set[str],
        protocol: Protocol,
        remote: str,
    ) -> Verdict:
        start = time.perf_counter()
        who = _Trip(
            protocol,
            principal.account_id if principal is not None else "",
            principal.session_id if principal is not None else "",
            principal.remote if principal is not None and principal.remote else remote,
            " ".join(sorted(foreign)),
        )
        outcome = Outcome.REFUSED if self.refuse else Outcome.ALLOWED
        records = []
        for owner in sorted(foreign):
            parts: dict[str, list[str]] = {}
            for o, tagged, item in stamp.entries:
                part = tagged.partition("@")[0]
                if o == owner:
                    parts.setdefault(part, [])
                    if item and not item.isdigit():  # message ids; login ids are numbers
                        parts[part].append(item)
            for part, items in sorted(parts.items()):
                records.append(
                    AuditRecord(
                        who.me, who.session, protocol.value, who.remote, owner, "",
                        tuple(sorted(items)), (), part, Action.READ.value, outcome.value,
                        "boundary: the response carried another account's data",
                    )
                )  # fmt: skip
        flags = attribute(who.me, stamp, foreign)
        since_us = self._exposed_since(flags)
        with self.db.write() as conn:
            self.audit.append_many(records)
            detail = "response refused" if self.refuse else "guard off: response sent"
            trip = self._event(conn, who, "trip", flags, None, detail, refused=self.refuse)
        self.opened(trip, since_us)
        if self.refuse:
            self._contain(trip, who, flags, start)
        return Verdict(not self.refuse, trip)

    def _exposed_since(self, flags: list[str]) -> int:
        """Where an incident's window starts: when the blamed flags last went up
        (the faulty variant's rollout), else an hour before now."""
        rises = [
            float(h["at"])
            for name in flags
            for h in self.switches.flag(name).history
            if float(h["to"]) > float(h["from"])
        ]
        at = max(rises) if rises else time.time() - 3600
        return int(at * 1_000_000)

    def _contain(self, trip: int, who: _Trip, flags: list[str], start: float) -> None:
        """Roll back the blamed flags, or (none to blame) stop the protocol."""
        why = f"guard trip #{trip}: a {who.protocol.value} response carried another account's data"
        scope = PROTOCOL_SCOPE.get(who.protocol, "all")
        for name in flags:
            self.switches.set_flag(name, 0.0, "guard", why)
        if not flags:
            self.switches.engage(scope, "guard", why)
        after = f"{(time.perf_counter() - start) * 1000:.2f} ms after the trip"
        with self.db.write() as conn:
            for name in flags:
                detail = f"flag {name} rolled back to 0 % {after}"
                self._event(conn, who, "rollback", [name], trip, detail)
            if not flags:
                self._event(
                    conn, who, "killswitch", [], trip, f"kill switch {scope} engaged {after}"
                )

    @staticmethod
    def _event(
        conn: sqlite3.Connection,
        who: _Trip,
        kind: str,
        flags: list[str],
        incident: int | None,
        detail: str,
        refused: bool = True,
    ) -> int:
        cur = conn.execute(
            "INSERT INTO guard_events (at_us, kind, protocol, principal, session, remote,"
            " owners, flags, refused, incident, detail) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            (
                time.time_ns() // 1000, kind, who.protocol.value, who.me, who.session,
                who.remote, who.owners, " ".join(flags), int(refused), incident, detail,
            ),
        )  # fmt: skip
        return int(cur.lastrowid or 0)

    def events(self, limit: int = 100) -> list[GuardEvent]:
        rows = (
            self.db.read()
            .execute(
                "SELECT id, at_us, kind, protocol, principal, owners, flags, refused, incident,"
                " detail FROM guard_events ORDER BY id DESC LIMIT ?",
                (limit,),
            )
            .fetchall()
        )
        return [
            GuardEvent(
                r[0], r[1], r[2], r[3], r[4], tuple(r[5].split()), tuple(r[6].split()),
                bool(r[7]), r[8], r[9],
            )
            for r in rows
        ]  # fmt: skip
