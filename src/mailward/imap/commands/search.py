"""SEARCH and UID SEARCH (RFC 9051 §6.4.4 keys; RFC 4731 ESEARCH RETURN;
RFC 7162 MODSEQ). Keys on flags, dates, sizes and numbers are answered from the
messages' state; keys on content (FROM, SUBJECT, BODY, TEXT, HEADER, SENT*) are
matched inside the door, which records which items matched."""

from datetime import UTC, date, datetime
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING

from mailward.core.ids import MessageId
from mailward.core.message import IndexEntry
from mailward.imap.commands.messages import entries_for
from mailward.imap.protocol import Command
from mailward.imap.protocol import response as out
from mailward.imap.protocol.grammar import Search, SearchKey, SeqSet, resolve
from mailward.imap.replies import Reply
from mailward.mime import header_block, open_message

if TYPE_CHECKING:
    from mailward.imap.session import Session

_CONTENT = frozenset({"BCC", "BODY", "CC", "FROM", "SUBJECT", "TEXT", "TO", "HEADER",
                      "SENTBEFORE", "SENTON", "SENTSINCE"})  # fmt: skip
_FLAG_KEYS = {
    "ANSWERED": ("\\Answered", True), "UNANSWERED": ("\\Answered", False),
    "DELETED": ("\\Deleted", True), "UNDELETED": ("\\Deleted", False),
    "DRAFT": ("\\Draft", True), "UNDRAFT": ("\\Draft", False),
    "FLAGGED": ("\\Flagged", True), "UNFLAGGED": ("\\Flagged", False),
    "SEEN": ("\\Seen", True), "UNSEEN": ("\\Seen", False),
}  # fmt: skip


def _needs_content(key: SearchKey) -> bool:
    return key.name in _CONTENT or any(_needs_content(c) for c in key.children)


def _in(number: int, seqs: SeqSet, largest: int) -> bool:
    return any(lo <= number <= hi for lo, hi in resolve(seqs, largest))


def _day(at_us: int) -> date:
    return datetime.fromtimestamp(at_us / 1_000_000, UTC).date()


class _Message:
    """One message as a search sees it; content opened only if a key needs it."""

    def __init__(self, entry: IndexEntry, seq: int, raw: bytes | None) -> None:
        self.e = entry
        self.seq = seq
        self.raw = raw
        self._headers: dict[str, str] | None = None

    def header(self, name: str) -> str:
        if self._headers is None:
            self._headers = {}
            for k, v in open_message(header_block(self.raw or b"")).headers:
                key = k.lower()
                self._headers[key] = f"{self._headers[key]} {v}" if key in self._headers else v
        return self._headers.get(name.lower(), "")

    def text(self) -> str:
        return open_message(self.raw or b"").text

    def sent(self) -> date | None:
        try:
            return parsedate_to_datetime(self.header("date")).date()
        except (TypeError, ValueError, IndexError):
            return None


def _matches(m: _Message, key: SearchKey, largest_seq: int, largest_uid: int) -> bool:
    n, v = key.name, key.value
    if n == "ALL":
        return True
    if n == "AND":
        return all(_matches(m, c, largest_seq, largest_uid) for c in key.children)
    if n == "OR":
        return any(_matches(m, c, largest_seq, largest_uid) for c in key.children)
    if n == "NOT":
        return not _matches(m, key.children[0], largest_seq, largest_uid)
    if n in _FLAG_KEYS:
        flag, present = _FLAG_KEYS[n]
        return (flag in m.e.flags) == present
    if n in ("NEW", "RECENT"):
        return False  # no message is \Recent here (RFC 9051 drops \Recent)
    if n == "OLD":
        return True
    if n == "KEYWORD":
        return str(v) in m.e.flags
    if n == "UNKEYWORD":
        return str(v) not in m.e.flags
    if n == "SEQ":
        return _in(m.seq, v, largest_seq)  # type: ignore[arg-type]
    if n == "UID":
        return _in(m.e.uid, v, largest_uid)  # type: ignore[arg-type]
    if n == "LARGER":
        return m.e.size > _int(v)
    if n == "SMALLER":
        return m.e.size < _int(v)
    if n == "MODSEQ":
        return m.e.modseq >= _int(v)
    if n in ("BEFORE", "ON", "SINCE"):
        return _compare(n, _day(m.e.internal_us), v)  # type: ignore[arg-type]
    if n in ("SENTBEFORE", "SENTON", "SENTSINCE"):
        sent = m.sent()
        return sent is not None and _compare(n[4:], sent, v)  # type: ignore[arg-type]
    needle = (str(v) if not isinstance(v, tuple) else str(v[1])).lower()
    if n in ("FROM", "TO", "CC", "BCC", "SUBJECT"):
        return needle in m.header(n).lower()
    if n == "HEADER":
        field = str(v[0]) if isinstance(v, tuple) else ""
        return needle in m.header(field).lower() if needle else bool(m.header(field))
    if n == "BODY":
        return needle in m.text().lower()
    if n == "TEXT":
        head = header_block(m.raw or b"").decode("utf-8", "replace").lower()
        return needle in head or needle in m.text().lower()
    return False


