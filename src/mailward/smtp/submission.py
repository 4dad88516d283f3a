"""The submission handler (RFC 6409): AUTH after STARTTLS, the account's own
sender address only, then local delivery, a Sent copy and the outbound queue in
one durable unit (MailAccess.submit)."""

import asyncio
from typing import Any

from mailward.core.errors import AuthError, PermissionDenied
from mailward.core.ids import new_message_id
from mailward.core.principal import Principal, Protocol
from mailward.smtp import replies
from mailward.smtp.checks import body_problem, normalize_line_ends
from mailward.smtp.inbound import Handler, peer_ip, protocol_keyword, valid_address
from mailward.smtp.received import received_field


class SubmissionHandler(Handler):
    """aiosmtpd handler hooks for the submission listener."""

    scope = "submission"

    async def authenticate(self, session: Any, login: bytes, password: bytes) -> Principal | None:
        """Check the credentials off the event loop; every attempt is recorded as a
        login event with its source, and failures throttle like the web login."""
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(
                self.b.pool,
                lambda: self.b.logins.login(
                    login.decode("utf-8", "replace"),
                    password.decode("utf-8", "replace"),
                    remote=peer_ip(session),
                    protocol=Protocol.SUBMISSION,
                    client=f"ehlo={(session.host_name or '')[:100]}",
                ),
            )
        except AuthError:
            return None

    def _principal(self, session: Any) -> Principal | None:
        p = session.auth_data
        return p if session.authenticated and isinstance(p, Principal) else None

    async def handle_MAIL(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        if self.stopped():
            return replies.UNAVAILABLE
        principal = self._principal(session)
        if principal is None:
            return replies.AUTH_REQUIRED
        door = self.b.door(principal)
        try:
            door.check_sender(address)
        except PermissionDenied:
            return replies.NOT_YOURS
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return replies.OK

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        if self.stopped():
            return replies.UNAVAILABLE
        principal = self._principal(session)
        if principal is None:
            return replies.AUTH_REQUIRED
        if not valid_address(address):
            return replies.BAD_ADDRESS
        door = self.b.door(principal)
        loop = asyncio.get_running_loop()
        unknown = await loop.run_in_executor(
            self.b.pool, lambda: door.is_local(address) and not door.recipient_exists(address)
        )
        if unknown:
            return replies.UNKNOWN_USER
        envelope.rcpt_tos.append(address)
        return replies.OK

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.stopped():
            return replies.UNAVAILABLE
        principal = self._principal(session)
        if principal is None:
            return replies.AUTH_REQUIRED
        data = normalize_line_ends(envelope.content)
        problem = body_problem(data)
        if problem is not None:
            return problem
        trace = received_field(
            helo=session.host_name or "",
            peer_ip=peer_ip(session),
            hostname=self.b.hostname,
            with_=protocol_keyword(session, authenticated=True),
            item=new_message_id()[-12:],
            recipient=None,
        )
        door = self.b.door(principal)
        loop = asyncio.get_running_loop()
        try:
            done = await loop.run_in_executor(
                self.b.pool, door.submit, envelope.mail_from, list(envelope.rcpt_tos), trace + data
            )
        except Exception as exc:  # noqa: BLE001 - every error becomes an SMTP reply
            return replies.reply_for(exc)
        if done.queued is not None:
            self.b.queued()
        return replies.QUEUED
