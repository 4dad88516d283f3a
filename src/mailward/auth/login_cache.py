"""A cache of recent successful password checks for the mail protocols.

Mail programs log in again and again (a phone checking every few minutes, a sync
tool opening several connections); each argon2id check costs tens of
milliseconds of CPU. Like Dovecot's auth cache, a success is remembered for
`ttl_s`: the key is an HMAC of (address, password) under a random key that lives
only in this process's memory, so the cache holds no password and nothing usable
outside it. An entry counts only while the account's stored password hash is
the one it was made with (a password change ends it at once). Failures are never
cached: every wrong guess pays the full price.
"""

import hashlib
import hmac
import secrets
import threading
import time

from mailward.core.ids import AccountId


class LoginCache:
    def __init__(self, ttl_s: float = 300.0, max_entries: int = 100_000) -> None:
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self._key = secrets.token_bytes(32)
        self._lock = threading.Lock()
        self._entries: dict[bytes, tuple[AccountId, str, float]] = {}

    def _digest(self, address: str, password: str) -> bytes:
        data = address.encode("utf-8") + b"\x00" + password.encode("utf-8", "replace")
        return hmac.new(self._key, data, hashlib.sha256).digest()

    def hit(self, address: str, password: str, account_id: AccountId, password_hash: str) -> bool:
        """Was this (address, password) accepted within `ttl_s`, for this account,
        under the password hash it still has?"""
        key = self._digest(address, password)
        with self._lock:
            entry = self._entries.get(key)
        if entry is None:
            return False
        who, made_with, expires = entry
        if time.monotonic() >= expires:
            with self._lock:
                self._entries.pop(key, None)
            return False
        return who == account_id and hmac.compare_digest(made_with, password_hash)

    def remember(
        self, address: str, password: str, account_id: AccountId, password_hash: str
    ) -> None:
        key = self._digest(address, password)
        with self._lock:
            if len(self._entries) >= self.max_entries:
                self._entries.clear()
            self._entries[key] = (account_id, password_hash, time.monotonic() + self.ttl_s)

    def forget(self, account_id: AccountId) -> None:
        with self._lock:
            for key in [k for k, v in self._entries.items() if v[0] == account_id]:
                del self._entries[key]
