"""AES-256-GCM sealing bound to (owner account, item, part).

Wire form of a sealed value: version byte 0x01, 12-byte random nonce, ciphertext
with its 16-byte tag. The associated data is never stored: the caller supplies the
owner it is serving, so a value of another owner fails to open.
"""

from collections.abc import Iterable

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from mailward.core.entropy import random_bytes
from mailward.core.errors import IntegrityError

_VERSION = b"\x01"
_NONCE_BYTES = 12
_OVERHEAD = 1 + _NONCE_BYTES + 16


def associated_data(owner: str, item: str, part: str) -> bytes:
    # NUL cannot appear in ids or part names, so the encoding is unambiguous.
    return b"mailward/v1\x00" + owner.encode() + b"\x00" + item.encode() + b"\x00" + part.encode()


class NotOpened(IntegrityError):
    """A sealed value that does not open (wrong owner, item, part or key, or
    tampering); `item` names it."""

    def __init__(self, message: str, item: str) -> None:
        super().__init__(message)
        self.item = item


class Sealer:
    """Seals and opens values of one owner with that owner's data key."""

    __slots__ = ("_aead", "_prefix", "owner")

    def __init__(self, owner: str, key: bytes) -> None:
        if len(key) != 32:
            raise ValueError("data keys are 256-bit")
        self.owner = owner
        self._aead = AESGCM(key)
        # associated_data's owner part, encoded once: an inbox page opens 250 values
        self._prefix = associated_data(owner, "", "")[: -len(b"\x00")]

    def _aad(self, item: str, part: str) -> bytes:
        """associated_data(self.owner, item, part)"""
        return self._prefix + (item + "\x00" + part).encode()

    def seal(self, item: str, part: str, plaintext: bytes) -> bytes:
        nonce = random_bytes(_NONCE_BYTES)
        return _VERSION + nonce + self._aead.encrypt(nonce, plaintext, self._aad(item, part))

    def open(self, item: str, part: str, sealed: bytes) -> bytes:
        """Open a value sealed for (this owner, item, part).

        Raises:
            IntegrityError: wrong owner, item or part, wrong key, or tampering.
        """
        return self.open_all(part, ((item, sealed),))[0]

    def open_all(self, part: str, values: Iterable[tuple[str, bytes]]) -> list[bytes]:
        """Open `part` of each (item, sealed value): one call for a page of them.

        Raises:
            NotOpened: for the first that does not open.
        """
        decrypt, aad_of, opened = self._aead.decrypt, self._aad, []
        for item, sealed in values:
            if len(sealed) < _OVERHEAD or sealed[0] != _VERSION[0]:
                raise NotOpened("sealed value is malformed", item)
            aad = aad_of(item, part)
            try:
                opened.append(
                    decrypt(sealed[1 : 1 + _NONCE_BYTES], sealed[1 + _NONCE_BYTES :], aad)
                )
            except InvalidTag:
                raise NotOpened(
                    f"sealed {part} of {item} does not open for owner {self.owner}", item
                ) from None
        return opened

    def seal_text(self, item: str, part: str, text: str) -> bytes:
        return self.seal(item, part, text.encode("utf-8", "surrogatepass"))

    def open_text(self, item: str, part: str, sealed: bytes) -> str:
        return self.open(item, part, sealed).decode("utf-8", "surrogatepass")
