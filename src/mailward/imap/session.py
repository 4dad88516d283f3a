"""One IMAP session: its state (RFC 9051 §3), the command table, and the
untagged updates that keep a client's view of the selected mailbox current.

Each command is handled by one function in `commands/`; `ALLOWED` says in which
states. Door calls run in the backend's thread pool. Every reply built from door
objects passes the response guard (`backend.check`) before a byte is written.
"""

import asyncio
import bisect
import ipaddress
import logging
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from mailward.access import MailAccess
from mailward.core.errors import MailwardError, NotFound
from mailward.core.mailbox import MailboxView
from mailward.core.principal import Principal
from mailward.imap.backend import ImapBackend
from mailward.imap.commands import ALLOWED, COMMANDS
from mailward.imap.idle import IdleHub
from mailward.imap.protocol import ParseError, parse, read_tag
from mailward.imap.protocol import response as out
from mailward.imap.replies import reply_for
from mailward.imap.state import Refused, Selected, State

if TYPE_CHECKING:
    from mailward.imap.server import Connection

T = TypeVar("T")
log = logging.getLogger("mailward.imap")
IDLE_LOGOUT_S = 30 * 60  # RFC 9051 §5.4: at least 30 minutes
# IMAP4rev2 is not announced: its essentials that clients rely on are here as
# the extensions they came from (ESEARCH, MOVE, UIDPLUS, ...), but a client that
# ENABLEs IMAP4rev2 may expect all of RFC 9051 (BINARY, STATUS SIZE, ...).
CAPABILITIES_BASE = (
    "IMAP4rev1 LITERAL+ ID IDLE NAMESPACE UIDPLUS MOVE UNSELECT ENABLE "
    "SPECIAL-USE CONDSTORE CHILDREN LIST-EXTENDED SASL-IR ESEARCH"
)


