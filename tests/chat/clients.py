"""A recording python-socketio client for the chat's end-to-end tests.

The sync `socketio.Client` runs its own threads; its blocking calls are made through
`trio.to_thread.run_sync` so the in-process server keeps running. Every event the chat
can send is recorded, in arrival order, for the tests to wait on and inspect.
"""

import bisect
import contextlib
import itertools
import threading
import time
from collections.abc import Callable
from functools import partial
from typing import Any

import socketio
import trio

CHAT_EVENTS = (
    "session",
    "channels",
    "users",
    "user:join",
    "user:connect",
    "user:leave",
    "user:disconnect",
    "message:channel",
)
WAIT = 10.0  # seconds; generous for a loaded 2-core machine, only reached on failure

Event = tuple[str, tuple[Any, ...]]


class ChatClient:
    def __init__(self, url: str, name: str = "client") -> None:
        self.url = url
        self.name = name
        self._changed = threading.Condition()
        # (arrival number, event, args), sorted by arrival number
        self._log: list[tuple[int, str, tuple[Any, ...]]] = []
        self._arrivals = itertools.count()
        self._finished: set[int] = set()
        self._settled = 0  # every arrival numbered below this has been handled
        self._current = threading.local()
        self.sio = socketio.Client(reconnection=False, handle_sigint=False)
        for event in (*CHAT_EVENTS, "connect", "disconnect", "connect_error"):
            self.sio.on(event, handler=partial(self._record, event))
        self._number_arrivals()

    def __repr__(self) -> str:
        return f"ChatClient({self.name})"

    def _number_arrivals(self) -> None:
        """Keep the wire order python-engineio loses.

        Its client hands each incoming message to a new thread, so handlers may run out of
        order. Each message is numbered in the reading thread, before that hand-off, and
        events are kept in that order; `events` shows only the prefix whose every message
        has been handled, so "nothing arrived before X" can be asserted.
        """
        eio = self.sio.eio
        trigger = eio._trigger_event

        def numbered(event: str, *args: Any, **kwargs: Any) -> Any:
            handler = eio.handlers.get("message")
            if event != "message" or not kwargs.get("run_async") or handler is None:
                return trigger(event, *args, **kwargs)
            number = next(self._arrivals)

            def run(*data: Any) -> None:
                self._current.number = number
                try:
                    handler(*data)
                finally:
                    del self._current.number
                    self._finish(number)

            return eio.start_background_task(run, *args)

        eio._trigger_event = numbered

    def _finish(self, number: int) -> None:
        with self._changed:
            self._finished.add(number)
            while self._settled in self._finished:
                self._finished.remove(self._settled)
                self._settled += 1
            self._changed.notify_all()

    def _record(self, event: str, *args: Any) -> None:
        number = getattr(self._current, "number", None)
        standalone = number is None
        if number is None:  # not from a message: a transport-level disconnect
            number = next(self._arrivals)
        with self._changed:
            bisect.insort(self._log, (number, event, args), key=lambda entry: entry[0])
            self._changed.notify_all()
        if standalone:
            self._finish(number)

    @property
    def events(self) -> list[Event]:
        """Events in arrival order, up to the first message still being handled."""
        with self._changed:
            return [(event, args) for n, event, args in self._log if n < self._settled]

    # -- blocking side (runs in a worker thread) -------------------------------------

    def _wait_sync(self, predicate: Callable[[list[Event]], bool], what: str) -> None:
        deadline = time.monotonic() + WAIT
        with self._changed:
            while not predicate(self.events):  # the condition's lock is reentrant
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(
                        f"{self.name}: timed out waiting for {what}: {self.events}"
                    )
                self._changed.wait(left)

    # -- async side (what tests call) ---------------------------------------------------

    async def connect(
        self, auth: dict[str, Any] | None = None, transports: list[str] | None = None
    ) -> None:
        """Connect and wait for the three greeting events."""
        await trio.to_thread.run_sync(
            partial(
                self.sio.connect,
                self.url,
                auth=auth,
                transports=transports or ["websocket"],
                wait_timeout=WAIT,
            )
        )
        await self.wait_for("users")

    async def connect_refused(self, auth: Any) -> Any:
        """Connect as a client that reads CONNECT_ERROR, expecting one; returns its data."""
        if isinstance(auth, dict):
            auth = {**auth, "connectErrors": True}
        with contextlib.suppress(socketio.exceptions.ConnectionError):
            await trio.to_thread.run_sync(
                partial(
                    self.sio.connect,
                    self.url,
                    auth=auth,
                    transports=["websocket"],
                    wait_timeout=WAIT,
                )
            )
        return (await self.wait_for("connect_error"))[0]

    async def wait_for(
        self, event: str, match: Callable[..., bool] | None = None, *, count: int = 1
    ) -> tuple[Any, ...]:
        """The args of the `count`-th recorded `event` (matching `match`, if given)."""

        def matching(events: list[Event]) -> list[tuple[Any, ...]]:
            return [a for e, a in events if e == event and (match is None or match(*a))]

        await trio.to_thread.run_sync(
            self._wait_sync, lambda events: len(matching(events)) >= count, f"{count} x {event}"
        )
        return matching(self.events)[count - 1]

    def received(self, event: str) -> list[tuple[Any, ...]]:
        return [args for name, args in self.events if name == event]

    def names(self) -> list[str]:
        return [name for name, _ in self.events]

    def messages(self, channel: str | None = None) -> list[dict[str, Any]]:
        return [m for c, m in self.received("message:channel") if channel in (None, c)]

    async def call(self, event: str, *args: Any) -> Any:
        """Emit with an ack callback and return the ack's argument."""
        return await trio.to_thread.run_sync(partial(self.sio.call, event, args, timeout=WAIT))

    async def send(self, channel: Any, text: Any) -> Any:
        return await self.call("message:channel:send", channel, text)

    async def emit(self, event: str, *args: Any) -> None:
        await trio.to_thread.run_sync(partial(self.sio.emit, event, args))

    async def disconnect(self) -> None:
        await trio.to_thread.run_sync(self.sio.disconnect)

    async def drop(self) -> None:
        """Lose the connection abruptly: the WebSocket closes with no Socket.IO DISCONNECT
        and no Engine.IO CLOSE, as when a laptop lid shuts or a network drops."""
        await trio.to_thread.run_sync(self.sio.eio.ws.close)
        await self.wait_for("disconnect")

    @property
    def session(self) -> dict[str, Any]:
        return dict(self.received("session")[-1][0])

    async def close(self) -> None:
        if self.sio.connected:
            await self.disconnect()
