"""Mailbox commands: SELECT EXAMINE CREATE DELETE RENAME SUBSCRIBE UNSUBSCRIBE
LIST LSUB STATUS APPEND CLOSE UNSELECT (RFC 9051 §6.3, §6.4.1-2; RFC 3501)."""

import bisect
import re
from typing import TYPE_CHECKING

from mailward.core.errors import NotFound
from mailward.core.flags import Flags
from mailward.core.mailbox import MailboxInfo, MailboxView
from mailward.imap.commands.messages import deleted_ids
from mailward.imap.protocol import Command
from mailward.imap.protocol import response as out
from mailward.imap.protocol.grammar import Append, ListArgs, Select, StatusArgs
from mailward.imap.replies import Reply
from mailward.imap.state import Selected, State

if TYPE_CHECKING:
    from mailward.access import MailAccess
    from mailward.imap.session import Session

SYSTEM_FLAGS = b"(\\Answered \\Flagged \\Deleted \\Seen \\Draft)"
PERMANENT_FLAGS = b"(\\Answered \\Flagged \\Deleted \\Seen \\Draft \\*)"


def _open(door: "MailAccess", name: str) -> tuple[MailboxView, int | None]:
    """The mailbox and its first unseen UID, in one trip to the worker thread."""
    return door.open_mailbox(name), door.first_unseen(name)


async def select(s: "Session", cmd: Command) -> Reply:
    """RFC 9051 §6.3.2; RFC 7162 §3.1.8 (CONDSTORE, HIGHESTMODSEQ)."""
    assert isinstance(cmd.args, Select)
    s.selected = None
    s.state = State.AUTHENTICATED
    view, unseen = await s.call(_open, s.door, cmd.args.mailbox)
    s.guard([view], "list-entry")
    info = view.info
    readonly = cmd.name == "EXAMINE"
    condstore = cmd.args.condstore or "CONDSTORE" in s.enabled
    if cmd.args.condstore:
        s.enabled.add("CONDSTORE")
    s.untagged(b"%d EXISTS" % len(view.uids))
    s.untagged(b"0 RECENT")
    seq = bisect.bisect_left(view.uids, unseen) if unseen is not None else len(view.uids)
    if seq < len(view.uids) and view.uids[seq] == unseen:  # RFC 3501 §6.3.1
        s.untagged(b"OK [UNSEEN %d] first unseen" % (seq + 1))
    s.untagged(b"FLAGS " + SYSTEM_FLAGS)
    s.untagged(b"OK [PERMANENTFLAGS " + (b"()" if readonly else PERMANENT_FLAGS) + b"] flags")
    s.untagged(b"OK [UIDVALIDITY %d] UIDs valid" % info.uidvalidity)
    s.untagged(b"OK [UIDNEXT %d] predicted next UID" % info.uidnext)
    s.untagged(b"OK [HIGHESTMODSEQ %d] modseq" % info.highest_modseq)
    s.untagged(b'LIST () "/" ' + out.mailbox(info.name))  # RFC 9051 §6.3.2
    s.selected = Selected(
        info.name, readonly, info.uidvalidity, view.uids, info.highest_modseq, condstore
    )
    s.state = State.SELECTED
    s.viewed(view)
    mode = "READ-ONLY" if readonly else "READ-WRITE"
    return ("OK", f"[{mode}] {cmd.name} done")


async def create(s: "Session", cmd: Command) -> Reply:
    name = str(cmd.args).rstrip("/")  # RFC 9051 §6.3.4: a trailing delimiter is dropped
    existing = {b.name for b in await s.call(s.door.mailboxes)}
    levels = name.split("/")
    for depth in range(1, len(levels)):  # RFC 3501 §6.3.3: superiors are created too
        parent = "/".join(levels[:depth])
        if parent and parent not in existing and parent.upper() != "INBOX":
            await s.call(s.door.create_mailbox, parent)
    await s.call(s.door.create_mailbox, name)
    return ("OK", "CREATE done")


async def delete(s: "Session", cmd: Command) -> Reply:
    name = str(cmd.args)
    if s.selected is not None and s.selected.name == name:
        return ("NO", "[INUSE] the mailbox is selected")
    await s.call(s.door.delete_mailbox, name)
    return ("OK", "DELETE done")


async def rename(s: "Session", cmd: Command) -> Reply:
    assert isinstance(cmd.args, tuple)
    old, new = cmd.args
    await s.call(s.door.rename_mailbox, str(old), str(new))
    sel = s.selected
    if sel is not None and str(old).upper() != "INBOX":
        # The selected mailbox (or one below the renamed one) goes on under its new name.
        if sel.name == old:
            sel.name = str(new)
        elif sel.name.startswith(f"{old}/"):
            sel.name = str(new) + sel.name[len(str(old)) :]
    return ("OK", "RENAME done")


async def subscribe(s: "Session", cmd: Command) -> Reply:
    await s.call(s.door.subscribe, str(cmd.args), cmd.name == "SUBSCRIBE")
    return ("OK", f"{cmd.name} done")


def _pattern(reference: str, pattern: str) -> re.Pattern[str]:
    """RFC 9051 §6.3.9: `*` matches anything, `%` anything but the delimiter."""
    full = reference + pattern if not pattern.startswith("/") else pattern
    rx = "".join(".*" if c == "*" else "[^/]*" if c == "%" else re.escape(c) for c in full)
    flags = re.IGNORECASE if full.upper().startswith("INBOX") else 0
    return re.compile(rx + r"\Z", flags)


