"""Sequencer: lets concurrent senders publish in the order they were stored.

Each sender takes a ticket *before* its store call (in the same synchronous step as the
call, so the store sees calls in ticket order and numbers messages the same way), awaits the
store, then waits for its turn to broadcast. Unlike one lock around store-and-broadcast, the
store calls themselves may overlap, so a backend can group many commits into one.
"""

import trio


class Sequencer:
    def __init__(self) -> None:
        self._taken = 0
        self._released = 0
        self._waiters: dict[int, trio.Event] = {}

    @property
    def in_flight(self) -> int:
        """Tickets taken and not yet released."""
        return self._taken - self._released

    def take(self) -> int:
        ticket = self._taken
        self._taken += 1
        return ticket

    def due(self, ticket: int) -> bool:
        """Every earlier ticket is released: :meth:`wait` would return at once."""
        return ticket == self._released

    async def wait(self, ticket: int) -> None:
        """Until every earlier ticket is released. Callers shield this: a ticket abandoned
        without release would stop every later one."""
        if ticket != self._released:
            await self._waiters.setdefault(ticket, trio.Event()).wait()

    def release(self, ticket: int) -> None:
        if ticket != self._released:
            raise RuntimeError(f"ticket {ticket} released out of turn (serving {self._released})")
        self._released += 1
        waiter = self._waiters.pop(self._released, None)
        if waiter is not None:
            waiter.set()
