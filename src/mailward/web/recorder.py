"""Pages handed out together: their access records written in one commit.

A page read and rendered on the event loop is held until its record is durable.
The pages ready in one turn of the loop are recorded as one batch: each page's
record in a unit of its own, all in one commit. The loop writes the batch
itself when the writer is free (`try_complete_together`: a few hundred µs of
work, no lock waited for), and only the flush, which waits on the disk, goes
to a thread; the pages are sent when it returns. When another writer holds the
lock the loop tries again shortly, and after RETRY_FOR_S hands the whole batch
to a thread (`complete_together`), which waits its turn.

Why not a thread for every page's record, as before: each such thread waited
for the interpreter lock behind the busy loop at every SQLite call it made, and
a batch of a few pages took 10-30 ms (median) to record instead of about 1.
While `batches` are in flight, further pages gather into the next.
"""

import asyncio
from collections.abc import Awaitable
from typing import Any, TypeVar

import anyio
import anyio.to_thread

from mailward.access import Pending, complete_together, try_complete_together

T = TypeVar("T")

RETRY_EVERY_S = 0.0005
RETRY_FOR_S = 0.02

_Batch = list[tuple[Pending[Any], "asyncio.Future[Any]"]]


class Recorder:
    """Completes pendings in batches, at most `batches` at a time (per event loop)."""

    def __init__(self, batches: int, places: anyio.CapacityLimiter) -> None:
        self._free = batches
        self._places = places
        self._waiting: _Batch = []
        self._busy_since: float | None = None  # when the writer was first found busy
        self._retry: asyncio.TimerHandle | None = None
        self._writing: set[asyncio.Task[None]] = set()

    async def complete(self, pending: Pending[T]) -> T:
        """`pending.complete()`, sharing a commit with the pages of this turn."""
        if not pending.opened:  # it may refuse: alone, in a thread
            (result,) = await anyio.to_thread.run_sync(
                complete_together, [pending], limiter=self._places
            )
            if isinstance(result, Exception):
                raise result
            return result
        loop = asyncio.get_running_loop()
        done: asyncio.Future[T] = loop.create_future()
        self._waiting.append((pending, done))
        if len(self._waiting) == 1 and self._retry is None:
            loop.call_soon(self._start)  # once this turn's other pages have joined
        return await done

    def _retried(self) -> None:
        self._retry = None
        self._start()

    def _start(self) -> None:
        if not self._waiting or self._free == 0 or self._retry is not None:
            return  # a batch in flight, or a retry due, starts the next
        loop = asyncio.get_running_loop()
        batch = self._waiting
        try:
            written = try_complete_together([p for p, _ in batch])
        except Exception as exc:  # noqa: BLE001 - the commit failed: none is recorded
            self._waiting, self._busy_since = [], None
            _hand_out(batch, [exc] * len(batch))
            return
        except BaseException:
            self._waiting, self._busy_since = [], None
            for _, done in batch:
                done.cancel()
            raise
        if written is None:
            now = loop.time()
            if self._busy_since is None:
                self._busy_since = now
            if now - self._busy_since < RETRY_FOR_S:
                self._retry = loop.call_later(RETRY_EVERY_S, self._retried)
                return
        self._waiting, self._busy_since = [], None
        self._free -= 1
        work: Awaitable[list[Any]]
        if written is None:
            work = anyio.to_thread.run_sync(
                complete_together, [p for p, _ in batch], limiter=self._places
            )
        else:
            results = written.result

            async def settled() -> list[Any]:
                await anyio.to_thread.run_sync(written.settle, limiter=self._places)
                return results

            work = settled()
        task = loop.create_task(self._finish(batch, work))
        self._writing.add(task)
        task.add_done_callback(self._writing.discard)

    async def _finish(self, batch: _Batch, work: Awaitable[list[Any]]) -> None:
        results: list[Any]
        try:
            # Not cancellable: a batch started is recorded, even at shutdown.
            results = await work
        except Exception as exc:  # noqa: BLE001 - every page of the batch gets it
            results = [exc] * len(batch)
        finally:
            self._free += 1
        _hand_out(batch, results)
        self._start()


def _hand_out(batch: _Batch, results: list[Any]) -> None:
    for (_, done), result in zip(batch, results, strict=True):
        if done.done():  # the request went away meanwhile
            continue
        if isinstance(result, Exception):
            done.set_exception(result)
        else:
            done.set_result(result)
