"""What the owner may see of the evidence about their own mail: every access by
anyone other than their own sessions (delegates, the operator, refused attempts),
read from the audit log for the principal's account only."""

from dataclasses import dataclass
from datetime import UTC, datetime

from mailward.access._door import Door
from mailward.audit.query import accesses_by_others
from mailward.core.ids import AccountId

MAX_ENTRIES = 500


@dataclass(frozen=True, slots=True)
class AccessEntry:
    """One access to the owner's mail by someone else (stamped with its owner)."""

    owner: AccountId
    at: datetime
    actor: str  # the actor's address, or "system" / "operator (cli)"
    protocol: str
    remote: str
    mailbox: str
    action: str
    part: str
    items: int
    outcome: str
    position: int  # for paging: entries before this one


class Evidence(Door):
    """MailAccess operations on the record of accesses to the principal's mail."""

    def accesses_by_others(self, limit: int = 100, before: int | None = None) -> list[AccessEntry]:
        """Newest first; `before`: a `position` from an earlier page."""
        self._user()
        limit = max(1, min(limit, MAX_ENTRIES))
        names: dict[str, str] = {}

        def actor(account_id: str, protocol: str) -> str:
            if account_id not in names:
                row = self._s.store.account(AccountId(account_id))
                names[account_id] = row.address if row else f"system ({protocol})"
            return names[account_id]

        return [
            AccessEntry(
                owner=self._me,
                at=datetime.fromtimestamp(r.at_us / 1e6, UTC),
                actor=actor(r.actor_account, r.protocol),
                protocol=r.protocol,
                remote=r.remote,
                mailbox=r.mailbox,
                action=r.action,
                part=r.part,
                items=len(r.items),
                outcome=r.outcome,
                position=r.pos,
            )
            for r in accesses_by_others(self._s.audit.db, self._me, limit, before)
            if r.owner_account == self._me  # the index said so; the record must agree
        ]
