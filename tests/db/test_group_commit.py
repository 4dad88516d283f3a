"""The writer: units from many threads share commits, fail alone, and are durable."""

import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import mailward.db.sqlite as sqlite_module
from mailward.db import Database
from mailward.db.sqlite import (
    CATCH_UP_COPIES,
    CATCH_UP_FRAMES,
    CHECKPOINT_COMMITS,
    COPY_AHEAD_COMMITS,
    _catch_up,
    _copy_ahead,
)


def _db(tmp_path: Path) -> Database:
    db = Database(tmp_path / "t.db")
    with db.write() as c:
        c.execute("CREATE TABLE t (k INTEGER PRIMARY KEY, who TEXT)")
    return db


def _failing_commit(db: Database, k: int) -> Callable[[sqlite3.Connection], None]:
    """A unit that inserts `k` and whose batch's commit then fails (a pre-commit
    hook raises)."""

    def broken(c: sqlite3.Connection) -> None:
        raise RuntimeError("hook fails")

    def unit(c: sqlite3.Connection) -> None:
        c.execute("INSERT INTO t (k) VALUES (?)", (k,))
        db.on_commit(broken)

    return unit


def test_concurrent_units_commit_and_a_failing_one_rolls_back_alone(tmp_path: Path) -> None:
    db = _db(tmp_path)
    commits: list[int] = []
    errors: list[BaseException] = []
    threads = 8
    per = 150

    def insert(k: int, fail: bool) -> int:
        def unit(c: sqlite3.Connection) -> int:
            c.execute("INSERT INTO t (k, who) VALUES (?, ?)", (k, threading.current_thread().name))
            if fail:
                raise ValueError(f"unit {k} fails")
            return k

        return db.run(unit)

    def work(n: int) -> None:
        for i in range(per):
            k = n * per + i
            try:
                commits.append(insert(k, fail=k % 37 == 0))
            except ValueError as exc:
                errors.append(exc)

    workers = [threading.Thread(target=work, args=(n,)) for n in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    db.close()

    expected = {k for k in range(threads * per) if k % 37 != 0}
    assert set(commits) == expected
    assert len(errors) == threads * per - len(expected)
    conn = sqlite3.connect(tmp_path / "t.db")  # a fresh reader sees every committed unit
    assert {r[0] for r in conn.execute("SELECT k FROM t")} == expected


def test_write_blocks_nest_and_roll_back(tmp_path: Path) -> None:
    db = _db(tmp_path)
    with db.write() as c:
        c.execute("INSERT INTO t (k) VALUES (1)")
        with db.write() as inner:  # joins the outer unit
            inner.execute("INSERT INTO t (k) VALUES (2)")
        assert db.run(lambda c2: c2.execute("SELECT count(*) FROM t").fetchone()[0]) == 2
    with pytest.raises(RuntimeError), db.write() as c:
        c.execute("INSERT INTO t (k) VALUES (3)")
        raise RuntimeError("abandon")
    assert [r[0] for r in db.read().execute("SELECT k FROM t ORDER BY k")] == [1, 2]
    with pytest.raises(sqlite3.IntegrityError):
        db.run(lambda c: c.execute("INSERT INTO t (k) VALUES (1)"))
    assert db.read().execute("SELECT count(*) FROM t").fetchone()[0] == 2
    db.close()


def test_on_commit_runs_after_durable_commit_never_after_rollback(tmp_path: Path) -> None:
    db = _db(tmp_path)
    seen: list[str] = []

    def prepare(c: sqlite3.Connection) -> object:
        n = c.execute("SELECT count(*) FROM t").fetchone()[0]
        return lambda: seen.append(f"after {n}")

    def good(c: sqlite3.Connection) -> None:
        c.execute("INSERT INTO t (k) VALUES (10)")
        db.on_commit(prepare)  # type: ignore[arg-type]

    def bad(c: sqlite3.Connection) -> None:
        db.on_commit(prepare)  # type: ignore[arg-type]
        raise KeyError("no")

    db.run(good)
    with pytest.raises(KeyError):
        db.run(bad)
    assert seen == ["after 1"]
    with pytest.raises(RuntimeError):
        db.on_commit(prepare)  # type: ignore[arg-type]
    db.close()


def test_run_each_shares_one_commit_and_a_failing_unit_is_undone_alone(tmp_path: Path) -> None:
    db = _db(tmp_path)
    commits: list[int] = []

    def prepare(c: sqlite3.Connection) -> object:
        n = c.execute("SELECT count(*) FROM t").fetchone()[0]
        return lambda: commits.append(n)

    def insert(k: int, fail: bool = False, hook: bool = False) -> Any:
        def unit(c: sqlite3.Connection) -> int:
            c.execute("INSERT INTO t (k) VALUES (?)", (k,))
            if hook:
                db.on_commit(prepare)  # type: ignore[arg-type]
            if fail:
                raise ValueError(f"unit {k} fails")
            return k

        return unit

    out = db.run_each([insert(1, hook=True), insert(2, fail=True, hook=True), insert(3)])
    assert out[0] == 1 and out[2] == 3
    assert isinstance(out[1], ValueError) and str(out[1]) == "unit 2 fails"
    assert [r[0] for r in db.read().execute("SELECT k FROM t ORDER BY k")] == [1, 3]
    assert commits == [2]  # one commit for the batch, after the failed unit was undone
    assert db.run_each([]) == []
    db.close()


def test_run_each_raises_for_all_when_the_commit_fails(tmp_path: Path) -> None:
    db = _db(tmp_path)

    unit = _failing_commit(db, 5)

    with pytest.raises(RuntimeError, match="hook fails"):
        db.run_each([lambda c: c.execute("INSERT INTO t (k) VALUES (4)"), unit])
    assert db.read().execute("SELECT count(*) FROM t").fetchone()[0] == 0
    db.close()


def test_try_run_writes_now_or_runs_nothing_while_another_writer_holds_the_lock(
    tmp_path: Path,
) -> None:
    db = _db(tmp_path)
    other = Database(tmp_path / "t.db")  # another process's writer: its own file lock
    ran: list[int] = []

    def insert(k: int) -> Any:
        def unit(c: sqlite3.Connection) -> int:
            ran.append(k)
            c.execute("INSERT INTO t (k) VALUES (?)", (k,))
            return k

        return unit

    written = db.try_run(insert(1))
    assert written is not None and written.result == 1
    written.settle()
    assert db.read().execute("SELECT k FROM t").fetchall() == [(1,)]
    for key, writer in ((11, db), (12, other)):  # a thread of this process, another process
        inside, release = threading.Event(), threading.Event()

        def hold(
            w: Database = writer,
            key: int = key,
            inside: threading.Event = inside,
            release: threading.Event = release,
        ) -> None:
            with w.write() as c:
                c.execute("INSERT INTO t (k) VALUES (?)", (key,))
                inside.set()
                release.wait(10)

        holder = threading.Thread(target=hold)
        holder.start()
        assert inside.wait(10)
        assert db.try_run(insert(2)) is None
        assert db.try_run_each([insert(3)]) is None
        release.set()
        holder.join()
    assert ran == [1]  # nothing ran while busy
    each = db.try_run_each([insert(4), insert(5)])
    assert each is not None and each.result == [4, 5]
    each.settle()
    assert [r[0] for r in db.read().execute("SELECT k FROM t ORDER BY k")] == [1, 4, 5, 11, 12]
    other.close()
    db.close()


def test_try_run_does_not_wait_for_a_writer_outside_the_file_lock(tmp_path: Path) -> None:
    db = _db(tmp_path)
    outsider = sqlite3.connect(tmp_path / "t.db", isolation_level=None)  # e.g. sqlite3 CLI
    outsider.execute("BEGIN IMMEDIATE")
    started = time.monotonic()
    assert db.try_run(lambda c: c.execute("INSERT INTO t (k) VALUES (1)")) is None
    assert time.monotonic() - started < 1  # not the 10 s busy timeout
    outsider.execute("ROLLBACK")
    outsider.close()
    written = db.try_run(lambda c: c.execute("INSERT INTO t (k) VALUES (2)"))
    assert written is not None
    written.settle()
    assert db.read().execute("SELECT k FROM t").fetchall() == [(2,)]
    db.close()


def test_a_try_run_whose_commit_fails_leaves_the_lock_and_nothing_written(
    tmp_path: Path,
) -> None:
    db = _db(tmp_path)
    other = Database(tmp_path / "t.db")

    unit = _failing_commit(db, 3)

    with pytest.raises(RuntimeError, match="hook fails"):
        db.try_run(unit)
    done = threading.Event()

    def write_elsewhere() -> None:
        other.run(lambda c: c.execute("INSERT INTO t (k) VALUES (4)"))
        done.set()

    threading.Thread(target=write_elsewhere, daemon=True).start()
    assert done.wait(10)  # the file lock was released
    assert db.read().execute("SELECT k FROM t").fetchall() == [(4,)]
    other.close()
    db.close()


def test_the_wal_is_copied_back_and_started_over_by_flushing_threads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    copies: list[tuple[int, int]] = []

    def copy_ahead(conn: sqlite3.Connection) -> tuple[int, int]:
        copies.append(_copy_ahead(conn))
        return copies[-1]

    monkeypatch.setattr(sqlite_module, "_copy_ahead", copy_ahead)
    db = _db(tmp_path)
    wal = tmp_path / "t.db-wal"
    commits = 4 * CHECKPOINT_COMMITS
    each = 0  # what a commit adds to the WAL (before any copy or checkpoint)
    for k in range(commits):
        if k == COPY_AHEAD_COMMITS // 2:
            each = wal.stat().st_size // k
        if k % 2:
            db.run(
                lambda c, k=k: c.execute("INSERT INTO t (k, who) VALUES (?, ?)", (k, "x" * 3000))
            )
        else:  # the event loop's way: written now, flushed by another thread
            for _ in range(2000):  # tried again while the checkpointing thread writes
                written = db.try_run(
                    lambda c, k=k: c.execute(
                        "INSERT INTO t (k, who) VALUES (?, ?)", (k, "x" * 3000)
                    )
                )
                if written is not None:
                    break
                time.sleep(0.0005)
            assert written is not None
            helper = threading.Thread(target=written.settle)  # two flushers, one flush
            helper.start()
            written.settle()
            helper.join()
    # Without checkpoints the WAL would hold every commit's pages. Started over at
    # each (every CHECKPOINT_COMMITS commits, or sooner where the writers were
    # found idle), its file never grows much beyond one period's worth.
    assert each > 4096
    assert wal.stat().st_size < 1.5 * CHECKPOINT_COMMITS * each
    # Each checkpoint was given its head start, beside the writers.
    assert len(copies) >= 3 and all(copied > 0 for _log, copied in copies)
    assert db.read().execute("SELECT count(*) FROM t").fetchone()[0] == commits
    db.close()


def _counting(
    monkeypatch: pytest.MonkeyPatch, after_copy: Callable[[], None] = lambda: None
) -> tuple[list[tuple[int, int]], list[int]]:
    """The copies ahead (their results) and the checkpoints under the lock that
    the checkpointing thread makes from now on; `after_copy` runs after each copy."""
    copies: list[tuple[int, int]] = []
    checkpoints: list[int] = []

    def copy_ahead(conn: sqlite3.Connection) -> tuple[int, int]:
        copies.append(_copy_ahead(conn))
        after_copy()
        return copies[-1]

    checkpoint = Database._checkpoint

    def counted(self: Database) -> None:
        checkpoints.append(1)
        checkpoint(self)

    monkeypatch.setattr(sqlite_module, "_copy_ahead", copy_ahead)
    monkeypatch.setattr(Database, "_checkpoint", counted)
    return copies, checkpoints


def _loop_writes(db: Database, first: int, n: int) -> None:
    """`n` commits the event loop's way (`try_run`, which starts the thread)."""
    for k in range(first, first + n):
        written = db.try_run(
            lambda c, k=k: c.execute("INSERT INTO t (k, who) VALUES (?, ?)", (k, "x" * 3000))
        )
        assert written is not None
        written.settle()


def _wait_for(what: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 10
    while not what() and time.monotonic() < deadline:
        time.sleep(0.005)


def test_the_wal_is_copied_ahead_between_checkpoints(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every COPY_AHEAD_COMMITS commits the thread copies the WAL back, beside the
    writers, so that no flush of the database file holds a checkpoint's worth of
    pages (a commit's flush of the WAL waits behind it). While writers go on (here
    another process's, committing after every copy), the checkpoint under the
    lock still waits for CHECKPOINT_COMMITS."""
    db = _db(tmp_path)
    other = Database(tmp_path / "t.db")  # another process's writer
    written: list[int] = []

    def meanwhile() -> None:
        written.append(1)
        other.run(lambda c: c.execute("INSERT INTO t (k) VALUES (?)", (-len(written),)))

    copies, checkpoints = _counting(monkeypatch, meanwhile)
    for block in range(3):
        _loop_writes(db, 1 + block * COPY_AHEAD_COMMITS, COPY_AHEAD_COMMITS)
        # A copy, and a second look that finds the other writer's frames.
        _wait_for(lambda block=block: len(copies) >= 2 * (block + 1))
        assert len(copies) == 2 * (block + 1), f"copies after {block + 1} rounds: {copies}"
    assert 3 * COPY_AHEAD_COMMITS < CHECKPOINT_COMMITS and checkpoints == []
    assert all(copied == log > 0 for log, copied in copies)  # each copied all it found
    count = db.read().execute("SELECT count(*) FROM t").fetchone()[0]
    assert count == 3 * COPY_AHEAD_COMMITS + len(written)
    other.close()
    db.close()


def test_writers_found_idle_have_the_wal_started_over_by_the_thread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A copy ahead that took every frame, with none come since, is followed by the
    checkpoint on the thread, which starts the WAL over there: not in the next
    writer, which could be an event loop paying the new header's flush."""
    copies, checkpoints = _counting(monkeypatch)
    db = _db(tmp_path)
    _loop_writes(db, 1, COPY_AHEAD_COMMITS)
    _wait_for(lambda: checkpoints != [])
    assert checkpoints == [1] and len(copies) == 2 and copies[0] == copies[1]
    probe = sqlite3.connect(tmp_path / "t.db", isolation_level=None)
    log, _copied = _copy_ahead(probe)  # what the WAL holds now: the restart's frame
    probe.close()
    assert 0 < log < copies[0][0]
    assert db.read().execute("SELECT count(*) FROM t").fetchone()[0] == COPY_AHEAD_COMMITS
    db.close()


@pytest.mark.parametrize(
    ("logs", "copies"),
    [
        ([9000, 9000 + CATCH_UP_FRAMES + 30, 9000 + 2 * CATCH_UP_FRAMES], 3),  # caught up
        ([9000 + i * (CATCH_UP_FRAMES + 1) for i in range(9)], CATCH_UP_COPIES),  # never
        ([9000, 3], 2),  # the WAL started over between two copies
        ([CATCH_UP_FRAMES - 1], 1),  # little to copy in the first place
    ],
)
def test_copies_before_a_checkpoint_stop_once_they_catch_up(
    monkeypatch: pytest.MonkeyPatch, logs: list[int], copies: int
) -> None:
    """Before the checkpoint under the lock, copies follow one another until one
    finds fewer than CATCH_UP_FRAMES new frames (at most CATCH_UP_COPIES), so that
    the writers wait for little more than a flush of those."""
    seen: list[int] = []

    def copy_ahead(conn: sqlite3.Connection) -> tuple[int, int]:
        seen.append(logs[len(seen)])
        return seen[-1], seen[-1]

    monkeypatch.setattr(sqlite_module, "_copy_ahead", copy_ahead)
    conn = sqlite3.connect(":memory:")
    _catch_up(conn, CATCH_UP_COPIES)
    conn.close()
    assert len(seen) == copies


def test_the_copy_ahead_of_a_checkpoint_goes_on_while_another_process_writes(
    tmp_path: Path,
) -> None:
    """The bulk of a checkpoint's copy is made beside the writers: it does not
    wait for the write lock, and another process's writer is not kept from
    committing meanwhile. Only what is written since is left for the checkpoint
    taken as a writer's turn."""
    db = _db(tmp_path)
    other = Database(tmp_path / "t.db")
    for k in range(40):
        written = db.try_run(  # the event loop's way: SQLite's own checkpoint is off
            lambda c, k=k: c.execute("INSERT INTO t (k, who) VALUES (?, ?)", (k, "x" * 3000))
        )
        assert written is not None
        written.settle()
    copier = sqlite3.connect(tmp_path / "t.db", isolation_level=None)
    with other.write() as c:  # another process holds the write lock throughout
        c.execute("INSERT INTO t (k) VALUES (100)")
        log, copied = _copy_ahead(copier)
        assert log >= 40 and copied == log  # every committed frame, none waited for
    other.run(lambda c: c.execute("INSERT INTO t (k) VALUES (101)"))  # it wrote meanwhile
    log_after, copied_after = _copy_ahead(copier)
    assert log_after > log and copied_after == log_after
    assert db.read().execute("SELECT count(*) FROM t").fetchone()[0] == 42
    copier.close()
    other.close()
    db.close()


def test_a_failing_pre_commit_hook_fails_the_batch_and_leaves_no_open_transaction(
    tmp_path: Path,
) -> None:
    db = _db(tmp_path)

    unit = _failing_commit(db, 7)

    with pytest.raises(RuntimeError, match="hook fails"):
        db.run(unit)
    assert db.read().execute("SELECT count(*) FROM t").fetchone()[0] == 0
    db.run(lambda c: c.execute("INSERT INTO t (k) VALUES (8)"))  # the writer still works
    assert db.read().execute("SELECT k FROM t").fetchall() == [(8,)]
    db.close()


def test_a_finished_threads_reader_is_closed_when_the_next_reader_is_made(
    tmp_path: Path,
) -> None:
    # Pools retire idle threads; their read connections must not pile up.
    db = _db(tmp_path)
    made: list[sqlite3.Connection] = []
    first = threading.Thread(target=lambda: made.append(db.read()))
    first.start()
    first.join()
    made[0].execute("SELECT 1")  # still open: no reader made since
    second = threading.Thread(target=lambda: made.append(db.read()))
    second.start()
    second.join()
    with pytest.raises(sqlite3.ProgrammingError):
        made[0].execute("SELECT 1")  # the dead thread's: closed
    made[1].execute("SELECT 1")  # made by a thread now gone too, but not pruned yet
    assert db.read().execute("SELECT count(*) FROM t").fetchone()[0] == 0
    with pytest.raises(sqlite3.ProgrammingError):
        made[1].execute("SELECT 1")  # pruned when this thread made its reader
    db.close()
