"""Running Debian's getmail6 against our IMAP or POP3 server, into a Maildir.

getmail refuses to deliver as root; tests run as root in CI, so the Maildir
belongs to `nobody` and getmail's Maildir destination switches to that user
(under a directory `nobody` can reach: pytest's own are private to root)."""

import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from support import PASSWORD, need_tool


def need_getmail() -> str:
    return need_tool("getmail", "getmail6")


@pytest.fixture
def getmail_dir() -> Iterator[Path]:
    root = Path(tempfile.mkdtemp(prefix="mailward-getmail-"))
    root.chmod(0o755)
    yield root
    shutil.rmtree(root, ignore_errors=True)


def getmail_setup(root: Path, retriever: str, where: tuple[str, int], user: str) -> Path:
    """Write an rc file; returns the Maildir mail is delivered to."""
    maildir = root / "Maildir"
    for sub in ("new", "cur", "tmp"):
        (maildir / sub).mkdir(parents=True)
    extra = ""
    if os.geteuid() == 0:
        nobody = pwd.getpwnam("nobody")
        for d in (root, maildir, maildir / "new", maildir / "cur", maildir / "tmp"):
            os.chown(d, nobody.pw_uid, nobody.pw_gid)
        extra = "user = nobody\n"
    boxes = 'mailboxes = ("INBOX",)\n' if "IMAP" in retriever else ""
    (root / "getmailrc").write_text(
        f"[retriever]\ntype = {retriever}\nserver = {where[0]}\nport = {where[1]}\n"
        f"username = {user}\npassword = {PASSWORD}\n{boxes}\n"
        f"[destination]\ntype = Maildir\npath = {maildir}/\n{extra}\n"
        "[options]\nread_all = false\ndelete = false\nverbose = 1\n"
    )
    return maildir


def getmail(root: Path) -> str:
    done = subprocess.run(
        [need_getmail(), "--getmaildir", str(root), "--rcfile", "getmailrc"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def delivered(maildir: Path) -> list[bytes]:
    return sorted(p.read_bytes() for sub in ("new", "cur") for p in (maildir / sub).iterdir())
