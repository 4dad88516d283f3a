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

import fcntl
import hashlib
import hmac
import json
import mmap
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

SLOT_BYTES = 256


class Head(NamedTuple):
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
    Worker processes share the file: `advance` looks and writes under an
    exclusive lock on it, so none can write between another's look and write.
    """

    def __init__(self, path: Path) -> None:
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        if os.fstat(self._fd).st_size < 2 * SLOT_BYTES:
            os.ftruncate(self._fd, 2 * SLOT_BYTES)
        self._map = mmap.mmap(self._fd, 2 * SLOT_BYTES)

    def newest(self, key: bytes, above: int = -1) -> int:
        """The seq of the newest authentic slot (another process may have written
        it), or `above` when no authentic slot is newer. Only a slot whose seq
        says it is newer than `above` is authenticated: the writer passes the
        newest seq it knows, so nearly every look is two slices, not two MACs."""
        newest = above
        for i in (0, SLOT_BYTES):
            data = self._map[i : i + SLOT_BYTES]
            if _claimed_seq(data) > newest:
                head = _slot(key, data)
                if head is not None and head.seq > newest:
                    newest = head.seq
        return newest

    def advance(self, key: bytes, head: Head, known: int = -1) -> int:
        """Write `head` into slot seq % 2 unless the file already holds a newer
        head; returns the newest seq in the file afterwards. `known`: a seq the
        caller knows the file reached (only newer slots are authenticated)."""
        fcntl.flock(self._fd, fcntl.LOCK_EX)
        try:
            newest = self.newest(key, known)
            if head.seq <= newest:
                return newest
            offset = (head.seq % 2) * SLOT_BYTES
            self._map[offset : offset + SLOT_BYTES] = encode_slot(key, head)
            return head.seq
        finally:
            fcntl.flock(self._fd, fcntl.LOCK_UN)

    def sync(self) -> None:
        if not self._map.closed:
            self._map.flush()

    def close(self) -> None:
        if not self._map.closed:
            self._map.flush()
            self._map.close()
            os.close(self._fd)


class HeadPublisher:
    """Advances the signed head as commits become durable.

    `offer` is called once a commit is durable. The offering thread writes the
    head itself when the last write is at least `interval_s` old (a memory copy
    and a MAC: microseconds); the heads offered in between are covered by the
    next one. A thread, woken only when an offered head is left unwritten, writes
    the pending head every `trail_s` until commits pause, so the head catches up
    when they stop; then it syncs the file. While commits go on the file is synced
    at most every `sync_s`. A thread woken after every commit had cost more (in
    switches) than the writes themselves.

    The head lags the log by about `interval_s` while commits come, by up to
    about twice `trail_s` after the last one (and on disk, after a power loss, by
    at most `sync_s` plus that); it never leads it and never moves back, also not
    when several processes share the file.
    `flush` writes and syncs the newest head at once (verify, close).
    """

    def __init__(
        self,
        path: Path,
        key: bytes,
        written: Callable[[Head], None],
        *,
        interval_s: float = 0.02,
        trail_s: float = 0.1,
        sync_s: float = 1.0,
    ) -> None:
        self._file = HeadFile(path)
        self._key = key
        self._written = written
        self._interval_s = interval_s
        self._trail_s = trail_s
        self._sync_s = sync_s
        self._lock = threading.Lock()  # guards _pending, _due, the file
        self._pending: Head | None = None
        self._due = 0.0  # monotonic time of the next inline write
        self._last_seq = -1
        self._last_sync = 0.0
        self._offered = 0.0  # monotonic time of the last offer
        self._left = threading.Event()  # a head was left for the thread
        self._woken = False  # under _lock: _left is set (or about to be)
        self._thread: threading.Thread | None = None
        self._closed = False

    def offer(self, head: Head) -> None:
        with self._lock:
            if self._closed:
                return
            pending = self._pending
            if pending is None or head.seq > pending.seq:
                self._pending = head
            now = self._offered = time.monotonic()
            if now >= self._due:
                self._due = now + self._interval_s
                self._write_pending(now, sync=False)
                return
            if self._woken:  # the thread will write the pending head
                return
            self._woken = True
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="audit-head", daemon=True)
                self._thread.start()
        self._left.set()

    def _run(self) -> None:
        while True:
            self._left.wait()
            while True:  # woken: every `trail_s` until commits pause
                if self._closed:
                    return
                time.sleep(self._trail_s)
                with self._lock:
                    if self._closed:
                        return
                    # Once commits have paused, the head they leave is synced, so
                    # after a power loss it lags by at most `sync_s` + 2 `trail_s`.
                    # While they go on, it is synced every `sync_s` only: a sync
                    # at every wake write-protected the mapped page ten times a
                    # second, and each next inline write took a page fault.
                    now = time.monotonic()
                    paused = now - self._offered >= self._trail_s
                    self._write_pending(now, sync=paused)
                    if paused:
                        self._left.clear()
                        self._woken = False
                        break

    def _write_pending(self, now: float, *, sync: bool) -> None:
        """Under `_lock`: write the pending head if it is the newest anywhere."""
        head, self._pending = self._pending, None
        if head is not None and head.seq > self._last_seq:
            # Worker processes share the file: never overwrite a newer head.
            newest = self._file.advance(self._key, head, self._last_seq)
            self._last_seq = max(self._last_seq, newest)
            if newest == head.seq:
                self._written(head)
                sync = sync or now - self._last_sync >= self._sync_s
        if sync:
            self._file.sync()
            self._last_sync = now

    def flush(self) -> None:
        """Write the newest offered head now and sync the file."""
        with self._lock:
            self._write_pending(time.monotonic(), sync=True)

    def close(self) -> None:
        """Write the newest head, sync, stop the thread and unmap the file."""
        with self._lock:
            self._write_pending(time.monotonic(), sync=True)
            self._closed = True
        self._left.set()
        if self._thread is not None:
            self._thread.join()
        self._file.close()


def is_blank(path: Path) -> bool:
    """True if the head file does not exist or holds no head yet (all zero bytes)."""
    try:
        return not path.read_bytes().strip(b"\x00")
    except FileNotFoundError:
        return True


_SEQ_AT = len(b'{"seq":')


def _claimed_seq(data: bytes) -> int:
    """The seq a slot says it holds, unauthenticated: cheap, to skip the MAC of
    a slot that is not newer anyway. A slot not in encode_slot's form claims
    more than any seq, so it is checked in full."""
    try:
        return int(data[_SEQ_AT : data.index(b",", _SEQ_AT)])
    except ValueError:
        return 1 << 62 if data.strip(b"\x00") else -1


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
