"""The exposure report against a scenario whose truth is known item by item.

Alice has four messages. Bob reads her INBOX through a grant (every list entry;
one body), and an attachment of hers reaches him through the boundary with the
guard off; Carol asks for one of Alice's messages by id (refused) and a faulty
change path moves one and deletes another (a change by another account can only
come from a fault: the test writes the records such a path writes). Alice's own
reading and the deliveries are not exposures.
"""

import csv
import json
import sqlite3
import time
from pathlib import Path

import pytest
from incident_support import scenario as _scenario

from mailward.cli import main
from mailward.incident import as_json, write_csv, write_html


def test_report_names_every_item_part_actor_and_unread_state(tmp_path: Path) -> None:
    w, m, since = _scenario(tmp_path)
    report = w.rt.incident_report(since, time.time_ns() // 1000 + 1)
    assert report.chain_verified and report.incident is not None
    assert set(report.accounts) == {w.users["alice"].account_id}  # bob, carol: untouched
    a = report.accounts[w.users["alice"].account_id]
    bob = w.users["bob"].account_id
    got = {
        (e.message_id, e.actor_id): (e.parts, e.unread_at_exposure) for e in a.exposures.values()
    }
    assert got == {
        (m["m1"], bob): ({"list-entry", "headers", "body"}, True),
        (m["m2"], bob): ({"list-entry"}, False),  # alice had read it before
        (m["m3"], bob): ({"list-entry", "attachment:1"}, True),
        (m["m4"], bob): ({"list-entry"}, True),
    }
    assert {(c.message_id, c.action, c.actor) for c in a.changes} == {
        (m["m4"], "move", "carol@example.test"),
        (m["m2"], "delete", "carol@example.test"),
    }
    assert all(c.restorable for c in a.changes)
    assert [(r.owner, r.actor, r.items) for r in report.refused] == [
        ("alice@example.test", "carol@example.test", (m["m4"],))
    ]
    assert a.category == "attachments"
    totals = report.totals()
    assert (totals["affected accounts"], totals["exposed items"], totals["attachments"]) == (
        1,
        4,
        1,
    )
    assert (totals["changed"], totals["deleted"], totals["refused attempts"]) == (1, 1, 1)
    assert report.by_actor()["bob@example.test"] == {"accounts": 1, "items": 4}
    (minute,) = report.timeline()
    assert minute[1] == 4 and minute[2] == 1
    w.rt.close()


def test_json_csv_and_html(tmp_path: Path) -> None:
    w, m, since = _scenario(tmp_path)
    report = w.rt.incident_report(since, time.time_ns() // 1000 + 1)
    doc = json.loads(json.dumps(as_json(report)))
    assert doc["incident"] == report.incident and doc["chain_verified"] is True
    assert set(doc["window"]) == {"since", "until"}
    (acct,) = doc["accounts"]
    assert acct["account"] == "alice@example.test"
    for e in acct["exposures"]:
        assert {"message_id", "mailbox", "parts", "actor", "protocol", "at",
                "unread_at_exposure"} <= set(e)  # fmt: skip
        assert e["actor"] == "bob@example.test"
    assert {c["action"] for c in acct["changes"]} == {"move", "delete"}
    assert all({"message_id", "action", "actor", "at", "restorable"} <= set(c)
               for c in acct["changes"])  # fmt: skip
    assert doc["refused"][0]["actor"] == "carol@example.test"
    rows = write_csv(report, tmp_path / "r.csv")
    with open(tmp_path / "r.csv", encoding="utf-8") as f:
        table = list(csv.DictReader(f))
    assert rows == len(table) == 3 + 1 + 2 + 1  # one row per item and part
    assert {(r["message_id"], r["part"]) for r in table if r["message_id"] == m["m3"]} == {
        (m["m3"], "list-entry"),
        (m["m3"], "attachment:1"),
    }
    write_html(report, tmp_path / "r.html")
    page = (tmp_path / "r.html").read_text()
    assert "Audit chain verified" in page and "<svg" in page and "alice@example.test" in page
    assert "<script" not in page and "http://" not in page.replace('xmlns="http://', "")
    w.rt.close()


def test_a_broken_chain_is_reported_loudly(tmp_path: Path) -> None:
    w, _m, _since = _scenario(tmp_path)
    data = str(w.rt.settings.data)
    w.rt.close()
    conn = sqlite3.connect(Path(data) / "mailward.db")
    conn.execute("DROP TRIGGER audit_no_update")
    last = conn.execute("SELECT max(pos) FROM audit_log").fetchone()[0]
    conn.execute("UPDATE audit_log SET body = body || x'00' WHERE pos = ?", (last - 1,))
    conn.commit()
    conn.close()
    out = tmp_path / "out"
    code = main(["--data", data, "incident", "report", "--since", "2000-01-01T00:00Z",
                 "--out", str(out)])  # fmt: skip
    assert code == 2
    doc = json.loads((out / "report.json").read_text())
    assert doc["chain_verified"] is False and doc["chain_problem"]
    assert "AUDIT CHAIN BROKEN" in (out / "report.html").read_text()


def test_cli_writes_the_three_files_and_reuses_the_incident(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    w, _m, _since = _scenario(tmp_path)
    data = str(w.rt.settings.data)
    w.rt.close()
    args = ["--data", data, "incident", "report", "--since", "2000-01-01T00:00Z",
            "--until", "2100-01-01T00:00Z", "--out", str(tmp_path / "a")]  # fmt: skip
    assert main(args) == 0
    first = json.loads((tmp_path / "a" / "report.json").read_text())["incident"]
    assert {p.name for p in (tmp_path / "a").iterdir()} == {
        "report.json",
        "report.csv",
        "report.html",
    }
    assert main([*args[:-1], str(tmp_path / "b")]) == 0
    assert json.loads((tmp_path / "b" / "report.json").read_text())["incident"] == first
    assert main(["--data", data, "incident", "report", "--incident", str(first), "--format",
                 "json", "--out", str(tmp_path / "c")]) == 0  # fmt: skip
    assert "1 affected accounts" in capsys.readouterr().out


@pytest.mark.parametrize("tamper", ["none", "body", "others_owner", "delete"])
def test_parallel_chain_check_agrees_with_the_walk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tamper: str
) -> None:
    """Long windows are checked by worker processes: same verdict, same first break."""
    from mailward.incident import report as report_module

    w, _m, since = _scenario(tmp_path)
    for i in range(30):
        w.deliver("bob", f"filler {i}")
    until = time.time_ns() // 1000 + 1
    data = Path(w.rt.settings.data)
    w.rt.close()
    conn = sqlite3.connect(data / "mailward.db")
    conn.execute("DROP TRIGGER audit_no_update")
    conn.execute("DROP TRIGGER audit_no_delete")
    last = conn.execute("SELECT max(pos) FROM audit_log").fetchone()[0]
    target = last - 10
    if tamper == "body":
        conn.execute("UPDATE audit_log SET body = body || x'00' WHERE pos = ?", (target,))
    elif tamper == "others_owner":  # hide a record from the report's index
        conn.execute("UPDATE audit_log SET others_owner = 'x' WHERE pos = ?", (target,))
    elif tamper == "delete":
        conn.execute("DELETE FROM audit_log WHERE pos = ?", (target,))
    conn.commit()
    conn.close()
    from support import open_runtime

    rt = open_runtime(data)
    walked = rt.incident_report(since, until)
    monkeypatch.setattr(report_module, "PARALLEL_FROM", 1)
    parallel = rt.incident_report(since, until)
    assert parallel.chain_verified == walked.chain_verified == (tamper == "none")
    assert parallel.chain_problem == walked.chain_problem
    if tamper != "none":
        assert str(target) in parallel.chain_problem
    rt.close()


def test_attachments_are_named_and_the_lookup_is_recorded(tmp_path: Path) -> None:
    from mailward.audit.query import all_records

    w, m, since = _scenario(tmp_path)
    until = time.time_ns() // 1000 + 1
    report = w.rt.incident_report(since, until)
    alice = w.users["alice"].account_id
    w.rt.name_attachments(report)
    assert report.attachment_names == {(alice, m["m3"]): {1: "c.pdf"}}
    doc = as_json(report)
    (m3,) = [e for e in doc["accounts"][0]["exposures"] if e["message_id"] == m["m3"]]
    assert m3["attachments"] == {"1": "c.pdf"}
    write_csv(report, tmp_path / "r.csv")
    with open(tmp_path / "r.csv", encoding="utf-8") as f:
        rows = [r for r in csv.DictReader(f) if r["part"] == "attachment:1"]
    assert [r["attachment_name"] for r in rows] == ["c.pdf"]
    (looked,) = [r for r in all_records(w.rt.db) if r.part == "attachment-names"]
    assert looked.actor_account == "system" and looked.owner_account == alice
    assert looked.items == (m["m3"],) and looked.detail.startswith(f"incident {report.incident}")
    again = w.rt.incident_report(since, time.time_ns() // 1000 + 1)
    assert {e.actor for e in again.accounts[alice].events} == {"bob@example.test"}
    w.rt.close()
