"""Versioned schema migrations shipped as SQL files inside a package.

A component (e.g. "store", "audit") keeps files named `NNNN_description.sql` in a
package directory; each is applied once, in order, inside one write transaction,
and recorded in `schema_migrations`.
"""

import re
import sqlite3
from dataclasses import dataclass
from importlib import resources

from mailward.core.errors import IntegrityError
from mailward.db.sqlite import Database

_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


class IncompatibleSchema(IntegrityError):
    """The database was migrated by a build whose migrations differ from ours."""


@dataclass(frozen=True, slots=True)
class Migration:
    component: str
    version: int
    name: str
    sql: str


def load_migrations(component: str, package: str) -> list[Migration]:
    """Read every migration file from `package`, ordered by version."""
    found: list[Migration] = []
    for entry in resources.files(package).iterdir():
        match = _NAME.match(entry.name)
        if match:
            found.append(
                Migration(component, int(match.group(1)), entry.name, entry.read_text("utf-8"))
            )
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise RuntimeError(f"duplicate migration versions in {package}")
    return found


def apply_migrations(db: Database, migrations: list[Migration]) -> list[Migration]:
    """Apply the migrations not yet recorded; return those applied now."""
    with db.write() as conn:
        conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " component TEXT NOT NULL, version INTEGER NOT NULL, name TEXT NOT NULL,"
            " applied_at TEXT NOT NULL DEFAULT (datetime('now')),"
            " PRIMARY KEY (component, version))"
        )
        done = {
            (c, v): name
            for c, v, name in conn.execute("SELECT component, version, name FROM schema_migrations")
        }
        applied = []
        for m in migrations:
            if (m.component, m.version) in done:
                if done[(m.component, m.version)] != m.name:
                    raise IncompatibleSchema(
                        f"{m.component} migration {m.version} was applied as"
                        f" {done[(m.component, m.version)]}, but this version ships {m.name}:"
                        " the data directory was made by an incompatible (pre-release) build"
                    )
                continue
            for statement in _statements(m.sql):
                conn.execute(statement)
            conn.execute(
                "INSERT INTO schema_migrations (component, version, name) VALUES (?, ?, ?)",
                (m.component, m.version, m.name),
            )
            applied.append(m)
    return applied


def _statements(sql: str) -> list[str]:
    """Split a migration into statements; triggers (BEGIN ... END;) stay whole."""
    out: list[str] = []
    buf = ""
    for line in sql.splitlines(keepends=True):
        if line.strip().startswith("--") and not buf.strip():
            continue
        buf += line
        if sqlite3.complete_statement(buf):
            out.append(buf.strip())
            buf = ""
    if buf.strip():
        out.append(buf.strip())
    return out
