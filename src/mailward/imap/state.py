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
    changed when the client is told: EXISTS, EXPUNGE) and the modseq it has seen."""

    name: str
    readonly: bool
    uidvalidity: int
    uids: list[int]
    highest_modseq: int
    condstore: bool = False
    source: tuple[int, ...] = ()  # the door's UID list the view was last equal to
    # UID -> modseq of changes this session made and already told the client of
    # (STORE's own FETCH replies), so the next update does not repeat them.
    told: dict[int, int] = field(default_factory=dict)


class Refused(Exception):
    """The guard stopped a reply: the session ends and nothing of it is sent."""
