"""Session state shared by the session and the command handlers."""

import enum
from dataclasses import dataclass, field


class State(enum.Enum):
    NOT_AUTHENTICATED = "not authenticated"
    AUTHENTICATED = "authenticated"
    SELECTED = "selected"
    LOGOUT = "logout"


@dataclass(slots=True)
class Selected:
    """The client's view of the selected mailbox: UIDs in sequence order (only
    changed when the client is told: EXISTS, EXPUNGE) and the modseq it has seen.

    `uids` is a tuple, and while the client's view equals the mailbox it is the
    very tuple the door hands out (shared by every session of the account): a
    100,000-message INBOX costs 3.6 MB as a list per session, nothing extra
    shared. Changes build a new tuple."""

    name: str
    readonly: bool
    uidvalidity: int
    uids: tuple[int, ...]
    highest_modseq: int
    condstore: bool = False
    # UID -> modseq of changes this session made and already told the client of
    # (STORE's own FETCH replies), so the next update does not repeat them.
    told: dict[int, int] = field(default_factory=dict)


class Refused(Exception):
    """The guard stopped a reply: the session ends and nothing of it is sent."""


class TooLong(Exception):
    """A line or literal past its limit (the command is answered, the input skipped)."""

    def __init__(self, tag: str | None, reply: bytes) -> None:
        self.tag = tag
        self.reply = reply
