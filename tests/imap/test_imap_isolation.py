"""A store that hands bob's rows to alice's queries (the "interaction error"):
over IMAP, nothing of bob's mail reaches alice, and each crossing is refused and
recorded."""

import imaplib
import time
from pathlib import Path

import pytest
from imap_support import start_server

from isolation.faults import MESSAGE_FAULTS, Armed, FaultyBlobs, FaultyStore
from mailward.audit.query import all_records
from support import build_world


@pytest.mark.parametrize("fault", MESSAGE_FAULTS)  # the rows FETCH reads
def test_crossed_rows_never_leave_over_imap(tmp_path: Path, fault: str) -> None:
    world = build_world(tmp_path / "d", ("alice", "bob"), plaintext_login=True)
    rt = world.rt
    world.deliver("alice", "alice-subject", "alice-body")
    world.deliver("bob", "BOBMARKER-subject", "BOBMARKER-body",
                  attachments=(("bob.pdf", b"BOBMARKER-attachment"),))  # fmt: skip
    store = FaultyStore(rt.services.store)
    blobs = FaultyBlobs(rt.services.blobs, rt.services.store)
    rt.services.store = store  # type: ignore[assignment]
    rt.services.blobs = blobs
    server = start_server(world)
    try:
        c = server.login("alice")
        c.select("INBOX")
        armed = Armed(fault, world.users["alice"].account_id, world.users["bob"].account_id)
        store.armed = blobs.armed = armed
        seen = b""
        for query in ("(BODY.PEEK[])", "(ENVELOPE)", "(BODY.PEEK[2])", "(BODYSTRUCTURE)"):
            try:
                typ, data = c.fetch("1", query)
            except imaplib.IMAP4.error as exc:
                typ, data = "BAD", [str(exc).encode()]
            seen += repr(data).encode()
            assert typ != "OK", data  # refused: the connection answers NO
        store.armed = blobs.armed = None
        c.logout()
    finally:
        server.stop()
    assert b"BOBMARKER" not in seen
    assert store.crossings + blobs.crossings > 0
    refused = [r for r in all_records(rt.db) if r.outcome == "refused"]
    assert refused and all(r.protocol == "imap" for r in refused)
    # The incident report over the window names each stopped attempt on another
    # account's item: who, over IMAP, which item and part. (A relabelled row, a
    # wrong join, is refused under the asker's own id: its real owner is what
    # could not be told, and the report covers accesses to others' mail.)
    foreign = [r for r in refused if r.owner_account != r.actor_account]
    report = rt.incident_report(0, time.time_ns() // 1000 + 1)
    if fault == "foreign-row":
        assert report.refused  # bob's own row reached alice's query: named
    assert {i for r in report.refused for i in r.items} == {i for r in foreign for i in r.items}
    assert all(r.protocol == "imap" and r.actor == "alice@example.test" and r.part
               for r in report.refused)  # fmt: skip
    rt.close()
