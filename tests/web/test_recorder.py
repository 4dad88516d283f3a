"""The web's recorder: pages of one turn share a batch; each gets its own result."""

import asyncio
import threading
from collections.abc import Callable, Sequence
from typing import Any

import anyio
import pytest

from mailward.access import Pending
from mailward.web.recorder import Recorder


class Units:
    """Stands in for the store's each_atomically: runs each completion, keeps
    each one's exception in its place, and notes the batches it was given."""

    def __init__(self) -> None:
        self.batches: list[int] = []
        self.gate = threading.Event()
        self.gate.set()
        self.entered = threading.Event()

    def __call__(self, fns: Sequence[Callable[[], Any]]) -> list[Any]:
        self.batches.append(len(fns))
        self.entered.set()
        self.gate.wait(10)
        out: list[Any] = []
        for fn in fns:
            try:
                out.append(fn())
            except Exception as exc:  # as each_atomically does
                out.append(exc)
        return out


def page(units: Units, value: str, written: list[str], fail: bool = False) -> Pending[str]:
    def finish(early: str | None) -> str:
        if fail:
            raise OSError(f"no record for {early}")
        written.append(str(early))
        return str(early)

    return Pending(finish, value, units)


def recorder(batches: int) -> Recorder:
    return Recorder(batches, anyio.CapacityLimiter(batches))


def test_the_pages_of_one_turn_share_a_batch_and_each_gets_its_own() -> None:
    units, written = Units(), []

    async def main() -> list[Any]:
        r = recorder(2)
        pages = [page(units, f"p{i}", written, fail=i == 3) for i in range(6)]
        return await asyncio.gather(*(r.complete(p) for p in pages), return_exceptions=True)

    results = asyncio.run(main())
    assert units.batches == [6]
    assert results[:3] == ["p0", "p1", "p2"] and results[4:] == ["p4", "p5"]
    assert isinstance(results[3], OSError) and str(results[3]) == "no record for p3"
    assert written == ["p0", "p1", "p2", "p4", "p5"]


def test_pages_arriving_while_the_batches_are_in_flight_gather_into_the_next() -> None:
    units, written = Units(), []
    units.gate.clear()

    async def main() -> list[str]:
        r = recorder(1)
        first = asyncio.ensure_future(r.complete(page(units, "a", written)))
        await asyncio.to_thread(units.entered.wait, 10)  # the first batch is writing
        later = [asyncio.ensure_future(r.complete(page(units, f"b{i}", written))) for i in range(4)]
        for _ in range(5):
            await asyncio.sleep(0)
        assert units.batches == [1]  # held: the one batch allowed is in flight
        units.gate.set()
        return [await first] + [await f for f in later]

    assert asyncio.run(main()) == ["a", "b0", "b1", "b2", "b3"]
    assert units.batches == [1, 4]


def test_a_page_whose_request_went_away_is_still_recorded() -> None:
    units, written = Units(), []
    units.gate.clear()

    async def main() -> str:
        r = recorder(1)
        gone = asyncio.ensure_future(r.complete(page(units, "gone", written)))
        kept = asyncio.ensure_future(r.complete(page(units, "kept", written)))
        await asyncio.to_thread(units.entered.wait, 10)
        gone.cancel()
        units.gate.set()
        with pytest.raises(asyncio.CancelledError):
            await gone
        return await kept

    assert asyncio.run(main()) == "kept"
    assert written == ["gone", "kept"] and units.batches == [2]
