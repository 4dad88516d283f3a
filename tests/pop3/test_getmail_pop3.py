"""getmail6 retrieves over POP3: every message once (by UIDL), nothing of another
account, nothing deleted on the server."""

from pathlib import Path

from pop3_support import Server

from getmail_support import delivered, getmail, getmail_dir, getmail_setup, need_getmail


def test_getmail_over_pop3(pop3: Server, getmail_dir: Path) -> None:
    need_getmail()
    for i in range(3):
        pop3.world.deliver("alice", f"Get {i}", f"getmail pop3 body {i}")
    pop3.world.deliver("bob", "Bob only", "bob body")
    maildir = getmail_setup(getmail_dir, "SimplePOP3Retriever", pop3.address,
                            "alice@example.test")  # fmt: skip
    log = getmail(getmail_dir)
    got = delivered(maildir)
    assert len(got) == 3, log
    assert all(b"getmail pop3 body" in m for m in got)
    assert not any(b"bob body" in m for m in got)
    getmail(getmail_dir)  # again: UIDL says all were seen, nothing new
    assert len(delivered(maildir)) == 3
    assert len(pop3.world.door("alice").list_messages("INBOX").items) == 3


__all__ = ["getmail_dir"]  # the fixture, imported for pytest
