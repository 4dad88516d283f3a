"""One POP3 session: its state (RFC 1939 §3: AUTHORIZATION → TRANSACTION →
UPDATE), the command table, and a handler per command.

A session is bound to one principal at login and reads the maildrop (INBOX) only
through that principal's door. The maildrop is a snapshot taken at login:
messages numbered 1..n in UID order, none added or renumbered until QUIT.
Invariants that must stay true:
  - every datum a reply carries from the door goes through `backend.check` first;
    a refusal sends nothing of it and ends the session;
  - DELE only marks; QUIT in TRANSACTION moves the marked messages to Trash
    (UPDATE). A session that ends any other way changes nothing (RFC 1939 §6);
    POP3 never expunges;
  - one session per account holds the maildrop at a time in this process (§8);
  - the door and the password check run in `backend.pool`, never on the loop.
The session knows nothing of sockets: it turns a line into a `Reply`, and the
server (server.py) writes it and does what `Reply.after` says.
"""

import asyncio
import fcntl
import ipaddress
import os
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from enum import Enum, StrEnum
from functools import partial
from pathlib import Path
from typing import TypeVar

from mailward.access import MailAccess
from mailward.core.access_event import Part
from mailward.core.errors import AuthError, MailwardError
from mailward.core.ids import AccountId
from mailward.core.message import Fetched, IndexEntry
from mailward.core.principal import Principal, Protocol
from mailward.pop3 import replies
from mailward.pop3.backend import Pop3Backend
from mailward.pop3.protocol import (
    Command,
    CommandError,
    continuation,
    err,
    message_lines,
    multiline,
    ok,
    parse_command,
    plain_credentials,
    sasl_response,
)

MAX_BAD_COMMANDS = 20  # -ERR replies in one session before it is closed
MAX_AUTH_FAILURES = 3  # failed logins in one session before it is closed
CLIENT = "pop3"  # the client string of the login record
T = TypeVar("T")


class State(StrEnum):
    AUTHORIZATION = "authorization"
    TRANSACTION = "transaction"
    UPDATE = "update"


class After(Enum):
    """What the server does once the reply is written."""

    CONTINUE = "continue"
    CLOSE = "close"
    STARTTLS = "starttls"


@dataclass(frozen=True, slots=True)
class Reply:
    data: bytes
    after: After = After.CONTINUE


class Maildrops:
    """The maildrop locks (RFC 1939 §8). Within the process a dict (only the
    event loop's thread touches it); across worker processes, with `lock_dir`, an
    exclusive `flock` on one file per account, released when its file is closed
    (also when the process dies)."""

    def __init__(self, lock_dir: Path | None = None) -> None:
        self._held: dict[AccountId, int | None] = {}
        self._dir = lock_dir

    def take(self, account: AccountId) -> bool:
        if account in self._held:
            return False
        fd = None
        if self._dir is not None:
            self._dir.mkdir(parents=True, exist_ok=True)
            fd = os.open(self._dir / f"{account}.lock", os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)
                return False
        self._held[account] = fd
        return True

    def release(self, account: AccountId) -> None:
        fd = self._held.pop(account, None)
        if fd is not None:
            os.close(fd)


def _loopback(remote: str) -> bool:
    try:
        address = ipaddress.ip_address(remote)
    except ValueError:
        return False
    mapped = getattr(address, "ipv4_mapped", None)
    return bool((mapped or address).is_loopback)


