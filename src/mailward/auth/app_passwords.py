"""App passwords: what mail programs sign in with when two-factor sign-in is on.

SMTP, IMAP and POP3 clients cannot ask for a code, so an account with two-factor
sign-in takes only app passwords there: random secrets (80 bits, shown once),
one per program, each revocable, each with its last use. The store keeps a keyed
hash (HMAC-SHA256 with a service key the database does not hold); a secret that
random needs no slow hash, and the lookup is one indexed read.
"""

import base64
import hmac
import secrets
import time
from dataclasses import dataclass

from mailward.core.errors import InvalidInput
from mailward.core.ids import AccountId
from mailward.store import AppPasswordRow, MailStore

MAX_PER_ACCOUNT = 20


@dataclass(frozen=True, slots=True)
class AppPasswordInfo:
    """An app password as its owner sees it (never the secret)."""

    id: str
    owner: AccountId
    name: str
    created_us: int
    last_used_us: int | None


@dataclass(slots=True)
class AppPasswords:
    store: MailStore
    key: bytes  # the "app-password" service key

    def _hash(self, secret: str) -> bytes:
        canonical = secret.replace("-", "").replace(" ", "").lower()
        return hmac.digest(self.key, canonical.encode(), "sha256")

    def create(self, account_id: AccountId, name: str) -> tuple[AppPasswordInfo, str]:
        """A new app password; returns it with its secret (shown this once)."""
        name = " ".join(name.split())[:60]
        if not name:
            raise InvalidInput("name the program this password is for")
        if len(self.store.app_passwords(account_id)) >= MAX_PER_ACCOUNT:
            raise InvalidInput(f"at most {MAX_PER_ACCOUNT} app passwords; revoke one first")
        raw = base64.b32encode(secrets.token_bytes(10)).decode().lower()  # 16 chars, 80 bits
        secret = "-".join(raw[i : i + 4] for i in range(0, 16, 4))
        row = AppPasswordRow(
            account_id, secrets.token_hex(8), name, self._hash(secret), time.time_ns() // 1000,
            None, None,
        )  # fmt: skip
        self.store.add_app_password(row)
        return AppPasswordInfo(row.id, account_id, name, row.created_us, None), secret

    def live(self, account_id: AccountId) -> list[AppPasswordInfo]:
        return [
            AppPasswordInfo(r.id, r.account_id, r.name, r.created_us, r.last_used_us)
            for r in self.store.app_passwords(account_id)
        ]

    def revoke(self, account_id: AccountId, app_id: str) -> bool:
        return self.store.revoke_app_password(account_id, app_id, time.time_ns() // 1000)

    def check(self, account_id: AccountId, secret: str) -> bool:
        """Is `secret` a live app password of this account? (Its last use is noted.)"""
        if not secret or len(secret) > 64:
            return False
        row = self.store.app_password_by_hash(self._hash(secret))
        if row is None or row.account_id != account_id or row.revoked_us is not None:
            return False
        self.store.touch_app_password(account_id, row.id, time.time_ns() // 1000)
        return True
