"""Notices to affected users (exactly what of theirs, when, by whom), once only,
and the regulator's summary."""

import time
from pathlib import Path

from incident_support import scenario

from support import World


def _notice(w: World, name: str) -> str:
    door = w.door(name)
    (m,) = [m for m in door.list_messages().items if m.subject.startswith("Security notice")]
    return str(door.get_message(m.id).text)


def test_notice_lists_exactly_what_of_theirs_and_is_sent_once(tmp_path: Path) -> None:
    w, m, since = scenario(tmp_path)
    report = w.rt.incident_report(since, time.time_ns() // 1000 + 1)
    assert report.incident is not None
    inbox = {name: len(w.door(name).list_messages().items) for name in ("alice", "bob", "carol")}
    sent, before, summary = w.rt.incident_notify(report.incident, tmp_path / "out")
    assert (sent, before) == (1, 0)  # alice only: bob and carol lost nothing
    text = _notice(w, "alice")
    for key in ("m1", "m2", "m3", "m4"):
        assert m[key] in text  # each message named (a link to it)
    m1_line = next(line for line in text.splitlines() if m["m1"] in line and "saw" in line)
    assert "its text" in m1_line and "It was still unread." in m1_line
    m2_line = next(line for line in text.splitlines() if m["m2"] in line and "saw" in line)
    assert "still unread" not in m2_line  # alice had read it before
    m3_line = next(line for line in text.splitlines() if m["m3"] in line and "saw" in line)
    assert "attachment 1 (c.pdf)" in m3_line
    assert "moved the message" in text and "deleted (to Trash) the message" in text
    assert "stopped 1 attempt" in text
    assert "another user" in text and "bob@" not in text and "carol@" not in text
    again = w.rt.incident_notify(report.incident, tmp_path / "out")
    assert again[:2] == (0, 1)  # idempotent: nothing sent twice
    assert len(w.door("alice").list_messages().items) == inbox["alice"] + 1
    assert len(w.door("bob").list_messages().items) == inbox["bob"]
    doc = summary.read_text()
    assert "accounts affected: 1" in doc and "messages seen: 4" in doc
    assert "accounts whose attachments were seen: 1" in doc and "accounts notified: 1" in doc
    w.rt.close()


def test_policy_may_name_the_other_account(tmp_path: Path) -> None:
    w, _m, since = scenario(tmp_path, notices_name_actors=True)
    report = w.rt.incident_report(since, time.time_ns() // 1000 + 1)
    assert report.incident is not None
    w.rt.incident_notify(report.incident, tmp_path / "out")
    text = _notice(w, "alice")
    assert "bob@example.test saw" in text and "carol@example.test moved" in text
    w.rt.close()


def test_a_notice_also_goes_to_the_outside_address_on_file(tmp_path: Path) -> None:
    from mailward.access import Unopenable
    from mailward.cli import main

    w, _m, since = scenario(tmp_path)
    data = str(w.rt.settings.data)
    report = w.rt.incident_report(since, time.time_ns() // 1000 + 1)
    assert report.incident is not None
    w.rt.close()
    assert main(["--data", data, "user", "notice-address", "alice@example.test",
                 "Alice.Private@Elsewhere.test"]) == 0  # fmt: skip
    assert main(["--data", data, "user", "notice-address", "alice@example.test"]) == 1
    from support import open_runtime

    rt = open_runtime(Path(data))
    rt.incident_notify(report.incident, tmp_path / "out")
    rt.incident_notify(report.incident, tmp_path / "out")  # again: nothing new
    queued = [q for q in rt.relaying().entries() if not isinstance(q, Unopenable)]
    assert len(queued) == 1
    (q,) = queued
    assert q.mail_from.startswith("security@")
    assert [r.address for r in q.recipients] == ["alice.private@elsewhere.test"]
    assert b"Security notice" in rt.relaying().message(q)
    rt.close()
