"""Who is acting: an authenticated account (or the system) on one session.

A Principal is bound to a MailAccess at construction and never changes; every
audit record names its account, session, protocol and remote address.
"""

from dataclasses import dataclass
from enum import StrEnum

from mailward.core.ids import SYSTEM_ACCOUNT, AccountId, SessionId


class Protocol(StrEnum):
    """The front-end a request arrived through."""

    CLI = "cli"
    WEB = "web"
    API = "api"
    IMAP = "imap"
    POP3 = "pop3"
    SMTP = "smtp"
    SUBMISSION = "submission"
    SYSTEM = "system"


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated actor.

    Attributes:
        account_id: the account acting; `SYSTEM_ACCOUNT` for the system itself.
        address: the account's address (for messages and reports).
        session_id: the session the request belongs to.
        protocol: the front-end the request came through.
        remote: the client's address ("" when local).
        receiver: the account really at the other end when it is not
            `account_id` — only ever set when a session record that is not the
            token's was let through (`serve --no-guard` drills), so the boundary
            checks and records what leaves against the real receiver.
    """

    account_id: AccountId
    address: str
    session_id: SessionId
    protocol: Protocol
    remote: str = ""
    receiver: AccountId | None = None

    @property
    def is_system(self) -> bool:
        return self.account_id == SYSTEM_ACCOUNT

    @classmethod
    def system(cls, protocol: Protocol = Protocol.SYSTEM, remote: str = "") -> "Principal":
        """The system principal: may deliver into any account, may read none."""
        return cls(SYSTEM_ACCOUNT, "system", SessionId("system"), protocol, remote)
