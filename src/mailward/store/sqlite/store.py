"""The SQLite mail store. Every method takes account_id first (except directory
look-ups by address and the maintenance sweep), and every query filters on it."""

import json
import secrets
import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from functools import partial
from typing import Any, TypeVar

from mailward.core.errors import Conflict, IntegrityError, NotFound
from mailward.core.ids import (
    AccountId,
    DomainId,
    GrantId,
    MailboxId,
    MessageId,
    QueueId,
    SessionId,
)
from mailward.db import Committed, Database, apply_migrations, load_migrations
from mailward.store.rows import (
    AccountRow,
    AppPasswordRow,
    FetchRow,
    GrantRow,
    IndexRow,
    LoginRow,
    MailboxRow,
    MessageRow,
    NewMessage,
    QueueRow,
    SessionRow,
    TombstoneRow,
)

T = TypeVar("T")

_MSG_COLS = (
    "account_id, id, mailbox_id, uid, modseq, internal_us, size, flags, has_attachments,"
    " origin_mailbox_id, summary"
)
_TOMB_COLS = (
    "account_id, id, mailbox_id, mailbox_name, uid, internal_us, size, flags, has_attachments,"
    " summary, expunged_us, expunged_by, expires_us"
)
_MBX_COLS = (
    "account_id, id, name, special_use, uidvalidity, uidnext, highest_modseq, subscribed, seal"
)

_DELIVERY_TARGET = (
    "SELECT a.id, a.address, a.domain_id, a.password_hash, a.created_us, a.disabled, "
    + ", ".join("m." + c.strip() for c in _MBX_COLS.split(","))
    + " FROM accounts a JOIN mailboxes m ON m.account_id = a.id AND m.name = 'INBOX'"
    " WHERE a.address = ? AND a.disabled = 0"
)


_SESSION_COLS = (
    "account_id, id, token_hash, protocol, remote, device, created_us, last_seen_us, revoked_us"
)


def _session(r: Any) -> SessionRow:
    return SessionRow(
        AccountId(str(r[0])),
        SessionId(str(r[1])),
        bytes(r[2]),
        str(r[3]),
        str(r[4]),
        str(r[5]),
        int(r[6]),
        int(r[7]),
        None if r[8] is None else int(r[8]),
    )


class _SecondFactorStore:
    """TOTP secrets (sealed) and recovery codes (see migration 0007)."""

    db: Database

    def second_factor(self, account_id: AccountId) -> tuple[bytes, int | None, int] | None:
        r = (
            self.db.read()
            .execute(
                "SELECT secret, confirmed_us, last_step FROM second_factors WHERE account_id = ?",
                (account_id,),
            )
            .fetchone()
        )
        return (bytes(r[0]), None if r[1] is None else int(r[1]), int(r[2])) if r else None

    def set_second_factor(
        self, account_id: AccountId, secret: bytes, confirmed_us: int | None
    ) -> None:
        with self.db.write() as c:
            c.execute(
                "INSERT INTO second_factors (account_id, secret, confirmed_us) VALUES (?, ?, ?)"
                " ON CONFLICT (account_id) DO UPDATE SET secret = excluded.secret,"
                " confirmed_us = excluded.confirmed_us",
                (account_id, secret, confirmed_us),
            )

    def use_time_step(self, account_id: AccountId, step: int) -> bool:
        with self.db.write() as c:
            cur = c.execute(
                "UPDATE second_factors SET last_step = ? WHERE account_id = ? AND last_step < ?",
                (step, account_id, step),
            )
            return cur.rowcount == 1

    def drop_second_factor(self, account_id: AccountId) -> None:
        with self.db.write() as c:
            c.execute("DELETE FROM second_factors WHERE account_id = ?", (account_id,))
            c.execute("DELETE FROM recovery_codes WHERE account_id = ?", (account_id,))

    def set_recovery_codes(self, account_id: AccountId, hashes: list[bytes]) -> None:
        with self.db.write() as c:
            c.execute("DELETE FROM recovery_codes WHERE account_id = ?", (account_id,))
            c.executemany(
                "INSERT INTO recovery_codes (account_id, code_hash) VALUES (?, ?)",
                [(account_id, h) for h in hashes],
            )

    def use_recovery_code(self, account_id: AccountId, code_hash: bytes, at_us: int) -> bool:
        with self.db.write() as c:
            cur = c.execute(
                "UPDATE recovery_codes SET used_us = ? WHERE account_id = ? AND code_hash = ?"
                " AND used_us IS NULL",
                (at_us, account_id, code_hash),
            )
            return cur.rowcount == 1


