"""One watcher for every idling session of a listener (RFC 2177 IDLE).

Each session in IDLE waits on its own event; the watcher looks at each selected
mailbox once per `poll_s` for all the sessions idling on it (one door call per
mailbox, not per session) and wakes only the sessions whose view is behind:
new or expunged messages (the door's UID list is no longer the one the session
shares), or changed flags (a higher modseq). A thousand clients idling on one
INBOX cost one cheap look a second. The kill switch wakes them all.
"""

import asyncio
import contextlib
from typing import TYPE_CHECKING

from mailward.core.errors import MailwardError

if TYPE_CHECKING:
    from mailward.imap.session import Session

POLL_S = 1.0


class IdleHub:
    def __init__(self, poll_s: float = POLL_S) -> None:
        self.poll_s = poll_s
        self._waiting: dict[Session, asyncio.Event] = {}
        self._task: asyncio.Task[None] | None = None

    def join(self, session: "Session") -> asyncio.Event:
        event = asyncio.Event()
        self._waiting[session] = event
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run())
        return event

    def leave(self, session: "Session") -> None:
        self._waiting.pop(session, None)

    async def _run(self) -> None:
        while self._waiting:
            await asyncio.sleep(self.poll_s)
            with contextlib.suppress(MailwardError):
                await self._look()

    async def _look(self) -> None:
        waiting = list(self._waiting.items())
        if not waiting:
            return
        backend = waiting[0][0].backend
        if backend.stopped():
            for _session, event in waiting:
                event.set()
            return
        groups: dict[tuple[str, str], list[Session]] = {}
        for session, wake in waiting:
            sel, principal = session.selected, session.principal
            if sel is None or principal is None:
                wake.set()
                continue
            groups.setdefault((principal.account_id, sel.name), []).append(session)
        for (_account, name), members in groups.items():
            first = members[0]
            try:
                view = await first.call(first.door.open_mailbox, name)
            except MailwardError:
                view = None
            for session in members:
                pending = self._waiting.get(session)
                sel = session.selected
                if pending is None:
                    continue
                behind = (
                    view is None
                    or sel is None
                    or view.uids is not sel.uids
                    or view.info.highest_modseq != sel.highest_modseq
                )
                if behind:
                    pending.set()
