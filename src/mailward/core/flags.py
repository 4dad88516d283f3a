"""Message flags: the IMAP system flags (RFC 9051 §2.3.2) and keywords."""

from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from functools import lru_cache


class SystemFlag(StrEnum):
    SEEN = "\\Seen"
    ANSWERED = "\\Answered"
    FLAGGED = "\\Flagged"
    DELETED = "\\Deleted"
    DRAFT = "\\Draft"


_SEEN = SystemFlag.SEEN.value  # read per message by the 100,000: no enum lookup
_FLAGGED = SystemFlag.FLAGGED.value
_CANONICAL = {f.value.lower(): f.value for f in SystemFlag}
# RFC 9051 §9 (formal syntax): atom-specials may not appear in a keyword.
_FORBIDDEN = set('(){ %*"\\]') | {chr(c) for c in range(32)} | {"\x7f"}


def normalize_flag(flag: str) -> str:
    """Return the canonical spelling of a flag, validating keywords.

    Raises:
        ValueError: for an unknown system flag or a keyword with forbidden characters.
    """
    if flag.startswith("\\"):
        canonical = _CANONICAL.get(flag.lower())
        if canonical is None:
            raise ValueError(f"unknown system flag {flag!r}")
        return canonical
    if not flag or len(flag) > 128 or any(c in _FORBIDDEN for c in flag) or not flag.isascii():
        raise ValueError(f"invalid keyword {flag!r}")
    return flag


@dataclass(frozen=True, slots=True)
class Flags:
    """An immutable set of flags, canonical spelling, stable order. `seen` and
    `flagged` are worked out once (a message list asks each of its 50 entries
    both, twice)."""

    values: frozenset[str] = frozenset()
    seen: bool = field(init=False, compare=False, repr=False)
    flagged: bool = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "seen", _SEEN in self.values)
        object.__setattr__(self, "flagged", _FLAGGED in self.values)

    @classmethod
    def of(cls, *flags: str) -> "Flags":
        return cls(frozenset(normalize_flag(f) for f in flags))

    @classmethod
    def parse(cls, text: str) -> "Flags":
        return _parsed(text)

    def __contains__(self, flag: object) -> bool:
        return flag in self.values

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self.values))

    def union(self, other: "Flags") -> "Flags":
        return Flags(self.values | other.values)

    def minus(self, other: "Flags") -> "Flags":
        return Flags(self.values - other.values)

    def text(self) -> str:
        return " ".join(sorted(self.values))


@lru_cache(maxsize=1024)
def _parsed(text: str) -> Flags:
    """Flags of a stored flags column. Immutable, so shared: a mailbox's messages
    carry a handful of distinct flag sets, and a page parses 50 of them."""
    return Flags.of(*text.split()) if text else Flags()
