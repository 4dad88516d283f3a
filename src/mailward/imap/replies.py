"""Errors to IMAP replies, in one place (RFC 9051 §7.1 response codes)."""

from mailward.core.errors import (
    AuthError,
    Conflict,
    InvalidInput,
    IsolationViolation,
    LimitReached,
    MailwardError,
    NotFound,
    PermissionDenied,
)
from mailward.imap.protocol import ParseError

Reply = tuple[str, str]  # (OK | NO | BAD, text with an optional [CODE])

OK_DONE = ("OK", "done")


def reply_for(exc: Exception) -> Reply:
    if isinstance(exc, ParseError):
        return "BAD", str(exc)
    if isinstance(exc, IsolationViolation):
        return "NO", "[SERVERBUG] refused"  # recorded by the door
    if isinstance(exc, NotFound):
        return "NO", f"[NONEXISTENT] {exc}"
    if isinstance(exc, LimitReached):
        return "NO", f"[LIMIT] {exc}"  # RFC 5530
    if isinstance(exc, Conflict):
        return "NO", f"[ALREADYEXISTS] {exc}" if "exists" in str(exc) else f"[CANNOT] {exc}"
    if isinstance(exc, AuthError):
        return "NO", f"[AUTHENTICATIONFAILED] {exc}"
    if isinstance(exc, PermissionDenied):
        return "NO", f"[NOPERM] {exc}"
    if isinstance(exc, InvalidInput):
        return "NO", f"[CANNOT] {exc}"
    if isinstance(exc, ValueError):
        return "BAD", str(exc) or "invalid arguments"
    if isinstance(exc, MailwardError):
        return "NO", str(exc) or "failed"
    return "NO", "failed"
