"""Stamps: whose data a response carries, travelling with the response itself.

Every object the door (or the login history) hands out carries `owner`. A
front-end collects the objects a response is built from into a `Stamp` and
attaches it to the response (the web: an internal header that the boundary strips
before a byte is sent). The stamp travels with the bytes, so a response that
reaches the wrong request (a mixed-up connection, a cache keyed without the user)
still names whose data it is, and the boundary compares that with the principal
of the request it is about to answer.
"""

from collections.abc import Iterable
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

    def merge(self, other: "Stamp") -> None:
        self.entries |= other.entries
        self.flags |= other.flags

    def encode(self) -> str:
        """One header value: `flag,flag|owner part item;owner part item...`."""
        body = ";".join(" ".join(e) for e in sorted(self.entries))
        return ",".join(sorted(self.flags)) + "|" + body

    @classmethod
    def decode(cls, text: str) -> "Stamp":
        flags, _, body = text.partition("|")
        entries = set()
        for entry in body.split(";") if body else ():
            owner, part, item = [*entry.split(" "), "", ""][:3]
            entries.add((owner, part, item))
        return cls(entries, {f for f in flags.split(",") if f})


def _walk(obj: Any, part: str, out: set[tuple[str, str, str]], depth: int) -> None:
    if obj is None or isinstance(obj, str | bytes | int | float | bool) or depth > _MAX_DEPTH:
        return
    owner = getattr(obj, "owner", None)
    if isinstance(owner, str) and owner:
        item = getattr(obj, "id", "")
        out.add((owner, part, item if isinstance(item, str) else str(item)))
    children: Iterable[Any]
    if isinstance(obj, dict):
        children = obj.values()
    elif isinstance(obj, list | tuple | set | frozenset):
        children = obj
    else:
        slots = getattr(type(obj), "__slots__", ())
        children = [getattr(obj, s, None) for s in slots if s not in ("owner", "id")]
    for child in children:
        _walk(child, part, out, depth + 1)
