"""The keyring: per-account data keys, wrapped by the master key, opened on demand.

Rotation (`mailward keys rotate`) is crash-safe: the new master key is written to
`<master>.new` first, every data key is re-wrapped in one transaction, then the new
file replaces the old. A keyring opened after a crash in between finds both files,
unwraps each key with the master key its `kid` names, and finishes the rotation.
"""

import os
import secrets
import threading
from collections.abc import Callable
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from mailward.core.errors import IntegrityError, NotFound
from mailward.crypto.master import MasterKey, create_master_key, read_master_key
from mailward.crypto.seal import Sealer
from mailward.db import Database, apply_migrations, load_migrations


def _wrap_aad(owner: str) -> bytes:
    return b"mailward/wrap/v1\x00" + owner.encode()


def wrap(master: MasterKey, owner: str, key: bytes) -> bytes:
    nonce = os.urandom(12)
    return nonce + AESGCM(master.key).encrypt(nonce, key, _wrap_aad(owner))


def unwrap(master: MasterKey, owner: str, wrapped: bytes) -> bytes:
    try:
        return AESGCM(master.key).decrypt(wrapped[:12], wrapped[12:], _wrap_aad(owner))
    except InvalidTag:
        raise IntegrityError(f"data key of {owner} does not unwrap") from None


def _pending_path(master_path: Path) -> Path:
    return master_path.with_name(master_path.name + ".new")


class Keyring:
    """Data keys of every account, unwrapped lazily and cached in memory."""

    def __init__(self, db: Database, master: MasterKey) -> None:
        self._db = db
        apply_migrations(db, load_migrations("crypto", "mailward.crypto.migrations"))
        self._masters = {master.kid: master}
        self._current = master
        self._sealers: dict[str, Sealer] = {}
        self._lock = threading.Lock()
        pending = _pending_path(master.path)
        if pending.exists():
            self._finish_rotation(read_master_key(pending))

    @property
    def master_kid(self) -> str:
        return self._current.kid

    def create_key(self, owner: str) -> None:
        """Create and store (wrapped) a fresh 256-bit data key for `owner`."""
        key = secrets.token_bytes(32)
        with self._db.write() as conn:
            conn.execute(
                "INSERT INTO data_keys (owner, kid, wrapped) VALUES (?, ?, ?)",
                (owner, self._current.kid, wrap(self._current, owner, key)),
            )

    def _load(self, owner: str) -> bytes:
        row = (
            self._db.read()
            .execute("SELECT kid, wrapped FROM data_keys WHERE owner = ?", (owner,))
            .fetchone()
        )
        if row is None:
            raise NotFound(f"no data key for {owner}")
        master = self._masters.get(row[0])
        if master is None:
            raise IntegrityError(f"data key of {owner} is wrapped by unknown master key {row[0]}")
        return unwrap(master, owner, row[1])

    def sealer(self, owner: str) -> Sealer:
        """The sealer for `owner`'s data key.

        Raises:
            NotFound: `owner` has no data key.
            IntegrityError: the wrapped key does not open.
        """
        sealer = self._sealers.get(owner)
        if sealer is None:
            sealer = Sealer(owner, self._load(owner))
            with self._lock:
                self._sealers[owner] = sealer
        return sealer

    def service_key(self, name: str) -> bytes:
        """A named 256-bit key for a service (e.g. signing the audit head), made once."""
        try:
            return self._load(name)
        except NotFound:
            self.create_key(name)
            return self._load(name)

    def forget(self, owner: str) -> None:
        with self._lock:
            self._sealers.pop(owner, None)

    def rotate(self, progress: Callable[[int, int], None] | None = None) -> MasterKey:
        """Replace the master key, re-wrapping every data key. Returns the new key."""
        pending = _pending_path(self._current.path)
        if pending.exists():
            raise IntegrityError(f"{pending} exists: an earlier rotation is unfinished")
        new = create_master_key(pending)
        self._masters[new.kid] = new
        self._finish_rotation(new, progress)
        return self._current

    def _finish_rotation(
        self, new: MasterKey, progress: Callable[[int, int], None] | None = None
    ) -> None:
        self._masters[new.kid] = new
        with self._db.write() as conn:
            rows = conn.execute("SELECT owner, kid, wrapped FROM data_keys").fetchall()
            for i, (owner, kid, wrapped) in enumerate(rows, 1):
                if kid != new.kid:
                    master = self._masters.get(kid)
                    if master is None:
                        raise IntegrityError(f"data key of {owner} wrapped by unknown key {kid}")
                    key = unwrap(master, owner, wrapped)
                    conn.execute(
                        "UPDATE data_keys SET kid = ?, wrapped = ? WHERE owner = ?",
                        (new.kid, wrap(new, owner, key), owner),
                    )
                if progress is not None:
                    progress(i, len(rows))
        final = self._current.path
        os.replace(new.path, final)
        dir_fd = os.open(final.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
        self._current = MasterKey(new.key, final)
        self._masters = {self._current.kid: self._current}
