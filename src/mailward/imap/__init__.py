"""IMAP4rev1 (RFC 3501) with IMAP4rev2 (RFC 9051) essentials, over the one door.

Layout: `backend.py` (what the runtime hands in), `server.py` (the listener:
framing of lines and literals, STARTTLS, one session per connection),
`session.py` (state and the command table), `commands/` (one module per group
of commands), `protocol/` (pure grammar: the command parser, sequence sets,
response formatting; imports only core and the standard library).
"""

from mailward.imap.backend import ImapBackend
from mailward.imap.server import start_imap

__all__ = ["ImapBackend", "start_imap"]
