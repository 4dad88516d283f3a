"""The outbound queue's rules: relaying through the smarthost, retries with backoff,
and delivery status notifications (RFC 3464) to the sender.

Layout: `dsn.py` (pure builder of multipart/report delivery status notifications).

Invariants:
- A DSN carries the original message's header block, never its body.
- No DSN is ever built for a message whose envelope sender is null (RFC 5321 §4.5.5),
  so bounces cannot loop.
"""

from mailward.outbound.dsn import RecipientFailure, build_dsn, is_bounce

__all__ = ["RecipientFailure", "build_dsn", "is_bounce"]
