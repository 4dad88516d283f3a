"""Errors to SMTP replies, in one place (RFC 5321 §4.2, RFC 3463 enhanced codes)."""

import logging

from mailward.core.errors import (
    AuthError,
    InvalidInput,
    MailwardError,
    NotFound,
    PermissionDenied,
)

log = logging.getLogger("mailward.smtp")

OK = "250 2.0.0 OK"
QUEUED = "250 2.0.0 OK: stored"
UNKNOWN_USER = "550 5.1.1 No such user here"
RELAY_DENIED = "550 5.7.1 Relaying denied: not a local domain"
BAD_ADDRESS = "553 5.1.3 Invalid address"
NOT_YOURS = "553 5.7.1 Sender address does not belong to the authenticated account"
TOO_BIG = "552 5.3.4 Message too big for system"
LINE_TOO_LONG = "500 5.5.2 Line too long (RFC 5321 §4.5.3.1.6: 1000 octets)"
AUTH_FAILED = "535 5.7.8 Authentication credentials invalid"
AUTH_REQUIRED = "530 5.7.0 Authentication required"
NO_SENDER = "503 5.5.1 Error: need MAIL command"
TEMPORARY = "451 4.3.0 Temporary failure, please try again later"
# The kill switch: never a permanent refusal, so senders keep the mail and retry.
UNAVAILABLE = "421 4.3.2 Service temporarily unavailable, try again later"


def reply_for(exc: BaseException) -> str:
    """The reply for an error raised while handling a transaction. Anything not
    ours is a temporary failure: the client keeps the message and retries."""
    if isinstance(exc, NotFound):
        return UNKNOWN_USER
    if isinstance(exc, PermissionDenied):
        return NOT_YOURS
    if isinstance(exc, AuthError):
        return AUTH_FAILED
    if isinstance(exc, InvalidInput):
        return f"554 5.6.0 {_one_line(str(exc))}"
    if isinstance(exc, MailwardError):
        log.warning("smtp: %s", exc)
        return TEMPORARY
    log.exception("smtp: unexpected error", exc_info=exc)
    return TEMPORARY


def _one_line(text: str) -> str:
    return " ".join(text.split())[:200] or "Message refused"
