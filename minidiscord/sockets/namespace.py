"""A namespace: its event handlers, its sockets and its rooms."""

import logging
from collections.abc import Awaitable, Callable, Iterable, MutableMapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from ..metrics import Metrics
from .broadcast import BroadcastOperator
from .middleware import ConnectMiddleware

if TYPE_CHECKING:
    from .socket import Socket

logger = logging.getLogger("minidiscord.sockets")

Handler = Callable[..., Awaitable[Any]]
H = TypeVar("H", bound=Handler)


class Namespace:
    """One Socket.IO namespace ("/" by default): the handlers of its events, the sockets
    connected to it and its rooms.

    Handlers are coroutines taking the :class:`~minidiscord.sockets.Socket` first:
    ``connect(socket, auth)`` may raise :class:`~minidiscord.sockets.ConnectionRefused` to
    refuse the client (it gets ``CONNECT_ERROR``); ``disconnect(socket, reason)`` runs once
    per connected socket; any other event's handler gets the client's arguments, and what it
    returns is the acknowledgement when the client asked for one. ``emit`` and ``to``
    broadcast without waiting for any client. ``use`` adds a connect middleware;
    ``disconnecting(socket, reason)`` runs before ``disconnect``, while the socket's rooms
    are still known; ``error(socket, error)`` gets what a packet middleware raised.
    """

    def __init__(self, name: str, metrics: Metrics | None = None) -> None:
        self.name = name
        self.metrics = metrics or Metrics()
        self.sockets: dict[str, Socket] = {}
        self.rooms: dict[str, set[Socket]] = {}
        # A child of a dynamic namespace reads its parent's handlers through this mapping.
        self.handlers: MutableMapping[str, Handler] = {}
        self.middlewares: list[ConnectMiddleware] = []
        # The sockets with an outgoing catch-all listener: a broadcast asks only when some do.
        self.watching_outgoing: set[Socket] = set()

    def __repr__(self) -> str:
        return f"<Namespace {self.name}>"

    def on(self, event: str) -> Callable[[H], H]:
        """Register the handler of an event (``connect`` and ``disconnect`` included)."""

        def register(handler: H) -> H:
            self.handlers[event] = handler
            return handler

        return register

    def use(self, middleware: ConnectMiddleware) -> ConnectMiddleware:
        """Add a connect middleware (see :mod:`minidiscord.sockets.middleware`), run after
        those already added; returns it, so it also works as a decorator."""
        self.middlewares.append(middleware)
        return middleware

    def middleware_chain(self) -> Sequence[ConnectMiddleware]:
        """The connect middlewares a client goes through, in order."""
        return self.middlewares

    # Broadcasting -----------------------------------------------------------------------

    def emit(self, event: str, *args: Any) -> None:
        BroadcastOperator(self).emit(event, *args)

    def to(self, room: str | Iterable[str]) -> BroadcastOperator:
        return BroadcastOperator(self).to(room)

    in_ = to

    def except_(self, room: str | Iterable[str]) -> BroadcastOperator:
        return BroadcastOperator(self).except_(room)

    # Membership -------------------------------------------------------------------------

    def add(self, socket: "Socket") -> None:
        self.sockets[socket.id] = socket
        self.add_to_room(socket, socket.id)

    def remove(self, socket: "Socket") -> None:
        self.sockets.pop(socket.id, None)
        for room in list(socket.rooms):
            self.remove_from_room(socket, room)

    def add_to_room(self, socket: "Socket", room: str) -> None:
        self.rooms.setdefault(room, set()).add(socket)
        socket.rooms.add(room)

    def remove_from_room(self, socket: "Socket", room: str) -> None:
        members = self.rooms.get(room)
        if members is not None:
            members.discard(socket)
            if not members:
                del self.rooms[room]
        socket.rooms.discard(room)

    async def trigger_disconnect(self, socket: "Socket", reason: str) -> None:
        handler = self.handlers.get("disconnect")
        if handler is None:
            return
        try:
            await handler(socket, reason)
        except Exception:
            logger.exception("disconnect handler failed for %r", socket)
