"""SMTP front-end: the inbound (MX) listener and the submission listener, on
aiosmtpd. Mail goes in only through the one door (`MailAccess`): the MX delivers
as the system principal, submission submits as the authenticated account.

Layout: `backend.py` (what the runtime hands the front-end), `server.py` (the
aiosmtpd protocol subclass, listeners, asynchronous AUTH), `inbound.py` (the MX
handler), `submission.py` (the submission handler), `received.py` (the Received:
field), `replies.py` (errors to SMTP replies, in one place), `checks.py` (what a
message body must not hold).

Invariants:
- 250 after DATA only once the message is durable for every recipient;
- a refused or failed transaction stores nothing;
- AUTH only over TLS; the submission envelope sender and From: are the
  authenticated account's own.
"""

from mailward.smtp.backend import SmtpBackend
from mailward.smtp.server import SmtpListeners, start_listeners

__all__ = ["SmtpBackend", "SmtpListeners", "start_listeners"]
