"""Test support: a real runtime on a temporary data directory with accounts."""

import os
import shutil
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

from mailward.access import MailAccess
from mailward.config import Settings
from mailward.core.principal import Principal, Protocol
from mailward.db import Database, Migration, apply_migrations, load_migrations
from mailward.runtime import Runtime

DOMAIN = "example.test"
PASSWORD = "correct horse battery"


def make_message(
    subject: str,
    body: str,
    *,
    sender: str = "sender@elsewhere.test",
    to: str = "someone@example.test",
    attachments: tuple[tuple[str, bytes], ...] = (),
) -> bytes:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    msg.set_content(body)
    for name, data in attachments:
        msg.add_attachment(data, maintype="application", subtype="octet-stream", filename=name)
    return msg.as_bytes()


def need_tool(command: str, package: str) -> str:
    """The path of a real client the test drives. In CI (MAILWARD_REQUIRE_TOOLS)
    a missing one fails the test; elsewhere it skips it."""
    path = shutil.which(command)
    if path is None:
        if os.environ.get("MAILWARD_REQUIRE_TOOLS"):
            pytest.fail(f"{command} is required (apt-get install {package}; .ci/run does)")
        pytest.skip(f"{command} is not installed (apt-get install {package})")
    return path


def open_runtime(data: Path, **settings: Any) -> Runtime:
    return Runtime.open(Settings(data=data, fast_hashing=True, **settings))


@dataclass
class World:
    rt: Runtime
    users: dict[str, Principal]

    def door(self, name: str) -> MailAccess:
        return self.rt.access(self.users[name])

    def deliver(self, name: str, subject: str, body: str = "body", **kw: object) -> str:
        address = self.users[name].address
        ids = self.rt.system().deliver([address], make_message(subject, body, to=address, **kw))  # type: ignore[arg-type]
        return ids[address]


def build_world(
    data: Path, names: tuple[str, ...] = ("alice", "bob", "carol"), **settings: Any
) -> World:
    rt = open_runtime(data, **settings)
    rt.directory.add_domain(DOMAIN)
    users = {}
    for name in names:
        rt.directory.add_user(f"{name}@{DOMAIN}", PASSWORD)
        users[name] = rt.logins.login(
            f"{name}@{DOMAIN}", PASSWORD, protocol=Protocol.CLI, remote="127.0.0.1", client="pytest"
        )
    return World(rt, users)


def store_db_before(path: Path, version: int, mailbox: str) -> tuple[Database, list[Migration]]:
    """A store database with the migrations before `version` applied, holding
    account a1 (domain d1) and its mailbox b1 named `mailbox`; and every store
    migration, for the test to apply the rest."""
    db = Database(path)
    migrations = load_migrations("store", "mailward.store.sqlite.migrations")
    apply_migrations(db, [m for m in migrations if m.version < version])
    with db.write() as c:
        c.execute("INSERT INTO domains VALUES ('d1', 'example.test', 0)")
        c.execute("INSERT INTO accounts VALUES ('a1', 'a@example.test', 'd1', 'x', 0, 0)")
        c.execute(
            "INSERT INTO mailboxes (account_id, id, name, uidvalidity) VALUES ('a1', 'b1', ?, 1)",
            (mailbox,),
        )
    return db, migrations
