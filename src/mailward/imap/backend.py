"""What the runtime hands the IMAP front-end (the same shape as pop3/backend.py)."""

import ssl
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from mailward.access import MailAccess
from mailward.auth import Logins
from mailward.core.principal import Principal


@dataclass(slots=True)
class ImapBackend:
    """Attributes:
    door: the door for an authenticated principal.
    logins: password checks (recorded, throttled).
    hostname: our name in the greeting.
    tls: the listener's TLS context (STARTTLS).
    plaintext_login: LOGIN and AUTHENTICATE allowed before STARTTLS from loopback clients.
    stopped: is the kill switch engaged for IMAP?
    check: the response guard: may these door objects (each with `owner`) go to
        this principal? False: a trip was recorded and contained; send nothing.
    pool: runs the blocking door calls.
    """

    door: Callable[[Principal], MailAccess]
    logins: Logins
    hostname: str
    tls: ssl.SSLContext
    plaintext_login: bool = False
    stopped: Callable[[], bool] = lambda: False
    check: Callable[[Principal, Sequence[object], str], bool] = lambda p, objs, part: True
    pool: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(16, thread_name_prefix="imap-door")
    )
