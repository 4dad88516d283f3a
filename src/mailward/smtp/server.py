"""The listeners: aiosmtpd's protocol with asynchronous AUTH, bound by the runtime."""

import asyncio
from dataclasses import dataclass
from typing import Any

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

from mailward.smtp import replies
from mailward.smtp.backend import SmtpBackend
from mailward.smtp.inbound import InboundHandler
from mailward.smtp.submission import SubmissionHandler

TIMEOUT_S = 300  # RFC 5321 §4.5.3.2: at least 5 minutes per command


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


async def start_listeners(
    backend: SmtpBackend,
    inbound: tuple[str, int] | None,
    submission: tuple[str, int] | None,
) -> SmtpListeners:
    """Start the MX and submission listeners (None: that one is off)."""
    loop = asyncio.get_running_loop()
    servers: list[asyncio.base_events.Server] = []
    addresses: dict[str, tuple[str, int]] = {}
    if inbound is not None:
        mx = InboundHandler(backend)

        def mx_protocol() -> MailwardSMTP:
            return MailwardSMTP(
                mx,
                data_size_limit=backend.max_message_bytes,
                enable_SMTPUTF8=True,
                hostname=backend.hostname,
                ident="mailward ESMTP",
                tls_context=backend.tls,
                timeout=TIMEOUT_S,
                auth_exclude_mechanism=["PLAIN", "LOGIN"],
                loop=loop,
            )

        server = await loop.create_server(mx_protocol, *inbound)
        servers.append(server)
        addresses["smtp"] = server.sockets[0].getsockname()[:2]
    if submission is not None:
        sub = SubmissionHandler(backend)

        def submission_protocol() -> MailwardSMTP:
            return MailwardSMTP(
                sub,
                data_size_limit=backend.max_message_bytes,
                enable_SMTPUTF8=True,
                hostname=backend.hostname,
                ident="mailward ESMTP submission",
                tls_context=backend.tls,
                require_starttls=True,
                auth_required=True,
                auth_require_tls=True,
                timeout=TIMEOUT_S,
                loop=loop,
            )

        server = await loop.create_server(submission_protocol, *submission)
        servers.append(server)
        addresses["submission"] = server.sockets[0].getsockname()[:2]
    return SmtpListeners(servers, addresses)
