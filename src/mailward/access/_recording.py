"""Building audit records for a principal: what it touched, and what was refused."""

from collections.abc import Sequence

from mailward.audit import AuditRecord
from mailward.core.access_event import Action, Outcome, Part
from mailward.core.message import MessageSummary
from mailward.core.principal import Principal


def record(
    principal: Principal,
    owner: str,
    mailbox: str,
    items: Sequence[str],
    unread: Sequence[bool],
    part: str,
    action: Action,
    outcome: Outcome = Outcome.ALLOWED,
    detail: str = "",
) -> AuditRecord:
    # Positional, the enums as the strings they are, and through tuple.__new__
    # (a named tuple's own __new__ is a Python function): built for every delivery
    # and every read.
    return tuple.__new__(
        AuditRecord,
        (
            principal.account_id,
            principal.session_id,
            principal.protocol,
            principal.remote,
            owner,
            mailbox,
            tuple(items),
            tuple(unread),
            part,
            action,
            outcome,
            detail,
        ),
    )


def listed(
    principal: Principal,
    owner: str,
    mailbox: str,
    items: Sequence[MessageSummary],
    detail: str = "",
) -> AuditRecord:
    """The record of a listing: every item named, with whether each was unread."""
    return record(
        principal,
        owner,
        mailbox,
        [m.id for m in items],
        [m.unread for m in items],
        Part.LIST_ENTRY,
        Action.LIST,
        detail=detail,
    )