class Session:
    def __init__(self, backend: ImapBackend, conn: "Connection", remote: str, hub: IdleHub) -> None:
        self.backend = backend
        self.hub = hub
        self.conn = conn
        self.remote = remote
        self.state = State.NOT_AUTHENTICATED
        self.principal: Principal | None = None
        self._door: MailAccess | None = None
        self.selected: Selected | None = None
        self.enabled: set[str] = set()
        self.client_id = ""
        self.done = False
        self.idle_timeout_s: float = 60.0  # before login; IDLE_LOGOUT_S after
        self.append_limit = 25 * 1024 * 1024
        # The selected mailbox as read right after a command's last door call, in
        # the same trip to the thread pool (call_last); the refresh that follows
        # the command uses it instead of a trip of its own.
        self._view_after: tuple[str, MailboxView | MailwardError] | None = None

    # -- helpers for the command handlers --------------------------------------------

    @property
    def door(self) -> MailAccess:
        if self._door is None:
            raise MailwardError("not logged in")
        return self._door

    def login(self, principal: Principal) -> None:
        self.principal = principal
        self._door = self.backend.door(principal)
        self.state = State.AUTHENTICATED
        self.idle_timeout_s = IDLE_LOGOUT_S

    async def call(self, fn: Callable[..., T], *args: Any, **kw: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.backend.pool, lambda: fn(*args, **kw))

    async def call_last(self, fn: Callable[..., T], *args: Any, **kw: Any) -> T:
        """`call`, for a command's last door call: the same trip to the thread pool
        then reads the selected mailbox for the refresh that ends the command
        (a trip costs about 0.1 ms; a FETCH of one body made three)."""
        name = self.selected.name if self.selected is not None else None
        door = self.door

        def both() -> tuple[T, MailboxView | MailwardError | None]:
            result = fn(*args, **kw)
            if name is None:
                return result, None
            try:
                return result, door.open_mailbox(name)
            except MailwardError as exc:  # the refresh answers it (BYE for NotFound)
                return result, exc
            except Exception:  # the command's result stands; the refresh reads again
                log.exception("IMAP: reading the selected mailbox after a command failed")
                return result, None

        loop = asyncio.get_running_loop()
        result, after = await loop.run_in_executor(self.backend.pool, both)
        if name is not None and after is not None:
            self._view_after = (name, after)
        return result

    def viewed(self, view: MailboxView) -> None:
        """The selected mailbox as the command just read it: the refresh after the
        command starts from it instead of reading it again."""
        self._view_after = (view.info.name, view)

    def untagged(self, data: bytes) -> None:
        self.conn.send(b"* " + data + b"\r\n")

    def guard(self, objects: Sequence[object], part: str) -> None:
        """Raise Refused (the connection then ends) unless every object may go to
        this session's principal."""
        assert self.principal is not None
        if objects and not self.backend.check(self.principal, objects, part):
            raise Refused()

    def capabilities(self) -> str:
        caps = CAPABILITIES_BASE
        if self.state is State.NOT_AUTHENTICATED:
            if not self.conn.tls:
                caps += " STARTTLS"
            caps += " AUTH=PLAIN" if self.login_allowed() else " LOGINDISABLED"
        return caps

    def login_allowed(self) -> bool:
        if self.conn.tls:
            return True
        if not self.backend.plaintext_login:
            return False
        try:
            return ipaddress.ip_address(self.remote).is_loopback
        except ValueError:
            return False

    # -- the session -------------------------------------------------------------------

    async def greet(self) -> bool:
        if self.backend.stopped():
            self.untagged(b"BYE [UNAVAILABLE] IMAP is stopped for maintenance; try again later")
            await self.conn.flush()
            return False
        caps = self.capabilities().encode()
        self.untagged(b"OK [CAPABILITY " + caps + b"] " + self.backend.hostname.encode() +
                      b" IMAP ready")  # fmt: skip
        await self.conn.flush()
        return True

    async def handle(self, data: bytes) -> bool:
        """Run one command; False when it was answered BAD."""
        try:
            cmd = parse(data)
        except ParseError as exc:
            tag = read_tag(data) or "*"
            self.conn.send(f"{tag} BAD {exc}\r\n".encode("utf-8", "replace"))
            return False
        if self.backend.stopped():
            self.untagged(b"BYE [UNAVAILABLE] IMAP is stopped for maintenance; try again later")
            self.done = True
            return True
        if self.state not in ALLOWED[cmd.name]:
            self.conn.send(f"{cmd.tag} BAD {cmd.name} is not allowed {self._where()}\r\n".encode())
            return False
        self._view_after = None
        try:
            reply = await COMMANDS[cmd.name](self, cmd)
        except Refused:
            self.untagged(b"BYE [UNAVAILABLE] service unavailable")
            self.done = True
            return True
        except (MailwardError, ParseError, ValueError) as exc:
            reply = reply_for(exc)
        except Exception:
            log.exception("IMAP %s failed", cmd.name)
            reply = ("NO", "[SERVERBUG] the command failed; it was logged")
        gone = False
        if self.selected is not None and cmd.name not in ("LOGOUT", "IDLE") and not self.done:
            try:
                await self.refresh(expunges=cmd.name not in ("FETCH", "STORE", "SEARCH"))
            except Refused:
                self.untagged(b"BYE [UNAVAILABLE] service unavailable")
                self.done = True
                return True
            except NotFound:
                # Deleted or renamed by another session: nothing left to sync with.
                self.selected = None
                gone = True
            except MailwardError:
                pass
        status, text = reply
        if not status:  # answered by the handler itself (STARTTLS)
            return True
        if gone:  # BYE first, as for LOGOUT (RFC 9051 §7.1.5); then the connection ends
            self.untagged(b"BYE the selected mailbox was deleted or renamed elsewhere")
            self.done = True
        self.conn.send(f"{cmd.tag} {status} {text}\r\n".encode("utf-8", "replace"))
        return status != "BAD"

    def _where(self) -> str:
        return {
            State.NOT_AUTHENTICATED: "before login",
            State.AUTHENTICATED: "without a selected mailbox",
            State.SELECTED: "with a mailbox selected",
            State.LOGOUT: "after logout",
        }[self.state]

    async def close(self) -> None:
        self.selected = None
        self.done = True

    # -- untagged updates (RFC 9051 §5.2, §7.5.1) ----------------------------------------

    async def refresh(self, *, expunges: bool) -> None:
        """Tell the client what changed in the selected mailbox since it last heard:
        expunged messages (only where `expunges`: never during FETCH, STORE or
        SEARCH, which would shift sequence numbers), new messages, flag changes."""
        sel = self.selected
        if sel is None:
            return
        after, self._view_after = self._view_after, None
        if after is not None and after[0] == sel.name:
            if isinstance(after[1], MailwardError):
                raise after[1]
            view = after[1]
        else:
            view = await self.call(self.door.open_mailbox, sel.name)
        self.guard([view], "list-entry")
        if view.info.uidvalidity != sel.uidvalidity:
            # Another mailbox under this name now (renamed away, another renamed
            # or created in its place): nothing the client knows holds for it.
            raise NotFound("the selected mailbox was replaced")
        now = view.uids
        announced = sel.uids[-1] if sel.uids else 0  # newer ones come with EXISTS
        # The door hands out the same tuple while the mailbox has not changed.
        if now is not sel.uids:
            if now != sel.uids:
                if expunges:
                    present = set(now)
                    self.expunged([u for u in sel.uids if u not in present])
                added = now[bisect.bisect_right(now, announced) :]
                if added:
                    sel.uids += added
                    self.untagged(b"%d EXISTS" % len(sel.uids))
            if now == sel.uids:
                sel.uids = now  # share the door's tuple again
        if view.info.highest_modseq > sel.highest_modseq:
            known = sel.highest_modseq
            sel.highest_modseq = view.info.highest_modseq
            if sel.uids:
                changed = await self.call(
                    self.door.index, sel.name, 1, sel.uids[-1], changed_since=known,
                    record_flags=True,
                )  # fmt: skip
                self.guard(changed, "flags")
                told, sel.told = sel.told, {}
                for e in changed:
                    seq = self.seq_of(e.uid)
                    if seq and e.uid <= announced and told.get(e.uid) != e.modseq:
                        mod = b" MODSEQ (%d)" % e.modseq if sel.condstore else b""
                        self.untagged(b"%d FETCH (UID %d FLAGS %s%s)" % (
                            seq, e.uid, out.flag_list(e.flags), mod))  # fmt: skip

    def expunged(self, uids: Sequence[int]) -> None:
        """Tell the client these messages are gone (RFC 9051 §7.5.1), highest
        number first so that each number is right when the client reads it."""
        sel = self.selected
        if sel is None or not uids:
            return
        gone = set(uids)
        for seq in range(len(sel.uids), 0, -1):
            if sel.uids[seq - 1] in gone:
                self.untagged(b"%d EXPUNGE" % seq)
        sel.uids = tuple(u for u in sel.uids if u not in gone)

    def seq_of(self, uid: int) -> int:
        """The sequence number of `uid` in the client's view (0: not there)."""
        uids = self.selected.uids if self.selected else ()
        i = bisect.bisect_left(uids, uid)
        return i + 1 if i < len(uids) and uids[i] == uid else 0
