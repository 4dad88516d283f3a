"""Mailboxes as mail programs see them (IMAP, POP3): a selected mailbox's UIDs,
each message's state, and parts of messages by IMAP section.

The same rules as every other door method: rows only from queries scoped to the
principal, opened only with its key, each part recorded before it is returned.
A fetch records, per part of the message exposed (`subject`, `headers`, `body`,
`attachment:N`, `raw`, `structure`), which items, and whether each was unread.
The UID list and the state of messages (UID, size, dates, flags) are recorded
only when flags are handed out (part `flags`); they carry no content.
"""

import bisect
from collections.abc import Callable, Sequence

from mailward.access._door import MAX_UID, Door, _info
from mailward.access._recording import record
from mailward.access._sealing import Crossing, check_owner, check_sealed
from mailward.access._states import MailboxState
from mailward.core.access_event import Action, Part
from mailward.core.errors import IntegrityError, InvalidInput
from mailward.core.flags import Flags, SystemFlag
from mailward.core.ids import MessageId
from mailward.core.mailbox import MailboxView
from mailward.core.message import Fetched, IndexEntry
from mailward.crypto import Sealer
from mailward.mime import header_block
from mailward.mime import imap as mime
from mailward.store import FetchRow, IndexRow, MailboxRow

MAX_UID_LISTS = 10_000  # cached UID lists; the cache is emptied when it grows past this
STATE_CHUNK = 5_000  # message states read per query when a whole mailbox's are loaded
_SEEN = Flags.of(SystemFlag.SEEN)


def _top(raw: bytes, lines: int) -> tuple[bytes, tuple[str, ...]]:
    """RFC 1939 §7 TOP: the header section and the first `lines` lines of the body."""
    head = header_block(raw)
    body = raw[len(head) :]
    if lines <= 0 or not body:
        return head, (Part.HEADERS,)
    cut = 0
    for _ in range(lines):
        nl = body.find(b"\n", cut)
        if nl < 0:
            cut = len(body)
            break
        cut = nl + 1
    return head + body[:cut], (Part.HEADERS, Part.BODY)


# Items worked out once per message and kept sealed (migration 0012), with the
# parts of the message each one exposes.
CACHED: dict[str, tuple[str, ...]] = {
    "ENVELOPE": (Part.HEADERS.value,),
    "BODYSTRUCTURE": (Part.STRUCTURE.value,),
    "BODY": (Part.STRUCTURE.value,),
}


# Bumped whenever mime.envelope or mime.bodystructure changes what they produce:
# values kept by an older version are then no longer found, and made again.
CACHE_VERSION = 1


def _cache_part(what: str) -> str:
    """The part name a cached item is sealed under (bound into its associated data)."""
    return f"cache:{what.lower()}:v{CACHE_VERSION}"


def _item(raw: bytes, what: str) -> tuple[bytes, tuple[str, ...]]:
    if what == "ENVELOPE":
        return mime.envelope(raw), CACHED[what]
    if what in ("BODYSTRUCTURE", "BODY"):
        return mime.bodystructure(raw, extensible=what == "BODYSTRUCTURE"), CACHED[what]
    if what.startswith("SECTION:"):
        return mime.section(raw, what[8:])
    if what.startswith("TOP:") and what[4:].isdigit():
        return _top(raw, int(what[4:]))
    raise InvalidInput(f"unknown fetch item {what!r}")


def _current(
    hit: tuple[int, int, tuple[int, ...]] | None, row: MailboxRow
) -> tuple[int, ...] | None:
    """The cached UID list if it is still the mailbox's: the same UIDNEXT and the
    same count mean no message came in (each gets a new UID) and none left."""
    return hit[2] if hit is not None and hit[0] == row.uidnext and hit[1] == row.total else None


def _fresh(state: MailboxState | None, box: MailboxRow) -> MailboxState | None:
    """The cached state if the mailbox row says it is still current."""
    if state is not None and state.current(
        box.uidvalidity, box.highest_modseq, box.uidnext, box.total
    ):
        return state
    return None


