"""IDLE: every idling session hears of new mail; the listener looks at a mailbox
once per tick for all its idlers; the kill switch ends IDLE."""

import imaplib
import time

import pytest
from imap_support import Server

from mailward.access import MailAccess


def _idle(c: imaplib.IMAP4) -> str:
    tag = c._new_tag().decode()
    c.send(f"{tag} IDLE\r\n".encode())
    assert c.readline().startswith(b"+")
    return tag


def _until(c: imaplib.IMAP4, needle: bytes, seconds: float = 5.0) -> bytes:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        line = c.readline()
        if needle in line:
            return line
    raise AssertionError(f"no {needle!r} within {seconds} s")


def test_idlers_share_one_look_per_mailbox(server: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    server.world.deliver("alice", "before", "x")
    clients = [server.login() for _ in range(5)]
    for c in clients:
        c.select("INBOX")
    calls = []
    real = MailAccess.open_mailbox

    def counting(self: MailAccess, name: str):  # type: ignore[no-untyped-def]
        calls.append(name)
        return real(self, name)

    tags = [_idle(c) for c in clients]
    monkeypatch.setattr(MailAccess, "open_mailbox", counting)
    time.sleep(3.2)
    looks = len(calls)
    assert 1 <= looks <= 4, looks  # about one a second for all five, not five a second
    server.world.deliver("alice", "during", "y")
    for c in clients:
        assert _until(c, b"EXISTS").strip() == b"* 2 EXISTS"
    for c, tag in zip(clients, tags, strict=True):
        c.send(b"DONE\r\n")
        assert _until(c, tag.encode() + b" OK")
        c.logout()


def test_killswitch_ends_idle(server: Server) -> None:
    c = server.login()
    c.select("INBOX")
    _idle(c)
    rt = server.world.rt
    rt.switches.engage("imap", by="test", reason="drill")
    try:
        assert _until(c, b"BYE").startswith(b"* BYE [UNAVAILABLE]")
    finally:
        rt.switches.release("imap")
    c.shutdown()
