"""Message commands: FETCH STORE COPY MOVE EXPUNGE and their UID forms
(RFC 9051 §6.4; RFC 4315 UIDPLUS; RFC 6851 MOVE; RFC 7162 CONDSTORE).

What each FETCH item exposes is recorded by the door per part: FLAGS (`flags`),
ENVELOPE (`headers`), BODYSTRUCTURE (`structure`), BODY[section] (the part it is:
`subject`, `headers`, `body`, `attachment:N`, `raw`). BODY[...] without PEEK,
RFC822 and RFC822.TEXT set \\Seen (recorded as such) in a read-write mailbox.
"""

import bisect
from typing import TYPE_CHECKING

from mailward.core.errors import NotFound
from mailward.core.flags import Flags, SystemFlag
from mailward.core.ids import MessageId
from mailward.core.message import Fetched, IndexEntry
from mailward.imap.protocol import Command
from mailward.imap.protocol import response as out
from mailward.imap.protocol.grammar import CopyTo, Fetch, FetchAtt, SeqSet, Store, resolve
from mailward.imap.replies import Reply

if TYPE_CHECKING:
    from mailward.access import MailAccess
    from mailward.imap.session import Session

FETCH_BATCH = 200  # messages per door call when parts are fetched
_DELETED = SystemFlag.DELETED.value


def uids_for(s: "Session", seqs: SeqSet, by_uid: bool) -> list[int]:
    """The UIDs a sequence set names in the client's view, ascending.

    Raises:
        ValueError: a message sequence number past the last message (RFC 9051
            §7.5.1: answered BAD). UID sets simply skip UIDs that are not there.
    """
    assert s.selected is not None
    uids = s.selected.uids
    if not uids:
        if by_uid:
            return []
        raise ValueError("the mailbox is empty: no message sequence numbers")
    chosen: set[int] = set()
    if by_uid:
        largest = uids[-1]
        for lo, hi in resolve(seqs, largest):
            i = bisect.bisect_left(uids, lo)
            j = bisect.bisect_right(uids, hi)
            chosen.update(uids[i:j])
        return sorted(chosen)
    for lo, hi in resolve(seqs, len(uids)):
        if hi > len(uids):
            raise ValueError(f"no message {hi}: the mailbox has {len(uids)}")
        chosen.update(uids[lo - 1 : hi])
    return sorted(chosen)


async def entries_for(
    s: "Session",
    uids: list[int],
    *,
    record_flags: bool = False,
    changed_since: int = 0,
    last: bool = False,
) -> list[IndexEntry]:
    """The entries of `uids`, guarded; `last`: the command's last door call."""
    assert s.selected is not None
    if not uids:
        return []
    got = await (s.call_last if last else s.call)(
        s.door.index, s.selected.name, uids[0], uids[-1], changed_since=changed_since,
        record_flags=record_flags,
    )  # fmt: skip
    entries = _only(got, uids)
    s.guard(entries, "flags" if record_flags else "-")
    return entries


def _only(got: list[IndexEntry], uids: list[int]) -> list[IndexEntry]:
    """The entries of `uids` among `got` (the door's entries of their UID range)."""
    if len(got) == len(uids) and all(e.uid == u for e, u in zip(got, uids, strict=True)):
        return got
    wanted = set(uids)
    return [e for e in got if e.uid in wanted]


def _index_and_fetch(
    s: "Session", door: "MailAccess", mailbox: str, uids: list[int], changed_since: int,
    items: list[str], set_seen: bool, with_flags: bool, detail: str,
) -> tuple[list[IndexEntry], list[Fetched]]:  # fmt: skip
    """In the thread pool: the entries of `uids`, guarded, then their parts (one
    trip). The entries pass the guard before the fetch reads, marks or records
    anything (Refused otherwise)."""
    entries = _only(door.index(mailbox, uids[0], uids[-1], changed_since=changed_since), uids)
    if not entries:
        return entries, []
    s.guard(entries, "-")
    fetched = door.fetch(
        [e.id for e in entries], items, set_seen=set_seen, with_flags=with_flags, detail=detail
    )
    return entries, fetched


