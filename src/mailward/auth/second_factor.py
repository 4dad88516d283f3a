"""Two-factor sign-in: TOTP (RFC 6238, with pyotp) and one-time recovery codes.

Enrolment has two steps: `start` makes a secret (sealed with the account's own
key, owner-bound like mail) and returns it as an otpauth:// URI for an
authenticator app; `confirm` checks a first code from that app, switches the
factor on and returns ten recovery codes, shown once and stored only as hashes.
A code's time step can be used once (no replay); a recovery code once.
"""

import hashlib
import secrets
import time
from dataclasses import dataclass

import pyotp

from mailward.core.errors import InvalidInput
from mailward.core.ids import AccountId
from mailward.crypto import Keyring
from mailward.store import MailStore

ISSUER = "mailward"
_ITEM, _PART = "totp", "secret"
RECOVERY_CODES = 10


def _hash(code: str) -> bytes:
    return hashlib.sha256(code.strip().replace("-", "").lower().encode()).digest()


@dataclass(slots=True)
class SecondFactor:
    store: MailStore
    keyring: Keyring

    def enabled(self, account_id: AccountId) -> bool:
        row = self.store.second_factor(account_id)
        return row is not None and row[1] is not None

    def start(self, account_id: AccountId, address: str) -> tuple[str, str]:
        """A new unconfirmed secret: (secret, otpauth URI). Replaces any earlier one
        that was not confirmed; raises Conflict-like InvalidInput if one is on."""
        if self.enabled(account_id):
            raise InvalidInput("two-factor sign-in is already on; turn it off first")
        secret = pyotp.random_base32()
        sealed = self.keyring.sealer(account_id).seal(_ITEM, _PART, secret.encode())
        self.store.set_second_factor(account_id, sealed, None)
        return secret, pyotp.TOTP(secret).provisioning_uri(name=address, issuer_name=ISSUER)

    def _secret(self, account_id: AccountId) -> tuple[str, bool] | None:
        row = self.store.second_factor(account_id)
        if row is None:
            return None
        secret = self.keyring.sealer(account_id).open(_ITEM, _PART, row[0]).decode()
        return secret, row[1] is not None

    def _totp_ok(self, account_id: AccountId, secret: str, code: str) -> bool:
        code = code.strip().replace(" ", "")
        if not (code.isdigit() and len(code) == 6):
            return False
        totp = pyotp.TOTP(secret)
        now = time.time()
        for drift in (0, -1, 1):  # one step of clock drift either way
            at = now + drift * totp.interval
            if secrets.compare_digest(totp.at(at), code):
                return self.store.use_time_step(account_id, int(at // totp.interval))
        return False

    def confirm(self, account_id: AccountId, code: str) -> list[str]:
        """Switch the factor on with a first code; returns the recovery codes."""
        found = self._secret(account_id)
        if found is None or found[1]:
            raise InvalidInput("start the enrolment first")
        if not self._totp_ok(account_id, found[0], code):
            raise InvalidInput("that code is not right; check the app and the device's clock")
        codes = [
            "-".join(secrets.token_hex(5)[i : i + 5] for i in (0, 5)) for _ in range(RECOVERY_CODES)
        ]
        self.store.set_recovery_codes(account_id, [_hash(c) for c in codes])
        row = self.store.second_factor(account_id)
        assert row is not None
        self.store.set_second_factor(account_id, row[0], time.time_ns() // 1000)
        return codes

    def check(self, account_id: AccountId, code: str) -> bool:
        """A code from the app, or an unused recovery code (used up by this)."""
        found = self._secret(account_id)
        if found is None or not found[1] or not code:
            return False
        if self._totp_ok(account_id, found[0], code):
            return True
        return self.store.use_recovery_code(account_id, _hash(code), time.time_ns() // 1000)

    def disable(self, account_id: AccountId) -> None:
        self.store.drop_second_factor(account_id)