def _int(value: object) -> int:
    return value if isinstance(value, int) else 0


def _compare(how: str, day: date, wanted: date) -> bool:
    if how == "BEFORE":
        return day < wanted
    if how == "ON":
        return day == wanted
    return day >= wanted


async def search(s: "Session", cmd: Command) -> Reply:
    assert isinstance(cmd.args, Search) and s.selected is not None
    sel = s.selected
    by_uid = cmd.name.startswith("UID")
    key = cmd.args.key
    if cmd.args.charset not in ("", "US-ASCII", "UTF-8"):
        return ("NO", "[BADCHARSET (US-ASCII UTF-8)] unsupported charset")
    entries = await entries_for(s, list(sel.uids))
    largest_seq = len(sel.uids)
    largest_uid = sel.uids[-1] if sel.uids else 0
    seqs = {e.uid: s.seq_of(e.uid) for e in entries}
    if _needs_content(key):
        by_id = {e.id: e for e in entries}

        def test(message_id: MessageId, raw: bytes) -> bool:
            e = by_id[message_id]
            return _matches(_Message(e, seqs[e.uid], raw), key, largest_seq, largest_uid)

        ids = await s.call(s.door.matching, [e.id for e in entries], test, "imap SEARCH")
        found = [by_id[i] for i in ids]
    else:
        found = [
            e
            for e in entries
            if _matches(_Message(e, seqs[e.uid], None), key, largest_seq, largest_uid)
        ]
    s.guard(found, "-")
    numbers = [e.uid if by_uid else seqs[e.uid] for e in found]
    modseq = max((e.modseq for e in found), default=0) if _uses_modseq(key) else 0
    if cmd.args.returns is not None:
        s.untagged(_esearch(cmd.tag, numbers, cmd.args.returns, by_uid, modseq))
    else:
        tail = b" (MODSEQ %d)" % modseq if modseq else b""
        s.untagged(b"SEARCH" + b"".join(b" %d" % n for n in numbers) + tail)
    return ("OK", f"{cmd.name} done")


def _uses_modseq(key: SearchKey) -> bool:
    return key.name == "MODSEQ" or any(_uses_modseq(c) for c in key.children)


def _esearch(tag: str, numbers: list[int], returns: tuple[str, ...], by_uid: bool,
             modseq: int) -> bytes:  # fmt: skip
    """RFC 4731: MIN MAX COUNT ALL (an empty RETURN () means ALL)."""
    wanted = returns or ("ALL",)
    parts = [b'ESEARCH (TAG "' + tag.encode() + b'")'] + ([b"UID"] if by_uid else [])
    if numbers:
        if "MIN" in wanted:
            parts.append(b"MIN %d" % min(numbers))
        if "MAX" in wanted:
            parts.append(b"MAX %d" % max(numbers))
        if "ALL" in wanted:
            parts.append(b"ALL " + out.number_set(sorted(numbers)))
    if "COUNT" in wanted:
        parts.append(b"COUNT %d" % len(numbers))
    if modseq:
        parts.append(b"MODSEQ %d" % modseq)
    return b" ".join(parts)
