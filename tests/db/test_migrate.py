"""Migrations apply once, in order, and refuse a database migrated differently."""

from pathlib import Path

import pytest

from mailward.db import Database, IncompatibleSchema, Migration, apply_migrations


def _m(version: int, name: str, sql: str) -> Migration:
    return Migration("test", version, name, sql)


def test_applies_each_once_in_order(tmp_path: Path) -> None:
    db = Database(tmp_path / "x.db")
    first = [_m(1, "0001_a.sql", "CREATE TABLE a (x INTEGER);")]
    assert [m.version for m in apply_migrations(db, first)] == [1]
    both = [*first, _m(2, "0002_b.sql", "INSERT INTO a VALUES (7);")]
    assert [m.version for m in apply_migrations(db, both)] == [2]
    assert apply_migrations(db, both) == []
    assert db.read().execute("SELECT x FROM a").fetchall() == [(7,)]
    db.close()


def test_a_differently_named_applied_migration_is_refused(tmp_path: Path) -> None:
    db = Database(tmp_path / "x.db")
    apply_migrations(db, [_m(1, "0001_old_layout.sql", "CREATE TABLE a (x INTEGER);")])
    with pytest.raises(IncompatibleSchema, match=r"0001_old_layout\.sql"):
        apply_migrations(db, [_m(1, "0001_new_layout.sql", "CREATE TABLE b (y INTEGER);")])
    db.close()
