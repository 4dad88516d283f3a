"""The login check, and the login history it leaves ("last logon", done right).

Every attempt is recorded — success or failure, with reason — before the answer
is given. Throttling, both within `WINDOW_S`: after `MAX_FAILURES` failed attempts
naming one address (since its last success), and after `MAX_REMOTE_FAILURES` from
one client address, further attempts are refused as "throttled" without checking
the password (and recorded as such). The address throttle counts unknown
addresses too, so a lockout says nothing about whether an account exists.
"""

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from mailward.auth.app_passwords import AppPasswords
from mailward.auth.login_cache import LoginCache
from mailward.auth.passwords import Passwords
from mailward.auth.second_factor import SecondFactor
from mailward.core.account import LoginEvent
from mailward.core.errors import AuthError, InvalidInput
from mailward.core.ids import AccountId, new_session_id
from mailward.core.principal import Principal, Protocol
from mailward.store import AccountRow, LoginRow, MailStore

MAX_FAILURES = 10
MAX_REMOTE_FAILURES = 50
THROTTLED = "too many failed sign-in attempts; try again in 15 minutes"
MIN_PASSWORD_CHARS = 10
WINDOW_S = 15 * 60
REFUSED = "invalid address, password or code"
# Where a second factor can be asked for. Mail protocols cannot: there an account
# with two-factor sign-in takes app passwords only (auth/app_passwords.py).
SECOND_FACTOR_PROTOCOLS = frozenset({Protocol.WEB, Protocol.API})
MAIL_PROTOCOLS = frozenset({Protocol.SUBMISSION, Protocol.SMTP, Protocol.IMAP, Protocol.POP3})


def _event(r: LoginRow) -> LoginEvent:
    return LoginEvent(
        r.id,
        datetime.fromtimestamp(r.at_us / 1e6, UTC),
        r.account_id,
        r.address,
        r.remote,
        r.protocol,
        r.client,
        r.success,
        r.reason,
    )


@dataclass(frozen=True, slots=True)
class LoginHistory:
    """What a user sees after logging in: the previous success and failures since."""

    previous: LoginEvent | None
    failures_since: list[LoginEvent]


def _no_crossing(fault: str, receiver: str, owner: str, what: str) -> None:
    return None


