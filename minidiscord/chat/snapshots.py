"""SharedReads: connects that arrive while a snapshot read is in flight share the next one.

A connect storm would otherwise read the store once per connect (and, as every connect
creates a user, mostly more than once: see Greeting.snapshot). Each read still serves a
connect exactly: a connect is served only by a read that *started* after it registered, so
everything committed and broadcast before it registered is in that read, as a read of its
own would have it. One read at a time: the connects that register during a read wait for
it to end and then share the read that follows.
"""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import Generic, TypeVar

import trio

from .store.base import Snapshot

T = TypeVar("T")


@dataclass(eq=False, slots=True)
class _Read(Generic[T]):
    """One read, and the users of the connects it serves."""

    users: set[str] = field(default_factory=set)
    done: trio.Event = field(default_factory=trio.Event)
    result: T | None = None
    error: Exception | None = None


class SharedReads(Generic[T]):
    """Single-flight connect reads: ``read`` is given the users of the connects it serves
    (to list each whatever the cut) and its result goes to each of them.

    The first connect to find no read in flight runs the read itself, for every connect
    registered by then; the others wait for it. If that connect is cancelled (its socket
    closed), the read is abandoned and the connects it would have served go on to the next.
    A read that fails fails every connect it serves.
    """

    def __init__(self, read: Callable[[frozenset[str]], Awaitable[T]]) -> None:
        self._read = read
        self._next: _Read[T] = _Read()
        self._in_flight: trio.Event | None = None
        # How many store reads ran, and for how many connects: what sharing saved.
        self.reads = 0
        self.served = 0

    async def read(self, user_id: str) -> T:
        """The result of a read that started after this call began, for ``user_id`` and
        whoever else registered by then (see :func:`for_user`)."""
        while True:
            read = self._next
            read.users.add(user_id)
            while self._in_flight is not None and read is self._next:
                await self._in_flight.wait()
            if read is self._next:
                await self._run(read)
            else:
                await read.done.wait()
            if read.error is not None:
                raise read.error
            if read.result is not None:
                return read.result
            # Its runner was cancelled before it finished: the next read serves us.

    async def _run(self, read: _Read[T]) -> None:
        self._next = _Read()
        self._in_flight = read.done
        try:
            read.result = await self._read(frozenset(read.users))
            self.reads += 1
            self.served += len(read.users)
        except Exception as exc:
            read.error = exc
        finally:
            self._in_flight = None
            read.done.set()


def for_user(snapshot: Snapshot, user_id: str) -> Snapshot:
    """The snapshot as a read for ``user_id`` alone would have listed its users."""
    others = snapshot.outside_cut - {user_id}
    if not others:
        return snapshot
    return replace(
        snapshot,
        users=[u for u in snapshot.users if u.user_id not in others],
        outside_cut=snapshot.outside_cut & {user_id},
    )
