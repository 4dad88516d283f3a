"""The signed head: written off the committing thread, never ahead of the log,
never moved back (also not by a second process writing the same file)."""

import os
import time
from pathlib import Path

import pytest

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


def test_a_forged_newer_slot_is_not_taken_and_a_known_one_is_not_rechecked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mailward.audit import head as head_module
    from mailward.audit.head import SLOT_BYTES, HeadFile, encode_slot

    checked: list[int] = []
    real_slot = head_module._slot

    def counted(key: bytes, data: bytes) -> Head | None:
        checked.append(1)
        return real_slot(key, data)

    monkeypatch.setattr(head_module, "_slot", counted)
    path, key = tmp_path / "head", os.urandom(32)
    head = HeadFile(path)
    assert head.advance(key, Head(20, bytes(32), 1)) == 20
    checked.clear()
    assert head.newest(key, above=20) == 20 and checked == []  # seq 20 and a blank slot
    # Someone without the key writes a slot claiming seq 99 into the other slot.
    forged = encode_slot(os.urandom(32), Head(99, bytes(32), 2))
    with path.open("r+b") as f:
        f.seek(SLOT_BYTES)
        f.write(forged)
    assert head.newest(key, above=20) == 20 and len(checked) == 1  # checked and refused
    assert head.advance(key, Head(21, bytes(32), 3), known=20) == 21  # not blocked by it
    assert read_head(path, key).seq == 21
    # A slot in another form (not encode_slot's) is checked in full, not skipped.
    with path.open("r+b") as f:
        f.seek(0)
        f.write(b'{ "seq": 500 }'.ljust(SLOT_BYTES - 1) + b"\n")
    checked.clear()
    assert head.newest(key, above=21) == 21 and len(checked) == 1
    head.close()


def test_the_head_file_is_synced_once_commits_pause_not_at_every_wake(tmp_path: Path) -> None:
    from mailward.audit.head import HeadFile

    syncs: list[float] = []
    real_sync = HeadFile.sync

    def counted(self: HeadFile) -> None:
        syncs.append(time.monotonic())
        real_sync(self)

    path, key = tmp_path / "head", os.urandom(32)
    publisher = HeadPublisher(path, key, lambda h: None, interval_s=60.0, trail_s=0.02, sync_s=60.0)
    publisher._file.sync = counted.__get__(publisher._file)  # type: ignore[method-assign]
    seq = 0
    end = time.monotonic() + 0.4  # twenty trail periods of steady commits
    while time.monotonic() < end:
        seq += 1
        publisher.offer(Head(seq, bytes(32), 1))
        time.sleep(0.001)
    during = len(syncs)
    # The thread kept the head moving while commits went on...
    assert read_head(path, key).seq > 1
    deadline = time.monotonic() + 5
    while (len(syncs) == during or read_head(path, key).seq < seq) and time.monotonic() < deadline:
        time.sleep(0.005)
    # ...synced it once they paused, and not at each of its twenty wakes before.
    assert read_head(path, key).seq == seq
    assert len(syncs) > during
    assert during <= 5
    publisher.close()