def _door_item(att: FetchAtt) -> str | None:
    if att.name in ("ENVELOPE", "BODYSTRUCTURE"):
        return att.name
    if att.name == "BODY":
        return "BODY" if att.section is None else f"SECTION:{att.section}"
    return {"RFC822": "SECTION:", "RFC822.HEADER": "SECTION:HEADER",
            "RFC822.TEXT": "SECTION:TEXT"}.get(att.name)  # fmt: skip


def _sets_seen(att: FetchAtt) -> bool:
    return (att.name == "BODY" and att.section is not None and not att.peek) or att.name in (
        "RFC822", "RFC822.TEXT",
    )  # fmt: skip


def _item_out(att: FetchAtt, data: bytes) -> bytes:
    if att.name != "BODY" or att.section is None:
        name = att.name.encode()
        if att.name in ("ENVELOPE", "BODYSTRUCTURE", "BODY"):
            return name + b" " + data
        return name + b" " + out.string(data) if data else name + b' ""'
    label = b"BODY[" + att.section.encode() + b"]"
    if att.partial is not None:
        origin, count = att.partial
        data = data[origin : origin + count]
        label += b"<%d>" % origin
    return label + b" {%d}\r\n" % len(data) + data


async def fetch(s: "Session", cmd: Command) -> Reply:
    assert isinstance(cmd.args, Fetch) and s.selected is not None
    sel = s.selected
    by_uid = cmd.name.startswith("UID")
    args = cmd.args
    atts = list(args.atts)
    names = {a.name for a in atts}
    if args.changed_since is not None and "MODSEQ" not in names:
        atts.append(FetchAtt("MODSEQ"))  # RFC 7162 §3.1.4.1
    if by_uid and "UID" not in names:
        atts.insert(0, FetchAtt("UID"))
    if "MODSEQ" in names:
        sel.condstore = True
    uids = uids_for(s, args.seqs, by_uid)
    set_seen = not sel.readonly and any(_sets_seen(a) for a in atts)
    wants_flags = "FLAGS" in names or set_seen
    items = list(dict.fromkeys(i for a in atts if (i := _door_item(a)) is not None))
    detail = f"imap {cmd.name}"
    if items and 0 < len(uids) <= FETCH_BATCH:
        # Entries and parts in one trip to the thread pool (the mailbox read for
        # the refresh after the command too). The flags, when asked for, are
        # recorded by the fetch itself (one durable append).
        entries, fetched = await s.call_last(
            _index_and_fetch, s, s.door, sel.name, uids, args.changed_since or 0, items,
            set_seen, "FLAGS" in names, detail,
        )  # fmt: skip
        _send_fetched(s, entries, fetched, atts, wants_flags)
        return ("OK", f"{cmd.name} done")
    entries = await entries_for(
        s, uids, record_flags="FLAGS" in names and not items,
        changed_since=args.changed_since or 0, last=not items,
    )  # fmt: skip
    if not items:  # the state of messages only: no content, no door call
        if _state_only(atts):
            s.conn.send(_state_lines(s, entries, atts))
        else:
            for e in entries:
                s.conn.send(_fetch_line(s, e, None, atts, wants_flags))
        return ("OK", f"{cmd.name} done")
    for start in range(0, len(entries), FETCH_BATCH):
        batch = entries[start : start + FETCH_BATCH]
        fetched = await s.call(
            s.door.fetch, [e.id for e in batch], items, set_seen=set_seen,
            with_flags="FLAGS" in names, detail=detail,
        )  # fmt: skip
        _send_fetched(s, batch, fetched, atts, wants_flags)
        await s.conn.flush()
    return ("OK", f"{cmd.name} done")


def _send_fetched(
    s: "Session", entries: list[IndexEntry], fetched: list[Fetched], atts: list[FetchAtt],
    wants_flags: bool,
) -> None:  # fmt: skip
    """Guard, then send, the FETCH lines of the messages still there (another
    session may have expunged some in between)."""
    guard_parts(s, fetched)
    have = {f.id: f for f in fetched}
    for e in entries:
        if e.id in have:
            s.conn.send(_fetch_line(s, e, have[e.id], atts, wants_flags))


_STATE = frozenset({"UID", "FLAGS", "MODSEQ", "RFC822.SIZE"})


