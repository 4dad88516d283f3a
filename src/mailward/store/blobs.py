"""The filesystem blob store: one file per (account, blob), sealed by the caller.

Layout: `<root>/<account_id>/<id[1:3]>/<id>`. Nothing is shared between accounts.
A blob is written to a temporary name, fsynced, renamed and its directory fsynced,
so a blob under its final name is always complete and durable.
"""

import os
from pathlib import Path

from mailward.core.errors import NotFound


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class FsBlobStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self._known_dirs: set[Path] = set()

    def _path(self, account_id: str, blob_id: str) -> Path:
        if not blob_id.isalnum() or not account_id.isalnum():
            raise ValueError("blob and account ids are alphanumeric")
        return self.root / account_id / blob_id[1:3] / blob_id

    def _ensure_dir(self, directory: Path) -> None:
        if directory in self._known_dirs:
            return
        if not directory.exists():
            parent = directory.parent
            if not parent.exists():
                parent.mkdir()
                _fsync_dir(parent.parent)
            directory.mkdir(exist_ok=True)
            _fsync_dir(parent)
        self._known_dirs.add(directory)

    def joins_transaction(self, size_bytes: int) -> bool:
        return False

    def put(self, account_id: str, blob_id: str, data: bytes) -> None:
        """Store `data` durably under (account_id, blob_id)."""
        path = self._path(account_id, blob_id)
        self._ensure_dir(path.parent)
        tmp = path.with_name(path.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
        _fsync_dir(path.parent)

    def get(self, account_id: str, blob_id: str) -> bytes:
        try:
            return self._path(account_id, blob_id).read_bytes()
        except FileNotFoundError:
            raise NotFound(f"blob {blob_id} not found") from None

    def get_many(self, account_id: str, blob_ids: list[str]) -> dict[str, bytes]:
        out = {}
        for blob_id in blob_ids:
            try:
                out[blob_id] = self._path(account_id, blob_id).read_bytes()
            except FileNotFoundError:
                continue
        return out

    def delete(self, account_id: str, blob_id: str) -> None:
        self._path(account_id, blob_id).unlink(missing_ok=True)

    def exists(self, account_id: str, blob_id: str) -> bool:
        return self._path(account_id, blob_id).exists()
