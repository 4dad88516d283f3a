"""`audit verify` names the first edited, deleted, reordered or missing record."""

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from mailward.audit import StoredRecord
from mailward.audit.query import all_records
from mailward.audit.record import encode, record_hash
from mailward.cli import main
from mailward.runtime import Runtime
from support import DOMAIN, World, build_world, make_message


def _tamper(rt: Runtime, *statements: str) -> None:
    """Change the log behind the service's back (the triggers must go first)."""
    conn = sqlite3.connect(rt.db.path)
    conn.execute("DROP TRIGGER audit_no_update")
    conn.execute("DROP TRIGGER audit_no_delete")
    for s in statements:
        conn.execute(s)
    conn.commit()
    conn.close()


def _body(r: StoredRecord, **changes: str) -> bytes:
    """The body of `r` with some fields changed (not re-hashed)."""
    f = {k: getattr(r, k) for k in StoredRecord.__slots__}  # type: ignore[attr-defined]
    f.update(changes)
    return encode(
        int(f["seq"]),
        int(f["at_us"]),
        [f[k] for k in ("actor_account", "actor_session", "protocol", "remote")]
        + [f["owner_account"], f["mailbox"]],
        " ".join(f["items"]),
        f["unread"],
        [f["part"], f["action"], f["outcome"], f["detail"]],
        f["prev_hash"],
    )


def _record(rt: Runtime, pos: int) -> StoredRecord:
    return next(r for r in all_records(rt.db) if r.pos == pos)


def _set_body(rt: Runtime, pos: int, body: bytes) -> None:
    conn = sqlite3.connect(rt.db.path)
    conn.execute("DROP TRIGGER audit_no_update")
    conn.execute("UPDATE audit_log SET body = ? WHERE pos = ?", (body, pos))
    conn.commit()
    conn.close()


@pytest.fixture
def logged(tmp_path: Path) -> Iterator[World]:
    w = build_world(tmp_path / "data")
    for i in range(12):
        w.deliver("alice", f"subject {i}")
    w.door("alice").list_messages()
    result = w.rt.verify_audit()
    assert result.ok and result.records >= 13
    yield w
    w.rt.close()


def test_intact_chain_verifies(logged: World) -> None:
    result = logged.rt.verify_audit()
    assert result.ok
    assert result.head_seq == result.last_seq == result.records


def test_database_refuses_update_and_delete(logged: World) -> None:
    with pytest.raises(sqlite3.IntegrityError, match="append-only"), logged.rt.db.write() as c:
        c.execute("UPDATE audit_log SET body = x'00' WHERE pos = 3")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"), logged.rt.db.write() as c:
        c.execute("DELETE FROM audit_log WHERE pos = 3")


def test_edited_record_is_named(logged: World) -> None:
    _set_body(logged.rt, 5, _body(_record(logged.rt, 5), part="subject"))
    problem = logged.rt.verify_audit().problem
    assert problem is not None
    assert (problem.kind, problem.seq) == ("edited", 5)


def test_malformed_body_is_named_as_edited(logged: World) -> None:
    _set_body(logged.rt, 5, b"not a record")
    problem = logged.rt.verify_audit().problem
    assert problem is not None
    assert (problem.kind, problem.seq) == ("edited", 5)
    assert "malformed" in problem.message


def test_edited_lookup_column_is_named(logged: World) -> None:
    """Hiding a record from "access to my mailbox" by clearing its index copy."""
    grant = logged.rt.delegation(logged.users["alice"]).grant("INBOX", f"bob@{DOMAIN}")
    logged.rt.delegation(logged.users["bob"]).list_messages(grant.id)
    last = logged.rt.verify_audit().last_seq
    assert _record(logged.rt, last).actor_account == logged.users["bob"].account_id
    _tamper(logged.rt, f"UPDATE audit_log SET others_owner = NULL WHERE pos = {last}")
    problem = logged.rt.verify_audit().problem
    assert problem is not None
    assert (problem.kind, problem.seq) == ("edited", last)
    assert "lookup columns" in problem.message


def test_deleted_record_is_named(logged: World) -> None:
    _tamper(logged.rt, "DELETE FROM audit_log WHERE pos = 6")
    problem = logged.rt.verify_audit().problem
    assert problem is not None
    assert (problem.kind, problem.seq) == ("deleted", 6)


def test_swapped_records_are_named(logged: World) -> None:
    cols = "at_us, others_owner, body, hash"
    _tamper(
        logged.rt,
        f"CREATE TEMP TABLE swap AS SELECT pos, {cols} FROM audit_log WHERE pos IN (7, 8)",
        *(
            f"UPDATE audit_log SET ({cols}) = (SELECT {cols} FROM swap WHERE pos = {other})"
            f" WHERE pos = {target}"
            for target, other in ((7, 8), (8, 7))
        ),
    )
    problem = logged.rt.verify_audit().problem
    assert problem is not None
    assert (problem.kind, problem.seq) == ("reordered", 7)


def test_truncated_tail_is_caught_by_the_signed_head(logged: World) -> None:
    last = logged.rt.verify_audit().last_seq
    _tamper(logged.rt, f"DELETE FROM audit_log WHERE pos > {last - 3}")
    result = logged.rt.verify_audit()
    assert result.problem is not None
    assert (result.problem.kind, result.problem.seq) == ("truncated", last - 2)
    assert f"{last - 2}..{last}" in result.problem.message


