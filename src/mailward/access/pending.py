"""A door call in two steps, for an event loop that must not wait on the disk."""

from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")
U = TypeVar("U")


class Pending(Generic[T]):
    """What a door call hands out once its access is recorded.

    The call has read what it will hand out on the caller's thread and, when
    `opened`, unsealed it. `complete()` does the rest, blocking: it opens what was
    left, writes the access's record durably, and only then returns the result.
    Nothing of the result is handed out before that.
    """

    __slots__ = ("_early", "_finish")

    def __init__(self, finish: Callable[[T | None], T], early: T | None = None) -> None:
        """`finish(early)` records the access and returns the result; `early`: the
        result, when it was made at the call (else `finish` makes it)."""
        self._finish = finish
        self._early = early

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
        """The same call, with `also(result)` run once it is recorded, before
        `complete` returns (the web's witness stamps the result there)."""
        finish = self._finish

        def finished(early: T | None) -> T:
            result = finish(early)
            also(result)
            return result

        return Pending(finished, self._early)

    def shaped(self, shape: Callable[[T], U]) -> "Pending[U]":
        """The result shaped by `shape` (the page rendered): now, on this thread,
        when the result is at hand, else at completion. Either way `complete`
        hands the shape out only once the access is recorded; `shape` must keep
        what it is given to itself. What `then` adds afterwards sees the shape,
        not the result: the witness's stamp is added by the door's wrapper first."""
        finish, early = self._finish, self._early
        if early is None:
            return Pending(lambda _none: shape(finish(None)))
        made = shape(early)

        def recorded(shape_made: U | None) -> U:
            finish(early)
            assert shape_made is not None
            return shape_made

        return Pending(recorded, made)