class Session:
    """The state of one connection; `line` answers each line the client sends."""

    def __init__(self, backend: Pop3Backend, maildrops: Maildrops, remote: str) -> None:
        self.backend = backend
        self.maildrops = maildrops
        self.remote = remote
        self.state = State.AUTHORIZATION
        self.tls = False
        self.user: str | None = None  # from USER, waiting for PASS
        self.sasl = False  # AUTH PLAIN sent "+ ", waiting for the response line
        self.principal: Principal | None = None
        self.door: MailAccess | None = None
        self.messages: tuple[IndexEntry, ...] = ()  # message n is messages[n - 1]
        self.deleted: set[int] = set()  # message numbers marked by DELE
        self.bad = 0
        self.auth_failures = 0

    # -- the line loop's entry points -------------------------------------------------

    async def line(self, raw: bytes) -> Reply:
        """The reply to one line (a command, or a SASL response after AUTH)."""
        if self.backend.stopped():  # the kill switch, before every command
            return Reply(err(replies.STOPPED), After.CLOSE)
        try:
            if self.sasl:
                self.sasl = False
                return await self.sasl_plain(raw)
            try:
                command = parse_command(raw)
            except CommandError as exc:
                return self.refuse(str(exc))
            if command.name not in ALLOWED[self.state]:
                return self.refuse(self._wrong_state(command.name))
            return await COMMANDS[command.name](self, command)
        except Exception as exc:  # noqa: BLE001 - replies.py maps every error; the server stays up
            refusal = replies.refusal_for(exc)
            return self.refuse(refusal.text, close=refusal.close)

    def refuse(self, text: str, *, close: bool = False) -> Reply:
        """`-ERR text`, counted: too many in one session close it."""
        self.bad += 1
        if close:
            return Reply(err(text), After.CLOSE)
        if self.bad >= MAX_BAD_COMMANDS:
            return Reply(err(text) + err(replies.TOO_MANY_ERRORS), After.CLOSE)
        return Reply(err(text))

    def tls_started(self) -> None:
        # RFC 2595 §4: what the client said before TLS counts for nothing after it.
        self.tls = True
        self.user = None

    def close(self) -> None:
        """The connection is gone (after QUIT or not): give the maildrop back.
        Marks of a session that did not QUIT are forgotten (RFC 1939 §6)."""
        if self.principal is not None:
            self.maildrops.release(self.principal.account_id)
        self.deleted.clear()

    # -- helpers of the handlers -------------------------------------------------------

    def login_allowed(self) -> bool:
        """Passwords only over TLS, or in the clear from this machine when the
        operator allowed it (Settings.plaintext_login)."""
        return self.tls or (self.backend.plaintext_login and _loopback(self.remote))

    def _wrong_state(self, name: str) -> str:
        if self.state is State.AUTHORIZATION:
            return f"{name}: {replies.NOT_TRANSACTION}"
        return f"{name}: {replies.NOT_AUTHORIZATION}"

    async def run(self, fn: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self.backend.pool, fn)

    async def guarded(self, objects: Sequence[object], *parts: str) -> bool:
        """May these door objects go to the client? (backend.check, off the loop)"""
        principal = self.principal
        assert principal is not None
        check = self.backend.check
        return await self.run(lambda: all(check(principal, objects, p) for p in parts))

    def live(self) -> list[tuple[int, IndexEntry]]:
        return [(n, e) for n, e in enumerate(self.messages, 1) if n not in self.deleted]

    def entry(self, n: int) -> IndexEntry | None:
        if 1 <= n <= len(self.messages) and n not in self.deleted:
            return self.messages[n - 1]
        return None

    async def login(self, user: str, password: str) -> Reply:
        check_password = partial(
            self.backend.logins.login,
            user,
            password,
            remote=self.remote,
            protocol=Protocol.POP3,
            client=CLIENT,
        )
        try:
            principal = await self.run(check_password)
        except AuthError as exc:
            self.auth_failures += 1
            close = self.auth_failures >= MAX_AUTH_FAILURES
            return self.refuse(replies.refusal_for(exc).text, close=close)
        if not self.maildrops.take(principal.account_id):
            return self.refuse(replies.IN_USE)  # RFC 2449 §8.1.1
        try:
            door = self.backend.door(principal)
            messages = await self.run(partial(_snapshot, door))
        except BaseException:
            self.maildrops.release(principal.account_id)
            raise
        self.principal, self.door, self.messages = principal, door, messages
        self.state = State.TRANSACTION
        if not await self.guarded(messages, Part.FLAGS):
            return Reply(err(replies.UNAVAILABLE), After.CLOSE)
        octets = sum(e.size for e in messages)
        return Reply(ok(f"maildrop has {len(messages)} messages ({octets} octets)"))

    async def sasl_plain(self, raw: bytes) -> Reply:
        try:
            response = sasl_response(raw)
            if response is None:
                return self.refuse(replies.CANCELLED)
            user, password = plain_credentials(response)
        except CommandError as exc:
            return self.refuse(str(exc))
        return await self.login(user, password)