@dataclass(slots=True)
class Logins:
    """Attributes:
    faults: drill fault classes made live (core/faults.py); empty in service.
    crossing: notes each crossing an injected fault attempts (drill ground truth).
    """

    store: MailStore
    passwords: Passwords
    second_factor: SecondFactor | None = None
    app_passwords: AppPasswords | None = None
    faults: frozenset[str] = frozenset()
    crossing: Callable[[str, str, str, str], None] = _no_crossing
    cache: LoginCache | None = None  # recent password successes (mail protocols only)

    def _record(
        self,
        account_id: AccountId | None,
        address: str,
        remote: str,
        protocol: Protocol,
        client: str,
        success: bool,
        reason: str,
    ) -> None:
        self.store.add_login_event(
            LoginRow(
                0,
                time.time_ns() // 1000,
                account_id,
                address,
                remote,
                protocol.value,
                client[:256],
                success,
                reason,
            )
        )

    def _throttled(self, address: str, remote: str) -> str | None:
        since = (time.time_ns() // 1000) - WINDOW_S * 1_000_000
        if self.store.failed_logins(address=address, since_us=since) >= MAX_FAILURES:
            return "throttled"
        if (
            remote
            and self.store.failed_logins(remote=remote, since_us=since) >= MAX_REMOTE_FAILURES
        ):
            return "throttled-remote"
        return None

    def login(
        self,
        address: str,
        password: str,
        *,
        remote: str = "",
        protocol: Protocol = Protocol.CLI,
        client: str = "",
        code: str = "",
    ) -> Principal:
        """Check a password (and, where two-factor sign-in is on, `code`: from the
        authenticator app or a recovery code) and return a Principal on a fresh
        session.

        Raises:
            AuthError: the same message for an unknown address and a wrong password
                (and for a disabled account); THROTTLED when a throttle applies.
        """
        address = address.strip().lower()[:320]
        row = self.store.account_by_address(address)
        throttled = self._throttled(address, remote)
        if throttled is not None:
            self._record(row.id if row else None, address, remote, protocol, client, False,
                         throttled)  # fmt: skip
            raise AuthError(THROTTLED)
        if row is None:
            self.passwords.verify(None, password)  # same cost as a real check
            self._record(None, address, remote, protocol, client, False, "unknown-address")
            raise AuthError(REFUSED)
        if protocol in MAIL_PROTOCOLS and self.app_passwords is not None:
            if self.app_passwords.check(row.id, password):
                return self._accepted(row, address, remote, protocol, client, "app-password")
            if self.second_factor is not None and self.second_factor.enabled(row.id):
                # Mail programs cannot give a code: with two-factor sign-in on, only
                # app passwords open the mail protocols (the same answer as always).
                self.passwords.verify(None, password)  # the same cost as a real check
                self._record(row.id, address, remote, protocol, client, False,
                             "app-password-required")  # fmt: skip
                raise AuthError(REFUSED)
        cache = self.cache if protocol in MAIL_PROTOCOLS else None
        if (
            cache is not None
            and not row.disabled
            and cache.hit(address, password, row.id, row.password_hash)
        ):
            return self._accepted(row, address, remote, protocol, client, "ok")
        if not self.passwords.verify(row.password_hash, password):
            self._record(row.id, address, remote, protocol, client, False, "bad-password")
            raise AuthError(REFUSED)
        if row.disabled:
            self._record(row.id, address, remote, protocol, client, False, "disabled")
            raise AuthError(REFUSED)
        if (
            self.second_factor is not None
            and protocol in SECOND_FACTOR_PROTOCOLS
            and self.second_factor.enabled(row.id)
            and not self.second_factor.check(row.id, code)
        ):
            reason = "code-missing" if not code else "bad-code"
            self._record(row.id, address, remote, protocol, client, False, reason)
            raise AuthError(REFUSED)
        if self.passwords.needs_rehash(row.password_hash):
            self.store.set_password_hash(row.id, self.passwords.hash(password))
        elif cache is not None and not row.disabled:
            cache.remember(address, password, row.id, row.password_hash)
        return self._accepted(row, address, remote, protocol, client, "ok")

    def _accepted(
        self,
        row: AccountRow,
        address: str,
        remote: str,
        protocol: Protocol,
        client: str,
        reason: str,
    ) -> Principal:
        if row.disabled:
            self._record(row.id, address, remote, protocol, client, False, "disabled")
            raise AuthError(REFUSED)
        self._record(row.id, address, remote, protocol, client, True, reason)
        return Principal(row.id, row.address, new_session_id(), protocol, remote)

    def is_new_device(self, principal: Principal, client: str) -> bool:
        """Whether the login that made `principal` came from a device (client string)
        or client address this account never signed in from before (the newest
        success, the login itself, is not counted). The very first sign-in of an
        account is not "new": there is nothing to compare it with."""
        earlier = [e for e in self.store.login_events(principal.account_id, 500) if e.success][1:]
        if not earlier:
            return False
        return not any(e.remote == principal.remote and e.client == client[:256] for e in earlier)

    def confirm_password(self, principal: Principal, password: str) -> None:
        """For a sensitive change. Raises: InvalidInput if the password is wrong."""
        row = self.store.account(principal.account_id)
        if row is None or not self.passwords.verify(row.password_hash, password):
            raise InvalidInput("the current password is not right")

    def change_password(self, principal: Principal, current: str, new: str) -> None:
        """Raises: InvalidInput (the current password is wrong, or the new one too
        short or long); the session stays signed in either way."""
        if len(new) < MIN_PASSWORD_CHARS or len(new) > 1024:
            raise InvalidInput(f"a password needs {MIN_PASSWORD_CHARS} to 1024 characters")
        self.confirm_password(principal, current)
        self.store.set_password_hash(principal.account_id, self.passwords.hash(new))
        if self.cache is not None:
            self.cache.forget(principal.account_id)

    def history(self, account_id: AccountId, limit: int = 100) -> list[LoginEvent]:
        """Login attempts naming this account, newest first."""
        return [_event(r) for r in self.store.login_events(account_id, limit)]

    def since_last_login(self, account_id: AccountId) -> LoginHistory:
        """The success before the current one, and the failures after it."""
        if "wrong-join" in self.faults:
            return self._wrong_join(account_id)
        events = self.store.login_events(account_id, 200)
        successes = [e for e in events if e.success]
        if not successes:
            return LoginHistory(None, [_event(e) for e in events])
        current = successes[0]
        previous = successes[1] if len(successes) > 1 else None
        failures = [
            _event(e)
            for e in events
            if not e.success and e.id < current.id and (previous is None or e.id > previous.id)
        ]
        return LoginHistory(_event(previous) if previous else None, failures)

    def _wrong_join(self, account_id: AccountId) -> LoginHistory:
        """DRILL FAULT `wrong-join`: the previous login looked up in every account's
        events (the join lost its account condition), as in the old incident."""
        events = self.store.recent_login_events(200)
        mine = next((i for i, e in enumerate(events) if e.account_id == account_id), None)
        if mine is None:
            return LoginHistory(None, [])
        previous = next((e for e in events[mine + 1 :] if e.success), None)
        if previous is None:
            return LoginHistory(None, [])
        if previous.account_id != account_id:
            self.crossing("wrong-join", account_id, previous.account_id or "", "login event")
        return LoginHistory(_event(previous), [])
