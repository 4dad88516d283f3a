"""The listeners: aiosmtpd's protocol with asynchronous AUTH, bound by the runtime."""

import asyncio
import inspect
import re
import socket
from dataclasses import dataclass
from typing import Any

import aiosmtpd.smtp
from aiosmtpd.smtp import MISSING, SMTP, AuthResult, LoginPassword, syntax

from mailward.smtp import replies
from mailward.smtp.backend import SmtpBackend
from mailward.smtp.data import read_data
from mailward.smtp.inbound import InboundHandler
from mailward.smtp.submission import SubmissionHandler

TIMEOUT_S = 300  # RFC 5321 §4.5.3.2: at least 5 minutes per command
_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_SIMPLE_PATH = re.compile(
    rf"<({_ATEXT}(?:\.{_ATEXT})*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*)>[ \t]*(?![(])(.*)\Z",
    re.ASCII | re.DOTALL,
)


class _TypeMembers:
    """What aiosmtpd's `inspect` is, for its per-connection setup.

    aiosmtpd finds `auth_*` methods by `inspect.getmembers` over the protocol
    object and the handler on every connection (a tenth of the event loop's time
    at one message per connection). The names depend only on the types, so they
    are found once per type; the members themselves are fetched fresh, bound to
    the new connection. Everything else is the real `inspect`.
    """

    def __init__(self) -> None:
        self._names: dict[type, list[str]] = {}
        self._signatures: dict[Any, Any] = {}

    def __getattr__(self, name: str) -> Any:
        return getattr(inspect, name)

    def getmembers(self, obj: Any, predicate: Any = None) -> list[tuple[str, Any]]:
        t = type(obj)
        names = self._names.get(t)
        if names is None:
            names = self._names[t] = [n for n in dir(t) if n.startswith("auth_")]
        own = [n for n in getattr(obj, "__dict__", ()) if n.startswith("auth_")]
        members = [(n, getattr(obj, n)) for n in sorted({*names, *own})]
        return [m for m in members if predicate is None or predicate(m[1])]

    def signature(self, fn: Any) -> Any:
        key = (getattr(fn, "__func__", fn), hasattr(fn, "__self__"))
        sig = self._signatures.get(key)
        if sig is None:
            sig = self._signatures[key] = inspect.signature(fn)
        return sig


aiosmtpd.smtp.inspect = _TypeMembers()  # type: ignore[attr-defined,assignment]


@dataclass(frozen=True, slots=True)
class _Pending:
    """Credentials taken from AUTH, to be checked off the event loop."""

    login: bytes
    password: bytes


