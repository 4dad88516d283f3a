"""SQLite access: one writer connection with group commit, one reader per thread.

Every write is a *unit of work* run inside its own savepoint. The first thread to
arrive with a unit becomes the *leader*: it runs its unit on the writer connection,
then every unit that queued up meanwhile (closures given to `run`), and commits them
all with one fsync of the WAL; then it hands leadership to the next waiting thread.
A lone caller pays no thread switch; concurrent callers share commits instead of
queueing behind them. A unit returns only once the commit holding it is durable; a
unit that raises is rolled back alone and its caller gets the exception.

An event loop, which must not wait, uses `try_run`: its unit runs and commits at
once if no other writer holds the lock (else nothing runs), and the flush is
left to `Committed.settle()`, called from a thread. From the first `try_run` on,
SQLite's automatic checkpoint (inside the COMMIT that crosses its threshold) is
off in that process, and a thread of its own copies the WAL back instead
(`_checkpoint`).
"""

import fcntl
import os
import sqlite3
import threading
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any, Generic, TypeVar, cast

T = TypeVar("T")

# A busy reader never blocks the writer in WAL mode; this only covers checkpoints
# and other processes (the CLI while the service runs).
_BUSY_TIMEOUT_MS = 10_000
# At most this many units share one commit.
_MAX_BATCH = 256


# Page cache per connection, KiB. The writer's holds the indexes every insert
# walks. Each reading thread has its own connection (16 IMAP, 8 POP3, the web's);
# at 64 MiB apiece, random message reads filled them with copies of pages the OS
# caches anyway. bench/imap_bench.py, RSS with 1,000 IDLE connections after the
# other phases: 295 MiB with 64, 258 with 32, 244 with 16, 235 with 8; latencies
# and loops/s the same within the host's noise (web pages too).
WRITER_CACHE_KIB = 65536
READER_CACHE_KIB = 16384


def _connect(path: Path, cache_kib: int) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute(f"PRAGMA busy_timeout={_BUSY_TIMEOUT_MS}")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA temp_store=MEMORY")
    conn.execute(f"PRAGMA cache_size=-{cache_kib}")
    return conn


# The checkpointing thread copies the WAL back into the database after this many
# commits (SQLite's own default, 1,000 pages, is reached after a few hundred
# commits of listing records or deliveries).
CHECKPOINT_COMMITS = 256
# Between checkpoints, the thread copies what the WAL holds ahead of them, beside
# the writers, after this many commits. Each copy ends with a flush of the
# database file, and a commit's flush of the WAL waits behind it: all 256
# commits' frames at once (30-36 MB under bench/web_bench.py's 50 users) took
# 54-77 ms, and each worker's pages waited that long (p99 45-86 ms clusters).
# A copy every 32 commits flushes an eighth of that each time.
COPY_AHEAD_COMMITS = 32
# Before a checkpoint takes the lock, copies follow one another (at most this
# many) until one finds fewer than CATCH_UP_FRAMES new frames: the first copy's
# flush lets the writers append for tens of ms, and the checkpoint under the lock
# copied and flushed those (11-26 ms, every worker's writers waiting); now it
# finds a few frames (under 1 ms).
CATCH_UP_COPIES = 4
CATCH_UP_FRAMES = 64
# After a checkpoint a reader kept from completing, the next try comes this many
# commits later.
CHECKPOINT_RETRY = 16
# Page cache of the checkpointing thread's own connection, KiB (it reads no pages:
# a checkpoint copies frames from the WAL file to the database file).
COPIER_CACHE_KIB = 1024


def _copy_ahead(conn: sqlite3.Connection) -> tuple[int, int]:
    """Copy what the WAL holds into the database (a PASSIVE checkpoint on `conn`,
    which is not the writer's connection) without taking the write lock: writers
    go on meanwhile. The checkpoint made next, as a writer's turn, then copies
    only what they wrote since, and the writers wait for that alone. Under the
    lock for the whole copy, a checkpoint had kept both workers' records (and the
    pages waiting for them) waiting 23-62 ms; with the copy ahead, 0.1-5 ms
    mostly, at most 24 (bench/web_bench.py, --workers 2, 50 users). Returns (WAL
    frames, frames copied back); (0, 0) if it could not run.

    Outside the lock, it can meet another process's checkpoint (one of them
    finds the other busy: its checkpoint is tried again CHECKPOINT_RETRY commits
    later); and a copy that catches up with the writers (at a lull: under load
    they append meanwhile) lets the next writer restart the WAL, as SQLite
    does: at most one such restart a copy, at a lull."""
    try:
        _busy, log, copied = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    except sqlite3.Error:
        return 0, 0
    return int(log), int(copied)


