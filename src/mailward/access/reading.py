"""Reading mail: mailboxes, listings, messages, raw bytes, attachments.

Each exposure is recorded (durably) before it is returned, with the part exposed
and whether the item was unread for its owner.
"""

from collections.abc import Sequence

from mailward.access._door import Door, _info
from mailward.access._paging import checked_limit, decode_cursor, page_of
from mailward.access._recording import listed
from mailward.access._sealing import (
    P_RAW,
    Crossing,
    check_owner,
    open_summaries,
)
from mailward.access.pending import Pending
from mailward.core.access_event import Action, Part, attachment
from mailward.core.errors import (
    IntegrityError,
    NotFound,
)
from mailward.core.flags import Flags, SystemFlag
from mailward.core.ids import MessageId
from mailward.core.mailbox import MailboxInfo
from mailward.core.message import (
    FolderPage,
    MessagePage,
    MessageSummary,
    MessageView,
    Page,
    RawMessage,
)
from mailward.mime import Opened, open_message
from mailward.mime import attachment as mime_attachment
from mailward.store import MailboxRow, MessageRow


class Reading(Door):
    # -- mailboxes ---------------------------------------------------------------------

    def mailboxes(self) -> list[MailboxInfo]:
        """The principal's mailboxes with total and unread counts."""
        self._user()
        infos = self._infos(self._s.store.mailboxes(self._me))
        if isinstance(infos, Crossing):
            raise self._refuse(infos, Part.NONE, Action.LIST)
        return infos

    def _infos(self, rows: Sequence[MailboxRow]) -> list[MailboxInfo] | Crossing:
        crossing = self._foreign_folder(rows)
        if crossing is not None:
            return crossing
        for row in rows:
            self._names[row.id] = row.name
        return [_info(r) for r in rows]

    # -- reading -----------------------------------------------------------------------

    def list_messages(
        self, mailbox: str = "INBOX", limit: int = 50, cursor: str | None = None
    ) -> Page[MessageSummary]:
        """A page of summaries, newest first. Records each listed item (part list-entry)."""
        limit = checked_limit(limit)
        box = self._mailbox(mailbox)
        before = decode_cursor(cursor) if cursor else None
        rows = self._s.store.messages(self._me, box.id, limit, before)
        items = self._summaries(rows, Part.LIST_ENTRY, Action.LIST)
        if items:
            self._s.audit.append(listed(self.principal, self._me, box.name, items))
        return page_of(self._me, items, limit)

    def mailbox_view_deferred(
        self,
        mailbox: str = "INBOX",
        limit: int = 50,
        cursor: str | None = None,
        *,
        open_up_to: int,
        folders_up_to: int,
    ) -> Pending[FolderPage]:
        """The folder list and a page of `mailbox` (as `mailboxes` and
        `list_messages`), in two steps for an event loop.

        At the call, reads and CPU only, bounded: when the account has at most
        `folders_up_to` folders and the page's sealed list fields and flags total
        at most `open_up_to` bytes (counted, and sized without reading the
        values), the folders and the page are read and opened; the result is then
        `opened`. (The sizes and the rows are two reads: a message delivered in
        between is read at the call whatever its size.) `complete()` (blocking:
        the write lock, other commits, the flush) does the rest: reads and opens
        what was left, refuses (recording it) a crossing found at the call, and
        records each listed item durably; only then does it return the view.
        """
        limit = checked_limit(limit)
        before = decode_cursor(cursor) if cursor else None
        sealer = self._user()
        box, crossing = self._looked_up(mailbox)  # a refusal is recorded at completion
        early: FolderPage | None = None
        folders_crossed = crossing is not None
        if (
            crossing is None
            and self._s.store.mailbox_count(self._me) <= folders_up_to
            and self._s.store.page_bytes(self._me, box.id, limit, before) <= open_up_to
        ):
            folders = self._infos(self._s.store.mailboxes(self._me))
            if isinstance(folders, Crossing):
                crossing, folders_crossed = folders, True
            else:
                rows = self._s.store.messages(self._me, box.id, limit, before)
                names = self._names  # every folder's, checked just above: no reads, no records
                opened = open_summaries(sealer, self._me, rows, lambda b: names.get(b, ""))
                if isinstance(opened, Crossing):
                    crossing = opened
                else:
                    early = FolderPage(folders, page_of(self._me, opened, limit))

        def finish(view: FolderPage | None) -> FolderPage:
            if crossing is not None:  # found at the call: refused and recorded here
                part = Part.NONE if folders_crossed else Part.LIST_ENTRY
                raise self._refuse(crossing, part, Action.LIST)
            if view is None:
                view = FolderPage(
                    self.mailboxes(), self.list_messages(box.name, limit, cursor)
                )  # (list_messages records the listing)
            elif view.page.items:
                self._s.audit.append(listed(self.principal, self._me, box.name, view.page.items))
            return view

        return Pending(finish, early, self._s.store)

    def get_summary(self, message_id: str) -> MessageSummary:
        """One list entry (subject, from, to, snippet, flags)."""
        _row, summary = self._item(message_id, Part.LIST_ENTRY, Action.READ)
        self._s.audit.append(self._exposed(summary, Part.LIST_ENTRY, Action.READ))
        return summary

    def message_view_deferred(
        self, message_id: str, *, open_up_to: int, folders_up_to: int
    ) -> Pending[MessagePage]:
        """The folder list and a message opened and marked read (as `mailboxes`
        and `get_message`), in two steps for an event loop.

        At the call, reads and CPU only, bounded: when the message is ours, at
        most `open_up_to` bytes, and the account has at most `folders_up_to`
        folders, they are read, checked and opened, and the result is `opened`.
        A crossing found at the call (a folder row, the message's row, its sealed
        fields or body not ours) is refused and recorded by `complete()`, as
        `get_message` would; anything else not opened (too large, not there, in
        a folder not in the list) is left whole to `complete()`, which does what
        `get_message` does. `complete()` (blocking) records the headers and body
        as exposed and marks the message read, in one unit.
        """
        sealer = self._user()
        early: MessagePage | None = None
        crossing: Crossing | None = None
        part, action = Part.BODY, Action.READ
        row = (
            self._s.store.message(self._me, MessageId(message_id)) if message_id.isalnum() else None
        )
        if row is not None:
            crossing = check_owner(row.account_id, self._me, row.id)
        if (
            row is not None
            and crossing is None
            and row.size <= open_up_to
            and self._s.store.mailbox_count(self._me) <= folders_up_to
        ):
            folders = self._infos(self._s.store.mailboxes(self._me))
            names = self._names  # every folder's, checked just above
            if isinstance(folders, Crossing):  # as `mailboxes` refuses it
                crossing, part, action = folders, Part.NONE, Action.LIST
            elif row.mailbox_id in names:
                opened = open_summaries(sealer, self._me, [row], names.__getitem__)
                if isinstance(opened, Crossing):
                    crossing = opened
                else:
                    try:  # read only once the row is known to be ours
                        sealed = self._s.blobs.get(self._me, row.id)
                        raw = sealer.open(row.id, P_RAW, sealed)
                        early = MessagePage(folders, self._view(opened[0], open_message(raw)))
                    except IntegrityError as exc:
                        crossing = Crossing(row.account_id, row.id, str(exc))
                    except NotFound:
                        pass  # said at completion

        def finish(page: MessagePage | None) -> MessagePage:
            if crossing is not None:  # found at the call: refused and recorded here
                raise self._refuse(crossing, part, action)
            if page is None:
                view = self.get_message(message_id)
                return MessagePage(self.mailboxes(), view)
            assert row is not None
            self._opened(row, page.view.summary, mark_seen=True)
            return page

        return Pending(finish, early, self._s.store)

    def get_message(self, message_id: str, *, mark_seen: bool = True) -> MessageView:
        """Open a message: headers, text and HTML bodies, attachment list.

        Records the headers and body as exposed (with whether the item was unread),
        and, with `mark_seen`, sets \\Seen in the same transaction.
        """
        row, summary = self._item(message_id, Part.BODY, Action.READ)
        view = self._view(summary, open_message(self._raw(row, Part.BODY, Action.READ)))
        self._opened(row, summary, mark_seen=mark_seen)
        return view

    def _view(self, summary: MessageSummary, opened: Opened) -> MessageView:
        return MessageView(
            owner=self._me,
            summary=summary,
            headers=opened.headers,
            text=opened.text,
            html=opened.html,
            attachments=opened.attachments,
            malformed=opened.malformed,
        )

    def _opened(self, row: MessageRow, summary: MessageSummary, *, mark_seen: bool) -> None:
        """Record a message's headers and body as exposed and, with `mark_seen`,
        set \\Seen (from its flags as they are in this unit), in one unit."""
        with self._s.store.transaction():
            self._s.audit.append_many(
                [self._exposed(summary, part, Action.READ) for part in (Part.HEADERS, Part.BODY)]
            )
            now = self._current(row) if mark_seen and summary.unread else None
            if now is not None and not (flags := Flags.parse(now.flags)).seen:
                # from the flags as they are now: one set meanwhile stays
                flags = flags.union(Flags.of(SystemFlag.SEEN))
                self._s.store.set_flags(self._me, row.id, flags.text())
                self._s.audit.append(
                    self._exposed(summary, Part.FLAGS, Action.FLAG, "+\\Seen (read)")
                )

    def get_headers(self, message_id: str) -> Sequence[tuple[str, str]]:
        row, summary = self._item(message_id, Part.HEADERS, Action.READ)
        headers = open_message(self._raw(row, Part.HEADERS, Action.READ)).headers
        self._s.audit.append(self._exposed(summary, Part.HEADERS, Action.READ))
        return headers

    def get_raw(self, message_id: str) -> RawMessage:
        """The message exactly as received (part raw, action download)."""
        row, summary = self._item(message_id, Part.RAW, Action.DOWNLOAD)
        data = self._raw(row, Part.RAW, Action.DOWNLOAD)
        self._s.audit.append(self._exposed(summary, Part.RAW, Action.DOWNLOAD))
        return RawMessage(self._me, row.id, data)

    def get_attachment(self, message_id: str, index: int) -> RawMessage:
        """The decoded bytes of attachment `index` (1-based), with type and safe filename."""
        part = attachment(index) if index >= 1 else Part.NONE
        row, summary = self._item(message_id, part, Action.DOWNLOAD)
        raw = self._raw(row, part, Action.DOWNLOAD)
        try:
            data, ctype, filename = mime_attachment(raw, index)
        except LookupError:
            raise NotFound(f"no attachment {index}") from None
        self._s.audit.append(self._exposed(summary, part, Action.DOWNLOAD))
        return RawMessage(self._me, row.id, data, ctype, filename)
