"""The web's recorder: pages of one turn share a batch; each gets its own result.

The store here is a stand-in that notes how it was asked (the real store's
batches are tested in tests/db and tests/access)."""

import asyncio
import threading
from collections.abc import Callable, Sequence
from typing import Any

import anyio
import pytest

from mailward.access import Pending
from mailward.web import recorder as recorder_module
from mailward.web.recorder import Recorder


def _each(fns: Sequence[Callable[[], Any]]) -> list[Any]:
    out: list[Any] = []
    for fn in fns:
        try:
            out.append(fn())
        except Exception as exc:  # as each_atomically does
            out.append(exc)
    return out


class Written:
    def __init__(self, store: "Store", result: list[Any]) -> None:
        self.store, self.result = store, result

    def settle(self) -> None:
        self.store.settling.set()
        self.store.gate.wait(10)
        self.store.settled += 1
        if self.store.flush_fails:
            raise OSError("flush failed")


class Store:
    """Writes on the caller's thread when not `busy`, as try_each_atomically does;
    else in a thread (each_atomically)."""

    def __init__(self, busy: bool = False) -> None:
        self.busy = busy
        self.flush_fails = False
        self.tries = 0
        self.on_loop: list[int] = []  # batch sizes written by the loop
        self.in_thread: list[int] = []  # batch sizes written by a thread
        self.settled = 0
        self.gate, self.settling = threading.Event(), threading.Event()
        self.gate.set()

    def each_atomically(self, fns: Sequence[Callable[[], Any]]) -> list[Any]:
        self.in_thread.append(len(fns))
        return _each(fns)

    def try_each_atomically(self, fns: Sequence[Callable[[], Any]]) -> Written | None:
        self.tries += 1
        if self.busy:
            return None
        self.on_loop.append(len(fns))
        return Written(self, _each(fns))


def page(store: Store, value: str, written: list[str], fail: bool = False) -> Pending[str]:
    def finish(early: str | None) -> str:
        if fail:
            raise ValueError(f"no record for {early}")
        written.append(str(early))
        return str(early)

    return Pending(finish, value, store)


def recorder(batches: int) -> Recorder:
    return Recorder(batches, anyio.CapacityLimiter(batches))


def test_the_pages_of_one_turn_share_a_batch_written_by_the_loop() -> None:
    store, written = Store(), []

    async def main() -> list[Any]:
        r = recorder(2)
        pages = [page(store, f"p{i}", written, fail=i == 3) for i in range(6)]
        return await asyncio.gather(*(r.complete(p) for p in pages), return_exceptions=True)

    results = asyncio.run(main())
    assert store.on_loop == [6] and store.in_thread == [] and store.settled == 1
    assert results[:3] == ["p0", "p1", "p2"] and results[4:] == ["p4", "p5"]
    assert isinstance(results[3], ValueError) and str(results[3]) == "no record for p3"
    assert written == ["p0", "p1", "p2", "p4", "p5"]


def test_nothing_is_handed_out_before_the_flush_and_a_failed_flush_fails_the_batch() -> None:
    store, written = Store(), []
    store.gate.clear()
    store.flush_fails = True

    async def main() -> list[Any]:
        r = recorder(2)
        tasks = [asyncio.ensure_future(r.complete(page(store, f"p{i}", written))) for i in range(3)]
        assert await asyncio.to_thread(store.settling.wait, 10)
        for _ in range(5):
            await asyncio.sleep(0)
        assert not any(t.done() for t in tasks)  # written, not yet durable: held
        store.gate.set()
        return await asyncio.gather(*tasks, return_exceptions=True)

    results = asyncio.run(main())
    assert written == ["p0", "p1", "p2"]
    assert all(isinstance(r, OSError) for r in results)


def test_pages_arriving_while_the_batches_are_in_flight_gather_into_the_next() -> None:
    store, written = Store(), []
    store.gate.clear()

    async def main() -> list[str]:
        r = recorder(1)
        first = asyncio.ensure_future(r.complete(page(store, "a", written)))
        assert await asyncio.to_thread(store.settling.wait, 10)  # the one batch allowed
        later = [asyncio.ensure_future(r.complete(page(store, f"b{i}", written))) for i in range(4)]
        for _ in range(5):
            await asyncio.sleep(0)
        assert store.on_loop == [1]  # held until the batch in flight is done
        store.gate.set()
        return [await first] + [await f for f in later]

    assert asyncio.run(main()) == ["a", "b0", "b1", "b2", "b3"]
    assert store.on_loop == [1, 4]


def test_a_busy_writer_is_tried_again_then_the_batch_waits_its_turn_in_a_thread(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(recorder_module, "RETRY_FOR_S", 0.01)
    store, written = Store(busy=True), []

    async def main() -> list[str]:
        r = recorder(2)
        return list(await asyncio.gather(*(r.complete(page(store, c, written)) for c in "xyz")))

    assert asyncio.run(main()) == ["x", "y", "z"]
    assert store.tries >= 2 and store.on_loop == [] and store.in_thread == [3]
    assert written == ["x", "y", "z"] and store.settled == 0


def test_a_page_whose_request_went_away_is_still_recorded() -> None:
    store, written = Store(), []
    store.gate.clear()

    async def main() -> str:
        r = recorder(1)
        first = asyncio.ensure_future(r.complete(page(store, "first", written)))
        assert await asyncio.to_thread(store.settling.wait, 10)
        gone = asyncio.ensure_future(r.complete(page(store, "gone", written)))
        kept = asyncio.ensure_future(r.complete(page(store, "kept", written)))
        await asyncio.sleep(0)
        gone.cancel()
        store.gate.set()
        with pytest.raises(asyncio.CancelledError):
            await gone
        await first
        return await kept

    assert asyncio.run(main()) == "kept"
    assert written == ["first", "gone", "kept"] and store.on_loop == [1, 2]


def test_a_page_not_opened_at_the_call_is_completed_alone_in_a_thread() -> None:
    store = Store()

    async def main() -> str:
        return await recorder(2).complete(Pending(lambda _none: "late", None, store))

    assert asyncio.run(main()) == "late"
    assert store.tries == 0 and store.on_loop == [] and store.in_thread == []
