"""Building audit records for a principal: what it touched, and what was refused."""

from collections.abc import Sequence

from mailward.audit import AuditRecord
from mailward.core.access_event import Action, Outcome
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
    return AuditRecord(
        actor_account=principal.account_id,
        actor_session=principal.session_id,
        protocol=principal.protocol.value,
        remote=principal.remote,
        owner_account=owner,
        mailbox=mailbox,
        items=tuple(items),
        unread=tuple(unread),
        part=part,
        action=action.value,
        outcome=outcome.value,
        detail=detail,
    )