def _catch_up(conn: sqlite3.Connection, copies: int) -> None:
    """Copy ahead (`_copy_ahead`) up to `copies` times, until a copy finds fewer
    than CATCH_UP_FRAMES frames it had not seen (or the WAL has started over)."""
    seen = 0
    for _ in range(copies):
        log, _copied = _copy_ahead(conn)
        if log - seen < CATCH_UP_FRAMES:
            return
        seen = log


def _idle_after(conn: sqlite3.Connection) -> bool:
    """Copy ahead; whether that copy took every frame and none came since (a
    second look: a copy with nothing to do is cheap)."""
    log, copied = _copy_ahead(conn)
    return log > 0 and copied == log and _copy_ahead(conn) == (log, log)


class Committed(Generic[T]):
    """A unit of work written to the WAL by `try_run`, not yet known durable."""

    __slots__ = ("_db", "_hooks", "_ticket", "result")

    def __init__(self, db: "Database", ticket: int, hooks: list[Callable[[], None]], result: T):
        self._db = db
        self._ticket = ticket
        self._hooks = hooks
        self.result = result

    def settle(self) -> None:
        """Block until the commit is durable (flushing it if no one else is) and
        run its after-commit hooks (once); raises the flush's OSError if it
        failed. Only then may `result` be handed out."""
        hooks, self._hooks = self._hooks, []
        self._db._settle(self._ticket, hooks)


class _Unit:
    """A unit of work: a closure (`run`), or a `write()` block (fn is None), which
    only its own thread can run, once it is leader.

    A queued unit's thread sleeps on `_wake` (a lock held from the moment it is
    queued; cheaper than an Event) until the leader has run it or promotes it.
    """

    __slots__ = ("_wake", "error", "fn", "promoted", "result")

    def __init__(self, fn: Callable[[sqlite3.Connection], Any] | None) -> None:
        self.fn = fn
        self.promoted = False  # woken to lead rather than because it is done
        self.result: Any = None
        self.error: BaseException | None = None
        self._wake: threading.Lock | None = None

    def queue(self) -> None:
        self._wake = threading.Lock()
        self._wake.acquire()

    def sleep(self) -> None:
        assert self._wake is not None
        self._wake.acquire()

    def wake(self) -> None:
        if self._wake is not None:
            self._wake.release()


