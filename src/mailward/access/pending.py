"""A door call in two steps, for an event loop that must not wait on the disk."""

from collections.abc import Callable, Sequence
from typing import Any, Generic, Protocol, TypeVar

from mailward.store import Committed

T = TypeVar("T")
U = TypeVar("U")


class Units(Protocol):
    """Runs closures as units of work sharing one commit (the MailStore's way)."""

    def each_atomically(self, fns: Sequence[Callable[[], Any]]) -> list[Any]: ...

    def try_each_atomically(
        self, fns: Sequence[Callable[[], Any]]
    ) -> Committed[list[Any]] | None: ...


class Pending(Generic[T]):
    """What a door call hands out once its access is recorded.

    The call has read what it will hand out on the caller's thread and, when
    `opened`, unsealed it. `complete()` does the rest, blocking: it opens what was
    left, writes the access's record durably, and only then returns the result.
    Nothing of the result is handed out before that.
    """

    __slots__ = ("_early", "_finish", "_units")

    def __init__(
        self, finish: Callable[[T | None], T], early: T | None = None, units: Units | None = None
    ) -> None:
        """`finish(early)` records the access and returns the result; `early`: the
        result, when it was made at the call (else `finish` makes it); `units`:
        the store, which can run several completions in one commit."""
        self._finish = finish
        self._early = early
        self._units = units

    @property
    def opened(self) -> bool:
        """The result was made at the call: it was small enough to read and open
        there, and nothing was refused (a refusal is recorded by `complete`)."""
        return self._early is not None

    def complete(self) -> T:
        """Record the access durably, then return the result (run it off the event
        loop: it waits for the write lock, other commits and the flush)."""
        return self._finish(self._early)

    def then(self, also: Callable[[T], None]) -> "Pending[T]":
        """The same call, with `also(result)` run once its record is written,
        before `complete` returns (the web's witness stamps the result there;
        completed with others, before their shared commit)."""
        finish = self._finish

        def finished(early: T | None) -> T:
            result = finish(early)
            also(result)
            return result

        return Pending(finished, self._early, self._units)

    def shaped(self, shape: Callable[[T], U]) -> "Pending[U]":
        """The result shaped by `shape` (the page rendered): now, on this thread,
        when the result is at hand, else at completion. Either way `complete`
        hands the shape out only once the access is recorded; `shape` must keep
        what it is given to itself. What `then` adds afterwards sees the shape,
        not the result: the witness's stamp is added by the door's wrapper first."""
        finish, early = self._finish, self._early
        if early is None:
            return Pending(lambda _none: shape(finish(None)), None, self._units)
        made = shape(early)

        def recorded(shape_made: U | None) -> U:
            finish(early)
            assert shape_made is not None
            return shape_made

        return Pending(recorded, made, self._units)


def complete_together(pendings: Sequence[Pending[T]]) -> list[T | Exception]:
    """`complete()` each: the opened ones of one store as units of work sharing one
    commit and flush (a record's commit paid once for many pages), the others
    alone (one that was not opened may refuse: the refusal's record must stay,
    where a unit that raises is undone). Each gets its result or the exception
    its completion raised; a failed commit or flush is every sharer's exception.
    Blocking: run it off the event loop."""
    groups: dict[Units, list[int]] = {}
    out: list[T | Exception] = [Exception()] * len(pendings)
    for i, pending in enumerate(pendings):
        if pending.opened and pending._units is not None:
            groups.setdefault(pending._units, []).append(i)
            continue
        try:
            out[i] = pending.complete()
        except Exception as exc:  # noqa: BLE001 - handed back in its place
            out[i] = exc
    for units, members in groups.items():
        try:
            done = units.each_atomically([pendings[i].complete for i in members])
        except Exception as exc:  # noqa: BLE001 - the commit failed: none is recorded
            done = [exc] * len(members)
        for i, result in zip(members, done, strict=True):
            out[i] = result
    return out


def try_complete_together(pendings: Sequence[Pending[T]]) -> Committed[list[T | Exception]] | None:
    """`complete_together` on the calling thread, an event loop's, without waiting:
    for opened pendings of one store only, each in a unit of its own, all in one
    commit, written but not yet durable. Hand nothing out before the returned
    `settle()` (which blocks: run it elsewhere) has returned. None, with nothing
    done, if the writer is busy or a pending is not such (complete_together
    those)."""
    units = pendings[0]._units if pendings else None
    if units is None or any(not p.opened or p._units is not units for p in pendings):
        return None
    return units.try_each_atomically([p.complete for p in pendings])