def _state_only(atts: list[FetchAtt]) -> bool:
    return all(a.name in _STATE for a in atts)


def _state_lines(s: "Session", entries: list[IndexEntry], atts: list[FetchAtt]) -> bytes:
    """FETCH lines of UID, FLAGS, MODSEQ and RFC822.SIZE only (what a sync client
    asks for every message of a mailbox), built in one pass."""
    assert s.selected is not None
    view = s.selected.uids
    flag_text: dict[frozenset[str], bytes] = {}
    names = [a.name for a in atts]
    lines = []
    pos = bisect.bisect_left(view, entries[0].uid) if entries else 0
    for e in entries:
        # The entries come in UID order, like the view: the next position is
        # almost always the right one (bisect only where a message is missing).
        if pos >= len(view) or view[pos] != e.uid:
            pos = bisect.bisect_left(view, e.uid)
        seq = pos + 1
        pos += 1
        parts = []
        for name in names:
            if name == "UID":
                parts.append(b"UID %d" % e.uid)
            elif name == "FLAGS":
                text = flag_text.get(e.flags.values)
                if text is None:
                    text = flag_text[e.flags.values] = b"FLAGS " + out.flag_list(e.flags)
                parts.append(text)
            elif name == "MODSEQ":
                parts.append(b"MODSEQ (%d)" % e.modseq)
            else:
                parts.append(b"RFC822.SIZE %d" % e.size)
        lines.append(b"* %d FETCH (%s)\r\n" % (seq, b" ".join(parts)))
    return b"".join(lines)


def guard_parts(s: "Session", fetched: list[Fetched]) -> None:
    """The guard, per part of the messages (so a trip records exactly what would
    have left: the subject, a body, one attachment)."""
    by_part: dict[str, list[Fetched]] = {}
    for f in fetched:
        for part in f.parts:
            by_part.setdefault(part, []).append(f)
    for part, objects in by_part.items():
        s.guard(objects, part)


def _fetch_line(
    s: "Session", e: IndexEntry, got: Fetched | None, atts: list[FetchAtt], wants_flags: bool
) -> bytes:
    parts: list[bytes] = []
    changed = got is not None and got.flags is not None
    flags = got.flags if got is not None and got.flags is not None else e.flags
    modseq = got.modseq if got is not None and changed else e.modseq
    said: set[str] = set()
    for att in atts:
        said.add(att.name)
        if att.name == "UID":
            parts.append(b"UID %d" % e.uid)
        elif att.name == "FLAGS":
            parts.append(b"FLAGS " + out.flag_list(flags))
        elif att.name == "INTERNALDATE":
            parts.append(b"INTERNALDATE " + out.internal_date(e.internal_us))
        elif att.name == "RFC822.SIZE":
            parts.append(b"RFC822.SIZE %d" % e.size)
        elif att.name == "MODSEQ":
            parts.append(b"MODSEQ (%d)" % modseq)
        else:
            item = _door_item(att)
            if got is not None and item is not None:
                parts.append(_item_out(att, got.data[item]))
    if changed and wants_flags:
        # RFC 9051 §6.4.5: \Seen was set, so the new flags go with the reply;
        # RFC 7162 §3.1: with CONDSTORE on, its UID and new MODSEQ too.
        if "FLAGS" not in said:
            parts.append(b"FLAGS " + out.flag_list(flags))
        sel = s.selected
        if sel is not None and sel.condstore:
            if "UID" not in said:
                parts.append(b"UID %d" % e.uid)
            if "MODSEQ" not in said:
                parts.append(b"MODSEQ (%d)" % modseq)
        if sel is not None:
            sel.told[e.uid] = modseq  # the next update need not say it again
    seq = s.seq_of(e.uid)
    return b"* %d FETCH (" % seq + b" ".join(parts) + b")\r\n"


