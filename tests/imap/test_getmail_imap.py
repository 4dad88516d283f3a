"""getmail6 retrieves over IMAP: every message once, nothing of another account."""

from pathlib import Path

from imap_support import Server

from getmail_support import delivered, getmail, getmail_dir, getmail_setup, need_getmail


def test_getmail_over_imap(server: Server, getmail_dir: Path) -> None:
    need_getmail()
    for i in range(3):
        server.world.deliver("alice", f"Get {i}", f"getmail imap body {i}")
    server.world.deliver("bob", "Bob only", "bob body")
    maildir = getmail_setup(getmail_dir, "SimpleIMAPRetriever", server.address,
                            "alice@example.test")  # fmt: skip
    log = getmail(getmail_dir)
    got = delivered(maildir)
    assert len(got) == 3, log
    assert all(b"getmail imap body" in m for m in got)
    assert not any(b"bob body" in m for m in got)
    getmail(getmail_dir)  # again: already retrieved, nothing new
    assert len(delivered(maildir)) == 3


__all__ = ["getmail_dir"]  # the fixture, imported for pytest
