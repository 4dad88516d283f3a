"""Checking a long stretch of the chain quickly: the incident report's first step.

The same checks as `verify` (each record's hash over its body, the body well
formed, its lookup copies equal to the body, sequence, link to the previous
record), without building record objects, and split over worker processes (each
takes a slice of positions on its own read-only connection; each slice's first
record links to the hash the slice before it checks). A slice with a problem is
walked again by `verify_window` to name the first broken record exactly.
"""

import hashlib
import sqlite3
from concurrent.futures import Future, ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

_CHUNK = 50_000
_FIELDS = 15
PARALLEL_FROM = 200_000  # records; below this one process is quicker than starting more


def check_slice(db_path: str, start: int, end: int) -> int | None:
    """Check records at positions [start, end) and the link into `start`; returns
    the first position of a slice found broken (start), or None when intact.

    Byte-level: the body's text is not decoded (a body that is not UTF-8 but
    hashes, links and stands under the signed head was written by the writer,
    which writes UTF-8 only); a row whose columns are not the types the writer
    stores counts as broken, and `verify_window` then names it."""
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        prev = _hash_before(conn, start)
        if prev is None:
            return start
        expected, after, sha = start, start - 1, hashlib.sha256
        while after + 1 < end:
            rows = conn.execute(
                "SELECT pos, at_us, others_owner, body, hash FROM audit_log"
                " WHERE pos > ? AND pos < ? ORDER BY pos LIMIT ?",
                (after, end, _CHUNK),
            ).fetchall()
            if not rows:
                return start
            for pos, at_us, others, body, digest in rows:
                if pos != expected or body[-32:] != prev or sha(body).digest() != digest:
                    return start
                fields = body[:-33].split(b"\x00", 13)
                if len(fields) != 14 or body[-33] != 0 or fields[0] != b"2":
                    return start
                if int(fields[1]) != pos or int(fields[2]) != at_us:
                    return start
                owner, actor = fields[7], fields[3]
                if actor != owner and fields[12] != b"deliver":
                    if others is None or others.encode() != owner:
                        return start
                elif others is not None:
                    return start
                prev, expected = digest, expected + 1
            after = rows[-1][0]
        return None if expected == end else start
    except (ValueError, TypeError, AttributeError, sqlite3.Error):
        return start
    finally:
        conn.close()


def _hash_before(conn: sqlite3.Connection, start: int) -> bytes | None:
    if start <= 1:
        return bytes(32)
    row = conn.execute(
        "SELECT CAST(hash AS BLOB) FROM audit_log WHERE pos = ?", (start - 1,)
    ).fetchone()
    return None if row is None else bytes(row[0])


class Checks:
    """The check of [start, end) in slices, run by `workers` processes; whoever
    calls `result` takes over the slices no worker has started yet."""

    def __init__(self, db_path: Path, start: int, end: int, workers: int, slices: int) -> None:
        self.db_path = str(db_path)
        size = max(1, (end - start + slices - 1) // slices)
        self.bounds = [(a, min(a + size, end)) for a in range(start, end, size)]
        self._pool = ProcessPoolExecutor(workers, mp_context=get_context("spawn"))
        self._futures: list[Future[int | None]] = [
            self._pool.submit(check_slice, self.db_path, a, b) for a, b in self.bounds
        ]

    def result(self) -> int | None:
        """The first position of the first broken slice, or None: all intact."""
        broken: list[int | None] = []
        for (a, b), f in reversed(list(zip(self.bounds, self._futures, strict=True))):
            if f.cancel():  # not started: check it here rather than wait
                broken.append(check_slice(self.db_path, a, b))
        broken += [f.result() for f in self._futures if not f.cancelled()]
        self._pool.shutdown(wait=False)
        found = [b for b in broken if b is not None]
        return min(found) if found else None