async def store(s: "Session", cmd: Command) -> Reply:
    """RFC 9051 §6.4.6; RFC 7162 §3.1.3 UNCHANGEDSINCE / [MODIFIED]."""
    assert isinstance(cmd.args, Store) and s.selected is not None
    if s.selected.readonly:
        return ("NO", "[READ-ONLY] the mailbox is selected read-only")
    a = cmd.args
    by_uid = cmd.name.startswith("UID")
    new = Flags.of(*[f for f in a.flags if f != "\\Recent"])
    entries = await entries_for(s, uids_for(s, a.seqs, by_uid))
    modified: list[int] = []
    if a.unchanged_since is not None:
        s.selected.condstore = True
        keep = [e for e in entries if e.modseq <= a.unchanged_since]
        modified = [e.uid if by_uid else s.seq_of(e.uid) for e in entries if e not in keep]
        entries = keep
    if entries:
        if a.mode == "+":
            add, remove = new, Flags()
        elif a.mode == "-":
            add, remove = Flags(), new
        else:
            current: frozenset[str] = frozenset().union(*(e.flags.values for e in entries))
            add, remove = new, Flags(current - new.values)
        changed = await s.call_last(s.door.set_flags, [e.id for e in entries], add, remove)
        s.guard(changed, "flags")
        # The client knows what it just set (or, .SILENT, asked not to hear of it).
        s.selected.told.update((m.uid, m.modseq) for m in changed)
        condstore = s.selected.condstore
        if not a.silent or condstore:
            for m in changed:
                items = [] if a.silent else [b"FLAGS " + out.flag_list(m.flags)]
                if by_uid or condstore:  # RFC 7162 §3.1: UID and MODSEQ once enabled
                    items.append(b"UID %d" % m.uid)
                if condstore:
                    items.append(b"MODSEQ (%d)" % m.modseq)
                s.untagged(b"%d FETCH (%s)" % (s.seq_of(m.uid), b" ".join(items)))
    if modified:
        return ("OK", f"[MODIFIED {out.number_set(sorted(modified)).decode()}] conditional")
    return ("OK", f"{cmd.name} done")


async def copy(s: "Session", cmd: Command) -> Reply:
    """COPY and MOVE with RFC 4315 COPYUID; MOVE sends the expunges (RFC 6851)."""
    assert isinstance(cmd.args, CopyTo) and s.selected is not None
    by_uid = cmd.name.startswith("UID")
    moving = cmd.name.endswith("MOVE")
    if moving and s.selected.readonly:
        return ("NO", "[READ-ONLY] the mailbox is selected read-only")
    entries = await entries_for(s, uids_for(s, cmd.args.seqs, by_uid))
    if not entries:
        return ("OK", f"{cmd.name} done (nothing to do)")
    act = s.door.move if moving else s.door.copy
    try:
        done = await s.call(act, [e.id for e in entries], cmd.args.mailbox)
    except NotFound:  # RFC 3501 §6.4.7: the client may create it and try again
        return ("NO", "[TRYCREATE] no such mailbox")
    s.guard(done, "-")
    boxes = await s.call(s.door.mailboxes)
    validity = next((b.uidvalidity for b in boxes if done and b.id == done[0].mailbox_id), 0)
    source = out.number_set(e.uid for e in entries).decode()
    target = out.number_set(m.uid for m in done).decode()
    code = f"[COPYUID {validity} {source} {target}]"
    if moving:
        s.untagged(b"OK " + code.encode() + b" moved")
        s.expunged([e.uid for e in entries])
        return ("OK", f"{cmd.name} done")
    return ("OK", f"{code} {cmd.name} done")


async def deleted_ids(s: "Session", only: list[int] | None) -> list[MessageId]:
    assert s.selected is not None
    uids = list(s.selected.uids) if only is None else only
    entries = await entries_for(s, list(uids))
    return [e.id for e in entries if _DELETED in e.flags]


async def expunge(s: "Session", cmd: Command) -> Reply:
    """EXPUNGE, and UID EXPUNGE (RFC 4315) for the given UIDs only."""
    assert s.selected is not None
    if s.selected.readonly:
        return ("NO", "[READ-ONLY] the mailbox is selected read-only")
    only = uids_for(s, cmd.args, True) if cmd.name == "UID EXPUNGE" else None  # type: ignore[arg-type]
    entries = await entries_for(s, list(s.selected.uids if only is None else only))
    gone = [e for e in entries if _DELETED in e.flags]
    if gone:
        await s.call(s.door.expunge, [e.id for e in gone])
        s.expunged([e.uid for e in gone])
    return ("OK", f"{cmd.name} done")