class Database:
    """An SQLite database file in WAL mode: group-committed writes, concurrent reads."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._writer = _connect(path, WRITER_CACHE_KIB)
        self._writer.execute("PRAGMA journal_mode=WAL")
        # The writer's COMMIT only writes the WAL; the leader then fsyncs the WAL
        # itself after handing leadership on, so the next batch runs while this one
        # reaches the disk. A unit still returns only after that fsync: the same
        # guarantee as synchronous=FULL, with the fsync off the connection's path.
        # (SQLite syncs the WAL before every checkpoint in NORMAL mode as well.)
        self._writer.execute("PRAGMA synchronous=NORMAL")
        # SQLite's own checkpoint runs inside the COMMIT that crosses its
        # threshold (10-16 ms). Once an event loop commits here (try_run) it is
        # turned off, and this process's checkpoints are made by a thread of
        # their own (_checkpoints); a process that never does (the CLI) keeps it.
        self._checkpointed = 0  # the commit count at the last checkpoint
        self._copied_at = 0  # the commit count at the last copy ahead
        self._checkpoint_due = threading.Event()
        self._checkpointer: threading.Thread | None = None
        self._wal_fd = -1
        self._lock_fd = os.open(f"{path}.writelock", os.O_RDWR | os.O_CREAT, 0o600)
        self._sync_cond = threading.Condition()
        self._commits = 0  # commits written to the WAL
        self._synced = 0  # commits known durable
        self._syncing = False
        self._local = threading.local()
        # Each reading thread's connection, with its thread: a pool retires idle
        # threads (anyio's after 10 s), and their connections are closed when the
        # next reader is made, not kept for the life of the process.
        self._readers: list[tuple[threading.Thread, sqlite3.Connection]] = []
        self._readers_lock = threading.Lock()
        self._closed = False
        self._before_commit: list[Callable[[sqlite3.Connection], Callable[[], None] | None]] = []
        # Changes whenever what a unit may have cached about the database may stop
        # being true: at every rollback, and at a BEGIN that finds another
        # connection (thread or process) committed since our last transaction
        # (SQLite's data_version). Within one epoch only our own committed units
        # have changed the database.
        self.epoch = 0
        self._data_version = -1
        self._mutex = threading.Lock()
        self._leading = False
        self._waiting: deque[_Unit] = deque()

    # -- units of work ------------------------------------------------------------------

    def _in_unit(self) -> bool:
        return bool(getattr(self._local, "in_unit", False))

    def unit_connection(self) -> sqlite3.Connection | None:
        """The writer's connection when called inside a unit of work, else None."""
        return self._writer if getattr(self._local, "in_unit", False) else None

    def _claim(self, unit: _Unit) -> bool:
        """Become leader now (True), or queue `unit` to be run or promoted (False)."""
        with self._mutex:
            if not self._leading:
                self._leading = True
                return True
            unit.queue()
            self._waiting.append(unit)
            return False

    def run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run `fn(conn)` as one unit of work; return its result once durable.

        Inside another unit it joins that unit and runs at once.
        """
        if self._in_unit():
            return fn(self._writer)
        unit = _Unit(fn)
        if self._claim(unit) or self._promoted(unit):
            self._lead([unit])
        if unit.error is not None:
            raise unit.error
        return cast(T, unit.result)

    def run_each(self, fns: Sequence[Callable[[sqlite3.Connection], T]]) -> list[T | Exception]:
        """Run each of `fns` as its own unit of work, all in one commit: each one's
        result, or the exception it raised (its writes rolled back alone), once the
        commit is durable. A commit or flush that fails raises for all of them.
        """
        return self.run(partial(self._each, fns))

    def _each(
        self, fns: Sequence[Callable[[sqlite3.Connection], T]], conn: sqlite3.Connection
    ) -> list[T | Exception]:
        out: list[T | Exception] = []
        for fn in fns:
            prepares = len(self._before_commit)
            conn.execute("SAVEPOINT each")
            try:
                out.append(fn(conn))
            except Exception as exc:  # noqa: BLE001 - handed back in its place
                self._rollback_to(conn, "each", prepares)
                out.append(exc)
            conn.execute("RELEASE each")
        return out

    def try_run(self, fn: Callable[[sqlite3.Connection], T]) -> "Committed[T] | None":
        """Run `fn(conn)` as one unit of work on the calling thread and commit it,
        without waiting for anything: None, with nothing run, if another thread
        or process is writing. The commit is written, not yet durable: the result
        is handed out only after `settle()`, which blocks (call it elsewhere).
        For an event loop, which must not wait on a lock or the disk."""
        if self._in_unit():
            raise RuntimeError("try_run inside a unit of work")
        with self._mutex:
            if self._leading:
                return None
            self._leading = True
        unit = _Unit(fn)
        conn = self._writer
        try:
            if self._checkpointer is None:
                self._checkpoint_by_thread(conn)
            if not self._begin_now(conn):
                return None
            try:
                self._run_closure(conn, unit)
            except BaseException:
                self._abort(conn)
                raise
            ticket, hooks = self._commit(conn, [unit])
        finally:
            self._hand_off()
        if unit.error is not None:
            raise unit.error
        return Committed(self, ticket, hooks, unit.result)

    def try_run_each(
        self, fns: Sequence[Callable[[sqlite3.Connection], T]]
    ) -> "Committed[list[T | Exception]] | None":
        """`run_each` as `try_run` does it: now, or None."""
        return self.try_run(partial(self._each, fns))

    def _begin_now(self, conn: sqlite3.Connection) -> bool:
        """BEGIN IMMEDIATE if no other writer holds the locks; else False."""
        try:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        try:
            conn.execute("PRAGMA busy_timeout=0")  # a writer outside the file lock
            try:
                conn.execute("BEGIN IMMEDIATE")
            finally:
                conn.execute(f"PRAGMA busy_timeout={_BUSY_TIMEOUT_MS}")
            self._note_version(conn)
        except sqlite3.OperationalError as exc:
            self._abort(conn)
            if exc.sqlite_errorcode == sqlite3.SQLITE_BUSY:
                return False
            raise
        except BaseException:
            self._abort(conn)
            raise
        return True

    def _abort(self, conn: sqlite3.Connection) -> None:
        """Leave a transaction that cannot go on: roll it back, drop its pre-commit
        hooks, release the file lock (other processes' writers wait on it)."""
        self._before_commit = []
        try:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
        finally:
            self.epoch += 1
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)

    def _settle(self, ticket: int, hooks: list[Callable[[], None]]) -> None:
        unit = _Unit(None)
        if not self._sync(ticket, [unit]):
            assert unit.error is not None
            raise unit.error
        for hook in hooks:
            self._after(hook)

    # -- checkpoints ------------------------------------------------------------------

    def _checkpoint_by_thread(self, conn: sqlite3.Connection) -> None:
        """As leader, at the first try_run: SQLite's automatic checkpoint off, this
        process's own checkpointing thread started."""
        conn.execute("PRAGMA wal_autocheckpoint=0")
        self._checkpointed = self._copied_at = self._commits
        self._checkpointer = threading.Thread(
            target=self._checkpoints, name="mailward-checkpoint", daemon=True
        )
        self._checkpointer.start()

    def _checkpoints(self) -> None:
        """The checkpointing thread: a copy ahead each time one is due, and a
        checkpoint (after copies that catch up) each time one is due or the
        writers are found idle."""
        copier: sqlite3.Connection | None = None
        try:
            while True:
                self._checkpoint_due.wait()
                self._checkpoint_due.clear()
                if self._closed:
                    return
                self._copied_at = self._commits
                checkpoint = self._commits - self._checkpointed >= CHECKPOINT_COMMITS
                try:
                    if copier is None:
                        copier = _connect(self.path, COPIER_CACHE_KIB)
                    if checkpoint:
                        _catch_up(copier, CATCH_UP_COPIES)
                    else:
                        # Writers idle (nothing new since the copy began): the
                        # WAL starts over here, not in the next writer, which
                        # could be an event loop (its header's flush).
                        checkpoint = _idle_after(copier)
                except (sqlite3.Error, OSError):
                    # Only a head start: without it the checkpoint copies all of
                    # it under the lock, as before. The thread must not end (the
                    # WAL would grow with no one copying it back).
                    if copier is not None:
                        copier.close()
                    copier = None
                if checkpoint:
                    self._checkpoint()
        finally:
            if copier is not None:
                copier.close()

    def _checkpoint(self) -> None:
        """Copy the WAL back into the database (a PASSIVE checkpoint), as a writer's
        turn: no other writer of this process or (by the file lock) of another
        runs meanwhile, so the copy completes; then write one frame (the schema
        cookie's page) so that the WAL starts over here, where its header's flush
        costs no one (the next writer, which could be an event loop, would
        otherwise pay it). Beside a stream of writers a checkpoint never catches
        up, and the WAL grows without end. Most of the copy has been made before,
        beside the writers (`_copy_ahead`): what is left is what they wrote since."""
        turn = _Unit(None)
        if not self._claim(turn):
            self._promoted(turn)
        conn = self._writer
        try:
            if self._closed:
                return
            # Unless it completes (a reader still on old frames, an error), the
            # next try comes a little later.
            done = self._commits - CHECKPOINT_COMMITS + CHECKPOINT_RETRY
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX)
            try:
                busy, log, copied = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                if busy == 0 and log == copied:
                    version = conn.execute("PRAGMA user_version").fetchone()[0]
                    conn.execute("BEGIN IMMEDIATE")
                    conn.execute(f"PRAGMA user_version={int(version)}")
                    conn.execute("COMMIT")
                    done = self._commits
            except sqlite3.Error:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
            finally:
                self._checkpointed = done
                fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
        finally:
            self._hand_off()

    def _promoted(self, unit: _Unit) -> bool:
        unit.sleep()
        return unit.promoted

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """A unit of work run by the calling thread; durable when the block exits.

        Nested use (inside another unit) joins the outer unit.
        """
        if self._in_unit():
            yield self._writer
            return
        if self._closed:
            raise RuntimeError("database is closed")
        unit = _Unit(None)
        if not self._claim(unit):
            self._promoted(unit)
        conn = self._writer
        try:
            self._begin(conn)
        except BaseException:
            self._hand_off()
            raise
        prepares = len(self._before_commit)
        conn.execute("SAVEPOINT unit")
        self._local.in_unit = True
        failed = True
        try:
            yield conn
            failed = False
        finally:
            self._local.in_unit = False
            try:
                if failed:
                    self._rollback_unit(conn, prepares)
                conn.execute("RELEASE unit")
            except BaseException:
                self._abort(conn)
                self._hand_off()
                raise
            self._lead([unit], begun=True)
        if unit.error is not None:
            raise unit.error

    def _begin(self, conn: sqlite3.Connection) -> None:
        # Writers in other processes (serve --workers, the CLI) queue on a file
        # lock: it wakes the next one the moment it is free, where SQLite's busy
        # handler would poll with sleeps of 1 to 100 ms. Held until COMMIT.
        fcntl.flock(self._lock_fd, fcntl.LOCK_EX)
        try:
            conn.execute("BEGIN IMMEDIATE")
        except BaseException:
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
            raise
        self._note_version(conn)

    def _note_version(self, conn: sqlite3.Connection) -> None:
        version = conn.execute("PRAGMA data_version").fetchone()[0]
        if version != self._data_version:
            self._data_version = version
            self.epoch += 1

    def on_commit(self, prepare: Callable[[sqlite3.Connection], Callable[[], None] | None]) -> None:
        """Inside a unit: run `prepare(conn)` once per batch, inside the transaction
        just before it commits; the callable it returns (if any) runs once the commit
        is durable. Never runs for a unit that is rolled back.
        """
        if not self._in_unit():
            raise RuntimeError("on_commit outside a unit of work")
        if prepare not in self._before_commit:
            self._before_commit.append(prepare)

    # -- leading a batch ------------------------------------------------------------------

    def _lead(self, batch: list[_Unit], *, begun: bool = False) -> None:
        """As leader: run `batch` (and what queues meanwhile), commit, hand off, then
        wait for the commit to be durable and wake the batch."""
        conn = self._writer
        ticket: int = 0
        hooks: list[Callable[[], None]] = []
        try:
            if not begun:
                try:
                    self._begin(conn)
                except sqlite3.Error as exc:  # e.g. another process holds the lock
                    for unit in batch:
                        unit.error = exc
                    return
            try:
                if not begun:
                    for unit in batch:
                        self._run_closure(conn, unit)
                while len(batch) < _MAX_BATCH:
                    with self._mutex:
                        if not self._waiting or self._waiting[0].fn is None:
                            break  # a write() block must run on its own thread: next leader
                        unit = self._waiting.popleft()
                    batch.append(unit)
                    self._run_closure(conn, unit)
            except BaseException as exc:  # noqa: BLE001 - the transaction failed (e.g. disk full)
                self._abort(conn)
                for unit in batch:
                    unit.error = unit.error or exc
            else:
                ticket, hooks = self._commit(conn, batch)
        finally:
            self._hand_off()
            try:
                if ticket and self._sync(ticket, batch):
                    for hook in hooks:
                        self._after(hook)
            finally:
                for unit in batch[1:]:
                    unit.wake()

    @staticmethod
    def _after(hook: Callable[[], None]) -> None:
        try:
            hook()
        except OSError:
            # The data is durable; a hook (the audit head) that cannot write keeps
            # its own state and reports it.
            return

    def _sync(self, ticket: int, batch: list[_Unit]) -> bool:
        """Block until commit number `ticket` is on disk (one fsync may cover many).

        False if the flush failed: every unit of the batch then carries the error.
        """
        with self._sync_cond:
            while self._synced < ticket:
                if self._syncing:
                    self._sync_cond.wait()
                    continue
                self._syncing = True
                target = self._commits
                self._sync_cond.release()
                try:
                    if self._wal_fd < 0:
                        self._wal_fd = os.open(f"{self.path}-wal", os.O_RDONLY)
                    os.fdatasync(self._wal_fd)  # as SQLite does: data and size, not times
                except OSError as exc:
                    for unit in batch:
                        unit.error = unit.error or exc
                    return False
                finally:
                    self._sync_cond.acquire()
                    self._syncing = False
                    self._sync_cond.notify_all()
                self._synced = max(self._synced, target)
        return True

    def _hand_off(self) -> None:
        with self._mutex:
            if self._waiting:
                nxt = self._waiting.popleft()
                nxt.promoted = True
                nxt.wake()
            else:
                self._leading = False

    def _rollback_unit(self, conn: sqlite3.Connection, prepares: int) -> None:
        self._rollback_to(conn, "unit", prepares)

    def _rollback_to(self, conn: sqlite3.Connection, savepoint: str, prepares: int) -> None:
        conn.execute(f"ROLLBACK TO {savepoint}")
        self.epoch += 1
        del self._before_commit[prepares:]

    def _run_closure(self, conn: sqlite3.Connection, unit: _Unit) -> None:
        assert unit.fn is not None
        prepares = len(self._before_commit)
        conn.execute("SAVEPOINT unit")
        self._local.in_unit = True
        try:
            unit.result = unit.fn(conn)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
            unit.error = exc
            self._rollback_unit(conn, prepares)
        finally:
            self._local.in_unit = False
        conn.execute("RELEASE unit")

    def _commit(
        self, conn: sqlite3.Connection, batch: list[_Unit]
    ) -> tuple[int, list[Callable[[], None]]]:
        """COMMIT (written, not yet synced); returns the commit's ticket (0 if it
        failed) and the hooks to run once it is durable."""
        prepares, self._before_commit = self._before_commit, []
        hooks: list[Callable[[], None]] = []
        self._local.in_unit = True
        try:
            for prepare in prepares:
                hook = prepare(conn)
                if hook is not None:
                    hooks.append(hook)
            conn.execute("COMMIT")
        except BaseException as exc:  # noqa: BLE001 - every unit of the batch gets it
            # A failing commit (or pre-commit hook) must never leave the transaction
            # open for the next leader, nor let a unit believe it was stored.
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            self.epoch += 1
            for unit in batch:
                unit.error = unit.error or exc
            return 0, []
        finally:
            self._local.in_unit = False
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
        with self._sync_cond:
            self._commits += 1
            if self._checkpointer is not None and (
                self._commits - self._copied_at >= COPY_AHEAD_COMMITS
                or self._commits - self._checkpointed >= CHECKPOINT_COMMITS
            ):
                self._checkpoint_due.set()
            return self._commits, hooks

    # -- reading ----------------------------------------------------------------------

    def read(self) -> sqlite3.Connection:
        """This thread's read connection (autocommit; each statement sees committed data).

        Inside a unit of work the writer is returned, so the unit sees its own
        uncommitted changes.
        """
        if self._in_unit():
            return self._writer
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = _connect(self.path, READER_CACHE_KIB)
            self._local.conn = conn
            with self._readers_lock:
                alive = []
                for thread, old in self._readers:
                    if thread.is_alive():
                        alive.append((thread, old))
                    else:
                        old.close()
                alive.append((threading.current_thread(), conn))
                self._readers = alive
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

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._checkpointer is not None:
            self._checkpoint_due.set()
            self._checkpointer.join()
        if self._wal_fd >= 0:
            os.close(self._wal_fd)
            self._wal_fd = -1
        os.close(self._lock_fd)
        with self._readers_lock:
            for _thread, conn in self._readers:
                conn.close()
            self._readers.clear()
        self._writer.close()
