"""POP3 (RFC 1939, RFC 2449 CAPA, RFC 2595 STLS) over the one door.

Layout: `backend.py` (what the runtime hands in), `server.py` (the listener and
one session per connection), `protocol/` (pure grammar: command lines in,
replies out).
"""

from mailward.pop3.backend import Pop3Backend
from mailward.pop3.server import start_pop3

__all__ = ["Pop3Backend", "start_pop3"]
