"""Reading IMAP command arguments: atoms, strings, literals, lists, numbers.

A command arrives complete: the framing (imap/server.py) has read every literal,
so `{n}\\r\\n` in the buffer is followed by exactly n bytes. RFC 9051 §9 (formal
syntax) and RFC 3501 §9 are the grammar; RFC 7888 adds `{n+}`.
"""

from collections.abc import Callable
from typing import TypeVar

from mailward.imap.protocol.errors import ParseError

T = TypeVar("T")

# RFC 9051 §9: atom-specials = "(" / ")" / "{" / SP / CTL / list-wildcards /
# quoted-specials / resp-specials
_ATOM_SPECIALS = frozenset(b'(){ %*"\\]') | frozenset(range(32)) | {0x7F}
_ASTRING_SPECIALS = _ATOM_SPECIALS - {ord("]")}  # ASTRING-CHAR admits "]"
_LIST_SPECIALS = _ASTRING_SPECIALS - {ord("%"), ord("*")}  # list-mailbox
_NAME_SPECIALS = _ATOM_SPECIALS | {ord("["), ord("<")}  # a fetch attribute's name


class Reader:
    """A cursor over one command's bytes."""

    __slots__ = ("data", "pos")

    def __init__(self, data: bytes, pos: int = 0) -> None:
        self.data = data
        self.pos = pos

    # -- low level ------------------------------------------------------------------

    def at_end(self) -> bool:
        return self.pos >= len(self.data)

    def peek(self) -> int:
        return self.data[self.pos] if self.pos < len(self.data) else -1

    def expect(self, char: bytes) -> None:
        if not self.data.startswith(char, self.pos):
            found = self.data[self.pos : self.pos + 10].decode("ascii", "replace") or "end"
            raise ParseError(f"expected {char.decode()!r} at {found!r}")
        self.pos += len(char)

    def maybe(self, char: bytes) -> bool:
        if self.data.startswith(char, self.pos):
            self.pos += len(char)
            return True
        return False

    def sp(self) -> None:
        self.expect(b" ")

    def end(self) -> None:
        if not self.at_end():
            extra = self.data[self.pos : self.pos + 20].decode("ascii", "replace")
            raise ParseError(f"unexpected {extra!r} after the arguments")

    def _run(self, specials: frozenset[int]) -> bytes:
        start = self.pos
        data = self.data
        n = len(data)
        while self.pos < n and data[self.pos] not in specials:
            self.pos += 1
        return data[start : self.pos]

    # -- tokens -----------------------------------------------------------------------

    def atom(self) -> str:
        text = self._run(_ATOM_SPECIALS)
        if not text:
            raise ParseError("expected an atom")
        if not text.isascii():
            raise ParseError("8-bit characters in an atom")
        return text.decode("ascii")

    def att_name(self) -> str:
        """An atom that ends before "[" too (BODY.PEEK[...], RFC 9051 §9 fetch-att)."""
        text = self._run(_NAME_SPECIALS)
        if not text or not text.isascii():
            raise ParseError("expected a fetch attribute")
        return text.decode("ascii")

    def number(self) -> int:
        start = self.pos
        while self.pos < len(self.data) and 48 <= self.data[self.pos] <= 57:
            self.pos += 1
        digits = self.data[start : self.pos]
        if not digits or len(digits) > 20:
            raise ParseError("expected a number")
        return int(digits)

    def nz_number(self) -> int:
        value = self.number()
        if value == 0 or value > 0xFFFFFFFF:
            raise ParseError("expected a number from 1 to 4294967295")
        return value

    def quoted(self) -> bytes:
        self.expect(b'"')
        out = bytearray()
        data = self.data
        while True:
            if self.pos >= len(data):
                raise ParseError("unterminated quoted string")
            c = data[self.pos]
            self.pos += 1
            if c == 0x22:  # "
                return bytes(out)
            if c == 0x5C:  # backslash: only " and \ may follow (quoted-specials)
                if self.pos >= len(data) or data[self.pos] not in (0x22, 0x5C):
                    raise ParseError("bad escape in a quoted string")
                c = data[self.pos]
                self.pos += 1
            elif c in (0x0D, 0x0A, 0x00):
                raise ParseError("CR, LF or NUL in a quoted string")
            out.append(c)

    def literal(self) -> bytes:
        self.expect(b"{")
        size = self.number()
        self.maybe(b"+")  # RFC 7888 LITERAL+
        self.expect(b"}\r\n")
        end = self.pos + size
        if end > len(self.data):
            raise ParseError("literal shorter than announced")
        value = self.data[self.pos : end]
        self.pos = end
        return value

    def string(self) -> bytes:
        c = self.peek()
        if c == 0x22:
            return self.quoted()
        if c == 0x7B:
            return self.literal()
        raise ParseError("expected a string")

    def astring(self) -> bytes:
        c = self.peek()
        if c in (0x22, 0x7B):
            return self.string()
        value = self._run(_ASTRING_SPECIALS)
        if not value:
            raise ParseError("expected an atom or a string")
        return value

    def list_mailbox(self) -> bytes:
        """RFC 9051 §9 list-mailbox: like astring, but % and * are allowed."""
        c = self.peek()
        if c in (0x22, 0x7B):
            return self.string()
        value = self._run(_LIST_SPECIALS)
        if not value:
            raise ParseError("expected a mailbox pattern")
        return value

    def text_arg(self) -> str:
        """An astring as text (UTF-8, RFC 9051; bytes that are not become U+FFFD)."""
        return self.astring().decode("utf-8", "replace")

    def paren_list(self, item: Callable[["Reader"], T]) -> list[T]:
        """`(` item *(SP item) `)`, possibly empty."""
        self.expect(b"(")
        out: list[T] = []
        if self.maybe(b")"):
            return out
        while True:
            out.append(item(self))
            if self.maybe(b")"):
                return out
            self.sp()

    def flag(self) -> str:
        """A flag: `\\Atom` or an atom (keyword)."""
        if self.maybe(b"\\"):
            if self.maybe(b"*"):
                return "\\*"
            return "\\" + self.atom()
        return self.atom()

    def flag_list(self) -> list[str]:
        if self.peek() != 0x28:  # a single flag without parentheses (RFC 9051 §6.4.6)
            return [self.flag()]
        self.expect(b"(")
        out: list[str] = []
        if self.maybe(b")"):
            return out
        while True:
            out.append(self.flag())
            if self.maybe(b")"):
                return out
            self.sp()