def test_recomputed_chain_is_caught_by_the_signed_head(logged: World) -> None:
    """An attacker who edits a record and recomputes every hash after it still fails."""
    rows = list(all_records(logged.rt.db))
    conn = sqlite3.connect(logged.rt.db.path)
    conn.execute("DROP TRIGGER audit_no_update")
    prev = rows[2].hash
    for r in rows[3:]:
        body = _body(r, part="subject" if r.seq == 4 else r.part, prev_hash=prev)  # type: ignore[arg-type]
        digest = record_hash(body)
        conn.execute("UPDATE audit_log SET body = ?, hash = ? WHERE pos = ?", (body, digest, r.pos))
        prev = digest
    conn.commit()
    conn.close()
    assert logged.rt.verify_audit().problem is not None
    problem = logged.rt.verify_audit().problem
    assert problem is not None
    assert problem.kind == "head"


def test_writer_never_moves_the_head_past_a_truncation(logged: World) -> None:
    last = logged.rt.verify_audit().last_seq
    _tamper(logged.rt, f"DELETE FROM audit_log WHERE pos > {last - 2}")
    logged.deliver("alice", "after the truncation")  # appends continue...
    assert logged.rt.services.audit.broken is not None
    problem = logged.rt.verify_audit().problem  # ...but the head still names the old tail
    assert problem is not None and problem.kind == "truncated"
    for i in range(3):  # even once the new chain is longer than the old one
        logged.deliver("alice", f"more {i}")
    problem = logged.rt.verify_audit().problem
    assert problem is not None and problem.kind == "head" and problem.seq == last


def test_cli_verify_exit_codes(logged: World, capsys: pytest.CaptureFixture[str]) -> None:
    data = str(logged.rt.settings.data)
    logged.rt.close()
    assert main(["--data", data, "audit", "verify"]) == 0
    assert "intact" in capsys.readouterr().out
    rt = Runtime.open(logged.rt.settings)
    _tamper(rt, "DELETE FROM audit_log WHERE pos = 2")
    rt.close()
    assert main(["--data", data, "audit", "verify"]) != 0
    assert "record 2 deleted" in capsys.readouterr().err


def test_rolled_back_unit_in_a_batch_leaves_the_chain_whole(tmp_path: Path) -> None:
    """B appends and fails, C appends, both in one batch behind A: C links to A."""
    import threading
    import time

    from mailward.audit import AuditRecord

    w = build_world(tmp_path / "data")
    db, audit = w.rt.db, w.rt.services.audit
    rec = AuditRecord("a", "s", "cli", "", "o", "INBOX", ("m1",), (True,), "-", "flag", "allowed")
    results: dict[str, object] = {}

    def failing(conn: sqlite3.Connection) -> None:
        audit.append(rec)
        raise ValueError("B fails")

    def unit(name: str, fn) -> None:  # type: ignore[no-untyped-def]
        try:
            results[name] = db.run(fn)
        except ValueError as exc:
            results[name] = exc

    with db.write():
        audit.append(rec)  # A
        b = threading.Thread(target=unit, args=("B", failing))
        c = threading.Thread(target=unit, args=("C", lambda conn: audit.append(rec)))
        b.start()
        time.sleep(0.05)
        c.start()
        time.sleep(0.05)  # both queued behind A's open block
    b.join()
    c.join()
    assert isinstance(results["B"], ValueError)
    assert w.rt.verify_audit().ok
    w.rt.close()


def test_reopened_log_keeps_appending_and_verifying(logged: World) -> None:
    """After a restart the writer checks the signed head once, then trusts its own commits."""
    settings = logged.rt.settings
    logged.rt.close()
    rt = Runtime.open(settings)
    system = rt.system()
    for i in range(4):
        system.deliver([f"alice@{DOMAIN}"], make_message(f"after restart {i}", "body"))
    assert rt.services.audit.broken is None
    result = rt.verify_audit()
    assert result.ok and result.head_seq == result.last_seq
    rt.close()


def test_two_writers_on_one_log_interleave_into_one_chain(tmp_path: Path) -> None:
    """The CLI and the service may both append: each sees the other's commits."""
    w = build_world(tmp_path / "data")
    other = Runtime.open(w.rt.settings)
    for i in range(5):
        w.rt.system().deliver([f"alice@{DOMAIN}"], make_message(f"service {i}", "body"))
        other.system().deliver([f"bob@{DOMAIN}"], make_message(f"cli {i}", "body"))
    assert w.rt.services.audit.broken is None and other.services.audit.broken is None
    other.close()
    result = w.rt.verify_audit()
    assert result.ok and result.head_seq == result.last_seq
    w.rt.close()


def test_nul_in_a_field_is_stored_replaced_and_the_chain_holds(tmp_path: Path) -> None:
    from mailward.audit import AuditRecord

    w = build_world(tmp_path / "data")
    rec = AuditRecord(
        "a", "s", "web", "10.0.0.1\x00evil", "o", "INBOX", ("m1",), (True,), "-", "read", "refused"
    )
    w.rt.services.audit.append(rec)
    stored = list(all_records(w.rt.db))[-1]
    assert stored.remote == "10.0.0.1\ufffdevil"
    assert w.rt.verify_audit().ok
    w.rt.close()


def test_a_body_turned_into_text_is_reported_not_a_crash(logged: World) -> None:
    """`body || x'00'` makes the column TEXT (and not UTF-8): verify names it."""
    _tamper(logged.rt, "UPDATE audit_log SET body = body || x'ff00' WHERE pos = 5")
    problem = logged.rt.verify_audit().problem
    assert problem is not None and problem.kind == "edited" and problem.seq == 5