class Syncing(Door):
    """MailAccess: what IMAP and POP3 sessions need."""

    def open_mailbox(self, name: str) -> MailboxView:
        """The mailbox's state and all its UIDs (nothing recorded: no content)."""
        row = self._mailbox(name)
        return MailboxView(self._me, _info(row), self._uids(row))

    def first_unseen(self, name: str) -> int | None:
        """The lowest UID in the mailbox without \\Seen (a UID: nothing recorded)."""
        return self._s.store.first_unseen_uid(self._me, self._mailbox(name).id)

    def _uids(self, row: MailboxRow) -> tuple[int, ...]:
        key = (self._me, row.id)
        cache = self._s.uid_lists
        if (uids := _current(cache.get(key), row)) is not None:
            return uids
        with self._s.uid_loads.hold(key):  # another session may be reading it now
            hit = cache.get(key)
            if (uids := _current(hit, row)) is not None:
                return uids
            return self._load_uids(key, row, hit)

    def _load_uids(
        self,
        key: tuple[str, str],
        row: MailboxRow,
        hit: tuple[int, int, tuple[int, ...]] | None,
    ) -> tuple[int, ...]:
        cache = self._s.uid_lists
        uids: tuple[int, ...] | None = None
        if hit is not None and hit[2]:
            # New mail only (the common change): the old list plus the UIDs above
            # it, if that makes the mailbox's count; an expunge or a move out
            # breaks the sum, and then the whole list is read again.
            added = self._s.store.mailbox_uids(self._me, row.id, hit[2][-1] + 1)
            if len(hit[2]) + len(added) == row.total:
                uids = hit[2] + tuple(added)
        if uids is None:
            uids = tuple(self._s.store.mailbox_uids(self._me, row.id))
        if len(cache) >= MAX_UID_LISTS:
            cache.clear()
        cache[key] = (row.uidnext, len(uids), uids)
        return uids

    def index(
        self,
        mailbox: str,
        first_uid: int,
        last_uid: int,
        *,
        changed_since: int = 0,
        record_flags: bool = False,
    ) -> list[IndexEntry]:
        """The state of each message with first_uid <= UID <= last_uid (and a modseq
        above `changed_since`), ascending. With `record_flags` the flags are handed
        out: one record names every item (part `flags`)."""
        box = self._mailbox(mailbox)
        key = (self._me, box.id)
        if self._s.states.get(key) is None and (first_uid > 1 or last_uid < box.uidnext - 1):
            # A part of a mailbox not in the cache (a page of the newest, one
            # message): read just those; the whole is read and kept when asked for.
            rows = self._s.store.index_rows(self._me, box.id, first_uid, last_uid, changed_since)
            out = self._entries(rows)
        else:
            state = self._state(box)
            lo = bisect.bisect_left(state.uids, first_uid)
            hi = bisect.bisect_right(state.uids, last_uid)
            chosen = state.entries[lo:hi]
            out = [e for e in chosen if e.modseq > changed_since] if changed_since else list(chosen)
        if record_flags and out:
            self._s.audit.append(
                record(
                    self.principal,
                    self._me,
                    box.name,
                    [e.id for e in out],
                    [not e.flags.seen for e in out],
                    Part.FLAGS,
                    Action.LIST,
                )
            )
        return out

    def _state(self, box: MailboxRow) -> MailboxState:
        """Every message's state, from the cache when the mailbox row says it is
        current, else brought up to date with the rows changed since (a full read
        the first time)."""
        key = (self._me, box.id)
        if (state := _fresh(self._s.states.get(key), box)) is not None:
            return state
        with self._s.state_loads.hold(key):  # one reader at a time per mailbox
            cached = self._s.states.get(key)
            if (state := _fresh(cached, box)) is not None:
                return state
            return self._load_state(key, box, cached)

    def _load_state(
        self, key: tuple[str, str], box: MailboxRow, state: MailboxState | None
    ) -> MailboxState:
        cache = self._s.states
        since = state.highest_modseq if state and state.uidvalidity == box.uidvalidity else 0
        changed: list[IndexEntry] = []
        first = 1
        while True:  # in chunks: one query's JSON for 100,000 rows left the heap 60 MB larger
            rows = self._s.store.index_rows(self._me, box.id, first, MAX_UID, since, STATE_CHUNK)
            changed += self._entries(rows)
            if len(rows) < STATE_CHUNK:
                break
            first = rows[-1].uid + 1
        if since and state is not None:
            # Read after the rows: a UID here without a row arrived in between and
            # comes with the next call (its modseq is above `box.highest_modseq`).
            present = set(self._uids(self._folder(box.id, Action.LIST) or box))
            merged = {e.uid: e for e in state.entries if e.uid in present}
            merged.update((e.uid, e) for e in changed)
            entries = tuple(merged[u] for u in sorted(merged))
        else:
            entries = tuple(changed)
        state = MailboxState(
            box.uidvalidity, box.highest_modseq, box.uidnext, box.total,
            tuple(e.uid for e in entries), entries,
        )  # fmt: skip
        cache.put(key, state)
        return state

    def _entries(self, rows: list[IndexRow]) -> list[IndexEntry]:
        me = self._me
        if any(r.account_id != me for r in rows):
            for r in rows:
                self._own(r)
        parsed = {text: Flags.parse(text) for text in {r.flags for r in rows}}
        return [
            IndexEntry(me, r.id, r.uid, r.modseq, r.internal_us, r.size, parsed[r.flags])
            for r in rows
        ]

    def _own(self, r: IndexRow) -> None:
        if r.account_id != self._me:
            self._row(r.id, Part.FLAGS, Action.LIST)  # refuses (recorded) or NotFound

    def fetch(
        self,
        ids: Sequence[MessageId | str],
        items: Sequence[str],
        *,
        set_seen: bool = False,
        with_flags: bool = False,
        detail: str = "",
    ) -> list[Fetched]:
        """Parts of messages: each of `items` (`ENVELOPE`, `BODYSTRUCTURE`, `BODY`,
        `SECTION:<IMAP section spec>`, `TOP:<lines>`) for each message, in order.

        Every part exposed is recorded (one record per part, naming each item and
        whether it was unread) before anything is returned; with `set_seen`
        (IMAP BODY[...] without PEEK, POP3 RETR), unread messages get \\Seen in the
        same transaction, recorded as such. `with_flags`: the caller hands out the
        messages' flags too (IMAP FETCH FLAGS with parts): recorded in the same
        append. Ids that are not (or no longer) the principal's are left out.
        """
        rows: list[FetchRow] = []
        out: list[Fetched] = []
        exposed: dict[str, list[tuple[MessageId, bool]]] = {}
        mailbox = ""
        wanted = [MessageId(i) for i in dict.fromkeys(ids) if i.isalnum()]
        sealer = self._user()
        found: dict[MessageId, FetchRow] = {}
        asked = set(wanted)
        for r in self._s.store.fetch_rows(self._me, wanted):
            # A row that was not asked for, or not ours, is a crossed query. The
            # sealed list fields, which are not handed out, are opened: a row
            # relabelled as ours (a wrong join) or carrying another account's
            # fields fails under our key and owner-bound associated data. Checked
            # here, before anything else is looked up for the row: its blob, kept
            # under its real owner, would be "not found" first, and the crossing
            # would go unrecorded.
            crossing = check_owner(r.account_id, self._me, r.id)
            if crossing is None and r.id not in asked:
                crossing = Crossing(r.account_id, r.id, "a row that was not asked for")
            if crossing is None:
                crossing = check_sealed(sealer, self._me, r, r.sealed)
            if crossing is not None:
                raise self._refuse(crossing, Part.RAW, Action.READ)
            found[r.id] = r
        cache = self._cached(list(found), [w for w in dict.fromkeys(items) if w in CACHED])
        fill: list[tuple[MessageId, str, bytes]] = []
        need_raw: set[str] = {i for i in found if any((i, w) not in cache for w in items)}
        sealed = self._s.blobs.get_many(self._me, list(need_raw))
        for message_id in wanted:
            row = found.get(message_id)
            if row is None:  # gone meanwhile (or never ours: recorded if someone's)
                self._record_foreign(message_id, Part.RAW, Action.READ)
                continue
            # The raw message opens only with our key under owner-bound associated
            # data: a blob of another account fails (refused, recorded). So do
            # cached parts, sealed the same way.
            mailbox = self._name_of(row.mailbox_id, Action.READ)
            raw = None
            if row.id in need_raw:
                raw = self._open_raw(row, sealed.get(row.id), Part.RAW, Action.READ)
            data: dict[str, bytes] = {}
            labels: dict[str, None] = dict.fromkeys([Part.FLAGS.value] if with_flags else [])
            for what in items:
                hit = cache.get((row.id, what))
                if hit is not None:
                    data[what], parts = self._open_cached(sealer, row, what, hit), CACHED[what]
                else:
                    assert raw is not None
                    data[what], parts = _item(raw, what)
                    if what in CACHED:  # kept sealed for the next time
                        part = _cache_part(what)
                        fill.append((row.id, part, sealer.seal(row.id, part, data[what])))
                labels.update(dict.fromkeys(parts))
            unread = not Flags.parse(row.flags).seen
            for label in labels:
                exposed.setdefault(label, []).append((row.id, unread))
            rows.append(row)
            out.append(Fetched(self._me, row.id, data, parts=tuple(labels)))
        if not out:
            return out
        with self._s.store.transaction():
            self._s.store.put_cached_parts(self._me, fill)
            self._s.audit.append_many(
                [
                    record(
                        self.principal,
                        self._me,
                        mailbox,
                        [i for i, _ in pairs],
                        [u for _, u in pairs],
                        label,
                        Action.READ,
                        detail=detail,
                    )
                    for label, pairs in exposed.items()
                ]
            )
            if set_seen:
                for k, read in enumerate(rows):
                    now = self._current(read)  # flags as they are now, not as read
                    if now is None:
                        continue
                    flags = Flags.parse(now.flags)
                    if flags.seen:
                        continue
                    change = self._changed(now, Action.FLAG, "+\\Seen (read)", Part.FLAGS)
                    after = flags.union(_SEEN)
                    updated = self._s.store.set_flags(self._me, now.id, after.text())
                    self._s.audit.append(change)
                    out[k] = Fetched(
                        self._me, now.id, out[k].data, after, out[k].parts, updated.modseq
                    )
        return out

    def _cached(self, ids: list[MessageId], items: list[str]) -> dict[tuple[MessageId, str], bytes]:
        """The sealed cached parts of our messages among `ids`: {(id, item): sealed}."""
        by_part = {_cache_part(w): w for w in items}
        out: dict[tuple[MessageId, str], bytes] = {}
        for owner, item, part, value in self._s.store.cached_parts(self._me, ids, list(by_part)):
            crossing = check_owner(owner, self._me, item)
            if crossing is not None:
                raise self._refuse(crossing, Part.RAW, Action.READ)
            if part in by_part:
                out[item, by_part[part]] = value
        return out

    def _open_cached(self, sealer: Sealer, row: FetchRow, what: str, value: bytes) -> bytes:
        try:
            return sealer.open(row.id, _cache_part(what), value)
        except IntegrityError as exc:  # another account's value under our row
            crossing = Crossing(row.account_id, row.id, f"cached part does not open: {exc}")
            raise self._refuse(crossing, Part.RAW, Action.READ) from None

    def matching(
        self,
        ids: Sequence[MessageId | str],
        test: Callable[[MessageId, bytes], bool],
        detail: str = "",
    ) -> list[MessageId]:
        """The ids among `ids` whose raw message passes `test` (a search over
        content). Only which items matched leaves; they are recorded (part `-`)."""
        found: list[MessageId] = []
        unread: list[bool] = []
        mailbox = ""
        for message_id in ids:
            row, summary = self._item(message_id, Part.NONE, Action.LIST)
            mailbox = summary.mailbox
            if test(row.id, self._raw(row, Part.NONE, Action.LIST)):
                found.append(row.id)
                unread.append(summary.unread)
        if found:
            self._s.audit.append(
                record(
                    self.principal,
                    self._me,
                    mailbox,
                    found,
                    unread,
                    Part.NONE,
                    Action.LIST,
                    detail=detail or "matched a search",
                )
            )
        return found
