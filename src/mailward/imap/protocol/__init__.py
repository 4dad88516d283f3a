"""IMAP grammar: pure, bytes in and frozen dataclasses out (imports only the
standard library). `grammar.parse` reads one complete command; `response` writes
the pieces of replies; `mutf7` converts mailbox names."""

from mailward.imap.protocol.errors import ParseError
from mailward.imap.protocol.grammar import Command, parse, read_tag

__all__ = ["Command", "ParseError", "parse", "read_tag"]
