"""Identifiers. Ids are NewTypes over str, never bare ints across a layer.

Message ids are opaque and unguessable (96 random bits after a time prefix), so
knowing one id tells nothing about another; account ids are random, so they can
lead every key in a sharded schema without hot spots.
"""

import time
from typing import NewType

from mailward.core.entropy import random_bytes

AccountId = NewType("AccountId", str)
DomainId = NewType("DomainId", str)
MailboxId = NewType("MailboxId", str)
MessageId = NewType("MessageId", str)
SessionId = NewType("SessionId", str)
GrantId = NewType("GrantId", str)
QueueId = NewType("QueueId", str)

SYSTEM_ACCOUNT = AccountId("system")


def _token(prefix: str, nbytes: int = 16) -> str:
    return prefix + random_bytes(nbytes).hex()


def new_account_id() -> AccountId:
    return AccountId(_token("a", 12))


def new_domain_id() -> DomainId:
    return DomainId(_token("d", 8))


def new_mailbox_id() -> MailboxId:
    return MailboxId(_token("b", 12))


def new_message_id() -> MessageId:
    """A time-ordered id: 52 bits of microseconds, then 96 random bits.

    Still unguessable (96 random bits), and new items land at the end of every
    index keyed by (account, id) instead of on random pages, which keeps a commit
    of many deliveries small.
    """
    return MessageId(f"m{time.time_ns() // 1000:013x}{random_bytes(12).hex()}")


def new_session_id() -> SessionId:
    return SessionId(_token("s", 16))


def new_grant_id() -> GrantId:
    return GrantId(_token("g", 12))


def new_queue_id() -> QueueId:
    """Time-ordered like message ids, with its own prefix."""
    return QueueId(f"q{time.time_ns() // 1000:013x}{random_bytes(12).hex()}")