def _snapshot(door: MailAccess) -> tuple[IndexEntry, ...]:
    """The maildrop at login: INBOX's messages in UID order (nothing recorded:
    no content and no flags leave with it)."""
    view = door.open_mailbox("INBOX")
    if not view.uids:
        return ()
    present = set(view.uids)
    entries = door.index("INBOX", view.uids[0], view.uids[-1])
    return tuple(sorted((e for e in entries if e.uid in present), key=lambda e: e.uid))


# -- AUTHORIZATION (RFC 1939 §4, §7; RFC 2449; RFC 2595; RFC 5034) -----------------------


async def _user(s: Session, c: Command) -> Reply:
    if not s.login_allowed():
        return s.refuse(replies.PLAINTEXT_REFUSED)
    s.user = c.args[0]
    return Reply(ok("send PASS"))  # RFC 1939 §7: the same whether the user exists or not


async def _pass(s: Session, c: Command) -> Reply:
    if not s.login_allowed():
        return s.refuse(replies.PLAINTEXT_REFUSED)
    if s.user is None:
        return s.refuse(replies.USER_FIRST)
    user, s.user = s.user, None
    return await s.login(user, c.args[0])


async def _auth(s: Session, c: Command) -> Reply:
    if not c.args:  # the mechanisms, as many servers answer a bare AUTH
        return Reply(multiline("SASL mechanisms follow", ["PLAIN"] if s.login_allowed() else []))
    if not s.login_allowed():
        return s.refuse(replies.PLAINTEXT_REFUSED)
    if c.args[0].upper() != "PLAIN":
        return s.refuse(replies.NO_MECHANISM)
    if len(c.args) == 2:  # RFC 5034 §4: an initial response
        return await s.sasl_plain(c.args[1].encode("ascii", "replace"))
    s.sasl = True
    return Reply(continuation())


async def _stls(s: Session, c: Command) -> Reply:
    if s.tls:
        return s.refuse(replies.TLS_ACTIVE)
    return Reply(ok("begin TLS negotiation"), After.STARTTLS)


async def _capa(s: Session, c: Command) -> Reply:
    lines = ["TOP", "UIDL", "RESP-CODES", "AUTH-RESP-CODE", "PIPELINING"]
    if s.state is State.AUTHORIZATION:
        if s.login_allowed():
            lines += ["USER", "SASL PLAIN"]
        if not s.tls:
            lines.append("STLS")
    lines.append("IMPLEMENTATION mailward")
    return Reply(multiline("capability list follows", lines))  # RFC 2449 §5


async def _quit(s: Session, c: Command) -> Reply:
    bye = f"{s.backend.hostname} POP3 signing off"
    if s.state is not State.TRANSACTION:
        return Reply(ok(bye), After.CLOSE)
    # RFC 1939 §6: the UPDATE state. Deleting is moving to Trash (nothing expunged).
    s.state = State.UPDATE
    door = s.door
    assert door is not None
    ids = [s.messages[n - 1].id for n in sorted(s.deleted)]
    if ids:
        try:
            await s.run(partial(door.delete, ids))
        except MailwardError as exc:  # RFC 1939 §6: say so, then close
            replies.refusal_for(exc)  # logs it
            return Reply(err(replies.NOT_REMOVED), After.CLOSE)
    s.close()  # the maildrop is free before the client hears +OK
    left = len(s.messages) - len(ids)
    return Reply(ok(f"{bye} ({len(ids)} moved to Trash, {left} left)"), After.CLOSE)


# -- TRANSACTION (RFC 1939 §5, §7) ------------------------------------------------------


async def _stat(s: Session, c: Command) -> Reply:
    live = [e for _, e in s.live()]
    if not await s.guarded(live, Part.FLAGS):
        return Reply(err(replies.UNAVAILABLE), After.CLOSE)
    return Reply(ok(f"{len(live)} {sum(e.size for e in live)}"))


