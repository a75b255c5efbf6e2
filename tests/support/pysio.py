"""python-socketio's blocking client, recording the events it receives (run it in a worker
thread, so the in-process servers keep serving)."""

import threading
from collections.abc import Callable
from typing import Any

import socketio

WAIT = 10.0


def disconnect_when_written(client: socketio.Client) -> None:
    """Disconnect ``client`` once it has written every packet it queued.

    python-engineio's write loop checks that it is still connected before it takes the next
    packets. Over polling an answer can arrive on the GET before the POST that caused it is
    answered: a disconnect then made the loop quit with the DISCONNECT and CLOSE unsent, and
    the server saw the client go only at its ping timeout (rare CI failures of tests that
    wait for a server's reaction to the leaving). Once every queued packet is written, the
    loop is back waiting for the next ones.
    """
    queue = client.eio.queue
    written = queue.all_tasks_done
    if client.eio.state == "connected":
        with written:
            # Bounded: a write loop that ended (its connection failed) writes nothing more.
            written.wait_for(lambda: not queue.unfinished_tasks, WAIT)
    client.disconnect()


class Recorder:
    """A python-socketio client that records the chat events it receives."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.client = socketio.Client(reconnection=False)
        self.events: list[tuple[str, tuple[Any, ...]]] = []
        self._changed = threading.Condition()
        self.client.on("*", self._record)

    def disconnect(self) -> None:
        disconnect_when_written(self.client)

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
