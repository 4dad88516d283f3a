"""Sessions of the web UI and the JSON API.

A session is created only by a successful login and named by a random token the
client keeps (a cookie or a bearer token). The store keeps a keyed hash of the
token (HMAC-SHA256 with a service key the database does not hold), never the
token. Every request hashes the token it presents, looks the row up, and checks
the row it got carries that same hash: a session store that hands back another
session's row is caught, not trusted (the "wrong join" of the old incident).
"""

import base64
import hmac
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from mailward.core.errors import AuthError, IntegrityError
from mailward.core.ids import AccountId, SessionId
from mailward.core.principal import Principal, Protocol
from mailward.store import MailStore, SessionRow

IDLE_TIMEOUT_S = 14 * 86400
TOUCH_EVERY_S = 60.0  # last-seen is written at most this often per session
EXPIRED = "session expired or signed out"
SESSION_CACHE = "session-cache"  # the flag of the session cache (drill fault)


def _now_us() -> int:
    return time.time_ns() // 1000


def _oldest_live_us() -> int:
    """The last use before which a session is idle past IDLE_TIMEOUT_S."""
    return _now_us() - IDLE_TIMEOUT_S * 1_000_000


@dataclass(frozen=True, slots=True)
class SessionInfo:
    """One of an account's live sessions, as its owner sees it."""

    id: SessionId
    owner: AccountId
    protocol: str
    remote: str
    device: str
    created_us: int
    last_seen_us: int


class _NotReadsOnly(Exception):
    """Resolving this token takes a write (the mismatch is recorded)."""


