"""Delegated access: an owner lets another account read one of its mailboxes.

A grant is explicit (created by the owner), recorded in the audit log, visible to
the owner, and revocable; every read through it names the grant in its audit
record. The grantee's reads open the owner's data with the owner's key only
because a live grant for exactly this mailbox and grantee exists at that moment.
"""

import time
from dataclasses import dataclass
from datetime import UTC, datetime

from mailward.access._paging import checked_limit, decode_cursor, page_of
from mailward.access._recording import listed, record
from mailward.access._sealing import (
    P_RAW,
    Crossing,
    check_folders,
    check_owner,
    open_summary,
    own_folder,
)
from mailward.access.services import Services
from mailward.core.access_event import Action, Outcome, Part
from mailward.core.errors import IntegrityError, InvalidInput, IsolationViolation, NotFound
from mailward.core.ids import AccountId, GrantId, MessageId, new_grant_id
from mailward.core.mailbox import validate_mailbox_name
from mailward.core.message import MessageSummary, MessageView, Page
from mailward.core.principal import Principal
from mailward.mime import open_message
from mailward.store import GrantRow, MailboxRow, MessageRow


@dataclass(frozen=True, slots=True)
class GrantInfo:
    owner: AccountId
    id: GrantId
    owner_address: str
    mailbox: str
    grantee: str
    rights: str
    created_at: datetime
    revoked_at: datetime | None


def _dt(us: int | None) -> datetime | None:
    return datetime.fromtimestamp(us / 1e6, UTC) if us is not None else None