class _SessionStore:
    """Web and API sessions (see migration 0004)."""

    db: Database

    def add_session(self, row: SessionRow) -> None:
        with self.db.write() as c:
            c.execute(
                f"INSERT INTO sessions ({_SESSION_COLS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    row.account_id,
                    row.id,
                    row.token_hash,
                    row.protocol,
                    row.remote,
                    row.device,
                    row.created_us,
                    row.last_seen_us,
                    row.revoked_us,
                ),
            )

    def session_by_token_hash(self, token_hash: bytes) -> SessionRow | None:
        r = (
            self.db.read()
            .execute(f"SELECT {_SESSION_COLS} FROM sessions WHERE token_hash = ?", (token_hash,))
            .fetchone()
        )
        return _session(r) if r else None

    def sessions(
        self,
        account_id: AccountId,
        *,
        seen_since_us: int = 0,
        limit: int = -1,
        first: SessionId | None = None,
    ) -> list[SessionRow]:
        rows = (
            self.db.read()
            .execute(
                f"SELECT {_SESSION_COLS} FROM sessions WHERE account_id = ? AND revoked_us IS NULL"
                " AND last_seen_us >= ? ORDER BY id IS ? DESC, last_seen_us DESC LIMIT ?",
                (account_id, seen_since_us, first, limit),
            )
            .fetchall()
        )
        return [_session(r) for r in rows]

    def session_count(self, account_id: AccountId, *, seen_since_us: int = 0) -> int:
        row = (
            self.db.read()
            .execute(
                "SELECT count(*) FROM sessions WHERE account_id = ? AND revoked_us IS NULL"
                " AND last_seen_us >= ?",
                (account_id, seen_since_us),
            )
            .fetchone()
        )
        return int(row[0])

    def touch_session(self, account_id: AccountId, session_id: SessionId, at_us: int) -> None:
        with self.db.write() as c:
            c.execute(
                "UPDATE sessions SET last_seen_us = ? WHERE account_id = ? AND id = ?",
                (at_us, account_id, session_id),
            )

    def revoke_session(self, account_id: AccountId, session_id: SessionId, at_us: int) -> bool:
        with self.db.write() as c:
            cur = c.execute(
                "UPDATE sessions SET revoked_us = ? WHERE account_id = ? AND id = ?"
                " AND revoked_us IS NULL",
                (at_us, account_id, session_id),
            )
            return cur.rowcount == 1


class _QueueStore:
    """The outbound queue's table (see migration 0003)."""

    db: Database

    def enqueue(self, row: QueueRow) -> None:
        with self.db.write() as c:
            c.execute(
                f"INSERT INTO outbound_queue ({_QUEUE_COLS}) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    row.account_id,
                    row.id,
                    row.created_us,
                    row.size,
                    row.attempts,
                    row.next_attempt_us,
                    row.state,
                ),
            )

    def queued(self, account_id: AccountId, queue_id: QueueId) -> QueueRow | None:
        r = (
            self.db.read()
            .execute(
                f"SELECT {_QUEUE_COLS} FROM outbound_queue WHERE account_id = ? AND id = ?",
                (account_id, queue_id),
            )
            .fetchone()
        )
        return _queued(r) if r else None

    def due_queue(self, now_us: int, limit: int) -> list[QueueRow]:
        rows = (
            self.db.read()
            .execute(
                f"SELECT {_QUEUE_COLS} FROM outbound_queue WHERE next_attempt_us <= ?"
                " ORDER BY next_attempt_us, created_us LIMIT ?",
                (now_us, limit),
            )
            .fetchall()
        )
        return [_queued(r) for r in rows]

    def all_queued(self) -> list[QueueRow]:
        rows = (
            self.db.read()
            .execute(f"SELECT {_QUEUE_COLS} FROM outbound_queue ORDER BY created_us")
            .fetchall()
        )
        return [_queued(r) for r in rows]

    def update_queued(
        self,
        account_id: AccountId,
        queue_id: QueueId,
        attempts: int,
        next_attempt_us: int,
        state: bytes,
    ) -> None:
        with self.db.write() as c:
            cur = c.execute(
                "UPDATE outbound_queue SET attempts = ?, next_attempt_us = ?, state = ?"
                " WHERE account_id = ? AND id = ?",
                (attempts, next_attempt_us, state, account_id, queue_id),
            )
            if cur.rowcount != 1:
                raise NotFound("no such queue entry")

    def reschedule_all(self, next_attempt_us: int) -> int:
        with self.db.write() as c:
            return int(
                c.execute(
                    "UPDATE outbound_queue SET next_attempt_us = ?", (next_attempt_us,)
                ).rowcount
            )

    def dequeue(self, account_id: AccountId, queue_id: QueueId) -> None:
        with self.db.write() as c:
            c.execute(
                "DELETE FROM outbound_queue WHERE account_id = ? AND id = ?",
                (account_id, queue_id),
            )


TARGET_TTL_S = 2.0


_APP_COLS = "account_id, id, name, hash, created_us, last_used_us, revoked_us"


def _login_rows(rows: Any) -> list[LoginRow]:
    return [
        LoginRow(r[0], r[1], AccountId(r[2]), r[3], r[4], r[5], r[6], bool(r[7]), r[8])
        for r in rows
    ]


def _now_us() -> int:
    return time.time_ns() // 1000


# A page of rows as one row (see `messages`): the small columns as a JSON array per
# row, the sealed list fields concatenated in the same pass (one aggregate step
# feeds both), each row's length in its array. In hex inside the JSON they were
# encoded by SQLite, scanned by the JSON parser and decoded again: ~7 % of a page.
_MSG_PACKED = (
    "json_group_array(json_array(account_id, id, mailbox_id, uid, modseq, internal_us, size,"
    " flags, has_attachments, origin_mailbox_id, length(summary))),"
    " CAST(group_concat(summary, '') AS BLOB)"
)


def _page_query(
    columns: str,
    account_id: AccountId,
    mailbox_id: MailboxId,
    limit: int,
    before: tuple[int, str] | None,
) -> tuple[str, tuple[object, ...]]:
    """The query of a page of a mailbox, newest first (`messages`, `page_bytes`)."""
    args: tuple[object, ...] = (account_id, mailbox_id)
    where = ""
    if before is not None:
        where, args = " AND (internal_us, id) < (?, ?)", (*args, before[0], before[1])
    return (
        f"SELECT {columns} FROM messages WHERE account_id = ? AND mailbox_id = ?{where}"
        " ORDER BY internal_us DESC, id DESC LIMIT ?",
        (*args, limit),
    )


