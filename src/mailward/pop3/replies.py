"""Errors to POP3 `-ERR` replies, in one place (RFC 1939 §3; response codes in
brackets: RFC 2449 §8 IN-USE, RFC 3206 SYS/TEMP and AUTH).

The texts never say whether an account exists: an unknown user and a wrong
password get `AUTH_FAILED`, byte for byte.
"""

import logging
from dataclasses import dataclass

from mailward.auth.logins import THROTTLED as LOGINS_THROTTLED
from mailward.core.errors import (
    AuthError,
    Conflict,
    IntegrityError,
    InvalidInput,
    MailwardError,
    NotFound,
    PermissionDenied,
)

log = logging.getLogger("mailward.pop3")

# The kill switch (guard/switches.py): temporary, so clients keep trying.
STOPPED = "[SYS/TEMP] POP3 is stopped for maintenance; try again later"
# The response guard refused what a reply would carry: nothing of it is sent.
UNAVAILABLE = "[SYS/TEMP] service unavailable"
TEMPORARY = "[SYS/TEMP] temporary failure; try again later"
AUTH_FAILED = "[AUTH] invalid user name or password"
THROTTLED = f"[AUTH] {LOGINS_THROTTLED}"
PLAINTEXT_REFUSED = "[AUTH] passwords are not taken on an unencrypted connection: STLS first"
IN_USE = "[IN-USE] maildrop locked: another POP3 session of this account is open"
NOT_REMOVED = "[SYS/TEMP] some deleted messages not removed"
NO_SUCH_MESSAGE = "no such message"
ALREADY_DELETED = "message already deleted"
GONE = "message is no longer in the maildrop"
UNKNOWN_COMMAND = "unknown command"
LINE_TOO_LONG = "line too long"
TOO_MANY_ERRORS = "too many bad commands; closing"
IDLE = "idle for too long; closing"  # RFC 1939 §3 autologout
USER_FIRST = "USER first"
NOT_AUTHORIZATION = "not allowed after login"
NOT_TRANSACTION = "log in first"
TLS_ACTIVE = "TLS is already active"
NO_TLS = "STLS is not available"
NO_MECHANISM = "unsupported SASL mechanism: PLAIN only"
CANCELLED = "authentication cancelled"


@dataclass(frozen=True, slots=True)
class Refusal:
    """What to answer an error with, and whether to close the connection."""

    text: str
    close: bool = False


def refusal_for(exc: BaseException) -> Refusal:
    """The reply for an error raised by the door or the login check. Errors that
    are not ours are logged, answered as temporary, and end the session; so does
    an integrity error (a refused crossing: nothing more of this session)."""
    if isinstance(exc, AuthError):
        return Refusal(THROTTLED if str(exc) == LOGINS_THROTTLED else AUTH_FAILED)
    if isinstance(exc, NotFound):
        return Refusal(GONE)
    if isinstance(exc, InvalidInput):
        return Refusal(_one_line(str(exc)))
    if isinstance(exc, (Conflict, PermissionDenied)):
        return Refusal(_one_line(str(exc)))
    if isinstance(exc, IntegrityError):
        log.warning("pop3: %s", exc)
        return Refusal(UNAVAILABLE, close=True)
    if isinstance(exc, MailwardError):
        log.warning("pop3: %s", exc)
        return Refusal(TEMPORARY)
    log.exception("pop3: unexpected error", exc_info=exc)
    return Refusal(TEMPORARY, close=True)


def _one_line(text: str) -> str:
    return " ".join(text.split())[:200] or "refused"
