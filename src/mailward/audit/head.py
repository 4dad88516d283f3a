"""The signed head: the last record's seq and hash, kept outside the database.

The head is signed (keyed BLAKE2b, RFC 7693's MAC mode, 256-bit tag) with a key
the database does not hold (a service key wrapped by the master key), so deleting
the tail of the log, or recomputing the chain after editing it, is caught by
comparing the log with its head.

File layout: two fixed-size slots written in turn with pwrite (no rename, cheap
enough to do after every commit). A write torn by a crash spoils at most one slot;
the reader takes the valid slot with the highest seq, which may lag the log but
never leads it.
"""

import hashlib
import hmac
import json
import mmap
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

SLOT_BYTES = 256


@dataclass(frozen=True, slots=True)
class Head:
    seq: int
    hash: bytes
    at_us: int


class HeadError(Exception):
    """The head file is missing, malformed or not signed by our key."""


def _mac(key: bytes, seq: int, digest: bytes, at_us: int) -> str:
    # Keyed BLAKE2b rather than HMAC-SHA256: the same strength, and it runs after
    # every commit, where HMAC through OpenSSL cost four times as much (its
    # algorithm lookup on each call).
    msg = f"mailward-audit-head/v2|{seq}|{digest.hex()}|{at_us}".encode()
    return hashlib.blake2b(msg, key=key, digest_size=32, person=b"mailward-head").hexdigest()


def encode_slot(key: bytes, head: Head) -> bytes:
    """One slot: a JSON object padded to SLOT_BYTES (written after every commit, so
    formatted directly rather than through json.dumps)."""
    digest = head.hash.hex()
    mac = _mac(key, head.seq, head.hash, head.at_us)
    text = f'{{"seq":{head.seq},"hash":"{digest}","at_us":{head.at_us},"mac":"{mac}"}}'
    return text.encode().ljust(SLOT_BYTES - 1) + b"\n"


class HeadFile:
    """The head file mapped into memory.

    Writing a slot is a memory copy, not a system call, and leaves the file's inode
    clean until the page is written back: a pwrite after every commit dirtied the
    inode (mtime), which every later WAL flush then had to journal as well.
    """

    def __init__(self, path: Path) -> None:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            if os.fstat(fd).st_size < 2 * SLOT_BYTES:
                os.ftruncate(fd, 2 * SLOT_BYTES)
            self._map = mmap.mmap(fd, 2 * SLOT_BYTES)
        finally:
            os.close(fd)

    def newest(self, key: bytes) -> int:
        """The seq of the newest authentic slot (another process may have written
        it), or -1."""
        slots = (_slot(key, self._map[i : i + SLOT_BYTES]) for i in (0, SLOT_BYTES))
        return max((h.seq for h in slots if h is not None), default=-1)

    def write(self, key: bytes, head: Head, *, sync: bool) -> None:
        """Write `head` into slot seq % 2; flush it to disk when `sync`."""
        offset = (head.seq % 2) * SLOT_BYTES
        self._map[offset : offset + SLOT_BYTES] = encode_slot(key, head)
        if sync:
            self.sync()

    def sync(self) -> None:
        if not self._map.closed:
            self._map.flush()

    def close(self) -> None:
        if not self._map.closed:
            self._map.flush()
            self._map.close()


class HeadPublisher:
    """Advances the signed head from a background thread.

    `offer` is called once a commit is durable; a thread writes the newest head
    offered, at most every `interval_s` (the commits in between are covered by
    the next head), and syncs the file at most every `sync_s`. Signing and writing
    the head after every commit cost the committing thread about as much as its
    own audit row. The head lags the log by at most `interval_s` while the service
    runs (and by `sync_s` after a power loss); it never leads it and never moves
    back. `flush` writes and syncs the newest head at once (verify, close).
    """

    def __init__(
        self,
        path: Path,
        key: bytes,
        written: Callable[[Head], None],
        *,
        interval_s: float = 0.02,
        sync_s: float = 1.0,
    ) -> None:
        self._file = HeadFile(path)
        self._key = key
        self._written = written
        self._interval_s = interval_s
        self._sync_s = sync_s
        self._cond = threading.Condition()
        self._write_lock = threading.Lock()
        self._pending: Head | None = None
        self._last_seq = -1
        self._last_sync = 0.0
        self._thread: threading.Thread | None = None
        self._closed = False

    def offer(self, head: Head) -> None:
        with self._cond:
            if self._closed:
                return
            if self._pending is None or head.seq > self._pending.seq:
                self._pending = head
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="audit-head", daemon=True)
                self._thread.start()
            self._cond.notify()

    def _run(self) -> None:
        while True:
            with self._cond:
                while self._pending is None and not self._closed:
                    self._cond.wait()
                if self._closed:
                    return
                head, self._pending = self._pending, None
            self._write(head, sync=False)
            time.sleep(self._interval_s)

    def _write(self, head: Head | None, *, sync: bool) -> None:
        with self._write_lock:
            if head is not None and head.seq > self._last_seq:
                # Worker processes share the file: never overwrite a newer head.
                self._last_seq = max(self._last_seq, self._file.newest(self._key))
            if head is not None and head.seq > self._last_seq:
                now = time.monotonic()
                sync = sync or now - self._last_sync >= self._sync_s
                self._file.write(self._key, head, sync=False)
                self._last_seq = head.seq
                self._written(head)
            if sync:
                self._file.sync()
                self._last_sync = time.monotonic()

    def flush(self) -> None:
        """Write the newest offered head now and sync the file."""
        with self._cond:
            head, self._pending = self._pending, None
        self._write(head, sync=True)

    def close(self) -> None:
        """Write the newest head, sync, stop the thread and unmap the file."""
        self.flush()
        with self._cond:
            self._closed = True
            self._cond.notify()
            thread = self._thread
        if thread is not None:
            thread.join()
        self.flush()
        self._file.close()


def is_blank(path: Path) -> bool:
    """True if the head file does not exist or holds no head yet (all zero bytes)."""
    try:
        return not path.read_bytes().strip(b"\x00")
    except FileNotFoundError:
        return True


def _slot(key: bytes, data: bytes) -> Head | None:
    try:
        doc = json.loads(data)
        head = Head(int(doc["seq"]), bytes.fromhex(doc["hash"]), int(doc["at_us"]))
        mac = str(doc["mac"])
    except (ValueError, KeyError, TypeError):
        return None
    if not hmac.compare_digest(mac, _mac(key, head.seq, head.hash, head.at_us)):
        return None
    return head


def read_head(path: Path, key: bytes) -> Head:
    """The newest authentic slot of the head file.

    Raises:
        HeadError: missing, or no slot is well-formed and signed with `key`.
    """
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise HeadError(f"signed head {path} is missing") from None
    slots = [_slot(key, data[i : i + SLOT_BYTES]) for i in range(0, len(data), SLOT_BYTES)]
    valid = [h for h in slots if h is not None]
    if not valid:
        raise HeadError(f"signed head {path} is malformed or has an invalid signature")
    return max(valid, key=lambda h: h.seq)
