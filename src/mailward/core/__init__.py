"""Domain types and the error tree. No I/O, imports nothing else of mailward.

Layout: `ids` (NewType identifiers and their generators), `principal` (who is
acting), `account`, `mailbox`, `flags`, `message` (what the one door hands out,
always stamped with its owner), `access_event` (the vocabulary of the audit log),
`errors` (the one error tree).

Invariant: every object that carries mail or account data has an `owner`
attribute naming the account whose data it is; the response guard relies on it.
"""

from mailward.core.access_event import Action, Outcome, Part
from mailward.core.account import Account, Domain, LoginEvent
from mailward.core.errors import (
    AuthError,
    Conflict,
    IntegrityError,
    InvalidInput,
    IsolationViolation,
    MailwardError,
    NotFound,
    PermissionDenied,
)
from mailward.core.flags import Flags, SystemFlag
from mailward.core.ids import AccountId, DomainId, MailboxId, MessageId, SessionId
from mailward.core.mailbox import SPECIAL_MAILBOXES, MailboxInfo, SpecialUse
from mailward.core.message import (
    AttachmentInfo,
    MessageSummary,
    MessageView,
    Owned,
    Page,
    RawMessage,
)
from mailward.core.principal import Principal, Protocol

__all__ = [
    "SPECIAL_MAILBOXES",
    "Account",
    "AccountId",
    "Action",
    "AttachmentInfo",
    "AuthError",
    "Conflict",
    "Domain",
    "DomainId",
    "Flags",
    "IntegrityError",
    "InvalidInput",
    "IsolationViolation",
    "LoginEvent",
    "MailboxId",
    "MailboxInfo",
    "MailwardError",
    "MessageId",
    "MessageSummary",
    "MessageView",
    "NotFound",
    "Outcome",
    "Owned",
    "Page",
    "Part",
    "PermissionDenied",
    "Principal",
    "Protocol",
    "RawMessage",
    "SessionId",
    "SpecialUse",
    "SystemFlag",
]
