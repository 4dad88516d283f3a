"""The incidents table: windows under investigation, by id."""

import time
from dataclasses import dataclass

from mailward.core.errors import NotFound
from mailward.db import Database, apply_migrations, load_migrations


@dataclass(frozen=True, slots=True)
class Incident:
    id: int
    opened_us: int
    since_us: int
    until_us: int | None
    source: str
    trip: int | None

    def window(self, now_us: int | None = None) -> tuple[int, int]:
        until = self.until_us if self.until_us is not None else (now_us or _now_us())
        return self.since_us, until


def _now_us() -> int:
    return time.time_ns() // 1000


class Incidents:
    def __init__(self, db: Database) -> None:
        apply_migrations(db, load_migrations("incident", "mailward.incident.migrations"))
        self.db = db

    def open(
        self, since_us: int, until_us: int | None, source: str = "window", trip: int | None = None
    ) -> Incident:
        """The incident for this window (reused if one has the same window)."""
        with self.db.write() as c:
            row = c.execute(
                "SELECT id FROM incidents WHERE source = ? AND since_us = ? AND until_us IS ?",
                (source, since_us, until_us),
            ).fetchone()
            if row is None:
                c.execute(
                    "INSERT INTO incidents (opened_us, since_us, until_us, source, trip)"
                    " VALUES (?, ?, ?, ?, ?)",
                    (_now_us(), since_us, until_us, source, trip),
                )
        return self.by_window(source, since_us, until_us)

    def opened_by_guard(self, trip: int, since_us: int) -> None:
        """A guard trip: the incident of its window (trips of one faulty rollout
        share the window's start, so they share the incident)."""
        self.open(since_us, None, "guard", trip)

    def by_window(self, source: str, since_us: int, until_us: int | None) -> Incident:
        row = (
            self.db.read()
            .execute(
                "SELECT id, opened_us, since_us, until_us, source, trip FROM incidents"
                " WHERE source = ? AND since_us = ? AND until_us IS ?",
                (source, since_us, until_us),
            )
            .fetchone()
        )
        if row is None:
            raise NotFound("no such incident")
        return Incident(*row)

    def get(self, incident_id: int) -> Incident:
        row = (
            self.db.read()
            .execute(
                "SELECT id, opened_us, since_us, until_us, source, trip FROM incidents"
                " WHERE id = ?",
                (incident_id,),
            )
            .fetchone()
        )
        if row is None:
            raise NotFound(f"no incident {incident_id}")
        return Incident(*row)

    def notified(self, incident_id: int) -> set[str]:
        rows = self.db.read().execute(
            "SELECT account FROM incident_notices WHERE incident = ?", (incident_id,)
        )
        return {r[0] for r in rows}

    def mark_notified(self, incident_id: int, account: str) -> None:
        """Inside the unit that delivers the notice: both happen, or neither."""
        with self.db.write() as c:
            c.execute(
                "INSERT INTO incident_notices (incident, account, sent_us) VALUES (?, ?, ?)",
                (incident_id, account, _now_us()),
            )

    def restores(self, incident_id: int, account: str) -> list[tuple[str, str, str]]:
        """(item, action, outcome) of each change of `account` restore handled."""
        rows = self.db.read().execute(
            "SELECT item, action, outcome FROM incident_restores WHERE incident = ?"
            " AND account = ? ORDER BY at_us",
            (incident_id, account),
        )
        return [(r[0], r[1], r[2]) for r in rows]

    def restored_keys(self, incident_id: int) -> set[tuple[str, str, str, int]]:
        rows = self.db.read().execute(
            "SELECT account, item, action, at_us FROM incident_restores WHERE incident = ?",
            (incident_id,),
        )
        return {(r[0], r[1], r[2], r[3]) for r in rows}

    def mark_restore(
        self, incident_id: int, account: str, item: str, action: str, at_us: int, outcome: str
    ) -> None:
        with self.db.write() as c:
            c.execute(
                "INSERT INTO incident_restores (incident, account, item, action, at_us, outcome)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (incident_id, account, item, action, at_us, outcome),
            )

    def all(self) -> list[Incident]:
        rows = self.db.read().execute(
            "SELECT id, opened_us, since_us, until_us, source, trip FROM incidents ORDER BY id"
        )
        return [Incident(*r) for r in rows]
