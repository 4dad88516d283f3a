"""Accounts, domains and login events (the "last logon" data)."""

from dataclasses import dataclass
from datetime import datetime

from mailward.core.ids import AccountId, DomainId


@dataclass(frozen=True, slots=True)
class Domain:
    id: DomainId
    name: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Account:
    """A mail account. `owner` equals `id`: an account is its own owner."""

    id: AccountId
    address: str
    domain_id: DomainId
    created_at: datetime
    disabled: bool = False

    @property
    def owner(self) -> AccountId:
        return self.id


@dataclass(frozen=True, slots=True)
class LoginEvent:
    """One login attempt, successful or not.

    Attributes:
        owner: the account the attempt named, or None if the address is unknown.
        address: the address as typed.
        success: whether the login succeeded.
        reason: "ok", "bad-credentials", "disabled", "throttled", ...
        client: user agent or client id as the client reported it.
    """

    id: int
    at: datetime
    owner: AccountId | None
    address: str
    remote: str
    protocol: str
    client: str
    success: bool
    reason: str
