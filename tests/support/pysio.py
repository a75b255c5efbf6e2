"""python-socketio's blocking client, recording the events it receives (run it in a worker
thread, so the in-process servers keep serving)."""

import threading
from collections.abc import Callable
from typing import Any

import socketio

WAIT = 10.0


class Recorder:
    """A python-socketio client that records the chat events it receives."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.client = socketio.Client(reconnection=False)
        self.events: list[tuple[str, tuple[Any, ...]]] = []
        self._changed = threading.Condition()
        self.client.on("*", self._record)

    def _record(self, event: str, *args: Any) -> None:
        with self._changed:
            self.events.append((event, args))
            self._changed.notify_all()

    def wait_for(self, event: str, match: Callable[..., bool] = lambda *_: True) -> tuple[Any, ...]:
        def found() -> tuple[Any, ...] | None:
            return next((a for e, a in self.events if e == event and match(*a)), None)

        with self._changed:
            if not self._changed.wait_for(lambda: found() is not None, WAIT):
                raise AssertionError(f"{self.name}: no {event} in time: {self.events}")
        result = found()
        assert result is not None
        return result