class MailwardSMTP(SMTP):
    """aiosmtpd's SMTP with the password check run in the worker pool: argon2
    takes tens of milliseconds and must not stall every other session."""

    async def push(self, status: Any) -> None:
        # aiosmtpd words its size refusals without the enhanced code (RFC 3463 §3.4).
        text = status.decode() if isinstance(status, bytes) else status
        if text.startswith("552 Error:"):
            status = replies.TOO_BIG
        await super().push(status)

    @syntax("DATA")
    async def smtp_DATA(self, arg: str) -> None:
        """aiosmtpd's DATA with a faster reader (data.py); the checks before and
        the state after are aiosmtpd's own."""
        if await self.check_helo_needed() or await self.check_auth_needed("DATA"):
            return
        assert self.envelope is not None
        if not self.envelope.rcpt_tos:
            await self.push("503 Error: need RCPT command")
            return
        if arg:
            await self.push("501 Syntax: DATA")
            return
        await self.push("354 End data with <CR><LF>.<CR><LF>")
        try:
            result = await read_data(self._reader, self.data_size_limit)
        except asyncio.CancelledError:  # the connection went away during DATA
            self._writer.close()
            raise
        if result.content is None:
            self._set_post_data_state()  # type: ignore[no-untyped-call]
            await self.push(
                replies.TOO_BIG if result.problem == "too-much" else replies.LINE_TOO_LONG
            )
            return
        self.envelope.content = result.content
        self.envelope.original_content = result.content
        status = await self._call_handler_hook("DATA")
        self._set_post_data_state()  # type: ignore[no-untyped-call]
        await self.push("250 OK" if status is MISSING else status)

    def _getaddr(self, arg: str) -> tuple[str | None, str | None]:
        # The common path "<dot-atom@domain> params" without the email package's
        # header parser (and the class aiosmtpd defines on every call); anything
        # else goes to aiosmtpd's own parsing. Same result (tests/smtp/test_getaddr.py).
        match = _SIMPLE_PATH.match(arg)
        if match is None or self.local_part_limit:
            try:
                return super()._getaddr(arg)
            except Exception:  # noqa: BLE001 - the email parser trips on "0@", "0@[", ...
                return None, None
        return match.group(1), match.group(2)

    def _authenticate(self, mechanism: str, auth_data: Any) -> AuthResult:
        assert isinstance(auth_data, LoginPassword)
        return AuthResult(success=False, handled=False, auth_data=_Pending(*auth_data))

    async def _finish_auth(self, result: AuthResult) -> AuthResult:
        pending = result.auth_data
        if not isinstance(pending, _Pending):
            return result
        check = getattr(self.event_handler, "authenticate", None)
        if check is None:
            return AuthResult(success=False, handled=False)
        principal = await check(self.session, pending.login, pending.password)
        if principal is None:
            return AuthResult(success=False, handled=False)
        return AuthResult(success=True, handled=False, auth_data=principal)

    async def auth_PLAIN(self, _: Any, args: list[str]) -> AuthResult:
        return await self._finish_auth(await super().auth_PLAIN(_, args))

    async def auth_LOGIN(self, _: Any, args: list[str]) -> AuthResult:
        return await self._finish_auth(await super().auth_LOGIN(_, args))


@dataclass(slots=True)
class SmtpListeners:
    """The running listeners; `addresses` holds the bound (host, port)s."""

    servers: list[asyncio.base_events.Server]
    addresses: dict[str, tuple[str, int]]

    def close(self) -> None:
        for s in self.servers:
            s.close()

    async def wait_closed(self) -> None:
        for s in self.servers:
            await s.wait_closed()


Listen = tuple[str, int] | socket.socket | None


async def _serve_on(
    loop: asyncio.AbstractEventLoop, factory: Any, where: tuple[str, int] | socket.socket
) -> asyncio.base_events.Server:
    if isinstance(where, socket.socket):  # bound by the parent of several workers
        return await loop.create_server(factory, sock=where)
    return await loop.create_server(factory, *where)


async def start_listeners(
    backend: SmtpBackend, inbound: Listen, submission: Listen
) -> SmtpListeners:
    """Start the MX and submission listeners on an address or an already bound
    socket (None: that one is off)."""
    loop = asyncio.get_running_loop()
    servers: list[asyncio.base_events.Server] = []
    addresses: dict[str, tuple[str, int]] = {}
    common: dict[str, Any] = {
        "data_size_limit": backend.max_message_bytes,
        "enable_SMTPUTF8": True,
        "hostname": backend.hostname,
        "tls_context": backend.tls,
        "timeout": TIMEOUT_S,
        "loop": loop,
    }
    if inbound is not None:
        mx = InboundHandler(backend)

        def mx_protocol() -> MailwardSMTP:  # the MX takes no logins
            return MailwardSMTP(
                mx, ident="mailward ESMTP", auth_exclude_mechanism=["PLAIN", "LOGIN"], **common
            )

        server = await _serve_on(loop, mx_protocol, inbound)
        servers.append(server)
        addresses["smtp"] = server.sockets[0].getsockname()[:2]
    if submission is not None:
        sub = SubmissionHandler(backend)

        def submission_protocol() -> MailwardSMTP:
            return MailwardSMTP(
                sub,
                ident="mailward ESMTP submission",
                require_starttls=True,
                auth_required=True,
                auth_require_tls=True,
                **common,
            )

        server = await _serve_on(loop, submission_protocol, submission)
        servers.append(server)
        addresses["submission"] = server.sockets[0].getsockname()[:2]
    return SmtpListeners(servers, addresses)