@dataclass(slots=True)
class Sessions:
    """Attributes:
    key: the "session-token" service key.
    mismatch: asked when the store returned a row that is not the token's
        (owner of that row, the token's real account if found, flag of the code
        path, protocol, remote); True lets the request go on as that row (only the
        guard's --no-guard drills say so), marked with its real receiver.
    faults, feature, crossing: the `session-mixup` drill fault, live for accounts
        inside the "session-cache" flag's rollout; its crossings noted.
    """

    store: MailStore
    key: bytes
    mismatch: Callable[[str, str, str, Protocol, str], bool] = (
        lambda owner, receiver, flag, protocol, remote: False
    )
    faults: frozenset[str] = frozenset()
    feature: Callable[[str, str], bool] = lambda name, account: False
    crossing: Callable[[str, str, str, str], None] = lambda fault, to, owner, what: None
    _cache: dict[str, SessionRow] = field(default_factory=dict)
    _cache_lock: threading.Lock = field(default_factory=threading.Lock)

    def _hash(self, token: str) -> bytes:
        return hmac.digest(self.key, token.encode("utf-8", "replace"), "sha256")

    def create(self, principal: Principal, device: str) -> str:
        """A new session for a principal fresh from a login; returns its token."""
        token = base64.urlsafe_b64encode(secrets.token_bytes(32)).decode().rstrip("=")
        now = _now_us()
        self.store.add_session(
            SessionRow(
                principal.account_id, principal.session_id, self._hash(token),
                principal.protocol.value, principal.remote, device[:300], now, now, None,
            )
        )  # fmt: skip
        return token

    def resolve(self, token: str, *, remote: str, protocol: Protocol) -> Principal:
        """The principal of a live session (remote/protocol: of this request).

        Raises:
            AuthError: unknown, revoked or idle-expired token.
            IntegrityError: the store returned a row that is not this token's.
        """
        p, due = self._check(token, remote, protocol, reads_only=False)
        if due:
            self.touch(p)
        return p

    def touch(self, p: Principal) -> None:
        """Write the session's last-seen time (a durable write)."""
        self.store.touch_session(p.account_id, p.session_id, _now_us())

    def peek(self, token: str, *, remote: str, protocol: Protocol) -> tuple[Principal, bool] | None:
        """As `resolve`, with reads only: the principal, and whether its last-seen
        time is due to be written (`touch`). For callers that keep durable writes
        off their thread (the web's event loop). None when resolving takes more
        than reads (the store returned a row that is not the token's, which the
        guard records and contains, or a drill fault is on): call `resolve` off
        that thread then. Raises as `resolve`."""
        if "session-mixup" in self.faults:
            return None
        try:
            return self._check(token, remote, protocol, reads_only=True)
        except _NotReadsOnly:
            return None

    def _check(
        self, token: str, remote: str, protocol: Protocol, *, reads_only: bool
    ) -> tuple[Principal, bool]:
        if not token or len(token) > 200:
            raise AuthError(EXPIRED)
        digest = self._hash(token)
        row = self._lookup(digest, remote)
        if row is None:
            raise AuthError(EXPIRED)
        receiver: AccountId | None = None
        if not hmac.compare_digest(row.token_hash, digest):
            if reads_only:
                raise _NotReadsOnly()
            real = self.store.session_by_token_hash(digest)  # asked again, for the record
            receiver = real.account_id if real is not None and real.token_hash == digest else None
            if not self.mismatch(row.account_id, receiver or "", SESSION_CACHE, protocol, remote):
                raise IntegrityError("session store returned a row that is not the token's")
        now = _now_us()
        if row.revoked_us is not None or now - row.last_seen_us > IDLE_TIMEOUT_S * 1_000_000:
            raise AuthError(EXPIRED)
        account = self.store.account(row.account_id)
        if account is None or account.disabled:
            raise AuthError(EXPIRED)
        if receiver == row.account_id:
            receiver = None
        due = now - row.last_seen_us > TOUCH_EVERY_S * 1_000_000
        return Principal(row.account_id, account.address, row.id, protocol, remote, receiver), due

    def _lookup(self, digest: bytes, remote: str) -> SessionRow | None:
        if "session-mixup" not in self.faults:
            return self.store.session_by_token_hash(digest)
        # DRILL FAULT `session-mixup`: a session cache keyed by the client address
        # (every client behind one proxy shares it), live for accounts in the
        # "session-cache" rollout.
        with self._cache_lock:
            cached = self._cache.get(remote)
        if cached is not None and self.feature(SESSION_CACHE, cached.account_id):
            if cached.token_hash != digest:
                real = self.store.session_by_token_hash(digest)
                receiver = real.account_id if real is not None else ""
                if receiver != cached.account_id:
                    self.crossing("session-mixup", receiver, cached.account_id, "session")
            return cached
        row = self.store.session_by_token_hash(digest)
        if row is not None and self.feature(SESSION_CACHE, row.account_id):
            with self._cache_lock:
                self._cache[remote] = row
        return row

    def live(
        self, account_id: AccountId, limit: int = -1, first: SessionId | None = None
    ) -> list[SessionInfo]:
        """The account's sessions that can still be used: `first` (the one asking,
        whose last use is written only now and then), then the most recently used;
        at most `limit` (-1: all). Not signed out, and not idle past IDLE_TIMEOUT_S
        (such a one is refused, so it is not shown as active on the Security page
        either)."""
        rows = self.store.sessions(
            account_id, seen_since_us=_oldest_live_us(), limit=limit, first=first
        )
        return [
            SessionInfo(
                r.id, r.account_id, r.protocol, r.remote, r.device, r.created_us, r.last_seen_us
            )
            for r in rows
        ]

    def live_count(self, account_id: AccountId) -> int:
        """How many sessions `live` would list with no limit."""
        return self.store.session_count(account_id, seen_since_us=_oldest_live_us())

    def revoke(self, account_id: AccountId, session_id: SessionId) -> bool:
        return self.store.revoke_session(account_id, session_id, _now_us())

    def revoke_others(self, principal: Principal) -> int:
        """Sign out every other session of the principal's account."""
        count = 0
        for r in self.store.sessions(principal.account_id):
            if r.id != principal.session_id and self.revoke(principal.account_id, r.id):
                count += 1
        return count
