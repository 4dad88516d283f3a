"""Mailboxes. Every account is created with the special-use set (RFC 6154)."""

from dataclasses import dataclass
from enum import StrEnum

from mailward.core.errors import InvalidInput
from mailward.core.ids import AccountId, MailboxId


class SpecialUse(StrEnum):
    SENT = "\\Sent"
    DRAFTS = "\\Drafts"
    TRASH = "\\Trash"
    JUNK = "\\Junk"
    ARCHIVE = "\\Archive"


# Created with each account, in this order.
SPECIAL_MAILBOXES: tuple[tuple[str, SpecialUse | None], ...] = (
    ("INBOX", None),
    ("Sent", SpecialUse.SENT),
    ("Drafts", SpecialUse.DRAFTS),
    ("Trash", SpecialUse.TRASH),
    ("Junk", SpecialUse.JUNK),
    ("Archive", SpecialUse.ARCHIVE),
)

# The part name in the associated data of a folder row's seal: the folder's name
# sealed with its owner's key for (owner, folder id, part).
P_FOLDER = "folder"

MAX_MAILBOX_NAME = 255
# Folders per account: every listing of them (the web's pages, IMAP LIST) reads
# them all.
MAX_MAILBOXES = 1000


def validate_mailbox_name(name: str) -> str:
    """Return the name, normalising INBOX's case (RFC 9051 §5.1).

    Raises:
        InvalidInput: empty, too long, control characters, or empty hierarchy levels.
    """
    if name.upper() == "INBOX":
        return "INBOX"
    if not name or len(name) > MAX_MAILBOX_NAME:
        raise InvalidInput("mailbox name must be 1-255 characters")
    if any(ord(c) < 32 or c == "\x7f" for c in name) or "*" in name or "%" in name:
        raise InvalidInput("mailbox name contains forbidden characters")
    if any(level == "" for level in name.split("/")):
        raise InvalidInput("mailbox name has an empty hierarchy level")
    return name


@dataclass(frozen=True, slots=True)
class MailboxInfo:
    """A mailbox as the one door hands it out (stamped with its owner)."""

    owner: AccountId
    id: MailboxId
    name: str
    special_use: SpecialUse | None
    uidvalidity: int
    uidnext: int
    highest_modseq: int
    total: int
    unread: int
    subscribed: bool = True


@dataclass(frozen=True, slots=True)
class MailboxView:
    """A mailbox as selected: its state and every UID in it, ascending (message
    sequence number n is `uids[n - 1]`, RFC 9051 §2.3.1.2)."""

    owner: AccountId
    info: MailboxInfo
    uids: tuple[int, ...]