class Delegation:
    """Grants seen from one principal: those it gave, and reads through those it got."""

    def __init__(self, principal: Principal, services: Services) -> None:
        if principal.is_system:
            raise InvalidInput("the system principal has no mailboxes to share")
        self.principal = principal
        self._s = services
        self._me = principal.account_id

    def _info(self, g: GrantRow) -> GrantInfo:
        owner = self._s.store.account(g.account_id)
        grantee = self._s.store.account(g.grantee_id)
        sealer = self._s.keyring.sealer(g.account_id)
        box = own_folder(sealer, g.account_id, self._s.store.mailbox(g.account_id, g.mailbox_id))
        return GrantInfo(
            g.account_id,
            g.id,
            owner.address if owner else "",
            box.name if box else "",
            grantee.address if grantee else "",
            g.rights,
            _dt(g.created_us) or datetime.now(UTC),
            _dt(g.revoked_us),
        )

    def grant(self, mailbox: str, grantee_address: str) -> GrantInfo:
        """Let `grantee_address` read my `mailbox`."""
        name = validate_mailbox_name(mailbox)
        box = self._s.store.mailbox_by_name(self._me, name)
        grantee = self._s.store.account_by_address(grantee_address.lower())
        if box is None or grantee is None:
            raise NotFound("no such mailbox or account")
        crossing = check_folders(self._s.keyring.sealer(self._me), self._me, [box])
        if crossing is not None:
            raise self._refuse(crossing, Part.NONE, Action.GRANT)
        if grantee.id == self._me:
            raise InvalidInput("cannot grant access to yourself")
        row = GrantRow(
            self._me, new_grant_id(), box.id, grantee.id, "read", time.time_ns() // 1000, None
        )
        with self._s.store.transaction():
            self._s.store.add_grant(self._me, row)
            self._s.audit.append(
                record(
                    self.principal,
                    self._me,
                    box.name,
                    [],
                    [],
                    Part.NONE,
                    Action.GRANT,
                    detail=f"{row.id} read to {grantee.id}",
                )
            )
        return self._info(row)

    def revoke(self, grant_id: str) -> None:
        with self._s.store.transaction():
            self._s.store.revoke_grant(self._me, GrantId(grant_id))
            self._s.audit.append(
                record(
                    self.principal, self._me, "", [], [], Part.NONE, Action.REVOKE, detail=grant_id
                )
            )

    def given(self) -> list[GrantInfo]:
        """Every grant I gave, revoked ones included."""
        return [self._info(g) for g in self._s.store.grants(self._me)]

    def received(self) -> list[GrantInfo]:
        """Live grants others gave me."""
        return [self._info(g) for g in self._s.store.grants_to(self._me)]

    def _live(self, grant_id: str) -> GrantRow:
        for g in self._s.store.grants_to(self._me):
            if g.id == grant_id and g.grantee_id == self._me and g.revoked_us is None:
                return g
        raise NotFound("no such grant")

    def _refuse(self, c: Crossing, part: str, action: Action) -> IsolationViolation:
        self._s.audit.append(
            record(
                self.principal, c.owner, "", [c.item], [], part, action, Outcome.REFUSED, c.detail
            )
        )
        return IsolationViolation(self._me, c.owner, c.item, c.detail)

    def _box(self, g: GrantRow, part: str, action: Action) -> MailboxRow | None:
        """The granted mailbox's row, its owner column and seal checked with the
        owner's key (a row that is not the granted one is refused and recorded)."""
        box = self._s.store.mailbox(g.account_id, g.mailbox_id)
        if box is not None:
            crossing = check_folders(self._s.keyring.sealer(g.account_id), g.account_id, [box])
            if crossing is None and box.id != g.mailbox_id:
                crossing = Crossing(box.account_id, box.id, "not the granted mailbox")
            if crossing is not None:
                raise self._refuse(crossing, part, action)
        return box

    def _open(
        self, g: GrantRow, row: MessageRow, box: str, part: str, action: Action
    ) -> MessageSummary:
        if row.mailbox_id != g.mailbox_id:
            raise self._refuse(
                Crossing(row.account_id, row.id, "item outside the granted mailbox"), part, action
            )
        opened = open_summary(self._s.keyring.sealer(g.account_id), g.account_id, row, box)
        if isinstance(opened, Crossing):
            raise self._refuse(opened, part, action)
        return opened

    def list_messages(
        self, grant_id: str, limit: int = 50, cursor: str | None = None
    ) -> Page[MessageSummary]:
        limit = checked_limit(limit)
        g = self._live(grant_id)
        box = self._box(g, Part.LIST_ENTRY, Action.LIST)
        if box is None:
            raise NotFound("the shared mailbox is gone")
        before = decode_cursor(cursor) if cursor else None
        rows = self._s.store.messages(g.account_id, g.mailbox_id, limit, before)
        items = [self._open(g, r, box.name, Part.LIST_ENTRY, Action.LIST) for r in rows]
        if items:
            self._s.audit.append(
                listed(self.principal, g.account_id, box.name, items, f"grant {g.id}")
            )
        return page_of(g.account_id, items, limit)

    def get_message(self, grant_id: str, message_id: str) -> MessageView:
        """Read a message in a granted mailbox; never marks it read for its owner."""
        g = self._live(grant_id)
        row = (
            self._s.store.message(g.account_id, MessageId(message_id))
            if (message_id.isalnum())
            else None
        )
        if row is None or row.mailbox_id != g.mailbox_id:
            raise NotFound("no such message")
        crossing = check_owner(row.account_id, g.account_id, row.id)
        if crossing is not None:
            raise self._refuse(crossing, Part.BODY, Action.READ)
        box = self._box(g, Part.BODY, Action.READ)
        summary = self._open(g, row, box.name if box else "", Part.BODY, Action.READ)
        try:
            raw = self._s.keyring.sealer(g.account_id).open(
                row.id, P_RAW, self._s.blobs.get(g.account_id, row.id)
            )
        except IntegrityError as exc:
            raise self._refuse(
                Crossing(row.account_id, row.id, str(exc)), Part.BODY, Action.READ
            ) from None
        opened = open_message(raw)
        self._s.audit.append_many(
            [
                record(
                    self.principal,
                    g.account_id,
                    summary.mailbox,
                    [row.id],
                    [summary.unread],
                    part,
                    Action.READ,
                    detail=f"grant {g.id}",
                )
                for part in (Part.HEADERS, Part.BODY)
            ]
        )
        return MessageView(
            g.account_id,
            summary,
            opened.headers,
            opened.text,
            opened.html,
            opened.attachments,
            opened.malformed,
        )
