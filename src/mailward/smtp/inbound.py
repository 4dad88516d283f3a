"""The MX handler: mail for local accounts from anywhere, delivered by the system."""

import asyncio
from typing import Any

from mailward.core.ids import new_message_id
from mailward.core.principal import Protocol
from mailward.smtp import replies
from mailward.smtp.backend import SmtpBackend
from mailward.smtp.checks import body_problem, normalize_line_ends
from mailward.smtp.received import received_field


def peer_ip(session: Any) -> str:
    peer = session.peer
    return str(peer[0]) if isinstance(peer, tuple) and peer else ""


def protocol_keyword(session: Any, authenticated: bool = False) -> str:
    """RFC 3848 "with" keyword."""
    tls = session.ssl is not None
    return "ESMTP" + ("S" if tls else "") + ("A" if authenticated else "")


def valid_address(address: str) -> bool:
    local, at, domain = address.rpartition("@")
    return bool(at and local and domain and "." in domain.strip(".") and " " not in address)


class Handler:
    """What both listeners' handlers share: the backend, EHLO, the kill switch."""

    scope = "smtp-in"  # the listener's kill switch scope

    def __init__(self, backend: SmtpBackend) -> None:
        self.b = backend

    def stopped(self) -> bool:
        """Engaged: every transaction step answers 421 (senders retry; nothing lost,
        also for a transaction in flight when it was engaged)."""
        return self.b.stopped(self.scope)

    async def handle_EHLO(
        self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]
    ) -> list[str]:
        session.host_name = hostname
        return [*responses[:-1], "250-PIPELINING", responses[-1]]  # RFC 2920


class InboundHandler(Handler):
    """aiosmtpd handler hooks for the MX listener."""

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        if self.stopped():
            return replies.UNAVAILABLE
        if not valid_address(address):
            return replies.BAD_ADDRESS
        door = self.b.system_door(Protocol.SMTP, peer_ip(session))
        # Two indexed reads (~20 µs) on the loop's own reader: cheaper than a hop to
        # the pool and back, and a WAL reader never waits for the writer.
        local, known = _route(door, address)
        if not local:
            return replies.RELAY_DENIED
        if not known:
            return replies.UNKNOWN_USER
        envelope.rcpt_tos.append(address)
        return replies.OK

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.stopped():
            return replies.UNAVAILABLE
        data = normalize_line_ends(envelope.content)
        problem = body_problem(data)
        if problem is not None:
            return problem
        item = new_message_id()
        rcpts = list(envelope.rcpt_tos)
        trace = received_field(
            helo=session.host_name or "",
            peer_ip=peer_ip(session),
            hostname=self.b.hostname,
            with_=protocol_keyword(session),
            item=item[-12:],
            recipient=rcpts[0] if len(rcpts) == 1 else None,
        )
        door = self.b.system_door(Protocol.SMTP, peer_ip(session))
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(self.b.pool, door.deliver, rcpts, trace + data)
        except Exception as exc:  # noqa: BLE001 - every error becomes an SMTP reply
            return replies.reply_for(exc)
        return replies.QUEUED


def _route(door: Any, address: str) -> tuple[bool, bool]:
    """(local domain?, account exists?)"""
    if not door.is_local(address):
        return False, False
    return True, door.recipient_exists(address)