def _attributes(box: MailboxInfo, names: set[str], subscribed: bool) -> bytes:
    attrs = []
    children = any(n.startswith(box.name + "/") for n in names)
    attrs.append("\\HasChildren" if children else "\\HasNoChildren")
    if box.special_use is not None:
        attrs.append(box.special_use.value)  # RFC 6154
    if subscribed and box.subscribed:
        attrs.append("\\Subscribed")
    return out.flag_list(attrs)


async def list_(s: "Session", cmd: Command) -> Reply:
    """LIST and LSUB, with RFC 5258 basics (SUBSCRIBED, RETURN (SUBSCRIBED
    CHILDREN SPECIAL-USE)) and RFC 6154 attributes."""
    assert isinstance(cmd.args, ListArgs)
    args = cmd.args
    if not args.pattern and not args.more:  # RFC 9051 §6.3.9: the delimiter and root
        s.untagged(b'LIST (\\Noselect) "/" ""')
        return ("OK", f"{cmd.name} done")
    boxes = await s.call(s.door.mailboxes)
    s.guard(boxes, "list-entry")
    rxs = [_pattern(args.reference, p) for p in (args.pattern, *args.more)]
    only_subscribed = cmd.name == "LSUB" or "SUBSCRIBED" in args.select
    show_subscribed = only_subscribed or "SUBSCRIBED" in args.returns
    names = {b.name for b in boxes}
    word = b"LSUB" if cmd.name == "LSUB" else b"LIST"
    for box in boxes:
        matched = any(rx.match(box.name) for rx in rxs)
        if not matched or (only_subscribed and not box.subscribed):
            continue
        line = word + b" " + _attributes(box, names, show_subscribed) + b' "/" '
        s.untagged(line + out.mailbox(box.name))
        for option in args.returns:
            if option.startswith("STATUS "):  # RFC 5819
                s.untagged(_status_line(box, tuple(option.split()[1:])))
    if cmd.name == "LSUB" or not only_subscribed:
        # RFC 3501 §6.3.8: with "%" last, a level of hierarchy that matches but
        # is no mailbox (A of A/B when A was deleted) is listed as \Noselect;
        # §6.3.9: for LSUB, a level not subscribed above one that is.
        subscribed = {b.name for b in boxes if b.subscribed}
        levels = _levels(subscribed) if cmd.name == "LSUB" else _levels(names)
        ends = [rx for p, rx in zip((args.pattern, *args.more), rxs, strict=True) if p[-1:] == "%"]
        for level in sorted(levels):
            if any(rx.match(level) for rx in ends):
                s.untagged(word + b' (\\Noselect \\HasChildren) "/" ' + out.mailbox(level))
    return ("OK", f"{cmd.name} done")


def _levels(names: set[str]) -> set[str]:
    """Hierarchy levels above existing mailboxes that are not mailboxes themselves."""
    levels: set[str] = set()
    for name in names:
        parts = name.split("/")
        levels.update("/".join(parts[:k]) for k in range(1, len(parts)))
    return levels - names


def _status_line(box: MailboxInfo, items: tuple[str, ...]) -> bytes:
    values: dict[str, int] = {
        "MESSAGES": box.total,
        "UIDNEXT": box.uidnext,
        "UIDVALIDITY": box.uidvalidity,
        "UNSEEN": box.unread,
        "RECENT": 0,
        "HIGHESTMODSEQ": box.highest_modseq,
    }
    parts = []
    for item in items:
        if item not in values:
            raise ValueError(f"unknown STATUS item {item}")
        parts.append(f"{item} {values[item]}")
    return b"STATUS " + out.mailbox(box.name) + b" (" + " ".join(parts).encode() + b")"


async def status(s: "Session", cmd: Command) -> Reply:
    """RFC 9051 §6.3.11 (no content: counts and identifiers)."""
    assert isinstance(cmd.args, StatusArgs)
    boxes = await s.call(s.door.mailboxes)
    s.guard(boxes, "list-entry")
    for box in boxes:
        if box.name == cmd.args.mailbox or (
            box.name == "INBOX" and cmd.args.mailbox.upper() == "INBOX"
        ):
            s.untagged(_status_line(box, cmd.args.items))
            return ("OK", "STATUS done")
    return ("NO", "[NONEXISTENT] no such mailbox")


async def append(s: "Session", cmd: Command) -> Reply:
    """RFC 9051 §6.3.12, RFC 4315 APPENDUID. OK only once the message is durable."""
    assert isinstance(cmd.args, Append)
    a = cmd.args
    if not a.message:
        return ("NO", "empty message")
    flags = Flags.of(*[f for f in a.flags if f != "\\Recent"])
    try:
        summary = await s.call(s.door.append, a.mailbox, a.message, flags, a.date)
    except NotFound:  # RFC 3501 §6.3.11: the client may create it and try again
        return ("NO", "[TRYCREATE] no such mailbox")
    s.guard([summary], "-")
    boxes = await s.call(s.door.mailboxes)
    validity = next((b.uidvalidity for b in boxes if b.id == summary.mailbox_id), 0)
    return ("OK", f"[APPENDUID {validity} {summary.uid}] APPEND done")


async def close(s: "Session", cmd: Command) -> Reply:
    """RFC 9051 §6.4.1: expunge silently (read-write), then unselect."""
    sel = s.selected
    if sel is not None and not sel.readonly:
        ids = await deleted_ids(s, None)
        if ids:
            await s.call(s.door.expunge, ids)
    s.selected = None
    s.state = State.AUTHENTICATED
    return ("OK", "CLOSE done")


async def unselect(s: "Session", cmd: Command) -> Reply:
    s.selected = None
    s.state = State.AUTHENTICATED
    return ("OK", "UNSELECT done")
