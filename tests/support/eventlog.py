"""What a test client received, in arrival order, and waiting on it.

Shared by the in-process chat client (``chatclient``) and the one that runs as a process on
another simulated host (``remotechat``), so a test reads both the same way.
"""

from collections.abc import Callable
from typing import Any

import trio

WAIT = 10.0  # seconds; generous for a loaded 2-core machine, only reached on failure

Event = tuple[str, tuple[Any, ...]]


class EventLog:
    """Events recorded in arrival order, named ``name`` in failure messages."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._log: list[Event] = []
        self._changed = trio.Event()
        self._listeners: list[Callable[..., None]] = []

    def _record(self, event: str, *args: Any) -> None:
        self._log.append((event, args))
        self._changed.set()
        self._changed = trio.Event()
        for listener in self._listeners:
            listener(event, *args)

    def listen(self, listener: Callable[..., None]) -> None:
        """Call ``listener(event, *args)`` for every event recorded from now on."""
        self._listeners.append(listener)

    @property
    def events(self) -> list[Event]:
        """Events in arrival order."""
        return list(self._log)

    async def wait_for(
        self, event: str, match: Callable[..., bool] | None = None, *, count: int = 1
    ) -> tuple[Any, ...]:
        """The args of the `count`-th recorded `event` (matching `match`, if given)."""

        def matching() -> list[tuple[Any, ...]]:
            return [a for e, a in self._log if e == event and (match is None or match(*a))]

        with trio.move_on_after(WAIT):
            while len(matching()) < count:
                await self._changed.wait()
            return matching()[count - 1]
        raise AssertionError(f"{self.name}: timed out waiting for {count} x {event}: {self._log}")

    def received(self, event: str) -> list[tuple[Any, ...]]:
        return [args for name, args in self._log if name == event]

    def names(self) -> list[str]:
        return [name for name, _ in self._log]

    def messages(self, channel: str | None = None) -> list[dict[str, Any]]:
        return [m for c, m in self.received("message:channel") if channel in (None, c)]
