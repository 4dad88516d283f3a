"""Rows as the store returns them: sealed fields are still ciphertext.

The store never opens a sealed field; `access` does, with the key of the principal
it serves. Every row names the account it belongs to (`account_id`).
"""

from dataclasses import dataclass
from typing import NamedTuple, Protocol

from mailward.core.ids import AccountId, DomainId, GrantId, MailboxId, MessageId, QueueId, SessionId


@dataclass(frozen=True, slots=True)
class AccountRow:
    id: AccountId
    address: str
    domain_id: DomainId
    password_hash: str
    created_us: int
    disabled: bool


@dataclass(frozen=True, slots=True)
class MailboxRow:
    account_id: AccountId
    id: MailboxId
    name: str
    special_use: str | None
    uidvalidity: int
    uidnext: int
    highest_modseq: int
    subscribed: bool
    total: int = 0
    unseen: int = 0
    # The name sealed with the owner's key for (owner, id, part "folder"): the door
    # refuses a row whose seal does not open for the account it serves.
    seal: bytes = b""


class MessageRow(NamedTuple):
    """A message's row. A NamedTuple: a page of them is built with tuple.__new__
    (in C), where 50 frozen dataclasses set their 11 fields one by one in
    interpreted code (12 % of the inbox page thread's time)."""

    account_id: AccountId
    id: MessageId
    mailbox_id: MailboxId
    uid: int
    modseq: int
    internal_us: int
    size: int
    flags: str
    has_attachments: bool
    origin_mailbox_id: MailboxId | None
    sealed: bytes  # the list fields (subject, from, to, cc, snippet), sealed as one value


class IndexRow(NamedTuple):
    """A message's identity and state without its sealed fields (IMAP and POP3
    keep one per message of a selected mailbox). A NamedTuple: 100,000 of them
    are built for one `UID FETCH 1:* (FLAGS)`, and a tuple is built in C."""

    account_id: AccountId
    id: MessageId
    uid: int
    modseq: int
    internal_us: int
    size: int
    flags: str


class FetchRow(NamedTuple):
    """What a fetch of a message's parts needs of its row: identity, mailbox,
    flags, and the sealed list fields, opened as proof that the row is the
    served account's."""

    account_id: AccountId
    id: MessageId
    mailbox_id: MailboxId
    flags: str
    sealed: bytes  # the list fields, sealed as one value


class RowRef(Protocol):
    """A message row as far as recording a change to it goes (MessageRow, FetchRow)."""

    @property
    def account_id(self) -> AccountId: ...
    @property
    def id(self) -> MessageId: ...
    @property
    def mailbox_id(self) -> MailboxId: ...
    @property
    def flags(self) -> str: ...


@dataclass(frozen=True, slots=True)
class NewMessage:
    """A message to insert; the store assigns uid and modseq."""

    id: MessageId
    mailbox_id: MailboxId
    internal_us: int
    size: int
    flags: str
    has_attachments: bool
    sealed: bytes  # the list fields, sealed as one value


@dataclass(frozen=True, slots=True)
class TombstoneRow:
    account_id: AccountId
    id: MessageId
    mailbox_id: MailboxId
    mailbox_name: str
    uid: int
    internal_us: int
    size: int
    flags: str
    has_attachments: bool
    sealed: bytes  # the list fields, sealed as one value
    expunged_us: int
    expunged_by: str
    expires_us: int


@dataclass(frozen=True, slots=True)
class GrantRow:
    account_id: AccountId  # the owner
    id: GrantId
    mailbox_id: MailboxId
    grantee_id: AccountId
    rights: str
    created_us: int
    revoked_us: int | None


@dataclass(frozen=True, slots=True)
class LoginRow:
    id: int
    at_us: int
    account_id: AccountId | None
    address: str
    remote: str
    protocol: str
    client: str
    success: bool
    reason: str


@dataclass(frozen=True, slots=True)
class QueueRow:
    """An outbound queue entry; `state` is sealed by the sender's key."""

    account_id: AccountId  # the sender
    id: QueueId
    created_us: int
    size: int
    attempts: int
    next_attempt_us: int
    state: bytes


@dataclass(frozen=True, slots=True)
class SessionRow:
    account_id: AccountId
    id: SessionId
    token_hash: bytes
    protocol: str
    remote: str
    device: str
    created_us: int
    last_seen_us: int
    revoked_us: int | None


@dataclass(frozen=True, slots=True)
class AppPasswordRow:
    account_id: AccountId
    id: str
    name: str
    hash: bytes
    created_us: int
    last_used_us: int | None
    revoked_us: int | None
