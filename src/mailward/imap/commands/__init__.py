"""The command table (STYLE.md rule 4): one handler per command, and the states
each is allowed in (RFC 9051 §6)."""

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from mailward.imap.commands import general, mailboxes, messages, search
from mailward.imap.protocol import Command
from mailward.imap.replies import Reply
from mailward.imap.state import State

if TYPE_CHECKING:
    from mailward.imap.session import Session

Handler = Callable[["Session", Command], Awaitable[Reply]]

_ANY = frozenset(State) - {State.LOGOUT}
_AUTH = frozenset({State.AUTHENTICATED, State.SELECTED})
_SELECTED = frozenset({State.SELECTED})
_NOT_AUTH = frozenset({State.NOT_AUTHENTICATED})

_TABLE: dict[str, tuple[Handler, frozenset[State]]] = {
    "CAPABILITY": (general.capability, _ANY),
    "NOOP": (general.noop, _ANY),
    "LOGOUT": (general.logout, _ANY),
    "ID": (general.id_, _ANY),
    "STARTTLS": (general.starttls, _NOT_AUTH),
    "LOGIN": (general.login, _NOT_AUTH),
    "AUTHENTICATE": (general.authenticate, _NOT_AUTH),
    "ENABLE": (general.enable, _AUTH),
    "NAMESPACE": (general.namespace, _AUTH),
    "IDLE": (general.idle, _AUTH),
    "SELECT": (mailboxes.select, _AUTH),
    "EXAMINE": (mailboxes.select, _AUTH),
    "CREATE": (mailboxes.create, _AUTH),
    "DELETE": (mailboxes.delete, _AUTH),
    "RENAME": (mailboxes.rename, _AUTH),
    "SUBSCRIBE": (mailboxes.subscribe, _AUTH),
    "UNSUBSCRIBE": (mailboxes.subscribe, _AUTH),
    "LIST": (mailboxes.list_, _AUTH),
    "LSUB": (mailboxes.list_, _AUTH),
    "STATUS": (mailboxes.status, _AUTH),
    "APPEND": (mailboxes.append, _AUTH),
    "CHECK": (general.check, _SELECTED),
    "CLOSE": (mailboxes.close, _SELECTED),
    "UNSELECT": (mailboxes.unselect, _SELECTED),
    "EXPUNGE": (messages.expunge, _SELECTED),
    "UID EXPUNGE": (messages.expunge, _SELECTED),
    "FETCH": (messages.fetch, _SELECTED),
    "UID FETCH": (messages.fetch, _SELECTED),
    "STORE": (messages.store, _SELECTED),
    "UID STORE": (messages.store, _SELECTED),
    "COPY": (messages.copy, _SELECTED),
    "UID COPY": (messages.copy, _SELECTED),
    "MOVE": (messages.copy, _SELECTED),
    "UID MOVE": (messages.copy, _SELECTED),
    "SEARCH": (search.search, _SELECTED),
    "UID SEARCH": (search.search, _SELECTED),
}
COMMANDS: dict[str, Handler] = {name: h for name, (h, _) in _TABLE.items()}
ALLOWED: dict[str, frozenset[State]] = {name: states for name, (_, states) in _TABLE.items()}
