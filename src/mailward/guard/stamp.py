"""Stamps: whose data a response carries, travelling with the response itself.

Every object the door (or the login history) hands out carries `owner`. A
front-end collects the objects a response is built from into a `Stamp` and
attaches it to the response (the web: an internal header that the boundary strips
before a byte is sent). The stamp travels with the bytes, so a response that
reaches the wrong request (a mixed-up connection, a cache keyed without the user)
still names whose data it is, and the boundary compares that with the principal
of the request it is about to answer.
"""

from dataclasses import dataclass, field
from typing import Any

_MAX_DEPTH = 4


@dataclass(slots=True)
class Stamp:
    """(owner, part, item) entries, and the flags the whole response went through.

    `item` is a message id, a login event id, or "" for account-level data. An
    entry produced inside a flagged code path has `part@flag` as its part (e.g.
    the last-logon banner's login event: "logins@last-logon"); `flags` names the
    flagged layers the response as a whole passed (a page cache, a reply pool).
    """

    entries: set[tuple[str, str, str]] = field(default_factory=set)
    flags: set[str] = field(default_factory=set)

    def add(self, obj: Any, part: str, flag: str = "") -> None:
        _walk(obj, f"{part}@{flag}" if flag else part, self.entries, 0)

    def owners(self) -> set[str]:
        return {owner for owner, _part, _item in self.entries}

    def encode(self) -> str:
        """One header value: `flags|owners|entries` — flags and owners comma-separated,
        entries `owner part item` joined by ';'. The owners come first so that the
        boundary's common case (all mine) reads a few bytes, not every entry."""
        # Joined, then sorted as strings: a page's 52 entries sorted as tuples took
        # twice as long (the same order: a space sorts below every id character).
        body = ";".join(sorted(map(" ".join, self.entries)))
        return f"{','.join(sorted(self.flags))}|{','.join(sorted(self.owners()))}|{body}"

    @staticmethod
    def owners_in(text: str) -> set[str]:
        """The owners of an encoded stamp, without decoding its entries."""
        _flags, _, rest = text.partition("|")
        owners, _, _ = rest.partition("|")
        return {o for o in owners.split(",") if o}

    @classmethod
    def decode(cls, text: str) -> "Stamp":
        flags, _, rest = text.partition("|")
        _owners, _, body = rest.partition("|")
        entries = set()
        for entry in body.split(";") if body else ():
            owner, part, item = [*entry.split(" "), "", ""][:3]
            entries.add((owner, part, item))
        return cls(entries, {f for f in flags.split(",") if f})


_SCALARS = (str, bytes, int, float, bool)


def _walk(obj: Any, part: str, out: set[tuple[str, str, str]], depth: int) -> None:
    """Collect stamps. An object with both `owner` and `id` is one item: its fields
    are its owner's by construction (the door stamps what it builds), so the walk
    stops there; containers and owner-only wrappers (a page) are walked into."""
    if obj is None or isinstance(obj, _SCALARS) or depth > _MAX_DEPTH:
        return
    # Owner first: a door object may itself be a tuple (IndexEntry is a NamedTuple).
    owner = getattr(obj, "owner", None)
    item = getattr(obj, "id", None)
    if isinstance(owner, str) and owner:
        out.add((owner, part, "" if item is None else str(item)))
        if item is not None:
            return
    if isinstance(obj, list | tuple | set | frozenset):
        for child in obj:
            # A door item (owner and id) inline: a page's 50 went through a call
            # each, half of stamping a message list.
            owner = getattr(child, "owner", None)
            if isinstance(owner, str) and owner and depth < _MAX_DEPTH:
                item = getattr(child, "id", None)
                if item is not None:
                    out.add((owner, part, str(item)))
                    continue
            _walk(child, part, out, depth + 1)
        return
    if isinstance(obj, dict):
        for child in obj.values():
            _walk(child, part, out, depth + 1)
        return
    for name in getattr(type(obj), "__slots__", ()):
        if name not in ("owner", "id"):
            _walk(getattr(obj, name, None), part, out, depth + 1)
