"""What the runtime hands the POP3 front-end (the same shape as imap/backend.py)."""

import ssl
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from mailward.access import MailAccess
from mailward.auth import Logins
from mailward.core.principal import Principal


@dataclass(slots=True)
class Pop3Backend:
    """Attributes:
    door: the door for an authenticated principal.
    logins: password checks (recorded, throttled).
    hostname: our name in the greeting.
    tls: the listener's TLS context (STLS).
    plaintext_login: USER/PASS allowed before STLS from loopback clients.
    lock_dir: where the maildrop locks of all worker processes meet (None: this
        process only).
    stopped: is the kill switch engaged for POP3?
    check: the response guard: may these door objects (each with `owner`) go to
        this principal? False: a trip was recorded and contained; send nothing.
    pool: runs the blocking door calls.
    """

    door: Callable[[Principal], MailAccess]
    logins: Logins
    hostname: str
    tls: ssl.SSLContext
    plaintext_login: bool = False
    lock_dir: Path | None = None
    stopped: Callable[[], bool] = lambda: False
    check: Callable[[Principal, Sequence[object], str], bool] = lambda p, objs, part: True
    pool: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(8, thread_name_prefix="pop3-door")
    )
