"""The master key file: 32 random bytes, hex-encoded, readable by its owner only."""

import hashlib
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from mailward.core.errors import IntegrityError

_HEADER = "mailward-master-key-v1"


@dataclass(frozen=True, slots=True)
class MasterKey:
    """The key that wraps every account key. `kid` names it without revealing it."""

    key: bytes
    path: Path

    @property
    def kid(self) -> str:
        return hashlib.sha256(b"mailward/kid|" + self.key).hexdigest()[:16]


def _write_new(path: Path, key: bytes) -> None:
    # O_EXCL: never overwrite a key; 0o600 from creation, not chmod after.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, f"{_HEADER} {key.hex()}\n".encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def create_master_key(path: Path) -> MasterKey:
    """Create a new master key file at `path` (which must not exist)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_bytes(32)
    _write_new(path, key)
    return MasterKey(key, path)


def read_master_key(path: Path) -> MasterKey:
    """Read a master key file, refusing one that others can read.

    Raises:
        IntegrityError: the file is malformed or group/world accessible.
    """
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        raise IntegrityError(
            f"master key file {path} has mode {mode:o}; it must be readable by its owner only "
            f"(chmod 600 {path})"
        )
    text = path.read_text("ascii").strip()
    header, _, hexkey = text.partition(" ")
    try:
        key = bytes.fromhex(hexkey)
    except ValueError:
        key = b""
    if header != _HEADER or len(key) != 32:
        raise IntegrityError(f"master key file {path} is malformed")
    return MasterKey(key, path)


def load_or_create_master_key(path: Path) -> MasterKey:
    """The master key at `path`, created with mode 0600 on first run."""
    if path.exists():
        return read_master_key(path)
    return create_master_key(path)
