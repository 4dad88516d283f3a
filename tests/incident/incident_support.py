"""The incident tests' scenario, whose truth is known item by item (see
test_report.py)."""

import time
from pathlib import Path
from typing import Any

import pytest

from mailward.audit import AuditRecord
from mailward.core.errors import NotFound
from mailward.core.principal import Protocol
from mailward.guard import Guard, Stamp
from support import World, build_world


def scenario(tmp_path: Path, **settings: Any) -> tuple[World, dict[str, str], int]:
    w = build_world(tmp_path / "data", **settings)
    since = time.time_ns() // 1000
    m = {
        "m1": w.deliver("alice", "Bank statement", "IBAN and balance"),
        "m2": w.deliver("alice", "Lunch"),
        "m3": w.deliver("alice", "Contract", "see attached", attachments=(("c.pdf", b"%PDF"),)),
        "m4": w.deliver("alice", "Passport scan"),
    }
    alice, bob, carol = w.users["alice"], w.users["bob"], w.users["carol"]
    w.door("alice").get_message(m["m2"])  # alice reads m2 herself: read, not an exposure
    grant = w.rt.delegation(alice).grant("INBOX", "bob@example.test")
    w.rt.delegation(bob).list_messages(grant.id)  # four list entries
    w.rt.delegation(bob).get_message(grant.id, m["m1"])  # headers and body of m1
    no_guard = Guard(w.rt.db, w.rt.services.audit, w.rt.switches, refuse=False)
    stamp = Stamp({(alice.account_id, "attachment:1", m["m3"])})
    assert no_guard.check(bob, stamp, Protocol.WEB, "10.0.0.2").send  # m3's attachment left
    with pytest.raises(NotFound):
        w.door("carol").get_message(m["m4"])  # refused, recorded under alice
    for item, action, mailbox in ((m["m4"], "move", "INBOX"), (m["m2"], "delete", "INBOX")):
        w.rt.services.audit.append(
            AuditRecord(carol.account_id, carol.session_id, "web", "10.0.0.3",
                        alice.account_id, mailbox, (item,), (False,), "-", action, "allowed")
        )  # fmt: skip
    return w, m, since
