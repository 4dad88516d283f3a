"""What the runtime hands the SMTP front-end: doors, logins, settings."""

import ssl
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from mailward.access import MailAccess
from mailward.auth import Logins
from mailward.core.principal import Principal, Protocol


@dataclass(slots=True)
class SmtpBackend:
    """Attributes:
    system_door: a door for the system principal on (protocol, remote address).
    door: the door for an authenticated principal.
    logins: password checks (recorded, throttled).
    hostname: our name in the greeting and in Received: fields.
    max_message_bytes: the SIZE limit.
    tls: the listeners' TLS context (STARTTLS).
    queued: called after a submission queued mail for foreign recipients.
    pool: runs the blocking door calls (group commit batches them).
    stopped: is the kill switch engaged for this scope ("smtp-in", "submission")?
    """

    system_door: Callable[[Protocol, str], MailAccess]
    door: Callable[[Principal], MailAccess]
    logins: Logins
    hostname: str
    max_message_bytes: int
    tls: ssl.SSLContext
    queued: Callable[[], None] = lambda: None
    stopped: Callable[[str], bool] = lambda scope: False
    pool: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(32, thread_name_prefix="smtp-door")
    )
