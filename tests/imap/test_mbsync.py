"""A real sync client: Debian's isync (mbsync) against the IMAP server.

New mail comes down; a flag set and a message deleted in the local Maildir go
up; a second sync changes nothing."""

import subprocess
from pathlib import Path

from imap_support import Server

from support import PASSWORD, need_tool


def _need_mbsync() -> str:
    return need_tool("mbsync", "isync")


def _config(root: Path, server: Server) -> Path:
    host, port = server.address
    cfg = root / "mbsyncrc"
    cfg.write_text(
        f"IMAPAccount mw\nHost {host}\nPort {port}\nUser alice@example.test\n"
        f'Pass "{PASSWORD}"\nSSLType None\nAuthMechs LOGIN\n\n'
        "IMAPStore remote\nAccount mw\n\n"
        f"MaildirStore local\nPath {root}/mail/\nInbox {root}/mail/INBOX\n"
        "SubFolders Verbatim\n\n"
        "Channel ch\nFar :remote:\nNear :local:\nPatterns INBOX Archive\nCreate Near\n"
        "Expunge Both\nSyncState *\n"
    )
    (root / "mail").mkdir()
    return cfg


def _sync(cfg: Path) -> str:
    done = subprocess.run(
        [_need_mbsync(), "-V", "-c", str(cfg), "-a"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def _messages(root: Path, box: str = "INBOX") -> list[Path]:
    return sorted(p for sub in ("new", "cur") for p in (root / "mail" / box / sub).glob("*"))


def test_mbsync_both_ways_then_no_op(server: Server, tmp_path: Path) -> None:
    _need_mbsync()
    world = server.world
    ids = [world.deliver("alice", f"Sync {i}", f"sync body {i}") for i in range(3)]
    world.deliver("bob", "Bob only", "bob body")
    cfg = _config(tmp_path, server)

    _sync(cfg)
    local = _messages(tmp_path)
    assert len(local) == 3
    texts = b"".join(p.read_bytes() for p in local)
    assert b"sync body 0" in texts and b"bob body" not in texts

    # Up: flag one message (Maildir info ",F" = \Flagged, "S" = \Seen), delete one.
    first, second = local[0], local[1]
    cur = tmp_path / "mail" / "INBOX" / "cur"
    flagged = cur / (first.name.split(":2,")[0] + ":2,FS")
    first.rename(flagged)
    second.unlink()
    # Down again: a new message arrives meanwhile.
    world.deliver("alice", "Arrived later", "later body")
    _sync(cfg)

    door = world.door("alice")
    page = door.list_messages("INBOX", limit=50)
    by_subject = {m.subject: m for m in page.items}
    assert len(page.items) == 3  # 3 - 1 deleted + 1 new
    assert sum(1 for m in page.items if m.flags.flagged and m.flags.seen) == 1
    assert "Arrived later" in by_subject
    assert any(b"later body" in p.read_bytes() for p in _messages(tmp_path))
    assert len(_messages(tmp_path)) == 3
    trash_or_gone = {m.id for m in page.items}
    assert len(set(ids) - trash_or_gone) == 1  # the deleted one left INBOX

    # A second sync with nothing new is a no-op on both sides.
    before = sorted(p.name for p in _messages(tmp_path))
    log = _sync(cfg)
    after = sorted(p.name for p in _messages(tmp_path))
    assert before == after
    assert "far side: 3 messages" in log
    again = door.list_messages("INBOX", limit=50)
    assert [(m.id, m.flags) for m in again.items] == [(m.id, m.flags) for m in page.items]
