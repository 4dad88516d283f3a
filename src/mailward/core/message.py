"""What the one door hands out about messages. Every object carries `owner`."""

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Generic, NamedTuple, Protocol, TypeVar

from mailward.core.flags import Flags
from mailward.core.ids import AccountId, MailboxId, MessageId
from mailward.core.mailbox import MailboxInfo


class Owned(Protocol):
    """Anything stamped with the account whose data it carries."""

    @property
    def owner(self) -> AccountId: ...


class MessageSummary(NamedTuple):
    """A list entry: identity, flags and the opened private header fields.

    A NamedTuple: one call builds it, where a frozen dataclass set its 15
    fields one by one in interpreted code (50 of them a page)."""

    owner: AccountId
    id: MessageId
    mailbox_id: MailboxId
    mailbox: str
    uid: int
    modseq: int
    internal_date: datetime
    size: int
    flags: Flags
    subject: str
    sender: str
    to: str
    cc: str
    snippet: str
    has_attachments: bool

    @property
    def unread(self) -> bool:
        return not self.flags.seen


@dataclass(frozen=True, slots=True)
class AttachmentInfo:
    """One attachment: its position (1-based), sanitised name, type and decoded size."""

    index: int
    filename: str
    content_type: str
    size: int


@dataclass(frozen=True, slots=True)
class MessageView:
    """One opened message: summary, all headers, text and HTML bodies, attachments.

    `html` is the message's HTML as sent; front-ends sanitise it before display.
    `malformed` is set when the message could only be shown best-effort.
    """

    owner: AccountId
    summary: MessageSummary
    headers: Sequence[tuple[str, str]]
    text: str
    html: str | None
    attachments: Sequence[AttachmentInfo] = field(default_factory=tuple)
    malformed: bool = False


@dataclass(frozen=True, slots=True)
class RawMessage:
    """Bytes of a message or of one of its attachments."""

    owner: AccountId
    id: MessageId
    data: bytes
    content_type: str = "message/rfc822"
    filename: str = ""


T = TypeVar("T", bound=Owned)


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page of a listing, newest first; `cursor` fetches the next page."""

    owner: AccountId
    items: Sequence[T]
    cursor: str | None


@dataclass(frozen=True, slots=True)
class FolderPage:
    """The folder list and one page of a mailbox: the web's message list."""

    folders: list[MailboxInfo]
    page: Page[MessageSummary]


@dataclass(frozen=True, slots=True)
class MessagePage:
    """The folder list and one opened message: the web's message page."""

    folders: list[MailboxInfo]
    view: MessageView


class IndexEntry(NamedTuple):
    """A message's identity and state, without content: what IMAP keeps per
    message of a selected mailbox and POP3 per message of the maildrop. A
    NamedTuple, cheap to build by the 100,000 (it carries `owner` like every
    door object; the guard's stamp reads it before treating it as a tuple)."""

    owner: AccountId
    id: MessageId
    uid: int
    modseq: int
    internal_us: int
    size: int
    flags: Flags


@dataclass(frozen=True, slots=True)
class Fetched:
    """What a fetch handed out of one message: `data` maps each asked-for item
    (`ENVELOPE`, `BODYSTRUCTURE`, `BODY`, `SECTION:<spec>`, `TOP:<lines>`) to its
    bytes; `flags` is set when the fetch changed them (\\Seen set by reading);
    `parts` names what of the message that is, as the audit log records it."""

    owner: AccountId
    id: MessageId
    data: dict[str, bytes]
    flags: Flags | None = None
    parts: tuple[str, ...] = ()  # what of the message `data` exposes (audit part names)
    modseq: int = 0  # the message's new modseq when the fetch changed its flags
