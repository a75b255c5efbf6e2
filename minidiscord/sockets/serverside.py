"""Events between servers (``server_side_emit``): the handlers a namespace has for the
events other servers send it, which a cluster adapter calls when one arrives."""

from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from typing import Any, TypeVar

ServerSideHandler = Callable[..., Awaitable[Any]]
S = TypeVar("S", bound=ServerSideHandler)


class ServerSideEvents:
    """The handlers of one namespace's server-side events: ``handler(*args)``; what it
    returns is this server's answer to a ``server_side_emit_with_ack``."""

    __slots__ = ("handlers",)

    def __init__(self) -> None:
        # A dynamic namespace's child reads its parent's through a ChainMap.
        self.handlers: MutableMapping[str, ServerSideHandler] = {}

    def on(self, event: str) -> Callable[[S], S]:
        """Register the handler of a server-side event."""

        def register(handler: S) -> S:
            self.handlers[event] = handler
            return handler

        return register

    async def receive(self, event: str, args: Sequence[Any]) -> Any:
        """For an adapter: another server emitted ``event``; the handler's answer (None
        when there is no handler)."""
        handler = self.handlers.get(event)
        if handler is None:
            return None
        return await handler(*args)
