"""Fixtures of the IMAP tests (helpers in imap_support.py)."""

from imap_support import server, world

__all__ = ["server", "world"]
