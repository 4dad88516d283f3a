"""SQLite access: one writer connection behind a lock, one reader per thread."""

import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

# A busy reader never blocks the writer in WAL mode; this only covers checkpoints.
_BUSY_TIMEOUT_MS = 10_000


def _connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute(f"PRAGMA busy_timeout={_BUSY_TIMEOUT_MS}")
    conn.execute("PRAGMA foreign_keys=ON")
    # synchronous=FULL in WAL mode: every commit fsyncs the WAL, so a change is
    # durable when write() returns ("nothing lost" in DESIGN.md).
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA temp_store=MEMORY")
    conn.execute("PRAGMA cache_size=-65536")
    return conn


class Database:
    """An SQLite database file in WAL mode.

    Writes are serialised through one connection (SQLite allows one writer);
    reads use a connection per thread and see the last committed state.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._writer = _connect(path)
        self._writer.execute("PRAGMA journal_mode=WAL")
        self._write_lock = threading.RLock()
        self._local = threading.local()
        self._readers: list[sqlite3.Connection] = []
        self._readers_lock = threading.Lock()
        self._closed = False
        self._after_commit: list[Callable[[], None]] = []

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """A write transaction: BEGIN IMMEDIATE, COMMIT on success, ROLLBACK on error.

        Nested use on the same thread joins the outer transaction.
        """
        with self._write_lock:
            conn = self._writer
            if conn.in_transaction:
                yield conn
                return
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                self._after_commit.clear()
                raise
            conn.execute("COMMIT")
            hooks, self._after_commit = self._after_commit, []
            for hook in hooks:
                hook()

    def on_commit(self, hook: Callable[[], None]) -> None:
        """Run `hook` once after the current write transaction commits (never on rollback).

        Must be called inside `write()`.
        """
        if not (self._writer.in_transaction and self._write_lock_held()):
            raise RuntimeError("on_commit outside a write transaction")
        if hook not in self._after_commit:
            self._after_commit.append(hook)

    def read(self) -> sqlite3.Connection:
        """This thread's read connection (autocommit; each statement sees committed data).

        Inside a write transaction on this thread, the writer is returned so the
        transaction sees its own uncommitted changes.
        """
        if self._writer.in_transaction and self._write_lock_held():
            return self._writer
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = _connect(self.path)
            self._local.conn = conn
            with self._readers_lock:
                self._readers.append(conn)
        return conn

    @contextmanager
    def snapshot(self) -> Iterator[sqlite3.Connection]:
        """A consistent read of several statements (a deferred read transaction)."""
        conn = self.read()
        if conn is self._writer:
            yield conn
            return
        conn.execute("BEGIN")
        try:
            yield conn
        finally:
            conn.execute("COMMIT")

    def _write_lock_held(self) -> bool:
        # RLock has no public owner test; _is_owned is stable across CPython 3.x.
        return bool(self._write_lock._is_owned())  # type: ignore[attr-defined]

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        with self._readers_lock:
            for conn in self._readers:
                conn.close()
            self._readers.clear()
        with self._write_lock:
            self._writer.close()