async def _listing(s: Session, c: Command, show: Callable[[IndexEntry], str]) -> Reply:
    """LIST and UIDL: one message, or a line per message not marked deleted."""
    if c.numbers:
        n = c.numbers[0]
        entry = s.entry(n)
        if entry is None:
            return s.refuse(replies.NO_SUCH_MESSAGE)
        if not await s.guarded([entry], Part.FLAGS):
            return Reply(err(replies.UNAVAILABLE), After.CLOSE)
        return Reply(ok(f"{n} {show(entry)}"))
    live = s.live()
    if not await s.guarded([e for _, e in live], Part.FLAGS):
        return Reply(err(replies.UNAVAILABLE), After.CLOSE)
    octets = sum(e.size for _, e in live)
    lines = [f"{n} {show(e)}" for n, e in live]
    return Reply(multiline(f"{len(live)} messages ({octets} octets)", lines))


async def _list(s: Session, c: Command) -> Reply:
    return await _listing(s, c, lambda e: str(e.size))


async def _uidl(s: Session, c: Command) -> Reply:
    # RFC 1939 §7: the unique-id is the door's message id: stable for as long as
    # the message lives, unguessable, 1-70 characters of 0x21-0x7E.
    return await _listing(s, c, lambda e: e.id)


async def _fetch(s: Session, n: int, item: str, detail: str, parts: Sequence[str]) -> Reply:
    """RETR and TOP: one item of message n, through the guard, or nothing of it."""
    entry = s.entry(n)
    if entry is None:
        return s.refuse(replies.NO_SUCH_MESSAGE)
    principal, door, check = s.principal, s.door, s.backend.check
    assert principal is not None and door is not None
    set_seen = item == "SECTION:"  # RFC 1939 §7 RETR: the message has been read

    def job() -> tuple[list[Fetched], bool]:
        fetched = door.fetch([entry.id], [item], set_seen=set_seen, detail=detail)
        return fetched, all(check(principal, fetched, p) for p in parts)

    fetched, allowed = await s.run(job)
    if not allowed:
        return Reply(err(replies.UNAVAILABLE), After.CLOSE)
    if len(fetched) != 1 or fetched[0].id != entry.id:
        return s.refuse(replies.GONE)
    data = fetched[0].data[item]
    return Reply(message_lines(f"{len(data)} octets", data))


async def _retr(s: Session, c: Command) -> Reply:
    return await _fetch(s, c.numbers[0], "SECTION:", "pop3 RETR", (Part.RAW,))


async def _top(s: Session, c: Command) -> Reply:
    n, lines = c.numbers
    parts = (Part.HEADERS, Part.BODY) if lines > 0 else (Part.HEADERS,)
    return await _fetch(s, n, f"TOP:{lines}", "pop3 TOP", parts)


async def _dele(s: Session, c: Command) -> Reply:
    n = c.numbers[0]
    if n in s.deleted:
        return s.refuse(f"message {n} {replies.ALREADY_DELETED}")
    if s.entry(n) is None:
        return s.refuse(replies.NO_SUCH_MESSAGE)
    s.deleted.add(n)
    return Reply(ok(f"message {n} deleted"))


async def _rset(s: Session, c: Command) -> Reply:
    s.deleted.clear()
    return Reply(ok("deletion marks removed"))


async def _noop(s: Session, c: Command) -> Reply:
    return Reply(ok())


Handler = Callable[[Session, Command], Awaitable[Reply]]

COMMANDS: dict[str, Handler] = {
    "USER": _user,
    "PASS": _pass,
    "AUTH": _auth,
    "STLS": _stls,
    "CAPA": _capa,
    "QUIT": _quit,
    "STAT": _stat,
    "LIST": _list,
    "UIDL": _uidl,
    "RETR": _retr,
    "TOP": _top,
    "DELE": _dele,
    "RSET": _rset,
    "NOOP": _noop,
}

ALLOWED: dict[State, frozenset[str]] = {
    State.AUTHORIZATION: frozenset({"USER", "PASS", "AUTH", "STLS", "CAPA", "QUIT"}),
    State.TRANSACTION: frozenset(
        {"STAT", "LIST", "UIDL", "RETR", "TOP", "DELE", "RSET", "NOOP", "CAPA", "QUIT"}
    ),
    State.UPDATE: frozenset(),
}
