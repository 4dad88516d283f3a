"""Pages handed out together: their access records written in one commit.

A page read and rendered on the event loop is held until its record is durable.
Sending each page's record to a thread of its own cost a thread hop per page,
and each hop's thread then waited for the interpreter lock behind the loop at
every SQLite call it made. Here the pages ready in one turn of the loop go to
one thread as one batch (`complete_together`: one commit and one flush for all),
and come back with one wake of the loop. While `batches` are in flight, further
pages gather into the next.
"""

import asyncio
from typing import Any, TypeVar

import anyio
import anyio.to_thread

from mailward.access import Pending, complete_together

T = TypeVar("T")


class Recorder:
    """Completes pendings in batches, at most `batches` at a time (per event loop)."""

    def __init__(self, batches: int, places: anyio.CapacityLimiter) -> None:
        self._free = batches
        self._places = places
        self._waiting: list[tuple[Pending[Any], asyncio.Future[Any]]] = []
        self._writing: set[asyncio.Task[None]] = set()

    async def complete(self, pending: Pending[T]) -> T:
        """`pending.complete()`, sharing a commit with the pages of this turn."""
        loop = asyncio.get_running_loop()
        done: asyncio.Future[T] = loop.create_future()
        self._waiting.append((pending, done))
        if len(self._waiting) == 1:
            loop.call_soon(self._start)  # once this turn's other pages have joined
        return await done

    def _start(self) -> None:
        if not self._waiting or self._free == 0:
            return  # a batch in flight starts the next when it ends
        batch, self._waiting = self._waiting, []
        self._free -= 1
        task = asyncio.get_running_loop().create_task(self._write(batch))
        self._writing.add(task)
        task.add_done_callback(self._writing.discard)

    async def _write(self, batch: list[tuple[Pending[Any], asyncio.Future[Any]]]) -> None:
        results: list[Any]
        try:
            # Not cancellable: a batch started is recorded, even at shutdown.
            results = await anyio.to_thread.run_sync(
                complete_together, [p for p, _ in batch], limiter=self._places
            )
        except Exception as exc:  # noqa: BLE001 - every page of the batch gets it
            results = [exc] * len(batch)
        finally:
            self._free += 1
        for (_, done), result in zip(batch, results, strict=True):
            if done.done():  # the request went away meanwhile
                continue
            if isinstance(result, Exception):
                done.set_exception(result)
            else:
                done.set_result(result)
        self._start()