def _unpacked(packed: Any) -> list[MessageRow]:
    """The rows of one `_MSG_PACKED` result. SQLite's JSON keeps the columns' types
    (text, integer, null); the flag is 0/1. A NULL summary (a row not yet
    converted, migration 0013) is left out of the concatenation and comes back
    empty: it fails to open."""
    if not packed or not packed[0]:
        return []
    rows, sealed = json.loads(packed[0]), packed[1] or b""
    at = 0
    for r in rows:
        n = r[10] or 0
        r[8] = r[8] == 1
        r[10] = sealed[at : at + n]
        at += n
    if at != len(sealed):
        raise IntegrityError("a page of rows does not add up")
    new = tuple.__new__
    return [new(MessageRow, r) for r in rows]


def _message(r: Any) -> MessageRow:
    return MessageRow(
        AccountId(str(r[0])),
        MessageId(str(r[1])),
        MailboxId(str(r[2])),
        int(r[3]),
        int(r[4]),
        int(r[5]),
        int(r[6]),
        str(r[7]),
        bool(r[8]),
        MailboxId(str(r[9])) if r[9] is not None else None,
        bytes(r[10] or b""),  # NULL: not yet converted (migration 0013), fails to open
    )


def _mailbox(r: Any, total: int = 0, unseen: int = 0) -> MailboxRow:
    return MailboxRow(
        AccountId(str(r[0])),
        MailboxId(str(r[1])),
        str(r[2]),
        str(r[3]) if r[3] is not None else None,
        int(r[4]),
        int(r[5]),
        int(r[6]),
        bool(r[7]),
        total,
        unseen,
        bytes(r[8] or b""),  # NULL: not yet sealed (migration 0014), does not open
    )


def _called(fn: Callable[[], T], _conn: sqlite3.Connection) -> T:
    return fn()


def _seen(flags: str) -> int:
    return 1 if "\\Seen" in flags.split() else 0


