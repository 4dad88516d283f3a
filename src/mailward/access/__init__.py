"""The one door. A MailAccess is bound to one Principal at construction; no method
takes an account. Every item and part is recorded in the audit log before it is
returned.

Layout: `mail.py` (MailAccess: mailboxes, listing, reading, flags, move, copy,
delete, expunge, restore, append, deliver), `delegation.py` (explicit, recorded,
revocable read grants between accounts), `services.py` (what the door stands on),
`_sealing.py` (sealing new items; opening rows for the served principal only),
`_recording.py` (audit records for a principal), `submitting.py` (sending as the
principal: local delivery, Sent copy and outbound queue in one unit),
`relaying.py` (the system's door to the outbound queue).

Invariants:
- every query is scoped to the principal's account id;
- sealed data is opened only with the served account's key and owner-bound
  associated data: a row of another account raises IsolationViolation after a
  refused audit record, and nothing of it is returned;
- every returned object is stamped with its owner (`owner`);
- the audit record of an exposure is durable before the data is returned.
"""

from mailward.access._queueing import QueuedMail, QueuedRecipient, RecipientStatus
from mailward.access.delegation import Delegation, GrantInfo
from mailward.access.evidence import AccessEntry
from mailward.access.mail import MailAccess
from mailward.access.pending import Pending, complete_together, try_complete_together
from mailward.access.relaying import Relaying, Unopenable
from mailward.access.restoring import RESTORED, Restoring
from mailward.access.searching import SearchQuery
from mailward.access.services import DEFAULT_RETENTION_S, Services
from mailward.access.submitting import Submitted
from mailward.access.upgrade import seal_folders, seal_list_fields_as_one

__all__ = [
    "DEFAULT_RETENTION_S",
    "RESTORED",
    "AccessEntry",
    "Delegation",
    "GrantInfo",
    "MailAccess",
    "Pending",
    "QueuedMail",
    "QueuedRecipient",
    "RecipientStatus",
    "Relaying",
    "Restoring",
    "SearchQuery",
    "Services",
    "Submitted",
    "Unopenable",
    "complete_together",
    "seal_folders",
    "seal_list_fields_as_one",
    "try_complete_together",
]
