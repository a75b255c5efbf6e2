"""The connection's own events (socket.io-client's ``socket.io.on(...)``): one handler per
event, and channels for those who read events rather than register handlers."""

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager, suppress
from typing import Any

import trio

from .handlers import MANAGER_EVENTS, Handler
from .socket import Event

RunHandler = Callable[[Handler, tuple[Any, ...]], Awaitable[None]]

# Each packet is one: delivered as the reader goes, so a slow reader of the channel slows
# the connection (as for the server's events) rather than losing packets.
PACED_EVENTS = frozenset({"packet"})


class ManagerEvents:
    """The handlers and the channels of the connection's events; ``run_handler`` runs a
    handler as the client runs its namespaces' (plain inline, ``async`` as a task)."""

    def __init__(self, run_handler: RunHandler) -> None:
        self._run_handler = run_handler
        self._handlers: dict[str, Handler] = {}
        self._subscriptions: list[tuple[frozenset[str], trio.MemorySendChannel[Event]]] = []

    def on(self, event: str, handler: Handler | None = None) -> Any:
        """Register ``handler`` for ``event`` (replacing the one before), or return a
        decorator that does; ``event`` must be one of the connection's."""
        _check(event)

        def register(function: Handler) -> Handler:
            self._handlers[event] = function
            return function

        return register if handler is None else register(handler)

    def off(self, event: str) -> None:
        """Remove the handler of ``event``."""
        self._handlers.pop(event, None)

    def events(
        self, names: tuple[str, ...], buffer: int
    ) -> AbstractAsyncContextManager[trio.MemoryReceiveChannel[Event]]:
        """A channel of the events named (all without names) while the block lasts."""
        for name in names:
            _check(name)
        return self._channel(frozenset(names), buffer)

    @asynccontextmanager
    async def _channel(
        self, names: frozenset[str], buffer: int
    ) -> AsyncIterator[trio.MemoryReceiveChannel[Event]]:
        send, receive = trio.open_memory_channel[Event](buffer)
        entry = (names, send)
        self._subscriptions.append(entry)
        try:
            async with receive:
                yield receive
        finally:
            self._subscriptions.remove(entry)
            send.close()

    async def emit(self, event: str, *args: Any) -> None:
        """Deliver ``event`` to the channels that asked for it, then to its handler."""
        happened = Event(event, args, None)
        for names, channel in list(self._subscriptions):
            if names and event not in names:
                continue
            with suppress(trio.BrokenResourceError, trio.ClosedResourceError):
                if event in PACED_EVENTS:
                    await channel.send(happened)
                else:
                    # The connection's state changes come while it closes or reconnects,
                    # when nobody may be reading any more: dropped from a full channel.
                    with suppress(trio.WouldBlock):
                        channel.send_nowait(happened)
        handler = self._handlers.get(event)
        if handler is not None:
            await self._run_handler(handler, args)


def _check(event: str) -> None:
    if event not in MANAGER_EVENTS:
        raise ValueError(f"not an event of the connection: {event!r}")