class SqliteStore(_QueueStore, _SessionStore, _SecondFactorStore):
    """MailStore on SQLite. See `mailward.store.interface.MailStore` for the contract."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._targets: dict[str, tuple[float, tuple[AccountRow, MailboxRow]]] = {}
        apply_migrations(db, load_migrations("store", "mailward.store.sqlite.migrations"))

    @contextmanager
    def transaction(self) -> Iterator[None]:
        with self.db.write():
            yield

    def atomically(self, fn: Callable[[], T]) -> T:
        return self.db.run(lambda _conn: fn())

    def each_atomically(self, fns: Sequence[Callable[[], T]]) -> list[T | Exception]:
        return self.db.run_each([partial(_called, fn) for fn in fns])

    def try_each_atomically(
        self, fns: Sequence[Callable[[], T]]
    ) -> Committed[list[T | Exception]] | None:
        return self.db.try_run_each([partial(_called, fn) for fn in fns])

    # -- directory ---------------------------------------------------------------------

    def add_domain(self, domain_id: DomainId, name: str) -> None:
        try:
            with self.db.write() as c:
                c.execute(
                    "INSERT INTO domains (id, name, created_us) VALUES (?, ?, ?)",
                    (domain_id, name, _now_us()),
                )
        except sqlite3.IntegrityError:
            raise Conflict(f"domain {name} exists") from None

    def domains(self) -> list[tuple[DomainId, str, int]]:
        rows = self.db.read().execute("SELECT id, name, created_us FROM domains ORDER BY name")
        return [(DomainId(r[0]), str(r[1]), int(r[2])) for r in rows]

    def domain_id(self, name: str) -> DomainId | None:
        row = self.db.read().execute("SELECT id FROM domains WHERE name = ?", (name,)).fetchone()
        return DomainId(row[0]) if row else None

    def add_account(self, row: AccountRow) -> None:
        try:
            with self.db.write() as c:
                c.execute(
                    "INSERT INTO accounts (id, address, domain_id, password_hash, created_us,"
                    " disabled) VALUES (?, ?, ?, ?, ?, ?)",
                    (row.id, row.address, row.domain_id, row.password_hash, row.created_us, 0),
                )
        except sqlite3.IntegrityError:
            raise Conflict(f"account {row.address} exists") from None

    def _account(self, where: str, arg: str) -> AccountRow | None:
        r = (
            self.db.read()
            .execute(
                "SELECT id, address, domain_id, password_hash, created_us, disabled"
                f" FROM accounts WHERE {where} = ?",
                (arg,),
            )
            .fetchone()
        )
        if r is None:
            return None
        return AccountRow(AccountId(r[0]), r[1], DomainId(r[2]), r[3], int(r[4]), bool(r[5]))

    def account_by_address(self, address: str) -> AccountRow | None:
        return self._account("address", address)

    def delivery_target(self, address: str) -> tuple[AccountRow, MailboxRow] | None:
        """The live account at `address` and its INBOX, in one query (delivery path).

        Remembered for TARGET_TTL_S: an SMTP transaction asks at RCPT and again at
        DATA. Only ids and names are used from the row; an account disabled
        meanwhile still receives for at most that long.
        """
        now = time.monotonic()
        hit = self._targets.get(address)
        if hit is not None and hit[0] > now:
            return hit[1]
        found = self._delivery_target(address)
        if found is not None:
            if len(self._targets) > 10_000:
                self._targets.clear()
            self._targets[address] = (now + TARGET_TTL_S, found)
        return found

    def _delivery_target(self, address: str) -> tuple[AccountRow, MailboxRow] | None:
        r = (
            self.db.read()
            .execute(
                _DELIVERY_TARGET,
                (address,),
            )
            .fetchone()
        )
        if r is None:
            return None
        account = AccountRow(AccountId(r[0]), r[1], DomainId(r[2]), r[3], int(r[4]), bool(r[5]))
        return account, _mailbox(r[6:])

    def account(self, account_id: AccountId) -> AccountRow | None:
        return self._account("id", account_id)

    def accounts(self) -> list[AccountRow]:
        rows = self.db.read().execute(
            "SELECT id, address, domain_id, password_hash, created_us, disabled"
            " FROM accounts ORDER BY address"
        )
        return [
            AccountRow(AccountId(r[0]), r[1], DomainId(r[2]), r[3], r[4], bool(r[5])) for r in rows
        ]

    def set_password_hash(self, account_id: AccountId, password_hash: str) -> None:
        with self.db.write() as c:
            c.execute(
                "UPDATE accounts SET password_hash = ? WHERE id = ?", (password_hash, account_id)
            )

    def add_login_event(self, row: LoginRow) -> int:
        with self.db.write() as c:
            cur = c.execute(
                "INSERT INTO login_events (at_us, account_id, address, remote, protocol, client,"
                " success, reason) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    row.at_us,
                    row.account_id,
                    row.address,
                    row.remote,
                    row.protocol,
                    row.client,
                    int(row.success),
                    row.reason,
                ),
            )
            return int(cur.lastrowid or 0)

    def failed_logins(self, *, address: str = "", remote: str = "", since_us: int) -> int:
        c = self.db.read()
        if address:
            row = c.execute(
                "SELECT count(*) FROM login_events WHERE address = ? AND success = 0"
                " AND at_us >= ? AND id > coalesce((SELECT max(id) FROM login_events"
                " WHERE address = ? AND success = 1), 0)",
                (address, since_us, address),
            ).fetchone()
        else:
            row = c.execute(
                "SELECT count(*) FROM login_events WHERE remote = ? AND success = 0 AND at_us >= ?",
                (remote, since_us),
            ).fetchone()
        return int(row[0])

    def login_events(self, account_id: AccountId, limit: int = 100) -> list[LoginRow]:
        rows = self.db.read().execute(
            "SELECT id, at_us, account_id, address, remote, protocol, client, success, reason"
            " FROM login_events WHERE account_id = ? ORDER BY id DESC LIMIT ?",
            (account_id, limit),
        )
        return _login_rows(rows)

    def add_app_password(self, row: AppPasswordRow) -> None:
        with self.db.write() as c:
            c.execute(
                "INSERT INTO app_passwords (account_id, id, name, hash, created_us) VALUES"
                " (?, ?, ?, ?, ?)",
                (row.account_id, row.id, row.name, row.hash, row.created_us),
            )

    def app_passwords(self, account_id: AccountId) -> list[AppPasswordRow]:
        rows = self.db.read().execute(
            f"SELECT {_APP_COLS} FROM app_passwords WHERE account_id = ? AND revoked_us IS NULL"
            " ORDER BY created_us",
            (account_id,),
        )
        return [AppPasswordRow(AccountId(r[0]), *r[1:]) for r in rows]

    def app_password_by_hash(self, digest: bytes) -> AppPasswordRow | None:
        r = (
            self.db.read()
            .execute(f"SELECT {_APP_COLS} FROM app_passwords WHERE hash = ?", (digest,))
            .fetchone()
        )
        return None if r is None else AppPasswordRow(AccountId(r[0]), *r[1:])

    def touch_app_password(self, account_id: AccountId, app_id: str, now_us: int) -> None:
        with self.db.write() as c:
            c.execute(
                "UPDATE app_passwords SET last_used_us = ? WHERE account_id = ? AND id = ?",
                (now_us, account_id, app_id),
            )

    def revoke_app_password(self, account_id: AccountId, app_id: str, now_us: int) -> bool:
        with self.db.write() as c:
            cur = c.execute(
                "UPDATE app_passwords SET revoked_us = ? WHERE account_id = ? AND id = ?"
                " AND revoked_us IS NULL",
                (now_us, account_id, app_id),
            )
            return cur.rowcount == 1

    def set_notice_address(self, account_id: AccountId, address: str | None) -> None:
        with self.db.write() as c:
            if address is None:
                c.execute("DELETE FROM notice_addresses WHERE account_id = ?", (account_id,))
            else:
                c.execute(
                    "INSERT INTO notice_addresses (account_id, address) VALUES (?, ?)"
                    " ON CONFLICT (account_id) DO UPDATE SET address = excluded.address",
                    (account_id, address),
                )

    def notice_address(self, account_id: AccountId) -> str | None:
        row = (
            self.db.read()
            .execute("SELECT address FROM notice_addresses WHERE account_id = ?", (account_id,))
            .fetchone()
        )
        return None if row is None else str(row[0])

    def recent_login_events(self, limit: int) -> list[LoginRow]:
        rows = self.db.read().execute(
            "SELECT id, at_us, account_id, address, remote, protocol, client, success, reason"
            " FROM login_events ORDER BY id DESC LIMIT ?",
            (limit,),
        )
        return _login_rows(rows)

    # -- mailboxes ---------------------------------------------------------------------

    def create_mailbox(
        self,
        account_id: AccountId,
        mailbox_id: MailboxId,
        name: str,
        special_use: str | None,
        seal: bytes,
    ) -> MailboxRow:
        uidvalidity = secrets.randbelow(2**31 - 2) + 1  # RFC 9051 §2.3.1.1: nonzero
        try:
            with self.db.write() as c:
                c.execute(
                    "INSERT INTO mailboxes (account_id, id, name, special_use, uidvalidity, seal)"
                    " VALUES (?, ?, ?, ?, ?, ?)",
                    (account_id, mailbox_id, name, special_use, uidvalidity, seal),
                )
        except sqlite3.IntegrityError:
            raise Conflict(f"mailbox {name} exists") from None
        return MailboxRow(
            account_id, mailbox_id, name, special_use, uidvalidity, 1, 1, True, seal=seal
        )

    def mailboxes(self, account_id: AccountId) -> list[MailboxRow]:
        """With counts kept by triggers (migration 0008)."""
        rows = self.db.read().execute(
            f"SELECT {_MBX_COLS}, total, unseen FROM mailboxes WHERE account_id = ? ORDER BY name",
            (account_id,),
        )
        return [_mailbox(r, int(r[-2]), int(r[-1])) for r in rows]

    def mailbox_count(self, account_id: AccountId) -> int:
        row = (
            self.db.read()
            .execute("SELECT count(*) FROM mailboxes WHERE account_id = ?", (account_id,))
            .fetchone()
        )
        return int(row[0])

    def mailbox(self, account_id: AccountId, mailbox_id: MailboxId) -> MailboxRow | None:
        r = (
            self.db.read()
            .execute(
                f"SELECT {_MBX_COLS}, total, unseen FROM mailboxes WHERE account_id = ? AND id = ?",
                (account_id, mailbox_id),
            )
            .fetchone()
        )
        return _mailbox(r, int(r[-2]), int(r[-1])) if r else None

    def mailbox_by_name(self, account_id: AccountId, name: str) -> MailboxRow | None:
        r = (
            self.db.read()
            .execute(
                f"SELECT {_MBX_COLS}, total, unseen FROM mailboxes"
                " WHERE account_id = ? AND name = ?",
                (account_id, name),
            )
            .fetchone()
        )
        return _mailbox(r, int(r[-2]), int(r[-1])) if r else None

    def rename_mailbox(
        self, account_id: AccountId, mailbox_id: MailboxId, name: str, seal: bytes
    ) -> None:
        try:
            with self.db.write() as c:
                c.execute(
                    "UPDATE mailboxes SET name = ?, seal = ? WHERE account_id = ? AND id = ?",
                    (name, seal, account_id, mailbox_id),
                )
        except sqlite3.IntegrityError:
            raise Conflict(f"mailbox {name} exists") from None

    def set_subscribed(self, account_id: AccountId, mailbox_id: MailboxId, on: bool) -> None:
        with self.db.write() as c:
            c.execute(
                "UPDATE mailboxes SET subscribed = ? WHERE account_id = ? AND id = ?",
                (int(on), account_id, mailbox_id),
            )

    def delete_mailbox(self, account_id: AccountId, mailbox_id: MailboxId) -> None:
        with self.db.write() as c:
            left = c.execute(
                "SELECT count(*) FROM messages WHERE account_id = ? AND mailbox_id = ?",
                (account_id, mailbox_id),
            ).fetchone()[0]
            if left:
                raise Conflict("mailbox is not empty")
            c.execute(
                "DELETE FROM mailboxes WHERE account_id = ? AND id = ?", (account_id, mailbox_id)
            )

    def _bump(self, c: sqlite3.Connection, account_id: AccountId, mailbox_id: MailboxId) -> int:
        """Increment the mailbox's highest modseq (RFC 7162 §3.1) and return it."""
        row = c.execute(
            "UPDATE mailboxes SET highest_modseq = highest_modseq + 1"
            " WHERE account_id = ? AND id = ? RETURNING highest_modseq",
            (account_id, mailbox_id),
        ).fetchone()
        if row is None:
            raise NotFound("mailbox not found")
        return int(row[0])

    def _next_uid(
        self, c: sqlite3.Connection, account_id: AccountId, mailbox_id: MailboxId
    ) -> tuple[int, int]:
        """Allocate a UID (RFC 9051 §2.3.1.1: strictly ascending) and a modseq."""
        row = c.execute(
            "UPDATE mailboxes SET uidnext = uidnext + 1, highest_modseq = highest_modseq + 1"
            " WHERE account_id = ? AND id = ? RETURNING uidnext - 1, highest_modseq",
            (account_id, mailbox_id),
        ).fetchone()
        if row is None:
            raise NotFound("mailbox not found")
        return int(row[0]), int(row[1])

    # -- messages ----------------------------------------------------------------------

    def insert_message(self, account_id: AccountId, m: NewMessage) -> MessageRow:
        with self.db.write() as c:
            uid, modseq = self._next_uid(c, account_id, m.mailbox_id)
            c.execute(
                f"INSERT INTO messages ({_MSG_COLS}, seen)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, ?, ?)",
                (
                    account_id,
                    m.id,
                    m.mailbox_id,
                    uid,
                    modseq,
                    m.internal_us,
                    m.size,
                    m.flags,
                    int(m.has_attachments),
                    m.sealed,
                    _seen(m.flags),
                ),
            )
        return MessageRow(
            account_id,
            m.id,
            m.mailbox_id,
            uid,
            modseq,
            m.internal_us,
            m.size,
            m.flags,
            m.has_attachments,
            None,
            m.sealed,
        )

    def message(self, account_id: AccountId, message_id: MessageId) -> MessageRow | None:
        r = (
            self.db.read()
            .execute(
                f"SELECT {_MSG_COLS} FROM messages WHERE account_id = ? AND id = ?",
                (account_id, message_id),
            )
            .fetchone()
        )
        return _message(r) if r else None

    def messages(
        self,
        account_id: AccountId,
        mailbox_id: MailboxId,
        limit: int,
        before: tuple[int, str] | None = None,
    ) -> list[MessageRow]:
        """Newest first by (internal date, id); `before` continues a previous page.

        The page comes back as one row (`_MSG_PACKED`): stepping 50 rows gives up
        and retakes the interpreter lock 50 times, which under concurrent readers
        cost more than the query (measured with 4 threads: 1,650 pages/s row by
        row, 3,600 as one row)."""
        query, args = _page_query(_MSG_COLS, account_id, mailbox_id, limit, before)
        row = self.db.read().execute(f"SELECT {_MSG_PACKED} FROM ({query})", args).fetchone()
        return _unpacked(row)

    def page_bytes(
        self,
        account_id: AccountId,
        mailbox_id: MailboxId,
        limit: int,
        before: tuple[int, str] | None = None,
    ) -> int:
        """length() on the columns themselves, in the inner query: SQLite takes it from
        the record's header and leaves a long value's overflow pages unread (50
        values of 2 MB: 0.3 ms, where reading them took 40)."""
        query, args = _page_query(
            "length(summary) + length(flags) AS n", account_id, mailbox_id, limit, before
        )
        row = self.db.read().execute(f"SELECT sum(n) FROM ({query})", args).fetchone()
        return int(row[0] or 0)

    def messages_by_ids(
        self, account_id: AccountId, message_ids: list[MessageId]
    ) -> list[MessageRow]:
        """The account's messages among `message_ids` (any order; missing ones left
        out), as one row like `messages`."""
        if not message_ids:
            return []
        row = (
            self.db.read()
            .execute(
                f"SELECT {_MSG_PACKED} FROM messages"
                " WHERE account_id = ? AND id IN (SELECT value FROM json_each(?))",
                (account_id, json.dumps(message_ids)),
            )
            .fetchone()
        )
        return _unpacked(row)

    def fetch_rows(self, account_id: AccountId, message_ids: list[MessageId]) -> list[FetchRow]:
        if not message_ids:
            return []
        row = (
            self.db.read()
            .execute(
                "SELECT json_group_array(json_array(account_id, id, mailbox_id, flags,"
                " hex(summary))) FROM messages"
                " WHERE account_id = ? AND id IN (SELECT value FROM json_each(?))",
                (account_id, json.dumps(message_ids)),
            )
            .fetchone()
        )
        if not row or not row[0]:
            return []
        fromhex = bytes.fromhex
        return [FetchRow(a, i, b, str(f), fromhex(h)) for a, i, b, f, h in json.loads(row[0])]

    def cached_parts(
        self, account_id: AccountId, message_ids: list[MessageId], parts: list[str]
    ) -> list[tuple[AccountId, MessageId, str, bytes]]:
        if not message_ids or not parts:
            return []
        row = (
            self.db.read()
            .execute(
                "SELECT json_group_array(json_array(account_id, id, part, hex(sealed)))"
                " FROM message_cache WHERE account_id = ?"
                " AND id IN (SELECT value FROM json_each(?))"
                " AND part IN (SELECT value FROM json_each(?))",
                (account_id, json.dumps(message_ids), json.dumps(parts)),
            )
            .fetchone()
        )
        if not row or not row[0]:
            return []
        return [
            (AccountId(a), MessageId(i), str(p), bytes.fromhex(h))
            for a, i, p, h in json.loads(row[0])
        ]

    def put_cached_parts(
        self, account_id: AccountId, entries: list[tuple[MessageId, str, bytes]]
    ) -> None:
        if not entries:
            return
        with self.db.write() as c:
            c.executemany(
                "INSERT OR REPLACE INTO message_cache (account_id, id, part, sealed)"
                " SELECT ?, ?, ?, ? WHERE EXISTS"
                " (SELECT 1 FROM messages WHERE account_id = ? AND id = ?)",
                [(account_id, i, p, b, account_id, i) for i, p, b in entries],
            )

    # -- folder rows stored before their seals (migration 0014) ------------------------

    def unsealed_mailboxes(self, limit: int) -> list[tuple[AccountId, MailboxId, str]]:
        rows = self.db.read().execute(
            "SELECT m.account_id, m.id, m.name FROM folder_seals_pending p JOIN mailboxes m"
            " ON m.account_id = p.account_id AND m.id = p.id ORDER BY p.account_id, p.id LIMIT ?",
            (limit,),
        )
        return [(AccountId(a), MailboxId(i), str(n)) for a, i, n in rows]

    def set_mailbox_seals(self, seals: list[tuple[AccountId, MailboxId, str, bytes]]) -> None:
        with self.db.write() as c:
            for owner, box, name, seal in seals:
                sealed = c.execute(
                    "UPDATE mailboxes SET seal = ? WHERE account_id = ? AND id = ? AND name = ?"
                    " AND EXISTS (SELECT 1 FROM folder_seals_pending p"
                    " WHERE p.account_id = mailboxes.account_id AND p.id = mailboxes.id)",
                    (seal, owner, box, name),
                ).rowcount
                if sealed:
                    c.execute(
                        "DELETE FROM folder_seals_pending WHERE account_id = ? AND id = ?",
                        (owner, box),
                    )
            c.execute(  # folders deleted since the migration
                "DELETE FROM folder_seals_pending WHERE NOT EXISTS (SELECT 1 FROM mailboxes m"
                " WHERE m.account_id = folder_seals_pending.account_id"
                " AND m.id = folder_seals_pending.id)"
            )

    # -- the five sealed list fields of earlier rows (migration 0013) -------------------

    def legacy_list_fields(self) -> int:
        """How many rows still have their list fields as five sealed values."""
        row = self.db.read().execute("SELECT count(*) FROM legacy_list_fields WHERE kept = 0")
        return int(row.fetchone()[0])

    def legacy_rows(self, limit: int) -> list[tuple[str, AccountId, MessageId, list[bytes]]]:
        """Up to `limit` rows not yet converted: table, owner, id, and the sealed
        subject, from, to, cc and snippet."""
        rows = self.db.read().execute(
            "SELECT tbl, account_id, id, subject, sender, recipients, cc, snippet"
            " FROM legacy_list_fields WHERE kept = 0 LIMIT ?",
            (limit,),
        )
        return [
            (str(t), AccountId(a), MessageId(i), [bytes(x) for x in old]) for t, a, i, *old in rows
        ]

    def set_sealed_fields(
        self, converted: list[tuple[str, AccountId, MessageId, bytes, bool]]
    ) -> None:
        """Store each row's list fields sealed as one value, in one unit; the old
        values are dropped, or kept (flagged) where the last element is True."""
        with self.db.write() as c:
            for table, owner, item, sealed, keep in converted:
                assert table in ("messages", "tombstones")
                c.execute(
                    f"UPDATE {table} SET summary = ? WHERE account_id = ? AND id = ?",
                    (sealed, owner, item),
                )
                where = " WHERE tbl = ? AND account_id = ? AND id = ?"
                verb = (
                    "UPDATE legacy_list_fields SET kept = 1"
                    if keep
                    else "DELETE FROM legacy_list_fields"
                )
                c.execute(verb + where, (table, owner, item))

    def message_owner(self, message_id: MessageId) -> AccountId | None:
        r = (
            self.db.read()
            .execute("SELECT account_id FROM messages WHERE id = ? LIMIT 1", (message_id,))
            .fetchone()
        )
        return AccountId(str(r[0])) if r else None

    def message_ids(self, account_id: AccountId, mailbox_id: MailboxId) -> list[MessageId]:
        rows = self.db.read().execute(
            "SELECT id FROM messages WHERE account_id = ? AND mailbox_id = ? ORDER BY uid",
            (account_id, mailbox_id),
        )
        return [MessageId(r[0]) for r in rows]

    def mailbox_uids(
        self, account_id: AccountId, mailbox_id: MailboxId, first_uid: int = 1
    ) -> list[int]:
        # One row (a comma list built by SQLite from the covering UID index): 100,000
        # rows stepped one by one cost several times the query.
        row = (
            self.db.read()
            .execute(
                "SELECT group_concat(uid) FROM (SELECT uid FROM messages"
                " WHERE account_id = ? AND mailbox_id = ? AND uid >= ? ORDER BY uid)",
                (account_id, mailbox_id, first_uid),
            )
            .fetchone()
        )
        return [int(u) for u in row[0].split(",")] if row and row[0] else []

    def first_unseen_uid(self, account_id: AccountId, mailbox_id: MailboxId) -> int | None:
        # One seek in messages_unseen (account, mailbox, seen, uid).
        row = (
            self.db.read()
            .execute(
                "SELECT min(uid) FROM messages"
                " WHERE account_id = ? AND mailbox_id = ? AND seen = 0",
                (account_id, mailbox_id),
            )
            .fetchone()
        )
        return int(row[0]) if row and row[0] is not None else None

    def index_rows(
        self,
        account_id: AccountId,
        mailbox_id: MailboxId,
        first_uid: int,
        last_uid: int,
        changed_since: int = 0,
        limit: int = -1,
    ) -> list[IndexRow]:
        # One row, a JSON array built by SQLite (as in `messages`): stepping 100,000
        # rows gives up and retakes the interpreter lock 100,000 times.
        row = (
            self.db.read()
            .execute(
                "SELECT json_group_array(json_array(account_id, id, uid, modseq, internal_us,"
                " size, flags)) FROM (SELECT account_id, id, uid, modseq, internal_us, size,"
                " flags FROM messages WHERE account_id = ? AND mailbox_id = ?"
                " AND uid BETWEEN ? AND ? AND modseq > ? ORDER BY uid LIMIT ?)",
                (account_id, mailbox_id, first_uid, last_uid, changed_since, limit),
            )
            .fetchone()
        )
        return list(map(IndexRow._make, json.loads(row[0]))) if row and row[0] else []

    def set_flags(self, account_id: AccountId, message_id: MessageId, flags: str) -> MessageRow:
        with self.db.write() as c:
            row = self.message(account_id, message_id)
            if row is None:
                raise NotFound("message not found")
            modseq = self._bump(c, account_id, row.mailbox_id)
            c.execute(
                "UPDATE messages SET flags = ?, seen = ?, modseq = ?"
                " WHERE account_id = ? AND id = ?",
                (flags, _seen(flags), modseq, account_id, message_id),
            )
        return row._replace(flags=flags, modseq=modseq)

    def move_message(
        self,
        account_id: AccountId,
        message_id: MessageId,
        to_mailbox: MailboxId,
        origin: MailboxId | None,
    ) -> MessageRow:
        """Move into `to_mailbox` with a new UID; `origin` is remembered for restore."""
        with self.db.write() as c:
            row = self.message(account_id, message_id)
            if row is None:
                raise NotFound("message not found")
            self._bump(c, account_id, row.mailbox_id)
            uid, modseq = self._next_uid(c, account_id, to_mailbox)
            c.execute(
                "UPDATE messages SET mailbox_id = ?, uid = ?, modseq = ?, origin_mailbox_id = ?"
                " WHERE account_id = ? AND id = ?",
                (to_mailbox, uid, modseq, origin, account_id, message_id),
            )
        return row._replace(mailbox_id=to_mailbox, uid=uid, modseq=modseq, origin_mailbox_id=origin)

    def expunge_message(
        self, account_id: AccountId, message_id: MessageId, by: str, retention_us: int
    ) -> TombstoneRow:
        """Remove the message, leaving a sealed tombstone until now + retention."""
        with self.db.write() as c:
            row = self.message(account_id, message_id)
            if row is None:
                raise NotFound("message not found")
            box = self.mailbox(account_id, row.mailbox_id)
            self._bump(c, account_id, row.mailbox_id)
            now = _now_us()
            tomb = TombstoneRow(
                account_id,
                row.id,
                row.mailbox_id,
                box.name if box else "",
                row.uid,
                row.internal_us,
                row.size,
                row.flags,
                row.has_attachments,
                row.sealed,
                now,
                by,
                now + retention_us,
            )
            c.execute(
                f"INSERT OR REPLACE INTO tombstones ({_TOMB_COLS})"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    account_id,
                    row.id,
                    row.mailbox_id,
                    tomb.mailbox_name,
                    row.uid,
                    row.internal_us,
                    row.size,
                    row.flags,
                    int(row.has_attachments),
                    row.sealed,
                    now,
                    by,
                    tomb.expires_us,
                ),
            )
            c.execute(
                "DELETE FROM messages WHERE account_id = ? AND id = ?", (account_id, message_id)
            )
        return tomb

    def tombstone(self, account_id: AccountId, message_id: MessageId) -> TombstoneRow | None:
        r = (
            self.db.read()
            .execute(
                f"SELECT {_TOMB_COLS} FROM tombstones WHERE account_id = ? AND id = ?",
                (account_id, message_id),
            )
            .fetchone()
        )
        if r is None:
            return None
        return TombstoneRow(
            AccountId(r[0]),
            MessageId(r[1]),
            MailboxId(r[2]),
            r[3],
            r[4],
            r[5],
            r[6],
            r[7],
            bool(r[8]),
            bytes(r[9] or b""),
            r[10],
            r[11],
            r[12],
        )

    def restore_tombstone(
        self, account_id: AccountId, message_id: MessageId, to_mailbox: MailboxId
    ) -> MessageRow:
        with self.db.write() as c:
            t = self.tombstone(account_id, message_id)
            if t is None:
                raise NotFound("no tombstone")
            self.insert_message(
                account_id,
                NewMessage(
                    t.id, to_mailbox, t.internal_us, t.size, t.flags, t.has_attachments, t.sealed
                ),
            )
            c.execute(
                "DELETE FROM tombstones WHERE account_id = ? AND id = ?", (account_id, message_id)
            )
        row = self.message(account_id, message_id)
        assert row is not None
        return row

    def expired_tombstones(self, now_us: int) -> list[tuple[AccountId, MessageId]]:
        """Maintenance sweep across accounts: (account, item) pairs past retention."""
        rows = self.db.read().execute(
            "SELECT account_id, id FROM tombstones WHERE expires_us <= ?", (now_us,)
        )
        return [(AccountId(r[0]), MessageId(r[1])) for r in rows]

    def drop_tombstone(self, account_id: AccountId, message_id: MessageId) -> None:
        with self.db.write() as c:
            c.execute(
                "DELETE FROM tombstones WHERE account_id = ? AND id = ?", (account_id, message_id)
            )

    # -- delegation --------------------------------------------------------------------

    def add_grant(self, account_id: AccountId, g: GrantRow) -> None:
        with self.db.write() as c:
            c.execute(
                "INSERT INTO grants (account_id, id, mailbox_id, grantee_id, rights, created_us)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (account_id, g.id, g.mailbox_id, g.grantee_id, g.rights, g.created_us),
            )

    def grants(self, account_id: AccountId) -> list[GrantRow]:
        """Grants `account_id` has given (including revoked ones)."""
        rows = self.db.read().execute(
            "SELECT account_id, id, mailbox_id, grantee_id, rights, created_us, revoked_us"
            " FROM grants WHERE account_id = ? ORDER BY created_us",
            (account_id,),
        )
        return [_grant(r) for r in rows]

    def grants_to(self, grantee_id: AccountId) -> list[GrantRow]:
        """Live grants others have given to `grantee_id`."""
        rows = self.db.read().execute(
            "SELECT account_id, id, mailbox_id, grantee_id, rights, created_us, revoked_us"
            " FROM grants WHERE grantee_id = ? AND revoked_us IS NULL ORDER BY created_us",
            (grantee_id,),
        )
        return [_grant(r) for r in rows]

    def revoke_grant(self, account_id: AccountId, grant_id: GrantId) -> None:
        with self.db.write() as c:
            cur = c.execute(
                "UPDATE grants SET revoked_us = ? WHERE account_id = ? AND id = ?"
                " AND revoked_us IS NULL",
                (_now_us(), account_id, grant_id),
            )
            if cur.rowcount == 0:
                raise NotFound("grant not found")


def _grant(r: Any) -> GrantRow:
    return GrantRow(
        AccountId(str(r[0])),
        GrantId(str(r[1])),
        MailboxId(str(r[2])),
        AccountId(str(r[3])),
        str(r[4]),
        int(r[5]),
        int(r[6]) if r[6] is not None else None,
    )


_QUEUE_COLS = "account_id, id, created_us, size, attempts, next_attempt_us, state"


def _queued(r: Any) -> QueueRow:
    return QueueRow(
        AccountId(str(r[0])),
        QueueId(str(r[1])),
        int(r[2]),
        int(r[3]),
        int(r[4]),
        int(r[5]),
        bytes(r[6]),
    )
