"""`incident restore` puts back what someone other than the owner changed, records
each undo, says what it could not put back and why, and does nothing twice.

Carol's changes to Alice's mail are made the way a faulty change path would make
them: straight in the store, with the audit records such a path writes."""

import time
from pathlib import Path

import pytest

from mailward.audit import AuditRecord
from mailward.audit.query import all_records
from mailward.core.ids import AccountId, MessageId
from support import World, build_world


def _by_carol(w: World, item: str, action: str, mailbox: str, detail: str) -> None:
    alice, carol = w.users["alice"], w.users["carol"]
    w.rt.services.audit.append(
        AuditRecord(carol.account_id, carol.session_id, "web", "10.0.0.3", alice.account_id,
                    mailbox, (item,), (True,), "-", action, "allowed", detail)
    )  # fmt: skip


def _where(w: World, item: str) -> str | None:
    row = w.rt.services.store.message(w.users["alice"].account_id, MessageId(item))
    if row is None:
        return None
    box = w.rt.services.store.mailbox(w.users["alice"].account_id, row.mailbox_id)
    return box.name if box else None


def test_restore_puts_back_every_change_by_others_once(tmp_path: Path) -> None:
    w = build_world(tmp_path / "data")
    since = time.time_ns() // 1000
    m = {k: w.deliver("alice", f"message {k}") for k in ("m1", "m2", "m3", "m4", "m5")}
    store, alice = w.rt.services.store, AccountId(w.users["alice"].account_id)
    box = {b.name: b for b in store.mailboxes(alice)}
    store.set_flags(alice, MessageId(m["m1"]), "\\Seen")
    _by_carol(w, m["m1"], "flag", "INBOX", "+\\Seen")
    store.move_message(alice, MessageId(m["m2"]), box["Archive"].id, None)
    _by_carol(w, m["m2"], "move", "INBOX", "to Archive")
    store.move_message(alice, MessageId(m["m3"]), box["Trash"].id, box["INBOX"].id)
    _by_carol(w, m["m3"], "delete", "INBOX", "to Trash")
    store.expunge_message(alice, MessageId(m["m4"]), "carol", 30 * 86400 * 10**6)
    _by_carol(w, m["m4"], "expunge", "INBOX", "")
    store.move_message(alice, MessageId(m["m5"]), box["Archive"].id, None)
    _by_carol(w, m["m5"], "move", "INBOX", "to Archive")
    w.door("alice").move([m["m5"]], "Junk")  # alice moved it on herself: leave it there
    report = w.rt.incident_report(since, time.time_ns() // 1000 + 1)
    assert report.incident is not None
    assert report.totals()["changed"] == 3 and report.totals()["deleted"] == 2

    results = w.rt.incident_restore(report.incident)
    outcome = {item: o for _a, item, _c, o in results}
    assert outcome[m["m1"]] == outcome[m["m2"]] == outcome[m["m3"]] == "restored"
    assert outcome[m["m4"]] == "restored"
    assert outcome[m["m5"]].startswith("it has been moved since (now in Junk)")
    flags = store.message(alice, MessageId(m["m1"]))
    assert flags is not None and "\\Seen" not in flags.flags  # unread again, as it was
    assert (_where(w, m["m2"]), _where(w, m["m3"]), _where(w, m["m4"])) == ("INBOX",) * 3
    assert _where(w, m["m5"]) == "Junk"
    undone = [r for r in all_records(w.rt.db) if r.action == "restore"]
    assert len(undone) == 4
    assert all(r.actor_account == "system" and r.detail.startswith(f"incident {report.incident}")
               for r in undone)  # fmt: skip
    assert w.rt.incident_restore(report.incident) == []  # nothing twice
    again = w.rt.incident_report(since, time.time_ns() // 1000 + 1)
    assert again.totals()["changed"] == 3  # the restores are not changes by others

    w.rt.incident_notify(report.incident, tmp_path / "out")
    door = w.door("alice")
    (notice,) = [x for x in door.list_messages().items if x.subject.startswith("Security")]
    text = str(door.get_message(notice.id).text)
    assert text.count("We have put it back.") == 4
    assert "could not be put back: it has been moved since (now in Junk)" in text
    w.rt.close()


def test_cli_list_notify_and_restore(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from mailward.cli import main

    w = build_world(tmp_path / "data")
    since = time.time_ns() // 1000
    item = w.deliver("alice", "moved by someone else")
    alice = AccountId(w.users["alice"].account_id)
    archive = w.rt.services.store.mailbox_by_name(alice, "Archive")
    assert archive is not None
    w.rt.services.store.move_message(alice, MessageId(item), archive.id, None)
    _by_carol(w, item, "move", "INBOX", "to Archive")
    report = w.rt.incident_report(since, time.time_ns() // 1000 + 1)
    data = str(w.rt.settings.data)
    w.rt.close()
    incident = str(report.incident)
    assert main(["--data", data, "incident", "list"]) == 0
    assert main(["--data", data, "incident", "restore", "--incident", incident]) == 0
    out = tmp_path / "notices"
    assert (
        main(["--data", data, "incident", "notify", "--incident", incident, "--out", str(out)]) == 0
    )
    assert (out / "regulator-summary.md").exists()
    printed = capsys.readouterr().out
    assert "restored" in printed and "1 notices sent now" in printed
    assert main(["--data", data, "incident", "restore", "--incident", incident]) == 0
    assert "nothing (left) to restore" in capsys.readouterr().out
    assert main(["--data", data, "incident", "notify", "--incident", "999"]) == 1  # unknown


def _moved_to_an_archive_not_alices(tmp_path: Path, *, expunged: bool) -> tuple[World, str, int]:
    """A world where carol moved alice's message to Archive (and expunged it
    there), then alice's Archive row came to carry bob's Archive seal; and the
    incident that reports it."""
    w = build_world(tmp_path / "data")
    since = time.time_ns() // 1000
    item = w.deliver("alice", "statement")
    store, alice = w.rt.services.store, AccountId(w.users["alice"].account_id)
    archive = next(b for b in store.mailboxes(alice) if b.name == "Archive")
    store.move_message(alice, MessageId(item), archive.id, None)
    if expunged:
        store.expunge_message(alice, MessageId(item), "carol", 30 * 86400 * 10**6)
        _by_carol(w, item, "expunge", "Archive", "")
    else:
        _by_carol(w, item, "move", "INBOX", "to Archive")
    with w.rt.db.write() as c:
        c.execute(
            "UPDATE mailboxes SET seal = (SELECT seal FROM mailboxes WHERE name = 'Archive'"
            " AND account_id = ?) WHERE id = ?",
            (w.users["bob"].account_id, archive.id),
        )
    report = w.rt.incident_report(since, time.time_ns() // 1000 + 1)
    assert report.incident is not None
    return w, item, report.incident


def test_a_folder_row_that_is_not_the_owners_is_refused_not_restored_into(
    tmp_path: Path,
) -> None:
    from mailward.access.restoring import REFUSED_FOLDER

    w, item, incident = _moved_to_an_archive_not_alices(tmp_path, expunged=False)
    refused_before = sum(1 for r in all_records(w.rt.db) if r.outcome == "refused")
    ((_a, _item, _change, outcome),) = w.rt.incident_restore(incident)
    assert outcome == REFUSED_FOLDER
    refused = [r for r in all_records(w.rt.db) if r.outcome == "refused"]
    assert len(refused) == refused_before + 1 and refused[-1].action == "restore"
    assert _where(w, item) == "Archive"  # left where it was


def test_a_refusal_stays_recorded_when_its_undo_fails_later(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Expunged from Archive, whose row is not alice's now: INBOX is taken instead,
    # and putting the message back there fails (disk full, say). The undo's unit
    # is rolled back; the refusal of the Archive row is recorded all the same.
    w, item, incident = _moved_to_an_archive_not_alices(tmp_path, expunged=True)
    store = w.rt.services.store

    def full(*args: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(store, "restore_tombstone", full)
    refused_before = sum(1 for r in all_records(w.rt.db) if r.outcome == "refused")
    with pytest.raises(OSError):
        w.rt.incident_restore(incident)
    refused = [r for r in all_records(w.rt.db) if r.outcome == "refused"]
    assert len(refused) == refused_before + 1 and refused[-1].action == "restore"
    assert _where(w, item) is None  # still expunged: nothing half done
