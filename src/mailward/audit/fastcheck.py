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
    the first position of a slice found broken (start), or None when intact."""
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        prev = _hash_before(conn, start)
        if prev is None:
            return start
        expected, after, sha = start, start - 1, hashlib.sha256
        while after + 1 < end:
            rows = conn.execute(
                "SELECT pos, at_us, CAST(others_owner AS BLOB), CAST(body AS BLOB),"
                " CAST(hash AS BLOB) FROM audit_log WHERE pos > ? AND pos < ? ORDER BY pos"
                " LIMIT ?",
                (after, end, _CHUNK),
            ).fetchall()
            if not rows:
                return start
            for pos, at_us, others, body, digest in rows:
                if (
                    pos != expected
                    or len(body) < 33
                    or body[-33] != 0
                    or body[-32:] != prev
                    or sha(body).digest() != digest
                ):
                    return start
                fields = body[:-33].split(b"\x00")
                if len(fields) != _FIELDS or fields[0] != b"2" or int(fields[1]) != pos:
                    return start
                if int(fields[2]) != at_us:
                    return start
                owner, actor = fields[7], fields[3]
                copy = owner if actor != owner and fields[12] != b"deliver" else None
                if others != copy:
                    return start
                body[:-33].decode("utf-8")  # raises on non-UTF-8 text: caught below
                prev, expected = digest, expected + 1
            after = rows[-1][0]
        return None if expected == end else start
    except (ValueError, UnicodeDecodeError):
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


def start_checks(db_path: Path, start: int, end: int, workers: int) -> list[Future[int | None]]:
    """Check [start, end) in `workers` processes; the futures give broken slices."""
    size = max(1, (end - start + workers - 1) // workers)
    pool = ProcessPoolExecutor(workers, mp_context=get_context("spawn"))
    futures = [
        pool.submit(check_slice, str(db_path), a, min(a + size, end))
        for a in range(start, end, size)
    ]
    pool.shutdown(wait=False)
    return futures
