"""What the runtime hands the web front-end."""

from collections.abc import Callable
from dataclasses import dataclass

from mailward.access import MailAccess
from mailward.auth import Logins, SecondFactor, Sessions
from mailward.core.principal import Principal
from mailward.guard import Guard, Switches


@dataclass(slots=True)
class WebBackend:
    """Attributes:
    door: the one door for an authenticated principal.
    logins: password checks (recorded, throttled).
    sessions: the session store (keyed token hashes).
    secure_cookies: mark cookies Secure (served over TLS).
    hostname: our name (the domain of Message-IDs we make).
    max_message_bytes: the largest message compose may build.
    queued: called after a sent message queued mail for foreign recipients.
    system_door: the system's door (delivers the new-device alert).
    second_factor: the TOTP enrolment (None: not offered).
    guard: the response-boundary guard (None: no check; tests of pages alone).
    switches: kill switch and feature flags (None: every feature on).
    faults, crossing: drill faults made live, and their ground-truth log.
    admins: addresses (lower case) that may use the containment page.
    """

    door: Callable[[Principal], MailAccess]
    logins: Logins
    sessions: Sessions
    secure_cookies: bool = False
    hostname: str = "localhost"
    max_message_bytes: int = 25 * 1024 * 1024
    queued: Callable[[], None] = lambda: None
    system_door: Callable[[], MailAccess] | None = None
    second_factor: SecondFactor | None = None
    guard: Guard | None = None
    switches: Switches | None = None
    faults: frozenset[str] = frozenset()
    admins: frozenset[str] = frozenset()
    crossing: Callable[[str, str, str, str], None] = lambda fault, to, owner, what: None

    def feature(self, name: str, account_id: str) -> bool:
        """Is feature flag `name` on for this account (on when no switches are wired)?"""
        return self.switches is None or self.switches.enabled(name, account_id)
