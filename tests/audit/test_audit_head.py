"""The signed head: written off the committing thread, never ahead of the log,
never moved back (also not by a second process writing the same file)."""

import os
import time
from pathlib import Path

from mailward.audit.head import Head, HeadPublisher, read_head
from mailward.runtime import AUDIT_HEAD_KEY
from support import build_world


def test_head_follows_the_log_within_moments(tmp_path: Path) -> None:
    w = build_world(tmp_path / "data")
    key = w.rt.keyring.service_key(AUDIT_HEAD_KEY)
    w.deliver("alice", "one")
    last = w.rt.verify_audit().last_seq  # verify flushes: head == tail
    assert read_head(w.rt.head_path, key).seq == last
    w.deliver("alice", "two")
    w.deliver("alice", "three")
    deadline = time.monotonic() + 5
    while read_head(w.rt.head_path, key).seq < last + 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert read_head(w.rt.head_path, key).seq == last + 2  # written by the background thread
    w.rt.close()


def test_head_catches_up_after_every_burst_of_commits(tmp_path: Path) -> None:
    # A long interval: only the first offer is written inline; the thread must
    # write the last of each burst, the later bursts included.
    path, key = tmp_path / "head", os.urandom(32)
    publisher = HeadPublisher(path, key, lambda h: None, interval_s=60.0, trail_s=0.01)
    for burst in range(3):
        for i in range(1, 6):
            publisher.offer(Head(burst * 10 + i, bytes(32), 1))
        deadline = time.monotonic() + 5
        while read_head(path, key).seq < burst * 10 + 5 and time.monotonic() < deadline:
            time.sleep(0.005)
        assert read_head(path, key).seq == burst * 10 + 5
    publisher.close()


def test_head_is_never_moved_back(tmp_path: Path) -> None:
    path, key = tmp_path / "head", os.urandom(32)
    written: list[int] = []
    newer = HeadPublisher(path, key, lambda h: written.append(h.seq))
    older = HeadPublisher(path, key, lambda h: written.append(-h.seq))  # a second process
    newer.offer(Head(12, bytes(32), 1))
    newer.flush()
    older.offer(Head(10, bytes(32), 1))  # slot 0, where 12 lives: must not replace it
    older.flush()
    older.offer(Head(11, bytes(32), 1))
    older.flush()
    assert read_head(path, key).seq == 12
    assert written == [12]
    newer.offer(Head(13, bytes(32), 2))
    newer.close()
    older.close()
    assert read_head(path, key).seq == 13


def test_two_processes_advancing_one_head_file_never_move_it_back(tmp_path: Path) -> None:
    from mailward.audit.head import HeadFile

    path, key = tmp_path / "head", os.urandom(32)
    one, two = HeadFile(path), HeadFile(path)  # two mappings, as two workers have
    assert one.advance(key, Head(10, bytes(32), 1)) == 10
    assert two.advance(key, Head(13, bytes(32), 2)) == 13
    assert one.advance(key, Head(11, bytes(32), 3)) == 13  # older than the file's: kept out
    assert one.advance(key, Head(12, bytes(32), 3)) == 13
    assert read_head(path, key).seq == 13
    assert one.advance(key, Head(14, bytes(32), 4)) == 14
    assert read_head(path, key).seq == two.newest(key) == 14
    one.close()
    two.close()
